//! A mixed estate of the four kinds in one namespace, for the bench, the chaos runs and
//! their smoke versions: accounts spread over OUs, permission sets assigned in several of
//! them, subdomains delegated to them, baselines on the OUs. Built from sizes, applied,
//! waited for, and checked for duplicates in AWS.

use crate::accounts::email;
use crate::aws::{self, organizations};
use crate::{apply, client, condition, dns, dynamic_api, ensure_namespace, identity};
use kube::api::{DynamicObject, ListParams};
use serde_json::{Value, json};
use std::collections::BTreeMap;

/// The kinds, in the order they are applied.
pub const KINDS: [&str; 4] = ["AwsAccount", "PermissionSetRequest", "SubdomainDelegation", "SecurityBaseline"];

/// How large the estate is.
#[derive(Clone, Debug)]
pub struct Sizes {
    pub accounts: usize,
    pub ous: usize,
    pub requests: usize,
    /// Accounts each permission set is assigned in.
    pub accounts_per_request: usize,
    pub delegations: usize,
    pub baselines: usize,
}

/// The estate of a namespace: its objects and the platform policy that grants them.
pub struct Estate {
    pub namespace: String,
    pub sizes: Sizes,
    pub policy: String,
    /// AwsAccounts, then PermissionSetRequests, SubdomainDelegations, SecurityBaselines.
    pub objects: Vec<Value>,
    /// The parent zone's domain.
    pub parent: String,
}

/// A namespace name of this run's own (`<base>-<pid>`), so a rerun against the same
/// environment starts from nothing.
pub fn fresh_namespace(base: &str) -> String {
    format!("{base}-{}", std::process::id())
}

/// A short form of the namespace for names AWS keeps short (a permission set's 32
/// characters): each word's initial, numbers whole (`chaos-smoke-12345` → `cs12345`).
fn short(namespace: &str) -> String {
    namespace
        .split('-')
        .map(|w| if w.chars().all(|c| c.is_ascii_digit()) { w.to_string() } else { w.chars().take(1).collect() })
        .collect()
}

fn ou_name(namespace: &str) -> String {
    namespace.replace('-', "")
}

impl Estate {
    /// The kinds the estate has objects of.
    pub fn kinds(&self) -> Vec<&'static str> {
        KINDS.into_iter().filter(|kind| self.objects.iter().any(|o| o["kind"] == *kind)).collect()
    }
    /// Creates what the estate needs in AWS (its OUs under `Workloads`, a group, a parent
    /// zone in the management account) and builds its objects.
    pub async fn prepare(namespace: &str, sizes: Sizes) -> Estate {
        let org = organizations().await;
        ensure_namespace(&client().await, namespace).await;
        let top = ou_name(namespace);
        aws::ensure_ou(&org, "Workloads", &top).await;
        for i in 0..sizes.ous {
            aws::ensure_ou(&org, &format!("Workloads/{top}"), &format!("ou{i}")).await;
        }
        let group = format!("{namespace}-developers");
        identity::create_group(&group).await;
        let management = aws::management_account(&org).await;
        let parent = format!("{namespace}.example.com");
        let parent_zone = dns::existing_zone(&management, &parent).await;
        let policy = format!(
            "namespaces:\n  {namespace}:\n    organizationalUnits: [\"Workloads/{top}\"]\n    parentDomains:\n      \
             - {{domain: {parent}, zoneId: {parent_zone}, accountId: \"{management}\"}}\n"
        );

        let meta = |kind: &str, name: String| json!({"apiVersion": "orgops.dev/v1alpha1", "kind": kind, "metadata": {"name": name, "namespace": namespace}});
        let account_name = |i: usize| format!("a{i:05}");
        let mut objects = Vec::new();
        for i in 0..sizes.accounts {
            let mut object = meta("AwsAccount", account_name(i));
            object["spec"] = json!({
                "accountName": account_name(i),
                "email": email(namespace, &account_name(i)),
                "organizationalUnit": format!("Workloads/{top}/ou{}", i % sizes.ous.max(1)),
                "tags": {"team": namespace, "index": i.to_string()},
            });
            objects.push(object);
        }
        for r in 0..sizes.requests {
            let mut object = meta("PermissionSetRequest", format!("r{r:04}"));
            let targets: Vec<Value> = (0..sizes.accounts_per_request)
                .map(|k| json!({"accountRef": account_name((r * sizes.accounts_per_request + k) % sizes.accounts.max(1))}))
                .collect();
            object["spec"] = json!({
                "permissionSet": {
                    "name": format!("{}-r{r:04}", short(namespace)),
                    "sessionDuration": "PT4H",
                    "managedPolicies": ["arn:aws:iam::aws:policy/ReadOnlyAccess"],
                },
                "assignments": [{"group": group, "targets": targets}],
            });
            objects.push(object);
        }
        for d in 0..sizes.delegations {
            let mut object = meta("SubdomainDelegation", format!("d{d:04}"));
            object["spec"] = json!({
                "domain": format!("d{d:04}.{parent}"),
                "parentDomain": parent,
                "account": {"accountRef": account_name(d % sizes.accounts.max(1))},
            });
            objects.push(object);
        }
        for b in 0..sizes.baselines {
            let mut object = meta("SecurityBaseline", format!("b{b:02}"));
            object["spec"] = json!({
                "targets": {"organizationalUnits": [format!("Workloads/{top}/ou{}", b % sizes.ous.max(1))], "regions": ["us-east-1"]},
                "controls": {"guardDuty": {}},
            });
            objects.push(object);
        }
        Estate { namespace: namespace.to_string(), sizes, policy, objects, parent }
    }

    /// Applies every object, 16 at a time.
    pub async fn apply(&self) {
        let client = client().await;
        let mut pending = tokio::task::JoinSet::new();
        for object in self.objects.clone() {
            if pending.len() >= 16 {
                pending.join_next().await.unwrap().unwrap();
            }
            let api = dynamic_api(&client, &self.namespace, object["kind"].as_str().unwrap());
            pending.spawn(async move { apply(&api, &object).await.unwrap() });
        }
        while let Some(done) = pending.join_next().await {
            done.unwrap();
        }
    }

    /// Ready objects of each kind (0 for a kind the API server cannot list now).
    pub async fn ready(&self) -> BTreeMap<&'static str, usize> {
        let client = client().await;
        let mut ready = BTreeMap::new();
        for kind in KINDS {
            let api = dynamic_api(&client, &self.namespace, kind);
            let items: Vec<DynamicObject> = api.list(&ListParams::default()).await.map(|l| l.items).unwrap_or_default();
            ready.insert(
                kind,
                items.iter().filter(|o| condition(o, "Ready").is_some_and(|(s, _, _)| s == "True")).count(),
            );
        }
        ready
    }

    /// Whether every object is Ready.
    pub async fn all_ready(&self) -> bool {
        self.ready().await.values().sum::<usize>() == self.objects.len()
    }

    /// What AWS holds more (or less) than once: an account per email, a permission set
    /// per request, a zone per delegated domain. Empty when each is there exactly once.
    pub async fn duplicates(&self) -> Vec<String> {
        let org = organizations().await;
        let mut found = Vec::new();
        let mut by_email: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for id in aws::accounts_with_email_suffix(&org, &format!("@{}.example.com", self.namespace)).await {
            let account = org.describe_account().account_id(&id).send().await.unwrap();
            let email = account.account().unwrap().email().unwrap_or_default().to_lowercase();
            by_email.entry(email).or_default().push(id);
        }
        let of_kind = |kind: &'static str| self.objects.iter().filter(move |o| o["kind"] == kind);
        let mut account_of: BTreeMap<&str, &String> = BTreeMap::new();
        for object in of_kind("AwsAccount") {
            let email = object["spec"]["email"].as_str().unwrap().to_lowercase();
            match by_email.get(&email).map(Vec::as_slice) {
                Some([id]) => {
                    account_of.insert(object["metadata"]["name"].as_str().unwrap(), id);
                }
                other => found.push(format!("{} accounts with email {email}", other.map_or(0, <[String]>::len))),
            }
        }
        let names = identity::permission_set_names().await;
        for object in of_kind("PermissionSetRequest") {
            let name = object["spec"]["permissionSet"]["name"].as_str().unwrap();
            let count = names.iter().filter(|n| *n == name).count();
            if count != 1 {
                found.push(format!("{count} permission sets named {name}"));
            }
        }
        for object in of_kind("SubdomainDelegation") {
            let domain = object["spec"]["domain"].as_str().unwrap();
            let Some(account) = account_of.get(object["spec"]["account"]["accountRef"].as_str().unwrap()) else {
                continue;
            };
            let count = dns::zones_named(account, domain).await.len();
            if count != 1 {
                found.push(format!("{count} zones for {domain}"));
            }
        }
        found
    }
}
