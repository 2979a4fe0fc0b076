//! CloudFormation StackSets: the calls orgops makes for a stack set, service-managed (it
//! deploys to organizational units, and by itself to accounts joining them) or
//! self-managed (to listed accounts), and their SDK implementation.

#[cfg(test)]
pub mod fake;

use crate::aws::{AwsError, CallGate};
use aws_sdk_cloudformation::Client;
use aws_sdk_cloudformation::types::{
    AccountFilterType, AutoDeployment, Capability, DeploymentTargets, Parameter, PermissionModels,
    StackSetOperationPreferences, StackSetOperationStatus, Tag,
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
    /// Its parameters' values.
    pub parameters: BTreeMap<String, String>,
    /// Its tags.
    pub tags: BTreeMap<String, String>,
    /// CloudFormation's drift detection: DRIFTED, IN_SYNC or NOT_CHECKED.
    pub drift_status: Option<String>,
}

/// What a stack set deploys and how it reaches accounts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StackSetSpec {
    /// The template body.
    pub template: String,
    /// Its parameters' values.
    pub parameters: BTreeMap<String, String>,
    /// Self-managed (listed accounts) rather than service-managed (OUs, with automatic
    /// deployment).
    pub self_managed: bool,
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
    /// The OU it was deployed through (service-managed stack sets).
    pub ou: Option<String>,
    /// Its stack's drift: DRIFTED, IN_SYNC, UNKNOWN or NOT_CHECKED.
    pub drift_status: Option<String>,
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

/// Where stack instances go: the accounts of OUs (all of them when `accounts` is empty),
/// or, with no OU, the listed accounts of a self-managed stack set.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    /// OU ids.
    pub ous: Vec<String>,
    /// Only these accounts.
    pub accounts: Vec<String>,
}

impl Target {
    /// The OU deployment targets; `None` for listed accounts, which self-managed stack
    /// sets take as the request's `Accounts`.
    fn sdk(&self) -> Option<DeploymentTargets> {
        if self.ous.is_empty() {
            return None;
        }
        let accounts = (!self.accounts.is_empty()).then(|| self.accounts.clone());
        let targets = DeploymentTargets::builder()
            .set_organizational_unit_ids(Some(self.ous.clone()))
            .set_account_filter_type(accounts.is_some().then_some(AccountFilterType::Intersection))
            .set_accounts(accounts)
            .build();
        Some(targets)
    }

    fn listed_accounts(&self) -> Option<Vec<String>> {
        self.ous.is_empty().then(|| self.accounts.clone())
    }
}

/// How fast an operation rolls out.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Preferences {
    /// Accounts per region deployed at once.
    pub max_concurrent_count: Option<i32>,
    /// Percentage of accounts per region deployed at once.
    pub max_concurrent_percentage: Option<i32>,
    /// Accounts per region that may fail before the operation stops.
    pub failure_tolerance_count: Option<i32>,
    /// Percentage of accounts per region that may fail before the operation stops.
    pub failure_tolerance_percentage: Option<i32>,
    /// The order of the regions.
    pub region_order: Vec<String>,
}

impl Preferences {
    fn sdk(&self) -> StackSetOperationPreferences {
        StackSetOperationPreferences::builder()
            .set_max_concurrent_count(self.max_concurrent_count)
            .set_max_concurrent_percentage(self.max_concurrent_percentage)
            .set_failure_tolerance_count(self.failure_tolerance_count)
            .set_failure_tolerance_percentage(self.failure_tolerance_percentage)
            .set_region_order((!self.region_order.is_empty()).then(|| self.region_order.clone()))
            .build()
    }
}

/// The StackSets calls orgops makes.
pub trait StackSets: Send + Sync + 'static {
    /// DescribeStackSet: `None` when there is none by that name.
    fn describe(&self, name: &str) -> impl Future<Output = Result<Option<StackSetInfo>, AwsError>> + Send;
    /// CreateStackSet; a service-managed one deploys by itself to accounts joining its OUs.
    fn create(
        &self,
        name: &str,
        spec: &StackSetSpec,
        tags: &BTreeMap<String, String>,
    ) -> impl Future<Output = Result<String, AwsError>> + Send;
    /// UpdateStackSet with a new template and parameters, to every instance: the
    /// operation id.
    fn update(
        &self,
        name: &str,
        spec: &StackSetSpec,
        preferences: &Preferences,
        operation: &str,
    ) -> impl Future<Output = Result<String, AwsError>> + Send;
    /// CreateStackInstances: the operation id.
    fn create_instances(
        &self,
        name: &str,
        target: &Target,
        regions: &[String],
        preferences: &Preferences,
        operation: &str,
    ) -> impl Future<Output = Result<String, AwsError>> + Send;
    /// DeleteStackInstances, keeping the stacks in the accounts when `retain_stacks`: the
    /// operation id.
    fn delete_instances(
        &self,
        name: &str,
        target: &Target,
        regions: &[String],
        retain_stacks: bool,
        preferences: &Preferences,
        operation: &str,
    ) -> impl Future<Output = Result<String, AwsError>> + Send;
    /// DetectStackSetDrift: the operation id.
    fn detect_drift(&self, name: &str, operation: &str) -> impl Future<Output = Result<String, AwsError>> + Send;
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
fn auto_deployment(spec: &StackSetSpec) -> Option<AutoDeployment> {
    (!spec.self_managed)
        .then(|| AutoDeployment::builder().enabled(true).retain_stacks_on_account_removal(false).build())
}

fn permission_model(spec: &StackSetSpec) -> PermissionModels {
    if spec.self_managed { PermissionModels::SelfManaged } else { PermissionModels::ServiceManaged }
}

fn parameters(spec: &StackSetSpec) -> Option<Vec<Parameter>> {
    let list: Vec<Parameter> = spec
        .parameters
        .iter()
        .map(|(key, value)| Parameter::builder().parameter_key(key).parameter_value(value).build())
        .collect();
    (!list.is_empty()).then_some(list)
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
                    parameters: s
                        .parameters()
                        .iter()
                        .filter_map(|p| Some((p.parameter_key()?.to_string(), p.parameter_value()?.to_string())))
                        .collect(),
                    tags: s
                        .tags()
                        .iter()
                        .filter_map(|t| Some((t.key()?.to_string(), t.value()?.to_string())))
                        .collect(),
                    drift_status: s
                        .stack_set_drift_detection_details()
                        .and_then(|d| d.drift_status())
                        .map(|d| d.as_str().to_string()),
                }
            })),
            Err(error) if not_found(&error) => Ok(None),
            Err(error) => Err(error),
        }
    }

    async fn create(
        &self,
        name: &str,
        spec: &StackSetSpec,
        tags: &BTreeMap<String, String>,
    ) -> Result<String, AwsError> {
        let tags = tags.iter().map(|(k, v)| Tag::builder().key(k).value(v).build()).collect();
        let request = self
            .client
            .create_stack_set()
            .stack_set_name(name)
            .template_body(&spec.template)
            .set_parameters(parameters(spec))
            .permission_model(permission_model(spec))
            .set_auto_deployment(auto_deployment(spec))
            .capabilities(Capability::CapabilityNamedIam)
            .set_tags(Some(tags))
            .send();
        let out = self.gate.send(SERVICE, "CreateStackSet", request).await?;
        Ok(out.stack_set_id().unwrap_or_default().to_string())
    }

    async fn update(
        &self,
        name: &str,
        spec: &StackSetSpec,
        preferences: &Preferences,
        operation: &str,
    ) -> Result<String, AwsError> {
        let request = self
            .client
            .update_stack_set()
            .stack_set_name(name)
            .template_body(&spec.template)
            .set_parameters(parameters(spec))
            .permission_model(permission_model(spec))
            .set_auto_deployment(auto_deployment(spec))
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
        target: &Target,
        regions: &[String],
        preferences: &Preferences,
        operation: &str,
    ) -> Result<String, AwsError> {
        let request = self
            .client
            .create_stack_instances()
            .stack_set_name(name)
            .set_deployment_targets(target.sdk())
            .set_accounts(target.listed_accounts())
            .set_regions(Some(regions.to_vec()))
            .operation_preferences(preferences.sdk())
            .operation_id(operation)
            .send();
        let out = self.gate.send(SERVICE, "CreateStackInstances", request).await?;
        Ok(out.operation_id().unwrap_or(operation).to_string())
    }

    async fn delete_instances(
        &self,
        name: &str,
        target: &Target,
        regions: &[String],
        retain_stacks: bool,
        preferences: &Preferences,
        operation: &str,
    ) -> Result<String, AwsError> {
        let request = self
            .client
            .delete_stack_instances()
            .stack_set_name(name)
            .set_deployment_targets(target.sdk())
            .set_accounts(target.listed_accounts())
            .set_regions(Some(regions.to_vec()))
            .retain_stacks(retain_stacks)
            .operation_preferences(preferences.sdk())
            .operation_id(operation)
            .send();
        let out = self.gate.send(SERVICE, "DeleteStackInstances", request).await?;
        Ok(out.operation_id().unwrap_or(operation).to_string())
    }

    async fn detect_drift(&self, name: &str, operation: &str) -> Result<String, AwsError> {
        let request = self.client.detect_stack_set_drift().stack_set_name(name).operation_id(operation).send();
        let out = self.gate.send(SERVICE, "DetectStackSetDrift", request).await?;
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
                            ou: s.organizational_unit_id().map(str::to_string),
                            drift_status: s.drift_status().map(|d| d.as_str().to_string()),
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
