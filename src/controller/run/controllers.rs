//! The controllers: one watch of the sets per watched namespace (or one for all), metadata only,
//! each reconciling through `reconcile_meta`; under strict tenancy, the Namespaces' annotations
//! listed before the first reconcile and followed after; and the pruner of sets that left.

use std::collections::HashSet;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::AtomicUsize;

use futures::StreamExt;
use k8s_openapi::api::core::v1::Namespace;
use kube::ResourceExt;
use kube::api::{Api, ListParams};
use kube::runtime::WatchStreamExt;
use kube::runtime::controller::{Config, Controller};
use kube::runtime::reflector::{self, ObjectRef, reflector};
use kube::runtime::watcher;
use tokio::sync::watch;

use super::super::tenancy::Gate;
use super::super::{Context, LambdaProvider, SetMeta, error_policy, reconcile_meta};
use super::shutdown::{InFlight, requested};
use super::{LAST_APPLIED, PRUNE_EVERY, RunError, RunOptions};

/// The sets' APIs: one per `--namespace`, or one for all namespaces.
pub(super) fn apis(options: &RunOptions, client: &kube::Client) -> Vec<(Option<String>, Api<SetMeta>)> {
    if options.namespaces.is_empty() {
        vec![(None, Api::all(client.clone()))]
    } else {
        options.namespaces.iter().map(|ns| (Some(ns.clone()), Api::namespaced(client.clone(), ns))).collect()
    }
}

/// A selector the API server refuses would make every watch fail: refuse to start instead. (Any
/// other failure here is the watch's to report and retry.)
pub(super) async fn check_shard(
    sets: &Api<crate::api::LambdaAliasSet>,
    shard: Option<&str>,
) -> Result<(), RunError> {
    if let Some(selector) = shard
        && let Err(kube::Error::Api(e)) =
            sets.list_metadata(&ListParams::default().labels(selector).limit(1)).await
        && e.code == 400
    {
        return Err(RunError::Shard { selector: selector.to_string(), message: e.message });
    }
    Ok(())
}

/// Strict tenancy: every Namespace's annotations before the first reconcile, so that no set is
/// refused (or allowed) on an empty cache.
pub(super) async fn list_namespaces(
    gate: &Gate,
    namespaces: &[Option<String>],
    client: &kube::Client,
) -> Result<(), RunError> {
    for namespace in namespaces {
        let mut params = ListParams::default();
        if let Some(ns) = namespace {
            params = params.fields(&format!("metadata.name={ns}"));
        }
        let listed = Api::<Namespace>::all(client.clone())
            .list_metadata(&params)
            .await
            .map_err(RunError::ListNamespaces)?;
        for ns in listed.items {
            gate.update(&ns.name_any(), ns.metadata.annotations.unwrap_or_default());
        }
    }
    Ok(())
}

/// One controller per API, each counting its reconciles in `in_flight`, and their stores.
pub(super) fn start<P: LambdaProvider>(
    apis: Vec<(Option<String>, Api<SetMeta>)>,
    options: &RunOptions,
    gate: &Arc<Gate>,
    client: &kube::Client,
    ctx: &Arc<Context<P>>,
    in_flight: &Arc<AtomicUsize>,
    stop_rx: &watch::Receiver<bool>,
) -> (Vec<impl Future<Output = ()> + Send + use<P>>, Vec<reflector::Store<SetMeta>>) {
    let mut stores = Vec::new();
    let controllers: Vec<_> = apis
        .into_iter()
        .map(|(namespace, api)| {
            let in_flight = in_flight.clone();
            // Paged initial lists (500 sets a page), not `any_semantic`: that asks the API
            // server's cache, which ignores the page size and sends every set in one body (31 MB
            // at 10,000 sets, held while it is parsed).
            let mut config = watcher::Config::default();
            if let Some(selector) = &options.shard {
                config = config.labels(selector);
            }
            let (reader, watch) = watch_sets(api, config);
            let mut controller = Controller::for_stream(watch, reader);
            stores.push(controller.store());
            if gate.is_strict() {
                // A change of a Namespace's annotations re-reconciles its sets, and the gate
                // sees the new annotations before they run.
                let mut config = watcher::Config::default();
                if let Some(ns) = &namespace {
                    config = config.fields(&format!("metadata.name={ns}"));
                }
                let (gate, store) = (gate.clone(), controller.store());
                controller = controller.watches(
                    Api::<Namespace>::all(client.clone()),
                    config,
                    move |ns: Namespace| {
                        let name = ns.name_any();
                        gate.update(&name, ns.metadata.annotations.clone().unwrap_or_default());
                        store
                            .state()
                            .into_iter()
                            .filter(|set| set.namespace().as_deref() == Some(name.as_str()))
                            .map(|set| ObjectRef::from_obj(&*set))
                            .collect::<Vec<_>>()
                    },
                );
            }
            controller
                .with_config(Config::default().concurrency(options.concurrency))
                .graceful_shutdown_on(requested(stop_rx.clone()))
                .run(
                    move |obj, ctx| {
                        let guard = InFlight::enter(&in_flight);
                        async move {
                            let _guard = guard;
                            reconcile_meta(obj, ctx).await
                        }
                    },
                    error_policy,
                    ctx.clone(),
                )
                .for_each(|result| async move {
                    match result {
                        Ok((object, _)) => tracing::debug!(set = %object, "reconciled"),
                        // The watch itself failed (RBAC, CRD missing, API server unreachable): say
                        // so, or a controller that cannot see its sets looks idle and healthy.
                        Err(kube::runtime::controller::Error::QueueError(e)) => {
                            tracing::warn!(error = %e, "cannot watch LambdaAliasSets")
                        }
                        // Failed reconciles are logged by error_policy, with the set's name.
                        Err(e) => tracing::debug!(error = %e, "reconcile error"),
                    }
                })
        })
        .collect();
    (controllers, stores)
}

/// A set that leaves the watch without a reconcile (relabelled out of --shard, or deleted while
/// its finalizer was gone) leaves the gauge of sets and the drift schedule here.
pub(super) fn prune<P: LambdaProvider>(
    stores: Vec<reflector::Store<SetMeta>>,
    ctx: Arc<Context<P>>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        // No `wait_until_ready` here: kube-runtime 5's store wakes only its last waiter, and
        // that must be the controller's runner. Nor is it needed: before the first list no
        // reconcile has run, so there is nothing to forget, and a relist keeps the old
        // objects until the new list is complete.
        loop {
            tokio::time::sleep(PRUNE_EVERY).await;
            let sets: Vec<Arc<SetMeta>> = stores.iter().flat_map(|s| s.state()).collect();
            let keys: HashSet<String> = sets.iter().map(|o| super::super::key_of(&**o)).collect();
            let uids: HashSet<String> = sets
                .iter()
                .map(|o| o.metadata.uid.clone().unwrap_or_else(|| super::super::key_of(&**o)))
                .collect();
            ctx.metrics.retain(&keys);
            ctx.drift.retain(&uids);
        }
    })
}

/// The watch of the sets as the controller keeps it, and its store: metadata only (the
/// whole object is read when a reconcile needs it, see [`reconcile_meta`]), without
/// managedFields and kubectl's last-applied copy of the spec: ≈2.4 KB per set in the store
/// instead of ≈5 KB with spec and status, ≈18 KB with managedFields too (`make bench`). The initial list is
/// paged (`config`'s page size), never `any_semantic`, which makes the API server's cache send
/// every set in one body.
pub fn watch_sets(
    api: Api<SetMeta>,
    config: watcher::Config,
) -> (reflector::Store<SetMeta>, impl futures::Stream<Item = Result<SetMeta, watcher::Error>> + Send + 'static)
{
    let (reader, writer) = reflector::store();
    // `Api<PartialObjectMeta<_>>` lists and watches metadata only.
    let watch = watcher::watcher(api, config).modify(|set: &mut SetMeta| {
        set.managed_fields_mut().clear();
        set.annotations_mut().remove(LAST_APPLIED);
    });
    (reader, reflector(writer, watch).applied_objects())
}
