//! Stopping the API without failing a request at the proxy.
//!
//! hyper's graceful shutdown closes idle keep-alive connections at once. A
//! proxy (nginx) may have picked one of them for its next request a moment
//! earlier: the request is written, the connection closes, and nginx answers
//! 502, a POST included, since it must not resend a request it has sent. So
//! on SIGTERM the API instead
//!
//! 1. closes its listening socket: new connections are refused, which nginx
//!    retries on another upstream (nothing was sent on them), and
//! 2. keeps serving the connections it has, each answer saying
//!    `Connection: close`, so the client closes every connection after its
//!    next answer, and idle ones expire on the client's side
//!    (nginx: `keepalive_timeout` in the upstream block);
//! 3. stops once no connection is left, or after `SHUTDOWN_DRAIN_SECS`,
//!    when hyper closes what remains and waits for requests in flight.
//!
//! Connections the kernel completed before the socket closed are accepted
//! and served first. One completed in the microseconds between that last
//! look and the close is reset: nginx retries it unless it had already
//! written a request on it (then a 502), a window far smaller than hyper's
//! closing of every idle connection. HTTP/2 has no `Connection` header: an HTTP/2 client
//! talking to the API directly keeps its connection until the drain limit
//! (nginx speaks HTTP/1.1 to its upstreams).

use std::{
    io,
    net::SocketAddr,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
    time::Duration,
};

use axum::{
    extract::Request,
    http::{header, HeaderValue},
    middleware::Next,
    response::Response,
    serve::Listener,
};
use futures::FutureExt;
use tokio::{
    io::{AsyncRead, AsyncWrite, ReadBuf},
    net::{TcpListener, TcpStream},
    sync::watch,
};
use tokio_util::sync::CancellationToken;

/// A TCP listener that closes its socket when `stop` fires and counts the
/// connections it accepted that are still open.
pub struct DrainingListener {
    socket: Option<TcpListener>,
    addr: SocketAddr,
    stop: CancellationToken,
    open: Arc<watch::Sender<usize>>,
}

impl DrainingListener {
    pub fn new(socket: TcpListener, stop: CancellationToken) -> io::Result<Self> {
        Ok(Self {
            addr: socket.local_addr()?,
            socket: Some(socket),
            stop,
            open: Arc::new(watch::Sender::new(0)),
        })
    }

    /// Resolves when every accepted connection is closed (after `stop`).
    pub fn all_closed(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        let mut open = self.open.subscribe();
        async move {
            let _ = open.wait_for(|n| *n == 0).await;
        }
    }
}

impl Listener for DrainingListener {
    type Io = CountedStream;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            let Some(socket) = &self.socket else {
                // Closed: serve's loop waits here until its own shutdown.
                std::future::pending::<()>().await;
                unreachable!("pending never resolves");
            };
            let accepted = tokio::select! {
                biased;
                _ = self.stop.cancelled() => {
                    // Connections the kernel completed already may carry a
                    // request: serve them, then drop the socket, which makes
                    // the kernel refuse the next ones.
                    match socket.accept().now_or_never() {
                        Some(accepted) => accepted,
                        None => {
                            self.socket = None;
                            tracing::info!(addr = %self.addr, "no longer accepting connections; draining");
                            continue;
                        }
                    }
                }
                accepted = socket.accept() => accepted,
            };
            match accepted {
                Ok((stream, peer)) => {
                    self.open.send_modify(|n| *n += 1);
                    let stream = CountedStream {
                        stream,
                        open: self.open.clone(),
                    };
                    return (stream, peer);
                }
                // Out of file descriptors and the like: as axum does, wait a
                // moment rather than spin.
                Err(e) => {
                    tracing::error!(error = %e, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        Ok(self.addr)
    }
}

/// An accepted connection, counted open until dropped.
pub struct CountedStream {
    stream: TcpStream,
    open: Arc<watch::Sender<usize>>,
}

impl Drop for CountedStream {
    fn drop(&mut self) {
        self.open.send_modify(|n| *n -= 1);
    }
}

impl AsyncRead for CountedStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for CountedStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}

/// Middleware: once `stop` has fired, every answer closes its connection.
pub async fn close_when_stopping(stop: CancellationToken, req: Request, next: Next) -> Response {
    let mut response = next.run(req).await;
    if stop.is_cancelled() {
        response
            .headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    response
}
