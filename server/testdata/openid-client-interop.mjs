// Interop check of our authorization server with a client nobody here wrote:
// openid-client (pinned; installed by scripts/services.sh ensure_test_tools) with
// TlsClientAuth (RFC 8705 tls_client_auth, no secret) and PKCE S256. Driven by
// TestOpenIDClientInterop: it prints the authorization URL, reads the callback URL
// the test's browser ended at, redeems the code over mutual TLS (checking state
// and iss, RFC 9207), prints the token response, then revokes the token on "revoke".
import fs from 'node:fs';
import readline from 'node:readline';
import * as client from 'openid-client';
import { Agent, fetch as undiciFetch } from 'undici';

const cfg = JSON.parse(process.argv[2]);
const agent = new Agent({
  connect: { ca: fs.readFileSync(cfg.ca), cert: fs.readFileSync(cfg.cert), key: fs.readFileSync(cfg.key), servername: cfg.servername },
});
const server = {
  issuer: cfg.issuer,
  authorization_endpoint: cfg.authorization_endpoint,
  token_endpoint: cfg.token_endpoint,
  revocation_endpoint: cfg.revocation_endpoint,
  authorization_response_iss_parameter_supported: true,
  code_challenge_methods_supported: ['S256'],
};
const config = new client.Configuration(server, cfg.client_id, {}, client.TlsClientAuth());
config[client.customFetch] = (url, options) => undiciFetch(url, { ...options, dispatcher: agent });

const lines = readline.createInterface({ input: process.stdin })[Symbol.asyncIterator]();
const next = async () => (await lines.next()).value;
const say = (o) => process.stdout.write(JSON.stringify(o) + '\n');

try {
  const verifier = client.randomPKCECodeVerifier();
  const state = client.randomState();
  const url = client.buildAuthorizationUrl(config, {
    redirect_uri: cfg.redirect_uri, scope: cfg.scope, state,
    code_challenge: await client.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256',
    'MedMij-Request-ID': cfg.request_id, 'X-Correlation-ID': cfg.correlation_id,
  });
  say({ authorize: url.href });
  const callback = new URL(await next());
  const tokens = await client.authorizationCodeGrant(config, callback, { pkceCodeVerifier: verifier, expectedState: state });
  say({ access_token: tokens.access_token, token_type: tokens.token_type, expires_in: tokens.expires_in, scope: tokens.scope,
    refresh_token: tokens.refresh_token ?? null });
  if ((await next()) === 'revoke') {
    await client.tokenRevocation(config, tokens.access_token);
    say({ revoked: true });
  }
} catch (e) {
  say({ error: String(e && e.message), code: e && (e.error || e.code) });
  process.exitCode = 1;
} finally {
  await agent.close();
}
