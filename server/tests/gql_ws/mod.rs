//! A raw `graphql-transport-ws` client for the authorization tests: open a socket on a
//! GraphQL endpoint, send `connection_init` with a token, and read the server's answer
//! (acknowledged, or closed with a code).

#![allow(dead_code)] // each test binary uses a different part

use std::time::Duration;

use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

use crate::common::TestServer;

pub type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// What the server did with a frame: a protocol message, or a close frame with its code.
#[derive(Debug, PartialEq)]
pub enum Reply {
    Message(Value),
    Closed(u16),
}

/// A socket on `path` (`/graphql` or `/admin/graphql`) speaking `graphql-transport-ws`.
pub async fn open(server: &TestServer, path: &str) -> Ws {
    let url = server.url(path).replacen("http://", "ws://", 1);
    let mut request = url.into_client_request().unwrap();
    request.headers_mut().insert(
        "sec-websocket-protocol",
        "graphql-transport-ws".parse().unwrap(),
    );
    tokio_tungstenite::connect_async(request)
        .await
        .expect("WebSocket handshake")
        .0
}

pub async fn send(ws: &mut Ws, message: Value) {
    ws.send(Message::Text(message.to_string().into()))
        .await
        .expect("send");
}

/// The next protocol message or close frame (pings skipped). A socket that ends without a
/// close frame counts as closed with 1006; nothing at all within 10 s fails the test (a
/// liveness bound, not a timed assertion).
pub async fn next(ws: &mut Ws) -> Reply {
    loop {
        let frame = tokio::time::timeout(Duration::from_secs(10), ws.next())
            .await
            .expect("a frame within 10 s");
        match frame {
            None | Some(Err(_)) => return Reply::Closed(1006),
            Some(Ok(Message::Text(text))) => {
                return Reply::Message(serde_json::from_str(text.as_str()).expect("JSON message"))
            }
            Some(Ok(Message::Close(frame))) => {
                return Reply::Closed(frame.map(|f| u16::from(f.code)).unwrap_or(1005))
            }
            Some(Ok(_)) => continue,
        }
    }
}

/// Opens a socket and sends `connection_init` with `Authorization: Bearer <token>` (or no
/// payload without a token); returns the server's first answer.
pub async fn init(server: &TestServer, path: &str, token: Option<&str>) -> (Ws, Reply) {
    let mut ws = open(server, path).await;
    let message = match token {
        Some(token) => json!({
            "type": "connection_init",
            "payload": { "Authorization": format!("Bearer {token}") },
        }),
        None => json!({ "type": "connection_init" }),
    };
    send(&mut ws, message).await;
    let reply = next(&mut ws).await;
    (ws, reply)
}

/// The acknowledgement `init` expects for an accepted token.
pub fn ack() -> Reply {
    Reply::Message(json!({ "type": "connection_ack" }))
}

/// Sends `subscribe` with id `id` and returns the first answer to it.
pub async fn subscribe(ws: &mut Ws, id: &str, query: &str, variables: Value) -> Reply {
    send(
        ws,
        json!({ "id": id, "type": "subscribe", "payload": { "query": query, "variables": variables } }),
    )
    .await;
    next(ws).await
}
