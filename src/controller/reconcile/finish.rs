//! Step 5, the ending of every reconcile that ran: its Events, the status patch (server-side
//! apply of `status` alone, only when it changed), the gauge of sets and the count by reason.

use super::*;

/// Step 5, the one ending of every reconcile that ran: its Events, its status (patched only
/// when it changed), the gauge of sets and the count by Ready reason.
pub(super) async fn finish<P: LambdaProvider>(
    seen: &Seen<'_>,
    api: &Api<LambdaAliasSet>,
    ctx: &Context<P>,
    ending: Ending,
    timer: ReconcileTimer<'_>,
) -> Result<Action, Error> {
    let mut verdict = match ending {
        // The status stands, and so does the reason it gives.
        Ending::Unchanged(action) => {
            timer.ended(seen.ready_before.unwrap_or(Reason::Converged), false);
            return Ok(action);
        }
        Ending::Status(verdict) => verdict,
    };
    let smapi_events = std::mem::take(&mut verdict.events);
    publish(seen, ctx, &verdict, smapi_events).await;
    let previous = seen.previous();
    let new = status(verdict.report.as_ref(), &verdict.health, seen.generation, (ctx.clock)(), previous);
    patch_status(api, seen.obj, &new).await?;
    let ready = if verdict.health.ready { "True" } else { "False" };
    let stalled = verdict.health.stalled.then(|| verdict.health.reason.as_str());
    ctx.metrics.set_state(&seen.key, phase_label(&new), ready, stalled);
    timer.ended(verdict.health.reason, verdict.health.is_error());
    Ok(verdict.action)
}

/// The Events of a reconcile: one per write, a Warning when the set is newly stalled, and one
/// when the skill gets a new note.
async fn publish<P: LambdaProvider>(
    seen: &Seen<'_>,
    ctx: &Context<P>,
    verdict: &Verdict,
    smapi_events: Vec<Event>,
) {
    let reference = seen.obj.object_ref(&());
    let previous = seen.previous();
    for d in &verdict.done {
        ctx.events.publish(&reference, events::for_action(d, previous)).await;
    }
    for event in smapi_events {
        ctx.events.publish(&reference, event).await;
    }
    let health = &verdict.health;
    if health.newly_stalled(seen.ready_before) {
        let event = events::warning(health.warning_reason(), verdict.step, health.message.clone());
        ctx.events.publish(&reference, event).await;
    }
    // The development stage does not call the candidate: worth a Warning once, not a block.
    let note = verdict.report.as_ref().and_then(|r| r.skill.as_ref()).and_then(|s| s.note.as_ref());
    let note_before = previous.and_then(|p| p.skill.as_ref()).and_then(|s| s.note.as_ref());
    if let Some(note) = note
        && Some(note) != note_before
    {
        let event = events::warning("DevelopmentStageMismatch", "ObserveSkill", note.clone());
        ctx.events.publish(&reference, event).await;
    }
}

async fn patch_status(
    api: &Api<LambdaAliasSet>,
    obj: &LambdaAliasSet,
    new: &LambdaAliasSetStatus,
) -> Result<(), Error> {
    if obj.status.as_ref() == Some(new) {
        return Ok(());
    }
    let patch = json!({
        "apiVersion": crate::api::API_VERSION,
        "kind": "LambdaAliasSet",
        "status": new,
    });
    api.patch_status(&obj.name_any(), &PatchParams::apply(MANAGER).force(), &Patch::Apply(&patch)).await?;
    Ok(())
}

pub(super) fn phase_label(status: &LambdaAliasSetStatus) -> &'static str {
    status.phase.map_or("Unknown", |p| p.as_str())
}
