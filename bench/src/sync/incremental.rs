//! Item 6, incremental sync: `sync daemon --interval 1s`, `sync consume` and `server serve`
//! on one RabbitMQ prefix. A product's name is changed in the simulator N times; each time we
//! measure how long until (a) the shop's `product(slug:)` answers the new name (polled every
//! 50 ms over HTTP) and (b) the admin subscription `syncStatusChanged` reports the worker's
//! fetch of it (an event for entity PRODUCT with `entityFetched` ≥ 1, over
//! `graphql-transport-ws` on `/admin/graphql` with a staff token).

use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context};
use futures::{SinkExt, StreamExt};
use sea_orm::sqlx::{self, postgres::PgPoolOptions, Row};
use serde_json::{json, Value};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

use crate::procs::{Proc, Spawn};
use crate::setup::{fresh_prefix, Common, MirrorWatch, Simulator};

pub struct IncrementalOptions {
    pub products: usize,
    pub changes: usize,
    pub keep_databases: bool,
}

#[derive(Debug, Clone)]
pub struct IncrementalResult {
    pub products: usize,
    pub changes: usize,
    /// Change to the shop answering the new name, per change, in seconds.
    pub shop_secs: Vec<f64>,
    /// Change to the `syncStatusChanged` event of its fetch, per change, in seconds.
    pub event_secs: Vec<f64>,
    pub daemon_mib: f64,
    pub consumer_mib: f64,
    pub server_mib: f64,
}

const DATABASE: &str = "store_bench_sync_incremental";
const STAFF_EMAIL: &str = "bench-sync@example.com";
const STAFF_PASSWORD: &str = "bench-sync-password-1";
const POLL: Duration = Duration::from_millis(50);
/// Longest wait for one change to show; beyond it the run fails.
const CHANGE_TIMEOUT: Duration = Duration::from_secs(60);

pub async fn run(
    common: &Common,
    options: &IncrementalOptions,
) -> anyhow::Result<IncrementalResult> {
    eprintln!(
        "incremental sync, {} products, {} changes",
        options.products, options.changes
    );
    let url = common.fresh_database(DATABASE).await?;
    let pool = PgPoolOptions::new()
        .max_connections(2)
        .connect(&url)
        .await?;
    let prefix = fresh_prefix("incremental");
    let simulator =
        Simulator::start(common, "simulator-incremental", options.products, 1000).await?;
    let mut env = common.env(&url, &prefix, &simulator.base_url());
    let server_env: Vec<(String, String)> = env
        .iter()
        .cloned()
        .chain(
            [
                ("APP__HTTP__PORT", "0"),
                ("APP__SYNC__EMBEDDED", "false"),
                (
                    "APP__JWT__KEYS",
                    "[{kid=\"bench\",secret=\"bench-sync-secret-that-is-at-least-32-bytes\"}]",
                ),
                ("APP__JWT__ACTIVE_KID", "bench"),
                ("APP__STORAGE__MAHAK_IMPORT_INTERVAL_SECS", "0"),
                ("APP__RECONCILE__INTERVAL_SECS", "0"),
            ]
            .map(|(k, v)| (k.to_string(), v.to_string())),
        )
        .chain([(
            "APP__STORAGE__LOCAL_DIR".to_string(),
            common.log_dir.join("media").display().to_string(),
        )])
        .collect();

    let mut admin = Proc::spawn(Spawn {
        name: "create-admin",
        program: &common.bins.server,
        args: &[
            "create-admin",
            "--email",
            STAFF_EMAIL,
            "--display-name",
            "bench",
        ],
        env: &[
            server_env.clone(),
            vec![("ADMIN_PASSWORD".into(), STAFF_PASSWORD.into())],
        ]
        .concat(),
        log_dir: &common.log_dir,
    })
    .await?;
    ensure!(
        admin.wait().await?.success(),
        "server create-admin failed; see {}",
        admin.log_path.display()
    );

    let mut consumer = Proc::spawn(Spawn {
        name: "consume-incremental",
        program: &common.bins.sync,
        args: &["consume"],
        env: &env,
        log_dir: &common.log_dir,
    })
    .await?;
    consumer
        .wait_for_line("consuming batches", Duration::from_secs(60))
        .await?;
    let mut server = Proc::spawn(Spawn {
        name: "server-incremental",
        program: &common.bins.server,
        args: &["serve"],
        env: &server_env,
        log_dir: &common.log_dir,
    })
    .await?;
    let listening = server
        .wait_for_line("\"listening\"", Duration::from_secs(60))
        .await?;
    let addr = serde_json::from_str::<Value>(&listening)?["addr"]
        .as_str()
        .context("listening addr")?
        .to_string();
    let base = format!("http://{addr}");
    // The server's subscription must be bound to the live exchange before the events flow.
    server
        .wait_for_line("live event relay connected", Duration::from_secs(60))
        .await?;

    env.push(("APP__SYNC__INTERVAL_SECS".into(), "1".into()));
    let mut daemon = Proc::spawn(Spawn {
        name: "daemon-incremental",
        program: &common.bins.sync,
        args: &["daemon", "--interval", "1s"],
        env: &env,
        log_dir: &common.log_dir,
    })
    .await?;

    // The first run copies the whole catalogue.
    let mut watch = MirrorWatch::new(&pool, &simulator.counts);
    while !watch.complete(Duration::from_secs(120)).await? {
        daemon.check_running()?;
        consumer.check_running()?;
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    eprintln!("  initial sync done");

    let http = reqwest::Client::new();
    let token = sign_in(&http, &base).await?;
    let mut events = subscribe(&base, &token).await?;

    let products = sqlx::query(
        "SELECT p.mahak_id, p.name, l.slug FROM products p \
         JOIN product_listings l ON l.product_id = p.id \
         WHERE l.published AND p.deleted_at IS NULL ORDER BY p.mahak_id LIMIT 200",
    )
    .fetch_all(&pool)
    .await?;
    let mut targets = Vec::new();
    for row in products {
        let (mahak_id, name, slug): (i64, String, String) =
            (row.try_get(0)?, row.try_get(1)?, row.try_get(2)?);
        if shop_name(&http, &base, &slug).await?.as_deref() == Some(name.as_str()) {
            targets.push((mahak_id, slug));
        }
        if targets.len() >= options.changes {
            break;
        }
    }
    ensure!(
        !targets.is_empty(),
        "no product of the catalogue is visible in the shop"
    );

    let mut shop_secs = Vec::new();
    let mut event_secs = Vec::new();
    for i in 0..options.changes {
        // Changes land at different points of the 1 s poll cycle (a fixed spread, not
        // random, so that two runs are comparable).
        tokio::time::sleep(Duration::from_millis(300 + (i as u64 * 370) % 1000)).await;
        while events.try_recv().is_ok() {}
        let (mahak_id, slug) = &targets[i % targets.len()];
        let name = format!("محصول سنجش {i} {}", uuid::Uuid::new_v4().simple());
        let response = http
            .patch(format!(
                "{}/control/rows/Product/{mahak_id}",
                simulator.root
            ))
            .json(&json!({ "Name": name }))
            .send()
            .await?;
        ensure!(
            response.status().is_success(),
            "patch: {}",
            response.status()
        );
        // The change exists in "Mahak" from here on.
        let changed = Instant::now();
        let shop = async {
            loop {
                if shop_name(&http, &base, slug).await?.as_deref() == Some(name.as_str()) {
                    return anyhow::Ok(changed.elapsed().as_secs_f64());
                }
                if changed.elapsed() > CHANGE_TIMEOUT {
                    bail!("change {i} not visible in the shop after {CHANGE_TIMEOUT:?}");
                }
                tokio::time::sleep(POLL).await;
            }
        };
        let event = async {
            loop {
                let Ok(next) = tokio::time::timeout(CHANGE_TIMEOUT, events.recv()).await else {
                    bail!("no syncStatusChanged event for change {i} within {CHANGE_TIMEOUT:?}");
                };
                let (at, change) = next.context("the subscription ended")?;
                if at >= changed
                    && change["entity"] == "PRODUCT"
                    && change["entityFetched"].as_i64() >= Some(1)
                {
                    return anyhow::Ok(at.duration_since(changed).as_secs_f64());
                }
            }
        };
        let (a, b) = tokio::try_join!(shop, event)?;
        eprintln!(
            "  change {i}: shop {:.0} ms, event {:.0} ms",
            a * 1e3,
            b * 1e3
        );
        shop_secs.push(a);
        event_secs.push(b);
    }

    let daemon_mib = daemon.stop().await?;
    let server_mib = server.stop().await?;
    let consumer_mib = consumer.stop().await?;
    simulator.proc.stop().await?;
    pool.close().await;
    if !options.keep_databases {
        common.drop_database(DATABASE).await?;
    }
    Ok(IncrementalResult {
        products: options.products,
        changes: options.changes,
        shop_secs,
        event_secs,
        daemon_mib,
        consumer_mib,
        server_mib,
    })
}

async fn graphql(
    http: &reqwest::Client,
    url: &str,
    token: Option<&str>,
    query: &str,
    variables: Value,
) -> anyhow::Result<Value> {
    let mut request = http
        .post(url)
        .header("accept", "application/graphql-response+json")
        .json(&json!({ "query": query, "variables": variables }));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let body: Value = request.send().await?.json().await?;
    if body.get("errors").is_some_and(|e| !e.is_null()) {
        bail!("{url}: {body}");
    }
    Ok(body)
}

async fn shop_name(
    http: &reqwest::Client,
    base: &str,
    slug: &str,
) -> anyhow::Result<Option<String>> {
    let body = graphql(
        http,
        &format!("{base}/graphql"),
        None,
        "query($s: String!) { product(slug: $s) { name } }",
        json!({ "s": slug }),
    )
    .await?;
    Ok(body["data"]["product"]["name"].as_str().map(str::to_string))
}

async fn sign_in(http: &reqwest::Client, base: &str) -> anyhow::Result<String> {
    let body = graphql(
        http,
        &format!("{base}/admin/graphql"),
        None,
        "mutation($e: String!, $p: String!) { signIn(email: $e, password: $p) { accessToken } }",
        json!({ "e": STAFF_EMAIL, "p": STAFF_PASSWORD }),
    )
    .await?;
    body["data"]["signIn"]["accessToken"]
        .as_str()
        .map(str::to_string)
        .context("no access token")
}

/// Subscribes to `syncStatusChanged`; each event arrives with the instant it was read.
async fn subscribe(
    base: &str,
    token: &str,
) -> anyhow::Result<mpsc::UnboundedReceiver<(Instant, Value)>> {
    let url = format!("{}/admin/graphql", base.replacen("http://", "ws://", 1));
    let mut request = url.into_client_request()?;
    request
        .headers_mut()
        .insert("sec-websocket-protocol", "graphql-transport-ws".parse()?);
    let (mut ws, _) = tokio_tungstenite::connect_async(request).await?;
    let send = |v: Value| Message::Text(v.to_string().into());
    ws.send(send(json!({
        "type": "connection_init",
        "payload": { "Authorization": format!("Bearer {token}") },
    })))
    .await?;
    let ack = next_message(&mut ws).await?;
    ensure!(ack["type"] == "connection_ack", "connection_init: {ack}");
    ws.send(send(json!({
        "id": "sync",
        "type": "subscribe",
        "payload": { "query": "subscription { syncStatusChanged { kind runId entity entityFetched } }" },
    })))
    .await?;
    let first = next_message(&mut ws).await?;
    ensure!(
        first["type"] == "next"
            && first["payload"]["data"]["syncStatusChanged"]["kind"] == "SNAPSHOT",
        "first event: {first}"
    );
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok(message) = next_message(&mut ws).await {
            let at = Instant::now();
            match message["type"].as_str() {
                Some("next") => {
                    let change = message["payload"]["data"]["syncStatusChanged"].clone();
                    if tx.send((at, change)).is_err() {
                        return;
                    }
                }
                Some("ping") => {
                    let _ = ws.send(send(json!({ "type": "pong" }))).await;
                }
                // An error or completion ends the stream; the waiting side then fails.
                _ => return,
            }
        }
    });
    Ok(rx)
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn next_message(ws: &mut Ws) -> anyhow::Result<Value> {
    loop {
        match ws.next().await.context("the socket closed")?? {
            Message::Text(text) => return Ok(serde_json::from_str(text.as_str())?),
            Message::Close(frame) => bail!("the socket closed: {frame:?}"),
            _ => continue,
        }
    }
}
