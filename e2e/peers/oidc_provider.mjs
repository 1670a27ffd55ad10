// A real OpenID Provider for the web sign-in tests: the certified `oidc-provider` library
// with its built-in login and consent pages, where any login with any password signs in as
// the account of that name (sub = login, email = login@example.test, verified).
//
// Usage: node oidc_provider.mjs PORT DIR   (writes DIR/ready once listening)
// OIDC_CLIENTS: a JSON array of clients ({client_id, client_secret, redirect_uris}).
import fs from "node:fs";
import path from "node:path";
import Provider from "oidc-provider";

const [port, dir] = process.argv.slice(2);
const issuer = `http://127.0.0.1:${port}`;
const clients = JSON.parse(process.env.OIDC_CLIENTS || "[]").map((c) => ({
  grant_types: ["authorization_code"],
  response_types: ["code"],
  token_endpoint_auth_method: "client_secret_basic",
  ...c,
}));

const provider = new Provider(issuer, {
  clients,
  // Every authorization request must carry a PKCE challenge (S256).
  pkce: { required: () => true },
  features: { devInteractions: { enabled: true } },
  claims: {
    openid: ["sub"],
    email: ["email", "email_verified"],
    profile: ["preferred_username", "name"],
  },
  // ID tokens carry only what OpenID Connect requires; the profile is at the user-info endpoint.
  conformIdTokenClaims: true,
  cookies: { keys: ["skilldex-e2e-only"] },
  findAccount: async (_ctx, id) => ({
    accountId: id,
    claims: async () => ({
      sub: id,
      email: `${id}@example.test`,
      email_verified: true,
      preferred_username: id,
      name: `Test ${id}`,
    }),
  }),
});
provider.on("server_error", (_ctx, err) => console.error("oidc-provider:", err));

provider.listen(Number(port), "127.0.0.1", () => {
  // Written aside, then renamed: a test waiting for the file never reads it half written.
  fs.writeFileSync(path.join(dir, "ready.part"), issuer);
  fs.renameSync(path.join(dir, "ready.part"), path.join(dir, "ready"));
});
