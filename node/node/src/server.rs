//! The accept loop. Every connection takes a slot of `limits.max_connections` and of
//! `limits.max_connections_per_ip` (one more is closed at once, before anything is read), has
//! `limits.header_read_timeout_secs` to send each request's headers (so slow or idle
//! connections cannot hold slots), and carries its client's address to the handlers. Each
//! connection runs as a tracked task; shutdown stops accepting, lets requests in flight finish
//! and waits for them at most `limits.shutdown_grace_secs`.

use crate::{Metrics, throttle::ConnectionCounter};
use axum::{Router, extract::ConnectInfo};
use hyper::{body::Incoming, server::conn::http1, service::service_fn};
use hyper_util::{
    rt::{TokioIo, TokioTimer},
    server::graceful::GracefulShutdown,
};
use std::{net::SocketAddr, sync::Arc, time::Duration};
use tokio::{net::TcpListener, sync::watch};
use tokio_util::task::TaskTracker;
use tower::ServiceExt;

/// How the accept loop bounds connections.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ConnectionLimits {
    pub(crate) max_connections: usize,
    pub(crate) max_per_ip: usize,
    pub(crate) header_read_timeout: Duration,
}

/// Serves `router` on `listener` until `stop` fires, then closes idle connections and returns
/// once every connection is done (the caller bounds the wait). Connection tasks run on `tasks`.
pub(crate) async fn serve(
    listener: TcpListener,
    router: Router,
    limits: ConnectionLimits,
    tasks: TaskTracker,
    metrics: Arc<Metrics>,
    mut stop: watch::Receiver<bool>,
) {
    let graceful = GracefulShutdown::new();
    let slots = Arc::new(tokio::sync::Semaphore::new(limits.max_connections));
    let per_ip = Arc::new(ConnectionCounter::default());
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    // Out of file descriptors, most likely: let connections close, then go on.
                    tracing::warn!("accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            _ = stop.changed() => break,
        };
        let Ok(slot) = Arc::clone(&slots).try_acquire_owned() else {
            metrics.connection_refused("max_connections");
            continue;
        };
        let Some(ip_slot) = per_ip.open(peer.ip(), limits.max_per_ip) else {
            metrics.connection_refused("max_connections_per_ip");
            continue;
        };
        // Small answers go out at once.
        let _ = stream.set_nodelay(true);
        let router = router.clone();
        let service = service_fn(move |mut request: hyper::Request<Incoming>| {
            request.extensions_mut().insert(ConnectInfo(peer));
            router.clone().oneshot(request)
        });
        let connection = http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(limits.header_read_timeout)
            .serve_connection(TokioIo::new(stream), service);
        let connection = graceful.watch(connection);
        tasks.spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!("connection closed: {e}");
            }
            drop((slot, ip_slot));
        });
    }
    drop(listener);
    graceful.shutdown().await;
}

/// The address of the client a request came from, as the accept loop recorded it.
pub(crate) type ClientAddr = ConnectInfo<SocketAddr>;
