//! The seam over `aws-sdk-cloudwatch`: the two reads a rollout watches with.

use aws_sdk_cloudwatch::primitives::DateTime;
use aws_sdk_cloudwatch::types::{AlarmType, Dimension, Metric, MetricDataQuery, MetricStat, StateValue};

use super::SdkLambda;
use super::errors::map_cloudwatch_error;
use crate::aws::cloudwatch::{DescribeAlarms, GetMetricData, MAX_ALARM_NAMES, PERIOD_SECONDS};
use crate::aws::seam::{Call, Request};
use crate::aws::{AwsError, AwsResult};
use crate::plan::{AlarmInfo, AlarmState, ErrorCount};

impl Call<DescribeAlarms> for SdkLambda {
    async fn call(&self, r: &DescribeAlarms) -> AwsResult<Vec<AlarmInfo>> {
        const OP: crate::aws::Operation = DescribeAlarms::OPERATION;
        if r.names.len() > MAX_ALARM_NAMES {
            return Err(AwsError::Invalid {
                operation: OP,
                message: format!("at most {MAX_ALARM_NAMES} alarm names per request"),
            });
        }
        let out = self
            .cloudwatch
            .describe_alarms()
            .set_alarm_names(Some(r.names.clone()))
            // Without AlarmTypes CloudWatch answers metric alarms only.
            .alarm_types(AlarmType::MetricAlarm)
            .alarm_types(AlarmType::CompositeAlarm)
            .max_records(MAX_ALARM_NAMES as i32)
            .send()
            .await
            .map_err(|e| map_cloudwatch_error(OP, e))?;
        let metric = out.metric_alarms().iter().map(|a| (a.alarm_name(), a.state_value()));
        let composite = out.composite_alarms().iter().map(|a| (a.alarm_name(), a.state_value()));
        metric
            .chain(composite)
            .map(|(name, state)| {
                let name = name.ok_or_else(|| malformed("AlarmName"))?;
                let state = state.and_then(alarm_state).ok_or_else(|| malformed("StateValue"))?;
                Ok(AlarmInfo { name: name.to_owned(), state })
            })
            .collect()
    }
}

fn alarm_state(state: &StateValue) -> Option<AlarmState> {
    AlarmState::parse(state.as_str())
}

fn malformed(field: &str) -> AwsError {
    AwsError::Unavailable {
        operation: DescribeAlarms::OPERATION,
        message: format!("DescribeAlarms answered an alarm without {field}"),
    }
}

impl Call<GetMetricData> for SdkLambda {
    async fn call(&self, r: &GetMetricData) -> AwsResult<Vec<ErrorCount>> {
        const OP: crate::aws::Operation = GetMetricData::OPERATION;
        let (start, end) = r.window();
        let mut request = self
            .cloudwatch
            .get_metric_data()
            .start_time(DateTime::from_secs(start))
            .end_time(DateTime::from_secs(end));
        for (i, query) in r.queries.iter().enumerate() {
            let (errors, invocations) = GetMetricData::ids(i);
            let dimensions = [
                ("FunctionName", r.function_name.clone()),
                ("Resource", format!("{}:{}", r.function_name, query.alias)),
                ("ExecutedVersion", query.version.to_string()),
            ];
            for (id, metric_name) in [(errors, "Errors"), (invocations, "Invocations")] {
                let mut metric = Metric::builder().namespace("AWS/Lambda").metric_name(metric_name);
                for (name, value) in &dimensions {
                    metric = metric.dimensions(Dimension::builder().name(*name).value(value).build());
                }
                let stat = MetricStat::builder()
                    .metric(metric.build())
                    .period(PERIOD_SECONDS as i32)
                    .stat("Sum")
                    .build();
                request = request.metric_data_queries(
                    MetricDataQuery::builder().id(id).metric_stat(stat).return_data(true).build(),
                );
            }
        }
        let out = request.send().await.map_err(|e| map_cloudwatch_error(OP, e))?;
        let sum = |id: &str| -> f64 {
            out.metric_data_results()
                .iter()
                .filter(|m| m.id() == Some(id))
                .flat_map(|m| m.values().iter().copied())
                .sum()
        };
        Ok(r.queries
            .iter()
            .enumerate()
            .map(|(i, query)| {
                let (errors, invocations) = GetMetricData::ids(i);
                ErrorCount {
                    alias: query.alias.clone(),
                    version: query.version,
                    since: r.since,
                    invocations: sum(&invocations),
                    errors: sum(&errors),
                }
            })
            .collect())
    }
}
