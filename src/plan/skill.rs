//! What the Alexa Skill Management API (SMAPI) says about a skill, in the planner's words: which
//! Lambda ARNs the skill's `development` and `live` stages call, and its latest certification
//! review. Plain data: the SMAPI adapter (`crate::alexa`) fills it, the planner reads it.

use std::collections::BTreeSet;

/// One skill stage's endpoints: the default `uri` and every per-region one (`NA`, `EU`, `FE`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StageEndpoints {
    pub uris: Vec<String>,
}

/// A certification review's state, as SMAPI reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CertificationStatus {
    InProgress,
    Succeeded,
    Failed,
    Cancelled,
}

impl CertificationStatus {
    /// SMAPI's own spelling (`IN_PROGRESS`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            CertificationStatus::InProgress => "IN_PROGRESS",
            CertificationStatus::Succeeded => "SUCCEEDED",
            CertificationStatus::Failed => "FAILED",
            CertificationStatus::Cancelled => "CANCELLED",
        }
    }

    pub fn parse(s: &str) -> Option<CertificationStatus> {
        Some(match s {
            "IN_PROGRESS" => CertificationStatus::InProgress,
            "SUCCEEDED" => CertificationStatus::Succeeded,
            "FAILED" => CertificationStatus::Failed,
            "CANCELLED" => CertificationStatus::Cancelled,
            _ => return None,
        })
    }
}

/// One certification review.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Review {
    pub id: String,
    pub status: CertificationStatus,
    /// `skillSubmissionTimestamp`, unix seconds.
    pub submitted_at: i64,
}

/// Everything read from SMAPI for one skill, from scratch.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SkillObservation {
    pub skill_id: String,
    /// `None`: the skill has no live stage yet (SMAPI answers 404).
    pub live: Option<StageEndpoints>,
    /// `None`: no development stage manifest (404).
    pub development: Option<StageEndpoints>,
    /// The review with the newest `skillSubmissionTimestamp`, if any.
    pub latest_review: Option<Review>,
}

/// Which alias of a function a stage's endpoints name.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StageTarget {
    /// Alias qualifiers of this function (`PROD1`, ...).
    pub aliases: BTreeSet<String>,
    /// The unqualified function (that is `$LATEST`) or a numeric version qualifier.
    pub unaliased: Vec<String>,
    /// Endpoints that are not this function at all.
    pub elsewhere: Vec<String>,
}

impl StageTarget {
    /// Sorts each endpoint of `stage` by what it names, relative to `function_arn` (unqualified).
    pub fn of(stage: &StageEndpoints, function_arn: &str) -> StageTarget {
        let mut target = StageTarget::default();
        for uri in &stage.uris {
            match uri.strip_prefix(function_arn) {
                Some("") => target.unaliased.push(uri.clone()),
                Some(rest) => match rest.strip_prefix(':') {
                    Some(q)
                        if q == super::LATEST || (!q.is_empty() && q.bytes().all(|b| b.is_ascii_digit())) =>
                    {
                        target.unaliased.push(uri.clone())
                    }
                    Some(q) if !q.is_empty() && !q.contains(':') => {
                        target.aliases.insert(q.to_string());
                    }
                    _ => target.elsewhere.push(uri.clone()),
                },
                None => target.elsewhere.push(uri.clone()),
            }
        }
        target
    }

    /// The one alias every endpoint names, if they agree on exactly one.
    pub fn single_alias(&self) -> Option<&str> {
        if self.aliases.len() == 1 && self.unaliased.is_empty() && self.elsewhere.is_empty() {
            self.aliases.iter().next().map(String::as_str)
        } else {
            None
        }
    }

    /// How the status shows it: the alias, or what the endpoint names instead.
    pub fn describe(&self) -> String {
        if let Some(alias) = self.single_alias() {
            return alias.to_string();
        }
        let mut parts: Vec<String> = self.aliases.iter().cloned().collect();
        if !self.unaliased.is_empty() {
            parts.push("unqualified".to_string());
        }
        parts.extend(self.elsewhere.iter().map(|e| format!("other: {e}")));
        if parts.is_empty() { "none".to_string() } else { parts.join(", ") }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FN: &str = "arn:aws:lambda:eu-west-1:111122223333:function:trivia";

    fn stage(uris: &[&str]) -> StageEndpoints {
        StageEndpoints { uris: uris.iter().map(|u| u.to_string()).collect() }
    }

    #[test]
    fn endpoints_are_sorted_by_what_they_name() {
        let t = StageTarget::of(&stage(&[&format!("{FN}:PROD1")]), FN);
        assert_eq!(t.single_alias(), Some("PROD1"));
        let t = StageTarget::of(&stage(&[FN, &format!("{FN}:7"), &format!("{FN}:$LATEST")]), FN);
        assert_eq!((t.single_alias(), t.unaliased.len()), (None, 3));
        assert_eq!(t.describe(), "unqualified");
        let other = "arn:aws:lambda:eu-west-1:111122223333:function:trivia-other:PROD1";
        let t = StageTarget::of(&stage(&[other]), FN);
        assert_eq!(t.elsewhere, vec![other.to_string()]);
        let t = StageTarget::of(&stage(&[&format!("{FN}:PROD1"), &format!("{FN}:PROD2")]), FN);
        assert_eq!(t.single_alias(), None);
        assert_eq!(t.describe(), "PROD1, PROD2");
    }

    #[test]
    fn statuses_round_trip() {
        for s in [
            CertificationStatus::InProgress,
            CertificationStatus::Succeeded,
            CertificationStatus::Failed,
            CertificationStatus::Cancelled,
        ] {
            assert_eq!(CertificationStatus::parse(s.as_str()), Some(s));
        }
        assert_eq!(CertificationStatus::parse("PENDING"), None);
    }
}
