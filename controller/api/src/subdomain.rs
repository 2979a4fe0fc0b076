//! `SubdomainDelegation`: a Route 53 zone in a team's account, delegated from its parent.

use crate::common::{AccountTarget, CommonStatus, DeletionPolicy, Policies};
use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// RE2 pattern of a lower-case DNS name without the trailing dot.
pub const DNS_NAME_PATTERN: &str = r"^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]([a-z0-9-]{0,61}[a-z0-9])?$";

/// A subdomain delegated to a zone in one of the namespace's accounts.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[kube(
    group = "orgops.dev",
    version = "v1alpha1",
    kind = "SubdomainDelegation",
    plural = "subdomaindelegations",
    shortname = "subdel",
    category = "orgops",
    namespaced,
    doc = "A Route 53 subdomain zone in a team account, delegated from its parent zone.",
    status = "SubdomainDelegationStatus",
    printcolumn = r#"{"name":"Domain","type":"string","jsonPath":".spec.domain"}"#,
    printcolumn = r#"{"name":"Account","type":"string","jsonPath":".status.accountId"}"#,
    printcolumn = r#"{"name":"Zone-ID","type":"string","jsonPath":".status.zoneId"}"#,
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("self.domain.endsWith('.' + self.parentDomain)").message("domain must end with '.' followed by parentDomain").field_path(".domain"))]
#[x_kube(validation = Rule::new("!has(self.parentAccount) || !has(self.parentAccount.accountRef)").message("parentAccount takes an accountId only: the parent zone's account is the one the platform policy names").field_path(".parentAccount"))]
pub struct SubdomainDelegationSpec {
    /// The delegated domain, `<name>.<parentDomain>`, lower case, no trailing dot. Immutable.
    #[schemars(length(min = 3, max = 253), regex(pattern = DNS_NAME_PATTERN))]
    #[x_kube(validation = Rule::new("self == oldSelf").message("domain is immutable"))]
    pub domain: String,
    /// The parent domain whose zone holds the NS record. Immutable.
    #[schemars(length(min = 1, max = 253), regex(pattern = DNS_NAME_PATTERN))]
    #[x_kube(validation = Rule::new("self == oldSelf").message("parentDomain is immutable"))]
    pub parent_domain: String,
    /// The parent's hosted zone id, as a check: the zone is always the one the platform
    /// policy names for the parent domain, and a different id here is refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 32), regex(pattern = r"^(/hostedzone/)?Z[A-Z0-9]{1,31}$"))]
    pub parent_zone_id: Option<String>,
    /// The account holding the parent zone, as a check (`accountId` only): the account is
    /// always the one the platform policy names for the parent domain, and a different id
    /// here is refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_account: Option<AccountTarget>,
    /// The account where the child zone lives.
    pub account: AccountTarget,
    /// TTL of the NS record in the parent zone, in seconds.
    #[serde(default = "default_ttl")]
    #[schemars(range(min = 60, max = 172800))]
    pub ttl: i64,
    /// Management, deletion (default `Retain`) and drift policies.
    #[serde(flatten)]
    pub policies: Policies,
}

fn default_ttl() -> i64 {
    300
}

fn is_zero(value: &u32) -> bool {
    *value == 0
}

crate::managed_kind!(SubdomainDelegationSpec, SubdomainDelegationStatus, DeletionPolicy::Retain);

/// What orgops last saw of the zone and its delegation.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SubdomainDelegationStatus {
    /// The account the child zone lives in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_id: Option<String>,
    /// The child hosted zone's id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zone_id: Option<String>,
    /// The child zone's name servers.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub name_servers: Vec<String>,
    /// How many times the child zone was created again after being deleted outside
    /// orgops; part of the CallerReference of the next one.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub zone_generation: u32,
    /// The parent zone holding the NS record, once orgops wrote it: an NS record there
    /// that differs from the child's servers is then drift, never someone else's record.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_zone_id: Option<String>,
    /// Whether the parent's NS record points at the child zone and is in sync.
    #[serde(default)]
    pub delegated: bool,
    /// The last Route 53 change id, until it is INSYNC.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub change_id: Option<String>,
    /// What every kind records: ownership, the last drift, the observed generation and
    /// the conditions.
    #[serde(flatten)]
    pub common: CommonStatus,
}
