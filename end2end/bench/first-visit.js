// A user's first visit to each page of the dashboard on a slow network: Chromium with an empty
// cache on a link throttled to 1.6 Mbit/s each way and a 150 ms round trip (the DevTools
// protocol's network emulation), timed from navigation start until the page is interactive,
// that is until it has hydrated (the browser sets the performance mark `hydrated` and
// `<html data-hydrated="…">` then; see `lazy_page!` in app/src/lib.rs). Beside it: the bytes
// the visit downloaded (all of them, and the WASM alone, which is what the budget of
// `.ci/wasm-chunks report --budget` counts), and as the baseline the same visit on localhost
// without throttling.
//
// Runs its own server (and producer daemon, so that the topic the viewer and the search page
// open is active) on the broker .ci/bench-dashboard starts, or visits FIRST_VISIT_URL when given
// (a running server whose user `bench` may stream FIRST_VISIT_TOPIC, whose id is
// FIRST_VISIT_TOPIC_ID).
//   FIRST_VISIT_RUNS   visits per page and network (default 3; the median is reported)
import { launch } from '../tests/browser.js';
import { OwnStack } from '../tests/stack.js';

const RUNS = Number(process.env.FIRST_VISIT_RUNS ?? 3);
const USER = 'bench';
// 1.6 Mbit/s = 200,000 bytes/s each way; 150 ms round trip.
const SLOW = { offline: false, latency: 150, downloadThroughput: 200_000, uploadThroughput: 200_000 };
const VISIT_TIMEOUT_MS = 60_000;

/** The stack to visit: a running one, or our own with an active topic `bench` may stream. */
async function stack() {
  if (process.env.FIRST_VISIT_URL) {
    const topic = process.env.FIRST_VISIT_TOPIC ?? '';
    return { url: process.env.FIRST_VISIT_URL, topic, topicId: process.env.FIRST_VISIT_TOPIC_ID ?? '', stop() {} };
  }
  const own = new OwnStack({
    port: Number(process.env.STREAMHUB_E2E_JOURNEY_PORT),
    producerEnv: { PRODUCER_RATE: '10' },
  });
  await own.startServer();
  const topic = `first_visit_${Date.now()}`;
  const [status, body] = await own.admin('POST', '/api/topics', { name: topic, created_by: USER, partitions: 2 });
  if (status !== 201) throw new Error(`request: ${status} ${JSON.stringify(body)}`);
  await own.admin('POST', `/api/topics/${body.topic_id}/approve`);
  await own.admin('POST', '/api/subscriptions', { user_id: USER, topic_name: topic });
  own.startProducer();
  // The producer daemon creates the approved topic in Kafka and activates it.
  for (let i = 0; ; i += 1) {
    const active = await (await fetch(`${own.url}/api/topics/active`)).json();
    if (active.some((t) => t.topic_name === topic)) break;
    if (i > 300) throw new Error(`${topic} did not become active`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return { url: own.url, topic, topicId: String(body.topic_id), stop: () => own.stop() };
}

/** One cold visit of `path`: ms to interactive, first contentful paint, bytes downloaded. */
async function visit(browser, url, path, network) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  await context.addCookies([{ name: 'streamhub_user', value: USER, url }]);
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (err) => errors.push(String(err)));
  const cdp = await context.newCDPSession(page);
  await cdp.send('Network.enable');
  await cdp.send('Network.setCacheDisabled', { cacheDisabled: true });
  if (network) await cdp.send('Network.emulateNetworkConditions', network);
  const urls = new Map();
  const bytes = { all: 0, wasm: 0 };
  cdp.on('Network.responseReceived', (e) => urls.set(e.requestId, e.response.url));
  cdp.on('Network.loadingFinished', (e) => {
    bytes.all += e.encodedDataLength;
    if ((urls.get(e.requestId) ?? '').endsWith('.wasm')) bytes.wasm += e.encodedDataLength;
  });
  await page.goto(`${url}${path}`, { waitUntil: 'commit', timeout: VISIT_TIMEOUT_MS });
  // The page's own clock: ms since navigation start.
  await page.waitForFunction(() => performance.getEntriesByName('hydrated').length > 0, null, { timeout: VISIT_TIMEOUT_MS });
  const timing = await page.evaluate(() => ({
    interactive: performance.getEntriesByName('hydrated')[0].startTime,
    page: document.documentElement.dataset.hydrated,
    fcp: performance.getEntriesByName('first-contentful-paint')[0]?.startTime ?? NaN,
  }));
  // Everything the visit asked for has arrived (the WebSocket of the viewer aside).
  await page.waitForLoadState('networkidle', { timeout: VISIT_TIMEOUT_MS }).catch(() => {});
  await context.close();
  if (errors.length) throw new Error(`${path}: ${errors.join('; ')}`);
  return { ...timing, ...bytes };
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

const browser = await launch();
const target = await stack();
try {
  const pages = [
    ['overview', '/'],
    ['topics', '/topics'],
    ['topic detail', `/topics/${target.topicId}`],
    ['subscriptions', '/subscriptions'],
    ['stream viewer', `/stream?topic=${target.topic}`],
    ['search', `/search?topic=${target.topic}`],
    ['audit', '/audit'],
    ['inbox', '/inbox'],
    ['sign-in', '/signin'],
  ];
  const rows = [];
  for (const [name, path] of pages) {
    const slow = [];
    const fast = [];
    // Alternating, so that a slow moment of the machine does not land on one network only.
    for (let i = 0; i < RUNS; i += 1) {
      slow.push(await visit(browser, target.url, path, SLOW));
      fast.push(await visit(browser, target.url, path, null));
    }
    const ms = slow.map((v) => v.interactive);
    rows.push({
      name,
      route: slow[0].page,
      wasm: median(slow.map((v) => v.wasm)),
      all: median(slow.map((v) => v.all)),
      interactive: median(ms),
      min: Math.min(...ms),
      max: Math.max(...ms),
      fcp: median(slow.map((v) => v.fcp)),
      localhost: median(fast.map((v) => v.interactive)),
    });
    process.stderr.write(`  ${name}: ${median(ms).toFixed(0)} ms\n`);
  }
  const n = (x) => Math.round(x).toLocaleString('en-US');
  console.log(`\nFirst visit to each page, empty cache, 1.6 Mbit/s each way, 150 ms round trip (Chromium ${browser.version()}; median of ${RUNS})`);
  console.log('| page | WASM downloaded, gzipped (bytes) | everything downloaded (bytes) | interactive, throttled (ms) | first contentful paint, throttled (ms) | baseline: interactive on localhost, unthrottled (ms) |');
  console.log('| --- | ---: | ---: | ---: | ---: | ---: |');
  for (const r of rows) {
    console.log(`| ${r.name} (\`${r.route}\`) | ${n(r.wasm)} | ${n(r.all)} | **${n(r.interactive)}** (${n(r.min)}–${n(r.max)}) | ${n(r.fcp)} | ${n(r.localhost)} |`);
  }
} finally {
  target.stop();
  await browser.close();
}
