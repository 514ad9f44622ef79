//! GraphQL over WebSocket: the `graphql-transport-ws` protocol of graphql-ws, on `GET` of a
//! GraphQL endpoint with `Upgrade: websocket`.
//!
//! async-graphql's own WebSocket handler closes with codes the protocol does not use (1002
//! instead of 4400, 1011 instead of 4401), has no `connection_init` timeout and silently
//! replaces a running operation whose id is reused. This layer owns the handshake and the
//! protocol's close codes and hands execution to the schema (`Executor::execute_stream`):
//!
//! | code | when |
//! |---|---|
//! | 4400 | a message that is not valid JSON, of an unknown type, with a bad payload, or binary |
//! | 4401 | `subscribe` before the server acknowledged `connection_init` |
//! | 4403 | `connection_init` with a token that does not verify |
//! | 4408 | no `connection_init` within `graphql.ws_init_timeout_secs` |
//! | 4409 | `subscribe` with the id of an operation still running |
//! | 4429 | a second `connection_init` |
//! | 1009 | a message over `http.body_limit_bytes` (read no further) |
//! | 1001 | the server is shutting down (SIGTERM): frames already queued are sent first; clients reconnect, to another replica |
//!
//! After its close frame the server waits (briefly) for the client's, so the TCP connection
//! ends cleanly instead of with a reset. On shutdown, `crate::app` waits for the open
//! sessions ([`Sessions`]) to finish closing, up to `http.shutdown_grace_secs`.
//!
//! The caller is read from the `connection_init` payload (`{"Authorization": "Bearer ..."}`
//! or `{"authToken": "..."}`) by the same code as HTTP's `Authorization` header, so a socket
//! gets exactly the `Caller` an HTTP request with that token would. No token means an
//! anonymous connection (the catalogue works; customer fields answer `UNAUTHENTICATED`).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use async_graphql::Executor;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{FromRequestParts, Request, State};
use axum::handler::Handler;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use serde::Deserialize;
use serde_json::{json, Value};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use super::graphql::{self, Endpoint};
use super::RequestContext;

/// The only subprotocol served.
pub const PROTOCOL: &str = "graphql-transport-ws";

/// A GraphQL endpoint served over HTTP and WebSocket.
pub struct Socket<E> {
    pub endpoint: Arc<Endpoint<E>>,
    /// How long a client may take to send `connection_init`.
    pub init_timeout: Duration,
    /// Whether the headers a `connection_init` payload stands for are acceptable (a token that
    /// does not verify is refused with 4403).
    pub accepts: Accepts,
    /// Tells the open sessions to close, and counts them.
    pub shutdown: Shutdown,
    /// The largest message a client may send (`http.body_limit_bytes`, as over HTTP); a
    /// larger one ends the connection before it is buffered whole.
    pub max_message_bytes: usize,
}

/// Each socket's read buffer. tungstenite's default (128 KiB, allocated per connection) was
/// most of an idle subscription's memory; client messages here are small, and a larger one
/// is still read, in more steps.
const READ_BUFFER_BYTES: usize = 8 * 1024;

/// See [`Socket::accepts`].
pub type Accepts = Box<dyn Fn(&HeaderMap) -> bool + Send + Sync>;

/// What the WebSocket sessions need to stop with the process: the shutdown signal (`true`
/// once SIGTERM arrived) and the count of open sessions the process waits for.
#[derive(Clone)]
pub struct Shutdown {
    pub signal: watch::Receiver<bool>,
    pub sessions: Sessions,
}

/// The GraphQL WebSocket sessions open in this process.
#[derive(Clone)]
pub struct Sessions(Arc<watch::Sender<usize>>);

impl Default for Sessions {
    fn default() -> Self {
        Sessions(Arc::new(watch::Sender::new(0)))
    }
}

impl Sessions {
    /// Counts a session as open until the returned guard is dropped.
    fn open(&self) -> SessionGuard {
        self.0.send_modify(|open| *open += 1);
        SessionGuard(self.0.clone())
    }

    /// Sessions open now.
    pub fn count(&self) -> usize {
        *self.0.borrow()
    }

    /// Resolves once no session is open.
    pub async fn all_closed(&self) {
        let mut open = self.0.subscribe();
        let _ = open.wait_for(|open| *open == 0).await;
    }
}

struct SessionGuard(Arc<watch::Sender<usize>>);

impl Drop for SessionGuard {
    fn drop(&mut self) {
        self.0.send_modify(|open| *open -= 1);
    }
}

/// How long a closing session waits for the client's close frame after sending its own.
const CLOSE_REPLY_WAIT: Duration = Duration::from_secs(5);

/// Upgrade requests go to the WebSocket protocol; everything else to the HTTP handler.
pub async fn handle<E: Executor>(
    State(socket): State<Arc<Socket<E>>>,
    request: Request,
) -> Response {
    if !is_upgrade(request.headers()) {
        let endpoint = socket.endpoint.clone();
        return Handler::<_, Arc<Endpoint<E>>>::call(graphql::handle::<E>, request, endpoint).await;
    }
    let offered = request
        .headers()
        .get_all(header::SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|p| p.trim() == PROTOCOL);
    if !offered {
        return (
            StatusCode::BAD_REQUEST,
            format!("WebSocket clients must use the `{PROTOCOL}` subprotocol"),
        )
            .into_response();
    }
    let context = request.extensions().get::<RequestContext>().cloned();
    let (mut parts, _) = request.into_parts();
    let upgrade = match WebSocketUpgrade::from_request_parts(&mut parts, &()).await {
        Ok(upgrade) => upgrade,
        Err(rejection) => return rejection.into_response(),
    };
    // Counted from before the upgrade response: the HTTP server's graceful shutdown waits for
    // this request, so no session can open unseen after shutdown started waiting for them.
    let guard = socket.shutdown.sessions.open();
    upgrade
        .read_buffer_size(READ_BUFFER_BYTES)
        .max_message_size(socket.max_message_bytes)
        .max_frame_size(socket.max_message_bytes)
        .protocols([PROTOCOL])
        .on_upgrade(move |ws| async move {
            Session::new(socket, context).run(ws).await;
            drop(guard);
        })
}

/// Whether a read failed because the client's message or frame was over the size limit.
fn is_too_big(err: &axum::Error) -> bool {
    matches!(
        std::error::Error::source(err).and_then(|e| e.downcast_ref::<tungstenite::Error>()),
        Some(tungstenite::Error::Capacity(_))
    )
}

fn is_upgrade(headers: &HeaderMap) -> bool {
    headers
        .get(header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"))
}

/// A message from the client.
#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum ClientMessage {
    ConnectionInit {
        #[serde(default)]
        payload: Option<Value>,
    },
    Ping {
        #[serde(default)]
        #[allow(dead_code)]
        payload: Option<Value>,
    },
    Pong {
        #[serde(default)]
        #[allow(dead_code)]
        payload: Option<Value>,
    },
    Subscribe {
        id: String,
        payload: Value,
    },
    Complete {
        id: String,
    },
}

/// What operation tasks send back to the connection.
enum Outgoing {
    Frame(String),
    /// The operation `id` (started as number `run`) has finished.
    Finished(String, u64),
}

/// Why the server closes the connection.
struct Close(u16, String);

struct Session<E> {
    socket: Arc<Socket<E>>,
    context: Option<RequestContext>,
    /// The headers the `connection_init` payload stands for (`Authorization`).
    headers: Option<HeaderMap>,
    operations: HashMap<String, (u64, JoinHandle<()>)>,
    runs: u64,
    outgoing: mpsc::UnboundedSender<Outgoing>,
}

impl<E: Executor> Session<E> {
    fn new(socket: Arc<Socket<E>>, context: Option<RequestContext>) -> Self {
        Session {
            socket,
            context,
            headers: None,
            operations: HashMap::new(),
            runs: 0,
            outgoing: mpsc::unbounded_channel().0,
        }
    }

    async fn run(mut self, mut ws: WebSocket) {
        let (outgoing, mut results) = mpsc::unbounded_channel();
        self.outgoing = outgoing;
        let mut stopping = self.socket.shutdown.signal.clone();
        let deadline = tokio::time::sleep(self.socket.init_timeout);
        tokio::pin!(deadline);
        let close = loop {
            tokio::select! {
                () = &mut deadline, if self.headers.is_none() => {
                    break Some(Close(4408, "Connection initialisation timeout".into()));
                }
                // Also fires at once for a session upgraded after the signal, or when the
                // signal's sender is gone (the server stopped for another reason).
                () = async {
                    let _ = stopping.wait_for(|stop| *stop).await;
                } => {
                    break Some(Close(1001, "Server shutting down".into()));
                }
                Some(out) = results.recv() => match out {
                    Outgoing::Frame(text) => {
                        if ws.send(Message::Text(text.into())).await.is_err() {
                            break None;
                        }
                    }
                    Outgoing::Finished(id, run) => {
                        if self.operations.get(&id).is_some_and(|(r, _)| *r == run) {
                            self.operations.remove(&id);
                        }
                    }
                },
                message = ws.recv() => {
                    let text = match message {
                        Some(Ok(Message::Text(text))) => text,
                        Some(Ok(Message::Binary(_))) => {
                            break Some(Close(4400, "Binary messages are not supported".into()));
                        }
                        Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                        Some(Err(err)) if is_too_big(&err) => {
                            break Some(Close(1009, "Message too big".into()));
                        }
                        Some(Ok(Message::Close(_))) | Some(Err(_)) | None => break None,
                    };
                    match self.receive(text.as_str()) {
                        Ok(Some(reply)) => {
                            if ws.send(Message::Text(reply.to_string().into())).await.is_err() {
                                break None;
                            }
                        }
                        Ok(None) => {}
                        Err(close) => break Some(close),
                    }
                }
            }
        };
        for (_, (_, task)) in self.operations.drain() {
            task.abort();
        }
        if let Some(Close(1001, _)) = close {
            // The operations are stopped; what they already produced still reaches the client.
            while let Ok(out) = results.try_recv() {
                if let Outgoing::Frame(text) = out {
                    if ws.send(Message::Text(text.into())).await.is_err() {
                        return;
                    }
                }
            }
        }
        if let Some(Close(code, mut reason)) = close {
            tracing::debug!(code, %reason, "closing GraphQL WebSocket");
            // A close frame carries at most 123 bytes of reason.
            let mut end = reason.len().min(123);
            while !reason.is_char_boundary(end) {
                end -= 1;
            }
            reason.truncate(end);
            let frame = CloseFrame {
                code,
                reason: reason.into(),
            };
            if ws.send(Message::Close(Some(frame))).await.is_err() {
                return;
            }
            // The closing handshake: the client answers with its own close frame, then the
            // server ends the TCP connection. Dropping it at once could turn unread client data
            // into a reset that hides the close frame from the client.
            let _ = tokio::time::timeout(CLOSE_REPLY_WAIT, async {
                while let Some(Ok(message)) = ws.recv().await {
                    if let Message::Close(_) = message {
                        break;
                    }
                }
            })
            .await;
        }
    }

    /// Handles one client message: an immediate reply, nothing, or a reason to close.
    fn receive(&mut self, text: &str) -> Result<Option<Value>, Close> {
        let message: ClientMessage = serde_json::from_str(text)
            .map_err(|err| Close(4400, format!("Invalid message received: {err}")))?;
        match message {
            ClientMessage::ConnectionInit { payload } => {
                if self.headers.is_some() {
                    return Err(Close(4429, "Too many initialisation requests".into()));
                }
                let headers = authorization(payload)?;
                if !(self.socket.accepts)(&headers) {
                    return Err(Close(4403, "Forbidden".into()));
                }
                self.headers = Some(headers);
                Ok(Some(json!({ "type": "connection_ack" })))
            }
            ClientMessage::Ping { .. } => Ok(Some(json!({ "type": "pong" }))),
            ClientMessage::Pong { .. } => Ok(None),
            ClientMessage::Subscribe { id, payload } => {
                let Some(headers) = &self.headers else {
                    return Err(Close(4401, "Unauthorized".into()));
                };
                if self.operations.contains_key(&id) {
                    return Err(Close(4409, format!("Subscriber for {id} already exists")));
                }
                let request = graphql::parse_params(payload)
                    .map_err(|err| Close(4400, format!("Invalid subscribe payload: {err}")))?;
                // A persisted query the server does not know, or one off the safelist: an
                // `error` for this operation; the socket stays open.
                let request = match self.socket.endpoint.resolve(request) {
                    Ok(request) => request,
                    Err(error) => {
                        let payload = vec![graphql::error_json(error)];
                        return Ok(Some(
                            json!({ "id": id, "type": "error", "payload": payload }),
                        ));
                    }
                };
                let request = match &self.context {
                    Some(context) => request.data(context.clone()),
                    None => request,
                };
                let request = (self.socket.endpoint.prepare)(request, headers);
                self.runs += 1;
                let task = tokio::spawn(execute(
                    self.socket.clone(),
                    request,
                    id.clone(),
                    self.runs,
                    self.outgoing.clone(),
                ));
                self.operations.insert(id, (self.runs, task));
                Ok(None)
            }
            ClientMessage::Complete { id } => {
                if let Some((_, task)) = self.operations.remove(&id) {
                    task.abort();
                }
                Ok(None)
            }
        }
    }
}

/// The headers a `connection_init` payload stands for, or 4403 when its token is refused.
fn authorization(payload: Option<Value>) -> Result<HeaderMap, Close> {
    let mut headers = HeaderMap::new();
    let token = match &payload {
        None | Some(Value::Null) => None,
        Some(Value::Object(map)) => {
            let bearer = map
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case("authorization"))
                .map(|(_, v)| v);
            match (bearer, map.get("authToken")) {
                (Some(Value::String(value)), _) => Some(value.clone()),
                (None, Some(Value::String(token))) => Some(format!("Bearer {token}")),
                (None, None) => None,
                _ => return Err(Close(4403, "Forbidden".into())),
            }
        }
        Some(_) => {
            return Err(Close(
                4400,
                "connection_init payload must be an object".into(),
            ))
        }
    };
    if let Some(token) = token {
        let value = HeaderValue::from_str(&token).map_err(|_| Close(4403, "Forbidden".into()))?;
        headers.insert(header::AUTHORIZATION, value);
    }
    Ok(headers)
}

/// Runs one operation, sending `next` for each result and `complete` at the end, or a single
/// `error` when the operation fails before producing data (a request error, or a resolver
/// that refuses to start, e.g. `NOT_FOUND`).
async fn execute<E: Executor>(
    socket: Arc<Socket<E>>,
    request: async_graphql::Request,
    id: String,
    run: u64,
    outgoing: mpsc::UnboundedSender<Outgoing>,
) {
    let mut stream = socket.endpoint.executor.execute_stream(request, None);
    let mut first = true;
    let mut errored = false;
    while let Some(response) = stream.next().await {
        let failed_to_start =
            first && !response.errors.is_empty() && response.data == async_graphql::Value::Null;
        first = false;
        let frame = if failed_to_start {
            errored = true;
            let errors: Vec<Value> = response
                .errors
                .into_iter()
                .map(graphql::error_json)
                .collect();
            json!({ "id": id, "type": "error", "payload": errors }).to_string()
        } else {
            next_frame(&id, graphql::response_json(response))
        };
        if outgoing.send(Outgoing::Frame(frame)).is_err() || errored {
            break;
        }
    }
    if !errored {
        let _ = outgoing.send(Outgoing::Frame(
            json!({ "id": id, "type": "complete" }).to_string(),
        ));
    }
    let _ = outgoing.send(Outgoing::Finished(id, run));
}

/// A `next` message, serialized without building a `serde_json::Value` of the payload: one
/// event is one of these per subscriber.
fn next_frame(id: &str, payload: graphql::ResponseBody) -> String {
    #[derive(serde::Serialize)]
    struct Next<'a> {
        id: &'a str,
        #[serde(rename = "type")]
        kind: &'static str,
        payload: graphql::ResponseBody,
    }
    serde_json::to_string(&Next {
        id,
        kind: "next",
        payload,
    })
    .unwrap_or_default()
}
