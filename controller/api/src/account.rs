//! `AwsAccount`: an AWS account in the organization, created or adopted.

use crate::common::{ACCOUNT_ID_PATTERN, CommonStatus, DeletionPolicy, OU_PATTERN, Policies, Tags, tags_schema};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// RE2 pattern of an email address AWS accepts for an account's root user.
pub const EMAIL_PATTERN: &str = r"^[A-Za-z0-9._%+=-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}$";

/// An AWS account in the organization. The namespace that holds it owns it.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[kube(
    group = "orgops.dev",
    version = "v1alpha1",
    kind = "AwsAccount",
    plural = "awsaccounts",
    shortname = "awsacct",
    category = "orgops",
    namespaced,
    doc = "An AWS account in the organization, created or adopted, owned by its namespace.",
    status = "AwsAccountStatus",
    printcolumn = r#"{"name":"Account-ID","type":"string","jsonPath":".status.accountId"}"#,
    printcolumn = r#"{"name":"Email","type":"string","jsonPath":".spec.email"}"#,
    printcolumn = r#"{"name":"OU","type":"string","jsonPath":".spec.organizationalUnit"}"#,
    printcolumn = r#"{"name":"State","type":"string","jsonPath":".status.state"}"#,
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("!has(oldSelf.accountId) || has(self.accountId)").message("accountId cannot be removed once set"))]
pub struct AwsAccountSpec {
    /// The account's display name in AWS Organizations.
    #[schemars(length(min = 1, max = 50), regex(pattern = r"^[ -~]+$"))]
    pub account_name: String,
    /// The root user's email address; unique across AWS and immutable here.
    #[schemars(length(min = 6, max = 64), regex(pattern = EMAIL_PATTERN))]
    #[x_kube(validation = Rule::new("self == oldSelf").message("email is immutable"))]
    pub email: String,
    /// Where the account lives: `Root`, an OU path from the root, or an OU id.
    #[schemars(length(min = 1, max = 700), regex(pattern = OU_PATTERN))]
    pub organizational_unit: String,
    /// Tags on the account.
    #[serde(default, skip_serializing_if = "Tags::is_empty")]
    #[schemars(schema_with = "tags_schema")]
    pub tags: Tags,
    /// Billing, operations and security contacts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alternate_contacts: Option<AlternateContacts>,
    /// Adopt this existing account instead of creating one. Immutable once set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = ACCOUNT_ID_PATTERN))]
    #[x_kube(validation = Rule::new("self == oldSelf").message("accountId is immutable"))]
    pub account_id: Option<String>,
    /// Management, deletion (default `Retain`; `Delete` closes the account, if this object
    /// owns it) and drift policies.
    #[serde(flatten)]
    pub policies: Policies,
}

crate::managed_kind!(AwsAccountSpec, AwsAccountStatus, DeletionPolicy::Retain);

/// The account's alternate contacts; each is optional.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AlternateContacts {
    /// Billing contact.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub billing: Option<Contact>,
    /// Operations contact.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operations: Option<Contact>,
    /// Security contact.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub security: Option<Contact>,
}

/// One alternate contact, as the AWS Account Management API takes it.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Contact {
    /// Full name.
    #[schemars(length(min = 1, max = 64))]
    pub name: String,
    /// Job title.
    #[schemars(length(min = 1, max = 50))]
    pub title: String,
    /// Email address.
    #[schemars(length(min = 1, max = 254), regex(pattern = EMAIL_PATTERN))]
    pub email: String,
    /// Phone number, digits with an optional leading `+`, spaces and dashes.
    #[schemars(length(min = 1, max = 25), regex(pattern = r"^[+]?[0-9 ()-]+$"))]
    pub phone_number: String,
}

/// A CreateAccount that was (or was about to be) sent.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PendingCreation {
    /// When the marker was written, just before CreateAccount was sent.
    pub requested_at: Time,
    /// AWS's request id, once CreateAccount answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
}

/// What orgops last saw of the account.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AwsAccountStatus {
    /// The account's id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_id: Option<String>,
    /// The account's ARN.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arn: Option<String>,
    /// ACTIVE, SUSPENDED or PENDING_CLOSURE, as AWS Organizations reports it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    /// Id of the account's parent OU (or root).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ou_id: Option<String>,
    /// Path of the account's parent OU from the root.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ou_path: Option<String>,
    /// The CreateAccount in flight. Written before the request is sent, so a restarted
    /// controller resolves it instead of creating a second account.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending_creation: Option<PendingCreation>,
    /// What every kind records: ownership, the last drift, the observed generation and
    /// the conditions.
    #[serde(flatten)]
    pub common: CommonStatus,
}
