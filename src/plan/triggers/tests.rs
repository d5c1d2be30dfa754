use crate::api::{ApiGateway, EventSourceMapping, Permission, Phase, Trigger};
use crate::plan::fixtures::*;
use crate::plan::{Action, PolicyInfo, Statement, desired_statement};

fn trigger(name: &str) -> Trigger {
    Trigger::named(name)
}

fn queue(name: &str, target: Option<&str>) -> Trigger {
    Trigger {
        event_source_mapping: Some(EventSourceMapping {
            event_source_arn: "arn:aws:sqs:eu-west-1:111122223333:orders".into(),
            batch_size: Some(10),
            enabled: true,
            starting_position: None,
        }),
        target: target.map(str::to_string),
        ..trigger(name)
    }
}

// --- triggers ------------------------------------------------------------------------------

#[test]
fn alexa_permission_goes_on_both_aliases_with_the_skill_id_as_token() {
    let mut s = spec();
    s.triggers = vec![alexa("alexa")];
    let mut w = developing(9, &[1]);
    w.policies.insert("PROD1".into(), PolicyInfo { revision_id: "p1".into(), statements: vec![] });
    let p = run(&s, &w);
    let adds: Vec<_> = p
        .actions
        .iter()
        .filter_map(|a| match a {
            Action::AddPermission { alias, statement, revision_id, .. } => {
                Some((alias.as_str(), statement.clone(), revision_id.clone()))
            }
            _ => None,
        })
        .collect();
    assert_eq!(adds.len(), 2);
    assert_eq!(adds[0].0, "PROD1");
    assert_eq!(adds[0].2.as_deref(), Some("p1"), "the first write carries the policy's RevisionId");
    assert_eq!(adds[1].0, "PROD2");
    let st = &adds[0].1;
    assert_eq!((st.sid.as_str(), st.principal.as_str()), ("las-alexa", "alexa-appkit.amazon.com"));
    assert_eq!(st.event_source_token.as_deref(), Some("amzn1.ask.skill.1"));
}

#[test]
fn foreign_statements_are_never_touched_and_stale_owned_ones_are_removed() {
    let mut s = spec();
    s.triggers = vec![alexa("alexa")];
    let wanted = desired_statement(&s.triggers[0]).expect("permission");
    let foreign =
        Statement { sid: "console-added".into(), principal: "sns.amazonaws.com".into(), ..wanted.clone() };
    let stale = Statement { sid: "las-old".into(), ..wanted.clone() };
    let mut w = developing(9, &[1]);
    for a in ["PROD1", "PROD2"] {
        w.policies.insert(
            a.into(),
            PolicyInfo {
                revision_id: "r".into(),
                statements: vec![wanted.clone(), foreign.clone(), stale.clone()],
            },
        );
    }
    let p = run(&s, &w);
    assert_eq!(
        p.actions,
        vec![
            Action::RemovePermission { alias: "PROD1".into(), sid: "las-old".into() },
            Action::RemovePermission { alias: "PROD2".into(), sid: "las-old".into() },
        ]
    );
}

#[test]
fn a_changed_statement_is_replaced() {
    let mut s = spec();
    s.triggers = vec![alexa("alexa")];
    let mut drifted = desired_statement(&s.triggers[0]).expect("permission");
    drifted.event_source_token = None;
    let mut w = developing(9, &[1]);
    w.policies.insert("PROD1".into(), PolicyInfo { revision_id: "r".into(), statements: vec![drifted] });
    let p = run(&s, &w);
    assert_eq!(p.actions[0], Action::RemovePermission { alias: "PROD1".into(), sid: "las-alexa".into() });
    assert!(
        matches!(&p.actions[1], Action::AddPermission { alias, revision_id: None, .. } if alias == "PROD1")
    );
}

#[test]
fn target_limits_a_permission_to_one_role() {
    let mut s = spec();
    s.triggers = vec![Trigger {
        api_gateway: Some(ApiGateway {
            source_arn: "arn:aws:execute-api:eu-west-1:111122223333:a/*/GET/x".into(),
        }),
        target: Some("Live".into()),
        ..trigger("api")
    }];
    let p = run(&s, &developing(9, &[1]));
    let aliases: Vec<_> = p
        .actions
        .iter()
        .filter_map(|a| if let Action::AddPermission { alias, .. } = a { Some(alias.as_str()) } else { None })
        .collect();
    assert_eq!(aliases, ["PROD1"]);
}

#[test]
fn permission_trigger_carries_every_field() {
    let t = Trigger {
        permission: Some(Permission {
            principal: "sns.amazonaws.com".into(),
            source_arn: Some("arn:aws:sns:eu-west-1:111122223333:t".into()),
            source_account: Some("111122223333".into()),
            event_source_token: Some("tok".into()),
            action: "lambda:InvokeFunction".into(),
        }),
        ..trigger("other")
    };
    let st = desired_statement(&t).expect("statement");
    assert_eq!(st.source_account.as_deref(), Some("111122223333"));
    assert_eq!(st.event_source_token.as_deref(), Some("tok"));
}

#[test]
fn a_queue_mapping_polls_for_the_live_alias_only() {
    let mut s = spec();
    s.triggers = vec![queue("orders", None)];
    let p = run(&s, &developing(9, &[1]));
    assert!(
        matches!(&p.actions[..], [Action::CreateMapping { alias, batch_size: Some(10), .. }] if alias == "PROD1")
    );
}

#[test]
fn a_swap_moves_the_live_mapping_instead_of_adding_a_second_poller() {
    let mut s = phase(spec(), Phase::Certified);
    s.triggers = vec![queue("orders", None)];
    let mut w = swapped(NOW - 10);
    w.mappings.push(mapping("m1", "PROD1", 10));
    let p = run(&s, &w);
    assert_eq!(
        p.actions,
        vec![Action::UpdateMapping {
            uuid: "m1".into(),
            trigger: "orders".into(),
            move_to: Some("PROD2".into()),
            batch_size: None,
            enabled: None
        }]
    );
}

#[test]
fn duplicate_and_changed_mappings_are_fixed() {
    let mut s = spec();
    s.triggers = vec![queue("orders", Some("Live"))];
    let mut w = developing(9, &[1]);
    w.mappings.push(mapping("m1", "PROD1", 5));
    w.mappings.push(mapping("m2", "PROD1", 10));
    let p = run(&s, &w);
    assert_eq!(p.actions.len(), 2, "{:?}", p.actions);
    assert!(
        matches!(&p.actions[0], Action::UpdateMapping { uuid, batch_size: Some(10), move_to: None, .. } if uuid == "m1")
    );
    assert!(matches!(&p.actions[1], Action::DeleteMapping { uuid, .. } if uuid == "m2"));
}
