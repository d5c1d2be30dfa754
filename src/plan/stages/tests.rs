use crate::api::{Stage, Track};
use crate::plan::fixtures::*;
use crate::plan::{Action, AliasChange, Marker, Role, VersionRef, aliases_to_observe};

// --- stages --------------------------------------------------------------------------------

#[test]
fn stages_track_pin_or_follow_a_hash() {
    let mut s = spec();
    s.stages = vec![
        Stage { alias: "DEV".into(), code_sha256: None, version: None, track: Some(Track::Latest) },
        Stage { alias: "STG".into(), code_sha256: None, version: Some("1".into()), track: None },
        Stage { alias: "BETA".into(), code_sha256: Some(sha(2)), version: None, track: None },
    ];
    let p = run(&s, &developing(9, &[1, 2]));
    assert_eq!(
        updates(&p),
        vec![
            ("DEV".into(), VersionRef::Latest, AliasChange::Bootstrap),
            ("STG".into(), VersionRef::Number(1), AliasChange::Bootstrap),
            ("BETA".into(), VersionRef::Number(2), AliasChange::Bootstrap),
        ]
    );
    assert_eq!(marker_of(&p, "DEV").role, Role::Stage);
}

#[test]
fn a_removed_stage_alias_is_deleted_with_its_mappings() {
    let mut w = developing(9, &[1]);
    alias(&mut w, "OLD", "1", &Marker::new(OWNER, Role::Stage).render(None));
    alias(&mut w, "FOREIGN", "1", "someone else's");
    w.mappings.push(mapping("m-old", "OLD", 10));
    let p = run(&spec(), &w);
    assert_eq!(
        p.actions,
        vec![
            Action::DeleteMapping {
                uuid: "m-old".into(),
                alias: "OLD".into(),
                event_source_arn: "arn:aws:sqs:eu-west-1:111122223333:orders".into()
            },
            Action::DeleteAlias { alias: "OLD".into() },
        ]
    );
}

#[test]
fn observed_aliases_include_removed_owned_stages() {
    let mut w = developing(9, &[1]);
    alias(&mut w, "OLD", "1", &Marker::new(OWNER, Role::Stage).render(None));
    alias(&mut w, "FOREIGN", "1", "");
    assert_eq!(aliases_to_observe(&spec(), OWNER, &w.aliases), vec!["PROD1", "PROD2", "OLD"]);
}
