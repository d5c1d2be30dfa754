//! Lambda's resource-based policy documents (GetPolicy's `Policy` JSON) read into statements in
//! the shape AddPermission takes.

use serde_json::Value;

use crate::plan::Statement;

/// Parses a Lambda resource-based policy into statements in the shape `AddPermission` takes.
/// Lenient by design: a statement in a shape we do not know keeps its Sid and whatever could be
/// read, so one odd statement never hides the others. Statements without a Sid are skipped:
/// nothing could address them (RemovePermission takes a Sid).
pub fn parse_policy(text: &str) -> Result<Vec<Statement>, serde_json::Error> {
    let doc: Value = serde_json::from_str(text)?;
    let statements = match doc.get("Statement") {
        Some(Value::Array(items)) => items.iter().collect(),
        // The policy grammar also allows a single statement object.
        Some(item @ Value::Object(_)) => vec![item],
        _ => Vec::new(),
    };
    Ok(statements.into_iter().filter_map(parse_statement).collect())
}

fn parse_statement(value: &Value) -> Option<Statement> {
    let sid = value.get("Sid")?.as_str()?.to_owned();
    let mut statement = Statement {
        sid,
        principal: value.get("Principal").and_then(principal).unwrap_or_default(),
        action: value.get("Action").and_then(single_string).unwrap_or_default(),
        ..Statement::default()
    };
    if let Some(Value::Object(conditions)) = value.get("Condition") {
        for (operator, block) in conditions {
            let Value::Object(block) = block else { continue };
            for (key, value) in block {
                let Some(value) = single_string(value) else { continue };
                // Condition keys are case-insensitive in IAM; operators are not.
                match (operator.as_str(), key.to_ascii_lowercase().as_str()) {
                    ("ArnLike" | "ArnEquals", "aws:sourcearn") => statement.source_arn = Some(value),
                    ("StringEquals", "aws:sourceaccount") => statement.source_account = Some(value),
                    ("StringEquals", "lambda:eventsourcetoken") => statement.event_source_token = Some(value),
                    _ => {}
                }
            }
        }
    }
    Some(statement)
}

/// The principal as `AddPermission` takes it: a service name, an account id, or `*`.
fn principal(value: &Value) -> Option<String> {
    match value {
        // `"*"`, or (moto) the principal exactly as it was added.
        Value::String(s) => Some(account_or_arn(s)),
        Value::Object(map) => map
            .get("Service")
            .and_then(single_string)
            .or_else(|| map.get("AWS").and_then(single_string).map(|aws| account_or_arn(&aws))),
        _ => None,
    }
}

/// `arn:<partition>:iam::<account>:root` is how AWS writes an account principal; AddPermission
/// takes the bare account id. Anything else (a role ARN, `*`) is kept as written.
fn account_or_arn(principal: &str) -> String {
    match principal.split(':').collect::<Vec<_>>().as_slice() {
        ["arn", _partition, "iam", "", account, "root"] if !account.is_empty() => (*account).to_owned(),
        _ => principal.to_owned(),
    }
}

/// A string, or a list holding exactly one string (the policy grammar allows both).
fn single_string(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Array(items) => match items.as_slice() {
            [Value::String(s)] => Some(s.clone()),
            _ => None,
        },
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // ----- policy parser: samples as AWS returns them from GetPolicy -----

    const ALEXA: &str = r#"{"Version":"2012-10-17","Id":"default","Statement":[{"Sid":"alexa-skill","Effect":"Allow","Principal":{"Service":"alexa-appkit.amazon.com"},"Action":"lambda:InvokeFunction","Resource":"arn:aws:lambda:eu-west-1:123456789012:function:skill:live","Condition":{"StringEquals":{"lambda:EventSourceToken":"amzn1.ask.skill.0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"}}}]}"#;

    const S3: &str = r#"{"Version":"2012-10-17","Id":"default","Statement":[{"Sid":"s3-invoke","Effect":"Allow","Principal":{"Service":"s3.amazonaws.com"},"Action":"lambda:InvokeFunction","Resource":"arn:aws:lambda:us-east-1:123456789012:function:thumbs:live","Condition":{"StringEquals":{"AWS:SourceAccount":"123456789012"},"ArnLike":{"AWS:SourceArn":"arn:aws:s3:::uploads-bucket"}}}]}"#;

    const API_GATEWAY: &str = r#"{"Version":"2012-10-17","Id":"default","Statement":[{"Sid":"apigw-get-pets","Effect":"Allow","Principal":{"Service":"apigateway.amazonaws.com"},"Action":"lambda:InvokeFunction","Resource":"arn:aws:lambda:us-east-1:123456789012:function:pets:live","Condition":{"ArnLike":{"AWS:SourceArn":"arn:aws:execute-api:us-east-1:123456789012:a1b2c3d4e5/*/GET/pets"}}}]}"#;

    fn only(text: &str) -> Statement {
        let mut statements = parse_policy(text).expect("valid policy");
        assert_eq!(statements.len(), 1, "{statements:?}");
        statements.remove(0)
    }

    #[test]
    fn parses_alexa_statement_with_event_source_token() {
        assert_eq!(
            only(ALEXA),
            Statement {
                sid: "alexa-skill".into(),
                principal: "alexa-appkit.amazon.com".into(),
                action: "lambda:InvokeFunction".into(),
                source_arn: None,
                source_account: None,
                event_source_token: Some("amzn1.ask.skill.0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0".into()),
            }
        );
    }

    #[test]
    fn parses_s3_statement_with_source_account_and_arn() {
        assert_eq!(
            only(S3),
            Statement {
                sid: "s3-invoke".into(),
                principal: "s3.amazonaws.com".into(),
                action: "lambda:InvokeFunction".into(),
                source_arn: Some("arn:aws:s3:::uploads-bucket".into()),
                source_account: Some("123456789012".into()),
                event_source_token: None,
            }
        );
    }

    #[test]
    fn parses_api_gateway_statement() {
        assert_eq!(
            only(API_GATEWAY),
            Statement {
                sid: "apigw-get-pets".into(),
                principal: "apigateway.amazonaws.com".into(),
                action: "lambda:InvokeFunction".into(),
                source_arn: Some("arn:aws:execute-api:us-east-1:123456789012:a1b2c3d4e5/*/GET/pets".into()),
                ..Statement::default()
            }
        );
    }

    #[test]
    fn maps_account_and_wildcard_principals_to_add_permission_form() {
        let text = r#"{"Version":"2012-10-17","Id":"default","Statement":[
            {"Sid":"cross-account","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::210987654321:root"},"Action":"lambda:InvokeFunction","Resource":"arn:aws:lambda:us-east-1:123456789012:function:f"},
            {"Sid":"bare-account","Effect":"Allow","Principal":{"AWS":"210987654321"},"Action":["lambda:InvokeFunction"],"Resource":"arn:aws:lambda:us-east-1:123456789012:function:f"},
            {"Sid":"gov-account","Effect":"Allow","Principal":{"AWS":"arn:aws-us-gov:iam::210987654321:root"},"Action":"lambda:InvokeFunction","Resource":"r"},
            {"Sid":"role","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::210987654321:role/caller"},"Action":"lambda:InvokeFunction","Resource":"r"},
            {"Sid":"url","Effect":"Allow","Principal":"*","Action":"lambda:InvokeFunctionUrl","Resource":"r","Condition":{"StringEquals":{"lambda:FunctionUrlAuthType":"NONE"}}},
            {"Sid":"moto-style","Effect":"Allow","Principal":"alexa-appkit.amazon.com","Action":"lambda:InvokeFunction","Resource":"r"}
        ]}"#;
        let principals: Vec<(String, String, String)> = parse_policy(text)
            .expect("valid policy")
            .into_iter()
            .map(|s| (s.sid, s.principal, s.action))
            .collect();
        let expected = [
            ("cross-account", "210987654321", "lambda:InvokeFunction"),
            ("bare-account", "210987654321", "lambda:InvokeFunction"),
            ("gov-account", "210987654321", "lambda:InvokeFunction"),
            ("role", "arn:aws:iam::210987654321:role/caller", "lambda:InvokeFunction"),
            ("url", "*", "lambda:InvokeFunctionUrl"),
            ("moto-style", "alexa-appkit.amazon.com", "lambda:InvokeFunction"),
        ]
        .map(|(a, b, c)| (a.to_owned(), b.to_owned(), c.to_owned()));
        assert_eq!(principals, expected);
    }

    #[test]
    fn unknown_shapes_keep_the_sid_and_what_could_be_read() {
        let text = r#"{"Version":"2012-10-17","Statement":[
            {"Sid":"weird","Effect":"Allow","Principal":{"Federated":"cognito-identity.amazonaws.com"},"Action":["lambda:InvokeFunction","lambda:GetFunction"],"Condition":{"ArnLike":{"AWS:SourceArn":["arn:a","arn:b"]},"StringEquals":{"aws:sourceaccount":"123456789012"},"Bool":"nonsense"}},
            {"Sid":"no-principal","Effect":"Allow","Action":"lambda:InvokeFunction","Condition":[]},
            {"Effect":"Allow","Principal":"*","Action":"lambda:InvokeFunction"},
            {"Sid":42},
            "not a statement"
        ]}"#;
        let statements = parse_policy(text).expect("valid JSON");
        assert_eq!(
            statements,
            vec![
                Statement {
                    sid: "weird".into(),
                    source_account: Some("123456789012".into()),
                    ..Statement::default()
                },
                Statement {
                    sid: "no-principal".into(),
                    action: "lambda:InvokeFunction".into(),
                    ..Statement::default()
                },
            ]
        );
    }

    #[test]
    fn single_statement_object_and_empty_policies_parse() {
        let one = r#"{"Version":"2012-10-17","Statement":{"Sid":"solo","Principal":"*","Action":"lambda:InvokeFunction"}}"#;
        assert_eq!(parse_policy(one).expect("valid").len(), 1);
        assert!(parse_policy(r#"{"Version":"2012-10-17"}"#).expect("valid").is_empty());
        assert!(parse_policy("not json").is_err());
    }
}
