//! The machine the figures were taken on, and the markdown report.

use std::fmt::Write as _;

use crate::load::Outcome;

pub struct Machine {
    pub cpus: usize,
    pub cpu_model: String,
    pub ram_gib: f64,
    pub commit: String,
    pub postgres: String,
}

impl Machine {
    pub fn describe(postgres: String) -> Machine {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let cpu_model = cpuinfo
            .lines()
            .find_map(|line| line.strip_prefix("model name"))
            .and_then(|rest| rest.split_once(':'))
            .map_or_else(
                || "unknown".to_string(),
                |(_, model)| model.trim().to_string(),
            );
        let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
        let ram_kib: f64 = meminfo
            .lines()
            .find_map(|line| line.strip_prefix("MemTotal:"))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|kib| kib.parse().ok())
            .unwrap_or(0.0);
        Machine {
            cpus: std::thread::available_parallelism().map_or(0, std::num::NonZero::get),
            cpu_model,
            ram_gib: ram_kib / 1024.0 / 1024.0,
            commit: git_commit(),
            postgres,
        }
    }
}

fn git(args: &[&str]) -> Option<String> {
    let output = std::process::Command::new("git").args(args).output().ok()?;
    output
        .status
        .success()
        .then(|| String::from_utf8_lossy(&output.stdout).trim().to_string())
}

fn git_commit() -> String {
    let Some(commit) = git(&["rev-parse", "--short=12", "HEAD"]) else {
        return "unknown (not a git checkout)".into();
    };
    let dirty = git(&["status", "--porcelain", "--untracked-files=no"])
        .is_some_and(|status| !status.is_empty());
    if dirty {
        format!("{commit} (with uncommitted changes)")
    } else {
        commit
    }
}

/// The 1-minute load average.
pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| l.split_whitespace().next().map(str::to_string))
        .unwrap_or_else(|| "?".into())
}

pub struct Item {
    pub name: &'static str,
    pub operation: String,
    /// Size of one response body.
    pub response_bytes: usize,
    pub statements: Vec<String>,
    /// The API with the catalogue cache off: every request runs.
    pub api: Outcome,
    pub direct: Outcome,
    /// The API with the catalogue cache on (the server's default).
    pub cached: Outcome,
}

impl Item {
    /// API (cache off) requests/s over direct statement sets/s.
    pub fn ratio(&self) -> f64 {
        ratio(&self.api, &self.direct)
    }
}

fn ratio(api: &Outcome, direct: &Outcome) -> f64 {
    let direct = direct.per_second();
    if direct == 0.0 {
        return 0.0;
    }
    api.per_second() / direct
}

pub const RATIO_TARGET: f64 = 0.5;
pub const P99_TARGET_MS: f64 = 50.0;

fn verdict(api: &Outcome, direct: &Outcome) -> String {
    let mut missed = Vec::new();
    let ratio = ratio(api, direct);
    if ratio < RATIO_TARGET {
        missed.push(format!(
            "ratio {ratio:.2} < {RATIO_TARGET} ({:.0}% short)",
            (1.0 - ratio / RATIO_TARGET) * 100.0
        ));
    }
    let p99 = api.quantile_ms(0.99);
    if p99 > P99_TARGET_MS {
        missed.push(format!(
            "p99 {p99:.1} ms > {P99_TARGET_MS} ms ({:.1}×)",
            p99 / P99_TARGET_MS
        ));
    }
    if api.errors > 0 || direct.errors > 0 {
        missed.push("errors".into());
    }
    if missed.is_empty() {
        "met".into()
    } else {
        format!("missed: {}", missed.join("; "))
    }
}

pub struct Context {
    pub date: String,
    pub machine: Machine,
    pub clients: usize,
    pub warmup_secs: u64,
    pub duration_secs: u64,
    pub cached_secs: u64,
    pub pool: u32,
    pub catalogue: String,
    pub load_before: String,
    pub load_after: String,
    pub server_bin: String,
}

pub fn render(context: &Context, items: &[Item]) -> String {
    let m = &context.machine;
    let mut out = String::new();
    let _ = writeln!(out, "# Benchmark: catalogue reads\n");
    let _ = writeln!(out, "- date: {}", context.date);
    let _ = writeln!(
        out,
        "- machine: {} CPUs ({}), {:.1} GiB RAM; load average (1 min) {} before, {} after",
        m.cpus, m.cpu_model, m.ram_gib, context.load_before, context.load_after
    );
    let _ = writeln!(
        out,
        "- commit: {}; server binary: {}",
        m.commit, context.server_bin
    );
    let _ = writeln!(out, "- PostgreSQL: {}", m.postgres);
    let _ = writeln!(out, "- catalogue: {}", context.catalogue);
    let _ = writeln!(
        out,
        "- load: {} concurrent clients, {} s warm-up then {} s measured per row and side \
         ({} s with the cache); server pool and direct pool {} connections; server, PostgreSQL \
         and load generator on this one machine",
        context.clients,
        context.warmup_secs,
        context.duration_secs,
        context.cached_secs,
        context.pool
    );
    let _ = writeln!(
        out,
        "- API: POST /graphql of the `server` binary; direct: the SQL statements that \
         server issued for one such request, replayed in order through sqlx (no HTTP, no GraphQL)\n"
    );
    let _ = writeln!(
        out,
        "| item | API req/s | API p50 ms | API p99 ms | API errors | direct sets/s | direct p50 ms | direct p99 ms | statements | ratio API/direct | targets (ratio ≥ {RATIO_TARGET}, p99 ≤ {P99_TARGET_MS} ms) |"
    );
    let _ = writeln!(
        out,
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"
    );
    for item in items {
        let _ = writeln!(
            out,
            "| {} | {:.0} | {:.1} | {:.1} | {} | {:.0} | {:.1} | {:.1} | {} | {:.2} | {} |",
            item.name,
            item.api.per_second(),
            item.api.quantile_ms(0.5),
            item.api.quantile_ms(0.99),
            item.api.errors,
            item.direct.per_second(),
            item.direct.quantile_ms(0.5),
            item.direct.quantile_ms(0.99),
            item.statements.len(),
            item.ratio(),
            verdict(&item.api, &item.direct),
        );
    }
    let _ = writeln!(
        out,
        "\nWith the shop's anonymous catalogue cache on (the server's default; every request \
         after the first is answered from the cache while the catalogue does not change), \
         against the same direct figures:\n"
    );
    let _ = writeln!(
        out,
        "| item | cached req/s | p50 ms | p99 ms | errors | server CPU ms per request | ratio cached/direct | targets |"
    );
    let _ = writeln!(out, "|---|---:|---:|---:|---:|---:|---:|---|");
    for item in items {
        let _ = writeln!(
            out,
            "| {} | {:.0} | {:.2} | {:.2} | {} | {:.3} | {:.2} | {} |",
            item.name,
            item.cached.per_second(),
            item.cached.quantile_ms(0.5),
            item.cached.quantile_ms(0.99),
            item.cached.errors,
            item.cached.cpu_ms_per_op().0,
            ratio(&item.cached, &item.direct),
            verdict(&item.cached, &item.direct),
        );
    }
    let _ = writeln!(
        out,
        "\nCPU time per operation over the measured window, in ms (server process; PostgreSQL \
         backends of the bench database; the bench process, i.e. load generator or replay), and \
         the share of the machine's {} CPUs all three used:\n",
        m.cpus
    );
    let _ = writeln!(
        out,
        "| item | side | server | PostgreSQL | bench | CPU busy |"
    );
    let _ = writeln!(out, "|---|---|---:|---:|---:|---:|");
    for item in items {
        for (side, outcome) in [
            ("API", &item.api),
            ("direct", &item.direct),
            ("API cached", &item.cached),
        ] {
            let (server, postgres, bench) = outcome.cpu_ms_per_op();
            let busy = (outcome.cpu.server + outcome.cpu.postgres + outcome.cpu.bench)
                / outcome.cpu_window.as_secs_f64().max(f64::EPSILON)
                / m.cpus.max(1) as f64;
            let _ = writeln!(
                out,
                "| {} | {side} | {server:.2} | {postgres:.2} | {bench:.2} | {:.0}% |",
                item.name,
                busy * 100.0
            );
        }
    }
    for item in items {
        for (side, outcome) in [
            ("API", &item.api),
            ("direct", &item.direct),
            ("API cached", &item.cached),
        ] {
            if let Some(error) = &outcome.first_error {
                let _ = writeln!(
                    out,
                    "\n{} {side}: {} errors, the first: `{error}`",
                    item.name, outcome.errors
                );
            }
        }
    }
    let _ = writeln!(out, "\n## Operations and the statements replayed\n");
    for item in items {
        let _ = writeln!(
            out,
            "### {}\n\nAPI operation (response {} bytes; max {:.1} ms over {} requests):\n\n```graphql\n{}\n```\n",
            item.name,
            item.response_bytes,
            item.api.max_ms(),
            item.api.ops,
            item.operation
        );
        let _ = writeln!(
            out,
            "Statements (max {:.1} ms over {} sets):\n\n```sql",
            item.direct.max_ms(),
            item.direct.ops
        );
        for sql in &item.statements {
            let _ = writeln!(out, "{sql};");
        }
        let _ = writeln!(out, "```\n");
    }
    out
}
