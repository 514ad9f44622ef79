// Drives subscriptions on both GraphQL schemas of a live server with the npm `graphql-ws`
// client (the graphql-transport-ws protocol), the way customers' and staff apps do:
// authentication in the `connection_init` payload, events arriving, `complete` from the
// client, re-subscribing with the same id, several operations multiplexed on one socket, and
// a refused `connection_init` surfacing as close 4403 in the client.
//
// Usage: node graphql-ws-client.mjs <base-url> <server-log> <admin-email>
//   base-url    http://127.0.0.1:18080 (the server's /graphql and /admin/graphql)
//   server-log  the server's log file: on the embedded default the log SMS provider writes
//               each OTP code there, and that is how a customer signs in without a phone
//   admin-email a staff user made with `server create-admin`; its password is read from
//               the environment variable AUDIT_ADMIN_PASSWORD
// Prints one line per check and a summary; exits 1 when any check fails.
import { readFileSync } from 'node:fs';
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';

const [base, serverLog, adminEmail] = process.argv.slice(2);
const adminPassword = process.env.AUDIT_ADMIN_PASSWORD;
if (!base || !serverLog || !adminEmail || !adminPassword) {
  console.error(
    'usage: AUDIT_ADMIN_PASSWORD=... node graphql-ws-client.mjs <base-url> <server-log> <admin-email>',
  );
  process.exit(2);
}
const shopUrl = `${base}/graphql`;
const adminUrl = `${base}/admin/graphql`;
const wsUrl = (url) => url.replace(/^http/, 'ws');

// A safety net so a server that never answers fails the run instead of hanging CI; no check
// depends on how fast anything happens.
const PATIENCE_MS = 60_000;

const results = [];
function record(name, ok, detail = '') {
  results.push({ name, ok, detail });
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${name}${detail ? `\n      -> ${detail}` : ''}`);
}
function expect(condition, message) {
  if (!condition) throw new Error(message);
}
async function check(name, body) {
  try {
    await body();
    record(name, true);
    return true;
  } catch (error) {
    record(name, false, error?.stack ?? String(error));
    return false;
  }
}

function withPatience(promise, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`gave up waiting for ${what}`)), PATIENCE_MS);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** One GraphQL request over HTTP; throws on GraphQL errors. */
async function http(url, query, variables = {}, token) {
  const headers = { 'content-type': 'application/json', accept: 'application/graphql-response+json' };
  if (token) headers.authorization = `Bearer ${token}`;
  const response = await fetch(url, { method: 'POST', headers, body: JSON.stringify({ query, variables }) });
  const body = await response.json();
  if (body.errors) throw new Error(`${query.slice(0, 60)}...: ${JSON.stringify(body.errors)}`);
  return body.data;
}

/** The newest OTP code the log SMS provider wrote for `e164`. */
function otpFromLog(e164) {
  // eslint-disable-next-line no-control-regex
  const text = readFileSync(serverLog, 'utf8').replace(/\u001b\[[0-9;]*m/g, '');
  let code;
  for (const line of text.split('\n')) {
    if (!line.includes('OTP code') || !line.includes(e164)) continue;
    const match = line.match(/code[=:]\s*"?(\d{4,8})"?/);
    if (match) code = match[1];
  }
  return code;
}

/**
 * A graphql-ws client whose operation ids the test chooses (`nextId`), so it can reuse one
 * after `complete`. `closes` collects every close event the client saw.
 */
function client(url, connectionParams, extra = {}) {
  const state = { nextId: null, closes: [], counter: 0 };
  state.client = createClient({
    url: wsUrl(url),
    webSocketImpl: WebSocket,
    connectionParams,
    retryAttempts: 0,
    generateID: () => {
      const id = state.nextId ?? `auto-${++state.counter}`;
      state.nextId = null;
      return id;
    },
    on: { closed: (event) => state.closes.push(event) },
    ...extra,
  });
  return state;
}

/** A running subscription: its events in order, its end, and a way to `complete` it. */
function subscribe(state, id, query, variables = {}) {
  const feed = { events: [], errors: null, completed: false, waiters: [] };
  const wake = () => {
    for (const waiter of feed.waiters.splice(0)) waiter();
  };
  state.nextId = id;
  feed.unsubscribe = state.client.subscribe(
    { query, variables },
    {
      next: (value) => {
        feed.events.push(value);
        wake();
      },
      error: (error) => {
        feed.errors = error;
        wake();
      },
      complete: () => {
        feed.completed = true;
        wake();
      },
    },
  );
  /** Resolves with the first event from index `from` on that satisfies `predicate`. */
  feed.until = (what, predicate, from = 0) =>
    withPatience(
      new Promise((resolve, reject) => {
        const look = () => {
          const found = feed.events.slice(from).find(predicate);
          if (found) return resolve(found);
          if (feed.errors) return reject(new Error(`${what}: error instead: ${describe(feed.errors)}`));
          if (feed.completed) return reject(new Error(`${what}: completed without it`));
          feed.waiters.push(look);
        };
        look();
      }),
      what,
    );
  /** Resolves once the operation errored or completed. */
  feed.ended = (what) =>
    withPatience(
      new Promise((resolve) => {
        const look = () => (feed.errors || feed.completed ? resolve(feed) : feed.waiters.push(look));
        look();
      }),
      what,
    );
  return feed;
}

function describe(error) {
  if (Array.isArray(error)) return JSON.stringify(error);
  if (error && typeof error.code === 'number') return `close ${error.code} ${error.reason}`;
  return String(error?.message ?? error);
}

const codesOf = (errors) => (Array.isArray(errors) ? errors.map((e) => e.extensions?.code) : []);

const ORDER_STATUS = `subscription($n: String!) {
  orderStatusChanged(orderNumber: $n) { orderNumber fromStatus status }
}`;

// ---- set-up over HTTP: a staff session, a customer, an order awaiting payment ----
let staffToken;
let customerToken;
let orderNumber;
const phone = `0912${String(Date.now()).slice(-7)}`;
const e164 = `+98${phone.slice(1)}`;

const ready = await check('set-up: staff signs in, a customer signs in with the logged OTP', async () => {
  const staff = await http(
    adminUrl,
    'mutation($e: String!, $p: String!) { signIn(email: $e, password: $p) { accessToken } }',
    { e: adminEmail, p: adminPassword },
  );
  staffToken = staff.signIn.accessToken;
  await http(shopUrl, 'mutation($p: String!) { requestOtp(phone: $p) { sentAt } }', { p: phone });
  let code;
  for (let i = 0; i < 50 && !code; i += 1) {
    code = otpFromLog(e164);
    if (!code) await new Promise((r) => setTimeout(r, 100));
  }
  expect(code, `no OTP code for ${e164} in ${serverLog} (is sms.provider the log provider?)`);
  const verified = await http(
    shopUrl,
    'mutation($p: String!, $c: String!) { verifyOtp(phone: $p, code: $c) { accessToken } }',
    { p: phone, c: code },
  );
  customerToken = verified.verifyOtp.accessToken;
});
if (!ready) finish();

// ---- admin schema ----
const admin = client(adminUrl, { Authorization: `Bearer ${staffToken}` });
let sync;
let placed;
await check('admin: syncStatusChanged starts with a SNAPSHOT (auth in connection_init)', async () => {
  sync = subscribe(admin, 'sync', 'subscription { syncStatusChanged { kind runId outcome } }');
  const first = await sync.until('the snapshot', () => true);
  expect(first.data?.syncStatusChanged?.kind === 'SNAPSHOT', `first event ${JSON.stringify(first)}`);
});
await check('admin: a second operation on the same socket (orderPlaced) runs alongside', async () => {
  placed = subscribe(admin, 'placed', 'subscription { orderPlaced { number status } }');
  // Proves the socket serves both: a query multiplexed as a third operation answers.
  const query = subscribe(admin, 'whoami', '{ currentStaff { email } }');
  const answer = await query.until('the query result', () => true);
  expect(answer.data?.currentStaff?.email === adminEmail, `currentStaff: ${JSON.stringify(answer)}`);
  await query.ended('the query to complete');
  expect(query.completed, 'the query did not complete');
});
await check('admin: triggerSync shows up as RUN_STARTED ... RUN_FINISHED of its run', async () => {
  const from = sync.events.length;
  const request = await http(adminUrl, 'mutation { triggerSync { id } }', {}, staffToken);
  let runId = null;
  for (let i = 0; i < 600 && !runId; i += 1) {
    const seen = await http(
      adminUrl,
      'query($id: ID!) { syncRequest(id: $id) { runId } }',
      { id: request.triggerSync.id },
      staffToken,
    );
    runId = seen.syncRequest?.runId;
    if (!runId) await new Promise((r) => setTimeout(r, 100));
  }
  expect(runId, 'the sync request was never picked up');
  const mine = (kind) => (e) =>
    e.data?.syncStatusChanged?.kind === kind && e.data.syncStatusChanged.runId === runId;
  await sync.until(`RUN_STARTED of run ${runId}`, mine('RUN_STARTED'), from);
  const done = await sync.until(`RUN_FINISHED of run ${runId}`, mine('RUN_FINISHED'), from);
  expect(done.data.syncStatusChanged.outcome, `no outcome: ${JSON.stringify(done)}`);
});

// ---- shop schema ----
const shop = client(shopUrl, { Authorization: `Bearer ${customerToken}` });
let watch;
let watchAgain;
await check('shop: checkout over HTTP; staff see it on orderPlaced', async () => {
  const products = await http(
    shopUrl,
    '{ products(first: 20, filter: { inStock: true }) { edges { node { variants { id price availableQuantity } } } } }',
  );
  const variant = products.products.edges
    .flatMap((e) => e.node.variants)
    .find((v) => v.price > 0 && v.availableQuantity > 0);
  expect(variant, 'no variant in stock with a price (has the embedded sync filled the catalogue?)');
  const address = await http(
    shopUrl,
    'mutation($i: AddressInput!) { addAddress(input: $i) { id } }',
    {
      i: {
        title: 'Home',
        recipientName: 'Audit Client',
        recipientPhone: phone,
        province: 'Tehran',
        city: 'Tehran',
        addressLine: 'Valiasr St, No. 12',
        postalCode: '1234567890',
      },
    },
    customerToken,
  );
  await http(
    shopUrl,
    'mutation($v: ID!) { addToCart(variantId: $v, quantity: 1) { itemCount } }',
    { v: variant.id },
    customerToken,
  );
  const order = await http(
    shopUrl,
    'mutation($i: CheckoutInput!) { checkout(input: $i) { number status } }',
    { i: { addressId: address.addAddress.id } },
    customerToken,
  );
  orderNumber = order.checkout.number;
  expect(order.checkout.status === 'PENDING_PAYMENT', `checkout: ${JSON.stringify(order)}`);
  await placed.until(`orderPlaced for ${orderNumber}`, (e) => e.data?.orderPlaced?.number === orderNumber);
});
await check('shop: orderStatusChanged twice on one socket, each starts with the current status', async () => {
  watch = subscribe(shop, 'order', ORDER_STATUS, { n: orderNumber });
  const other = subscribe(shop, 'order-2', ORDER_STATUS, { n: orderNumber });
  for (const [feed, name] of [[watch, 'order'], [other, 'order-2']]) {
    const first = await feed.until(`the first event of ${name}`, () => true);
    const event = first.data?.orderStatusChanged;
    expect(event?.status === 'PENDING_PAYMENT' && event.fromStatus === null, `${name}: ${JSON.stringify(first)}`);
  }
  watchAgain = other;
});
await check('shop: complete from the client, then subscribe again with the same id', async () => {
  watch.unsubscribe(); // graphql-ws sends {type: "complete", id: "order"}
  // The client keeps one listener per id and drops the old one only after the operation
  // has ended on its side (its `complete`): reusing the id before that would lose the new
  // operation's messages in the client, not in the server.
  await watch.ended('the completed operation to end in the client');
  // The server would close with 4409 had it kept the completed operation under that id.
  watch = subscribe(shop, 'order', ORDER_STATUS, { n: orderNumber });
  const first = await watch.until('the first event after re-subscribing', () => true);
  expect(first.data?.orderStatusChanged?.status === 'PENDING_PAYMENT', JSON.stringify(first));
  expect(shop.closes.length === 0, `socket closed: ${shop.closes.map(describe)}`);
});
await check('shop: paying on the sandbox page delivers PAID to both operations', async () => {
  const start = await http(
    shopUrl,
    'mutation($n: String!) { startPayment(orderNumber: $n) { redirectUrl } }',
    { n: orderNumber },
    customerToken,
  );
  const page = start.startPayment.redirectUrl;
  // The customer's browser: press Pay (a form POST), follow the gateway's redirect to our
  // callback, which verifies the payment (it then redirects to the shop front-end).
  const pressed = await fetch(`${page}/pay`, { method: 'POST', redirect: 'manual' });
  expect(pressed.status === 303, `Pay answered ${pressed.status}`);
  const callback = await fetch(new URL(pressed.headers.get('location'), page), { redirect: 'manual' });
  expect(callback.status < 400, `callback answered ${callback.status}`);
  for (const [feed, name] of [[watch, 'order'], [watchAgain, 'order-2']]) {
    const paid = await feed.until(`PAID on ${name}`, (e) => e.data?.orderStatusChanged?.status === 'PAID');
    expect(paid.data.orderStatusChanged.fromStatus === 'PENDING_PAYMENT', JSON.stringify(paid));
  }
});
await check('shop: an anonymous socket is accepted, but the order subscription answers UNAUTHENTICATED', async () => {
  const anonymous = client(shopUrl, undefined);
  const feed = subscribe(anonymous, 'order', ORDER_STATUS, { n: orderNumber });
  await feed.ended('the error');
  expect(codesOf(feed.errors).includes('UNAUTHENTICATED'), `got ${describe(feed.errors)}`);
  await anonymous.client.dispose();
});

// ---- refused connection_init: 4403 in the client ----
async function refused(name, url, params) {
  await check(name, async () => {
    const rejected = client(url, params);
    const feed = subscribe(rejected, 'x', '{ __typename }');
    await feed.ended('the close');
    expect(feed.errors?.code === 4403, `operation ended with ${describe(feed.errors ?? 'completion')}`);
    expect(rejected.closes.some((e) => e.code === 4403), `closes: ${rejected.closes.map(describe)}`);
    await rejected.client.dispose();
  });
}
await refused('shop: a bad token in connection_init closes with 4403', shopUrl, { Authorization: 'Bearer not-a-token' });
await refused('admin: a bad token in connection_init closes with 4403', adminUrl, { authToken: 'not-a-token' });
await refused('admin: a customer token in connection_init closes with 4403', adminUrl, {
  Authorization: `Bearer ${customerToken}`,
});

await check('both sockets stayed open through all of it', async () => {
  expect(admin.closes.length === 0, `admin socket closed: ${admin.closes.map(describe)}`);
  expect(shop.closes.length === 0, `shop socket closed: ${shop.closes.map(describe)}`);
});
await admin.client.dispose();
await shop.client.dispose();
finish();

function finish() {
  const failed = results.filter((r) => !r.ok);
  console.log(
    `\ngraphql-ws client: ${results.length} checks, ${results.length - failed.length} passed, ${failed.length} failed`,
  );
  process.exit(failed.length === 0 ? 0 : 1);
}
