//! Uploading a model or component file: the file is streamed (never read whole into memory) with its length
//! in `Content-Length`, so the node can refuse an oversized body before it arrives. A byte progress bar is
//! drawn on stderr only when stderr is a terminal and the file is big enough to be worth watching; scripts and
//! CI logs see no bar at all.

use super::client::Api;
use anyhow::Context as _;
use bytes::Bytes;
use futures_util::{Stream, StreamExt as _};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use reqwest::header::{CONTENT_LENGTH, CONTENT_TYPE, HeaderMap, HeaderValue};
use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;
use std::io::IsTerminal as _;
use std::path::Path;
use std::time::Duration;
use tokio_util::io::ReaderStream;

/// Files smaller than this upload without a progress bar: they are done before a bar would be read.
const BAR_THRESHOLD: u64 = 1 << 20;

/// PUTs the file at `path` to `segments` with `headers` and decodes the node's JSON answer.
pub async fn put_file<T: DeserializeOwned>(
    api: &Api,
    segments: &[&str],
    path: &Path,
    headers: HeaderMap,
) -> anyhow::Result<(StatusCode, T)> {
    let file = tokio::fs::File::open(path).await.with_context(|| format!("cannot open {}", path.display()))?;
    let meta = file.metadata().await.with_context(|| format!("cannot read {}", path.display()))?;
    if !meta.is_file() {
        anyhow::bail!("{} is not a regular file", path.display());
    }
    let len = meta.len();
    let bar = progress_bar(len, std::io::stderr().is_terminal());
    let body = reqwest::Body::wrap_stream(counted(ReaderStream::new(file), bar.clone()));
    let request = api
        .request(Method::PUT, segments)
        .headers(headers)
        .header(CONTENT_TYPE, HeaderValue::from_static("application/octet-stream"))
        .header(CONTENT_LENGTH, len)
        .body(body);
    let answer = api.send_json(request).await;
    bar.finish_and_clear();
    answer
}

/// `chunks`, counted on `bar`; once they are all sent the bar turns into a spinner that waits for the node,
/// which checks the upload (parses the model, compiles the component) before it answers.
fn counted<S>(chunks: S, bar: ProgressBar) -> impl Stream<Item = std::io::Result<Bytes>> + Send + 'static
where
    S: Stream<Item = std::io::Result<Bytes>> + Send + Unpin + 'static,
{
    futures_util::stream::unfold((chunks, bar), |(mut chunks, bar)| async move {
        let chunk = chunks.next().await?;
        if let Ok(bytes) = &chunk {
            bar.inc(bytes.len() as u64);
            // With a Content-Length the client stops polling after the last byte: the end is never seen.
            if bar.length().is_some_and(|len| bar.position() >= len) {
                wait_for_answer(&bar);
            }
        }
        Some((chunk, (chunks, bar)))
    })
}

/// Turns the byte bar into a spinner while the node checks what it got.
fn wait_for_answer(bar: &ProgressBar) {
    if let Ok(style) = ProgressStyle::with_template("{spinner} sent {binary_total_bytes}; {msg} {elapsed}") {
        bar.set_style(style);
    }
    bar.set_message("waiting for the node to check it");
}

/// A byte bar for `len` bytes on stderr, or a hidden one when `terminal` is false or the file is small.
fn progress_bar(len: u64, terminal: bool) -> ProgressBar {
    if !terminal || len < BAR_THRESHOLD {
        return ProgressBar::hidden();
    }
    let style = ProgressStyle::with_template(
        "uploading {bar:40} {binary_bytes}/{binary_total_bytes} {binary_bytes_per_sec} eta {eta}",
    )
    .unwrap_or_else(|_| ProgressStyle::default_bar());
    let bar = ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::stderr()).with_style(style);
    // Redraw while the socket is backed up too, so the rate and eta stay true.
    bar.enable_steady_tick(Duration::from_millis(200));
    bar
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_bar_off_a_terminal_or_for_small_files() {
        assert!(progress_bar(10 << 20, false).is_hidden());
        assert!(progress_bar(1024, true).is_hidden());
    }

    #[tokio::test]
    async fn chunks_are_counted_and_passed_on() {
        let bar = ProgressBar::hidden();
        bar.set_length(5);
        let chunks = futures_util::stream::iter([Ok(Bytes::from_static(b"abc")), Ok(Bytes::from_static(b"de"))]);
        let sent: Vec<_> = counted(chunks, bar.clone()).map(Result::unwrap).collect().await;
        assert_eq!(sent.concat(), b"abcde");
        assert_eq!(bar.position(), 5);
        assert_eq!(bar.message(), "waiting for the node to check it");
    }
}
