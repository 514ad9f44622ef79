//! Crash points for the tests that prove nothing is lost when a process dies at the worst
//! moment. `SYNC_FAILPOINT=name` (or `name:N`, the N-th time) makes the process abort when
//! it reaches the point `name`: no destructors, no graceful shutdown, like `kill -9`. Only
//! compiled in with the `testing` feature; in a release build `hit` does nothing.
//!
//! Pause points hold a process at a moment instead, so a test can act on it there (send
//! SIGTERM mid-batch): `SYNC_PAUSE=name:millis` makes every arrival at the point `name` print
//! `pause point `name` reached` to standard error, then sleep `millis` milliseconds.

#[cfg(feature = "testing")]
pub fn hit(name: &str) {
    use std::sync::atomic::{AtomicU32, Ordering};
    static HITS: AtomicU32 = AtomicU32::new(0);
    let Ok(spec) = std::env::var("SYNC_FAILPOINT") else {
        return;
    };
    let (point, nth) = spec
        .split_once(':')
        .map_or((spec.as_str(), 1), |(p, n)| (p, n.parse().unwrap_or(1)));
    if point == name && HITS.fetch_add(1, Ordering::SeqCst) + 1 == nth {
        eprintln!("failpoint `{name}` reached: aborting");
        std::process::abort();
    }
}

#[cfg(not(feature = "testing"))]
#[inline(always)]
pub fn hit(_name: &str) {}

/// See the module: sleeps at pause point `name` when `SYNC_PAUSE` names it.
#[cfg(feature = "testing")]
pub async fn pause(name: &str) {
    let Ok(spec) = std::env::var("SYNC_PAUSE") else {
        return;
    };
    let Some((point, millis)) = spec.split_once(':') else {
        return;
    };
    if point != name {
        return;
    }
    let millis: u64 = millis.parse().unwrap_or(0);
    eprintln!("pause point `{name}` reached: sleeping {millis} ms");
    tokio::time::sleep(std::time::Duration::from_millis(millis)).await;
}

#[cfg(not(feature = "testing"))]
#[inline(always)]
pub async fn pause(_name: &str) {}
