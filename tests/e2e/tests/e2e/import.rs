//! `orgops import` against an organization of its own in moto (21 member accounts in
//! nested OUs, five permission sets with assignments, three delegated subdomains): the
//! import writes a folder per team and makes only reads; `orgops plan` on that folder has
//! nothing to do; and the controllers, one per imported namespace, adopt every object
//! (all Ready) with zero writes, counted at a proxy outside them.

use orgops_e2e::operator::{Operator, OperatorOptions, binary};
use orgops_e2e::proxy::Counts;
use orgops_e2e::{apply, client, condition, dynamic_api, ensure_namespace, eventually, repo_root};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Calls that change something in AWS. AssumeRole only hands out credentials.
fn writes(counts: &Counts) -> BTreeMap<String, u32> {
    let reads = ["Describe", "List", "Get", "AssumeRole"];
    let counted = counts.lock().unwrap().clone();
    counted.into_iter().filter(|(op, _)| !reads.iter().any(|r| op.starts_with(r))).collect()
}

fn seed(management: &str) -> Value {
    let python = std::env::var("ORGOPS_MOTO_PYTHON").expect("ORGOPS_MOTO_PYTHON from the harness");
    let out = std::process::Command::new(python)
        .arg(repo_root().join("tests/harness/seed-import-org.py"))
        .arg(management)
        .output()
        .unwrap();
    assert!(out.status.success(), "seeding: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Every YAML file under `dir` with its parsed document.
fn documents(dir: &Path) -> Vec<(PathBuf, Value)> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            found.extend(documents(&path));
        } else {
            let text = std::fs::read_to_string(&path).unwrap();
            found.push((path, yaml_serde::from_str(&text).unwrap()));
        }
    }
    found.sort_by(|a, b| a.0.cmp(&b.0));
    found
}

#[tokio::test]
async fn an_imported_organization_plans_nothing_and_is_adopted_with_no_write() {
    // A management account of this run's own: a new organization in moto.
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().subsec_nanos();
    let management = format!("72{nanos:010}");
    let seeded = seed(&management);
    let credentials: Vec<(String, String)> = seeded["credentials"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string()))
        .collect();
    let admin = format!("import-{}", &management[8..]);
    let out = repo_root().join("target/e2e/import").join(&management);
    let _ = std::fs::remove_dir_all(&out);

    let (proxy, import_calls) = orgops_e2e::proxy::counting().await;
    let test_env = orgops_e2e::operator::test_env().await;
    let orgops = |args: Vec<String>| {
        let mut command = tokio::process::Command::new(binary());
        command.envs(test_env.iter().cloned());
        command.args(args).envs(credentials.iter().cloned()).env("AWS_ENDPOINT_URL", &proxy);
        command
    };
    let import = orgops(vec![
        "import".into(),
        "--out".into(),
        out.display().to_string(),
        "--team-ou-level".into(),
        "2".into(),
        "--admin-namespace".into(),
        admin.clone(),
        "--parent-domain".into(),
        seeded["parent"].as_str().unwrap().into(),
    ])
    .output()
    .await
    .unwrap();
    let report = String::from_utf8_lossy(&import.stderr).to_string();
    eprintln!("{report}");
    assert!(import.status.success(), "{report}");
    assert!(report.contains("22 AwsAccounts, 5 PermissionSetRequests, 3 SubdomainDelegations in 4 namespaces"));
    assert!(report.contains("old.example.org") && report.contains("no hosted zone"), "{report}");
    assert_eq!(writes(&import_calls), BTreeMap::new(), "the import only reads");

    let written = documents(&out);
    // Every file reads the same to a YAML 1.1 reader (PyYAML, as yamllint and many CI
    // tools) as to serde: no string turned into a date, a number, a boolean or null.
    let python = std::env::var("ORGOPS_MOTO_PYTHON").expect("ORGOPS_MOTO_PYTHON from the harness");
    let script = "import json, sys, yaml\nprint(json.dumps([yaml.safe_load(open(p)) for p in sys.argv[1:]]))";
    let read = std::process::Command::new(python)
        .args(["-c", script])
        .args(written.iter().map(|(path, _)| path))
        .output()
        .unwrap();
    assert!(read.status.success(), "a YAML 1.1 reader: {}", String::from_utf8_lossy(&read.stderr));
    let as_yaml_1_1: Vec<Value> = serde_json::from_slice(&read.stdout).unwrap();
    for ((path, by_serde), by_pyyaml) in written.iter().zip(&as_yaml_1_1) {
        assert_eq!(by_serde, by_pyyaml, "{} reads differently in YAML 1.1", path.display());
    }
    let objects: Vec<(PathBuf, Value)> = written.into_iter().filter(|(_, d)| d.get("apiVersion").is_some()).collect();
    let teams: Vec<String> =
        seeded["teams"].as_array().unwrap().iter().map(|t| t.as_str().unwrap().to_lowercase()).collect();
    let object = |kind: &str, name: &str| {
        let found = objects.iter().find(|(_, d)| d["kind"] == kind && d["metadata"]["name"] == name);
        found.unwrap_or_else(|| panic!("{kind} {name}")).clone()
    };
    let (path, alpha_prod) = object("AwsAccount", "alpha-prod-0");
    assert!(path.starts_with(out.join("teams").join(&teams[0])), "{}", path.display());
    assert_eq!(alpha_prod["spec"]["accountId"], seeded["accounts"]["alpha-prod-0"]);
    assert_eq!(alpha_prod["spec"]["organizationalUnit"], format!("Workloads/{}", seeded["teams"][0].as_str().unwrap()));
    assert_eq!(alpha_prod["spec"]["alternateContacts"]["security"]["name"], "alpha-prod-0 security");
    assert_eq!(alpha_prod["spec"]["managementPolicy"], "ObserveOnly");
    let (_, dev) = object("AwsAccount", "alpha-dev-1");
    assert!(dev["spec"]["organizationalUnit"].as_str().unwrap().ends_with("/Dev"), "{dev}");
    let (path, _) = object("AwsAccount", "legacy-0");
    assert!(path.starts_with(out.join(&admin)), "an account under the root is the admin's: {}", path.display());
    let (_, gamma) = object("PermissionSetRequest", "gammaoperator");
    assert_eq!(gamma["metadata"]["namespace"], teams[2]);
    assert_eq!(gamma["spec"]["assignments"][0]["user"], "jdoe", "principals by name");
    let (_, auditor) = object("PermissionSetRequest", "auditor");
    assert_eq!(auditor["metadata"]["namespace"], admin.as_str(), "assigned across teams");
    let (_, management_account) = object("AwsAccount", "master");
    assert_eq!(management_account["spec"]["alternateContacts"]["billing"]["name"], "Finance", "{management_account}");
    let (_, delegation) = object("SubdomainDelegation", "api-gamma-example-org");
    assert_eq!(delegation["spec"]["account"]["accountRef"], "gamma-2");
    assert_eq!(delegation["spec"]["ttl"], 3600);

    let policy = out.join(&admin).join("policy.yaml");
    let (plan_proxy, plan_calls) = orgops_e2e::proxy::counting().await;
    let plan = orgops(vec![
        "plan".into(),
        out.display().to_string(),
        "--policy".into(),
        policy.display().to_string(),
        "--format".into(),
        "json".into(),
    ])
    .env("AWS_ENDPOINT_URL", &plan_proxy)
    .output()
    .await
    .unwrap();
    assert!(plan.status.success(), "{}", String::from_utf8_lossy(&plan.stderr));
    let report: Value = serde_json::from_slice(&plan.stdout).unwrap();
    assert_eq!(report["complete"], true, "{report}");
    let planned = report["objects"].as_array().unwrap();
    assert_eq!(planned.len(), 30);
    let to_do: Vec<&Value> = planned.iter().filter(|p| p["action"] != "none").collect();
    assert!(to_do.is_empty(), "the plan of an import has nothing to do: {to_do:#?}");
    assert_eq!(writes(&plan_calls), BTreeMap::new());

    // The controllers adopt it all: one per imported namespace, through a counting proxy.
    let kube = client().await;
    let (operator_proxy, operator_calls) = orgops_e2e::proxy::counting().await;
    let policy_text = std::fs::read_to_string(&policy).unwrap();
    let mut namespaces: Vec<String> =
        objects.iter().map(|(_, d)| d["metadata"]["namespace"].as_str().unwrap().to_string()).collect();
    namespaces.sort();
    namespaces.dedup();
    let mut operators = Vec::new();
    for namespace in &namespaces {
        ensure_namespace(&kube, namespace).await;
        let mut options = OperatorOptions::new(namespace, &[]);
        options.policy = policy_text.clone();
        options.aws_endpoint = Some(operator_proxy.clone());
        options.env = credentials.clone();
        operators.push(Operator::start(options).await);
    }
    for (_, document) in &objects {
        let api =
            dynamic_api(&kube, document["metadata"]["namespace"].as_str().unwrap(), document["kind"].as_str().unwrap());
        apply(&api, document).await.unwrap();
    }
    for (_, document) in &objects {
        let (namespace, kind, name) = (
            document["metadata"]["namespace"].as_str().unwrap(),
            document["kind"].as_str().unwrap(),
            document["metadata"]["name"].as_str().unwrap(),
        );
        let api = dynamic_api(&kube, namespace, kind);
        eventually(60, &format!("{kind} {namespace}/{name} Ready"), || async {
            let object = api.get(name).await.ok()?;
            let ready = condition(&object, "Ready")?;
            (ready.0 == "True").then_some(())
        })
        .await;
    }
    // A resync more: still nothing written.
    tokio::time::sleep(std::time::Duration::from_secs(4)).await;
    let counted = operator_calls.lock().unwrap().clone();
    assert!(counted.contains_key("ListAccountAssignments") && counted.contains_key("GetHostedZone"), "{counted:?}");
    assert_eq!(writes(&operator_calls), BTreeMap::new(), "adoption writes nothing: {counted:?}");
    drop(operators);
}
