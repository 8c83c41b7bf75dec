//! `edge-infer`: the node binary. `serve` runs a node; the other verbs (`tenant`, `model`, `component`,
//! `endpoint`, `call`) are clients of a running node's HTTP API, in [`cli`].

mod cli;

use clap::{Parser, Subcommand};
use edge_infer::config::{ENV_ADMIN_TOKEN, ENV_CATALOG, ENV_CONFIG, ENV_DATA_DIR, ENV_LISTEN, ENV_LOG};
use edge_infer::{Config, Node, NodeOptions};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

/// A WebAssembly edge inference node: tenants' wasm components serve HTTP and run ONNX models through wasi:nn.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serves the catalog's endpoints over HTTP until SIGINT or SIGTERM.
    #[command(after_help = "Environment: EDGE_INFER_LISTEN, EDGE_INFER_DATA_DIR, EDGE_INFER_CONFIG, \
        EDGE_INFER_CATALOG, EDGE_INFER_ADMIN_TOKEN stand in for the flags; EDGE_INFER_LOG sets the log filter \
        (default info). Flags win over the environment, which wins over the config file.")]
    Serve {
        /// Address to listen on [default: 127.0.0.1:8080].
        #[arg(long, env = ENV_LISTEN)]
        listen: Option<SocketAddr>,
        /// Directory for blobs, the catalog and the compile cache [default: ./data].
        #[arg(long, env = ENV_DATA_DIR)]
        data_dir: Option<PathBuf>,
        /// TOML config file (see README for the keys).
        #[arg(long, env = ENV_CONFIG)]
        config: Option<PathBuf>,
        /// Seed catalog (TOML) of tenants, models, components and endpoints to import at start.
        #[arg(long, env = ENV_CATALOG)]
        catalog: Option<PathBuf>,
        /// Operator token for /admin.
        #[arg(long, env = ENV_ADMIN_TOKEN, hide_env_values = true)]
        admin_token: Option<String>,
    },
    #[command(flatten)]
    Client(cli::ClientCommand),
}

fn main() -> anyhow::Result<ExitCode> {
    match Cli::parse().command {
        Command::Serve { listen, data_dir, config, catalog, admin_token } => {
            serve(listen, data_dir, config, catalog, admin_token)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Client(command) => Ok(cli::run(command)),
    }
}

/// `edge-infer serve`: flags over the environment over the config file, then the node until a signal.
fn serve(
    listen: Option<SocketAddr>,
    data_dir: Option<PathBuf>,
    config: Option<PathBuf>,
    catalog: Option<PathBuf>,
    admin_token: Option<String>,
) -> anyhow::Result<()> {
    let filter = tracing_subscriber::EnvFilter::try_from_env(ENV_LOG).unwrap_or_else(|_| "info".into());
    tracing_subscriber::fmt().with_env_filter(filter).init();
    let mut settings = match &config {
        Some(path) => Config::from_file(path)?,
        None => Config::default(),
    };
    settings.listen = listen.unwrap_or(settings.listen);
    settings.data_dir = data_dir.unwrap_or(settings.data_dir);
    settings.catalog = catalog.or(settings.catalog);
    settings.admin_token = admin_token.or(settings.admin_token);

    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(async move {
        let node = Node::start(settings, NodeOptions::default()).await?;
        let listener = tokio::net::TcpListener::bind(node.config().listen).await?;
        tracing::info!("edge-infer listening on http://{}", listener.local_addr()?);
        edge_infer::http::serve(node, listener, shutdown_signal()).await
    })
}

/// Resolves on SIGINT or SIGTERM.
async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(e) => {
                tracing::warn!("cannot watch SIGTERM: {e}");
                std::future::pending::<()>().await
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = interrupt => {}
        () = terminate => {}
    }
}
