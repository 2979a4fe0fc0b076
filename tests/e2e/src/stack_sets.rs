//! CloudFormation StackSets in moto, read and changed as an intruder would.

use aws_sdk_cloudformation::Client;
use aws_sdk_cloudformation::error::{ProvideErrorMetadata, SdkError};
use std::collections::BTreeSet;

/// A CloudFormation client of the calling test's management account.
pub async fn cloudformation() -> Client {
    Client::new(&crate::aws::config().await)
}

/// The (account, region) pairs of the stack set's instances.
pub async fn instances(name: &str) -> BTreeSet<(String, String)> {
    let out = cloudformation().await.list_stack_instances().stack_set_name(name).send().await.unwrap();
    out.summaries()
        .iter()
        .map(|s| (s.account().unwrap_or_default().to_string(), s.region().unwrap_or_default().to_string()))
        .collect()
}

/// Makes an out-of-band StackSets call, waiting while the stack set's one operation at a
/// time is taken.
pub async fn when_free<T, E, F, Fut>(mut call: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, SdkError<E>>>,
    E: ProvideErrorMetadata + std::fmt::Debug,
{
    for _ in 0..150 {
        match call().await {
            Ok(value) => return value,
            Err(error) if error.code() == Some("OperationInProgressException") => {
                tokio::time::sleep(std::time::Duration::from_millis(200)).await
            }
            Err(error) => panic!("{error:?}"),
        }
    }
    panic!("the stack set stayed busy for 30 s");
}

/// A stack set made outside orgops (unless a rerun made it already), with these tags.
pub async fn foreign_stack_set(name: &str, tags: &[(&str, &str)]) {
    let client = cloudformation().await;
    if client.describe_stack_set().stack_set_name(name).send().await.is_ok() {
        return;
    }
    let template = r#"{"Resources": {"Topic": {"Type": "AWS::SNS::Topic"}}}"#;
    let mut request = client.create_stack_set().stack_set_name(name).template_body(template);
    for (key, value) in tags {
        request = request.tags(aws_sdk_cloudformation::types::Tag::builder().key(*key).value(*value).build());
    }
    request.send().await.unwrap();
}

/// Whether the stack set exists (and is not DELETED).
pub async fn exists(name: &str) -> bool {
    use aws_sdk_cloudformation::error::ProvideErrorMetadata;
    match cloudformation().await.describe_stack_set().stack_set_name(name).send().await {
        Ok(out) => out.stack_set().is_some_and(|s| s.status().is_none_or(|s| s.as_str() != "DELETED")),
        Err(error) if error.code() == Some("StackSetNotFoundException") => false,
        Err(error) => panic!("{error:?}"),
    }
}
