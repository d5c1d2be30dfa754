//! One set's convergence against moto: the controller's loop (`engine::converge` through the
//! production adapter, `Metered<SdkLambda>` from `Connections`) against a straight-line script
//! that makes the minimal calls with the SDK directly, each on fresh functions, interleaved.

use std::time::Instant;

use aws_sdk_lambda::error::DisplayErrorContext;
use lambda_alias_controller::api::LambdaAliasSetSpec;
use lambda_alias_controller::aws::budget::{BudgetLimits, Budgets, CallCounter};
use lambda_alias_controller::aws::connections::Connections;
use lambda_alias_controller::engine;
use serde_json::json;

use crate::report::{self, Report, Verdict, duration};
use crate::{say, support};

const SKILL: &str = "amzn1.ask.skill.00000000-0000-4000-8000-000000000000";
const OWNER: &str = "bench/moto";

/// Seconds per run of each variant, and the requests each converge made.
pub struct Comparison {
    pub script: Vec<f64>,
    /// The controller's loop with a budget that never binds (×1000): its own overhead.
    pub converge: Vec<f64>,
    /// The controller's loop with the production budget (12/s, burst 3 in the shared pool).
    pub converge_budgeted: Vec<f64>,
    pub calls_per_converge: f64,
}

fn spec(function: &str) -> LambdaAliasSetSpec {
    serde_json::from_value(json!({
        "functionName": function,
        "certification": {"phase": "Development"},
        "triggers": [{"name": "alexa", "alexaSkill": {"skillId": SKILL, "kind": "Custom"}}]
    }))
    .expect("a valid spec")
}

fn sdk_error<E: std::error::Error + 'static>(what: &str) -> impl FnOnce(E) -> String + '_ {
    move |e| format!("{what}: {}", DisplayErrorContext(&e))
}

/// The minimal bootstrap of the Alexa example, in order: read `$LATEST`, the versions and the
/// aliases; publish; the live alias on it and the candidate on `$LATEST`, each with its marker;
/// the Alexa permission on each alias.
async fn straight_line(lambda: &aws_sdk_lambda::Client, function: &str) -> Result<(), String> {
    let got = lambda.get_function().function_name(function).send().await.map_err(sdk_error("GetFunction"))?;
    let config = got.configuration().ok_or("GetFunction: no configuration")?;
    let sha = config.code_sha256().unwrap_or_default().to_string();
    let revision = config.revision_id().map(str::to_string);
    lambda
        .list_versions_by_function()
        .function_name(function)
        .send()
        .await
        .map_err(sdk_error("ListVersionsByFunction"))?;
    lambda.list_aliases().function_name(function).send().await.map_err(sdk_error("ListAliases"))?;
    let published = lambda
        .publish_version()
        .function_name(function)
        .code_sha256(sha)
        .set_revision_id(revision)
        .send()
        .await
        .map_err(sdk_error("PublishVersion"))?;
    let version = published.version().unwrap_or("1").to_string();
    for (alias, target, marker) in [
        ("PROD1", version.as_str(), format!("las:v1 owner={OWNER} role=live epoch=1 v={version}")),
        ("PROD2", "$LATEST", format!("las:v1 owner={OWNER} role=candidate v=$LATEST phase=Development")),
    ] {
        lambda
            .create_alias()
            .function_name(function)
            .name(alias)
            .function_version(target)
            .description(marker)
            .send()
            .await
            .map_err(sdk_error("CreateAlias"))?;
    }
    for alias in ["PROD1", "PROD2"] {
        lambda
            .add_permission()
            .function_name(function)
            .qualifier(alias)
            .statement_id("las-alexa")
            .action("lambda:InvokeFunction")
            .principal("alexa-appkit.amazon.com")
            .event_source_token(SKILL)
            .send()
            .await
            .map_err(sdk_error("AddPermission"))?;
    }
    Ok(())
}

async fn converge(connections: &Connections, function: &str) -> Result<(), String> {
    let spec = spec(function);
    let client = connections.client_for(&spec).await;
    let now = || jiff::Timestamp::now().as_second();
    engine::converge(&*client, OWNER, &spec, None, now, engine::MAX_PASSES)
        .await
        .map(|_| ())
        .map_err(|e| format!("converge {function}: {e}"))
}

/// `runs` timed rounds after one warm-up round (connections, moto's first-call costs).
pub async fn compare(runs: usize) -> Result<Comparison, String> {
    let lambda = support::lambda().await;
    let free_calls = CallCounter::new();
    let free = Connections::new(
        support::aws_settings(),
        Budgets::new(BudgetLimits::default().scaled(1000.0)),
        free_calls.clone(),
    );
    let budgeted =
        Connections::new(support::aws_settings(), Budgets::new(BudgetLimits::default()), CallCounter::new());
    let mut out = Comparison {
        script: Vec::new(),
        converge: Vec::new(),
        converge_budgeted: Vec::new(),
        calls_per_converge: 0.0,
    };
    for round in 0..=runs {
        let names: Vec<String> = (0..3).map(|_| support::unique_name("bench")).collect();
        for name in &names {
            support::create_function(&lambda, name, name).await;
        }
        let started = Instant::now();
        straight_line(&lambda, &names[0]).await?;
        let script = started.elapsed().as_secs_f64();
        let before = free_calls.total();
        let started = Instant::now();
        converge(&free, &names[1]).await?;
        let free_seconds = started.elapsed().as_secs_f64();
        let calls = free_calls.total() - before;
        let started = Instant::now();
        converge(&budgeted, &names[2]).await?;
        let budgeted_seconds = started.elapsed().as_secs_f64();
        if round == 0 {
            // Same end state, or the comparison means nothing.
            let (a, b) = (support::alias_versions(&names[0]).await, support::alias_versions(&names[1]).await);
            if a != b {
                return Err(format!("the script and the controller disagree: {a:?} vs {b:?}"));
            }
            continue;
        }
        out.script.push(script);
        out.converge.push(free_seconds);
        out.converge_budgeted.push(budgeted_seconds);
        out.calls_per_converge += calls as f64 / runs as f64;
    }
    Ok(out)
}

/// (f) The comparison's rows: `runs` of each, after one warm-up.
pub async fn rows(report: &mut Report, runs: usize) {
    if runs > 0 {
        say(format!("one set against moto: {} runs of each", runs));
        match compare(runs).await {
            Ok(c) => {
                let (script, free, budgeted) = (
                    report::median(&c.script),
                    report::median(&c.converge),
                    report::median(&c.converge_budgeted),
                );
                report.row(
                    "one set against moto: controller / straight-line script",
                    format!("{} / {} = {:.2}x ({:.1} requests vs 8)", duration(free), duration(script), free / script, c.calls_per_converge),
                    "<= 1.2x",
                    Verdict::of(free / script <= 1.2),
                    json!({"converge_median_seconds": free, "script_median_seconds": script, "ratio": free / script,
                           "requests_per_converge": c.calls_per_converge, "converge": c.converge, "script": c.script}),
                );
                report.row(
                    "one set against moto: with the production budget (12/s, burst 3)",
                    format!("{} = {:.2}x the script", duration(budgeted), budgeted / script),
                    "",
                    Verdict::Info,
                    json!({"median_seconds": budgeted, "ratio": budgeted / script, "runs": c.converge_budgeted}),
                );
            }
            Err(e) => report.missing("one set against moto", "<= 1.2x", e),
        }
    }
}
