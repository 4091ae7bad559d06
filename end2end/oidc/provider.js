// A real OpenID Connect provider for the tests (npm `oidc-provider`, a certified
// implementation), on a loopback port: one confidential client (StreamHub) and its people:
// `ana` and `cai` (admins by group) and `ben`; for the access tests `pia` (team payments), `wes`
// (team web) and `noa` (no team). Its development login page takes any password.
//
//   OIDC_PORT=… OIDC_CLIENT_ID=… OIDC_CLIENT_SECRET=… OIDC_REDIRECT_URL=… node oidc/provider.js
//
// Prints `ready <issuer>` once it serves discovery.
import Provider from 'oidc-provider';

const port = Number(process.env.OIDC_PORT ?? 0);
const issuer = `http://127.0.0.1:${port}`;

export const PEOPLE = {
  ana: { sub: 'ana-subject', preferred_username: 'ana', name: 'Ana Admin', groups: ['streamhub-admins', 'staff'] },
  ben: { sub: 'ben-subject', preferred_username: 'ben', name: 'Ben Builder', groups: ['staff'] },
  cai: { sub: 'cai-subject', preferred_username: 'cai', name: 'Cai Checker', groups: ['streamhub-admins'] },
  pia: { sub: 'pia-subject', preferred_username: 'pia', name: 'Pia Payments', groups: ['payments'] },
  wes: { sub: 'wes-subject', preferred_username: 'wes', name: 'Wes Web', groups: ['web'] },
  noa: { sub: 'noa-subject', preferred_username: 'noa', name: 'Noa Nobody', groups: [] },
};

const provider = new Provider(issuer, {
  clients: [{
    client_id: process.env.OIDC_CLIENT_ID ?? 'streamhub',
    client_secret: process.env.OIDC_CLIENT_SECRET ?? 'streamhub-test-secret',
    redirect_uris: [process.env.OIDC_REDIRECT_URL],
    // The device flow too: `streamhub-consumer login` signs in through it (RFC 8628).
    grant_types: ['authorization_code', 'urn:ietf:params:oauth:grant-type:device_code'],
    response_types: ['code'],
  }],
  claims: { openid: ['sub'], profile: ['preferred_username', 'name', 'groups'] },
  // At its default (as OpenID Connect Core 5.4 has it) the provider returns scope claims from
  // the userinfo endpoint only, not in the code flow's ID token: StreamHub must read them there.
  // OIDC_ID_TOKEN_CLAIMS=1 puts them in the ID token too, as some providers do.
  conformIdTokenClaims: process.env.OIDC_ID_TOKEN_CLAIMS !== '1',
  findAccount: async (_ctx, id) => {
    // The development login page's "login" is the account id: a person's name here.
    const person = PEOPLE[id];
    if (!person) return undefined;
    return { accountId: id, claims: async () => person };
  },
  pkce: { required: () => true },
  features: { devInteractions: { enabled: true }, deviceFlow: { enabled: true } },
  cookies: { keys: ['streamhub-oidc-test-cookie-key'] },
  ttl: { IdToken: 600, AccessToken: 600, AuthorizationCode: 60, Session: 3600, Interaction: 600, Grant: 3600 },
});
// Plain HTTP on loopback is what this test provider serves.
provider.proxy = false;

const server = provider.listen(port, '127.0.0.1', () => {
  console.log(`ready ${issuer}`);
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
