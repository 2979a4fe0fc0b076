//! The IAM policies in `docs/` list exactly the AWS actions the code calls. Every call goes
//! through the [`crate::aws::CallGate`] (`send`, `paginate`, `call`, `reserve`, `count`) with
//! its service and operation named there, so the list is read from the code: a call added
//! without its action in the policy, or an action left in the policy after its call went,
//! fails here.

use std::collections::BTreeSet;

const AWS_SOURCES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/src/aws");
const DOCS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs");

/// The AWS layer's sources below `dir`, without the fakes and the tests.
fn sources(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let file = path.file_name().unwrap().to_string_lossy().to_string();
        if path.is_dir() {
            files.extend(sources(&path));
        } else if file.ends_with(".rs") && file != "fake.rs" && !file.ends_with("_tests.rs") {
            files.push(path);
        }
    }
    files
}

/// `service:Operation` of every call the AWS layer makes through the gate.
fn called() -> BTreeSet<String> {
    let mut calls = BTreeSet::new();
    for path in sources(std::path::Path::new(AWS_SOURCES)) {
        let text = std::fs::read_to_string(&path).unwrap();
        let service =
            text.split_once("const SERVICE: &str = \"").map(|(_, rest)| rest.split('"').next().unwrap().to_string());
        let compact: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
        for method in [".send(", ".paginate(", ".call(", ".reserve(", ".count("] {
            for (at, _) in compact.match_indices(method) {
                let after = &compact[at + method.len()..];
                let Some((first, rest)) = after.split_once(',') else { continue };
                let first = first.trim();
                let name = match first {
                    "SERVICE" => service.clone(),
                    quoted if quoted.starts_with('"') => Some(quoted.trim_matches('"').to_string()),
                    _ => None,
                };
                let operation = rest.trim_start().strip_prefix('"').and_then(|r| r.split('"').next());
                if let (Some(name), Some(operation)) = (name, operation) {
                    calls.insert(format!("{name}:{operation}"));
                }
            }
        }
    }
    calls
}

/// The actions an IAM policy document allows.
fn allowed(file: &str) -> BTreeSet<String> {
    let text = std::fs::read_to_string(format!("{DOCS}/{file}")).unwrap();
    let policy: serde_json::Value = serde_json::from_str(&text).unwrap();
    policy["Statement"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| s["Action"].as_array().unwrap().iter().map(|a| a.as_str().unwrap().to_string()))
        .collect()
}

/// The IAM action that authorizes a call: SQS's batch calls are authorized by the
/// action of the single-message call (the SQS API reference, DeleteMessageBatch).
fn action_of(call: &str) -> String {
    match call {
        "sqs:DeleteMessageBatch" => "sqs:DeleteMessage".into(),
        other => other.into(),
    }
}

#[test]
fn the_iam_policies_allow_exactly_the_calls_the_code_makes() {
    let called = called();
    assert!(
        called.len() > 50 && called.contains("organizations:CreateAccount"),
        "the scan reads the calls: {called:?}"
    );
    // Route 53 is called in member accounts, through the member role; the rest with the
    // controller's own role.
    let (member, controller): (BTreeSet<String>, BTreeSet<String>) =
        called.into_iter().map(|call| action_of(&call)).partition(|call| call.starts_with("route53:"));
    for (file, calls) in [("iam-policy.json", controller), ("iam-member-role.json", member)] {
        let policy = allowed(file);
        let missing: Vec<&String> = calls.difference(&policy).collect();
        let unused: Vec<&String> = policy.difference(&calls).collect();
        assert!(missing.is_empty() && unused.is_empty(), "docs/{file}: missing {missing:?}, not called {unused:?}");
    }
}
