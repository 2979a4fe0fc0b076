//! `orgops plan` against moto: a pull request that changes a permission set, adds an
//! account and removes a request, on a base where an account's tag was changed out of
//! band: the plan says create, change (old → new), delete and drift, and every call it
//! made, counted at a proxy outside it, is a read.

use orgops_e2e::accounts::{PAYROLL, account, until_condition};
use orgops_e2e::operator::{Operator, OperatorOptions, binary};
use orgops_e2e::requests::{request, setup};
use orgops_e2e::{apply, identity, repo_root};
use serde_json::{Value, json};

fn write_folder(dir: &std::path::Path, objects: &[Value]) {
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir).unwrap();
    for object in objects {
        let name =
            format!("{}-{}.yaml", object["kind"].as_str().unwrap(), object["metadata"]["name"].as_str().unwrap());
        std::fs::write(dir.join(name), yaml_serde::to_string(object).unwrap()).unwrap();
    }
}

#[tokio::test]
async fn the_plan_shows_creations_changes_deletions_and_drift_and_only_reads() {
    let ns = "plan-e2e";
    let (accounts, requests) = setup(ns).await;
    identity::create_group(&format!("{ns}-devs")).await;
    let options = OperatorOptions::new(ns, &[PAYROLL]);
    let policy_text = options.policy.clone();
    let operator = Operator::start(options).await;
    let main = account(ns, "main", json!({"tags": {"team": "plan"}}));
    let assign = json!([{"group": format!("{ns}-devs"), "targets": [{"accountRef": "main"}]}]);
    let developer =
        request(ns, "developer", json!({"permissionSet": {"sessionDuration": "PT2H"}, "assignments": assign}));
    let old = request(ns, "old", json!({"permissionSet": {"sessionDuration": "PT1H"}}));
    apply(&accounts, &main).await.unwrap();
    until_condition(&accounts, "main", "Ready", "True", "Available").await;
    for object in [&developer, &old] {
        apply(&requests, object).await.unwrap();
    }
    until_condition(&requests, "developer", "Ready", "True", "Available").await;
    until_condition(&requests, "old", "Ready", "True", "Available").await;
    drop(operator);

    // Out of band: someone retags the account.
    let org = orgops_e2e::aws::organizations().await;
    let id = orgops_e2e::aws::accounts_with_email(&org, &orgops_e2e::accounts::email(ns, "main")).await[0].clone();
    let tag = aws_sdk_organizations::types::Tag::builder().key("team").value("someone-else").build().unwrap();
    org.tag_resource().resource_id(&id).tags(tag).send().await.unwrap();

    let dir = repo_root().join("target/e2e/plan");
    write_folder(&dir.join("base").join(ns), &[main.clone(), developer.clone(), old.clone()]);
    let mut changed = developer.clone();
    changed["spec"]["permissionSet"]["sessionDuration"] = "PT3H".into();
    let added = account(ns, "second", json!({}));
    write_folder(&dir.join("head").join(ns), &[main.clone(), changed, added]);
    std::fs::write(dir.join("policy.yaml"), policy_text).unwrap();

    let (proxy, calls) = orgops_e2e::proxy::counting().await;
    let test_env = orgops_e2e::operator::test_env().await;
    let run_plan = async |format: &str| {
        tokio::process::Command::new(binary())
            .arg("plan")
            .arg(dir.join("head"))
            .arg("--base")
            .arg(dir.join("base"))
            .arg("--policy")
            .arg(dir.join("policy.yaml"))
            .args(["--format", format])
            .env("AWS_ENDPOINT_URL", &proxy)
            .envs(test_env.iter().cloned())
            .output()
            .await
            .unwrap()
    };
    let plan = async |format: &str| {
        let out = run_plan(format).await;
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    };
    let json_text = plan("json").await;
    let markdown = plan("markdown").await;
    eprintln!("{markdown}");
    let report: Value = serde_json::from_str(&json_text).unwrap();
    assert_eq!(report["complete"], true, "{json_text}");
    let planned = report["objects"].as_array().unwrap();
    let of = |kind: &str, name: &str| {
        planned
            .iter()
            .find(|p| p["kind"] == kind && p["name"] == name)
            .unwrap_or_else(|| panic!("{kind} {name}: {json_text}"))
    };
    assert_eq!(of("AwsAccount", "second")["action"], "create");
    let drift = of("AwsAccount", "main");
    assert_eq!(drift["action"], "drift", "{drift}");
    assert!(drift["changes"].to_string().contains("someone-else"), "{drift}");
    let change = of("PermissionSetRequest", "developer");
    assert_eq!(change["action"], "change", "{change}");
    assert!(
        change["changes"].to_string().contains("PT2H") && change["changes"].to_string().contains("PT3H"),
        "{change}"
    );
    assert_eq!(of("PermissionSetRequest", "old")["action"], "delete");
    assert!(markdown.contains("| **change** | PermissionSetRequest `plan-e2e/developer` |"), "{markdown}");

    let counted = calls.lock().unwrap().clone();
    assert!(!counted.is_empty());
    let writes: Vec<&String> =
        counted.keys().filter(|op| !["Describe", "List", "Get"].iter().any(|p| op.starts_with(p))).collect();
    assert!(writes.is_empty(), "the plan made only reads: {counted:?}");

    // A pull request that adds an account in a file that is not YAML, and another in a
    // file plan does not read: the plan says it is incomplete, names both, and fails.
    let head = dir.join("head").join(ns);
    std::fs::write(head.join("broken.yaml"), "apiVersion: orgops.dev/v1alpha1\nkind: AwsAccount\nmetadata: [\n")
        .unwrap();
    std::fs::write(head.join("third.json"), r#"{"apiVersion": "orgops.dev/v1alpha1", "kind": "AwsAccount"}"#).unwrap();
    let out = run_plan("markdown").await;
    let markdown = String::from_utf8(out.stdout).unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "an incomplete plan fails: {markdown}");
    assert!(markdown.lines().nth(2).is_some_and(|l| l.starts_with("**Incomplete plan**: 2 inputs")), "{markdown}");
    for file in ["broken.yaml:", "third.json:1"] {
        assert!(markdown.contains(file) && stderr.contains(file), "{file}: {markdown}\n{stderr}");
    }
    let report: Value = serde_json::from_slice(&run_plan("json").await.stdout).unwrap();
    assert_eq!(report["complete"], false);
    assert_eq!(report["unread"].as_array().map(Vec::len), Some(2), "{report}");
}
