//! CloudFormation StackSets: the calls orgops makes for a service-managed stack set that
//! deploys to organizational units, and their SDK implementation.

use super::{AwsError, CallGate};
use aws_sdk_cloudformation::Client;
use aws_sdk_cloudformation::types::{
    AccountFilterType, AutoDeployment, Capability, DeploymentTargets, PermissionModels, StackSetOperationPreferences,
    StackSetOperationStatus, Tag,
};
use std::collections::BTreeMap;

const SERVICE: &str = "cloudformation";

/// A stack set as orgops compares it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StackSetInfo {
    /// Its id.
    pub id: String,
    /// Its template.
    pub template: String,
    /// Its tags.
    pub tags: BTreeMap<String, String>,
}

/// One stack instance.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StackInstance {
    /// The account.
    pub account: String,
    /// The region.
    pub region: String,
    /// CURRENT, OUTDATED or INOPERABLE.
    pub status: String,
    /// AWS's reason, when it is not CURRENT.
    pub reason: Option<String>,
}

/// Where a stack set operation stands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OperationState {
    /// Queued or running.
    Running,
    /// Done.
    Succeeded,
    /// Failed or stopped, with AWS's reason.
    Failed(String),
}

/// Where stack instances go: accounts of an OU (all of them when `accounts` is empty).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    /// The OU id.
    pub ou: String,
    /// Only these accounts of it.
    pub accounts: Vec<String>,
}

/// How fast an operation rolls out.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Preferences {
    /// Percentage of accounts per region deployed at once.
    pub max_concurrent_percentage: Option<i32>,
    /// Percentage of accounts per region that may fail before the operation stops.
    pub failure_tolerance_percentage: Option<i32>,
    /// The order of the regions.
    pub region_order: Vec<String>,
}

impl Preferences {
    fn sdk(&self) -> StackSetOperationPreferences {
        StackSetOperationPreferences::builder()
            .set_max_concurrent_percentage(self.max_concurrent_percentage)
            .set_failure_tolerance_percentage(self.failure_tolerance_percentage)
            .set_region_order((!self.region_order.is_empty()).then(|| self.region_order.clone()))
            .build()
    }
}

/// The StackSets calls orgops makes.
pub trait StackSets: Send + Sync + 'static {
    /// DescribeStackSet: `None` when there is none by that name.
    fn describe(&self, name: &str) -> impl Future<Output = Result<Option<StackSetInfo>, AwsError>> + Send;
    /// CreateStackSet, service-managed, deploying by itself to accounts joining its OUs.
    fn create(
        &self,
        name: &str,
        template: &str,
        tags: &BTreeMap<String, String>,
    ) -> impl Future<Output = Result<String, AwsError>> + Send;
    /// UpdateStackSet with a new template, to every instance: the operation id.
    fn update(
        &self,
        name: &str,
        template: &str,
        preferences: &Preferences,
        operation: &str,
    ) -> impl Future<Output = Result<String, AwsError>> + Send;
    /// CreateStackInstances: the operation id.
    fn create_instances(
        &self,
        name: &str,
        targets: &[Target],
        regions: &[String],
        preferences: &Preferences,
        operation: &str,
    ) -> impl Future<Output = Result<String, AwsError>> + Send;
    /// DeleteStackInstances from whole OUs: the operation id.
    fn delete_instances(
        &self,
        name: &str,
        ous: &[String],
        regions: &[String],
        preferences: &Preferences,
        operation: &str,
    ) -> impl Future<Output = Result<String, AwsError>> + Send;
    /// ListStackInstances, all pages.
    fn instances(&self, name: &str) -> impl Future<Output = Result<Vec<StackInstance>, AwsError>> + Send;
    /// DescribeStackSetOperation.
    fn operation(&self, name: &str, id: &str) -> impl Future<Output = Result<OperationState, AwsError>> + Send;
    /// DeleteStackSet.
    fn delete(&self, name: &str) -> impl Future<Output = Result<(), AwsError>> + Send;
}

/// [`StackSets`] on the AWS SDK.
#[derive(Clone)]
pub struct SdkStackSets {
    client: Client,
    gate: CallGate,
}

impl SdkStackSets {
    /// Wraps an SDK client; every call goes through `gate`.
    pub fn new(client: Client, gate: CallGate) -> Self {
        SdkStackSets { client, gate }
    }
}

/// AWS deploys to accounts as they join a target OU, and removes from those that leave.
fn auto_deployment() -> AutoDeployment {
    AutoDeployment::builder().enabled(true).retain_stacks_on_account_removal(false).build()
}

fn not_found(error: &AwsError) -> bool {
    error.is("StackSetNotFoundException")
}

impl StackSets for SdkStackSets {
    async fn describe(&self, name: &str) -> Result<Option<StackSetInfo>, AwsError> {
        match self
            .gate
            .send(SERVICE, "DescribeStackSet", self.client.describe_stack_set().stack_set_name(name).send())
            .await
        {
            Ok(out) => Ok(out.stack_set().filter(|s| s.status().is_none_or(|s| s.as_str() != "DELETED")).map(|s| {
                StackSetInfo {
                    id: s.stack_set_id().unwrap_or_default().to_string(),
                    template: s.template_body().unwrap_or_default().to_string(),
                    tags: s
                        .tags()
                        .iter()
                        .filter_map(|t| Some((t.key()?.to_string(), t.value()?.to_string())))
                        .collect(),
                }
            })),
            Err(error) if not_found(&error) => Ok(None),
            Err(error) => Err(error),
        }
    }

    async fn create(&self, name: &str, template: &str, tags: &BTreeMap<String, String>) -> Result<String, AwsError> {
        let tags = tags.iter().map(|(k, v)| Tag::builder().key(k).value(v).build()).collect();
        let request = self
            .client
            .create_stack_set()
            .stack_set_name(name)
            .template_body(template)
            .permission_model(PermissionModels::ServiceManaged)
            .auto_deployment(auto_deployment())
            .capabilities(Capability::CapabilityNamedIam)
            .set_tags(Some(tags))
            .send();
        let out = self.gate.send(SERVICE, "CreateStackSet", request).await?;
        Ok(out.stack_set_id().unwrap_or_default().to_string())
    }

    async fn update(
        &self,
        name: &str,
        template: &str,
        preferences: &Preferences,
        operation: &str,
    ) -> Result<String, AwsError> {
        let request = self
            .client
            .update_stack_set()
            .stack_set_name(name)
            .template_body(template)
            .permission_model(PermissionModels::ServiceManaged)
            .auto_deployment(auto_deployment())
            .capabilities(Capability::CapabilityNamedIam)
            .operation_preferences(preferences.sdk())
            .operation_id(operation)
            .send();
        let out = self.gate.send(SERVICE, "UpdateStackSet", request).await?;
        Ok(out.operation_id().unwrap_or(operation).to_string())
    }

    async fn create_instances(
        &self,
        name: &str,
        targets: &[Target],
        regions: &[String],
        preferences: &Preferences,
        operation: &str,
    ) -> Result<String, AwsError> {
        // One call per target: only an OU can be named, narrowed to some of its accounts.
        let mut last = operation.to_string();
        for (index, target) in targets.iter().enumerate() {
            let mut deployment = DeploymentTargets::builder().organizational_unit_ids(&target.ou);
            if !target.accounts.is_empty() {
                deployment = deployment
                    .account_filter_type(AccountFilterType::Intersection)
                    .set_accounts(Some(target.accounts.clone()));
            }
            let id = if index == 0 { operation.to_string() } else { format!("{operation}-{index}") };
            let request = self
                .client
                .create_stack_instances()
                .stack_set_name(name)
                .deployment_targets(deployment.build())
                .set_regions(Some(regions.to_vec()))
                .operation_preferences(preferences.sdk())
                .operation_id(&id)
                .send();
            let out = self.gate.send(SERVICE, "CreateStackInstances", request).await?;
            last = out.operation_id().unwrap_or(&id).to_string();
        }
        Ok(last)
    }

    async fn delete_instances(
        &self,
        name: &str,
        ous: &[String],
        regions: &[String],
        preferences: &Preferences,
        operation: &str,
    ) -> Result<String, AwsError> {
        let request = self
            .client
            .delete_stack_instances()
            .stack_set_name(name)
            .deployment_targets(DeploymentTargets::builder().set_organizational_unit_ids(Some(ous.to_vec())).build())
            .set_regions(Some(regions.to_vec()))
            .retain_stacks(false)
            .operation_preferences(preferences.sdk())
            .operation_id(operation)
            .send();
        let out = self.gate.send(SERVICE, "DeleteStackInstances", request).await?;
        Ok(out.operation_id().unwrap_or(operation).to_string())
    }

    async fn instances(&self, name: &str) -> Result<Vec<StackInstance>, AwsError> {
        self.gate
            .paginate(
                SERVICE,
                "ListStackInstances",
                |token| self.client.list_stack_instances().stack_set_name(name).set_next_token(token).send(),
                |out| {
                    let found = out
                        .summaries()
                        .iter()
                        .map(|s| StackInstance {
                            account: s.account().unwrap_or_default().to_string(),
                            region: s.region().unwrap_or_default().to_string(),
                            status: s.status().map(|s| s.as_str().to_string()).unwrap_or_default(),
                            reason: s.status_reason().map(str::to_string),
                        })
                        .collect();
                    (found, out.next_token().map(str::to_string))
                },
            )
            .await
    }

    async fn operation(&self, name: &str, id: &str) -> Result<OperationState, AwsError> {
        let request = self.client.describe_stack_set_operation().stack_set_name(name).operation_id(id).send();
        let out = self.gate.send(SERVICE, "DescribeStackSetOperation", request).await?;
        let operation = out.stack_set_operation();
        Ok(match operation.and_then(|o| o.status()) {
            Some(StackSetOperationStatus::Succeeded) => OperationState::Succeeded,
            Some(StackSetOperationStatus::Failed | StackSetOperationStatus::Stopped) => OperationState::Failed(
                operation
                    .and_then(|o| o.status_details())
                    .and_then(|d| d.failed_stack_instances_count())
                    .map_or_else(|| "the operation failed".to_string(), |n| format!("{n} stack instances failed")),
            ),
            _ => OperationState::Running,
        })
    }

    async fn delete(&self, name: &str) -> Result<(), AwsError> {
        self.gate.send(SERVICE, "DeleteStackSet", self.client.delete_stack_set().stack_set_name(name).send()).await?;
        Ok(())
    }
}
