use std::collections::BTreeSet;

use crate::plan::fixtures::*;
use crate::plan::{Action, AliasChange, Input, VersionRef, live_stage_aliases, plan, release, teardown};

// --- deletion -------------------------------------------------------------------------------

#[test]
fn release_keeps_versions_and_roles_and_drops_the_owner() {
    let mut w = developing(9, &[1]);
    alias(&mut w, "FOREIGN", "1", "someone else's");
    let actions = release(OWNER, &w);
    assert_eq!(actions.len(), 2);
    for a in &actions {
        let Action::UpdateAlias { alias, version, marker, change, .. } = a else { panic!("{a:?}") };
        assert_eq!(*change, AliasChange::Release);
        assert_eq!(marker.owner, None);
        let before = w.alias(alias).expect("alias");
        assert_eq!(Some(*version), VersionRef::parse(&before.function_version), "not re-pointed");
    }
    // A later set adopts the same roles without re-pointing.
    let mut released = w.clone();
    for a in &actions {
        if let Action::UpdateAlias { alias, marker, .. } = a {
            let entry = released.aliases.iter_mut().find(|x| &x.name == alias).expect("alias");
            entry.description = marker.render(None);
        }
    }
    let p = plan(Input {
        owner: "other/set",
        spec: &spec(),
        observed: &released,
        now: NOW,
        skills: None,
        watch: None,
    });
    assert!(
        p.actions.iter().all(|a| matches!(a, Action::UpdateAlias { change: AliasChange::Adopt, .. })),
        "{:?}",
        p.actions
    );
    assert_eq!(p.report.live.map(|l| l.summary), Some("PROD1:1".to_string()));
}

#[test]
fn teardown_deletes_owned_mappings_then_owned_aliases_only() {
    let mut w = developing(9, &[1]);
    alias(&mut w, "FOREIGN", "1", "someone else's");
    w.mappings.push(mapping("m1", "PROD1", 10));
    w.mappings.push(mapping("m2", "FOREIGN", 10));
    assert_eq!(
        teardown(OWNER, &w, &BTreeSet::new()),
        vec![
            Action::DeleteMapping {
                uuid: "m1".into(),
                alias: "PROD1".into(),
                event_source_arn: "arn:aws:sqs:eu-west-1:111122223333:orders".into()
            },
            Action::DeleteAlias { alias: "PROD1".into() },
            Action::DeleteAlias { alias: "PROD2".into() },
        ]
    );
    assert!(teardown("other/set", &w, &BTreeSet::new()).is_empty(), "never another owner's aliases");
}

#[test]
fn teardown_releases_the_alias_a_skills_live_stage_calls_instead_of_deleting_it() {
    let mut w = developing(9, &[1]);
    w.mappings.push(mapping("m1", "PROD1", 10));
    let keep = live_stage_aliases(&[skill(Some("PROD1"), Some("PROD2"), None)], ARN);
    assert_eq!(keep, BTreeSet::from(["PROD1".to_string()]));
    let actions = teardown(OWNER, &w, &keep);
    assert!(
        matches!(&actions[0], Action::UpdateAlias { alias, change: AliasChange::Release, version, .. }
            if alias == "PROD1" && *version == VersionRef::Number(1)),
        "{actions:?}"
    );
    assert_eq!(actions[1..], [Action::DeleteAlias { alias: "PROD2".into() }], "its mapping stays too");
}
