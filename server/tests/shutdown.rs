//! Rolling restart of the server, end to end against the real binary on PostgreSQL with a
//! real WebSocket client: SIGTERM closes each GraphQL WebSocket with 1001 ("Going Away", which
//! graphql-ws clients retry) through a proper closing handshake, the process exits with
//! status 0, and the client reconnects to another replica on the same database and gets its
//! subscription's current state again.

mod common;
mod gql_ws;
#[allow(dead_code)]
mod kavenegar_sim;
mod shop;

use std::time::Duration;

use common::seed::{self, ProductSpec};
use common::{TestDb, TestServer};
use futures::StreamExt;
use gql_ws::Reply;
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

const SUBSCRIPTION: &str =
    "subscription($n: String!) { orderStatusChanged(orderNumber: $n) { orderNumber fromStatus status } }";

/// Seeds a product, fills the customer's cart and checks out; returns the order's number.
async fn place_order(server: &TestServer, conn: &DatabaseConnection, token: &str) -> String {
    let mut spec = ProductSpec::new(900, "Lamp");
    spec.variants = vec![(Some(1_000_000), 5.0)];
    seed::product(conn, &spec).await;
    let variant = entity::variants::Entity::find()
        .filter(entity::variants::Column::MahakId.eq(9000))
        .one(conn)
        .await
        .unwrap()
        .expect("variant seeded")
        .id;
    let address = shop::add_home_address(server, token).await;
    let added = shop::gql(
        server,
        "mutation($v: ID!) { addToCart(variantId: $v, quantity: 1) { itemCount } }",
        json!({ "v": variant.to_string() }),
        Some(token),
        None,
    )
    .await;
    assert!(added["errors"].is_null(), "{added}");
    let order = shop::gql(
        server,
        "mutation($i: CheckoutInput!) { checkout(input: $i) { number } }",
        json!({ "i": { "addressId": address } }),
        Some(token),
        None,
    )
    .await;
    assert!(order["errors"].is_null(), "{order}");
    order["data"]["checkout"]["number"]
        .as_str()
        .unwrap()
        .to_string()
}

/// A socket on `server` signed in as `token`, subscribed to `order`, past its first event
/// (the order's current status).
async fn watch_order(server: &TestServer, token: &str, order: &str) -> gql_ws::Ws {
    let (mut ws, reply) = gql_ws::init(server, "/graphql", Some(token)).await;
    assert_eq!(reply, gql_ws::ack());
    let first = gql_ws::subscribe(&mut ws, "live", SUBSCRIPTION, json!({ "n": order })).await;
    let Reply::Message(first) = first else {
        panic!("expected the initial event, got {first:?}");
    };
    assert_eq!(first["type"], "next", "{first}");
    assert_eq!(first["id"], "live");
    let event = &first["payload"]["data"]["orderStatusChanged"];
    assert_eq!(event["orderNumber"], order);
    assert_eq!(event["status"], "PENDING_PAYMENT");
    assert!(event["fromStatus"].is_null(), "{first}");
    ws
}

/// Reads until the server's close frame and returns its code and reason, then requires the
/// connection to end cleanly: the client's close reply goes out (tungstenite answers while
/// reading on), and the stream ends without an error. A TCP reset or a connection dropped
/// without a close frame fails. Text frames before the close are returned too (the server
/// flushes what it had queued); the 10 s bound is a liveness bound, not a timing assertion.
async fn close_of(ws: &mut gql_ws::Ws) -> (u16, String, Vec<Value>) {
    let mut before = Vec::new();
    let (code, reason) = loop {
        let frame = tokio::time::timeout(Duration::from_secs(10), ws.next())
            .await
            .expect("the server closes within 10 s");
        match frame {
            Some(Ok(Message::Close(Some(frame)))) => {
                break (u16::from(frame.code), frame.reason.to_string())
            }
            Some(Ok(Message::Close(None))) => panic!("closed without a code"),
            Some(Ok(Message::Text(text))) => {
                before.push(serde_json::from_str(text.as_str()).expect("JSON message"));
            }
            Some(Ok(_)) => continue,
            Some(Err(err)) => panic!("socket error before the close frame: {err}"),
            None => panic!("socket ended without a close frame"),
        }
    };
    let end = tokio::time::timeout(Duration::from_secs(10), ws.next())
        .await
        .expect("the connection ends after the closing handshake");
    assert!(
        end.is_none(),
        "after the close frame the connection must end cleanly, got {end:?}"
    );
    (code, reason, before)
}

#[tokio::test]
async fn sigterm_closes_websockets_with_going_away_and_clients_reconnect_elsewhere() {
    let db = TestDb::postgres().await;
    let conn = db.connect().await;
    let (mut old, sms) = shop::start(&db, &[]).await;
    let token = shop::sign_in(&old, &sms, "09121110001", None).await;
    let order = place_order(&old, &conn, &token).await;

    let mut watcher = watch_order(&old, &token, &order).await;
    // An acknowledged socket with no operation is closed the same way.
    let (mut idle, reply) = gql_ws::init(&old, "/graphql", None).await;
    assert_eq!(reply, gql_ws::ack());

    // The replacement replica is up before the old one goes (a rolling restart), holding a
    // session of its own that the old replica's shutdown must not touch.
    let (new, _new_sms) = shop::start(&db, &[]).await;
    let (mut bystander, reply) = gql_ws::init(&new, "/graphql", None).await;
    assert_eq!(reply, gql_ws::ack());

    old.send_sigterm();
    let (code, reason, before) = close_of(&mut watcher).await;
    assert_eq!(code, 1001, "Going Away, reason {reason:?}");
    assert_eq!(reason, "Server shutting down");
    assert!(
        before.is_empty(),
        "no event was pending for the watcher: {before:?}"
    );
    let (code, _, _) = close_of(&mut idle).await;
    assert_eq!(code, 1001);
    let status = old
        .exit_status(Duration::from_secs(60))
        .await
        .expect("the server exits once its sockets are closed");
    assert!(status.success(), "exit status {status:?}");

    // The client reconnects (to the other replica) and subscribes again: the current status
    // comes at once, as on the first connection.
    let mut again = watch_order(&new, &token, &order).await;
    gql_ws::send(&mut again, json!({ "type": "ping" })).await;
    assert_eq!(
        gql_ws::next(&mut again).await,
        Reply::Message(json!({ "type": "pong" }))
    );
    gql_ws::send(&mut bystander, json!({ "type": "ping" })).await;
    assert_eq!(
        gql_ws::next(&mut bystander).await,
        Reply::Message(json!({ "type": "pong" })),
        "the other replica's sessions stay open"
    );
}
