// An independent relying party for the tests: openid-client (panva) and its oauth4webapi
// checks, which are strict (discovery, RFC 9207 iss, state, PKCE, the ID token's signature
// and every claim, at_hash, userinfo's sub). Two steps, each printing JSON on stdout:
//
//   node rp.mjs start  ISSUER CLIENT_ID CLIENT_SECRET REDIRECT_URI
//   node rp.mjs finish ISSUER CLIENT_ID CLIENT_SECRET CALLBACK_URL STATE NONCE VERIFIER
import * as client from "openid-client";

const [step, issuer, clientId, clientSecret, ...rest] = process.argv.slice(2);
// The test service listens on http://127.0.0.1: allowed here, and only here.
const config = await client.discovery(new URL(issuer), clientId, clientSecret, undefined, {
  execute: [client.allowInsecureRequests],
});

if (step === "start") {
  const [redirectUri] = rest;
  const verifier = client.randomPKCECodeVerifier();
  const state = client.randomState();
  const nonce = client.randomNonce();
  const url = client.buildAuthorizationUrl(config, {
    redirect_uri: redirectUri,
    scope: "openid email",
    code_challenge: await client.calculatePKCECodeChallenge(verifier),
    code_challenge_method: "S256",
    state,
    nonce,
  });
  console.log(JSON.stringify({ url: url.href, state, nonce, verifier }));
} else if (step === "finish") {
  const [callbackUrl, state, nonce, verifier] = rest;
  const tokens = await client.authorizationCodeGrant(config, new URL(callbackUrl), {
    pkceCodeVerifier: verifier,
    expectedState: state,
    expectedNonce: nonce,
    idTokenExpected: true,
  });
  const claims = tokens.claims();
  const userinfo = await client.fetchUserInfo(config, tokens.access_token, claims.sub);
  console.log(JSON.stringify({ claims, userinfo, scope: tokens.scope }));
} else {
  throw new Error(`unknown step ${step}`);
}
