//! Live events across replicas (issue 9): two server processes and a sync worker on one
//! PostgreSQL database and one RabbitMQ broker. Subscribers connected to replica A receive
//! what is done through replica B (an order placed, an order cancelled) and what the sync
//! worker does (a run starting and moving on), through the live exchange, and A's log of a
//! relayed event carries the trace id of the request B served.
//!
//! The admin console's database poll is set to an hour, so only the relay can explain a
//! sync event reaching replica A.

mod admin;
mod common;
mod gql_ws;
#[allow(dead_code)]
mod kavenegar_sim;
mod shop;

use std::time::Duration;

use common::{TestDb, TestServer, QUIET_BACKGROUND};
use gql_ws::Reply;
use secrecy::SecretString;
use serde_json::{json, Value};

const AMQP_URL: &str = "amqp://guest:guest@127.0.0.1:5672/%2f";
const ORDER_STATUS: &str =
    "subscription($n: String!) { orderStatusChanged(orderNumber: $n) { orderNumber status } }";
const ORDER_PLACED: &str = "subscription { orderPlaced { number status } }";
const SYNC_STATUS: &str = "subscription { syncStatusChanged { kind runId entity entitiesTotal } }";

/// The `next` payload of operation `id`, failing on anything else.
async fn next_data(ws: &mut gql_ws::Ws, id: &str) -> Value {
    match gql_ws::next(ws).await {
        Reply::Message(message) if message["type"] == "next" && message["id"] == id => {
            assert!(message["payload"]["errors"].is_null(), "{message}");
            message["payload"]["data"].clone()
        }
        other => panic!("expected `next` for {id}, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscribers_on_one_replica_see_what_happens_on_another_and_in_the_worker() {
    let db = TestDb::postgres().await;
    let conn = db.connect().await;
    let prefix = format!("test.live.{}", uuid::Uuid::new_v4().simple());
    let mut shared: Vec<(&str, &str)> = QUIET_BACKGROUND.to_vec();
    shared.extend([
        ("APP__AMQP__URL", AMQP_URL),
        ("APP__SYNC__AMQP_PREFIX", prefix.as_str()),
        ("APP__GRAPHQL__SYNC_STATUS_POLL_MS", "3600000"),
    ]);
    let (b, sms) = shop::start(&db, &shared).await;
    let mut a_env: Vec<(&str, &str)> = vec![
        (
            "APP__JWT__KEYS",
            "[{kid=\"a\",secret=\"key-a-secret-that-is-at-least-32-bytes-long\"}]",
        ),
        ("APP__JWT__ACTIVE_KID", "a"),
    ];
    a_env.extend_from_slice(&shared);
    let a = TestServer::start_capturing(&db, &a_env).await;
    // Both replicas have bound their live queues once their relays log `connected`; B's was
    // up before A started. A subscription made before A's queue exists would miss events.
    wait_for_log(&a, "live event relay connected").await;

    let staff = admin::staff_token(&a, &db, &["orders", "sync"]).await;
    let (mut console, ack) = gql_ws::init(&a, "/admin/graphql", Some(&staff)).await;
    assert_eq!(ack, gql_ws::ack());
    gql_ws::send(
        &mut console,
        json!({ "id": "placed", "type": "subscribe", "payload": { "query": ORDER_PLACED } }),
    )
    .await;

    // The customer signs in and buys through B.
    let customer = shop::sign_in(&b, &sms, "09121112233", None).await;
    let variant = shop::seed_variant(&conn, 7001, 5.0).await;
    let number = shop::buy(&b, &customer, variant, 1).await;

    // A's staff subscriber hears of the order B took.
    let heard = next_data(&mut console, "placed").await;
    assert_eq!(
        heard["orderPlaced"],
        json!({ "number": number, "status": "PENDING_PAYMENT" })
    );

    // The customer watches the order on A and cancels it through B, in a trace of their own.
    let (mut watch, ack) = gql_ws::init(&a, "/graphql", Some(&customer)).await;
    assert_eq!(ack, gql_ws::ack());
    let first = gql_ws::subscribe(&mut watch, "order", ORDER_STATUS, json!({ "n": number })).await;
    let Reply::Message(first) = first else {
        panic!("expected the current status, got {first:?}")
    };
    assert_eq!(
        first["payload"]["data"]["orderStatusChanged"]["status"],
        "PENDING_PAYMENT"
    );
    let trace_id = "0af7651916cd43dd8448eb211c80319c";
    let cancelled: Value = b
        .client
        .post(b.url("/graphql"))
        .bearer_auth(&customer)
        .header("traceparent", format!("00-{trace_id}-b7ad6b7169203331-01"))
        .json(&json!({
            "query": "mutation($n: String!) { cancelOrder(orderNumber: $n) { status } }",
            "variables": { "n": number },
        }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        cancelled["data"]["cancelOrder"]["status"], "CANCELLED",
        "{cancelled}"
    );
    let changed = next_data(&mut watch, "order").await;
    assert_eq!(
        changed["orderStatusChanged"],
        json!({ "orderNumber": number, "status": "CANCELLED" })
    );
    let logged = wait_for_log(&a, "live event from another process").await;
    assert!(
        logged
            .iter()
            .any(|line| line["routing_key"] == "order.status" && line["trace_id"] == trace_id),
        "A's log of the relayed event carries B's trace id: {logged:?}"
    );

    // The sync worker, another process's worth of code on the same broker, runs once.
    gql_ws::send(
        &mut console,
        json!({ "id": "sync", "type": "subscribe", "payload": { "query": SYNC_STATUS } }),
    )
    .await;
    assert_eq!(
        next_data(&mut console, "sync").await["syncStatusChanged"]["kind"],
        "SNAPSHOT"
    );
    let mut worker = sync::worker::WorkerSettings::default();
    worker.database.url = SecretString::from(db.url.clone());
    worker.database.max_connections = 2;
    worker.amqp.url = Some(SecretString::from(AMQP_URL));
    worker.sync.amqp_prefix = prefix.clone();
    worker.sync.simulator_products = 20;
    let run = tokio::spawn(sync::worker::run(worker));
    let started = next_data(&mut console, "sync").await;
    assert_eq!(started["syncStatusChanged"]["kind"], "RUN_STARTED");
    let run_id = started["syncStatusChanged"]["runId"].clone();
    assert!(run_id.is_string(), "{started}");
    let progress = next_data(&mut console, "sync").await;
    assert_eq!(progress["syncStatusChanged"]["runId"], run_id, "{progress}");
    assert!(
        ["PROGRESS", "ENTITY_FINISHED"].contains(
            &progress["syncStatusChanged"]["kind"]
                .as_str()
                .unwrap_or_default()
        ),
        "{progress}"
    );
    let finished = tokio::time::timeout(Duration::from_secs(120), run)
        .await
        .expect("the worker's run ends")
        .unwrap()
        .expect("the worker's run");
    assert!(finished, "the worker's run succeeded");
}

/// The JSON log lines of `server` whose message is `message`, waiting up to 20 s for one.
async fn wait_for_log(server: &TestServer, message: &str) -> Vec<Value> {
    for _ in 0..200 {
        let found: Vec<Value> = server
            .output
            .lock()
            .unwrap()
            .iter()
            .filter_map(|line| serde_json::from_str::<Value>(line).ok())
            .filter(|line| line["message"] == message)
            .collect();
        if !found.is_empty() {
            return found;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("no `{message}` in the server's log");
}
