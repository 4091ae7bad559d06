// Who may read what (docs/access.md), through a real OpenID Connect provider (npm
// `oidc-provider`, as in oidc.test.js) whose `groups` claim makes the teams: Pia (team payments)
// requests `payments_eu` on the dashboard at level `approval` with `customer_id` hashed; Cai (an
// admin) approves it and the producer's call activates it, and a record with a customer id
// arrives. Wes (team web) asks to subscribe and waits for the owners (the relay refuses him
// meanwhile); Pia's header counts her inbox, where she approves him. Wes's viewer then shows the
// customer id as a keyed hash, Pia's shows it clear. A webhook receiver hears the requests and
// the decision. Then a `private` topic of Pia's does not exist for Noa (no team): not listed,
// its page not found, not on offer to follow (where the first test's topic is).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer as createHttpServer } from 'node:http';
import { launch, openPage, ARTIFACTS } from './browser.js';
import { signIn as signInAt, startOidcStack, stopOidcStack } from './oidc_stack.js';

// The broker outlives the run (and serves the other tests): names of this run's own.
const RUN = Date.now();
const TOPIC = `payments_eu_${RUN}`;
const PRIVATE_TOPIC = `payments_ledger_${RUN}`;
const CUSTOMER = 'cust-00017';


// A webhook receiver on a loopback port: every JSON body it is sent, in order.
function startReceiver() {
  const events = [];
  const server = createHttpServer((req, res) => {
    let body = '';
    req.on('data', (chunk) => { body += chunk; });
    req.on('end', () => {
      try { events.push(JSON.parse(body)); } catch { events.push({ unparsable: body }); }
      res.writeHead(204).end();
    });
  });
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => resolve({ server, events, url: `http://127.0.0.1:${server.address().port}/hook` }));
  });
}

let browser;
let provider;
let stack;
let receiver;

before(async () => {
  receiver = await startReceiver();
  ({ stack, provider } = await startOidcStack({ STREAMHUB_WEBHOOK_URL: receiver.url }));
  browser = await launch();
});

after(async () => {
  await browser?.close();
  stopOidcStack({ stack, provider });
  receiver?.server.close();
});

const signIn = (page, who) => signInAt(stack, page, who);

// A fresh browser with `who` signed in. The provider's login pages import a web font from the
// internet: answered empty here, so that nothing leaves the machine (nor fails to).
async function personAt(who) {
  const opened = await openPage(browser);
  await opened.page.context().route('https://fonts.googleapis.com/**',
    (route) => route.fulfill({ status: 200, contentType: 'text/css', body: '' }));
  await signIn(opened.page, who);
  return opened;
}

// The dashboard's own call from the signed-in page (session cookie and CSRF token).
const call = (page, method, path, body) => page.evaluate(async ([method, path, body]) => {
  const csrf = (await (await fetch('/api/session')).json()).csrf_token;
  const res = await fetch(path, {
    method,
    headers: { 'x-csrf-token': csrf, 'content-type': 'application/json' },
    body: body && JSON.stringify(body),
  });
  return [res.status, await res.json()];
}, [method, path, body]);

// What the producer daemon does for an approved topic: creates it in Kafka and activates it.
async function activate(name) {
  const res = await fetch(`${stack.url}/api/topics/activate_by_name`, {
    method: 'POST',
    headers: { 'x-producer-key': stack.env.PRODUCER_SECRET, 'content-type': 'application/json' },
    body: JSON.stringify({ topic_name: name }),
  });
  assert.equal(res.status, 200, await res.text());
}

// Requests a topic on the dashboard's form; answers its id.
async function requestTopic(page, name, access, masks = '') {
  await page.fill('#name', name);
  await page.selectOption('#access', access);
  await page.fill('#masks', masks);
  await page.getByRole('button', { name: 'Request topic' }).click();
  const ok = await page.getByTestId('form-ok').getByText('Requested').textContent();
  return Number(/#(\d+)/.exec(ok)[1]);
}

// Subscribes on the subscriptions page; answers the subscription's entry in "yours".
async function subscribe(page, name) {
  await page.goto(`${stack.url}/subscriptions`, { waitUntil: 'networkidle' });
  await page.locator(`[data-testid="available-topics"] li[data-topic="${name}"]`).getByTestId('subscribe').click();
  const mine = page.locator(`[data-testid="my-subscriptions"] li[data-topic="${name}"]`);
  await mine.waitFor();
  return mine;
}

// Watches `name` from its beginning (from the subscriptions page's Watch link): the previews of
// the records shown, once at least one is.
async function watchFromStart(page, name) {
  await page.goto(`${stack.url}/subscriptions`, { waitUntil: 'networkidle' });
  await page.locator(`[data-testid="my-subscriptions"] li[data-topic="${name}"]`).getByRole('link', { name: 'Watch' }).click();
  await page.waitForURL('**/stream?topic=*');
  await page.getByTestId('stream-status').getByText('live').waitFor();
  await page.selectOption('[data-testid="start-kind"]', 'earliest');
  await page.getByTestId('start').click();
  await page.getByTestId('stream-status').getByText('live').waitFor();
  const records = page.locator('[data-testid="records"] li.record');
  await records.first().waitFor();
  return records.locator('.preview').allTextContents();
}

// Console errors other than the refusals the scenario provokes (403 and 404 answers).
const unexpected = (errors) => errors.filter((e) => !/Failed to load resource: the server responded with a status of 40[34]/.test(e));

// The webhook receiver's events of `kind` on `topic`, waited for (deliveries are asynchronous).
async function heard(kind, topic) {
  for (let i = 0; i < 100; i += 1) {
    const found = receiver.events.filter((e) => e.event === kind && e.topic === topic);
    if (found.length > 0) return found;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`no ${kind} event for ${topic}; heard ${JSON.stringify(receiver.events)}`);
}

test('an approval topic: the owners approve a reader, who sees its masked field hashed', async () => {
  // Pia's one team owns what she requests: the form presets it.
  const { page: pia, errors: piaErrors } = await personAt('pia');
  await pia.getByTestId('teams').getByText('payments').waitFor();
  assert.equal(await pia.inputValue('#owner_team'), 'payments');
  const topicId = await requestTopic(pia, TOPIC, 'approval', `customer_id hash`);
  const row = pia.locator(`tr[data-topic="${TOPIC}"]`);
  await row.getByTestId('access-badge').getByText('approval').waitFor();
  await row.getByTestId('owner').getByText('team payments').waitFor();
  await row.locator('.badge-pending').waitFor();

  // Cai (an admin) approves it; the producer's call activates it.
  const { page: cai, errors: caiErrors } = await personAt('cai');
  const hers = cai.locator(`tr[data-topic="${TOPIC}"]`);
  await hers.getByTestId('action-approve').click();
  await hers.locator('.badge-approved').waitFor();
  await activate(TOPIC);
  // A payment with a customer id arrives (Pia, an owner, sends it).
  const [status, produced] = await call(pia, 'POST', `/api/topics/${topicId}/records`,
    { key: 'e2e-payment', value: { customer_id: CUSTOMER, amount: 12 } });
  assert.equal(status, 201, JSON.stringify(produced));

  // Wes (team web) sees it, with its level and masked field, and asks to follow it: a request
  // that waits for the owners, with nothing to watch yet.
  const { page: wes, errors: wesErrors } = await personAt('wes');
  await wes.getByTestId('teams').getByText('web').waitFor();
  await wes.goto(`${stack.url}/topics/${topicId}`, { waitUntil: 'networkidle' });
  await wes.getByTestId('topic-name').getByText(TOPIC).waitFor();
  assert.equal((await wes.getByTestId('access').textContent()).trim(), 'approval');
  assert.equal((await wes.getByTestId('masks').textContent()).trim(), 'customer_id (hash)');
  const asked = await subscribe(wes, TOPIC);
  await asked.getByTestId('subscription-pending').getByText('waiting for the owners').waitFor();
  assert.equal(await asked.getByRole('link', { name: 'Watch' }).count(), 0);
  // A request grants nothing: the viewer offers him nothing to watch (the relay's refusal of a
  // pending request is the integration tests').
  await wes.goto(`${stack.url}/stream?topic=${TOPIC}`, { waitUntil: 'networkidle' });
  await wes.getByTestId('stream-nothing').waitFor();
  assert.equal(await wes.locator('[data-testid="records"] li.record').count(), 0);

  // Pia's header counts what waits for her; her inbox lists Wes's request; she approves it.
  await pia.goto(`${stack.url}/topics`, { waitUntil: 'networkidle' });
  await pia.getByTestId('inbox-count').getByText('1').waitFor();
  await pia.locator('a[href="/inbox"]').click();
  await pia.waitForURL('**/inbox');
  await pia.waitForLoadState('networkidle');
  const request = pia.locator(`tr[data-request="wes@${TOPIC}"]`);
  await request.waitFor();
  await pia.screenshot({ path: `${ARTIFACTS}access-inbox-desktop.png`, fullPage: true });
  await request.getByTestId('approve').click();
  await pia.getByTestId('inbox-empty').waitFor();

  // Wes's subscription is active now: he watches, and sees the id only as its keyed hash.
  const seenByWes = await watchFromStart(wes, TOPIC);
  assert.equal(seenByWes.length, 1, seenByWes.join('\n'));
  assert.match(seenByWes[0], /"customer_id":\s*"[0-9a-f]{32}"/);
  assert.match(seenByWes[0], /"amount":\s*12/);
  assert.doesNotMatch(await wes.getByTestId('records').innerHTML(), new RegExp(CUSTOMER));
  // The viewer's text filter reads what Wes was sent: the clear id matches nothing.
  await wes.fill('[data-testid="filter"]', CUSTOMER);
  await wes.getByTestId('shown').getByText(/^\s*0 shown/).waitFor();
  await wes.fill('[data-testid="filter"]', '');
  await wes.screenshot({ path: `${ARTIFACTS}access-masked-stream-desktop.png` });

  // Pia, an owner, follows her own topic without asking, and sees the id clear.
  await subscribe(pia, TOPIC);
  const seenByPia = await watchFromStart(pia, TOPIC);
  assert.equal(seenByPia.length, 1, seenByPia.join('\n'));
  assert.match(seenByPia[0], new RegExp(`"customer_id":\\s*"${CUSTOMER}"`));

  // The webhook heard the request, Wes's request and Pia's decision.
  const [requested] = await heard('topic_requested', TOPIC);
  assert.equal(requested.actor, 'pia');
  assert.equal(requested.team, 'payments');
  const [subscriptionRequested] = await heard('subscription_requested', TOPIC);
  assert.equal(subscriptionRequested.user_id, 'wes');
  const [approved] = await heard('subscription_approved', TOPIC);
  assert.equal(approved.actor, 'pia');
  assert.equal(approved.user_id, 'wes');
  assert.equal(approved.text, `StreamHub: subscription approved: ${TOPIC} by pia (for wes)`);

  assert.deepEqual(unexpected(piaErrors), []);
  assert.deepEqual(unexpected(caiErrors), []);
  assert.deepEqual(unexpected(wesErrors), []);
  for (const page of [pia, cai, wes]) await page.context().close();
});

test('a private topic does not exist for someone outside its owners', async () => {
  const { page: pia, errors: piaErrors } = await personAt('pia');
  const topicId = await requestTopic(pia, PRIVATE_TOPIC, 'private');
  await pia.locator(`tr[data-topic="${PRIVATE_TOPIC}"]`).getByTestId('access-badge').getByText('private').waitFor();
  const [approved, body] = await stack.admin('POST', `/api/topics/${topicId}/approve`);
  assert.equal(approved, 200, JSON.stringify(body));
  await activate(PRIVATE_TOPIC);

  // Noa has no team: her form has no owner to choose, and the private topic is nowhere.
  const { page: noa, errors: noaErrors } = await personAt('noa');
  assert.equal(await noa.getByTestId('teams').count(), 0);
  await noa.getByTestId('governance').waitFor();
  assert.equal(await noa.locator('#owner_team').count(), 0);
  await noa.locator(`tr[data-topic="${TOPIC}"]`).waitFor();
  assert.equal(await noa.locator(`tr[data-topic="${PRIVATE_TOPIC}"]`).count(), 0);
  await noa.fill('[data-testid="topic-search"]', PRIVATE_TOPIC);
  await noa.getByTestId('no-match').waitFor();

  await noa.goto(`${stack.url}/topics/${topicId}`, { waitUntil: 'networkidle' });
  await noa.getByTestId('error-note').getByText('Could not load the topic').waitFor();
  assert.match(await noa.getByTestId('error-note').textContent(), new RegExp(`no topic #${topicId}$`));
  assert.equal(await noa.getByTestId('topic-name').count(), 0);
  assert.doesNotMatch(await noa.locator('main').textContent(), new RegExp(PRIVATE_TOPIC));
  // The API answers as for an id that was never given out.
  const [status, refused] = await call(noa, 'GET', `/api/topics/${topicId}`);
  const [, missing] = await call(noa, 'GET', '/api/topics/999999');
  assert.equal(status, 404);
  assert.equal(refused.error, 'topic_not_found');
  assert.deepEqual(refused, { ...missing, message: missing.message.replace('999999', String(topicId)) });

  await noa.goto(`${stack.url}/subscriptions`, { waitUntil: 'networkidle' });
  const offered = noa.getByTestId('available-topics');
  await offered.locator(`li[data-topic="${TOPIC}"]`).waitFor();
  assert.equal(await offered.locator(`li[data-topic="${PRIVATE_TOPIC}"]`).count(), 0);
  const [, active] = await call(noa, 'GET', '/api/topics/active');
  assert.ok(!active.some((t) => t.topic_name === PRIVATE_TOPIC), JSON.stringify(active));
  await noa.screenshot({ path: `${ARTIFACTS}access-private-hidden-desktop.png`, fullPage: true });

  // Pia, its owner, is offered it.
  await pia.goto(`${stack.url}/subscriptions`, { waitUntil: 'networkidle' });
  await pia.locator(`[data-testid="available-topics"] li[data-topic="${PRIVATE_TOPIC}"]`).waitFor();

  assert.deepEqual(unexpected(piaErrors), []);
  assert.deepEqual(unexpected(noaErrors), []);
  for (const page of [pia, noa]) await page.context().close();
});

test("owners govern their topic from its page; a team claims a topic nobody owns", async () => {
  const { page: pia, errors: piaErrors } = await personAt('pia');
  const [, topics] = await call(pia, 'GET', '/api/topics');
  const topicId = topics.find((t) => t.topic_name === TOPIC).topic_id;
  await pia.goto(`${stack.url}/topics/${topicId}`, { waitUntil: 'networkidle' });

  // Who reads it: Wes (approved in the first test) and Pia herself, each with a lag column.
  const panel = pia.getByTestId('owners-panel');
  await panel.waitFor();
  const wesRow = panel.locator('tr[data-subscriber="wes"]');
  await wesRow.locator('.badge-active').waitFor();
  await panel.locator('tr[data-subscriber="pia"]').waitFor();
  assert.equal(await pia.inputValue('[data-testid="owner-masks"]'), 'customer_id hash');

  // She masks one more field; the page shows both.
  await pia.fill('[data-testid="owner-masks"]', 'customer_id hash\namount redact');
  await panel.getByRole('button', { name: 'Save' }).click();
  await pia.getByTestId('masks').getByText('customer_id (hash), amount (redact)').waitFor();
  const [, topic] = await call(pia, 'GET', `/api/topics/${topicId}`);
  assert.deepEqual(topic.masks, [
    { path: 'customer_id', method: 'hash' },
    { path: 'amount', method: 'redact' },
  ]);
  await pia.screenshot({ path: `${ARTIFACTS}access-owners-panel-desktop.png`, fullPage: true });

  // She revokes Wes: he no longer reads it.
  await pia.getByTestId('owners-panel').locator('tr[data-subscriber="wes"]').getByTestId('revoke').click();
  await pia.getByTestId('owners-panel').locator('tr[data-subscriber="wes"]').waitFor({ state: 'detached' });
  const { page: wes, errors: wesErrors } = await personAt('wes');
  const [, his] = await call(wes, 'GET', '/api/subscriptions?user_id=wes');
  assert.ok(!his.some((s) => s.topic_name === TOPIC), JSON.stringify(his));
  // Nor does he see the owners' part of its page.
  await wes.goto(`${stack.url}/topics/${topicId}`, { waitUntil: 'networkidle' });
  await wes.getByTestId('topic-name').getByText(TOPIC).waitFor();
  assert.equal(await wes.getByTestId('owners-panel').count(), 0);

  // A topic nobody owns (requested with the admin token): Wes asks for team web to own it,
  // and Cai (an admin) gives it to them from his inbox.
  const unowned = `orphans_${RUN}`;
  const [created, body] = await stack.admin('POST', '/api/topics', { name: unowned, created_by: 'ops' });
  assert.equal(created, 201, JSON.stringify(body));
  await wes.goto(`${stack.url}/topics/${body.topic_id}`, { waitUntil: 'networkidle' });
  const claim = wes.getByTestId('ownership-form');
  await claim.getByRole('button', { name: 'Ask to own it' }).click();
  await claim.getByTestId('ownership-done').getByText('Asked').waitFor();
  const { page: cai, errors: caiErrors } = await personAt('cai');
  await cai.goto(`${stack.url}/inbox`, { waitUntil: 'networkidle' });
  await cai.locator(`tr[data-claim="web@${unowned}"]`).getByTestId('give').click();
  await cai.locator(`tr[data-claim="web@${unowned}"]`).waitFor({ state: 'detached' });
  await wes.goto(`${stack.url}/topics/${body.topic_id}`, { waitUntil: 'networkidle' });
  await wes.getByTestId('owners-panel').waitFor();
  assert.equal(await wes.getByTestId('ownership-form').count(), 0);

  assert.deepEqual(unexpected(piaErrors), []);
  assert.deepEqual(unexpected(wesErrors), []);
  assert.deepEqual(unexpected(caiErrors), []);
  for (const page of [pia, wes, cai]) await page.context().close();
});
