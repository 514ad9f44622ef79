// Browser check: headless Chromium (Debian's `chromium`, driven by playwright-core) against a
// live server in its embedded default.
//
//   1. GraphiQL at /graphql: type a catalogue query, run it, read the products in the result.
//   2. A customer signs in with an OTP and checks out; a second GraphiQL tab, with the
//      customer's token in its Headers tab, subscribes to the order's status over
//      `graphql-transport-ws` and shows PENDING_PAYMENT at once, then
//   3. the sandbox payment page (startPayment's redirectUrl): click Pay, follow the callback to
//      the result page; the PAID event must then arrive in that GraphiQL tab.
//   4. The live sync page /admin/sync: sign in as staff, press "Sync all now" and record every
//      progress line the page shows; the run's numbers must move and the run must succeed.
//
// Screenshots of every step go to target/browser-artifacts/ (ARTIFACTS_DIR overrides).
// Any failure exits non-zero with the step and the reason.
//
// Environment:
//   BASE_URL        the server (default http://127.0.0.1:18080)
//   SERVER_LOG      the server's log file: the embedded default sends SMS to the log (the
//                   "log SMS provider"), so the customer's OTP code is read from there
//   ADMIN_EMAIL, ADMIN_PASSWORD   a staff user (`server create-admin`)
//   CHROMIUM        the browser (default /usr/bin/chromium)
//
// CI has no network beyond the package registries, and GraphiQL's page loads React and
// GraphiQL from unpkg.com. Those requests are answered from this package's node_modules
// (the same npm files unpkg serves, pinned in package.json); every other request that leaves
// the server's origin is aborted and listed.

import { readFile, mkdir } from "node:fs/promises";
import { existsSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const here = path.dirname(fileURLToPath(import.meta.url));
const BASE_URL = (process.env.BASE_URL || "http://127.0.0.1:18080").replace(/\/$/, "");
const SERVER_LOG = process.env.SERVER_LOG;
const ADMIN_EMAIL = process.env.ADMIN_EMAIL;
const ADMIN_PASSWORD = process.env.ADMIN_PASSWORD;
const CHROMIUM = process.env.CHROMIUM || "/usr/bin/chromium";
const ARTIFACTS = process.env.ARTIFACTS_DIR || path.resolve(here, "../../target/browser-artifacts");
// How long one wait may take before the step is declared failed (not a measurement).
const WAIT_MS = 60_000;

let currentStep = "start";
const origin = new URL(BASE_URL).origin;
const blocked = new Set();
const pageErrors = [];

function step(name) {
  currentStep = name;
  console.log(`\n--> ${name}`);
}

function check(condition, message) {
  if (!condition) throw new Error(message);
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function shot(page, name) {
  const file = path.join(ARTIFACTS, `${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  console.log(`    screenshot ${path.relative(process.cwd(), file)}`);
}

// Types `text` into a GraphiQL editor (CodeMirror 5) as a user would, replacing what it held,
// and checks the editor ends up holding it (GraphiQL closes brackets and quotes as they are
// typed and skips over a typed closer, so one-line text comes out as typed).
async function typeInto(page, editor, text) {
  await editor.click();
  await page.keyboard.press("Control+A");
  await page.keyboard.press("Backspace");
  await page.keyboard.type(text);
  const held = await editor.evaluate((el) => el.CodeMirror.getValue());
  check(held.replace(/\s+/g, "") === text.replace(/\s+/g, ""), `the editor holds ${JSON.stringify(held)}, typed ${JSON.stringify(text)}`);
}

// What GraphiQL's result pane shows, parsed.
async function graphiqlResult(page) {
  return JSON.parse(await page.locator(".graphiql-response .CodeMirror").evaluate((el) => el.CodeMirror.getValue()));
}

// ---- GraphQL over HTTP, for the customer's setup (sign-in, cart, checkout) ---------------

async function gql(query, variables = {}, token) {
  const res = await fetch(`${BASE_URL}/graphql`, {
    method: "POST",
    headers: {
      "content-type": "application/json",
      accept: "application/graphql-response+json",
      ...(token ? { authorization: `Bearer ${token}` } : {}),
    },
    body: JSON.stringify({ query, variables }),
  });
  const body = await res.json().catch(() => null);
  if (!body || body.errors) {
    throw new Error(`GraphQL ${query.trim().split(/[({]/)[0]} failed (HTTP ${res.status}): ${JSON.stringify(body?.errors ?? body)}`);
  }
  return body.data;
}

// The OTP code the log SMS provider wrote for `phone` after `offset` bytes of the log.
async function otpFromLog(phone, offset) {
  for (let i = 0; i < 100; i++) {
    const log = (await readFile(SERVER_LOG)).subarray(offset).toString("utf8");
    // Strip ANSI colours; the line ends `OTP code (log SMS provider) phone="+989..." code="123456"`.
    const plain = log.replace(/\x1b\[[0-9;]*m/g, "");
    const lines = plain.split("\n").filter((l) => l.includes("OTP code") && l.includes(phone));
    const m = lines.length ? /\bcode="?(\d+)/.exec(lines[lines.length - 1]) : null;
    if (m) return m[1];
    await sleep(100);
  }
  throw new Error(`no OTP code for ${phone} in ${SERVER_LOG}`);
}

// ---- the files GraphiQL's page asks unpkg.com for ----------------------------------------

const TYPES = { ".js": "application/javascript", ".css": "text/css", ".map": "application/json" };

function unpkgFile(url) {
  // https://unpkg.com/<name>@<range>/<file>
  const m = /^\/((?:@[^/]+\/)?[^/@]+)@([^/]+)\/(.+)$/.exec(url.pathname);
  if (!m) return null;
  const [, name, range, file] = m;
  const dir = path.join(here, "node_modules", name);
  if (!existsSync(path.join(dir, "package.json"))) return null;
  return { name, range, dir, file: path.join(dir, file) };
}

async function serveUnpkg(route, url) {
  const found = unpkgFile(url);
  if (!found || !existsSync(found.file)) {
    blocked.add(url.href);
    return route.abort();
  }
  const pkg = JSON.parse(await readFile(path.join(found.dir, "package.json"), "utf8"));
  // The page asks for a major version (graphiql@4, react@18): the pinned one must match it.
  if (pkg.version.split(".")[0] !== found.range.split(".")[0]) {
    throw new Error(`GraphiQL's page wants ${found.name}@${found.range}, .ci/browser pins ${pkg.version}`);
  }
  return route.fulfill({
    status: 200,
    headers: {
      "content-type": TYPES[path.extname(found.file)] || "application/octet-stream",
      "access-control-allow-origin": "*",
    },
    body: await readFile(found.file),
  });
}

// ---- the check ---------------------------------------------------------------------------

async function main() {
  check(existsSync(CHROMIUM), `no browser at ${CHROMIUM} (apt-get install chromium)`);
  check(ADMIN_EMAIL && ADMIN_PASSWORD, "ADMIN_EMAIL and ADMIN_PASSWORD must name a staff user");
  check(SERVER_LOG && existsSync(SERVER_LOG), `SERVER_LOG (${SERVER_LOG}) must be the server's log: the OTP code is read from it`);
  await mkdir(ARTIFACTS, { recursive: true });

  step("server has a catalogue");
  let catalogue;
  for (let i = 0; i < 120; i++) {
    catalogue = await gql(`{ products(first: 20) { totalCount edges { node { name variants { id price availableQuantity } } } } }`)
      .catch(() => null);
    if (catalogue?.products.totalCount > 0) break;
    await sleep(1000);
  }
  check(catalogue?.products.totalCount > 0, `${BASE_URL} has no products (the embedded sync did not fill the catalogue)`);
  console.log(`    ${catalogue.products.totalCount} products`);

  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
  });
  try {
    const context = await browser.newContext({ viewport: { width: 1280, height: 860 } });
    context.setDefaultTimeout(WAIT_MS);
    await context.route("**/*", async (route) => {
      const url = new URL(route.request().url());
      if (url.origin === origin || url.protocol === "data:") return route.continue();
      if (url.hostname === "unpkg.com") return serveUnpkg(route, url);
      blocked.add(url.href);
      return route.abort();
    });
    context.on("page", (page) => page.on("pageerror", (err) => pageErrors.push(`${page.url()}: ${err.message}`)));

    // 1. GraphiQL ------------------------------------------------------------------------
    step("GraphiQL: type and run a catalogue query");
    const graphiql = await context.newPage();
    await graphiql.goto(`${BASE_URL}/graphql`);
    const editor = graphiql.locator(".graphiql-query-editor .CodeMirror");
    await editor.waitFor();
    await shot(graphiql, "01-graphiql");
    await typeInto(graphiql, editor, "{ products(first: 3) { totalCount edges { node { name slug } } } }");
    await graphiql.locator(".graphiql-execute-button").click();
    await graphiql.waitForFunction(() => {
      const cm = document.querySelector(".graphiql-response .CodeMirror");
      return cm && cm.CodeMirror.getValue().includes("totalCount");
    });
    const result = await graphiqlResult(graphiql);
    check(!result.errors, `GraphiQL's result has errors: ${JSON.stringify(result.errors)}`);
    const shown = result.data.products.edges.map((e) => e.node.name);
    check(shown.length > 0 && result.data.products.totalCount > 0,
      `GraphiQL shows ${shown.length} products of ${result.data.products.totalCount}`);
    console.log(`    GraphiQL result: totalCount ${result.data.products.totalCount}, first: ${shown.join(", ")}`);
    await shot(graphiql, "02-graphiql-products");

    // The customer: OTP sign-in (code from the log SMS provider), address, cart, checkout.
    step("customer signs in with an OTP and places an order");
    const phone = `+98935${String(Date.now() % 10_000_000).padStart(7, "0")}`;
    const logOffset = (await readFile(SERVER_LOG)).length;
    await gql(`mutation($p: String!) { requestOtp(phone: $p) { sentAt } }`, { p: phone });
    const code = await otpFromLog(phone, logOffset);
    const auth = await gql(`mutation($p: String!, $c: String!) { verifyOtp(phone: $p, code: $c) { accessToken } }`,
      { p: phone, c: code });
    const token = auth.verifyOtp.accessToken;
    const address = await gql(`mutation($i: AddressInput!) { addAddress(input: $i) { id } }`, {
      i: { title: "Home", recipientName: "Browser Check", recipientPhone: phone, province: "Tehran",
        city: "Tehran", addressLine: "1 Test Street", postalCode: "1234567890", isDefault: true },
    }, token);
    const variant = catalogue.products.edges.flatMap((e) => e.node.variants)
      .find((v) => v.price != null && v.availableQuantity > 0);
    check(variant, "no variant with a price and stock among the first products");
    await gql(`mutation($v: ID!) { addToCart(variantId: $v, quantity: 1) { id } }`, { v: variant.id }, token);
    const { checkout: order } = await gql(
      `mutation($a: ID!) { checkout(input: { addressId: $a }) { number status grandTotal } }`,
      { a: address.addAddress.id }, token);
    check(order.status === "PENDING_PAYMENT", `new order is ${order.status}`);
    console.log(`    order ${order.number}, ${order.grandTotal} Rial, ${order.status}`);

    // 2. Subscription ----------------------------------------------------------------------
    // GraphiQL sends its Headers tab as the graphql-ws connection_init payload, which the
    // server reads as it reads HTTP's Authorization header.
    step("GraphiQL: subscribe to the order's status as the customer");
    const watch = await context.newPage();
    await watch.goto(`${BASE_URL}/graphql`);
    const watchEditor = watch.locator(".graphiql-query-editor .CodeMirror");
    await watchEditor.waitFor();
    await typeInto(watch, watchEditor,
      `subscription { orderStatusChanged(orderNumber: "${order.number}") { orderNumber fromStatus status at } }`);
    await watch.getByRole("button", { name: "Headers" }).click();
    const headers = watch.locator(".graphiql-editor-tool .CodeMirror").filter({ visible: true });
    await typeInto(watch, headers, `{"Authorization": "Bearer ${token}"}`);
    await watch.locator(".graphiql-execute-button").click();
    await watch.waitForFunction(() => {
      const v = document.querySelector(".graphiql-response .CodeMirror")?.CodeMirror.getValue() ?? "";
      return v.includes("PENDING_PAYMENT") || v.includes("errors");
    });
    const current = await graphiqlResult(watch);
    check(current.data?.orderStatusChanged.status === "PENDING_PAYMENT", `the subscription shows ${JSON.stringify(current)}`);
    console.log(`    subscribed: ${JSON.stringify(current.data.orderStatusChanged)}`);
    await shot(watch, "03-graphiql-subscribed");

    // 3. Sandbox payment -------------------------------------------------------------------
    step("pay on the sandbox payment page");
    const { startPayment } = await gql(`mutation($n: String!) { startPayment(orderNumber: $n) { redirectUrl } }`,
      { n: order.number }, token);
    const pay = await context.newPage();
    await pay.goto(startPayment.redirectUrl);
    await pay.getByRole("heading", { name: "Sandbox payment gateway" }).waitFor();
    const amount = await pay.locator("strong").first().textContent();
    check(amount === `${order.grandTotal} Rial`, `the payment page asks for ${amount}, the order is ${order.grandTotal} Rial`);
    await shot(pay, "04-sandbox-payment");
    await pay.getByRole("button", { name: "Pay" }).click();
    await pay.waitForURL(/\/payments\/callback\?/);
    const resultText = await pay.locator("body").innerText();
    check(resultText.includes("Your payment was received") && resultText.includes("paid"),
      `the result page says: ${resultText}`);
    console.log(`    result page: ${resultText.trim()}`);
    await shot(pay, "05-payment-result");

    step("the PAID event arrives in GraphiQL");
    await watch.waitForFunction(() => {
      const v = document.querySelector(".graphiql-response .CodeMirror")?.CodeMirror.getValue() ?? "";
      return /"status": "PAID"/.test(v) || v.includes("errors");
    });
    const event = await graphiqlResult(watch);
    check(event.data?.orderStatusChanged.status === "PAID" && event.data.orderStatusChanged.fromStatus === "PENDING_PAYMENT",
      `the subscription shows ${JSON.stringify(event)}`);
    console.log(`    event: ${JSON.stringify(event.data.orderStatusChanged)}`);
    await shot(watch, "06-graphiql-paid-event");

    // 4. Live sync page --------------------------------------------------------------------
    step("sync page: sign in as staff");
    const sync = await context.newPage();
    await sync.goto(`${BASE_URL}/admin/sync`);
    await sync.locator("#email").fill(ADMIN_EMAIL);
    await sync.locator("#password").fill(ADMIN_PASSWORD);
    await shot(sync, "07-sync-sign-in");
    await sync.locator("#password").press("Enter");
    await sync.waitForFunction(() => !document.getElementById("console").hidden || document.getElementById("signin-error").textContent);
    const signInError = await sync.locator("#signin-error").textContent();
    check(!signInError, `staff sign-in on the sync page failed: ${signInError}`);
    await sync.waitForFunction(() => document.querySelectorAll("#rows tr").length > 0);
    await shot(sync, "08-sync-page");

    step("sync page: trigger a sync and watch its progress");
    // Start from an idle page (an earlier or scheduled run may still be going).
    await sync.waitForFunction(() => document.getElementById("run-text").textContent === "No sync running.");
    // Record every text the run line and the message line take, as the page renders them.
    await sync.evaluate(() => {
      window.seen = [];
      const record = () => {
        const text = document.getElementById("run-text").textContent;
        if (window.seen[window.seen.length - 1] !== text) window.seen.push(text);
      };
      new MutationObserver(record).observe(document.getElementById("run-text"), { childList: true, characterData: true, subtree: true });
      window.messages = [];
      new MutationObserver(() => window.messages.push(document.getElementById("message").textContent))
        .observe(document.getElementById("message"), { childList: true, characterData: true, subtree: true });
    });
    await sync.locator("#sync-all").click();
    // A run line has appeared: take the screenshot while (or just after) it runs.
    await sync.waitForFunction(() => window.seen.some((t) => t.startsWith("Run ")));
    await shot(sync, "09-sync-running");
    const runId = await sync.evaluate(() => /^Run (\S+):/.exec(window.seen.find((t) => t.startsWith("Run ")))[1]);
    await sync.waitForFunction((id) => window.messages.some((m) => m.startsWith(`Last run ${id}:`)), runId);
    const { seen, messages } = await sync.evaluate(() => ({ seen: window.seen, messages: window.messages }));
    const finished = messages.find((m) => m.startsWith(`Last run ${runId}:`));
    const progress = seen
      .map((t) => /^Run (\S+): (\d+) of (\d+) entities, (\d+) rows fetched/.exec(t))
      .filter((m) => m && m[1] === runId)
      .map((m) => ({ done: Number(m[2]), total: Number(m[3]), fetched: Number(m[4]) }));
    console.log(`    run ${runId}: ${progress.map((p) => `${p.done}/${p.total} (${p.fetched} rows)`).join(", ")}`);
    console.log(`    ${finished}`);
    const doneValues = new Set(progress.map((p) => p.done));
    check(doneValues.size >= 2, `the progress numbers did not move: ${JSON.stringify(seen)}`);
    for (let i = 1; i < progress.length; i++) {
      check(progress[i].done >= progress[i - 1].done && progress[i].fetched >= progress[i - 1].fetched,
        `progress went backwards: ${JSON.stringify(progress)}`);
    }
    // Not required: a last line of "N of N". The live view merges in-process events with polls
    // of sync_runs, and a poll that sees the run finished first reports only RUN_FINISHED.
    check(/: succeeded, \d+ rows/.test(finished), `the run did not succeed: ${finished}`);
    await shot(sync, "10-sync-finished");

    step("no script errors, nothing fetched from elsewhere");
    check(pageErrors.length === 0, `script errors in the pages: ${pageErrors.join("; ")}`);
    if (blocked.size) console.log(`    requests kept from leaving the machine: ${[...blocked].join(", ")}`);
  } catch (err) {
    // Keep what every open page showed when it failed.
    const pages = browser.contexts().flatMap((c) => c.pages());
    for (const [i, page] of pages.entries()) {
      await page.screenshot({ path: path.join(ARTIFACTS, `failed-page-${i + 1}.png`), fullPage: true }).catch(() => {});
    }
    if (pageErrors.length) err.message += ` (script errors: ${pageErrors.join("; ")})`;
    throw err;
  } finally {
    await browser.close();
  }
}

main().then(
  () => console.log(`\nbrowser check passed; screenshots in ${ARTIFACTS}`),
  (err) => {
    console.error(`\nbrowser check FAILED at "${currentStep}": ${err.message}`);
    console.error(`screenshots so far in ${ARTIFACTS}`);
    process.exit(1);
  },
);
