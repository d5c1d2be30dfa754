//! Shutdown: the signals that ask for it, the future that resolves when it was asked, and the
//! count of reconciles in flight that it waits for (at most `SHUTDOWN_GRACE`).

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::sync::watch;

use super::SHUTDOWN_GRACE;

/// Marks one reconcile in flight for as long as it lives.
pub(super) struct InFlight(Arc<AtomicUsize>);

impl InFlight {
    pub(super) fn enter(counter: &Arc<AtomicUsize>) -> InFlight {
        counter.fetch_add(1, Ordering::SeqCst);
        InFlight(counter.clone())
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Resolves once shutdown was requested (SIGTERM or Ctrl-C, or leadership lost).
pub(super) fn requested(mut rx: watch::Receiver<bool>) -> impl Future<Output = ()> + Send + Sync + 'static {
    let (tx, done) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        let _ = rx.wait_for(|stop| *stop).await;
        let _ = tx.send(());
    });
    async move {
        let _ = done.await;
    }
}

pub(super) async fn signals(tx: watch::Sender<bool>) {
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = terminate => {}
    }
    tracing::info!("shutdown requested: finishing in-flight reconciles");
    let _ = tx.send(true);
}

/// Resolves once shutdown was requested and the reconciles in flight ended, or the grace ran out.
pub(super) async fn drained(mut stop: watch::Receiver<bool>, in_flight: Arc<AtomicUsize>) {
    let _ = stop.wait_for(|s| *s).await;
    let deadline = tokio::time::Instant::now() + SHUTDOWN_GRACE;
    while in_flight.load(Ordering::SeqCst) > 0 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
