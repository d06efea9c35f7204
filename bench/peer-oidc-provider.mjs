/**
 * The leading open-source peer, measured in the same run as this server: node-oidc-provider 9
 * (panva/node-oidc-provider) with its device flow (RFC 8628), token introspection (RFC 7662)
 * and its userinfo endpoint as the protected resource, configured as its documentation shows
 * and otherwise left at its defaults. Started by bench/run.ts like the hello-worlds (same node
 * flags, its own process, PORT from the environment).
 *
 * Its store is in memory. Its own MemoryAdapter keeps at most 1,000 entries (an LRU) and would
 * forget most of the bench's 60,000 codes and 20,000 tokens, so the peer gets the same adapter
 * interface over an unbounded Map: no eviction, nothing written anywhere. That is the peer at
 * its fastest; this server keeps every flow in a database.
 *
 * The data is the bench's own (bench/dataset.ts), passed in BENCH_PEER_DATASET, so the same
 * secrets work with the peer's paths: pending device codes (each one its own pending flow of
 * the device client) and access tokens of one person through one grant, with `openid` so that
 * userinfo answers them.
 *
 * Plain JavaScript (ESM): oidc-provider 9 is an ES module without type declarations.
 */
import Provider from 'oidc-provider';

const dataset = JSON.parse(process.env.BENCH_PEER_DATASET ?? 'null');
if (!dataset) throw new Error('BENCH_PEER_DATASET is not set (bench/run.ts sets it)');
const port = Number(process.env.PORT);
const issuer = `http://127.0.0.1:${port}`;

/** oidc-provider's adapter interface over one Map for every model, without expiry or eviction. */
const entries = new Map();
class MapAdapter {
  constructor(model) {
    this.model = model;
  }

  key(id) {
    return `${this.model}:${id}`;
  }

  async upsert(id, payload) {
    entries.set(this.key(id), payload);
    if (payload.userCode) entries.set(`userCode:${payload.userCode}`, id);
    if (payload.uid) entries.set(`uid:${payload.uid}`, id);
  }

  async find(id) {
    return entries.get(this.key(id));
  }

  async findByUserCode(userCode) {
    const id = entries.get(`userCode:${userCode}`);
    return id === undefined ? undefined : this.find(id);
  }

  async findByUid(uid) {
    const id = entries.get(`uid:${uid}`);
    return id === undefined ? undefined : this.find(id);
  }

  async consume(id) {
    const payload = entries.get(this.key(id));
    if (payload) payload.consumed = Math.floor(Date.now() / 1000);
  }

  async destroy(id) {
    entries.delete(this.key(id));
  }

  async revokeByGrantId(grantId) {
    for (const [key, payload] of entries) if (payload?.grantId === grantId) entries.delete(key);
  }
}

const provider = new Provider(issuer, {
  adapter: MapAdapter,
  clients: [
    {
      client_id: dataset.deviceClient,
      token_endpoint_auth_method: 'none',
      grant_types: ['urn:ietf:params:oauth:grant-type:device_code'],
      response_types: [],
      redirect_uris: [],
    },
    {
      client_id: dataset.resourceServer,
      client_secret: dataset.resourceServerSecret,
      grant_types: [],
      response_types: [],
      redirect_uris: [],
    },
  ],
  features: {
    deviceFlow: { enabled: true },
    introspection: { enabled: true },
    devInteractions: { enabled: false },
  },
  scopes: ['openid', 'profile', 'email'],
  claims: { openid: ['sub'], profile: ['name', 'preferred_username'], email: ['email'] },
  cookies: { keys: ['bench-peer-cookie-key'] },
  findAccount: async (_ctx, sub) => ({
    accountId: sub,
    claims: async () => ({ sub, name: 'Bench User', preferred_username: sub, email: `${sub}@example.com` }),
  }),
});

const pad = (index) => String(index).padStart(9, '0');
const fill = (template, index) => template.replace('{i}', pad(index));
const DAY = 86_400;

const deviceClient = await provider.Client.find(dataset.deviceClient);
for (let i = 0; i < dataset.pending.count; i++) {
  const index = dataset.pending.start + i;
  const code = new provider.DeviceCode({
    jti: fill(dataset.deviceCodeTemplate, index),
    client: deviceClient,
    userCode: `BENCH${pad(index)}`,
    params: { client_id: dataset.deviceClient, scope: 'openid profile email' },
    deviceInfo: { ip: '127.0.0.1', ua: 'bench-device/1.0' },
    expiresIn: DAY,
  });
  await code.save();
}

const grant = new provider.Grant({ accountId: dataset.user, clientId: dataset.deviceClient });
grant.addOIDCScope('openid profile email');
const grantId = await grant.save();
for (let i = 0; i < dataset.tokens.count; i++) {
  const token = new provider.AccessToken({
    jti: fill(dataset.accessTokenTemplate, dataset.tokens.start + i),
    accountId: dataset.user,
    client: deviceClient,
    grantId,
    scope: 'openid profile email',
    expiresIn: DAY,
  });
  token.format = 'opaque'; // its default, which it sets only when it makes up the token's id
  await token.save();
}

provider.listen(port, '127.0.0.1', () => console.log(`oidc-provider listening on ${issuer} with ${entries.size} entries`));
