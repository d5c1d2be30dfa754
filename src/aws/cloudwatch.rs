//! The CloudWatch operations a rollout watches with (`spec.rollout`): one request type each, with
//! its answer. Their rows in the table of operations are in [`super::seam`] (group
//! `CloudWatchApi`); they are answered by the SDK ([`super::sdk`]) and the fake. Both only read:
//! the controller never writes an alarm or a metric.

use super::lambda::request;
use super::seam::{Operation, Request};
use crate::plan::{AlarmInfo, ErrorCount};

/// DescribeAlarms by name, metric and composite alarms alike. Alarms that do not exist are not
/// in the answer. At most 100 names (a rollout lists at most 10), so the answer is one page.
#[derive(Clone, Debug, PartialEq)]
pub struct DescribeAlarms {
    pub names: Vec<String>,
}
request!(DescribeAlarms => DescribeAlarms -> Vec<AlarmInfo>, |r| r.names.first().map(String::as_str));

/// The most alarm names one DescribeAlarms takes.
pub const MAX_ALARM_NAMES: usize = 100;

/// One weighted version on one alias.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ErrorQuery {
    pub alias: String,
    pub version: u64,
}

/// GetMetricData: the sums of `AWS/Lambda` `Errors` and `Invocations` with the dimensions
/// `FunctionName`, `Resource` (`function:alias`) and `ExecutedVersion`, at a 60-second period,
/// over one window (CloudWatch takes one per request): from the minute `since` falls in to the
/// minute after `until`, a datapoint being stamped with the start of its minute.
#[derive(Clone, Debug, PartialEq)]
pub struct GetMetricData {
    /// The function's name (the `FunctionName` dimension), never an ARN.
    pub function_name: String,
    pub queries: Vec<ErrorQuery>,
    /// Unix seconds: the step's start, as the answer's counts record it.
    pub since: i64,
    pub until: i64,
}
request!(GetMetricData => GetMetricData -> Vec<ErrorCount>, |r| Some(&r.function_name));

/// CloudWatch's metric period for Lambda's metrics: one minute.
pub const PERIOD_SECONDS: i64 = 60;

impl GetMetricData {
    /// The window asked for, in unix seconds: whole minutes covering `[since, until]`.
    pub fn window(&self) -> (i64, i64) {
        let start = self.since - self.since.rem_euclid(PERIOD_SECONDS);
        let end = self.until - self.until.rem_euclid(PERIOD_SECONDS) + PERIOD_SECONDS;
        (start, end.max(start + PERIOD_SECONDS))
    }

    /// The metric query ids of query `i`: (errors, invocations). CloudWatch ids start with a
    /// lower-case letter.
    pub fn ids(i: usize) -> (String, String) {
        (format!("e{i}"), format!("i{i}"))
    }
}

/// `spec.functionName` (a name, a partial ARN or an ARN) as the `FunctionName` dimension.
pub fn function_name_of(function: &str) -> &str {
    function.rsplit(':').next().unwrap_or(function)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_window_covers_the_minutes_from_the_step_start_to_now() {
        let request = GetMetricData {
            function_name: "f".into(),
            queries: Vec::new(),
            since: 1_000_005,
            until: 1_000_130,
        };
        assert_eq!(request.window(), (999_960, 1_000_140));
        let same_minute = GetMetricData { since: 1_000_125, ..request };
        assert_eq!(same_minute.window(), (1_000_080, 1_000_140));
    }

    #[test]
    fn the_dimension_is_the_function_name() {
        assert_eq!(function_name_of("trivia"), "trivia");
        assert_eq!(function_name_of("111122223333:function:trivia"), "trivia");
        assert_eq!(function_name_of("arn:aws:lambda:eu-west-1:111122223333:function:trivia"), "trivia");
    }
}
