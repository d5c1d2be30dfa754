//! Test harness: one moto server (AWS emulator, server mode) per test binary, on loopback.
//!
//! Each test binary declares `support` as a module block naming the files it uses (see
//! `tests/it/main.rs`), this one re-exported at its root. The first call to anything that
//! needs moto starts it; every test in the binary then shares it, so names must be
//! unique ([`unique_name`]). moto runs from the venv Python (`MOTO_PYTHON`, else
//! `<crate>/.venv/bin/python`, installed by `make venv`) through `moto_faithful.py`, which
//! makes Lambda resource policies per qualifier like AWS's. When it is missing or
//! cannot start, every test that needs it panics: such tests fail, never skip.
//!
//! Lifetime: the server is spawned from a dedicated thread that lives until the
//! process exits, and is stopped by its own PID from an `atexit` handler (libtest
//! ends through `exit`, which runs them). `PR_SET_PDEATHSIG` is the safety net when
//! the test process dies without running `atexit` handlers (abort, SIGKILL).

use std::fmt::Write as _;
use std::fs::File;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicI32, AtomicU64, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use aws_sdk_lambda::error::DisplayErrorContext;
use aws_sdk_lambda::operation::create_function::CreateFunctionOutput;
use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::{FunctionCode, Runtime};
use lambda_alias_controller::aws::client::{AwsSettings, lambda_client, sdk_config};

/// Region every test uses; moto keeps separate state per region.
pub const REGION: &str = "us-east-1";
/// Dummy credentials: moto does not check them, and they can never be valid on AWS.
pub const ACCESS_KEY_ID: &str = "testing";
pub const SECRET_ACCESS_KEY: &str = "testing";
/// IAM role created in moto at startup; moto's CreateFunction rejects a role that
/// does not exist in its IAM ("The role defined for the function cannot be assumed").
pub const ROLE_NAME: &str = "lambda-test-role";

/// Ports tried before giving up (another process can take the port between our
/// probe bind and moto's bind).
const START_ATTEMPTS: usize = 3;
/// How long all attempts together may take to answer HTTP (measured: ~0.35s
/// warm). Retries are for a port lost to a race, which fails fast; a moto that
/// hangs is not retried past this.
const READY_TIMEOUT: Duration = Duration::from_secs(30);
const READY_POLL: Duration = Duration::from_millis(100);
/// Timeout for one raw HTTP exchange with moto (readiness probe, IAM call).
const HTTP_TIMEOUT: Duration = Duration::from_secs(10);

const TRUST_POLICY: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"lambda.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;

struct Moto {
    url: String,
    role_arn: String,
    log: PathBuf,
}

/// Startup outcome, kept even on failure so that every later test fails at once
/// with the same message instead of retrying a 30s startup each.
static MOTO: OnceLock<Result<Moto, String>> = OnceLock::new();
static NAME_COUNTER: AtomicU64 = AtomicU64::new(0);

fn moto() -> &'static Moto {
    let started = MOTO.get_or_init(|| {
        let result = start_on_supervisor_thread();
        if let Ok(moto) = &result {
            set_test_env(&moto.url);
        }
        result
    });
    match started {
        Ok(moto) => moto,
        Err(message) => panic!("{message}"),
    }
}

/// Base URL of the shared moto server, e.g. `http://127.0.0.1:40123`. Starts it if needed.
pub fn moto_url() -> String {
    moto().url.clone()
}

/// ARN of the IAM role that test functions run as.
pub fn role_arn() -> String {
    moto().role_arn.clone()
}

/// moto's log file (its stdout and stderr), for messages in failing tests.
pub fn moto_log() -> PathBuf {
    moto().log.clone()
}

/// Environment a child process (e.g. our CLI binary) needs to talk to moto only.
/// Apply with `Command::envs`. The test process's own environment has already been
/// stripped of `AWS_PROFILE`/`AWS_SESSION_TOKEN` (see [`set_test_env`]), so children
/// inherit no real credentials either.
pub fn moto_env() -> Vec<(String, String)> {
    [
        ("AWS_ENDPOINT_URL", moto_url()),
        ("AWS_ACCESS_KEY_ID", ACCESS_KEY_ID.to_owned()),
        ("AWS_SECRET_ACCESS_KEY", SECRET_ACCESS_KEY.to_owned()),
        ("AWS_REGION", REGION.to_owned()),
        ("AWS_EC2_METADATA_DISABLED", "true".to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect()
}

/// Settings that point the crate's client builder at moto.
pub fn aws_settings() -> AwsSettings {
    AwsSettings {
        region: Some(REGION.to_owned()),
        endpoint_url: Some(moto_url()),
        profile: None,
        session_name: None,
    }
}

/// A Lambda client for moto, built through the crate's own client builder (so the
/// production retry/timeout configuration is what the tests exercise). Build one
/// per test: SDK clients keep connections tied to the tokio runtime that used them,
/// and each `#[tokio::test]` has its own runtime.
pub async fn lambda() -> aws_sdk_lambda::Client {
    let settings = aws_settings();
    lambda_client(&sdk_config(&settings).await)
}

/// `prefix-<pid>-<n>`: the counter keeps tests of this binary apart on the shared
/// server, the PID keeps test binaries apart in logs. Keep `prefix` short: Lambda
/// function names are at most 64 characters.
/// Every alias of `function` in moto with the version it points at, sorted by name.
pub async fn alias_versions(function: &str) -> Vec<(String, String)> {
    let out = lambda().await.list_aliases().function_name(function).send().await.expect("ListAliases");
    let mut v: Vec<(String, String)> = out
        .aliases()
        .iter()
        .map(|a| {
            (a.name().unwrap_or_default().to_string(), a.function_version().unwrap_or_default().to_string())
        })
        .collect();
    v.sort();
    v
}

pub fn unique_name(prefix: &str) -> String {
    let n = NAME_COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("{prefix}-{}-{n}", std::process::id())
}

/// Creates a python3.12 function whose code is [`demo_zip`]`(marker)`.
/// Panics with the full SDK error on failure.
pub async fn create_function(
    client: &aws_sdk_lambda::Client,
    name: &str,
    marker: &str,
) -> CreateFunctionOutput {
    client
        .create_function()
        .function_name(name)
        .runtime(Runtime::Python312)
        .handler("index.handler")
        .role(role_arn())
        .code(FunctionCode::builder().zip_file(Blob::new(demo_zip(marker))).build())
        .send()
        .await
        .unwrap_or_else(|e| {
            panic!(
                "CreateFunction {name} against moto failed: {} (moto log: {})",
                DisplayErrorContext(&e),
                moto_log().display()
            )
        })
}

/// A function with one published version per code marker (`markers[0]` is version 1, ...), the
/// first marker's code created with it. Returns the versions as AWS numbered them.
pub async fn function_with_versions(
    client: &aws_sdk_lambda::Client,
    name: &str,
    markers: &[&str],
) -> Vec<String> {
    let mut versions = Vec::new();
    for (i, marker) in markers.iter().enumerate() {
        if i == 0 {
            create_function(client, name, marker).await;
            versions.push(publish_latest(client, name).await);
        } else {
            versions.push(deploy_and_publish(client, name, marker).await);
        }
    }
    versions
}

/// A CI deploy of code `marker` to `$LATEST`, then PublishVersion: the version AWS numbered.
pub async fn deploy_and_publish(client: &aws_sdk_lambda::Client, name: &str, marker: &str) -> String {
    client
        .update_function_code()
        .function_name(name)
        .zip_file(Blob::new(demo_zip(marker)))
        .send()
        .await
        .unwrap_or_else(|e| panic!("UpdateFunctionCode {name}: {}", DisplayErrorContext(&e)));
    publish_latest(client, name).await
}

async fn publish_latest(client: &aws_sdk_lambda::Client, name: &str) -> String {
    let published = client
        .publish_version()
        .function_name(name)
        .send()
        .await
        .unwrap_or_else(|e| panic!("PublishVersion {name}: {}", DisplayErrorContext(&e)));
    published.version().unwrap_or_default().to_string()
}

/// Python source of the demo handler; `marker` makes the code (and so CodeSha256) differ.
pub fn demo_source(marker: &str) -> String {
    format!("MARKER = {marker:?}\n\n\ndef handler(event, context):\n    return {{\"marker\": MARKER}}\n")
}

/// A valid zip holding `index.py` = [`demo_source`]`(marker)`, stored (no compression),
/// with fixed timestamps: the same marker always gives the same bytes.
pub fn demo_zip(marker: &str) -> Vec<u8> {
    zip_single_file("index.py", demo_source(marker).as_bytes())
}

/// Minimal zip writer: one stored entry, local header + data + central directory +
/// end-of-central-directory record (APPNOTE 4.3). No zip64: test payloads are tiny.
pub fn zip_single_file(name: &str, data: &[u8]) -> Vec<u8> {
    const VERSION_NEEDED: u16 = 20;
    const VERSION_MADE_BY: u16 = (3 << 8) | 20; // Unix, spec 2.0: external attrs are a Unix mode.
    const DOS_TIME: u16 = 0; // 00:00:00
    const DOS_DATE: u16 = ((2026 - 1980) << 9) | (1 << 5) | 1; // 2026-01-01
    let name_len = u16::try_from(name.len()).expect("zip entry name too long");
    let size = u32::try_from(data.len()).expect("zip entry too large for a test zip");
    let crc = crc32(data);

    let mut out = Vec::with_capacity(data.len() + 2 * name.len() + 100);
    let put16 = |out: &mut Vec<u8>, v: u16| out.extend_from_slice(&v.to_le_bytes());
    let put32 = |out: &mut Vec<u8>, v: u32| out.extend_from_slice(&v.to_le_bytes());

    // Local file header.
    put32(&mut out, 0x0403_4b50);
    put16(&mut out, VERSION_NEEDED);
    put16(&mut out, 0); // flags
    put16(&mut out, 0); // method: stored
    put16(&mut out, DOS_TIME);
    put16(&mut out, DOS_DATE);
    put32(&mut out, crc);
    put32(&mut out, size); // compressed size
    put32(&mut out, size); // uncompressed size
    put16(&mut out, name_len);
    put16(&mut out, 0); // extra field length
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(data);

    // Central directory.
    let cd_offset = u32::try_from(out.len()).expect("test zip too large");
    put32(&mut out, 0x0201_4b50);
    put16(&mut out, VERSION_MADE_BY);
    put16(&mut out, VERSION_NEEDED);
    put16(&mut out, 0); // flags
    put16(&mut out, 0); // method: stored
    put16(&mut out, DOS_TIME);
    put16(&mut out, DOS_DATE);
    put32(&mut out, crc);
    put32(&mut out, size);
    put32(&mut out, size);
    put16(&mut out, name_len);
    put16(&mut out, 0); // extra field length
    put16(&mut out, 0); // comment length
    put16(&mut out, 0); // disk number start
    put16(&mut out, 0); // internal attributes
    put32(&mut out, 0o100_644 << 16); // external attributes: regular file, rw-r--r--
    put32(&mut out, 0); // local header offset
    out.extend_from_slice(name.as_bytes());
    let cd_size = u32::try_from(out.len()).expect("test zip too large") - cd_offset;

    // End of central directory record.
    put32(&mut out, 0x0605_4b50);
    put16(&mut out, 0); // this disk
    put16(&mut out, 0); // disk with the central directory
    put16(&mut out, 1); // entries on this disk
    put16(&mut out, 1); // entries in total
    put32(&mut out, cd_size);
    put32(&mut out, cd_offset);
    put16(&mut out, 0); // comment length
    out
}

/// CRC-32 (IEEE 802.3, reflected polynomial 0xEDB88320), as zip requires. Bitwise:
/// slow, but test payloads are a few hundred bytes.
pub fn crc32(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &byte in data {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            let mask = (crc & 1).wrapping_neg();
            crc = (crc >> 1) ^ (0xEDB8_8320 & mask);
        }
    }
    !crc
}

/// The venv's Python with the pinned moto: `MOTO_PYTHON`, else `<crate>/.venv/bin/python`.
/// Panics with instructions when moto is not installed there.
pub fn moto_python_path() -> PathBuf {
    let path = match std::env::var_os("MOTO_PYTHON") {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/python"),
    };
    let moto_server = path.with_file_name("moto_server");
    assert!(
        path.is_file() && moto_server.is_file(),
        "moto not found next to {}; run `make venv` (or `make test`), which installs \
         the pinned moto into .venv",
        path.display()
    );
    path
}

/// moto's server with Lambda resource policies and mappings made faithful to AWS (see the
/// script's docstring).
pub fn moto_launcher() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/moto_faithful.py")
}

/// Points this process's AWS SDK default chain at moto with dummy credentials, so
/// that code under test which builds its own clients from the environment can
/// never reach real AWS or pick up a developer's credentials.
fn set_test_env(url: &str) {
    // SAFETY: env mutation is unsafe because another thread may read the environment
    // through libc (getenv) at the same moment; readers going through std::env take
    // the same lock as set_var and are fine. This runs once, inside the OnceLock
    // initialiser: tests that need moto are blocked on that OnceLock, the supervisor
    // thread has already spawned moto, and the AWS SDK reads the environment only
    // through std::env. The residual risk is a concurrently running test that calls
    // into C code reading the environment; no test here does.
    unsafe {
        std::env::set_var("AWS_ENDPOINT_URL", url);
        std::env::set_var("AWS_ACCESS_KEY_ID", ACCESS_KEY_ID);
        std::env::set_var("AWS_SECRET_ACCESS_KEY", SECRET_ACCESS_KEY);
        std::env::set_var("AWS_REGION", REGION);
        std::env::set_var("AWS_EC2_METADATA_DISABLED", "true");
        std::env::remove_var("AWS_SESSION_TOKEN");
        std::env::remove_var("AWS_PROFILE");
    }
}

/// Starts moto from a thread that then lives as long as the process (see [`on_supervisor_thread`]).
fn start_on_supervisor_thread() -> Result<Moto, String> {
    let server = moto_python_path();
    on_supervisor_thread("moto", move || start(&server))
}

/// Runs `start` on a thread that then lives as long as the process: the parent-death signal set
/// in a server's child process fires when the spawning *thread* exits, and libtest runs each
/// test on a short-lived thread of its own.
pub(crate) fn on_supervisor_thread<T: Send + 'static>(
    what: &str,
    start: impl FnOnce() -> Result<T, String> + Send + 'static,
) -> Result<T, String> {
    let (tx, rx) = mpsc::channel();
    std::thread::Builder::new()
        .name(format!("{what}-supervisor"))
        .spawn(move || {
            let result = start();
            let started = result.is_ok();
            // The receiver waits for this message; it cannot be gone.
            let _ = tx.send(result);
            if started {
                loop {
                    std::thread::park();
                }
            }
        })
        .map_err(|e| format!("cannot spawn the {what} supervisor thread: {e}"))?;
    rx.recv().map_err(|_| format!("the {what} supervisor thread died while starting it"))?
}

fn start(server: &Path) -> Result<Moto, String> {
    let mut failures = Vec::new();
    let deadline = Instant::now() + READY_TIMEOUT;
    for _ in 0..START_ATTEMPTS {
        if Instant::now() >= deadline {
            break;
        }
        let port = free_port().map_err(|e| format!("cannot pick a loopback port: {e}"))?;
        let log = std::env::temp_dir().join(format!("lac-moto-{}-{port}.log", std::process::id()));
        let begin = Instant::now();
        let args = ["-H".to_string(), "127.0.0.1".into(), "-p".into(), port.to_string()];
        // What moto records (once a test starts the recorder) goes beside its log.
        let recording = log.with_extension("recording");
        let env = [("MOTO_RECORDER_FILEPATH", recording.to_string_lossy().into_owned())];
        let mut child = match spawn_server(server, &moto_launcher(), &args, &log, &env) {
            Ok(child) => child,
            Err(e) => return Err(format!("cannot run {}: {e}", server.display())),
        };
        // moto answers its API root with some HTTP status once it listens.
        match wait_http_ready(&mut child, port, "/moto-api/", |status| status > 0, deadline) {
            Ok(()) => {
                let pid = i32::try_from(child.id()).map_err(|e| e.to_string())?;
                stop_at_exit(pid);
                eprintln!(
                    "moto ready on 127.0.0.1:{port} (pid {pid}) after {:.2}s; log: {}",
                    begin.elapsed().as_secs_f64(),
                    log.display()
                );
                let role_arn = create_role(port).map_err(|e| {
                    format!(
                        "moto started but creating IAM role {ROLE_NAME} failed: {e}\n\
                         --- tail of {} ---\n{}",
                        log.display(),
                        log_tail(&log)
                    )
                })?;
                return Ok(Moto { url: format!("http://127.0.0.1:{port}"), role_arn, log });
            }
            Err(reason) => {
                let _ = child.kill();
                let _ = child.wait();
                failures.push(format!(
                    "port {port}: {reason}\n--- tail of {} ---\n{}",
                    log.display(),
                    log_tail(&log)
                ));
            }
        }
    }
    Err(format!(
        "moto ({}) did not answer HTTP within {READY_TIMEOUT:?} ({} attempt(s)):\n{}",
        server.display(),
        failures.len(),
        failures.join("\n")
    ))
}

/// A port that was free a moment ago (the OS picks it; we release it for moto).
pub(crate) fn free_port() -> std::io::Result<u16> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
    Ok(listener.local_addr()?.port())
}

/// Starts one of our Python servers (`program script ARGS...`), logging to `log`, stopped by the
/// kernel if the spawning thread dies.
pub(crate) fn spawn_server(
    program: &Path,
    script: &Path,
    args: &[String],
    log: &Path,
    env: &[(&str, String)],
) -> std::io::Result<Child> {
    let out = File::create(log)?;
    let err = out.try_clone()?;
    let mut command = Command::new(program);
    command.arg(script).args(args).env("PYTHONUNBUFFERED", "1").stdin(Stdio::null()).stdout(out).stderr(err);
    command.envs(env.iter().map(|(k, v)| (*k, v.as_str())));
    // SAFETY: the closure runs in the forked child before exec, where only
    // async-signal-safe calls are allowed; prctl is a plain system call. It asks the
    // kernel to SIGTERM the server when the spawning thread (our supervisor) dies, which
    // covers the test process aborting or being killed before atexit runs.
    unsafe {
        command.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM as libc::c_ulong) == -1 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    command.spawn()
}

/// Polls `GET path` until `ready(status)` or the deadline; fails at once if the server exits.
pub(crate) fn wait_http_ready(
    child: &mut Child,
    port: u16,
    path: &str,
    ready: fn(u16) -> bool,
    deadline: Instant,
) -> Result<(), String> {
    let mut last_error = String::from("no attempt made");
    while Instant::now() < deadline {
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!("exited during startup with {status}"));
        }
        let probe = format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n");
        match http_exchange(port, &probe) {
            Ok((status, _)) if ready(status) => return Ok(()),
            Ok((status, body)) => last_error = format!("HTTP {status}: {body:.200}"),
            Err(e) => last_error = e.to_string(),
        }
        std::thread::sleep(READY_POLL);
    }
    Err(format!("no answer before the deadline (last error: {last_error})"))
}

/// Creates the Lambda execution role through IAM's Query protocol over a raw HTTP
/// request, so the tests need no IAM SDK. moto routes the request to IAM by the
/// credential scope in `Authorization`; it does not verify signatures.
fn create_role(port: u16) -> Result<String, String> {
    let body = format!(
        "Action=CreateRole&Version=2010-05-08&RoleName={}&AssumeRolePolicyDocument={}",
        url_encode(ROLE_NAME),
        url_encode(TRUST_POLICY)
    );
    let request = query_request(port, "iam", &body);
    let (status, response) = http_exchange(port, &request).map_err(|e| e.to_string())?;
    let arn = between(&response, "<Arn>", "</Arn>");
    match arn {
        Some(arn) if status == 200 && arn.ends_with(&format!(":role/{ROLE_NAME}")) => Ok(arn.to_owned()),
        _ => Err(format!("unexpected CreateRole answer (HTTP {status}): {response:.2000}")),
    }
}

/// Creates an SQS queue in moto through SQS's Query protocol (raw HTTP, like
/// [`create_role`]) and returns its ARN. moto's CreateEventSourceMapping only accepts
/// an event source that exists in its SQS/Kinesis/DynamoDB Streams backends
/// (ResourceNotFoundException "Invalid EventSourceArn" otherwise). Panics on failure.
pub fn create_sqs_queue(name: &str) -> String {
    let port = moto_port();
    let create =
        sqs_query(port, &format!("Action=CreateQueue&Version=2012-11-05&QueueName={}", url_encode(name)));
    let url = between(&create, "<QueueUrl>", "</QueueUrl>")
        .unwrap_or_else(|| panic!("unexpected CreateQueue answer: {create:.2000}"))
        .to_owned();
    let attributes = sqs_query(
        port,
        &format!(
            "Action=GetQueueAttributes&Version=2012-11-05&QueueUrl={}&AttributeName.1=QueueArn",
            url_encode(&url)
        ),
    );
    match between(&attributes, "<Value>", "</Value>") {
        Some(arn) if arn.starts_with("arn:") && arn.ends_with(&format!(":{name}")) => arn.to_owned(),
        _ => panic!("unexpected GetQueueAttributes answer: {attributes:.2000}"),
    }
}

/// Port of the shared moto server. Starts it if needed.
/// Starts moto's request recorder (`/moto-api/recorder/`): from now on every request it serves
/// is kept, body included, for [`moto_recorded_bodies`].
pub fn moto_start_recording() {
    let port = moto_port();
    let request = format!(
        "POST /moto-api/recorder/start-recording HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    );
    match http_exchange(port, &request) {
        Ok((200, _)) => {}
        other => panic!("cannot start moto's recorder: {other:?}"),
    }
}

/// The bodies of the requests moto recorded since [`moto_start_recording`], decoded.
pub fn moto_recorded_bodies() -> Vec<String> {
    let port = moto_port();
    let request = format!(
        "GET /moto-api/recorder/download-recording HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n"
    );
    let (status, response) =
        http_exchange(port, &request).unwrap_or_else(|e| panic!("moto's recording: {e}"));
    assert_eq!(status, 200, "moto's recording: {response:.500}");
    let body = response.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or_default();
    body.lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .map(|entry| {
            let text = entry["body"].as_str().unwrap_or_default().to_string();
            if entry["body_encoded"] == true {
                // k8s-openapi's ByteString is base64 in JSON: a decoder the tests already have.
                let bytes: k8s_openapi::ByteString =
                    serde_json::from_value(serde_json::Value::String(text)).expect("base64 body");
                String::from_utf8_lossy(&bytes.0).into_owned()
            } else {
                text
            }
        })
        .collect()
}

fn moto_port() -> u16 {
    let url = moto_url();
    url.rsplit(':').next().and_then(|port| port.parse().ok()).unwrap_or_else(|| panic!("no port in {url}"))
}

/// A Query-protocol POST with a dummy SigV4 header: moto routes a request to a service by the
/// credential scope and does not check the signature.
fn query_request(port: u16, service: &str, body: &str) -> String {
    format!(
        "POST / HTTP/1.1\r\n\
         Host: 127.0.0.1:{port}\r\n\
         Content-Type: application/x-www-form-urlencoded; charset=utf-8\r\n\
         Authorization: AWS4-HMAC-SHA256 Credential={ACCESS_KEY_ID}/20260101/{REGION}/{service}/aws4_request, SignedHeaders=host, Signature=0\r\n\
         Content-Length: {}\r\n\
         Connection: close\r\n\
         \r\n\
         {body}",
        body.len()
    )
}

/// One SQS Query-protocol call; returns the response text, panicking unless HTTP 200.
/// moto routes it to SQS by the credential scope in `Authorization`.
fn sqs_query(port: u16, body: &str) -> String {
    let request = query_request(port, "sqs", body);
    match http_exchange(port, &request) {
        Ok((200, response)) => response,
        Ok((status, response)) => panic!("SQS call failed (HTTP {status}): {response:.2000}"),
        Err(e) => panic!("SQS call to moto failed: {e} (moto log: {})", moto_log().display()),
    }
}

/// One CloudWatch Query-protocol call to moto (`spec.rollout`'s alarms and metrics are put the
/// way a user's tooling would); panics unless HTTP 200. The controller itself reads CloudWatch
/// over the SDK's CBOR protocol (tests/support/moto_faithful.py answers it).
fn cloudwatch_query(body: &str) -> String {
    let port = moto_port();
    let request = query_request(port, "monitoring", &format!("{body}&Version=2010-08-01"));
    match http_exchange(port, &request) {
        Ok((200, response)) => response,
        Ok((status, response)) => panic!("CloudWatch call failed (HTTP {status}): {response:.2000}"),
        Err(e) => panic!("CloudWatch call to moto failed: {e} (moto log: {})", moto_log().display()),
    }
}

/// PutMetricAlarm on the function's Errors (moto starts it in OK... or what it decides), then
/// SetAlarmState to `state` (`OK`, `ALARM`, `INSUFFICIENT_DATA`).
pub fn put_alarm(name: &str, function: &str, state: &str) {
    cloudwatch_query(&format!(
        "Action=PutMetricAlarm&AlarmName={}&Namespace=AWS%2FLambda&MetricName=Errors&Statistic=Sum&Period=60\
         &EvaluationPeriods=1&Threshold=1&ComparisonOperator=GreaterThanThreshold\
         &Dimensions.member.1.Name=FunctionName&Dimensions.member.1.Value={}",
        url_encode(name),
        url_encode(function)
    ));
    set_alarm_state(name, state);
}

/// SetAlarmState, as CloudWatch does when the alarm's metric crosses its threshold.
pub fn set_alarm_state(name: &str, state: &str) {
    cloudwatch_query(&format!(
        "Action=SetAlarmState&AlarmName={}&StateValue={state}&StateReason=test",
        url_encode(name)
    ));
}

/// PutMetricData of one minute's `Invocations` and `Errors` of `version` through `alias`, with
/// the dimensions Lambda publishes (`FunctionName`, `Resource`, `ExecutedVersion`), at `at`
/// (unix seconds).
pub fn put_invocations(function: &str, alias: &str, version: &str, at: i64, invocations: f64, errors: f64) {
    let stamp = jiff::Timestamp::from_second(at).expect("time").to_string();
    let mut body = String::from("Action=PutMetricData&Namespace=AWS%2FLambda");
    for (i, (metric, value)) in [("Invocations", invocations), ("Errors", errors)].iter().enumerate() {
        let m = i + 1;
        body.push_str(&format!(
            "&MetricData.member.{m}.MetricName={metric}&MetricData.member.{m}.Value={value}\
             &MetricData.member.{m}.Timestamp={}",
            url_encode(&stamp)
        ));
        let dimensions = [
            ("FunctionName", function.to_owned()),
            ("Resource", format!("{function}:{alias}")),
            ("ExecutedVersion", version.to_owned()),
        ];
        for (d, (name, value)) in dimensions.iter().enumerate() {
            let d = d + 1;
            body.push_str(&format!(
                "&MetricData.member.{m}.Dimensions.member.{d}.Name={name}&MetricData.member.{m}.Dimensions.member.{d}.Value={}",
                url_encode(value)
            ));
        }
    }
    cloudwatch_query(&body);
}

/// Sends a complete HTTP/1.1 request (which must say `Connection: close`) and returns
/// the status code (0 when the answer is not HTTP) and the whole response text.
pub(crate) fn http_exchange(port: u16, request: &str) -> std::io::Result<(u16, String)> {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let mut stream = TcpStream::connect_timeout(&addr, HTTP_TIMEOUT)?;
    stream.set_read_timeout(Some(HTTP_TIMEOUT))?;
    stream.set_write_timeout(Some(HTTP_TIMEOUT))?;
    stream.write_all(request.as_bytes())?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw)?;
    let text = String::from_utf8_lossy(&raw).into_owned();
    let status = text
        .strip_prefix("HTTP/1.")
        .and_then(|rest| rest.get(2..5))
        .and_then(|code| code.parse().ok())
        .unwrap_or(0);
    Ok((status, text))
}

fn between<'a>(text: &'a str, start: &str, end: &str) -> Option<&'a str> {
    let from = text.find(start)? + start.len();
    let len = text[from..].find(end)?;
    Some(&text[from..from + len])
}

/// application/x-www-form-urlencoded value encoding (RFC 3986 unreserved kept).
pub(crate) fn url_encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len() * 3);
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || b"-_.~".contains(&byte) {
            out.push(char::from(byte));
        } else {
            let _ = write!(out, "%{byte:02X}");
        }
    }
    out
}

/// Last few KiB of moto's log, for panic messages.
pub(crate) fn log_tail(log: &Path) -> String {
    const TAIL: usize = 4096;
    match std::fs::read(log) {
        Ok(bytes) => {
            let start = bytes.len().saturating_sub(TAIL);
            String::from_utf8_lossy(&bytes[start..]).into_owned()
        }
        Err(e) => format!("(cannot read log: {e})"),
    }
}

/// Our servers (moto, the fake SMAPI): stopped by PID at process exit. Fixed slots, so that the
/// `atexit` handler only reads atomics.
static CHILD_PIDS: [AtomicI32; 4] = [const { AtomicI32::new(0) }; 4];

/// Stops `pid` (our own child) when the test process exits; `PR_SET_PDEATHSIG` stays the net.
pub(crate) fn stop_at_exit(pid: i32) {
    static REGISTERED: OnceLock<()> = OnceLock::new();
    // The first free slot takes it (a full table leaves PR_SET_PDEATHSIG to stop it).
    let _ = CHILD_PIDS.iter().any(|s| s.compare_exchange(0, pid, Ordering::SeqCst, Ordering::SeqCst).is_ok());
    REGISTERED.get_or_init(|| {
        // SAFETY: registers a plain `extern "C" fn()` with no captured state; it only
        // reads atomics and makes system calls. A failure (non-zero) leaves the
        // PR_SET_PDEATHSIG net in place, so it is ignored.
        unsafe {
            libc::atexit(stop_children_at_exit);
        }
    });
}

/// Runs at process exit: SIGTERM each server by its PID, wait up to ~2 s for it to exit
/// (reaping it), then SIGKILL if it is still there.
extern "C" fn stop_children_at_exit() {
    for slot in &CHILD_PIDS {
        let pid = slot.swap(0, Ordering::SeqCst);
        if pid <= 0 {
            continue;
        }
        // SAFETY: `pid` is our own child (spawned by this process and never reaped
        // elsewhere: the supervisor thread never waits on it), so the signals and waitpid
        // cannot hit an unrelated process. `status` is a valid out-pointer.
        unsafe {
            libc::kill(pid, libc::SIGTERM);
            let mut status = 0;
            let mut reaped = false;
            for _ in 0..100 {
                if libc::waitpid(pid, &raw mut status, libc::WNOHANG) != 0 {
                    reaped = true;
                    break;
                }
                libc::usleep(20_000);
            }
            if !reaped {
                libc::kill(pid, libc::SIGKILL);
                libc::waitpid(pid, &raw mut status, 0);
            }
        }
    }
}

/// moto_faithful.py's test-only control of provisioned concurrency (not an AWS API): `body` is
/// the JSON it takes (`ReadySeconds` for a function, or `Qualifier` + `Fail` + `StatusReason`).
pub fn moto_warm_control(body: &serde_json::Value) {
    let port = moto_port();
    let body = body.to_string();
    let request = format!(
        "POST /_lac_faithful/provisioned-concurrency HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    match http_exchange(port, &request) {
        Ok((200, _)) => {}
        Ok((status, response)) => {
            panic!("moto's provisioned concurrency control failed (HTTP {status}): {response}")
        }
        Err(e) => panic!("moto's provisioned concurrency control failed: {e}"),
    }
}
