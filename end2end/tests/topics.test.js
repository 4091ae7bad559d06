// The topics page: the request form checks fields as you type with the server's rules, submits
// through the REST API, and the new topic appears in the table; the server's refusal of a
// duplicate shows next to the name field.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { launch, openPage, BASE_URL, ARTIFACTS } from './browser.js';

let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

test('request a topic through the form', async () => {
  const { page, errors } = await openPage(browser);
  await page.goto(`${BASE_URL}/topics`, { waitUntil: 'networkidle' });

  // Client-side validation, before anything is sent.
  await page.fill('#name', 'bad name!');
  await page.getByTestId('name-error').getByText('only letters').waitFor();
  await page.fill('#name', 'e2e_orders');
  await page.waitForFunction(() => document.querySelector('[data-testid="name-error"]').textContent === '');
  await page.getByRole('button', { name: 'Request topic' }).click();
  // created_by is required: refused in the browser.
  await page.getByTestId('created_by-error').getByText('must not be empty').waitFor();

  await page.fill('#created_by', 'e2e-user');
  await page.fill('#partitions', '3');
  await page.selectOption('#event_type', 'payment');
  await page.getByRole('button', { name: 'Request topic' }).click();
  await page.getByTestId('form-ok').getByText('Requested').waitFor();
  const row = page.locator('tr[data-topic="e2e_orders"]');
  await row.waitFor();
  assert.match(await row.textContent(), /pending/);
  assert.match(await row.textContent(), /payment/);

  // The same name again: the server refuses, and says so next to the field.
  await page.fill('#name', 'e2e_orders');
  await page.getByRole('button', { name: 'Request topic' }).click();
  await page.getByTestId('name-error').getByText('already exists').waitFor();

  // Search narrows the table (the server searches, past the first page too).
  await page.fill('[data-testid="topic-search"]', 'E2E_ORD');
  await row.waitFor();
  await page.selectOption('[data-testid="topic-status"]', 'active');
  await row.waitFor({ state: 'detached' });
  await page.getByTestId('no-match').waitFor();
  await page.selectOption('[data-testid="topic-status"]', 'pending');
  await row.waitFor();
  await page.fill('[data-testid="topic-search"]', 'nothing-matches');
  await row.waitFor({ state: 'detached' });
  await page.getByText('No topic matches the search.').waitFor();
  await page.screenshot({ path: `${ARTIFACTS}topics-desktop.png`, fullPage: true });
  // The browser logs the refused duplicate (409) as a failed load; nothing else may appear.
  assert.deepEqual(errors.filter((e) => !e.includes('status of 409')), []);
  await page.context().close();
});

test('the topics page renders without JavaScript', async () => {
  const context = await browser.newContext({ javaScriptEnabled: false });
  const page = await context.newPage();
  await page.goto(`${BASE_URL}/topics`);
  await page.getByTestId('request-form').waitFor();
  await context.close();
});
