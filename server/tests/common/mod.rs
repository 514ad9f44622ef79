//! Test harness: a fresh database per test and the real `server` binary started on a random
//! port against it, spoken to over real HTTP.

#![allow(dead_code)] // each test binary uses a different part of the harness

pub mod seed;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Value};

pub use sync::testing::TestDb;

/// The `server` binary, running.
/// Settings that keep the server's periodic work (outbox polls, expiry and payment sweeps,
/// Mahak picture imports) out of a test that counts the process-wide `db_statements_total`;
/// their first ticks run at start-up.
pub const QUIET_BACKGROUND: &[(&str, &str)] = &[
    ("APP__OUTBOX__POLL_INTERVAL_MS", "3600000"),
    ("APP__CHECKOUT__EXPIRY_SWEEP_SECS", "3600"),
    ("APP__PAYMENT__RECONCILE_INTERVAL_SECS", "3600"),
    ("APP__STORAGE__MAHAK_IMPORT_INTERVAL_SECS", "0"),
];

pub struct TestServer {
    pub base: String,
    child: Child,
    pub client: reqwest::Client,
    /// Every line the process wrote to stdout and stderr, when started with
    /// [`TestServer::start_capturing`] (empty otherwise).
    pub output: Arc<Mutex<Vec<String>>>,
}

impl TestServer {
    pub async fn start(db: &TestDb) -> TestServer {
        TestServer::start_with(db, &[]).await
    }

    /// Starts `server serve` with `APP__...` overrides, waits for its `listening` log line.
    pub async fn start_with(db: &TestDb, env: &[(&str, &str)]) -> TestServer {
        TestServer::spawn(db, env, false).await
    }

    /// As [`TestServer::start_with`], also keeping every stdout and stderr line in `output`.
    pub async fn start_capturing(db: &TestDb, env: &[(&str, &str)]) -> TestServer {
        TestServer::spawn(db, env, true).await
    }

    async fn spawn(db: &TestDb, env: &[(&str, &str)], capture: bool) -> TestServer {
        let output: Arc<Mutex<Vec<String>>> = Arc::default();
        let mut command = Command::new(env!("CARGO_BIN_EXE_server"));
        command
            .arg("serve")
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("APP__DATABASE__URL", &db.url)
            .env("APP__DATABASE__MAX_CONNECTIONS", "4")
            .env("APP__HTTP__PORT", "0")
            .env("APP__LOG__FORMAT", "json")
            .env("APP__LOG__LEVEL", "info")
            // Tests seed their own catalogue; the one that wants the embedded sync turns it on.
            .env("APP__SYNC__EMBEDDED", "false")
            // A test that changes the catalogue and reads it again must not race the cache's
            // notification; `catalogue_cache.rs` turns the cache on.
            .env("APP__GRAPHQL__CATALOGUE_CACHE_TTL_SECS", "0")
            .stdout(if capture {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stderr(Stdio::piped());
        for (key, value) in env {
            command.env(key, value);
        }
        let mut child = command.spawn().expect("start server binary");
        if let Some(stdout) = child.stdout.take() {
            let output = output.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                    output.lock().unwrap().push(line);
                }
            });
        }
        let stderr = child.stderr.take().expect("stderr");
        let (tx, rx) = std::sync::mpsc::channel();
        let kept = output.clone();
        std::thread::spawn(move || {
            let mut sent = false;
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if capture {
                    kept.lock().unwrap().push(line.clone());
                }
                if !sent {
                    if let Ok(event) = serde_json::from_str::<Value>(&line) {
                        if event["message"] == "listening" {
                            let _ = tx.send(event["addr"].as_str().unwrap_or_default().to_string());
                            sent = true;
                            continue;
                        }
                    }
                }
                eprintln!("[server] {line}");
            }
        });
        let addr = tokio::task::spawn_blocking(move || rx.recv_timeout(Duration::from_secs(60)))
            .await
            .unwrap()
            .expect("server did not report `listening` within 60 s");
        TestServer {
            base: format!("http://{addr}"),
            child,
            client: reqwest::Client::new(),
            output,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// POSTs a query to the shop endpoint and returns the JSON body (asserting HTTP 200).
    pub async fn shop(&self, query: &str, variables: Value) -> Value {
        self.post_graphql("/graphql", query, variables).await
    }

    pub async fn post_graphql(&self, path: &str, query: &str, variables: Value) -> Value {
        let response = self
            .client
            .post(self.url(path))
            .header("accept", "application/graphql-response+json")
            .json(&json!({ "query": query, "variables": variables }))
            .send()
            .await
            .expect("request");
        let status = response.status();
        let body: Value = response.json().await.expect("JSON body");
        assert!(
            status.is_success() || status.as_u16() == 400,
            "unexpected status {status}: {body}"
        );
        body
    }

    /// Current value of a Prometheus counter, summed over all its label sets.
    pub async fn metric_sum(&self, name: &str) -> f64 {
        self.metric(name, &[]).await
    }

    /// The sum of the samples of `name` whose labels include every pair of `labels` (a
    /// counter's value, or with a `_count` name a histogram's number of observations); 0 when
    /// no such series exists yet.
    pub async fn metric(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        let text = self
            .client
            .get(self.url("/metrics"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        text.lines()
            .filter(|line| !line.starts_with('#'))
            .filter_map(|line| {
                let (series, value) = line.rsplit_once(' ')?;
                let (series_name, series_labels) = match series.split_once('{') {
                    Some((n, rest)) => (n, rest.trim_end_matches('}')),
                    None => (series, ""),
                };
                let wanted = series_name == name
                    && labels.iter().all(|(key, value)| {
                        series_labels
                            .split(',')
                            .any(|pair| pair == format!("{key}=\"{value}\""))
                    });
                wanted.then(|| value.parse::<f64>().ok()).flatten()
            })
            .sum()
    }

    /// Sends SIGTERM and returns at once, so the test can go on talking to the process while
    /// it shuts down (see [`TestServer::exit_status`]).
    pub fn send_sigterm(&self) {
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
    }

    /// Waits, without blocking the runtime, up to `limit` for the process to exit; its exit
    /// status, or `None` while it still runs.
    pub async fn exit_status(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            if tokio::time::Instant::now() >= deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Sends SIGTERM and waits for the process to exit; returns whether it exited cleanly.
    pub fn terminate(mut self) -> bool {
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        for _ in 0..100 {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status.success();
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        false
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The `extensions.code` of each error in a GraphQL response.
pub fn error_codes(body: &Value) -> Vec<String> {
    body["errors"]
        .as_array()
        .map(|errors| {
            errors
                .iter()
                .map(|e| e["extensions"]["code"].as_str().unwrap_or("").to_string())
                .collect()
        })
        .unwrap_or_default()
}
