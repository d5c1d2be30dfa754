//! What one queue message says (pure): a CloudTrail "AWS API Call via CloudTrail" event for
//! Lambda, as EventBridge delivers it to SQS (README "Drift events"), reduced to what the feed
//! acts on: which function, which call, who made it, when.

use serde_json::Value;

/// The calls that can change what a set owns, by their name without CloudTrail's API version
/// suffix (`UpdateAlias20150331`, `AddPermission20150331v2`). The rule's event pattern in
/// `deploy/drift-events/event-pattern.json` matches exactly these prefixes (a test holds them
/// equal).
pub const EVENT_NAMES: [&str; 14] = [
    "UpdateAlias",
    "CreateAlias",
    "DeleteAlias",
    "PublishVersion",
    "AddPermission",
    "RemovePermission",
    "UpdateFunctionCode",
    "UpdateFunctionConfiguration",
    "CreateEventSourceMapping",
    "UpdateEventSourceMapping",
    "DeleteEventSourceMapping",
    "PutProvisionedConcurrencyConfig",
    "DeleteProvisionedConcurrencyConfig",
    "DeleteFunction",
];

/// The function an event names: its name, and the account and region when the event says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FunctionRef {
    pub name: String,
    pub account: Option<String>,
    pub region: Option<String>,
}

/// One event about a call that may have changed a set's function.
#[derive(Clone, Debug, PartialEq)]
pub struct DriftEvent {
    /// EventBridge's event id (else CloudTrail's `eventID`): what a duplicate repeats.
    pub id: String,
    /// `detail.eventTime` (else the envelope's `time`), unix seconds: when the call was made.
    pub time: Option<i64>,
    /// The call, suffix-free (one of [`EVENT_NAMES`]).
    pub name: &'static str,
    pub function: FunctionRef,
    /// `detail.userIdentity.arn`: who made the call.
    pub caller: Option<String>,
}

/// What a message is.
#[derive(Clone, Debug, PartialEq)]
pub enum Message {
    /// An event the feed acts on.
    Event(Box<DriftEvent>),
    /// Well-formed, but nothing a set owns can have changed: a call this controller does not
    /// act on (a broader rule), or one that failed (`errorCode`). Why, for the log.
    Ignored(String),
    /// Not an event at all, or one without the fields it needs. Why, for the log.
    Malformed(String),
}

/// Reads one message body: the EventBridge event itself, or an SNS notification carrying it
/// (a rule that targets a topic the queue subscribes to, without raw message delivery).
pub fn parse(body: &str) -> Message {
    let value: Value = match serde_json::from_str(body) {
        Ok(v) => v,
        Err(e) => return Message::Malformed(format!("not JSON: {e}")),
    };
    let value = match (&value["Type"], &value["Message"]) {
        (Value::String(t), Value::String(inner)) if t == "Notification" => {
            match serde_json::from_str(inner) {
                Ok(v) => v,
                Err(e) => {
                    return Message::Malformed(format!("an SNS notification whose Message is not JSON: {e}"));
                }
            }
        }
        _ => value,
    };
    from_event(&value)
}

fn text<'a>(value: &'a Value, field: &str) -> Option<&'a str> {
    value.get(field).and_then(Value::as_str).filter(|s| !s.is_empty())
}

fn from_event(event: &Value) -> Message {
    let Some(detail) = event.get("detail").filter(|d| d.is_object()) else {
        return Message::Malformed("no detail object: not an EventBridge event".into());
    };
    let source = text(event, "source");
    let kind = text(event, "detail-type");
    if source != Some("aws.lambda") || kind != Some("AWS API Call via CloudTrail") {
        return Message::Ignored(format!(
            "source {:?}, detail-type {:?}: not a CloudTrail record of a Lambda call",
            source.unwrap_or(""),
            kind.unwrap_or("")
        ));
    }
    let Some(raw_name) = text(detail, "eventName") else {
        return Message::Malformed("no detail.eventName".into());
    };
    let Some(name) = known_name(raw_name) else {
        return Message::Ignored(format!("{raw_name}: not a call that changes what a set owns"));
    };
    if let Some(code) = text(detail, "errorCode") {
        return Message::Ignored(format!("{raw_name} failed ({code}): nothing changed"));
    }
    let Some(id) = text(event, "id").or_else(|| text(detail, "eventID")) else {
        return Message::Malformed(format!("{raw_name}: no id and no detail.eventID"));
    };
    let named = detail
        .get("requestParameters")
        .and_then(|p| text(p, "functionName"))
        .or_else(|| detail.get("responseElements").and_then(|r| text(r, "functionArn")));
    let Some(named) = named else {
        return Message::Malformed(format!(
            "{raw_name}: neither detail.requestParameters.functionName nor detail.responseElements.functionArn"
        ));
    };
    let Some(mut function) = function_ref(named) else {
        return Message::Malformed(format!("{raw_name}: {named:?} is not a function name or ARN"));
    };
    if function.account.is_none() {
        function.account =
            text(detail, "recipientAccountId").or_else(|| text(event, "account")).map(str::to_owned);
    }
    if function.region.is_none() {
        function.region = text(event, "region").or_else(|| text(detail, "awsRegion")).map(str::to_owned);
    }
    let time = text(detail, "eventTime").or_else(|| text(event, "time")).and_then(unix_seconds);
    let caller = detail.get("userIdentity").and_then(|u| text(u, "arn")).map(str::to_owned);
    Message::Event(Box::new(DriftEvent { id: id.to_owned(), time, name, function, caller }))
}

/// `UpdateAlias20150331` -> `UpdateAlias`: a known name followed by nothing or by an API
/// version (eight digits, optionally `v` and digits). `DeleteFunctionConcurrency20171031` is not
/// `DeleteFunction`.
pub fn known_name(event_name: &str) -> Option<&'static str> {
    EVENT_NAMES.iter().copied().find(|name| {
        event_name.strip_prefix(name).is_some_and(|rest| {
            let (date, version) = rest.split_at(rest.len().min(8));
            rest.is_empty()
                || (date.len() == 8
                    && date.bytes().all(|b| b.is_ascii_digit())
                    && (version.is_empty()
                        || version
                            .strip_prefix('v')
                            .is_some_and(|v| !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()))))
        })
    })
}

/// A function as the Lambda API accepts it: `NAME`, `NAME:QUALIFIER`, `ACCOUNT:function:NAME`
/// (partial ARN), `arn:PARTITION:lambda:REGION:ACCOUNT:function:NAME`, each ARN optionally
/// qualified. The qualifier is dropped: a set owns the function's aliases.
pub fn function_ref(text: &str) -> Option<FunctionRef> {
    let parts: Vec<&str> = text.split(':').collect();
    let valid = |name: &str| {
        !name.is_empty()
            && name.len() <= 140
            && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    };
    let (name, account, region) = match parts.as_slice() {
        ["arn", _, "lambda", region, account, "function", name]
        | ["arn", _, "lambda", region, account, "function", name, _] => {
            (*name, Some(*account), Some(*region))
        }
        [account, "function", name] | [account, "function", name, _] => (*name, Some(*account), None),
        [name] | [name, _] => (*name, None, None),
        _ => return None,
    };
    let nonempty = |s: Option<&str>| s.filter(|s| !s.is_empty()).map(str::to_owned);
    valid(name).then(|| FunctionRef {
        name: name.to_owned(),
        account: nonempty(account),
        region: nonempty(region),
    })
}

/// RFC 3339 (CloudTrail's `2026-12-07T03:40:00Z`) to unix seconds.
pub fn unix_seconds(text: &str) -> Option<i64> {
    text.parse::<jiff::Timestamp>().ok().map(|t| t.as_second())
}

#[cfg(test)]
pub(crate) mod tests {
    use serde_json::json;

    use super::*;

    pub(crate) fn cloudtrail(event_name: &str, request: Value) -> Value {
        json!({
            "version": "0",
            "id": "7bf73129-1428-4cd3-a780-95db273d1602",
            "detail-type": "AWS API Call via CloudTrail",
            "source": "aws.lambda",
            "account": "111122223333",
            "time": "2026-12-07T03:40:00Z",
            "region": "eu-west-1",
            "resources": [],
            "detail": {
                "eventVersion": "1.09",
                "userIdentity": {"type": "IAMUser", "arn": "arn:aws:iam::111122223333:user/alice"},
                "eventTime": "2026-12-07T03:39:58Z",
                "eventSource": "lambda.amazonaws.com",
                "eventName": event_name,
                "awsRegion": "eu-west-1",
                "requestParameters": request,
                "responseElements": null,
                "eventID": "e0ae6f06-3f4e-4a3b-9c55-7f3b8c2d1a00",
                "readOnly": false,
                "eventType": "AwsApiCall",
                "recipientAccountId": "111122223333"
            }
        })
    }

    fn event(message: Message) -> DriftEvent {
        match message {
            Message::Event(e) => *e,
            other => panic!("expected an event, got {other:?}"),
        }
    }

    /// The rule users deploy sends exactly the events this module reads.
    #[test]
    fn the_deployed_event_pattern_matches_these_names_by_prefix() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/drift-events/event-pattern.json");
        let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
        let pattern: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(pattern["source"], json!(["aws.lambda"]));
        assert_eq!(pattern["detail-type"], json!(["AWS API Call via CloudTrail"]));
        assert_eq!(pattern["detail"]["eventSource"], json!(["lambda.amazonaws.com"]));
        let prefixes: Vec<&str> = pattern["detail"]["eventName"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["prefix"].as_str().expect("a prefix match"))
            .collect();
        assert_eq!(prefixes, EVENT_NAMES);
    }

    #[test]
    fn names_match_without_their_version_suffix_and_only_whole() {
        for name in EVENT_NAMES {
            for suffix in ["", "20150331", "20150331v2", "20170331", "20181031v12"] {
                assert_eq!(known_name(&format!("{name}{suffix}")), Some(name), "{name}{suffix}");
            }
        }
        for other in [
            "GetFunction20150331v2",
            "DeleteFunctionConcurrency20171031",
            "DeleteFunctionUrlConfig20211031",
            "UpdateAliasX",
            "UpdateAlias2015033",
            "UpdateAlias20150331v",
            "UpdateAlias20150331x2",
            "Invoke",
            "",
        ] {
            assert_eq!(known_name(other), None, "{other}");
        }
    }

    #[test]
    fn a_cloudtrail_event_gives_the_function_the_call_the_caller_and_the_time() {
        let body = cloudtrail("UpdateAlias20150331", json!({"functionName": "trivia", "name": "PROD1"}));
        let e = event(parse(&body.to_string()));
        assert_eq!(e.name, "UpdateAlias");
        assert_eq!(e.id, "7bf73129-1428-4cd3-a780-95db273d1602");
        assert_eq!(
            e.function,
            FunctionRef {
                name: "trivia".into(),
                account: Some("111122223333".into()),
                region: Some("eu-west-1".into())
            }
        );
        assert_eq!(e.caller.as_deref(), Some("arn:aws:iam::111122223333:user/alice"));
        assert_eq!(e.time, unix_seconds("2026-12-07T03:39:58Z"));
    }

    #[test]
    fn an_arn_names_its_own_account_and_region() {
        let arn = "arn:aws:lambda:us-east-1:444455556666:function:trivia:PROD2";
        let body = cloudtrail("AddPermission20150331v2", json!({"functionName": arn}));
        let e = event(parse(&body.to_string()));
        assert_eq!(
            e.function,
            FunctionRef {
                name: "trivia".into(),
                account: Some("444455556666".into()),
                region: Some("us-east-1".into())
            }
        );
    }

    #[test]
    fn a_mapping_change_names_its_function_in_the_response() {
        let mut body = cloudtrail("UpdateEventSourceMapping20150331", json!({"uUID": "1234"}));
        body["detail"]["responseElements"] =
            json!({"functionArn": "arn:aws:lambda:eu-west-1:111122223333:function:orders:PROD1"});
        assert_eq!(event(parse(&body.to_string())).function.name, "orders");
    }

    #[test]
    fn an_sns_notification_is_unwrapped() {
        let inner = cloudtrail("DeleteAlias20150331", json!({"functionName": "trivia"})).to_string();
        let body = json!({"Type": "Notification", "MessageId": "m", "Message": inner}).to_string();
        assert_eq!(event(parse(&body)).name, "DeleteAlias");
    }

    #[test]
    fn other_calls_failed_calls_and_other_sources_are_ignored() {
        let read = cloudtrail("GetFunction20150331v2", json!({"functionName": "trivia"}));
        assert!(matches!(parse(&read.to_string()), Message::Ignored(_)));
        let mut failed = cloudtrail("UpdateAlias20150331", json!({"functionName": "trivia"}));
        failed["detail"]["errorCode"] = json!("AccessDenied");
        assert!(matches!(parse(&failed.to_string()), Message::Ignored(m) if m.contains("AccessDenied")));
        let mut s3 = cloudtrail("UpdateAlias20150331", json!({"functionName": "trivia"}));
        s3["source"] = json!("aws.s3");
        assert!(matches!(parse(&s3.to_string()), Message::Ignored(_)));
    }

    #[test]
    fn what_is_not_an_event_is_malformed_and_says_why() {
        for (body, why) in [
            ("not json".to_string(), "not JSON"),
            (json!({"hello": 1}).to_string(), "no detail"),
            (cloudtrail("UpdateAlias20150331", json!({})).to_string(), "functionName"),
            (
                cloudtrail("UpdateAlias20150331", json!({"functionName": "a:b:c:d"})).to_string(),
                "not a function",
            ),
            (json!({"Type": "Notification", "Message": "{"}).to_string(), "SNS"),
        ] {
            match parse(&body) {
                Message::Malformed(m) => assert!(m.contains(why), "{m} should say {why}"),
                other => panic!("{body}: {other:?}"),
            }
        }
        let mut no_id = cloudtrail("UpdateAlias20150331", json!({"functionName": "f"}));
        no_id.as_object_mut().map(|o| o.remove("id"));
        no_id["detail"].as_object_mut().map(|o| o.remove("eventID"));
        assert!(matches!(parse(&no_id.to_string()), Message::Malformed(m) if m.contains("id")));
    }

    #[test]
    fn function_names_partial_arns_and_qualifiers() {
        let f = |name: &str, account: Option<&str>, region: Option<&str>| FunctionRef {
            name: name.into(),
            account: account.map(Into::into),
            region: region.map(Into::into),
        };
        assert_eq!(function_ref("trivia"), Some(f("trivia", None, None)));
        assert_eq!(function_ref("trivia:PROD1"), Some(f("trivia", None, None)));
        assert_eq!(
            function_ref("111122223333:function:trivia"),
            Some(f("trivia", Some("111122223333"), None))
        );
        assert_eq!(
            function_ref("111122223333:function:trivia:7"),
            Some(f("trivia", Some("111122223333"), None))
        );
        assert_eq!(
            function_ref("arn:aws-cn:lambda:cn-north-1:111122223333:function:trivia"),
            Some(f("trivia", Some("111122223333"), Some("cn-north-1")))
        );
        for bad in ["", "a b", "arn:aws:s3:::bucket", "a:b:c", "arn:aws:lambda:r:a:layer:x"] {
            assert_eq!(function_ref(bad), None, "{bad}");
        }
    }
}
