//! Types shared by every kind: policies, targets, tags, conditions and drift records.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::KubeSchema;
use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// RE2 pattern of a 12-digit AWS account id.
pub const ACCOUNT_ID_PATTERN: &str = r"^[0-9]{12}$";

/// RE2 pattern of an organizational unit: `Root`, a path of OU names from the root
/// (`Workloads/Payroll`), an OU id (`ou-` then 4 to 32 and, after a `-`, 8 to 32
/// lower-case letters or digits) or a root id (`r-` then 4 to 32). orgops reads a value
/// that begins with `ou-` or `r-` as an id, so a path cannot begin that way: an OU whose
/// own name does is written from the root, `Root/ou-legacy`. (RE2 has no look-ahead, hence
/// the spelled-out first segment: any name, except one beginning `ou-` or `r-`.)
pub const OU_PATTERN: &str = concat!(
    r"^(Root|r-[0-9a-z]{4,32}|ou-[0-9a-z]{4,32}-[0-9a-z]{8,32}",
    r"|([A-Za-np-qs-z0-9][A-Za-z0-9 ._&+-]{0,127}",
    r"|r([A-Za-z0-9 ._&+][A-Za-z0-9 ._&+-]{0,126})?",
    r"|o([A-Za-tv-z0-9 ._&+-][A-Za-z0-9 ._&+-]{0,126})?",
    r"|ou([A-Za-z0-9 ._&+][A-Za-z0-9 ._&+-]{0,125})?)",
    r"(/[A-Za-z0-9][A-Za-z0-9 ._&+-]{0,127}){0,4})$"
);

/// RE2 pattern of an AWS region name.
pub const REGION_PATTERN: &str = r"^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-[0-9]$";

/// Whether orgops may write to AWS for this object.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum ManagementPolicy {
    /// Create, update and delete in AWS (the default).
    #[default]
    Full,
    /// Read AWS and report in status; never write.
    ObserveOnly,
}

/// What happens in AWS when the object is deleted from the cluster.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum DeletionPolicy {
    /// Leave the AWS resource in place.
    Retain,
    /// Delete (or close) the AWS resource.
    Delete,
}

/// What happens when AWS differs from the spec.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum DriftPolicy {
    /// Change AWS back to the spec (the default).
    #[default]
    Correct,
    /// Record and alert, leave AWS as it is.
    Report,
}

/// The three policies every kind carries in its spec.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Policies {
    /// `Full` (default) or `ObserveOnly`.
    #[serde(default)]
    pub management_policy: ManagementPolicy,
    /// `Retain` or `Delete`; when absent, the kind's default applies.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deletion_policy: Option<DeletionPolicy>,
    /// `Correct` (default) or `Report`.
    #[serde(default)]
    pub drift_policy: DriftPolicy,
}

/// An AWS account, named either by an AwsAccount in the same namespace or by its id.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("has(self.accountRef) != has(self.accountId)").message("exactly one of accountRef or accountId must be set"))]
pub struct AccountTarget {
    /// Name of an AwsAccount in this namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 253))]
    pub account_ref: Option<String>,
    /// A 12-digit AWS account id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = ACCOUNT_ID_PATTERN))]
    pub account_id: Option<String>,
}

/// A resource's AWS tags: at most 50, keys of 1 to 128 and values of at most 256
/// characters, no key in the reserved `aws:` prefix.
pub type Tags = BTreeMap<String, String>;

/// Schema of [`Tags`], used with `#[schemars(schema_with = "tags_schema")]`.
pub fn tags_schema(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "type": "object",
        "maxProperties": 50,
        "additionalProperties": { "type": "string", "maxLength": 256 },
        "x-kubernetes-validations": [
            {
                "rule": "self.all(k, size(k) >= 1 && size(k) <= 128)",
                "message": "tag keys must be 1 to 128 characters"
            },
            {
                "rule": "self.all(k, !k.startsWith('aws:'))",
                "message": "tag keys must not start with the reserved prefix 'aws:'"
            }
        ]
    })
}

/// Schema of a list of `metav1.Condition`, keyed by `type` so server-side apply merges it.
pub fn conditions_schema(generator: &mut SchemaGenerator) -> Schema {
    let mut schema = generator.subschema_for::<Vec<Condition>>();
    schema.insert("x-kubernetes-list-type".into(), "map".into());
    schema.insert("x-kubernetes-list-map-keys".into(), serde_json::json!(["type"]));
    schema
}

/// The last difference found between the spec and AWS.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DriftRecord {
    /// When the difference was found.
    pub detected_at: Time,
    /// The spec fields that differed, as paths (`organizationalUnit`, `tags.team`).
    pub fields: Vec<String>,
    /// Whether orgops changed AWS back (`driftPolicy: Correct`) or only reported it.
    pub corrected: bool,
}

/// The spec side every kind shares with the reconcile driver.
pub trait ManagedSpec {
    /// The management, deletion and drift policies as written.
    fn policies(&self) -> &Policies;
    /// The deletion policy in force, with the kind's default applied.
    fn deletion_policy(&self) -> DeletionPolicy;
}

/// The status fields every kind shares, flattened into each kind's status.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CommonStatus {
    /// Whether this object owns the AWS resource: `true` once it created it, or adopted
    /// it after every check (AWS then carries the ownership tags naming its UID); `false`
    /// for a resource observed (`managementPolicy: ObserveOnly`) but not owned; absent
    /// when it owns nothing (refused, or nothing created yet). Only what it owns is ever
    /// changed or deleted.
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

/// The status side every kind shares with the reconcile driver.
pub trait ManagedStatus {
    /// The fields every kind shares.
    fn common(&self) -> &CommonStatus;
    /// Mutable access to them.
    fn common_mut(&mut self) -> &mut CommonStatus;
}

/// Implements [`ManagedSpec`] and [`ManagedStatus`] for a kind whose status has the
/// common fields, with the kind's default deletion policy.
#[macro_export]
macro_rules! managed_kind {
    ($spec:ty, $status:ty, $default_deletion:expr) => {
        impl $crate::common::ManagedSpec for $spec {
            fn policies(&self) -> &$crate::common::Policies {
                &self.policies
            }
            fn deletion_policy(&self) -> $crate::common::DeletionPolicy {
                self.policies.deletion_policy.unwrap_or($default_deletion)
            }
        }
        impl $crate::common::ManagedStatus for $status {
            fn common(&self) -> &$crate::common::CommonStatus {
                &self.common
            }
            fn common_mut(&mut self) -> &mut $crate::common::CommonStatus {
                &mut self.common
            }
        }
    };
}

/// An OU path in canonical form: `Root/A/B`, `/A/B/` and `A/B` all become `A/B`, and
/// `Root` becomes the empty path.
pub fn normalize_ou_path(path: &str) -> String {
    let trimmed = path.trim().trim_matches('/');
    let without_root = if trimmed == "Root" { "" } else { trimmed.strip_prefix("Root/").unwrap_or(trimmed) };
    without_root.to_string()
}
