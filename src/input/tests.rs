//! Each malformed form a person's typo produces (README, "Bad input"): refused at its first
//! error, naming the line and column, in bounded time and memory.

use super::*;

fn refusal(text: &str) -> String {
    yaml_documents(text, "bad.yaml").expect_err("refused").to_string()
}

#[test]
fn an_unterminated_flow_sequence_is_refused_once_at_its_position() {
    // The issue's reproduction: serde_yaml's document iterator repeats this error forever.
    assert_eq!(
        refusal("a: [\n"),
        "bad.yaml: not valid YAML at line 2 column 1: did not find expected node content, while parsing a flow node"
    );
    assert!(
        refusal("- : [").starts_with("bad.yaml: not valid YAML at line 1 column 3: "),
        "{}",
        refusal("- : [")
    );
}

#[test]
fn each_syntax_error_form_names_line_and_column() {
    for (text, line) in [
        ("spec:\n\tfunctionName: x\n", 2), // a tab in the indentation
        ("a: &a [*a]\n", 1),               // an alias inside its own anchor
        ("kind: LambdaAliasSet\nspec:\n  triggers: [{name: x\n", 4), // a document cut short
        ("a: b\0c\n", 1),                  // a NUL byte
        ("a: 'unterminated\n", 2),
        ("a: b\n  c: d\n", 2),
        ("a: *nowhere\n", 1), // an alias to no anchor
    ] {
        let message = refusal(text);
        assert!(
            message.starts_with(&format!("bad.yaml: not valid YAML at line {line} column ")),
            "{text:?}: {message}"
        );
    }
}

#[test]
fn a_later_syntax_error_refuses_the_documents_before_it() {
    let text = "a: 1\n---\nb: 2\n---\nc: [\n";
    let message = refusal(text);
    assert!(message.starts_with("bad.yaml: not valid YAML at line 6 column 1: "), "{message}");
    // The same documents without the broken one are read, each with its index.
    let read = yaml_documents("a: 1\n---\n---\nb: 2\n", "good.yaml").unwrap();
    assert_eq!(read, vec![(1, serde_json::json!({"a": 1})), (3, serde_json::json!({"b": 2}))]);
}

#[test]
fn a_bom_and_crlf_line_endings_read_as_plain_yaml() {
    let plain = yaml_documents("kind: LambdaAliasSet\nspec:\n  functionName: f\n", "a.yaml").unwrap();
    let windows =
        yaml_documents("\u{feff}kind: LambdaAliasSet\r\nspec:\r\n  functionName: f\r\n", "a.yaml").unwrap();
    assert_eq!(plain, windows);
}

#[test]
fn duplicate_keys_are_refused_naming_the_key() {
    let message = refusal("spec:\n  functionName: a\n  functionName: b\n");
    assert_eq!(
        message,
        "bad.yaml: not valid YAML at line 2 column 3: spec: the key \"functionName\" appears twice in one mapping"
    );
    // Keys that are equal once read as text are the same key, as the API server sees them.
    assert!(refusal("1: a\n\"1\": b\n").contains("appears twice"));
}

#[test]
fn deep_nesting_stops_at_the_parsers_depth_limit() {
    let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    let message = refusal(&deep);
    assert!(message.contains("nested deeper than 128 levels"), "{message}");
    let deep_block: String = (0..10_000).map(|i| format!("{}- \n", " ".repeat(i % 200))).collect();
    // Whatever the parser makes of it, it ends with an answer.
    let _ = yaml_documents(&deep_block, "bad.yaml");
}

#[test]
fn an_alias_bomb_is_refused_before_it_expands() {
    // Billion laughs: nine aliases a level, nine levels (serde_yaml's jump limit stops it).
    let mut bomb = String::from("a0: &a0 [lol]\n");
    for level in 1..10 {
        let previous = format!("*a{}", level - 1);
        bomb.push_str(&format!("a{level}: &a{level} [{}]\n", vec![previous; 9].join(", ")));
    }
    let message = refusal(&bomb);
    assert!(message.contains("alias bomb") || message.contains("expands to more than"), "{message}");
    // Few jumps of a large list: under the jump limit, stopped by the document's budget.
    let base: String = (0..20_000).map(|i| format!("  - item-{i}\n")).collect();
    let wide = format!("base: &b\n{base}copies: [{}]\n", vec!["*b"; 100].join(", "));
    let message = refusal(&wide);
    assert!(message.contains("expands to more than 4 MiB"), "{message}");
}

#[test]
fn a_ten_megabyte_document_is_refused_by_the_budget_and_a_larger_file_unread() {
    let line = format!("  k{{}}: {}\n", "x".repeat(100));
    let big: String = std::iter::once("data:\n".to_string())
        .chain((0..100_000).map(|i| line.replace("{}", &i.to_string())))
        .collect();
    assert!(big.len() > 10_000_000);
    let message = refusal(&big);
    assert!(message.contains("expands to more than 4 MiB"), "{message}");

    let dir = std::env::temp_dir().join(format!("lac-input-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("huge.yaml");
    std::fs::write(&path, vec![b'#'; (MAX_FILE_BYTES + 1) as usize]).unwrap();
    let message = read_text(&path, "huge.yaml").unwrap_err().to_string();
    assert_eq!(message, "huge.yaml: larger than 16 MiB, the most a file given to this command may hold");
    std::fs::write(&path, b"a: \xff\n").unwrap();
    let message = read_text(&path, "latin1.yaml").unwrap_err().to_string();
    assert_eq!(message, "latin1.yaml: not UTF-8 text (the first bad byte is at offset 3)");
    // An endless source is cut at the bound, not read to its end.
    assert!(read_text(Path::new("/dev/zero"), "/dev/zero").unwrap_err().problem.starts_with("larger than"));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn tags_non_scalar_keys_and_non_finite_numbers_are_refused() {
    assert!(refusal("a: !custom x\n").contains("YAML tag"));
    assert!(refusal("? [a]\n: b\n").contains("a mapping key must be a string"));
    assert!(refusal("a: .nan\n").contains("a number JSON cannot hold"));
    // Scalar keys become their text.
    let read = yaml_documents("1: a\ntrue: b\n", "k.yaml").unwrap();
    assert_eq!(read[0].1, serde_json::json!({"1": "a", "true": "b"}));
}

#[test]
fn one_document_readers_refuse_several() {
    assert_eq!(yaml_document("", "one.yaml").unwrap(), Value::Null);
    assert_eq!(yaml_document("a: 1\n", "one.yaml").unwrap(), serde_json::json!({"a": 1}));
    assert_eq!(
        yaml_document("a: 1\n---\nb: 2\n", "one.yaml").unwrap_err().to_string(),
        "one.yaml: holds 2 YAML documents, expected one"
    );
}

// ---------------------------------------------------------------------------------------------
// The property, for every reader: generated and mutated input ends in bounded time, never a panic
// ---------------------------------------------------------------------------------------------

mod properties {
    use std::time::Duration;

    use proptest::prelude::*;

    /// A hang detector, not a speed check: each case takes microseconds.
    const DEADLINE: Duration = Duration::from_secs(20);

    /// Runs `read` on another thread and fails the case when it does not answer within
    /// [`DEADLINE`] (the thread is left behind; the test then fails).
    fn ends_in_time(input: String, read: fn(&str) -> bool) -> Result<bool, TestCaseError> {
        let (tx, rx) = std::sync::mpsc::channel();
        let shown: String = input.chars().take(200).collect();
        std::thread::spawn(move || {
            let _ = tx.send(std::panic::catch_unwind(|| read(&input)));
        });
        match rx.recv_timeout(DEADLINE) {
            Ok(Ok(accepted)) => Ok(accepted),
            Ok(Err(_)) => Err(TestCaseError::fail(format!("panicked on {shown:?}"))),
            Err(_) => Err(TestCaseError::fail(format!("no answer within {DEADLINE:?} on {shown:?}"))),
        }
    }

    /// A sample with up to four edits (`super::super::mutate`).
    fn mutated(samples: &'static [&'static str]) -> impl Strategy<Value = String> {
        (proptest::sample::select(samples.to_vec()), super::super::mutate::edits(0..5))
            .prop_map(|(sample, edits)| super::super::mutate::apply(sample, &edits))
    }

    /// Anything: mutated samples, arbitrary text, and deep nesting of either bracket.
    fn inputs(samples: &'static [&'static str]) -> impl Strategy<Value = String> {
        prop_oneof![
            6 => mutated(samples),
            2 => ".{0,400}",
            1 => (1..12_000usize, any::<bool>()).prop_map(|(depth, flow)| if flow {
                format!("{}{}", "[".repeat(depth), "]".repeat(depth))
            } else {
                format!("{}1{}", "{\"a\":".repeat(depth), "}".repeat(depth))
            }),
        ]
    }

    const MANIFESTS: &[&str] = &[
        "apiVersion: lambda.aliasset.dev/v1alpha1\nkind: LambdaAliasSet\nmetadata: {name: a, namespace: b}\n\
         spec:\n  functionName: f\n  aliases: [PROD1, PROD2]\n  triggers:\n    - name: alexa\n      \
         alexaSkill: {skillId: amzn1.ask.skill.x}\n---\nkind: Other\n",
        "team-a:\n  lambda.aliasset.dev/allowed-functions: \"arn:aws:lambda:*:*:function:a-*\"\n",
        "clientId: a\nclientSecret: b\nrefreshToken: c\n",
    ];

    const MANIFEST_JSON: &str = r#"{"manifest":{"apis":{"custom":{"endpoint":{"uri":"arn:aws:lambda:eu-west-1:111122223333:function:f:PROD1"},"regions":{"NA":{"endpoint":{"uri":"arn:aws:lambda:us-east-1:111122223333:function:f"}}}}},"lastUpdateRequest":{"status":"FAILED","errors":[{"code":"X","message":"y"}]},"eTag":"e"}}"#;
    const SMAPI: &[&str] = &[
        MANIFEST_JSON,
        r#"{"items":[{"id":"c1","status":"IN_PROGRESS","skillSubmissionTimestamp":"2026-11-02T10:00:00.000Z","reviewTrackingInfo":{"lastUpdated":"2026-11-03T10:00:00Z"}}],"isTruncated":true,"nextToken":"t"}"#,
    ];
    const EVENTS: &[&str] = &[
        r#"{"detail-type":"AWS API Call via CloudTrail","source":"aws.lambda","detail":{"eventName":"UpdateAlias20150331","eventID":"1","eventTime":"2026-12-07T10:00:00Z","requestParameters":{"functionName":"arn:aws:lambda:eu-west-1:111122223333:function:f","name":"PROD1"},"userIdentity":{"arn":"arn:aws:sts::111122223333:assumed-role/x/y"}}}"#,
        r#"{"Type":"Notification","Message":"{\"source\":\"aws.lambda\",\"detail\":{\"eventName\":\"AddPermission20150331v2\"}}"}"#,
    ];
    const POLICIES: &[&str] = &[
        r#"{"Version":"2012-10-17","Id":"default","Statement":[{"Sid":"las-alexa","Effect":"Allow","Principal":{"Service":"alexa-appkit.amazon.com"},"Action":"lambda:InvokeFunction","Resource":"arn:aws:lambda:eu-west-1:111122223333:function:f:PROD1","Condition":{"StringEquals":{"lambda:EventSourceToken":"amzn1.ask.skill.x"},"ArnLike":{"AWS:SourceArn":"arn:aws:execute-api:*"}}}]}"#,
    ];

    fn cases() -> ProptestConfig {
        let cases = std::env::var("LAC_FUZZ_CASES").ok().and_then(|n| n.parse().ok()).unwrap_or(200);
        ProptestConfig { cases, failure_persistence: None, ..ProptestConfig::default() }
    }

    proptest! {
        #![proptest_config(cases())]

        /// `plan`/`apply -f`, `--tenancy-file` and `--alexa-credentials` share this reader.
        #[test]
        fn the_yaml_reader_answers_every_input(text in inputs(MANIFESTS)) {
            ends_in_time(text, |t| match super::yaml_documents(t, "f.yaml") {
                Ok(_) => true,
                Err(e) => {
                    // A refusal names the file, and the line and column or the document.
                    let said = e.to_string();
                    assert!(said.starts_with("f.yaml: not valid YAML at line ") || said.starts_with("f.yaml: document "), "{said}");
                    false
                }
            })?;
        }

        /// SMAPI's answers: stage manifests, update statuses, certification pages, and the
        /// development manifest's hand-written re-pointing.
        #[test]
        fn the_smapi_readers_answer_every_input(text in inputs(SMAPI)) {
            ends_in_time(text, |t| {
                let b = t.as_bytes();
                let arn = "arn:aws:lambda:eu-west-1:111122223333:function:f";
                let read = crate::alexa::model::stage_endpoints(b).is_ok();
                let _ = crate::alexa::model::manifest_update(b);
                let _ = crate::alexa::model::certification_page(b);
                let _ = crate::alexa::model::parse_timestamp(t);
                if let Ok((out, changed)) = crate::alexa::manifest::retarget(b, arn, &format!("{arn}:PROD2")) {
                    // What is not an endpoint of this function goes back byte for byte.
                    assert!(changed.is_empty() == (out == b), "{t:?}");
                }
                read
            })?;
        }

        /// The drift-event feed's messages (SQS bodies, at most 1 MiB by SQS's own limit).
        #[test]
        fn the_drift_event_reader_answers_every_input(text in inputs(EVENTS)) {
            ends_in_time(text, |t| {
                let _ = crate::controller::drift_events::event::function_ref(t);
                !matches!(crate::controller::drift_events::event::parse(t), crate::controller::drift_events::event::Message::Malformed(_))
            })?;
        }

        /// Resource policies as GetPolicy returns them.
        #[test]
        fn the_policy_reader_answers_every_input(text in inputs(POLICIES)) {
            ends_in_time(text, |t| crate::aws::sdk::policy::parse_policy(t).is_ok())?;
        }
    }
}
