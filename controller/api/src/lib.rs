//! The orgops API: custom resource types of group `orgops.dev`, version `v1alpha1`.
//!
//! This crate holds types and their schemas only (no AWS, no client), so CRD generation
//! and schema tests build fast. Static rules live in the schema (patterns, bounds and CEL
//! `x-kubernetes-validations`) and are enforced by the API server at admission.
#![forbid(unsafe_code)]
#![deny(warnings, missing_docs)]

pub mod account;
pub mod baseline;
pub mod common;
pub mod permission_set;
pub mod subdomain;

pub use account::{AwsAccount, AwsAccountSpec, AwsAccountStatus};
pub use baseline::{SecurityBaseline, SecurityBaselineSpec, SecurityBaselineStatus};
pub use common::*;
pub use permission_set::{PermissionSetRequest, PermissionSetRequestSpec, PermissionSetRequestStatus};
pub use subdomain::{SubdomainDelegation, SubdomainDelegationSpec, SubdomainDelegationStatus};

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::CustomResourceExt;

/// API group of every orgops kind.
pub const GROUP: &str = "orgops.dev";

/// Every CRD this crate defines, in a stable order.
pub fn crds() -> Vec<CustomResourceDefinition> {
    vec![AwsAccount::crd(), PermissionSetRequest::crd(), SubdomainDelegation::crd(), SecurityBaseline::crd()]
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::de::DeserializeOwned;

    fn example<T: DeserializeOwned>(file: &str) -> T {
        let path = format!("{}/../../examples/{file}", env!("CARGO_MANIFEST_DIR"));
        yaml_serde::from_str(&std::fs::read_to_string(&path).expect("example file")).expect("example matches the type")
    }

    #[test]
    fn examples_deserialize_into_the_types() {
        let account: AwsAccount = example("awsaccount.yaml");
        assert_eq!(account.spec.organizational_unit, "Workloads/Payroll");
        let psr: PermissionSetRequest = example("permissionsetrequest.yaml");
        assert_eq!(psr.spec.assignments[0].targets[0].account_ref.as_deref(), Some("payroll-prod"));
        let oncall: PermissionSetRequest = example("permissionsetrequest-oncall.yaml");
        assert!(oncall.spec.assignments[0].expires_at.is_some());
        let subdel: SubdomainDelegation = example("subdomaindelegation.yaml");
        assert!(subdel.spec.domain.ends_with(&format!(".{}", subdel.spec.parent_domain)));
        let baseline: SecurityBaseline = example("securitybaseline.yaml");
        assert_eq!(baseline.spec.targets.regions.len(), 2);
    }

    #[test]
    fn deletion_policy_defaults_per_kind() {
        let account: AwsAccount = example("awsaccount.yaml");
        assert_eq!(account.spec.deletion_policy(), DeletionPolicy::Retain);
        let psr: PermissionSetRequest = example("permissionsetrequest.yaml");
        assert_eq!(psr.spec.deletion_policy(), DeletionPolicy::Delete);
        let subdel: SubdomainDelegation = example("subdomaindelegation.yaml");
        assert_eq!(subdel.spec.deletion_policy(), DeletionPolicy::Retain);
        let mut baseline: SecurityBaseline = example("securitybaseline.yaml");
        assert_eq!(baseline.spec.deletion_policy(), DeletionPolicy::Delete);
        baseline.spec.policies.deletion_policy = Some(DeletionPolicy::Retain);
        assert_eq!(baseline.spec.deletion_policy(), DeletionPolicy::Retain);
    }

    #[test]
    fn ou_paths_normalize() {
        assert_eq!(normalize_ou_path("Root"), "");
        assert_eq!(normalize_ou_path("/Root/A/B/"), "A/B");
        assert_eq!(normalize_ou_path("A/B"), "A/B");
    }

    #[test]
    fn policies_default_to_full_and_correct() {
        let account: AwsAccount = example("awsaccount.yaml");
        assert_eq!(account.spec.policies.management_policy, ManagementPolicy::Full);
        assert_eq!(account.spec.policies.drift_policy, DriftPolicy::Correct);
    }

    #[test]
    fn every_crd_is_namespaced_in_the_orgops_category_with_a_status_subresource() {
        let crds = crds();
        assert_eq!(crds.len(), 4);
        for crd in crds {
            assert_eq!(crd.spec.scope, "Namespaced");
            assert_eq!(crd.spec.names.categories.as_deref(), Some(&["orgops".to_string()][..]));
            let version = &crd.spec.versions[0];
            assert!(version.subresources.as_ref().and_then(|s| s.status.as_ref()).is_some());
            let columns: Vec<&str> =
                version.additional_printer_columns.iter().flatten().map(|c| c.name.as_str()).collect();
            assert!(columns.contains(&"Ready") && columns.contains(&"Age"), "{columns:?}");
        }
    }
}
