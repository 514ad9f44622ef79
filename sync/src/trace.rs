//! W3C trace context (`traceparent`, <https://www.w3.org/TR/trace-context/>) carried from an
//! HTTP request, or a sync run, through RabbitMQ message headers to the logs of the process
//! that handles the message: the same `trace_id` appears in the logs of both, so one search
//! finds everything a request caused.
//!
//! The context of the work in progress is a task-local ([`scope`], [`current`]): the server
//! sets it per request, so code deep in a resolver can stamp the messages it publishes
//! without threading it through every signature.

use std::fmt;
use std::future::Future;

tokio::task_local! {
    static CURRENT: TraceContext;
}

/// One position in a trace: the trace and the span (operation) within it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TraceContext {
    pub trace_id: u128,
    pub span_id: u64,
    pub sampled: bool,
}

impl TraceContext {
    /// A new trace (nothing upstream sent one).
    pub fn new_root() -> TraceContext {
        TraceContext {
            trace_id: nonzero(rand::random),
            span_id: nonzero(rand::random),
            sampled: true,
        }
    }

    /// The trace whose id is `id` (a sync run's id names its trace).
    pub fn for_id(id: uuid::Uuid) -> TraceContext {
        TraceContext {
            trace_id: id.as_u128().max(1),
            ..TraceContext::new_root()
        }
    }

    /// A new span in the same trace (what a message sent from this span carries).
    pub fn child(&self) -> TraceContext {
        TraceContext {
            span_id: nonzero(rand::random),
            ..*self
        }
    }

    /// Parses a `traceparent` header; `None` for anything the spec says to ignore (unknown
    /// version 0xff, all-zero ids, bad lengths or characters).
    pub fn parse(header: &str) -> Option<TraceContext> {
        let mut parts = header.trim().split('-');
        let (version, trace, span, flags) =
            (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
        let hex = |s: &str, len: usize| {
            s.len() == len
                && s.bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        };
        // Version 00 has exactly four fields; later versions may append more.
        if !hex(version, 2) || version == "ff" || (version == "00" && parts.next().is_some()) {
            return None;
        }
        if !hex(trace, 32) || !hex(span, 16) || !hex(flags, 2) {
            return None;
        }
        let trace_id = u128::from_str_radix(trace, 16).ok().filter(|id| *id != 0)?;
        let span_id = u64::from_str_radix(span, 16).ok().filter(|id| *id != 0)?;
        let flags = u8::from_str_radix(flags, 16).ok()?;
        Some(TraceContext {
            trace_id,
            span_id,
            sampled: flags & 1 == 1,
        })
    }

    /// The trace id as logged: 32 lowercase hex digits.
    pub fn trace_id_hex(&self) -> String {
        format!("{:032x}", self.trace_id)
    }
}

/// The `traceparent` header value.
impl fmt::Display for TraceContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "00-{:032x}-{:016x}-{:02x}",
            self.trace_id,
            self.span_id,
            u8::from(self.sampled)
        )
    }
}

fn nonzero<T: PartialEq + From<u8>>(mut draw: impl FnMut() -> T) -> T {
    loop {
        let value = draw();
        if value != T::from(0) {
            return value;
        }
    }
}

/// Runs `future` with `context` as the current trace.
pub async fn scope<F: Future>(context: TraceContext, future: F) -> F::Output {
    CURRENT.scope(context, future).await
}

/// The trace of the work in progress, if it runs inside [`scope`].
pub fn current() -> Option<TraceContext> {
    CURRENT.try_with(|context| *context).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_rejects_what_the_spec_rejects() {
        let header = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let context = TraceContext::parse(header).unwrap();
        assert_eq!(context.to_string(), header);
        assert_eq!(context.trace_id_hex(), "4bf92f3577b34da6a3ce929d0e0e4736");
        assert!(context.sampled);
        let child = context.child();
        assert_eq!(child.trace_id, context.trace_id);
        assert_ne!(child.span_id, context.span_id);
        for bad in [
            "",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
        ] {
            assert_eq!(TraceContext::parse(bad), None, "{bad}");
        }
        // A later version may carry more fields; the first four are still read.
        assert!(
            TraceContext::parse("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00-x")
                .is_some_and(|c| !c.sampled)
        );
    }

    #[tokio::test]
    async fn the_current_context_is_the_scoped_one() {
        assert_eq!(current(), None);
        let context = TraceContext::new_root();
        assert_eq!(scope(context, async { current() }).await, Some(context));
    }
}
