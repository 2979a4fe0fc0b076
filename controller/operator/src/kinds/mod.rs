//! The managed kinds, one folder each. A kind only translates between its spec and AWS:
//! the driver (`reconcile/`) owns the order, the AWS layer (`aws/`) the calls.

pub mod account;
pub mod baseline;
pub mod directory;
pub mod permission_set;
pub mod subdomain;

use crate::aws::{AwsError, FailureKind};
use crate::reconcile::Error;

/// Maps an AWS failure onto the driver's classes: throttling and 5xx retry; a refusal
/// is terminal with AWS's code and message.
pub fn aws_error(error: AwsError) -> Error {
    match error.kind {
        FailureKind::Throttled | FailureKind::Transient => Error::retryable(error.to_string()),
        FailureKind::Client => Error::terminal(error.to_string()),
    }
}
