//! The checks of one document (schema and CEL, platform policy) and of the documents
//! together (references, duplicates).

use super::schema::{self, Violation};
use super::{Document, Finding};
use crate::kinds::permission_set::rules as permission_set_rules;
use crate::policy::{Grants, Refusal};
use k8s_openapi::jiff::Timestamp;
use serde_json::Value;
use std::collections::BTreeMap;
use std::time::Duration;

/// Whether the document is an object of an orgops kind (others, such as a Namespace, are
/// not this tool's to check).
pub fn is_orgops(document: &Document) -> bool {
    document.object["apiVersion"].as_str().is_some_and(|v| v.starts_with(&format!("{}/", orgops_api::GROUP)))
}

/// The schema and CEL rules of the kind's CRD, after the defaults the API server applies.
pub fn against_crd(document: &Document, crds: &BTreeMap<String, Value>) -> Vec<Finding> {
    let Some(crd) = crds.get(document.kind()) else {
        let kinds: Vec<&String> = crds.keys().collect();
        return vec![Finding::new(
            document,
            "kind",
            format!("Unsupported value: {:?}: orgops kinds are {kinds:?}", document.kind()),
        )];
    };
    let api_version = document.object["apiVersion"].as_str().unwrap_or_default();
    let version = crd["spec"]["versions"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|v| format!("{}/{}", orgops_api::GROUP, v["name"].as_str().unwrap_or_default()) == api_version);
    let Some(version) = version else {
        return vec![Finding::new(
            document,
            "apiVersion",
            format!("Unsupported value: {api_version:?}: not a served version"),
        )];
    };
    let mut findings = Vec::new();
    if document.name().is_empty() {
        findings.push(Finding::new(document, "metadata.name", "Required value: name is required"));
    }
    if document.namespace().is_empty() {
        findings.push(Finding::new(
            document,
            "metadata.namespace",
            "Required value: set it, or put the file in a folder named after the namespace",
        ));
    }
    let root = &version["schema"]["openAPIV3Schema"];
    let mut object = document.object.clone();
    // The type fields were matched above, metadata is the API server's to check, and
    // status the controller's to write.
    if let Value::Object(map) = &mut object {
        for field in ["apiVersion", "kind", "metadata", "status"] {
            map.remove(field);
        }
    }
    schema::drop_nulls(root, &mut object);
    schema::apply_defaults(root, &mut object);
    let mut violations: Vec<Violation> = Vec::new();
    schema::check(root, &object, "", &mut violations);
    findings.extend(
        violations
            .into_iter()
            .map(|v| Finding { not_checked: v.not_checked, ..Finding::new(document, &v.field, v.message) }),
    );
    findings
}

fn forbidden(document: &Document, field: &str, result: Result<(), Refusal>) -> Option<Finding> {
    result
        .err()
        .map(|refusal| Finding::new(document, field, format!("Forbidden by the platform policy: {}", refusal.0)))
}

fn ou_path(ou: &str) -> Option<&str> {
    // An OU id's path is only known to AWS: the controller checks it.
    (!ou.starts_with("ou-") && !ou.starts_with("r-")).then_some(ou)
}

/// An account id target: the namespace's when an AwsAccount among the inputs, in the
/// same namespace, manages it, or the policy lists it.
fn account_target(
    document: &Document,
    documents: &[&Document],
    grants: &Grants,
    field: &str,
    id: &str,
) -> Option<Finding> {
    let namespace = document.namespace();
    let owned = documents.iter().any(|d| {
        d.kind() == "AwsAccount" && d.namespace() == namespace && d.object["spec"]["accountId"].as_str() == Some(id)
    });
    forbidden(document, field, grants.check_account(field, id, owned))
}

/// What the platform policy decides from the objects alone, with the policy's own checks.
pub fn against_policy(document: &Document, grants: &Grants, documents: &[&Document]) -> Vec<Finding> {
    if grants.policy.admin {
        return Vec::new();
    }
    let spec = &document.object["spec"];
    let mut findings: Vec<Option<Finding>> = Vec::new();
    match document.kind() {
        "AwsAccount" => {
            if let Some(path) = spec["organizationalUnit"].as_str().and_then(ou_path) {
                let field = "spec.organizationalUnit";
                findings.push(forbidden(document, field, grants.check_organizational_unit(field, path)));
            }
        }
        "PermissionSetRequest" => {
            let permission_set = &spec["permissionSet"];
            if let Some(inline) = permission_set.get("inlinePolicy").filter(|v| !v.is_null()) {
                let field = "spec.permissionSet.inlinePolicy";
                if let Err(error) = permission_set_rules::inline_policy_document(inline) {
                    findings.push(Some(Finding::new(document, field, format!("Invalid value: {}", error.message))));
                }
            }
            for (index, arn) in permission_set["managedPolicies"].as_array().into_iter().flatten().enumerate() {
                let field = format!("spec.permissionSet.managedPolicies[{index}]");
                findings.push(forbidden(
                    document,
                    &field,
                    grants.check_managed_policy(&field, arn.as_str().unwrap_or_default()),
                ));
            }
            if let Some(session) = permission_set["sessionDuration"].as_str() {
                let field = "spec.permissionSet.sessionDuration";
                findings.push(forbidden(document, field, grants.check_session_duration(field, session)));
            }
            for (index, assignment) in spec["assignments"].as_array().into_iter().flatten().enumerate() {
                if let Some(text) = assignment["expiresAt"].as_str() {
                    let field = format!("spec.assignments[{index}].expiresAt");
                    match permission_set_rules::expiry(&field, text) {
                        Ok(at) => {
                            let ahead = at.duration_since(Timestamp::now()).as_secs().max(0) as u64;
                            let result = grants.check_assignment_duration(&field, text, Duration::from_secs(ahead));
                            findings.push(forbidden(document, &field, result));
                        }
                        Err(error) => findings.push(Some(Finding::new(document, &field, error.message))),
                    }
                }
                for (t, target) in assignment["targets"].as_array().into_iter().flatten().enumerate() {
                    let field = format!("spec.assignments[{index}].targets[{t}]");
                    if let Some(path) = target["organizationalUnit"].as_str().and_then(ou_path) {
                        let field = format!("{field}.organizationalUnit");
                        findings.push(forbidden(document, &field, grants.check_organizational_unit(&field, path)));
                    }
                    if let Some(id) = target["accountId"].as_str() {
                        findings.push(account_target(document, documents, grants, &format!("{field}.accountId"), id));
                    }
                }
            }
        }
        "SubdomainDelegation" => {
            let domain = spec["domain"].as_str().unwrap_or_default();
            let parent = spec["parentDomain"].as_str().unwrap_or_default();
            let granted = grants.parent_domain(domain, parent).map(|_| ());
            findings.push(forbidden(document, "spec.parentDomain", granted));
            if let Some(id) = spec["account"]["accountId"].as_str() {
                findings.push(account_target(document, documents, grants, "spec.account.accountId", id));
            }
        }
        "SecurityBaseline" => {
            let targets = &spec["targets"];
            for (index, ou) in targets["organizationalUnits"].as_array().into_iter().flatten().enumerate() {
                if let Some(path) = ou.as_str().and_then(ou_path) {
                    let field = format!("spec.targets.organizationalUnits[{index}]");
                    findings.push(forbidden(document, &field, grants.check_organizational_unit(&field, path)));
                }
            }
            for (index, target) in targets["accounts"].as_array().into_iter().flatten().enumerate() {
                if let Some(id) = target["accountId"].as_str() {
                    let field = format!("spec.targets.accounts[{index}].accountId");
                    findings.push(account_target(document, documents, grants, &field, id));
                }
            }
        }
        _ => {}
    }
    findings.into_iter().flatten().collect()
}

/// The `accountRef`s of an object, with their fields.
fn account_refs(document: &Document) -> Vec<(String, String)> {
    let spec = &document.object["spec"];
    let mut refs = Vec::new();
    let mut take = |field: String, value: &Value| {
        if let Some(name) = value["accountRef"].as_str() {
            refs.push((format!("{field}.accountRef"), name.to_string()));
        }
    };
    for (index, assignment) in spec["assignments"].as_array().into_iter().flatten().enumerate() {
        for (t, target) in assignment["targets"].as_array().into_iter().flatten().enumerate() {
            take(format!("spec.assignments[{index}].targets[{t}]"), target);
        }
    }
    if document.kind() == "SubdomainDelegation" {
        take("spec.account".into(), &spec["account"]);
    }
    for (index, target) in spec["targets"]["accounts"].as_array().into_iter().flatten().enumerate() {
        take(format!("spec.targets.accounts[{index}]"), target);
    }
    refs
}

/// References between the documents and values two of them claim.
pub fn across(documents: &[&Document]) -> Vec<Finding> {
    let mut findings = Vec::new();
    for document in documents {
        for (field, name) in account_refs(document) {
            let exists = documents
                .iter()
                .any(|d| d.kind() == "AwsAccount" && d.namespace() == document.namespace() && d.name() == name);
            if !exists {
                findings.push(Finding::new(
                    document,
                    &field,
                    format!(
                        "Not found: {name:?}: no AwsAccount of that name in namespace {:?} among the files",
                        document.namespace()
                    ),
                ));
            }
        }
    }
    // (kind, what is claimed) → the first document claiming it.
    let mut claims: BTreeMap<(String, String), &Document> = BTreeMap::new();
    for document in documents {
        let spec = &document.object["spec"];
        let claimed: Vec<(&str, String)> = match document.kind() {
            "AwsAccount" => vec![("spec.email", spec["email"].as_str().unwrap_or_default().to_lowercase())],
            "SubdomainDelegation" => vec![("spec.domain", spec["domain"].as_str().unwrap_or_default().to_lowercase())],
            "PermissionSetRequest" => {
                vec![(
                    "spec.permissionSet.name",
                    spec["permissionSet"]["name"].as_str().unwrap_or_default().to_string(),
                )]
            }
            _ => Vec::new(),
        };
        let identity = format!("{}/{}", document.namespace(), document.name());
        for (field, value) in claimed.into_iter().chain([("metadata.name", identity)]) {
            if value.is_empty() {
                continue;
            }
            match claims.get(&(format!("{}:{field}", document.kind()), value.clone())) {
                Some(first) => findings.push(Finding::new(
                    document,
                    field,
                    format!(
                        "Duplicate value: {value:?}: already claimed by {} {}/{} ({} document {})",
                        first.kind(),
                        first.namespace(),
                        first.name(),
                        first.file.display(),
                        first.index
                    ),
                )),
                None => {
                    claims.insert((format!("{}:{field}", document.kind()), value), document);
                }
            }
        }
    }
    findings
}
