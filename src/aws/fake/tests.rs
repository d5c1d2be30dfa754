//! The fake against the rules it enforces, call by call.
use super::*;
use crate::aws::List;

const ACCOUNT: &str = "123456789012";
const REGION: &str = "eu-west-1";
const FN: &str = "skill";

fn fake() -> FakeLambda {
    let fake = FakeLambda::new(ACCOUNT, REGION);
    fake.add_function(FN, "sha-a");
    fake
}

fn alexa(sid: &str, skill: &str) -> Statement {
    Statement {
        sid: sid.to_string(),
        principal: "alexa-appkit.amazon.com".to_string(),
        action: "lambda:InvokeFunction".to_string(),
        event_source_token: Some(skill.to_string()),
        ..Statement::default()
    }
}

fn sqs(queue: &str, target: &str) -> CreateMapping {
    CreateMapping {
        function_arn: target.to_string(),
        event_source_arn: format!("arn:aws:sqs:{REGION}:{ACCOUNT}:{queue}"),
        batch_size: Some(10),
        enabled: true,
        starting_position: None,
    }
}

async fn publish(fake: &FakeLambda) -> u64 {
    let latest = fake.call(&GetFunction { function: FN.to_owned() }).await.unwrap();
    fake.call(&PublishVersion {
        function: FN.to_owned(),
        code_sha256: latest.code_sha256.to_owned(),
        revision_id: Some(latest.revision_id.to_owned()),
        description: None,
    })
    .await
    .unwrap()
    .version
}

fn reason<T: std::fmt::Debug>(result: AwsResult<T>) -> &'static str {
    result.unwrap_err().reason().as_str()
}

#[tokio::test]
async fn function_identifiers_accept_name_partial_and_full_arn() {
    let fake = fake();
    let arn = format!("arn:aws:lambda:{REGION}:{ACCOUNT}:function:{FN}");
    for ident in [FN.to_string(), format!("{ACCOUNT}:function:{FN}"), arn.clone()] {
        assert_eq!(
            fake.call(&GetFunction { function: ident.to_owned() }).await.unwrap().function_arn,
            arn,
            "{ident}"
        );
    }
    assert_eq!(reason(fake.call(&GetFunction { function: "other".to_owned() }).await), "NotFound");
    let elsewhere = format!("arn:aws:lambda:us-east-1:{ACCOUNT}:function:{FN}");
    assert_eq!(reason(fake.call(&GetFunction { function: elsewhere.to_owned() }).await), "NotFound");
    assert_eq!(
        reason(fake.call(&GetFunction { function: "222222222222:function:skill".to_owned() }).await),
        "NotFound"
    );
    assert_eq!(reason(fake.call(&GetFunction { function: format!("{FN}:PROD1") }).await), "InvalidRequest");
}

#[tokio::test]
async fn stale_revision_id_is_refused() {
    let fake = fake();
    let stale = fake.call(&GetFunction { function: FN.to_owned() }).await.unwrap().revision_id;
    fake.set_config_changed(FN).unwrap();
    let publish = fake
        .call(&PublishVersion {
            function: FN.to_owned(),
            code_sha256: "sha-a".to_owned(),
            revision_id: Some(stale.to_owned()),
            description: None,
        })
        .await;
    assert_eq!(reason(publish), "PreconditionFailed");

    let v1 = publish_latest(&fake).await;
    let alias = fake
        .call(&CreateAlias {
            function: FN.to_owned(),
            name: "PROD1".to_owned(),
            version: v1.to_owned(),
            description: String::new(),
        })
        .await
        .unwrap();
    fake.oob_set_alias_description(FN, "PROD1", "changed by hand").unwrap();
    let update = fake
        .call(&UpdateAlias {
            function: FN.to_owned(),
            name: "PROD1".to_owned(),
            version: LATEST.to_owned(),
            description: String::new(),
            revision_id: Some(alias.revision_id.to_owned()),
            routing: None,
        })
        .await;
    assert_eq!(reason(update), "PreconditionFailed");
    assert_eq!(fake.alias(FN, "PROD1").unwrap().function_version, v1);

    fake.call(&AddPermission {
        function: FN.to_owned(),
        qualifier: "PROD1".to_owned(),
        statement: alexa("las-a", "skill-1"),
        revision_id: None,
    })
    .await
    .unwrap();
    let policy = fake
        .call(&GetPolicy { function: FN.to_owned(), qualifier: "PROD1".to_owned() })
        .await
        .unwrap()
        .unwrap();
    fake.oob_add_statement(FN, "PROD1", alexa("foreign", "skill-2")).unwrap();
    let add = fake
        .call(&AddPermission {
            function: FN.to_owned(),
            qualifier: "PROD1".to_owned(),
            statement: alexa("las-b", "skill-3"),
            revision_id: Some(policy.revision_id.to_owned()),
        })
        .await;
    assert_eq!(reason(add), "PreconditionFailed");
    // With the current RevisionId the same writes go through.
    let current = fake
        .call(&GetPolicy { function: FN.to_owned(), qualifier: "PROD1".to_owned() })
        .await
        .unwrap()
        .unwrap()
        .revision_id;
    fake.call(&AddPermission {
        function: FN.to_owned(),
        qualifier: "PROD1".to_owned(),
        statement: alexa("las-b", "skill-3"),
        revision_id: Some(current.to_owned()),
    })
    .await
    .unwrap();
}

async fn publish_latest(fake: &FakeLambda) -> String {
    publish(fake).await.to_string()
}

#[tokio::test]
async fn every_write_changes_the_revision_id() {
    let fake = fake();
    let r0 = fake.call(&GetFunction { function: FN.to_owned() }).await.unwrap().revision_id;
    let r1 = fake.deploy(FN, "sha-b").unwrap().revision_id;
    let r2 = fake.set_config_changed(FN).unwrap().revision_id;
    let v = publish_latest(&fake).await;
    let a0 = fake
        .call(&CreateAlias {
            function: FN.to_owned(),
            name: "PROD1".to_owned(),
            version: v.to_owned(),
            description: String::new(),
        })
        .await
        .unwrap()
        .revision_id;
    let a1 = fake
        .call(&UpdateAlias {
            function: FN.to_owned(),
            name: "PROD1".to_owned(),
            version: v.to_owned(),
            description: "d".to_owned(),
            revision_id: Some(a0.to_owned()),
            routing: None,
        })
        .await
        .unwrap()
        .revision_id;
    fake.call(&AddPermission {
        function: FN.to_owned(),
        qualifier: "PROD1".to_owned(),
        statement: alexa("s1", "k"),
        revision_id: None,
    })
    .await
    .unwrap();
    let p0 = fake.policy(FN, "PROD1").unwrap().revision_id;
    fake.call(&AddPermission {
        function: FN.to_owned(),
        qualifier: "PROD1".to_owned(),
        statement: alexa("s2", "k"),
        revision_id: None,
    })
    .await
    .unwrap();
    let p1 = fake.policy(FN, "PROD1").unwrap().revision_id;
    fake.call(&RemovePermission {
        function: FN.to_owned(),
        qualifier: "PROD1".to_owned(),
        sid: "s1".to_owned(),
    })
    .await
    .unwrap();
    let p2 = fake.policy(FN, "PROD1").unwrap().revision_id;
    let all = [r0, r1, r2, a0, a1, p0, p1, p2];
    let distinct: BTreeSet<_> = all.iter().collect();
    assert_eq!(distinct.len(), all.len(), "{all:?}");
}

#[tokio::test]
async fn publish_with_other_code_sha256_is_refused() {
    let fake = fake();
    let result = fake
        .call(&PublishVersion {
            function: FN.to_owned(),
            code_sha256: "sha-other".to_owned(),
            revision_id: None,
            description: None,
        })
        .await;
    assert_eq!(reason(result), "PreconditionFailed");
    assert!(fake.versions(FN).is_empty());
}

#[tokio::test]
async fn publish_is_a_no_op_when_latest_unchanged() {
    let fake = fake();
    let v1 = publish(&fake).await;
    assert_eq!(publish(&fake).await, v1);
    // Re-uploading identical code changes the RevisionId but neither code nor config.
    fake.deploy(FN, "sha-a").unwrap();
    assert_eq!(publish(&fake).await, v1);
    assert_eq!(fake.versions(FN).len(), 1);
    fake.deploy(FN, "sha-b").unwrap();
    assert_eq!(publish(&fake).await, v1 + 1);
}

#[tokio::test]
async fn config_change_publishes_a_new_version_with_same_hash() {
    let fake = fake();
    let v1 = publish(&fake).await;
    fake.set_config_changed(FN).unwrap();
    let v2 = publish(&fake).await;
    assert_eq!(v2, v1 + 1);
    let versions = fake.versions(FN);
    assert!(versions.iter().all(|v| v.code_sha256 == "sha-a"), "{versions:?}");
}

#[tokio::test]
async fn version_numbers_are_never_reused() {
    let fake = fake();
    let v1 = publish(&fake).await;
    fake.deploy(FN, "sha-b").unwrap();
    let v2 = publish(&fake).await;
    fake.call(&DeleteVersion { function: FN.to_owned(), version: v2 }).await.unwrap();
    fake.deploy(FN, "sha-c").unwrap();
    let v3 = publish(&fake).await;
    assert_eq!((v1, v2, v3), (1, 2, 3));
    assert_eq!(fake.high_water_mark(FN), 3);
    let numbers: Vec<u64> =
        fake.list(ListVersions::new(FN)).await.unwrap().iter().map(|v| v.version).collect();
    assert_eq!(numbers, vec![1, 3]);
}

#[tokio::test]
async fn publish_after_deleting_the_newest_version_creates_a_new_one() {
    let fake = fake();
    let v1 = publish(&fake).await;
    fake.call(&DeleteVersion { function: FN.to_owned(), version: v1 }).await.unwrap();
    assert_eq!(publish(&fake).await, 2);
}

#[tokio::test]
async fn alias_names_are_validated() {
    let fake = fake();
    let long = "a".repeat(129);
    for bad in ["", "123", "$LATEST", "PROD 1", "PROD.1", "PROD:1", long.as_str()] {
        assert_eq!(
            reason(
                fake.call(&CreateAlias {
                    function: FN.to_owned(),
                    name: bad.to_owned(),
                    version: LATEST.to_owned(),
                    description: String::new()
                })
                .await
            ),
            "InvalidRequest",
            "{bad:?}"
        );
    }
    let max = "a".repeat(128);
    for good in ["PROD1", "live", "1a", "a-b_c", max.as_str()] {
        fake.call(&CreateAlias {
            function: FN.to_owned(),
            name: good.to_owned(),
            version: LATEST.to_owned(),
            description: String::new(),
        })
        .await
        .unwrap();
    }
}

#[tokio::test]
async fn alias_description_is_limited_to_256_characters() {
    let fake = fake();
    let too_long = "x".repeat(257);
    assert_eq!(
        reason(
            fake.call(&CreateAlias {
                function: FN.to_owned(),
                name: "PROD1".to_owned(),
                version: LATEST.to_owned(),
                description: too_long.to_owned()
            })
            .await
        ),
        "InvalidRequest"
    );
    let alias = fake
        .call(&CreateAlias {
            function: FN.to_owned(),
            name: "PROD1".to_owned(),
            version: LATEST.to_owned(),
            description: "x".repeat(256),
        })
        .await
        .unwrap();
    let update = fake
        .call(&UpdateAlias {
            function: FN.to_owned(),
            name: "PROD1".to_owned(),
            version: LATEST.to_owned(),
            description: too_long.to_owned(),
            revision_id: Some(alias.revision_id.to_owned()),
            routing: None,
        })
        .await;
    assert_eq!(reason(update), "InvalidRequest");
}

#[tokio::test]
async fn create_alias_on_existing_name_conflicts() {
    let fake = fake();
    fake.call(&CreateAlias {
        function: FN.to_owned(),
        name: "PROD1".to_owned(),
        version: LATEST.to_owned(),
        description: String::new(),
    })
    .await
    .unwrap();
    assert_eq!(
        reason(
            fake.call(&CreateAlias {
                function: FN.to_owned(),
                name: "PROD1".to_owned(),
                version: LATEST.to_owned(),
                description: String::new()
            })
            .await
        ),
        "Conflict"
    );
}

#[tokio::test]
async fn create_alias_on_missing_version_is_not_found() {
    let fake = fake();
    assert_eq!(
        reason(
            fake.call(&CreateAlias {
                function: FN.to_owned(),
                name: "PROD1".to_owned(),
                version: "7".to_owned(),
                description: String::new()
            })
            .await
        ),
        "NotFound"
    );
    assert_eq!(
        reason(
            fake.call(&CreateAlias {
                function: FN.to_owned(),
                name: "PROD1".to_owned(),
                version: "latest".to_owned(),
                description: String::new()
            })
            .await
        ),
        "InvalidRequest"
    );
    assert!(fake.aliases(FN).is_empty());
}

#[tokio::test]
async fn update_missing_alias_is_not_found() {
    let fake = fake();
    assert_eq!(
        reason(
            fake.call(&UpdateAlias {
                function: FN.to_owned(),
                name: "PROD1".to_owned(),
                version: LATEST.to_owned(),
                description: String::new(),
                revision_id: None,
                routing: None,
            })
            .await
        ),
        "NotFound"
    );
    assert_eq!(
        reason(fake.call(&DeleteAlias { function: FN.to_owned(), name: "PROD1".to_owned() }).await),
        "NotFound"
    );
}

#[tokio::test]
async fn update_alias_clears_routing() {
    let fake = fake();
    let v1 = publish_latest(&fake).await;
    fake.set_config_changed(FN).unwrap();
    let v2 = publish_latest(&fake).await;
    fake.call(&CreateAlias {
        function: FN.to_owned(),
        name: "PROD1".to_owned(),
        version: v1.to_owned(),
        description: String::new(),
    })
    .await
    .unwrap();
    let weighted = fake.set_alias_routing(FN, "PROD1", &v2, 0.1).unwrap();
    assert_eq!(weighted.routing, BTreeMap::from([(v2.clone(), 0.1)]));
    let updated = fake
        .call(&UpdateAlias {
            function: FN.to_owned(),
            name: "PROD1".to_owned(),
            version: v2.to_owned(),
            description: String::new(),
            revision_id: Some(weighted.revision_id.to_owned()),
            routing: None,
        })
        .await
        .unwrap();
    assert!(updated.routing.is_empty());
    assert_eq!(fake.alias(FN, "PROD1").unwrap(), updated);
}

#[tokio::test]
async fn routing_is_validated() {
    let fake = fake();
    let v1 = publish_latest(&fake).await;
    fake.set_config_changed(FN).unwrap();
    let v2 = publish_latest(&fake).await;
    fake.set_config_changed(FN).unwrap();
    let v3 = publish_latest(&fake).await;
    fake.call(&CreateAlias {
        function: FN.to_owned(),
        name: "PROD1".to_owned(),
        version: v1.to_owned(),
        description: String::new(),
    })
    .await
    .unwrap();
    fake.call(&CreateAlias {
        function: FN.to_owned(),
        name: "DEV".to_owned(),
        version: LATEST.to_owned(),
        description: String::new(),
    })
    .await
    .unwrap();
    let err = |r: AwsResult<AliasInfo>| r.unwrap_err().reason();
    assert_eq!(err(fake.set_alias_routing(FN, "PROD1", &v2, 1.5)), "InvalidRequest");
    assert_eq!(err(fake.set_alias_routing(FN, "PROD1", &v2, -0.1)), "InvalidRequest");
    assert_eq!(err(fake.set_alias_routing(FN, "PROD1", &v2, f64::NAN)), "InvalidRequest");
    assert_eq!(err(fake.set_alias_routing(FN, "PROD1", &v1, 0.5)), "InvalidRequest");
    assert_eq!(err(fake.set_alias_routing(FN, "PROD1", LATEST, 0.5)), "InvalidRequest");
    assert_eq!(err(fake.set_alias_routing(FN, "PROD1", "9", 0.5)), "NotFound");
    assert_eq!(err(fake.set_alias_routing(FN, "DEV", &v2, 0.5)), "InvalidRequest");
    assert_eq!(err(fake.set_alias_routing(FN, "MISSING", &v2, 0.5)), "NotFound");
    fake.set_alias_routing(FN, "PROD1", &v2, 1.0).unwrap();
    // At most one additional version: a second one is refused, re-weighting the same is fine.
    assert_eq!(err(fake.set_alias_routing(FN, "PROD1", &v3, 0.2)), "InvalidRequest");
    let alias = fake.set_alias_routing(FN, "PROD1", &v2, 0.0).unwrap();
    assert_eq!(alias.routing, BTreeMap::from([(v2.clone(), 0.0)]));
    // A manual re-point onto the routed version would make routing invalid.
    assert_eq!(err(fake.oob_update_alias(FN, "PROD1", &v2)), "InvalidRequest");
    fake.clear_alias_routing(FN, "PROD1").unwrap();
    assert!(fake.alias(FN, "PROD1").unwrap().routing.is_empty());
}

#[tokio::test]
async fn alias_arn_is_function_arn_and_name() {
    let fake = fake();
    let alias = fake
        .call(&CreateAlias {
            function: FN.to_owned(),
            name: "PROD1".to_owned(),
            version: LATEST.to_owned(),
            description: "live".to_owned(),
        })
        .await
        .unwrap();
    assert_eq!(alias.alias_arn, format!("arn:aws:lambda:{REGION}:{ACCOUNT}:function:{FN}:PROD1"));
    assert_eq!(alias.alias_arn, fake.alias_arn(FN, "PROD1"));
    assert_eq!(fake.list(ListAliases::new(FN)).await.unwrap(), vec![alias]);
}

#[tokio::test]
async fn policies_are_per_qualifier() {
    let fake = fake();
    let v1 = publish_latest(&fake).await;
    fake.call(&CreateAlias {
        function: FN.to_owned(),
        name: "PROD1".to_owned(),
        version: v1.to_owned(),
        description: String::new(),
    })
    .await
    .unwrap();
    fake.call(&CreateAlias {
        function: FN.to_owned(),
        name: "PROD2".to_owned(),
        version: v1.to_owned(),
        description: String::new(),
    })
    .await
    .unwrap();
    fake.call(&AddPermission {
        function: FN.to_owned(),
        qualifier: "PROD1".to_owned(),
        statement: alexa("las-alexa", "skill-1"),
        revision_id: None,
    })
    .await
    .unwrap();
    assert_eq!(
        fake.call(&GetPolicy { function: FN.to_owned(), qualifier: "PROD1".to_owned() })
            .await
            .unwrap()
            .unwrap()
            .statements
            .len(),
        1
    );
    assert_eq!(
        fake.call(&GetPolicy { function: FN.to_owned(), qualifier: "PROD2".to_owned() }).await.unwrap(),
        None
    );
    assert_eq!(
        fake.call(&GetPolicy { function: FN.to_owned(), qualifier: v1.to_owned() }).await.unwrap(),
        None
    );
    assert_eq!(
        fake.call(&GetPolicy { function: FN.to_owned(), qualifier: String::new() }).await.unwrap(),
        None
    );
    // The same Sid on another qualifier is another statement.
    fake.call(&AddPermission {
        function: FN.to_owned(),
        qualifier: "PROD2".to_owned(),
        statement: alexa("las-alexa", "skill-2"),
        revision_id: None,
    })
    .await
    .unwrap();
    assert_eq!(fake.statements(FN, "PROD1")[0].event_source_token.as_deref(), Some("skill-1"));
    assert_eq!(fake.statements(FN, "PROD2")[0].event_source_token.as_deref(), Some("skill-2"));
}

#[tokio::test]
async fn duplicate_sid_conflicts() {
    let fake = fake();
    fake.call(&CreateAlias {
        function: FN.to_owned(),
        name: "PROD1".to_owned(),
        version: LATEST.to_owned(),
        description: String::new(),
    })
    .await
    .unwrap();
    fake.call(&AddPermission {
        function: FN.to_owned(),
        qualifier: "PROD1".to_owned(),
        statement: alexa("las-alexa", "skill-1"),
        revision_id: None,
    })
    .await
    .unwrap();
    let again = fake
        .call(&AddPermission {
            function: FN.to_owned(),
            qualifier: "PROD1".to_owned(),
            statement: alexa("las-alexa", "skill-other"),
            revision_id: None,
        })
        .await;
    assert_eq!(reason(again), "Conflict");
    assert_eq!(fake.statements(FN, "PROD1"), vec![alexa("las-alexa", "skill-1")]);
}

#[tokio::test]
async fn event_source_token_round_trips() {
    let fake = fake();
    fake.call(&CreateAlias {
        function: FN.to_owned(),
        name: "PROD1".to_owned(),
        version: LATEST.to_owned(),
        description: String::new(),
    })
    .await
    .unwrap();
    let statement = Statement {
        source_arn: Some("arn:aws:execute-api:eu-west-1:123456789012:abc/*".to_string()),
        source_account: Some(ACCOUNT.to_string()),
        ..alexa("las-alexa", "amzn1.ask.skill.1234")
    };
    fake.call(&AddPermission {
        function: FN.to_owned(),
        qualifier: "PROD1".to_owned(),
        statement: statement.clone(),
        revision_id: None,
    })
    .await
    .unwrap();
    let policy = fake
        .call(&GetPolicy { function: FN.to_owned(), qualifier: "PROD1".to_owned() })
        .await
        .unwrap()
        .unwrap();
    assert_eq!(policy.statements, vec![statement]);
}

#[tokio::test]
async fn empty_policy_reads_as_none() {
    let fake = fake();
    fake.call(&CreateAlias {
        function: FN.to_owned(),
        name: "PROD1".to_owned(),
        version: LATEST.to_owned(),
        description: String::new(),
    })
    .await
    .unwrap();
    assert_eq!(
        fake.call(&GetPolicy { function: FN.to_owned(), qualifier: "PROD1".to_owned() }).await.unwrap(),
        None
    );
    fake.call(&AddPermission {
        function: FN.to_owned(),
        qualifier: "PROD1".to_owned(),
        statement: alexa("s", "k"),
        revision_id: None,
    })
    .await
    .unwrap();
    fake.call(&RemovePermission {
        function: FN.to_owned(),
        qualifier: "PROD1".to_owned(),
        sid: "s".to_owned(),
    })
    .await
    .unwrap();
    assert_eq!(
        fake.call(&GetPolicy { function: FN.to_owned(), qualifier: "PROD1".to_owned() }).await.unwrap(),
        None
    );
    // No policy means no RevisionId to hold on to.
    let add = fake
        .call(&AddPermission {
            function: FN.to_owned(),
            qualifier: "PROD1".to_owned(),
            statement: alexa("s", "k"),
            revision_id: Some("stale".to_owned()),
        })
        .await;
    assert_eq!(reason(add), "PreconditionFailed");
}

#[tokio::test]
async fn removing_missing_sid_is_not_found() {
    let fake = fake();
    fake.call(&CreateAlias {
        function: FN.to_owned(),
        name: "PROD1".to_owned(),
        version: LATEST.to_owned(),
        description: String::new(),
    })
    .await
    .unwrap();
    assert_eq!(
        reason(
            fake.call(&RemovePermission {
                function: FN.to_owned(),
                qualifier: "PROD1".to_owned(),
                sid: "nope".to_owned()
            })
            .await
        ),
        "NotFound"
    );
    fake.call(&AddPermission {
        function: FN.to_owned(),
        qualifier: "PROD1".to_owned(),
        statement: alexa("s", "k"),
        revision_id: None,
    })
    .await
    .unwrap();
    assert_eq!(
        reason(
            fake.call(&RemovePermission {
                function: FN.to_owned(),
                qualifier: "PROD1".to_owned(),
                sid: "nope".to_owned()
            })
            .await
        ),
        "NotFound"
    );
}

#[tokio::test]
async fn policy_qualifier_must_exist() {
    let fake = fake();
    assert_eq!(
        reason(
            fake.call(&AddPermission {
                function: FN.to_owned(),
                qualifier: "PROD1".to_owned(),
                statement: alexa("s", "k"),
                revision_id: None
            })
            .await
        ),
        "NotFound"
    );
    assert_eq!(
        reason(fake.call(&GetPolicy { function: FN.to_owned(), qualifier: "PROD1".to_owned() }).await),
        "NotFound"
    );
    assert_eq!(
        reason(fake.call(&GetPolicy { function: FN.to_owned(), qualifier: "3".to_owned() }).await),
        "NotFound"
    );
    assert_eq!(
        reason(
            fake.call(&RemovePermission {
                function: FN.to_owned(),
                qualifier: "PROD1".to_owned(),
                sid: "s".to_owned()
            })
            .await
        ),
        "NotFound"
    );
    let v1 = publish_latest(&fake).await;
    fake.call(&AddPermission {
        function: FN.to_owned(),
        qualifier: v1.to_owned(),
        statement: alexa("s", "k"),
        revision_id: None,
    })
    .await
    .unwrap();
    assert_eq!(fake.statements(FN, &v1).len(), 1);
}

#[tokio::test]
async fn invalid_statements_are_refused() {
    let fake = fake();
    fake.call(&CreateAlias {
        function: FN.to_owned(),
        name: "PROD1".to_owned(),
        version: LATEST.to_owned(),
        description: String::new(),
    })
    .await
    .unwrap();
    let bad_sid = alexa("las alexa", "k");
    let no_principal = Statement { principal: String::new(), ..alexa("s", "k") };
    let bad_action = Statement { action: "InvokeFunction".to_string(), ..alexa("s", "k") };
    for statement in [bad_sid, no_principal, bad_action] {
        assert_eq!(
            reason(
                fake.call(&AddPermission {
                    function: FN.to_owned(),
                    qualifier: "PROD1".to_owned(),
                    statement: statement.clone(),
                    revision_id: None
                })
                .await
            ),
            "InvalidRequest"
        );
    }
}

#[tokio::test]
async fn deleting_an_alias_drops_its_policy() {
    let fake = fake();
    fake.call(&CreateAlias {
        function: FN.to_owned(),
        name: "PROD1".to_owned(),
        version: LATEST.to_owned(),
        description: String::new(),
    })
    .await
    .unwrap();
    fake.call(&AddPermission {
        function: FN.to_owned(),
        qualifier: "PROD1".to_owned(),
        statement: alexa("s", "k"),
        revision_id: None,
    })
    .await
    .unwrap();
    fake.call(&DeleteAlias { function: FN.to_owned(), name: "PROD1".to_owned() }).await.unwrap();
    fake.call(&CreateAlias {
        function: FN.to_owned(),
        name: "PROD1".to_owned(),
        version: LATEST.to_owned(),
        description: String::new(),
    })
    .await
    .unwrap();
    assert_eq!(
        fake.call(&GetPolicy { function: FN.to_owned(), qualifier: "PROD1".to_owned() }).await.unwrap(),
        None
    );
}

#[tokio::test]
async fn referenced_version_cannot_be_deleted() {
    let fake = fake();
    let v1 = publish(&fake).await;
    fake.set_config_changed(FN).unwrap();
    let v2 = publish(&fake).await;
    fake.set_config_changed(FN).unwrap();
    let v3 = publish(&fake).await;
    fake.call(&CreateAlias {
        function: FN.to_owned(),
        name: "PROD1".to_owned(),
        version: v1.to_string().to_owned(),
        description: String::new(),
    })
    .await
    .unwrap();
    fake.set_alias_routing(FN, "PROD1", &v2.to_string(), 0.05).unwrap();
    assert_eq!(reason(fake.call(&DeleteVersion { function: FN.to_owned(), version: v1 }).await), "Conflict");
    assert_eq!(reason(fake.call(&DeleteVersion { function: FN.to_owned(), version: v2 }).await), "Conflict");
    fake.call(&DeleteVersion { function: FN.to_owned(), version: v3 }).await.unwrap();
    assert_eq!(fake.versions(FN).len(), 2);
    fake.clear_alias_routing(FN, "PROD1").unwrap();
    fake.call(&DeleteVersion { function: FN.to_owned(), version: v2 }).await.unwrap();
}

#[tokio::test]
async fn deleting_missing_version_is_not_found() {
    let fake = fake();
    assert_eq!(reason(fake.call(&DeleteVersion { function: FN.to_owned(), version: 1 }).await), "NotFound");
    let v1 = publish(&fake).await;
    fake.call(&DeleteVersion { function: FN.to_owned(), version: v1 }).await.unwrap();
    assert_eq!(reason(fake.call(&DeleteVersion { function: FN.to_owned(), version: v1 }).await), "NotFound");
}

#[tokio::test]
async fn version_with_mapping_can_be_deleted() {
    let fake = fake();
    let v1 = publish(&fake).await;
    let target = fake.alias_arn(FN, &v1.to_string());
    fake.call(&sqs("q", &target)).await.unwrap();
    fake.call(&DeleteVersion { function: FN.to_owned(), version: v1 }).await.unwrap();
}

#[tokio::test]
async fn mapping_target_must_exist() {
    let fake = fake();
    let missing_alias = fake.alias_arn(FN, "PROD1");
    assert_eq!(reason(fake.call(&sqs("q", &missing_alias)).await), "NotFound");
    let missing_version = fake.alias_arn(FN, "4");
    assert_eq!(reason(fake.call(&sqs("q", &missing_version)).await), "NotFound");
    let other_function = fake.alias_arn("other", "PROD1");
    assert_eq!(reason(fake.call(&sqs("q", &other_function)).await), "NotFound");
    fake.call(&CreateAlias {
        function: FN.to_owned(),
        name: "PROD1".to_owned(),
        version: LATEST.to_owned(),
        description: String::new(),
    })
    .await
    .unwrap();
    let mapping = fake.call(&sqs("q", &format!("{FN}:PROD1"))).await.unwrap();
    // Stored under the full qualified ARN, however it was named.
    assert_eq!(mapping.function_arn, missing_alias);
    assert_eq!((mapping.enabled, mapping.state.as_str()), (true, "Enabled"));
}

#[tokio::test]
async fn stream_mappings_need_a_starting_position() {
    let fake = fake();
    let target = fake
        .call(&CreateAlias {
            function: FN.to_owned(),
            name: "PROD1".to_owned(),
            version: LATEST.to_owned(),
            description: String::new(),
        })
        .await
        .unwrap()
        .alias_arn;
    let stream = CreateMapping {
        event_source_arn: format!("arn:aws:kinesis:{REGION}:{ACCOUNT}:stream/s"),
        ..sqs("q", &target)
    };
    assert_eq!(reason(fake.call(&stream).await), "InvalidRequest");
    let queue = CreateMapping { starting_position: Some("LATEST".to_string()), ..sqs("q", &target) };
    assert_eq!(reason(fake.call(&queue).await), "InvalidRequest");
    let stream = CreateMapping { starting_position: Some("TRIM_HORIZON".to_string()), ..stream };
    fake.call(&stream).await.unwrap();
}

#[tokio::test]
async fn duplicate_mapping_conflicts() {
    let fake = fake();
    let prod1 = fake
        .call(&CreateAlias {
            function: FN.to_owned(),
            name: "PROD1".to_owned(),
            version: LATEST.to_owned(),
            description: String::new(),
        })
        .await
        .unwrap()
        .alias_arn;
    let prod2 = fake
        .call(&CreateAlias {
            function: FN.to_owned(),
            name: "PROD2".to_owned(),
            version: LATEST.to_owned(),
            description: String::new(),
        })
        .await
        .unwrap()
        .alias_arn;
    fake.call(&sqs("q", &prod1)).await.unwrap();
    assert_eq!(reason(fake.call(&sqs("q", &prod1)).await), "Conflict");
    // The same queue on another alias, or another queue on the same alias, is fine...
    let on_prod2 = fake.call(&sqs("q", &prod2)).await.unwrap();
    fake.call(&sqs("other", &prod1)).await.unwrap();
    // ...but moving it onto an alias that already polls that queue is a duplicate.
    let moved = UpdateMapping {
        uuid: on_prod2.uuid.clone(),
        function_arn: Some(prod1.clone()),
        batch_size: None,
        enabled: None,
    };
    assert_eq!(reason(fake.call(&moved).await), "Conflict");
    assert_eq!(fake.mapping(&on_prod2.uuid).unwrap().function_arn, prod2);
}

#[tokio::test]
async fn mapping_uuids_are_unique() {
    let fake = fake();
    let target = fake
        .call(&CreateAlias {
            function: FN.to_owned(),
            name: "PROD1".to_owned(),
            version: LATEST.to_owned(),
            description: String::new(),
        })
        .await
        .unwrap()
        .alias_arn;
    let mut uuids = BTreeSet::new();
    for i in 0..20 {
        let mapping = fake.call(&sqs(&format!("q{i}"), &target)).await.unwrap();
        fake.call(&DeleteMapping { uuid: mapping.uuid.to_owned() }).await.unwrap();
        assert!(uuids.insert(mapping.uuid));
    }
    assert_eq!(reason(fake.call(&DeleteMapping { uuid: uuids.first().unwrap().clone() }).await), "NotFound");
}

#[tokio::test]
async fn list_mappings_matches_the_qualified_arn_exactly() {
    let fake = fake();
    let v1 = publish_latest(&fake).await;
    let prod1 = fake
        .call(&CreateAlias {
            function: FN.to_owned(),
            name: "PROD1".to_owned(),
            version: LATEST.to_owned(),
            description: String::new(),
        })
        .await
        .unwrap()
        .alias_arn;
    let prod10 = fake
        .call(&CreateAlias {
            function: FN.to_owned(),
            name: "PROD10".to_owned(),
            version: LATEST.to_owned(),
            description: String::new(),
        })
        .await
        .unwrap()
        .alias_arn;
    let a = fake.call(&sqs("a", &prod1)).await.unwrap();
    fake.call(&sqs("b", &prod10)).await.unwrap();
    fake.call(&sqs("c", &fake.alias_arn(FN, &v1))).await.unwrap();
    fake.call(&sqs("d", &fake.function_arn(FN))).await.unwrap();
    assert_eq!(fake.list(ListMappings::of_function(&prod1)).await.unwrap(), vec![a.clone()]);
    assert_eq!(fake.list(ListMappings::of_function(&fake.alias_arn(FN, "PROD2"))).await.unwrap(), vec![]);
    assert_eq!(fake.list(ListMappings::of_function(&fake.function_arn(FN))).await.unwrap().len(), 1);
    // By event source: every function's and qualifier's mapping of it, nothing else.
    let by_source = fake.list(ListMappings::of_source(&a.event_source_arn)).await.unwrap();
    assert_eq!(by_source, vec![a]);
    assert!(
        fake.list(ListMappings::of_source("arn:aws:sqs:us-east-1:123456789012:none"))
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn update_mapping_moves_it() {
    let fake = fake();
    let prod1 = fake
        .call(&CreateAlias {
            function: FN.to_owned(),
            name: "PROD1".to_owned(),
            version: LATEST.to_owned(),
            description: String::new(),
        })
        .await
        .unwrap()
        .alias_arn;
    let prod2 = fake
        .call(&CreateAlias {
            function: FN.to_owned(),
            name: "PROD2".to_owned(),
            version: LATEST.to_owned(),
            description: String::new(),
        })
        .await
        .unwrap()
        .alias_arn;
    let mapping = fake.call(&sqs("q", &prod1)).await.unwrap();
    let request = UpdateMapping {
        uuid: mapping.uuid.clone(),
        function_arn: Some(prod2.clone()),
        batch_size: Some(5),
        enabled: Some(false),
    };
    let moved = fake.call(&request).await.unwrap();
    assert_eq!((moved.function_arn.as_str(), moved.batch_size), (prod2.as_str(), Some(5)));
    assert_eq!((moved.enabled, moved.state.as_str()), (false, "Disabled"));
    assert!(fake.list(ListMappings::of_function(&prod1)).await.unwrap().is_empty());
    let to_nowhere = UpdateMapping { function_arn: Some(fake.alias_arn(FN, "GONE")), ..request.clone() };
    assert_eq!(reason(fake.call(&to_nowhere).await), "NotFound");
    let unknown = UpdateMapping { uuid: "nope".to_string(), ..request };
    assert_eq!(reason(fake.call(&unknown).await), "NotFound");
}

#[tokio::test]
async fn throttle_carries_retry_hint() {
    let fake = fake();
    fake.throttle_next(2, Some(Duration::from_secs(3)));
    for _ in 0..2 {
        let error = fake.list(ListAliases::new(FN)).await.unwrap_err();
        assert_eq!(
            error,
            AwsError::Throttled {
                operation: Operation::ListAliases,
                retry_after: Some(Duration::from_secs(3))
            }
        );
    }
    fake.list(ListAliases::new(FN)).await.unwrap();
}

#[tokio::test]
async fn fail_next_injects_unavailable_and_timeout() {
    let fake = fake();
    fake.fail_next(1, Fault::Unavailable);
    fake.fail_next(1, Fault::Timeout);
    assert_eq!(reason(fake.call(&GetFunction { function: FN.to_owned() }).await), "Unavailable");
    let timeout = fake
        .call(&CreateAlias {
            function: FN.to_owned(),
            name: "PROD1".to_owned(),
            version: LATEST.to_owned(),
            description: String::new(),
        })
        .await
        .unwrap_err();
    assert_eq!(
        timeout,
        AwsError::Unavailable { operation: Operation::CreateAlias, message: "timeout".to_string() }
    );
    // A failed write wrote nothing.
    assert!(fake.aliases(FN).is_empty());
    fake.call(&GetFunction { function: FN.to_owned() }).await.unwrap();
}

#[tokio::test]
async fn fail_next_on_hits_only_that_operation() {
    let fake = fake();
    fake.fail_next_on(Operation::UpdateAlias, 1, Fault::Conflict);
    let alias = fake
        .call(&CreateAlias {
            function: FN.to_owned(),
            name: "PROD1".to_owned(),
            version: LATEST.to_owned(),
            description: String::new(),
        })
        .await
        .unwrap();
    let update = fake
        .call(&UpdateAlias {
            function: FN.to_owned(),
            name: "PROD1".to_owned(),
            version: LATEST.to_owned(),
            description: String::new(),
            revision_id: Some(alias.revision_id.to_owned()),
            routing: None,
        })
        .await;
    assert_eq!(reason(update), "Conflict");
    fake.call(&UpdateAlias {
        function: FN.to_owned(),
        name: "PROD1".to_owned(),
        version: LATEST.to_owned(),
        description: String::new(),
        revision_id: Some(alias.revision_id.to_owned()),
        routing: None,
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn crash_after_writes_stops_every_later_write() {
    let fake = fake();
    fake.crash_after_writes(2);
    let v1 = publish_latest(&fake).await;
    fake.call(&CreateAlias {
        function: FN.to_owned(),
        name: "PROD1".to_owned(),
        version: v1.to_owned(),
        description: String::new(),
    })
    .await
    .unwrap();
    let crashed = fake
        .call(&CreateAlias {
            function: FN.to_owned(),
            name: "PROD2".to_owned(),
            version: v1.to_owned(),
            description: String::new(),
        })
        .await
        .unwrap_err();
    assert_eq!(
        crashed,
        AwsError::Unavailable { operation: Operation::CreateAlias, message: "crashed".to_string() }
    );
    assert_eq!(
        reason(fake.call(&DeleteAlias { function: FN.to_owned(), name: "PROD1".to_owned() }).await),
        "Unavailable"
    );
    assert_eq!(
        reason(
            fake.call(&AddPermission {
                function: FN.to_owned(),
                qualifier: "PROD1".to_owned(),
                statement: alexa("s", "k"),
                revision_id: None
            })
            .await
        ),
        "Unavailable"
    );
    // Reads still observe what the first writes did.
    assert_eq!(fake.list(ListAliases::new(FN)).await.unwrap().len(), 1);
    assert_eq!(fake.writes(), 2);
    fake.recover();
    fake.call(&CreateAlias {
        function: FN.to_owned(),
        name: "PROD2".to_owned(),
        version: v1.to_owned(),
        description: String::new(),
    })
    .await
    .unwrap();
    assert_eq!(fake.writes(), 3);
}

#[tokio::test]
async fn denied_operation_is_access_denied() {
    let fake = fake();
    fake.deny(Operation::PublishVersion);
    let error = fake
        .call(&PublishVersion {
            function: FN.to_owned(),
            code_sha256: "sha-a".to_owned(),
            revision_id: None,
            description: None,
        })
        .await
        .unwrap_err();
    assert_eq!(error.reason(), "AccessDenied");
    assert!(error.to_string().contains("lambda:PublishVersion"), "{error}");
    fake.call(&GetFunction { function: FN.to_owned() }).await.unwrap();
    fake.allow(Operation::PublishVersion);
    fake.call(&PublishVersion {
        function: FN.to_owned(),
        code_sha256: "sha-a".to_owned(),
        revision_id: None,
        description: None,
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn calls_are_recorded_including_failures() {
    let fake = fake();
    fake.call(&GetFunction { function: FN.to_owned() }).await.unwrap();
    let _ = fake.call(&DeleteAlias { function: FN.to_owned(), name: "missing".to_owned() }).await;
    fake.throttle_next(1, None);
    let _ = fake.list(ListAliases::new(FN)).await;
    assert_eq!(fake.calls(), vec![Operation::GetFunction, Operation::DeleteAlias, Operation::ListAliases]);
    assert_eq!(fake.calls_of(Operation::DeleteAlias), 1);
    // Only successful writes count as writes.
    assert_eq!(fake.writes(), 0);
    fake.clear_calls();
    assert!(fake.calls().is_empty());
}

#[tokio::test]
async fn out_of_band_changes_are_not_calls_but_bump_revisions() {
    let fake = fake();
    let v1 = fake.oob_publish(FN, "by hand").unwrap();
    let alias = fake.oob_create_alias(FN, "PROD1", &v1.version.to_string(), "").unwrap();
    let moved = fake.oob_update_alias(FN, "PROD1", LATEST).unwrap();
    assert_ne!(alias.revision_id, moved.revision_id);
    fake.oob_add_statement(FN, "PROD1", alexa("foreign", "k")).unwrap();
    let mapping = fake.oob_create_mapping(&sqs("q", &alias.alias_arn)).unwrap();
    fake.oob_delete_mapping(&mapping.uuid).unwrap();
    fake.oob_remove_statement(FN, "PROD1", "foreign").unwrap();
    fake.oob_delete_alias(FN, "PROD1").unwrap();
    fake.oob_delete_version(FN, v1.version).unwrap();
    assert!(fake.calls().is_empty());
    assert_eq!(fake.writes(), 0);
    // Injected faults are for API calls only.
    fake.crash_after_writes(0);
    fake.oob_create_alias(FN, "PROD1", LATEST, "").unwrap();
}

#[test]
fn futures_are_send() {
    fn assert_send<T: Send>(_: &T) {}
    let fake = fake();
    let get = GetFunction { function: FN.to_owned() };
    let future = fake.call(&get);
    assert_send(&future);
    let request = sqs("q", "x");
    assert_send(&fake.call(&request));
}

// --- provisioned concurrency -------------------------------------------------------------------

fn put(version: u64, count: u32) -> crate::aws::PutWarm {
    crate::aws::PutWarm { function: FN.to_owned(), version, count }
}

fn message<T: std::fmt::Debug>(result: AwsResult<T>) -> String {
    match result.unwrap_err() {
        AwsError::Invalid { message, .. }
        | AwsError::Conflict { message, .. }
        | AwsError::NotFound { message, .. } => message,
        other => panic!("unexpected error {other:?}"),
    }
}

#[tokio::test]
async fn provisioned_concurrency_goes_in_progress_then_ready_or_failed() {
    use crate::plan::WarmStatus;
    let fake = fake();
    let v1 = publish(&fake).await;
    fake.set_warm_delay(120);
    fake.set_clock(1000);
    let put1 = fake.call(&put(v1, 5)).await.unwrap();
    assert_eq!((put1.status, put1.allocated, put1.requested), (WarmStatus::InProgress, 0, 5));
    fake.set_clock(1119);
    let listed = fake.list(crate::aws::ListWarm::new(FN)).await.unwrap();
    assert_eq!(listed[0].status, WarmStatus::InProgress);
    fake.set_clock(1120);
    let listed = fake.list(crate::aws::ListWarm::new(FN)).await.unwrap();
    assert_eq!(
        (listed[0].qualifier.as_str(), listed[0].status, listed[0].allocated),
        ("1", WarmStatus::Ready, 5)
    );
    // A new count keeps serving the old allocation while it is in progress.
    fake.call(&put(v1, 8)).await.unwrap();
    let listed = fake.warm_configs(FN);
    assert_eq!((listed[0].status, listed[0].allocated, listed[0].requested), (WarmStatus::InProgress, 5, 8));
    // A version whose init fails.
    fake.deploy(FN, "sha-b").unwrap();
    let v2 = publish(&fake).await;
    fake.fail_warm(FN, &v2.to_string(), Some("FUNCTION_ERROR_INIT_FAILURE"));
    fake.call(&put(v2, 5)).await.unwrap();
    fake.set_clock(2000);
    let failed = fake.warm_configs(FN).into_iter().find(|c| c.qualifier == "2").unwrap();
    assert_eq!(failed.status, WarmStatus::Failed);
    assert_eq!(failed.reason.as_deref(), Some("FUNCTION_ERROR_INIT_FAILURE"));
    // Deleted, and gone; deleting again is not an error (AWS answers 204).
    fake.call(&crate::aws::DeleteWarm { function: FN.to_owned(), version: v2 }).await.unwrap();
    fake.call(&crate::aws::DeleteWarm { function: FN.to_owned(), version: v2 }).await.unwrap();
    assert!(fake.warm_configs(FN).iter().all(|c| c.qualifier != "2"));
}

#[tokio::test]
async fn provisioned_concurrency_follows_awss_rules_with_its_texts() {
    let fake = fake();
    let v1 = publish(&fake).await;
    fake.deploy(FN, "sha-b").unwrap();
    let v2 = publish(&fake).await;
    let unpublished = "Provisioned Concurrency Configs cannot be applied to unpublished function versions.";
    assert!(message(fake.call(&put(v1, 0)).await).contains("greater than or equal to 1"));
    assert_eq!(reason(fake.call(&put(9, 1)).await), "NotFound");
    // On aliases (by hand: the controller only puts configs on versions).
    fake.oob_create_alias(FN, "DEV", "$LATEST", "").unwrap();
    assert_eq!(message(fake.oob_put_warm(FN, "DEV", 1)), unpublished);
    assert_eq!(message(fake.oob_put_warm(FN, "$LATEST", 1)), unpublished);
    fake.oob_create_alias(FN, "LIVE", &v1.to_string(), "").unwrap();
    fake.set_alias_routing(FN, "LIVE", &v2.to_string(), 0.1).unwrap();
    assert_eq!(
        message(fake.oob_put_warm(FN, "LIVE", 1)),
        "Alias with weights can not be used with Provisioned Concurrency"
    );
    fake.clear_alias_routing(FN, "LIVE").unwrap();
    fake.call(&put(v1, 2)).await.unwrap();
    let already =
        "Alias can't be used for Provisioned Concurrency configuration on an already Provisioned version";
    assert_eq!(message(fake.oob_put_warm(FN, "LIVE", 1)), already);
    assert_eq!(reason(fake.oob_put_warm(FN, "LIVE", 1)), "Conflict");
    fake.oob_delete_warm(FN, "1").unwrap();
    fake.oob_put_warm(FN, "LIVE", 1).unwrap();
    assert_eq!(
        message(fake.call(&put(v1, 2)).await),
        "Version is pointed by a Provisioned Concurrency alias"
    );
    // Weights on an alias that has a config are allowed; deleting the alias deletes its config.
    fake.set_alias_routing(FN, "LIVE", &v2.to_string(), 0.1).unwrap();
    fake.oob_delete_alias(FN, "LIVE").unwrap();
    assert!(fake.warm_configs(FN).is_empty());
}
