//! Crash points for the tests that prove nothing is lost when a process dies at the worst
//! moment. `SYNC_FAILPOINT=name` (or `name:N`, the N-th time) makes the process abort when
//! it reaches the point `name`: no destructors, no graceful shutdown, like `kill -9`. Only
//! compiled in with the `testing` feature; in a release build `hit` does nothing.

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
