//! The client verbs of the `edge-infer` binary: `tenant`, `model`, `component`, `endpoint` and `call` talk to a
//! running node over its HTTP API, so an operator or a tenant never has to hand-write `curl` lines.
//!
//! Each verb group is one file; [`client`] holds the HTTP plumbing and the error shape they share, [`table`]
//! the one way lists are printed, [`upload`] the streamed file body with its progress bar.

mod call;
mod client;
mod component;
mod endpoint;
mod model;
mod table;
mod tenant;
mod upload;

#[cfg(test)]
mod tests;

use clap::{Args, Subcommand};
use edge_infer::config::ENV_ADMIN_TOKEN;
use reqwest::Url;
use std::io::Write;
use std::process::ExitCode;

/// Base URL of the node the client verbs talk to.
pub const ENV_SERVER: &str = "EDGE_INFER_SERVER";
/// A tenant's API key, sent as `Authorization: Bearer` on `/v1` and `/run` calls.
pub const ENV_KEY: &str = "EDGE_INFER_KEY";
/// Where the client verbs look for a node when neither `--server` nor `EDGE_INFER_SERVER` says.
pub const DEFAULT_SERVER: &str = "http://127.0.0.1:8080";

/// The `after_help` of the tenant verbs.
const ADMIN_ENV_HELP: &str = "Environment: EDGE_INFER_SERVER stands in for --server, EDGE_INFER_ADMIN_TOKEN for \
    --admin-token. Flags win over the environment.";
/// The `after_help` of the `/v1` and `call` verbs.
const ENV_HELP: &str = "Environment: EDGE_INFER_SERVER stands in for --server, EDGE_INFER_KEY for --key. \
    Flags win over the environment.";

/// The client verbs, flattened into the binary's top-level command list next to `serve`.
#[derive(Subcommand)]
pub enum ClientCommand {
    /// Creates, lists and deletes tenants and rotates their API keys (operator: needs the admin token).
    #[command(after_help = ADMIN_ENV_HELP)]
    Tenant(tenant::TenantCmd),
    /// Uploads, lists and removes a tenant's ONNX models.
    #[command(after_help = ENV_HELP)]
    Model(model::ModelCmd),
    /// Uploads, lists and removes a tenant's wasm components.
    #[command(after_help = ENV_HELP)]
    Component(component::ComponentCmd),
    /// Publishes, lists and rolls back a tenant's endpoints (a component bound to models and config).
    #[command(after_help = ENV_HELP)]
    Endpoint(endpoint::EndpointCmd),
    /// Calls an endpoint: ANY /run/TENANT/ENDPOINT[/PATH]; the body goes to stdout, a non-2xx status exits 1.
    #[command(after_help = ENV_HELP)]
    Call(call::CallArgs),
}

/// Where the node is: shared by every client verb.
#[derive(Args, Debug, Clone)]
pub struct ServerOpt {
    /// Base URL of the edge-infer node.
    #[arg(
        long,
        global = true,
        help_heading = "Connection",
        env = ENV_SERVER,
        default_value = DEFAULT_SERVER,
        value_parser = parse_server
    )]
    pub server: Url,
}

/// Where the node is and who the tenant is: the options of the `/v1` verbs.
#[derive(Args, Debug, Clone)]
pub struct TenantConn {
    #[command(flatten)]
    pub server: ServerOpt,
    /// The tenant's API key (from `edge-infer tenant create`).
    #[arg(long, global = true, help_heading = "Connection", env = ENV_KEY, hide_env_values = true)]
    pub key: Option<String>,
}

impl TenantConn {
    /// A client that sends the API key, or a readable error when there is none.
    pub fn client(&self) -> anyhow::Result<client::Api> {
        let key = self
            .key
            .as_deref()
            .filter(|k| !k.is_empty())
            .ok_or_else(|| anyhow::anyhow!("no API key: pass --key KEY or set {ENV_KEY}"))?;
        client::Api::new(&self.server.server, Some(key))
    }
}

/// Where the node is and the operator's token: the options of the `/admin` verbs.
#[derive(Args, Debug, Clone)]
pub struct AdminConn {
    #[command(flatten)]
    pub server: ServerOpt,
    /// The operator token the node was started with (`serve --admin-token`).
    #[arg(long, global = true, help_heading = "Connection", env = ENV_ADMIN_TOKEN, hide_env_values = true)]
    pub admin_token: Option<String>,
}

impl AdminConn {
    /// A client that sends the admin token, or a readable error when there is none.
    pub fn client(&self) -> anyhow::Result<client::Api> {
        let token = self
            .admin_token
            .as_deref()
            .filter(|t| !t.is_empty())
            .ok_or_else(|| anyhow::anyhow!("no admin token: pass --admin-token TOKEN or set {ENV_ADMIN_TOKEN}"))?;
        client::Api::new(&self.server.server, Some(token))
    }
}

/// Parses `--server`: an `http://` URL (this build speaks no TLS; put a TLS-terminating proxy in front).
fn parse_server(s: &str) -> Result<Url, String> {
    let url = Url::parse(s).map_err(|e| format!("not a URL ({e}); expected something like {DEFAULT_SERVER}"))?;
    match url.scheme() {
        "http" => {}
        "https" => return Err("https is not supported by this build of the client; use http://".into()),
        other => return Err(format!("scheme {other}: is not http; expected something like {DEFAULT_SERVER}")),
    }
    if url.cannot_be_a_base() || url.host().is_none() {
        return Err(format!("no host in {s}; expected something like {DEFAULT_SERVER}"));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err("the server URL may not carry a query or a fragment".into());
    }
    Ok(url)
}

/// Runs one client verb to completion; errors are printed as `error: …` and give exit status 1.
pub fn run(command: ClientCommand) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => return fail(&anyhow::anyhow!("cannot start the async runtime: {e}")),
    };
    let outcome = runtime.block_on(async move {
        match command {
            ClientCommand::Tenant(cmd) => cmd.run().await.map(Outcome::Print),
            ClientCommand::Model(cmd) => cmd.run().await.map(Outcome::Print),
            ClientCommand::Component(cmd) => cmd.run().await.map(Outcome::Print),
            ClientCommand::Endpoint(cmd) => cmd.run().await.map(Outcome::Print),
            ClientCommand::Call(args) => args.run().await.map(Outcome::Exit),
        }
    });
    match outcome {
        Ok(Outcome::Print(text)) => match std::io::stdout().lock().write_all(text.as_bytes()) {
            Ok(()) => ExitCode::SUCCESS,
            // `edge-infer model list | head -1` is not a failure.
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
            Err(e) => fail(&anyhow::anyhow!("cannot write to stdout: {e}")),
        },
        Ok(Outcome::Exit(code)) => code,
        Err(e) => fail(&e),
    }
}

/// What a verb leaves behind: text for stdout, or (for `call`, which streams) just an exit status.
enum Outcome {
    Print(String),
    Exit(ExitCode),
}

/// Prints `error: …` (with its causes) to stderr and gives exit status 1.
fn fail(e: &anyhow::Error) -> ExitCode {
    let _ = writeln!(std::io::stderr(), "error: {e:#}");
    ExitCode::FAILURE
}

/// Splits `KEY<sep>VALUE` at the first `sep`, with a non-empty key; `what` names the option in errors.
fn split_pair<'a>(s: &'a str, sep: char, what: &str) -> Result<(&'a str, &'a str), String> {
    let (key, value) = s.split_once(sep).ok_or_else(|| format!("expected {what}, got {s:?}"))?;
    let key = key.trim();
    if key.is_empty() {
        return Err(format!("expected {what}, got {s:?} (empty name)"));
    }
    Ok((key, value))
}
