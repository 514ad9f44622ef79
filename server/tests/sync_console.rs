//! The admin sync console end to end: the real server binary on PostgreSQL, a Mahak simulator
//! over HTTP, staff signed in over HTTP, subscriptions over a real WebSocket
//! (`graphql-transport-ws`).
//!
//! - live progress of a triggered sync, from the sync running inside the server (its events)
//!   and from a separate worker (read from the database);
//! - `syncStatus`, `syncRuns` and `syncRequest` against the database afterwards;
//! - dead letters made by a real sync (a row Mahak sends that cannot be read, and one the
//!   database refuses), announced, listed, replayed (failing, then after the fix) and
//!   discarded;
//! - `orderPlaced` on a checkout;
//! - the live page at `/admin/sync`.

mod admin;
mod common;
#[allow(dead_code)]
mod kavenegar_sim;
mod shop;

use std::time::Duration;

use common::seed::{self, ProductSpec};
use common::{error_codes, TestDb, TestServer};
use entity::{audit_entries, sync_checkpoints, sync_runs};
use futures::{SinkExt, StreamExt};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder,
};
use serde_json::{json, Value};
use sync::mahak::Entity;
use sync::pipeline::events::Events;
use sync::simulator::{self, DataSizes, Faults, RunningSimulator, SimulatorConfig};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use admin::{admin_gql, staff_token};

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

const STATUS_CHANGED: &str = "subscription { syncStatusChanged { kind runId entity entityFetched runFetched entitiesDone entitiesTotal outcome error status { openDeadLetters entities { entity checkpoint caughtUp openDeadLetters lastRun { runId fetched } } } } }";

async fn simulator(products: usize) -> RunningSimulator {
    simulator::start(SimulatorConfig {
        sizes: DataSizes::for_products(products),
        seed: 7,
        ..SimulatorConfig::default()
    })
    .await
    .expect("simulator")
}

/// Adds `n` new warehouses to Mahak, so the next sync of `Store` fetches several pages.
fn add_stores(sim: &RunningSimulator, from: i64, n: i64) {
    let control = sim.control();
    for id in from..from + n {
        control.upsert_row(
            Entity::Store,
            json!({ "StoreId": id, "StoreCode": id, "Name": format!("انبار {id}"), "Deleted": false }),
        );
    }
}

/// A WebSocket on `/admin/graphql`, initialised with the staff token and acknowledged.
async fn admin_socket(server: &TestServer, token: &str) -> Ws {
    let url = server.url("/admin/graphql").replacen("http://", "ws://", 1);
    let mut request = url.into_client_request().unwrap();
    request.headers_mut().insert(
        "sec-websocket-protocol",
        "graphql-transport-ws".parse().unwrap(),
    );
    let (mut ws, _) = tokio_tungstenite::connect_async(request)
        .await
        .expect("WebSocket handshake");
    send(
        &mut ws,
        json!({ "type": "connection_init", "payload": { "Authorization": format!("Bearer {token}") } }),
    )
    .await;
    assert_eq!(recv(&mut ws).await, json!({ "type": "connection_ack" }));
    ws
}

async fn send(ws: &mut Ws, message: Value) {
    ws.send(Message::Text(message.to_string().into()))
        .await
        .expect("send");
}

async fn subscribe(ws: &mut Ws, id: &str, query: &str) {
    send(
        ws,
        json!({ "id": id, "type": "subscribe", "payload": { "query": query } }),
    )
    .await;
}

/// The next protocol message (WebSocket pings skipped); 60 s at most, so a broken server fails
/// the test instead of hanging it.
async fn recv(ws: &mut Ws) -> Value {
    loop {
        let frame = tokio::time::timeout(Duration::from_secs(60), ws.next())
            .await
            .expect("a message within 60 s")
            .expect("socket open")
            .expect("a frame");
        match frame {
            Message::Text(text) => return serde_json::from_str(text.as_str()).expect("JSON"),
            Message::Ping(_) | Message::Pong(_) => continue,
            other => panic!("expected a text message, got {other:?}"),
        }
    }
}

/// The data of the next `next` message of operation `id`.
async fn next_data(ws: &mut Ws, id: &str, field: &str) -> Value {
    let message = recv(ws).await;
    assert_eq!(message["type"], "next", "{message}");
    assert_eq!(message["id"], id, "{message}");
    assert!(message["payload"]["errors"].is_null(), "{message}");
    message["payload"]["data"][field].clone()
}

/// Waits until no run is in progress (the embedded sync's first run at start, say).
async fn wait_idle(conn: &DatabaseConnection) {
    for _ in 0..600 {
        let running = sync_runs::Entity::find()
            .filter(sync_runs::Column::Outcome.eq("running"))
            .count(conn)
            .await
            .unwrap();
        // A run that succeeded, not just any finished run: a first run that failed (the
        // daemon retries it) would let the test change Mahak while the retry is fetching.
        let succeeded = sync_runs::Entity::find()
            .filter(sync_runs::Column::Outcome.eq("succeeded"))
            .count(conn)
            .await
            .unwrap();
        if running == 0 && succeeded > 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the first sync run did not end within 60 s");
}

async fn trigger(server: &TestServer, token: &str, entity: &str) -> String {
    let body = admin_gql(
        server,
        Some(token),
        "mutation($e: MahakEntity) { triggerSync(entity: $e) { id entity pickedUpAt runId } }",
        json!({ "e": entity }),
    )
    .await;
    assert!(body["errors"].is_null(), "{body}");
    assert_eq!(body["data"]["triggerSync"]["entity"], entity);
    body["data"]["triggerSync"]["id"]
        .as_str()
        .unwrap()
        .to_string()
}

/// Every change of the run `run_id` up to its `RUN_FINISHED` (changes of other runs skipped).
async fn changes_of_run(ws: &mut Ws, first: Value) -> Vec<Value> {
    let run_id = first["runId"].clone();
    let mut changes = vec![first];
    loop {
        let change = next_data(ws, "sync", "syncStatusChanged").await;
        if change["runId"] != run_id {
            continue;
        }
        let done = change["kind"] == "RUN_FINISHED";
        changes.push(change);
        if done {
            return changes;
        }
    }
}

/// Progress events of the run must count up, per entity, and the run must end well.
fn check_progress(changes: &[Value], entity: &str) -> Vec<i64> {
    assert_eq!(changes[0]["kind"], "RUN_STARTED", "{changes:?}");
    assert_eq!(changes[0]["entitiesTotal"], 1, "{changes:?}");
    let counts: Vec<i64> = changes
        .iter()
        .filter(|c| c["kind"] == "PROGRESS")
        .map(|c| {
            assert_eq!(c["entity"], entity, "{c}");
            c["entityFetched"].as_i64().unwrap()
        })
        .collect();
    assert!(
        counts.windows(2).all(|w| w[0] < w[1]),
        "progress counts go up: {counts:?}"
    );
    let finished: Vec<&Value> = changes
        .iter()
        .filter(|c| c["kind"] == "ENTITY_FINISHED")
        .collect();
    assert_eq!(finished.len(), 1, "{changes:?}");
    assert_eq!(finished[0]["entity"], entity);
    assert_eq!(finished[0]["entitiesDone"], 1);
    let last = changes.last().unwrap();
    assert_eq!(last["kind"], "RUN_FINISHED");
    assert_eq!(last["outcome"], "SUCCEEDED", "{last}");
    assert_eq!(last["entitiesDone"], 1);
    counts
}

#[tokio::test]
async fn live_sync_progress_over_websocket_while_the_embedded_sync_runs() {
    let db = TestDb::postgres().await;
    let sim = simulator(10).await;
    let base_url = sim.base_url();
    let server = TestServer::start_with(
        &db,
        &[
            ("APP__SYNC__EMBEDDED", "true"),
            ("APP__MAHAK__BASE_URL", &base_url),
            ("APP__SYNC__INTERVAL_SECS", "3600"),
            ("APP__SYNC__PAGE_SIZE", "10"),
            ("APP__SYNC__MAX_PAGE_SIZE", "100"),
        ],
    )
    .await;
    let conn = db.connect().await;
    wait_idle(&conn).await;
    add_stores(&sim, 5000, 57);
    let token = staff_token(&server, &db, &["sync"]).await;

    let mut ws = admin_socket(&server, &token).await;
    subscribe(&mut ws, "sync", STATUS_CHANGED).await;
    let snapshot = next_data(&mut ws, "sync", "syncStatusChanged").await;
    assert_eq!(snapshot["kind"], "SNAPSHOT", "{snapshot}");
    assert_eq!(snapshot["status"]["entities"].as_array().unwrap().len(), 18);

    let request = trigger(&server, &token, "STORE").await;
    let started = loop {
        let change = next_data(&mut ws, "sync", "syncStatusChanged").await;
        if change["kind"] == "RUN_STARTED" {
            break change;
        }
    };
    let changes = changes_of_run(&mut ws, started).await;
    let counts = check_progress(&changes, "STORE");
    // 57 new rows (and the rows at the checkpoint's RowVersion again) in pages of 10: every
    // page is reported as it is handed on.
    assert!(counts.len() >= 6, "{counts:?}");
    assert!(*counts.last().unwrap() >= 57, "{counts:?}");
    let run_id = changes[0]["runId"].as_str().unwrap().to_string();
    let finished = changes.last().unwrap();
    assert_eq!(finished["runFetched"], *counts.last().unwrap());

    // The request names its run; the run, the status and the history match the database.
    let body = admin_gql(
        &server,
        Some(&token),
        "query($id: ID!) { syncRequest(id: $id) { runId pickedUpAt run { outcome trigger entities fetched entityRuns { entity fetched } } } }",
        json!({ "id": request }),
    )
    .await;
    let answered = &body["data"]["syncRequest"];
    assert_eq!(answered["runId"], run_id.as_str(), "{body}");
    assert!(answered["pickedUpAt"].is_string());
    assert_eq!(answered["run"]["trigger"], "request");
    assert_eq!(answered["run"]["entities"], json!(["STORE"]));
    let row = sync_runs::Entity::find_by_id(uuid::Uuid::parse_str(&run_id).unwrap())
        .one(&conn)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.outcome, "succeeded");
    assert_eq!(answered["run"]["fetched"], row.fetched);
    assert_eq!(answered["run"]["entityRuns"][0]["fetched"], row.fetched);
    assert_eq!(row.fetched, *counts.last().unwrap());

    let status = admin_gql(
        &server,
        Some(&token),
        "{ syncStatus { pendingRequests runningRuns { id } entities { entity checkpoint caughtUp lagSeconds openDeadLetters lastRun { runId outcome fetched } running { fetched } } } }",
        json!({}),
    )
    .await;
    assert!(status["errors"].is_null(), "{status}");
    let status = &status["data"]["syncStatus"];
    assert_eq!(status["pendingRequests"], 0);
    assert_eq!(status["runningRuns"], json!([]));
    let checkpoints = sync_checkpoints::Entity::find().all(&conn).await.unwrap();
    for entity in status["entities"].as_array().unwrap() {
        let name = Entity::ALL
            .into_iter()
            .map(Entity::name)
            .find(|n| n.to_uppercase() == entity["entity"].as_str().unwrap().replace('_', ""))
            .expect("a known entity");
        let checkpoint = checkpoints.iter().find(|c| c.entity == name).unwrap();
        assert_eq!(
            entity["checkpoint"],
            checkpoint.row_version.to_string(),
            "{entity}"
        );
        assert_eq!(entity["caughtUp"], true, "{entity}");
        assert!(entity["lagSeconds"].as_i64().unwrap() >= 0);
        assert!(entity["running"].is_null());
    }
    let store = status["entities"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["entity"] == "STORE")
        .unwrap();
    assert_eq!(store["lastRun"]["runId"], run_id.as_str());
    assert_eq!(store["lastRun"]["outcome"], "SUCCEEDED");
    assert_eq!(store["lastRun"]["fetched"], row.fetched);
    // The status the run's last event carried says the same.
    let carried = finished["status"]["entities"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["entity"] == "STORE")
        .unwrap();
    assert_eq!(carried["checkpoint"], store["checkpoint"]);

    let runs = admin_gql(
        &server,
        Some(&token),
        "{ syncRuns(first: 1) { edges { cursor node { id trigger outcome fetched } } pageInfo { hasNextPage endCursor } } }",
        json!({}),
    )
    .await;
    let page = &runs["data"]["syncRuns"];
    assert_eq!(page["edges"][0]["node"]["id"], run_id.as_str(), "{runs}");
    assert_eq!(
        page["pageInfo"]["hasNextPage"], true,
        "the start-up run is older"
    );
    let older = admin_gql(
        &server,
        Some(&token),
        "query($a: String) { syncRuns(first: 10, after: $a) { edges { node { trigger } } pageInfo { hasNextPage } } }",
        json!({ "a": page["pageInfo"]["endCursor"] }),
    )
    .await;
    assert_eq!(
        older["data"]["syncRuns"]["edges"],
        json!([{ "node": { "trigger": "daemon" } }]),
        "{older}"
    );
    let bad = admin_gql(
        &server,
        Some(&token),
        "{ syncRuns(first: 0) { edges { cursor } } }",
        json!({}),
    )
    .await;
    assert_eq!(error_codes(&bad), ["BAD_USER_INPUT"]);
    assert_eq!(bad["errors"][0]["extensions"]["field"], "first");

    // Without the sync permission: refused, over HTTP and over the socket.
    let catalogue = staff_token(&server, &db, &["catalogue"]).await;
    let refused = admin_gql(
        &server,
        Some(&catalogue),
        "{ syncStatus { openDeadLetters } }",
        json!({}),
    )
    .await;
    assert_eq!(error_codes(&refused), ["FORBIDDEN"]);
    let mut other = admin_socket(&server, &catalogue).await;
    subscribe(&mut other, "sync", STATUS_CHANGED).await;
    let refused = recv(&mut other).await;
    assert_eq!(refused["type"], "error", "{refused}");
    assert_eq!(
        error_codes(&json!({ "errors": refused["payload"] })),
        ["FORBIDDEN"]
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn live_sync_progress_of_a_separate_worker_is_read_from_the_database() {
    let db = TestDb::postgres().await;
    let sim = simulator(5).await;
    // The sync runs elsewhere (here: in the test process), the server only sees the database.
    let server = TestServer::start_with(&db, &[("APP__GRAPHQL__SYNC_STATUS_POLL_MS", "20")]).await;
    let conn = db.connect().await;
    let settings = sync::worker::SyncSettings {
        page_size: 10,
        max_page_size: 100,
        ..Default::default()
    };
    let mahak = sync::worker::connect_mahak(
        &sync::settings::MahakSettings {
            base_url: Some(sim.base_url()),
            ..Default::default()
        },
        &settings,
    )
    .await
    .unwrap();
    let runner = sync::worker::build_runner(
        &conn,
        mahak.client.clone(),
        &Default::default(),
        &settings,
        Events::default(),
    )
    .await
    .unwrap();
    runner.run_once("setup").await.unwrap();
    add_stores(&sim, 7000, 45);
    // Slow answers, so the worker's pages are seen one by one.
    sim.control().set_faults(Faults {
        latency_ms: 200,
        ..Faults::default()
    });

    let token = staff_token(&server, &db, &["sync"]).await;
    let mut ws = admin_socket(&server, &token).await;
    subscribe(&mut ws, "sync", STATUS_CHANGED).await;
    let snapshot = next_data(&mut ws, "sync", "syncStatusChanged").await;
    assert_eq!(snapshot["kind"], "SNAPSHOT");
    let request = trigger(&server, &token, "STORE").await;

    let (stop, mut stopped) = tokio::sync::watch::channel(false);
    let worker = tokio::spawn(async move {
        runner
            .daemon(Duration::from_secs(3600), async move {
                let _ = stopped.wait_for(|s| *s).await;
            })
            .await;
    });
    let started = loop {
        let change = next_data(&mut ws, "sync", "syncStatusChanged").await;
        if change["kind"] == "RUN_STARTED" {
            break change;
        }
    };
    let changes = changes_of_run(&mut ws, started).await;
    let counts = check_progress(&changes, "STORE");
    // Six pages of 200 ms each, read every 20 ms: the progress is seen while it happens.
    assert!(counts.len() >= 2, "{counts:?}");
    let run_id = changes[0]["runId"].as_str().unwrap();
    let row = sync_runs::Entity::find_by_id(uuid::Uuid::parse_str(run_id).unwrap())
        .one(&conn)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.trigger, "request");
    assert_eq!(
        row.fetched,
        changes.last().unwrap()["runFetched"].as_i64().unwrap()
    );
    assert!(row.fetched >= 45);
    let finished = changes
        .iter()
        .find(|c| c["kind"] == "ENTITY_FINISHED")
        .unwrap();
    assert_eq!(finished["entityFetched"], row.fetched);
    let answered = admin_gql(
        &server,
        Some(&token),
        "query($id: ID!) { syncRequest(id: $id) { runId } }",
        json!({ "id": request }),
    )
    .await;
    assert_eq!(answered["data"]["syncRequest"]["runId"], run_id);

    let _ = stop.send(true);
    worker.await.unwrap();
    sim.shutdown().await;
}

#[tokio::test]
async fn dead_letters_are_announced_listed_replayed_and_discarded() {
    let db = TestDb::postgres().await;
    let sim = simulator(3).await;
    let server = TestServer::start(&db).await;
    let conn = db.connect().await;
    let token = staff_token(&server, &db, &["sync"]).await;

    // Two rows that cannot be applied: one Mahak sends unreadable, one the database refuses
    // (a rule the shop added).
    conn.execute_unprepared(
        "ALTER TABLE warehouses ADD CONSTRAINT no_closed CHECK (name <> 'بسته')",
    )
    .await
    .unwrap();
    let closed = sim.control().upsert_row(
        Entity::Store,
        json!({ "StoreId": 777, "StoreCode": 777, "Name": "بسته", "Deleted": false }),
    );
    sim.control().insert_malformed_row(
        Entity::Store,
        json!({ "StoreId": 900001, "StoreCode": "abc", "Name": "x", "Deleted": false }),
    );

    let mut ws = admin_socket(&server, &token).await;
    subscribe(
        &mut ws,
        "letters",
        "subscription { deadLetterAdded { id entity mahakId error attempts open payload } }",
    )
    .await;
    // Nothing is announced before the sync makes letters: a ping is answered first.
    send(&mut ws, json!({ "type": "ping" })).await;
    assert_eq!(recv(&mut ws).await, json!({ "type": "pong" }));

    // A worker elsewhere (here: in the test process) syncs the warehouses.
    let mahak = sync::worker::connect_mahak(
        &sync::settings::MahakSettings {
            base_url: Some(sim.base_url()),
            ..Default::default()
        },
        &Default::default(),
    )
    .await
    .unwrap();
    let mut runner = sync::worker::build_runner(
        &conn,
        mahak.client.clone(),
        &Default::default(),
        &Default::default(),
        Events::default(),
    )
    .await
    .unwrap();
    runner.entities = vec![Entity::Store];
    runner.run_once("test").await.unwrap();

    let mut announced = vec![
        next_data(&mut ws, "letters", "deadLetterAdded").await,
        next_data(&mut ws, "letters", "deadLetterAdded").await,
    ];
    announced.sort_by_key(|l| l["id"].as_str().unwrap().parse::<i64>().unwrap());
    for letter in &announced {
        assert_eq!(letter["entity"], "STORE");
        assert_eq!(letter["open"], true);
        // The inclusive cursor may meet the last row twice in a run: one letter, more attempts.
        assert!(letter["attempts"].as_i64().unwrap() >= 1, "{letter}");
        assert!(!letter["error"].as_str().unwrap().is_empty());
    }
    let closed_id = closed.to_string();
    let refused = announced
        .iter()
        .find(|l| l["mahakId"].as_str() == Some(closed_id.as_str()))
        .expect("the refused row's letter");
    assert_eq!(refused["payload"]["Name"], "بسته");
    let unreadable = announced
        .iter()
        .find(|l| l["payload"]["StoreCode"] == "abc")
        .expect("the unreadable row's letter");
    let (refused_id, unreadable_id) = (
        refused["id"].as_str().unwrap().to_string(),
        unreadable["id"].as_str().unwrap().to_string(),
    );

    let list = |open_only: bool| {
        let (server, token) = (&server, &token);
        async move {
            let body = admin_gql(
                server,
                Some(token),
                "query($o: Boolean) { deadLetters(first: 10, entity: STORE, openOnly: $o) { edges { node { id open error discardReason } } pageInfo { hasNextPage } } }",
                json!({ "o": open_only }),
            )
            .await;
            assert!(body["errors"].is_null(), "{body}");
            body["data"]["deadLetters"]["edges"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["node"].clone())
                .collect::<Vec<Value>>()
        }
    };
    let open = list(true).await;
    assert_eq!(open.len(), 2, "{open:?}");
    // Newest first.
    assert_eq!(
        open[0]["id"],
        unreadable_id.as_str().max(refused_id.as_str())
    );

    // Replayed before the fix: still failing, counted, still open, nothing lost.
    let replay = |id: String| {
        let (server, token) = (&server, &token);
        async move {
            admin_gql(
                server,
                Some(token),
                "mutation($id: ID!) { replayDeadLetter(id: $id) { replayed error deadLetter { open attempts } } }",
                json!({ "id": id }),
            )
            .await
        }
    };
    let body = replay(refused_id.clone()).await;
    let result = &body["data"]["replayDeadLetter"];
    assert_eq!(result["replayed"], false, "{body}");
    assert!(
        result["error"].as_str().unwrap().contains("no_closed"),
        "{body}"
    );
    assert_eq!(result["deadLetter"]["open"], true);
    assert_eq!(
        result["deadLetter"]["attempts"].as_i64(),
        refused["attempts"].as_i64().map(|a| a + 1),
        "the failed replay is counted"
    );

    // After the fix, replaying the entity's letters applies the refused row; the unreadable
    // one still fails.
    conn.execute_unprepared("ALTER TABLE warehouses DROP CONSTRAINT no_closed")
        .await
        .unwrap();
    let body = admin_gql(
        &server,
        Some(&token),
        "mutation { replayDeadLetters(entity: STORE) { replayed stillFailing results { replayed deadLetter { id open replayedAt } } } }",
        json!({}),
    )
    .await;
    let summary = &body["data"]["replayDeadLetters"];
    assert_eq!(summary["replayed"], 1, "{body}");
    assert_eq!(summary["stillFailing"], 1, "{body}");
    let warehouse: Vec<(String,)> = {
        use sea_orm::{FromQueryResult, Statement};
        #[derive(FromQueryResult)]
        struct Name {
            name: String,
        }
        Name::find_by_statement(Statement::from_string(
            conn.get_database_backend(),
            format!("SELECT name FROM warehouses WHERE mahak_id = {closed}"),
        ))
        .all(&conn)
        .await
        .unwrap()
        .into_iter()
        .map(|n| (n.name,))
        .collect()
    };
    assert_eq!(warehouse, [("بسته".to_string(),)]);
    // Replaying it again is a conflict.
    let again = replay(refused_id.clone()).await;
    assert_eq!(error_codes(&again), ["CONFLICT"], "{again}");

    // Discarding needs a reason; an unknown letter is NOT_FOUND; a second discard CONFLICT.
    let discard = |id: String, reason: &'static str| {
        let (server, token) = (&server, &token);
        async move {
            admin_gql(
                server,
                Some(token),
                "mutation($id: ID!, $r: String!) { discardDeadLetter(id: $id, reason: $r) { id open discardedAt discardReason } }",
                json!({ "id": id, "r": reason }),
            )
            .await
        }
    };
    let body = discard(unreadable_id.clone(), "  ").await;
    assert_eq!(error_codes(&body), ["BAD_USER_INPUT"]);
    assert_eq!(body["errors"][0]["extensions"]["field"], "reason");
    assert_eq!(
        error_codes(&discard("999999".into(), "x").await),
        ["NOT_FOUND"]
    );
    let body = discard(unreadable_id.clone(), "Mahak sent garbage; fixed there").await;
    let discarded = &body["data"]["discardDeadLetter"];
    assert_eq!(discarded["open"], false, "{body}");
    assert_eq!(
        discarded["discardReason"],
        "Mahak sent garbage; fixed there"
    );
    assert!(discarded["discardedAt"].is_string());
    assert_eq!(
        error_codes(&discard(unreadable_id.clone(), "again").await),
        ["CONFLICT"]
    );

    assert!(list(true).await.is_empty());
    let all = list(false).await;
    assert_eq!(all.len(), 2);
    let status = admin_gql(
        &server,
        Some(&token),
        "{ syncStatus { openDeadLetters entities { entity openDeadLetters } } }",
        json!({}),
    )
    .await;
    assert_eq!(
        status["data"]["syncStatus"]["openDeadLetters"], 0,
        "{status}"
    );

    // Each action is in the audit log, by whom and on what.
    let actions: Vec<String> = audit_entries::Entity::find()
        .order_by_asc(audit_entries::Column::CreatedAt)
        .all(&conn)
        .await
        .unwrap()
        .into_iter()
        .map(|a| a.action)
        .filter(|a| a.starts_with("dead_letter."))
        .collect();
    assert_eq!(
        actions,
        [
            "dead_letter.replay",
            "dead_letter.replay_all",
            "dead_letter.discard"
        ]
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn staff_are_told_of_each_order_placed() {
    let db = TestDb::postgres().await;
    let (server, sms) = shop::start(&db, &[]).await;
    let conn = db.connect().await;
    let staff = staff_token(&server, &db, &["orders"]).await;
    let mut ws = admin_socket(&server, &staff).await;
    subscribe(
        &mut ws,
        "orders",
        "subscription { orderPlaced { id number status grandTotal placedAt } }",
    )
    .await;
    // Staff without the orders permission are refused.
    let sync_only = staff_token(&server, &db, &["sync"]).await;
    let mut other = admin_socket(&server, &sync_only).await;
    subscribe(&mut other, "orders", "subscription { orderPlaced { id } }").await;
    let refused = recv(&mut other).await;
    assert_eq!(refused["type"], "error", "{refused}");
    assert_eq!(
        error_codes(&json!({ "errors": refused["payload"] })),
        ["FORBIDDEN"]
    );

    let customer = shop::sign_in(&server, &sms, "09121119001", None).await;
    let address = shop::add_home_address(&server, &customer).await;
    let mut spec = ProductSpec::new(880, "Tea");
    spec.variants = vec![(Some(1_000_000), 50.0)];
    seed::product(&conn, &spec).await;
    let variant = entity::variants::Entity::find()
        .filter(entity::variants::Column::MahakId.eq(8800))
        .one(&conn)
        .await
        .unwrap()
        .expect("variant seeded")
        .id;
    let mut placed = Vec::new();
    for key in ["k1", "k1", "k2"] {
        let added = shop::gql(
            &server,
            "mutation($v: ID!) { addToCart(variantId: $v, quantity: 1) { itemCount } }",
            json!({ "v": variant.to_string() }),
            Some(&customer),
            None,
        )
        .await;
        assert!(added["errors"].is_null(), "{added}");
        let order = shop::gql(
            &server,
            "mutation($i: CheckoutInput!) { checkout(input: $i) { id number grandTotal } }",
            json!({ "i": { "addressId": address, "idempotencyKey": key } }),
            Some(&customer),
            None,
        )
        .await;
        assert!(order["errors"].is_null(), "{order}");
        placed.push(order["data"]["checkout"].clone());
    }
    // The repeated checkout (same key) answered with the first order and placed nothing.
    assert_eq!(placed[0]["id"], placed[1]["id"]);
    for order in [&placed[0], &placed[2]] {
        let event = next_data(&mut ws, "orders", "orderPlaced").await;
        assert_eq!(event["id"], order["id"], "{event}");
        assert_eq!(event["number"], order["number"]);
        assert_eq!(event["grandTotal"], order["grandTotal"]);
        assert_eq!(event["status"], "PENDING_PAYMENT");
    }
    send(&mut ws, json!({ "type": "ping" })).await;
    assert_eq!(recv(&mut ws).await, json!({ "type": "pong" }));
}

#[tokio::test]
async fn the_live_sync_page_is_served() {
    let db = TestDb::postgres().await;
    let server = TestServer::start(&db).await;
    let response = server
        .client
        .get(server.url("/admin/sync"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .map(|v| v.to_str().unwrap().to_string())
            .unwrap_or_default()
    };
    assert!(header("content-type").starts_with("text/html"));
    let csp = header("content-security-policy");
    assert!(csp.contains("default-src 'self'"), "{csp}");
    assert!(csp.contains("script-src 'self' 'unsafe-inline'"), "{csp}");
    assert!(!csp.contains('*'), "{csp}");
    let page = response.text().await.unwrap();
    for needle in [
        "new WebSocket(url, \"graphql-transport-ws\")",
        "connection_init",
        "syncStatusChanged",
        "signIn(email: $e, password: $p)",
        "replayDeadLetters",
        "sessionStorage",
    ] {
        assert!(page.contains(needle), "the page has {needle}");
    }
    // Nothing is loaded from elsewhere.
    assert!(!page.contains("http://") && !page.contains("https://"));
}

#[tokio::test]
async fn the_embedded_default_on_sqlite_shows_a_triggered_sync_live() {
    let db = TestDb::sqlite();
    let server = TestServer::start_with(
        &db,
        &[
            ("APP__SYNC__EMBEDDED", "true"),
            ("APP__SYNC__SIMULATOR_PRODUCTS", "20"),
            ("APP__SYNC__INTERVAL_SECS", "3600"),
        ],
    )
    .await;
    let conn = db.connect().await;
    wait_idle(&conn).await;
    let token = staff_token(&server, &db, &["sync"]).await;
    let mut ws = admin_socket(&server, &token).await;
    subscribe(&mut ws, "sync", STATUS_CHANGED).await;
    let snapshot = next_data(&mut ws, "sync", "syncStatusChanged").await;
    assert_eq!(snapshot["kind"], "SNAPSHOT", "{snapshot}");
    trigger(&server, &token, "STORE").await;
    let started = loop {
        let change = next_data(&mut ws, "sync", "syncStatusChanged").await;
        if change["kind"] == "RUN_STARTED" {
            break change;
        }
    };
    let changes = changes_of_run(&mut ws, started).await;
    check_progress(&changes, "STORE");
    let status = admin_gql(
        &server,
        Some(&token),
        "{ syncStatus { entities { entity checkpoint caughtUp lastRun { runId } } } syncRuns(first: 5) { edges { node { id trigger } } } }",
        json!({}),
    )
    .await;
    assert!(status["errors"].is_null(), "{status}");
    let store = status["data"]["syncStatus"]["entities"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["entity"] == "STORE")
        .unwrap()
        .clone();
    assert_eq!(store["lastRun"]["runId"], changes[0]["runId"], "{status}");
    assert_eq!(store["caughtUp"], true);
    let checkpoint = sync_checkpoints::Entity::find_by_id("Store".to_string())
        .one(&conn)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(store["checkpoint"], checkpoint.row_version.to_string());
    let runs = status["data"]["syncRuns"]["edges"].as_array().unwrap();
    assert_eq!(runs[0]["node"]["id"], changes[0]["runId"]);
    assert_eq!(runs[0]["node"]["trigger"], "request");
}
