//! validate against a corpus: every good file passes, and each bad file yields the finding
//! its `# expect:` comments name (tests/validate/).

use super::*;

fn root() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
}

fn policy() -> PolicyStore {
    PolicyStore::open(Some(root().join("tests/validate/policy.yaml"))).unwrap()
}

#[test]
fn the_examples_the_example_repository_and_the_good_corpus_pass() {
    let examples: Vec<PathBuf> = std::fs::read_dir(root().join("examples"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    let open = |path: &str| PolicyStore::open(Some(root().join(path))).unwrap();
    let repository = root().join("examples/gitops-repo");
    for (paths, policy) in [
        (examples, open("examples/platform/policy.yaml")),
        (
            vec![repository.join("teams"), repository.join("platform")],
            open("examples/gitops-repo/platform/policy.yaml"),
        ),
        (vec![root().join("tests/validate/good")], policy()),
    ] {
        let findings = validate(&paths, Some(&policy)).unwrap();
        let text: Vec<String> = findings.iter().map(Finding::text).collect();
        assert!(findings.is_empty(), "{text:#?}");
    }
}

/// The `# expect:` lines of a corpus file.
fn expectations(file: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(file).unwrap();
    text.lines().filter_map(|l| l.strip_prefix("# expect: ")).map(str::to_string).collect()
}

#[test]
fn each_bad_file_yields_its_finding_with_field_and_line() {
    let dir = root().join("tests/validate/bad");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    assert!(files.len() >= 30, "a corpus of at least 30 bad files");
    let mut failures = Vec::new();
    for file in &files {
        let findings = validate(std::slice::from_ref(file), Some(&policy())).unwrap();
        let errors: Vec<&Finding> = findings.iter().filter(|f| !f.not_checked).collect();
        for expected in expectations(file) {
            let hit = errors.iter().find(|f| format!("{}: {}", f.field, f.message).contains(&expected));
            match hit {
                // The line points at the field (or its nearest written ancestor), never at
                // the document's first line unless the field is there.
                Some(finding) if finding.line >= 1 => {}
                _ => failures.push(format!(
                    "{}: expected {expected:?}, got {:#?}",
                    file.display(),
                    errors.iter().map(|f| f.text()).collect::<Vec<_>>()
                )),
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn findings_carry_file_document_line_and_print_as_github_annotations() {
    let file = root().join("tests/validate/bad/psr-session-pattern.yaml");
    let findings = validate(std::slice::from_ref(&file), None).unwrap();
    let finding = findings.iter().find(|f| f.field == "spec.permissionSet.sessionDuration").unwrap();
    assert_eq!((finding.document, finding.line), (1, 11), "{finding:?}");
    let annotation = finding.github();
    assert!(annotation.starts_with("::error file="), "{annotation}");
    assert!(annotation.contains(",line=11,title=orgops validate%3A PermissionSetRequest team-a/p::"), "{annotation}");
}

#[test]
fn a_rule_using_an_extension_the_checker_lacks_is_reported_not_passed() {
    let schema = serde_json::json!({
        "type": "object",
        "x-kubernetes-validations": [{"rule": "self.name.lastIndexOf('-') > 0", "message": "m"}],
        "properties": {"name": {"type": "string"}}
    });
    let mut out = Vec::new();
    schema::check(&schema, &serde_json::json!({"name": "a-b"}), "spec", &mut out);
    assert_eq!(out.len(), 1, "{out:?}");
    assert!(out[0].not_checked && out[0].message.contains("lastIndexOf"), "{out:?}");
}

#[test]
fn a_file_that_is_not_read_but_holds_an_orgops_object_is_reported() {
    let findings = validate(&[root().join("tests/validate/unread")], None).unwrap();
    let text: Vec<String> = findings.iter().map(Finding::text).collect();
    assert_eq!(findings.len(), 1, "{text:#?}");
    assert!(findings[0].file.ends_with("account.json") && findings[0].line == 2, "{text:#?}");
    assert!(findings[0].message.contains("only *.yaml and *.yml files are read"), "{text:#?}");
}
