//! The SQS queue the change feed delivers to: long-polled receives and batch deletes.

use crate::aws::{AwsError, CallGate};

/// The longest long poll SQS allows: an idle queue costs one receive per 20 s.
pub const LONG_POLL_SECONDS: i32 = 20;

/// A message taken from the queue, hidden from other receivers until deleted or until
/// its visibility timeout ends.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Received {
    /// What deletes it.
    pub receipt: String,
    /// The EventBridge event.
    pub body: String,
}

/// The change queue.
pub trait ChangeQueue: Send + Sync + 'static {
    /// Waits up to `wait_seconds` for messages, and returns up to ten.
    fn receive(&self, wait_seconds: i32) -> impl Future<Output = Result<Vec<Received>, AwsError>> + Send;
    /// Deletes handled messages.
    fn delete(&self, receipts: Vec<String>) -> impl Future<Output = Result<(), AwsError>> + Send;
}

/// The change queue through the SDK.
#[derive(Clone)]
pub struct SdkChangeQueue {
    client: aws_sdk_sqs::Client,
    url: String,
    gate: CallGate,
}

impl SdkChangeQueue {
    /// The queue at `url`.
    pub fn new(client: aws_sdk_sqs::Client, url: String, gate: CallGate) -> Self {
        SdkChangeQueue { client, url, gate }
    }
}

impl ChangeQueue for SdkChangeQueue {
    async fn receive(&self, wait_seconds: i32) -> Result<Vec<Received>, AwsError> {
        let request = self
            .client
            .receive_message()
            .queue_url(&self.url)
            .max_number_of_messages(10)
            .wait_time_seconds(wait_seconds);
        let out = self.gate.send("sqs", "ReceiveMessage", request.send()).await?;
        Ok(out
            .messages
            .unwrap_or_default()
            .into_iter()
            .filter_map(|m| Some(Received { receipt: m.receipt_handle?, body: m.body.unwrap_or_default() }))
            .collect())
    }

    async fn delete(&self, receipts: Vec<String>) -> Result<(), AwsError> {
        if receipts.is_empty() {
            return Ok(());
        }
        let mut request = self.client.delete_message_batch().queue_url(&self.url);
        for (index, receipt) in receipts.into_iter().enumerate() {
            let entry = aws_sdk_sqs::types::DeleteMessageBatchRequestEntry::builder()
                .id(index.to_string())
                .receipt_handle(receipt)
                .build()
                .map_err(|e| AwsError {
                    operation: "sqs:DeleteMessageBatch".into(),
                    code: None,
                    message: e.to_string(),
                    kind: crate::aws::FailureKind::Client,
                })?;
            request = request.entries(entry);
        }
        let out = self.gate.send("sqs", "DeleteMessageBatch", request.send()).await?;
        match out.failed.first() {
            // Not deleted: it comes back after its visibility timeout and is handled again,
            // which requeues objects once more and changes nothing else.
            Some(failed) => Err(AwsError {
                operation: "sqs:DeleteMessageBatch".into(),
                code: Some(failed.code.clone()),
                message: failed.message.clone().unwrap_or_default(),
                kind: if failed.sender_fault {
                    crate::aws::FailureKind::Client
                } else {
                    crate::aws::FailureKind::Transient
                },
            }),
            None => Ok(()),
        }
    }
}
