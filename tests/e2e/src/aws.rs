//! An AWS client of the tests' own, acting on moto as an intruder (or a platform
//! engineer) would, beside the operator.
//!
//! Each test acts in an organization of its own: moto keeps its state per account, and
//! acts as any account whose role is assumed, so the first AWS call of a test's thread
//! assumes a role in a fresh account, makes it a management account and seeds what the
//! tests expect there. The operators and the CLI commands a test starts get the same
//! credentials ([`credentials_env`]): each reads a small organization, whatever the other
//! tests hold meanwhile.

use aws_credential_types::Credentials;
use aws_credential_types::provider::SharedCredentialsProvider;
use aws_sdk_account::types::AlternateContactType;
use aws_sdk_organizations::Client;
use aws_sdk_organizations::types::{OrganizationFeatureSet, Tag};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use tokio::sync::OnceCell;

/// The OUs every test organization starts with.
const SEEDED_OUS: [&str; 4] = ["Workloads", "Workloads/Payroll", "Workloads/Billing", "Sandbox"];
/// The Identity Store groups every test organization starts with.
const SEEDED_GROUPS: [&str; 2] = ["payroll-developers", "payroll-oncall"];
/// The parent zone every test organization's management account holds.
const PARENT_ZONE: &str = "example.com";

/// A test's organization: its management account and the credentials acting there.
#[derive(Clone)]
pub struct Tenant {
    pub account: String,
    credentials: Credentials,
    /// Identity Center's instance ARN and identity store id in the management account.
    pub instance: (String, String),
}

thread_local! {
    // libtest runs each test on a thread of its own, and `#[tokio::test]` keeps every task
    // of the test on it: the thread names the test. The cell makes concurrent first calls
    // (tasks joined at a test's start) create one organization, not several.
    static TENANT: Arc<OnceCell<Tenant>> = Arc::new(OnceCell::new());
}

/// The organization of the calling test, made on its first call.
pub async fn tenant() -> Tenant {
    let cell = TENANT.with(Arc::clone);
    cell.get_or_init(Tenant::create).await.clone()
}

impl Tenant {
    async fn create() -> Tenant {
        // Unique within this moto: the process and a counter.
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let account = format!("7{:05}{:06}", std::process::id() % 100_000, NEXT.fetch_add(1, Ordering::Relaxed));
        let base = load_base().await;
        let role = format!("arn:aws:iam::{account}:role/orgops-e2e");
        let assumed = aws_sdk_sts::Client::new(&base)
            .assume_role()
            .role_arn(role)
            .role_session_name("orgops-e2e")
            .duration_seconds(43_200)
            .send()
            .await
            .expect("assuming a role in a test's own account");
        let c = assumed.credentials().unwrap();
        let credentials =
            Credentials::new(c.access_key_id(), c.secret_access_key(), Some(c.session_token().into()), None, "tenant");
        let config = config_with(&credentials).await;
        let instance = crate::identity::instance_in(&config).await;
        seed(&config, &account, &instance.1).await;
        Tenant { account, credentials, instance }
    }
}

/// The organization with its OUs, the Identity Store groups and the parent zone.
async fn seed(config: &aws_config::SdkConfig, account: &str, identity_store: &str) {
    let org = Client::new(config);
    org.create_organization().feature_set(OrganizationFeatureSet::All).send().await.unwrap();
    for path in SEEDED_OUS {
        let (parent, name) = path.rsplit_once('/').unwrap_or(("", path));
        ensure_ou(&org, parent, name).await;
    }
    let store = aws_sdk_identitystore::Client::new(config);
    for name in SEEDED_GROUPS {
        store.create_group().identity_store_id(identity_store).display_name(name).send().await.unwrap();
    }
    let route53 = aws_sdk_route53::Client::new(config);
    route53.create_hosted_zone().name(PARENT_ZONE).caller_reference(account).send().await.unwrap();
}

/// The environment's configuration, over the HTTPS client orgops itself uses.
async fn load_base() -> aws_config::SdkConfig {
    use aws_smithy_http_client::tls::{Provider, rustls_provider::CryptoMode};
    let client = aws_smithy_http_client::Builder::new().tls_provider(Provider::Rustls(CryptoMode::Ring)).build_https();
    aws_config::defaults(aws_config::BehaviorVersion::latest()).http_client(client).load().await
}

async fn config_with(credentials: &Credentials) -> aws_config::SdkConfig {
    let base = load_base().await;
    base.to_builder().credentials_provider(SharedCredentialsProvider::new(credentials.clone())).build()
}

/// The SDK configuration of the calling test's management account.
pub async fn config() -> aws_config::SdkConfig {
    config_with(&tenant().await.credentials).await
}

/// The environment variables that give a process the calling test's credentials.
pub async fn credentials_env() -> Vec<(String, String)> {
    let tenant = tenant().await;
    let c = &tenant.credentials;
    vec![
        ("AWS_ACCESS_KEY_ID".into(), c.access_key_id().into()),
        ("AWS_SECRET_ACCESS_KEY".into(), c.secret_access_key().into()),
        ("AWS_SESSION_TOKEN".into(), c.session_token().unwrap_or_default().into()),
    ]
}

/// An Organizations client of the calling test's organization.
pub async fn organizations() -> Client {
    Client::new(&config().await)
}

/// An Account Management client of moto.
pub async fn account_management() -> aws_sdk_account::Client {
    aws_sdk_account::Client::new(&config().await)
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

/// The id of an OU path from the root (the root's for "").
pub async fn ou_id(org: &Client, path: &str) -> String {
    let mut current = org.list_roots().send().await.unwrap().roots()[0].id().unwrap().to_string();
    for name in path.split('/').filter(|name| !name.is_empty()) {
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
    let base = config().await;
    let sts = aws_sdk_sts::Client::new(&base);
    let me = sts.get_caller_identity().send().await.unwrap();
    if me.account() == Some(account) {
        return base;
    }
    let role = format!("arn:aws:iam::{account}:role/OrganizationAccountAccessRole");
    let provider =
        aws_config::sts::AssumeRoleProvider::builder(role).session_name("orgops-e2e").configure(&base).build().await;
    base.to_builder().credentials_provider(SharedCredentialsProvider::new(provider)).build()
}
