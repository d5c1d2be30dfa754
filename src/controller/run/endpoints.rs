//! The HTTP endpoints (`--http-addr`): `/metrics`, `/healthz`, and `/readyz`, which answers
//! whether the sets can be listed and AWS credentials are configured.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;

use kube::api::{Api, ListParams};
use tokio::sync::watch;

use super::super::http::{self, Probe};
use super::super::metrics::Metrics;
use super::RunError;
use super::shutdown::requested;
use crate::api::LambdaAliasSet;
use crate::aws::budget::{Budgets, CallCounter};

/// Readiness: the CRD can be listed (where the controller watches, so namespaced RBAC is
/// enough) and AWS credentials are configured.
pub(super) struct ControllerProbe {
    pub(super) sets: Api<LambdaAliasSet>,
    pub(super) metrics: Arc<Metrics>,
    pub(super) calls: CallCounter,
    pub(super) budgets: Budgets,
    pub(super) aws_ready: Result<(), String>,
    pub(super) shard: Option<String>,
}

impl Probe for ControllerProbe {
    fn metrics(&self) -> String {
        self.metrics.render(&self.calls, &self.budgets)
    }

    fn ready(&self) -> Pin<Box<dyn Future<Output = Result<(), String>> + Send + '_>> {
        Box::pin(async move {
            self.aws_ready.clone()?;
            let mut params = ListParams::default().limit(1);
            if let Some(selector) = &self.shard {
                params = params.labels(selector);
            }
            self.sets
                .list_metadata(&params)
                .await
                .map(|_| ())
                .map_err(|e| format!("cannot list lambdaaliassets (is the CRD installed?): {e}"))
        })
    }
}

/// Binds the address first, so that a port in use stops `run` before anything else starts.
pub(super) async fn bind(addr: SocketAddr) -> Result<tokio::net::TcpListener, RunError> {
    let listener = http::bind(addr).await.map_err(|source| RunError::Listen { addr, source })?;
    tracing::info!(addr = %listener.local_addr().map(|a| a.to_string()).unwrap_or_default(), "serving /metrics, /healthz, /readyz");
    Ok(listener)
}

/// Serves the endpoints until shutdown is requested.
pub(super) fn serve(
    listener: tokio::net::TcpListener,
    probe: ControllerProbe,
    stop: watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(http::serve(listener, Arc::new(probe), requested(stop)))
}
