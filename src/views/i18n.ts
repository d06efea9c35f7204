/**
 * The message catalogue of the pages: every text a person reads comes from here, in the
 * language their browser prefers (Accept-Language, RFC 9110 §12.5.4), English otherwise.
 */
import { de } from './messages/de';
import { en, type MessageKey } from './messages/en';

export type { MessageKey };

export const CATALOGUES = { en, de } as const;
export type Locale = keyof typeof CATALOGUES;
export const DEFAULT_LOCALE: Locale = 'en';

export type Translate = (key: MessageKey, params?: Record<string, string | number>) => string;

/** The best supported language of an Accept-Language header: highest q first, then order. */
export function negotiateLocale(header: string | undefined): Locale {
  if (!header) return DEFAULT_LOCALE;
  const ranges = header
    .split(',')
    .slice(0, 20) // a header flood costs nothing
    .map((part, index) => {
      const [tag = '', ...params] = part.trim().split(';');
      const q = params.map((p) => /^\s*q=([0-9.]+)\s*$/.exec(p)?.[1]).find(Boolean);
      return { language: tag.trim().toLowerCase().split('-')[0]!, q: q === undefined ? 1 : Number(q), index };
    })
    .filter((r) => r.q > 0 && Number.isFinite(r.q))
    .sort((a, b) => b.q - a.q || a.index - b.index);
  for (const { language } of ranges) {
    if (Object.hasOwn(CATALOGUES, language)) return language as Locale;
  }
  return DEFAULT_LOCALE;
}

/** A time for a person, in their language, in UTC (the server cannot know their zone). */
export function formatTime(acceptLanguage: string | undefined, epochMs: number, withDate: boolean): string {
  const format = new Intl.DateTimeFormat(negotiateLocale(acceptLanguage), {
    timeStyle: 'short',
    timeZone: 'UTC',
    ...(withDate ? { dateStyle: 'medium' as const } : {}),
  });
  return `${format.format(new Date(epochMs))} UTC`;
}

export function isMessageKey(key: string): key is MessageKey {
  return Object.hasOwn(en, key);
}

export function translator(locale: Locale): Translate {
  const catalogue: Record<MessageKey, string> = CATALOGUES[locale];
  return (key, params = {}) => catalogue[key].replace(/\{(\w+)\}/g, (whole, name: string) => (name in params ? String(params[name]) : whole));
}
