// "Local sandbox" OpenID Connect provider for Castkey tests, built on
// oidc-provider 9.13.3 (pinned in package.json).
//
// stdout protocol: exactly one line, `ISSUER=http://127.0.0.1:<port>`, once
// the server is listening. Everything else goes to stderr. With IDP_ISSUER,
// a line `LISTEN=http://127.0.0.1:<port>` (where the server really is) comes
// first, then `ISSUER=<IDP_ISSUER>`.
//
// Environment:
//   IDP_PORT        port to listen on (default 0 = any free port)
//   IDP_ACCESS_TTL  access token lifetime, seconds (default 3600)
//   IDP_CC_TTL      client_credentials token lifetime, seconds (default 3600)
//   IDP_VERBOSE=1   also log successful authorizations / token grants
//   IDP_ISSUER      the issuer to name, when the provider is reached through a
//                   proxy at another address (tests/standins/faultgate.mjs
//                   with AS_ISSUER=1): ID tokens and discovery name the proxy
//                   (default: the server's own address)
//
// Exits 0 on SIGTERM / SIGINT.

import { generateKeyPairSync } from 'node:crypto';
import http from 'node:http';

// oidc-provider prints its "NOTICE" messages with console.info, i.e. to
// stdout. stdout is reserved for the ISSUER= line, so route every console
// method that would write to stdout to stderr before the library loads.
for (const method of ['log', 'info', 'debug']) {
  // eslint-disable-next-line no-console
  console[method] = (...args) => console.error(...args);
}

const { default: Provider, errors } = await import('oidc-provider');

function log(msg) {
  process.stderr.write(`idp: ${msg}\n`);
}

function intEnv(name, fallback) {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number.parseInt(raw, 10);
  if (!Number.isInteger(value) || value < 0 || String(value) !== raw.trim()) {
    log(`invalid ${name}=${JSON.stringify(raw)}: expected a non-negative integer`);
    process.exit(2);
  }
  return value;
}

const PORT = intEnv('IDP_PORT', 0);
const ACCESS_TTL = intEnv('IDP_ACCESS_TTL', 3600);
const CC_TTL = intEnv('IDP_CC_TTL', 3600);
const VERBOSE = process.env.IDP_VERBOSE === '1';

// An ephemeral signing key per run (instead of oidc-provider's built-in
// development keystore, which logs a warning).
const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const signingKey = {
  ...privateKey.export({ format: 'jwk' }),
  kid: 'castkey-sandbox-rs256',
  alg: 'RS256',
  use: 'sig',
};

const configuration = {
  clients: [
    {
      client_id: 'castkey',
      client_name: 'Castkey',
      application_type: 'native',
      token_endpoint_auth_method: 'none',
      grant_types: ['authorization_code', 'refresh_token', 'urn:ietf:params:oauth:grant-type:device_code'],
      response_types: ['code'],
      // Native clients: oidc-provider ignores the port of http loopback
      // redirect URIs (RFC 8252 section 7.3), so any port is accepted here.
      // The shared deep-link URI of the built-in sandbox, and the one a
      // provider the user adds as "Plain OAuth" gets (RFC 9700 §4.4.2).
      redirect_uris: [
        'dev.castkey.app:/callback',
        'dev.castkey.app:/callback/plain-oauth',
        'http://127.0.0.1/callback',
      ],
    },
    {
      // IBM Video Streaming as its documents describe it: a confidential
      // client (secret by HTTP Basic), authorization code + refresh token,
      // scopes broadcaster openid email, access tokens that last a day,
      // refresh tokens without offline_access, revocation.
      client_id: 'ibm-app',
      client_secret: 'ibm-app-secret',
      application_type: 'native',
      token_endpoint_auth_method: 'client_secret_basic',
      grant_types: ['authorization_code', 'refresh_token', 'client_credentials'],
      response_types: ['code'],
      // Each provider the user adds has its own redirect URI: this client
      // plays IBM's and the LifeOmic-style service's own.
      redirect_uris: ['dev.castkey.app:/callback/ibm', 'dev.castkey.app:/callback/lifeomic-oauth'],
      scope: 'openid email broadcaster',
    },
    {
      // An IBM Video Streaming service account (client credentials).
      client_id: 'ibm-service',
      client_secret: 'ibm-service-secret',
      token_endpoint_auth_method: 'client_secret_basic',
      grant_types: ['client_credentials'],
      response_types: [],
      redirect_uris: [],
      scope: 'broadcaster',
    },
    {
      // A customer's own OAuth client at their identity provider, for the
      // LifeOmic-style SSO (the customer gives client id and secret).
      client_id: 'customer-sso',
      client_secret: 'customer-sso-secret',
      application_type: 'native',
      token_endpoint_auth_method: 'client_secret_basic',
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      redirect_uris: ['dev.castkey.app:/callback/lifeomic'],
    },
    {
      client_id: 'introspector',
      client_secret: 'introspector-secret',
      token_endpoint_auth_method: 'client_secret_basic',
      grant_types: [],
      response_types: [],
      redirect_uris: [],
    },
    {
      client_id: 'vidiflow-service',
      client_secret: 'vidiflow-secret',
      token_endpoint_auth_method: 'client_secret_basic',
      grant_types: ['client_credentials'],
      response_types: [],
      redirect_uris: [],
      scope: 'api1',
    },
  ],

  // Every scope listed here is an "OIDC scope" for oidc-provider: it is stored
  // in the grant's openid scope and lands in the scope of access tokens issued
  // without a resource indicator (i.e. userinfo-audience opaque tokens).
  scopes: ['openid', 'offline_access', 'email', 'profile', 'broadcaster', 'api1'],
  claims: {
    email: ['email', 'email_verified'],
    profile: ['name', 'preferred_username'],
  },

  async findAccount(ctx, id) {
    return {
      accountId: id,
      async claims() {
        return {
          sub: id,
          name: id,
          preferred_username: id,
          email: `${id}@example.test`,
          email_verified: true,
        };
      },
    };
  },

  features: {
    devInteractions: { enabled: true },
    clientCredentials: { enabled: true },
    // RFC 8628 sign-in with a code (the library's own pages).
    deviceFlow: { enabled: true },
    revocation: {
      enabled: true,
      // Library default, spelled out: a client may revoke only its own tokens.
      async allowedPolicy(ctx, client, token) {
        if (token.clientId !== client.clientId) {
          if (client.clientAuthMethod === 'none') return false;
          throw new errors.InvalidRequest('client is not authorized to revoke the presented token');
        }
        return true;
      },
    },
    introspection: {
      enabled: true,
      // The test client `introspector` may introspect any token; any other
      // client only its own tokens.
      async allowedPolicy(ctx, client, token) {
        return client.clientId === 'introspector' || token.clientId === client.clientId;
      },
    },
  },

  // IBM issues refresh tokens without offline_access; everyone else follows
  // OIDC Core section 11 (the library default).
  async issueRefreshToken(ctx, client, code) {
    if (!client.grantTypeAllowed('refresh_token')) return false;
    return client.clientId === 'ibm-app' || code.scopes.has('offline_access')
      || (client.applicationType === 'web' && client.clientAuthMethod === 'none');
  },

  ttl: {
    // "Access tokens expire in a day" for the IBM clients.
    AccessToken: (ctx, token, client) => (client?.clientId === 'ibm-app' ? 86400 : ACCESS_TTL),
    ClientCredentials: (ctx, token, client) => (client?.clientId === 'ibm-service' ? 86400 : CC_TTL),
    IdToken: () => 3600,
    DeviceCode: () => 10 * 60,
    // Library defaults, spelled out (keeps oidc-provider NOTICEs off stderr).
    Interaction: () => 60 * 60,
    Session: () => 14 * 24 * 60 * 60,
    Grant: () => 14 * 24 * 60 * 60,
    RefreshToken(ctx, token, client) {
      // Same as the library default (which also keeps rotated refresh tokens
      // of public *web* clients from outliving the original), 14 days.
      if (
        ctx?.oidc?.entities.RotatedRefreshToken
        && client.applicationType === 'web'
        && client.clientAuthMethod === 'none'
        && !token.isSenderConstrained()
      ) {
        return ctx.oidc.entities.RotatedRefreshToken.remainingTTL;
      }
      return 14 * 24 * 60 * 60;
    },
  },

  cookies: { keys: ['castkey-sandbox-test-cookie-key-not-secret'] },
  jwks: { keys: [signingKey] },

  async renderError(ctx, out) {
    ctx.type = 'html';
    const esc = (v) => String(v).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
    ctx.body = `<!DOCTYPE html><html><head><title>oops! something went wrong</title></head><body>
<h1>oops! something went wrong</h1>
${Object.entries(out).map(([k, v]) => `<pre><strong>${esc(k)}</strong>: ${esc(v)}</pre>`).join('\n')}
</body></html>`;
  },
};

const server = http.createServer();
server.on('error', (err) => {
  log(`listen failed: ${err.message}`);
  process.exit(1);
});

await new Promise((resolve) => {
  server.listen(PORT, '127.0.0.1', resolve);
});

const { port } = server.address();
const listening = `http://127.0.0.1:${port}`;
const issuer = process.env.IDP_ISSUER || listening;
const provider = new Provider(issuer, configuration);

const describe = (err) => [err.error || err.name, err.error_description || err.message].filter(Boolean).join(': ');
provider.on('server_error', (ctx, err) => log(`server_error ${ctx.method} ${ctx.path}: ${err.stack || err}`));
provider.on('authorization.error', (ctx, err) => log(`authorization error: ${describe(err)}`));
provider.on('grant.error', (ctx, err) => log(`token error: ${describe(err)}`));
provider.on('introspection.error', (ctx, err) => log(`introspection error: ${describe(err)}`));
provider.on('revocation.error', (ctx, err) => log(`revocation error: ${describe(err)}`));
if (VERBOSE) {
  provider.on('authorization.success', (ctx) => log(`authorization ok client=${ctx.oidc.client?.clientId}`));
  provider.on('grant.success', (ctx) => log(`token ok grant_type=${ctx.oidc.params.grant_type} client=${ctx.oidc.client?.clientId}`));
}

server.on('request', provider.callback());

if (issuer !== listening) process.stdout.write(`LISTEN=${listening}\n`);
process.stdout.write(`ISSUER=${issuer}\n`);
log(`listening on ${listening} as issuer ${issuer} (access ttl ${ACCESS_TTL}s, client_credentials ttl ${CC_TTL}s)`);

let stopping = false;
function shutdown(signal) {
  if (stopping) return;
  stopping = true;
  log(`${signal} received, shutting down`);
  server.close(() => process.exit(0));
  server.closeAllConnections();
  setTimeout(() => process.exit(0), 2000).unref();
}
process.on('SIGTERM', () => shutdown('SIGTERM'));
// A provider shared by the scenarios of one test binary stops when that
// binary ends, however it ends: its end closes our standard input.
if (process.env.IDP_EXIT_ON_EOF === '1') {
  process.stdin.on('end', () => shutdown('end of standard input'));
  process.stdin.resume();
}
process.on('SIGINT', () => shutdown('SIGINT'));
