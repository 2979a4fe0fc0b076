//! The commands beside the operator: `validate` (offline checks), `plan` (what a pull
//! request would do to AWS), `import` (objects from an existing organization) and
//! `inventory` (the accounts, from the cluster or from AWS).

pub mod import;
pub mod inventory;
pub mod plan;
pub mod validate;

use crate::aws::member::MemberRoles;
use crate::aws::sso_admin::Instance;
use crate::run::args::RateLimits;

/// What the read-only commands (`plan`, `import`) read AWS with.
#[derive(clap::Args, Debug)]
pub struct ReadArgs {
    /// The IAM Identity Center instance (default: the first ListInstances finds).
    #[arg(long, requires = "identity_store_id")]
    pub sso_instance_arn: Option<String>,
    /// Its identity store.
    #[arg(long, requires = "sso_instance_arn")]
    pub identity_store_id: Option<String>,
    /// The role assumed in member accounts (Route 53 reads).
    #[arg(long, default_value = "OrganizationAccountAccessRole")]
    pub member_role_name: String,
    /// A role assumed first, whose credentials assume the member roles.
    #[arg(long)]
    pub hub_role_arn: Option<String>,
    /// Client-side AWS rate limits.
    #[command(flatten)]
    pub limits: RateLimits,
}

impl ReadArgs {
    /// The Identity Center instance given by flags, if any.
    pub fn instance(&self) -> Option<Instance> {
        let (arn, id) = (self.sso_instance_arn.clone()?, self.identity_store_id.clone()?);
        Some(Instance { arn, identity_store_id: id })
    }

    /// How member accounts are reached.
    pub fn roles(&self) -> MemberRoles {
        MemberRoles { member_role_name: self.member_role_name.clone(), hub_role_arn: self.hub_role_arn.clone() }
    }
}
