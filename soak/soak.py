#!/usr/bin/env python3
"""The soak: mixed load against two server replicas on the real services, then a verdict.

It sets up everything itself (see soak/run.sh, which prepares the venv and the binaries):
a fresh PostgreSQL database, a RabbitMQ prefix of its own, the Mahak simulator
(`sync simulate`), `server migrate up`, two `server serve` replicas sharing the database, the
broker and the JWT keys and OTP pepper, the fetcher (`sync daemon`) and a consumer
(`sync consume`). Then, for --duration seconds:

- catalogue readers alternate between the replicas: a page of products with variants, prices
  and stock, one product by slug, a Persian search;
- shoppers sign customers in by OTP (the code is read from the log SMS provider's line in the
  replica's JSON log), add to the cart, check out and pay on the sandbox gateway (the
  payment page on one replica, the callback on either); a business refusal (out of stock,
  rate limited) is counted, not an error;
- every shopper keeps its share of --subscriptions graphql-transport-ws sockets open, spread
  over both replicas, each subscribed to `orderStatusChanged` of one of its customer's
  orders; each payment is watched by one of them, which must receive the PAID event. A
  subscriber on the replica that did not take the payment callback is a cross-replica
  delivery, through the RabbitMQ event relay (a miss is an error unless
  --no-require-cross-replica);
- the simulated Mahak changes prices, stock and descriptions every --change-interval
  seconds while the fetcher pulls every --sync-interval seconds; once the load stops, the
  last price changes must show in the shop.

RSS (VmRSS) of every process is sampled every 5 s. The verdict fails on any error (an HTTP
status other than the expected one, a GraphQL error that is not an expected refusal, a
WebSocket closed or an operation ended by the server, a missed event, an ERROR line in a
process log, a process that exited, a dead letter or an outbox effect given up, a sync run
that failed, a change that never reached the shop) or when a server or sync process's RSS at
the end exceeds its RSS after the warm-up by more than --rss-growth percent. Performance is
measured and printed, never asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import datetime
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from websockets.asyncio.client import ClientConnection
from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import ConnectionClosed

# ---------------------------------------------------------------------------------------
# Queries

PRODUCTS = """
query Products($first: Int!, $after: String, $sort: ProductSort, $filter: ProductFilter) {
  products(first: $first, after: $after, sort: $sort, filter: $filter) {
    totalCount
    pageInfo { hasNextPage endCursor }
    edges { node { id slug name minPrice maxPrice category { name }
      variants { id barcode price availableQuantity inStock properties { code value } } } }
  }
}"""

PRODUCT = """
query Product($slug: String!) {
  product(slug: $slug) { id slug name description taxPercent minPrice
    variants { id barcode price availableQuantity inStock } }
}"""

SEARCH = """
query Search($q: String!) {
  products(first: 20, filter: { search: $q, inStock: true }, sort: PRICE_ASC) {
    totalCount edges { node { slug name minPrice } }
  }
}"""

REQUEST_OTP = "mutation($p: String!) { requestOtp(phone: $p) { sentAt } }"
VERIFY_OTP = (
    "mutation($p: String!, $c: String!) { verifyOtp(phone: $p, code: $c) { accessToken } }"
)
ADD_ADDRESS = "mutation($i: AddressInput!) { addAddress(input: $i) { id } }"
ADD_TO_CART = (
    "mutation($v: ID!) { addToCart(variantId: $v, quantity: 1) { lines { id } grandTotal } }"
)
REMOVE_LINE = "mutation($l: ID!) { removeCartLine(lineId: $l) { lines { id } } }"
CHECKOUT = (
    "mutation($i: CheckoutInput!) { checkout(input: $i) { number status grandTotal } }"
)
START_PAYMENT = (
    "mutation($o: String!) { startPayment(orderNumber: $o) { paymentId redirectUrl } }"
)
ORDER_STATUS = """
subscription($o: String!) { orderStatusChanged(orderNumber: $o) { orderNumber fromStatus status at } }
"""

# Words the simulator's product names are made of, some in Arabic letter forms (ي, ك), which
# the search folds to the Persian ones.
SEARCH_WORDS = ["چای", "مداد", "دفتر", "شامپو", "كيف", "قهوه", "عسل", "برنج", "صابون", "ليوان"]
SORTS = ["NEWEST", "NAME_ASC", "PRICE_ASC", "PRICE_DESC"]

# Expected business refusals per request kind (GraphQL `extensions.code`); anything else is
# an error. Stock moves under the shoppers (other shoppers, the simulated Mahak's changes).
REFUSALS = {
    "cart.add": {"BAD_USER_INPUT", "NOT_FOUND"},
    "checkout": {"CONFLICT", "BAD_USER_INPUT"},
    "payment.start": {"RATE_LIMITED"},
}

# startPayment allows 20 calls per customer per hour; a customer is replaced before that.
PAYMENTS_PER_CUSTOMER = 18

# How long the load waits for what must come (an OTP line, a subscription's first event, a
# PAID event, the shop to show Mahak's change) before calling it missing. Generous: a safety
# net against hanging, not a performance bound.
PATIENCE = 30.0


# ---------------------------------------------------------------------------------------
# Measurements


class Stats:
    def __init__(self) -> None:
        self.requests: dict[str, int] = collections.Counter()
        self.errors: dict[str, int] = collections.Counter()
        self.refusals: dict[str, collections.Counter] = collections.defaultdict(
            collections.Counter
        )
        self.latency: dict[str, list[float]] = collections.defaultdict(list)
        self.samples: list[str] = []

    def record(self, kind: str, seconds: float) -> None:
        self.requests[kind] += 1
        self.latency[kind].append(seconds)

    def error(self, kind: str, detail: str) -> None:
        self.errors[kind] += 1
        if kind not in self.requests:
            self.requests[kind] += 0
        if self.errors[kind] <= 5 and len(self.samples) < 40:
            stamp = datetime.datetime.now().strftime("%H:%M:%S")
            self.samples.append(f"{stamp} {kind}: {detail[:400]}")
        print(f"ERROR {kind}: {detail[:400]}", file=sys.stderr, flush=True)

    def refused(self, kind: str, code: str) -> None:
        self.refusals[kind][code] += 1

    def total_errors(self) -> int:
        return sum(self.errors.values())


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


@dataclass
class Result:
    data: dict | None = None
    refused: str | None = None

    @property
    def ok(self) -> bool:
        return self.data is not None


# ---------------------------------------------------------------------------------------
# Processes and their logs


class LogTail:
    """Reads a process's log as it grows: OTP codes (log SMS provider) and ERROR lines."""

    def __init__(self, name: str, path: Path) -> None:
        self.name = name
        self.path = path
        self.offset = 0
        self.partial = b""
        self.codes: dict[str, str] = {}
        self.error_lines = 0
        self.warn_lines = 0
        self.error_samples: list[str] = []

    def poll(self) -> None:
        try:
            with open(self.path, "rb") as f:
                f.seek(self.offset)
                chunk = f.read()
        except FileNotFoundError:
            return
        self.offset += len(chunk)
        data = self.partial + chunk
        lines = data.split(b"\n")
        self.partial = lines.pop()
        for raw in lines:
            self._line(raw.decode("utf-8", "replace"))

    def _line(self, line: str) -> None:
        try:
            event = json.loads(line)
        except ValueError:
            event = None
        if isinstance(event, dict):
            fields = event.get("fields") if isinstance(event.get("fields"), dict) else event
            level = str(event.get("level", "")).upper()
            message = str(fields.get("message", ""))
            if "OTP code" in message and "phone" in fields and "code" in fields:
                self.codes[str(fields["phone"])] = str(fields["code"])
        else:
            # The simulator logs as text: "<time>  LEVEL target: message".
            parts = line.split()
            level = parts[1] if len(parts) > 1 else ""
        if level == "ERROR":
            self.error_lines += 1
            if len(self.error_samples) < 5:
                self.error_samples.append(line[:600])
        elif level == "WARN":
            self.warn_lines += 1


@dataclass
class Proc:
    name: str
    popen: subprocess.Popen
    log: LogTail
    judged: bool  # whether its RSS growth decides the verdict
    rss_kb: list[tuple[float, int]] = field(default_factory=list)
    exited_unexpectedly: bool = False


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_kb(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def psql(database: str, sql: str) -> str:
    out = subprocess.run(
        ["psql", "-h", "127.0.0.1", "-U", "postgres", "-d", database, "-tAc", sql],
        check=True,
        capture_output=True,
        text=True,
        env={**os.environ, "PGCONNECT_TIMEOUT": "10"},
    )
    return out.stdout.strip()


# ---------------------------------------------------------------------------------------
# The system under test


class Replica:
    def __init__(self, name: str, port: int) -> None:
        self.name = name
        self.port = port
        self.base = f"http://127.0.0.1:{port}"
        self.ws_url = f"ws://127.0.0.1:{port}/graphql"
        limits = httpx.Limits(max_connections=200, max_keepalive_connections=100)
        self.http = httpx.AsyncClient(base_url=self.base, timeout=60.0, limits=limits)
        self.log: LogTail | None = None


class Soak:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.stats = Stats()
        self.stop = asyncio.Event()
        self.drained = asyncio.Event()
        self.procs: list[Proc] = []
        self.replicas: list[Replica] = []
        self.catalogue: dict[str, dict] = {}  # slug -> product
        self.buyable: dict[str, tuple[str, str]] = {}  # variant id -> (slug, barcode)
        self.details_by_barcode: dict[str, dict] = {}
        self.assets_by_detail: dict[int, list[int]] = collections.defaultdict(list)
        self.price_changes: dict[int, tuple[str, str, int]] = {}  # detail -> (slug, barcode, price)
        self.changes = collections.Counter()
        self.phone_seq = 0
        self.sub_seq = 0
        self.slots: set[Slot] = set()
        self.closers: set[asyncio.Task] = set()
        self.open_subs_samples: list[tuple[float, int]] = []
        self.events_received = 0
        self.paid = collections.Counter()  # same/cross x expected/received/missed
        self.event_latency: dict[str, list[float]] = collections.defaultdict(list)
        self.checks: list[tuple[str, bool, str]] = []
        self.load_started = 0.0
        if args.warmup is not None:
            self.warmup_secs = args.warmup
        else:
            self.warmup_secs = max(0.2 * args.duration, min(30.0, 0.5 * args.duration))
        self.load_ended = 0.0
        self.orders_paid = 0
        self.search_hits = 0
        stamp = datetime.datetime.now().strftime("%Y%m%d_%H%M%S")
        self.run_id = f"{stamp}_{os.getpid()}"
        self.database = f"soak_{self.run_id}"
        self.prefix = f"soak.{self.run_id}"
        self.workdir = Path(args.out_dir).resolve() / f"run-{self.run_id}"

    # -- setup ------------------------------------------------------------------------

    def bin(self, name: str) -> str:
        return str(Path(self.args.bin_dir).resolve() / name)

    def spawn(self, name: str, argv: list[str], env: dict, judged: bool) -> Proc:
        path = self.workdir / f"{name}.log"
        out = open(path, "ab")
        popen = subprocess.Popen(
            argv,
            env=env,
            cwd=self.workdir,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        out.close()
        proc = Proc(name, popen, LogTail(name, path), judged)
        self.procs.append(proc)
        return proc

    def base_env(self) -> dict:
        env = {k: v for k, v in os.environ.items() if not k.startswith("APP_")}
        env.pop("RUST_LOG", None)
        env.update(
            {
                "APP__DATABASE__URL": f"postgres://postgres@127.0.0.1:5432/{self.database}",
                "APP__DATABASE__MIGRATE_ON_START": "false",
                "APP__AMQP__URL": self.args.amqp_url,
                "APP__SYNC__AMQP_PREFIX": self.prefix,
                "APP__MAHAK__BASE_URL": f"{self.sim_root}/API/v3/Sync/",
                "APP__LOG__FORMAT": "json",
            }
        )
        return env

    def server_env(self, port: int) -> dict:
        env = self.base_env()
        env.update(
            {
                "APP__HTTP__PORT": str(port),
                # Every replica signs and verifies with the same keys and pepper.
                "APP__JWT__KEYS": '[{kid="soak",secret="soak-jwt-secret-at-least-32-bytes-long-0123"}]',
                "APP__JWT__ACTIVE_KID": "soak",
                "APP__OTP__PEPPER": "soak-otp-pepper-shared-by-both-replicas-0123",
                # A customer outlives the default 15 minutes only in a long soak.
                "APP__JWT__ACCESS_TTL_SECS": str(max(900, int(self.args.duration) + 900)),
                # Every customer signs in from 127.0.0.1: the per-IP sign-in budgets would
                # refuse the soak's few hundred customers.
                "APP__OTP__IP_REQUESTS_PER_HOUR": "1000000",
                "APP__OTP__IP_VERIFICATIONS_PER_HOUR": "1000000",
                "APP__SMS__PROVIDER": "log",
                "APP__PAYMENT__PROVIDER": "sandbox",
                "APP__PAYMENT__RESULT_URL": "http://127.0.0.1/soak-result",
                "APP__STORAGE__LOCAL_DIR": str(self.workdir / "media"),
                "APP__STORAGE__LOCAL_SIGNING_KEY": "soak-media-signing-key-0123456789abcdef",
            }
        )
        return env

    async def wait_http(self, url: str, what: str, proc: Proc, seconds: float = 120) -> None:
        deadline = time.monotonic() + seconds
        async with httpx.AsyncClient(timeout=5) as client:
            while time.monotonic() < deadline:
                if proc.popen.poll() is not None:
                    raise RuntimeError(
                        f"{proc.name} exited ({proc.popen.returncode}) before {what} answered;"
                        f" see {proc.log.path}"
                    )
                try:
                    if (await client.get(url)).status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
                await asyncio.sleep(0.3)
        raise RuntimeError(f"{what} did not answer at {url} within {seconds:.0f} s")

    async def setup(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        print(f"soak {self.run_id}: workdir {self.workdir}", flush=True)
        psql("postgres", f'CREATE DATABASE "{self.database}"')

        sim_port = free_port()
        self.sim_root = f"http://127.0.0.1:{sim_port}"
        sim = self.spawn(
            "simulator",
            [self.bin("sync"), "simulate", "--port", str(sim_port),
             "--products", str(self.args.products), "--seed", str(self.args.seed)],
            {k: v for k, v in os.environ.items() if not k.startswith("APP_")},
            judged=False,
        )
        await self.wait_http(f"{self.sim_root}/control/health", "the simulator", sim)

        migrate = subprocess.run(
            [self.bin("server"), "migrate", "up"],
            env=self.base_env(),
            cwd=self.workdir,
            capture_output=True,
            text=True,
        )
        if migrate.returncode != 0:
            raise RuntimeError(f"server migrate up failed:\n{migrate.stderr[-3000:]}")

        for name in ("server-a", "server-b"):
            port = free_port()
            replica = Replica(name, port)
            proc = self.spawn(name, [self.bin("server"), "serve"], self.server_env(port), True)
            replica.log = proc.log
            self.replicas.append(replica)
            await self.wait_http(f"{replica.base}/readyz", name, proc)

        self.spawn("sync-consume", [self.bin("sync"), "consume"], self.base_env(), True)
        self.spawn(
            "sync-daemon",
            [self.bin("sync"), "daemon", "--interval", f"{self.args.sync_interval}s"],
            self.base_env(),
            True,
        )
        await self.wait_for_catalogue()
        await self.load_simulator_rows()

    async def wait_for_catalogue(self) -> None:
        """Waits for the first sync run to end and the shop's catalogue to stop growing."""
        started = time.monotonic()
        deadline = started + 600
        while time.monotonic() < deadline:
            self.check_processes()
            finished = psql(
                self.database, "SELECT count(*) FROM sync_runs WHERE outcome <> 'running'"
            )
            if int(finished or 0) > 0:
                break
            await asyncio.sleep(1)
        else:
            raise RuntimeError("the first sync run did not finish within 600 s")
        last = -1
        while time.monotonic() < deadline:
            self.check_processes()
            r = await self.replicas[0].http.post(
                "/graphql", json={"query": "{ products(first: 1) { totalCount } }"}
            )
            count = r.json()["data"]["products"]["totalCount"]
            if count > 0 and count == last:
                print(
                    f"catalogue ready: {count} products after"
                    f" {time.monotonic() - started:.0f} s",
                    flush=True,
                )
                return
            last = count
            await asyncio.sleep(3)
        raise RuntimeError("the catalogue did not settle within 600 s")

    async def load_simulator_rows(self) -> None:
        """Maps the shop's variants (by barcode) to the simulator's rows, to change them."""
        async with httpx.AsyncClient(base_url=self.sim_root, timeout=60) as sim:
            details = (await sim.get("/control/rows/productdetail")).json()
            for row in details:
                barcode = row["row"].get("Barcode")
                if barcode and not row["deleted"]:
                    self.details_by_barcode[str(barcode)] = {
                        "id": row["id"],
                        "product": row["row"].get("ProductId"),
                    }
            assets = (await sim.get("/control/rows/productdetailstoreasset")).json()
            for row in assets:
                self.assets_by_detail[int(row["row"]["ProductDetailId"])].append(row["id"])

    def check_processes(self) -> None:
        for proc in self.procs:
            if proc.popen.poll() is not None and not proc.exited_unexpectedly:
                proc.exited_unexpectedly = True
                self.stats.error(
                    "process", f"{proc.name} exited with {proc.popen.returncode}"
                )
                if not self.load_started:
                    raise RuntimeError(f"{proc.name} exited; see {proc.log.path}")

    # -- requests -----------------------------------------------------------------------

    async def gql(
        self,
        replica: Replica,
        kind: str,
        query: str,
        variables: dict | None = None,
        token: str | None = None,
    ) -> Result:
        headers = {"accept": "application/graphql-response+json, application/json"}
        if token:
            headers["authorization"] = f"Bearer {token}"
        started = time.perf_counter()
        try:
            response = await replica.http.post(
                "/graphql", json={"query": query, "variables": variables or {}}, headers=headers
            )
        except httpx.HTTPError as err:
            self.stats.error(kind, f"{replica.name}: {type(err).__name__}: {err}")
            return Result()
        self.stats.record(kind, time.perf_counter() - started)
        if response.status_code != 200:
            self.stats.error(
                kind, f"{replica.name}: HTTP {response.status_code}: {response.text[:300]}"
            )
            return Result()
        body = response.json()
        errors = body.get("errors")
        if errors:
            codes = {(e.get("extensions") or {}).get("code") for e in errors}
            if codes <= REFUSALS.get(kind, set()):
                code = sorted(c for c in codes if c)[0]
                self.stats.refused(kind, code)
                return Result(refused=code)
            self.stats.error(kind, f"{replica.name}: {json.dumps(errors, ensure_ascii=False)}")
            return Result()
        return Result(data=body.get("data") or {})

    async def http_step(
        self, replica: Replica, kind: str, method: str, path: str, expect: int
    ) -> httpx.Response | None:
        started = time.perf_counter()
        try:
            response = await replica.http.request(method, path)
        except httpx.HTTPError as err:
            self.stats.error(kind, f"{replica.name}: {type(err).__name__}: {err}")
            return None
        self.stats.record(kind, time.perf_counter() - started)
        if response.status_code != expect:
            self.stats.error(
                kind,
                f"{replica.name} {method} {path}: HTTP {response.status_code}"
                f" (expected {expect}): {response.text[:200]}",
            )
            return None
        return response

    def other(self, replica: Replica) -> Replica:
        return self.replicas[1] if replica is self.replicas[0] else self.replicas[0]

    # -- catalogue readers ----------------------------------------------------------------

    def remember(self, products: list[dict]) -> None:
        for product in products:
            self.catalogue[product["slug"]] = product
            for variant in product.get("variants") or []:
                if variant.get("price") is not None and variant.get("inStock"):
                    self.buyable[variant["id"]] = (product["slug"], variant.get("barcode") or "")
                else:
                    self.buyable.pop(variant["id"], None)

    async def reader(self, index: int) -> None:
        n = index
        while not self.stop.is_set():
            replica = self.replicas[n % 2]
            n += 1
            pick = random.random()
            if pick < 0.4 or not self.catalogue:
                variables = {
                    "first": 50,
                    "sort": random.choice(SORTS),
                    "filter": {"inStock": True} if random.random() < 0.5 else None,
                }
                result = await self.gql(replica, "catalogue.products", PRODUCTS, variables)
                if result.ok:
                    page = result.data["products"]
                    self.remember([e["node"] for e in page["edges"]])
                    if page["pageInfo"]["hasNextPage"] and random.random() < 0.5:
                        variables["after"] = page["pageInfo"]["endCursor"]
                        result = await self.gql(
                            replica, "catalogue.products", PRODUCTS, variables
                        )
                        if result.ok:
                            self.remember([e["node"] for e in result.data["products"]["edges"]])
            elif pick < 0.8:
                slug = random.choice(list(self.catalogue))
                result = await self.gql(replica, "catalogue.product", PRODUCT, {"slug": slug})
                if result.ok:
                    if result.data["product"] is None:
                        self.catalogue.pop(slug, None)
                    else:
                        self.remember([result.data["product"]])
            else:
                word = random.choice(SEARCH_WORDS)
                result = await self.gql(replica, "catalogue.search", SEARCH, {"q": word})
                if result.ok and result.data["products"]["totalCount"] > 0:
                    self.search_hits += 1
            await self.pause(self.args.read_pause)

    async def pause(self, seconds: float) -> None:
        try:
            await asyncio.wait_for(self.stop.wait(), seconds * random.uniform(0.5, 1.5))
        except asyncio.TimeoutError:
            pass

    # -- the simulated Mahak's changes -----------------------------------------------------

    async def changer(self) -> None:
        async with httpx.AsyncClient(base_url=self.sim_root, timeout=60) as sim:
            while not self.stop.is_set():
                await self.change_once(sim)
                await self.pause(self.args.change_interval)

    async def sim_patch(self, sim: httpx.AsyncClient, kind: str, path: str, body: dict) -> bool:
        started = time.perf_counter()
        try:
            response = await sim.patch(path, json=body)
        except httpx.HTTPError as err:
            self.stats.error(kind, f"{type(err).__name__}: {err}")
            return False
        self.stats.record(kind, time.perf_counter() - started)
        if response.status_code != 200:
            self.stats.error(kind, f"PATCH {path}: HTTP {response.status_code} {response.text}")
            return False
        self.changes[kind] += 1
        return True

    async def change_once(self, sim: httpx.AsyncClient) -> None:
        known = [
            (slug, barcode)
            for slug, barcode in list(self.buyable.values())
            if barcode in self.details_by_barcode
        ]
        if not known:
            return
        for slug, barcode in random.sample(known, min(3, len(known))):
            detail = self.details_by_barcode[barcode]
            price = random.randrange(20_000, 2_000_000, 1_000)
            # Every price level alike, so the price the shop shows is this one whatever the
            # variant's default level.
            body = {f"Price{level}": float(price) for level in range(1, 11)}
            if await self.sim_patch(
                sim, "mahak.change.price", f"/control/rows/productdetail/{detail['id']}", body
            ):
                self.price_changes[detail["id"]] = (slug, barcode, price)
        for slug, barcode in random.sample(known, min(3, len(known))):
            assets = self.assets_by_detail.get(self.details_by_barcode[barcode]["id"])
            if assets:
                count = 0.0 if random.random() < 0.05 else float(random.randrange(100, 400))
                await self.sim_patch(
                    sim,
                    "mahak.change.stock",
                    f"/control/rows/productdetailstoreasset/{random.choice(assets)}",
                    {"Count1": count},
                )
        slug, barcode = random.choice(known)
        product = self.details_by_barcode[barcode]["product"]
        if product:
            await self.sim_patch(
                sim,
                "mahak.change.product",
                f"/control/rows/product/{product}",
                {"Description": f"توضیح تازه {random.randrange(1_000_000)}"},
            )

    # -- shoppers -------------------------------------------------------------------------

    async def otp_code(self, replica: Replica, e164: str) -> str | None:
        deadline = time.monotonic() + PATIENCE
        while time.monotonic() < deadline:
            replica.log.poll()
            code = replica.log.codes.pop(e164, None)
            if code:
                return code
            await asyncio.sleep(0.1)
        return None

    async def sign_in(self, home: Replica) -> str | None:
        self.phone_seq += 1
        national = f"0912{self.phone_seq:07d}"
        e164 = f"+98912{self.phone_seq:07d}"
        result = await self.gql(home, "auth.requestOtp", REQUEST_OTP, {"p": national})
        if not result.ok:
            return None
        code = await self.otp_code(home, e164)
        if code is None:
            self.stats.error("auth.otp_log", f"no OTP code for {e164} in {home.log.path}")
            return None
        # Verified on the other replica: the code's hash and the budgets are in the database.
        result = await self.gql(
            self.other(home), "auth.verifyOtp", VERIFY_OTP, {"p": national, "c": code}
        )
        return result.data["verifyOtp"]["accessToken"] if result.ok else None

    async def place_order(self, customer: Customer, replica: Replica) -> str | None:
        """Adds one unit of a random in-stock variant and checks out; None when refused."""
        if not self.buyable:
            return None
        variant = random.choice(list(self.buyable))
        result = await self.gql(replica, "cart.add", ADD_TO_CART, {"v": variant}, customer.token)
        if not result.ok:
            if result.refused:
                self.buyable.pop(variant, None)
            return None
        lines = [line["id"] for line in result.data["addToCart"]["lines"]]
        result = await self.gql(
            replica,
            "checkout",
            CHECKOUT,
            {"i": {"addressId": customer.address, "idempotencyKey": str(uuid.uuid4())}},
            customer.token,
        )
        if result.ok:
            return result.data["checkout"]["number"]
        # Refused (out of stock since): empty the cart so the next order starts clean.
        for line in lines:
            await self.gql(replica, "cart.remove", REMOVE_LINE, {"l": line}, customer.token)
        return None

    async def pay(
        self, customer: Customer, order: str, home: Replica, callback_at: Replica,
        watchers: list[Slot],
    ) -> None:
        """startPayment, the sandbox page's Pay, then the callback on `callback_at`."""
        result = await self.gql(home, "payment.start", START_PAYMENT, {"o": order}, customer.token)
        customer.payments += 1
        if not result.ok:
            return
        page = urllib.parse.urlsplit(result.data["startPayment"]["redirectUrl"]).path
        response = await self.http_step(home, "payment.page", "GET", page, 200)
        if response is None:
            return
        if f'action="{page}/pay"' not in response.text:
            self.stats.error("payment.page", f"no Pay form on {page}")
            return
        response = await self.http_step(home, "payment.pay", "POST", f"{page}/pay", 303)
        if response is None:
            return
        target = urllib.parse.urlsplit(response.headers["location"])
        callback = f"{target.path}?{target.query}"
        for slot in watchers:
            slot.expect(order, cross=slot.replica is not callback_at)
        response = await self.http_step(callback_at, "payment.callback", "GET", callback, 303)
        answered = time.monotonic()
        if response is None or "status=paid" not in response.headers.get("location", ""):
            if response is not None:
                self.stats.error(
                    "payment.callback",
                    f"{callback_at.name}: answered {response.headers.get('location')}",
                )
            for slot in watchers:
                if slot.expectation is not None:
                    where = "cross" if slot.expectation.cross else "same"
                    self.paid[f"{where}.expected"] -= 1
                    slot.expectation = None
            return
        self.orders_paid += 1
        for slot in watchers:
            if slot.expectation is not None:
                slot.expectation.answered = answered

    async def shopper(self, index: int, slots_each: int) -> None:
        customer: Customer | None = None
        turn = index
        while not self.stop.is_set():
            home = self.replicas[turn % 2]
            turn += 1
            if customer is None or customer.payments >= customer.quota:
                fresh = await self.new_customer(home, slots_each)
                if fresh is not None and customer is None:
                    # The first customers' quotas are staggered, so customers (and their
                    # sockets) are replaced all along the run rather than all at once.
                    fresh.quota = 1 + index * PAYMENTS_PER_CUSTOMER // max(1, self.args.shoppers)
                if fresh is not None:
                    if customer is not None:
                        # In the background: its sockets wait for the events still due.
                        self.closers.add(asyncio.create_task(customer.close()))
                    customer = fresh
            else:
                await self.shop_once(customer, home)
            await self.pause(self.args.shop_pause)

    async def new_customer(self, home: Replica, slots_each: int) -> Customer | None:
        """Signs a customer in, places a first order, opens the customer's subscription
        sockets (half on each replica) on it, and pays it."""
        token = await self.sign_in(home)
        if token is None:
            return None
        customer = Customer(self, token)
        result = await self.gql(
            home,
            "address.add",
            ADD_ADDRESS,
            {"i": {
                "title": "خانه", "recipientName": "سارا احمدی", "recipientPhone": "09121234567",
                "province": "تهران", "city": "تهران", "addressLine": "خیابان ولیعصر، پلاک ۱۲",
                "postalCode": "1234567890",
            }},
            token,
        )
        if not result.ok:
            return None
        customer.address = result.data["addAddress"]["id"]
        order = None
        for _ in range(10):
            if self.stop.is_set():
                return None
            order = await self.place_order(customer, home)
            if order:
                break
        if order is None:
            return None
        opened = await asyncio.gather(
            *(customer.open_slot(self.replicas[i % 2], order) for i in range(slots_each))
        )
        if not all(opened):
            await customer.close()
            return None
        callback_at = random.choice(self.replicas)
        await self.pay(customer, order, home, callback_at, list(customer.slots))
        return customer

    async def shop_once(self, customer: Customer, home: Replica) -> None:
        order = await self.place_order(customer, home)
        if order is None:
            return
        slot = await customer.free_slot()
        if slot is None or not await slot.subscribe(order):
            return
        await self.pay(customer, order, home, random.choice(self.replicas), [slot])

    # -- watching -------------------------------------------------------------------------

    async def monitor(self) -> None:
        """Every second until every socket is closed: expectations past their deadline are
        missed. Every 5 s of the load: RSS, process liveness, open subscriptions, logs."""
        tick = 0
        while not self.drained.is_set():
            now = time.monotonic()
            for slot in list(self.slots):
                slot.check_deadline(now)
            if tick % 5 == 0 and not self.stop.is_set():
                self.sample()
            tick += 1
            try:
                await asyncio.wait_for(self.drained.wait(), 1.0)
            except asyncio.TimeoutError:
                pass

    def sample(self) -> None:
        at = time.monotonic() - self.load_started
        for proc in self.procs:
            kb = rss_kb(proc.popen.pid) if proc.popen.poll() is None else None
            if kb is not None:
                proc.rss_kb.append((at, kb))
            proc.log.poll()
        self.check_processes()
        self.open_subs_samples.append((at, sum(1 for s in self.slots if s.subscribed)))
        if int(at) % 30 < 5:
            print(
                f"[{at:5.0f}s] requests {sum(self.stats.requests.values())}"
                f" errors {self.stats.total_errors()} paid orders {self.orders_paid}"
                f" open subscriptions {self.open_subs_samples[-1][1]}"
                f" events {self.events_received}",
                flush=True,
            )

    # -- the run --------------------------------------------------------------------------

    async def run_load(self) -> None:
        args = self.args
        slots_each = max(1, args.subscriptions // max(1, args.shoppers))
        self.load_started = time.monotonic()
        print(
            f"load: {args.duration:.0f} s, {args.readers} readers, {args.shoppers} shoppers"
            f" x {slots_each} subscriptions, changes every {args.change_interval} s",
            flush=True,
        )
        monitor = asyncio.create_task(self.monitor())
        workers = [asyncio.create_task(self.reader(i)) for i in range(args.readers)]
        workers += [asyncio.create_task(self.shopper(i, slots_each)) for i in range(args.shoppers)]
        workers.append(asyncio.create_task(self.changer()))
        await asyncio.sleep(args.duration)
        self.sample()
        self.load_ended = time.monotonic()
        self.stop.set()
        # Let every worker finish what it is doing (a cancelled request would be neither
        # a success nor an error), within reason.
        done, pending = await asyncio.wait(workers, timeout=120)
        for task in pending:
            task.cancel()
        for task in done:
            if task.exception() is not None:
                err = task.exception()
                self.stats.error("soak", f"worker crashed: {type(err).__name__}: {err}")
        # Payments in flight when the load stopped: their events are waited for (the
        # monitor calls the late ones missed), then every socket is closed.
        if self.closers:
            await asyncio.wait(self.closers, timeout=PATIENCE + 10)
        deadline = time.monotonic() + PATIENCE + 5
        while any(s.expectation for s in self.slots) and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
        for slot in list(self.slots):
            await slot.close()
        self.drained.set()
        await monitor

    async def verify_sync(self) -> None:
        """The simulated Mahak's last price changes must reach the shop."""
        latest = list(self.price_changes.items())[-5:]
        if not latest:
            self.checks.append(("sync applied Mahak's changes", False, "no change was made"))
            return
        deadline = time.monotonic() + max(120.0, 4 * self.args.sync_interval)
        pending = dict(latest)
        started = time.monotonic()
        while pending and time.monotonic() < deadline:
            for detail, (slug, barcode, price) in list(pending.items()):
                result = await self.gql(self.replicas[0], "verify.product", PRODUCT, {"slug": slug})
                product = result.data.get("product") if result.ok else None
                variants = product["variants"] if product else []
                if any(v["barcode"] == barcode and v["price"] == price for v in variants):
                    del pending[detail]
            if pending:
                await asyncio.sleep(1)
        detail = (
            f"{len(latest)} last price changes shown by the shop"
            f" {time.monotonic() - started:.0f} s after the load stopped"
            if not pending
            else f"not shown after {time.monotonic() - started:.0f} s: {pending}"
        )
        self.checks.append(("sync applied Mahak's last changes", not pending, detail))

    def verify_database(self) -> None:
        dead = int(psql(self.database, "SELECT count(*) FROM dead_letters") or 0)
        self.checks.append(("no dead letters", dead == 0, f"{dead} dead letters"))
        runs = psql(
            self.database,
            "SELECT outcome, count(*) FROM sync_runs GROUP BY outcome ORDER BY outcome",
        ).replace("\n", ", ").replace("|", ": ")
        failed = int(
            psql(self.database, "SELECT count(*) FROM sync_runs WHERE outcome = 'failed'") or 0
        )
        self.checks.append(("no failed sync run", failed == 0, f"sync runs: {runs}"))
        given_up = int(
            psql(self.database, "SELECT count(*) FROM outbox WHERE failed_at IS NOT NULL") or 0
        )
        outbox = psql(
            self.database,
            "SELECT topic, count(*) FROM outbox GROUP BY topic ORDER BY topic",
        ).replace("\n", ", ").replace("|", ": ")
        self.checks.append(
            ("no outbox effect given up", given_up == 0, f"outbox rows by topic: {outbox}")
        )
        paid = psql(self.database, "SELECT count(*) FROM orders WHERE status = 'paid'")
        self.checks.append(
            ("paid orders in the database match the callbacks",
             int(paid or 0) == self.orders_paid,
             f"{paid} paid orders, {self.orders_paid} callbacks answered paid")
        )

    def shutdown(self) -> None:
        """SIGTERM to the servers and the sync processes, then to the simulator (their
        last calls to Mahak must not meet a closed port); each must exit 0 on its own."""
        stopped = []
        for group in ([p for p in self.procs if p.judged], [p for p in self.procs if not p.judged]):
            for proc in group:
                if proc.popen.poll() is None:
                    proc.popen.send_signal(signal.SIGTERM)
                    stopped.append(proc)
            for proc in group:
                try:
                    proc.popen.wait(timeout=60)
                except subprocess.TimeoutExpired:
                    proc.popen.kill()
                    proc.popen.wait()
                    self.stats.error("shutdown", f"{proc.name} did not stop within 60 s of SIGTERM")
                proc.log.poll()
        bad = [f"{p.name} {p.popen.returncode}" for p in stopped if p.popen.returncode != 0]
        self.checks.append(
            ("every process exits 0 on SIGTERM", not bad, ", ".join(bad) or f"{len(stopped)} stopped")
        )

    def cleanup(self, keep: bool) -> None:
        if keep:
            print(f"kept: database {self.database}, logs in {self.workdir}", flush=True)
        else:
            try:
                psql("postgres", f'DROP DATABASE IF EXISTS "{self.database}" WITH (FORCE)')
            except subprocess.CalledProcessError as err:
                print(f"could not drop {self.database}: {err.stderr}", file=sys.stderr)
        # The sync's queues are durable: remove this run's, or every run leaves some behind.
        if shutil.which("rabbitmqctl"):
            listed = subprocess.run(
                ["rabbitmqctl", "list_queues", "-q", "--no-table-headers", "name"],
                capture_output=True, text=True,
            )
            for name in listed.stdout.split():
                if name.startswith(self.prefix + "."):
                    subprocess.run(
                        ["rabbitmqctl", "delete_queue", name], capture_output=True, text=True
                    )

    # -- the report -----------------------------------------------------------------------

    def rss_rows(self) -> list[tuple[str, str, str, str, str, bool]]:
        rows = []
        warm_at = self.warmup_secs
        for proc in self.procs:
            samples = proc.rss_kb
            if not samples:
                rows.append((proc.name, "-", "-", "-", "-", not proc.judged))
                continue
            warm = next((kb for at, kb in samples if at >= warm_at), samples[-1][1])
            end = samples[-1][1]
            growth = 100.0 * (end - warm) / warm
            peak = max(kb for _, kb in samples)
            ok = (not proc.judged) or growth <= self.args.rss_growth
            rows.append(
                (
                    proc.name + ("" if proc.judged else " (not judged)"),
                    f"{warm / 1024:.1f}",
                    f"{end / 1024:.1f}",
                    f"{growth:+.1f}%",
                    f"{peak / 1024:.1f}",
                    ok,
                )
            )
        return rows

    def report(self) -> tuple[str, bool]:
        args = self.args
        s = self.stats
        lines = [
            f"# Soak report {self.run_id}",
            "",
            f"- date: {datetime.datetime.now().astimezone().isoformat(timespec='seconds')}",
            f"- binaries: {args.bin_dir}; load {args.duration:.0f} s"
            f" (RSS after warm-up: at {self.warmup_secs:.0f} s); two server replicas, sync daemon"
            f" (every {args.sync_interval} s) and one consumer on PostgreSQL and RabbitMQ;"
            f" simulator with {args.products} products",
            f"- load: {args.readers} catalogue readers, {args.shoppers} shoppers,"
            f" {args.subscriptions} subscriptions, Mahak changes every"
            f" {args.change_interval} s",
            "",
            "| kind | requests | errors | refusals | p50 ms | p99 ms |",
            "|---|---:|---:|---|---:|---:|",
        ]
        for kind in sorted(set(s.requests) | set(s.errors)):
            refusals = ", ".join(f"{c} {n}" for c, n in sorted(s.refusals[kind].items())) or ""
            lat = s.latency.get(kind, [])
            p50, p99 = (
                (f"{percentile(lat, 0.5) * 1000:.1f}", f"{percentile(lat, 0.99) * 1000:.1f}")
                if lat
                else ("-", "-")
            )
            lines.append(
                f"| {kind} | {s.requests[kind]} | {s.errors[kind]} | {refusals} | {p50} | {p99} |"
            )
        total = sum(s.requests.values())
        elapsed = max(1e-9, self.load_ended - self.load_started)
        lines += [
            f"| **all** | {total} ({total / elapsed:.0f}/s) | {s.total_errors()} | | | |",
            "",
        ]
        opened = [n for at, n in self.open_subs_samples if at >= self.warmup_secs]
        same = cross = self.paid
        lines += [
            "Subscriptions:",
            "",
            f"- open subscriptions after warm-up: min {min(opened, default=0)},"
            f" max {max(opened, default=0)}",
            f"- events received: {self.events_received}; paid orders: {self.orders_paid}",
            f"- PAID events, subscriber on the replica that took the callback: received"
            f" {same['same.received']} of {same['same.expected']}, missed {same['same.missed']};"
            f" latency from the callback's request p50"
            f" {percentile(self.event_latency['same'], 0.5) * 1000:.1f} ms, p99"
            f" {percentile(self.event_latency['same'], 0.99) * 1000:.1f} ms",
            f"- PAID events, subscriber on the other replica (cross-replica): received"
            f" {cross['cross.received']} of {cross['cross.expected']}, missed"
            f" {cross['cross.missed']}"
            + (
                f"; latency p50 {percentile(self.event_latency['cross'], 0.5) * 1000:.1f} ms,"
                f" p99 {percentile(self.event_latency['cross'], 0.99) * 1000:.1f} ms"
                if self.event_latency["cross"]
                else ""
            )
            + ("" if args.require_cross_replica else " (not required: --no-require-cross-replica)"),
            "",
            "Mahak changes made: " + ", ".join(f"{k} {v}" for k, v in sorted(self.changes.items())),
            "",
            "| process | RSS after warm-up (MiB) | RSS at end (MiB) | change | peak (MiB) |"
            " ERROR lines | WARN lines |",
            "|---|---:|---:|---:|---:|---:|---:|",
        ]
        rss_ok = True
        by_name = {p.name: p for p in self.procs}
        for row, proc in zip(self.rss_rows(), self.procs):
            name, warm, end, growth, peak, ok = row
            rss_ok &= ok
            lines.append(
                f"| {name} | {warm} | {end} | {growth}{'' if ok else ' **over**'} | {peak} |"
                f" {by_name[proc.name].log.error_lines} | {by_name[proc.name].log.warn_lines} |"
            )
        log_errors = sum(p.log.error_lines for p in self.procs)
        missed_cross = self.paid["cross.missed"] if args.require_cross_replica else 0
        self.checks.insert(0, ("zero request errors", s.total_errors() == 0, f"{s.total_errors()}"))
        self.checks.append(("no ERROR line in any process log", log_errors == 0, f"{log_errors}"))
        searches = s.requests["catalogue.search"]
        self.checks.append(
            ("Persian searches find products", self.search_hits > 0,
             f"{self.search_hits} of {searches} searches found some")
        )
        self.checks.append(
            ("every PAID event reached its subscriber",
             self.paid["same.missed"] == 0 and missed_cross == 0,
             f"missed: same replica {self.paid['same.missed']},"
             f" cross-replica {self.paid['cross.missed']}"),
        )
        self.checks.append(
            (f"RSS at the end within {args.rss_growth:.0f}% of after warm-up", rss_ok, "")
        )
        lines += ["", "Checks:", ""]
        for name, ok, detail in self.checks:
            lines.append(f"- {'ok' if ok else 'FAIL'}: {name}{f' ({detail})' if detail else ''}")
        passed = all(ok for _, ok, _ in self.checks)
        if s.samples:
            lines += ["", "First errors:", "", "```", *s.samples, "```"]
        for proc in self.procs:
            if proc.log.error_samples:
                lines += ["", f"ERROR lines of {proc.name}:", "", "```", *proc.log.error_samples, "```"]
        lines += ["", f"Verdict: {'PASS' if passed else 'FAIL'}", ""]
        return "\n".join(lines), passed

    def write_rss_csv(self) -> None:
        with open(self.workdir / "rss.csv", "w") as f:
            f.write("process,seconds,rss_kb\n")
            for proc in self.procs:
                for at, kb in proc.rss_kb:
                    f.write(f"{proc.name},{at:.1f},{kb}\n")


# ---------------------------------------------------------------------------------------
# Customers and their subscription sockets


@dataclass
class Expectation:
    order: str
    cross: bool
    registered: float
    answered: float | None = None  # when the callback answered paid; the deadline counts from it


class Customer:
    def __init__(self, soak: Soak, token: str) -> None:
        self.soak = soak
        self.token = token
        self.address = ""
        self.payments = 0
        self.slots: list[Slot] = []
        self.next_slot = 0
        self.quota = PAYMENTS_PER_CUSTOMER

    async def open_slot(self, replica: Replica, order: str) -> bool:
        slot = Slot(self.soak, replica, self.token)
        if not await slot.open():
            return False
        self.slots.append(slot)
        return await slot.subscribe(order)

    async def free_slot(self) -> Slot | None:
        """The next socket whose last payment's event has arrived (or was given up)."""
        deadline = time.monotonic() + PATIENCE + 5
        while time.monotonic() < deadline:
            for _ in range(len(self.slots)):
                slot = self.slots[self.next_slot % len(self.slots)]
                self.next_slot += 1
                if slot.expectation is None and slot.ws is not None and not slot.dead:
                    return slot
            await asyncio.sleep(0.05)
        return None

    async def close(self) -> None:
        # The old customer's sockets go once the new one's are open (see shopper), so the
        # number of open subscriptions never drops; events still expected are waited for.
        deadline = time.monotonic() + PATIENCE + 5
        while any(s.expectation for s in self.slots) and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        await asyncio.gather(*(slot.close() for slot in self.slots))


class Slot:
    """One graphql-transport-ws socket holding one orderStatusChanged subscription."""

    def __init__(self, soak: Soak, replica: Replica, token: str) -> None:
        self.soak = soak
        self.replica = replica
        self.token = token
        self.ws: ClientConnection | None = None
        self.current: str | None = None  # operation id
        self.order: str | None = None
        self.first: asyncio.Future | None = None
        self.expectation: Expectation | None = None
        self.closing = False
        self.dead = False
        self.subscribed = False
        self.reader: asyncio.Task | None = None

    async def open(self) -> bool:
        stats = self.soak.stats
        started = time.perf_counter()
        try:
            self.ws = await ws_connect(
                self.replica.ws_url,
                subprotocols=["graphql-transport-ws"],
                open_timeout=PATIENCE,
                ping_interval=20,
                ping_timeout=PATIENCE,
                close_timeout=5,
            )
            await self.ws.send(
                json.dumps(
                    {"type": "connection_init", "payload": {"Authorization": f"Bearer {self.token}"}}
                )
            )
            ack = json.loads(await asyncio.wait_for(self.ws.recv(), PATIENCE))
        except (OSError, ConnectionClosed, asyncio.TimeoutError, ValueError) as err:
            stats.error("ws.open", f"{self.replica.name}: {type(err).__name__}: {err}")
            self.dead = True
            if self.ws is not None:
                await self.ws.close()
            return False
        if ack.get("type") != "connection_ack":
            stats.error("ws.open", f"{self.replica.name}: expected connection_ack, got {ack}")
            self.dead = True
            await self.ws.close()
            return False
        stats.record("ws.open", time.perf_counter() - started)
        self.soak.slots.add(self)
        self.reader = asyncio.create_task(self.read())
        return True

    async def subscribe(self, order: str) -> bool:
        """Moves this socket's subscription to `order`; true once its first event came."""
        stats = self.soak.stats
        if self.dead or self.ws is None:
            return False
        started = time.perf_counter()
        try:
            if self.current is not None:
                await self.ws.send(json.dumps({"id": self.current, "type": "complete"}))
            self.soak.sub_seq += 1
            self.current = str(self.soak.sub_seq)
            self.order = order
            self.subscribed = False
            self.first = asyncio.get_running_loop().create_future()
            await self.ws.send(
                json.dumps(
                    {
                        "id": self.current,
                        "type": "subscribe",
                        "payload": {"query": ORDER_STATUS, "variables": {"o": order}},
                    }
                )
            )
            status = await asyncio.wait_for(self.first, PATIENCE)
        except ConnectionClosed:
            return False  # reported by the reader
        except asyncio.TimeoutError:
            stats.error("ws.subscribe", f"{self.replica.name}: no first event for order {order}")
            return False
        stats.record("ws.subscribe", time.perf_counter() - started)
        if status != "PENDING_PAYMENT":
            stats.error("ws.subscribe", f"order {order} starts as {status}")
            return False
        self.subscribed = True
        return True

    def expect(self, order: str, cross: bool) -> None:
        self.expectation = Expectation(order, cross, time.monotonic())
        self.soak.paid[f"{'cross' if cross else 'same'}.expected"] += 1

    def check_deadline(self, now: float, closing: bool = False) -> None:
        e = self.expectation
        if e is None or (not closing and (e.answered is None or now - e.answered < PATIENCE)):
            return
        self.expectation = None
        where = "cross" if e.cross else "same"
        self.soak.paid[f"{where}.missed"] += 1
        if not e.cross or self.soak.args.require_cross_replica:
            self.soak.stats.error(
                "ws.paid_event",
                f"{self.replica.name}: no PAID event for order {e.order} ({where} replica)",
            )

    async def read(self) -> None:
        stats = self.soak.stats
        try:
            async for raw in self.ws:
                message = json.loads(raw)
                kind = message.get("type")
                if kind == "ping":
                    await self.ws.send(json.dumps({"type": "pong"}))
                    continue
                if kind == "pong":
                    continue
                if message.get("id") != self.current:
                    continue  # the tail of a subscription this socket has moved on from
                if kind == "next":
                    self.soak.events_received += 1
                    data = (message.get("payload") or {}).get("data") or {}
                    event = data.get("orderStatusChanged")
                    errors = (message.get("payload") or {}).get("errors")
                    if errors or not event:
                        stats.error("ws.subscription", f"{self.replica.name}: {message}")
                        continue
                    self.on_event(event)
                elif kind == "error":
                    stats.error("ws.subscription", f"{self.replica.name}: {message}")
                elif kind == "complete" and not self.closing:
                    stats.error(
                        "ws.subscription",
                        f"{self.replica.name}: server completed order {self.order}'s subscription",
                    )
        except ConnectionClosed as closed:
            if not self.closing:
                stats.error(
                    "ws.close",
                    f"{self.replica.name}: closed by the server: {closed.rcvd}",
                )
        finally:
            if not self.closing:
                self.dead = True
                self.subscribed = False
            if self.first is not None and not self.first.done():
                self.first.set_exception(ConnectionClosed(None, None))

    def on_event(self, event: dict) -> None:
        if event["fromStatus"] is None:
            if self.first is not None and not self.first.done():
                self.first.set_result(event["status"])
            return
        e = self.expectation
        if event["status"] == "PAID" and e is not None and e.order == event["orderNumber"]:
            self.expectation = None
            where = "cross" if e.cross else "same"
            self.soak.paid[f"{where}.received"] += 1
            self.soak.event_latency[where].append(time.monotonic() - e.registered)

    async def close(self) -> None:
        self.check_deadline(time.monotonic(), closing=True)  # an event still due is missed
        self.closing = True
        self.subscribed = False
        self.soak.slots.discard(self)
        if self.ws is not None:
            await self.ws.close()
        if self.reader is not None:
            await self.reader


# ---------------------------------------------------------------------------------------


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--bin-dir", required=True, help="directory holding the server and sync binaries")
    p.add_argument("--duration", type=float, default=600, help="seconds of load (default 600)")
    p.add_argument("--warmup", type=float, default=None,
                   help="seconds of load after which RSS is the baseline (default: 20%% of the"
                        " duration, at least 30 s: the servers' memory grows for the first"
                        " half minute of load while pools, sockets and buffers fill)")
    p.add_argument("--rss-growth", type=float, default=10.0,
                   help="largest RSS growth in percent from warm-up to the end (default 10)")
    p.add_argument("--readers", type=int, default=6)
    p.add_argument("--read-pause", type=float, default=0.1, help="mean seconds between a reader's requests")
    p.add_argument("--shoppers", type=int, default=20)
    p.add_argument("--shop-pause", type=float, default=1.0, help="mean seconds between a shopper's orders")
    p.add_argument("--subscriptions", type=int, default=500)
    p.add_argument("--change-interval", type=float, default=2.0,
                   help="seconds between batches of changes in the simulated Mahak")
    p.add_argument("--sync-interval", type=int, default=5, help="seconds between the fetcher's runs")
    p.add_argument("--products", type=int, default=1000, help="size of the simulated catalogue")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--require-cross-replica", action=argparse.BooleanOptionalAction, default=True,
                   help="fail when a PAID event does not reach a subscriber on the other replica"
                        " (default on; --no-require-cross-replica only counts such misses)")
    p.add_argument("--amqp-url", default="amqp://guest:guest@127.0.0.1:5672/%2f")
    p.add_argument("--out-dir", default="target/soak", help="where the report and logs go")
    p.add_argument("--keep", action="store_true", help="keep the database even when the soak passes")
    return p.parse_args(argv)


async def main(argv: list[str]) -> int:
    args = parse_args(argv)
    random.seed(args.seed)
    soak = Soak(args)
    passed = False
    try:
        await soak.setup()
        await soak.run_load()
        await soak.verify_sync()
        soak.verify_database()
        soak.shutdown()
        text, passed = soak.report()
    except BaseException as err:  # noqa: BLE001 - the processes must go whatever happened
        soak.shutdown()
        soak.cleanup(keep=True)
        print(f"soak aborted: {type(err).__name__}: {err}", file=sys.stderr)
        for proc in soak.procs:
            print(f"--- {proc.name} log (last lines): {proc.log.path}", file=sys.stderr)
            try:
                tail = proc.log.path.read_text(errors="replace").splitlines()[-15:]
            except OSError:
                tail = []
            print("\n".join(tail), file=sys.stderr)
        return 2
    soak.write_rss_csv()
    out = Path(args.out_dir)
    (out / "report.md").write_text(text)
    (soak.workdir / "report.md").write_text(text)
    print(text)
    print(f"report: {out / 'report.md'}; RSS samples: {soak.workdir / 'rss.csv'}")
    soak.cleanup(keep=args.keep or not passed)
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main(sys.argv[1:])))
