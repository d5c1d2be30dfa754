//! The controller's HTTP endpoints (DESIGN §3 `--http-addr`): `/metrics`, `/healthz`, `/readyz`.
//!
//! A minimal HTTP/1.1 server on tokio rather than hyper or axum: three GET endpoints for the
//! kubelet and Prometheus do not justify the dependencies. One request per connection, answered
//! with `Connection: close` and an exact `Content-Length`. The request head is bounded in size
//! ([`MAX_HEAD_BYTES`]) and time ([`HEAD_TIMEOUT`]), and so are readiness checks and writes,
//! so that a slow or malicious client can hold neither a task nor memory for long.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;

/// The largest request head (request line and headers) read before answering 431.
pub const MAX_HEAD_BYTES: usize = 8 * 1024;
/// How long a client has to send its whole request head.
pub const HEAD_TIMEOUT: Duration = Duration::from_secs(5);
/// How long `/readyz` waits for [`Probe::ready`] before answering 503 "timeout". The kubelet's
/// default probe `timeoutSeconds` is 1: set it above 3 to see the reason rather than a timeout.
pub const READY_TIMEOUT: Duration = Duration::from_secs(3);
/// Connections served at once; more are closed at once rather than queued without bound.
pub const MAX_CONNECTIONS: usize = 256;

const METRICS_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";
const TEXT_CONTENT_TYPE: &str = "text/plain; charset=utf-8";

/// What the endpoints report. Implemented by the controller over its [`super::metrics::Metrics`],
/// Kubernetes client and AWS client.
pub trait Probe: Send + Sync + 'static {
    /// The body of `/metrics`, in the Prometheus text format 0.0.4.
    fn metrics(&self) -> String;
    /// Ok when the controller can serve: the CRD can be listed and the AWS client is built;
    /// Err(reason) otherwise.
    fn ready(&self) -> Pin<Box<dyn Future<Output = Result<(), String>> + Send + '_>>;
}

/// Binds the listener. Its `local_addr()` is the bound address, so `--http-addr 127.0.0.1:0`
/// (and tests) get an ephemeral port they can read back.
pub async fn bind(addr: SocketAddr) -> io::Result<TcpListener> {
    TcpListener::bind(addr).await
}

/// Serves `/metrics`, `/healthz` and `/readyz` on `listener` until `shutdown` resolves; then
/// stops accepting, aborts connections still in flight (each is short and bounded) and returns.
pub async fn serve(listener: TcpListener, probe: Arc<dyn Probe>, shutdown: impl Future<Output = ()> + Send) {
    serve_with(listener, probe, shutdown, Limits::default()).await;
}

/// The bounds of one connection; tests shorten them so that they do not wait seconds.
#[derive(Clone, Copy, Debug)]
struct Limits {
    max_head: usize,
    head_timeout: Duration,
    ready_timeout: Duration,
    write_timeout: Duration,
    /// After answering, how long to drain what the client still sends (see [`linger`]).
    linger: Duration,
    max_connections: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_head: MAX_HEAD_BYTES,
            head_timeout: HEAD_TIMEOUT,
            ready_timeout: READY_TIMEOUT,
            write_timeout: Duration::from_secs(5),
            linger: Duration::from_secs(1),
            max_connections: MAX_CONNECTIONS,
        }
    }
}

async fn serve_with(
    listener: TcpListener,
    probe: Arc<dyn Probe>,
    shutdown: impl Future<Output = ()> + Send,
    limits: Limits,
) {
    let mut shutdown = std::pin::pin!(shutdown);
    // A JoinSet rather than detached tasks: finished ones are reaped as we go, the count bounds
    // concurrency, and dropping the set on shutdown leaves nothing running behind `serve`.
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            // Shutdown first, so that a busy listener cannot starve it.
            biased;
            () = &mut shutdown => break,
            Some(joined) = connections.join_next(), if !connections.is_empty() => {
                if let Err(error) = joined {
                    tracing::debug!(%error, "http connection task failed");
                }
            }
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    if connections.len() >= limits.max_connections {
                        tracing::debug!(%peer, "http: too many connections, closing this one");
                        continue;
                    }
                    let probe = Arc::clone(&probe);
                    connections.spawn(async move {
                        if let Err(error) = handle(stream, probe.as_ref(), limits).await {
                            tracing::debug!(%peer, %error, "http connection failed");
                        }
                    });
                }
                Err(error) => {
                    // E.g. EMFILE: the listener stays readable, so back off instead of spinning.
                    tracing::debug!(%error, "http accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
        }
    }
    connections.shutdown().await;
}

/// One response; the body is sent unless the request was HEAD.
#[derive(Debug)]
struct Response {
    status: u16,
    content_type: &'static str,
    body: String,
    head_only: bool,
    allow: bool,
}

impl Response {
    fn text(status: u16, body: impl Into<String>) -> Self {
        Response {
            status,
            content_type: TEXT_CONTENT_TYPE,
            body: body.into(),
            head_only: false,
            allow: false,
        }
    }

    fn encode(&self) -> Vec<u8> {
        let mut head = format!(
            "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: close\r\n\
             Cache-Control: no-store\r\n",
            self.status,
            reason_phrase(self.status),
            self.content_type,
            self.body.len()
        );
        if self.allow {
            head.push_str("Allow: GET, HEAD\r\n");
        }
        head.push_str("\r\n");
        let mut bytes = head.into_bytes();
        if !self.head_only {
            bytes.extend_from_slice(self.body.as_bytes());
        }
        bytes
    }
}

fn reason_phrase(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        431 => "Request Header Fields Too Large",
        503 => "Service Unavailable",
        505 => "HTTP Version Not Supported",
        _ => "",
    }
}

/// Why no complete request head was read.
#[derive(Debug)]
enum HeadError {
    /// The client closed before sending anything: a TCP probe or port scan, nothing to answer.
    Closed,
    /// The client closed in the middle of the head.
    Incomplete,
    TooLarge,
    Io(io::Error),
}

async fn handle(mut stream: TcpStream, probe: &dyn Probe, limits: Limits) -> io::Result<()> {
    let response =
        match tokio::time::timeout(limits.head_timeout, read_head(&mut stream, limits.max_head)).await {
            Ok(Ok(head)) => respond(&head, probe, limits).await,
            Ok(Err(HeadError::Closed)) => return Ok(()),
            Ok(Err(HeadError::Incomplete)) => Response::text(400, "incomplete request\n"),
            Ok(Err(HeadError::TooLarge)) => Response::text(431, "request head too large\n"),
            Ok(Err(HeadError::Io(error))) => return Err(error),
            Err(_elapsed) => Response::text(408, "request timeout\n"),
        };
    let bytes = response.encode();
    let written = tokio::time::timeout(limits.write_timeout, async {
        stream.write_all(&bytes).await?;
        // FIN right after the response: the client sees the end without waiting on us.
        stream.shutdown().await
    })
    .await;
    match written {
        Ok(result) => result?,
        Err(_elapsed) => {
            return Err(io::Error::new(io::ErrorKind::TimedOut, "writing the response timed out"));
        }
    }
    linger(&mut stream, limits.linger).await;
    Ok(())
}

/// Reads up to the blank line that ends the head, at most `max` bytes of it.
async fn read_head(stream: &mut TcpStream, max: usize) -> Result<Vec<u8>, HeadError> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    loop {
        let n = stream.read(&mut chunk).await.map_err(HeadError::Io)?;
        if n == 0 {
            return Err(if buf.is_empty() { HeadError::Closed } else { HeadError::Incomplete });
        }
        buf.extend_from_slice(&chunk[..n]);
        // Rescanning the whole buffer is at most 8 KiB per read: simpler than tracking a cursor.
        if let Some(end) = head_end(&buf) {
            if end > max {
                return Err(HeadError::TooLarge);
            }
            buf.truncate(end);
            return Ok(buf);
        }
        if buf.len() > max {
            return Err(HeadError::TooLarge);
        }
    }
}

/// The length of the head including its terminating blank line (CRLF CRLF, or bare LF LF, which
/// RFC 9112 allows a recipient to accept).
fn head_end(buf: &[u8]) -> Option<usize> {
    let crlf = buf.windows(4).position(|w| w == b"\r\n\r\n").map(|i| i + 4);
    let lf = buf.windows(2).position(|w| w == b"\n\n").map(|i| i + 2);
    match (crlf, lf) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// The response to a complete head. Headers are not needed by any endpoint and are ignored.
async fn respond(head: &[u8], probe: &dyn Probe, limits: Limits) -> Response {
    let Some(line) = head.split(|b| *b == b'\n').next().and_then(|l| std::str::from_utf8(l).ok()) else {
        return Response::text(400, "bad request line\n");
    };
    let line = line.strip_suffix('\r').unwrap_or(line);
    let mut parts = line.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Response::text(400, "bad request line\n");
    };
    if !version.starts_with("HTTP/") {
        return Response::text(400, "bad request line\n");
    }
    if version != "HTTP/1.1" && version != "HTTP/1.0" {
        return Response::text(505, "only HTTP/1.x is served\n");
    }
    // The query string does not select anything here (e.g. `/readyz?verbose`).
    let path = target.split(['?', '#']).next().unwrap_or(target);

    #[derive(Clone, Copy)]
    enum Endpoint {
        Metrics,
        Health,
        Ready,
    }
    let endpoint = match path {
        "/metrics" => Endpoint::Metrics,
        "/healthz" => Endpoint::Health,
        "/readyz" => Endpoint::Ready,
        _ => return Response::text(404, "not found\n"),
    };
    let head_only = match method {
        "GET" => false,
        "HEAD" => true,
        _ => return Response { allow: true, ..Response::text(405, "method not allowed\n") },
    };

    let mut response = match endpoint {
        Endpoint::Metrics => Response {
            status: 200,
            content_type: METRICS_CONTENT_TYPE,
            body: probe.metrics(),
            head_only: false,
            allow: false,
        },
        // Liveness only says the process still answers; readiness checks the dependencies.
        Endpoint::Health => Response::text(200, "ok"),
        Endpoint::Ready => match tokio::time::timeout(limits.ready_timeout, probe.ready()).await {
            Ok(Ok(())) => Response::text(200, "ok"),
            Ok(Err(reason)) => {
                tracing::debug!(%reason, "readyz: not ready");
                Response::text(503, reason)
            }
            Err(_elapsed) => {
                tracing::debug!("readyz: the readiness check timed out");
                Response::text(503, "timeout")
            }
        },
    };
    response.head_only = head_only;
    response
}

/// Reads and discards what the client still sends (a request body, the rest of an oversized
/// head) for a bounded time after the response: closing a socket with unread data makes the
/// kernel send RST, which can destroy the response before the client has read it.
async fn linger(stream: &mut TcpStream, duration: Duration) {
    const MAX_DRAIN: usize = 64 * 1024;
    let _ = tokio::time::timeout(duration, async {
        let mut drained = 0;
        let mut chunk = [0u8; 1024];
        while drained < MAX_DRAIN {
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => break,
                Ok(n) => drained += n,
            }
        }
    })
    .await;
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use tokio::sync::oneshot;
    use tokio::task::JoinHandle;

    use super::*;

    struct TestProbe {
        ready: Result<(), String>,
        ready_delay: Duration,
        metrics_calls: AtomicUsize,
    }

    impl TestProbe {
        fn ready() -> Self {
            TestProbe { ready: Ok(()), ready_delay: Duration::ZERO, metrics_calls: AtomicUsize::new(0) }
        }
    }

    impl Probe for TestProbe {
        fn metrics(&self) -> String {
            self.metrics_calls.fetch_add(1, Ordering::SeqCst);
            "# HELP lac_reconciles_total x\n# TYPE lac_reconciles_total counter\nlac_reconciles_total 7\n"
                .into()
        }

        fn ready(&self) -> Pin<Box<dyn Future<Output = Result<(), String>> + Send + '_>> {
            Box::pin(async move {
                tokio::time::sleep(self.ready_delay).await;
                self.ready.clone()
            })
        }
    }

    fn test_limits() -> Limits {
        Limits {
            head_timeout: Duration::from_millis(300),
            ready_timeout: Duration::from_millis(200),
            linger: Duration::from_millis(200),
            ..Limits::default()
        }
    }

    struct Server {
        addr: SocketAddr,
        stop: Option<oneshot::Sender<()>>,
        task: JoinHandle<()>,
    }

    async fn start(probe: impl Probe, limits: Limits) -> Server {
        let listener = bind("127.0.0.1:0".parse().unwrap()).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let probe: Arc<dyn Probe> = Arc::new(probe);
        let task = tokio::spawn(serve_with(
            listener,
            probe,
            async move {
                let _ = stopped.await;
            },
            limits,
        ));
        Server { addr, stop: Some(stop), task }
    }

    impl Server {
        async fn stop(mut self) {
            if let Some(stop) = self.stop.take() {
                let _ = stop.send(());
            }
            tokio::time::timeout(Duration::from_secs(5), self.task)
                .await
                .expect("serve returns after shutdown")
                .unwrap();
        }
    }

    #[derive(Debug)]
    struct Reply {
        status_line: String,
        headers: Vec<(String, String)>,
        body: String,
    }

    impl Reply {
        fn status(&self) -> u16 {
            self.status_line.split(' ').nth(1).unwrap().parse().unwrap()
        }

        fn header(&self, name: &str) -> Option<&str> {
            self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
        }
    }

    /// Sends raw bytes, reads to EOF (bounded), and parses the response.
    async fn exchange(addr: SocketAddr, request: &[u8]) -> Reply {
        let raw = tokio::time::timeout(Duration::from_secs(5), async {
            let mut stream = TcpStream::connect(addr).await.unwrap();
            stream.write_all(request).await.unwrap();
            let mut raw = Vec::new();
            stream.read_to_end(&mut raw).await.unwrap();
            raw
        })
        .await
        .expect("the server answers and closes");
        parse_reply(&raw)
    }

    fn parse_reply(raw: &[u8]) -> Reply {
        let text = String::from_utf8(raw.to_vec()).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").expect("a complete head");
        let mut lines = head.split("\r\n");
        let status_line = lines.next().unwrap().to_string();
        let headers = lines
            .map(|l| {
                let (n, v) = l.split_once(": ").unwrap();
                (n.to_string(), v.to_string())
            })
            .collect();
        Reply { status_line, headers, body: body.to_string() }
    }

    async fn get(addr: SocketAddr, path: &str) -> Reply {
        exchange(
            addr,
            format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nUser-Agent: test\r\n\r\n").as_bytes(),
        )
        .await
    }

    fn assert_framing(reply: &Reply) {
        assert_eq!(reply.header("Connection"), Some("close"));
        assert_eq!(reply.header("Content-Length"), Some(reply.body.len().to_string().as_str()), "{reply:?}");
    }

    #[tokio::test]
    async fn bind_reports_the_ephemeral_port() {
        let listener = bind("127.0.0.1:0".parse().unwrap()).await.unwrap();
        let addr = listener.local_addr().unwrap();
        assert!(addr.ip().is_loopback());
        assert_ne!(addr.port(), 0);
    }

    #[tokio::test]
    async fn healthz_is_ok() {
        let server = start(TestProbe::ready(), test_limits()).await;
        let reply = get(server.addr, "/healthz").await;
        assert_eq!(reply.status_line, "HTTP/1.1 200 OK");
        assert_eq!(reply.header("Content-Type"), Some("text/plain; charset=utf-8"));
        assert_eq!(reply.body, "ok");
        assert_framing(&reply);
        server.stop().await;
    }

    #[tokio::test]
    async fn metrics_serve_the_probe_text_as_prometheus_format() {
        let server = start(TestProbe::ready(), test_limits()).await;
        let reply = get(server.addr, "/metrics").await;
        assert_eq!(reply.status_line, "HTTP/1.1 200 OK");
        assert_eq!(reply.header("Content-Type"), Some("text/plain; version=0.0.4; charset=utf-8"));
        assert!(reply.body.ends_with("lac_reconciles_total 7\n"), "{}", reply.body);
        assert_framing(&reply);
        server.stop().await;
    }

    #[tokio::test]
    async fn readyz_is_ok_when_the_probe_is_ready() {
        let server = start(TestProbe::ready(), test_limits()).await;
        let reply = get(server.addr, "/readyz").await;
        assert_eq!(reply.status(), 200);
        assert_eq!(reply.body, "ok");
        assert_framing(&reply);
        server.stop().await;
    }

    #[tokio::test]
    async fn readyz_is_503_with_the_reason_when_not_ready() {
        let probe =
            TestProbe { ready: Err("cannot list LambdaAliasSets: forbidden".into()), ..TestProbe::ready() };
        let server = start(probe, test_limits()).await;
        let reply = get(server.addr, "/readyz").await;
        assert_eq!(reply.status_line, "HTTP/1.1 503 Service Unavailable");
        assert_eq!(reply.body, "cannot list LambdaAliasSets: forbidden");
        assert_framing(&reply);
        server.stop().await;
    }

    #[tokio::test]
    async fn readyz_is_503_timeout_when_the_probe_hangs() {
        let probe = TestProbe { ready_delay: Duration::from_secs(60), ..TestProbe::ready() };
        let server = start(probe, test_limits()).await;
        let started = std::time::Instant::now();
        let reply = get(server.addr, "/readyz").await;
        assert_eq!(reply.status(), 503);
        assert_eq!(reply.body, "timeout");
        assert!(started.elapsed() < Duration::from_secs(3), "bounded by the ready timeout");
        server.stop().await;
    }

    #[tokio::test]
    async fn unknown_path_is_404() {
        let server = start(TestProbe::ready(), test_limits()).await;
        for path in ["/", "/metricsx", "/healthz/", "/favicon.ico"] {
            let reply = get(server.addr, path).await;
            assert_eq!(reply.status_line, "HTTP/1.1 404 Not Found", "{path}");
            assert_framing(&reply);
        }
        server.stop().await;
    }

    #[tokio::test]
    async fn query_string_is_ignored() {
        let server = start(TestProbe::ready(), test_limits()).await;
        let reply = get(server.addr, "/healthz?verbose=1").await;
        assert_eq!(reply.status(), 200);
        server.stop().await;
    }

    #[tokio::test]
    async fn other_methods_are_405_with_allow() {
        let server = start(TestProbe::ready(), test_limits()).await;
        let reply = exchange(
            server.addr,
            b"POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n\r\nhello world",
        )
        .await;
        assert_eq!(reply.status_line, "HTTP/1.1 405 Method Not Allowed");
        assert_eq!(reply.header("Allow"), Some("GET, HEAD"));
        assert_framing(&reply);
        let reply = exchange(server.addr, b"DELETE /readyz HTTP/1.1\r\n\r\n").await;
        assert_eq!(reply.status(), 405);
        server.stop().await;
    }

    #[tokio::test]
    async fn head_sends_the_headers_without_the_body() {
        let server = start(TestProbe::ready(), test_limits()).await;
        let reply = exchange(server.addr, b"HEAD /healthz HTTP/1.1\r\n\r\n").await;
        assert_eq!(reply.status(), 200);
        assert_eq!(reply.header("Content-Length"), Some("2"));
        assert_eq!(reply.body, "");
        server.stop().await;
    }

    #[tokio::test]
    async fn http_1_0_and_bare_lf_are_served() {
        let server = start(TestProbe::ready(), test_limits()).await;
        let reply = exchange(server.addr, b"GET /healthz HTTP/1.0\n\n").await;
        assert_eq!(reply.status(), 200);
        assert_eq!(reply.body, "ok");
        server.stop().await;
    }

    #[tokio::test]
    async fn malformed_requests_are_400_or_505() {
        let server = start(TestProbe::ready(), test_limits()).await;
        for (request, status) in [
            (&b"GET\r\n\r\n"[..], 400),
            (b"GET /healthz\r\n\r\n", 400),
            (b"GET /healthz HTTP/1.1 extra\r\n\r\n", 400),
            (b"GET /healthz FTP/1.0\r\n\r\n", 400),
            (b"\xff\xfe /healthz HTTP/1.1\r\n\r\n", 400),
            (b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 505),
        ] {
            let reply = exchange(server.addr, request).await;
            assert_eq!(reply.status(), status, "{:?}", String::from_utf8_lossy(request));
            assert_framing(&reply);
        }
        server.stop().await;
    }

    #[tokio::test]
    async fn request_head_arriving_in_pieces_is_served() {
        let server = start(TestProbe::ready(), test_limits()).await;
        let mut stream = TcpStream::connect(server.addr).await.unwrap();
        for piece in ["GET /hea", "lthz HTTP/1.1\r", "\nHost: x\r\n", "\r\n"] {
            stream.write_all(piece.as_bytes()).await.unwrap();
            stream.flush().await.unwrap();
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let mut raw = Vec::new();
        tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut raw)).await.unwrap().unwrap();
        assert_eq!(parse_reply(&raw).status(), 200);
        server.stop().await;
    }

    #[tokio::test]
    async fn oversized_head_gets_431_or_a_closed_connection_without_hanging() {
        let server = start(TestProbe::ready(), test_limits()).await;
        let outcome = tokio::time::timeout(Duration::from_secs(5), async {
            let mut stream = TcpStream::connect(server.addr).await.unwrap();
            let mut request = b"GET /metrics HTTP/1.1\r\n".to_vec();
            while request.len() < 4 * MAX_HEAD_BYTES {
                request.extend_from_slice(
                    b"X-Padding: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n",
                );
            }
            // The server may stop reading before all of it is written: a write error is fine.
            let _ = stream.write_all(&request).await;
            let mut raw = Vec::new();
            let _ = stream.read_to_end(&mut raw).await;
            raw
        })
        .await
        .expect("the server neither hangs nor waits for the rest");
        if !outcome.is_empty() {
            let reply = parse_reply(&outcome);
            assert_eq!(reply.status_line, "HTTP/1.1 431 Request Header Fields Too Large");
            assert_framing(&reply);
        }
        server.stop().await;
    }

    #[tokio::test]
    async fn slow_client_is_cut_off_and_does_not_block_others() {
        let server = start(TestProbe::ready(), test_limits()).await;
        let mut slow = TcpStream::connect(server.addr).await.unwrap();
        slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n").await.unwrap();

        // Another client is served while the slow one holds its connection.
        let reply = get(server.addr, "/healthz").await;
        assert_eq!(reply.status(), 200);

        // The slow one gets 408 after the head timeout, not never.
        let mut raw = Vec::new();
        tokio::time::timeout(Duration::from_secs(5), slow.read_to_end(&mut raw))
            .await
            .expect("the server gives up on a slow client")
            .unwrap();
        assert_eq!(parse_reply(&raw).status(), 408);
        server.stop().await;
    }

    #[tokio::test]
    async fn a_client_that_closes_without_a_request_is_ignored() {
        let server = start(TestProbe::ready(), test_limits()).await;
        drop(TcpStream::connect(server.addr).await.unwrap());
        let reply = get(server.addr, "/healthz").await;
        assert_eq!(reply.status(), 200);
        server.stop().await;
    }

    #[tokio::test]
    async fn connections_over_the_limit_are_closed() {
        let limits = Limits { max_connections: 1, head_timeout: Duration::from_secs(5), ..test_limits() };
        let server = start(TestProbe::ready(), limits).await;
        // Holds the only slot: connected, sending nothing.
        let _holder = TcpStream::connect(server.addr).await.unwrap();
        tokio::time::sleep(Duration::from_millis(50)).await;
        let mut raw = Vec::new();
        let closed = tokio::time::timeout(Duration::from_secs(2), async {
            let mut stream = TcpStream::connect(server.addr).await.unwrap();
            let _ = stream.write_all(b"GET /healthz HTTP/1.1\r\n\r\n").await;
            let _ = stream.read_to_end(&mut raw).await;
        })
        .await;
        assert!(closed.is_ok(), "closed at once, not queued");
        assert!(raw.is_empty());
        server.stop().await;
    }

    #[tokio::test]
    async fn shutdown_makes_serve_return_even_with_a_connection_open() {
        let server =
            start(TestProbe::ready(), Limits { head_timeout: Duration::from_secs(60), ..test_limits() })
                .await;
        let reply = get(server.addr, "/healthz").await;
        assert_eq!(reply.status(), 200);
        let _idle = TcpStream::connect(server.addr).await.unwrap();
        tokio::time::sleep(Duration::from_millis(20)).await;
        // Returning at all is the point: an idle connection must not hold shutdown up.
        server.stop().await;
    }

    #[tokio::test]
    async fn public_serve_runs_until_shutdown() {
        let listener = bind("127.0.0.1:0".parse().unwrap()).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let probe = Arc::new(TestProbe::ready());
        let task = tokio::spawn(serve(listener, probe.clone(), async move {
            let _ = stopped.await;
        }));
        let reply = get(addr, "/metrics").await;
        assert_eq!(reply.status(), 200);
        assert_eq!(probe.metrics_calls.load(Ordering::SeqCst), 1);
        stop.send(()).unwrap();
        tokio::time::timeout(Duration::from_secs(5), task).await.unwrap().unwrap();
    }
}
