/**
 * The device code grant (RFC 8628 §3.4, §3.5). In order: the code must exist and belong to
 * this client; a code already exchanged is a replay, which is refused and revokes the token
 * issued for it (RFC 6749 §4.1.2); an expired code says so; a poll sooner than the interval
 * gets slow_down, and the interval grows by 5 s in the database, for every process; then the
 * person's decision answers. The exchange itself is one conditional write: one token per code
 * (and one refresh token, for clients allowed the refresh grant). Where the store can, the poll
 * of an approved code and its exchange are one write (Store.recordPollAndExchange: on SQLite
 * one group commit, not two a turn apart). When the database dies during that commit, the
 * answer is kept briefly for the device's next poll (unacknowledged-exchanges.ts).
 */
import type { TokenRequest, TokenResponse } from '../../../generated/models';
import { deviceCodeKey } from '../../helpers/secrets';
import { AccessDenied, AuthorizationPending, ExpiredToken, InvalidGrant, InvalidRequest, SlowDown } from '../../http/errors';
import type { Emit } from '../../events';
import type { ServerContext } from '../../server-context';
import type { ClientWithDeviceCode } from '../../storage/combined-reads';
import { StoreUnavailable, type ClientRecord, type DeviceAuthorizationRecord } from '../../storage/store';
import { pollDueByRow } from '../../storage/poll-rule';
import { issueTokens, type IssuedTokens } from './issue';

export const DEVICE_CODE_GRANT = 'urn:ietf:params:oauth:grant-type:device_code';

export async function deviceCodeGrant(server: ServerContext, form: TokenRequest, client: ClientRecord, emit: Emit, read?: ClientWithDeviceCode): Promise<TokenResponse> {
  const { store } = server;
  if (form.device_code === undefined) throw new InvalidRequest('device_code is required');

  // Read with the client when the token endpoint did so (one query); else read it now.
  const together = read?.result;
  const authorization = together ? together.authorization : await store.findDeviceAuthorizationByDeviceCode(deviceCodeKey(form.device_code));
  if (!authorization || authorization.clientId !== client.id) {
    throw new InvalidGrant('device_code is unknown or was issued to another client');
  }
  const now = server.clock();
  if (authorization.status === 'consumed') {
    // The commit of this process's exchange happened after all: the answer the device missed.
    const missed = await server.unacknowledgedExchanges.recover(store, authorization.id, now);
    if (missed) {
      const response = reportExchange(emit, authorization, missed.userId, missed.issued);
      return Object.assign({}, response, { expires_in: Math.max(0, Math.floor((missed.issued.access.expiresAt - now) / 1000)) });
    }
    await store.revokeGrant(authorization.id, now);
    emit({ type: 'token.revoked', what: 'grant', reason: 'device_code_replay', grantId: authorization.id, clientId: client.id, userId: authorization.userId, tokenId: null });
    throw new InvalidGrant('device_code was already used; the tokens issued for it are revoked');
  }
  if (authorization.expiresAt <= now) {
    await noteExpired(server, authorization, now, emit);
    throw new ExpiredToken();
  }

  // approved: the token belongs to the person who approved, if they still may act. Read before
  // the poll is recorded, so that the poll and the exchange can be one write (answered after it).
  // Not for a poll the row already shows too soon: that is slow_down whatever the write finds, so
  // a device that hammers an approved code costs a write a poll, as a pending one does, and no
  // read of the person or tokens made for nothing.
  const exchangeable = authorization.status === 'approved' && pollDueByRow(authorization, now);
  const user = exchangeable && authorization.userId ? await store.findUserById(authorization.userId) : undefined;
  const approver = user && !user.disabled ? user : undefined;
  if (approver && store.recordPollAndExchange) {
    const issued = issueTokens(server, client, approver.id, authorization.id, authorization.scopes, now);
    const { poll, exchanged } = await keepIfLost(server, authorization.id, approver.id, issued, now, () =>
      store.recordPollAndExchange!(authorization.id, now, issued.access, issued.refresh),
    );
    if (!poll.accepted) throw slowDown(emit, authorization, poll.interval);
    if (!exchanged) throw new InvalidGrant('device_code was already used');
    return reportExchange(emit, authorization, approver.id, issued);
  }

  const poll = await store.recordPoll(authorization.id, now);
  if (!poll.accepted) throw slowDown(emit, authorization, poll.interval);

  if (authorization.status === 'pending') throw new AuthorizationPending();
  if (authorization.status === 'denied') throw new AccessDenied();
  if (!approver) throw new InvalidGrant('the user who approved this device can no longer sign in');

  const issued = issueTokens(server, client, approver.id, authorization.id, authorization.scopes, now);
  const exchanged = await keepIfLost(server, authorization.id, approver.id, issued, now, () => store.exchange(authorization.id, issued.access, issued.refresh));
  if (!exchanged) throw new InvalidGrant('device_code was already used');
  return reportExchange(emit, authorization, approver.id, issued);
}

/** RFC 8628 §3.5: a poll too soon; the interval has grown by 5 s in the database. */
function slowDown(emit: Emit, authorization: DeviceAuthorizationRecord, interval: number): SlowDown {
  emit({ type: 'device_authorization.slow_down', authorizationId: authorization.id, clientId: authorization.clientId, interval });
  return new SlowDown(interval);
}

/** The exchange's write; when the database is lost during its commit, which may have happened after all, the answer is kept for the device's next poll. */
async function keepIfLost<T>(server: ServerContext, authorizationId: string, userId: string, issued: IssuedTokens, now: number, write: () => Promise<T>): Promise<T> {
  try {
    return await write();
  } catch (err) {
    if (err instanceof StoreUnavailable) server.unacknowledgedExchanges.keep(authorizationId, issued, userId, now);
    throw err;
  }
}

/**
 * A public client's poll of its pending code in one conditional write, when the store has one
 * (Store.recordPendingPoll; MySQL). Throws the answer: authorization_pending, or slow_down
 * with its event. Returns when the write did not apply (a check failed, or the code is decided,
 * expired or used): nothing was written, and deviceCodeGrant finds the precise answer.
 */
export async function answerPendingPoll(server: ServerContext, clientId: string, deviceCodeHash: string, emit: Emit): Promise<void> {
  const { store } = server;
  const poll = await store.recordPendingPoll?.(clientId, DEVICE_CODE_GRANT, deviceCodeHash, server.clock());
  if (!poll) return;
  if (poll.accepted) throw new AuthorizationPending();
  // The event names the flow: a round trip on a code's first slow_down, remembered after it.
  const flow = await server.slowDownNames.nameOf(deviceCodeHash, async () => {
    const authorization = await store.findDeviceAuthorizationByDeviceCode(deviceCodeHash);
    return authorization && { authorizationId: authorization.id, clientId: authorization.clientId };
  });
  if (flow) emit({ type: 'device_authorization.slow_down', authorizationId: flow.authorizationId, clientId: flow.clientId, interval: poll.interval });
  throw new SlowDown(poll.interval);
}

/** The events of a committed exchange; returns its answer. */
function reportExchange(emit: Emit, authorization: DeviceAuthorizationRecord, userId: string, issued: IssuedTokens): TokenResponse {
  const flow = { authorizationId: authorization.id, clientId: authorization.clientId, scopes: authorization.scopes };
  emit({ type: 'device_authorization.consumed', ...flow, userId });
  emit({
    type: 'token.issued',
    grantId: authorization.id,
    clientId: authorization.clientId,
    userId,
    scopes: authorization.scopes,
    accessTokenId: issued.access.id,
    refreshTokenId: issued.refresh?.id ?? null,
  });
  return issued.response;
}

/** The first poll or page to find a flow expired, in any process, reports it (once per flow). */
export async function noteExpired(server: ServerContext, authorization: DeviceAuthorizationRecord, now: number, emit: Emit): Promise<void> {
  if (authorization.status !== 'pending' && authorization.status !== 'approved') return;
  if (!(await server.store.noteExpired?.(authorization.id, now))) return;
  emit({
    type: 'device_authorization.expired',
    authorizationId: authorization.id,
    clientId: authorization.clientId,
    scopes: authorization.scopes,
    status: authorization.status,
  });
}
