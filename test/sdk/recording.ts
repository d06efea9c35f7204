/**
 * Test doubles for the client layer's injected dependencies: a Clock that records every wait
 * and moves a time the test owns (the server's TestClock, or a local one) instead of sleeping,
 * and a fetch wrapper that records what the client sent and when.
 */
import { AssertionError } from 'chai';
import { AbortedError, type Clock } from '../../src/client';
import { checkedFetch } from '../support/http';

/** A clock that does not sleep: `sleep(ms)` records `ms`, moves `time` on, and resolves. */
export class StepClock implements Clock {
  /** Every `sleep(ms)` the client asked for, in order. */
  readonly waits: number[] = [];
  private held: Promise<unknown>[] = [];

  /**
   * @param time what moves: the server's TestClock (so the server sees the time pass) or a local one
   * @param advanceBy how far the time moves on the sleep with this index; `ms` by default
   */
  constructor(
    private readonly time: { ms: number },
    private readonly advanceBy: (ms: number, index: number) => number = (ms) => ms,
  ) {}

  now = (): number => this.time.ms;

  sleep = async (ms: number, signal?: AbortSignal): Promise<void> => {
    if (signal?.aborted) throw new AbortedError();
    const index = this.waits.push(ms) - 1;
    // What happens "during" the wait (a person deciding in a browser) finishes before it ends.
    await Promise.all(this.held.splice(0));
    this.time.ms += this.advanceBy(ms, index);
    if (signal?.aborted) throw new AbortedError();
  };

  /** Work that happens while the client waits; the current or next sleep ends after it. */
  during(work: Promise<unknown>): void {
    this.held.push(work);
  }
}

export interface Sent {
  method: string;
  path: string;
  /** The time (of the clock given) when the request was sent. */
  at: number;
  headers: Headers;
  /** The form fields of a form body. */
  form: URLSearchParams | undefined;
}

/** Wraps a fetch so that every request is recorded in `log` before it is sent. */
export function recordingFetch(base: typeof fetch, now: () => number, log: Sent[]): typeof fetch {
  return (input, init) => {
    const url = new URL(typeof input === 'string' || input instanceof URL ? input : input.url);
    const body = init?.body;
    log.push({
      method: init?.method ?? 'GET',
      path: url.pathname,
      at: now(),
      headers: new Headers(init?.headers),
      form: body instanceof URLSearchParams ? new URLSearchParams(body) : typeof body === 'string' ? new URLSearchParams(body) : undefined,
    });
    return base(input, init);
  };
}

/**
 * checkedFetch that also keeps every contract violation in `violations`. The client turns any
 * error thrown by its fetch into a TransportError and retries, so a violation would otherwise
 * show up only as a strange retry; tests assert that `violations` stays empty.
 */
export function contractFetch(violations: Error[]): typeof fetch {
  return async (input, init) => {
    try {
      return await checkedFetch(input, init);
    } catch (err) {
      if (err instanceof AssertionError) violations.push(err);
      throw err;
    }
  };
}

/** The device-code polls among the recorded requests. */
export function pollsIn(log: Sent[]): Sent[] {
  return log.filter((s) => s.path === '/oauth/token' && s.form?.get('grant_type') === 'urn:ietf:params:oauth:grant-type:device_code');
}

/** Rejects if `promise` has not settled within `ms`. */
export function within<T>(ms: number, promise: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, fail) => {
    timer = setTimeout(() => fail(new Error(`${what} did not finish within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
