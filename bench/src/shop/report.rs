//! The machine the run measured on and the markdown report.

use std::fmt::Write as _;

use super::{checkout, subs};

pub struct Machine {
    pub date: String,
    pub cpus: usize,
    pub ram_gib: f64,
    pub cpu_model: String,
    pub commit: String,
    pub uptime_start: String,
    pub uptime_end: String,
}

fn command_line(program: &str, args: &[&str]) -> String {
    std::process::Command::new(program)
        .args(args)
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_else(|| "unknown".to_string())
}

pub fn uptime() -> String {
    command_line("uptime", &[])
}

impl Machine {
    pub fn now() -> Machine {
        let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
        let ram_kb: f64 = meminfo
            .lines()
            .find_map(|l| l.strip_prefix("MemTotal:"))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|kb| kb.parse().ok())
            .unwrap_or(0.0);
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let cpu_model = cpuinfo
            .lines()
            .find_map(|l| l.strip_prefix("model name"))
            .map(|rest| rest.trim_start_matches([' ', '\t', ':']).to_string())
            .unwrap_or_else(|| "unknown".to_string());
        let mut commit = command_line("git", &["rev-parse", "--short", "HEAD"]);
        if !command_line("git", &["status", "--porcelain", "--untracked-files=no"]).is_empty() {
            commit.push_str(" (working tree with uncommitted changes)");
        }
        Machine {
            date: chrono::Utc::now().format("%Y-%m-%d %H:%M UTC").to_string(),
            cpus: std::thread::available_parallelism().map_or(0, usize::from),
            ram_gib: ram_kb / 1024.0 / 1024.0,
            cpu_model,
            commit,
            uptime_start: uptime(),
            uptime_end: String::new(),
        }
    }
}

pub struct Startup {
    pub empty_ms: Vec<f64>,
    pub full_ms: Vec<f64>,
    pub products: i64,
    pub variants: i64,
    pub rss_idle_empty_kb: u64,
    pub rss_idle_full_kb: u64,
}

fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    sorted.get(sorted.len() / 2).copied().unwrap_or(f64::NAN)
}

fn max(values: &[f64]) -> f64 {
    values.iter().copied().fold(f64::NAN, f64::max)
}

fn mib(kb: u64) -> f64 {
    kb as f64 / 1024.0
}

pub fn markdown(
    machine: &Machine,
    startup: &Startup,
    checkout: &checkout::Outcome,
    subs: &subs::Outcome,
) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "# Shop benchmarks (issue 10, items 3, 4 and 7)\n");
    let _ = writeln!(
        out,
        "- date: {}\n- machine: {} CPUs, {:.1} GiB RAM, {}\n- commit: {}\n- load at start: `{}`\n- load at end: `{}`\n",
        machine.date,
        machine.cpus,
        machine.ram_gib,
        machine.cpu_model,
        machine.commit,
        machine.uptime_start,
        machine.uptime_end
    );
    let _ = writeln!(out, "| measure | value | target |\n|---|---|---|");
    let row = |out: &mut String, what: &str, value: String, target: &str| {
        let _ = writeln!(out, "| {what} | {value} | {target} |");
    };
    let c = checkout;
    row(
        &mut out,
        &format!(
            "checkout: orders paid ({} customers, {:.1} s)",
            c.customers,
            c.elapsed.as_secs_f64()
        ),
        format!(
            "{} ({:.1} orders/s)",
            c.paid,
            c.paid as f64 / c.elapsed.as_secs_f64()
        ),
        "",
    );
    row(
        &mut out,
        "checkout: add + checkout + pay, p50 / p99 / max",
        format!("{:.1} / {:.1} / {:.1} ms", c.p50_ms, c.p99_ms, c.max_ms),
        "",
    );
    row(
        &mut out,
        "checkout: customers signed in by OTP (not timed)",
        c.sign_ins.to_string(),
        "",
    );
    row(
        &mut out,
        "checkout: scarce variant (stock, paid orders, refused for stock, units in orders)",
        format!(
            "{} / {} / {} / {}",
            c.scarce_stock, c.scarce_paid, c.scarce_refused, c.scarce_units_in_orders
        ),
        "units ≤ stock",
    );
    row(
        &mut out,
        "checkout: oversold variants, negative stock rows, paid orders in the database",
        format!("0 / 0 / {}", c.paid_in_database),
        "0 / 0 / = paid",
    );
    let s = subs;
    row(
        &mut out,
        &format!(
            "subscriptions: {} admin `orderPlaced` sockets, {} events, deliveries",
            s.sockets, s.events
        ),
        format!(
            "{} (opened in {:.1} s)",
            s.deliveries,
            s.open_took.as_secs_f64()
        ),
        "all",
    );
    row(
        &mut out,
        "subscriptions: delivery after the checkout's response, p50 / p99 / max",
        format!("{:.1} / {:.1} / {:.1} ms", s.p50_ms, s.p99_ms, s.max_ms),
        "p99 ≤ 100 ms",
    );
    row(
        &mut out,
        "subscriptions: delivery after the checkout request was sent, p50 / p99",
        format!("{:.1} / {:.1} ms", s.from_sent_p50_ms, s.from_sent_p99_ms),
        "",
    );
    row(
        &mut out,
        "subscriptions: CPU per event (a checkout and its delivery to every socket), server / bench",
        format!(
            "{:.0} / {:.0} ms",
            s.server_cpu.as_secs_f64() * 1000.0 / s.events.max(1) as f64,
            s.bench_cpu.as_secs_f64() * 1000.0 / s.events.max(1) as f64
        ),
        "",
    );
    row(
        &mut out,
        "subscriptions: deliveries before the response (counted as 0 ms)",
        s.before_response.to_string(),
        "",
    );
    row(
        &mut out,
        "subscriptions: server RSS before / sockets acknowledged / sockets subscribed, idle",
        format!(
            "{:.1} / {:.1} / {:.1} MiB",
            mib(s.rss_before_kb),
            mib(s.rss_connected_kb),
            mib(s.rss_idle_kb)
        ),
        "",
    );
    row(
        &mut out,
        "subscriptions: server memory per idle subscription (of which the socket alone)",
        format!(
            "{:.1} KiB ({:.1} KiB)",
            s.kb_per_subscription(),
            s.kb_per_connection()
        ),
        "",
    );
    row(
        &mut out,
        &format!(
            "start-up to /readyz 200, empty database, median / max of {}",
            startup.empty_ms.len()
        ),
        format!(
            "{:.0} / {:.0} ms",
            median(&startup.empty_ms),
            max(&startup.empty_ms)
        ),
        "",
    );
    row(
        &mut out,
        &format!(
            "start-up to /readyz 200, {} products × {} variants, median / max of {}",
            startup.products,
            startup.variants / startup.products.max(1),
            startup.full_ms.len()
        ),
        format!(
            "{:.0} / {:.0} ms",
            median(&startup.full_ms),
            max(&startup.full_ms)
        ),
        "",
    );
    row(
        &mut out,
        "server RSS idle, empty / full database",
        format!(
            "{:.1} / {:.1} MiB",
            mib(startup.rss_idle_empty_kb),
            mib(startup.rss_idle_full_kb)
        ),
        "",
    );
    row(
        &mut out,
        "server RSS under the checkout load, mean / peak",
        format!("{:.1} / {:.1} MiB", mib(c.rss_mean_kb), mib(c.rss_peak_kb)),
        "",
    );
    let _ = writeln!(
        out,
        "\nThe load generator runs on the same machine as the server and PostgreSQL; latencies \
         include its own scheduling. Delivery latency is measured from the instant the bench \
         read the checkout's response to the instant a socket's reader saw the event."
    );
    out
}
