//! The accept loop. Every connection takes a slot of `limits.max_connections` and of
//! `limits.max_connections_per_ip` (one more is closed at once, before anything is read), has
//! `limits.header_read_timeout_secs` to send each request's headers (so slow or idle
//! connections cannot hold slots), `limits.send_timeout_secs` to take each part of an answer
//! (a client that stops reading loses its connection), and carries its client's address to the
//! handlers. Each
//! connection runs as a tracked task; shutdown stops accepting, lets requests in flight finish
//! and waits for them at most `limits.shutdown_grace_secs`.

use crate::{Metrics, throttle::AddressCounter};
use axum::{Router, extract::ConnectInfo};
use hyper::{body::Incoming, server::conn::http1, service::service_fn};
use hyper_util::{
    rt::{TokioIo, TokioTimer},
    server::graceful::GracefulShutdown,
};
use std::{
    future::Future,
    io,
    net::SocketAddr,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
    time::Duration,
};
use tokio::{
    io::{AsyncRead, AsyncWrite, ReadBuf},
    net::TcpListener,
    sync::watch,
    time::Sleep,
};
use tokio_util::task::TaskTracker;
use tower::ServiceExt;

/// How the accept loop bounds connections.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ConnectionLimits {
    pub(crate) max_connections: usize,
    pub(crate) max_per_ip: usize,
    pub(crate) header_read_timeout: Duration,
    pub(crate) send_timeout: Duration,
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
    let per_ip = Arc::new(AddressCounter::default());
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
            .serve_connection(
                TokioIo::new(SendDeadline::new(stream, limits.send_timeout)),
                service,
            );
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

/// A connection whose writes fail once one has waited `limit` for the client to read.
struct SendDeadline<T> {
    io: T,
    limit: Duration,
    stalled: Option<Pin<Box<Sleep>>>,
}

impl<T> SendDeadline<T> {
    fn new(io: T, limit: Duration) -> Self {
        Self { io, limit, stalled: None }
    }

    /// `io` answered `progress`: a ready answer ends any stall; a pending one starts or checks
    /// the deadline.
    fn watch<R>(
        &mut self,
        progress: Poll<io::Result<R>>,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<R>> {
        if progress.is_ready() {
            self.stalled = None;
            return progress;
        }
        let limit = self.limit;
        let deadline = self.stalled.get_or_insert_with(|| Box::pin(tokio::time::sleep(limit)));
        match deadline.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "the client stopped reading the answer",
            ))),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for SendDeadline<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for SendDeadline<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let progress = Pin::new(&mut this.io).poll_write(cx, buf);
        this.watch(progress, cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let progress = Pin::new(&mut this.io).poll_write_vectored(cx, bufs);
        this.watch(progress, cx)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let progress = Pin::new(&mut this.io).poll_flush(cx);
        this.watch(progress, cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}

/// The address of the client a request came from, as the accept loop recorded it.
pub(crate) type ClientAddr = ConnectInfo<SocketAddr>;
