//! Smoke tests for the moto harness: the crate's AWS client round-trips the Lambda
//! calls the controller relies on (create, publish, alias, update code) against moto.
//! These fail, never skip, when moto is not installed or cannot start.

use crate::support;

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use aws_sdk_lambda::error::DisplayErrorContext;
use aws_sdk_lambda::primitives::Blob;

/// Python next to moto_server (the venv's), else `python3`. Used as an independent
/// oracle for SHA-256 and zip validity, so the tests need no extra Rust crates.
fn python() -> PathBuf {
    let venv_python = support::moto_python_path();
    if venv_python.is_file() { venv_python } else { PathBuf::from("python3") }
}

/// Runs `script` with `input` on stdin and returns its trimmed stdout.
fn python_oracle(script: &str, input: &[u8]) -> String {
    let mut child = Command::new(python())
        .args(["-c", script])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run python");
    child.stdin.take().expect("stdin is piped").write_all(input).expect("write to python");
    let out = child.wait_with_output().expect("wait for python");
    assert!(out.status.success(), "python failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).expect("python prints UTF-8").trim().to_owned()
}

/// What Lambda reports as CodeSha256: base64 of the SHA-256 of the deployment package.
fn code_sha256(zip: &[u8]) -> String {
    python_oracle(
        "import base64, hashlib, sys; \
         print(base64.b64encode(hashlib.sha256(sys.stdin.buffer.read()).digest()).decode())",
        zip,
    )
}

fn fail(call: &str, e: impl std::error::Error) -> ! {
    panic!(
        "{call} against moto failed: {} (moto log: {})",
        DisplayErrorContext(e),
        support::moto_log().display()
    )
}

#[test]
fn crc32_matches_the_standard_check_value() {
    assert_eq!(support::crc32(b"123456789"), 0xCBF4_3926);
    assert_eq!(support::crc32(b""), 0);
}

#[test]
fn demo_zip_is_a_valid_zip_holding_the_handler() {
    let zip = support::demo_zip("zip-check");
    assert_eq!(zip, support::demo_zip("zip-check"), "zip is deterministic");
    let listing = python_oracle(
        "import io, sys, zipfile; \
         z = zipfile.ZipFile(io.BytesIO(sys.stdin.buffer.read())); \
         assert z.testzip() is None; \
         print(z.namelist()); print(z.read('index.py').decode(), end='')",
        &zip,
    );
    assert_eq!(listing, format!("['index.py']\n{}", support::demo_source("zip-check").trim()));
}

#[tokio::test]
async fn lambda_version_and_alias_lifecycle_round_trips() {
    let client = support::lambda().await;
    let name = support::unique_name("smoke");
    let zip_v1 = support::demo_zip("v1");
    let zip_v2 = support::demo_zip("v2");
    let sha_v1 = code_sha256(&zip_v1);
    let sha_v2 = code_sha256(&zip_v2);
    assert_ne!(sha_v1, sha_v2);

    let created = support::create_function(&client, &name, "v1").await;
    assert_eq!(created.function_name(), Some(name.as_str()));
    assert_eq!(created.version(), Some("$LATEST"));
    assert_eq!(created.code_sha256(), Some(sha_v1.as_str()));
    assert_eq!(created.role(), Some(support::role_arn().as_str()));

    let v1 = client
        .publish_version()
        .function_name(&name)
        .send()
        .await
        .unwrap_or_else(|e| fail("PublishVersion", e));
    assert_eq!(v1.version(), Some("1"));
    assert_eq!(v1.code_sha256(), Some(sha_v1.as_str()));

    client
        .create_alias()
        .function_name(&name)
        .name("live")
        .function_version("1")
        .send()
        .await
        .unwrap_or_else(|e| fail("CreateAlias", e));
    let alias = client
        .get_alias()
        .function_name(&name)
        .name("live")
        .send()
        .await
        .unwrap_or_else(|e| fail("GetAlias", e));
    assert_eq!(alias.name(), Some("live"));
    assert_eq!(alias.function_version(), Some("1"));
    assert!(
        alias.alias_arn().is_some_and(|arn| arn.ends_with(&format!(":function:{name}:live"))),
        "alias ARN: {:?}",
        alias.alias_arn()
    );

    let updated = client
        .update_function_code()
        .function_name(&name)
        .zip_file(Blob::new(zip_v2))
        .send()
        .await
        .unwrap_or_else(|e| fail("UpdateFunctionCode", e));
    assert_eq!(updated.code_sha256(), Some(sha_v2.as_str()));

    let v2 = client
        .publish_version()
        .function_name(&name)
        .send()
        .await
        .unwrap_or_else(|e| fail("PublishVersion", e));
    assert_eq!(v2.version(), Some("2"));
    assert_eq!(v2.code_sha256(), Some(sha_v2.as_str()));

    // The alias still points at 1 until it is moved.
    let alias = client
        .get_alias()
        .function_name(&name)
        .name("live")
        .send()
        .await
        .unwrap_or_else(|e| fail("GetAlias", e));
    assert_eq!(alias.function_version(), Some("1"));
}

#[tokio::test]
async fn concurrent_tests_share_one_server_without_collisions() {
    let client = support::lambda().await;
    let a = support::unique_name("smoke");
    let b = support::unique_name("smoke");
    assert_ne!(a, b);

    let (created_a, created_b) = tokio::join!(
        support::create_function(&client, &a, "same"),
        support::create_function(&client, &b, "same"),
    );
    // Same marker, same bytes, same hash; a different marker changes it.
    assert_eq!(created_a.code_sha256(), created_b.code_sha256());
    assert_eq!(created_a.code_sha256(), Some(code_sha256(&support::demo_zip("same")).as_str()));
    assert_ne!(created_a.code_sha256(), Some(code_sha256(&support::demo_zip("other")).as_str()));

    let (va, vb) = tokio::join!(
        client.publish_version().function_name(&a).send(),
        client.publish_version().function_name(&b).send(),
    );
    let va = va.unwrap_or_else(|e| fail("PublishVersion", e));
    let vb = vb.unwrap_or_else(|e| fail("PublishVersion", e));
    assert_eq!(va.version(), Some("1"));
    assert_eq!(vb.version(), Some("1"));
    assert_ne!(va.function_arn(), vb.function_arn());
}

#[test]
fn child_environment_points_only_at_moto() {
    let env = support::moto_env();
    let get = |key: &str| {
        env.iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
            .unwrap_or_else(|| panic!("{key} missing from moto_env()"))
    };
    assert_eq!(get("AWS_ENDPOINT_URL"), support::moto_url());
    assert!(get("AWS_ENDPOINT_URL").starts_with("http://127.0.0.1:"));
    assert_eq!(get("AWS_ACCESS_KEY_ID"), "testing");
    assert_eq!(get("AWS_SECRET_ACCESS_KEY"), "testing");
    assert_eq!(get("AWS_REGION"), "us-east-1");
    assert_eq!(get("AWS_EC2_METADATA_DISABLED"), "true");
}
