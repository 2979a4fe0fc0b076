//! `PermissionSetRequest`: an IAM Identity Center permission set and who gets it where.

use crate::common::{ACCOUNT_ID_PATTERN, CommonStatus, DeletionPolicy, OU_PATTERN, Policies, Tags, tags_schema};
use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// RE2 pattern of an AWS managed policy ARN.
pub const MANAGED_POLICY_ARN_PATTERN: &str =
    r"^arn:aws(-cn|-us-gov|-iso[a-z]?)?:iam::aws:policy/([A-Za-z0-9+=,.@_-]+/)*[A-Za-z0-9+=,.@_-]+$";

/// RE2 pattern of an RFC 3339 time with a zone (`2026-12-04T18:00:00Z`, `…+09:00`).
pub const RFC3339_PATTERN: &str = r"^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])[Tt]([01][0-9]|2[0-3]):[0-5][0-9]:([0-5][0-9]|60)(\.[0-9]+)?([Zz]|[+-]([01][0-9]|2[0-3]):[0-5][0-9])$";

/// RE2 pattern of an ISO 8601 session duration from PT1H to PT12H.
pub const SESSION_DURATION_PATTERN: &str =
    r"^PT(([1-9]|1[01])H([0-5]?[0-9]M)?|12H(0{1,2}M)?|([6-9][0-9]|[1-6][0-9]{2}|7[01][0-9]|720)M)$";

/// A permission set and its assignments, requested by the namespace's team.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[kube(
    group = "orgops.dev",
    version = "v1alpha1",
    kind = "PermissionSetRequest",
    plural = "permissionsetrequests",
    shortname = "psr",
    category = "orgops",
    namespaced,
    doc = "An IAM Identity Center permission set and its assignments, requested by the namespace's team.",
    status = "PermissionSetRequestStatus",
    printcolumn = r#"{"name":"Permission-Set","type":"string","jsonPath":".spec.permissionSet.name"}"#,
    printcolumn = r#"{"name":"Assignments","type":"string","jsonPath":".status.assignmentSummary"}"#,
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct PermissionSetRequestSpec {
    /// The permission set orgops creates and owns.
    pub permission_set: PermissionSetSpec,
    /// Who gets the permission set, and in which accounts.
    #[serde(default)]
    #[schemars(length(max = 100))]
    pub assignments: Vec<Assignment>,
    /// Management, deletion (default `Delete`: the permission set is wholly owned) and drift policies.
    #[serde(flatten)]
    pub policies: Policies,
}

crate::managed_kind!(PermissionSetRequestSpec, PermissionSetRequestStatus, DeletionPolicy::Delete);

/// The permission set's own attributes and policies.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct PermissionSetSpec {
    /// Permission set name, unique in the Identity Center instance. Immutable.
    #[schemars(length(min = 1, max = 32), regex(pattern = r"^[A-Za-z0-9+=,.@_-]+$"))]
    #[x_kube(validation = Rule::new("self == oldSelf").message("permissionSet.name is immutable"))]
    pub name: String,
    /// Shown in the AWS access portal.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 700))]
    pub description: Option<String>,
    /// Session length, ISO 8601, from PT1H to PT12H.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = SESSION_DURATION_PATTERN))]
    pub session_duration: Option<String>,
    /// URL the console opens after sign-in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 240), regex(pattern = r"^https://"))]
    pub relay_state: Option<String>,
    /// AWS managed policy ARNs to attach.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 20), inner(regex(pattern = MANAGED_POLICY_ARN_PATTERN)))]
    pub managed_policies: Vec<String>,
    /// Customer managed policies (by name and path, present in each target account) to attach.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 20))]
    pub customer_managed_policies: Vec<PolicyReference>,
    /// An inline IAM policy document.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "inline_policy_schema")]
    pub inline_policy: Option<serde_json::Value>,
    /// The permissions boundary of the roles the permission set creates.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub permissions_boundary: Option<PermissionsBoundary>,
    /// Tags on the permission set.
    #[serde(default, skip_serializing_if = "Tags::is_empty")]
    #[schemars(schema_with = "tags_schema")]
    pub tags: Tags,
}

/// Schema of an inline IAM policy document: an object with `Version` and `Statement`.
/// Its statements are checked in full by the controller and by `orgops validate`.
fn inline_policy_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({
        "type": "object",
        "x-kubernetes-preserve-unknown-fields": true,
        "required": ["Version", "Statement"],
        "properties": {
            "Version": { "type": "string", "enum": ["2012-10-17", "2008-10-17"] },
            "Statement": { "x-kubernetes-preserve-unknown-fields": true }
        }
    })
}

/// A customer managed policy, by name and path.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PolicyReference {
    /// Policy name.
    #[schemars(length(min = 1, max = 128), regex(pattern = r"^[A-Za-z0-9+=,.@_-]+$"))]
    pub name: String,
    /// Policy path, `/` by default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 512), regex(pattern = r"^/([A-Za-z0-9+=,.@_-]+/)*$"))]
    pub path: Option<String>,
}

/// A permissions boundary: an AWS managed policy or a customer managed one.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("has(self.managedPolicyArn) != has(self.customerManagedPolicy)").message("exactly one of managedPolicyArn or customerManagedPolicy must be set"))]
pub struct PermissionsBoundary {
    /// An AWS managed policy ARN.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = MANAGED_POLICY_ARN_PATTERN))]
    pub managed_policy_arn: Option<String>,
    /// A customer managed policy by name and path.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customer_managed_policy: Option<PolicyReference>,
}

/// One principal and the accounts it gets the permission set in.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("[has(self.group), has(self.user), has(self.groupId), has(self.userId)].filter(x, x).size() == 1").message("exactly one of group, user, groupId or userId must be set"))]
pub struct Assignment {
    /// Identity Store group, by display name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 1024))]
    pub group: Option<String>,
    /// Identity Store user, by user name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 128))]
    pub user: Option<String>,
    /// Identity Store group id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(
        length(min = 1, max = 47),
        regex(
            pattern = r"^([0-9a-f]{10}-|)[A-Fa-f0-9]{8}-[A-Fa-f0-9]{4}-[A-Fa-f0-9]{4}-[A-Fa-f0-9]{4}-[A-Fa-f0-9]{12}$"
        )
    )]
    pub group_id: Option<String>,
    /// Identity Store user id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(
        length(min = 1, max = 47),
        regex(
            pattern = r"^([0-9a-f]{10}-|)[A-Fa-f0-9]{8}-[A-Fa-f0-9]{4}-[A-Fa-f0-9]{4}-[A-Fa-f0-9]{4}-[A-Fa-f0-9]{12}$"
        )
    )]
    pub user_id: Option<String>,
    /// Where the principal gets the permission set.
    #[schemars(length(min = 1, max = 50))]
    pub targets: Vec<AssignmentTarget>,
    /// Temporary access: the assignments are removed at this time (RFC 3339) and not
    /// created again while the spec still says so.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = RFC3339_PATTERN), extend("format" = "date-time"))]
    pub expires_at: Option<String>,
}

/// An account, or every account in an OU (re-expanded as accounts join or leave it).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("[has(self.accountRef), has(self.accountId), has(self.organizationalUnit)].filter(x, x).size() == 1").message("exactly one of accountRef, accountId or organizationalUnit must be set"))]
pub struct AssignmentTarget {
    /// Name of an AwsAccount in this namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 253))]
    pub account_ref: Option<String>,
    /// A 12-digit AWS account id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = ACCOUNT_ID_PATTERN))]
    pub account_id: Option<String>,
    /// An OU path from the root or an OU id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 700), regex(pattern = OU_PATTERN))]
    pub organizational_unit: Option<String>,
}

/// What orgops last saw of the permission set and its assignments.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PermissionSetRequestStatus {
    /// ARN of the permission set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub permission_set_arn: Option<String>,
    /// Principals resolved from names to Identity Store ids.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub principals: Vec<ResolvedPrincipal>,
    /// One entry per (principal, account).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub assignments: Vec<AssignmentStatus>,
    /// Ready and total assignments, as `ready/total`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assignment_summary: Option<String>,
    /// Whether the current policies are provisioned to every assigned account.
    #[serde(default)]
    pub provisioned: bool,
    /// The ProvisionPermissionSet request still running.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provisioning_request_id: Option<String>,
    /// Sessions of ended assignments, denied until every one of them has expired.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub revocations: Vec<SessionRevocation>,
    /// What every kind records: ownership, the last drift, the observed generation and
    /// the conditions.
    #[serde(flatten)]
    pub common: CommonStatus,
}

/// The sessions an ended assignment had issued: orgops denies them, in the permission
/// set's inline policy, until the last of them has expired.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SessionRevocation {
    /// The principal whose assignment ended (`user jdoe`, `group payroll-devs`, or its id).
    pub principal: String,
    /// The account where it ended.
    pub account_id: String,
    /// The Identity Store ids of the users denied: the user, or the group's members then,
    /// less those who still hold the permission set in that account otherwise.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub user_ids: Vec<String>,
    /// Sessions issued before this time are denied (RFC 3339): when the assignment ended.
    pub issued_before: String,
    /// When the Deny is removed (RFC 3339): the end, plus the permission set's session
    /// duration, plus a margin.
    pub held_until: String,
}

/// A principal as given in the spec and the id it resolved to.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ResolvedPrincipal {
    /// `GROUP` or `USER`.
    pub principal_type: String,
    /// The name given in the spec.
    pub name: String,
    /// The Identity Store id.
    pub id: String,
}

/// The state of one (principal, account) assignment.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AssignmentStatus {
    /// `GROUP` or `USER`.
    pub principal_type: String,
    /// The Identity Store id.
    pub principal_id: String,
    /// The principal as the spec names it (`group payroll-developers`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub principal: Option<String>,
    /// The target account.
    pub account_id: String,
    /// `PENDING` (to be created), `IN_PROGRESS`, `SUCCEEDED`, `FAILED`, `REMOVING` (no longer
    /// wanted, to be removed), `DELETING` (its removal running) or `EXPIRED`.
    pub state: String,
    /// When the assignment expires or expired (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<String>,
    /// The CreateAccountAssignment or DeleteAccountAssignment request still running.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// AWS's reason when the assignment failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}
