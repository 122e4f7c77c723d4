// A real OpenID Connect provider for the tests: panva's certified oidc-provider.
// Usage: node provider.mjs PORT ISSUER REDIRECT_URI CLIENT_SECRET (OIDC_PROVIDER_DIR: the package)
// ISSUER may name another address (a proxy in front) than the one it listens on.
// One confidential client with PKCE (S256) required; sign-in and consent are approved at
// once (devInteractions off): the account is the authorization request's login_hint, or alice.
import http from "node:http";
import path from "node:path";
import { pathToFileURL } from "node:url";

const [port, issuer, redirectUri, clientSecret] = process.argv.slice(2);
const dir = process.env.OIDC_PROVIDER_DIR;
const { default: Provider } = await import(pathToFileURL(path.join(dir, "lib/index.js")).href);

const people = {
  alice: { sub: "a1b2c3-alice", preferred_username: "alice", name: "Alice", email: "alice@example.test", groups: ["staff"] },
  bob: { amr: ["pwd", "otp"], sub: "d4e5f6-bob", preferred_username: "bob.smith", name: "Bob", email: "bob@example.test", groups: ["staff", "tokenapp-admins"] },
  carol: { sub: "g7h8-carol", preferred_username: "carol", name: "Carol", email: "carol@example.test", groups: [] },
};
const bySub = Object.fromEntries(
  Object.values(people).map(({ amr, ...claims }) => [claims.sub, claims]),
);

const provider = new Provider(issuer, {
  clients: [{
    client_id: "tokenapp",
    client_secret: clientSecret,
    redirect_uris: [redirectUri],
    grant_types: ["authorization_code"],
    response_types: ["code"],
    token_endpoint_auth_method: "client_secret_basic",
  }],
  claims: { openid: ["sub", "amr"], profile: ["name", "preferred_username"], email: ["email"], groups: ["groups"] },
  scopes: ["openid", "profile", "email", "groups"],
  conformIdTokenClaims: false, // claims in the ID token too, as Keycloak sends them
  features: { devInteractions: { enabled: false } },
  pkce: { methods: ["S256"], required: () => true },
  cookies: { keys: ["test-only-cookie-key"] },
  interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
  findAccount: async (ctx, sub) => bySub[sub] && { accountId: sub, claims: async () => ({ ...bySub[sub] }) },
});

async function interaction(req, res) {
  const details = await provider.interactionDetails(req, res);
  const { prompt, params, session } = details;
  if (prompt.name === "login") {
    const who = people[params.login_hint] || people.alice;
    const login = { accountId: who.sub, amr: who.amr || ["pwd"] }; // bob's provider did two-factor
    return provider.interactionFinished(req, res, { login }, { mergeWithLastSubmission: false });
  }
  const grant = details.grantId
    ? await provider.Grant.find(details.grantId)
    : new provider.Grant({ accountId: session.accountId, clientId: params.client_id });
  if (prompt.details.missingOIDCScope) grant.addOIDCScope(prompt.details.missingOIDCScope.join(" "));
  if (prompt.details.missingOIDCClaims) grant.addOIDCClaims(prompt.details.missingOIDCClaims);
  const grantId = await grant.save();
  return provider.interactionFinished(req, res, { consent: { grantId } }, { mergeWithLastSubmission: true });
}

const callback = provider.callback();
http.createServer(async (req, res) => {
  try {
    if (req.url.startsWith("/interaction/")) return await interaction(req, res);
    return callback(req, res);
  } catch (err) {
    res.statusCode = 500;
    res.end(String(err));
  }
}).listen(Number(port), "127.0.0.1", () => console.log(`ready ${issuer}`));
