//! The processes a sync benchmark starts (simulator, worker, consumer, server): spawned with a
//! clean environment of `APP__...` settings, their output kept in a log file and in memory,
//! their peak resident memory (`VmHWM`) sampled from /proc while they run.

use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{bail, Context};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWriteExt, BufReader};
use tokio::process::Child;

/// How often `VmHWM` is read. The kernel keeps the high-water mark itself, so sampling only
/// loses what a process adds in its last interval before exiting on its own (`sync run`);
/// the long-running ones are read once more just before they are stopped.
const SAMPLE_EVERY: Duration = Duration::from_millis(50);

/// Lines of output kept in memory per process.
const KEPT_LINES: usize = 20_000;

pub struct Proc {
    pub name: String,
    child: Child,
    pid: u32,
    peak_kb: Arc<AtomicU64>,
    /// CPU time at the last sample, in clock ticks.
    cpu_ticks: Arc<AtomicU64>,
    lines: Arc<Mutex<Vec<String>>>,
    pub log_path: PathBuf,
}

pub struct Spawn<'a> {
    pub name: &'a str,
    pub program: &'a Path,
    pub args: &'a [&'a str],
    pub env: &'a [(String, String)],
    pub log_dir: &'a Path,
}

/// The peak resident set size of a live process, in KiB (None once it has exited).
pub fn vm_hwm_kb(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
}

/// CPU time (user + system) of a live process, in clock ticks (None once it has exited).
fn cpu_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may hold spaces) start at state (field 3);
    // utime and stime are fields 14 and 15.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}

/// Clock ticks per second (`getconf CLK_TCK`; 100 on Linux unless told otherwise).
pub fn clock_ticks_per_sec() -> f64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
        .unwrap_or(100.0)
}

pub fn free_port() -> anyhow::Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(listener.local_addr()?.port())
}

impl Proc {
    pub async fn spawn(spec: Spawn<'_>) -> anyhow::Result<Proc> {
        let log_path = spec.log_dir.join(format!("{}.log", spec.name));
        let log = tokio::fs::File::create(&log_path)
            .await
            .with_context(|| format!("creating {}", log_path.display()))?;
        let log = Arc::new(tokio::sync::Mutex::new(log));
        let mut command = tokio::process::Command::new(spec.program);
        // A clean environment: nothing of the caller's APP__... settings leaks in.
        command
            .args(spec.args)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        for (key, value) in spec.env {
            command.env(key, value);
        }
        let mut child = command
            .spawn()
            .with_context(|| format!("starting {}", spec.program.display()))?;
        let pid = child.id().context("no pid")?;
        let lines: Arc<Mutex<Vec<String>>> = Arc::default();
        let stdout = child.stdout.take().context("stdout")?;
        let stderr = child.stderr.take().context("stderr")?;
        tokio::spawn(keep_lines(stdout, lines.clone(), log.clone()));
        tokio::spawn(keep_lines(stderr, lines.clone(), log));
        let peak_kb = Arc::new(AtomicU64::new(0));
        let cpu = Arc::new(AtomicU64::new(0));
        let (sampled, sampled_cpu) = (peak_kb.clone(), cpu.clone());
        tokio::spawn(async move {
            while let Some(kb) = vm_hwm_kb(pid) {
                sampled.fetch_max(kb, Ordering::Relaxed);
                if let Some(ticks) = cpu_ticks(pid) {
                    sampled_cpu.fetch_max(ticks, Ordering::Relaxed);
                }
                tokio::time::sleep(SAMPLE_EVERY).await;
            }
        });
        Ok(Proc {
            name: spec.name.to_string(),
            child,
            pid,
            peak_kb,
            cpu_ticks: cpu,
            lines,
            log_path,
        })
    }

    /// Peak RSS in MiB so far (read now when the process is alive).
    pub fn peak_mib(&self) -> f64 {
        if let Some(kb) = vm_hwm_kb(self.pid) {
            self.peak_kb.fetch_max(kb, Ordering::Relaxed);
        }
        self.peak_kb.load(Ordering::Relaxed) as f64 / 1024.0
    }

    /// CPU seconds (user + system) used so far (to the last sample once it has exited).
    pub fn cpu_secs(&self) -> f64 {
        if let Some(ticks) = cpu_ticks(self.pid) {
            self.cpu_ticks.fetch_max(ticks, Ordering::Relaxed);
        }
        self.cpu_ticks.load(Ordering::Relaxed) as f64 / clock_ticks_per_sec()
    }

    pub fn output(&self) -> Vec<String> {
        self.lines.lock().map(|l| l.clone()).unwrap_or_default()
    }

    fn find_line(&self, needle: &str) -> Option<String> {
        let lines = self.lines.lock().ok()?;
        lines.iter().find(|l| l.contains(needle)).cloned()
    }

    /// Fails when the process has already exited (it should still be running).
    pub fn check_running(&mut self) -> anyhow::Result<()> {
        if let Some(status) = self.child.try_wait()? {
            bail!(
                "{} exited early ({status}); see {}",
                self.name,
                self.log_path.display()
            );
        }
        Ok(())
    }

    /// Waits for a line containing `needle` (JSON logs: the message), failing when the process
    /// exits first or `timeout` passes.
    pub async fn wait_for_line(
        &mut self,
        needle: &str,
        timeout: Duration,
    ) -> anyhow::Result<String> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if let Some(line) = self.find_line(needle) {
                return Ok(line);
            }
            self.check_running()?;
            if tokio::time::Instant::now() >= deadline {
                bail!(
                    "{} did not log `{needle}` within {timeout:?}; see {}",
                    self.name,
                    self.log_path.display()
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits for the process to exit on its own.
    pub async fn wait(&mut self) -> anyhow::Result<ExitStatus> {
        let status = self.child.wait().await?;
        // Let the output readers catch up with the last lines.
        tokio::time::sleep(Duration::from_millis(100)).await;
        Ok(status)
    }

    /// Reads the peak once more, sends SIGTERM and waits for a clean exit (the consumer
    /// drains for up to its grace period). Returns the peak RSS in MiB.
    pub async fn stop(mut self) -> anyhow::Result<f64> {
        let peak = self.peak_mib();
        if self.child.try_wait()?.is_some() {
            bail!(
                "{} had exited before it was stopped; see {}",
                self.name,
                self.log_path.display()
            );
        }
        let sent = tokio::process::Command::new("kill")
            .args(["-TERM", &self.pid.to_string()])
            .status()
            .await?;
        if !sent.success() {
            bail!("could not signal {} ({})", self.name, self.pid);
        }
        let status = tokio::time::timeout(Duration::from_secs(40), self.child.wait())
            .await
            .with_context(|| format!("{} did not stop within 40 s of SIGTERM", self.name))??;
        if !status.success() {
            bail!(
                "{} ended with {status}; see {}",
                self.name,
                self.log_path.display()
            );
        }
        Ok(peak)
    }
}

async fn keep_lines(
    stream: impl AsyncRead + Unpin,
    lines: Arc<Mutex<Vec<String>>>,
    log: Arc<tokio::sync::Mutex<tokio::fs::File>>,
) {
    let mut reader = BufReader::new(stream).lines();
    while let Ok(Some(line)) = reader.next_line().await {
        {
            let mut file = log.lock().await;
            let _ = file.write_all(line.as_bytes()).await;
            let _ = file.write_all(b"\n").await;
        }
        if let Ok(mut kept) = lines.lock() {
            // The file has every line; memory keeps the first ones (start-up messages are
            // searched) and every line that is not a JSON log line (`sync run`'s summary).
            if kept.len() < KEPT_LINES || !line.starts_with('{') {
                kept.push(line);
            }
        }
    }
    let _ = log.lock().await.flush().await;
}
