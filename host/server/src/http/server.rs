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
        let connection = builder.serve_connection_with_upgrades(TokioIo::new(stream), service).into_owned();
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(%peer, "connection ended with an error: {e}");
            }
        });
    }
    drop(listener);
    let grace = Duration::from_millis(node.config().shutdown_grace_ms);
    tracing::info!("shutting down: waiting up to {grace:?} for in-flight requests");
    if tokio::time::timeout(grace, graceful.shutdown()).await.is_err() {
        tracing::warn!("grace period over: closing the remaining connections");
    }
    Ok(())
}
