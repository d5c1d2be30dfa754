//! The seam over `aws-sdk-sqs`: the drift-event feed's three requests.

use aws_sdk_sqs::types::{MessageSystemAttributeName, QueueAttributeName};

use super::errors::map_cloudwatch_error as map_sqs_error;
use crate::aws::seam::{Call, Request};
use crate::aws::sqs::{DeleteMessage, GetQueueAttributes, QueueInfo, QueueMessage, ReceiveMessage};
use crate::aws::{AwsError, AwsResult, Operation};

/// SQS through the AWS SDK, for the controller's own queue (`--drift-events-queue`).
#[derive(Clone, Debug)]
pub struct SdkSqs {
    client: aws_sdk_sqs::Client,
}

impl SdkSqs {
    pub fn from_config(config: &aws_config::SdkConfig) -> Self {
        SdkSqs { client: super::super::client::sqs_client(config) }
    }
}

fn malformed(operation: Operation, field: &str) -> AwsError {
    AwsError::Unavailable { operation, message: format!("{operation} answered without {field}") }
}

impl Call<ReceiveMessage> for SdkSqs {
    async fn call(&self, r: &ReceiveMessage) -> AwsResult<Vec<QueueMessage>> {
        const OP: Operation = ReceiveMessage::OPERATION;
        let out = self
            .client
            .receive_message()
            .queue_url(&r.queue_url)
            .max_number_of_messages(r.max_messages)
            .wait_time_seconds(r.wait_seconds)
            .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
            .send()
            .await
            .map_err(|e| map_sqs_error(OP, e))?;
        out.messages()
            .iter()
            .map(|m| {
                let receive_count = m
                    .attributes()
                    .and_then(|a| a.get(&MessageSystemAttributeName::ApproximateReceiveCount))
                    .and_then(|c| c.parse().ok())
                    .unwrap_or(1);
                Ok(QueueMessage {
                    message_id: m.message_id().ok_or_else(|| malformed(OP, "MessageId"))?.to_owned(),
                    receipt_handle: m
                        .receipt_handle()
                        .ok_or_else(|| malformed(OP, "ReceiptHandle"))?
                        .to_owned(),
                    body: m.body().unwrap_or_default().to_owned(),
                    receive_count,
                })
            })
            .collect()
    }
}

impl Call<DeleteMessage> for SdkSqs {
    async fn call(&self, r: &DeleteMessage) -> AwsResult<()> {
        self.client
            .delete_message()
            .queue_url(&r.queue_url)
            .receipt_handle(&r.receipt_handle)
            .send()
            .await
            .map_err(|e| map_sqs_error(DeleteMessage::OPERATION, e))?;
        Ok(())
    }
}

impl Call<GetQueueAttributes> for SdkSqs {
    async fn call(&self, r: &GetQueueAttributes) -> AwsResult<QueueInfo> {
        const OP: Operation = GetQueueAttributes::OPERATION;
        let out = self
            .client
            .get_queue_attributes()
            .queue_url(&r.queue_url)
            .attribute_names(QueueAttributeName::VisibilityTimeout)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
            .send()
            .await
            .map_err(|e| map_sqs_error(OP, e))?;
        let attribute = |name: QueueAttributeName| out.attributes().and_then(|a| a.get(&name));
        Ok(QueueInfo {
            visibility_timeout: attribute(QueueAttributeName::VisibilityTimeout)
                .and_then(|v| v.parse().ok())
                .ok_or_else(|| malformed(OP, "VisibilityTimeout"))?,
            backlog: attribute(QueueAttributeName::ApproximateNumberOfMessages)
                .and_then(|v| v.parse().ok())
                .unwrap_or(0),
        })
    }
}
