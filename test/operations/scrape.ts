/**
 * Reading /metrics in tests: one scrape as a map from series (name and labels exactly as
 * printed) to value, and the difference between two scrapes.
 */
import { expect } from 'chai';
import type { RequestOptions } from '../support/http';
import type { RunningServer } from '../support/server';

export type Scrape = Map<string, number>;

export function parseMetrics(text: string): Scrape {
  const series = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const at = line.lastIndexOf(' ');
    series.set(line.slice(0, at), Number(line.slice(at + 1)));
  }
  return series;
}

export async function scrape(server: RunningServer, options: RequestOptions = {}): Promise<Scrape> {
  const reply = await server.call('GET', '/metrics', options);
  expect(reply.status, reply.text).to.equal(200);
  expect(reply.headers.get('content-type')).to.match(/^text\/plain; version=0\.0\.4/);
  return parseMetrics(reply.text);
}

/** after - before for one series; a series not printed counts as 0. */
export function delta(before: Scrape, after: Scrape, series: string): number {
  return (after.get(series) ?? 0) - (before.get(series) ?? 0);
}
