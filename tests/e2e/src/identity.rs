//! IAM Identity Center in moto, read and changed as a platform engineer (or an intruder)
//! would, beside the operator: permission sets, their policies and assignments, and
//! identity store groups.

use aws_sdk_identitystore::Client as StoreClient;
use aws_sdk_identitystore::types::{AlternateIdentifier, UniqueAttribute};
use aws_sdk_ssoadmin::Client as SsoClient;
use aws_sdk_ssoadmin::types::{PrincipalType, TargetType};
use aws_smithy_types::Document;

/// The instance ARN and identity store id of the calling test's organization.
pub async fn instance() -> (String, String) {
    crate::aws::tenant().await.instance
}

/// The instance ARN and identity store id moto serves to `config`'s account.
pub(crate) async fn instance_in(config: &aws_config::SdkConfig) -> (String, String) {
    let out = SsoClient::new(config).list_instances().send().await.unwrap();
    let first = &out.instances()[0];
    (first.instance_arn().unwrap().to_string(), first.identity_store_id().unwrap().to_string())
}

/// An sso-admin client of the calling test's organization.
pub async fn sso() -> SsoClient {
    SsoClient::new(&crate::aws::config().await)
}

/// An identity store client of the calling test's organization.
pub async fn store() -> StoreClient {
    StoreClient::new(&crate::aws::config().await)
}

/// A principal named by a unique attribute (`displayName`, `userName`).
fn unique(path: &str, value: &str) -> AlternateIdentifier {
    let attribute = UniqueAttribute::builder().attribute_path(path).attribute_value(Document::String(value.into()));
    AlternateIdentifier::UniqueAttribute(attribute.build().unwrap())
}

/// Creates a group (unless a rerun against the same moto made it already) and returns
/// its id.
pub async fn create_group(name: &str) -> String {
    let (_, store_id) = instance().await;
    let client = store().await;
    match client.create_group().identity_store_id(&store_id).display_name(name).send().await {
        Ok(out) => out.group_id().to_string(),
        Err(_) => {
            let out =
                client.get_group_id().identity_store_id(store_id).alternate_identifier(unique("displayName", name));
            out.send().await.unwrap().group_id().to_string()
        }
    }
}

/// The name of every permission set of the instance (a name twice is a duplicate).
pub async fn permission_set_names() -> Vec<String> {
    let (instance, _) = instance().await;
    let client = sso().await;
    let mut names = Vec::new();
    let mut pages = client.list_permission_sets().instance_arn(&instance).into_paginator().send();
    while let Some(page) = pages.next().await {
        for arn in page.unwrap().permission_sets() {
            let out = client.describe_permission_set().instance_arn(&instance).permission_set_arn(arn).send().await;
            names.extend(out.unwrap().permission_set().and_then(|p| p.name()).map(str::to_string));
        }
    }
    names
}

/// Every permission set ARN with this name.
pub async fn permission_sets_named(name: &str) -> Vec<String> {
    let (instance, _) = instance().await;
    let client = sso().await;
    let mut found = Vec::new();
    let mut pages = client.list_permission_sets().instance_arn(&instance).into_paginator().send();
    while let Some(page) = pages.next().await {
        for arn in page.unwrap().permission_sets() {
            let out = client.describe_permission_set().instance_arn(&instance).permission_set_arn(arn).send().await;
            // Another test may delete its permission set between the listing and this.
            let Ok(out) = out else { continue };
            if out.permission_set().and_then(|p| p.name()) == Some(name) {
                found.push(arn.clone());
            }
        }
    }
    found
}

/// The permission set's AWS managed policy ARNs.
pub async fn managed_policies(arn: &str) -> Vec<String> {
    let (instance, _) = instance().await;
    let out = sso()
        .await
        .list_managed_policies_in_permission_set()
        .instance_arn(instance)
        .permission_set_arn(arn)
        .send()
        .await
        .unwrap();
    let mut arns: Vec<String> =
        out.attached_managed_policies().iter().filter_map(|p| p.arn().map(str::to_string)).collect();
    arns.sort();
    arns
}

/// The permission set's customer managed policy names.
pub async fn customer_policies(arn: &str) -> Vec<String> {
    let (instance, _) = instance().await;
    let out = sso()
        .await
        .list_customer_managed_policy_references_in_permission_set()
        .instance_arn(instance)
        .permission_set_arn(arn)
        .send()
        .await
        .unwrap();
    out.customer_managed_policy_references().iter().map(|r| r.name().to_string()).collect()
}

/// The permission set's inline policy ("" when none).
pub async fn inline_policy(arn: &str) -> String {
    let (instance, _) = instance().await;
    let out = sso()
        .await
        .get_inline_policy_for_permission_set()
        .instance_arn(instance)
        .permission_set_arn(arn)
        .send()
        .await
        .unwrap();
    out.inline_policy().unwrap_or_default().to_string()
}

/// The statements orgops wrote to revoke sessions (Sid `OrgopsRevokeSessions…`), from an
/// inline policy document.
pub fn revocation_statements(document: &str) -> Vec<serde_json::Value> {
    let parsed: serde_json::Value = serde_json::from_str(document).unwrap_or_default();
    let statements = parsed["Statement"].as_array().cloned().unwrap_or_default();
    statements
        .into_iter()
        .filter(|s| s["Sid"].as_str().is_some_and(|sid| sid.starts_with("OrgopsRevokeSessions")))
        .collect()
}

/// The user ids revocation statements deny in an account, sorted.
pub fn denied_in(statements: &[serde_json::Value], account: &str) -> Vec<String> {
    let mut users: Vec<String> = statements
        .iter()
        .filter(|s| s["Condition"]["StringEquals"]["aws:PrincipalAccount"] == account)
        .flat_map(|s| s["Condition"]["StringEquals"]["identitystore:UserId"].as_array().cloned().unwrap_or_default())
        .filter_map(|u| u.as_str().map(str::to_string))
        .collect();
    users.sort();
    users
}

/// The permission set's boundary, as its managed policy ARN or customer policy name.
pub async fn boundary(arn: &str) -> Option<String> {
    let (instance, _) = instance().await;
    let out = sso()
        .await
        .get_permissions_boundary_for_permission_set()
        .instance_arn(instance)
        .permission_set_arn(arn)
        .send()
        .await
        .ok()?;
    let boundary = out.permissions_boundary()?;
    boundary
        .managed_policy_arn()
        .map(str::to_string)
        .or_else(|| boundary.customer_managed_policy_reference().map(|r| r.name().to_string()))
}

/// The principal ids that have the permission set in the account.
pub async fn assignments(arn: &str, account: &str) -> Vec<String> {
    let (instance, _) = instance().await;
    let out = sso()
        .await
        .list_account_assignments()
        .instance_arn(instance)
        .permission_set_arn(arn)
        .account_id(account)
        .send()
        .await
        .unwrap();
    let mut ids: Vec<String> =
        out.account_assignments().iter().filter_map(|a| a.principal_id().map(str::to_string)).collect();
    ids.sort();
    ids
}

/// Detaches an AWS managed policy out of band.
pub async fn detach_managed(arn: &str, policy: &str) {
    let (instance, _) = instance().await;
    sso()
        .await
        .detach_managed_policy_from_permission_set()
        .instance_arn(instance)
        .permission_set_arn(arn)
        .managed_policy_arn(policy)
        .send()
        .await
        .unwrap();
}

/// Replaces the inline policy out of band.
pub async fn put_inline_policy(arn: &str, document: &str) {
    let (instance, _) = instance().await;
    sso()
        .await
        .put_inline_policy_to_permission_set()
        .instance_arn(instance)
        .permission_set_arn(arn)
        .inline_policy(document)
        .send()
        .await
        .unwrap();
}

/// Assigns (`true`) or unassigns a group out of band.
pub async fn set_group_assignment(arn: &str, account: &str, group_id: &str, present: bool) {
    let (instance, _) = instance().await;
    let client = sso().await;
    if present {
        client
            .create_account_assignment()
            .instance_arn(instance)
            .permission_set_arn(arn)
            .target_type(TargetType::AwsAccount)
            .target_id(account)
            .principal_type(PrincipalType::Group)
            .principal_id(group_id)
            .send()
            .await
            .unwrap();
    } else {
        client
            .delete_account_assignment()
            .instance_arn(instance)
            .permission_set_arn(arn)
            .target_type(TargetType::AwsAccount)
            .target_id(account)
            .principal_type(PrincipalType::Group)
            .principal_id(group_id)
            .send()
            .await
            .unwrap();
    }
}

/// A permission set made outside orgops (unless a rerun made it already), with these
/// tags; returns its ARN.
pub async fn foreign_permission_set(name: &str, tags: &[(&str, &str)]) -> String {
    if let Some(arn) = permission_sets_named(name).await.into_iter().next() {
        return arn;
    }
    let (instance, _) = instance().await;
    let mut request = sso().await.create_permission_set().instance_arn(instance).name(name);
    for (key, value) in tags {
        request = request.tags(aws_sdk_ssoadmin::types::Tag::builder().key(*key).value(*value).build().unwrap());
    }
    request.send().await.unwrap().permission_set().unwrap().permission_set_arn().unwrap().to_string()
}

/// Creates a user (unless a rerun made it already) and returns its id.
pub async fn create_user(user_name: &str) -> String {
    let (_, store_id) = instance().await;
    let client = store().await;
    let created = client
        .create_user()
        .identity_store_id(&store_id)
        .user_name(user_name)
        .display_name(user_name)
        .name(aws_sdk_identitystore::types::Name::builder().given_name(user_name).family_name("Test").build())
        .send()
        .await;
    match created {
        Ok(out) => out.user_id().to_string(),
        Err(_) => {
            let out =
                client.get_user_id().identity_store_id(store_id).alternate_identifier(unique("userName", user_name));
            out.send().await.unwrap().user_id().to_string()
        }
    }
}

/// Makes the user a member of the group (a second time is refused and ignored).
pub async fn add_member(group_id: &str, user_id: &str) {
    let (_, store_id) = instance().await;
    let member = aws_sdk_identitystore::types::MemberId::UserId(user_id.to_string());
    let _ = store()
        .await
        .create_group_membership()
        .identity_store_id(store_id)
        .group_id(group_id)
        .member_id(member)
        .send()
        .await;
}
