//! Leader election against a real Kubernetes API server, whenever `KUBECONFIG` points at one:
//! two replicas of the controller binary with `--leader-elect` share the coordination.k8s.io
//! Lease `lambda-alias-controller` in their own (fresh) namespace. Only the holder reconciles;
//! the other one waits and still answers its probes. SIGTERM on the holder makes it exit 0 and
//! release the Lease, the other replica takes it over and converges a set created after the
//! SIGTERM; over 10 trials landing at different points of the term, each failover's time is
//! printed with the min, median and max. The failover times are printed, never asserted: machines are noisy, and the
//! deadlines of `eventually` only guard against hangs. Without `KUBECONFIG` it says that it
//! skipped and why (in CI it fails instead).

use crate::support;

use std::io::Write;
use std::time::{Duration, Instant};

use k8s_openapi::api::coordination::v1::Lease;
use kube::Client;
use kube::api::{Api, DeleteParams, PostParams};
use lambda_alias_controller::api::LambdaAliasSet;
use support::cluster::alexa_set;
use support::cluster::{Controller, ControllerEnv, eventually};

/// The Lease every replica competes for (the controller's name), in `POD_NAMESPACE`.
const LEASE: &str = "lambda-alias-controller";

fn set(name: &str, function: &str) -> LambdaAliasSet {
    serde_json::from_value(alexa_set(name, function, "Development", 3, "Retain")).expect("LambdaAliasSet")
}

fn replica(namespace: &str, lease_namespace: &str, pod: &str) -> Controller {
    Controller::start(
        &["--namespace", namespace, "--leader-elect", "--resync", "5"],
        ControllerEnv {
            kubeconfig: None,
            aws: support::moto_env(),
            extra: vec![
                ("POD_NAMESPACE".to_string(), lease_namespace.to_string()),
                ("POD_NAME".to_string(), pod.to_string()),
            ],
        },
    )
}

/// `spec.holderIdentity` of the Lease, `None` while it is free (or not created yet).
async fn holder(leases: &Api<Lease>) -> Result<Option<String>, String> {
    let lease = leases.get_opt(LEASE).await.map_err(|e| e.to_string())?;
    Ok(lease.and_then(|l| l.spec).and_then(|s| s.holder_identity))
}

async fn wait_holder(leases: &Api<Lease>, identity: &str) {
    eventually(&format!("the Lease is held by {identity}"), || async {
        match holder(leases).await? {
            Some(h) if h == identity => Ok(()),
            other => Err(format!("holder {other:?}")),
        }
    })
    .await
}

/// Waits until the set is converged on a fresh function: live PROD1:1, candidate PROD2:$LATEST.
async fn wait_converged(api: &Api<LambdaAliasSet>, name: &str) {
    eventually(&format!("{name} converges"), || async {
        let obj = api.get(name).await.map_err(|e| e.to_string())?;
        let s = serde_json::to_value(obj.status).map_err(|e| e.to_string())?;
        let reason = s["conditions"]
            .as_array()
            .and_then(|c| c.iter().find(|c| c["type"] == "Ready"))
            .and_then(|c| c["reason"].as_str())
            .unwrap_or_default()
            .to_string();
        let got = (s["live"]["summary"].as_str(), s["candidate"]["summary"].as_str(), reason.as_str());
        if got == (Some("PROD1:1"), Some("PROD2:$LATEST"), "Converged") {
            Ok(())
        } else {
            Err(format!("{got:?}"))
        }
    })
    .await
}

async fn reconciles(controller: &Controller) -> Result<f64, String> {
    controller.metric_sum("lac_reconciles_total").await
}

#[tokio::test]
async fn only_the_lease_holder_reconciles_and_the_other_replica_takes_over_on_sigterm() {
    let Some(client) = support::cluster::cluster("k8s_leader").await else { return };
    let started = Instant::now();
    support::cluster::apply_crd(&client).await;
    let ns = support::cluster::create_namespace(&client, "lac-leader").await;
    // The replicas' own namespace: fresh, so no Lease is left over from an earlier run.
    let lease_ns = support::cluster::create_namespace(&client, "lac-lease").await;
    let sets: Api<LambdaAliasSet> = Api::namespaced(client.clone(), &ns);
    let leases: Api<Lease> = Api::namespaced(client.clone(), &lease_ns);

    let lambda = support::lambda().await;
    let first_function = support::unique_name("leader-a");
    let second_function = support::unique_name("leader-b");
    support::create_function(&lambda, &first_function, "v1").await;
    support::create_function(&lambda, &second_function, "v1").await;

    // replica-a alone first, so that which one leads is known.
    let mut a = replica(&ns, &lease_ns, "replica-a");
    wait_holder(&leases, "replica-a").await;
    let mut b = replica(&ns, &lease_ns, "replica-b");
    eventually("replica-b serves /healthz", || async {
        match b.http_get("/healthz").await? {
            (200, _) => Ok(()),
            other => Err(format!("{other:?}")),
        }
    })
    .await;

    sets.create(&PostParams::default(), &set("first", &first_function)).await.expect("create first");
    wait_converged(&sets, "first").await;

    // Over more than one resync period (5 s), the holder reconciles and the other one never does.
    let window = Instant::now();
    while window.elapsed() < Duration::from_secs(6) {
        assert_eq!(reconciles(&b).await.expect("replica-b /metrics"), 0.0, "replica-b does not lead");
        assert!(b.exited().is_none(), "replica-b keeps waiting for leadership");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert!(reconciles(&a).await.expect("replica-a /metrics") > 0.0, "the holder reconciles");
    assert_eq!(holder(&leases).await.expect("Lease").as_deref(), Some("replica-a"));
    // Each replica claims the Lease under its own field manager, so the API server refuses a
    // concurrent claim (server-side apply conflicts only between different managers).
    let managers: Vec<String> = leases
        .get(LEASE)
        .await
        .expect("Lease")
        .metadata
        .managed_fields
        .unwrap_or_default()
        .into_iter()
        .filter_map(|m| m.manager)
        .collect();
    assert!(
        managers.iter().any(|m| m == "lambda-alias-controller-replica-a"),
        "the holder wrote the Lease under its own field manager: {managers:?}"
    );

    // The waiting replica still answers its probes.
    let (health, health_body) = b.http_get("/healthz").await.expect("replica-b answers /healthz");
    assert_eq!((health, health_body.as_str()), (200, "ok"), "replica-b /healthz");
    let (ready, ready_body) = b.http_get("/readyz").await.expect("replica-b answers /readyz");
    writeln!(std::io::stderr(), "leader: /readyz on the waiting replica: {ready} {ready_body:?}").unwrap();

    // When the Lease would expire without a release: its last renewal plus its duration.
    let lease = leases.get(LEASE).await.expect("Lease").spec.expect("Lease spec");
    let renewed = lease.renew_time.expect("renewTime").0;
    let expires_in = renewed.duration_until(k8s_openapi::jiff::Timestamp::now()).unsigned_abs();
    let expires_in = Duration::from_secs(lease.lease_duration_seconds.expect("leaseDurationSeconds") as u64)
        .saturating_sub(expires_in);
    // SIGTERM on the holder. The harness's `terminate` does not keep the exit status, so send it
    // here and poll the process.
    let sigterm = Instant::now();
    // SAFETY: kill(2) on our own child's pid; no memory is touched.
    let sent = unsafe { libc::kill(a.pid(), libc::SIGTERM) };
    assert_eq!(sent, 0, "SIGTERM to replica-a");
    sets.create(&PostParams::default(), &set("second", &second_function)).await.expect("create second");

    let exit = async {
        while sigterm.elapsed() < Duration::from_secs(60) {
            if let Some(status) = a.exited() {
                let elapsed = sigterm.elapsed();
                return (status, elapsed, holder(&leases).await);
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("replica-a still runs 60 s after SIGTERM");
    };
    let takeover = async {
        wait_holder(&leases, "replica-b").await;
        sigterm.elapsed()
    };
    let converged = async {
        wait_converged(&sets, "second").await;
        sigterm.elapsed()
    };
    let ((status, exited_after, holder_at_exit), taken_over_after, converged_after) =
        tokio::join!(exit, takeover, converged);

    writeln!(
        std::io::stderr(),
        "leader failover: lease taken over in {:.1} s, new set converged in {:.1} s",
        taken_over_after.as_secs_f64(),
        converged_after.as_secs_f64(),
    )
    .unwrap();
    writeln!(
        std::io::stderr(),
        "leader: replica-a exited ({status}) {:.2} s after SIGTERM, the Lease holder then: \
         {holder_at_exit:?}; unreleased, the Lease would have expired {:.1} s after SIGTERM",
        exited_after.as_secs_f64(),
        expires_in.as_secs_f64(),
    )
    .unwrap();
    assert!(status.success(), "replica-a exits 0 after SIGTERM: {status}");
    assert!(reconciles(&b).await.expect("replica-b /metrics") > 0.0, "the survivor reconciles");
    assert_eq!(holder(&leases).await.expect("Lease").as_deref(), Some("replica-b"));
    assert!(b.exited().is_none(), "replica-b keeps running");

    // Clean up while a controller still runs to remove the finalizers (Retain: AWS stays).
    for name in ["first", "second"] {
        sets.delete(name, &DeleteParams::default()).await.expect("delete set");
    }
    eventually("the sets are gone", || async {
        let mut left = Vec::new();
        for name in ["first", "second"] {
            if sets.get_opt(name).await.map_err(|e| e.to_string())?.is_some() {
                left.push(name);
            }
        }
        if left.is_empty() { Ok(()) } else { Err(format!("left: {left:?}")) }
    })
    .await;
    drop(b);
    delete_namespaces(&client, &[&ns, &lease_ns]).await;
    writeln!(std::io::stderr(), "leader: test ran {:.1} s", started.elapsed().as_secs_f64()).unwrap();
}

async fn delete_namespaces(client: &Client, names: &[&str]) {
    let namespaces: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(client.clone());
    for name in names {
        namespaces.delete(name, &DeleteParams::default()).await.expect("delete namespace");
    }
}

/// Failover time in 10 trials, each SIGTERM landing at another point of the holder's 15 s term
/// (0 to 13.5 s after the follower started): from the SIGTERM to the follower holding the
/// Lease. The holder releases the Lease on its way out and a follower tries again every 2 s, so
/// where the term stands does not matter. Figures printed (README "Leader election"), not
/// asserted: machines are noisy.
#[tokio::test]
async fn failover_does_not_wait_for_the_term_it_lands_in() {
    let Some(client) = support::cluster::cluster("k8s_leader").await else { return };
    support::cluster::apply_crd(&client).await;
    let ns = support::cluster::create_namespace(&client, "lac-failover").await;
    let lease_ns = support::cluster::create_namespace(&client, "lac-failover-lease").await;
    let leases: Api<Lease> = Api::namespaced(client.clone(), &lease_ns);
    let names = ["trial-a", "trial-b"];
    let mut leader = replica(&ns, &lease_ns, names[0]);
    wait_holder(&leases, names[0]).await;
    let mut times = Vec::new();
    for trial in 0..10 {
        let (from, to) = (names[trial % 2], names[(trial + 1) % 2]);
        let follower = replica(&ns, &lease_ns, to);
        eventually(&format!("{to} serves /healthz"), || async {
            match follower.http_get("/healthz").await? {
                (200, _) => Ok(()),
                other => Err(format!("{other:?}")),
            }
        })
        .await;
        tokio::time::sleep(Duration::from_millis(1500 * trial as u64)).await;
        assert_eq!(
            holder(&leases).await.expect("Lease").as_deref(),
            Some(from),
            "trial {trial}: {from} leads"
        );
        let sigterm = Instant::now();
        // SAFETY: kill(2) on our own child's pid; no memory is touched.
        assert_eq!(unsafe { libc::kill(leader.pid(), libc::SIGTERM) }, 0, "SIGTERM to {from}");
        loop {
            if holder(&leases).await.expect("Lease").as_deref() == Some(to) {
                break;
            }
            assert!(sigterm.elapsed() < Duration::from_secs(120), "trial {trial}: {to} never took the Lease");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let took = sigterm.elapsed().as_secs_f64();
        writeln!(
            std::io::stderr(),
            "failover trial {trial} ({from} -> {to}, SIGTERM {:.1} s into the follower's wait): {took:.2} s",
            1.5 * trial as f64
        )
        .unwrap();
        times.push(took);
        leader.terminate(Duration::from_secs(30));
        leader = follower;
    }
    times.sort_by(f64::total_cmp);
    writeln!(
        std::io::stderr(),
        "failover over {} trials: min {:.2} s, median {:.2} s, max {:.2} s",
        times.len(),
        times[0],
        (times[4] + times[5]) / 2.0,
        times[times.len() - 1]
    )
    .unwrap();
    leader.terminate(Duration::from_secs(30));
    delete_namespaces(&client, &[&ns, &lease_ns]).await;
}
