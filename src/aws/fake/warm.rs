//! Provisioned concurrency in the fake, with AWS's rules and error texts (Lambda API reference;
//! the texts as LocalStack's AWS-recorded snapshots hold them):
//! - configs go on a published version or on an alias, never on `$LATEST` (nor on an alias
//!   whose version is `$LATEST`): "Provisioned Concurrency Configs cannot be applied to
//!   unpublished function versions.";
//! - one config per version: an alias cannot get one when its version has one ("Alias can't be
//!   used for Provisioned Concurrency configuration on an already Provisioned version"), a
//!   version cannot when an alias with one points at it ("Version is pointed by a Provisioned
//!   Concurrency alias"), both `ResourceConflictException`;
//! - an alias with routing weights cannot get one ("Alias with weights can not be used with
//!   Provisioned Concurrency");
//! - a config is IN_PROGRESS for [`FakeLambda::set_warm_delay`] seconds after it is put (or,
//!   on an alias, after the alias moves to another version), then READY with everything
//!   allocated, or FAILED with its StatusReason for a qualifier [`FakeLambda::fail_warm`] names.

use super::*;
use crate::aws::lambda::{DeleteWarm, ListWarm, PutWarm};
use crate::plan::{WarmConfig, WarmStatus};

/// One config as the fake keeps it.
#[derive(Clone, Debug)]
pub(super) struct Warm {
    requested: u32,
    /// What was allocated before the last put (a count changed keeps serving the old one).
    allocated_before: u32,
    /// When (fake clock) it stops being IN_PROGRESS.
    ready_at: i64,
}

const UNPUBLISHED: &str =
    "Provisioned Concurrency Configs cannot be applied to unpublished function versions.";

impl Function {
    fn warm_info(&self, qualifier: &str, warm: &Warm, now: i64) -> WarmConfig {
        let (status, allocated, reason) = if now < warm.ready_at {
            (WarmStatus::InProgress, warm.allocated_before, None)
        } else if let Some(reason) = self.warm_failing.get(qualifier) {
            (WarmStatus::Failed, 0, Some(reason.clone()))
        } else {
            (WarmStatus::Ready, warm.requested, None)
        };
        WarmConfig {
            qualifier: qualifier.to_string(),
            requested: warm.requested,
            allocated,
            available: allocated,
            status,
            reason,
        }
    }

    /// The AWS rules for a config on `qualifier`.
    fn check_warm(&self, qualifier: &str, count: u32, op: Operation) -> AwsResult<()> {
        if count < 1 {
            return Err(invalid(
                op,
                format!(
                    "1 validation error detected: Value '{count}' at 'provisionedConcurrentExecutions' failed to \
                     satisfy constraint: Member must have value greater than or equal to 1"
                ),
            ));
        }
        if qualifier == LATEST {
            return Err(invalid(op, UNPUBLISHED));
        }
        if !self.qualifier_exists(qualifier) {
            return Err(not_found(op, format!("Function not found: {}:{qualifier}", self.arn)));
        }
        if parse_version(qualifier).is_some() {
            let pointed =
                self.aliases.iter().any(|(name, a)| a.version == qualifier && self.warm.contains_key(name));
            if pointed {
                return Err(conflict(op, "Version is pointed by a Provisioned Concurrency alias"));
            }
            return Ok(());
        }
        let alias = &self.aliases[qualifier];
        if alias.version == LATEST {
            return Err(invalid(op, UNPUBLISHED));
        }
        if !alias.routing.is_empty() {
            return Err(invalid(op, "Alias with weights can not be used with Provisioned Concurrency"));
        }
        if self.warm.contains_key(&alias.version) {
            return Err(conflict(
                op,
                "Alias can't be used for Provisioned Concurrency configuration on an already Provisioned version",
            ));
        }
        Ok(())
    }

    /// An alias moved to another version: its own config is allocated again (AWS moves it).
    pub(super) fn alias_moved(&mut self, name: &str, ready_at: i64) {
        if let Some(warm) = self.warm.get_mut(name) {
            warm.allocated_before = 0;
            warm.ready_at = ready_at;
        }
    }
}

impl State {
    fn put_warm(&mut self, ident: &str, qualifier: &str, count: u32, op: Operation) -> AwsResult<WarmConfig> {
        let (now, delay) = (self.clock, self.warm_delay);
        let f = self.function_mut(ident, op)?;
        f.check_warm(qualifier, count, op)?;
        let allocated_before = f.warm.get(qualifier).map_or(0, |w| f.warm_info(qualifier, w, now).allocated);
        let warm = Warm { requested: count, allocated_before, ready_at: now + delay };
        let info = f.warm_info(qualifier, &warm, now);
        f.warm.insert(qualifier.to_string(), warm);
        Ok(info)
    }

    /// AWS answers 204 to a delete of a config that is not there (as LocalStack's AWS-recorded
    /// snapshots show): already deleted.
    fn delete_warm(&mut self, ident: &str, qualifier: &str, op: Operation) -> AwsResult<()> {
        let f = self.function_mut(ident, op)?;
        if !f.qualifier_exists(qualifier) || qualifier == LATEST {
            return Err(not_found(op, format!("Function not found: {}:{qualifier}", f.arn)));
        }
        f.warm.remove(qualifier);
        Ok(())
    }
}

impl FakeLambda {
    /// Seconds every config put from now on stays IN_PROGRESS (0: READY at once).
    pub fn set_warm_delay(&self, seconds: i64) {
        self.lock().warm_delay = seconds;
    }

    /// Configs on `qualifier` fail to initialise (FAILED with `reason` once their delay is over);
    /// `None` heals them.
    pub fn fail_warm(&self, function: &str, qualifier: &str, reason: Option<&str>) {
        let mut state = self.lock();
        if let Some(f) = state.functions.get_mut(function) {
            match reason {
                Some(r) => f.warm_failing.insert(qualifier.to_string(), r.to_string()),
                None => f.warm_failing.remove(qualifier),
            };
        }
    }

    /// Every config of `function`, as ListProvisionedConcurrencyConfigs would answer now.
    pub fn warm_configs(&self, function: &str) -> Vec<WarmConfig> {
        let state = self.lock();
        let now = state.clock;
        state
            .functions
            .get(function)
            .map(|f| f.warm.iter().map(|(q, w)| f.warm_info(q, w, now)).collect())
            .unwrap_or_default()
    }

    /// PutProvisionedConcurrencyConfig by hand (another tool, the console), by AWS's rules.
    pub fn oob_put_warm(&self, function: &str, qualifier: &str, count: u32) -> AwsResult<WarmConfig> {
        self.oob(|state| state.put_warm(function, qualifier, count, PutWarm::OPERATION))
    }

    /// DeleteProvisionedConcurrencyConfig by hand.
    pub fn oob_delete_warm(&self, function: &str, qualifier: &str) -> AwsResult<()> {
        self.oob(|state| state.delete_warm(function, qualifier, DeleteWarm::OPERATION))
    }
}

impl Call<ListWarm> for FakeLambda {
    async fn call(&self, r: &ListWarm) -> AwsResult<Page<WarmConfig>> {
        let op = ListWarm::OPERATION;
        self.request(op, |state| {
            let now = state.clock;
            let f = state.function(&r.function, op)?;
            Ok(Page::last(f.warm.iter().map(|(q, w)| f.warm_info(q, w, now)).collect()))
        })
    }
}

impl Call<PutWarm> for FakeLambda {
    async fn call(&self, r: &PutWarm) -> AwsResult<WarmConfig> {
        let op = PutWarm::OPERATION;
        self.request(op, |state| state.put_warm(&r.function, &r.version.to_string(), r.count, op))
    }
}

impl Call<DeleteWarm> for FakeLambda {
    async fn call(&self, r: &DeleteWarm) -> AwsResult<()> {
        let op = DeleteWarm::OPERATION;
        self.request(op, |state| state.delete_warm(&r.function, &r.version.to_string(), op))
    }
}
