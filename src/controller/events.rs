//! Kubernetes Events for every AWS change, through kube's Recorder in production and an
//! in-memory sink in tests.

use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;

use k8s_openapi::api::core::v1::ObjectReference;
use kube::runtime::events::{Event, EventType, Recorder, Reporter};

use crate::api::LambdaAliasSetStatus;
use crate::engine::Done;
use crate::plan::{Action, AliasChange};

pub type BoxFuture<'a> = Pin<Box<dyn Future<Output = ()> + Send + 'a>>;

/// Where Events go. Publishing never fails a reconcile: a lost Event is logged, not retried.
pub trait EventSink: Send + Sync + 'static {
    fn publish<'a>(&'a self, reference: &'a ObjectReference, event: Event) -> BoxFuture<'a>;
}

/// Publishes each Event through a Recorder of its own, so every AWS change is one Event with
/// its own note and nothing is kept. kube's Recorder, kept, caches each Event it published for 6
/// minutes (≈4 KB each: 130 MB after a compressed bootstrap of 10,000 sets in `make bench`) to
/// fold repeats into a series, and it folds by reason and action alone: the second
/// `AliasCreated` of a bootstrap became a repeat of the first, showing only the first alias's
/// note. The Events this controller publishes are bounded by its AWS writes (budgeted) and by
/// state changes (Warnings once per stall), so there is no flood to fold.
pub struct RecorderSink {
    client: kube::Client,
    reporter: Reporter,
}

impl RecorderSink {
    pub fn new(client: kube::Client, reporter: Reporter) -> RecorderSink {
        RecorderSink { client, reporter }
    }
}

impl EventSink for RecorderSink {
    fn publish<'a>(&'a self, reference: &'a ObjectReference, event: Event) -> BoxFuture<'a> {
        Box::pin(async move {
            let recorder = Recorder::new(self.client.clone(), self.reporter.clone());
            if let Err(e) = recorder.publish(&event, reference).await {
                tracing::warn!(reason = %event.reason, error = %e, "could not publish an Event");
            }
        })
    }
}

/// Keeps Events in memory (tests, and `plan`-like dry runs).
#[derive(Default)]
pub struct MemorySink(pub Mutex<Vec<(String, Event)>>);

impl MemorySink {
    /// (object name, reason, note) of every Event so far.
    pub fn events(&self) -> Vec<(String, String, String)> {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .map(|(name, e)| (name.clone(), e.reason.clone(), e.note.clone().unwrap_or_default()))
            .collect()
    }
}

impl EventSink for MemorySink {
    fn publish<'a>(&'a self, reference: &'a ObjectReference, event: Event) -> BoxFuture<'a> {
        let name = reference.name.clone().unwrap_or_default();
        self.0.lock().unwrap_or_else(|e| e.into_inner()).push((name, event));
        Box::pin(async {})
    }
}

fn carried_before(previous: Option<&LambdaAliasSetStatus>, trigger: &str, alias: &str) -> bool {
    previous
        .is_some_and(|s| s.triggers.iter().any(|t| t.name == trigger && t.aliases.iter().any(|a| a == alias)))
}

/// The Event for one executed action. An owned statement re-added on an alias that the status
/// said carried it was removed out of band: that is drift, and the Event says so.
pub fn for_action(done: &Done, previous: Option<&LambdaAliasSetStatus>) -> Event {
    let reason = match &done.action {
        Action::PublishVersion { .. } => "VersionPublished",
        Action::CreateAlias { .. } => "AliasCreated",
        Action::UpdateAlias { change, .. } => match change {
            AliasChange::Swap => "RolesSwapped",
            AliasChange::Drift => "DriftCorrected",
            AliasChange::Adopt => "AliasAdopted",
            AliasChange::Release => "OwnershipReleased",
            AliasChange::Hotfix => "LiveHotfixed",
            AliasChange::Freeze => "CandidateFrozen",
            AliasChange::Bootstrap | AliasChange::Track | AliasChange::Stage => "AliasMoved",
            // `spec.rollout`. The rollback's Warning is the stall's (reason RolledBack, naming the
            // alarm or the error rate).
            AliasChange::Step => "RolloutStep",
            AliasChange::RollBack => "AliasRolledBack",
            AliasChange::Record => "ProvisionedConcurrencyRecorded",
        },
        Action::DeleteAlias { .. } => "AliasDeleted",
        Action::AddPermission { alias, trigger, .. } if carried_before(previous, trigger, alias) => {
            "DriftCorrected"
        }
        Action::AddPermission { .. } | Action::CreateMapping { .. } => "TriggerAdded",
        Action::RemovePermission { .. } | Action::DeleteMapping { .. } => "TriggerRemoved",
        Action::UpdateMapping { .. } => "TriggerUpdated",
        Action::DeleteVersion { .. } => "VersionDeleted",
        Action::PutWarm { .. } => "ProvisionedConcurrencySet",
        Action::DeleteWarm { .. } => "ProvisionedConcurrencyDeleted",
    };
    Event {
        type_: EventType::Normal,
        reason: reason.to_string(),
        note: Some(truncate(format!("{} => {}", done.action, done.detail))),
        action: done.action.verb().to_string(),
        secondary: None,
    }
}

pub fn normal(reason: &str, action: &str, note: String) -> Event {
    Event {
        type_: EventType::Normal,
        reason: reason.to_string(),
        note: Some(truncate(note)),
        action: action.to_string(),
        secondary: None,
    }
}

pub fn warning(reason: &str, action: &str, note: String) -> Event {
    Event {
        type_: EventType::Warning,
        reason: reason.to_string(),
        note: Some(truncate(note)),
        action: action.to_string(),
        secondary: None,
    }
}

/// The Events API limits a note to 1 KiB.
fn truncate(mut note: String) -> String {
    if note.len() > 1000 {
        let mut cut = 1000;
        while !note.is_char_boundary(cut) {
            cut -= 1;
        }
        note.truncate(cut);
        note.push('…');
    }
    note
}
