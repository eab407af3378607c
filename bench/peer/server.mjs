// node-oidc-provider (v9) issuing RS256 JWT access tokens with client_credentials and
// client_secret_basic: the peer our token endpoint is measured against.
// Usage: node server.mjs PORT CLIENT_ID CLIENT_SECRET [WORKERS]
import cluster from 'node:cluster';
import { generateKeyPairSync } from 'node:crypto';
import Provider from 'oidc-provider';

const [port, clientId, clientSecret, workers = '2'] = process.argv.slice(2);

if (cluster.isPrimary && Number(workers) > 1) {
  // As many processes as the Flask service has gunicorn workers: same cores, fair fight.
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const jwk = { ...privateKey.export({ format: 'jwk' }), use: 'sig', alg: 'RS256', kid: 'bench' };
  for (let i = 0; i < Number(workers); i += 1) cluster.fork({ BENCH_JWK: JSON.stringify(jwk) });
} else {
  const jwk = process.env.BENCH_JWK
    ? JSON.parse(process.env.BENCH_JWK)
    : { ...generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'jwk' }), use: 'sig', alg: 'RS256', kid: 'bench' };
  const provider = new Provider(`http://127.0.0.1:${port}`, {
    clients: [{
      client_id: clientId,
      client_secret: clientSecret,
      grant_types: ['client_credentials'],
      redirect_uris: [],
      response_types: [],
      token_endpoint_auth_method: 'client_secret_basic',
    }],
    jwks: { keys: [jwk] },
    scopes: ['content:generate'],
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      resourceIndicators: {
        enabled: true,
        defaultResource: () => 'https://api.outter.test',
        useGrantedResource: () => true,
        getResourceServerInfo: () => ({
          scope: 'content:generate',
          audience: 'outter-api',
          accessTokenTTL: 900,
          accessTokenFormat: 'jwt',
          jwt: { sign: { alg: 'RS256' } },
        }),
      },
    },
  });
  provider.listen(Number(port), '127.0.0.1');
}
