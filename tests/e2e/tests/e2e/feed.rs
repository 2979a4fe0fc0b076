//! The change feed end to end: moto's SQS and EventBridge, the rule of the shipped
//! template, the forwarding rule of member accounts, the operator with a one-hour resync.
//! An out-of-band change followed by its CloudTrail event is corrected within seconds; the
//! same change without the event would wait for the resync.

use aws_sdk_route53::types::RrType;
use orgops_e2e::accounts::{PAYROLL, account, status_str, until_condition};
use orgops_e2e::aws::{self, organizations};
use orgops_e2e::estate::fresh_namespace;
use orgops_e2e::feed::{ChangeFeed, INTRUDER, own_arn};
use orgops_e2e::operator::{Operator, OperatorOptions};
use orgops_e2e::{apply, dns, dynamic_api, events_of, eventually, identity, requests};
use serde_json::json;
use std::time::Instant;

const BILLING: &str = "Workloads/Billing";
const READ_ONLY: &str = "arn:aws:iam::aws:policy/ReadOnlyAccess";

fn count(operator: &Operator, metric: &str) -> f64 {
    operator.metrics().get(metric).copied().unwrap_or_default()
}

fn outcome(operator: &Operator, outcome: &str) -> f64 {
    count(operator, &format!("orgops_change_feed_events_total{{outcome=\"{outcome}\"}}"))
}

fn feed_options<'a>(ns: &'a str, feed: &ChangeFeed, policy: String) -> OperatorOptions<'a> {
    let mut options = OperatorOptions::new(ns, &[PAYROLL]);
    options.policy = policy;
    options.resync = "1h";
    options.extra_args =
        vec!["--change-queue-url".into(), feed.queue_url.clone(), "--fallback-resync".into(), "1h".into()];
    options
}

#[tokio::test]
async fn changes_made_out_of_band_in_three_kinds_are_corrected_within_seconds_of_their_event() {
    let ns = &fresh_namespace("feed-drift");
    let feed = ChangeFeed::new(ns).await;
    let org = organizations().await;
    let (accounts, requests_api) = requests::setup(ns).await;
    let delegations = dynamic_api(&orgops_e2e::client().await, ns, "SubdomainDelegation");
    let group = identity::create_group(&format!("{ns}-devs")).await;
    let email = format!("central@{ns}.example.com");
    let central = aws::existing_account_in(&org, &format!("central-{ns}"), &email, "Workloads").await;
    let parent = format!("{ns}.example.com");
    let parent_zone = dns::existing_zone(&central, &parent).await;
    let policy = format!(
        "namespaces:\n  {ns}:\n    organizationalUnits: [\"{PAYROLL}\"]\n    parentDomains:\n      - {{domain: {parent}, zoneId: {parent_zone}, accountId: \"{central}\"}}\n"
    );
    let operator = Operator::start(feed_options(ns, &feed, policy)).await;

    apply(&accounts, &account(ns, "main", json!({}))).await.unwrap();
    let main = until_condition(&accounts, "main", "Ready", "True", "Available").await;
    let id = status_str(&main, "accountId");
    let spec = json!({
        "permissionSet": {"managedPolicies": [READ_ONLY]},
        "assignments": [{"group": format!("{ns}-devs"), "targets": [{"accountRef": "main"}]}]
    });
    apply(&requests_api, &requests::request(ns, "devs", spec)).await.unwrap();
    let request = until_condition(&requests_api, "devs", "Ready", "True", "Available").await;
    let arn = status_str(&request, "permissionSetArn");
    let delegation = json!({
        "apiVersion": "orgops.dev/v1alpha1", "kind": "SubdomainDelegation",
        "metadata": {"name": "web", "namespace": ns},
        "spec": {"domain": format!("web.{parent}"), "parentDomain": parent, "account": {"accountRef": "main"}, "ttl": 300}
    });
    apply(&delegations, &delegation).await.unwrap();
    let web = until_condition(&delegations, "web", "Ready", "True", "Available").await;
    let servers = dns::name_servers(&id, &status_str(&web, "zoneId")).await;
    assert!(identity::assignments(&arn, &id).await.contains(&group));

    // orgops's own writes come back as events too: recognised, they requeue nothing.
    let requeued = || {
        ["AwsAccount", "PermissionSetRequest", "SubdomainDelegation"]
            .iter()
            .map(|kind| count(&operator, &format!("orgops_change_feed_requeues_total{{kind=\"{kind}\"}}")))
            .sum::<f64>()
    };
    let own = own_arn().await;
    let management = aws::tenant().await.account;
    let payroll = aws::ou_id(&org, PAYROLL).await;
    let billing = aws::ou_id(&org, BILLING).await;
    let moved = json!({"accountId": id, "sourceParentId": "r-0000", "destinationParentId": payroll});
    feed.api_call("organizations.amazonaws.com", "MoveAccount", moved, &own, &management).await;
    eventually(30, "orgops's own write recognised", || async { (outcome(&operator, "own") >= 1.0).then_some(()) })
        .await;
    assert_eq!(requeued(), 0.0, "an own write requeues nothing");

    // A message that is not an event is dropped, counted, and gone from the queue.
    feed.send_raw("this is not an EventBridge event").await;
    eventually(30, "the malformed message dropped", || async {
        (outcome(&operator, "malformed") >= 1.0 && feed.depth().await == 0).then_some(())
    })
    .await;
    assert!(operator.http("/healthz").is_some_and(|(code, _)| code == 200), "the consumer survives garbage");

    // Three intruders, each followed by the event CloudTrail records.
    org.move_account().account_id(&id).source_parent_id(&payroll).destination_parent_id(&billing).send().await.unwrap();
    let moved = json!({"accountId": id, "sourceParentId": payroll, "destinationParentId": billing});
    feed.api_call("organizations.amazonaws.com", "MoveAccount", moved, INTRUDER, &management).await;
    identity::detach_managed(&arn, READ_ONLY).await;
    let instance = identity::instance().await.0;
    let detached = json!({"instanceArn": instance, "permissionSetArn": arn, "managedPolicyArn": READ_ONLY});
    feed.api_call("sso.amazonaws.com", "DetachManagedPolicyFromPermissionSet", detached, INTRUDER, &management).await;
    let domain = format!("web.{parent}");
    let values: Vec<&str> = servers.iter().map(String::as_str).collect();
    dns::set_record(&central, &parent_zone, &domain, RrType::Ns, 300, &values, false).await;
    let deleted = json!({"hostedZoneId": parent_zone, "changeBatch": {"changes": [{"action": "DELETE"}]}});
    // Made inside the member account holding the parent zone, by a person through the
    // role orgops uses there too: its bus forwards the record to the feed's.
    let person = format!("arn:aws:sts::{central}:assumed-role/OrganizationAccountAccessRole/intruder");
    feed.api_call_in_member("route53.amazonaws.com", "ChangeResourceRecordSets", deleted, &person, &central).await;
    let changed_at = Instant::now();

    eventually(30, "every change corrected", || async {
        let back = aws::parent_of(&org, &id).await == payroll
            && identity::managed_policies(&arn).await == [READ_ONLY]
            && dns::record(&central, &parent_zone, &domain, "NS").await == Some((300, servers.clone()));
        back.then_some(())
    })
    .await;
    eprintln!("three out-of-band changes corrected {:.1} s after them, resync 1h", changed_at.elapsed().as_secs_f64());
    for (name, field) in
        [("main", "organizationalUnit"), ("devs", "permissionSet.managedPolicies"), ("web", "delegation")]
    {
        let corrected = events_of(ns, name).into_iter().any(|(r, m)| r == "DriftCorrected" && m.contains(field));
        assert!(corrected, "{name}: a DriftCorrected Event naming {field}");
    }
    assert_eq!(requeued(), 3.0, "each event requeued the one object it concerns");
    assert!(count(&operator, "orgops_change_feed_lag_seconds_count") >= 3.0);
    assert_eq!(count(&operator, "orgops_sweeps_total{kind=\"AwsAccount\"}"), 1.0, "no periodic sweep found them");
    assert_eq!(count(&operator, "orgops_change_feed_healthy"), 1.0);
    assert_eq!(count(&operator, "orgops_resync_seconds"), 3600.0);
}

#[tokio::test]
async fn a_silent_feed_falls_back_to_the_short_resync_until_its_heartbeat_returns() {
    let ns = &fresh_namespace("feed-silent");
    let feed = ChangeFeed::new(ns).await;
    orgops_e2e::accounts::setup(ns).await;
    let mut options = OperatorOptions::new(ns, &[PAYROLL]);
    options.resync = "1h";
    options.extra_args = vec![
        "--change-queue-url".into(),
        feed.queue_url.clone(),
        "--fallback-resync".into(),
        "30s".into(),
        "--change-feed-silence".into(),
        "25s".into(),
    ];
    let operator = Operator::start(options).await;
    feed.heartbeat().await;
    eventually(30, "the feed delivers", || async {
        (count(&operator, "orgops_change_feed_healthy") == 1.0 && count(&operator, "orgops_resync_seconds") == 3600.0)
            .then_some(())
    })
    .await;
    eventually(60, "a silent feed falls back", || async {
        (count(&operator, "orgops_change_feed_healthy") == 0.0 && count(&operator, "orgops_resync_seconds") == 30.0)
            .then_some(())
    })
    .await;
    assert!(operator.log().contains("falling back to the short resync"));
    feed.heartbeat().await;
    eventually(30, "the heartbeat returns", || async {
        (count(&operator, "orgops_change_feed_healthy") == 1.0 && count(&operator, "orgops_resync_seconds") == 3600.0)
            .then_some(())
    })
    .await;
    assert_eq!(outcome(&operator, "heartbeat"), 2.0);
}
