//! The controller's HTTP endpoints (README, "The controller": `--http-addr`): `/metrics`, `/healthz`, `/readyz`.
//!
//! hyper's HTTP/1 server, one request per connection (`Connection: close`, as the kubelet and
//! Prometheus need nothing more). The bounds that keep a slow or malicious client from holding
//! a task or memory for long: the request head must arrive within [`HEAD_TIMEOUT`] (hyper's
//! header read timeout: the connection is closed) and within [`MAX_HEAD_BYTES`] (431); at most
//! [`MAX_CONNECTIONS`] are served at once, and the next ones wait in the listen backlog until a
//! slot frees (rather than being refused, which would fail a kubelet probe during a burst);
//! `/readyz` answers within [`READY_TIMEOUT`].

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::header::{ALLOW, CACHE_CONTROL, CONTENT_TYPE, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::{TcpListener, TcpSocket};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

/// The largest request head (request line and headers) read before answering 431; hyper's
/// smallest read buffer.
pub const MAX_HEAD_BYTES: usize = 8 * 1024;
/// How long a client has to send its whole request head.
pub const HEAD_TIMEOUT: Duration = Duration::from_secs(5);
/// How long `/readyz` waits for [`Probe::ready`] before answering 503 "timeout". The kubelet's
/// default probe `timeoutSeconds` is 1: set it above 3 to see the reason rather than a timeout.
pub const READY_TIMEOUT: Duration = Duration::from_secs(3);
/// Connections served at once; the next ones wait in the listen backlog.
pub const MAX_CONNECTIONS: usize = 256;
/// Connections the kernel holds for us beyond [`MAX_CONNECTIONS`] (capped by `somaxconn`); past
/// it, a client's SYN goes unanswered and it retries a second later. tokio's default is 128.
const LISTEN_BACKLOG: u32 = 1024;
/// On shutdown, how long answers in flight may take to finish before their connections are
/// dropped (`run` gives the whole server 500 ms).
const DRAIN: Duration = Duration::from_millis(250);

const TEXT_CONTENT_TYPE: &str = "text/plain; charset=utf-8";

/// What the endpoints report. Implemented by the controller over its [`super::metrics::Metrics`],
/// Kubernetes client and AWS client.
pub trait Probe: Send + Sync + 'static {
    /// The body of `/metrics`, in the Prometheus text format 0.0.4
    /// ([`super::metrics::CONTENT_TYPE`]).
    fn metrics(&self) -> String;
    /// Ok when the controller can serve: the CRD can be listed and the AWS client is built;
    /// Err(reason) otherwise.
    fn ready(&self) -> Pin<Box<dyn Future<Output = Result<(), String>> + Send + '_>>;
}

/// Binds the listener. Its `local_addr()` is the bound address, so `--http-addr 127.0.0.1:0`
/// (and tests) get an ephemeral port they can read back.
pub async fn bind(addr: SocketAddr) -> io::Result<TcpListener> {
    let socket = if addr.is_ipv4() { TcpSocket::new_v4()? } else { TcpSocket::new_v6()? };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(LISTEN_BACKLOG)
}

/// Serves `/metrics`, `/healthz` and `/readyz` on `listener` until `shutdown` resolves; then
/// stops accepting, lets answers in flight finish for a moment, drops what is left and returns.
pub async fn serve(listener: TcpListener, probe: Arc<dyn Probe>, shutdown: impl Future<Output = ()> + Send) {
    serve_with(listener, probe, shutdown, Limits::default()).await;
}

/// The bounds of the server; tests shorten them so that they do not wait seconds.
#[derive(Clone, Copy, Debug)]
struct Limits {
    head_timeout: Duration,
    ready_timeout: Duration,
    max_connections: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits { head_timeout: HEAD_TIMEOUT, ready_timeout: READY_TIMEOUT, max_connections: MAX_CONNECTIONS }
    }
}

async fn serve_with(
    listener: TcpListener,
    probe: Arc<dyn Probe>,
    shutdown: impl Future<Output = ()> + Send,
    limits: Limits,
) {
    let mut shutdown = std::pin::pin!(shutdown);
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.head_timeout)
        .max_buf_size(MAX_HEAD_BYTES)
        .keep_alive(false);
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let graceful = GracefulShutdown::new();
    // A JoinSet rather than detached tasks: dropping it on the way out leaves nothing running
    // behind `serve`.
    let mut connections = JoinSet::new();
    loop {
        // Shutdown first in both waits, so that a busy listener cannot starve it.
        let slot = tokio::select! {
            biased;
            () = &mut shutdown => break,
            slot = Arc::clone(&slots).acquire_owned() => match slot {
                Ok(slot) => slot,
                Err(_closed) => break, // never closed: the server owns the semaphore
            },
        };
        let (stream, peer) = tokio::select! {
            biased;
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // E.g. EMFILE: the listener stays readable, so back off instead of spinning.
                    tracing::debug!(%error, "http accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        while connections.try_join_next().is_some() {}
        let probe = Arc::clone(&probe);
        let service = service_fn(move |request| {
            let probe = Arc::clone(&probe);
            async move { Ok::<_, Infallible>(respond(request, probe.as_ref(), limits.ready_timeout).await) }
        });
        let connection = graceful.watch(http.serve_connection(TokioIo::new(stream), service));
        connections.spawn(async move {
            let _slot = slot;
            if let Err(error) = connection.await {
                // A header timeout, a malformed request, a client gone: nothing to do but say so.
                tracing::debug!(%peer, %error, "http connection ended with an error");
            }
        });
    }
    drop(listener);
    // Idle connections close at once; answers in flight get a moment; the rest are dropped.
    if tokio::time::timeout(DRAIN, graceful.shutdown()).await.is_err() {
        tracing::debug!("http: answers still in flight at shutdown were dropped");
    }
    connections.shutdown().await;
}

fn text(status: StatusCode, content_type: &'static str, body: impl Into<Bytes>) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(body.into()));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// The answer to one request. Headers and body are not needed by any endpoint; hyper sends
/// no body to HEAD.
async fn respond(
    request: Request<Incoming>,
    probe: &dyn Probe,
    ready_timeout: Duration,
) -> Response<Full<Bytes>> {
    let (request, _body) = request.into_parts();
    #[derive(Clone, Copy)]
    enum Endpoint {
        Metrics,
        Health,
        Ready,
    }
    // The query string does not select anything here (e.g. `/readyz?verbose`).
    let endpoint = match request.uri.path() {
        "/metrics" => Endpoint::Metrics,
        "/healthz" => Endpoint::Health,
        "/readyz" => Endpoint::Ready,
        _ => return text(StatusCode::NOT_FOUND, TEXT_CONTENT_TYPE, "not found\n"),
    };
    if request.method != Method::GET && request.method != Method::HEAD {
        let mut response = text(StatusCode::METHOD_NOT_ALLOWED, TEXT_CONTENT_TYPE, "method not allowed\n");
        response.headers_mut().insert(ALLOW, HeaderValue::from_static("GET, HEAD"));
        return response;
    }
    match endpoint {
        Endpoint::Metrics => text(StatusCode::OK, super::metrics::CONTENT_TYPE, probe.metrics()),
        // Liveness only says the process still answers; readiness checks the dependencies.
        Endpoint::Health => text(StatusCode::OK, TEXT_CONTENT_TYPE, "ok"),
        Endpoint::Ready => match tokio::time::timeout(ready_timeout, probe.ready()).await {
            Ok(Ok(())) => text(StatusCode::OK, TEXT_CONTENT_TYPE, "ok"),
            Ok(Err(reason)) => {
                tracing::debug!(%reason, "readyz: not ready");
                text(StatusCode::SERVICE_UNAVAILABLE, TEXT_CONTENT_TYPE, reason)
            }
            Err(_elapsed) => {
                tracing::debug!("readyz: the readiness check timed out");
                text(StatusCode::SERVICE_UNAVAILABLE, TEXT_CONTENT_TYPE, "timeout")
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Instant;

    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpStream;
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

    /// Sends raw bytes and reads to EOF (bounded): what came back, possibly nothing.
    async fn exchange_raw(addr: SocketAddr, request: &[u8]) -> Vec<u8> {
        tokio::time::timeout(Duration::from_secs(5), async {
            let mut stream = TcpStream::connect(addr).await.unwrap();
            stream.write_all(request).await.unwrap();
            let mut raw = Vec::new();
            stream.read_to_end(&mut raw).await.unwrap();
            raw
        })
        .await
        .expect("the server answers or closes")
    }

    /// Sends raw bytes, reads to EOF (bounded), and parses the response.
    async fn exchange(addr: SocketAddr, request: &[u8]) -> Reply {
        parse_reply(&exchange_raw(addr, request).await)
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
        assert_eq!(reply.header("Connection"), Some("close"), "{reply:?}");
        assert_eq!(reply.header("Content-Length"), Some(reply.body.len().to_string().as_str()), "{reply:?}");
        assert_eq!(reply.header("Cache-Control"), Some("no-store"), "{reply:?}");
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
        let started = Instant::now();
        let reply = get(server.addr, "/readyz").await;
        assert_eq!(reply.status(), 503);
        assert_eq!(reply.body, "timeout");
        eprintln!("readyz with a hanging probe answered in {:?} (ready timeout 200 ms)", started.elapsed());
        server.stop().await;
    }

    #[tokio::test]
    async fn unknown_path_is_404() {
        let server = start(TestProbe::ready(), test_limits()).await;
        for path in ["/", "/metricsx", "/healthz/", "/favicon.ico"] {
            let reply = get(server.addr, path).await;
            assert_eq!(reply.status_line, "HTTP/1.1 404 Not Found", "{path}");
            assert_eq!(reply.body, "not found\n");
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
        assert_eq!(reply.body, "method not allowed\n");
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
        let raw = exchange_raw(server.addr, b"GET /healthz HTTP/1.0\n\n").await;
        let reply = parse_reply(&raw);
        assert_eq!(reply.status(), 200);
        assert_eq!(reply.body, "ok");
        server.stop().await;
    }

    #[tokio::test]
    async fn malformed_requests_are_400_or_closed() {
        let server = start(TestProbe::ready(), test_limits()).await;
        for request in [
            &b"GET\r\n\r\n"[..],
            b"GET /healthz\r\n\r\n",
            b"GET /healthz HTTP/1.1 extra\r\n\r\n",
            b"GET /healthz FTP/1.0\r\n\r\n",
            b"\xff\xfe /healthz HTTP/1.1\r\n\r\n",
            b"GET /healthz HTTP/1.1\r\nNo colon here\r\n\r\n",
            // HTTP/2's preface: this server speaks HTTP/1 only and closes.
            b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
        ] {
            let raw = exchange_raw(server.addr, request).await;
            let shown = String::from_utf8_lossy(request);
            if raw.is_empty() {
                eprintln!("{shown:?}: closed without an answer");
                continue;
            }
            let reply = parse_reply(&raw);
            assert_eq!(reply.status(), 400, "{shown:?}");
        }
        // Still serving.
        assert_eq!(get(server.addr, "/healthz").await.status(), 200);
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
        }
        server.stop().await;
    }

    /// Must show (issue 10): a client that never finishes its headers is cut off after the
    /// header read timeout, and others are served meanwhile.
    #[tokio::test]
    async fn slow_client_is_cut_off_after_the_header_timeout_and_does_not_block_others() {
        let server = start(TestProbe::ready(), test_limits()).await;
        let started = Instant::now();
        let mut slow = TcpStream::connect(server.addr).await.unwrap();
        slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n").await.unwrap();

        // Another client is served while the slow one holds its connection.
        let reply = get(server.addr, "/healthz").await;
        assert_eq!(reply.status(), 200);

        // Then it keeps dribbling header bytes, never the blank line that ends the head.
        let dribble = async {
            for _ in 0..100 {
                if slow.write_all(b"X-Slow: 1\r\n").await.is_err() {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        };
        let _ = tokio::time::timeout(Duration::from_millis(150), dribble).await;
        let mut raw = Vec::new();
        let closed = tokio::time::timeout(Duration::from_secs(5), slow.read_to_end(&mut raw))
            .await
            .expect("the server gives up on a slow client");
        eprintln!(
            "slow client: connection closed after {:?} (header timeout 300 ms): {closed:?}, {} bytes of answer",
            started.elapsed(),
            raw.len()
        );
        // hyper closes without an answer; a reset is as good as a close here.
        assert!(closed.is_err() || raw.is_empty(), "{:?}", String::from_utf8_lossy(&raw));
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

    /// How 500 concurrent GETs of `/healthz` ended.
    #[derive(Debug, Default)]
    struct Burst {
        answered: usize,
        /// Closed (or refused) without an answer: a clean refusal.
        refused: usize,
        /// Anything else: a reset after a partial answer, a wrong status, no end in 10 s.
        broken: Vec<String>,
    }

    async fn burst(addr: SocketAddr, n: usize) -> Burst {
        let mut requests = JoinSet::new();
        for _ in 0..n {
            requests.spawn(async move {
                tokio::time::timeout(Duration::from_secs(10), async move {
                    let mut stream = TcpStream::connect(addr).await?;
                    stream.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").await?;
                    let mut raw = Vec::new();
                    stream.read_to_end(&mut raw).await?;
                    Ok::<_, io::Error>(raw)
                })
                .await
            });
        }
        let mut outcome = Burst::default();
        while let Some(joined) = requests.join_next().await {
            match joined.unwrap() {
                Ok(Ok(raw)) if raw.is_empty() => outcome.refused += 1,
                Ok(Ok(raw)) if raw.starts_with(b"HTTP/1.1 200 OK\r\n") && raw.ends_with(b"\r\n\r\nok") => {
                    outcome.answered += 1
                }
                Ok(Ok(raw)) => outcome.broken.push(String::from_utf8_lossy(&raw).into_owned()),
                Ok(Err(error)) if error.kind() == io::ErrorKind::ConnectionRefused => outcome.refused += 1,
                Ok(Err(error)) => outcome.broken.push(error.to_string()),
                Err(_elapsed) => outcome.broken.push("no end in 10 s".into()),
            }
        }
        outcome
    }

    /// Must show (issue 10): 500 concurrent `/healthz` requests all end, answered or cleanly
    /// refused, with the default cap and with a cap far below 500 (the rest wait their turn).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn five_hundred_concurrent_healthz_all_get_an_answer() {
        for max_connections in [MAX_CONNECTIONS, 16] {
            let server = start(TestProbe::ready(), Limits { max_connections, ..test_limits() }).await;
            let started = Instant::now();
            let outcome = burst(server.addr, 500).await;
            eprintln!(
                "500 concurrent /healthz, cap {max_connections}: {} answered, {} refused, {} broken, in {:?}",
                outcome.answered,
                outcome.refused,
                outcome.broken.len(),
                started.elapsed()
            );
            assert!(outcome.broken.is_empty(), "{:?}", outcome.broken);
            assert_eq!(outcome.answered + outcome.refused, 500);
            // Beyond the cap connections wait in the listen backlog rather than being refused.
            assert_eq!(outcome.answered, 500);
            server.stop().await;
        }
    }

    #[tokio::test]
    async fn connections_beyond_the_cap_wait_for_a_free_slot() {
        let limits = Limits { max_connections: 1, head_timeout: Duration::from_millis(500), ..test_limits() };
        let server = start(TestProbe::ready(), limits).await;
        // Holds the only slot: connected, sending nothing.
        let mut holder = TcpStream::connect(server.addr).await.unwrap();
        tokio::time::sleep(Duration::from_millis(50)).await;
        let started = Instant::now();
        let waiting = tokio::spawn(get(server.addr, "/healthz"));
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert!(!waiting.is_finished(), "not served while the only slot is held");
        // The holder is cut off at the header timeout, which frees the slot.
        let mut raw = Vec::new();
        let _ = holder.read_to_end(&mut raw).await;
        let reply = tokio::time::timeout(Duration::from_secs(5), waiting).await.unwrap().unwrap();
        assert_eq!(reply.status(), 200);
        eprintln!("the waiting client was served {:?} after it connected", started.elapsed());
        server.stop().await;
    }

    #[tokio::test]
    async fn shutdown_makes_serve_return_even_with_connections_open() {
        let probe = TestProbe { ready_delay: Duration::from_secs(60), ..TestProbe::ready() };
        let limits = Limits {
            head_timeout: Duration::from_secs(60),
            ready_timeout: Duration::from_secs(60),
            ..test_limits()
        };
        let server = start(probe, limits).await;
        let reply = get(server.addr, "/healthz").await;
        assert_eq!(reply.status(), 200);
        // One idle connection, one waiting on a readiness check that never ends.
        let _idle = TcpStream::connect(server.addr).await.unwrap();
        let mut busy = TcpStream::connect(server.addr).await.unwrap();
        busy.write_all(b"GET /readyz HTTP/1.1\r\n\r\n").await.unwrap();
        tokio::time::sleep(Duration::from_millis(50)).await;
        let started = Instant::now();
        // Returning at all is the point: neither may hold shutdown up.
        server.stop().await;
        eprintln!("serve returned {:?} after shutdown (drain {DRAIN:?})", started.elapsed());
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
