use crate::api::Phase;
use crate::plan::fixtures::*;
use crate::plan::{Action, retention_candidates};

// --- versions, suspend ---------------------------------------------------------------------

#[test]
fn retain_versions_deletes_only_old_unreferenced_versions() {
    let mut s = spec();
    s.retain_versions = Some(1);
    let mut w = developing(9, &[1, 2, 3, 4, 5, 6]);
    alias(&mut w, "FOREIGN", "2", "not ours, still a reference");
    w.aliases[2].routing.insert("3".into(), 0.2);
    w.mapped_versions.insert(4);
    let p = run(&s, &w);
    // Referenced: 1 (live), 2 and 3 (foreign alias and its routing), 4 (a mapping). Unreferenced:
    // 6, 5 -> keep the newest one (6), delete 5.
    assert_eq!(p.actions, vec![Action::DeleteVersion { version: 5 }]);
    w.mapped_versions.clear();
    assert_eq!(retention_candidates(&s, &w), vec![5, 4], "4 is a candidate until its mapping is seen");
}

#[test]
fn versions_are_not_collected_while_other_changes_are_pending() {
    let mut s = phase(spec(), Phase::Certifying);
    s.retain_versions = Some(0);
    let p = run(&s, &developing(9, &[1, 2]));
    assert!(!p.actions.iter().any(|a| matches!(a, Action::DeleteVersion { .. })));
}

#[test]
fn a_version_with_provisioned_concurrency_or_being_warmed_is_never_deleted() {
    use crate::plan::marker::Provisioned;
    use crate::plan::{Marker, WarmConfig, WarmStatus};
    let mut spec = spec();
    spec.retain_versions = Some(0);
    let mut w = developing(9, &[1, 2, 3, 4]);
    let mut live = Marker::parse(&w.aliases[0].description).expect("marker");
    live.provisioned = Some(Provisioned::Warming(3));
    w.aliases[0].description = live.render(None);
    w.warm = vec![WarmConfig {
        qualifier: "4".into(),
        requested: 1,
        allocated: 0,
        available: 0,
        status: WarmStatus::InProgress,
        reason: None,
    }];
    assert_eq!(
        crate::plan::retention_candidates(&spec, &w),
        [2],
        "1 is live, 3 is being warmed, 4 has a config"
    );
}
