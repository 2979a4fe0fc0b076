//! An AWS client of the tests' own, acting on moto as an intruder (or a platform
//! engineer) would, beside the operator.

use crate::repo_root;
use aws_sdk_account::types::AlternateContactType;
use aws_sdk_organizations::Client;
use aws_sdk_organizations::types::Tag;
use std::collections::BTreeMap;
use std::process::Command;
use tokio::sync::OnceCell;

/// An Organizations client of moto, with the test organization and its OUs in place.
pub async fn organizations() -> Client {
    static SEEDED: OnceCell<()> = OnceCell::const_new();
    SEEDED
        .get_or_init(|| async {
            let python = std::env::var("ORGOPS_MOTO_PYTHON").expect("ORGOPS_MOTO_PYTHON from the harness");
            let status = Command::new(python).arg(repo_root().join("tests/harness/seed-org.py")).status().unwrap();
            assert!(status.success(), "seeding the organization in moto");
        })
        .await;
    Client::new(&aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await)
}

/// An Account Management client of moto.
pub async fn account_management() -> aws_sdk_account::Client {
    aws_sdk_account::Client::new(&aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await)
}

/// The name of the account's security contact, if it has one.
pub async fn security_contact_name(account_id: &str) -> Option<String> {
    let out = account_management()
        .await
        .get_alternate_contact()
        .account_id(account_id)
        .alternate_contact_type(AlternateContactType::Security)
        .send()
        .await
        .ok()?;
    out.alternate_contact()?.name().map(str::to_string)
}

/// Replaces the account's security contact out of band.
pub async fn set_security_contact(account_id: &str, name: &str) {
    account_management()
        .await
        .put_alternate_contact()
        .account_id(account_id)
        .alternate_contact_type(AlternateContactType::Security)
        .name(name)
        .title("Intruder")
        .email_address("intruder@example.com")
        .phone_number("+1 555 0199")
        .send()
        .await
        .unwrap();
}

/// Every account in the organization with this email.
pub async fn accounts_with_email(org: &Client, email: &str) -> Vec<String> {
    accounts_where(org, |e| e.eq_ignore_ascii_case(email)).await
}

/// Every account in the organization whose email ends with `suffix`.
pub async fn accounts_with_email_suffix(org: &Client, suffix: &str) -> Vec<String> {
    accounts_where(org, |e| e.to_ascii_lowercase().ends_with(&suffix.to_ascii_lowercase())).await
}

async fn accounts_where(org: &Client, email_matches: impl Fn(&str) -> bool) -> Vec<String> {
    let mut ids = Vec::new();
    let mut pages = org.list_accounts().into_paginator().send();
    while let Some(page) = pages.next().await {
        for account in page.unwrap().accounts() {
            if account.email().is_some_and(&email_matches) {
                ids.push(account.id().unwrap().to_string());
            }
        }
    }
    ids
}

/// The id of an OU path from the root.
pub async fn ou_id(org: &Client, path: &str) -> String {
    let mut current = org.list_roots().send().await.unwrap().roots()[0].id().unwrap().to_string();
    for name in path.split('/') {
        let ous = org.list_organizational_units_for_parent().parent_id(&current).send().await.unwrap();
        current = ous
            .organizational_units()
            .iter()
            .find(|ou| ou.name() == Some(name))
            .unwrap_or_else(|| panic!("no OU {path}"))
            .id()
            .unwrap()
            .to_string();
    }
    current
}

/// The account's parent id.
pub async fn parent_of(org: &Client, account_id: &str) -> String {
    org.list_parents().child_id(account_id).send().await.unwrap().parents()[0].id().unwrap().to_string()
}

/// The account's tags.
pub async fn tags_of(org: &Client, account_id: &str) -> BTreeMap<String, String> {
    let out = org.list_tags_for_resource().resource_id(account_id).send().await.unwrap();
    out.tags().iter().map(|t| (t.key().to_string(), t.value().to_string())).collect()
}

/// Sets a tag out of band.
pub async fn set_tag(org: &Client, account_id: &str, key: &str, value: &str) {
    org.tag_resource()
        .resource_id(account_id)
        .tags(Tag::builder().key(key).value(value).build().unwrap())
        .send()
        .await
        .unwrap();
}

/// Removes a tag out of band.
pub async fn remove_tag(org: &Client, account_id: &str, key: &str) {
    org.untag_resource().resource_id(account_id).tag_keys(key).send().await.unwrap();
}

/// Creates an account out of band and returns its id.
pub async fn create_account(org: &Client, name: &str, email: &str) -> String {
    let out = org.create_account().account_name(name).email(email).send().await.unwrap();
    out.create_account_status().unwrap().account_id().unwrap().to_string()
}

/// Creates an account out of band, moves it into the OU at `path` and returns its id.
pub async fn create_account_in(org: &Client, name: &str, email: &str, path: &str) -> String {
    let id = create_account(org, name, email).await;
    let root = org.list_roots().send().await.unwrap().roots()[0].id().unwrap().to_string();
    let ou = ou_id(org, path).await;
    org.move_account().account_id(&id).source_parent_id(&root).destination_parent_id(&ou).send().await.unwrap();
    id
}

/// The account with this email, made outside orgops in the OU at `path` unless a rerun
/// against the same moto made it already.
pub async fn existing_account_in(org: &Client, name: &str, email: &str, path: &str) -> String {
    match accounts_with_email(org, email).await.first() {
        Some(id) => id.clone(),
        None => create_account_in(org, name, email, path).await,
    }
}

/// The account's state (ACTIVE, SUSPENDED, ...).
pub async fn state_of(org: &Client, account_id: &str) -> String {
    let account = org.describe_account().account_id(account_id).send().await.unwrap();
    account.account().unwrap().state().map(|s| s.as_str().to_string()).unwrap_or_default()
}

/// The id of the OU `name` under the OU at `parent` (a path from the root), created if
/// it does not exist yet.
pub async fn ensure_ou(org: &Client, parent: &str, name: &str) -> String {
    let parent_id = ou_id(org, parent).await;
    let ous = org.list_organizational_units_for_parent().parent_id(&parent_id).send().await.unwrap();
    if let Some(ou) = ous.organizational_units().iter().find(|ou| ou.name() == Some(name)) {
        return ou.id().unwrap().to_string();
    }
    let out = org.create_organizational_unit().parent_id(parent_id).name(name).send().await.unwrap();
    out.organizational_unit().unwrap().id().unwrap().to_string()
}

/// The management account's id.
pub async fn management_account(org: &Client) -> String {
    let out = org.describe_organization().send().await.unwrap();
    out.organization().unwrap().master_account_id().unwrap().to_string()
}

/// The SDK configuration acting in `account`: the environment's own in its own account,
/// else OrganizationAccountAccessRole there, as a platform engineer reaches it.
pub async fn member_config(account: &str) -> aws_config::SdkConfig {
    let base = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let sts = aws_sdk_sts::Client::new(&base);
    let me = sts.get_caller_identity().send().await.unwrap();
    if me.account() == Some(account) {
        return base;
    }
    let role = format!("arn:aws:iam::{account}:role/OrganizationAccountAccessRole");
    let provider =
        aws_config::sts::AssumeRoleProvider::builder(role).session_name("orgops-e2e").configure(&base).build().await;
    base.to_builder()
        .credentials_provider(aws_credential_types::provider::SharedCredentialsProvider::new(provider))
        .build()
}
