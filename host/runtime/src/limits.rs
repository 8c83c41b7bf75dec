//! What one guest may use, enforced per `Store`: linear memory and table growth (refused past the limit, and
//! remembered, so a trap that follows can be named "out of memory"), and capped stdout/stderr that keep the
//! first bytes for the log and silently drop the rest — a guest that floods its output runs on, and the node's
//! memory and log stay bounded.

use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};

/// A `ResourceLimiter` that remembers whether the guest ran into its memory limit.
pub(crate) struct GuestLimiter {
    memory_limit: usize,
    table_elements: usize,
    pub(crate) hit_memory_limit: bool,
}

impl GuestLimiter {
    pub(crate) fn new(memory_limit: usize) -> Self {
        Self { memory_limit, table_elements: 100_000, hit_memory_limit: false }
    }
}

impl wasmtime::ResourceLimiter for GuestLimiter {
    fn memory_growing(&mut self, _current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        if desired > self.memory_limit {
            self.hit_memory_limit = true;
            return Ok(false);
        }
        Ok(true)
    }

    fn table_growing(&mut self, _current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        Ok(desired <= self.table_elements)
    }
}

/// An output stream that keeps at most `cap` bytes and counts what it dropped.
#[derive(Clone)]
pub(crate) struct CappedOutput {
    state: Arc<Mutex<Captured>>,
}

#[derive(Default)]
pub(crate) struct Captured {
    pub(crate) bytes: Vec<u8>,
    pub(crate) dropped: u64,
    cap: usize,
}

impl CappedOutput {
    pub(crate) fn new(cap: usize) -> Self {
        Self { state: Arc::new(Mutex::new(Captured { cap, ..Captured::default() })) }
    }

    /// What was kept and how much was dropped, leaving the stream empty with its cap (a reused instance
    /// captures its next request's output under the same cap).
    pub(crate) fn take(&self) -> Captured {
        let mut state = self.state.lock().expect("output lock");
        let cap = state.cap;
        std::mem::replace(&mut *state, Captured { cap, ..Captured::default() })
    }

    /// Whether nothing was written since the last [`take`](Self::take): the common case, logged for free.
    pub(crate) fn is_empty(&self) -> bool {
        let state = self.state.lock().expect("output lock");
        state.bytes.is_empty() && state.dropped == 0
    }

    fn write(&self, buf: &[u8]) {
        let mut state = self.state.lock().expect("output lock");
        let room = state.cap.saturating_sub(state.bytes.len());
        let kept = room.min(buf.len());
        state.bytes.extend_from_slice(&buf[..kept]);
        state.dropped += (buf.len() - kept) as u64;
    }
}

impl IsTerminal for CappedOutput {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for CappedOutput {
    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

impl tokio::io::AsyncWrite for CappedOutput {
    fn poll_write(self: Pin<&mut Self>, _cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        self.write(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_keeps_the_first_bytes_and_counts_the_rest() {
        let out = CappedOutput::new(10);
        out.write(b"hello ");
        out.write(b"world, and more");
        let captured = out.take();
        assert_eq!(captured.bytes, b"hello worl");
        assert_eq!(captured.dropped, 11);
    }

    #[test]
    fn taking_the_output_keeps_the_cap_for_the_next_request() {
        let out = CappedOutput::new(4);
        out.write(b"first");
        assert!(!out.is_empty());
        out.take();
        assert!(out.is_empty());
        out.write(b"second");
        let captured = out.take();
        assert_eq!(captured.bytes, b"seco");
        assert_eq!(captured.dropped, 2);
    }

    #[test]
    fn memory_past_the_limit_is_refused_and_remembered() {
        use wasmtime::ResourceLimiter;
        let mut limiter = GuestLimiter::new(1 << 20);
        assert!(limiter.memory_growing(0, 1 << 20, None).unwrap());
        assert!(!limiter.hit_memory_limit);
        assert!(!limiter.memory_growing(1 << 20, 2 << 20, None).unwrap());
        assert!(limiter.hit_memory_limit);
    }
}
