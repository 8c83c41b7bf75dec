//! `edge-infer`: the node binary. `serve` runs a node; `backends` lists the inference backends this build and
//! config offer; the other verbs (`tenant`, `model`, `component`, `endpoint`, `call`) are clients of a running
//! node's HTTP API, in [`cli`].

mod cli;

use clap::{Parser, Subcommand};
use edge_infer::config::{
    ENV_ADMIN_TOKEN, ENV_CATALOG, ENV_CONFIG, ENV_DATA_DIR, ENV_LISTEN, ENV_LOG, ENV_LOG_FORMAT, LogFormat,
};
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
    Serve(ServeArgs),
    /// Checks a configuration: reads the file, applies the environment and flags as `serve` would, validates
    /// the seed catalog, and prints the settings in effect (secrets masked).
    Config {
        #[command(subcommand)]
        action: ConfigAction,
    },
    /// Lists the inference backends: which this build has, which this node can use with its config (library
    /// found and loaded), the default, and the order `auto` tries them in. Exits 1 when the config points at a
    /// library that does not load.
    #[command(after_help = "Libraries: [backends.onnxruntime] library or ORT_DYLIB_PATH; [backends.openvino] \
        library, OPENVINO_INSTALL_DIR or LD_LIBRARY_PATH (see README, Backends).")]
    Backends {
        /// TOML config file, as for `serve`.
        #[arg(long, env = ENV_CONFIG)]
        config: Option<PathBuf>,
    },
    #[command(flatten)]
    Client(cli::ClientCommand),
    /// The test load of an uploaded model, run by `serve` in a child process (see load_check.rs).
    #[command(name = edge_infer::load_check::SUBCOMMAND, hide = true)]
    LoadCheck(edge_infer::load_check::ChildArgs),
}

/// What `config` can do.
#[derive(clap::Subcommand)]
enum ConfigAction {
    /// Validates the configuration and prints it.
    Check(ServeArgs),
}

/// The node's settings from the command line; each flag also has an environment variable.
#[derive(clap::Args)]
struct ServeArgs {
    /// Address to listen on [default: 127.0.0.1:8080].
    #[arg(long, env = ENV_LISTEN)]
    listen: Option<SocketAddr>,
    /// Directory for blobs, the catalog and the compile cache [default: ./data].
    #[arg(long, env = ENV_DATA_DIR)]
    data_dir: Option<PathBuf>,
    /// TOML config file with any of the settings (see examples/node.toml).
    #[arg(long, env = ENV_CONFIG)]
    config: Option<PathBuf>,
    /// Seed catalog (TOML) of tenants, models, components and endpoints to import at start.
    #[arg(long, env = ENV_CATALOG)]
    catalog: Option<PathBuf>,
    /// Operator token for /admin and /metrics.
    #[arg(long, env = ENV_ADMIN_TOKEN, hide_env_values = true)]
    admin_token: Option<String>,
    /// Log format: text or json [default: text].
    #[arg(long, env = ENV_LOG_FORMAT)]
    log_format: Option<LogFormat>,
}

impl ServeArgs {
    /// The config file (if any), with the environment and flags over it.
    fn settings(self) -> anyhow::Result<Config> {
        let mut settings = match &self.config {
            Some(path) => Config::from_file(path)?,
            None => Config::default(),
        };
        settings.listen = self.listen.unwrap_or(settings.listen);
        settings.data_dir = self.data_dir.unwrap_or(settings.data_dir);
        settings.catalog = self.catalog.or(settings.catalog);
        settings.admin_token = self.admin_token.or(settings.admin_token);
        settings.log_format = self.log_format.unwrap_or(settings.log_format);
        Ok(settings)
    }
}

fn main() -> anyhow::Result<ExitCode> {
    match Cli::parse().command {
        Command::Serve(args) => {
            serve(args.settings()?)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Config { action: ConfigAction::Check(args) } => {
            let settings = args.settings()?;
            if let Some(seed) = &settings.catalog {
                // Parse only: a store in a temporary directory takes the seed's files.
                let scratch = tempfile::tempdir()?;
                let store = edge_infer_catalog::LocalStore::open(scratch.path())?;
                edge_infer_catalog::load_seed(seed, &store)?;
            }
            print!("{}", settings.to_toml());
            eprintln!("configuration ok");
            Ok(ExitCode::SUCCESS)
        }
        Command::Backends { config } => {
            let settings = match &config {
                Some(path) => Config::from_file(path)?,
                None => Config::default(),
            };
            let survey = edge_infer::backends::survey(&settings, edge_infer_nn::Backends::default());
            print!("{}", survey.render());
            Ok(if survey.errors.is_empty() { ExitCode::SUCCESS } else { ExitCode::FAILURE })
        }
        Command::Client(command) => Ok(cli::run(command)),
        Command::LoadCheck(args) => Ok(edge_infer::load_check::run_child(args)),
    }
}

/// `edge-infer serve`: the node until a signal.
fn serve(settings: Config) -> anyhow::Result<()> {
    let filter = tracing_subscriber::EnvFilter::try_from_env(ENV_LOG).unwrap_or_else(|_| "info".into());
    match settings.log_format {
        LogFormat::Text => tracing_subscriber::fmt().with_env_filter(filter).init(),
        LogFormat::Json => tracing_subscriber::fmt().json().with_current_span(true).with_env_filter(filter).init(),
    }

    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(async move {
        let options = NodeOptions { load_check_program: Some(std::env::current_exe()?), ..NodeOptions::default() };
        let node = Node::start(settings, options).await?;
        let listener = tokio::net::TcpListener::bind(node.config().listen).await?;
        let scheme = if node.config().tls_cert.is_some() { "https" } else { "http" };
        tracing::info!("edge-infer listening on {scheme}://{}", listener.local_addr()?);
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
