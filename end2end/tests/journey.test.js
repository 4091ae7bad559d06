// The whole journey through the real stack, with its own server and producer daemon (so that it
// can restart the server mid-stream): request a topic → sign in as admin (a wrong token first) →
// approve → the producer activates it → pick a user and subscribe → the viewer shows records
// arriving → pause holds them → the filter narrows them (text here, an expression on the
// server) → the server restarts and the viewer reconnects and resumes → unsubscribe stops the
// stream. No console errors anywhere.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import { launch, openPage, ARTIFACTS } from './browser.js';
import { OwnStack, ADMIN_TOKEN } from './stack.js';

const PORT = Number(process.env.STREAMHUB_E2E_JOURNEY_PORT ?? 0);
const TOPIC = `journey_sensor_${Date.now()}`;
const USER = 'alice';

let browser;
const stack = new OwnStack({ port: PORT, producerEnv: { PRODUCER_RATE: '25' } });
const URL_ = stack.url;

before(async () => {
  browser = await launch();
  await stack.startServer();
  stack.startProducer();
});

after(async () => {
  stack.stop();
  await browser?.close();
});

const number = async (locator) => Number((await locator.textContent()).trim());

async function waitForGrowth(locator, above, timeout = 20_000) {
  const deadline = Date.now() + timeout;
  for (;;) {
    const n = await number(locator);
    if (n > above) return n;
    if (Date.now() > deadline) throw new Error(`count stayed at ${n} (wanted > ${above})`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

test('request → approve → active → subscribe → watch → pause → filter → restart → unsubscribe', { skip: !PORT && 'no journey port' }, async () => {
  const { page, errors } = await openPage(browser);

  // Who you are, remembered in a cookie.
  await page.goto(`${URL_}/topics`, { waitUntil: 'networkidle' });
  await page.fill('#you-are', USER);
  await page.press('#you-are', 'Enter');

  // Request the topic; "Requested by" is the picked user after a reload.
  await page.reload({ waitUntil: 'networkidle' });
  assert.equal(await page.inputValue('#created_by'), USER);
  await page.fill('#name', TOPIC);
  await page.fill('#partitions', '2');
  await page.getByRole('button', { name: 'Request topic' }).click();
  await page.getByTestId('form-ok').getByText('Requested').waitFor();
  const row = page.locator(`tr[data-topic="${TOPIC}"]`);
  await row.getByText('pending').waitFor();
  // Not signed in: no admin actions.
  assert.equal(await row.getByTestId('topic-actions').count(), 0);

  // Sign in: a wrong token is refused, the right one signs in.
  await page.getByTestId('sign-in-link').click();
  await page.waitForURL('**/signin');
  await page.fill('#admin-token', 'not-the-token');
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByTestId('error-note').getByText('not the admin token').waitFor();
  await page.fill('#admin-token', ADMIN_TOKEN);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForURL('**/topics');
  await page.getByTestId('admin-badge').waitFor();
  const cookies = await page.context().cookies();
  const session = cookies.find((c) => c.name === 'streamhub_session');
  assert.ok(session?.httpOnly, 'the session cookie is HttpOnly');
  assert.equal(session.sameSite, 'Strict');

  // Approve; the producer daemon activates it.
  await row.getByTestId('action-approve').click();
  await row.getByText('approved').or(row.getByText('active')).waitFor();
  for (let i = 0; i < 60; i += 1) {
    await page.reload({ waitUntil: 'networkidle' });
    if ((await row.textContent()).includes('active')) break;
    await page.waitForTimeout(500);
  }
  await row.getByText('active').waitFor({ timeout: 1000 });
  await page.screenshot({ path: `${ARTIFACTS}topics-admin-desktop.png`, fullPage: true });

  // The topic's page shows its history from the audit log.
  await row.getByRole('link', { name: TOPIC }).click();
  await page.getByTestId('topic-name').getByText(TOPIC).waitFor();
  const history = page.getByTestId('audit-table');
  await history.getByText('approve').first().waitFor();
  await history.getByText('activate').first().waitFor();
  await page.screenshot({ path: `${ARTIFACTS}topic-detail-desktop.png`, fullPage: true });

  // Subscribe as alice.
  await page.goto(`${URL_}/subscriptions`, { waitUntil: 'networkidle' });
  await page.locator(`[data-testid="available-topics"] li[data-topic="${TOPIC}"]`).getByTestId('subscribe').click();
  const mine = page.locator(`[data-testid="my-subscriptions"] li[data-topic="${TOPIC}"]`);
  await mine.waitFor();
  await page.screenshot({ path: `${ARTIFACTS}subscriptions-desktop.png`, fullPage: true });

  // Watch: records arrive and their count grows.
  await mine.getByRole('link', { name: 'Watch' }).click();
  await page.waitForURL('**/stream?topic=*');
  await page.getByTestId('stream-status').getByText('live').waitFor();
  const received = page.getByTestId('received');
  const first = await waitForGrowth(received, 0);
  await waitForGrowth(received, first);
  await page.locator('[data-testid="records"] li.record').first().waitFor();

  // Where to start: a kind that takes a value shows its own field, and a bad value is refused
  // next to the form (the stream goes on).
  const field = (kind) => page.locator(`[data-testid="stream-controls"] .start-value[data-kind="${kind}"]`);
  assert.equal(await field('last').isVisible(), false);
  await page.selectOption('[data-testid="start-kind"]', 'last');
  await field('last').waitFor();
  assert.equal(await field('time').isVisible(), false);
  await field('last').locator('input').fill('0');
  await page.getByTestId('start').click();
  await page.getByRole('alert').getByText('N must be a whole number above 0').waitFor();
  await page.selectOption('[data-testid="start-kind"]', 'time');
  await page.getByRole('alert').getByText('N must be').waitFor({ state: 'detached' });
  await field('time').waitFor();
  await field('last').waitFor({ state: 'hidden' });
  await page.selectOption('[data-testid="start-kind"]', 'latest');
  await field('time').waitFor({ state: 'hidden' });

  // A record opens into highlighted JSON, and stays open while newer records arrive around it.
  const newest = await page.locator('[data-testid="records"] li.record').last().getAttribute('data-seq');
  const opened = page.locator(`[data-testid="records"] li.record[data-seq="${newest}"]`);
  await opened.locator('summary').click();
  await opened.locator('.json .j-key').first().waitFor();
  await waitForGrowth(received, (await number(received)) + 5);
  assert.equal(await opened.locator(':scope > details').getAttribute('open'), '', 'the opened record closed or went');
  await page.screenshot({ path: `${ARTIFACTS}stream-desktop.png`, fullPage: false });

  // Pause: what is shown stops growing; arrivals are held.
  await page.getByTestId('pause').click();
  const held = await waitForGrowth(page.getByTestId('held'), 0);
  const shownWhilePaused = await page.locator('[data-testid="records"] li.record').count();
  await waitForGrowth(page.getByTestId('held'), held);
  assert.equal(await page.locator('[data-testid="records"] li.record').count(), shownWhilePaused);
  // Copy (while paused, so the row stays): the record's JSON goes to the clipboard, and the
  // record neither opens nor closes.
  await page.context().grantPermissions(['clipboard-read', 'clipboard-write']);
  const copiedRow = page.locator('[data-testid="records"] li.record').last();
  const offset = await copiedRow.getAttribute('data-offset');
  await copiedRow.getByRole('button', { name: 'copy' }).click();
  const copied = JSON.parse(await page.evaluate(() => navigator.clipboard.readText()));
  assert.equal(copied.topic, TOPIC);
  assert.equal(String(copied.offset), offset);
  assert.equal(await copiedRow.locator(':scope > details').getAttribute('open'), null);
  await page.getByTestId('pause').click();
  await page.getByTestId('held').waitFor({ state: 'detached' });

  // Filter: a text nothing contains hides everything; a partition keeps only its records.
  await page.fill('[data-testid="filter"]', 'no-record-contains-this');
  await page.getByTestId('shown').getByText(/^\s*0 shown/).waitFor();
  await page.fill('[data-testid="filter"]', '');
  await page.selectOption('[data-testid="partition-filter"]', '1');
  await page.waitForFunction(() => {
    const rows = [...document.querySelectorAll('[data-testid="records"] li.record')];
    return rows.length > 0 && rows.every((r) => r.dataset.partition === '1');
  });
  await page.selectOption('[data-testid="partition-filter"]', '');

  // An expression is filtered on the server (on Enter): a wrong one is refused at the field,
  // a right one keeps only what it matches, and plain text again drops it.
  const says = page.getByTestId('filter-says');
  await page.fill('[data-testid="filter"]', 'partition == 1 &&');
  await says.getByText('press Enter').waitFor();
  await page.press('[data-testid="filter"]', 'Enter');
  await says.getByText('not a valid expression').waitFor();
  await page.fill('[data-testid="filter"]', 'partition == 1');
  await page.press('[data-testid="filter"]', 'Enter');
  await says.getByText('filtered on the server').waitFor();
  await page.waitForFunction(() => {
    const rows = [...document.querySelectorAll('[data-testid="records"] li.record')];
    return rows.length > 2 && rows.every((r) => r.dataset.partition === '1');
  });
  await page.fill('[data-testid="filter"]', '');
  await page.press('[data-testid="filter"]', 'Enter');
  await page.waitForFunction(() => document.querySelector('[data-testid="filter-says"]').textContent === '');

  // Produce a test record from the topic's page (another tab): the value is checked as it is
  // typed, the page says where it landed, and the open viewer shows it.
  const topicPage = await page.context().newPage();
  await topicPage.goto(`${URL_}/topics`, { waitUntil: 'networkidle' });
  await topicPage.locator(`tr[data-topic="${TOPIC}"]`).getByRole('link', { name: TOPIC }).click();
  await topicPage.getByTestId('composer').locator('summary').click();
  await topicPage.fill('#record-key', 'e2e-composed');
  await topicPage.fill('#record-headers', 'source: e2e');
  await topicPage.fill('#record-value', '{"composed": ');
  await topicPage.getByTestId('value-error').getByText('not JSON').waitFor();
  assert.equal(await topicPage.getByTestId('send-record').isDisabled(), true);
  await topicPage.fill('#record-value', '{"composed": true}');
  await topicPage.getByTestId('value-error').getByText('not JSON').waitFor({ state: 'detached' });
  await topicPage.getByTestId('send-record').click();
  await topicPage.getByTestId('record-sent').getByText(/Sent to partition \d+ at offset \d+/).waitFor();
  await topicPage.getByTestId('audit-table').getByText('produce').first().waitFor();
  await topicPage.close();
  await page.fill('[data-testid="filter"]', 'e2e-composed');
  await page.locator('[data-testid="records"] li.record').first().waitFor();
  await page.fill('[data-testid="filter"]', '');

  // The server restarts: the viewer says it is reconnecting, then resumes where it was.
  await stack.stopServer();
  await page.getByTestId('stream-status').getByText('retrying').waitFor();
  await stack.startServer();
  await page.getByTestId('stream-status').getByText('live').waitFor({ timeout: 20_000 });
  const afterRestart = await number(received);
  await waitForGrowth(received, afterRestart);
  // Resumed from the next offsets: no record shown twice.
  const keys = await page.$$eval('[data-testid="records"] li.record', (rows) => rows.map((r) => `${r.dataset.partition}/${r.dataset.offset}`));
  assert.equal(new Set(keys).size, keys.length, 'a record was shown twice after the reconnect');

  // Save the position: the subscriptions page then shows how far behind it is, live.
  await page.getByTestId('save-position').click();
  await page.getByTestId('notices').getByText(`position saved for ${TOPIC}`).waitFor();

  // Search the topic's history (another tab): a wrong expression is refused at its field; a
  // right one finds only what it matches, up to the cap; results open like live records and
  // download as NDJSON; a bounded scan completes with exact counts.
  const search = await page.context().newPage();
  await search.goto(`${URL_}/search?topic=${TOPIC}`, { waitUntil: 'networkidle' });
  const phase = search.getByTestId('search-phase');
  await search.fill('[data-testid="search-filter"]', 'partition ==');
  await search.getByTestId('search-start').click();
  await search.getByTestId('search-filter-error').getByText('not a valid expression').waitFor();
  await phase.getByText('refused').waitFor();
  await search.fill('[data-testid="search-filter"]', 'partition == 1');
  await search.fill('[data-testid="search-max"]', '5');
  await search.getByTestId('search-start').click();
  await phase.getByText('stopped at the cap of 5 match(es)').waitFor();
  assert.equal(await search.getByTestId('search-filter-error').count(), 0);
  const results = search.locator('[data-testid="search-results"] li.record');
  assert.equal(await results.count(), 5);
  const partitions = await results.evaluateAll((rows) => rows.map((r) => r.dataset.partition));
  assert.deepEqual(partitions, ['1', '1', '1', '1', '1']);
  await results.first().locator('summary').click();
  await results.first().locator('.json .j-key').first().waitFor();
  const [download] = await Promise.all([
    search.waitForEvent('download'),
    search.getByTestId('search-download').click(),
  ]);
  const lines = (await fs.readFile(await download.path(), 'utf8')).trim().split('\n').map((l) => JSON.parse(l));
  assert.deepEqual(lines.map((r) => [r.topic, r.partition]), Array(5).fill([TOPIC, 1]));
  await search.fill('[data-testid="search-filter"]', '');
  await search.fill('[data-testid="search-max"]', '');
  await search.fill('[data-testid="search-partition"]', '0');
  await search.fill('[data-testid="search-from-offset"]', '0');
  await search.fill('[data-testid="search-to-offset"]', '3');
  await search.getByTestId('search-start').click();
  await phase.getByText('done: 3 match(es) in 3 record(s)').waitFor();
  assert.deepEqual(await results.evaluateAll((rows) => rows.map((r) => r.dataset.offset)), ['0', '1', '2']);
  await search.screenshot({ path: `${ARTIFACTS}search-desktop.png`, fullPage: true });
  await search.close();
  await page.bringToFront();

  // Unsubscribe (from another tab, through the subscriptions page): the stream stops.
  const other = await page.context().newPage();
  await other.goto(`${URL_}/subscriptions`, { waitUntil: 'networkidle' });
  const subscription = other.locator(`[data-testid="my-subscriptions"] li[data-topic="${TOPIC}"]`);
  await subscription.getByTestId('lag').getByText(/\d+ behind/).waitFor();
  await subscription.getByTestId('unsubscribe').click();
  await other.getByTestId('no-subscriptions').waitFor();
  await other.close();
  await page.bringToFront();
  await page.getByTestId('notices').getByText(`stopped ${TOPIC} (unsubscribed)`).waitFor();
  // What arrived before the stop (and waited for an animation frame in the hidden tab) lands.
  await page.waitForTimeout(500);
  const stopped = await number(received);
  await page.waitForTimeout(1500);
  assert.equal(await number(received), stopped, 'records kept arriving after unsubscribing');

  // The audit page (admin) lists the journey.
  await page.goto(`${URL_}/audit?topic=${TOPIC}`, { waitUntil: 'networkidle' });
  await page.getByTestId('audit-table').getByText('subscribe').first().waitFor();
  await page.screenshot({ path: `${ARTIFACTS}audit-desktop.png`, fullPage: true });

  // The overview shows the active topic with its rate.
  await page.goto(`${URL_}/`, { waitUntil: 'networkidle' });
  await page.locator(`[data-testid="active-topics"] tr[data-topic="${TOPIC}"]`).waitFor();
  await page.screenshot({ path: `${ARTIFACTS}overview-live-desktop.png`, fullPage: true });

  // Every page at phone width (signed in, so that the admin parts show too).
  await page.setViewportSize({ width: 390, height: 844 });
  for (const [name, path] of [['overview', '/'], ['topics', '/topics'], ['subscriptions', '/subscriptions'],
    ['stream', `/stream?topic=${TOPIC}`], ['search', `/search?topic=${TOPIC}`], ['audit', '/audit'], ['signin', '/signin']]) {
    await page.goto(`${URL_}${path}`, { waitUntil: 'networkidle' });
    await page.screenshot({ path: `${ARTIFACTS}${name}-phone.png`, fullPage: true });
  }
  await page.setViewportSize({ width: 1280, height: 800 });

  // Sign out: admin actions are gone.
  await page.getByTestId('sign-out').click();
  await page.getByTestId('sign-in-link').waitFor();

  assert.deepEqual(errors.filter((e) => !/WebSocket|ERR_CONNECTION_REFUSED|Failed to load resource/.test(e)), []);
  await page.context().close();
});
