//! IAM Identity Center administration (`sso-admin`): the calls orgops makes on permission
//! sets and account assignments, and their SDK implementation. Every call names the
//! Identity Center instance it acts on.

#[cfg(test)]
pub mod fake;

use crate::aws::{AwsError, CallGate, FailureKind};
use aws_sdk_ssoadmin::Client;
use aws_sdk_ssoadmin::types::{
    AccountAssignmentOperationStatus, CustomerManagedPolicyReference, PermissionSetProvisioningStatus,
    PermissionsBoundary, PrincipalType, ProvisionTargetType, StatusValues, Tag, TargetType,
};
use std::collections::BTreeMap;

/// Tags as key → value.
pub type Tags = BTreeMap<String, String>;

const SERVICE: &str = "sso";

/// An Identity Center instance and its identity store.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Instance {
    /// `arn:aws:sso:::instance/ssoins-…`.
    pub arn: String,
    /// `d-…`.
    pub identity_store_id: String,
}

/// A permission set's own attributes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Attributes {
    /// The name, unique in the instance and immutable.
    pub name: String,
    /// Description.
    pub description: Option<String>,
    /// ISO 8601 session duration.
    pub session_duration: Option<String>,
    /// Relay state URL.
    pub relay_state: Option<String>,
}

/// A customer managed policy by name and path (`/` when none was given).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PolicyRef {
    /// Policy name.
    pub name: String,
    /// Policy path.
    pub path: String,
}

/// A permissions boundary.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Boundary {
    /// An AWS managed policy ARN.
    Managed(String),
    /// A customer managed policy.
    Customer(PolicyRef),
}

/// A group or a user of the identity store.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PrincipalKind {
    /// A group.
    Group,
    /// A user.
    User,
}

impl PrincipalKind {
    /// `GROUP` or `USER`, as AWS writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            PrincipalKind::Group => "GROUP",
            PrincipalKind::User => "USER",
        }
    }

    fn sdk(self) -> PrincipalType {
        match self {
            PrincipalKind::Group => PrincipalType::Group,
            PrincipalKind::User => PrincipalType::User,
        }
    }
}

/// A principal by kind and identity store id.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Principal {
    /// Group or user.
    pub kind: PrincipalKind,
    /// Its identity store id.
    pub id: String,
}

/// Where an asynchronous Identity Center operation stands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OperationState {
    /// Still running.
    InProgress,
    /// Done.
    Succeeded,
    /// Failed, with AWS's reason.
    Failed(String),
}

/// An assignment creation or deletion, or a provisioning, as AWS reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Operation {
    /// The request id its status is polled by.
    pub request_id: String,
    /// Where it stands.
    pub state: OperationState,
}

/// The sso-admin calls orgops makes.
pub trait SsoAdmin: Send + Sync + 'static {
    /// ListInstances: the first instance.
    fn instance(&self) -> impl Future<Output = Result<Option<Instance>, AwsError>> + Send;
    /// ListPermissionSets, all pages: ARNs.
    fn permission_sets(&self, instance: &str) -> impl Future<Output = Result<Vec<String>, AwsError>> + Send;
    /// DescribePermissionSet.
    fn describe(&self, instance: &str, arn: &str) -> impl Future<Output = Result<Attributes, AwsError>> + Send;
    /// CreatePermissionSet with tags: the new ARN.
    fn create(
        &self,
        instance: &str,
        attributes: &Attributes,
        tags: &Tags,
    ) -> impl Future<Output = Result<String, AwsError>> + Send;
    /// UpdatePermissionSet (description, session duration, relay state).
    fn update(
        &self,
        instance: &str,
        arn: &str,
        attributes: &Attributes,
    ) -> impl Future<Output = Result<(), AwsError>> + Send;
    /// DeletePermissionSet.
    fn delete(&self, instance: &str, arn: &str) -> impl Future<Output = Result<(), AwsError>> + Send;
    /// ListTagsForResource, all pages.
    fn tags(&self, instance: &str, arn: &str) -> impl Future<Output = Result<Tags, AwsError>> + Send;
    /// TagResource.
    fn tag(&self, instance: &str, arn: &str, tags: &Tags) -> impl Future<Output = Result<(), AwsError>> + Send;
    /// UntagResource.
    fn untag(&self, instance: &str, arn: &str, keys: &[String]) -> impl Future<Output = Result<(), AwsError>> + Send;
    /// ListManagedPoliciesInPermissionSet, all pages: ARNs.
    fn managed_policies(&self, instance: &str, arn: &str)
    -> impl Future<Output = Result<Vec<String>, AwsError>> + Send;
    /// AttachManagedPolicyToPermissionSet.
    fn attach_managed(
        &self,
        instance: &str,
        arn: &str,
        policy: &str,
    ) -> impl Future<Output = Result<(), AwsError>> + Send;
    /// DetachManagedPolicyFromPermissionSet.
    fn detach_managed(
        &self,
        instance: &str,
        arn: &str,
        policy: &str,
    ) -> impl Future<Output = Result<(), AwsError>> + Send;
    /// ListCustomerManagedPolicyReferencesInPermissionSet, all pages.
    fn customer_policies(
        &self,
        instance: &str,
        arn: &str,
    ) -> impl Future<Output = Result<Vec<PolicyRef>, AwsError>> + Send;
    /// AttachCustomerManagedPolicyReferenceToPermissionSet.
    fn attach_customer(
        &self,
        instance: &str,
        arn: &str,
        policy: &PolicyRef,
    ) -> impl Future<Output = Result<(), AwsError>> + Send;
    /// DetachCustomerManagedPolicyReferenceFromPermissionSet.
    fn detach_customer(
        &self,
        instance: &str,
        arn: &str,
        policy: &PolicyRef,
    ) -> impl Future<Output = Result<(), AwsError>> + Send;
    /// GetInlinePolicyForPermissionSet: `None` when there is none.
    fn inline_policy(&self, instance: &str, arn: &str)
    -> impl Future<Output = Result<Option<String>, AwsError>> + Send;
    /// PutInlinePolicyToPermissionSet.
    fn put_inline_policy(
        &self,
        instance: &str,
        arn: &str,
        document: &str,
    ) -> impl Future<Output = Result<(), AwsError>> + Send;
    /// DeleteInlinePolicyFromPermissionSet.
    fn delete_inline_policy(&self, instance: &str, arn: &str) -> impl Future<Output = Result<(), AwsError>> + Send;
    /// GetPermissionsBoundaryForPermissionSet: `None` when there is none.
    fn boundary(&self, instance: &str, arn: &str) -> impl Future<Output = Result<Option<Boundary>, AwsError>> + Send;
    /// PutPermissionsBoundaryToPermissionSet.
    fn put_boundary(
        &self,
        instance: &str,
        arn: &str,
        boundary: &Boundary,
    ) -> impl Future<Output = Result<(), AwsError>> + Send;
    /// DeletePermissionsBoundaryFromPermissionSet.
    fn delete_boundary(&self, instance: &str, arn: &str) -> impl Future<Output = Result<(), AwsError>> + Send;
    /// ListAccountsForProvisionedPermissionSet, all pages: the accounts the permission
    /// set is provisioned to (every account it is or was assigned in).
    fn provisioned_accounts(
        &self,
        instance: &str,
        arn: &str,
    ) -> impl Future<Output = Result<Vec<String>, AwsError>> + Send;
    /// ListAccountAssignments, all pages: who has the permission set in the account.
    fn assignments(
        &self,
        instance: &str,
        arn: &str,
        account: &str,
    ) -> impl Future<Output = Result<Vec<Principal>, AwsError>> + Send;
    /// CreateAccountAssignment.
    fn assign(
        &self,
        instance: &str,
        arn: &str,
        account: &str,
        principal: &Principal,
    ) -> impl Future<Output = Result<Operation, AwsError>> + Send;
    /// DeleteAccountAssignment.
    fn unassign(
        &self,
        instance: &str,
        arn: &str,
        account: &str,
        principal: &Principal,
    ) -> impl Future<Output = Result<Operation, AwsError>> + Send;
    /// DescribeAccountAssignmentCreationStatus.
    fn assign_status(&self, instance: &str, request: &str) -> impl Future<Output = Result<Operation, AwsError>> + Send;
    /// DescribeAccountAssignmentDeletionStatus.
    fn unassign_status(
        &self,
        instance: &str,
        request: &str,
    ) -> impl Future<Output = Result<Operation, AwsError>> + Send;
    /// ProvisionPermissionSet to every account it is provisioned to.
    fn provision(&self, instance: &str, arn: &str) -> impl Future<Output = Result<Operation, AwsError>> + Send;
    /// DescribePermissionSetProvisioningStatus.
    fn provision_status(
        &self,
        instance: &str,
        request: &str,
    ) -> impl Future<Output = Result<Operation, AwsError>> + Send;
}

/// [`SsoAdmin`] on the AWS SDK.
#[derive(Clone)]
pub struct SdkSsoAdmin {
    client: Client,
    gate: CallGate,
}

impl SdkSsoAdmin {
    /// Wraps an SDK client; every call goes through `gate`.
    pub fn new(client: Client, gate: CallGate) -> Self {
        SdkSsoAdmin { client, gate }
    }
}

fn build_error(operation: &str, error: impl std::fmt::Display) -> AwsError {
    AwsError {
        operation: format!("{SERVICE}:{operation}"),
        code: None,
        message: error.to_string(),
        kind: FailureKind::Client,
    }
}

/// The status AWS reports for an assignment request or a provisioning.
trait OperationStatus {
    fn parts(&self) -> (Option<&str>, Option<&StatusValues>, Option<&str>);
}

impl OperationStatus for AccountAssignmentOperationStatus {
    fn parts(&self) -> (Option<&str>, Option<&StatusValues>, Option<&str>) {
        (self.request_id(), self.status(), self.failure_reason())
    }
}

impl OperationStatus for PermissionSetProvisioningStatus {
    fn parts(&self) -> (Option<&str>, Option<&StatusValues>, Option<&str>) {
        (self.request_id(), self.status(), self.failure_reason())
    }
}

/// An operation from AWS's status of it; `request` when the answer does not repeat it.
fn operation(status: Option<&impl OperationStatus>, request: Option<&str>) -> Operation {
    let (request_id, state, reason) = status.map(OperationStatus::parts).unwrap_or_default();
    let state = match state {
        Some(StatusValues::Succeeded) => OperationState::Succeeded,
        Some(StatusValues::Failed) => OperationState::Failed(reason.unwrap_or("no reason given").to_string()),
        _ => OperationState::InProgress,
    };
    Operation { request_id: request.or(request_id).unwrap_or_default().to_string(), state }
}

fn customer_reference(policy: &PolicyRef) -> Result<CustomerManagedPolicyReference, AwsError> {
    CustomerManagedPolicyReference::builder()
        .name(&policy.name)
        .path(&policy.path)
        .build()
        .map_err(|e| build_error("CustomerManagedPolicyReference", e))
}

fn policy_ref(reference: &CustomerManagedPolicyReference) -> PolicyRef {
    PolicyRef { name: reference.name().to_string(), path: reference.path().unwrap_or("/").to_string() }
}

fn principal(kind: Option<&PrincipalType>, id: Option<&str>) -> Option<Principal> {
    let kind = match kind? {
        PrincipalType::Group => PrincipalKind::Group,
        PrincipalType::User => PrincipalKind::User,
        _ => return None,
    };
    Some(Principal { kind, id: id?.to_string() })
}

impl SsoAdmin for SdkSsoAdmin {
    async fn instance(&self) -> Result<Option<Instance>, AwsError> {
        let out = self.gate.send(SERVICE, "ListInstances", self.client.list_instances().send()).await?;
        Ok(out.instances().first().map(|i| Instance {
            arn: i.instance_arn().unwrap_or_default().to_string(),
            identity_store_id: i.identity_store_id().unwrap_or_default().to_string(),
        }))
    }

    async fn permission_sets(&self, instance: &str) -> Result<Vec<String>, AwsError> {
        self.gate
            .paginate(
                SERVICE,
                "ListPermissionSets",
                |token| self.client.list_permission_sets().instance_arn(instance).set_next_token(token).send(),
                |out| (out.permission_sets().to_vec(), out.next_token().map(str::to_string)),
            )
            .await
    }

    async fn describe(&self, instance: &str, arn: &str) -> Result<Attributes, AwsError> {
        let request = self.client.describe_permission_set().instance_arn(instance).permission_set_arn(arn).send();
        let out = self.gate.send(SERVICE, "DescribePermissionSet", request).await?;
        let set = out.permission_set();
        let text = |value: Option<&str>| value.filter(|v| !v.is_empty()).map(str::to_string);
        Ok(Attributes {
            name: set.and_then(|s| s.name()).unwrap_or_default().to_string(),
            description: text(set.and_then(|s| s.description())),
            session_duration: text(set.and_then(|s| s.session_duration())),
            relay_state: text(set.and_then(|s| s.relay_state())),
        })
    }

    async fn create(&self, instance: &str, attributes: &Attributes, tags: &Tags) -> Result<String, AwsError> {
        let tags = tags
            .iter()
            .map(|(k, v)| Tag::builder().key(k).value(v).build().map_err(|e| build_error("Tag", e)))
            .collect::<Result<Vec<_>, _>>()?;
        let request = self
            .client
            .create_permission_set()
            .instance_arn(instance)
            .name(&attributes.name)
            .set_description(attributes.description.clone())
            .set_session_duration(attributes.session_duration.clone())
            .set_relay_state(attributes.relay_state.clone())
            .set_tags(Some(tags))
            .send();
        let out = self.gate.send(SERVICE, "CreatePermissionSet", request).await?;
        out.permission_set().and_then(|s| s.permission_set_arn()).map(str::to_string).ok_or_else(|| AwsError {
            operation: format!("{SERVICE}:CreatePermissionSet"),
            code: None,
            message: "no permission set ARN in the answer".into(),
            kind: FailureKind::Transient,
        })
    }

    async fn update(&self, instance: &str, arn: &str, attributes: &Attributes) -> Result<(), AwsError> {
        let request = self
            .client
            .update_permission_set()
            .instance_arn(instance)
            .permission_set_arn(arn)
            .set_description(attributes.description.clone())
            .set_session_duration(attributes.session_duration.clone())
            .set_relay_state(attributes.relay_state.clone())
            .send();
        self.gate.send(SERVICE, "UpdatePermissionSet", request).await?;
        Ok(())
    }

    async fn delete(&self, instance: &str, arn: &str) -> Result<(), AwsError> {
        let request = self.client.delete_permission_set().instance_arn(instance).permission_set_arn(arn).send();
        self.gate.send(SERVICE, "DeletePermissionSet", request).await?;
        Ok(())
    }

    async fn tags(&self, instance: &str, arn: &str) -> Result<Tags, AwsError> {
        let pairs = self
            .gate
            .paginate(
                SERVICE,
                "ListTagsForResource",
                |token| {
                    self.client
                        .list_tags_for_resource()
                        .instance_arn(instance)
                        .resource_arn(arn)
                        .set_next_token(token)
                        .send()
                },
                |out| {
                    let pairs = out.tags().iter().map(|t| (t.key().to_string(), t.value().to_string())).collect();
                    (pairs, out.next_token().map(str::to_string))
                },
            )
            .await?;
        Ok(pairs.into_iter().collect())
    }

    async fn tag(&self, instance: &str, arn: &str, tags: &Tags) -> Result<(), AwsError> {
        let tags = tags
            .iter()
            .map(|(k, v)| Tag::builder().key(k).value(v).build().map_err(|e| build_error("Tag", e)))
            .collect::<Result<Vec<_>, _>>()?;
        let request = self.client.tag_resource().instance_arn(instance).resource_arn(arn).set_tags(Some(tags)).send();
        self.gate.send(SERVICE, "TagResource", request).await?;
        Ok(())
    }

    async fn untag(&self, instance: &str, arn: &str, keys: &[String]) -> Result<(), AwsError> {
        let request = self
            .client
            .untag_resource()
            .instance_arn(instance)
            .resource_arn(arn)
            .set_tag_keys(Some(keys.to_vec()))
            .send();
        self.gate.send(SERVICE, "UntagResource", request).await?;
        Ok(())
    }

    async fn managed_policies(&self, instance: &str, arn: &str) -> Result<Vec<String>, AwsError> {
        self.gate
            .paginate(
                SERVICE,
                "ListManagedPoliciesInPermissionSet",
                |token| {
                    self.client
                        .list_managed_policies_in_permission_set()
                        .instance_arn(instance)
                        .permission_set_arn(arn)
                        .set_next_token(token)
                        .send()
                },
                |out| {
                    let arns = out.attached_managed_policies().iter().filter_map(|p| p.arn().map(str::to_string));
                    (arns.collect(), out.next_token().map(str::to_string))
                },
            )
            .await
    }

    async fn attach_managed(&self, instance: &str, arn: &str, policy: &str) -> Result<(), AwsError> {
        let request = self
            .client
            .attach_managed_policy_to_permission_set()
            .instance_arn(instance)
            .permission_set_arn(arn)
            .managed_policy_arn(policy)
            .send();
        self.gate.send(SERVICE, "AttachManagedPolicyToPermissionSet", request).await?;
        Ok(())
    }

    async fn detach_managed(&self, instance: &str, arn: &str, policy: &str) -> Result<(), AwsError> {
        let request = self
            .client
            .detach_managed_policy_from_permission_set()
            .instance_arn(instance)
            .permission_set_arn(arn)
            .managed_policy_arn(policy)
            .send();
        self.gate.send(SERVICE, "DetachManagedPolicyFromPermissionSet", request).await?;
        Ok(())
    }

    async fn customer_policies(&self, instance: &str, arn: &str) -> Result<Vec<PolicyRef>, AwsError> {
        self.gate
            .paginate(
                SERVICE,
                "ListCustomerManagedPolicyReferencesInPermissionSet",
                |token| {
                    self.client
                        .list_customer_managed_policy_references_in_permission_set()
                        .instance_arn(instance)
                        .permission_set_arn(arn)
                        .set_next_token(token)
                        .send()
                },
                |out| {
                    let refs = out.customer_managed_policy_references().iter().map(policy_ref).collect();
                    (refs, out.next_token().map(str::to_string))
                },
            )
            .await
    }

    async fn attach_customer(&self, instance: &str, arn: &str, policy: &PolicyRef) -> Result<(), AwsError> {
        let request = self
            .client
            .attach_customer_managed_policy_reference_to_permission_set()
            .instance_arn(instance)
            .permission_set_arn(arn)
            .customer_managed_policy_reference(customer_reference(policy)?)
            .send();
        self.gate.send(SERVICE, "AttachCustomerManagedPolicyReferenceToPermissionSet", request).await?;
        Ok(())
    }

    async fn detach_customer(&self, instance: &str, arn: &str, policy: &PolicyRef) -> Result<(), AwsError> {
        let request = self
            .client
            .detach_customer_managed_policy_reference_from_permission_set()
            .instance_arn(instance)
            .permission_set_arn(arn)
            .customer_managed_policy_reference(customer_reference(policy)?)
            .send();
        self.gate.send(SERVICE, "DetachCustomerManagedPolicyReferenceFromPermissionSet", request).await?;
        Ok(())
    }

    async fn inline_policy(&self, instance: &str, arn: &str) -> Result<Option<String>, AwsError> {
        let request =
            self.client.get_inline_policy_for_permission_set().instance_arn(instance).permission_set_arn(arn).send();
        let out = self.gate.send(SERVICE, "GetInlinePolicyForPermissionSet", request).await?;
        Ok(out.inline_policy().filter(|p| !p.trim().is_empty()).map(str::to_string))
    }

    async fn put_inline_policy(&self, instance: &str, arn: &str, document: &str) -> Result<(), AwsError> {
        let request = self
            .client
            .put_inline_policy_to_permission_set()
            .instance_arn(instance)
            .permission_set_arn(arn)
            .inline_policy(document)
            .send();
        self.gate.send(SERVICE, "PutInlinePolicyToPermissionSet", request).await?;
        Ok(())
    }

    async fn delete_inline_policy(&self, instance: &str, arn: &str) -> Result<(), AwsError> {
        let request = self
            .client
            .delete_inline_policy_from_permission_set()
            .instance_arn(instance)
            .permission_set_arn(arn)
            .send();
        self.gate.send(SERVICE, "DeleteInlinePolicyFromPermissionSet", request).await?;
        Ok(())
    }

    async fn boundary(&self, instance: &str, arn: &str) -> Result<Option<Boundary>, AwsError> {
        let request = self
            .client
            .get_permissions_boundary_for_permission_set()
            .instance_arn(instance)
            .permission_set_arn(arn)
            .send();
        match self.gate.send(SERVICE, "GetPermissionsBoundaryForPermissionSet", request).await {
            Ok(out) => Ok(out.permissions_boundary().and_then(|b| {
                b.managed_policy_arn()
                    .map(|arn| Boundary::Managed(arn.to_string()))
                    .or_else(|| b.customer_managed_policy_reference().map(|r| Boundary::Customer(policy_ref(r))))
            })),
            // AWS answers ResourceNotFoundException for a permission set without a boundary.
            Err(error) if error.is("ResourceNotFoundException") => Ok(None),
            Err(error) => Err(error),
        }
    }

    async fn put_boundary(&self, instance: &str, arn: &str, boundary: &Boundary) -> Result<(), AwsError> {
        let sdk = match boundary {
            Boundary::Managed(policy) => PermissionsBoundary::builder().managed_policy_arn(policy).build(),
            Boundary::Customer(policy) => {
                PermissionsBoundary::builder().customer_managed_policy_reference(customer_reference(policy)?).build()
            }
        };
        let request = self
            .client
            .put_permissions_boundary_to_permission_set()
            .instance_arn(instance)
            .permission_set_arn(arn)
            .permissions_boundary(sdk)
            .send();
        self.gate.send(SERVICE, "PutPermissionsBoundaryToPermissionSet", request).await?;
        Ok(())
    }

    async fn delete_boundary(&self, instance: &str, arn: &str) -> Result<(), AwsError> {
        let request = self
            .client
            .delete_permissions_boundary_from_permission_set()
            .instance_arn(instance)
            .permission_set_arn(arn)
            .send();
        self.gate.send(SERVICE, "DeletePermissionsBoundaryFromPermissionSet", request).await?;
        Ok(())
    }

    async fn provisioned_accounts(&self, instance: &str, arn: &str) -> Result<Vec<String>, AwsError> {
        self.gate
            .paginate(
                SERVICE,
                "ListAccountsForProvisionedPermissionSet",
                |token| {
                    self.client
                        .list_accounts_for_provisioned_permission_set()
                        .instance_arn(instance)
                        .permission_set_arn(arn)
                        .set_next_token(token)
                        .send()
                },
                |out| (out.account_ids().to_vec(), out.next_token().map(str::to_string)),
            )
            .await
    }

    async fn assignments(&self, instance: &str, arn: &str, account: &str) -> Result<Vec<Principal>, AwsError> {
        self.gate
            .paginate(
                SERVICE,
                "ListAccountAssignments",
                |token| {
                    self.client
                        .list_account_assignments()
                        .instance_arn(instance)
                        .permission_set_arn(arn)
                        .account_id(account)
                        .set_next_token(token)
                        .send()
                },
                |out| {
                    let found = out
                        .account_assignments()
                        .iter()
                        .filter_map(|a| principal(a.principal_type(), a.principal_id()))
                        .collect();
                    (found, out.next_token().map(str::to_string))
                },
            )
            .await
    }

    async fn assign(&self, instance: &str, arn: &str, account: &str, who: &Principal) -> Result<Operation, AwsError> {
        let request = self
            .client
            .create_account_assignment()
            .instance_arn(instance)
            .permission_set_arn(arn)
            .target_type(TargetType::AwsAccount)
            .target_id(account)
            .principal_type(who.kind.sdk())
            .principal_id(&who.id)
            .send();
        let out = self.gate.send(SERVICE, "CreateAccountAssignment", request).await?;
        Ok(operation(out.account_assignment_creation_status(), None))
    }

    async fn unassign(&self, instance: &str, arn: &str, account: &str, who: &Principal) -> Result<Operation, AwsError> {
        let request = self
            .client
            .delete_account_assignment()
            .instance_arn(instance)
            .permission_set_arn(arn)
            .target_type(TargetType::AwsAccount)
            .target_id(account)
            .principal_type(who.kind.sdk())
            .principal_id(&who.id)
            .send();
        let out = self.gate.send(SERVICE, "DeleteAccountAssignment", request).await?;
        Ok(operation(out.account_assignment_deletion_status(), None))
    }

    async fn assign_status(&self, instance: &str, request: &str) -> Result<Operation, AwsError> {
        let call = self
            .client
            .describe_account_assignment_creation_status()
            .instance_arn(instance)
            .account_assignment_creation_request_id(request)
            .send();
        let out = self.gate.send(SERVICE, "DescribeAccountAssignmentCreationStatus", call).await?;
        Ok(operation(out.account_assignment_creation_status(), Some(request)))
    }

    async fn unassign_status(&self, instance: &str, request: &str) -> Result<Operation, AwsError> {
        let call = self
            .client
            .describe_account_assignment_deletion_status()
            .instance_arn(instance)
            .account_assignment_deletion_request_id(request)
            .send();
        let out = self.gate.send(SERVICE, "DescribeAccountAssignmentDeletionStatus", call).await?;
        Ok(operation(out.account_assignment_deletion_status(), Some(request)))
    }

    async fn provision(&self, instance: &str, arn: &str) -> Result<Operation, AwsError> {
        let request = self
            .client
            .provision_permission_set()
            .instance_arn(instance)
            .permission_set_arn(arn)
            .target_type(ProvisionTargetType::AllProvisionedAccounts)
            .send();
        let out = self.gate.send(SERVICE, "ProvisionPermissionSet", request).await?;
        Ok(operation(out.permission_set_provisioning_status(), None))
    }

    async fn provision_status(&self, instance: &str, request: &str) -> Result<Operation, AwsError> {
        let call = self
            .client
            .describe_permission_set_provisioning_status()
            .instance_arn(instance)
            .provision_permission_set_request_id(request)
            .send();
        let out = self.gate.send(SERVICE, "DescribePermissionSetProvisioningStatus", call).await?;
        Ok(operation(out.permission_set_provisioning_status(), Some(request)))
    }
}
