// The authorization server the OAuth tests talk to: node's oidc-provider (OpenID certified),
// configured the way an MCP deployment needs it. Open dynamic client registration, authorization
// code + PKCE with the development login and consent pages (the tests fill them in), RFC 8707
// resource indicators with JWT access tokens whose audience is the resource, and
// client_credentials for services the tests register up front.
//
// Usage: node server.mjs CONFIG.json — CONFIG holds {port, keys (private JWKs; the first key of
// each type signs), resource, scope, clients}. Prints "listening <issuer>" once it accepts
// connections. GET /_test/jwks-requests reports how often the key set was fetched.
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';

import Provider from 'oidc-provider';

const config = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const issuer = `http://127.0.0.1:${config.port}`;
let jwksRequests = 0;

// A client registered with client_id "es256-..." gets ES256 access tokens, any other RS256.
const signingAlg = (client) => (client?.clientId.startsWith('es256') ? 'ES256' : 'RS256');

const provider = new Provider(issuer, {
  jwks: { keys: config.keys },
  clients: config.clients,
  findAccount: (ctx, accountId) => ({ accountId, claims: () => ({ sub: accountId }) }),
  scopes: ['openid', 'offline_access', config.scope],
  pkce: { required: () => true },
  clientBasedCORS: () => false,
  features: {
    devInteractions: { enabled: true },
    registration: { enabled: true },
    clientCredentials: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: () => config.resource,
      useGrantedResource: () => true,
      getResourceServerInfo: (ctx, resourceIndicator, client) => ({
        scope: config.scope,
        audience: resourceIndicator,
        accessTokenTTL: 600,
        accessTokenFormat: 'jwt',
        jwt: { sign: { alg: signingAlg(client) } },
      }),
    },
  },
});

provider.use(async (ctx, next) => {
  if (ctx.path === '/_test/jwks-requests') {
    ctx.body = { count: jwksRequests };
    return;
  }
  if (ctx.path === '/jwks') jwksRequests += 1;
  await next();
});

const server = createServer(provider.callback());
server.listen(config.port, '127.0.0.1', () => {
  console.log(`listening ${issuer}`);
});
const stop = () => server.close(() => process.exit(0));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
