//! The `sync` binary as an operator uses it, on the embedded default (SQLite and the
//! in-process simulator): a run, the dead-letter commands, and configuration errors.

use std::process::Command;

use sync::testing::TestDb;

fn sync(db: &TestDb, args: &[&str], env: &[(&str, &str)]) -> (bool, String) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_sync"));
    command
        .args(args)
        .env_clear()
        .env("APP__DATABASE__URL", &db.url)
        .env("APP__SYNC__SIMULATOR_PRODUCTS", "20")
        .env("APP__LOG__FORMAT", "json");
    for (key, value) in env {
        command.env(key, value);
    }
    let output = command.output().expect("run sync");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), text)
}

#[test]
fn run_once_then_dead_letter_commands() {
    let db = TestDb::sqlite();
    let (ok, out) = sync(&db, &["run", "--once"], &[]);
    assert!(ok, "{out}");
    let summary = out
        .lines()
        .find(|l| l.starts_with("run "))
        .unwrap_or_else(|| panic!("no summary in {out}"));
    assert!(summary.contains("dead-lettered 0"), "{summary}");
    let fetched: u64 = summary
        .split("fetched ")
        .nth(1)
        .and_then(|s| s.split(',').next())
        .unwrap()
        .parse()
        .unwrap();
    assert!(fetched > 100, "{summary}");

    let (ok, out) = sync(&db, &["dlq", "list"], &[]);
    assert!(ok, "{out}");
    assert!(out.contains("0 open dead letters"), "{out}");
    let (ok, out) = sync(&db, &["dlq", "discard", "999"], &[]);
    assert!(!ok);
    assert!(out.contains("#999 is not open"), "{out}");
    let (ok, out) = sync(&db, &["dlq", "replay", "--all"], &[]);
    assert!(!ok, "nothing to replay is an error the operator sees");
    assert!(out.contains("no open dead letter"), "{out}");
}

#[test]
fn configuration_errors_name_the_key() {
    let db = TestDb::sqlite();
    let (ok, out) = sync(&db, &["run"], &[("APP__SYNC__PAGE_SIZE", "many")]);
    assert!(!ok);
    assert!(out.contains("sync.page_size"), "{out}");
    let (ok, out) = sync(&db, &["consume"], &[]);
    assert!(!ok, "consume needs a broker");
    assert!(out.contains("amqp.url"), "{out}");
    // The server's parts are accepted (one configuration for both binaries), typos are not.
    let server_parts = [
        ("APP__HTTP__PORT", "9000"),
        ("APP__GRAPHQL__MAX_DEPTH", "10"),
        ("APP__STORAGE__PUBLIC_BASE_URL", "/m"),
        ("APP__JWT__ISSUER", "x"),
        ("APP__OTP__TTL_SECS", "60"),
        ("APP__SMS__PROVIDER", "log"),
        ("APP__PAYMENT__PROVIDER", "sandbox"),
        ("APP__CHECKOUT__SHIPPING_FLAT_RIAL", "0"),
    ];
    let (ok, out) = sync(&db, &["dlq", "list"], &server_parts);
    assert!(ok, "{out}");
    let (ok, out) = sync(&db, &["dlq", "list"], &[("APP__SYNK__PAGE_SIZE", "9")]);
    assert!(!ok);
    assert!(out.contains("synk"), "{out}");
}

#[tokio::test]
async fn the_daemon_serves_metrics_and_stops_on_sigterm() {
    let db = TestDb::sqlite();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut daemon = Command::new(env!("CARGO_BIN_EXE_sync"))
        .args(["daemon", "--interval", "1s"])
        .env_clear()
        .env("APP__DATABASE__URL", &db.url)
        .env("APP__SYNC__SIMULATOR_PRODUCTS", "20")
        .env("APP__SYNC__METRICS_ADDR", format!("127.0.0.1:{port}"))
        .env("APP__LOG__FORMAT", "json")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let client = reqwest::Client::new();
    let mut metrics = String::new();
    for _ in 0..120 {
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
        let Ok(response) = client
            .get(format!("http://127.0.0.1:{port}/metrics"))
            .send()
            .await
        else {
            continue;
        };
        metrics = response.text().await.unwrap();
        if metrics.contains(r#"sync_lag_seconds{entity="Product"}"#) {
            break;
        }
    }
    assert!(
        metrics.contains(r#"sync_rows_total{entity="Product",outcome="written"}"#),
        "{metrics}"
    );
    assert!(
        metrics.contains(r#"sync_lag_seconds{entity="Product"}"#),
        "{metrics}"
    );
    let _ = Command::new("kill")
        .args(["-TERM", &daemon.id().to_string()])
        .status();
    let mut exited = None;
    for _ in 0..100 {
        if let Some(status) = daemon.try_wait().unwrap() {
            exited = Some(status);
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let _ = daemon.kill();
    assert!(
        exited.is_some_and(|s| s.success()),
        "SIGTERM ends the daemon cleanly: {exited:?}"
    );
}
