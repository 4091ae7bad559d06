// Records with schemas in the browser: the producer writes Avro payments through the (stand-in)
// schema registry; the viewer shows each record's format as a badge, narrows the stream with a
// filter expression on a decoded field (on the server), opens a record's raw bytes as hex and
// its schema. No console errors.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { launch, openPage, ARTIFACTS } from './browser.js';
import { OwnStack } from './stack.js';

const PORT = Number(process.env.STREAMHUB_E2E_SCHEMAS_PORT ?? 0);
const TOPIC = `e2e_payments_${Date.now()}`;
const USER = 'bea';

let browser;
let registry;
let stack;

// The stand-in registry (testkit's `local-schema-registry`): its URL is its first line.
async function startRegistry() {
  registry = spawn(join(process.env.STREAMHUB_E2E_BIN_DIR, 'local-schema-registry'), [], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const lines = createInterface({ input: registry.stdout });
  for await (const line of lines) {
    if (line.startsWith('http://')) return line.trim();
  }
  throw new Error('the registry did not start');
}

before(async () => {
  if (!PORT) return;
  browser = await launch();
  const url = await startRegistry();
  stack = new OwnStack({
    port: PORT,
    env: { STREAMHUB_SCHEMA_REGISTRY_URL: url },
    producerEnv: { PRODUCER_FORMAT: 'avro', PRODUCER_RATE: '30' },
  });
  await stack.startServer();
  stack.startProducer();
});

after(async () => {
  stack?.stop();
  registry?.kill('SIGTERM');
  await browser?.close();
});

const records = '[data-testid="records"] li.record';

test('an Avro payment topic: badges, a filter on a decoded field, the raw view and the schema', { skip: !PORT && 'no schemas port' }, async () => {
  const [created, body] = await stack.admin('POST', '/api/topics', {
    name: TOPIC, created_by: USER, partitions: 1, event_type: 'payment',
  });
  assert.equal(created, 201, JSON.stringify(body));
  const [approved] = await stack.admin('POST', `/api/topics/${body.topic_id}/approve`);
  assert.equal(approved, 200);
  for (let i = 0; i < 60; i += 1) {
    const [, active] = await stack.admin('GET', '/api/topics/active');
    if (active.some((t) => t.topic_name === TOPIC)) break;
    await new Promise((r) => setTimeout(r, 250));
  }
  const [subscribed] = await stack.admin('POST', '/api/subscriptions', { user_id: USER, topic_name: TOPIC });
  assert.ok(subscribed < 300, `subscribe: ${subscribed}`);

  const { page, errors } = await openPage(browser);
  await page.context().addCookies([{ name: 'streamhub_user', value: USER, url: stack.url }]);
  await page.goto(`${stack.url}/stream?topic=${TOPIC}`, { waitUntil: 'networkidle' });
  await page.getByTestId('stream-status').getByText('live').waitFor();

  // Each record says it was Avro, and with which schema.
  const badge = page.locator(`${records} [data-testid="schema-badge"]`).first();
  await badge.waitFor();
  assert.equal((await badge.textContent()).trim(), 'avro');
  assert.match(await badge.getAttribute('title'), new RegExp(`avro · ${TOPIC}-value v1 · id \\d+`));

  // A filter expression on a decoded field, evaluated on the server.
  await page.fill('[data-testid="filter"]', 'value.amount > 100.0');
  await page.press('[data-testid="filter"]', 'Enter');
  await page.getByTestId('filter-says').getByText('filtered on the server').waitFor();
  await page.waitForTimeout(500);
  const before = Math.max(0, ...await page.locator(records).evaluateAll((rows) => rows.map((r) => Number(r.dataset.seq))));
  // Records that came after the filter, read in full (opened: the one-line preview is cut).
  let fresh = [];
  for (let i = 0; i < 100 && fresh.length < 3; i += 1) {
    fresh = await page.locator(records).evaluateAll((rows, seq) => rows
      .map((r) => Number(r.dataset.seq)).filter((n) => n > seq), before);
    await page.waitForTimeout(200);
  }
  assert.ok(fresh.length >= 3, `only ${fresh.length} records after the filter`);
  await page.getByTestId('pause').click();
  for (const seq of fresh.slice(0, 3)) {
    const row = page.locator(`${records}[data-seq="${seq}"]`);
    await row.locator('summary').click();
    const text = await row.locator('.json .value').textContent();
    const amount = Number(/amount"?\s*:\s*(-?[0-9.]+)/.exec(text)?.[1]);
    assert.ok(amount > 100, `a record through the filter has amount ${amount}: ${text}`);
  }

  // The raw view: the record's bytes in the registry's wire format (a zero, then the id).
  const row = page.locator(`${records}[data-seq="${fresh[0]}"]`);
  // Clicked in the page (the opened records may have pushed the row out of the viewport).
  await row.getByRole('button', { name: 'raw' }).evaluate((button) => button.click());
  const raw = row.getByTestId('raw-view');
  await raw.waitFor();
  assert.match(await raw.textContent(), /^00000000 {2}00 00 00 00 [0-9a-f]{2} /);

  // The schema, from the registry through the server.
  await row.getByRole('button', { name: 'schema' }).evaluate((button) => button.click());
  const schema = row.getByTestId('schema-view');
  await schema.getByText('"name": "Payment"').waitFor();
  await page.screenshot({ path: `${ARTIFACTS}stream-avro-desktop.png`, fullPage: false });

  assert.deepEqual(errors.filter((e) => !/Failed to load resource/.test(e)), []);
});
