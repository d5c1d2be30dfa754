//! The HTTP client SMAPI and Login with Amazon are called through.
//!
//! Built on hyper-util's pooled client and hyper-rustls rather than reqwest: kube and the AWS SDK
//! already compile exactly these crates (hyper 1, hyper-util, hyper-rustls 0.27, rustls 0.23 on
//! aws-lc-rs), so this adds no crate to the build, and the crypto provider is the tree's one
//! (aws-lc-rs, passed explicitly: no dependence on a process default, and no ring). Server
//! certificates are checked against the system's roots (rustls-native-certs, like the AWS SDK's
//! client; the distroless image ships CA certificates). reqwest would bring its own copy of the
//! stack for three GETs and a form POST. No retries here: the caller retries a 401 once with a
//! fresh token, and everything else goes back to the reconcile loop, which backs off.

use std::sync::Arc;
use std::time::Duration;

use http::{HeaderMap, Request, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Bytes;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

/// TCP connect (TLS excluded): an endpoint that does not accept a connection in this time is down.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// One whole exchange: connect, TLS, request, and the full response body.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Idle pooled connections are dropped after this (SMAPI is polled once per reconcile).
const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// Larger answers are refused: a stage manifest with every locale is well under 1 MiB.
const MAX_BODY_BYTES: usize = 4 << 20;

pub(crate) struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

#[derive(Clone)]
pub(crate) struct Http {
    client: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
}

impl Http {
    /// `require_roots`: fail when the system has no CA certificates (an `https://` endpoint could
    /// never be verified); otherwise (plain-HTTP endpoints, as in tests) go on without them.
    pub fn new(require_roots: bool) -> Result<Http, String> {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let builder = match hyper_rustls::HttpsConnectorBuilder::new()
            .with_provider_and_native_roots(provider.clone())
        {
            Ok(builder) => builder,
            Err(e) if require_roots => return Err(format!("no usable system CA certificates: {e}")),
            Err(_) => {
                let config = rustls::ClientConfig::builder_with_provider(provider)
                    .with_safe_default_protocol_versions()
                    .map_err(|e| format!("TLS configuration: {e}"))?
                    .with_root_certificates(rustls::RootCertStore::empty())
                    .with_no_client_auth();
                hyper_rustls::HttpsConnectorBuilder::new().with_tls_config(config)
            }
        };
        let mut http = HttpConnector::new();
        http.set_connect_timeout(Some(CONNECT_TIMEOUT));
        http.enforce_http(false);
        let connector = builder.https_or_http().enable_http1().wrap_connector(http);
        let client =
            Client::builder(TokioExecutor::new()).pool_idle_timeout(POOL_IDLE_TIMEOUT).build(connector);
        Ok(Http { client })
    }

    /// Sends one request and reads the whole answer, within [`REQUEST_TIMEOUT`]. The error is a
    /// transport failure, with its causes; it never contains the request.
    pub async fn send(&self, request: Request<Full<Bytes>>) -> Result<Reply, String> {
        let exchange = async {
            let response = self.client.request(request).await.map_err(|e| crate::error_chain(&e))?;
            let (parts, body) = response.into_parts();
            let body = Limited::new(body, MAX_BODY_BYTES)
                .collect()
                .await
                .map_err(|e| format!("reading the answer: {e}"))?
                .to_bytes();
            Ok(Reply { status: parts.status, headers: parts.headers, body })
        };
        match tokio::time::timeout(REQUEST_TIMEOUT, exchange).await {
            Ok(result) => result,
            Err(_) => Err(format!("no complete answer within {}s", REQUEST_TIMEOUT.as_secs())),
        }
    }
}
