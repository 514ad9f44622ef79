//! The machine, the run's context and the markdown table of the sync benchmarks.

use std::fmt::Write as _;

use crate::full::FullResult;
use crate::incremental::IncrementalResult;

pub struct Context {
    pub date: String,
    pub cpus: usize,
    pub cpu_model: String,
    pub ram_gib: f64,
    pub commit: String,
    pub load_before: String,
    pub load_after: String,
    /// `rustc` processes seen on the machine before and after (other builds competing).
    pub rustc_before: usize,
    pub rustc_after: usize,
    pub consumers: String,
}

fn first_field(path: &str, key: &str) -> Option<String> {
    std::fs::read_to_string(path)
        .ok()?
        .lines()
        .find_map(|line| line.strip_prefix(key).map(str::to_string))
}

pub fn cpu_model() -> String {
    first_field("/proc/cpuinfo", "model name")
        .and_then(|rest| rest.split_once(':').map(|(_, m)| m.trim().to_string()))
        .unwrap_or_else(|| "unknown".into())
}

pub fn ram_gib() -> f64 {
    first_field("/proc/meminfo", "MemTotal:")
        .and_then(|rest| rest.split_whitespace().next()?.parse::<f64>().ok())
        .unwrap_or(0.0)
        / 1024.0
        / 1024.0
}

pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| l.split_whitespace().next().map(str::to_string))
        .unwrap_or_else(|| "?".into())
}

/// Running `rustc` processes (other engineers' builds share the two cores).
pub fn rustc_processes() -> usize {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return 0;
    };
    entries
        .filter_map(Result::ok)
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .bytes()
                .all(|b| b.is_ascii_digit())
        })
        .filter(|e| {
            std::fs::read_to_string(e.path().join("comm")).is_ok_and(|c| c.trim() == "rustc")
        })
        .count()
}

pub fn git_commit() -> String {
    let git = |args: &[&str]| {
        std::process::Command::new("git")
            .args(args)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
    };
    let Some(commit) = git(&["rev-parse", "--short=12", "HEAD"]) else {
        return "unknown".into();
    };
    let dirty =
        git(&["status", "--porcelain", "--untracked-files=no"]).is_some_and(|s| !s.is_empty());
    if dirty {
        format!("{commit} (with uncommitted changes in the tree)")
    } else {
        commit
    }
}

/// Nearest-rank percentile of `values` (seconds), in milliseconds.
pub fn percentile_ms(values: &[f64], p: f64) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil().max(1.0) as usize;
    sorted[rank.min(sorted.len()) - 1] * 1e3
}

fn verdict(ok: bool) -> &'static str {
    if ok {
        "met"
    } else {
        "MISSED"
    }
}

pub fn render(
    context: &Context,
    full: &[FullResult],
    incremental: Option<&IncrementalResult>,
) -> String {
    let mut md = String::new();
    let _ = writeln!(md, "# Sync benchmarks (issue 10, items 5 and 6)\n");
    let _ = writeln!(
        md,
        "- date: {}\n- machine: {} CPUs ({}), {:.1} GiB RAM; load average (1 min) {} before, {} after; \
         rustc processes (other builds) {} before, {} after\n- commit: {}\n- services: PostgreSQL, \
         RabbitMQ, simulator, worker, consumer and server all on this one machine; {}\n",
        context.date,
        context.cpus,
        context.cpu_model,
        context.ram_gib,
        context.load_before,
        context.load_after,
        context.rustc_before,
        context.rustc_after,
        context.commit,
        context.consumers,
    );
    if !full.is_empty() {
        let _ = writeln!(
            md,
            "## Full sync (simulator → `sync run` → RabbitMQ → `sync consume` → PostgreSQL)\n"
        );
        let _ = writeln!(
            md,
            "| products | page size | Mahak rows | end to end | rows/s | `sync run` (fetch + publish) | `GetAllData` calls (per s) | sync_runs row | consume tail | COPY out | COPY in | COPY rows/s | sync / COPY (≥ 0.5) | worker peak RSS (≤ 200 MB) | consumer peak RSS | simulator peak RSS |"
        );
        let _ = writeln!(
            md,
            "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
        );
        for r in full {
            let _ = writeln!(
                md,
                "| {} | {} | {} | {:.1} s | {:.0} | {:.1} s | {} ({:.1}) | {:.1} s | {:.1} s | {:.1} s | {:.1} s | {:.0} | {:.3} ({}) | {:.0} MiB ({}) | {:.0} MiB | {:.0} MiB |",
                r.products,
                r.page_size,
                r.rows,
                r.end_to_end_secs,
                r.sync_rows_per_sec(),
                r.run_secs,
                r.mahak_requests,
                r.mahak_requests as f64 / r.run_secs,
                r.run_row_secs,
                r.consume_tail_secs,
                r.copy_out_secs,
                r.copy_in_secs,
                r.copy_rows_per_sec(),
                r.ratio(),
                verdict(r.ratio() >= 0.5),
                r.worker_mib,
                verdict(r.worker_mib * 1.048_576 <= 200.0),
                r.consumer_mib,
                r.simulator_mib,
            );
        }
        if let Some(r) = full.iter().max_by_key(|r| r.rows) {
            let mix: Vec<String> = r
                .mix
                .iter()
                .map(|(e, n)| format!("{} {n}", e.name()))
                .collect();
            let _ = writeln!(
                md,
                "\nCPU seconds over the end-to-end window (wall time × CPUs is the machine's \
                 budget; PostgreSQL, RabbitMQ and other work take the rest): {}.\n",
                full.iter()
                    .map(|r| format!(
                        "{} products, page {}: {:.1} s wall, worker {:.1}, consumer {:.1}, simulator {:.1}",
                        r.products, r.page_size, r.end_to_end_secs, r.worker_cpu, r.consumer_cpu, r.simulator_cpu
                    ))
                    .collect::<Vec<_>>()
                    .join("; ")
            );
            let _ = writeln!(
                md,
                "Row mix at {} products: {}; `sync run` fetched {} (rows on a page boundary \
                 are fetched twice: inclusive cursors). COPY moved {:.0} MiB (binary format) through a file \
                 in the page cache. End to end runs from the start of `sync run` to the poll \
                 (200 ms) that found every mirror table complete; the simulator generated its \
                 data before that ({:.1} s).\n",
                r.products,
                mix.join(", "),
                r.fetched,
                r.copy_bytes as f64 / 1_048_576.0,
                r.simulator_ready_secs,
            );
        }
    }
    if let Some(r) = incremental {
        let _ = writeln!(
            md,
            "## Incremental sync (`sync daemon --interval 1s`, consumer, `server serve`)\n"
        );
        let _ = writeln!(
            md,
            "{} products; {} name changes through the simulator's control API, each timed from the \
             change to (a) `product(slug:)` answering the new name (polled every 50 ms) and (b) the \
             admin `syncStatusChanged` event of its fetch (entity PRODUCT, entityFetched ≥ 1).\n",
            r.products, r.changes
        );
        let _ = writeln!(md, "| path | p50 | p99 | max | target p50 ≤ 2 s |");
        let _ = writeln!(md, "|---|---:|---:|---:|---|");
        for (name, values) in [
            ("shop `product(slug:)`", &r.shop_secs),
            ("admin `syncStatusChanged`", &r.event_secs),
        ] {
            let p50 = percentile_ms(values, 50.0);
            let _ = writeln!(
                md,
                "| {name} | {:.0} ms | {:.0} ms | {:.0} ms | {} |",
                p50,
                percentile_ms(values, 99.0),
                percentile_ms(values, 100.0),
                verdict(p50 <= 2000.0)
            );
        }
        let _ = writeln!(
            md,
            "\nPeak RSS: daemon {:.0} MiB, consumer {:.0} MiB, server {:.0} MiB.",
            r.daemon_mib, r.consumer_mib, r.server_mib
        );
    }
    md
}
