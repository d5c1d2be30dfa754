//! The one seam for AWS operations (ARCHITECTURE.md, "One seam for AWS").
//!
//! An operation is defined once: its [`Operation`] value (in the table at the end of this file),
//! its request type and its answer ([`Request::Output`]), beside each other in the service's
//! module ([`super::lambda`]). It is implemented only where something answers it: the SDK
//! ([`super::sdk`]) and the fake (`super::fake`, tests only), each with one `impl Call<R>` per
//! request. Everything that surrounds a request — the call budget, the count, the one retry layer
//! ([`super::budget::Metered`]), the bench's simulated AWS — implements `Call<R>` once, for every
//! `R`, so a new operation costs them nothing.
//!
//! Why one trait per request type (`Call<R>`) rather than one method taking an enum of requests:
//! the engine's calls stay typed. `aws.call(&GetFunction { .. })` answers a `FunctionInfo`, and a
//! request an implementation does not answer is a compile error, where an enum would be a
//! runtime mismatch (a `GetFunction` answered with a list of aliases).
//!
//! Other services (CloudWatch, SQS) add their requests in a module of their own and a group of
//! rows in the table below, which names the alias trait that bundles them (as [`LambdaApi`] bundles
//! Lambda's); their quotas are pools of the budget (`super::budget::budgets`).

use std::future::Future;

use super::cloudwatch::{DescribeAlarms, GetMetricData};
use super::lambda::{
    AddPermission, CreateAlias, CreateMapping, DeleteAlias, DeleteMapping, DeleteVersion, DeleteWarm,
    GetFunction, GetPolicy, ListAliases, ListMappings, ListVersions, ListWarm, PublishVersion, PutWarm,
    RemovePermission, UpdateAlias, UpdateMapping,
};
use super::sqs::{DeleteMessage, GetQueueAttributes, ReceiveMessage};
use super::{AwsError, AwsResult};

/// One AWS operation's request: which operation it is and what it answers.
pub trait Request: Send + Sync {
    type Output: Send;
    const OPERATION: Operation;

    /// The resource the request names (a function name or ARN, an event source ARN), when it
    /// names one: for logs, and for the bench's simulated AWS, which counts requests per set.
    fn resource(&self) -> Option<&str>;
}

/// Something that answers requests of type `R` with one HTTP request each (one call of the
/// fake). Implementations translate their failures into [`AwsError`] and never retry: the one
/// retry layer is [`super::budget::Metered`].
pub trait Call<R: Request>: Send + Sync {
    fn call(&self, request: &R) -> impl Future<Output = AwsResult<R::Output>> + Send;
}

/// A shared implementation answers as itself (a test keeps the fake it hands over).
impl<R: Request, T: Call<R> + ?Sized> Call<R> for std::sync::Arc<T> {
    fn call(&self, request: &R) -> impl Future<Output = AwsResult<R::Output>> + Send {
        (**self).call(request)
    }
}

/// One page of a listing.
#[derive(Clone, Debug, PartialEq)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// `NextMarker`: `None` (or empty) on the last page.
    pub next_marker: Option<String>,
}

impl<T> Page<T> {
    /// Everything in one page: the fake's answer to a listing.
    pub fn last(items: Vec<T>) -> Self {
        Page { items, next_marker: None }
    }
}

/// A listing request: each page is one request through the seam (so each page takes a token, is
/// counted and is retried like any call), and [`List::list`] follows the markers.
pub trait Paged: Request<Output = Page<Self::Item>> + Clone {
    type Item: Send;
    fn set_marker(&mut self, marker: Option<String>);
}

/// Every page of a listing, for whatever answers its pages: `aws.list(ListAliases::new(f))`.
/// Written here rather than with the SDK's paginators because a paginator sends its own
/// requests, which would then bypass the seam's budget, count and retry (a retried page is asked
/// again at the marker it failed with; the pages already read are not). A marker that repeats is
/// refused, so a misbehaving endpoint cannot keep a reconcile paging forever (the SDK's paginator
/// only notices a marker equal to the one it just sent, and then stops without an error).
pub trait List<R: Paged>: Call<R> {
    fn list(&self, mut request: R) -> impl Future<Output = AwsResult<Vec<R::Item>>> + Send {
        async move {
            let mut items = Vec::new();
            let mut seen: Vec<String> = Vec::new();
            loop {
                let page = self.call(&request).await?;
                items.extend(page.items);
                let Some(marker) = page.next_marker.filter(|m| !m.is_empty()) else {
                    return Ok(items);
                };
                if seen.contains(&marker) {
                    return Err(AwsError::Unavailable {
                        operation: R::OPERATION,
                        message: "pagination marker repeated; the listing would never end".to_owned(),
                    });
                }
                seen.push(marker.clone());
                request.set_marker(Some(marker));
            }
        }
    }
}

impl<R: Paged, T: Call<R> + ?Sized> List<R> for T {}

/// The table of operations: each row is an [`Operation`], the request type that carries it, and
/// whether it only reads (safe to retry after a transient failure; not a write for the fake's
/// crash injection). Each group is one AWS service: its IAM prefix and the alias trait that
/// bundles its requests.
macro_rules! operations {
    ($(
        $(#[$group_doc:meta])*
        $group:ident $iam:literal { $( $op:ident($request:ident) $kind:ident, )* }
    )*) => {
        /// The AWS operations the controller uses, by the name the IAM policy uses.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum Operation { $($( $op, )*)* }

        const COUNT: usize = [$($( stringify!($op), )*)*].len();

        impl Operation {
            pub const ALL: [Operation; COUNT] = [$($( Operation::$op, )*)*];

            pub fn name(self) -> &'static str {
                match self { $($( Operation::$op => stringify!($op), )*)* }
            }

            /// Operations that only read.
            pub fn is_read(self) -> bool {
                match self { $($( Operation::$op => operations!(@read $kind), )*)* }
            }

            /// The IAM action that authorises this operation (deleting a version is
            /// `lambda:DeleteFunction` with a qualifier).
            pub fn iam_action(self) -> String {
                let service = match self { $($( Operation::$op => $iam, )*)* };
                format!("{service}:{}", self.name())
            }
        }

        // Each request type carries the operation of its row.
        $($( const _: () = assert!(matches!(<$request as Request>::OPERATION, Operation::$op)); )*)*

        $(
            $(#[$group_doc])*
            pub trait $group: $( Call<$request> + )* Send + Sync {}
            impl<T: ?Sized $( + Call<$request> )* + Send + Sync> $group for T {}
        )*
    };
    (@read read) => { true };
    (@read write) => { false };
}

operations! {
    /// The Lambda control plane: whatever answers every Lambda request. The engine is written
    /// against it, so the fake exercises the same code that talks to AWS.
    LambdaApi "lambda" {
        GetFunction(GetFunction) read,
        ListVersionsByFunction(ListVersions) read,
        ListAliases(ListAliases) read,
        GetPolicy(GetPolicy) read,
        ListEventSourceMappings(ListMappings) read,
        PublishVersion(PublishVersion) write,
        CreateAlias(CreateAlias) write,
        UpdateAlias(UpdateAlias) write,
        DeleteAlias(DeleteAlias) write,
        AddPermission(AddPermission) write,
        RemovePermission(RemovePermission) write,
        CreateEventSourceMapping(CreateMapping) write,
        UpdateEventSourceMapping(UpdateMapping) write,
        DeleteEventSourceMapping(DeleteMapping) write,
        DeleteFunction(DeleteVersion) write,
        ListProvisionedConcurrencyConfigs(ListWarm) read,
        PutProvisionedConcurrencyConfig(PutWarm) write,
        DeleteProvisionedConcurrencyConfig(DeleteWarm) write,
    }
    /// CloudWatch, read by `spec.rollout` only: the alarms it watches and the error-rate guard's
    /// metrics.
    CloudWatchApi "cloudwatch" {
        DescribeAlarms(DescribeAlarms) read,
        GetMetricData(GetMetricData) read,
    }
    /// SQS, read by drift events only (`--drift-events-queue`): the queue of CloudTrail's Lambda
    /// events. Receiving only reads (a message received and not deleted comes back).
    SqsApi "sqs" {
        ReceiveMessage(ReceiveMessage) read,
        DeleteMessage(DeleteMessage) write,
        GetQueueAttributes(GetQueueAttributes) read,
    }
}

/// Every AWS service the engine calls: what the controller's and the CLI's clients answer.
pub trait AwsApi: LambdaApi + CloudWatchApi {}
impl<T: ?Sized + LambdaApi + CloudWatchApi> AwsApi for T {}

impl std::fmt::Display for Operation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;
    use crate::plan::AliasInfo;

    /// Answers ListAliases with the pages it is given, in order, and records each marker asked.
    struct Pages {
        pages: Mutex<Vec<Page<AliasInfo>>>,
        asked: Mutex<Vec<Option<String>>>,
    }

    impl Pages {
        fn new(markers: &[Option<&str>]) -> Self {
            let pages = markers
                .iter()
                .rev()
                .map(|m| Page { items: vec![alias("A")], next_marker: m.map(str::to_owned) })
                .collect();
            Pages { pages: Mutex::new(pages), asked: Mutex::new(Vec::new()) }
        }
    }

    fn alias(name: &str) -> AliasInfo {
        AliasInfo {
            name: name.to_owned(),
            alias_arn: String::new(),
            function_version: "1".to_owned(),
            description: String::new(),
            routing: Default::default(),
            revision_id: String::new(),
        }
    }

    impl Call<ListAliases> for Pages {
        async fn call(&self, request: &ListAliases) -> AwsResult<Page<AliasInfo>> {
            self.asked.lock().unwrap().push(request.marker.clone());
            self.pages.lock().unwrap().pop().ok_or(AwsError::Unavailable {
                operation: Operation::ListAliases,
                message: "asked past the last page".to_owned(),
            })
        }
    }

    #[tokio::test]
    async fn pages_follow_markers_and_stop_on_a_missing_or_empty_one() {
        let pages = Pages::new(&[Some("m1"), Some("m2"), None]);
        let items = pages.list(ListAliases::new("f")).await.unwrap();
        assert_eq!(items.len(), 3);
        assert_eq!(*pages.asked.lock().unwrap(), vec![None, Some("m1".to_owned()), Some("m2".to_owned())]);

        let pages = Pages::new(&[Some("m1"), Some("")]);
        assert_eq!(pages.list(ListAliases::new("f")).await.unwrap().len(), 2);
    }

    #[tokio::test]
    async fn a_repeated_marker_is_refused() {
        let pages = Pages::new(&[Some("m1"), Some("m2"), Some("m1"), None]);
        let error = pages.list(ListAliases::new("f")).await.unwrap_err();
        assert!(matches!(error, AwsError::Unavailable { operation: Operation::ListAliases, .. }), "{error}");
        assert!(error.to_string().contains("repeated"), "{error}");
    }

    #[test]
    fn the_table_names_each_operation_once_with_its_iam_action() {
        let names: std::collections::BTreeSet<_> = Operation::ALL.iter().map(|op| op.name()).collect();
        assert_eq!(names.len(), Operation::ALL.len());
        assert_eq!(Operation::DeleteFunction.iam_action(), "lambda:DeleteFunction");
        assert_eq!(Operation::ListVersionsByFunction.iam_action(), "lambda:ListVersionsByFunction");
        let reads: Vec<_> = Operation::ALL.iter().filter(|op| op.is_read()).map(|op| op.name()).collect();
        assert_eq!(
            reads,
            [
                "GetFunction",
                "ListVersionsByFunction",
                "ListAliases",
                "GetPolicy",
                "ListEventSourceMappings",
                "ListProvisionedConcurrencyConfigs",
                "DescribeAlarms",
                "GetMetricData",
                "ReceiveMessage",
                "GetQueueAttributes"
            ]
        );
        assert_eq!(Operation::DescribeAlarms.iam_action(), "cloudwatch:DescribeAlarms");
        assert_eq!(Operation::DeleteMessage.iam_action(), "sqs:DeleteMessage");
    }
}
