//! The reasons the Ready condition can carry: one enum instead of strings in every module. The
//! planner's outcomes, the AWS and skill errors, the controller's own verdicts (an invalid spec,
//! a set its namespace does not allow) all end in one of these, and the README and the CRD list
//! exactly [`Reason::ALL`] (a test holds them to it).
//!
//! What each reason means for kstatus, the drift lane and the metrics is decided here, by
//! matches without a catch-all: a new reason does not compile until each is decided.

use std::fmt;
use std::str::FromStr;

/// Declares [`Reason`] from one list: the enum, [`Reason::ALL`] and [`Reason::as_str`] (the text
/// is the variant's name).
macro_rules! reasons {
    ($( $(#[$group:meta])* $($reason:ident),+; )*) => {
        /// One Ready-condition reason. The text ([`Reason::as_str`]) is what the condition, the
        /// printer column, the metrics' `reason` label and the CLI show.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum Reason { $( $($reason,)+ )* }

        impl Reason {
            pub const ALL: [Reason; [$( $(stringify!($reason),)+ )*].len()] = [$( $(Reason::$reason,)+ )*];

            pub fn as_str(self) -> &'static str {
                match self { $( $(Reason::$reason => stringify!($reason),)+ )* }
            }
        }
    };
}

reasons! {
    // The planner's outcomes.
    Converged, Progressing, Draining, Suspended, CodeMismatch, VersionNotFound, NothingToPromote,
    OwnedByOther, FunctionNotFound, AwaitingPublication, SkillEndpointMismatch;
    // The planner's outcomes of `spec.rollout`.
    RollingOut, RolledBack, AlarmActive, AlarmNotFound;
    // The planner's outcomes of `spec.provisionedConcurrency`.
    Warming, WarmupFailed;
    // The controller's own verdicts.
    InvalidSpec, NotAllowed;
    // An AWS error ended the reconcile.
    NotFound, PreconditionFailed, Conflict, AccessDenied, Throttled, InvalidRequest, Unavailable;
    // Alexa-aware sets: the skill's state could not be read.
    CredentialsNotFound, CredentialsUnreadable, SkillApiUnavailable, SmapiUnauthorized, SmapiForbidden,
    SmapiNotFound, SmapiInvalidCredentials, SmapiSetup;
}

impl Reason {
    /// Only a change the cheap drift reads see can move a set from here: its next look is a
    /// periodic drift check, in the drift lane. (`VersionNotFound` waits for a version to be
    /// published, which only the full observe lists; errors are retried in the priority lane.)
    pub fn is_steady(self) -> bool {
        match self {
            Reason::Converged
            | Reason::Suspended
            | Reason::NothingToPromote
            | Reason::OwnedByOther
            | Reason::SkillEndpointMismatch
            | Reason::RolledBack
            | Reason::WarmupFailed => true,
            Reason::Progressing
            | Reason::Warming
            | Reason::RollingOut
            | Reason::AlarmActive
            | Reason::AlarmNotFound
            | Reason::Draining
            | Reason::CodeMismatch
            | Reason::VersionNotFound
            | Reason::FunctionNotFound
            | Reason::AwaitingPublication
            | Reason::InvalidSpec
            | Reason::NotAllowed
            | Reason::NotFound
            | Reason::PreconditionFailed
            | Reason::Conflict
            | Reason::AccessDenied
            | Reason::Throttled
            | Reason::InvalidRequest
            | Reason::Unavailable
            | Reason::CredentialsNotFound
            | Reason::CredentialsUnreadable
            | Reason::SkillApiUnavailable
            | Reason::SmapiUnauthorized
            | Reason::SmapiForbidden
            | Reason::SmapiNotFound
            | Reason::SmapiInvalidCredentials
            | Reason::SmapiSetup => false,
        }
    }

    /// A person must act (a spec change, an IAM grant, the skill's credentials or id): kstatus
    /// `Stalled`. Everything else heals by waiting or retrying.
    pub fn is_stalled(self) -> bool {
        match self {
            Reason::NothingToPromote
            | Reason::OwnedByOther
            | Reason::FunctionNotFound
            | Reason::VersionNotFound
            | Reason::SkillEndpointMismatch
            | Reason::RolledBack
            | Reason::AlarmNotFound
            | Reason::WarmupFailed
            | Reason::InvalidSpec
            | Reason::NotAllowed
            | Reason::AccessDenied
            | Reason::InvalidRequest
            | Reason::CredentialsNotFound
            | Reason::SmapiUnauthorized
            | Reason::SmapiForbidden
            | Reason::SmapiNotFound
            | Reason::SmapiInvalidCredentials
            | Reason::SmapiSetup => true,
            Reason::Converged
            | Reason::Progressing
            | Reason::Draining
            | Reason::Suspended
            | Reason::CodeMismatch
            | Reason::AwaitingPublication
            | Reason::RollingOut
            | Reason::Warming
            | Reason::AlarmActive
            | Reason::NotFound
            | Reason::PreconditionFailed
            | Reason::Conflict
            | Reason::Throttled
            | Reason::Unavailable
            | Reason::CredentialsUnreadable
            | Reason::SkillApiUnavailable => false,
        }
    }

    /// Whether a reconcile that ends here counts as an error (`lac_reconcile_errors_total`, the
    /// CLI's exit code): not for success, work in progress, a drain or a wait the spec asked
    /// for, and not for an invalid spec, which is parked until it changes rather than failed.
    pub fn is_error(self) -> bool {
        match self {
            Reason::Converged
            | Reason::Progressing
            | Reason::Draining
            | Reason::Suspended
            | Reason::AwaitingPublication
            | Reason::RollingOut
            | Reason::Warming
            | Reason::InvalidSpec => false,
            Reason::CodeMismatch
            | Reason::VersionNotFound
            | Reason::NothingToPromote
            | Reason::OwnedByOther
            | Reason::FunctionNotFound
            | Reason::SkillEndpointMismatch
            | Reason::RolledBack
            | Reason::WarmupFailed
            | Reason::AlarmActive
            | Reason::AlarmNotFound
            | Reason::NotAllowed
            | Reason::NotFound
            | Reason::PreconditionFailed
            | Reason::Conflict
            | Reason::AccessDenied
            | Reason::Throttled
            | Reason::InvalidRequest
            | Reason::Unavailable
            | Reason::CredentialsNotFound
            | Reason::CredentialsUnreadable
            | Reason::SkillApiUnavailable
            | Reason::SmapiUnauthorized
            | Reason::SmapiForbidden
            | Reason::SmapiNotFound
            | Reason::SmapiInvalidCredentials
            | Reason::SmapiSetup => true,
        }
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The text of a condition's reason compares with the reason directly.
impl PartialEq<&str> for Reason {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

/// Text that names no [`Reason`] (a condition written by someone else, or by another version).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnknownReason(pub String);

impl fmt::Display for UnknownReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unknown Ready reason {:?}", self.0)
    }
}

impl std::error::Error for UnknownReason {}

impl FromStr for Reason {
    type Err = UnknownReason;

    fn from_str(text: &str) -> Result<Reason, UnknownReason> {
        Reason::ALL.into_iter().find(|r| r.as_str() == text).ok_or_else(|| UnknownReason(text.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_reason_is_listed_once_and_reads_back() {
        let mut seen = std::collections::HashSet::new();
        for reason in Reason::ALL {
            assert!(seen.insert(reason), "{reason:?} twice in ALL");
            assert_eq!(reason.as_str().parse::<Reason>(), Ok(reason));
            assert_eq!(reason.to_string(), reason.as_str());
            assert_eq!(format!("{reason:?}"), reason.as_str(), "the variant is named as its text");
        }
        assert_eq!("Convergd".parse::<Reason>(), Err(UnknownReason("Convergd".into())));
        assert_eq!(UnknownReason("x".into()).to_string(), "unknown Ready reason \"x\"");
    }

    #[test]
    fn what_each_reason_means() {
        let which = |test: fn(Reason) -> bool| -> Vec<&str> {
            Reason::ALL.into_iter().filter(|r| test(*r)).map(Reason::as_str).collect()
        };
        assert_eq!(
            which(Reason::is_steady),
            [
                "Converged",
                "Suspended",
                "NothingToPromote",
                "OwnedByOther",
                "SkillEndpointMismatch",
                "RolledBack",
                "WarmupFailed"
            ]
        );
        assert_eq!(
            which(|r| !r.is_error()),
            [
                "Converged",
                "Progressing",
                "Draining",
                "Suspended",
                "AwaitingPublication",
                "RollingOut",
                "Warming",
                "InvalidSpec"
            ]
        );
        assert_eq!(
            which(Reason::is_stalled),
            [
                "VersionNotFound",
                "NothingToPromote",
                "OwnedByOther",
                "FunctionNotFound",
                "SkillEndpointMismatch",
                "RolledBack",
                "AlarmNotFound",
                "WarmupFailed",
                "InvalidSpec",
                "NotAllowed",
                "AccessDenied",
                "InvalidRequest",
                "CredentialsNotFound",
                "SmapiUnauthorized",
                "SmapiForbidden",
                "SmapiNotFound",
                "SmapiInvalidCredentials",
                "SmapiSetup",
            ]
        );
    }
}
