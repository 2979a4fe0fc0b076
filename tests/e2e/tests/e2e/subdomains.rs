//! SubdomainDelegation end to end: the real API server, the operator as a process, moto
//! as AWS with several accounts of one organization, reached through AssumeRole.

use aws_sdk_route53::types::RrType;
use kube::Api;
use kube::api::DynamicObject;
use orgops_e2e::accounts::{PAYROLL, account, status_str, until_condition};
use orgops_e2e::aws::{self, organizations};
use orgops_e2e::operator::{Operator, OperatorOptions};
use orgops_e2e::{apply, client, condition, dns, dynamic_api, events_of, eventually, merge};
use serde_json::{Value, json};

/// A namespace with a team account (an AwsAccount it owns, Ready) and a parent zone
/// `<namespace>.example.com` in a central account the platform policy names.
struct World {
    ns: &'static str,
    accounts: Api<DynamicObject>,
    api: Api<DynamicObject>,
    central: String,
    parent: String,
    parent_zone: String,
    team: String,
    /// More parent domains the policy grants, with their zones in the central account.
    more_parents: Vec<(String, String)>,
}

impl World {
    async fn new(ns: &'static str) -> World {
        let org = organizations().await;
        let accounts = orgops_e2e::accounts::setup(ns).await;
        let api = dynamic_api(&client().await, ns, "SubdomainDelegation");
        let email = format!("central@{ns}.example.com");
        let central = aws::existing_account_in(&org, &format!("central-{ns}"), &email, "Workloads").await;
        let parent = format!("{ns}.example.com");
        let parent_zone = dns::existing_zone(&central, &parent).await;
        World { ns, accounts, api, central, parent, parent_zone, team: String::new(), more_parents: Vec::new() }
    }

    fn options(&self) -> OperatorOptions<'static> {
        let mut options = OperatorOptions::new(self.ns, &[PAYROLL]);
        let parents: Vec<String> = std::iter::once((self.parent.clone(), self.parent_zone.clone()))
            .chain(self.more_parents.iter().cloned())
            .map(|(domain, zone)| {
                format!("      - {{domain: {domain}, zoneId: {zone}, accountId: \"{}\"}}\n", self.central)
            })
            .collect();
        options.policy = format!(
            "namespaces:\n  {ns}:\n    organizationalUnits: [\"{PAYROLL}\"]\n    parentDomains:\n{}",
            parents.concat(),
            ns = self.ns,
        );
        options
    }

    /// Creates the team's AwsAccount and waits until it is Ready.
    async fn team_account(&mut self) {
        apply(&self.accounts, &account(self.ns, "team", json!({}))).await.unwrap();
        let team = until_condition(&self.accounts, "team", "Ready", "True", "Available").await;
        self.team = status_str(&team, "accountId");
    }

    fn delegation(&self, name: &str, spec: Value) -> Value {
        let mut object = json!({
            "apiVersion": "orgops.dev/v1alpha1", "kind": "SubdomainDelegation",
            "metadata": {"name": name, "namespace": self.ns},
            "spec": {"domain": format!("{name}.{}", self.parent), "parentDomain": self.parent,
                     "account": {"accountRef": "team"}, "ttl": 300}
        });
        merge(&mut object, &json!({ "spec": spec }));
        object
    }

    fn domain(&self, name: &str) -> String {
        format!("{name}.{}", self.parent)
    }

    async fn parent_record(&self, name: &str) -> Option<(i64, Vec<String>)> {
        dns::record(&self.central, &self.parent_zone, &self.domain(name), "NS").await
    }
}

#[tokio::test]
async fn the_zone_is_in_the_team_account_and_the_central_parent_holds_its_servers() {
    let mut world = World::new("subdel-create").await;
    let operator = Operator::start(world.options()).await;
    world.team_account().await;
    apply(&world.api, &world.delegation("web", json!({"ttl": 600}))).await.unwrap();
    let object = until_condition(&world.api, "web", "Ready", "True", "Available").await;

    let domain = world.domain("web");
    let zones = dns::zones_named(&world.team, &domain).await;
    assert_eq!(zones.len(), 1, "one zone in the team account");
    assert_eq!(status_str(&object, "zoneId"), zones[0]);
    let management = aws::management_account(&organizations().await).await;
    assert!(dns::zones_named(&management, &domain).await.is_empty(), "none in the management account");
    assert!(dns::zones_named(&world.central, &domain).await.is_empty(), "none in the parent's account");
    let servers = dns::name_servers(&world.team, &zones[0]).await;
    assert_eq!(world.parent_record("web").await, Some((600, servers.clone())), "exactly the child's servers");
    assert_eq!(object.data["status"]["delegated"], true);
    assert_eq!(status_str(&object, "accountId"), world.team);
    assert_eq!(status_str(&object, "parentZoneId"), world.parent_zone);
    assert_eq!(condition(&object, "Synced").unwrap().0, "True");
    eprintln!("AWS calls for one delegation (with its AwsAccount): {:?}", operator.aws_calls());
}

#[tokio::test]
async fn killed_right_after_create_hosted_zone_the_restarted_operator_makes_no_second_zone() {
    let mut world = World::new("subdel-crash").await;
    let (proxy, pid) = orgops_e2e::proxy::killing_after("CreateHostedZone").await;
    let mut options = world.options();
    options.aws_endpoint = Some(proxy);
    let mut operator = Operator::start(options).await;
    world.team_account().await;
    pid.store(operator.pid(), std::sync::atomic::Ordering::SeqCst);
    apply(&world.api, &world.delegation("web", json!({}))).await.unwrap();
    eventually(30, "the operator killed by the proxy", || async {
        (pid.load(std::sync::atomic::Ordering::SeqCst) == 0).then_some(())
    })
    .await;
    operator.kill9();
    let domain = world.domain("web");
    assert_eq!(dns::zones_named(&world.team, &domain).await.len(), 1, "AWS created it");
    assert!(world.api.get("web").await.unwrap().data["status"]["zoneId"].is_null());

    operator.restart("3s").await;
    let object = until_condition(&world.api, "web", "Ready", "True", "Available").await;
    assert_eq!(dns::zones_named(&world.team, &domain).await, [status_str(&object, "zoneId")], "one zone");
    assert_eq!(operator.aws_calls().get("CreateHostedZone"), None, "the restarted operator created none");
}

#[tokio::test]
async fn the_parent_record_edited_or_deleted_and_the_child_zone_deleted_are_restored() {
    let mut world = World::new("subdel-drift").await;
    let _operator = Operator::start(world.options()).await;
    world.team_account().await;
    apply(&world.api, &world.delegation("web", json!({}))).await.unwrap();
    let object = until_condition(&world.api, "web", "Ready", "True", "Available").await;
    let domain = world.domain("web");
    let zone = status_str(&object, "zoneId");
    let servers = dns::name_servers(&world.team, &zone).await;

    dns::set_record(&world.central, &world.parent_zone, &domain, RrType::Ns, 300, &["ns.hijack.example.net"], true)
        .await;
    eventually(20, "the edited record restored", || async {
        (world.parent_record("web").await == Some((300, servers.clone()))).then_some(())
    })
    .await;
    dns::set_record(
        &world.central,
        &world.parent_zone,
        &domain,
        RrType::Ns,
        300,
        &servers.iter().map(String::as_str).collect::<Vec<_>>(),
        false,
    )
    .await;
    eventually(20, "the deleted record restored", || async {
        (world.parent_record("web").await == Some((300, servers.clone()))).then_some(())
    })
    .await;
    let corrected: Vec<String> =
        events_of(world.ns, "web").into_iter().filter(|(r, _)| r == "DriftCorrected").map(|(_, m)| m).collect();
    assert!(corrected.iter().any(|m| m.contains("ns.hijack.example.net")), "{corrected:?}");
    assert!(corrected.iter().any(|m| m.contains("delegation: (absent)")), "{corrected:?}");

    dns::delete_zone(&world.team, &zone).await;
    let object = eventually(30, "the zone created again", || async {
        let object = world.api.get("web").await.ok()?;
        let new = status_str(&object, "zoneId");
        (!new.is_empty() && new != zone && condition(&object, "Ready")?.0 == "True").then_some(object)
    })
    .await;
    let new = status_str(&object, "zoneId");
    assert_eq!(dns::zones_named(&world.team, &domain).await, std::slice::from_ref(&new));
    let new_servers = dns::name_servers(&world.team, &new).await;
    assert_eq!(world.parent_record("web").await, Some((300, new_servers)), "the parent follows the new zone");
    assert_eq!(object.data["status"]["zoneGeneration"], 1);
    assert!(
        events_of(world.ns, "web").iter().any(|(r, m)| r == "Created" && m.contains(&zone) && m.contains(&new)),
        "an Event naming both zones"
    );
}

#[tokio::test]
async fn conflicts_and_forbidden_delegations_are_refused_with_no_write() {
    let mut world = World::new("subdel-refused").await;
    // example.com is granted too: its subdomain subdel-refused.example.com is then itself
    // a parent domain, never delegated.
    let top = dns::existing_zone(&world.central, "example.com").await;
    world.more_parents.push(("example.com".into(), top));
    let (proxy, calls) = orgops_e2e::proxy::counting().await;
    let mut options = world.options();
    options.aws_endpoint = Some(proxy);
    let _operator = Operator::start(options).await;
    world.team_account().await;
    apply(&world.api, &world.delegation("web", json!({}))).await.unwrap();
    until_condition(&world.api, "web", "Ready", "True", "Available").await;
    // A record someone else wrote for a domain orgops has never delegated.
    let taken = world.domain("taken");
    dns::set_record(&world.central, &world.parent_zone, &taken, RrType::Ns, 300, &["ns1.elsewhere.example.net"], true)
        .await;
    let writes = || {
        let counted = calls.lock().unwrap().clone();
        let writes = ["CreateHostedZone", "ChangeResourceRecordSets", "ChangeTagsForResource", "DeleteHostedZone"];
        writes.iter().map(|w| counted.get(*w).copied().unwrap_or(0)).sum::<u32>()
    };
    let before = writes();

    let parent = world.parent.clone();
    let cases = [
        ("second", json!({"domain": world.domain("web")}), "already claimed by SubdomainDelegation subdel-refused/web"),
        ("taken", json!({}), "ns1.elsewhere.example.net"),
        (
            "ungranted",
            json!({"domain": "web.example.org", "parentDomain": "example.org"}),
            "is not a parent domain the platform policy grants",
        ),
        (
            "outsider",
            json!({"account": {"accountRef": null, "accountId": world.central}}),
            "is not an account of namespace",
        ),
        ("the-parent", json!({"domain": parent, "parentDomain": "example.com"}), "is itself a parent domain"),
    ];
    for (name, spec, _) in &cases {
        let mut spec = spec.clone();
        merge(&mut spec, &json!({"deletionPolicy": "Delete"}));
        apply(&world.api, &world.delegation(name, spec)).await.unwrap();
    }
    for (name, _, rule) in &cases {
        let object = until_condition(&world.api, name, "Synced", "False", "Forbidden").await;
        let (_, _, message) = condition(&object, "Synced").unwrap();
        assert!(message.contains(rule), "{name}: {message}");
    }
    tokio::time::sleep(std::time::Duration::from_secs(7)).await;
    assert_eq!(writes(), before, "no Route 53 write for a refused delegation: {:?}", calls.lock().unwrap());
    assert_eq!(world.parent_record("taken").await, Some((300, vec!["ns1.elsewhere.example.net".to_string()])));

    // Deleted with deletionPolicy Delete: none of them owns anything, so each goes at once,
    // with no Route 53 write and none of the lookups that refused it.
    let names: Vec<&str> = cases.iter().map(|(name, ..)| *name).collect();
    orgops_e2e::delete_and_wait_gone(&world.api, &names, 10).await;
    assert_eq!(writes(), before, "no Route 53 write on delete: {:?}", calls.lock().unwrap());
    assert_eq!(world.parent_record("taken").await, Some((300, vec!["ns1.elsewhere.example.net".to_string()])));
    assert!(world.parent_record("web").await.is_some(), "the older claim's delegation is untouched");
    until_condition(&world.api, "web", "Ready", "True", "Available").await;
}

#[tokio::test]
async fn deletion_retains_or_removes_the_record_then_the_zone_unless_it_holds_records() {
    let mut world = World::new("subdel-delete").await;
    let _operator = Operator::start(world.options()).await;
    world.team_account().await;
    for (name, policy) in [("kept", "Retain"), ("gone", "Delete"), ("busy", "Delete")] {
        apply(&world.api, &world.delegation(name, json!({"deletionPolicy": policy}))).await.unwrap();
    }
    let mut zones = std::collections::BTreeMap::new();
    for name in ["kept", "gone", "busy"] {
        let object = until_condition(&world.api, name, "Ready", "True", "Available").await;
        zones.insert(name, status_str(&object, "zoneId"));
    }
    let busy = world.domain("busy");
    dns::set_record(&world.team, &zones["busy"], &format!("www.{busy}"), RrType::Txt, 60, &["\"hello\""], true).await;
    for name in ["kept", "gone", "busy"] {
        world.api.delete(name, &Default::default()).await.unwrap();
    }
    for name in ["kept", "gone", "busy"] {
        eventually(30, &format!("{name} gone from the cluster"), || async {
            world.api.get_opt(name).await.ok()?.is_none().then_some(())
        })
        .await;
    }
    assert!(world.parent_record("kept").await.is_some(), "Retain keeps the delegation");
    assert_eq!(dns::zones_named(&world.team, &world.domain("kept")).await.len(), 1, "and the zone");
    assert!(world.parent_record("gone").await.is_none());
    assert!(dns::zones_named(&world.team, &world.domain("gone")).await.is_empty());
    assert!(world.parent_record("busy").await.is_none(), "the delegation goes first");
    assert_eq!(dns::zones_named(&world.team, &busy).await, [zones["busy"].clone()], "a zone with records is kept");
    assert!(
        events_of(world.ns, "busy").iter().any(|(r, m)| r == "Deleted" && m.contains(&format!("www.{busy} TXT"))),
        "an Event names the record that kept the zone"
    );
}

#[tokio::test]
async fn an_idle_resync_of_a_hundred_delegations_reads_a_few_shared_lists() {
    let mut world = World::new("subdel-idle").await;
    let (proxy, calls) = orgops_e2e::proxy::counting().await;
    let mut options = world.options();
    options.aws_endpoint = Some(proxy);
    options.resync = "10s";
    // moto has no Route 53 limit: the count is measured here, not the time.
    options.extra_args = vec!["--route53-rate".into(), "100".into()];
    let operator = Operator::start(options).await;
    world.team_account().await;
    for i in 0..100 {
        apply(&world.api, &world.delegation(&format!("d{i:03}"), json!({}))).await.unwrap();
    }
    eventually(240, "100 delegations Ready", || async {
        (orgops_e2e::accounts::ready_count(&world.api).await == 100).then_some(())
    })
    .await;
    let counted = operator.calls_of_one_idle_sweep("SubdomainDelegation", &calls).await;
    // (Route 53's ListTagsForResource, read only when adopting a zone, shares its name with
    // the Organizations call the AwsAccount sweep makes, so it is left out here.)
    let route53 = [
        "ListHostedZones",
        "ListResourceRecordSets",
        "ListHostedZonesByName",
        "GetHostedZone",
        "GetChange",
        "CreateHostedZone",
        "ChangeResourceRecordSets",
        "ChangeTagsForResource",
        "DeleteHostedZone",
        "AssumeRole",
    ];
    let spent: Vec<(String, u32)> = counted.into_iter().filter(|(op, _)| route53.contains(&op.as_str())).collect();
    eprintln!("Route 53 calls of one idle resync, 100 delegations: {spent:?}");
    // One listing of the team account's zones and one of the parent zone's records, each
    // a single page in moto (AWS pages 100 zones and 300 records: two and one pages here).
    let expected: Vec<(String, u32)> = [("ListHostedZones", 1), ("ListResourceRecordSets", 1)]
        .into_iter()
        .map(|(op, n)| (op.to_string(), n))
        .collect();
    assert_eq!(spent, expected);
}
