//! `alexa.manageDevelopmentEndpoint`: the skill's development stage follows the candidate. The
//! planner says which move to make ([`EndpointMove`], only once the Lambda side converged); this
//! step makes it through SMAPI and follows SMAPI's asynchronous update to its end, recording it
//! in `status.skill.developmentUpdate` with an Event at each turn (README "Alexa-aware sets").
//!
//! Nothing here blocks the rest of the reconcile: a refusal, a stale ETag, a FAILED update or a
//! SMAPI error is a note, an Event and a later retry, never a failed reconcile.

use std::time::Duration;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::runtime::events::Event;

use super::{Context, LambdaProvider, events};
use crate::alexa::EndpointWrite;
use crate::api::{DevelopmentUpdate, LambdaAliasSetSpec};
use crate::plan::EndpointMove;

/// How soon a set whose update is being followed is looked at again.
pub const FOLLOW_AGAIN: Duration = Duration::from_secs(5);

/// What the step found and did.
#[derive(Default)]
pub struct Followed {
    /// The record for the status (the previous one when nothing happened).
    pub update: Option<DevelopmentUpdate>,
    pub events: Vec<Event>,
    /// Why a wanted move was not made (for the skill's note).
    pub held: Option<String>,
    /// Look again soon: SMAPI is applying the update, or it must be read again.
    pub soon: bool,
    /// The move could not be made (a SMAPI error, or not allowed yet): plan it again at the next
    /// drift check (a full observe instead of the cheap check).
    pub retry: bool,
}

/// The set's identity and spec, as the reconcile knows them.
pub struct Subject<'a> {
    pub key: &'a str,
    pub namespace: &'a str,
    pub spec: &'a LambdaAliasSetSpec,
    /// The primary skill (the one the status records).
    pub skill_id: &'a str,
}

/// Follows an update in progress, or makes the planner's move.
pub async fn follow<P: LambdaProvider>(
    subject: &Subject<'_>,
    moves: &[EndpointMove],
    previous: Option<&DevelopmentUpdate>,
    ctx: &Context<P>,
) -> Followed {
    let mut out = Followed { update: previous.cloned(), ..Followed::default() };
    if let Some(update) = previous.filter(|u| u.status == DevelopmentUpdate::IN_PROGRESS) {
        follow_update(subject, update, ctx, &mut out).await;
        return out;
    }
    let Some(wanted) = moves.iter().find(|m| m.skill_id == subject.skill_id) else {
        // A stale write that is no longer wanted (someone else pointed the stage at the
        // candidate) is nothing to follow any more.
        if previous.is_some_and(|u| u.status == DevelopmentUpdate::STALE) {
            out.update = None;
        }
        return out;
    };
    if let Err(why) = ctx.tenancy.may_write_skill(subject.namespace, &wanted.skill_id) {
        // Planned again at each drift check, so that the move is made once the annotation allows it.
        out.held = Some(why);
        out.retry = true;
        return out;
    }
    if let Some(failed) =
        previous.filter(|u| u.status == DevelopmentUpdate::FAILED && u.alias == wanted.alias)
    {
        // The same move on the same manifest failed already: SMAPI would refuse it again. A
        // manifest changed since (another ETag), or another candidate, is a new move.
        let now = ctx.skills.manifest_update(subject.namespace, subject.spec, subject.skill_id).await;
        if let Ok(Some(now)) = &now
            && now.etag.as_deref().is_none_or(|etag| etag == failed.etag)
        {
            out.held = Some(format!(
                "the last re-point of the development stage to {} FAILED ({}); it is tried again once the \
                 manifest changes",
                failed.alias,
                failed.errors.join("; ")
            ));
            return out;
        }
    }
    make_move(subject, wanted, ctx, &mut out).await;
    out
}

/// Reads SMAPI's status of the update the status says is in progress.
async fn follow_update<P: LambdaProvider>(
    subject: &Subject<'_>,
    update: &DevelopmentUpdate,
    ctx: &Context<P>,
    out: &mut Followed,
) {
    match ctx.skills.manifest_update(subject.namespace, subject.spec, subject.skill_id).await {
        Ok(Some(now)) => ended(subject, update.clone(), now.status, now.errors, out),
        Ok(None) => out.soon = true,
        Err(error) => {
            tracing::warn!(set = %subject.key, error = %error, "cannot read the skill's manifest update status");
            out.soon = true;
        }
    }
}

/// Records SMAPI's status of an update, with an Event when it ended.
fn ended(
    subject: &Subject<'_>,
    mut update: DevelopmentUpdate,
    status: String,
    errors: Vec<String>,
    out: &mut Followed,
) {
    let skill = subject.skill_id;
    match status.as_str() {
        DevelopmentUpdate::SUCCEEDED => out.events.push(events::normal(
            "DevelopmentEndpointUpdated",
            "UpdateSkillManifest",
            format!("skill {skill}: SMAPI applied the development manifest; its endpoint calls {}", update.alias),
        )),
        DevelopmentUpdate::FAILED => out.events.push(events::warning(
            "DevelopmentEndpointFailed",
            "UpdateSkillManifest",
            format!(
                "skill {skill}: SMAPI refused the development manifest pointing at {} ({}); it still calls {}",
                update.alias,
                errors.join("; "),
                update.from
            ),
        )),
        _ => out.soon = true,
    }
    update.status = status;
    update.errors = errors;
    out.update = Some(update);
}

/// Writes the development manifest with the move, then reads SMAPI's status once.
async fn make_move<P: LambdaProvider>(
    subject: &Subject<'_>,
    wanted: &EndpointMove,
    ctx: &Context<P>,
    out: &mut Followed,
) {
    let skill = subject.skill_id;
    let at = Time(jiff::Timestamp::from_second((ctx.clock)()).unwrap_or_default());
    let record = |status: &str, etag: String| DevelopmentUpdate {
        alias: wanted.alias.clone(),
        from: wanted.from.clone(),
        status: status.to_string(),
        etag,
        errors: Vec::new(),
        at: at.clone(),
    };
    match ctx.skills.retarget(subject.namespace, subject.spec, wanted).await {
        Ok(EndpointWrite::Accepted { etag, changed }) => {
            let fields: Vec<String> =
                changed.iter().map(|c| format!("{} (was {})", c.path, c.from)).collect();
            out.events.push(events::normal(
                "DevelopmentEndpointMoved",
                "UpdateSkillManifest",
                format!(
                    "skill {skill}: the development stage called {}, not the candidate; it now calls {} ({}), written \
                     over ETag {etag}",
                    wanted.from,
                    wanted.alias_arn(),
                    fields.join(", ")
                ),
            ));
            let written = record(DevelopmentUpdate::IN_PROGRESS, etag);
            out.update = Some(written.clone());
            follow_update(subject, &written, ctx, out).await;
        }
        Ok(EndpointWrite::Stale) => {
            out.events.push(events::normal(
                "DevelopmentEndpointRaced",
                "UpdateSkillManifest",
                format!(
                    "skill {skill}: the development manifest changed between read and write (412), so nothing was \
                     written; it is read again"
                ),
            ));
            out.update = Some(record(DevelopmentUpdate::STALE, String::new()));
            out.soon = true;
        }
        Ok(EndpointWrite::Unchanged) => {}
        Err(error) => {
            tracing::warn!(set = %subject.key, error = %error, "cannot re-point the skill's development stage");
            out.events.push(events::warning(
                "DevelopmentEndpointFailed",
                "UpdateSkillManifest",
                format!("skill {skill}: cannot re-point the development stage at {}: {error}", wanted.alias),
            ));
            out.retry = true;
        }
    }
}
