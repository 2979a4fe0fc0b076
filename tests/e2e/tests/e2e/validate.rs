//! One rule set, proven: every file of the validate corpus marked `# server: rejects` (a
//! schema or CEL rule of the CRDs) is refused by the real API server too, naming the
//! same field, and the good corpus is accepted. `orgops validate` reads the rules from the
//! same generated CRDs the server enforces.

use orgops_e2e::{client, ensure_namespace, repo_root};
use std::process::Command;

fn dry_run(file: &std::path::Path, namespace: &str) -> (bool, String) {
    let out = Command::new("kubectl")
        .args(["apply", "--dry-run=server", "-n", namespace, "-f", file.to_str().unwrap()])
        .output()
        .unwrap();
    (out.status.success(), String::from_utf8_lossy(&out.stderr).to_string())
}

#[tokio::test]
async fn what_validate_refuses_for_a_schema_or_cel_rule_the_api_server_refuses_too() {
    let kube = client().await;
    ensure_namespace(&kube, "team-a").await;
    let corpus = repo_root().join("tests/validate");
    let mut checked = 0;
    let mut failures = Vec::new();
    let mut files: Vec<_> = std::fs::read_dir(corpus.join("bad")).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        if !text.contains("# server: rejects") {
            continue;
        }
        checked += 1;
        let expected = text.lines().find_map(|l| l.strip_prefix("# expect: ")).unwrap();
        let field = expected.split(": ").next().unwrap();
        let (accepted, stderr) = dry_run(&file, "team-a");
        let rule_message = expected.split_once("\"object\": ").map(|(_, message)| message);
        if accepted || !stderr.contains(field) || rule_message.is_some_and(|m| !stderr.contains(m)) {
            failures.push(format!("{}: expected a refusal naming {expected:?}, got: {stderr}", file.display()));
        }
    }
    assert!(checked >= 25, "the schema and CEL cases of the corpus: {checked}");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    for good in ["account.yaml", "access.yaml"] {
        let (accepted, stderr) = dry_run(&corpus.join("good/team-a").join(good), "team-a");
        assert!(accepted, "{good}: {stderr}");
    }
}
