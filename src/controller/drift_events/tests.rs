//! The feed against the faithful fake queue, on paused time: what is booked, what is deleted,
//! what is counted, and what comes back.

use std::sync::Mutex;

use serde_json::json;

use super::event::tests::cloudtrail;
use super::*;
use crate::api::LambdaAliasSetSpec;
use crate::aws::budget::{Budgets, CallCounter};
use crate::aws::fake::FakeQueue;
use crate::controller::events::MemorySink;

const VISIBILITY: Duration = Duration::from_secs(30);
const ME: &str = "111122223333";
const NOW: i64 = 1_796_615_000;

/// Records bookings; fails those of the sets named in `failing`.
#[derive(Default)]
struct Bookings {
    booked: Mutex<Vec<(String, String)>>,
    failing: Mutex<HashSet<String>>,
}

impl Booker for Bookings {
    fn book<'a>(&'a self, set: &'a SetRef, value: &'a str) -> BoxFuture<'a, Result<(), String>> {
        Box::pin(async move {
            if self.failing.lock().unwrap().contains(&set.name) {
                return Err("the API server said no".into());
            }
            self.booked.lock().unwrap().push((set.name.clone(), value.to_owned()));
            Ok(())
        })
    }
}

struct World {
    queue: Arc<SqsQueue<Arc<FakeQueue>>>,
    fake: Arc<FakeQueue>,
    bookings: Arc<Bookings>,
    metrics: Arc<Metrics>,
    events: Arc<MemorySink>,
    stop: watch::Sender<bool>,
}

impl World {
    fn new() -> World {
        let fake = Arc::new(FakeQueue::new(VISIBILITY));
        World {
            queue: Arc::new(SqsQueue {
                api: fake.clone(),
                url: "https://sqs.eu-west-1.amazonaws.com/111122223333/drift".into(),
            }),
            fake,
            bookings: Arc::default(),
            metrics: Arc::new(Metrics::new()),
            events: Arc::default(),
            stop: watch::channel(false).0,
        }
    }

    /// Sets "trivia" (two sets on it) and "quiz", in the controller's account and region.
    fn sets() -> Arc<Sets> {
        let sets = Arc::new(Sets::default());
        let defaults = Defaults { account: Some(ME.into()), region: Some("eu-west-1".into()) };
        let mut index = Index::default();
        for (name, function) in [("trivia-a", "trivia"), ("trivia-b", "trivia"), ("quiz", "quiz")] {
            index.insert(
                "skills",
                name,
                &Location::from(&LambdaAliasSetSpec::for_function(function)),
                &defaults,
            );
        }
        sets.replace(0, index);
        sets
    }

    fn start(&self) -> tokio::task::JoinHandle<()> {
        let feed = Feed {
            queue: self.queue.clone(),
            sets: World::sets(),
            booker: self.bookings.clone(),
            own: Own {
                caller_arn: Some(format!("arn:aws:sts::{ME}:assumed-role/irsa/botocore-session-1")),
                session_name: crate::aws::client::SESSION_NAME.into(),
            },
            metrics: self.metrics.clone(),
            events: self.events.clone(),
            regarding: ObjectReference { name: Some("controller-0".into()), ..Default::default() },
            clock: Arc::new(|| NOW),
        };
        let (_, ready) = watch::channel(true);
        tokio::spawn(feed.run(vec![ready], self.stop.subscribe()))
    }

    fn count(&self, result: &str) -> u64 {
        self.series(&format!("lac_drift_events_total{{result=\"{result}\"}}"))
    }

    fn series(&self, series: &str) -> u64 {
        let text = self.metrics.render(&CallCounter::new(), &Budgets::default());
        text.lines()
            .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
            .map_or(0, |v| v.parse::<f64>().unwrap() as u64)
    }

    fn booked(&self) -> Vec<(String, String)> {
        let mut booked = self.bookings.booked.lock().unwrap().clone();
        booked.sort();
        booked
    }
}

fn event(name: &str, function: &str, id: &str, time: &str) -> String {
    let mut e = cloudtrail(name, json!({"functionName": function}));
    e["id"] = json!(id);
    e["detail"]["eventTime"] = json!(time);
    e.to_string()
}

async fn settle() {
    tokio::time::sleep(Duration::from_secs(1)).await;
}

#[tokio::test(start_paused = true)]
async fn each_set_on_the_function_is_booked_once_with_the_newest_event_then_the_messages_go() {
    let w = World::new();
    w.fake.send(event("UpdateAlias20150331", "trivia", "e1", "2026-12-07T03:00:00Z"));
    w.fake.send(event("AddPermission20150331v2", "trivia:PROD1", "e2", "2026-12-07T03:00:05Z"));
    w.fake.send(event(
        "RemovePermission20150331v2",
        &format!("arn:aws:lambda:eu-west-1:{ME}:function:quiz"),
        "e3",
        "2026-12-07T03:00:01Z",
    ));
    let feed = w.start();
    settle().await;
    assert_eq!(
        w.booked(),
        vec![
            ("quiz".into(), "2026-12-07T03:00:01Z|e3".into()),
            ("trivia-a".into(), "2026-12-07T03:00:05Z|e2".into()),
            ("trivia-b".into(), "2026-12-07T03:00:05Z|e2".into()),
        ],
        "one booking per set, with the newest of its events"
    );
    assert!(w.fake.is_empty(), "every message was deleted once booked");
    assert_eq!((w.count("matched"), w.series("lac_drift_events_received_total")), (3, 3));
    assert_eq!(w.series("lac_drift_event_lag_seconds_count{until=\"booked\"}"), 3);
    assert_eq!(
        w.series(
            "lac_drift_events_queue_up{queue=\"https://sqs.eu-west-1.amazonaws.com/111122223333/drift\"}"
        ),
        1
    );
    let _ = w.stop.send(true);
    feed.await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn unmatched_own_duplicate_ignored_and_malformed_messages_are_counted_and_deleted() {
    let w = World::new();
    let own_role = {
        let mut e = cloudtrail("UpdateAlias20150331", json!({"functionName": "trivia"}));
        e["id"] = json!("own-1");
        e["detail"]["userIdentity"]["arn"] =
            json!(format!("arn:aws:sts::{ME}:assumed-role/deployer/{}", crate::aws::client::SESSION_NAME));
        e.to_string()
    };
    let own_base = {
        let mut e = cloudtrail("UpdateAlias20150331", json!({"functionName": "trivia"}));
        e["id"] = json!("own-2");
        e["detail"]["userIdentity"]["arn"] =
            json!(format!("arn:aws:sts::{ME}:assumed-role/irsa/botocore-session-1"));
        e.to_string()
    };
    let cli = {
        let mut e = cloudtrail("UpdateAlias20150331", json!({"functionName": "quiz"}));
        e["id"] = json!("cli-1");
        e["detail"]["userIdentity"]["arn"] = json!(format!(
            "arn:aws:sts::{ME}:assumed-role/deployer/{}",
            crate::aws::client::CLI_SESSION_NAME
        ));
        e.to_string()
    };
    w.fake.send(event("UpdateAlias20150331", "nobody-owns-this", "u1", "2026-12-07T03:00:00Z"));
    w.fake.send(event(
        "UpdateAlias20150331",
        "arn:aws:lambda:eu-west-1:444455556666:function:trivia",
        "u2",
        "2026-12-07T03:00:00Z",
    ));
    w.fake.send(own_role);
    w.fake.send(own_base);
    w.fake.send(event("GetFunction20150331v2", "trivia", "i1", "2026-12-07T03:00:00Z"));
    w.fake.send("{not json");
    w.fake.send(event("UpdateFunctionCode20150331v2", "quiz", "d1", "2026-12-07T03:00:00Z"));
    w.fake.send(event("UpdateFunctionCode20150331v2", "quiz", "d1", "2026-12-07T03:00:00Z"));
    w.fake.send(cli);
    let feed = w.start();
    settle().await;
    // And the same event once more, in a later batch.
    w.fake.send(event("UpdateFunctionCode20150331v2", "quiz", "d1", "2026-12-07T03:00:00Z"));
    settle().await;
    assert!(w.fake.is_empty(), "nothing is left to come back");
    assert_eq!(
        ["unmatched", "own", "ignored", "malformed", "duplicate", "matched"].map(|r| w.count(r)),
        [2, 2, 1, 1, 2, 2],
        "another account's trivia is unmatched; a CLI session's write is not the controller's own"
    );
    assert_eq!(w.series("lac_drift_events_received_total"), 10);
    // The CLI's write and d1 came in one batch: one booking for quiz.
    assert_eq!(w.booked().into_iter().map(|(set, _)| set).collect::<Vec<_>>(), ["quiz"]);
    let _ = w.stop.send(true);
    feed.await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn a_booking_that_fails_leaves_its_message_to_come_back_and_is_never_retried_forever() {
    let w = World::new();
    w.bookings.failing.lock().unwrap().insert("quiz".into());
    w.fake.send(event("DeleteAlias20150331", "quiz", "q1", "2026-12-07T03:00:00Z"));
    w.fake.send(event("DeleteAlias20150331", "trivia", "t1", "2026-12-07T03:00:00Z"));
    let feed = w.start();
    settle().await;
    assert_eq!(w.fake.len(), 1, "trivia's message is gone, quiz's stays");
    assert_eq!(w.count("matched"), 1);
    // It comes back after the visibility timeout; once booking works, it is booked and deleted.
    tokio::time::sleep(VISIBILITY).await;
    assert_eq!(w.fake.len(), 1);
    w.bookings.failing.lock().unwrap().clear();
    tokio::time::sleep(VISIBILITY).await;
    assert!(w.fake.is_empty());
    assert_eq!(w.count("matched"), 2);
    assert!(w.booked().iter().any(|(set, _)| set == "quiz"));
    // A booking that keeps failing ends after MAX_RECEIVES deliveries, counted.
    w.bookings.failing.lock().unwrap().insert("quiz".into());
    w.fake.send(event("DeleteAlias20150331", "quiz", "q2", "2026-12-07T03:00:00Z"));
    tokio::time::sleep(VISIBILITY * (MAX_RECEIVES + 1)).await;
    assert!(w.fake.is_empty());
    assert_eq!(w.count("abandoned"), 1);
    let _ = w.stop.send(true);
    feed.await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn a_queue_that_cannot_be_read_warns_once_and_is_read_once_it_can_be() {
    let w = World::new();
    w.fake.deny(true);
    w.fake.send(event("UpdateAlias20150331", "trivia", "e1", "2026-12-07T03:00:00Z"));
    let feed = w.start();
    tokio::time::sleep(Duration::from_secs(60)).await;
    let warnings = w.events.events();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    let (regarding, reason, note) = &warnings[0];
    assert_eq!((regarding.as_str(), reason.as_str()), ("controller-0", "DriftEventsUnavailable"));
    assert!(note.contains("sqs:GetQueueAttributes") && note.contains("--resync"), "{note}");
    assert_eq!(
        w.series(
            "lac_drift_events_queue_up{queue=\"https://sqs.eu-west-1.amazonaws.com/111122223333/drift\"}"
        ),
        0
    );
    assert!(w.booked().is_empty());
    w.fake.deny(false);
    tokio::time::sleep(MAX_BACKOFF).await;
    assert!(w.fake.is_empty(), "read and booked once the queue can be read");
    assert_eq!(w.booked().len(), 2);
    assert_eq!(
        w.series(
            "lac_drift_events_queue_up{queue=\"https://sqs.eu-west-1.amazonaws.com/111122223333/drift\"}"
        ),
        1
    );
    assert_eq!(w.events.events().len(), 1, "one Warning, not one per retry");
    let _ = w.stop.send(true);
    feed.await.unwrap();
}

#[test]
fn a_booking_carries_the_event_time_and_id() {
    let e = DriftEvent {
        id: "abc".into(),
        time: event::unix_seconds("2026-12-07T03:00:00Z"),
        name: "UpdateAlias",
        function: event::FunctionRef { name: "f".into(), account: None, region: None },
        caller: None,
    };
    let value = booking(&e);
    assert_eq!(value, "2026-12-07T03:00:00Z|abc");
    assert_eq!(booked_time(&value), e.time);
    assert_eq!(booked_time("|abc"), None);
}

#[test]
fn own_writes_are_the_controllers_credentials_and_its_role_sessions() {
    let own = Own {
        caller_arn: Some("arn:aws:iam::1:user/ci".into()),
        session_name: "lambda-alias-controller".into(),
    };
    assert!(own.made("arn:aws:iam::1:user/ci"));
    assert!(own.made("arn:aws:sts::2:assumed-role/deployer/lambda-alias-controller"));
    assert!(!own.made("arn:aws:sts::2:assumed-role/deployer/lambda-alias-controller-cli"));
    assert!(!own.made("arn:aws:sts::2:assumed-role/deployer/alice"));
    assert!(!own.made("arn:aws:iam::1:user/lambda-alias-controller"), "a user of that name is not a session");
}

/// The feed's watch decodes only where a set's function is: a whole set as the API server sends
/// it (status, managedFields, the rest of the spec) gives name, namespace, resourceVersion and
/// the location, and a set without a spec still decodes (the index leaves it out).
#[test]
fn the_index_decodes_a_whole_set_as_its_location_and_name() {
    let mut whole = serde_json::to_value(LambdaAliasSet::new("trivia", {
        let mut spec =
            LambdaAliasSetSpec::for_function("arn:aws:lambda:eu-west-1:111122223333:function:trivia");
        spec.role_arn = Some("arn:aws:iam::111122223333:role/deployer".into());
        spec
    }))
    .expect("a set serializes");
    whole["metadata"]["namespace"] = json!("skills");
    whole["metadata"]["resourceVersion"] = json!("42");
    whole["metadata"]["uid"] = json!("6f1c");
    whole["metadata"]["managedFields"] =
        json!([{"manager": "kubectl", "operation": "Apply", "fieldsV1": {"f:spec": {}}}]);
    whole["metadata"]["annotations"] = json!({ANNOTATION: "2026-12-07T03:40:00Z|e1"});
    whole["status"] = json!({"phase": "Development", "conditions": [{"type": "Ready", "status": "True"}]});
    let located: Located = serde_json::from_value(whole).expect("a whole set decodes");
    assert_eq!(located.name_any(), "trivia");
    assert_eq!(located.metadata.namespace.as_deref(), Some("skills"));
    assert_eq!(located.resource_version().as_deref(), Some("42"));
    assert!(located.metadata.managed_fields.is_none() && located.metadata.annotations.is_none());
    assert_eq!(
        located.spec,
        Location {
            function_name: "arn:aws:lambda:eu-west-1:111122223333:function:trivia".into(),
            region: None,
            role_arn: Some("arn:aws:iam::111122223333:role/deployer".into()),
        }
    );
    let bare: Located =
        serde_json::from_value(json!({"metadata": {"name": "x", "namespace": "skills"}})).expect("no spec");
    let mut index = Index::default();
    bare.insert_into(&mut index, &Defaults::default());
    assert!(index.is_empty());
    assert_eq!(Located::url_path(&(), Some("skills")), LambdaAliasSet::url_path(&(), Some("skills")));
}
