// Sign-in through a real OpenID Connect provider (npm `oidc-provider`, started here on a
// loopback port): StreamHub in `STREAMHUB_AUTH=oidc` mode, Chromium going through the provider's
// login and consent pages. Ana and Cai (admins by group) and Ben (not) sign in and out; an answer
// that belongs to no sign-in in this browser is refused with a reason on the sign-in page; so are a
// replayed code and a code presented with another sign-in's PKCE verifier (the provider refuses
// them). Four-eyes approval is on: Ana cannot approve her own request, Cai can. Ben makes a token
// on the Tokens page, the CLI logs in with it and works, and once it is revoked it is refused;
// the CLI also logs in through the provider's device flow, Ben confirming its code in Chromium.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { launch, openPage, ARTIFACTS } from './browser.js';
import { signIn as signInAt, startOidcStack, stopOidcStack } from './oidc_stack.js';

let browser;
let provider;
let stack;
let issuer;

before(async () => {
  ({ stack, provider, issuer } = await startOidcStack({
    STREAMHUB_FOUR_EYES: 'true',
    STREAMHUB_OIDC_DEVICE_FLOW: 'true',
  }));
  browser = await launch();
});

after(async () => {
  await browser?.close();
  stopOidcStack({ stack, provider });
});

const signIn = (page, who) => signInAt(stack, page, who);

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

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// A fresh answer from the provider for `who`: the callback URL it redirects to, not yet opened.
// Playwright cannot stop a browser's redirect, so the redirects are followed here (with the
// browser's cookies) and the provider's login and consent forms sent as the browser would.
async function freshAnswer(page, who) {
  const api = page.context().request;
  let response = await api.get(`${stack.url}/auth/login?next=/`, { maxRedirects: 0 });
  for (let hop = 0; hop < 12; hop += 1) {
    const at = response.url();
    if (response.status() >= 300 && response.status() < 400) {
      const location = new URL(response.headers().location, at).href;
      if (new URL(location).pathname === '/auth/callback') return location;
      response = await api.get(location, { maxRedirects: 0 });
      continue;
    }
    const html = await response.text();
    const action = new URL(/action="([^"]+)"/.exec(html)?.[1] ?? '', at).href;
    const form = html.includes('value="login"')
      ? { prompt: 'login', login: who, password: 'any password' }
      : { prompt: 'consent' };
    assert.ok(html.includes(`value="${form.prompt}"`), `a login or consent page at ${at}, not ${response.status()}`);
    response = await api.post(action, { form, maxRedirects: 0 });
  }
  throw new Error('no answer from the provider within 12 steps');
}

const refusedAs = async (page, url) => {
  await page.goto(url, { waitUntil: 'networkidle' });
  return new URL(page.url()).searchParams.get('error');
};

test('the provider refuses a replayed code and a code presented with another sign-in\'s PKCE verifier', async () => {
  const { page } = await openPage(browser);
  const answer = await freshAnswer(page, 'ana');
  const [login] = (await page.context().cookies()).filter((c) => c.name === 'streamhub_login');
  assert.ok(login, 'the sign-in in progress travels in its cookie');
  await page.goto(answer, { waitUntil: 'networkidle' });
  assert.equal((await session(page)).user, 'ana');
  // The same answer again, with the same sign-in cookie put back: the code was used.
  await page.context().addCookies([login]);
  assert.equal(await refusedAs(page, answer), 'not_verified');

  // Another browser starts its own sign-in and presents a code the provider gave for Ana's (its
  // state matches its own cookie, but not the PKCE verifier the code was issued against).
  const stolen = new URL(await freshAnswer(page, 'ana')).searchParams.get('code');
  const { page: thief } = await openPage(browser);
  const started = await thief.context().request.get(`${stack.url}/auth/login?next=/`, { maxRedirects: 0 });
  const state = new URL(started.headers().location).searchParams.get('state');
  assert.ok(state, 'the thief\'s sign-in started');
  const forged = `${stack.url}/auth/callback?code=${encodeURIComponent(stolen)}&state=${encodeURIComponent(state)}`;
  assert.equal(await refusedAs(thief, forged), 'not_verified');
  assert.equal((await session(thief)).user, undefined);

  // Both refusals are in the audit log with the provider's reason.
  const refusals = await page.evaluate(async () => (await (await fetch('/api/audit?action=sign_in')).json())
    .filter((row) => row.outcome === 'denied').map((row) => row.detail));
  assert.ok(refusals.filter((d) => /invalid_grant/.test(d)).length >= 2, JSON.stringify(refusals));
  await thief.context().close();
  await page.context().close();
});

test('four-eyes: an admin cannot approve her own request, another admin can', async () => {
  const { page: ana, errors } = await openPage(browser);
  await signIn(ana, 'ana');
  // No "you are" to pick: the form names the person signed in.
  assert.equal(await ana.getByTestId('user-picker').count(), 0);
  assert.equal(await ana.inputValue('#created_by'), 'ana');
  await ana.fill('#name', 'ana_metrics');
  await ana.getByRole('button', { name: 'Request topic' }).click();
  await ana.getByTestId('form-ok').getByText('Requested').waitFor();
  const row = ana.locator('tr[data-topic="ana_metrics"]');
  await row.getByTestId('action-approve').click();
  await row.getByTestId('error-note').getByText('four-eyes approval').waitFor();
  assert.match(await row.textContent(), /pending/);

  const { page: cai } = await openPage(browser);
  await signIn(cai, 'cai');
  await cai.getByTestId('admin-badge').getByText('cai · admin').waitFor();
  const hers = cai.locator('tr[data-topic="ana_metrics"]');
  await hers.getByTestId('action-approve').click();
  await hers.locator('.badge-approved').waitFor();
  assert.deepEqual(errors.filter((e) => !/Failed to load resource|status of 403/.test(e)), []);
  await ana.context().close();
  await cai.context().close();
});

test('a token made on the Tokens page logs the CLI in; revoked, it is refused', async () => {
  const { page, errors } = await openPage(browser);
  await signIn(page, 'ben');
  // The badge leads to the person's tokens.
  await page.getByTestId('signed-in-user').click();
  await page.waitForURL('**/tokens');
  await page.waitForLoadState('networkidle');
  await page.getByTestId('no-tokens').waitFor();
  // Ben is no admin: no admin scope on offer.
  assert.deepEqual(await page.locator('#token-scope option').allTextContents(), ['read', 'write']);
  await page.fill('#token-name', 'ben laptop');
  await page.selectOption('#token-scope', 'write');
  await page.getByRole('button', { name: 'Make token' }).click();
  const token = (await page.getByTestId('new-token').textContent()).trim();
  assert.match(token, /^shp_[0-9a-f]{64}$/);
  const listed = page.locator('tr[data-token="ben laptop"]');
  await listed.waitFor();
  assert.match(await listed.textContent(), /write/);
  await page.screenshot({ path: `${ARTIFACTS}oidc-tokens-desktop.png` });

  const config = mkdtempSync(join(tmpdir(), 'streamhub-cli-'));
  const cli = (...args) => promisify(execFile)(join(process.env.STREAMHUB_E2E_BIN_DIR, 'streamhub-consumer'), args, {
    env: Object.fromEntries(Object.entries({ ...process.env, STREAMHUB_API_URL: stack.url, XDG_CONFIG_HOME: config })
      .filter(([key]) => key !== 'STREAMHUB_TOKEN')),
  }).then(({ stdout, stderr }) => ({ ok: true, out: stdout + stderr }), (e) => ({ ok: false, out: `${e.stdout}${e.stderr}` }));
  try {
    const login = await cli('login', '--with-token', token);
    assert.ok(login.ok, login.out);
    assert.match(login.out, /Logged in as ben/);
    const listing = await cli('subscriptions');
    assert.ok(listing.ok, listing.out);

    // Used: the page says when (after a reload).
    await page.reload({ waitUntil: 'networkidle' });
    assert.doesNotMatch(await page.locator('tr[data-token="ben laptop"] td').nth(5).textContent(), /never/);
    await page.locator('tr[data-token="ben laptop"]').getByTestId('revoke-token').click();
    await page.locator('tr[data-token="ben laptop"] .badge-rejected').getByText('revoked').waitFor();
    const refused = await cli('subscriptions');
    assert.ok(!refused.ok, refused.out);
    assert.match(refused.out, /revoked/);
  } finally {
    rmSync(config, { recursive: true, force: true });
  }
  assert.deepEqual(errors.filter((e) => !/Failed to load resource/.test(e)), []);
  await page.context().close();
});

test('the CLI logs in through the device flow: the person confirms its code in a browser', async () => {
  const config = mkdtempSync(join(tmpdir(), 'streamhub-cli-'));
  const env = Object.fromEntries(Object.entries({ ...process.env, STREAMHUB_API_URL: stack.url, XDG_CONFIG_HOME: config })
    .filter(([key]) => key !== 'STREAMHUB_TOKEN'));
  const bin = join(process.env.STREAMHUB_E2E_BIN_DIR, 'streamhub-consumer');
  // `--device`: stdin is no terminal here (from one, `login` would use the device flow itself).
  const login = spawn(bin, ['login', '--device'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let said = '';
  login.stdout.on('data', (chunk) => { said += chunk; });
  login.stderr.on('data', (chunk) => { said += chunk; });
  const exited = new Promise((resolve) => login.once('exit', resolve));
  try {
    for (let i = 0; i < 100 && !/open (\S+) in a browser/.test(said); i += 1) await sleep(100);
    const [, url] = /open (\S+) in a browser/.exec(said) ?? [];
    assert.ok(url?.startsWith(issuer), said);
    const [, code] = /confirm the code (\S+)/.exec(said);

    // In any browser: the provider shows the code, Ben confirms it, signs in and consents.
    const { page } = await openPage(browser);
    await page.goto(url, { waitUntil: 'networkidle' });
    await page.locator('code').getByText(code).waitFor();
    await page.getByRole('button', { name: 'Continue' }).click();
    await page.locator('input[name="login"]').fill('ben');
    await page.locator('input[name="password"]').fill('any password');
    await page.locator('button[type="submit"]').click();
    await page.getByRole('button', { name: 'Continue' }).click();
    await page.getByText(/Sign-in Success/i).waitFor();
    await page.context().close();

    assert.equal(await exited, 0, said);
    assert.match(said, /Logged in as ben/);
    // The token it keeps works, and it is Ben's: the dashboard would list it as his.
    const { stdout } = await promisify(execFile)(bin, ['subscriptions'], { env });
    assert.doesNotMatch(stdout, /error/i);
  } finally {
    login.kill('SIGTERM');
    rmSync(config, { recursive: true, force: true });
  }
});
