//! Ownership end to end for PermissionSetRequest, SubdomainDelegation and SecurityBaseline
//! (AwsAccount has its own in `awsaccount`): objects that created, adopted, observe,
//! or only name a resource, with either deletion policy, in two team namespaces that one
//! operator reconciles, as in a cluster. The operator stops between apply and delete and
//! some statuses are stripped meanwhile. Every AWS write goes through a proxy that logs
//! it with its path and body: only what an object created or adopted is ever written to,
//! and every object is gone within seconds.

use kube::Api;
use kube::api::{DynamicObject, Patch, PatchParams};
use orgops_e2e::accounts::{PAYROLL, account, status_str, until_condition};
use orgops_e2e::aws::{self, organizations};
use orgops_e2e::operator::{Operator, OperatorOptions};
use orgops_e2e::proxy::{FaultProxy, Write};
use orgops_e2e::requests::{permission_set_name, request};
use orgops_e2e::{apply, client, condition, dns, dynamic_api, events_of, eventually, identity, merge, stack_sets};
use serde_json::{Value, json};
use std::time::Instant;

/// The label that puts a test's objects, and only them, before its operator.
const GROUP: &str = "orgops.dev/e2e-group";

/// Team namespaces reconciled by one operator whose AWS writes are logged.
struct Teams {
    group: &'static str,
    proxy: FaultProxy,
    operator: Operator,
}

impl Teams {
    /// Starts the operator on the objects labelled `group` in every namespace, with this
    /// platform policy; its Lease lives in `lease_namespace`.
    async fn start(group: &'static str, lease_namespace: &'static str, policy: String) -> Teams {
        let proxy = orgops_e2e::proxy::with_faults(Default::default()).await;
        let mut options = OperatorOptions::new(lease_namespace, &[]);
        options.policy = policy;
        options.selector = Some(format!("{GROUP}={group}"));
        options.aws_endpoint = Some(proxy.url.clone());
        let operator = Operator::start(options).await;
        Teams { group, proxy, operator }
    }

    /// Applies the object with this test's label.
    async fn apply(&self, api: &Api<DynamicObject>, mut object: Value) {
        merge(&mut object, &json!({"metadata": {"labels": {GROUP: self.group}}}));
        apply(api, &object).await.unwrap();
    }

    /// Stops the operator, strips the status of `stripped` (as if re-applied from git),
    /// deletes every object of `deleted`, starts the operator again and waits until every
    /// one is gone, for at most 30 s.
    async fn delete_across_a_restart(
        &mut self,
        deleted: &[(&Api<DynamicObject>, &[&str])],
        stripped: &[(&Api<DynamicObject>, &str)],
    ) {
        self.operator.terminate().await;
        for (api, name) in stripped {
            api.patch_status(name, &PatchParams::default(), &Patch::Merge(json!({"status": null}))).await.unwrap();
        }
        for (api, names) in deleted {
            for name in names.iter() {
                api.delete(name, &Default::default()).await.unwrap();
            }
        }
        let started = Instant::now();
        self.operator.restart("3s").await;
        for (api, names) in deleted {
            orgops_e2e::delete_and_wait_gone(api, names, 30).await;
        }
        eprintln!("every object gone {:.1} s after the operator restarted", started.elapsed().as_secs_f64());
    }

    fn writes(&self) -> Vec<Write> {
        self.proxy.write_log.lock().unwrap().clone()
    }

    /// Asserts that no write named any of `resources`.
    fn assert_untouched(&self, resources: &[&str]) {
        self.assert_untouched_since(0, resources);
    }

    /// Asserts that no write after the first `since` named any of `resources`.
    fn assert_untouched_since(&self, since: usize, resources: &[&str]) {
        for resource in resources {
            let touching: Vec<Write> = self.writes().into_iter().skip(since).filter(|w| w.names(resource)).collect();
            assert!(touching.is_empty(), "a write to {resource}, which no deleted object owned: {touching:?}");
        }
    }

    /// The resources named by each write of `operation`.
    fn written(&self, operation: &str) -> Vec<Write> {
        self.writes().into_iter().filter(|w| w.call.ends_with(&format!(":{operation}"))).collect()
    }
}

/// Asserts the object's deletion said it left the AWS resource where it was.
fn assert_left(namespace: &str, name: &str) {
    let events = events_of(namespace, name);
    let left = events.iter().any(|(reason, message)| reason == "Deleted" && message.starts_with("left in AWS"));
    assert!(left, "{namespace}/{name}: {events:?}");
}

fn annotated(mut object: Value, resource_id: &str) -> Value {
    merge(&mut object, &json!({"metadata": {"annotations": {"orgops.dev/adopt": resource_id}}}));
    object
}

async fn until_status(api: &Api<DynamicObject>, name: &str, field: &str) -> String {
    eventually(60, &format!("{name}: status.{field}"), || async {
        let value = status_str(&api.get(name).await.ok()?, field);
        (!value.is_empty()).then_some(value)
    })
    .await
}

async fn until_refused(api: &Api<DynamicObject>, name: &str, reason: &str, rule: &str) {
    let object = until_condition(api, name, "Synced", "False", reason).await;
    let (_, _, message) = condition(&object, "Synced").unwrap();
    assert!(message.contains(rule), "{name}: {message}");
}

async fn until_owned(api: &Api<DynamicObject>, name: &str) -> DynamicObject {
    let object = until_condition(api, name, "Ready", "True", "Available").await;
    assert_eq!(object.data["status"]["owned"], true, "{name}");
    object
}

/// An account of the organization in `path`, made outside orgops (reused by a rerun).
async fn existing_account(name: &str, email: &str, path: &str) -> String {
    aws::existing_account_in(&organizations().await, name, email, path).await
}

/// team-a observes a permission set made outside orgops (with an assignment made
/// outside too); team-b names it, names another made outside, observes a third, asks
/// for a managed policy the platform denies, and owns four: two created, two adopted by
/// annotation, one of each pair retained.
#[tokio::test]
async fn permission_sets_are_written_only_by_the_request_that_owns_them() {
    let (a, b) = ("own-psr-a", "own-psr-b");
    let (_, api_a) = orgops_e2e::requests::setup(a).await;
    let (_, api_b) = orgops_e2e::requests::setup(b).await;
    let target = existing_account("own-psr-target", "target@own-psr.example.com", PAYROLL).await;
    let group = identity::create_group("own-psr-devs").await;
    let observed = identity::foreign_permission_set(&permission_set_name(a, "observed"), &[]).await;
    identity::set_group_assignment(&observed, &target, &group, true).await;
    let outside = identity::foreign_permission_set(&permission_set_name(b, "on-outside"), &[]).await;
    let watched = identity::foreign_permission_set(&permission_set_name(b, "watching"), &[]).await;
    let to_adopt = identity::foreign_permission_set(&permission_set_name(b, "adopted"), &[]).await;
    let to_adopt_kept = identity::foreign_permission_set(&permission_set_name(b, "adopted-kept"), &[]).await;
    let grant = format!("organizationalUnits: [\"{PAYROLL}\"]");
    let policy =
        format!("deniedManagedPolicies: [AdministratorAccess]\nnamespaces:\n  {a}: {{{grant}}}\n  {b}: {{{grant}}}\n");
    let mut teams = Teams::start("own-psr", a, policy).await;

    let delete = |extra: Value| {
        let mut spec = json!({"deletionPolicy": "Delete"});
        merge(&mut spec, &extra);
        spec
    };
    let observe = json!({"managementPolicy": "ObserveOnly", "deletionPolicy": "Delete"});
    teams.apply(&api_a, request(a, "observed", observe.clone())).await;
    assert_eq!(until_status(&api_a, "observed", "permissionSetArn").await, observed);

    let on_observed = json!({"permissionSet": {"name": permission_set_name(a, "observed")}});
    let mut kept_on_observed = on_observed.clone();
    merge(&mut kept_on_observed, &json!({"deletionPolicy": "Retain"}));
    let assigned = json!({"assignments": [{"group": "own-psr-devs", "targets": [{"accountId": target}]}]});
    let admin = json!({"permissionSet": {"managedPolicies": ["arn:aws:iam::aws:policy/AdministratorAccess"]}});
    let objects = [
        annotated(request(b, "on-observed", delete(on_observed)), &observed),
        annotated(request(b, "on-observed-kept", kept_on_observed), &observed),
        request(b, "on-outside", delete(json!({}))),
        request(b, "forbidden", delete(admin)),
        request(b, "watching", observe),
        request(b, "created", delete(assigned)),
        request(b, "kept", json!({"deletionPolicy": "Retain"})),
        annotated(request(b, "adopted", delete(json!({}))), &to_adopt),
        annotated(request(b, "adopted-kept", json!({"deletionPolicy": "Retain"})), &to_adopt_kept),
    ];
    for object in objects {
        teams.apply(&api_b, object).await;
    }
    let claimed = format!("already claimed by PermissionSetRequest {a}/observed, which is older");
    until_refused(&api_b, "on-observed", "Forbidden", &claimed).await;
    until_refused(&api_b, "on-observed-kept", "Forbidden", &claimed).await;
    until_refused(&api_b, "on-outside", "ReconcileError", "already exists and is not owned by this object").await;
    until_refused(&api_b, "forbidden", "Forbidden", "deniedManagedPolicies: AdministratorAccess").await;
    assert_eq!(until_status(&api_b, "watching", "permissionSetArn").await, watched);
    let mut arns = std::collections::BTreeMap::new();
    for name in ["created", "kept", "adopted", "adopted-kept"] {
        arns.insert(name, status_str(&until_owned(&api_b, name).await, "permissionSetArn"));
    }
    assert_eq!((&arns["adopted"], &arns["adopted-kept"]), (&to_adopt, &to_adopt_kept));
    assert_eq!(identity::assignments(&arns["created"], &target).await.len(), 1);
    teams.assert_untouched(&[&observed, &outside, &watched]);

    let names_b =
        ["on-observed", "on-observed-kept", "on-outside", "forbidden", "watching", "created", "kept", "adopted"];
    let names_b: Vec<&str> = names_b.into_iter().chain(["adopted-kept"]).collect();
    let stripped = [(&api_b, "on-observed"), (&api_b, "on-outside"), (&api_b, "watching"), (&api_a, "observed")];
    teams.delete_across_a_restart(&[(&api_a, &["observed"]), (&api_b, &names_b)], &stripped).await;

    teams.assert_untouched(&[&observed, &outside, &watched]);
    for (namespace, name, arn) in [(a, "observed", &observed), (b, "on-outside", &outside), (b, "watching", &watched)] {
        let set_name = permission_set_name(namespace, name);
        assert_eq!(
            &identity::permission_sets_named(&set_name).await,
            std::slice::from_ref(arn),
            "{set_name} is still there"
        );
    }
    assert_eq!(identity::assignments(&observed, &target).await.len(), 1, "the observed assignment is untouched");
    let deleted: Vec<String> = teams.written("DeletePermissionSet").iter().map(|w| w.body.clone()).collect();
    assert_eq!(deleted.len(), 2, "{deleted:?}");
    for name in ["created", "adopted"] {
        assert!(deleted.iter().any(|body| body.contains(&arns[name])), "{name} deleted: {deleted:?}");
    }
    assert_eq!(teams.written("DeleteAccountAssignment").len(), 1, "the created request's one assignment");
    for name in ["kept", "adopted-kept"] {
        let set_name = permission_set_name(b, name);
        assert_eq!(identity::permission_sets_named(&set_name).await, [arns[name].clone()], "Retain keeps {name}");
    }
    // The observers carry no finalizer (ObserveOnly): the API server let them go at once.
    for name in ["on-observed", "on-observed-kept", "on-outside", "forbidden", "kept", "adopted-kept"] {
        assert_left(b, name);
    }
}

/// A SubdomainDelegation of `domain` under `parent`, hosted in the namespace's AwsAccount
/// `team`.
fn delegation(namespace: &str, name: &str, domain: &str, parent: &str, spec: Value) -> Value {
    let mut object = json!({
        "apiVersion": "orgops.dev/v1alpha1", "kind": "SubdomainDelegation",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"domain": domain, "parentDomain": parent, "account": {"accountRef": "team"}, "ttl": 300}
    });
    merge(&mut object, &json!({ "spec": spec }));
    object
}

/// Both teams delegate from one parent domain in a central account, each with its own
/// team account. team-a observes a zone made outside orgops (and its parent record,
/// also made outside); team-b names it, names a zone of its own made outside, a domain
/// whose parent record someone else wrote, observes a zone, and owns three: created,
/// adopted by annotation (both Delete), and created with Retain.
#[tokio::test]
async fn zones_and_parent_records_are_written_only_by_the_delegation_that_owns_them() {
    let (a, b) = ("own-dns-a", "own-dns-b");
    let kube = client().await;
    let (accounts_a, accounts_b) = (orgops_e2e::accounts::setup(a).await, orgops_e2e::accounts::setup(b).await);
    let (api_a, api_b) = (dynamic_api(&kube, a, "SubdomainDelegation"), dynamic_api(&kube, b, "SubdomainDelegation"));
    let central = existing_account("own-dns-central", "central@own-dns.example.com", "Workloads").await;
    let parent = "own-dns.example.com";
    let parent_zone = dns::existing_zone(&central, parent).await;
    let grant = format!(
        "{{organizationalUnits: [\"{PAYROLL}\"], parentDomains: [{{domain: {parent}, zoneId: {parent_zone}, \
         accountId: \"{central}\"}}]}}"
    );
    let mut teams = Teams::start("own-dns", a, format!("namespaces:\n  {a}: {grant}\n  {b}: {grant}\n")).await;
    teams.apply(&accounts_a, account(a, "team", json!({}))).await;
    teams.apply(&accounts_b, account(b, "team", json!({}))).await;
    let team_a = status_str(&until_condition(&accounts_a, "team", "Ready", "True", "Available").await, "accountId");
    let team_b = status_str(&until_condition(&accounts_b, "team", "Ready", "True", "Available").await, "accountId");

    let domain = |name: &str| format!("{name}.{parent}");
    let observed = dns::create_zone(&team_a, &domain("observed")).await;
    let servers = dns::name_servers(&team_a, &observed).await;
    let servers: Vec<&str> = servers.iter().map(String::as_str).collect();
    let ns = aws_sdk_route53::types::RrType::Ns;
    dns::set_record(&central, &parent_zone, &domain("observed"), ns.clone(), 300, &servers, true).await;
    for name in ["taken", "taken-kept"] {
        dns::set_record(&central, &parent_zone, &domain(name), ns.clone(), 300, &["ns1.elsewhere.example.net"], true)
            .await;
    }
    let outside = dns::create_zone(&team_b, &domain("outside")).await;
    let watched = dns::create_zone(&team_b, &domain("watched")).await;
    let to_adopt = dns::create_zone(&team_b, &domain("adopted")).await;

    let observe = json!({"managementPolicy": "ObserveOnly", "deletionPolicy": "Delete"});
    teams.apply(&api_a, delegation(a, "observed", &domain("observed"), parent, observe.clone())).await;
    assert_eq!(until_status(&api_a, "observed", "zoneId").await, observed);
    let delete = json!({"deletionPolicy": "Delete"});
    let objects = [
        annotated(delegation(b, "on-observed", &domain("observed"), parent, delete.clone()), &observed),
        delegation(b, "on-outside", &domain("outside"), parent, delete.clone()),
        delegation(b, "taken", &domain("taken"), parent, delete.clone()),
        delegation(b, "taken-kept", &domain("taken-kept"), parent, json!({"deletionPolicy": "Retain"})),
        delegation(b, "watching", &domain("watched"), parent, observe),
        delegation(b, "created", &domain("created"), parent, delete.clone()),
        delegation(b, "kept", &domain("kept"), parent, json!({"deletionPolicy": "Retain"})),
        annotated(delegation(b, "adopted", &domain("adopted"), parent, delete), &to_adopt),
    ];
    for object in objects {
        teams.apply(&api_b, object).await;
    }
    let claimed = format!("already claimed by SubdomainDelegation {a}/observed, which is older");
    until_refused(&api_b, "on-observed", "Forbidden", &claimed).await;
    until_refused(&api_b, "on-outside", "ReconcileError", "already exists and is not owned by this object").await;
    until_refused(&api_b, "taken", "Forbidden", "ns1.elsewhere.example.net").await;
    until_refused(&api_b, "taken-kept", "Forbidden", "ns1.elsewhere.example.net").await;
    assert_eq!(until_status(&api_b, "watching", "zoneId").await, watched);
    let mut zones = std::collections::BTreeMap::new();
    for name in ["created", "kept", "adopted"] {
        zones.insert(name, status_str(&until_owned(&api_b, name).await, "zoneId"));
    }
    assert_eq!(zones["adopted"], to_adopt);
    let untouched = [&observed, &outside, &watched].map(String::as_str);
    let domains = ["observed", "outside", "watched", "taken", "taken-kept"].map(domain);
    let named: Vec<&str> = untouched.iter().copied().chain(domains.iter().map(String::as_str)).collect();
    teams.assert_untouched(&named);

    let names_b = ["on-observed", "on-outside", "taken", "taken-kept", "watching", "created", "kept", "adopted"];
    let stripped = [(&api_b, "on-observed"), (&api_b, "on-outside"), (&api_b, "watching"), (&api_a, "observed")];
    teams.delete_across_a_restart(&[(&api_a, &["observed"]), (&api_b, &names_b)], &stripped).await;

    teams.assert_untouched(&named);
    for (account, name, zone) in [(&team_a, "observed", &observed), (&team_b, "outside", &outside)] {
        assert_eq!(
            &dns::zones_named(account, &domain(name)).await,
            std::slice::from_ref(zone),
            "{name}'s zone is still there"
        );
    }
    assert_eq!(dns::zones_named(&team_b, &domain("watched")).await, std::slice::from_ref(&watched));
    let record = |name: &str| {
        let name = domain(name);
        let (central, parent_zone) = (central.clone(), parent_zone.clone());
        async move { dns::record(&central, &parent_zone, &name, "NS").await }
    };
    assert_eq!(record("observed").await.map(|(_, values)| values.len()), Some(servers.len()));
    for name in ["taken", "taken-kept"] {
        assert_eq!(record(name).await, Some((300, vec!["ns1.elsewhere.example.net".to_string()])), "{name}");
    }
    for name in ["created", "adopted"] {
        assert!(dns::zones_named(&team_b, &domain(name)).await.is_empty(), "{name}'s zone deleted");
        assert!(record(name).await.is_none(), "{name}'s parent record deleted");
    }
    let deleted = teams.written("DeleteHostedZone");
    assert_eq!(deleted.len(), 2, "{deleted:?}");
    assert_eq!(dns::zones_named(&team_b, &domain("kept")).await, [zones["kept"].clone()], "Retain keeps the zone");
    assert!(record("kept").await.is_some(), "and the record");
    for name in ["on-observed", "on-outside", "taken", "taken-kept", "kept"] {
        assert_left(b, name);
    }
}

/// A stack set's name is the namespace's and the object's, so no team can name
/// another's: the ways a baseline owns nothing are a stack set of its name made outside
/// orgops or by another object, the platform policy refusing it, and ObserveOnly. It
/// owns three: created (Delete), created (Retain), created then switched to ObserveOnly.
#[tokio::test]
async fn stack_sets_are_written_only_by_the_baseline_that_owns_them() {
    let ns = "own-ss";
    let api = dynamic_api(&client().await, ns, "SecurityBaseline");
    orgops_e2e::accounts::setup(ns).await;
    aws::ensure_ou(&organizations().await, PAYROLL, ns).await;
    let ou = format!("{PAYROLL}/{ns}");
    existing_account("own-ss-member", "member@own-ss.example.com", &ou).await;
    let stack_set = |name: &str| format!("orgops-{ns}-{name}");
    stack_sets::foreign_stack_set(&stack_set("foreign"), &[]).await;
    stack_sets::foreign_stack_set(&stack_set("taken"), &[("orgops.dev/owner", "billing/guard")]).await;
    let policy = format!("namespaces:\n  {ns}: {{organizationalUnits: [\"{PAYROLL}\"]}}\n");
    let mut teams = Teams::start("own-ss", ns, policy).await;

    let baseline = |name: &str, ou: &str, deletion: &str| {
        json!({
            "apiVersion": "orgops.dev/v1alpha1", "kind": "SecurityBaseline",
            "metadata": {"name": name, "namespace": ns},
            "spec": {"targets": {"organizationalUnits": [ou], "regions": ["us-east-1"]},
                     "controls": {"guardDuty": {}}, "deletionPolicy": deletion}
        })
    };
    let cases = [
        ("foreign", ou.as_str(), "Delete"),
        ("taken", ou.as_str(), "Delete"),
        ("other-ou", "Workloads/Billing", "Delete"),
        ("other-ou-kept", "Workloads/Billing", "Retain"),
        ("created", ou.as_str(), "Delete"),
        ("kept", ou.as_str(), "Retain"),
        ("observing", ou.as_str(), "Delete"),
    ];
    for (name, ou, deletion) in cases {
        teams.apply(&api, baseline(name, ou, deletion)).await;
    }
    until_refused(&api, "foreign", "ReconcileError", "already exists and is not owned by this object").await;
    until_refused(&api, "taken", "Forbidden", "is managed by SecurityBaseline billing/guard").await;
    for name in ["other-ou", "other-ou-kept"] {
        until_refused(&api, name, "Forbidden", "outside the organizational units").await;
    }
    for name in ["created", "kept", "observing"] {
        until_owned(&api, name).await;
        assert_eq!(stack_sets::instances(&stack_set(name)).await.len(), 1, "{name}");
    }
    let mut observing = baseline("observing", &ou, "Delete");
    observing["spec"]["managementPolicy"] = "ObserveOnly".into();
    teams.apply(&api, observing).await;
    eventually(30, "the switch to ObserveOnly seen", || async {
        let object = api.get("observing").await.ok()?;
        (object.data["status"]["observedGeneration"].as_i64() == object.metadata.generation).then_some(())
    })
    .await;
    let switched = teams.writes().len();
    let (foreign, taken, observed) = (stack_set("foreign"), stack_set("taken"), stack_set("observing"));
    teams.assert_untouched(&[&foreign, &taken]);

    let names = ["foreign", "taken", "other-ou", "other-ou-kept", "created", "kept", "observing"];
    teams.delete_across_a_restart(&[(&api, &names)], &[(&api, "foreign"), (&api, "taken")]).await;

    teams.assert_untouched(&[&foreign, &taken]);
    teams.assert_untouched_since(switched, &[&observed]);
    for name in ["foreign", "taken", "kept", "observing"] {
        assert!(stack_sets::exists(&stack_set(name)).await, "{name}'s stack set is still there");
    }
    assert_eq!(stack_sets::instances(&stack_set("observing")).await.len(), 1, "ObserveOnly deletes nothing");
    assert!(!stack_sets::exists(&stack_set("created")).await);
    // One DeleteStackSet may be refused while the instances' deletion still runs, and sent
    // again: each names the one stack set this namespace owned and deleted.
    let deleted: Vec<Write> = teams.written("DeleteStackSet");
    assert!(!deleted.is_empty() && deleted.iter().all(|w| w.names(&stack_set("created"))), "{deleted:?}");
    for name in ["foreign", "taken", "other-ou", "other-ou-kept", "kept", "observing"] {
        assert_left(ns, name);
    }
}
