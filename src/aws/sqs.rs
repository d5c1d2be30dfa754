//! The SQS operations of drift events (`--drift-events-queue`, README "Drift events"): one
//! request type each, with its answer. Their rows in the table of operations are in
//! [`super::seam`] (group `SqsApi`); they are answered by the SDK ([`super::sdk`]) and the fake.
//! SQS quotas are not Lambda's: its requests spend from a pool of their own
//! (`super::budget::budgets`).

use super::lambda::request;
use super::seam::{Operation, Request};

/// The most messages one ReceiveMessage returns (SQS's limit).
pub const MAX_MESSAGES: i32 = 10;
/// The longest long poll SQS allows, in seconds: an empty queue costs one request per 20 s.
pub const WAIT_SECONDS: i32 = 20;

/// ReceiveMessage: up to [`MAX_MESSAGES`] messages, waiting up to `wait_seconds` for the first.
#[derive(Clone, Debug, PartialEq)]
pub struct ReceiveMessage {
    pub queue_url: String,
    pub max_messages: i32,
    pub wait_seconds: i32,
}
request!(ReceiveMessage => ReceiveMessage -> Vec<QueueMessage>, |r| Some(&r.queue_url));

impl ReceiveMessage {
    /// A long poll of a whole batch: what the drift-event feed sends in a loop.
    pub fn long_poll(queue_url: &str) -> Self {
        ReceiveMessage {
            queue_url: queue_url.to_owned(),
            max_messages: MAX_MESSAGES,
            wait_seconds: WAIT_SECONDS,
        }
    }
}

/// One received message.
#[derive(Clone, Debug, PartialEq)]
pub struct QueueMessage {
    pub message_id: String,
    /// What DeleteMessage takes: valid for this receipt only.
    pub receipt_handle: String,
    pub body: String,
    /// `ApproximateReceiveCount`: 1 the first time the message is received.
    pub receive_count: u32,
}

/// DeleteMessage: the message of this receipt is done.
#[derive(Clone, Debug, PartialEq)]
pub struct DeleteMessage {
    pub queue_url: String,
    pub receipt_handle: String,
}
request!(DeleteMessage => DeleteMessage -> (), |r| Some(&r.queue_url));

/// GetQueueAttributes: whether the queue can be read at all (start-up health), and how long a
/// received message stays invisible to other consumers.
#[derive(Clone, Debug, PartialEq)]
pub struct GetQueueAttributes {
    pub queue_url: String,
}
request!(GetQueueAttributes => GetQueueAttributes -> QueueInfo, |r| Some(&r.queue_url));

/// What GetQueueAttributes answers that the feed uses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueueInfo {
    /// `VisibilityTimeout`, seconds: a message not deleted within it is delivered again.
    pub visibility_timeout: u32,
    /// `ApproximateNumberOfMessages`: a gauge of the backlog.
    pub backlog: u64,
}

/// The region in a queue URL (`https://sqs.REGION.amazonaws.com/ACCOUNT/NAME`, or the legacy
/// `REGION.queue.amazonaws.com`); `None` for any other host (a local emulator), which then uses
/// the default region.
pub fn region_of_queue(url: &str) -> Option<&str> {
    let host = url.split("://").nth(1)?.split('/').next()?;
    let parts: Vec<&str> = host.split('.').collect();
    match parts.as_slice() {
        ["sqs", region, "amazonaws", ..] => Some(region),
        [region, "queue", "amazonaws", ..] => Some(region),
        _ => None,
    }
}

/// The account in a queue URL's path (`/ACCOUNT/NAME`): whose budget the feed's requests spend.
pub fn account_of_queue(url: &str) -> Option<&str> {
    let path = url.split("://").nth(1)?.split_once('/')?.1;
    let account = path.split('/').next()?;
    (account.len() == 12 && account.bytes().all(|b| b.is_ascii_digit())).then_some(account)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn region_and_account_come_from_the_queue_url() {
        let url = "https://sqs.eu-west-1.amazonaws.com/111122223333/drift";
        assert_eq!((region_of_queue(url), account_of_queue(url)), (Some("eu-west-1"), Some("111122223333")));
        let legacy = "https://eu-west-1.queue.amazonaws.com/111122223333/drift";
        assert_eq!(region_of_queue(legacy), Some("eu-west-1"));
        let local = "http://127.0.0.1:5000/123456789012/drift";
        assert_eq!((region_of_queue(local), account_of_queue(local)), (None, Some("123456789012")));
        assert_eq!(account_of_queue("http://127.0.0.1:5000/queue/drift"), None);
        assert_eq!(region_of_queue("not a url"), None);
    }
}
