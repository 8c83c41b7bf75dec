//! The test load of an uploaded model: in a child process, under a memory limit and a deadline, before the
//! node loads the model itself.
//!
//! A model file is small; what a backend builds from it need not be. A 256-byte ONNX file can ask tract to
//! fold a constant of 1 GiB at load, or of more memory than the machine has, and `upload_limit` bounds only
//! the file. So the node first loads an uploaded model in a child `edge-infer load-check`, with the same
//! backends, its memory limited by `RLIMIT_DATA` to `model_load_memory_mib` and killed after
//! `model_load_timeout_ms`. A model that does not load there is refused with what the child said or how it
//! ended, and the node never loads it. One test load runs at a time, so test loads add at most one limit to
//! the machine's memory. A guest's raw `wasi:nn` load (`allow_raw_load`) passes the same check: the node's
//! model cache runs it ([`edge_infer_nn::LoadCheck`]) for every model from outside the operator's hands.
//!
//! Models a node loads at start, from its catalog or from a fleet's bucket, were checked where they were
//! uploaded; a seed catalog's files are the operator's own.

use crate::Config;
use crate::config::BackendsConfig;
use anyhow::Context as _;
use bytes::Bytes;
use edge_infer_nn::{Backends, ErrorKind, LoadCheck, ModelConfig, NnError};
use std::future::Future;
use std::io::Read as _;
use std::os::unix::process::ExitStatusExt as _;
use std::path::PathBuf;
use std::pin::Pin;
use std::process::{Output, Stdio};
use std::time::{Duration, Instant};
use tokio::io::AsyncWriteExt as _;

/// The hidden subcommand of `edge-infer` that runs one test load.
pub const SUBCOMMAND: &str = "load-check";

/// The most of the child's stderr an error quotes.
const QUOTED_STDERR: usize = 400;

/// Test loads of uploaded models, one at a time.
pub struct ChildLoadCheck {
    /// `edge-infer` itself.
    program: PathBuf,
    /// Arguments before the subcommand's: none but in tests, which stand a shell script in for the child.
    program_args: Vec<String>,
    memory_bytes: u64,
    timeout: Duration,
    /// What the child needs to find the node's backends: `[backends]` as JSON, and `inference_threads`.
    backends: String,
    threads: usize,
    turn: tokio::sync::Semaphore,
}

impl ChildLoadCheck {
    /// Test loads by `program` (the `edge-infer` binary) with `config`'s limits and backends; `None` when
    /// `model_load_memory_mib` is 0.
    pub fn new(program: PathBuf, config: &Config) -> Option<Self> {
        (config.model_load_memory_mib > 0).then(|| Self {
            program,
            program_args: Vec::new(),
            memory_bytes: config.model_load_memory_mib << 20,
            timeout: Duration::from_millis(config.model_load_timeout_ms),
            backends: serde_json::to_string(&config.backends).expect("[backends] is JSON"),
            threads: config.inference_threads,
            turn: tokio::sync::Semaphore::new(1),
        })
    }

    /// Loads `bytes` as `model` in a child process and says whether it loaded. A model that fails there fails
    /// with the error a load in the node would give, or with how the child ended (out of memory, crashed,
    /// out of time); an error of kind `unknown` means the test load itself could not run.
    pub async fn check(&self, bytes: Bytes, model: &ModelConfig) -> Result<(), NnError> {
        let _turn = self.turn.acquire().await.expect("the test load semaphore is never closed");
        let started = Instant::now();
        let mut child = tokio::process::Command::new(&self.program)
            .args(&self.program_args)
            .arg(SUBCOMMAND)
            .args(["--memory-bytes", &self.memory_bytes.to_string()])
            .args(["--threads", &self.threads.to_string()])
            .args(["--model-bytes", &bytes.len().to_string()])
            .args(["--backends", &self.backends])
            .args(["--model-config", &serde_json::to_string(model).expect("a model config is JSON")])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| not_run(format!("starting {}: {e}", self.program.display())))?;
        let mut stdin = child.stdin.take().expect("stdin is piped");
        let feed = async move {
            // A child that stops reading (it ran out of memory) closes the pipe; how it ended says why.
            let _ = stdin.write_all(&bytes).await;
        };
        let run = async { tokio::join!(feed, child.wait_with_output()).1 };
        // Past the deadline the child is dropped, which kills it.
        let output = match tokio::time::timeout(self.timeout, run).await {
            Err(_) => {
                return Err(NnError::new(
                    ErrorKind::Timeout,
                    format!(
                        "the model did not load within {} ms in the node's test load (model_load_timeout_ms)",
                        self.timeout.as_millis()
                    ),
                ));
            }
            Ok(output) => output.map_err(|e| not_run(format!("waiting for it: {e}")))?,
        };
        let outcome = self.outcome(&output);
        tracing::info!(
            ms = started.elapsed().as_millis() as u64,
            ok = outcome.is_ok(),
            "test load of an uploaded model"
        );
        outcome
    }

    /// What the child's `output` says about the model.
    fn outcome(&self, output: &Output) -> Result<(), NnError> {
        let said = quote(&output.stderr);
        if output.status.success() {
            let report = String::from_utf8_lossy(&output.stdout);
            return match serde_json::from_str::<Result<(), NnError>>(report.trim()) {
                Ok(Ok(())) => Ok(()),
                Ok(Err(mut e)) => {
                    e.message.truncate(e.message.trim_end().len());
                    if e.message.contains("alloc") {
                        e.message.push_str(&format!("; the node's test load may use {}", self.limit()));
                    }
                    Err(e)
                }
                Err(e) => Err(not_run(format!("it answered {report:?} ({e}); {said}"))),
            };
        }
        if output.status.code() == Some(i32::from(EXIT_NOT_RUN)) {
            return Err(not_run(said));
        }
        let ended = match (output.status.signal(), output.status.code()) {
            (Some(signal), _) => format!("was killed by signal {signal}{}", signal_name(signal)),
            (None, code) => format!("exited with status {}", code.unwrap_or(-1)),
        };
        Err(NnError::new(
            ErrorKind::InvalidEncoding,
            format!(
                "the model did not load: the node's test load of it (which may use {}) {ended}: {said}",
                self.limit()
            ),
        ))
    }

    fn limit(&self) -> String {
        format!("{} MiB, model_load_memory_mib", self.memory_bytes >> 20)
    }
}

impl LoadCheck for ChildLoadCheck {
    fn check<'a>(
        &'a self,
        bytes: Bytes,
        config: &'a ModelConfig,
    ) -> Pin<Box<dyn Future<Output = Result<(), NnError>> + Send + 'a>> {
        Box::pin(ChildLoadCheck::check(self, bytes, config))
    }
}

/// A test load that could not run at all: the node's trouble, not the model's.
fn not_run(why: impl std::fmt::Display) -> NnError {
    NnError::new(ErrorKind::Unknown, format!("the test load of the model could not run: {why}"))
}

/// The end of what the child wrote to stderr, on one line.
fn quote(stderr: &[u8]) -> String {
    let text = String::from_utf8_lossy(stderr);
    let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if text.is_empty() {
        return "it wrote nothing".into();
    }
    let start = text.char_indices().rev().nth(QUOTED_STDERR - 1).map_or(0, |(i, _)| i);
    format!("it wrote \"{}{}\"", if start > 0 { "…" } else { "" }, &text[start..])
}

fn signal_name(signal: i32) -> &'static str {
    match signal {
        6 => " (SIGABRT)",
        9 => " (SIGKILL)",
        11 => " (SIGSEGV)",
        _ => "",
    }
}

/// How the child exits when it could not run a test load at all (bad arguments, no memory limit).
const EXIT_NOT_RUN: u8 = 3;

/// The child's arguments, as [`ChildLoadCheck::check`] passes them; the model's bytes come on stdin.
#[derive(Debug, clap::Args)]
pub struct ChildArgs {
    /// The `RLIMIT_DATA` to set before anything else.
    #[arg(long)]
    memory_bytes: u64,
    /// The node's `inference_threads`.
    #[arg(long)]
    threads: usize,
    /// The length of the model on stdin.
    #[arg(long)]
    model_bytes: usize,
    /// The node's `[backends]`, as JSON.
    #[arg(long)]
    backends: String,
    /// The model's config, as JSON.
    #[arg(long)]
    model_config: String,
}

/// The child's side: limits its own memory, reads the model from stdin, loads it with the node's backends and
/// prints the outcome as one JSON line (`{"Ok":null}` or `{"Err":{"kind":…,"message":…}}`). Exits 0 with a
/// report, 3 when it could not try.
pub fn run_child(args: ChildArgs) -> std::process::ExitCode {
    match try_child(args) {
        Ok(report) => {
            println!("{report}");
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{e:#}");
            std::process::ExitCode::from(EXIT_NOT_RUN)
        }
    }
}

fn try_child(args: ChildArgs) -> anyhow::Result<String> {
    let limit = rustix::process::Rlimit { current: Some(args.memory_bytes), maximum: Some(args.memory_bytes) };
    rustix::process::setrlimit(rustix::process::Resource::Data, limit).context("setting RLIMIT_DATA")?;
    let backends: BackendsConfig = serde_json::from_str(&args.backends).context("--backends")?;
    let model: ModelConfig = serde_json::from_str(&args.model_config).context("--model-config")?;
    let mut bytes = Vec::with_capacity(args.model_bytes);
    std::io::stdin().lock().read_to_end(&mut bytes).context("reading the model from stdin")?;
    anyhow::ensure!(bytes.len() == args.model_bytes, "got {} bytes of {} on stdin", bytes.len(), args.model_bytes);
    let config = Config { backends, inference_threads: args.threads, ..Config::default() };
    let backends = crate::backends::survey(&config, Backends::default()).backends;
    let outcome = backends.select(&model).and_then(|backend| backend.load(&bytes, &model)).map(drop);
    Ok(serde_json::to_string(&outcome)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A test load by `script` (run by `sh -c`, the subcommand and its arguments as `$1`…) instead of
    /// `edge-infer`.
    fn by_shell(script: &str, timeout_ms: u64) -> ChildLoadCheck {
        let config = Config { model_load_memory_mib: 64, model_load_timeout_ms: timeout_ms, ..Config::default() };
        let mut check = ChildLoadCheck::new("/bin/sh".into(), &config).unwrap();
        check.program_args = vec!["-c".into(), script.into(), "sh".into()];
        check
    }

    async fn outcome(script: &str) -> Result<(), NnError> {
        by_shell(script, 60_000).check(Bytes::from_static(b"model"), &ModelConfig::default()).await
    }

    #[test]
    fn no_memory_limit_means_no_test_load() {
        let config = Config { model_load_memory_mib: 0, ..Config::default() };
        assert!(ChildLoadCheck::new("edge-infer".into(), &config).is_none());
    }

    #[tokio::test]
    async fn the_child_gets_the_model_and_its_report_is_the_outcome() {
        let script = r#"test "$1 $2 $3 $6 $7" = "load-check --memory-bytes 67108864 --model-bytes 5" || exit 9
            test "$(cat)" = model || exit 9
            echo '{"Ok":null}'"#;
        assert_eq!(outcome(script).await, Ok(()));
        let failed =
            outcome(r#"cat >/dev/null; printf '%s\n' '{"Err":{"kind":"invalid-encoding","message":"bad proto\n"}}'"#);
        assert_eq!(failed.await, Err(NnError::new(ErrorKind::InvalidEncoding, "bad proto")));
    }

    #[tokio::test]
    async fn a_child_that_runs_out_of_memory_is_the_model_s_fault_and_says_so() {
        let e = outcome("echo 'memory allocation of 1073741824 bytes failed' >&2; kill -ABRT $$").await.unwrap_err();
        assert_eq!(e.kind, ErrorKind::InvalidEncoding, "{e}");
        assert!(e.message.contains("(which may use 64 MiB, model_load_memory_mib)"), "{e}");
        assert!(e.message.contains("killed by signal 6 (SIGABRT)"), "{e}");
        assert!(e.message.ends_with("it wrote \"memory allocation of 1073741824 bytes failed\""), "{e}");

        let e = outcome(r#"echo '{"Err":{"kind":"invalid-encoding","message":"failed to allocate 1 GiB"}}'"#);
        let e = e.await.unwrap_err();
        assert!(e.message.ends_with("1 GiB; the node's test load may use 64 MiB, model_load_memory_mib"), "{e}");
    }

    #[tokio::test]
    async fn a_child_past_its_deadline_is_killed_and_the_model_refused() {
        let check = by_shell("sleep 30", 200);
        let started = Instant::now();
        let e = check.check(Bytes::from_static(b"model"), &ModelConfig::default()).await.unwrap_err();
        assert_eq!(e.kind, ErrorKind::Timeout, "{e}");
        assert!(e.message.contains("within 200 ms"), "{e}");
        assert!(started.elapsed() < Duration::from_secs(20), "not waited out: {:?}", started.elapsed());
    }

    #[tokio::test]
    async fn a_test_load_that_cannot_run_is_the_node_s_trouble() {
        let e = outcome("echo 'setting RLIMIT_DATA: permission denied' >&2; exit 3").await.unwrap_err();
        assert_eq!(e.kind, ErrorKind::Unknown, "{e}");
        assert!(e.message.ends_with("could not run: it wrote \"setting RLIMIT_DATA: permission denied\""), "{e}");
        let e = outcome("echo hello").await.unwrap_err();
        assert_eq!(e.kind, ErrorKind::Unknown, "{e}");
        let config = Config::default();
        let missing = ChildLoadCheck::new("/nonexistent/edge-infer".into(), &config).unwrap();
        let e = missing.check(Bytes::new(), &ModelConfig::default()).await.unwrap_err();
        assert_eq!(e.kind, ErrorKind::Unknown, "{e}");
        assert!(e.message.contains("starting /nonexistent/edge-infer"), "{e}");
    }

    #[test]
    fn a_long_stderr_is_quoted_by_its_end_on_one_line() {
        assert_eq!(quote(b""), "it wrote nothing");
        assert_eq!(quote(b"memory allocation of 8 bytes failed\n"), "it wrote \"memory allocation of 8 bytes failed\"");
        let long = format!("{}\nthe end", "é".repeat(1000));
        let quoted = quote(long.as_bytes());
        assert!(quoted.starts_with("it wrote \"…é"), "{quoted}");
        assert!(quoted.ends_with("é the end\""), "{quoted}");
        assert_eq!(quoted.chars().count(), "it wrote \"…\"".chars().count() + QUOTED_STDERR);
    }
}
