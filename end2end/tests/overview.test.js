// The overview page: server-rendered, then hydrated (it refreshes itself only once the WASM has
// taken over), with no console errors.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { launch, openPage, BASE_URL, ARTIFACTS } from './browser.js';

let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

test('the overview is server-rendered and shows the counters before any script runs', async () => {
  const context = await browser.newContext({ javaScriptEnabled: false });
  const page = await context.newPage();
  await page.goto(BASE_URL);
  assert.equal(await page.title(), 'StreamHub');
  const stats = await page.getByTestId('stats').textContent();
  assert.match(stats, /Topics/);
  await context.close();
});

test('the overview hydrates: it refreshes itself and the console stays clean', async () => {
  for (const [name, viewport] of [['desktop', { width: 1280, height: 800 }], ['phone', { width: 390, height: 844 }]]) {
    const { page, errors } = await openPage(browser, viewport);
    await page.goto(BASE_URL, { waitUntil: 'networkidle' });
    assert.match(await page.getByTestId('refresh-count').textContent(), /refreshed 0 time/);
    await page.getByText('refreshed 1 time(s)').waitFor({ timeout: 10_000 });
    // The refreshed data arrived through the REST API and was rendered again.
    await page.getByTestId('health').getByText('Broker').waitFor();
    await page.getByTestId('health').getByText('Instances').waitFor();
    await page.screenshot({ path: `${ARTIFACTS}overview-${name}.png`, fullPage: true });
    assert.deepEqual(errors, [], `console errors on ${name}`);
    await page.context().close();
  }
});

/** Records the WASM responses of `page`: file name, encoding, cache policy. */
function wasmResponses(page) {
  const wasm = [];
  page.on('response', async (response) => {
    const url = response.url();
    if (!url.endsWith('.wasm')) return;
    const headers = await response.allHeaders();
    wasm.push({ file: url.split('/').pop(), encoding: headers['content-encoding'], cache: headers['cache-control'] });
  });
  return wasm;
}

test('a first visit downloads the page code in one pack, gzipped, and the next page fetches what it adds', async () => {
  const { page, errors } = await openPage(browser);
  const wasm = wasmResponses(page);
  await page.goto(BASE_URL, { waitUntil: 'networkidle' });
  await page.getByText('refreshed 1 time(s)').waitFor({ timeout: 10_000 });
  const files = () => wasm.map((w) => w.file);
  // The shell and the overview's pack, each once (the pack's preload hint is used, not doubled).
  assert.deepEqual(files().map((f) => f.replace(/_\d+\.wasm$/, '')).sort(),
    ['pack___overview_route_view', 'streamhub_bg.wasm'], `fetched: ${files()}`);
  assert.deepEqual(wasm.filter((w) => w.encoding !== 'gzip'), [], 'every module is sent gzipped');
  // Checked with the server before each use: a tab's shell and its chunks come from one build.
  assert.deepEqual(wasm.filter((w) => w.cache !== 'no-cache'), [], 'every module is revalidated');
  // Client-side navigation: the topics page's own module arrives alone (the code it shares with
  // the overview is already there), and the page hydrates.
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Topics' }).click();
  await page.getByTestId('request-form').waitFor();
  await page.waitForLoadState('networkidle');
  const later = files().slice(2);
  assert.ok(later.some((f) => f.startsWith('split___topics_route_view')), `no topics module: ${later}`);
  assert.ok(!later.some((f) => f.startsWith('pack_') || f.startsWith('split___overview')), `fetched again: ${later}`);
  // The page is live: its form checks a field as you type.
  await page.fill('#name', 'bad name!');
  await page.getByTestId('name-error').getByText('only letters').waitFor();
  assert.deepEqual(errors, []);
  await page.context().close();
});

test('when the pack of a page cannot be fetched, its modules are fetched one by one', async () => {
  const { page, errors } = await openPage(browser);
  const wasm = wasmResponses(page);
  let refused = 0;
  let loads = 0;
  page.on('load', () => { loads += 1; });
  await page.route('**/pack_*.wasm', async (route) => { refused += 1; await route.abort('connectionrefused'); });
  await page.goto(`${BASE_URL}/topics`, { waitUntil: 'networkidle' });
  await page.fill('#name', 'bad name!');
  await page.getByTestId('name-error').getByText('only letters').waitFor({ timeout: 20_000 });
  assert.ok(refused >= 1, 'the pack was not requested');
  const files = wasm.map((w) => w.file);
  assert.ok(files.some((f) => f.startsWith('split___topics_route_view')), `no topics module: ${files}`);
  assert.ok(files.some((f) => f.startsWith('chunk_')), `no shared chunk: ${files}`);
  assert.equal(loads, 1, 'the page reloaded instead of fetching the modules');
  assert.deepEqual(errors.filter((e) => !e.startsWith('Failed to load resource')), []);
  await page.context().close();
});

test('a page module that cannot be fetched while the server is away is retried, and the navigation completes', async () => {
  const { page, errors } = await openPage(browser);
  await page.goto(BASE_URL, { waitUntil: 'networkidle' });
  await page.getByText('refreshed 1 time(s)').waitFor({ timeout: 10_000 });
  // The server "goes away" for the topics page's module and the health check, for two attempts.
  let refused = 0;
  const away = async (route) => {
    if (refused < 4) { refused += 1; await route.abort('connectionrefused'); } else { await route.continue(); }
  };
  await page.route('**/split___topics_route_view_*.wasm', away);
  await page.route('**/api/health', away);
  await page.evaluate(() => { window.stillTheSamePage = true; });
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Topics' }).click();
  await page.getByTestId('request-form').waitFor({ timeout: 20_000 });
  assert.ok(refused >= 2, `the failure was not exercised (${refused} refused)`);
  // Recovered in place: no reload, and the page works.
  assert.equal(await page.evaluate(() => window.stillTheSamePage), true);
  await page.fill('#name', 'bad name!');
  await page.getByTestId('name-error').getByText('only letters').waitFor();
  // The refused requests themselves are logged by Chromium; nothing else may be (no panic).
  assert.deepEqual(errors.filter((e) => !e.startsWith('Failed to load resource')), []);
  await page.context().close();
});

test('unknown pages say so', async () => {
  const { page, errors } = await openPage(browser);
  const response = await page.goto(`${BASE_URL}/no/such/page`, { waitUntil: 'networkidle' });
  assert.equal(response.status(), 404);
  await page.getByText('Page not found').waitFor();
  assert.deepEqual(errors.filter((e) => !e.includes('404')), []);
  await page.context().close();
});
