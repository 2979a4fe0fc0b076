//! `SecurityBaseline`: security services rolled out to accounts with a StackSet.

use crate::common::{
    AccountTarget, DeletionPolicy, DriftRecord, OU_PATTERN, Policies, REGION_PATTERN, conditions_schema,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The security services every targeted account must run.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[kube(
    group = "orgops.dev",
    version = "v1alpha1",
    kind = "SecurityBaseline",
    plural = "securitybaselines",
    shortname = "baseline",
    category = "orgops",
    namespaced,
    doc = "Security services rolled out to the targeted accounts with a CloudFormation StackSet.",
    status = "SecurityBaselineStatus",
    printcolumn = r#"{"name":"Targets","type":"string","jsonPath":".status.targetSummary"}"#,
    printcolumn = r#"{"name":"Instances","type":"string","jsonPath":".status.instanceSummary"}"#,
    printcolumn = r#"{"name":"Drift","type":"string","jsonPath":".status.driftStatus"}"#,
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct SecurityBaselineSpec {
    /// Where the baseline is deployed.
    pub targets: BaselineTargets,
    /// The security services to run; at least one.
    pub controls: Controls,
    /// How fast StackSet operations roll out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operation_preferences: Option<OperationPreferences>,
    /// A custom CloudFormation template from a ConfigMap instead of the generated one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template: Option<TemplateSource>,
    /// Management, deletion (default `Delete`: the stack set is wholly owned) and drift policies.
    #[serde(flatten)]
    pub policies: Policies,
}

crate::managed_kind!(SecurityBaselineSpec, SecurityBaselineStatus, DeletionPolicy::Delete);

/// OUs and accounts, in the given regions.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("size(self.organizationalUnits) + size(self.accounts) > 0").message("targets must name at least one organizational unit or account"))]
pub struct BaselineTargets {
    /// OU paths from the root or OU ids; accounts that join them get the baseline.
    #[serde(default)]
    #[schemars(length(max = 50), inner(length(min = 1, max = 700), regex(pattern = OU_PATTERN)))]
    pub organizational_units: Vec<String>,
    /// Individual accounts.
    #[serde(default)]
    #[schemars(length(max = 100))]
    pub accounts: Vec<AccountTarget>,
    /// Regions to deploy to.
    #[schemars(length(min = 1, max = 40), inner(regex(pattern = REGION_PATTERN)))]
    pub regions: Vec<String>,
}

/// The controls of a baseline; each is off when absent.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("has(self.guardDuty) || has(self.securityHub) || has(self.config) || has(self.cloudTrail) || has(self.accessAnalyzer) || has(self.notifications)").message("controls must enable at least one control"))]
pub struct Controls {
    /// Amazon GuardDuty.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub guard_duty: Option<GuardDuty>,
    /// AWS Security Hub.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub security_hub: Option<SecurityHub>,
    /// AWS Config recorder and delivery channel.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<ConfigRecorder>,
    /// AWS CloudTrail.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cloud_trail: Option<CloudTrail>,
    /// IAM Access Analyzer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_analyzer: Option<AccessAnalyzer>,
    /// EventBridge rules that send security events to an SNS topic.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notifications: Option<Notifications>,
}

/// GuardDuty finding publishing frequency.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
#[allow(non_camel_case_types)]
pub enum FindingPublishingFrequency {
    /// Every 15 minutes.
    FIFTEEN_MINUTES,
    /// Every hour.
    ONE_HOUR,
    /// Every six hours (the AWS default).
    #[default]
    SIX_HOURS,
}

/// GuardDuty settings.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct GuardDuty {
    /// How often updated findings are exported.
    #[serde(default)]
    pub finding_publishing_frequency: FindingPublishingFrequency,
}

/// A Security Hub standard.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, JsonSchema)]
pub enum SecurityHubStandard {
    /// AWS Foundational Security Best Practices.
    AwsFoundationalSecurityBestPractices,
    /// CIS AWS Foundations Benchmark v3.0.0.
    CisAwsFoundations,
    /// NIST SP 800-53 Rev. 5.
    Nist80053,
    /// PCI DSS v3.2.1.
    PciDss,
}

/// Security Hub settings.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SecurityHub {
    /// Standards to enable.
    #[serde(default)]
    #[schemars(length(max = 4))]
    pub standards: Vec<SecurityHubStandard>,
}

/// AWS Config settings.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConfigRecorder {
    /// The one region that records global resources (IAM), so they are not paid for in
    /// every region.
    #[schemars(regex(pattern = REGION_PATTERN))]
    pub global_resources_region: String,
    /// S3 bucket receiving configuration snapshots and history.
    #[schemars(length(min = 3, max = 63), regex(pattern = r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$"))]
    pub delivery_bucket: String,
}

/// CloudTrail settings.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CloudTrail {
    /// S3 bucket receiving the trail's logs.
    #[schemars(length(min = 3, max = 63), regex(pattern = r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$"))]
    pub bucket: String,
    /// Record in every region (the default).
    #[serde(default = "enabled")]
    pub multi_region: bool,
    /// Validate log file integrity (the default).
    #[serde(default = "enabled")]
    pub log_file_validation: bool,
}

fn enabled() -> bool {
    true
}

/// The zone of trust of an IAM Access Analyzer.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum AnalyzerScope {
    /// Findings for access from outside the account.
    #[default]
    ACCOUNT,
    /// Findings for access from outside the organization.
    ORGANIZATION,
}

/// IAM Access Analyzer settings.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AccessAnalyzer {
    /// The analyzer's zone of trust.
    #[serde(default)]
    pub scope: AnalyzerScope,
}

/// Security notifications: an SNS topic in each account and region, EventBridge rules
/// that send it the events chosen here, and optionally a Slack channel through AWS
/// Chatbot.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Notifications {
    /// Name of the topic the baseline creates.
    #[serde(default = "default_topic_name")]
    #[schemars(regex(pattern = r"^[A-Za-z0-9_-]{1,256}$"))]
    pub topic_name: String,
    /// Send GuardDuty findings at or above this severity (1.0 to 8.9); none when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1.0, max = 8.9))]
    pub guard_duty_min_severity: Option<f64>,
    /// Send AWS Health events.
    #[serde(default = "enabled")]
    pub health_events: bool,
    /// Send root-user console sign-ins.
    #[serde(default = "enabled")]
    pub root_sign_in: bool,
    /// Send failed console sign-ins.
    #[serde(default = "enabled")]
    pub failed_sign_ins: bool,
    /// Send IAM policy changes.
    #[serde(default = "enabled")]
    pub iam_policy_changes: bool,
    /// Send security group changes.
    #[serde(default = "enabled")]
    pub security_group_changes: bool,
    /// Send GuardDuty, Security Hub, CloudTrail or Config being stopped, disabled or deleted.
    #[serde(default = "enabled")]
    pub security_service_disabled: bool,
    /// Deliver the topic to a Slack channel through AWS Chatbot.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slack: Option<SlackChannel>,
}

fn default_topic_name() -> String {
    "orgops-security-alerts".into()
}

/// A Slack channel of a workspace already authorized in AWS Chatbot.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SlackChannel {
    /// The Slack workspace (team) id, `T…`.
    #[schemars(regex(pattern = r"^[0-9A-Z]{1,255}$"))]
    pub workspace_id: String,
    /// The Slack channel id, `C…`.
    #[schemars(regex(pattern = r"^[A-Za-z0-9]+$"), length(min = 1, max = 255))]
    pub channel_id: String,
}

/// StackSet operation preferences.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct OperationPreferences {
    /// Percentage of accounts per region deployed at once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 100))]
    pub max_concurrent_percentage: Option<i32>,
    /// Percentage of accounts per region that may fail before the operation stops.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 100))]
    pub failure_tolerance_percentage: Option<i32>,
    /// Order in which regions are deployed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 40), inner(regex(pattern = REGION_PATTERN)))]
    pub region_order: Vec<String>,
}

/// Where a custom template comes from.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TemplateSource {
    /// ConfigMap in this namespace holding the template.
    #[schemars(length(min = 1, max = 253))]
    pub config_map_name: String,
    /// Key of the template in the ConfigMap.
    #[schemars(length(min = 1, max = 253))]
    pub key: String,
}

/// What orgops last saw of the stack set and its instances.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SecurityBaselineStatus {
    /// The stack set's id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stack_set_id: Option<String>,
    /// The last StackSet operation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_operation: Option<StackSetOperation>,
    /// Stack instances by status (CURRENT, OUTDATED, INOPERABLE, ...).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub instance_counts: BTreeMap<String, i64>,
    /// Current and total instances, as `current/total`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance_summary: Option<String>,
    /// A short description of the targets, for `kubectl get`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_summary: Option<String>,
    /// Instances that failed, with AWS's reason.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub failures: Vec<InstanceFailure>,
    /// Account regions skipped because the account has not enabled the region.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub skipped_regions: Vec<InstanceFailure>,
    /// IN_SYNC, DRIFTED or NOT_CHECKED.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drift_status: Option<String>,
    /// Whether the AWS resource carries orgops's ownership tags naming this object:
    /// `false` for a resource observed (`managementPolicy: ObserveOnly`) but not owned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owned: Option<bool>,
    /// The last difference found between the spec and AWS.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_drift: Option<DriftRecord>,
    /// The generation the status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// `Ready` and `Synced`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "conditions_schema")]
    pub conditions: Vec<Condition>,
}

/// A StackSet operation.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct StackSetOperation {
    /// The operation id.
    pub id: String,
    /// CREATE, UPDATE or DELETE.
    pub action: String,
    /// RUNNING, SUCCEEDED, FAILED, STOPPED, ...
    pub status: String,
    /// AWS's reason, when it gave one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// One account and region, with the reason it failed or was skipped.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct InstanceFailure {
    /// The account id.
    pub account_id: String,
    /// The region.
    pub region: String,
    /// Why.
    pub reason: String,
}
