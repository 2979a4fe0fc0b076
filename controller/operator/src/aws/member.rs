//! Member-account access, shared by every kind that acts inside team accounts: STS
//! AssumeRole into the account's member role (optionally through a hub role first). One
//! SDK configuration per account is built once and reused; its credentials are cached by
//! the SDK and refreshed before they expire.

use crate::aws::{AwsError, CallGate, FailureKind};
use aws_config::SdkConfig;
use aws_config::sts::AssumeRoleProvider;
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use std::collections::HashMap;
use tokio::sync::{Mutex, OnceCell};

/// Who orgops is: its own account and the partition of its ARNs.
#[derive(Clone, Debug)]
struct Caller {
    account: String,
    partition: String,
    arn: String,
}

/// The session name of every role orgops assumes: CloudTrail records it, so the change
/// feed tells orgops's writes in member accounts from people's.
pub const SESSION_NAME: &str = "orgops";

/// How orgops reaches member accounts.
#[derive(Clone, Debug)]
pub struct MemberRoles {
    /// The role assumed in each member account (`OrganizationAccountAccessRole`).
    pub member_role_name: String,
    /// A role assumed first, whose credentials then assume the member role.
    pub hub_role_arn: Option<String>,
}

/// SDK configurations per account.
pub struct MemberAccess {
    base: SdkConfig,
    roles: MemberRoles,
    gate: CallGate,
    caller: OnceCell<Caller>,
    hub: OnceCell<SdkConfig>,
    configs: Mutex<HashMap<String, SdkConfig>>,
}

impl MemberAccess {
    /// Access from orgops's own credentials (`base`).
    pub fn new(base: SdkConfig, roles: MemberRoles, gate: CallGate) -> Self {
        MemberAccess {
            base,
            roles,
            gate,
            caller: OnceCell::new(),
            hub: OnceCell::new(),
            configs: Mutex::new(HashMap::new()),
        }
    }

    async fn caller(&self) -> Result<&Caller, AwsError> {
        self.caller
            .get_or_try_init(|| async {
                let client = aws_sdk_sts::Client::new(&self.base);
                let out = self.gate.send("sts", "GetCallerIdentity", client.get_caller_identity().send()).await?;
                let arn = out.arn().unwrap_or_default();
                Ok(Caller {
                    account: out.account().unwrap_or_default().to_string(),
                    partition: arn.split(':').nth(1).filter(|p| !p.is_empty()).unwrap_or("aws").to_string(),
                    arn: arn.to_string(),
                })
            })
            .await
    }

    /// orgops's own principal, as GetCallerIdentity names it.
    pub async fn caller_arn(&self) -> Result<String, AwsError> {
        Ok(self.caller().await?.arn.clone())
    }

    /// The member role's ARN in an account.
    pub async fn role_arn(&self, account_id: &str) -> Result<String, AwsError> {
        let partition = &self.caller().await?.partition;
        Ok(format!("arn:{partition}:iam::{account_id}:role/{}", self.roles.member_role_name))
    }

    async fn hub(&self) -> Result<&SdkConfig, AwsError> {
        let Some(hub_arn) = &self.roles.hub_role_arn else { return Ok(&self.base) };
        self.hub.get_or_try_init(|| async { self.assume(&self.base, hub_arn, None).await }).await
    }

    /// Credentials of `role_arn` (the member role of `account`, or the hub role).
    async fn assume(&self, from: &SdkConfig, role_arn: &str, account: Option<&str>) -> Result<SdkConfig, AwsError> {
        let provider = AssumeRoleProvider::builder(role_arn).session_name(SESSION_NAME).configure(from).build().await;
        // Assume once now, so a role that cannot be assumed is named here, not as an
        // opaque credentials failure of some later call.
        provider.provide_credentials().await.map_err(|e| {
            let why = crate::aws::error_chain(&e);
            let message = match account {
                Some(account) => format!("cannot assume role {role_arn} in account {account}: {why}"),
                None => format!("cannot assume the hub role {role_arn}: {why}"),
            };
            AwsError { operation: "sts:AssumeRole".into(), code: None, message, kind: FailureKind::Transient }
        })?;
        self.gate.count("sts", "AssumeRole");
        Ok(from.to_builder().credentials_provider(SharedCredentialsProvider::new(provider)).build())
    }

    /// The SDK configuration acting in `account_id`: orgops's own in its own account, the
    /// member role's elsewhere. Built once per account.
    pub async fn config(&self, account_id: &str) -> Result<SdkConfig, AwsError> {
        if self.caller().await?.account == account_id {
            return Ok(self.base.clone());
        }
        let mut configs = self.configs.lock().await;
        if let Some(config) = configs.get(account_id) {
            return Ok(config.clone());
        }
        let role = self.role_arn(account_id).await?;
        let hub = self.hub().await?.clone();
        let config = self.assume(&hub, &role, Some(account_id)).await?;
        configs.insert(account_id.to_string(), config.clone());
        Ok(config)
    }
}
