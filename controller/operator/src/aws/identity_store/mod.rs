//! The Identity Store: groups and users by name (and, for `orgops import`, names by id),
//! as the calls orgops makes and their SDK implementation.

#[cfg(test)]
pub mod fake;

use crate::aws::{AwsError, CallGate};
use aws_sdk_identitystore::Client;
use aws_sdk_identitystore::types::{AlternateIdentifier, UniqueAttribute};
use aws_smithy_types::Document;

const SERVICE: &str = "identitystore";

/// The Identity Store calls orgops makes. `None` when no group or user has the name.
pub trait IdentityStore: Send + Sync + 'static {
    /// GetGroupId by display name.
    fn group_id(
        &self,
        store: &str,
        display_name: &str,
    ) -> impl Future<Output = Result<Option<String>, AwsError>> + Send;
    /// GetUserId by user name.
    fn user_id(&self, store: &str, user_name: &str) -> impl Future<Output = Result<Option<String>, AwsError>> + Send;
    /// DescribeGroup: the group's display name.
    fn group_name(&self, store: &str, id: &str) -> impl Future<Output = Result<Option<String>, AwsError>> + Send;
    /// DescribeUser: the user's user name.
    fn user_name(&self, store: &str, id: &str) -> impl Future<Output = Result<Option<String>, AwsError>> + Send;
    /// ListGroupMemberships, every page: the user ids of the group's members.
    fn members(&self, store: &str, group: &str) -> impl Future<Output = Result<Vec<String>, AwsError>> + Send;
}

/// [`IdentityStore`] on the AWS SDK.
#[derive(Clone)]
pub struct SdkIdentityStore {
    client: Client,
    gate: CallGate,
}

impl SdkIdentityStore {
    /// Wraps an SDK client; every call goes through `gate`.
    pub fn new(client: Client, gate: CallGate) -> Self {
        SdkIdentityStore { client, gate }
    }
}

fn by(attribute: &str, value: &str) -> Result<AlternateIdentifier, AwsError> {
    let unique = UniqueAttribute::builder()
        .attribute_path(attribute)
        .attribute_value(Document::String(value.to_string()))
        .build()
        .map_err(|e| AwsError {
            operation: format!("{SERVICE}:UniqueAttribute"),
            code: None,
            message: e.to_string(),
            kind: crate::aws::FailureKind::Client,
        })?;
    Ok(AlternateIdentifier::UniqueAttribute(unique))
}

fn not_found_is_none(result: Result<String, AwsError>) -> Result<Option<String>, AwsError> {
    match result {
        Ok(id) => Ok(Some(id)),
        Err(error) if error.is("ResourceNotFoundException") => Ok(None),
        Err(error) => Err(error),
    }
}

impl IdentityStore for SdkIdentityStore {
    async fn group_id(&self, store: &str, display_name: &str) -> Result<Option<String>, AwsError> {
        let request =
            self.client.get_group_id().identity_store_id(store).alternate_identifier(by("displayName", display_name)?);
        let result = self.gate.send(SERVICE, "GetGroupId", request.send()).await.map(|out| out.group_id().to_string());
        not_found_is_none(result)
    }

    async fn user_id(&self, store: &str, user_name: &str) -> Result<Option<String>, AwsError> {
        let request =
            self.client.get_user_id().identity_store_id(store).alternate_identifier(by("userName", user_name)?);
        let result = self.gate.send(SERVICE, "GetUserId", request.send()).await.map(|out| out.user_id().to_string());
        not_found_is_none(result)
    }

    async fn group_name(&self, store: &str, id: &str) -> Result<Option<String>, AwsError> {
        let request = self.client.describe_group().identity_store_id(store).group_id(id);
        let result = self.gate.send(SERVICE, "DescribeGroup", request.send()).await;
        Ok(not_found_is_none(result.map(|out| out.display_name().unwrap_or_default().to_string()))?
            .filter(|name| !name.is_empty()))
    }

    async fn user_name(&self, store: &str, id: &str) -> Result<Option<String>, AwsError> {
        let request = self.client.describe_user().identity_store_id(store).user_id(id);
        let result = self.gate.send(SERVICE, "DescribeUser", request.send()).await;
        Ok(not_found_is_none(result.map(|out| out.user_name().unwrap_or_default().to_string()))?
            .filter(|name| !name.is_empty()))
    }

    async fn members(&self, store: &str, group: &str) -> Result<Vec<String>, AwsError> {
        let mut members = Vec::new();
        let mut token = None;
        loop {
            let request =
                self.client.list_group_memberships().identity_store_id(store).group_id(group).set_next_token(token);
            let out = self.gate.send(SERVICE, "ListGroupMemberships", request.send()).await?;
            members.extend(out.group_memberships().iter().filter_map(|m| match m.member_id() {
                Some(aws_sdk_identitystore::types::MemberId::UserId(id)) => Some(id.clone()),
                _ => None,
            }));
            token = out.next_token().map(str::to_string);
            if token.is_none() {
                return Ok(members);
            }
        }
    }
}
