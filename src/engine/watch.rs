//! The CloudWatch reads a rollout's plan asks for (`Plan::watch`): alarms and error counts.

use crate::api::LambdaAliasSetSpec;
use crate::aws::cloudwatch::function_name_of;
use crate::aws::{AwsError, CloudWatchApi, DescribeAlarms, ErrorQuery, GetMetricData};
use crate::plan::{Watch, WatchNeed};

/// Reads from CloudWatch what `need` asks and `watch` does not hold yet: the alarms in one
/// DescribeAlarms, the error counts in one GetMetricData per step start. A set without
/// `spec.rollout` (or not mid-rollout) never gets here: its plans need nothing.
pub async fn read_watch<A: CloudWatchApi>(
    api: &A,
    spec: &LambdaAliasSetSpec,
    need: &WatchNeed,
    watch: &mut Watch,
    now: i64,
) -> Result<(), AwsError> {
    let names: Vec<String> = need.alarms.iter().filter(|a| !watch.asked.contains(*a)).cloned().collect();
    if !names.is_empty() {
        for alarm in api.call(&DescribeAlarms { names: names.clone() }).await? {
            watch.alarms.insert(alarm.name, alarm.state);
        }
        watch.asked.extend(names);
    }
    let mut by_since: std::collections::BTreeMap<i64, Vec<ErrorQuery>> = Default::default();
    for (alias, version, since) in &need.errors {
        if watch.errors_of(alias, *version, *since).is_none() {
            by_since.entry(*since).or_default().push(ErrorQuery { alias: alias.clone(), version: *version });
        }
    }
    for (since, queries) in by_since {
        let function_name = function_name_of(&spec.function_name).to_owned();
        let counts = api.call(&GetMetricData { function_name, queries, since, until: now }).await?;
        watch.errors.extend(counts);
    }
    Ok(())
}
