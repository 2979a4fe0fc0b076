//! AWS Organizations: the calls orgops makes, and their SDK implementation.

#[cfg(test)]
pub mod fake;

use crate::aws::{AwsError, CallGate, Permit};
use aws_sdk_organizations::Client;
use aws_sdk_organizations::types::{Account, CreateAccountState, CreateAccountStatus as SdkCreateStatus, Tag};
use std::collections::BTreeMap;

/// Tags as key → value.
pub type Tags = BTreeMap<String, String>;

/// An account as Organizations describes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OrgAccount {
    /// Account id.
    pub id: String,
    /// Account ARN.
    pub arn: String,
    /// Display name.
    pub name: String,
    /// Root user email.
    pub email: String,
    /// ACTIVE, SUSPENDED or PENDING_CLOSURE.
    pub state: String,
}

/// The organization's root.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OrgRoot {
    /// Root id (`r-…`).
    pub id: String,
    /// Root ARN: `arn:<partition>:organizations::<management account>:root/<org id>/<root id>`.
    pub arn: String,
}

impl OrgRoot {
    /// The ARN AWS gives an account of this organization: the root's ARN with
    /// `account/<org id>/<account id>` in place of `root/<org id>/<root id>`.
    pub fn account_arn(&self, account_id: &str) -> Option<String> {
        let (prefix, resource) = self.arn.split_once(":root/")?;
        let (org_id, _) = resource.split_once('/')?;
        Some(format!("{prefix}:account/{org_id}/{account_id}"))
    }
}

/// An organizational unit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OrgUnit {
    /// OU id.
    pub id: String,
    /// OU name.
    pub name: String,
}

/// Where a CreateAccount request stands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CreateState {
    /// Still running.
    InProgress,
    /// Done: the new account's id.
    Succeeded(String),
    /// Failed: AWS's reason (`EMAIL_ALREADY_EXISTS`, `ACCOUNT_LIMIT_EXCEEDED`, ...).
    Failed(String),
}

/// A CreateAccount request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CreateRequest {
    /// The request id.
    pub id: String,
    /// The account name it asked for.
    pub account_name: String,
    /// Where it stands.
    pub state: CreateState,
    /// When it was made, in seconds since the epoch.
    pub requested_at: Option<i64>,
}

/// The Organizations calls orgops makes.
pub trait Organizations: Send + Sync + 'static {
    /// ListRoots: the organization's root.
    fn root(&self) -> impl Future<Output = Result<OrgRoot, AwsError>> + Send;
    /// ListOrganizationalUnitsForParent, all pages.
    fn child_ous(&self, parent_id: &str) -> impl Future<Output = Result<Vec<OrgUnit>, AwsError>> + Send;
    /// ListAccountsForParent, all pages.
    fn accounts_in(&self, parent_id: &str) -> impl Future<Output = Result<Vec<OrgAccount>, AwsError>> + Send;
    /// DescribeAccount.
    fn describe_account(&self, account_id: &str) -> impl Future<Output = Result<OrgAccount, AwsError>> + Send;
    /// ListParents: the account's parent OU or root id.
    fn parent_of(&self, account_id: &str) -> impl Future<Output = Result<String, AwsError>> + Send;
    /// ListTagsForResource, all pages.
    fn tags_of(&self, resource_id: &str) -> impl Future<Output = Result<Tags, AwsError>> + Send;
    /// Waits for CreateAccount's rate limit: the permit lets one request go out at once.
    fn reserve_create(&self) -> impl Future<Output = Permit> + Send;
    /// CreateAccount with tags, sent at once on a permit. Not idempotent: the caller must
    /// guard against repeats, and the request is never retried here.
    fn create_account(
        &self,
        permit: Permit,
        name: &str,
        email: &str,
        tags: &Tags,
    ) -> impl Future<Output = Result<CreateRequest, AwsError>> + Send;
    /// DescribeCreateAccountStatus.
    fn create_request(&self, request_id: &str) -> impl Future<Output = Result<CreateRequest, AwsError>> + Send;
    /// ListCreateAccountStatus, all states, all pages.
    fn create_requests(&self) -> impl Future<Output = Result<Vec<CreateRequest>, AwsError>> + Send;
    /// MoveAccount.
    fn move_account(&self, account_id: &str, from: &str, to: &str)
    -> impl Future<Output = Result<(), AwsError>> + Send;
    /// TagResource.
    fn tag(&self, resource_id: &str, tags: &Tags) -> impl Future<Output = Result<(), AwsError>> + Send;
    /// UntagResource.
    fn untag(&self, resource_id: &str, keys: &[String]) -> impl Future<Output = Result<(), AwsError>> + Send;
    /// CloseAccount.
    fn close_account(&self, account_id: &str) -> impl Future<Output = Result<(), AwsError>> + Send;
}

/// [`Organizations`] on the AWS SDK.
#[derive(Clone)]
pub struct SdkOrganizations {
    client: Client,
    gate: CallGate,
}

impl SdkOrganizations {
    /// Wraps an SDK client; every call goes through `gate`.
    pub fn new(client: Client, gate: CallGate) -> Self {
        SdkOrganizations { client, gate }
    }
}

const SERVICE: &str = "organizations";

fn account(a: &Account) -> OrgAccount {
    let state = a
        .state()
        .map(|s| s.as_str().to_string())
        .or_else(|| a.status().map(|s| s.as_str().to_string()))
        .unwrap_or_default();
    OrgAccount {
        id: a.id().unwrap_or_default().to_string(),
        arn: a.arn().unwrap_or_default().to_string(),
        name: a.name().unwrap_or_default().to_string(),
        email: a.email().unwrap_or_default().to_string(),
        state,
    }
}

fn create_request(s: &SdkCreateStatus) -> CreateRequest {
    let state = match s.state() {
        Some(CreateAccountState::Succeeded) => CreateState::Succeeded(s.account_id().unwrap_or_default().to_string()),
        Some(CreateAccountState::Failed) => {
            CreateState::Failed(s.failure_reason().map(|r| r.as_str().to_string()).unwrap_or_else(|| "UNKNOWN".into()))
        }
        _ => CreateState::InProgress,
    };
    CreateRequest {
        id: s.id().unwrap_or_default().to_string(),
        account_name: s.account_name().unwrap_or_default().to_string(),
        state,
        requested_at: s.requested_timestamp().map(|t| t.secs()),
    }
}

fn sdk_tags(tags: &Tags) -> Result<Vec<Tag>, AwsError> {
    tags.iter()
        .map(|(k, v)| {
            Tag::builder().key(k).value(v).build().map_err(|e| AwsError {
                operation: "organizations:Tag".into(),
                code: None,
                message: e.to_string(),
                kind: crate::aws::FailureKind::Client,
            })
        })
        .collect()
}

impl Organizations for SdkOrganizations {
    async fn root(&self) -> Result<OrgRoot, AwsError> {
        let out = self.gate.send(SERVICE, "ListRoots", self.client.list_roots().send()).await?;
        let root = out.roots().first();
        Ok(OrgRoot {
            id: root.and_then(|r| r.id()).unwrap_or_default().to_string(),
            arn: root.and_then(|r| r.arn()).unwrap_or_default().to_string(),
        })
    }

    async fn child_ous(&self, parent_id: &str) -> Result<Vec<OrgUnit>, AwsError> {
        self.gate
            .paginate(
                SERVICE,
                "ListOrganizationalUnitsForParent",
                |token| {
                    self.client.list_organizational_units_for_parent().parent_id(parent_id).set_next_token(token).send()
                },
                |out| {
                    let units = out
                        .organizational_units()
                        .iter()
                        .map(|ou| OrgUnit {
                            id: ou.id().unwrap_or_default().to_string(),
                            name: ou.name().unwrap_or_default().to_string(),
                        })
                        .collect();
                    (units, out.next_token().map(str::to_string))
                },
            )
            .await
    }

    async fn accounts_in(&self, parent_id: &str) -> Result<Vec<OrgAccount>, AwsError> {
        self.gate
            .paginate(
                SERVICE,
                "ListAccountsForParent",
                |token| self.client.list_accounts_for_parent().parent_id(parent_id).set_next_token(token).send(),
                |out| (out.accounts().iter().map(account).collect(), out.next_token().map(str::to_string)),
            )
            .await
    }

    async fn describe_account(&self, account_id: &str) -> Result<OrgAccount, AwsError> {
        let request = self.client.describe_account().account_id(account_id).send();
        let out = self.gate.send(SERVICE, "DescribeAccount", request).await?;
        out.account().map(account).ok_or_else(|| AwsError {
            operation: "organizations:DescribeAccount".into(),
            code: None,
            message: format!("no account {account_id} in the answer"),
            kind: crate::aws::FailureKind::Transient,
        })
    }

    async fn parent_of(&self, account_id: &str) -> Result<String, AwsError> {
        let out =
            self.gate.send(SERVICE, "ListParents", self.client.list_parents().child_id(account_id).send()).await?;
        Ok(out.parents().first().and_then(|p| p.id()).unwrap_or_default().to_string())
    }

    async fn tags_of(&self, resource_id: &str) -> Result<Tags, AwsError> {
        let pairs = self
            .gate
            .paginate(
                SERVICE,
                "ListTagsForResource",
                |token| self.client.list_tags_for_resource().resource_id(resource_id).set_next_token(token).send(),
                |out| {
                    let pairs = out.tags().iter().map(|t| (t.key().to_string(), t.value().to_string())).collect();
                    (pairs, out.next_token().map(str::to_string))
                },
            )
            .await?;
        Ok(pairs.into_iter().collect())
    }

    async fn reserve_create(&self) -> Permit {
        self.gate.reserve(SERVICE, "CreateAccount").await
    }

    async fn create_account(
        &self,
        permit: Permit,
        name: &str,
        email: &str,
        tags: &Tags,
    ) -> Result<CreateRequest, AwsError> {
        // A retry after a lost answer could create a second account: the caller's marker
        // settles a lost answer instead, so the SDK must not retry this one.
        let no_retries = aws_sdk_organizations::config::Builder::default()
            .retry_config(aws_sdk_organizations::config::retry::RetryConfig::disabled());
        let request = self
            .client
            .create_account()
            .account_name(name)
            .email(email)
            .set_tags(Some(sdk_tags(tags)?))
            .customize()
            .config_override(no_retries)
            .send();
        let out = self.gate.send_with(permit, request).await?;
        Ok(out.create_account_status().map(create_request).unwrap_or_else(|| CreateRequest {
            id: String::new(),
            account_name: name.to_string(),
            state: CreateState::InProgress,
            requested_at: None,
        }))
    }

    async fn create_request(&self, request_id: &str) -> Result<CreateRequest, AwsError> {
        let request = self.client.describe_create_account_status().create_account_request_id(request_id).send();
        let out = self.gate.send(SERVICE, "DescribeCreateAccountStatus", request).await?;
        Ok(out.create_account_status().map(create_request).unwrap_or(CreateRequest {
            id: request_id.to_string(),
            account_name: String::new(),
            state: CreateState::InProgress,
            requested_at: None,
        }))
    }

    async fn create_requests(&self) -> Result<Vec<CreateRequest>, AwsError> {
        self.gate
            .paginate(
                SERVICE,
                "ListCreateAccountStatus",
                |token| self.client.list_create_account_status().set_next_token(token).send(),
                |out| {
                    let requests = out.create_account_statuses().iter().map(create_request).collect();
                    (requests, out.next_token().map(str::to_string))
                },
            )
            .await
    }

    async fn move_account(&self, account_id: &str, from: &str, to: &str) -> Result<(), AwsError> {
        let request =
            self.client.move_account().account_id(account_id).source_parent_id(from).destination_parent_id(to).send();
        self.gate.send(SERVICE, "MoveAccount", request).await?;
        Ok(())
    }

    async fn tag(&self, resource_id: &str, tags: &Tags) -> Result<(), AwsError> {
        let request = self.client.tag_resource().resource_id(resource_id).set_tags(Some(sdk_tags(tags)?)).send();
        self.gate.send(SERVICE, "TagResource", request).await?;
        Ok(())
    }

    async fn untag(&self, resource_id: &str, keys: &[String]) -> Result<(), AwsError> {
        let request = self.client.untag_resource().resource_id(resource_id).set_tag_keys(Some(keys.to_vec())).send();
        self.gate.send(SERVICE, "UntagResource", request).await?;
        Ok(())
    }

    async fn close_account(&self, account_id: &str) -> Result<(), AwsError> {
        self.gate.send(SERVICE, "CloseAccount", self.client.close_account().account_id(account_id).send()).await?;
        Ok(())
    }
}
