//! The accept loop: HTTP/1.1 and h2c (HTTP/2 with prior knowledge) on one port, one task per connection,
//! and a graceful shutdown that stops accepting, lets in-flight requests finish, and gives up after a grace
//! period.

use crate::Node;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;

/// Serves `node` on `listener` until `shutdown` resolves, then drains connections for up to the configured
/// grace period.
pub async fn serve(node: Arc<Node>, listener: TcpListener, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
    let tls = match (&node.config().tls_cert, &node.config().tls_key) {
        (Some(cert), Some(key)) => Some(Arc::new(super::Tls::load(cert, key)?)),
        (None, None) => None,
        _ => anyhow::bail!("TLS needs both tls_cert and tls_key"),
    };
    if let Some(tls) = &tls {
        reload_on_sighup(tls.clone());
    }
    let builder = auto::Builder::new(TokioExecutor::new());
    let graceful = GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(conn) => conn,
                Err(e) => {
                    // Out of file descriptors and the like: wait a little rather than spin.
                    tracing::warn!("accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let node = node.clone();
        let service = hyper::service::service_fn(move |request| {
            let node = node.clone();
            async move { Ok::<_, std::convert::Infallible>(super::route(node, request).await) }
        });
        match &tls {
            None => {
                let connection = builder.serve_connection_with_upgrades(TokioIo::new(stream), service).into_owned();
                let connection = graceful.watch(connection);
                tokio::spawn(async move {
                    if let Err(e) = connection.await {
                        tracing::debug!(%peer, "connection ended with an error: {e}");
                    }
                });
            }
            Some(tls) => {
                // The handshake runs in the connection's task, so a slow client cannot stall the accept loop.
                let (acceptor, builder, watcher) = (tls.acceptor(), builder.clone(), graceful.watcher());
                tokio::spawn(async move {
                    let stream = match acceptor.accept(stream).await {
                        Ok(stream) => stream,
                        Err(e) => return tracing::debug!(%peer, "TLS handshake failed: {e}"),
                    };
                    let connection = builder.serve_connection_with_upgrades(TokioIo::new(stream), service).into_owned();
                    if let Err(e) = watcher.watch(connection).await {
                        tracing::debug!(%peer, "connection ended with an error: {e}");
                    }
                });
            }
        }
    }
    drop(listener);
    let grace = Duration::from_millis(node.config().shutdown_grace_ms);
    tracing::info!("shutting down: waiting up to {grace:?} for in-flight requests");
    if tokio::time::timeout(grace, graceful.shutdown()).await.is_err() {
        tracing::warn!("grace period over: closing the remaining connections");
    }
    Ok(())
}

/// Reloads the certificate and key whenever the process gets SIGHUP.
fn reload_on_sighup(tls: Arc<super::Tls>) {
    #[cfg(unix)]
    tokio::spawn(async move {
        let Ok(mut hangups) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) else {
            return tracing::warn!("cannot watch SIGHUP: certificates will not reload");
        };
        while hangups.recv().await.is_some() {
            match tls.reload() {
                Ok(()) => tracing::info!("TLS certificate reloaded"),
                Err(e) => tracing::warn!("TLS certificate not reloaded, keeping the old one: {e:#}"),
            }
        }
    });
    #[cfg(not(unix))]
    drop(tls);
}
