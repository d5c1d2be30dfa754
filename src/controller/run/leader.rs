//! Leader election (`--leader-elect`): one coordination.k8s.io Lease per shard; only its holder
//! reconciles, and losing it stops the replica so that another takes over.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use super::super::MANAGER;
use super::super::metrics::Metrics;
use super::{RunError, STEP_TIMEOUT};

/// The lease manager's task: it releases the Lease once the channel's receivers are dropped.
type LeaseTask = tokio::task::JoinHandle<kube_lease_manager::Result<kube_lease_manager::LeaseManager>>;

/// The Lease a replica competes for: [`MANAGER`] without `--shard`; with it, one Lease per
/// shard, so that each shard elects its own leader. A Lease name must be a DNS subdomain, which
/// a selector is not: the name carries the first 8 hex digits of the SHA-256 of the selector's
/// exact text. SHA-256 because Helm can compute it too (`sha256sum`): the chart's Lease Role
/// names these Leases (`lac.leaseNames` in `_helpers.tpl`).
pub fn lease_name(shard: Option<&str>) -> String {
    use sha2::{Digest, Sha256};
    match shard {
        None => MANAGER.to_string(),
        Some(selector) => {
            let digest = Sha256::digest(selector.as_bytes());
            let hex: String = digest[..4].iter().map(|b| format!("{b:02x}")).collect();
            format!("{MANAGER}-shard-{hex}")
        }
    }
}

/// A waiting replica tries for the Lease this often. kube-lease-manager alone waits for the end
/// of the term it last read, even when the holder released the Lease on its way out, so a
/// failover took up to a whole term (15 s); a fresh manager reads the Lease anew (README
/// "Leader election").
pub const FOLLOWER_RETRY: Duration = Duration::from_secs(2);

/// This replica's hold on the Lease: the channel that says it still leads, the task that stops
/// the replica when it does not, and the Lease manager's task.
pub(super) struct Leadership {
    receiver: watch::Receiver<bool>,
    monitor: tokio::task::JoinHandle<()>,
    manager: LeaseTask,
}

/// Waits until this replica leads its shard (the gauge says so), and watches for the loss of the
/// Lease, which sets `stop`. `None` when shutdown was requested first.
pub(super) async fn lead(
    client: kube::Client,
    shard: Option<&str>,
    metrics: &Arc<Metrics>,
    stop: &watch::Sender<bool>,
) -> Result<Option<Leadership>, RunError> {
    let lease = lease_name(shard);
    metrics.leading(&lease, false);
    let Some((receiver, manager)) = elect(client, shard, stop.subscribe()).await? else {
        return Ok(None);
    };
    metrics.leading(&lease, true);
    let mut watch_loss = receiver.clone();
    let (stop, metrics) = (stop.clone(), metrics.clone());
    let monitor = tokio::spawn(async move {
        if watch_loss.wait_for(|leader| !*leader).await.is_ok() {
            metrics.leading(&lease, false);
            tracing::error!("leadership lost: stopping so another replica takes over");
            let _ = stop.send(true);
        }
    });
    Ok(Some(Leadership { receiver, monitor, manager }))
}

impl Leadership {
    /// Gives the Lease up on the way out; an error when it had been lost.
    pub(super) async fn release(self) -> Result<(), RunError> {
        let Leadership { receiver, monitor, manager } = self;
        let lost = !*receiver.borrow();
        // The Lease is released once every receiver is gone, so it shows no holder: a waiting
        // replica takes it within FOLLOWER_RETRY.
        monitor.abort();
        let _ = monitor.await;
        drop(receiver);
        if tokio::time::timeout(STEP_TIMEOUT, manager).await.is_err() {
            tracing::warn!("the Lease was not released in time; it expires on its own");
        }
        if lost { Err(RunError::LostLeadership) } else { Ok(()) }
    }
}

/// Waits until this replica holds the coordination.k8s.io Lease of its shard: the channel that
/// says when that ends, and the manager's task; `None` when shutdown was requested first.
async fn elect(
    client: kube::Client,
    shard: Option<&str>,
    mut stop: watch::Receiver<bool>,
) -> Result<Option<(watch::Receiver<bool>, LeaseTask)>, RunError> {
    let namespace = std::env::var("POD_NAMESPACE").unwrap_or_else(|_| "default".to_string());
    let identity = std::env::var("POD_NAME")
        .or_else(|_| std::env::var("HOSTNAME"))
        .unwrap_or_else(|_| format!("{MANAGER}-{}", std::process::id()));
    let name = lease_name(shard);
    let lease = format!("{namespace}/{name}");
    tracing::info!(%lease, shard = shard.unwrap_or(""), %identity, "waiting for leadership");
    let mut first = true;
    loop {
        let built = kube_lease_manager::LeaseManagerBuilder::new(client.clone(), &name)
            .with_namespace(namespace.clone())
            .with_identity(identity.clone())
            .with_duration(15)
            .with_grace(5)
            // One field manager per replica: the Lease is claimed by server-side apply, which
            // refuses a second claim (409) only between different managers. A shared manager let
            // two replicas starting together both lead for a whole lease term.
            .with_field_manager(format!("{MANAGER}-{identity}"))
            .build()
            .await;
        let manager = match built {
            Ok(manager) => manager,
            // At start a Lease that cannot be read is a setup error (RBAC, namespace): say so
            // and stop. Later, an API server's blip only delays the next try.
            Err(e) if first => return Err(RunError::Election { lease, source: e }),
            Err(error) => {
                tracing::warn!(%lease, %error, "leader election: cannot read the Lease; trying again");
                tokio::select! {
                    () = tokio::time::sleep(FOLLOWER_RETRY) => continue,
                    _ = stop.wait_for(|s| *s) => return Ok(None),
                }
            }
        };
        first = false;
        // A claim cut short by the timeout is safe: if it went through, the next manager reads
        // this identity as the holder and leads.
        let attempt = tokio::select! {
            attempt = tokio::time::timeout(FOLLOWER_RETRY, manager.changed()) => attempt,
            _ = stop.wait_for(|s| *s) => return Ok(None),
        };
        match attempt {
            Ok(Ok(true)) => {
                tracing::info!(%lease, "leading: starting the controller");
                return Ok(Some(manager.watch().await));
            }
            // Still someone else's: ask again with a fresh read.
            Ok(Ok(false)) | Err(_) => {}
            Ok(Err(error)) => {
                tracing::warn!(%lease, %error, "leader election: cannot read or claim the Lease; trying again");
                tokio::select! {
                    () = tokio::time::sleep(FOLLOWER_RETRY) => {}
                    _ = stop.wait_for(|s| *s) => return Ok(None),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::lease_name;

    #[test]
    fn the_lease_is_per_shard_and_a_dns_subdomain() {
        assert_eq!(lease_name(None), "lambda-alias-controller", "unchanged without --shard");
        // Pinned: the chart computes the same names (tests/deploy/test_shards.py pins them too).
        assert_eq!(lease_name(Some("shard=a")), "lambda-alias-controller-shard-3d8dfb26");
        assert_eq!(lease_name(Some("shard!=a")), "lambda-alias-controller-shard-77a1ece5");
        for selector in ["shard=a", "shard!=a", "shard in (a,b)", "", "tier=gold,team!=x", "ä=ö"] {
            let name = lease_name(Some(selector));
            assert!(name.len() <= 63, "{name}");
            assert!(
                name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'),
                "{name} is a DNS label"
            );
            assert_eq!(name, lease_name(Some(selector)), "stable");
        }
        assert_ne!(lease_name(Some("shard=a")), lease_name(Some("shard=b")));
    }
}
