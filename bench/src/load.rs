//! A closed-loop load generator: `clients` tasks each run one operation after another for a
//! warm-up (not recorded) and then for the measured duration. Latency goes into an HDR
//! histogram in microseconds; any failed operation is counted and the first one kept.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

use crate::cpu::{CpuSeconds, Meter};

pub struct Outcome {
    /// Operations started in the measured window and completed.
    pub ops: u64,
    /// Failed operations, warm-up included.
    pub errors: u64,
    pub first_error: Option<String>,
    /// From the end of the warm-up to the last completion.
    pub window: Duration,
    pub latency_us: Histogram<u64>,
    /// CPU time used from the end of the warm-up to the end of the measured duration.
    pub cpu: CpuSeconds,
    pub cpu_window: Duration,
}

impl Outcome {
    pub fn per_second(&self) -> f64 {
        if self.window.is_zero() {
            return 0.0;
        }
        self.ops as f64 / self.window.as_secs_f64()
    }

    pub fn quantile_ms(&self, q: f64) -> f64 {
        self.latency_us.value_at_quantile(q) as f64 / 1000.0
    }

    /// CPU milliseconds per operation: (server, PostgreSQL, bench process).
    pub fn cpu_ms_per_op(&self) -> (f64, f64, f64) {
        let ops = self.per_second() * self.cpu_window.as_secs_f64();
        if ops == 0.0 {
            return (0.0, 0.0, 0.0);
        }
        let per = |seconds: f64| seconds * 1000.0 / ops;
        (
            per(self.cpu.server),
            per(self.cpu.postgres),
            per(self.cpu.bench),
        )
    }

    pub fn max_ms(&self) -> f64 {
        self.latency_us.max() as f64 / 1000.0
    }
}

fn histogram() -> Histogram<u64> {
    // 1 µs to 10 min, 3 significant digits.
    Histogram::new_with_bounds(1, 600_000_000, 3).expect("valid histogram bounds")
}

struct TaskResult {
    ops: u64,
    errors: u64,
    first_error: Option<String>,
    last_done: Instant,
    latency_us: Histogram<u64>,
}

pub async fn run<F, Fut>(
    clients: usize,
    warmup: Duration,
    duration: Duration,
    meter: &Meter,
    op: F,
) -> anyhow::Result<Outcome>
where
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), String>> + Send + 'static,
{
    let op = Arc::new(op);
    let start = Instant::now();
    let measure_from = start + warmup;
    let end = measure_from + duration;
    let mut tasks = Vec::with_capacity(clients);
    for _ in 0..clients {
        let op = op.clone();
        tasks.push(tokio::spawn(async move {
            let mut result = TaskResult {
                ops: 0,
                errors: 0,
                first_error: None,
                last_done: measure_from,
                latency_us: histogram(),
            };
            loop {
                let began = Instant::now();
                if began >= end {
                    break;
                }
                let outcome = op().await;
                let done = Instant::now();
                if let Err(error) = outcome {
                    result.errors += 1;
                    result.first_error.get_or_insert(error);
                    continue;
                }
                if began >= measure_from {
                    result.ops += 1;
                    result.last_done = result.last_done.max(done);
                    let micros = u64::try_from((done - began).as_micros()).unwrap_or(u64::MAX);
                    result.latency_us.saturating_record(micros.max(1));
                }
            }
            result
        }));
    }
    tokio::time::sleep_until(measure_from.into()).await;
    let cpu_before = meter.sample();
    tokio::time::sleep_until(end.into()).await;
    let cpu = meter.since(&cpu_before);
    let cpu_window = measure_from.elapsed();
    let mut outcome = Outcome {
        ops: 0,
        errors: 0,
        first_error: None,
        window: Duration::ZERO,
        latency_us: histogram(),
        cpu,
        cpu_window,
    };
    let mut last_done = measure_from;
    for task in tasks {
        let result = task.await?;
        outcome.ops += result.ops;
        outcome.errors += result.errors;
        if outcome.first_error.is_none() {
            outcome.first_error = result.first_error;
        }
        last_done = last_done.max(result.last_done);
        outcome.latency_us.add(&result.latency_us)?;
    }
    outcome.window = last_done - measure_from;
    Ok(outcome)
}
