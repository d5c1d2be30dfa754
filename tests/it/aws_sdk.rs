//! `SdkLambda` end to end: every Lambda request of the seam against moto (through the crate's own
//! client configuration), plus pagination against a local stub that pages, since moto never
//! does. moto's known gaps (RevisionId ignored outside policies, one policy for all qualifiers,
//! EventSourceToken dropped, duplicate Sids accepted, mappings reporting the version ARN
//! behind an alias) are deliberately not asserted on; see src/aws/fake/ for those rules.

use crate::support;

use std::io::{BufRead, BufReader, Write};
use std::net::{Ipv4Addr, TcpListener};
use std::sync::{Arc, Mutex};

use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::AliasRoutingConfiguration;
use lambda_alias_controller::aws::client::{AwsSettings, sdk_config, sdk_config_for};
use lambda_alias_controller::aws::lambda::*;
use lambda_alias_controller::aws::sdk::SdkLambda;
use lambda_alias_controller::aws::{AwsError, Call, List};
use lambda_alias_controller::plan::{LATEST, Statement};

async fn api() -> (aws_sdk_lambda::Client, SdkLambda) {
    let client = support::lambda().await;
    (client.clone(), SdkLambda::new(client, support::cloudwatch().await))
}

/// Replaces `$LATEST`'s code so that the next publish creates a new version.
async fn update_code(client: &aws_sdk_lambda::Client, name: &str, marker: &str) {
    client
        .update_function_code()
        .function_name(name)
        .zip_file(Blob::new(support::demo_zip(marker)))
        .send()
        .await
        .unwrap_or_else(|e| {
            panic!("UpdateFunctionCode {name}: {}", aws_sdk_lambda::error::DisplayErrorContext(&e))
        });
}

/// A function with versions 1 and 2 published (different code), for tests that need versions.
async fn function_with_two_versions(
    client: &aws_sdk_lambda::Client,
    api: &SdkLambda,
    prefix: &str,
) -> String {
    let name = support::unique_name(prefix);
    support::create_function(client, &name, "v1").await;
    let v1 = api.call(&GetFunction { function: name.to_owned() }).await.expect("get v1");
    assert_eq!(
        api.call(&PublishVersion {
            function: name.to_owned(),
            code_sha256: v1.code_sha256.to_owned(),
            revision_id: None,
            description: None
        })
        .await
        .expect("publish 1")
        .version,
        1
    );
    update_code(client, &name, "v2").await;
    let v2 = api.call(&GetFunction { function: name.to_owned() }).await.expect("get v2");
    assert_eq!(
        api.call(&PublishVersion {
            function: name.to_owned(),
            code_sha256: v2.code_sha256.to_owned(),
            revision_id: None,
            description: None
        })
        .await
        .expect("publish 2")
        .version,
        2
    );
    name
}

#[tokio::test]
async fn get_function_reads_latest_and_reports_a_missing_function_as_not_found() {
    let (client, api) = api().await;
    let name = support::unique_name("sdk-get");
    let created = support::create_function(&client, &name, "get").await;

    let info = api.call(&GetFunction { function: name.to_owned() }).await.expect("GetFunction");
    assert_eq!(Some(info.function_arn.as_str()), created.function_arn());
    assert!(info.function_arn.ends_with(&format!(":function:{name}")), "unqualified: {}", info.function_arn);
    assert_eq!(Some(info.code_sha256.as_str()), created.code_sha256());
    // By ARN too: `spec.functionName` may be an ARN.
    assert_eq!(
        api.call(&GetFunction { function: info.function_arn.to_owned() }).await.expect("GetFunction by ARN"),
        info
    );

    let missing = support::unique_name("sdk-missing");
    let error = api.call(&GetFunction { function: missing.to_owned() }).await.expect_err("no such function");
    assert!(matches!(error, AwsError::NotFound { .. }), "{error:?}");
    assert!(error.to_string().contains("ResourceNotFoundException"), "{error}");
}

#[tokio::test]
async fn list_versions_returns_published_versions_with_their_hashes_and_skips_latest() {
    let (client, api) = api().await;
    let name = support::unique_name("sdk-versions");
    support::create_function(&client, &name, "one").await;
    assert!(
        api.list(ListVersions::new(&name)).await.expect("list before publish").is_empty(),
        "only $LATEST exists"
    );

    let first = api.call(&GetFunction { function: name.to_owned() }).await.expect("get");
    let v1 = api
        .call(&PublishVersion {
            function: name.to_owned(),
            code_sha256: first.code_sha256.to_owned(),
            revision_id: None,
            description: Some("first".to_owned()),
        })
        .await
        .expect("publish 1");
    assert_eq!(
        (v1.version, v1.code_sha256.as_str(), v1.description.as_str()),
        (1, first.code_sha256.as_str(), "first")
    );

    update_code(&client, &name, "two").await;
    let second = api.call(&GetFunction { function: name.to_owned() }).await.expect("get");
    assert_ne!(second.code_sha256, first.code_sha256);
    let v2 = api
        .call(&PublishVersion {
            function: name.to_owned(),
            code_sha256: second.code_sha256.to_owned(),
            revision_id: None,
            description: None,
        })
        .await
        .expect("publish 2");
    assert_eq!(v2.version, 2);

    let mut versions = api.list(ListVersions::new(&name)).await.expect("list");
    versions.sort_by_key(|v| v.version);
    let seen: Vec<(u64, &str)> = versions.iter().map(|v| (v.version, v.code_sha256.as_str())).collect();
    assert_eq!(seen, vec![(1, first.code_sha256.as_str()), (2, second.code_sha256.as_str())]);
    assert_eq!(versions[0].description, "first");

    // (A missing function is a 404 on AWS; moto lists no versions.)
}

#[tokio::test]
async fn publishing_an_unchanged_latest_returns_the_existing_version() {
    let (client, api) = api().await;
    let name = support::unique_name("sdk-republish");
    support::create_function(&client, &name, "same").await;
    let latest = api.call(&GetFunction { function: name.to_owned() }).await.expect("get");
    let revision = Some(latest.revision_id.as_str());
    let first = api
        .call(&PublishVersion {
            function: name.to_owned(),
            code_sha256: latest.code_sha256.to_owned(),
            revision_id: revision.map(str::to_owned),
            description: None,
        })
        .await
        .expect("publish");
    let again = api
        .call(&PublishVersion {
            function: name.to_owned(),
            code_sha256: latest.code_sha256.to_owned(),
            revision_id: revision.map(str::to_owned),
            description: None,
        })
        .await
        .expect("republish");
    assert_eq!(again.version, first.version);
    assert_eq!(again.code_sha256, latest.code_sha256);
    assert_eq!(api.list(ListVersions::new(&name)).await.expect("list").len(), 1);
}

#[tokio::test]
async fn aliases_are_created_updated_with_routing_cleared_and_deleted() {
    let (client, api) = api().await;
    let name = function_with_two_versions(&client, &api, "sdk-alias").await;

    let live = api
        .call(&CreateAlias {
            function: name.to_owned(),
            name: "live".to_owned(),
            version: "1".to_owned(),
            description: "owned by test".to_owned(),
        })
        .await
        .expect("CreateAlias");
    assert_eq!((live.name.as_str(), live.function_version.as_str()), ("live", "1"));
    assert_eq!(live.description, "owned by test");
    assert!(live.alias_arn.ends_with(&format!(":function:{name}:live")), "{}", live.alias_arn);
    assert!(live.routing.is_empty());
    let duplicate = api
        .call(&CreateAlias {
            function: name.to_owned(),
            name: "live".to_owned(),
            version: "1".to_owned(),
            description: String::new(),
        })
        .await
        .expect_err("alias exists");
    assert!(matches!(duplicate, AwsError::Conflict { .. }), "{duplicate:?}");

    // Someone adds a weighted split behind our back...
    client
        .create_alias()
        .function_name(&name)
        .name("canary")
        .function_version("1")
        .routing_config(AliasRoutingConfiguration::builder().additional_version_weights("2", 0.25).build())
        .send()
        .await
        .expect("CreateAlias with routing");
    let listed = api.list(ListAliases::new(&name)).await.expect("ListAliases");
    let canary = listed.iter().find(|a| a.name == "canary").expect("canary listed");
    assert_eq!(canary.routing.get("2"), Some(&0.25));

    // ...and an update points the alias at exactly one version again.
    let updated = api
        .call(&UpdateAlias {
            function: name.to_owned(),
            name: "canary".to_owned(),
            version: "2".to_owned(),
            description: "moved".to_owned(),
            revision_id: Some(canary.revision_id.as_str().to_owned()),
            routing: None,
        })
        .await
        .expect("UpdateAlias");
    assert_eq!((updated.function_version.as_str(), updated.description.as_str()), ("2", "moved"));
    assert!(updated.routing.is_empty(), "routing cleared: {:?}", updated.routing);
    let canary = api
        .list(ListAliases::new(&name))
        .await
        .expect("ListAliases")
        .into_iter()
        .find(|a| a.name == "canary");
    let canary = canary.expect("canary still listed");
    assert_eq!(canary.function_version, "2");
    assert!(canary.routing.is_empty(), "routing cleared on read-back: {:?}", canary.routing);

    let mut names: Vec<String> =
        api.list(ListAliases::new(&name)).await.expect("ListAliases").into_iter().map(|a| a.name).collect();
    names.sort();
    assert_eq!(names, ["canary", "live"]);

    api.call(&DeleteAlias { function: name.to_owned(), name: "canary".to_owned() })
        .await
        .expect("DeleteAlias");
    let names: Vec<String> =
        api.list(ListAliases::new(&name)).await.expect("ListAliases").into_iter().map(|a| a.name).collect();
    assert_eq!(names, ["live"]);
    let error = api
        .call(&UpdateAlias {
            function: name.to_owned(),
            name: "canary".to_owned(),
            version: "1".to_owned(),
            description: String::new(),
            revision_id: None,
            routing: None,
        })
        .await
        .expect_err("alias is gone");
    assert!(matches!(error, AwsError::NotFound { .. }), "{error:?}");
}

#[tokio::test]
async fn permissions_are_added_read_back_and_removed() {
    let (client, api) = api().await;
    let name = function_with_two_versions(&client, &api, "sdk-policy").await;
    api.call(&CreateAlias {
        function: name.to_owned(),
        name: "live".to_owned(),
        version: "2".to_owned(),
        description: String::new(),
    })
    .await
    .expect("CreateAlias");
    let account = api
        .call(&GetFunction { function: name.to_owned() })
        .await
        .expect("get")
        .function_arn
        .split(':')
        .nth(4)
        .map(str::to_owned);
    let account = account.expect("account id in the function ARN");

    assert_eq!(
        api.call(&GetPolicy { function: name.to_owned(), qualifier: "live".to_owned() })
            .await
            .expect("GetPolicy"),
        None,
        "no policy before any permission"
    );

    let alexa = Statement {
        sid: "alexa-skill".into(),
        principal: "alexa-appkit.amazon.com".into(),
        action: "lambda:InvokeFunction".into(),
        event_source_token: Some("amzn1.ask.skill.12345678-1234-1234-1234-123456789012".into()),
        ..Statement::default()
    };
    let apigw = Statement {
        sid: "apigw-get".into(),
        principal: "apigateway.amazonaws.com".into(),
        action: "lambda:InvokeFunction".into(),
        source_arn: Some(format!("arn:aws:execute-api:{}:{account}:a1b2c3d4e5/*/GET/pets", support::REGION)),
        ..Statement::default()
    };
    api.call(&AddPermission {
        function: name.to_owned(),
        qualifier: "live".to_owned(),
        statement: alexa.clone(),
        revision_id: None,
    })
    .await
    .expect("AddPermission alexa");
    let revision = api
        .call(&GetPolicy { function: name.to_owned(), qualifier: "live".to_owned() })
        .await
        .expect("GetPolicy")
        .expect("policy exists")
        .revision_id;
    api.call(&AddPermission {
        function: name.to_owned(),
        qualifier: "live".to_owned(),
        statement: apigw.clone(),
        revision_id: Some(revision.to_owned()),
    })
    .await
    .expect("AddPermission apigw");
    // The policy changed since `revision` was read: a third statement on it is refused.
    let late = Statement { sid: "late".into(), ..apigw.clone() };
    let error = api
        .call(&AddPermission {
            function: name.to_owned(),
            qualifier: "live".to_owned(),
            statement: late.clone(),
            revision_id: Some(revision.to_owned()),
        })
        .await
        .expect_err("stale RevisionId");
    assert!(matches!(error, AwsError::PreconditionFailed { .. }), "{error:?}");

    let policy = api
        .call(&GetPolicy { function: name.to_owned(), qualifier: "live".to_owned() })
        .await
        .expect("GetPolicy")
        .expect("policy exists");
    assert!(!policy.revision_id.is_empty());
    let find = |sid: &str| policy.statements.iter().find(|s| s.sid == sid).cloned();
    let read_alexa = find("alexa-skill").expect("alexa statement");
    assert_eq!(
        (read_alexa.principal.as_str(), read_alexa.action.as_str()),
        ("alexa-appkit.amazon.com", "lambda:InvokeFunction")
    );
    // (moto drops EventSourceToken; the parser's unit tests cover reading it.)
    assert_eq!(find("apigw-get").map(|s| Statement { event_source_token: None, ..s }), Some(apigw.clone()));

    api.call(&RemovePermission {
        function: name.to_owned(),
        qualifier: "live".to_owned(),
        sid: "alexa-skill".to_owned(),
    })
    .await
    .expect("RemovePermission");
    let after = api
        .call(&GetPolicy { function: name.to_owned(), qualifier: "live".to_owned() })
        .await
        .expect("GetPolicy")
        .expect("apigw statement remains");
    let sids: Vec<&str> = after.statements.iter().map(|s| s.sid.as_str()).collect();
    assert!(!sids.contains(&"alexa-skill") && sids.contains(&"apigw-get"), "{sids:?}");

    let error = api
        .call(&RemovePermission {
            function: name.to_owned(),
            qualifier: "live".to_owned(),
            sid: "alexa-skill".to_owned(),
        })
        .await
        .expect_err("already removed");
    assert!(matches!(error, AwsError::NotFound { .. }), "{error:?}");
    api.call(&RemovePermission {
        function: name.to_owned(),
        qualifier: "live".to_owned(),
        sid: "apigw-get".to_owned(),
    })
    .await
    .expect("RemovePermission");
    assert_eq!(
        api.call(&GetPolicy { function: name.to_owned(), qualifier: "live".to_owned() })
            .await
            .expect("GetPolicy"),
        None,
        "no statements left"
    );

    let error = api
        .call(&AddPermission {
            function: support::unique_name("sdk-missing"),
            qualifier: "live".to_owned(),
            statement: apigw.clone(),
            revision_id: None,
        })
        .await
        .expect_err("no such function");
    assert!(matches!(error, AwsError::NotFound { .. }), "{error:?}");
}

#[tokio::test]
async fn event_source_mappings_are_created_listed_moved_resized_and_deleted() {
    let (client, api) = api().await;
    let name = function_with_two_versions(&client, &api, "sdk-esm").await;
    let live = api
        .call(&CreateAlias {
            function: name.to_owned(),
            name: "live".to_owned(),
            version: "1".to_owned(),
            description: String::new(),
        })
        .await
        .expect("CreateAlias live");
    let next = api
        .call(&CreateAlias {
            function: name.to_owned(),
            name: "next".to_owned(),
            version: "2".to_owned(),
            description: String::new(),
        })
        .await
        .expect("CreateAlias next");
    let queue_arn = support::create_sqs_queue(&support::unique_name("sdk-queue"));
    // AWS reports the alias ARN a mapping invokes; moto reports the version behind it.
    let invokes = |arn: &str, alias_arn: &str, version: u64| {
        let version_arn =
            format!("{}:{version}", alias_arn.rsplit_once(':').map(|(f, _)| f).unwrap_or_default());
        arn == alias_arn || arn == version_arn
    };

    assert!(api.list(ListMappings::of_function(&live.alias_arn)).await.expect("list").is_empty());
    let created = api
        .call(&CreateMapping {
            function_arn: live.alias_arn.clone(),
            event_source_arn: queue_arn.clone(),
            batch_size: Some(5),
            enabled: false,
            starting_position: None,
        })
        .await
        .expect("CreateEventSourceMapping");
    assert!(!created.uuid.is_empty());
    assert!(invokes(&created.function_arn, &live.alias_arn, 1), "{created:?}");
    assert_eq!((created.event_source_arn.as_str(), created.batch_size), (queue_arn.as_str(), Some(5)));
    assert!(!created.enabled, "{created:?}");

    let listed = api.list(ListMappings::of_function(&live.alias_arn)).await.expect("ListEventSourceMappings");
    assert_eq!(listed.iter().map(|m| m.uuid.as_str()).collect::<Vec<_>>(), [created.uuid.as_str()]);
    assert_eq!(listed[0].batch_size, Some(5));
    assert!(!listed[0].enabled);
    // Listed by its event source (the drift check's one call for every alias of a set).
    let by_source =
        api.list(ListMappings::of_source(&queue_arn)).await.expect("ListEventSourceMappings by source");
    assert_eq!(by_source.iter().map(|m| m.uuid.as_str()).collect::<Vec<_>>(), [created.uuid.as_str()]);
    assert!(api.list(ListMappings::of_source(&format!("{queue_arn}-other"))).await.expect("list").is_empty());

    let moved = api
        .call(&UpdateMapping {
            uuid: created.uuid.clone(),
            function_arn: Some(next.alias_arn.clone()),
            batch_size: Some(8),
            enabled: Some(true),
        })
        .await
        .expect("UpdateEventSourceMapping");
    assert_eq!(moved.uuid, created.uuid);
    assert!(invokes(&moved.function_arn, &next.alias_arn, 2), "moved to next: {moved:?}");
    assert_eq!(moved.batch_size, Some(8));
    assert!(moved.enabled, "{moved:?}");

    let resized = api
        .call(&UpdateMapping {
            uuid: created.uuid.clone(),
            function_arn: None,
            batch_size: Some(3),
            enabled: None,
        })
        .await
        .expect("UpdateEventSourceMapping batch size only");
    assert_eq!(resized.batch_size, Some(3));
    assert!(invokes(&resized.function_arn, &next.alias_arn, 2), "still on next: {resized:?}");

    api.call(&DeleteMapping { uuid: created.uuid.to_owned() }).await.expect("DeleteEventSourceMapping");
    // AWS keeps listing a mapping as Deleting for a while; moto forgets it at once.
    for alias in [&live, &next] {
        let left = api.list(ListMappings::of_function(&alias.alias_arn)).await.expect("list after delete");
        assert!(left.iter().all(|m| m.uuid != created.uuid || m.state == "Deleting"), "{left:?}");
    }
    // (Deleting or updating it again is a 404 on AWS; moto answers 200 with an empty body.)

    let error = api
        .call(&CreateMapping {
            function_arn: live.alias_arn.clone(),
            event_source_arn: queue_arn,
            batch_size: None,
            enabled: true,
            starting_position: Some("AT_TIMESTAMP".into()),
        })
        .await
        .expect_err("unsupported starting position");
    assert!(matches!(error, AwsError::Invalid { .. }), "{error:?}");
}

#[tokio::test]
async fn delete_version_removes_only_that_version() {
    let (client, api) = api().await;
    let name = function_with_two_versions(&client, &api, "sdk-delver").await;
    api.call(&DeleteVersion { function: name.to_owned(), version: 1 })
        .await
        .expect("DeleteFunction qualifier 1");
    let versions: Vec<u64> =
        api.list(ListVersions::new(&name)).await.expect("list").iter().map(|v| v.version).collect();
    assert_eq!(versions, [2]);
    api.call(&GetFunction { function: name.to_owned() }).await.expect("the function itself remains");

    let error = api
        .call(&DeleteVersion { function: name.to_owned(), version: 1 })
        .await
        .expect_err("already deleted");
    assert!(matches!(error, AwsError::NotFound { .. }), "{error:?}");
}

#[tokio::test]
async fn assumed_role_credentials_from_sdk_config_for_reach_lambda() {
    let (client, _) = api().await;
    let name = support::unique_name("sdk-assume");
    let created = support::create_function(&client, &name, "assume").await;
    let account =
        created.function_arn().and_then(|arn| arn.split(':').nth(4)).expect("account in ARN").to_owned();
    let settings = support::aws_settings();

    let role = format!("arn:aws:iam::{account}:role/lac-target");
    let config = sdk_config_for(&settings, Some(support::REGION), Some(&role), Some("external-123")).await;
    assert_eq!(config.region().map(AsRef::as_ref), Some(support::REGION));
    let assumed = SdkLambda::from_config(&config);
    let info = assumed
        .call(&GetFunction { function: name.to_owned() })
        .await
        .expect("GetFunction with assumed credentials");
    assert_eq!(Some(info.function_arn.as_str()), created.function_arn());

    // moto files calls under the account of the credentials' role: a role in another account
    // sees that account's (empty) Lambda, which shows the assumed credentials are the ones used.
    let other = "arn:aws:iam::111122223333:role/lac-target";
    let config = sdk_config_for(&settings, None, Some(other), None).await;
    let error = SdkLambda::from_config(&config)
        .call(&GetFunction { function: name.to_owned() })
        .await
        .expect_err("other account");
    assert!(matches!(error, AwsError::NotFound { .. }), "{error:?}");
}

#[tokio::test]
async fn unusable_credentials_are_access_denied_not_unavailable() {
    // Credentials from a profile that exists nowhere: refused before anything is sent.
    let missing = aws_config::profile::ProfileFileCredentialsProvider::builder()
        .profile_name(support::unique_name("lac-no-such-profile"))
        .build();
    let config = aws_sdk_lambda::config::Builder::from(&sdk_config(&support::aws_settings()).await)
        .credentials_provider(missing)
        .build();
    let cloudwatch = aws_sdk_cloudwatch::Client::new(&sdk_config(&support::aws_settings()).await);
    let api = SdkLambda::new(aws_sdk_lambda::Client::from_conf(config), cloudwatch);
    let error = api.call(&GetFunction { function: "anything".to_owned() }).await.expect_err("no credentials");
    assert!(matches!(error, AwsError::AccessDenied { .. }), "{error:?}");
}

// ----- pagination against a stub that pages (moto returns everything at once) -----

/// Serves canned Lambda list responses on loopback: three pages per listing, chained by
/// `NextMarker` m2 -> m3 -> end. Records every request line. Lives until the process exits.
fn paging_stub() -> (String, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind stub");
    let url = format!("http://{}", listener.local_addr().expect("stub address"));
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&seen);
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(&stream);
            let mut request_line = String::new();
            if reader.read_line(&mut request_line).is_err() {
                continue;
            }
            // Skip the headers: list calls are GETs without a body.
            let mut line = String::new();
            while reader.read_line(&mut line).map(|n| n > 0 && line != "\r\n").unwrap_or(false) {
                line.clear();
            }
            let target = request_line.split_whitespace().nth(1).unwrap_or_default().to_owned();
            log.lock().expect("stub log").push(target.clone());
            let body = stub_page(&target);
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    (url, seen)
}

fn stub_page(target: &str) -> String {
    let (page, next) = if target.contains("Marker=m3") {
        (3, String::new())
    } else if target.contains("Marker=m2") {
        (2, r#","NextMarker":"m3""#.to_owned())
    } else {
        (1, r#","NextMarker":"m2""#.to_owned())
    };
    let arn = "arn:aws:lambda:us-east-1:123456789012:function:paged";
    if target.contains("/versions") {
        // $LATEST comes first on page 1, as AWS lists it.
        let latest = if page == 1 {
            format!(r#"{{"Version":"$LATEST","FunctionArn":"{arn}:$LATEST","CodeSha256":"latest"}},"#)
        } else {
            String::new()
        };
        format!(
            r#"{{"Versions":[{latest}{{"Version":"{page}","FunctionArn":"{arn}:{page}","CodeSha256":"h{page}","Description":"d{page}"}}]{next}}}"#
        )
    } else if target.contains("/aliases") {
        format!(
            r#"{{"Aliases":[{{"Name":"a{page}","AliasArn":"{arn}:a{page}","FunctionVersion":"{page}","Description":"","RevisionId":"r{page}"}}]{next}}}"#
        )
    } else {
        format!(
            r#"{{"EventSourceMappings":[{{"UUID":"u{page}","FunctionArn":"{arn}:live","EventSourceArn":"arn:aws:sqs:us-east-1:123456789012:q","BatchSize":{page},"State":"Enabled"}}]{next}}}"#
        )
    }
}

#[tokio::test]
async fn list_calls_follow_next_marker_until_exhausted() {
    let (url, seen) = paging_stub();
    let settings = AwsSettings {
        region: Some("us-east-1".into()),
        endpoint_url: Some(url),
        profile: None,
        session_name: None,
    };
    let config = aws_sdk_lambda::config::Builder::from(&sdk_config(&settings).await)
        .credentials_provider(aws_sdk_lambda::config::Credentials::new("stub", "stub", None, None, "stub"))
        .build();
    let cloudwatch = aws_sdk_cloudwatch::Client::new(&sdk_config(&support::aws_settings()).await);
    let api = SdkLambda::new(aws_sdk_lambda::Client::from_conf(config), cloudwatch);

    let versions = api.list(ListVersions::new("paged")).await.expect("ListVersionsByFunction");
    let versions: Vec<(u64, &str)> = versions.iter().map(|v| (v.version, v.code_sha256.as_str())).collect();
    assert_eq!(versions, [(1, "h1"), (2, "h2"), (3, "h3")], "all pages, without {LATEST}");

    let aliases: Vec<String> =
        api.list(ListAliases::new("paged")).await.expect("ListAliases").into_iter().map(|a| a.name).collect();
    assert_eq!(aliases, ["a1", "a2", "a3"]);

    let qualified = "arn:aws:lambda:us-east-1:123456789012:function:paged:live";
    let mappings = api.list(ListMappings::of_function(qualified)).await.expect("ListEventSourceMappings");
    let mappings: Vec<(&str, Option<u32>)> =
        mappings.iter().map(|m| (m.uuid.as_str(), m.batch_size)).collect();
    assert_eq!(mappings, [("u1", Some(1)), ("u2", Some(2)), ("u3", Some(3))]);

    let seen = seen.lock().expect("stub log").clone();
    assert_eq!(seen.len(), 9, "three pages per listing: {seen:#?}");
    let mapping_requests: Vec<&String> =
        seen.iter().filter(|t| t.contains("event-source-mappings")).collect();
    assert_eq!(mapping_requests.len(), 3, "{seen:#?}");
    for request in mapping_requests {
        assert!(
            request.contains("FunctionName=arn%3Aaws%3Alambda"),
            "filters by the qualified ARN: {request}"
        );
    }
}

// ----- spec.rollout: weighted routing and CloudWatch's two reads, against moto -----

#[tokio::test]
async fn a_step_writes_one_weight_and_aws_routing_rules_are_refused_with_aws_texts() {
    let (client, api) = api().await;
    let name = function_with_two_versions(&client, &api, "sdk-weights").await;
    let live = api
        .call(&CreateAlias {
            function: name.to_owned(),
            name: "live".to_owned(),
            version: "1".to_owned(),
            description: String::new(),
        })
        .await
        .expect("CreateAlias");
    let update = |version: &str, routing: Option<(&str, f64)>| UpdateAlias {
        function: name.to_owned(),
        name: "live".to_owned(),
        version: version.to_owned(),
        description: "step".to_owned(),
        revision_id: None,
        routing: routing.map(|(v, w)| (v.to_owned(), w)),
    };
    let step = api.call(&update("1", Some(("2", 0.1)))).await.expect("a step");
    assert_eq!((step.function_version.as_str(), step.routing.get("2")), ("1", Some(&0.1)));
    // (moto does not move an alias's RevisionId; the faithful fake does, src/aws/fake.)
    let _ = live;

    let refused = |e: AwsError| match e {
        AwsError::Invalid { message, .. } => message,
        other => panic!("expected InvalidParameterValueException, got {other:?}"),
    };
    let same = refused(api.call(&update("2", Some(("2", 0.1)))).await.expect_err("same version"));
    assert!(same.contains("Function version 2 is already included in routing configuration"), "{same}");
    let latest = refused(api.call(&update(LATEST, Some(("2", 0.1)))).await.expect_err("$LATEST primary"));
    assert!(
        latest.contains("$LATEST is not supported for an alias pointing to more than 1 version"),
        "{latest}"
    );
    let heavy = refused(api.call(&update("1", Some(("2", 1.5)))).await.expect_err("weight above 1"));
    assert!(heavy.contains("between 0.0 and 1.0"), "{heavy}");
    let missing = api.call(&update("1", Some(("9", 0.1)))).await.expect_err("no version 9");
    assert!(matches!(missing, AwsError::NotFound { .. }), "{missing:?}");
    // Two weighted versions, written by hand: refused too.
    let two = client
        .update_alias()
        .function_name(&name)
        .name("live")
        .routing_config(
            aws_sdk_lambda::types::AliasRoutingConfiguration::builder()
                .additional_version_weights("2", 0.1)
                .additional_version_weights("3", 0.1)
                .build(),
        )
        .send()
        .await
        .expect_err("two weights");
    assert!(format!("{:?}", two).contains("cannot be greater than 1"), "{two:?}");

    // The refused writes changed nothing; clearing the weights is the move's last write.
    let listed = api.list(ListAliases::new(&name)).await.expect("ListAliases");
    let now = listed.iter().find(|a| a.name == "live").expect("live");
    assert_eq!((now.function_version.as_str(), now.routing.get("2")), ("1", Some(&0.1)));
    let done = api.call(&update("2", None)).await.expect("the new version alone");
    assert_eq!((done.function_version.as_str(), done.routing.is_empty()), ("2", true));
}

#[tokio::test]
async fn alarms_and_error_counts_are_read_from_cloudwatch() {
    use lambda_alias_controller::aws::{DescribeAlarms, ErrorQuery, GetMetricData};
    use lambda_alias_controller::plan::AlarmState;
    let (_, api) = api().await;
    let alarm = support::unique_name("lac-alarm");
    let function = support::unique_name("lac-metrics");
    support::put_alarm(&alarm, &function, "ALARM");
    let missing = support::unique_name("lac-no-alarm");
    let found =
        api.call(&DescribeAlarms { names: vec![alarm.clone(), missing] }).await.expect("DescribeAlarms");
    assert_eq!(found.len(), 1, "an alarm that does not exist is not answered: {found:?}");
    assert_eq!((found[0].name.as_str(), found[0].state), (alarm.as_str(), AlarmState::Alarm));
    support::set_alarm_state(&alarm, "OK");
    let found = api.call(&DescribeAlarms { names: vec![alarm.clone()] }).await.expect("DescribeAlarms");
    assert_eq!(found[0].state, AlarmState::Ok);

    // Lambda's metrics of one version on one alias, as Lambda publishes them.
    let now =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_secs() as i64;
    support::put_invocations(&function, "PROD1", "4", now, 40.0, 3.0);
    let queries = vec![
        ErrorQuery { alias: "PROD1".into(), version: 4 },
        ErrorQuery { alias: "PROD1".into(), version: 5 },
    ];
    let counts = api
        .call(&GetMetricData { function_name: function, queries, since: now - 60, until: now })
        .await
        .expect("GetMetricData");
    assert_eq!(counts.len(), 2);
    assert_eq!((counts[0].invocations, counts[0].errors, counts[0].since), (40.0, 3.0, now - 60));
    assert_eq!((counts[1].invocations, counts[1].errors), (0.0, 0.0), "another version's metrics are apart");
}

#[tokio::test]
async fn provisioned_concurrency_is_put_listed_ready_and_deleted_with_awss_rules() {
    use lambda_alias_controller::plan::WarmStatus;
    let (client, api) = api().await;
    let name = function_with_two_versions(&client, &api, "sdk-warm").await;
    support::moto_warm_control(&serde_json::json!({"FunctionName": name, "ReadySeconds": 1.0}));
    let put = api.call(&PutWarm { function: name.clone(), version: 1, count: 3 }).await.expect("put");
    assert_eq!((put.qualifier.as_str(), put.requested, put.status), ("1", 3, WarmStatus::InProgress));
    // READY once moto's delay is over (polled: nothing here asserts on durations).
    let mut ready = None;
    for _ in 0..100 {
        let listed = api.list(ListWarm::new(&name)).await.expect("list");
        if listed.iter().any(|c| c.status == WarmStatus::Ready) {
            ready = Some(listed);
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let listed = ready.expect("the config became READY");
    assert_eq!(listed.len(), 1);
    assert_eq!((listed[0].qualifier.as_str(), listed[0].allocated, listed[0].available), ("1", 3, 3));

    // A version whose init fails reports FAILED with Lambda's reason.
    support::moto_warm_control(&serde_json::json!({"FunctionName": name, "Qualifier": "2", "Fail": true}));
    api.call(&PutWarm { function: name.clone(), version: 2, count: 1 }).await.expect("put 2");
    let mut failed = None;
    for _ in 0..100 {
        let listed = api.list(ListWarm::new(&name)).await.expect("list");
        if let Some(c) = listed.into_iter().find(|c| c.qualifier == "2" && c.status == WarmStatus::Failed) {
            failed = Some(c);
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(failed.expect("FAILED").reason.as_deref(), Some("FUNCTION_ERROR_INIT_FAILURE"));

    // AWS's rules, mapped: $LATEST is refused as invalid, a version under an alias config conflicts.
    client
        .create_alias()
        .function_name(&name)
        .name("LIVE")
        .function_version("1")
        .send()
        .await
        .expect("alias");
    let refused = client
        .put_provisioned_concurrency_config()
        .function_name(&name)
        .qualifier("LIVE")
        .provisioned_concurrent_executions(1)
        .send()
        .await;
    assert!(refused.is_err(), "an alias on a version with a config of its own is refused");
    api.call(&DeleteWarm { function: name.clone(), version: 1 }).await.expect("delete 1");
    api.call(&DeleteWarm { function: name.clone(), version: 1 }).await.expect("delete again is not an error");
    client
        .put_provisioned_concurrency_config()
        .function_name(&name)
        .qualifier("LIVE")
        .provisioned_concurrent_executions(1)
        .send()
        .await
        .expect("an alias config");
    match api.call(&PutWarm { function: name.clone(), version: 1, count: 1 }).await {
        Err(AwsError::Conflict { message, .. }) => {
            assert!(message.ends_with("Version is pointed by a Provisioned Concurrency alias"), "{message}")
        }
        other => panic!("expected a conflict, got {other:?}"),
    }
    let remaining: Vec<String> =
        api.list(ListWarm::new(&name)).await.expect("list").into_iter().map(|c| c.qualifier).collect();
    assert_eq!(remaining, ["2", "LIVE"]);
}
