/**
 * `oauth2-devices device`: what a TV or a CLI does, in a terminal. Shows the user code, the
 * verification URI and a QR code of verification_uri_complete, counts down to expiry while it
 * polls by the rules of RFC 8628 §3.5, then prints the granted scope and what the protected
 * resource says. `--json` prints one JSON object per event instead, for scripts.
 *
 * Exit codes: 0 approved, 2 denied, 3 expired, 1 any other failure, 64 bad usage, 130 interrupted.
 */
import { parseArgs } from 'node:util';
import QRCode from 'qrcode';
import { AbortedError, AccessDeniedError, DeviceClient, ExpiredTokenError, memoryTokenStorage, OAuthResponseError } from '../client';

export const EXIT = { ok: 0, failed: 1, denied: 2, expired: 3, usage: 64, interrupted: 130 } as const;

interface Output {
  write(text: string): unknown;
  isTTY?: boolean;
}

function minutesSeconds(seconds: number): string {
  return `${Math.floor(seconds / 60)}:${String(seconds % 60).padStart(2, '0')}`;
}

export async function runDeviceCommand(argv: string[], io: { out: Output; err: Output }, signal?: AbortSignal): Promise<number> {
  let args;
  try {
    args = parseArgs({
      args: argv,
      options: {
        issuer: { type: 'string' },
        'client-id': { type: 'string' },
        'client-secret': { type: 'string' },
        scope: { type: 'string' },
        resource: { type: 'string' },
        json: { type: 'boolean', default: false },
        'no-qr': { type: 'boolean', default: false },
      },
      strict: true,
    }).values;
  } catch (err) {
    io.err.write(`${err instanceof Error ? err.message : String(err)}\n`);
    return EXIT.usage;
  }
  if (!args.issuer || !args['client-id']) {
    io.err.write('device needs --issuer URL and --client-id ID\n');
    return EXIT.usage;
  }
  const issuer = args.issuer.replace(/\/+$/, '');
  const json = args.json === true;
  const say = (text: string) => io.out.write(`${text}\n`);
  const emit = (event: Record<string, unknown>) => io.out.write(`${JSON.stringify(event)}\n`);
  const client = new DeviceClient({ issuer, clientId: args['client-id'], clientSecret: args['client-secret'] });

  const abort = new AbortController();
  signal?.addEventListener('abort', () => abort.abort(), { once: true });
  const onSigint = () => abort.abort();
  process.once('SIGINT', onSigint);
  let countdown: ReturnType<typeof setInterval> | undefined;
  try {
    const authorization = await client.startDeviceAuthorization({ scope: args.scope });
    if (json) {
      emit({
        event: 'authorization',
        user_code: authorization.user_code,
        verification_uri: authorization.verification_uri,
        verification_uri_complete: authorization.verification_uri_complete,
        expires_in: authorization.expires_in,
        interval: authorization.interval,
      });
    } else {
      say(`To connect this device, open ${authorization.verification_uri}`);
      say(`and enter the code:  ${authorization.user_code}`);
      if (!args['no-qr']) {
        say('\nor scan this with your phone:\n');
        say(await QRCode.toString(authorization.verification_uri_complete, { type: 'terminal', small: true }));
      }
    }

    const deadline = authorization.receivedAt + authorization.expires_in * 1000;
    const secondsLeft = () => Math.max(0, Math.round((deadline - Date.now()) / 1000));
    if (!json && io.out.isTTY) {
      // A live countdown on one line, redrawn every second.
      countdown = setInterval(() => io.out.write(`\rWaiting for approval, ${minutesSeconds(secondsLeft())} left `), 1000);
    }
    const tokens = await client.pollForToken(authorization, {
      signal: abort.signal,
      onPending: (left) => {
        if (json) emit({ event: 'pending', seconds_left: left });
        else if (!io.out.isTTY) say(`Waiting for approval, ${minutesSeconds(left)} left`);
      },
      onSlowDown: (interval) => (json ? emit({ event: 'slow_down', interval }) : undefined),
      onRetry: (error, delay) => (json ? emit({ event: 'retry', reason: error.message, delay }) : say(`Server unreachable (${error.message}), retrying in ${delay} s`)),
    });
    if (countdown) {
      clearInterval(countdown);
      io.out.write('\n');
    }

    const resourceUrl = args.resource ?? `${issuer}/api/me`;
    const response = await client.authorizedFetch(memoryTokenStorage(tokens))(resourceUrl, { signal: abort.signal });
    const text = await response.text();
    let resource: unknown = text;
    try {
      resource = JSON.parse(text);
    } catch {
      // not JSON: shown as text
    }
    if (json) {
      emit({ event: 'token', scope: tokens.scope, token_type: tokens.token_type, expires_in: tokens.expires_in, refresh_token: tokens.refresh_token !== undefined });
      emit({ event: 'resource', url: resourceUrl, status: response.status, body: resource });
    } else {
      say(`Approved. Granted scope: ${tokens.scope}`);
      say(`${resourceUrl} answered ${response.status}:`);
      say(typeof resource === 'string' ? resource : JSON.stringify(resource, null, 2));
    }
    return response.ok ? EXIT.ok : EXIT.failed;
  } catch (err) {
    if (countdown) {
      clearInterval(countdown);
      io.out.write('\n');
    }
    const [code, message] =
      err instanceof AccessDeniedError
        ? [EXIT.denied, 'Denied: the request was refused on the verification page.']
        : err instanceof ExpiredTokenError
          ? [EXIT.expired, 'Expired: nobody approved the request in time. Run the command again for a new code.']
          : err instanceof AbortedError
            ? [EXIT.interrupted, 'Interrupted.']
            : err instanceof OAuthResponseError
              ? [EXIT.failed, `The server refused: ${err.message}`]
              : [EXIT.failed, `Failed: ${err instanceof Error ? err.message : String(err)}`];
    if (json) emit({ event: 'error', error: err instanceof OAuthResponseError ? err.error : err instanceof Error ? err.name : 'error', message });
    else io.err.write(`${message}\n`);
    return code;
  } finally {
    process.removeListener('SIGINT', onSigint);
  }
}
