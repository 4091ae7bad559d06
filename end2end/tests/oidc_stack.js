// A StreamHub stack in `oidc` mode against the real npm `oidc-provider` (oidc/provider.js) on
// loopback ports, and signing in through the provider's pages: what the suites that sign
// people in share.
import { spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { OwnStack } from './stack.js';

export const CLIENT_ID = 'streamhub';
export const CLIENT_SECRET = 'streamhub-e2e-client-secret';

export function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

// Starts the provider, then StreamHub signing people in through it (with `env` on top):
// `{ stack, provider, issuer }`. `stop(started)` ends both.
export async function startOidcStack(env = {}) {
  const [providerPort, serverPort] = [await freePort(), await freePort()];
  const issuer = `http://127.0.0.1:${providerPort}`;
  const redirect = `http://127.0.0.1:${serverPort}/auth/callback`;
  const provider = spawn(process.execPath, ['oidc/provider.js'], {
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
  const stack = new OwnStack({
    port: serverPort,
    env: {
      STREAMHUB_AUTH: 'oidc',
      STREAMHUB_OIDC_ISSUER: issuer,
      STREAMHUB_OIDC_CLIENT_ID: CLIENT_ID,
      STREAMHUB_OIDC_CLIENT_SECRET: CLIENT_SECRET,
      STREAMHUB_OIDC_REDIRECT_URL: redirect,
      STREAMHUB_OIDC_PROVIDER_NAME: 'Test IdP',
      ...env,
    },
  });
  await stack.startServer();
  return { stack, provider, issuer };
}

export function stopOidcStack(started) {
  started?.stack?.stop();
  started?.provider?.kill('SIGTERM');
}

// Through the provider's development login (any password) and consent pages, back to /topics.
export async function signIn(stack, page, who) {
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
  // The header's badge names them (with "admin" for an admin), and the page is live.
  await page.locator('.who .badge').getByText(who).waitFor();
  await page.waitForLoadState('networkidle');
}
