// Sign-in through a real OpenID Connect provider (npm `oidc-provider`, started here on a
// loopback port): StreamHub in `STREAMHUB_AUTH=oidc` mode, Chromium going through the provider's
// login and consent pages. Ana (an admin by group) and Ben (not) sign in and out; an answer that
// belongs to no sign-in in this browser is refused with a reason on the sign-in page.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { launch, openPage, ARTIFACTS } from './browser.js';
import { OwnStack } from './stack.js';

const CLIENT_ID = 'streamhub';
const CLIENT_SECRET = 'streamhub-e2e-client-secret';

function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

let browser;
let provider;
let stack;

before(async () => {
  const [providerPort, serverPort] = [await freePort(), await freePort()];
  const issuer = `http://127.0.0.1:${providerPort}`;
  const redirect = `http://127.0.0.1:${serverPort}/auth/callback`;
  provider = spawn(process.execPath, ['oidc/provider.js'], {
    env: {
      ...process.env,
      OIDC_PORT: String(providerPort),
      OIDC_CLIENT_ID: CLIENT_ID,
      OIDC_CLIENT_SECRET: CLIENT_SECRET,
      OIDC_REDIRECT_URL: redirect,
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  await new Promise((resolve, reject) => {
    provider.stdout.on('data', (chunk) => { if (String(chunk).includes('ready')) resolve(); });
    provider.once('exit', (code) => reject(new Error(`the OIDC provider exited (${code})`)));
  });
  stack = new OwnStack({
    port: serverPort,
    env: {
      STREAMHUB_AUTH: 'oidc',
      STREAMHUB_OIDC_ISSUER: issuer,
      STREAMHUB_OIDC_CLIENT_ID: CLIENT_ID,
      STREAMHUB_OIDC_CLIENT_SECRET: CLIENT_SECRET,
      STREAMHUB_OIDC_REDIRECT_URL: redirect,
      STREAMHUB_OIDC_PROVIDER_NAME: 'Test IdP',
    },
  });
  await stack.startServer();
  browser = await launch();
});

after(async () => {
  await browser?.close();
  stack?.stop();
  provider?.kill('SIGTERM');
});

// Through the provider's development login (any password) and consent pages, back home.
async function signIn(page, who) {
  await page.goto(`${stack.url}/signin?next=/topics`, { waitUntil: 'networkidle' });
  await page.getByTestId('sign-in-provider').getByText('Sign in with Test IdP').click();
  await page.locator('input[name="login"]').fill(who);
  await page.locator('input[name="password"]').fill('any password');
  await page.locator('button[type="submit"]').click();
  // Consent (the first time this person signs in to this client).
  await page.waitForURL((url) => url.pathname.startsWith('/topics') || url.pathname.includes('/interaction/'));
  if (new URL(page.url()).pathname.includes('/interaction/')) {
    await page.locator('button[type="submit"]').click();
  }
  await page.waitForURL('**/topics');
  // The header's badge names them (with "admin" for an admin).
  await page.locator('.who .badge').getByText(who).waitFor();
}

const session = (page) => page.evaluate(async () => (await fetch('/api/session')).json());

test('people sign in through the identity provider; its group makes an admin', async () => {
  const { page, errors } = await openPage(browser);
  await signIn(page, 'ana');
  await page.getByTestId('admin-badge').getByText('ana · admin').waitFor();
  const ana = await session(page);
  assert.equal(ana.user, 'ana');
  assert.equal(ana.admin, true);
  assert.equal(ana.auth, 'oidc');
  assert.equal(ana.provider, 'Test IdP');
  await page.screenshot({ path: `${ARTIFACTS}oidc-signed-in-desktop.png` });
  await page.getByTestId('sign-out').click();
  await page.getByTestId('sign-in-link').waitFor();
  assert.equal((await session(page)).user, undefined);
  assert.deepEqual(errors.filter((e) => !/Failed to load resource/.test(e)), []);
  await page.context().close();
});

test('someone the provider does not put in the admin group signs in as themself, not an admin', async () => {
  // A browser of their own (the provider remembers Ana in hers).
  const { page, errors } = await openPage(browser);
  await signIn(page, 'ben');
  const ben = await session(page);
  assert.equal(ben.user, 'ben');
  assert.equal(ben.admin, false);
  await page.getByTestId('signed-in-user').getByText('ben').waitFor();
  assert.equal(await page.getByTestId('admin-badge').count(), 0);
  // Not an admin: an admin action is refused with 403 and says why.
  const refused = await page.evaluate(async () => {
    const csrf = (await (await fetch('/api/session')).json()).csrf_token;
    const res = await fetch('/api/topics/1/approve', { method: 'POST', headers: { 'x-csrf-token': csrf } });
    return [res.status, await res.json()];
  });
  assert.equal(refused[0], 403);
  assert.equal(refused[1].error, 'forbidden');
  assert.deepEqual(errors.filter((e) => !/Failed to load resource/.test(e)), []);
  await page.context().close();
});

test('an answer that belongs to no sign-in in this browser is refused with a reason', async () => {
  const { page } = await openPage(browser);
  await page.goto(`${stack.url}/auth/callback?code=stolen&state=guessed`, { waitUntil: 'networkidle' });
  await page.waitForURL('**/signin?error=login_expired');
  await page.getByTestId('sign-in-refused').getByText('try again').waitFor();
  assert.equal((await session(page)).user, undefined);
  await page.context().close();
});
