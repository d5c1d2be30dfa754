//! The record of roles kept in AWS: a marker in each owned alias's Description.
//!
//! `status` is only a cache; a re-applied manifest, a restored cluster or a CLI run reaches the
//! same decision from these markers alone. The live alias is the pair alias whose marker says
//! `role=live` with the highest epoch, so a swap commits with a single UpdateAlias on the
//! candidate (it becomes `role=live epoch=E+1`); the old live alias keeps its stale `role=live`
//! marker, which reads as "previously live, draining since `at`".

use std::fmt::Write as _;

use crate::api::Phase;

/// Every marker starts with this; anything else in a Description is not ours.
pub const PREFIX: &str = "las:v1";
/// Lambda's limit on alias descriptions.
pub const MAX_DESCRIPTION: usize = 256;
/// Longer owners are written as a stable hash so the marker always fits, rollout keys included.
const MAX_OWNER_TEXT: usize = 128;
/// Releases before the rollout keys wrote owners up to this length as text: still read as ours
/// (the next write of the marker hashes them).
const LEGACY_MAX_OWNER_TEXT: usize = 150;

/// A version as the planner refers to it: a number, `$LATEST`, or the version the plan's
/// PublishVersion produces (known only when the plan runs).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum VersionRef {
    Number(u64),
    Latest,
    Published,
}

impl VersionRef {
    pub fn parse(text: &str) -> Option<VersionRef> {
        if text == super::LATEST {
            Some(VersionRef::Latest)
        } else {
            text.parse().ok().map(VersionRef::Number)
        }
    }

    /// The text AWS takes, once the published version is known.
    pub fn resolve(self, published: Option<u64>) -> Option<String> {
        match self {
            VersionRef::Number(n) => Some(n.to_string()),
            VersionRef::Latest => Some(super::LATEST.to_string()),
            VersionRef::Published => published.map(|n| n.to_string()),
        }
    }
}

impl std::fmt::Display for VersionRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            VersionRef::Number(n) => write!(f, "{n}"),
            VersionRef::Latest => f.write_str(super::LATEST),
            VersionRef::Published => f.write_str("<published>"),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    Live,
    Candidate,
    Stage,
}

impl Role {
    fn as_str(self) -> &'static str {
        match self {
            Role::Live => "live",
            Role::Candidate => "candidate",
            Role::Stage => "stage",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Marker {
    /// `<namespace>/<name>` of the owning set (or its hash); `None` once ownership is released.
    pub owner: Option<String>,
    pub role: Role,
    /// Live aliases: incremented by every swap; the higher epoch is live.
    pub epoch: u64,
    /// Live aliases: the version the alias must serve (drift is put back to it).
    pub version: Option<VersionRef>,
    /// Live aliases: the version promoted by the swap that made it live.
    pub promoted: Option<VersionRef>,
    /// Live aliases: when the swap that made it live happened (unix seconds).
    pub at: Option<i64>,
    /// Candidate aliases: the certification phase the controller last acted on.
    pub phase: Option<Phase>,
    /// Candidate aliases: the version frozen for certification in this round.
    pub frozen: Option<VersionRef>,
    /// `spec.rollout`, while the alias shifts traffic to its weighted version: when the step
    /// being held began (unix seconds).
    pub since: Option<i64>,
    /// `spec.rollout`: the version a rollout rolled back, not tried again while the spec asks
    /// for it. Never written together with `since`.
    pub rejected: Option<u64>,
    /// `spec.rollout`: the version the alias served before its last completed move (a move back
    /// to it is a rollback, which an alarm in ALARM does not hold).
    pub previous: Option<u64>,
    /// Live aliases: `spec.provisionedConcurrency` configs are the set's (`pc=on`), and which
    /// version is being warmed to become live (`pc=N`), so that a config is never left behind.
    pub provisioned: Option<Provisioned>,
}

/// What a live marker records of provisioned concurrency (`pc=`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Provisioned {
    /// The set keeps configs on the versions its roles serve.
    Managed,
    /// ... and warms this version before the live alias moves to it.
    Warming(u64),
}

impl Marker {
    pub fn new(owner: &str, role: Role) -> Marker {
        Marker {
            owner: Some(owner_token(owner)),
            role,
            epoch: 0,
            version: None,
            promoted: None,
            at: None,
            phase: None,
            frozen: None,
            since: None,
            rejected: None,
            previous: None,
            provisioned: None,
        }
    }

    /// Parses a Description; `None` when it is not one of our markers.
    pub fn parse(description: &str) -> Option<Marker> {
        let mut words = description.split_whitespace();
        if words.next() != Some(PREFIX) {
            return None;
        }
        let mut marker = Marker {
            owner: None,
            role: Role::Stage,
            epoch: 0,
            version: None,
            promoted: None,
            at: None,
            phase: None,
            frozen: None,
            since: None,
            rejected: None,
            previous: None,
            provisioned: None,
        };
        let mut role = None;
        for word in words {
            let Some((key, value)) = word.split_once('=') else { continue };
            match key {
                "owner" => marker.owner = Some(value.to_string()),
                "role" => {
                    role = match value {
                        "live" => Some(Role::Live),
                        "candidate" => Some(Role::Candidate),
                        "stage" => Some(Role::Stage),
                        _ => None,
                    }
                }
                "epoch" => marker.epoch = value.parse().unwrap_or(0),
                "v" => marker.version = VersionRef::parse(value),
                "p" => marker.promoted = VersionRef::parse(value),
                "at" => marker.at = value.parse().ok(),
                "phase" => {
                    marker.phase = match value {
                        "Development" => Some(Phase::Development),
                        "Certifying" => Some(Phase::Certifying),
                        "Certified" => Some(Phase::Certified),
                        _ => None,
                    }
                }
                "frozen" => marker.frozen = VersionRef::parse(value),
                "since" => marker.since = value.parse().ok(),
                "rej" => marker.rejected = value.parse().ok(),
                "prev" => marker.previous = value.parse().ok(),
                "pc" => {
                    marker.provisioned = match value {
                        "on" => Some(Provisioned::Managed),
                        n => n.parse().ok().map(Provisioned::Warming),
                    }
                }
                // Keys from newer releases are ignored, so a downgrade keeps working.
                _ => {}
            }
        }
        marker.role = role?;
        Some(marker)
    }

    /// The Description text, with `Published` resolved (or shown as `?` when it is not known).
    pub fn render(&self, published: Option<u64>) -> String {
        let mut out = String::from(PREFIX);
        let version = |v: VersionRef| v.resolve(published).unwrap_or_else(|| "?".to_string());
        if let Some(owner) = &self.owner {
            let _ = write!(out, " owner={owner}");
        }
        let _ = write!(out, " role={}", self.role.as_str());
        if self.role == Role::Live {
            let _ = write!(out, " epoch={}", self.epoch);
        }
        if let Some(v) = self.version {
            let _ = write!(out, " v={}", version(v));
        }
        if let Some(p) = self.promoted {
            let _ = write!(out, " p={}", version(p));
        }
        if let Some(at) = self.at {
            let _ = write!(out, " at={at}");
        }
        if let Some(phase) = self.phase {
            let _ = write!(out, " phase={}", phase.as_str());
        }
        if let Some(frozen) = self.frozen {
            let _ = write!(out, " frozen={}", version(frozen));
        }
        if let Some(since) = self.since {
            let _ = write!(out, " since={since}");
        }
        if let Some(rejected) = self.rejected {
            let _ = write!(out, " rej={rejected}");
        }
        if let Some(previous) = self.previous {
            let _ = write!(out, " prev={previous}");
        }
        match self.provisioned {
            Some(Provisioned::Managed) => out.push_str(" pc=on"),
            Some(Provisioned::Warming(n)) => {
                let _ = write!(out, " pc={n}");
            }
            None => {}
        }
        out
    }

    pub fn is_owned_by(&self, owner: &str) -> bool {
        let Some(written) = self.owner.as_deref() else { return false };
        written == owner_token(owner)
            || (owner.len() <= LEGACY_MAX_OWNER_TEXT
                && !owner.contains(char::is_whitespace)
                && written == owner)
    }
}

/// The owner as written in markers: `namespace/name`, or a stable hash when that is too long
/// for a Description (namespaces and names can be 63 + 253 characters).
pub fn owner_token(owner: &str) -> String {
    if owner.len() <= MAX_OWNER_TEXT && !owner.contains(char::is_whitespace) {
        owner.to_string()
    } else {
        // FNV-1a: stable across builds and platforms, unlike std's hasher.
        let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
        for byte in owner.bytes() {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
        format!("#{hash:016x}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn live_marker_round_trips() {
        let mut m = Marker::new("skills/trivia", Role::Live);
        m.epoch = 3;
        m.version = Some(VersionRef::Number(7));
        m.promoted = Some(VersionRef::Number(7));
        m.at = Some(1_763_800_000);
        let text = m.render(None);
        assert_eq!(text, "las:v1 owner=skills/trivia role=live epoch=3 v=7 p=7 at=1763800000");
        assert_eq!(Marker::parse(&text), Some(m));
    }

    #[test]
    fn candidate_marker_resolves_the_published_version() {
        let mut m = Marker::new("skills/trivia", Role::Candidate);
        m.phase = Some(Phase::Certifying);
        m.frozen = Some(VersionRef::Published);
        let text = m.render(Some(12));
        assert_eq!(text, "las:v1 owner=skills/trivia role=candidate phase=Certifying frozen=12");
        let parsed = Marker::parse(&text).expect("parses");
        assert_eq!(parsed.frozen, Some(VersionRef::Number(12)));
    }

    #[test]
    fn provisioned_concurrency_is_recorded_on_the_live_marker() {
        let mut m = Marker::new("skills/trivia", Role::Live);
        m.epoch = 1;
        m.provisioned = Some(Provisioned::Managed);
        assert_eq!(m.render(None), "las:v1 owner=skills/trivia role=live epoch=1 pc=on");
        assert_eq!(Marker::parse(&m.render(None)), Some(m.clone()));
        m.provisioned = Some(Provisioned::Warming(7));
        assert!(m.render(None).ends_with(" pc=7"));
        assert_eq!(Marker::parse(&m.render(None)), Some(m));
    }

    #[test]
    fn foreign_descriptions_are_not_markers() {
        assert_eq!(Marker::parse("production alias, do not touch"), None);
        assert_eq!(Marker::parse(""), None);
        assert_eq!(Marker::parse("las:v1 owner=a/b"), None, "a marker needs a role");
    }

    #[test]
    fn released_marker_has_no_owner_and_unknown_keys_are_ignored() {
        let m = Marker::parse("las:v1 role=live epoch=2 v=4 future=yes").expect("parses");
        assert_eq!(m.owner, None);
        assert!(!m.is_owned_by("skills/trivia"));
        assert_eq!(m.version, Some(VersionRef::Number(4)));
    }

    #[test]
    fn long_owners_are_hashed_and_markers_fit_a_description() {
        let owner = format!("{}/{}", "n".repeat(63), "x".repeat(253));
        let token = owner_token(&owner);
        assert!(token.starts_with('#') && token.len() == 17);
        assert_eq!(token, owner_token(&owner), "stable");
        let mut m = Marker::new(&owner, Role::Live);
        m.epoch = u64::MAX;
        m.version = Some(VersionRef::Number(u64::from(u32::MAX)));
        m.promoted = m.version;
        m.at = Some(i64::MAX);
        assert!(m.render(None).len() <= MAX_DESCRIPTION);
        assert!(Marker::parse(&m.render(None)).expect("parses").is_owned_by(&owner));
    }

    #[test]
    fn a_live_marker_mid_rollout_fits_with_the_longest_owner_written_as_text() {
        let owner = "o".repeat(MAX_OWNER_TEXT);
        assert_eq!(owner_token(&owner), owner, "written as text");
        let mut m = Marker::new(&owner, Role::Live);
        // Ten digits everywhere: versions and epochs of a u32, times until the year 2286.
        let big = 9_999_999_999;
        m.epoch = big;
        m.version = Some(VersionRef::Number(big));
        m.promoted = m.version;
        m.at = Some(big as i64);
        m.previous = Some(big);
        m.provisioned = Some(Provisioned::Warming(big));
        // `since` and `rej` are never written together: the longer of the two.
        m.since = Some(big as i64);
        let text = m.render(None);
        assert!(text.len() <= MAX_DESCRIPTION, "{} > {MAX_DESCRIPTION}: {text}", text.len());
        assert_eq!(Marker::parse(&text), Some(m.clone()));
        m.since = None;
        m.rejected = Some(big);
        let text = m.render(None);
        assert!(text.len() <= MAX_DESCRIPTION, "{} > {MAX_DESCRIPTION}: {text}", text.len());
        assert_eq!(Marker::parse(&text), Some(m));
    }

    #[test]
    fn owners_an_older_release_wrote_as_text_are_still_ours() {
        let owner = format!("{}/{}", "n".repeat(40), "x".repeat(100));
        assert!(owner.len() > MAX_OWNER_TEXT && owner.len() <= LEGACY_MAX_OWNER_TEXT);
        let legacy = Marker::parse(&format!("las:v1 owner={owner} role=live epoch=1 v=2")).expect("parses");
        assert!(legacy.is_owned_by(&owner));
        assert!(!legacy.is_owned_by("skills/other"));
        assert!(Marker::new(&owner, Role::Live).render(None).contains("owner=#"), "rewritten as a hash");
    }
}
