//! The runs of `make chaos`: the controller killed at random moments while it creates,
//! AWS throttling and failing, the API server going away, the leader killed again and
//! again, and bad input. Each returns JSON; [`report`] turns them into
//! `docs/reliability.md`. Nothing may be lost (all Ready) or made twice (one account per
//! email, one zone per domain, one permission set per request).

use crate::bench::until_ready;
use crate::estate::{Estate, Sizes};
use crate::faults::Faults;
use crate::operator::{Operator, OperatorOptions};
use crate::proxy::{FaultProxy, with_faults};
use crate::{apply, client, condition, dynamic_api, eventually, repo_root};
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

async fn operator(estate: &Estate, proxy: &FaultProxy, resync: &'static str, replica: &'static str) -> Operator {
    let mut options = OperatorOptions::new(&estate.namespace, &[]);
    options.policy = estate.policy.clone();
    options.resync = resync;
    options.aws_endpoint = Some(proxy.url.clone());
    options.replica = replica;
    Operator::start(options).await
}

fn assert_nothing_twice(duplicates: &[String]) {
    assert!(duplicates.is_empty(), "made twice or lost in AWS: {duplicates:?}");
}

/// Item 1: `kills` SIGKILLs of the controller at random moments (0.2 to 2 s apart) while
/// it creates the estate, each followed by a restart.
pub async fn kills(namespace: &str, sizes: Sizes, kills: usize, seed: u64) -> Value {
    let estate = Estate::prepare(namespace, sizes).await;
    // Slower AWS answers and creations that take a few polls widen the windows a kill
    // can land in.
    let faults = Faults { latency: Duration::from_millis(30), in_progress_polls: 2, seed, ..Faults::default() };
    let proxy = with_faults(faults).await;
    let mut operator = operator(&estate, &proxy, "30s", "").await;
    let started = Instant::now();
    estate.apply().await;
    let mut rng = fastrand::Rng::with_seed(seed);
    for _ in 0..kills {
        tokio::time::sleep(Duration::from_millis(rng.u64(200..2_000))).await;
        operator.kill9();
        operator.restart("30s").await;
    }
    let killing = started.elapsed().as_secs_f64();
    let ready_when_kills_ended = estate.ready().await.values().sum::<usize>();
    let seconds = until_ready(&estate, started, Duration::from_secs(1800)).await;
    let duplicates = estate.duplicates().await;
    assert_nothing_twice(&duplicates);
    json!({
        "kills": kills, "objects": estate.objects.len(), "killing_seconds": killing,
        "ready_when_kills_ended": ready_when_kills_ended, "ready_seconds": seconds, "duplicates": duplicates.len(),
    })
}

/// Converges an estate through a proxy with `faults`: (seconds, calls that reached moto,
/// calls refused by the proxy).
async fn converge_through(namespace: &str, sizes: Sizes, faults: Faults) -> (f64, u64, u64, Value) {
    let estate = Estate::prepare(namespace, sizes).await;
    let proxy = with_faults(faults).await;
    let _operator = operator(&estate, &proxy, "10m", "").await;
    let started = Instant::now();
    estate.apply().await;
    let seconds = until_ready(&estate, started, Duration::from_secs(1800)).await;
    let reached = proxy.total();
    let injected = proxy.injected();
    let refused = injected.throttled + injected.server_errors + injected.resets;
    assert_nothing_twice(&estate.duplicates().await);
    (seconds, reached, refused, serde_json::to_value(injected).unwrap())
}

/// Item 2: the same estate fault-free and under 20% throttling, 5% server errors and
/// added latency; the calls made (answered or refused) under faults against the calls
/// of the fault-free run.
pub async fn faults(namespace: &str, sizes: Sizes, seed: u64) -> Value {
    let (clean_seconds, clean_calls, _, _) =
        converge_through(&format!("{namespace}-clean"), sizes.clone(), Faults::default()).await;
    let faults =
        Faults { throttle: 0.20, server_error: 0.05, latency: Duration::from_millis(50), seed, ..Faults::default() };
    let (seconds, reached, refused, injected) = converge_through(&format!("{namespace}-faults"), sizes, faults).await;
    let ratio = (reached + refused) as f64 / clean_calls as f64;
    json!({
        "fault_free_seconds": clean_seconds, "fault_free_calls": clean_calls,
        "seconds": seconds, "calls_answered": reached, "calls_refused": refused, "injected": injected,
        "ratio": ratio,
    })
}

/// Time beyond the outage for the API server's own restart (seconds on a busy machine).
const RESTART_MARGIN: Duration = Duration::from_secs(30);

/// A lease whose renew deadline (two thirds of it) outlasts an outage of `down`.
fn lease_outlasting(down: Duration) -> Duration {
    (down + RESTART_MARGIN) * 3 / 2
}

fn harness(command: &str) {
    let script = repo_root().join("tests/harness/env.sh");
    let status = std::process::Command::new(script).arg(command).status().unwrap();
    assert!(status.success(), "env.sh {command}");
}

/// Item 3: the API server stopped for `down` in the middle of the convergence, then
/// started again: the same controller process converges everything, and an object
/// applied afterwards too.
pub async fn api_server(namespace: &str, sizes: Sizes, down: Duration) -> Value {
    let estate = Estate::prepare(namespace, sizes).await;
    let proxy = with_faults(Faults::default()).await;
    // The leader renews its lease through the API server: an outage shorter than the
    // lease is ridden out; a longer one makes the leader exit, for the kubelet to restart.
    let mut options = OperatorOptions::new(&estate.namespace, &[]);
    options.policy = estate.policy.clone();
    options.resync = "30s";
    options.aws_endpoint = Some(proxy.url.clone());
    options.lease_duration = format!("{}s", lease_outlasting(down).as_secs());
    let mut operator = Operator::start(options).await;
    let pid = operator.pid();
    let started = Instant::now();
    estate.apply().await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let ready_before = estate.ready().await.values().sum::<usize>();
    harness("apiserver-stop");
    tokio::time::sleep(down).await;
    harness("apiserver-start");
    let back = Instant::now();
    until_ready(&estate, started, Duration::from_secs(900)).await;
    let recovered = back.elapsed().as_secs_f64();
    let late = crate::accounts::account(
        namespace,
        "late",
        json!({"organizationalUnit": estate.objects[0]["spec"]["organizationalUnit"]}),
    );
    let accounts = dynamic_api(&client().await, namespace, "AwsAccount");
    apply(&accounts, &late).await.unwrap();
    eventually(120, "an account applied after the restart Ready", || async {
        let object = accounts.get("late").await.ok()?;
        condition(&object, "Ready").filter(|c| c.0 == "True").map(|_| ())
    })
    .await;
    assert!(operator.running(), "the controller exited: {}", operator.log());
    assert_eq!(operator.pid(), pid);
    assert_nothing_twice(&estate.duplicates().await);
    json!({
        "objects": estate.objects.len(), "ready_before_stop": ready_before, "down_seconds": down.as_secs_f64(),
        "lease_seconds": lease_outlasting(down).as_secs(),
        "ready_seconds_after_restart": recovered, "controller_restarts": 0,
    })
}

/// The resource a create names, from its request body, for the creates that must never
/// be made twice.
fn created(call: &str, body: &str) -> Option<String> {
    let json = || serde_json::from_str::<Value>(body).ok();
    let field = |name: &str| json().and_then(|j| j[name].as_str().map(str::to_string));
    let operation = call.rsplit(':').next().unwrap_or(call);
    let key = match operation {
        "CreateAccount" => field("Email")?,
        "CreatePermissionSet" => field("Name")?,
        "CreateAccountAssignment" => {
            let j = json()?;
            format!("{}|{}|{}", j["PermissionSetArn"], j["TargetId"], j["PrincipalId"])
        }
        "CreateHostedZone" => body.split("<Name>").nth(1)?.split('<').next()?.to_string(),
        "CreateStackSet" => body.split('&').find_map(|p| p.strip_prefix("StackSetName="))?.to_string(),
        _ => return None,
    };
    Some(format!("{operation} {key}"))
}

/// Item 4: two replicas, each through its own proxy (so each write is known by its
/// writer); the leader is killed `kills` times while the estate is created. No create is
/// made by both, and nothing exists twice.
pub async fn leaders(namespace: &str, sizes: Sizes, kills: usize, seed: u64) -> Value {
    let estate = Estate::prepare(namespace, sizes).await;
    let proxies = [with_faults(Faults::default()).await, with_faults(Faults::default()).await];
    let mut replicas =
        [operator(&estate, &proxies[0], "30s", "-a").await, operator(&estate, &proxies[1], "30s", "-b").await];
    let started = Instant::now();
    estate.apply().await;
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut killed = 0;
    while killed < kills {
        tokio::time::sleep(Duration::from_millis(rng.u64(1_000..4_000))).await;
        let Some(leader) = replicas.iter().position(Operator::is_leader) else { continue };
        replicas[leader].kill9();
        killed += 1;
        // Restarted at once, the replica would take its own lease back (it keeps its pod's
        // name): it comes back only once the standby leads, so leadership alternates.
        let standby = &replicas[1 - leader];
        crate::eventually(60, "the standby takes over", || async { standby.is_leader().then_some(()) }).await;
        replicas[leader].restart("30s").await;
    }
    let seconds = until_ready(&estate, started, Duration::from_secs(1800)).await;
    assert_nothing_twice(&estate.duplicates().await);
    let creates = |proxy: &FaultProxy| -> BTreeSet<String> {
        proxy.write_log.lock().unwrap().iter().filter_map(|w| created(&w.call, &w.body)).collect()
    };
    let (a, b) = (creates(&proxies[0]), creates(&proxies[1]));
    let both: Vec<&String> = a.intersection(&b).collect();
    assert!(both.is_empty(), "created by both replicas: {both:?}");
    let writes = |proxy: &FaultProxy| proxy.write_log.lock().unwrap().len();
    json!({
        "leader_kills": killed, "objects": estate.objects.len(), "ready_seconds": seconds,
        "writes_by_replica": [writes(&proxies[0]), writes(&proxies[1])],
        "creates_by_replica": [a.len(), b.len()], "creates_by_both": both.len(),
    })
}

/// Item 5: the bad documents of the validate corpus applied to the API server, each
/// under its file's name in `namespace`: the schema and CEL cases must be refused by the
/// server, the policy cases admitted and then refused by the controller (Forbidden or
/// Invalid, naming the rule), with no AWS write.
pub async fn bad_input(namespace: &str) -> Value {
    let corpus = repo_root().join("tests/validate");
    let policy =
        std::fs::read_to_string(corpus.join("policy.yaml")).unwrap().replace("team-a:", &format!("{namespace}:"));
    crate::ensure_namespace(&client().await, namespace).await;
    let proxy = with_faults(Faults::default()).await;
    let mut options = OperatorOptions::new(namespace, &[]);
    options.policy = policy;
    options.aws_endpoint = Some(proxy.url.clone());
    let _operator = Operator::start(options).await;
    let client = client().await;
    let mut files: Vec<_> = std::fs::read_dir(corpus.join("bad")).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    let (mut rejected, mut admitted) = (Vec::new(), Vec::new());
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        let stem = file.file_stem().unwrap().to_string_lossy().to_string();
        let by_server = text.contains("# server: rejects");
        if !by_server && !stem.starts_with("policy-") {
            continue; // references and duplicates need other files: validate's, not the server's
        }
        // The offending document is the file's last.
        let documents: Vec<Value> =
            yaml_serde::Deserializer::from_str(&text).filter_map(|d| Value::deserialize(d).ok()).collect();
        let Some(mut document) = documents.into_iter().rev().find(|d| d.get("kind").is_some()) else { continue };
        let kind = document["kind"].as_str().unwrap_or("AwsAccount").to_string();
        if !crate::estate::KINDS.contains(&kind.as_str()) {
            rejected.push(stem);
            continue;
        }
        document["metadata"]["namespace"] = namespace.into();
        document["metadata"]["name"] = stem.clone().into();
        let api = dynamic_api(&client, namespace, &kind);
        match (apply(&api, &document).await, by_server) {
            (Err(_), true) => rejected.push(stem),
            (Ok(_), false) => admitted.push((api, stem)),
            (result, _) => {
                panic!("{stem}: expected {}, got {result:?}", if by_server { "a refusal" } else { "admission" })
            }
        }
    }
    let mut refusals = BTreeMap::new();
    for (api, name) in &admitted {
        let (reason, message) = eventually(60, &format!("{name} refused by the controller"), || async {
            let object = api.get(name).await.ok()?;
            let (status, reason, message) = condition(&object, "Synced")?;
            (status == "False" && matches!(reason.as_str(), "Forbidden" | "Invalid")).then_some((reason, message))
        })
        .await;
        refusals.insert(name.clone(), format!("{reason}: {message}"));
    }
    let writes = proxy.writes();
    assert!(writes.is_empty(), "bad input wrote to AWS: {writes:?}");
    json!({
        "rejected_by_api_server": rejected.len(), "refused_by_controller": refusals.len(),
        "aws_writes": 0, "controller_messages": refusals,
    })
}

/// The report of the runs found in `runs` (item name → its JSON), in Markdown.
pub fn report(runs: &BTreeMap<String, Value>, header: &str) -> String {
    let number = |v: &Value| v.as_f64().map_or_else(|| v.to_string(), |n| format!("{n:.1}"));
    let mut text = format!("# Reliability\n\n{header}\n");
    if let Some(run) = runs.get("kills") {
        text += &format!(
            "\n## 1. kill -9 while creating\n\n{} SIGKILLs of the controller, 0.2 to 2 s apart, each followed by a \
             restart, over {} s while {} objects were created ({} Ready when the kills ended). All Ready {} s after \
             the first apply; {} duplicates in AWS (one account per email, one zone per domain, one permission set \
             per request).\n",
            run["kills"],
            number(&run["killing_seconds"]),
            run["objects"],
            run["ready_when_kills_ended"],
            number(&run["ready_seconds"]),
            run["duplicates"]
        );
    }
    if let Some(run) = runs.get("faults") {
        text += &format!(
            "\n## 2. Throttling and server errors\n\n20% of the calls throttled and 5% answered 503 at the proxy, 50 ms \
             added to each: all Ready in {} s (fault-free: {} s), nothing lost or made twice. Calls made under faults \
             (answered {} + refused {}) against the fault-free run's {}: ratio {:.2}. Injected: {}.\n",
            number(&run["seconds"]),
            number(&run["fault_free_seconds"]),
            run["calls_answered"],
            run["calls_refused"],
            run["fault_free_calls"],
            run["ratio"].as_f64().unwrap_or(0.0),
            run["injected"]
        );
    }
    if let Some(run) = runs.get("api_server") {
        text += &format!(
            "\n## 3. The API server goes away\n\nThe kube-apiserver was stopped {} s into the convergence of {} objects \
             ({} Ready then) and started again {} s later: the same controller process, never restarted, had every \
             object Ready {} s after the API server was back, and an object applied afterwards Ready too. The \
             leader stops renewing its lease after two thirds of it ({} s here, `--lease-duration`) without the API \
             server: after a longer outage it can no longer prove it leads, exits, and its restart rejoins the \
             election.\n",
            2,
            run["objects"],
            run["ready_before_stop"],
            number(&run["down_seconds"]),
            number(&run["ready_seconds_after_restart"]),
            run["lease_seconds"]
        );
    }
    if let Some(run) = runs.get("leaders") {
        text += &format!(
            "\n## 4. Two replicas, the leader killed\n\nThe leader was killed {} times while {} objects were created; \
             each replica reached AWS through its own proxy, so each write is known by its writer. Writes by replica: \
             {}; creates made by both: {}; all Ready in {} s, nothing twice.\n",
            run["leader_kills"],
            run["objects"],
            run["writes_by_replica"],
            run["creates_by_both"],
            number(&run["ready_seconds"])
        );
    }
    if let Some(run) = runs.get("bad_input") {
        text += &format!(
            "\n## 5. Bad input\n\nThe bad documents of the validate corpus: {} refused by the API server (schema and \
             CEL), {} admitted and refused by the controller before any AWS call; AWS writes: {}.\n\n| object | the \
             controller's condition |\n| --- | --- |\n",
            run["rejected_by_api_server"], run["refused_by_controller"], run["aws_writes"]
        );
        for (name, message) in run["controller_messages"].as_object().into_iter().flatten() {
            text += &format!("| {name} | {} |\n", message.as_str().unwrap_or_default().replace('|', "\\|"));
        }
    }
    text
}
