//! The real `server` binary as its own process: started with the settings the shop benchmarks
//! need (log SMS provider, sandbox gateway, per-IP sign-in budgets raised), timed to `/readyz`,
//! its RSS read from /proc, and its JSON log read for OTP codes and ERROR lines.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use tokio::process::Child;
use tokio::sync::Mutex;

pub struct ServerOptions<'a> {
    pub bin: &'a Path,
    pub database_url: &'a str,
    pub amqp_url: &'a str,
    /// RabbitMQ prefix of this run, so other runs' servers never see our events.
    pub amqp_prefix: &'a str,
    pub work_dir: &'a Path,
    pub log_path: PathBuf,
}

pub struct ServerProc {
    child: Child,
    pub base: String,
    pub log_path: PathBuf,
    /// From spawn to the first `/readyz` 200.
    pub ready_after: Duration,
    log: Mutex<LogTail>,
}

#[derive(Default)]
struct LogTail {
    offset: u64,
    partial: Vec<u8>,
    codes: HashMap<String, String>,
    errors: Vec<String>,
}

fn free_port() -> anyhow::Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(listener.local_addr()?.port())
}

/// User + system CPU time process `pid` has used (`self` for this one), from
/// /proc/<pid>/stat; clock ticks are taken as `getconf CLK_TCK` says.
pub fn cpu_time(pid: &str) -> anyhow::Result<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .with_context(|| format!("reading /proc/{pid}/stat"))?;
    // After the command name (which may hold spaces), in parentheses: state is field 3,
    // utime field 14 and stime field 15.
    let rest = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest)
        .context("malformed stat")?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = fields.get(11).context("no utime")?.parse::<u64>()?
        + fields.get(12).context("no stime")?.parse::<u64>()?;
    let output = std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()?;
    let per_second: u64 = String::from_utf8_lossy(&output.stdout).trim().parse()?;
    Ok(Duration::from_millis(ticks * 1000 / per_second))
}

/// VmRSS of process `pid`, in kB.
pub fn rss_kb(pid: u32) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .with_context(|| format!("reading /proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|kb| kb.parse().ok())
        .with_context(|| format!("no VmRSS in /proc/{pid}/status"))
}

impl ServerProc {
    pub async fn start(options: ServerOptions<'_>) -> anyhow::Result<ServerProc> {
        let port = free_port()?;
        let log = std::fs::File::create(&options.log_path)
            .with_context(|| format!("creating {}", options.log_path.display()))?;
        let started = Instant::now();
        let child = tokio::process::Command::new(options.bin)
            .arg("serve")
            .env_remove("APP_CONFIG")
            .env("APP__DATABASE__URL", options.database_url)
            .env("APP__DATABASE__MIGRATE_ON_START", "false")
            .env("APP__AMQP__URL", options.amqp_url)
            .env("APP__SYNC__AMQP_PREFIX", options.amqp_prefix)
            .env("APP__HTTP__PORT", port.to_string())
            // No Mahak here: no embedded sync, no import or reconcile passes.
            .env("APP__SYNC__EMBEDDED", "false")
            .env("APP__STORAGE__MAHAK_IMPORT_INTERVAL_SECS", "0")
            .env("APP__RECONCILE__INTERVAL_SECS", "0")
            .env("APP__STORAGE__LOCAL_DIR", options.work_dir.join("media"))
            // Every customer signs in from 127.0.0.1: the per-IP budgets would refuse them.
            .env("APP__OTP__IP_REQUESTS_PER_HOUR", "1000000")
            .env("APP__OTP__IP_VERIFICATIONS_PER_HOUR", "1000000")
            .env("APP__SMS__PROVIDER", "log")
            .env("APP__PAYMENT__PROVIDER", "sandbox")
            .env("APP__PAYMENT__RESULT_URL", "http://127.0.0.1/bench-result")
            .env("APP__LOG__FORMAT", "json")
            // The log SMS provider writes the OTP code at info.
            .env("RUST_LOG", "warn,server::sms=info")
            .current_dir(options.work_dir)
            .stdout(Stdio::null())
            .stderr(Stdio::from(log))
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting {}", options.bin.display()))?;
        let mut server = ServerProc {
            child,
            base: format!("http://127.0.0.1:{port}"),
            log_path: options.log_path,
            ready_after: Duration::ZERO,
            log: Mutex::new(LogTail::default()),
        };
        server.wait_ready(started).await?;
        Ok(server)
    }

    async fn wait_ready(&mut self, started: Instant) -> anyhow::Result<()> {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(2))
            .build()?;
        let deadline = started + Duration::from_secs(120);
        loop {
            if let Some(status) = self.child.try_wait()? {
                bail!(
                    "the server exited ({status}) before it was ready; see {}",
                    self.log_path.display()
                );
            }
            if let Ok(response) = client.get(format!("{}/readyz", self.base)).send().await {
                if response.status().is_success() {
                    self.ready_after = started.elapsed();
                    return Ok(());
                }
            }
            if Instant::now() > deadline {
                bail!(
                    "the server was not ready within 120 s; see {}",
                    self.log_path.display()
                );
            }
            // Polled often: the interval bounds the start-up time's resolution.
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    pub fn pid(&self) -> anyhow::Result<u32> {
        self.child.id().context("the server has exited")
    }

    pub fn rss_kb(&self) -> anyhow::Result<u64> {
        rss_kb(self.pid()?)
    }

    /// Fails when the server has exited.
    pub fn check_alive(&mut self) -> anyhow::Result<()> {
        if let Some(status) = self.child.try_wait()? {
            bail!(
                "the server exited ({status}); see {}",
                self.log_path.display()
            );
        }
        Ok(())
    }

    /// The OTP code the log SMS provider wrote for `e164`, waiting up to 30 s for it.
    pub async fn otp_code(&self, e164: &str) -> anyhow::Result<String> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            {
                let mut log = self.log.lock().await;
                self.read_log(&mut log)?;
                if let Some(code) = log.codes.remove(e164) {
                    return Ok(code);
                }
            }
            if Instant::now() > deadline {
                bail!(
                    "no OTP code for {e164} in {} within 30 s",
                    self.log_path.display()
                );
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// ERROR lines the server has logged so far (at most the first 5 of them kept).
    pub async fn error_lines(&self) -> anyhow::Result<Vec<String>> {
        let mut log = self.log.lock().await;
        self.read_log(&mut log)?;
        Ok(log.errors.clone())
    }

    fn read_log(&self, log: &mut LogTail) -> anyhow::Result<()> {
        use std::io::{Read, Seek, SeekFrom};
        let mut file = std::fs::File::open(&self.log_path)?;
        file.seek(SeekFrom::Start(log.offset))?;
        let mut chunk = Vec::new();
        file.read_to_end(&mut chunk)?;
        log.offset += chunk.len() as u64;
        log.partial.extend_from_slice(&chunk);
        let Some(end) = log.partial.iter().rposition(|&b| b == b'\n') else {
            return Ok(());
        };
        let complete: Vec<u8> = log.partial.drain(..=end).collect();
        for line in String::from_utf8_lossy(&complete).lines() {
            let Ok(event) = serde_json::from_str::<serde_json::Value>(line) else {
                // Not JSON (a panic message): an error.
                if !line.trim().is_empty() && log.errors.len() < 5 {
                    log.errors.push(line.to_string());
                }
                continue;
            };
            let fields = event.get("fields").unwrap_or(&event);
            let text = |v: &serde_json::Value| match v {
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            let message = fields.get("message").map(text).unwrap_or_default();
            if message.starts_with("OTP code") {
                if let (Some(phone), Some(code)) = (fields.get("phone"), fields.get("code")) {
                    log.codes.insert(text(phone), text(code));
                }
            }
            if event.get("level").and_then(|l| l.as_str()) == Some("ERROR") && log.errors.len() < 5
            {
                log.errors.push(line.to_string());
            }
        }
        Ok(())
    }

    /// SIGTERM (the server's graceful path), then a kill if it has not exited in 20 s.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        if let Some(pid) = self.child.id() {
            tokio::process::Command::new("kill")
                .args(["-TERM", &pid.to_string()])
                .status()
                .await?;
        }
        if tokio::time::timeout(Duration::from_secs(20), self.child.wait())
            .await
            .is_err()
        {
            self.child.kill().await?;
            bail!(
                "the server did not stop within 20 s of SIGTERM; see {}",
                self.log_path.display()
            );
        }
        Ok(())
    }
}

/// `server create-admin` against `database_url`: a super-admin the subscription benchmark
/// signs in as.
pub async fn create_admin(
    bin: &Path,
    database_url: &str,
    work_dir: &Path,
    email: &str,
    password: &str,
) -> anyhow::Result<()> {
    let output = tokio::process::Command::new(bin)
        .args(["create-admin", "--email", email])
        .env_remove("APP_CONFIG")
        .env_remove("RUST_LOG")
        .env("APP__DATABASE__URL", database_url)
        .env("APP__DATABASE__MIGRATE_ON_START", "false")
        .env("ADMIN_PASSWORD", password)
        .current_dir(work_dir)
        .output()
        .await
        .with_context(|| format!("running {} create-admin", bin.display()))?;
    if !output.status.success() {
        bail!(
            "server create-admin failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(())
}
