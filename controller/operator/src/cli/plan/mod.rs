//! `orgops plan`: what the controller would do to AWS if a folder of objects were merged,
//! for review on the pull request. Each object goes through its kind's own policy check
//! and observe, the code the controller runs, on a call gate that refuses every call but
//! a read before it is sent: whatever the input, the plan writes nothing.

mod report;

use crate::aws::account::SdkAccountManagement;
use crate::aws::identity_store::SdkIdentityStore;
use crate::aws::load_sdk_config;
use crate::aws::member::MemberAccess;
use crate::aws::organizations::SdkOrganizations;
use crate::aws::route53::SdkRoute53;
use crate::aws::snapshots::dns::DnsView;
use crate::aws::snapshots::enabled_regions::EnabledRegions;
use crate::aws::snapshots::identity_center::IdentityCenter;
use crate::aws::snapshots::organization::OrgCache;
use crate::aws::stack_sets::SdkStackSets;
use crate::cli::ReadArgs;
use crate::cli::validate::{Document, Finding, load};
use crate::kinds::account::{AccountKind, AccountSettings};
use crate::kinds::baseline::BaselineKind;
use crate::kinds::permission_set::PermissionSetKind;
use crate::kinds::subdomain::SubdomainKind;
use crate::metrics::Metrics;
use crate::policy::PolicyStore;
use crate::reconcile::conditions::{self, ConditionUpdate, READY};
use crate::reconcile::ownership;
use crate::reconcile::{Availability, FieldDiff, Linked, ManagedKind, Observation, StatusOf};
use anyhow::Context;
use kube::core::object::{HasSpec, HasStatus};
use kube::runtime::reflector::{self, Store};
use kube::runtime::watcher;
use kube::{Resource, ResourceExt};
use orgops_api::{DeletionPolicy, ManagementPolicy};
use orgops_api::{ManagedSpec, ManagedStatus, SubdomainDelegation};
pub use report::{Action, Change, Format, PlanReport, Planned};
use serde::de::DeserializeOwned;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// `orgops plan` arguments.
#[derive(clap::Args, Debug)]
pub struct PlanArgs {
    /// The folder of objects as the pull request leaves it.
    pub dir: PathBuf,
    /// The folder as it is on the base branch: objects there and gone from `dir` are
    /// deletions, and differences on objects the pull request does not change are drift.
    #[arg(long)]
    pub base: Option<PathBuf>,
    /// The platform policy (as the controller runs with it).
    #[arg(long)]
    pub policy: Option<PathBuf>,
    /// Output: Markdown for a pull-request comment, or JSON.
    #[arg(long, value_enum, default_value = "markdown")]
    pub format: Format,
    /// Where to read AWS from.
    #[command(flatten)]
    pub reads: ReadArgs,
}

/// The typed objects of one kind among documents, each with its namespace set.
fn objects<R: DeserializeOwned + Resource>(documents: &[Document], kind: &str) -> anyhow::Result<Vec<R>> {
    documents
        .iter()
        .filter(|d| d.kind() == kind && crate::cli::validate::checks::is_orgops(d))
        .map(|d| {
            let mut object = d.object.clone();
            object["metadata"]["namespace"] = d.namespace().into();
            serde_json::from_value::<R>(object).with_context(|| {
                format!("{} document {}: not a valid {kind} (run orgops validate)", d.file.display(), d.index)
            })
        })
        .collect()
}

fn key<R: ResourceExt>(obj: &R) -> (String, String) {
    (obj.namespace().unwrap_or_default(), obj.name_any())
}

fn spec_json<R: HasSpec<Spec: serde::Serialize>>(obj: &R) -> serde_json::Value {
    serde_json::to_value(obj.spec()).unwrap_or_default()
}

fn changes(diffs: &[FieldDiff]) -> Vec<Change> {
    diffs.iter().map(|d| Change { field: d.path.clone(), aws: d.actual.clone(), spec: d.desired.clone() }).collect()
}

/// How many assignments the differences end (removed from the spec, or expired): each
/// ends with its sessions revoked.
fn ending_assignments(diffs: &[FieldDiff]) -> usize {
    diffs.iter().filter(|d| d.path == "assignments" && matches!(d.desired.as_str(), "(absent)" | "(expired)")).count()
}

/// What a creation makes, in a line.
fn describe_creation(kind: &str, spec: &serde_json::Value) -> String {
    let text = |path: &str| spec.pointer(path).and_then(serde_json::Value::as_str).unwrap_or("?").to_string();
    let count = |path: &str| spec.pointer(path).and_then(serde_json::Value::as_array).map_or(0, Vec::len);
    match kind {
        "AwsAccount" => {
            format!("account {} <{}> in {}", text("/accountName"), text("/email"), text("/organizationalUnit"))
        }
        "PermissionSetRequest" => {
            format!("permission set {} with {} assignments", text("/permissionSet/name"), count("/assignments"))
        }
        "SubdomainDelegation" => format!("hosted zone {} delegated from {}", text("/domain"), text("/parentDomain")),
        "SecurityBaseline" => format!(
            "stack set to {} OUs and {} accounts in {} regions",
            count("/targets/organizationalUnits"),
            count("/targets/accounts"),
            count("/targets/regions")
        ),
        _ => String::new(),
    }
}

/// Plans one object: refused by the policy, created, adopted, changed, drifted or left.
async fn plan_object<K>(
    kind: &K,
    policy: &PolicyStore,
    obj: &K::Resource,
    base: Option<&K::Resource>,
) -> (Planned, StatusOf<K>)
where
    K: ManagedKind,
    <K::Resource as HasSpec>::Spec: serde::Serialize,
{
    let (namespace, name) = key(obj);
    let mut planned = Planned::new(K::KIND, &namespace, &name);
    let mut status = StatusOf::<K>::default();
    if let Err(error) = kind.check_policy(obj, &policy.grants(&namespace)).await {
        planned.action = Action::Refused;
        planned.message = format!("{}: {}", error.reason.as_str(), error.message);
        return (planned, status);
    }
    let policies = obj.spec().policies();
    let full = policies.management_policy == ManagementPolicy::Full;
    match kind.observe(obj, &mut status).await {
        Ok(Observation::Absent) if full => {
            planned.action = Action::Create;
            planned.message = describe_creation(K::KIND, &spec_json(obj));
        }
        Ok(Observation::Absent) => {
            planned.action = Action::None;
            planned.message = "not found in AWS; managementPolicy ObserveOnly creates nothing".into();
        }
        Ok(Observation::Present { diffs, linked, availability }) => {
            if availability == Availability::Available {
                // The kinds planned after this one see it as the controller would: Ready.
                let ready = ConditionUpdate::true_(READY, "Available", "");
                conditions::set(&mut status.common_mut().conditions, ready, None, k8s_openapi::jiff::Timestamp::now());
            }
            let unchanged = base.is_some_and(|b| spec_json(b) == spec_json(obj));
            let (ownership, diffs): (Vec<FieldDiff>, Vec<FieldDiff>) = diffs.into_iter().partition(|d| d.ownership);
            planned.changes = changes(&diffs);
            planned.action = match (&linked, diffs.is_empty()) {
                (_, false) if unchanged => Action::Drift,
                (_, false) => Action::Change,
                // Observing what exists writes nothing: only Full management adopts.
                (Some(Linked::Adopted(_)), true) if full => Action::Adopt,
                (_, true) => Action::None,
            };
            if let Some(Linked::Adopted(message)) = linked {
                planned.message = message;
            }
            if !ownership.is_empty() && full {
                let tags: Vec<&str> = ownership.iter().map(|d| d.path.as_str()).collect();
                let writes = format!("writes the ownership tags {}", tags.join(", "));
                planned.message =
                    if planned.message.is_empty() { writes } else { format!("{}; {writes}", planned.message) };
                if planned.action == Action::None {
                    planned.action = Action::Adopt;
                }
            }
            if planned.action == Action::Drift {
                planned.message = if full && policies.drift_policy == orgops_api::DriftPolicy::Correct {
                    "drift today: orgops changes AWS back to the spec".into()
                } else {
                    "drift today: orgops reports it and leaves AWS as it is".into()
                };
            }
            if !full && matches!(planned.action, Action::Change | Action::Drift) {
                planned.message = "managementPolicy ObserveOnly: reported, never written".into();
            }
            let ending = ending_assignments(&diffs);
            if full && ending > 0 {
                let revokes = format!(
                    "ends {ending} assignments: the sessions they issued are denied until they expire (session revocation)"
                );
                planned.message =
                    if planned.message.is_empty() { revokes } else { format!("{}; {revokes}", planned.message) };
            }
        }
        Err(error) if error.class == crate::reconcile::error::ErrorClass::Waiting => {
            planned.action = Action::Waits;
            planned.message = error.message;
        }
        Err(error) => {
            planned.action = Action::Unknown;
            planned.message = error.message;
        }
    }
    (planned, status)
}

/// Plans an object present on the base branch and gone from the pull request.
async fn plan_deletion<K: ManagedKind>(kind: &K, obj: &K::Resource) -> Planned {
    let (namespace, name) = key(obj);
    let mut planned = Planned::new(K::KIND, &namespace, &name);
    let policies = obj.spec().policies();
    let mut status = StatusOf::<K>::default();
    planned.action = match kind.observe(obj, &mut status).await {
        Ok(Observation::Absent) => {
            planned.message = "nothing in AWS".into();
            Action::None
        }
        Ok(Observation::Present { diffs, linked, .. })
            if policies.management_policy == ManagementPolicy::Full
                && obj.spec().deletion_policy() == DeletionPolicy::Delete =>
        {
            // The cluster's status is not read here: AWS's side of the ownership rule
            // decides whether the operator will delete or leave it.
            let tags: Vec<&FieldDiff> = diffs.iter().filter(|d| d.ownership).collect();
            match ownership::verify(Some(true), &tags, linked.as_ref()) {
                Ok(_) => Action::Delete,
                Err(why) => {
                    planned.message = format!("left in AWS, untouched: {why}");
                    Action::Retain
                }
            }
        }
        Ok(Observation::Present { .. }) => {
            planned.message = "deletionPolicy Retain or managementPolicy ObserveOnly: left in AWS".into();
            Action::Retain
        }
        Err(error) => {
            planned.message = error.message;
            Action::Unknown
        }
    };
    planned
}

/// Plans every object of one kind, and the deletions of the kind; returns the objects
/// with the status their observe found (for the directories of the kinds after it).
async fn plan_kind<K>(
    kind: &K,
    policy: &PolicyStore,
    (head, base): (&[Document], &[Document]),
    out: &mut Vec<Planned>,
) -> anyhow::Result<Vec<K::Resource>>
where
    K: ManagedKind,
    <K::Resource as HasSpec>::Spec: serde::Serialize,
{
    let base = objects::<K::Resource>(base, K::KIND)?;
    let mut observed = Vec::new();
    for mut obj in objects::<K::Resource>(head, K::KIND)? {
        let before = base.iter().find(|b| key(*b) == key(&obj));
        let (planned, status) = plan_object(kind, policy, &obj, before).await;
        out.push(planned);
        *obj.status_mut() = Some(status);
        observed.push(obj);
    }
    for gone in base.iter().filter(|b| !observed.iter().any(|o| key(o) == key(*b))) {
        out.push(plan_deletion(kind, gone).await);
    }
    Ok(observed)
}

fn store<R>(objects: &[R]) -> Store<R>
where
    R: Resource<DynamicType = ()> + Clone + std::fmt::Debug + Send + Sync + 'static,
{
    // A listing, as a watcher's initial one: the objects replace the store's at InitDone.
    let (reader, mut writer) = reflector::store();
    writer.apply_watcher_event(&watcher::Event::Init);
    for obj in objects {
        writer.apply_watcher_event(&watcher::Event::InitApply(obj.clone()));
    }
    writer.apply_watcher_event(&watcher::Event::InitDone);
    reader
}

/// What a plan could not read, one line each (`file:line: …`): the documents that are not
/// YAML, of an unknown orgops kind, or in files that are not read, at the head and at the
/// base. A plan with any is incomplete: it cannot say what it did not read.
fn unread(documents: &[Document], findings: Vec<Finding>, side: &str) -> Vec<String> {
    let mut unread = findings;
    unread.extend(crate::cli::validate::unknown_kinds(documents));
    unread.iter().map(|f| format!("{side}{}", f.text())).collect()
}

/// The plan of a folder against AWS, reads only.
pub async fn plan(args: &PlanArgs) -> anyhow::Result<PlanReport> {
    let (head, head_unread) = load(std::slice::from_ref(&args.dir))?;
    let mut report = PlanReport { unread: unread(&head, head_unread, ""), objects: Vec::new() };
    let base = match &args.base {
        Some(base) => {
            let (documents, findings) = load(std::slice::from_ref(base))?;
            report.unread.extend(unread(&documents, findings, "base: "));
            documents
        }
        None => Vec::new(),
    };
    let policy = Arc::new(PolicyStore::open(args.policy.clone())?);
    let sdk = load_sdk_config().await;
    let gate = crate::run::args::aws_gate(&args.reads.limits, Metrics::new().aws_calls)?.read_only();
    let org = Arc::new(OrgCache::new(SdkOrganizations::new(aws_sdk_organizations::Client::new(&sdk), gate.clone())));
    let contacts = SdkAccountManagement::new(aws_sdk_account::Client::new(&sdk), gate.clone());
    let mut out = Vec::new();

    let account_kind = AccountKind::new(
        org.clone(),
        contacts.clone(),
        store(&objects::<orgops_api::AwsAccount>(&head, "AwsAccount")?),
        AccountSettings {
            unconfirmed_create_grace: Duration::ZERO,
            creates_in_flight: args.reads.limits.create_account_concurrency.into(),
        },
    );
    let accounts = plan_kind(&account_kind, &policy, (&head, &base), &mut out).await?;
    let directory = store(&accounts);

    let instance = args.reads.instance();
    let center = Arc::new(IdentityCenter::new(
        crate::aws::sso_admin::SdkSsoAdmin::new(aws_sdk_ssoadmin::Client::new(&sdk), gate.clone()),
        SdkIdentityStore::new(aws_sdk_identitystore::Client::new(&sdk), gate.clone()),
        instance,
    ));
    let requests = objects::<orgops_api::PermissionSetRequest>(&head, "PermissionSetRequest")?;
    let request_kind = PermissionSetKind::new(center, org.clone(), directory.clone(), store(&requests), policy.clone());
    plan_kind(&request_kind, &policy, (&head, &base), &mut out).await?;

    let roles = args.reads.roles();
    let members = Arc::new(MemberAccess::new(sdk.clone(), roles, gate.clone()));
    let dns = Arc::new(DnsView::new(SdkRoute53::new(members, gate.clone())));
    let delegations = objects::<SubdomainDelegation>(&head, "SubdomainDelegation")?;
    let subdomain_kind = SubdomainKind::new(dns, directory.clone(), store(&delegations), policy.clone());
    plan_kind(&subdomain_kind, &policy, (&head, &base), &mut out).await?;

    let config_maps: Vec<k8s_openapi::api::core::v1::ConfigMap> = head
        .iter()
        .filter(|d| d.kind() == "ConfigMap")
        .filter_map(|d| {
            let mut object = d.object.clone();
            object["metadata"]["namespace"] = d.namespace().into();
            serde_json::from_value(object).ok()
        })
        .collect();
    let stack_sets = SdkStackSets::new(aws_sdk_cloudformation::Client::new(&sdk), gate.clone());
    let baseline_kind = BaselineKind::new(
        stack_sets,
        org,
        directory,
        config_maps,
        EnabledRegions::new(contacts),
        Duration::from_secs(86_400),
    );
    plan_kind(&baseline_kind, &policy, (&head, &base), &mut out).await?;
    report.objects = out;
    Ok(report)
}

/// `orgops plan`: prints the plan; an incomplete plan is printed, then fails.
pub async fn run(args: &PlanArgs) -> anyhow::Result<()> {
    let report = plan(args).await?;
    print!("{}", report::render(&report, args.format));
    for line in &report.unread {
        eprintln!("{line}");
    }
    anyhow::ensure!(
        report.unread.is_empty(),
        "incomplete plan: {} inputs could not be read (listed above); fix them, then plan again",
        report.unread.len()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plan_counts_the_assignments_it_ends() {
        let diffs = [
            FieldDiff::new("assignments", "(absent)", "GROUP g-1 in 111122223333"),
            FieldDiff::scheduled("assignments", "(expired)", "user jdoe in 111122223333"),
            FieldDiff::new("assignments", "group devs in 111122223333", "(absent)"),
            FieldDiff::new("permissionSet.sessionDuration", "PT2H", "PT1H"),
        ];
        assert_eq!(ending_assignments(&diffs), 2, "a removal and an expiry; a creation ends nothing");
    }
}
