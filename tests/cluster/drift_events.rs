//! Drift events end to end, on a real API server (`../shared/kube/up` in CI) against moto's
//! Lambda and SQS: an out-of-band change is made with the SDK, then the CloudTrail record
//! EventBridge would send is put on the queue. With `--resync 3600` the periodic check of a
//! steady set is booked half an hour on at the earliest, so a repair within the test's minutes
//! came from the event.
//!
//! - the set is repaired, its booking removed, and lag and results are counted;
//! - duplicates, events for functions no set owns and malformed messages are counted and deleted;
//! - a queue the controller cannot read gives a Warning Event at its Pod and a metric, and
//!   polling still repairs;
//! - two shards share one queue: each event repairs its set whichever shard received it;
//! - a consumer that dies with messages in flight, and a controller killed at random moments,
//!   lose nothing: every change is repaired and the queue ends empty.
//!
//! Without `KUBECONFIG` it says that it skipped and why; in CI it fails instead.

use crate::support;

use std::time::Duration;

use k8s_openapi::api::events::v1::Event as KubeEvent;
use kube::api::{Api, ListParams, PostParams};
use lambda_alias_controller::api::LambdaAliasSet;
use lambda_alias_controller::aws::client::sdk_config;
use serde_json::{Value, json};
use support::cluster::{Controller, ControllerEnv, apply_crd, cluster, create_namespace, eventually};

/// moto's account.
const ACCOUNT: &str = "123456789012";
const BOOKING: &str = "lambda.aliasset.dev/drift-event";

async fn sqs() -> aws_sdk_sqs::Client {
    aws_sdk_sqs::Client::new(&sdk_config(&support::aws_settings()).await)
}

/// A queue as `deploy/drift-events` makes it, with a short visibility timeout.
async fn queue(sqs: &aws_sdk_sqs::Client, visibility: u32) -> String {
    let name = support::unique_name("drift-events");
    let out = sqs
        .create_queue()
        .queue_name(&name)
        .attributes(aws_sdk_sqs::types::QueueAttributeName::VisibilityTimeout, visibility.to_string())
        .send()
        .await
        .expect("CreateQueue");
    out.queue_url().expect("QueueUrl").to_string()
}

/// Messages left in the queue, visible or in flight.
async fn left(sqs: &aws_sdk_sqs::Client, url: &str) -> u64 {
    use aws_sdk_sqs::types::QueueAttributeName as A;
    let out = sqs
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(A::ApproximateNumberOfMessages)
        .attribute_names(A::ApproximateNumberOfMessagesNotVisible)
        .send()
        .await
        .expect("GetQueueAttributes");
    let attrs = out.attributes().cloned().unwrap_or_default();
    [A::ApproximateNumberOfMessages, A::ApproximateNumberOfMessagesNotVisible]
        .iter()
        .map(|a| attrs.get(a).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0))
        .sum()
}

/// The CloudTrail record of a call, as EventBridge delivers it to SQS.
fn cloudtrail(event_name: &str, function: &str, id: &str) -> String {
    let now = jiff::Timestamp::now();
    json!({
        "version": "0",
        "id": id,
        "detail-type": "AWS API Call via CloudTrail",
        "source": "aws.lambda",
        "account": ACCOUNT,
        "time": now.to_string(),
        "region": support::REGION,
        "resources": [],
        "detail": {
            "eventVersion": "1.09",
            "userIdentity": {"type": "IAMUser", "arn": format!("arn:aws:iam::{ACCOUNT}:user/console-person")},
            "eventTime": now.to_string(),
            "eventSource": "lambda.amazonaws.com",
            "eventName": event_name,
            "awsRegion": support::REGION,
            "requestParameters": {"functionName": function, "name": "PROD1", "functionVersion": "$LATEST"},
            "responseElements": null,
            "eventID": format!("ct-{id}"),
            "readOnly": false,
            "eventType": "AwsApiCall",
            "recipientAccountId": ACCOUNT
        }
    })
    .to_string()
}

async fn send(sqs: &aws_sdk_sqs::Client, url: &str, body: String) {
    sqs.send_message().queue_url(url).message_body(body).send().await.expect("SendMessage");
}

/// A set with no triggers, optionally labelled `shard=<shard>`.
fn set(name: &str, function: &str, shard: Option<&str>) -> LambdaAliasSet {
    let mut object = json!({
        "apiVersion": "lambda.aliasset.dev/v1alpha1",
        "kind": "LambdaAliasSet",
        "metadata": {"name": name},
        "spec": {"functionName": function, "drainSeconds": 3, "certification": {"phase": "Development"}}
    });
    if let Some(shard) = shard {
        object["metadata"]["labels"] = json!({"shard": shard});
    }
    serde_json::from_value(object).expect("LambdaAliasSet")
}

fn converged(obj: &LambdaAliasSet) -> bool {
    let Some(status) = &obj.status else { return false };
    let ready = status.conditions.iter().find(|c| c.type_ == "Ready");
    status.observed_generation == obj.metadata.generation && ready.is_some_and(|c| c.reason == "Converged")
}

async fn wait_converged(api: &Api<LambdaAliasSet>, name: &str) {
    eventually(&format!("{name} converges"), || async {
        let obj = api.get(name).await.map_err(|e| e.to_string())?;
        if converged(&obj) { Ok(()) } else { Err(format!("{:?}", obj.status)) }
    })
    .await;
}

/// Re-points PROD1 at `$LATEST` out of band, keeping its marker (what a console user does).
async fn repoint(lambda: &aws_sdk_lambda::Client, function: &str) {
    let marker = lambda
        .get_alias()
        .function_name(function)
        .name("PROD1")
        .send()
        .await
        .expect("GetAlias")
        .description()
        .unwrap_or_default()
        .to_string();
    lambda
        .update_alias()
        .function_name(function)
        .name("PROD1")
        .function_version("$LATEST")
        .description(marker)
        .send()
        .await
        .expect("re-point PROD1");
}

async fn prod1(function: &str) -> String {
    support::alias_versions(function)
        .await
        .into_iter()
        .find(|(alias, _)| alias == "PROD1")
        .map(|(_, v)| v)
        .unwrap_or_default()
}

async fn wait_repaired(function: &str) {
    eventually(&format!("{function}'s PROD1 is put back"), || async {
        match prod1(function).await.as_str() {
            "1" => Ok(()),
            other => Err(format!("PROD1 on {other:?}")),
        }
    })
    .await;
}

fn env(pod: &str, ns: &str) -> ControllerEnv<'static> {
    ControllerEnv {
        kubeconfig: None,
        aws: support::moto_env(),
        extra: vec![("POD_NAME".into(), pod.into()), ("POD_NAMESPACE".into(), ns.into())],
    }
}

async fn queue_up(controller: &Controller) {
    eventually("the controller reads the queue", || async {
        match controller.metric_sum("lac_drift_events_queue_up").await? {
            1.0 => Ok(()),
            v => Err(format!("lac_drift_events_queue_up {v}")),
        }
    })
    .await;
}

async fn metric(controller: &Controller, series: &str) -> f64 {
    controller.metric_sum(series).await.unwrap_or(0.0)
}

async fn result_count(controller: &Controller, result: &str) -> f64 {
    let (_, body) = controller.http_get("/metrics").await.unwrap_or_default();
    let series = format!("lac_drift_events_total{{result=\"{result}\"}} ");
    body.lines().find_map(|l| l.strip_prefix(&series)).and_then(|v| v.parse().ok()).unwrap_or(0.0)
}

#[tokio::test]
async fn an_event_repairs_the_set_in_seconds_and_the_rest_is_counted_and_dropped() {
    let Some(client) = cluster("k8s_drift_events").await else { return };
    apply_crd(&client).await;
    let ns = create_namespace(&client, "lac-events").await;
    let lambda = support::lambda().await;
    let sqs = sqs().await;
    let url = queue(&sqs, 30).await;
    let function = support::unique_name("events-fn");
    support::create_function(&lambda, &function, "v1").await;
    let controller = Controller::start(
        &["--namespace", &ns, "--resync", "3600", "--drift-events-queue", &url],
        env("lac-events-0", &ns),
    );
    let api: Api<LambdaAliasSet> = Api::namespaced(client.clone(), &ns);
    api.create(&PostParams::default(), &set("trivia", &function, None)).await.expect("create");
    wait_converged(&api, "trivia").await;
    queue_up(&controller).await;

    repoint(&lambda, &function).await;
    assert_eq!(prod1(&function).await, "$LATEST");
    let started = std::time::Instant::now();
    send(&sqs, &url, cloudtrail("UpdateAlias20150331", &function, "e-1")).await;
    wait_repaired(&function).await;
    let took = started.elapsed();
    eprintln!("drift events: repaired {:.2} s after the event was sent", took.as_secs_f64());
    eventually("the booked check is answered and its booking removed", || async {
        let obj = api.get("trivia").await.map_err(|e| e.to_string())?;
        let booked = obj.metadata.annotations.unwrap_or_default().contains_key(BOOKING);
        let repaired = metric(&controller, "lac_drift_event_lag_seconds_count").await;
        if !booked && repaired >= 3.0 {
            Ok(())
        } else {
            Err(format!("booked {booked}, lag samples {repaired}"))
        }
    })
    .await;
    assert_eq!(result_count(&controller, "matched").await, 1.0);
    assert!(
        metric(&controller, "lac_drift_checks_total").await >= 1.0,
        "the booked check is the drift check (changed, then a full observe)"
    );

    // The same event again (EventBridge delivers at least once), one for a function no set
    // owns, one that is not an event at all, and one of an ARN in another account.
    send(&sqs, &url, cloudtrail("UpdateAlias20150331", &function, "e-1")).await;
    send(&sqs, &url, cloudtrail("AddPermission20150331v2", "nobody-owns-this", "e-2")).await;
    send(&sqs, &url, "this is not JSON".to_string()).await;
    let elsewhere = format!("arn:aws:lambda:{}:444455556666:function:{function}", support::REGION);
    send(&sqs, &url, cloudtrail("UpdateAlias20150331", &elsewhere, "e-3")).await;
    eventually("each is counted and deleted", || async {
        let counts = [
            result_count(&controller, "duplicate").await,
            result_count(&controller, "unmatched").await,
            result_count(&controller, "malformed").await,
        ];
        let remaining = left(&sqs, &url).await;
        if counts == [1.0, 2.0, 1.0] && remaining == 0 {
            Ok(())
        } else {
            Err(format!("duplicate, unmatched, malformed: {counts:?}; {remaining} left"))
        }
    })
    .await;
    assert_eq!(metric(&controller, "lac_drift_events_received_total").await, 5.0);
    assert_eq!(result_count(&controller, "matched").await, 1.0, "nothing else booked a check");
    let obj = api.get("trivia").await.expect("get");
    assert!(!obj.metadata.annotations.unwrap_or_default().contains_key(BOOKING));
}

#[tokio::test]
async fn a_queue_that_cannot_be_read_warns_at_the_pod_and_polling_still_repairs() {
    let Some(client) = cluster("k8s_drift_events").await else { return };
    apply_crd(&client).await;
    let ns = create_namespace(&client, "lac-events-down").await;
    let lambda = support::lambda().await;
    let function = support::unique_name("events-down");
    support::create_function(&lambda, &function, "v1").await;
    let url = format!("{}/{ACCOUNT}/{}", support::moto_url(), support::unique_name("no-such-queue"));
    let pod = "lac-events-down-0";
    let controller = Controller::start(
        &["--namespace", &ns, "--resync", "6", "--drift-events-queue", &url],
        env(pod, &ns),
    );
    let api: Api<LambdaAliasSet> = Api::namespaced(client.clone(), &ns);
    api.create(&PostParams::default(), &set("trivia", &function, None)).await.expect("create");
    wait_converged(&api, "trivia").await;

    let events: Api<KubeEvent> = Api::namespaced(client.clone(), &ns);
    let warning = eventually("a Warning Event at the controller's Pod", || async {
        let list = events.list(&ListParams::default()).await.map_err(|e| e.to_string())?;
        list.items
            .into_iter()
            .find(|e| e.reason.as_deref() == Some("DriftEventsUnavailable"))
            .ok_or_else(|| "no DriftEventsUnavailable Event yet".to_string())
    })
    .await;
    assert_eq!(warning.type_.as_deref(), Some("Warning"));
    let regarding = warning.regarding.clone().unwrap_or_default();
    assert_eq!((regarding.kind.as_deref(), regarding.name.as_deref()), (Some("Pod"), Some(pod)));
    let note = warning.note.unwrap_or_default();
    assert!(note.contains(&url) && note.contains("--resync"), "{note}");
    assert_eq!(metric(&controller, "lac_drift_events_queue_up").await, 0.0);
    assert_eq!(controller.http_get("/readyz").await.map(|(code, _)| code), Ok(200), "still ready: it polls");

    repoint(&lambda, &function).await;
    wait_repaired(&function).await;
    assert!(
        result_count(&controller, "matched").await == 0.0
            && metric(&controller, "lac_drift_checks_total{result=\"changed\"}").await >= 1.0,
        "the periodic drift check found it"
    );
}

#[tokio::test]
async fn two_shards_share_one_queue_and_every_event_repairs_its_set() {
    let Some(client) = cluster("k8s_drift_events").await else { return };
    apply_crd(&client).await;
    let ns = create_namespace(&client, "lac-events-shards").await;
    let lambda = support::lambda().await;
    let sqs = sqs().await;
    let url = queue(&sqs, 30).await;
    let a = Controller::start(
        &[
            "--namespace",
            &ns,
            "--resync",
            "3600",
            "--shard",
            "shard=a",
            "--budget-share",
            "0.5",
            "--drift-events-queue",
            &url,
        ],
        env("lac-events-a", &ns),
    );
    let b = Controller::start(
        &[
            "--namespace",
            &ns,
            "--resync",
            "3600",
            "--shard",
            "shard!=a",
            "--budget-share",
            "0.5",
            "--drift-events-queue",
            &url,
        ],
        env("lac-events-b", &ns),
    );
    let api: Api<LambdaAliasSet> = Api::namespaced(client.clone(), &ns);
    let mut functions = Vec::new();
    for i in 0..8 {
        let function = support::unique_name("events-shard");
        support::create_function(&lambda, &function, "v1").await;
        let shard = if i % 2 == 0 { "a" } else { "b" };
        api.create(&PostParams::default(), &set(&format!("s{i}"), &function, Some(shard)))
            .await
            .expect("create");
        functions.push(function);
    }
    for i in 0..8 {
        wait_converged(&api, &format!("s{i}")).await;
    }
    queue_up(&a).await;
    queue_up(&b).await;
    for (i, function) in functions.iter().enumerate() {
        repoint(&lambda, function).await;
        send(&sqs, &url, cloudtrail("UpdateAlias20150331", function, &format!("shard-{i}"))).await;
    }
    for function in &functions {
        wait_repaired(function).await;
    }
    eventually("every event booked once and deleted", || async {
        let matched = result_count(&a, "matched").await + result_count(&b, "matched").await;
        let remaining = left(&sqs, &url).await;
        if matched == 8.0 && remaining == 0 {
            Ok(())
        } else {
            Err(format!("{matched} matched, {remaining} left"))
        }
    })
    .await;
    eprintln!(
        "drift events: shard a received {} events, shard b {}",
        metric(&a, "lac_drift_events_received_total").await,
        metric(&b, "lac_drift_events_received_total").await
    );
    eventually("no booking is left unanswered", || async {
        let list = api.list(&ListParams::default()).await.map_err(|e| e.to_string())?;
        let booked: Vec<String> = list
            .items
            .iter()
            .filter(|s| s.metadata.annotations.as_ref().is_some_and(|a| a.contains_key(BOOKING)))
            .map(|s| s.metadata.name.clone().unwrap_or_default())
            .collect();
        if booked.is_empty() { Ok(()) } else { Err(format!("still booked: {booked:?}")) }
    })
    .await;
}

#[tokio::test]
async fn messages_in_flight_survive_a_dead_consumer_and_a_killed_controller() {
    let Some(client) = cluster("k8s_drift_events").await else { return };
    apply_crd(&client).await;
    let ns = create_namespace(&client, "lac-events-restart").await;
    let lambda = support::lambda().await;
    let sqs = sqs().await;
    let url = queue(&sqs, 3).await;
    let args = ["--namespace", ns.as_str(), "--resync", "3600", "--drift-events-queue", url.as_str()];
    let mut controller = Controller::start(&args, env("lac-events-restart", &ns));
    let api: Api<LambdaAliasSet> = Api::namespaced(client.clone(), &ns);
    let mut functions = Vec::new();
    for i in 0..4 {
        let function = support::unique_name("events-restart");
        support::create_function(&lambda, &function, "v1").await;
        api.create(&PostParams::default(), &set(&format!("r{i}"), &function, None)).await.expect("create");
        functions.push(function);
    }
    for i in 0..4 {
        wait_converged(&api, &format!("r{i}")).await;
    }
    queue_up(&controller).await;

    // A consumer that received the message and died (the controller, stopped, cannot race it
    // to the long poll): the message is invisible for the visibility timeout, then the
    // restarted controller gets it, books its check and deletes it.
    controller.terminate(Duration::from_secs(10));
    repoint(&lambda, &functions[0]).await;
    send(&sqs, &url, cloudtrail("UpdateAlias20150331", &functions[0], "dead-consumer")).await;
    // (moto, like SQS, may already have handed it to the stopped controller's pending long
    // poll: then it is in flight for that dead connection first, and comes back to us.)
    let stolen = sqs
        .receive_message()
        .queue_url(&url)
        .max_number_of_messages(10)
        .wait_time_seconds(10)
        .send()
        .await
        .expect("receive");
    assert_eq!(stolen.messages().len(), 1, "the dead consumer holds the message");
    controller = Controller::start(&args, env("lac-events-restart", &ns));
    wait_repaired(&functions[0]).await;
    eventually("the message comes back and is booked", || async {
        let matched = result_count(&controller, "matched").await;
        let remaining = left(&sqs, &url).await;
        if matched == 1.0 && remaining == 0 {
            Ok(())
        } else {
            Err(format!("{matched} matched, {remaining} left"))
        }
    })
    .await;

    // A controller killed (SIGKILL: no graceful anything) at random moments after the event.
    for (round, function) in functions.iter().enumerate().skip(1) {
        repoint(&lambda, function).await;
        send(&sqs, &url, cloudtrail("UpdateAlias20150331", function, &format!("kill-{round}"))).await;
        let delay = Duration::from_millis(fastrand::u64(0..1500));
        tokio::time::sleep(delay).await;
        // SAFETY: kill(2) on our own child's pid; no memory is touched.
        unsafe {
            libc::kill(controller.pid(), libc::SIGKILL);
        }
        eprintln!("drift events: killed the controller {} ms after event {round}", delay.as_millis());
        drop(controller);
        controller = Controller::start(&args, env("lac-events-restart", &ns));
        queue_up(&controller).await;
    }
    for function in &functions {
        wait_repaired(function).await;
    }
    eventually("the queue ends empty and no booking is left", || async {
        let remaining = left(&sqs, &url).await;
        let list = api.list(&ListParams::default()).await.map_err(|e| e.to_string())?;
        let booked = list
            .items
            .iter()
            .filter(|s| s.metadata.annotations.as_ref().is_some_and(|a| a.contains_key(BOOKING)))
            .count();
        if remaining == 0 && booked == 0 { Ok(()) } else { Err(format!("{remaining} left, {booked} booked")) }
    })
    .await;
    let value: Value = json!(metric(&controller, "lac_drift_events_received_total").await);
    eprintln!("drift events: the last controller received {value} messages");
}
