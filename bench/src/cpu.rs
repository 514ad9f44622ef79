//! Where the CPU time of a run goes: the server process, the PostgreSQL backends serving the
//! bench database (other databases' backends, e.g. other work on the machine, are left out),
//! and the bench process itself (load generator and direct replay). Read from /proc; on a
//! system without it every figure is zero.

use std::collections::HashMap;

#[derive(Clone, Copy, Default)]
pub struct CpuSeconds {
    pub server: f64,
    pub postgres: f64,
    pub bench: f64,
}

pub struct Meter {
    ticks_per_second: f64,
    server_pid: Option<u32>,
    database: String,
}

pub struct Sample {
    server: f64,
    bench: f64,
    backends: HashMap<u32, f64>,
}

impl Meter {
    pub fn new(server_pid: Option<u32>, database: &str) -> Meter {
        let ticks_per_second = std::process::Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
            .unwrap_or(100.0);
        Meter {
            ticks_per_second,
            server_pid,
            database: database.to_string(),
        }
    }

    fn process_seconds(&self, pid: &str) -> Option<f64> {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        // Fields after the command name (which may hold spaces) start with the state (field 3);
        // utime and stime are fields 14 and 15.
        let rest = stat.rsplit_once(')')?.1;
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let utime: f64 = fields.get(11)?.parse().ok()?;
        let stime: f64 = fields.get(12)?.parse().ok()?;
        Some((utime + stime) / self.ticks_per_second)
    }

    /// PostgreSQL backends show their database in their title: `postgres: USER DB HOST(PORT) ...`.
    fn backends(&self) -> HashMap<u32, f64> {
        let needle = format!(" {} ", self.database);
        let mut found = HashMap::new();
        let Ok(entries) = std::fs::read_dir("/proc") else {
            return found;
        };
        for entry in entries.flatten() {
            let name = entry.file_name();
            let Some(pid) = name.to_str().and_then(|n| n.parse::<u32>().ok()) else {
                continue;
            };
            let Ok(cmdline) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
                continue;
            };
            let title = String::from_utf8_lossy(&cmdline).replace('\0', " ");
            if title.starts_with("postgres: ") && title.contains(&needle) {
                if let Some(seconds) = self.process_seconds(&pid.to_string()) {
                    found.insert(pid, seconds);
                }
            }
        }
        found
    }

    pub fn sample(&self) -> Sample {
        Sample {
            server: self
                .server_pid
                .and_then(|pid| self.process_seconds(&pid.to_string()))
                .unwrap_or(0.0),
            bench: self.process_seconds("self").unwrap_or(0.0),
            backends: self.backends(),
        }
    }

    /// CPU seconds used between `before` and now. A backend that started in between counts
    /// whole; one that ended in between is missed (the pools keep theirs open).
    pub fn since(&self, before: &Sample) -> CpuSeconds {
        let now = self.sample();
        let postgres = now
            .backends
            .iter()
            .map(|(pid, seconds)| seconds - before.backends.get(pid).copied().unwrap_or(0.0))
            .sum();
        CpuSeconds {
            server: now.server - before.server,
            postgres,
            bench: now.bench - before.bench,
        }
    }
}
