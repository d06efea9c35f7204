/**
 * Real HTTP to a running server, with every response checked against openapi.yaml, and a small
 * browser-like client (cookies, manual redirects, CSRF tokens read from the page) for the
 * activation pages.
 */
import { checkContract } from './contract';

export interface Reply {
  status: number;
  headers: Headers;
  text: string;
  /** The parsed JSON body (undefined for other content). */
  json: any;
}

export interface RequestOptions {
  form?: Record<string, string | string[]>;
  /** A raw body with its own content type, for malformed-request tests. */
  body?: string;
  headers?: Record<string, string>;
  query?: Record<string, string>;
}

function encodeForm(form: Record<string, string | string[]>): string {
  const params = new URLSearchParams();
  for (const [name, value] of Object.entries(form)) {
    for (const v of Array.isArray(value) ? value : [value]) params.append(name, v);
  }
  return params.toString();
}

export async function request(baseUrl: string, method: string, path: string, options: RequestOptions = {}): Promise<Reply> {
  const url = new URL(path, baseUrl);
  for (const [k, v] of Object.entries(options.query ?? {})) url.searchParams.set(k, v);
  const headers: Record<string, string> = { ...(options.headers ?? {}) };
  let body: string | undefined = options.body;
  if (options.form) {
    body = encodeForm(options.form);
    headers['content-type'] ??= 'application/x-www-form-urlencoded';
  }
  const response = await fetch(url, { method, headers, body, redirect: 'manual' });
  const text = await response.text();
  await checkContract({ method, path: url.pathname, status: response.status, headers: response.headers, text });
  const isJson = (response.headers.get('content-type') ?? '').startsWith('application/json');
  return { status: response.status, headers: response.headers, text, json: isJson ? JSON.parse(text) : undefined };
}

/** `fetch` that checks every response against openapi.yaml: give it to the generated SDK. */
export const checkedFetch: typeof fetch = async (input, init) => {
  const response = await fetch(input, init);
  const url = new URL(typeof input === 'string' || input instanceof URL ? input : input.url);
  await checkContract({
    method: init?.method ?? 'GET',
    path: url.pathname,
    status: response.status,
    headers: response.headers,
    text: await response.clone().text(),
  });
  return response;
};

export function basic(id: string, secret: string): string {
  // RFC 6749 §2.3.1: each part is form-urlencoded before base64.
  const enc = (s: string) => encodeURIComponent(s).replace(/%20/g, '+');
  return `Basic ${Buffer.from(`${enc(id)}:${enc(secret)}`).toString('base64')}`;
}

/** Cookies, manual redirects and CSRF tokens: what a browser does, over plain HTTP. */
export class BrowserSession {
  private cookies = new Map<string, string>();
  /** The Set-Cookie headers of the last response, for attribute checks. */
  lastSetCookies: string[] = [];

  constructor(readonly baseUrl: string) {}

  cookie(name: string): string | undefined {
    return this.cookies.get(name);
  }

  /** A cookie set by some other part of the site (e.g. an integrator's own sign-in). */
  setCookie(name: string, value: string): void {
    this.cookies.set(name, value);
  }

  private remember(headers: Headers): void {
    this.lastSetCookies = headers.getSetCookie();
    for (const line of this.lastSetCookies) {
      const [pair] = line.split(';');
      const eq = pair!.indexOf('=');
      const name = pair!.slice(0, eq).trim();
      const value = pair!.slice(eq + 1).trim();
      if (value === '' || /expires=Thu, 01 Jan 1970/i.test(line)) this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
  }

  async send(method: string, path: string, options: RequestOptions = {}): Promise<Reply> {
    const cookie = [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
    const reply = await request(this.baseUrl, method, path, {
      ...options,
      headers: { ...(cookie ? { cookie } : {}), ...(options.headers ?? {}) },
    });
    this.remember(reply.headers);
    return reply;
  }

  get(path: string, query?: Record<string, string>): Promise<Reply> {
    return this.send('GET', path, { query });
  }

  post(path: string, form: Record<string, string>): Promise<Reply> {
    return this.send('POST', path, { form });
  }

  /** The CSRF token of a page's form. */
  static csrf(page: Reply): string {
    const match = /name="csrf_token" value="([^"]+)"/.exec(page.text);
    if (!match) throw new Error('no csrf_token on the page');
    return match[1]!;
  }

  async signIn(username: string, password: string, returnTo?: string): Promise<Reply> {
    const page = await this.get('/signin', returnTo ? { return_to: returnTo } : undefined);
    return this.post('/signin', {
      csrf_token: BrowserSession.csrf(page),
      username,
      password,
      ...(returnTo ? { return_to: returnTo } : {}),
    });
  }

  /** Enters the code and presses Approve or Deny on the confirm page. */
  async decide(userCode: string, decision: 'approve' | 'deny'): Promise<Reply> {
    const form = await this.get('/activate');
    const confirm = await this.post('/activate', { csrf_token: BrowserSession.csrf(form), user_code: userCode });
    if (confirm.status !== 200) return confirm;
    return this.post('/activate/decision', { csrf_token: BrowserSession.csrf(confirm), user_code: userCode, decision });
  }
}
