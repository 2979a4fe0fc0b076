//! The measurements of `make bench` on a mixed estate (see [`crate::estate`]): cold
//! convergence and its calls against the minimum the APIs allow, the cost of an idle
//! resync, the time to correct out-of-band changes, convergence under AWS's quotas. Each
//! returns JSON; [`report`] turns the runs into `docs/performance.md`.

use crate::estate::{Estate, KINDS};
use crate::feed::{ChangeFeed, INTRUDER};
use crate::operator::Operator;
use crate::proxy::{FaultProxy, is_write};
use crate::{aws, client, dns, dynamic_api, identity, stack_sets};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// The AWS services whose calls a kind makes.
fn kind_of_service(service: &str) -> &'static str {
    match service {
        "organizations" | "account" => "AwsAccount",
        "sso" | "identitystore" => "PermissionSetRequest",
        "route53" | "sts" => "SubdomainDelegation",
        "cloudformation" => "SecurityBaseline",
        _ => "other",
    }
}

/// The fewest calls the APIs allow to create one object of the estate, writes first:
/// (writes, all calls, how they are made up).
pub fn minimum(kind: &str, accounts_per_request: usize) -> (usize, usize, String) {
    match kind {
        "AwsAccount" => (2, 3, "CreateAccount (with its tags), DescribeCreateAccountStatus, MoveAccount".into()),
        "PermissionSetRequest" => {
            let n = accounts_per_request;
            (
                2 + n,
                2 + 2 * n,
                format!(
                    "CreatePermissionSet (with its tags), AttachManagedPolicyToPermissionSet, {n} \
                     CreateAccountAssignment and {n} status reads"
                ),
            )
        }
        "SubdomainDelegation" => (
            3,
            5,
            "AssumeRole into the account, CreateHostedZone, ChangeTagsForResource, ChangeResourceRecordSets \
             in the parent, GetChange"
                .into(),
        ),
        "SecurityBaseline" => (2, 3, "CreateStackSet, CreateStackInstances, DescribeStackSetOperation".into()),
        _ => (0, 0, String::new()),
    }
}

/// Calls by `service:Operation` grouped by kind: (writes, calls, by operation).
fn by_kind(calls: &BTreeMap<String, u32>) -> BTreeMap<&'static str, (u64, u64, BTreeMap<String, u32>)> {
    let mut kinds: BTreeMap<&'static str, (u64, u64, BTreeMap<String, u32>)> = BTreeMap::new();
    for (call, n) in calls {
        let (service, operation) = call.split_once(':').unwrap_or(("", call));
        let entry = kinds.entry(kind_of_service(service)).or_default();
        if is_write(operation) {
            entry.0 += u64::from(*n);
        }
        entry.1 += u64::from(*n);
        entry.2.insert(call.clone(), *n);
    }
    kinds
}

fn count(estate: &Estate, kind: &str) -> usize {
    estate.objects.iter().filter(|o| o["kind"] == kind).count()
}

/// Waits until every object of the estate is Ready (at most `limit`); the seconds taken.
pub async fn until_ready(estate: &Estate, since: Instant, limit: Duration) -> f64 {
    let mut last_report = Instant::now();
    loop {
        if estate.all_ready().await {
            return since.elapsed().as_secs_f64();
        }
        let ready = estate.ready().await;
        assert!(since.elapsed() < limit, "not all Ready within {limit:?}: {ready:?} of {}", estate.objects.len());
        if last_report.elapsed() > Duration::from_secs(30) {
            last_report = Instant::now();
            eprintln!("{:.0} s: Ready {ready:?}", since.elapsed().as_secs_f64());
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Item 1: applies the estate and waits for it; the time and the calls per object
/// against the minimum. Nothing may exist twice in AWS afterwards.
pub async fn converge(estate: &Estate, proxy: &FaultProxy) -> Value {
    let started = Instant::now();
    estate.apply().await;
    let applied = started.elapsed().as_secs_f64();
    let seconds = until_ready(estate, started, Duration::from_secs(1800)).await;
    let duplicates = estate.duplicates().await;
    assert!(duplicates.is_empty(), "{duplicates:?}");
    let calls = proxy.calls.lock().unwrap().clone();
    let kinds: Vec<Value> = by_kind(&calls)
        .into_iter()
        .filter(|(kind, _)| KINDS.contains(kind))
        .map(|(kind, (writes, all, operations))| {
            let objects = count(estate, kind);
            let (min_writes, min_calls, made_of) = minimum(kind, estate.sizes.accounts_per_request);
            json!({
                "kind": kind, "objects": objects,
                "writes_per_object": writes as f64 / objects.max(1) as f64,
                "calls_per_object": all as f64 / objects.max(1) as f64,
                "minimum_writes": min_writes, "minimum_calls": min_calls, "minimum_made_of": made_of,
                "operations": operations,
            })
        })
        .collect();
    json!({
        "objects": estate.objects.len(), "sizes": format!("{:?}", estate.sizes),
        "applied_seconds": applied, "ready_seconds": seconds, "kinds": kinds,
        "duplicates": duplicates.len(),
    })
}

/// Item 2: one idle resync of each kind (the kinds at once), counted at the proxy; no
/// write is allowed.
pub async fn idle(estate: &Estate, operator: &Operator, proxy: &FaultProxy, resync: &str) -> Value {
    let sweeps = KINDS.into_iter().filter(|k| count(estate, k) > 0).map(|kind| async move {
        let window = operator.calls_of_one_idle_sweep(kind, &proxy.calls).await;
        let own: BTreeMap<String, u32> = window
            .into_iter()
            .filter(|(call, _)| kind_of_service(call.split(':').next().unwrap_or_default()) == kind)
            .collect();
        let writes: BTreeMap<&String, &u32> =
            own.iter().filter(|(c, _)| is_write(c.split(':').nth(1).unwrap_or(c))).collect();
        assert!(writes.is_empty(), "an idle resync of {kind} wrote: {writes:?}");
        let objects = count(estate, kind);
        let reads: u32 = own.values().sum();
        json!({
            "kind": kind, "objects": objects, "writes": 0,
            "reads_per_object": f64::from(reads) / objects as f64, "operations": own,
        })
    });
    json!({"resync": resync, "kinds": futures::future::join_all(sweeps).await})
}

/// One out-of-band change, and how to tell it was corrected.
enum Change {
    AccountTag { account: String, value: String },
    PolicyDetached { arn: String },
    RecordDeleted { zone: String, domain: String },
    TemplateEdited { stack_set: String, template: String },
}

impl Change {
    async fn corrected(&self, management: &str) -> bool {
        match self {
            Change::AccountTag { account, value } => {
                aws::tags_of(&aws::organizations().await, account).await.get("index") == Some(value)
            }
            Change::PolicyDetached { arn } => !identity::managed_policies(arn).await.is_empty(),
            Change::RecordDeleted { zone, domain } => dns::record(management, zone, domain, "NS").await.is_some(),
            Change::TemplateEdited { stack_set, template } => {
                let out =
                    stack_sets::cloudformation().await.describe_stack_set().stack_set_name(stack_set).send().await;
                out.ok().and_then(|o| o.stack_set().and_then(|s| s.template_body()).map(str::to_string)).as_deref()
                    == Some(template.as_str())
            }
        }
    }
}

/// Item 3: `changes` out-of-band changes spread over the kinds (objects picked at
/// random), made at once by a separate client; the seconds until each is corrected. With
/// a `feed`, each change is followed by the event CloudTrail records for it.
pub async fn drift(estate: &Estate, changes: usize, seed: u64, feed: Option<&ChangeFeed>) -> Value {
    let client = client().await;
    let org = aws::organizations().await;
    let management = aws::management_account(&org).await;
    let parent_zone = dns::zones_named(&management, &estate.parent).await[0].clone();
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut candidates: BTreeMap<&str, Vec<&Value>> = BTreeMap::new();
    for object in &estate.objects {
        candidates.entry(KINDS.into_iter().find(|k| object["kind"] == *k).unwrap()).or_default().push(object);
    }
    for list in candidates.values_mut() {
        rng.shuffle(list);
    }
    let mut picked = Vec::new();
    let mut kinds = KINDS.iter().cycle();
    while picked.len() < changes && candidates.values().any(|l| !l.is_empty()) {
        let kind = kinds.next().unwrap();
        if let Some(object) = candidates.get_mut(kind).and_then(Vec::pop) {
            picked.push(object);
        }
    }

    let mut made = Vec::new();
    for object in picked {
        let kind = KINDS.into_iter().find(|k| object["kind"] == *k).unwrap();
        let name = object["metadata"]["name"].as_str().unwrap();
        let live = dynamic_api(&client, &estate.namespace, kind).get(name).await.unwrap();
        let status = &live.data["status"];
        let change = match kind {
            "AwsAccount" => {
                let account = status["accountId"].as_str().unwrap().to_string();
                aws::set_tag(&org, &account, "index", "tampered").await;
                let tagged = json!({"resourceId": account, "tags": [{"key": "index", "value": "tampered"}]});
                tell(feed, "organizations.amazonaws.com", "TagResource", tagged, &management).await;
                Change::AccountTag { account, value: object["spec"]["tags"]["index"].as_str().unwrap().into() }
            }
            "PermissionSetRequest" => {
                let arn = status["permissionSetArn"].as_str().unwrap().to_string();
                identity::detach_managed(&arn, "arn:aws:iam::aws:policy/ReadOnlyAccess").await;
                let detached =
                    json!({"permissionSetArn": arn, "managedPolicyArn": "arn:aws:iam::aws:policy/ReadOnlyAccess"});
                tell(feed, "sso.amazonaws.com", "DetachManagedPolicyFromPermissionSet", detached, &management).await;
                Change::PolicyDetached { arn }
            }
            "SubdomainDelegation" => {
                let domain = object["spec"]["domain"].as_str().unwrap().to_string();
                let (ttl, values) = dns::record(&management, &parent_zone, &domain, "NS").await.unwrap();
                let values: Vec<&str> = values.iter().map(String::as_str).collect();
                let ns = aws_sdk_route53::types::RrType::Ns;
                dns::set_record(&management, &parent_zone, &domain, ns, ttl, &values, false).await;
                let deleted = json!({"hostedZoneId": parent_zone, "changeBatch": {"changes": [{"action": "DELETE"}]}});
                tell(feed, "route53.amazonaws.com", "ChangeResourceRecordSets", deleted, &management).await;
                Change::RecordDeleted { zone: parent_zone.clone(), domain }
            }
            _ => {
                let stack_set = format!("orgops-{}-{name}", estate.namespace);
                let cfn = stack_sets::cloudformation().await;
                let out = cfn.describe_stack_set().stack_set_name(&stack_set).send().await.unwrap();
                let template = out.stack_set().and_then(|s| s.template_body()).unwrap_or_default().to_string();
                let tampered = r#"{"Resources": {"Nothing": {"Type": "AWS::SNS::Topic"}}}"#;
                stack_sets::when_free(|| {
                    cfn.update_stack_set().stack_set_name(&stack_set).template_body(tampered).send()
                })
                .await;
                let updated = json!({"stackSetName": stack_set});
                tell(feed, "cloudformation.amazonaws.com", "UpdateStackSet", updated, &management).await;
                Change::TemplateEdited { stack_set, template }
            }
        };
        made.push((kind, Instant::now(), change));
    }

    let mut waiting = tokio::task::JoinSet::new();
    for (kind, at, change) in made {
        let management = management.clone();
        waiting.spawn(async move {
            loop {
                if change.corrected(&management).await {
                    return (kind, at.elapsed().as_secs_f64());
                }
                assert!(at.elapsed() < Duration::from_secs(900), "a {kind} change not corrected in 15 minutes");
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        });
    }
    let mut times: Vec<(&str, f64)> = waiting.join_all().await;
    times.sort_by(|a, b| a.1.total_cmp(&b.1));
    let seconds: Vec<f64> = times.iter().map(|(_, s)| *s).collect();
    let quantile = |q: f64| seconds[((seconds.len() as f64 - 1.0) * q).round() as usize];
    let mut per_kind: BTreeMap<&str, Vec<f64>> = BTreeMap::new();
    for (kind, s) in &times {
        per_kind.entry(kind).or_default().push(*s);
    }
    json!({
        "changes": seconds.len(), "p50_seconds": quantile(0.5), "max_seconds": quantile(1.0),
        "per_kind_max_seconds": per_kind.iter().map(|(k, v)| (k.to_string(), v.iter().copied().fold(0.0, f64::max))).collect::<BTreeMap<_, _>>(),
    })
}

/// Puts the CloudTrail record of an intruder's call on the feed, if there is one.
async fn tell(feed: Option<&ChangeFeed>, source: &str, name: &str, parameters: Value, account: &str) {
    if let Some(feed) = feed {
        feed.api_call(source, name, parameters, INTRUDER, account).await;
    }
}

/// Item 6: the change feed on, against polling. Idle: every call in `window` with
/// nothing changing (the feed's receives), plus one safety-net sweep a day as item 2
/// measured it, per account and hour; against item 2's sweep at the default 5-minute
/// resync. Drift: item 3 again, each change followed by its CloudTrail event.
pub async fn feed(
    estate: &Estate,
    proxy: &FaultProxy,
    feed: &ChangeFeed,
    idle: &Value,
    window: Duration,
    changes: usize,
) -> Value {
    let before = proxy.calls.lock().unwrap().clone();
    tokio::time::sleep(window).await;
    let after = proxy.calls.lock().unwrap().clone();
    let calls: BTreeMap<String, u32> = after
        .iter()
        .map(|(call, n)| (call.clone(), n - before.get(call).copied().unwrap_or(0)))
        .filter(|(_, n)| *n > 0)
        .collect();
    let writes: Vec<&String> = calls.keys().filter(|c| is_write(c.split(':').nth(1).unwrap_or(c))).collect();
    let own_writes: Vec<&&String> = writes.iter().filter(|c| !c.starts_with("sqs:")).collect();
    assert!(own_writes.is_empty(), "an idle operator with the feed wrote: {own_writes:?}");
    let accounts = count(estate, "AwsAccount").max(1) as f64;
    let sweep_reads: f64 = idle["kinds"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|k| k["reads_per_object"].as_f64().unwrap_or(0.0) * k["objects"].as_f64().unwrap_or(0.0))
        .sum();
    let window_calls: u32 = calls.values().sum();
    let per_hour = f64::from(window_calls) * 3600.0 / window.as_secs_f64();
    let safety_net_hours = 24;
    json!({
        "accounts": accounts,
        "window_seconds": window.as_secs(),
        "window_calls": calls,
        "sweep_reads": sweep_reads.round() as u64,
        "polling_5m_reads_per_account_hour": sweep_reads * 12.0 / accounts,
        "feed_reads_per_account_hour": (per_hour + sweep_reads / f64::from(safety_net_hours)) / accounts,
        "feed_receives_per_account_hour": per_hour / accounts,
        "safety_net_hours": safety_net_hours,
        "drift": drift(estate, changes, 17, Some(feed)).await,
    })
}

/// orgops's default `--poll-interval`: how soon a creation in progress is read again.
const DEFAULT_POLL_SECONDS: f64 = 5.0;

/// The fastest the quotas let `accounts` creations go, from what a run counted: 10
/// Organizations calls a second for the whole API, and 5 creations in progress at once,
/// each in progress until its last status read, polls at the default interval apart.
fn quota_floor(accounts: f64, calls: &BTreeMap<String, u32>) -> (f64, f64) {
    let organizations: f64 =
        calls.iter().filter(|(c, _)| c.starts_with("organizations:")).map(|(_, n)| f64::from(*n)).sum();
    let status_reads =
        calls.get("organizations:DescribeCreateAccountStatus").copied().map_or(1.0, f64::from) / accounts.max(1.0);
    let rate_floor = organizations / 10.0;
    // A creation is read first one interval after its CreateAccount, then each interval.
    let in_flight_floor = (accounts / 5.0).ceil() * status_reads * DEFAULT_POLL_SECONDS;
    (rate_floor, in_flight_floor)
}

/// Item 5: convergence of AwsAccounts through a proxy that enforces AWS's quotas, with
/// orgops's default limits, against the time the quotas allow at best.
pub async fn quota(estate: &Estate, proxy: &FaultProxy) -> Value {
    let started = Instant::now();
    estate.apply().await;
    let seconds = until_ready(estate, started, Duration::from_secs(3600)).await;
    let duplicates = estate.duplicates().await;
    assert!(duplicates.is_empty(), "{duplicates:?}");
    let accounts = count(estate, "AwsAccount") as f64;
    let calls = proxy.calls.lock().unwrap().clone();
    let (rate_floor, in_flight_floor) = quota_floor(accounts, &calls);
    json!({
        "accounts": accounts, "ready_seconds": seconds, "quota_floor_seconds": rate_floor.max(in_flight_floor),
        "ratio": seconds / rate_floor.max(in_flight_floor), "injected": proxy.injected(), "calls": calls,
    })
}

/// What the machine is, for the report.
pub fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpu
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .map(|m| m.trim_start_matches([' ', '\t', ':']).to_string());
    let cores = cpu.lines().filter(|l| l.starts_with("processor")).count();
    let memory = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let total_kib: f64 = memory
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0.0);
    format!("{} cores ({}), {:.0} GiB", cores, model.unwrap_or_else(|| "unknown CPU".into()), total_kib / 1_048_576.0)
}

fn cell(value: &Value) -> String {
    match value {
        Value::Number(n) if n.is_f64() => format!("{:.2}", n.as_f64().unwrap_or_default()),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Item 7: `users` users whose assignments to `account` end at the same moment (their
/// `expiresAt`), beside one more who keeps the permission set there. From that moment:
/// when the Deny naming all of them was in the permission set, and when the
/// ProvisionPermissionSet that carries it to the account reached AWS (after the inline
/// policy write that first named them all), sampled every 100 ms.
pub async fn revocation(namespace: &str, account: &str, users: usize, proxy: &FaultProxy) -> Value {
    use k8s_openapi::jiff::{SignedDuration, Timestamp};
    let api = dynamic_api(&client().await, namespace, "PermissionSetRequest");
    let mut ids = Vec::new();
    for i in 0..users {
        ids.push(identity::create_user(&format!("{namespace}-u{i}")).await);
    }
    ids.sort();
    identity::create_user(&format!("{namespace}-keeper")).await;
    // Far enough ahead for the request to be Ready first.
    let ends = Timestamp::now() + SignedDuration::from_secs(8 + users as i64);
    let to = json!([{"accountId": account}]);
    let mut assignments: Vec<Value> = (0..users)
        .map(|i| json!({"user": format!("{namespace}-u{i}"), "expiresAt": ends.to_string(), "targets": to}))
        .collect();
    assignments.push(json!({"user": format!("{namespace}-keeper"), "targets": to}));
    let request = json!({
        "apiVersion": "orgops.dev/v1alpha1", "kind": "PermissionSetRequest",
        "metadata": {"name": "temporary", "namespace": namespace},
        "spec": {"permissionSet": {"name": format!("{namespace}-tmp")}, "assignments": assignments}
    });
    crate::apply(&api, &request).await.unwrap();
    let arn = crate::eventually(60, "the request Ready", || async {
        let object = api.get("temporary").await.ok()?;
        let ready = crate::condition(&object, "Ready").is_some_and(|(s, _, _)| s == "True");
        ready.then(|| object.data["status"]["permissionSetArn"].as_str().unwrap_or_default().to_string())
    })
    .await;
    let since_end = || Timestamp::now().duration_since(ends).as_secs_f64();
    let (mut denied, mut provisioned) = (None, None);
    while provisioned.is_none() && since_end() < 180.0 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        if denied.is_none() {
            let statements = identity::revocation_statements(&identity::inline_policy(&arn).await);
            if identity::denied_in(&statements, account) == ids {
                denied = Some(since_end());
            }
        }
        let writes = proxy.write_log.lock().unwrap().clone();
        let naming_all = writes.iter().position(|w| {
            w.call.ends_with(":PutInlinePolicyToPermissionSet") && ids.iter().all(|id| w.body.contains(id.as_str()))
        });
        if let Some(put) = naming_all
            && writes[put..].iter().any(|w| w.call.ends_with(":ProvisionPermissionSet"))
        {
            provisioned = Some(since_end());
        }
    }
    json!({
        "users": users,
        "deny_seconds": denied.map(|s| (s * 10.0).round() / 10.0),
        "provisioned_seconds": provisioned.map(|s| (s * 10.0).round() / 10.0),
        "target_seconds": 60,
    })
}

/// The report of the runs found in `runs` (item name → its JSON), in Markdown.
pub fn report(runs: &BTreeMap<String, Value>, header: &str) -> String {
    let mut text = format!("# Performance\n\n{header}\n");
    if let Some(run) = runs.get("converge") {
        text += &format!(
            "\n## 1. Cold convergence of a mixed estate\n\n{} objects ({}), applied in {:.1} s, all Ready {:.1} s \
             after the first apply, {} duplicates in AWS.\n\n| kind | objects | writes / object (minimum) | calls / \
             object (minimum) | the minimum |\n| --- | --- | --- | --- | --- |\n",
            run["objects"],
            run["sizes"].as_str().unwrap_or_default(),
            run["applied_seconds"].as_f64().unwrap_or(0.0),
            run["ready_seconds"].as_f64().unwrap_or(0.0),
            run["duplicates"]
        );
        for kind in run["kinds"].as_array().into_iter().flatten() {
            text += &format!(
                "| {} | {} | {} ({}) | {} ({}) | {} |\n",
                cell(&kind["kind"]),
                kind["objects"],
                cell(&kind["writes_per_object"]),
                kind["minimum_writes"],
                cell(&kind["calls_per_object"]),
                kind["minimum_calls"],
                cell(&kind["minimum_made_of"])
            );
        }
        text += "\nCalls by operation:\n\n| kind | operation | calls |\n| --- | --- | --- |\n";
        for kind in run["kinds"].as_array().into_iter().flatten() {
            for (operation, n) in kind["operations"].as_object().into_iter().flatten() {
                text += &format!("| {} | {operation} | {n} |\n", cell(&kind["kind"]));
            }
        }
    }
    if let Some(run) = runs.get("idle") {
        text += &format!(
            "\n## 2. Idle\n\nOne resync of each kind (`--resync {}`) with nothing changed, counted at the proxy.\n\n\
             | kind | objects | writes | reads / object / resync | reads by operation |\n| --- | --- | --- | --- | --- |\n",
            cell(&run["resync"])
        );
        for kind in run["kinds"].as_array().into_iter().flatten() {
            let operations: Vec<String> =
                kind["operations"].as_object().into_iter().flatten().map(|(op, n)| format!("{op} {n}")).collect();
            text += &format!(
                "| {} | {} | {} | {} | {} |\n",
                cell(&kind["kind"]),
                kind["objects"],
                kind["writes"],
                cell(&kind["reads_per_object"]),
                operations.join(", ")
            );
        }
    }
    if let Some(run) = runs.get("drift") {
        text += &format!(
            "\n## 3. Drift\n\n{} out-of-band changes across the kinds, made at once by a separate client (`--resync {}`): \
             corrected in {:.1} s at the median, {:.1} s at most.\n\n| kind | slowest correction (s) |\n| --- | --- |\n",
            run["changes"],
            cell(&run["resync"]),
            run["p50_seconds"].as_f64().unwrap_or(0.0),
            run["max_seconds"].as_f64().unwrap_or(0.0)
        );
        for (kind, s) in run["per_kind_max_seconds"].as_object().into_iter().flatten() {
            text += &format!("| {kind} | {} |\n", cell(s));
        }
    }
    if let Some(run) = runs.get("memory") {
        text += "\n## 4. Memory\n\nOne run adopts 10,000 existing accounts (all 10,000 AwsAccounts watched from the start, \
                 Organizations reads raised to what moto takes); the resident set is sampled as the Ready count passes \
                 each size.\n\n| objects reconciled | resident set (MiB) |\n| --- | --- |\n";
        for sample in run["samples"].as_array().into_iter().flatten() {
            text += &format!("| {} | {} |\n", sample["objects"], cell(&sample["mib"]));
        }
        text += &format!(
            "\nGrowth: {} KiB per object between the first and the last sample.\n",
            cell(&run["kib_per_object"])
        );
    }
    if let Some(run) = runs.get("quota") {
        let accounts = run["accounts"].as_f64().unwrap_or(0.0);
        let calls: BTreeMap<String, u32> = serde_json::from_value(run["calls"].clone()).unwrap_or_default();
        let (rate_floor, in_flight_floor) = quota_floor(accounts, &calls);
        let floor = rate_floor.max(in_flight_floor);
        let seconds = run["ready_seconds"].as_f64().unwrap_or(0.0);
        text += &format!(
            "\n## 5. Under AWS's quotas\n\n{accounts} AwsAccounts through a proxy that throttles what exceeds AWS's \
             documented rates and shows each creation IN_PROGRESS for two status reads, with orgops's default limits: \
             all Ready in {seconds:.1} s. The quotas allow {floor:.1} s at best: 5 creations in progress at once, each \
             until its last status read, reads {DEFAULT_POLL_SECONDS} s apart ({in_flight_floor:.1} s), and 10 \
             Organizations calls a second for the {:.0} made ({rate_floor:.1} s). Ratio {:.2}. Injected: {}.\n",
            rate_floor * 10.0,
            seconds / floor,
            run["injected"]
        );
    }
    if let (Some(run), Some(polling)) = (runs.get("feed"), runs.get("drift")) {
        let drift = &run["drift"];
        let operations: Vec<String> =
            run["window_calls"].as_object().into_iter().flatten().map(|(op, n)| format!("{op} {n}")).collect();
        text += &format!(
            "\n## 6. The change feed, on and off\n\nThe same estate, the operator restarted with `--change-queue-url` \
             (a queue and rule as `manifests/aws/change-feed.yaml` builds them; each out-of-band change followed by the \
             event CloudTrail records for it) and the default resync with the feed, {safety} hours.\n\n\
             | | polling | change feed |\n| --- | --- | --- |\n\
             | idle AWS reads per account and hour | {off} (a sweep every 5 minutes) | {on} ({receives} of them the \
             queue's long polls, the rest one safety-net sweep a day) |\n\
             | drift corrected, median (s) | {p50_off} (`--resync {resync}`) | {p50_on} |\n\
             | drift corrected, slowest (s) | {max_off} | {max_on} |\n\n\
             Idle with the feed: {window} s with nothing changing cost {calls}; a sweep of every object costs {sweep} \
             reads (item 2), once a day. Drift with the feed: {changes} changes across the kinds.\n",
            safety = cell(&run["safety_net_hours"]),
            off = cell(&run["polling_5m_reads_per_account_hour"]),
            on = cell(&run["feed_reads_per_account_hour"]),
            receives = cell(&run["feed_receives_per_account_hour"]),
            p50_off = cell(&polling["p50_seconds"]),
            resync = cell(&polling["resync"]),
            p50_on = cell(&drift["p50_seconds"]),
            max_off = cell(&polling["max_seconds"]),
            max_on = cell(&drift["max_seconds"]),
            window = cell(&run["window_seconds"]),
            calls = if operations.is_empty() { "no call".to_string() } else { operations.join(", ") },
            sweep = cell(&run["sweep_reads"]),
            changes = drift["changes"],
        );
    }
    if let Some(run) = runs.get("revocation") {
        text += &format!(
            "\n## 7. Session revocation\n\n{users} users' assignments to one account ending at the same moment \
             (`expiresAt`), one more user keeping the permission set there: the Deny of their sessions issued before \
             the end was in the permission set's inline policy {deny} s after the end, and the \
             `ProvisionPermissionSet` carrying it to the account reached AWS {provisioned} s after the end (target: \
             {target} s). moto does not evaluate IAM policies: the Deny's effect rests on AWS's documented semantics \
             (docs/kinds/permissionsetrequest.md, temporary access).\n",
            users = run["users"],
            deny = cell(&run["deny_seconds"]),
            provisioned = cell(&run["provisioned_seconds"]),
            target = run["target_seconds"],
        );
    }
    text
}
