//! Live order status over WebSocket (`graphql-transport-ws`), end to end against the real
//! server on PostgreSQL with a real WebSocket client: delivery, isolation between customers,
//! authentication in `connection_init`, and the protocol's close codes, checked frame by frame.

mod common;
#[allow(dead_code)]
mod kavenegar_sim;
mod shop;

use std::time::Duration;

use common::{error_codes, TestDb, TestServer};
use futures::{SinkExt, StreamExt};
use kavenegar_sim::Kavenegar;
use sea_orm::DatabaseConnection;
use serde_json::{json, Value};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

const SUBSCRIPTION: &str =
    "subscription($n: String!) { orderStatusChanged(orderNumber: $n) { orderNumber fromStatus status at } }";

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

struct Shop {
    server: TestServer,
    sms: Kavenegar,
    conn: DatabaseConnection,
}

async fn start(db: &TestDb) -> Shop {
    let (server, sms) = shop::start(db, &[("APP__GRAPHQL__WS_INIT_TIMEOUT_SECS", "1")]).await;
    let conn = db.connect().await;
    Shop { server, sms, conn }
}

impl Shop {
    async fn gql(&self, query: &str, variables: Value, token: Option<&str>) -> Value {
        shop::gql(&self.server, query, variables, token, None).await
    }

    async fn sign_in(&self, national: &str) -> String {
        shop::sign_in(&self.server, &self.sms, national, None).await
    }

    /// Seeds a product, puts two in the customer's cart and checks out; returns the order's
    /// number.
    async fn place_order(&self, token: &str, mahak_id: i64) -> String {
        let variant = shop::seed_variant(&self.conn, mahak_id, 5.0).await;
        shop::buy(&self.server, token, variant, 2).await
    }

    async fn cancel(&self, token: &str, order: &str) -> Value {
        self.gql(
            "mutation($n: String!) { cancelOrder(orderNumber: $n) { number status } }",
            json!({ "n": order }),
            Some(token),
        )
        .await
    }

    /// A WebSocket on `/graphql` speaking `graphql-transport-ws`, before `connection_init`.
    async fn socket(&self) -> Ws {
        let url = self.server.url("/graphql").replacen("http://", "ws://", 1);
        let mut request = url.into_client_request().unwrap();
        request.headers_mut().insert(
            "sec-websocket-protocol",
            "graphql-transport-ws".parse().unwrap(),
        );
        let (ws, response) = tokio_tungstenite::connect_async(request)
            .await
            .expect("WebSocket handshake");
        assert_eq!(
            response.headers()["sec-websocket-protocol"],
            "graphql-transport-ws"
        );
        ws
    }

    /// A socket past `connection_init` with `payload`, acknowledged.
    async fn connected(&self, payload: Value) -> Ws {
        let mut ws = self.socket().await;
        send(
            &mut ws,
            json!({ "type": "connection_init", "payload": payload }),
        )
        .await;
        assert_eq!(recv(&mut ws).await, json!({ "type": "connection_ack" }));
        ws
    }
}

async fn send(ws: &mut Ws, message: Value) {
    send_text(ws, &message.to_string()).await;
}

async fn send_text(ws: &mut Ws, text: &str) {
    ws.send(Message::Text(text.to_string().into()))
        .await
        .expect("send");
}

/// The next protocol message (WebSocket pings are skipped).
async fn recv(ws: &mut Ws) -> Value {
    loop {
        let frame = tokio::time::timeout(Duration::from_secs(10), ws.next())
            .await
            .expect("a message within 10 s")
            .expect("socket open")
            .expect("a frame");
        match frame {
            Message::Text(text) => return serde_json::from_str(text.as_str()).expect("JSON"),
            Message::Ping(_) | Message::Pong(_) => continue,
            other => panic!("expected a text message, got {other:?}"),
        }
    }
}

/// The close code the server ends the socket with.
async fn close_code(ws: &mut Ws) -> u16 {
    loop {
        let frame = tokio::time::timeout(Duration::from_secs(10), ws.next())
            .await
            .expect("the server closes within 10 s");
        match frame {
            Some(Ok(Message::Close(Some(frame)))) => return u16::from(frame.code),
            Some(Ok(Message::Close(None))) => panic!("closed without a code"),
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
            Some(Ok(other)) => panic!("expected a close frame, got {other:?}"),
            Some(Err(err)) => panic!("socket error before the close frame: {err}"),
            None => panic!("socket ended without a close frame"),
        }
    }
}

fn subscribe(id: &str, order: &str) -> Value {
    json!({ "id": id, "type": "subscribe", "payload": { "query": SUBSCRIPTION, "variables": { "n": order } } })
}

/// Proves nothing is queued on the socket: a `ping` is answered by the very next message.
async fn nothing_pending(ws: &mut Ws) {
    send(ws, json!({ "type": "ping" })).await;
    assert_eq!(recv(ws).await, json!({ "type": "pong" }));
}

#[tokio::test]
async fn customers_watch_their_own_orders_live() {
    let db = TestDb::postgres().await;
    let shop = start(&db).await;
    let alice = shop.sign_in("09121110001").await;
    let bob = shop.sign_in("09121110002").await;
    let order = shop.place_order(&alice, 700).await;

    // Alice subscribes and is told the current status at once.
    let mut watcher = shop
        .connected(json!({ "Authorization": format!("Bearer {alice}") }))
        .await;
    send(&mut watcher, subscribe("live", &order)).await;
    let first = recv(&mut watcher).await;
    assert_eq!(first["type"], "next", "{first}");
    assert_eq!(first["id"], "live");
    let event = &first["payload"]["data"]["orderStatusChanged"];
    assert_eq!(event["orderNumber"], order.as_str());
    assert_eq!(event["status"], "PENDING_PAYMENT");
    assert!(event["fromStatus"].is_null(), "{first}");

    // Bob (signed in with `authToken`) gets NOT_FOUND for Alice's order, and no data.
    let mut intruder = shop.connected(json!({ "authToken": bob })).await;
    send(&mut intruder, subscribe("steal", &order)).await;
    let refused = recv(&mut intruder).await;
    assert_eq!(refused["type"], "error", "{refused}");
    assert_eq!(refused["id"], "steal");
    assert_eq!(
        error_codes(&json!({ "errors": refused["payload"] })),
        ["NOT_FOUND"]
    );
    // An unknown id is the same NOT_FOUND.
    send(
        &mut intruder,
        subscribe("unknown", "0190a1b2-0000-7000-8000-000000000000"),
    )
    .await;
    let unknown = recv(&mut intruder).await;
    assert_eq!(unknown["type"], "error", "{unknown}");
    assert_eq!(
        error_codes(&json!({ "errors": unknown["payload"] })),
        ["NOT_FOUND"]
    );
    // Nor can Bob cancel it.
    let body = shop.cancel(&bob, &order).await;
    assert_eq!(error_codes(&body), ["NOT_FOUND"], "{body}");

    // An anonymous connection is accepted, but the order subscription needs a customer.
    let mut anonymous = shop.connected(json!({})).await;
    send(&mut anonymous, subscribe("anon", &order)).await;
    let refused = recv(&mut anonymous).await;
    assert_eq!(refused["type"], "error", "{refused}");
    assert_eq!(
        error_codes(&json!({ "errors": refused["payload"] })),
        ["UNAUTHENTICATED"]
    );

    // Alice cancels the unpaid order: her subscription sees the transition.
    let cancelled = shop.cancel(&alice, &order).await;
    assert!(cancelled["errors"].is_null(), "{cancelled}");
    assert_eq!(cancelled["data"]["cancelOrder"]["status"], "CANCELLED");
    let change = recv(&mut watcher).await;
    assert_eq!(change["type"], "next", "{change}");
    assert_eq!(change["id"], "live");
    let event = &change["payload"]["data"]["orderStatusChanged"];
    assert_eq!(event["fromStatus"], "PENDING_PAYMENT");
    assert_eq!(event["status"], "CANCELLED");
    // A cancelled order cannot be cancelled again.
    let again = shop.cancel(&alice, &order).await;
    assert_eq!(error_codes(&again), ["CONFLICT"], "{again}");

    // Nothing reached Bob's or the anonymous socket.
    nothing_pending(&mut intruder).await;
    nothing_pending(&mut anonymous).await;

    // A late subscriber gets the current status, not a stale one; `complete` stops it.
    send(&mut watcher, subscribe("late", &order)).await;
    let late = recv(&mut watcher).await;
    assert_eq!(late["id"], "late");
    assert_eq!(
        late["payload"]["data"]["orderStatusChanged"]["status"],
        "CANCELLED"
    );
    send(&mut watcher, json!({ "id": "late", "type": "complete" })).await;
    nothing_pending(&mut watcher).await;
    // The id is free again once completed.
    send(&mut watcher, subscribe("late", &order)).await;
    assert_eq!(recv(&mut watcher).await["id"], "late");
}

#[tokio::test]
async fn the_protocol_close_codes_are_graphql_ws() {
    let db = TestDb::postgres().await;
    let shop = start(&db).await;
    let alice = shop.sign_in("09121110003").await;
    let order = shop.place_order(&alice, 710).await;
    let auth = json!({ "Authorization": format!("Bearer {alice}") });

    // 4400: not JSON, an unknown type, a subscribe without a query, a binary frame.
    for text in [
        "not json",
        r#"{"type":"hello"}"#,
        r#"{"type":"subscribe","id":"1","payload":{}}"#,
    ] {
        let mut ws = shop.connected(auth.clone()).await;
        send_text(&mut ws, text).await;
        assert_eq!(close_code(&mut ws).await, 4400, "{text}");
    }
    let mut ws = shop.socket().await;
    send_text(&mut ws, "{").await;
    assert_eq!(close_code(&mut ws).await, 4400);
    let mut ws = shop.connected(auth.clone()).await;
    ws.send(Message::Binary(vec![1, 2, 3].into()))
        .await
        .unwrap();
    assert_eq!(close_code(&mut ws).await, 4400);

    // 4401: subscribe before the connection was acknowledged.
    let mut ws = shop.socket().await;
    send(&mut ws, subscribe("1", &order)).await;
    assert_eq!(close_code(&mut ws).await, 4401);

    // 4403: a token that does not verify, in either form.
    for payload in [
        json!({ "Authorization": "Bearer not-a-token" }),
        json!({ "authToken": "not-a-token" }),
        json!({ "Authorization": "Basic abc" }),
    ] {
        let mut ws = shop.socket().await;
        send(
            &mut ws,
            json!({ "type": "connection_init", "payload": payload }),
        )
        .await;
        assert_eq!(close_code(&mut ws).await, 4403, "{payload}");
    }

    // 4408: no connection_init within `graphql.ws_init_timeout_secs` (1 s here).
    let mut ws = shop.socket().await;
    assert_eq!(close_code(&mut ws).await, 4408);
    // A ping does not count as initialisation.
    let mut ws = shop.socket().await;
    send(&mut ws, json!({ "type": "ping" })).await;
    assert_eq!(recv(&mut ws).await, json!({ "type": "pong" }));
    assert_eq!(close_code(&mut ws).await, 4408);

    // 4409: a second subscribe with the id of a running operation.
    let mut ws = shop.connected(auth.clone()).await;
    send(&mut ws, subscribe("dup", &order)).await;
    assert_eq!(recv(&mut ws).await["type"], "next");
    send(&mut ws, subscribe("dup", &order)).await;
    assert_eq!(close_code(&mut ws).await, 4409);

    // 4429: a second connection_init.
    let mut ws = shop.connected(auth.clone()).await;
    send(
        &mut ws,
        json!({ "type": "connection_init", "payload": auth }),
    )
    .await;
    assert_eq!(close_code(&mut ws).await, 4429);

    // Without the graphql-transport-ws subprotocol the upgrade is refused.
    let url = shop.server.url("/graphql").replacen("http://", "ws://", 1);
    assert!(tokio_tungstenite::connect_async(url).await.is_err());

    // Plain HTTP on the same path is unchanged.
    let body = shop.gql("{ __typename }", json!({}), None).await;
    assert_eq!(body["data"]["__typename"], "ShopQuery");
}

/// The per-request limits (aliases, NUL characters) hold for operations sent over the
/// WebSocket as they do over HTTP: the operation gets an `error`, the socket stays open.
#[tokio::test]
async fn request_limits_apply_to_subscriptions() {
    let db = TestDb::postgres().await;
    let shop = start(&db).await;
    let alice = shop.sign_in("09121110004").await;
    let order = shop.place_order(&alice, 710).await;
    let mut ws = shop
        .connected(json!({ "Authorization": format!("Bearer {alice}") }))
        .await;

    // 31 aliases, one over the default `graphql.max_aliases`.
    let fields: String = (0..31).map(|i| format!(" s{i}: status")).collect();
    let query = format!(
        "subscription($n: String!) {{ orderStatusChanged(orderNumber: $n) {{{fields} }} }}"
    );
    send(
        &mut ws,
        json!({ "id": "aliases", "type": "subscribe", "payload": { "query": query, "variables": { "n": order } } }),
    )
    .await;
    let answer = recv(&mut ws).await;
    assert_eq!(answer["id"], "aliases", "{answer}");
    assert_eq!(answer["type"], "error", "{answer}");
    assert!(
        answer["payload"][0]["message"]
            .as_str()
            .is_some_and(|m| m.contains("at most 30 aliases")),
        "{answer}"
    );

    let nul = json!({ "id": "nul", "type": "subscribe", "payload": { "query": SUBSCRIPTION, "variables": { "n": "a\u{0}b" } } });
    send(&mut ws, nul).await;
    let answer = recv(&mut ws).await;
    assert_eq!(answer["id"], "nul", "{answer}");
    assert_eq!(answer["type"], "error", "{answer}");
    let errors = json!({ "errors": answer["payload"] });
    assert_eq!(error_codes(&errors), vec!["BAD_USER_INPUT"], "{answer}");

    // The socket is still usable: the same subscription within the limits runs.
    send(&mut ws, subscribe("ok", &order)).await;
    assert_eq!(recv(&mut ws).await["type"], "next");
}

#[tokio::test]
async fn a_message_over_the_body_limit_ends_the_connection() {
    let db = TestDb::postgres().await;
    let (server, sms) = shop::start(&db, &[("APP__HTTP__BODY_LIMIT_BYTES", "4096")]).await;
    let shop = Shop {
        server,
        sms,
        conn: db.connect().await,
    };
    let mut ws = shop.connected(json!({})).await;
    // Over `http.body_limit_bytes`, as a request body would be refused over HTTP.
    let query = format!("subscription {{ __typename }} # {}", "x".repeat(8 * 1024));
    send(
        &mut ws,
        json!({ "id": "big", "type": "subscribe", "payload": { "query": query } }),
    )
    .await;
    let end = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match ws.next().await {
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                other => return other,
            }
        }
    })
    .await
    .expect("the server ends the socket within 10 s");
    match end {
        Some(Ok(Message::Close(Some(frame)))) => assert_eq!(u16::from(frame.code), 1009),
        other => panic!("expected close 1009 (Message Too Big), got {other:?}"),
    }
    // Under the limit, a new socket on the same server works.
    let mut ws = shop.connected(json!({})).await;
    send(&mut ws, json!({ "type": "ping" })).await;
    assert_eq!(recv(&mut ws).await, json!({ "type": "pong" }));
}
