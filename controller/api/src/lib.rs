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
