//! Item 4: many graphql-transport-ws sockets on one server, each subscribed to the admin
//! `orderPlaced` (so one checkout is one event for all of them); delivery latency from the
//! checkout's response to each socket's receipt, and server memory per idle subscription.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context};
use futures::{SinkExt, StreamExt};
use hdrhistogram::Histogram;
use serde_json::{json, Value};
use tokio::sync::{mpsc, watch};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

use super::client::{self, Api, Placed};
use super::proc::ServerProc;

const ORDER_PLACED: &str = "subscription { orderPlaced { number } }";
/// How long every socket may take to receive an event before it counts as missed. A safety
/// net against hanging, not a performance bound.
const PATIENCE: Duration = Duration::from_secs(30);

pub struct Options {
    pub sockets: usize,
    pub events: usize,
    pub variant: i64,
    pub admin_email: String,
    pub admin_password: String,
}

pub struct Outcome {
    pub sockets: usize,
    pub events: usize,
    pub deliveries: u64,
    /// Deliveries that arrived before the checkout's response did (counted as 0 ms).
    pub before_response: u64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    /// The same, from the instant the checkout request was sent (an upper bound that
    /// includes the checkout itself).
    pub from_sent_p50_ms: f64,
    pub from_sent_p99_ms: f64,
    /// CPU time over the timed events (each a checkout and its delivery to every socket):
    /// the server's, and the bench's own (its socket readers and the checkout requests).
    pub server_cpu: Duration,
    pub bench_cpu: Duration,
    pub open_took: Duration,
    pub rss_before_kb: u64,
    /// With every socket acknowledged, before any subscribes.
    pub rss_connected_kb: u64,
    /// With every socket subscribed, idle.
    pub rss_idle_kb: u64,
}

impl Outcome {
    pub fn kb_per_subscription(&self) -> f64 {
        (self.rss_idle_kb as f64 - self.rss_before_kb as f64) / self.sockets as f64
    }

    /// The part of [`Outcome::kb_per_subscription`] an acknowledged socket costs before it
    /// subscribes.
    pub fn kb_per_connection(&self) -> f64 {
        (self.rss_connected_kb as f64 - self.rss_before_kb as f64) / self.sockets as f64
    }
}

enum Report {
    Event { number: String, at: Instant },
    Failed(String),
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn open(url: &str, token: &str) -> anyhow::Result<Ws> {
    let mut request = url.into_client_request()?;
    request
        .headers_mut()
        .insert("sec-websocket-protocol", "graphql-transport-ws".parse()?);
    let (mut ws, _) = tokio_tungstenite::connect_async(request).await?;
    let init = json!({ "type": "connection_init", "payload": { "Authorization": format!("Bearer {token}") } });
    ws.send(Message::Text(init.to_string().into())).await?;
    let ack = tokio::time::timeout(PATIENCE, ws.next())
        .await
        .context("no connection_ack")?
        .context("the socket closed before connection_ack")??;
    let ack: Value = serde_json::from_str(ack.to_text()?)?;
    ensure!(
        ack["type"] == "connection_ack",
        "expected connection_ack, got {ack}"
    );
    Ok(ws)
}

async fn subscribe(mut ws: Ws) -> anyhow::Result<Ws> {
    let subscribe = json!({ "id": "1", "type": "subscribe", "payload": { "query": ORDER_PLACED } });
    ws.send(Message::Text(subscribe.to_string().into())).await?;
    Ok(ws)
}

/// Reads one socket until told to stop: each `next` is reported with its arrival time; a
/// protocol ping is answered; anything else ends the socket with a failure.
async fn read(mut ws: Ws, reports: mpsc::UnboundedSender<Report>, mut stop: watch::Receiver<bool>) {
    loop {
        let message = tokio::select! {
            message = ws.next() => message,
            _ = stop.changed() => {
                let _ = ws.close(None).await;
                // Drain until the server's close frame, so the connection ends cleanly.
                let _ = tokio::time::timeout(Duration::from_secs(5), async {
                    while let Some(Ok(_)) = ws.next().await {}
                }).await;
                return;
            }
        };
        let at = Instant::now();
        let failure = match message {
            Some(Ok(Message::Text(text))) => match serde_json::from_str::<Value>(text.as_str()) {
                Ok(value) if value["type"] == "next" => {
                    match value["payload"]["data"]["orderPlaced"]["number"].as_str() {
                        Some(number) => {
                            let _ = reports.send(Report::Event {
                                number: number.to_string(),
                                at,
                            });
                            continue;
                        }
                        None => format!("a next without an order number: {value}"),
                    }
                }
                Ok(value) if value["type"] == "ping" => {
                    if ws
                        .send(Message::Text(json!({"type": "pong"}).to_string().into()))
                        .await
                        .is_ok()
                    {
                        continue;
                    }
                    "the socket failed answering a ping".to_string()
                }
                Ok(value) if value["type"] == "pong" => continue,
                Ok(value) => format!("unexpected message {value}"),
                Err(err) => format!("not JSON: {err}"),
            },
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
            Some(Ok(other)) => format!("unexpected frame {other:?}"),
            Some(Err(err)) => format!("socket error: {err}"),
            None => "the socket ended".to_string(),
        };
        let _ = reports.send(Report::Failed(failure));
        return;
    }
}

/// One checkout (after its add to cart): its order number, the instant the checkout request
/// was about to be sent and the instant its response was read.
async fn trigger(
    api: &Api,
    customer: &client::Customer,
    variant: i64,
) -> anyhow::Result<(String, Instant, Instant)> {
    match client::place_order(api, customer, variant).await? {
        Placed::Order { number, sent } => Ok((number, sent, Instant::now())),
        Placed::OutOfStock => bail!("variant {variant}, stocked for the run, refused"),
    }
}

/// Waits until every socket received `number`; their arrival times.
async fn collect(
    reports: &mut mpsc::UnboundedReceiver<Report>,
    early: &mut HashMap<String, Vec<Instant>>,
    number: &str,
    sockets: usize,
) -> anyhow::Result<Vec<Instant>> {
    let mut arrivals = early.remove(number).unwrap_or_default();
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while arrivals.len() < sockets {
        match tokio::time::timeout_at(deadline, reports.recv()).await {
            Err(_) => bail!(
                "order {number}: {} of {sockets} sockets received it within {PATIENCE:?}",
                arrivals.len()
            ),
            Ok(None) => bail!("every socket reader ended"),
            Ok(Some(Report::Failed(why))) => bail!("a subscription socket failed: {why}"),
            Ok(Some(Report::Event { number: got, at })) if got == number => arrivals.push(at),
            Ok(Some(Report::Event { number: got, at })) => early.entry(got).or_default().push(at),
        }
    }
    Ok(arrivals)
}

pub async fn run(
    server: &ServerProc,
    options: &Options,
    customer_no: u64,
) -> anyhow::Result<Outcome> {
    let api = Api::new(&server.base)?;
    let data = api
        .must(
            "/admin/graphql",
            None,
            client::STAFF_SIGN_IN,
            json!({ "e": options.admin_email, "p": options.admin_password }),
        )
        .await?;
    let token = data["signIn"]["accessToken"]
        .as_str()
        .context("signIn gave no accessToken")?
        .to_string();
    let customer = client::sign_in(&api, server, customer_no).await?;
    // Settled before the baseline: the sign-ins' allocations are not the sockets'.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let rss_before_kb = server.rss_kb()?;

    let url = format!(
        "{}/admin/graphql",
        server.base.replacen("http://", "ws://", 1)
    );
    let (reports_tx, mut reports) = mpsc::unbounded_channel();
    let (stop_tx, stop) = watch::channel(false);
    let started = Instant::now();
    let opened: Vec<anyhow::Result<Ws>> = futures::stream::iter(0..options.sockets)
        .map(|_| open(&url, &token))
        .buffer_unordered(64)
        .collect()
        .await;
    let open_took = started.elapsed();
    let opened = opened
        .into_iter()
        .collect::<anyhow::Result<Vec<Ws>>>()
        .context("opening a subscription socket")?;
    // Connected and acknowledged, nothing subscribed yet: what a socket alone costs.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let rss_connected_kb = server.rss_kb()?;
    let subscribed: Vec<anyhow::Result<Ws>> = futures::stream::iter(opened)
        .map(subscribe)
        .buffer_unordered(64)
        .collect()
        .await;
    let mut readers = Vec::new();
    for ws in subscribed {
        let ws = ws.context("subscribing")?;
        readers.push(tokio::spawn(read(ws, reports_tx.clone(), stop.clone())));
    }
    drop(reports_tx);

    // Idle: nothing sent on the sockets; the server has every subscription registered.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let rss_idle_kb = server.rss_kb()?;

    // A first event, not timed: proves every subscription is live.
    let mut early = HashMap::new();
    let (number, _, _) = trigger(&api, &customer, options.variant).await?;
    collect(&mut reports, &mut early, &number, options.sockets)
        .await
        .context("the warm-up event")?;

    let mut latency = Histogram::<u64>::new_with_bounds(1, 600_000_000, 3)?;
    let mut from_sent = Histogram::<u64>::new_with_bounds(1, 600_000_000, 3)?;
    let server_pid = server.pid()?.to_string();
    let server_cpu_before = super::proc::cpu_time(&server_pid)?;
    let bench_cpu_before = super::proc::cpu_time("self")?;
    let mut before_response = 0;
    for _ in 0..options.events {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let (number, sent, answered) = trigger(&api, &customer, options.variant).await?;
        for at in collect(&mut reports, &mut early, &number, options.sockets).await? {
            if at < answered {
                before_response += 1;
            }
            latency.record(at.saturating_duration_since(answered).as_micros().max(1) as u64)?;
            from_sent.record(at.saturating_duration_since(sent).as_micros().max(1) as u64)?;
        }
    }
    let server_cpu = super::proc::cpu_time(&server_pid)? - server_cpu_before;
    let bench_cpu = super::proc::cpu_time("self")? - bench_cpu_before;
    ensure!(
        early.is_empty(),
        "events for orders the bench did not place: {:?}",
        early.keys()
    );

    stop_tx.send(true)?;
    for reader in readers {
        reader.await?;
    }
    let ms = |q: f64| latency.value_at_quantile(q) as f64 / 1000.0;
    Ok(Outcome {
        sockets: options.sockets,
        events: options.events,
        deliveries: latency.len(),
        before_response,
        p50_ms: ms(0.5),
        p99_ms: ms(0.99),
        max_ms: latency.max() as f64 / 1000.0,
        from_sent_p50_ms: from_sent.value_at_quantile(0.5) as f64 / 1000.0,
        from_sent_p99_ms: from_sent.value_at_quantile(0.99) as f64 / 1000.0,
        server_cpu,
        bench_cpu,
        open_took,
        rss_before_kb,
        rss_connected_kb,
        rss_idle_kb,
    })
}
