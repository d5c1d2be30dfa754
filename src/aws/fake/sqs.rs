//! A faithful in-memory SQS standard queue (drift events' queue), on tokio's clock so that
//! paused-time tests can step through visibility timeouts. SQS's rules as documented: at most
//! 10 messages per receive, a long poll of at most 20 s that returns as soon as a message is
//! visible, a received message invisible for the visibility timeout and then delivered again
//! with a new receipt handle, and a delete that needs the latest receipt handle.

use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use tokio::time::Instant;

use crate::aws::seam::{Call, Operation, Request};
use crate::aws::sqs::{DeleteMessage, GetQueueAttributes, QueueInfo, QueueMessage, ReceiveMessage};
use crate::aws::{AwsError, AwsResult};

/// How often a long poll looks for a visible message.
const POLL: Duration = Duration::from_millis(20);

#[derive(Debug)]
struct Stored {
    id: String,
    body: String,
    visible_at: Instant,
    receipt: Option<String>,
    receives: u32,
}

#[derive(Debug, Default)]
struct State {
    messages: Vec<Stored>,
    ids: u64,
    denied: bool,
    deleted: usize,
}

/// One queue.
#[derive(Debug)]
pub struct FakeQueue {
    visibility: Duration,
    state: Mutex<State>,
}

impl FakeQueue {
    pub fn new(visibility: Duration) -> Self {
        FakeQueue { visibility, state: Mutex::default() }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// SendMessage, as EventBridge does: the message is visible at once.
    pub fn send(&self, body: impl Into<String>) {
        let mut state = self.lock();
        state.ids += 1;
        let id = format!("m-{}", state.ids);
        state.messages.push(Stored {
            id,
            body: body.into(),
            visible_at: Instant::now(),
            receipt: None,
            receives: 0,
        });
    }

    /// Every request refused with AccessDenied (a queue policy or IAM without the grant).
    pub fn deny(&self, denied: bool) {
        self.lock().denied = denied;
    }

    /// Messages still in the queue, visible or not.
    pub fn len(&self) -> usize {
        self.lock().messages.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn deleted(&self) -> usize {
        self.lock().deleted
    }

    fn start(&self, op: Operation) -> AwsResult<MutexGuard<'_, State>> {
        let state = self.lock();
        if state.denied {
            return Err(AwsError::AccessDenied {
                operation: op,
                message: format!("AccessDenied: not authorized to perform sqs:{}", op.name()),
            });
        }
        Ok(state)
    }

    fn take_visible(&self, state: &mut State, max: usize) -> Vec<QueueMessage> {
        let now = Instant::now();
        let mut out = Vec::new();
        for m in state.messages.iter_mut().filter(|m| m.visible_at <= now).take(max) {
            m.receives += 1;
            let receipt = format!("{}#{}", m.id, m.receives);
            m.receipt = Some(receipt.clone());
            m.visible_at = now + self.visibility;
            out.push(QueueMessage {
                message_id: m.id.clone(),
                receipt_handle: receipt,
                body: m.body.clone(),
                receive_count: m.receives,
            });
        }
        out
    }
}

impl Call<ReceiveMessage> for FakeQueue {
    async fn call(&self, r: &ReceiveMessage) -> AwsResult<Vec<QueueMessage>> {
        const OP: Operation = ReceiveMessage::OPERATION;
        if !(1..=10).contains(&r.max_messages) {
            return Err(AwsError::Invalid {
                operation: OP,
                message: format!(
                    "InvalidParameterValue: Value {} for parameter MaxNumberOfMessages is invalid. Reason: Must be between 1 and 10, if provided.",
                    r.max_messages
                ),
            });
        }
        if !(0..=20).contains(&r.wait_seconds) {
            return Err(AwsError::Invalid {
                operation: OP,
                message: format!(
                    "InvalidParameterValue: Value {} for parameter WaitTimeSeconds is invalid. Reason: Must be >= 0 and <= 20, if provided.",
                    r.wait_seconds
                ),
            });
        }
        let deadline = Instant::now() + Duration::from_secs(r.wait_seconds as u64);
        let mut first = true;
        loop {
            {
                let mut state = if first { self.start(OP)? } else { self.lock() };
                first = false;
                let got = self.take_visible(&mut state, r.max_messages as usize);
                if !got.is_empty() || Instant::now() >= deadline {
                    return Ok(got);
                }
            }
            tokio::time::sleep(POLL).await;
        }
    }
}

impl Call<DeleteMessage> for FakeQueue {
    async fn call(&self, r: &DeleteMessage) -> AwsResult<()> {
        const OP: Operation = DeleteMessage::OPERATION;
        let mut state = self.start(OP)?;
        match state.messages.iter().position(|m| m.receipt.as_deref() == Some(r.receipt_handle.as_str())) {
            Some(i) => {
                state.messages.remove(i);
                state.deleted += 1;
                Ok(())
            }
            None => Err(AwsError::Invalid {
                operation: OP,
                message: format!(
                    "ReceiptHandleIsInvalid: The input receipt handle \"{}\" is not a valid receipt handle.",
                    r.receipt_handle
                ),
            }),
        }
    }
}

impl Call<GetQueueAttributes> for FakeQueue {
    async fn call(&self, _: &GetQueueAttributes) -> AwsResult<QueueInfo> {
        let state = self.start(GetQueueAttributes::OPERATION)?;
        let now = Instant::now();
        Ok(QueueInfo {
            visibility_timeout: self.visibility.as_secs() as u32,
            backlog: state.messages.iter().filter(|m| m.visible_at <= now).count() as u64,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_received_message_comes_back_after_the_visibility_timeout_with_a_new_receipt() {
        let q = FakeQueue::new(Duration::from_secs(30));
        q.send("a");
        let first = q.call(&ReceiveMessage::long_poll("q")).await.unwrap();
        assert_eq!((first.len(), first[0].receive_count), (1, 1));
        // Invisible: a long poll waits its 20 s and returns nothing.
        let start = Instant::now();
        assert!(q.call(&ReceiveMessage::long_poll("q")).await.unwrap().is_empty());
        assert!(start.elapsed() >= Duration::from_secs(20));
        tokio::time::advance(Duration::from_secs(10)).await;
        let again = q.call(&ReceiveMessage::long_poll("q")).await.unwrap();
        assert_eq!(again[0].receive_count, 2);
        let stale = DeleteMessage { queue_url: "q".into(), receipt_handle: first[0].receipt_handle.clone() };
        assert!(
            matches!(q.call(&stale).await, Err(AwsError::Invalid { .. })),
            "the old receipt is not valid"
        );
        let latest = DeleteMessage { queue_url: "q".into(), receipt_handle: again[0].receipt_handle.clone() };
        q.call(&latest).await.unwrap();
        assert!(q.is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn batches_and_long_polls_are_bounded_as_in_sqs() {
        let q = FakeQueue::new(Duration::from_secs(30));
        for i in 0..12 {
            q.send(format!("{i}"));
        }
        assert_eq!(q.call(&ReceiveMessage::long_poll("q")).await.unwrap().len(), 10);
        let too_many = ReceiveMessage { max_messages: 11, ..ReceiveMessage::long_poll("q") };
        assert!(matches!(q.call(&too_many).await, Err(AwsError::Invalid { .. })));
        let too_long = ReceiveMessage { wait_seconds: 21, ..ReceiveMessage::long_poll("q") };
        assert!(matches!(q.call(&too_long).await, Err(AwsError::Invalid { .. })));
        q.deny(true);
        assert!(matches!(
            q.call(&GetQueueAttributes { queue_url: "q".into() }).await,
            Err(AwsError::AccessDenied { .. })
        ));
    }
}
