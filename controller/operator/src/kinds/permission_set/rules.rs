//! The PermissionSetRequest decisions that need no AWS call: the inline policy checked as
//! IAM would, the permission set the spec asks for, its differences from AWS, and which
//! assignments to create and remove.

use crate::aws::snapshots::identity_center::PermissionSetState;
use crate::aws::sso_admin::{Attributes, Boundary, PolicyRef, Principal, PrincipalKind};
use crate::policy::iso_duration;
use crate::reconcile::{Error, FieldDiff};
use k8s_openapi::jiff::Timestamp;
use orgops_api::permission_set::{Assignment, PermissionSetSpec, PermissionsBoundary, PolicyReference};
use serde_json::{Map, Value};
use std::collections::{BTreeMap, BTreeSet};

/// The longest inline policy Identity Center accepts, in characters.
pub const INLINE_POLICY_MAX_CHARS: usize = 32_768;

const FIELD: &str = "spec.permissionSet.inlinePolicy";

/// Checks an inline policy document as IAM checks an identity-based policy, and returns
/// it as the compact JSON sent to AWS. The error names the statement and the field.
pub fn inline_policy_document(document: &Value) -> Result<String, Error> {
    let invalid = |path: &str, rule: &str| Error::invalid(format!("{FIELD}{path}: {rule}"));
    let object = document.as_object().ok_or_else(|| invalid("", "must be a JSON object"))?;
    for key in object.keys() {
        if !matches!(key.as_str(), "Version" | "Id" | "Statement") {
            return Err(invalid(&format!(".{key}"), "is not a policy element (Version, Id, Statement)"));
        }
    }
    match object.get("Version").and_then(Value::as_str) {
        Some("2012-10-17" | "2008-10-17") => {}
        Some(other) => return Err(invalid(".Version", &format!("must be 2012-10-17 or 2008-10-17, not {other:?}"))),
        None => return Err(invalid(".Version", "is required")),
    }
    let statements: Vec<&Value> = match object.get("Statement") {
        Some(Value::Array(list)) if !list.is_empty() => list.iter().collect(),
        Some(Value::Array(_)) => return Err(invalid(".Statement", "must hold at least one statement")),
        Some(single @ Value::Object(_)) => vec![single],
        Some(_) => return Err(invalid(".Statement", "must be a statement object or a list of them")),
        None => return Err(invalid(".Statement", "is required")),
    };
    let mut sids = BTreeSet::new();
    for (index, statement) in statements.into_iter().enumerate() {
        let at = format!(".Statement[{index}]");
        let statement = statement.as_object().ok_or_else(|| invalid(&at, "must be an object"))?;
        check_statement(statement, &at, &mut sids).map_err(|(path, rule)| invalid(&path, &rule))?;
    }
    let compact = serde_json::to_string(document).map_err(|e| invalid("", &e.to_string()))?;
    let length = compact.chars().count();
    if length > INLINE_POLICY_MAX_CHARS {
        return Err(invalid(
            "",
            &format!("is {length} characters; IAM Identity Center accepts at most {INLINE_POLICY_MAX_CHARS}"),
        ));
    }
    Ok(compact)
}

type Rule = (String, String);

fn check_statement(statement: &Map<String, Value>, at: &str, sids: &mut BTreeSet<String>) -> Result<(), Rule> {
    let rule = |field: &str, text: &str| (format!("{at}.{field}"), text.to_string());
    for key in statement.keys() {
        match key.as_str() {
            "Sid" | "Effect" | "Action" | "NotAction" | "Resource" | "NotResource" | "Condition" => {}
            "Principal" | "NotPrincipal" => {
                return Err(rule(key, "is not allowed in an identity-based policy (the permission set's roles)"));
            }
            _ => return Err(rule(key, "is not a statement element")),
        }
    }
    if let Some(sid) = statement.get("Sid") {
        let sid = sid.as_str().ok_or_else(|| rule("Sid", "must be a string"))?;
        if !sid.chars().all(|c| c.is_ascii_alphanumeric()) {
            return Err(rule("Sid", "may hold only letters and digits"));
        }
        if !sid.is_empty() && !sids.insert(sid.to_string()) {
            return Err(rule("Sid", &format!("{sid:?} is used by another statement")));
        }
    }
    match statement.get("Effect").and_then(Value::as_str) {
        Some("Allow" | "Deny") => {}
        Some(other) => return Err(rule("Effect", &format!("must be Allow or Deny, not {other:?}"))),
        None => return Err(rule("Effect", "is required (Allow or Deny)")),
    }
    let action = exactly_one(statement, "Action", "NotAction").map_err(|text| rule("Action", &text))?;
    for value in strings(&statement[action]).map_err(|text| rule(action, &text))? {
        if value != "*" && !is_action(value) {
            return Err(rule(action, &format!("{value:?} is not an action like s3:GetObject or s3:*")));
        }
    }
    let resource = exactly_one(statement, "Resource", "NotResource").map_err(|text| rule("Resource", &text))?;
    for value in strings(&statement[resource]).map_err(|text| rule(resource, &text))? {
        if value != "*" && !value.starts_with("arn:") {
            return Err(rule(resource, &format!("{value:?} is neither \"*\" nor an ARN")));
        }
    }
    if let Some(condition) = statement.get("Condition") {
        let operators = condition.as_object().ok_or_else(|| rule("Condition", "must be an object of operators"))?;
        for (operator, keys) in operators {
            let keys = keys
                .as_object()
                .ok_or_else(|| rule(&format!("Condition.{operator}"), "must be an object of condition keys"))?;
            for (key, value) in keys {
                let valid = match value {
                    Value::String(_) | Value::Bool(_) | Value::Number(_) => true,
                    Value::Array(items) => {
                        items.iter().all(|v| matches!(v, Value::String(_) | Value::Bool(_) | Value::Number(_)))
                    }
                    _ => false,
                };
                if !valid {
                    return Err(rule(&format!("Condition.{operator}.{key}"), "must be a value or a list of values"));
                }
            }
        }
    }
    Ok(())
}

fn exactly_one<'a>(statement: &Map<String, Value>, one: &'a str, not: &'a str) -> Result<&'a str, String> {
    match (statement.contains_key(one), statement.contains_key(not)) {
        (true, false) => Ok(one),
        (false, true) => Ok(not),
        (true, true) => Err(format!("{one} and {not} cannot both be set")),
        (false, false) => Err(format!("one of {one} or {not} is required")),
    }
}

fn strings(value: &Value) -> Result<Vec<&str>, String> {
    match value {
        Value::String(text) => Ok(vec![text.as_str()]),
        Value::Array(items) if !items.is_empty() => {
            items.iter().map(|v| v.as_str().ok_or_else(|| "must hold only strings".to_string())).collect()
        }
        Value::Array(_) => Err("must not be empty".into()),
        _ => Err("must be a string or a list of strings".into()),
    }
}

fn is_action(value: &str) -> bool {
    value.split_once(':').is_some_and(|(service, action)| {
        !service.is_empty()
            && service.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            && !action.is_empty()
            && action.chars().all(|c| c.is_ascii_alphanumeric() || c == '*' || c == '?')
    })
}

/// A customer managed policy reference with AWS's default path.
pub fn policy_ref(reference: &PolicyReference) -> PolicyRef {
    PolicyRef { name: reference.name.clone(), path: reference.path.clone().unwrap_or_else(|| "/".into()) }
}

fn boundary(spec: &PermissionsBoundary) -> Option<Boundary> {
    match (&spec.managed_policy_arn, &spec.customer_managed_policy) {
        (Some(arn), _) => Some(Boundary::Managed(arn.clone())),
        (None, Some(reference)) => Some(Boundary::Customer(policy_ref(reference))),
        (None, None) => None,
    }
}

/// The permission set the spec asks for, tags aside. Description, session duration and
/// relay state are compared only when the spec sets them.
pub fn desired_state(spec: &PermissionSetSpec) -> Result<PermissionSetState, Error> {
    let mut managed_policies = spec.managed_policies.clone();
    managed_policies.sort();
    managed_policies.dedup();
    let mut customer_policies: Vec<PolicyRef> = spec.customer_managed_policies.iter().map(policy_ref).collect();
    customer_policies.sort();
    customer_policies.dedup();
    Ok(PermissionSetState {
        attributes: Attributes {
            name: spec.name.clone(),
            description: spec.description.clone(),
            session_duration: spec.session_duration.clone(),
            relay_state: spec.relay_state.clone(),
        },
        tags: BTreeMap::new(),
        managed_policies,
        customer_policies,
        inline_policy: spec.inline_policy.as_ref().map(inline_policy_document).transpose()?,
        boundary: spec.permissions_boundary.as_ref().and_then(boundary),
    })
}

/// The spec that asks for exactly this permission set (tags as given): the inverse of
/// [`desired_state`], which `orgops import` writes.
pub fn spec_of(state: &PermissionSetState, tags: BTreeMap<String, String>) -> Result<PermissionSetSpec, String> {
    let reference =
        |r: &PolicyRef| PolicyReference { name: r.name.clone(), path: Some(r.path.clone()).filter(|p| p != "/") };
    let inline_policy = match state.inline_policy.as_deref().filter(|p| !p.trim().is_empty()) {
        Some(text) => {
            Some(serde_json::from_str::<Value>(text).map_err(|e| format!("its inline policy is not JSON ({e})"))?)
        }
        None => None,
    };
    let attributes = &state.attributes;
    let non_empty = |value: &Option<String>| value.clone().filter(|v| !v.is_empty());
    Ok(PermissionSetSpec {
        name: attributes.name.clone(),
        description: non_empty(&attributes.description),
        session_duration: non_empty(&attributes.session_duration),
        relay_state: non_empty(&attributes.relay_state),
        managed_policies: state.managed_policies.clone(),
        customer_managed_policies: state.customer_policies.iter().map(reference).collect(),
        inline_policy,
        permissions_boundary: state.boundary.as_ref().map(|b| match b {
            Boundary::Managed(arn) => {
                PermissionsBoundary { managed_policy_arn: Some(arn.clone()), customer_managed_policy: None }
            }
            Boundary::Customer(r) => {
                PermissionsBoundary { managed_policy_arn: None, customer_managed_policy: Some(reference(r)) }
            }
        }),
        tags,
    })
}

fn shown<T: std::fmt::Debug>(value: &Option<T>) -> String {
    value.as_ref().map_or_else(|| "(absent)".into(), |v| format!("{v:?}"))
}

/// Where AWS differs from the desired permission set (tags aside), as field paths.
pub fn policy_diffs(desired: &PermissionSetState, actual: &PermissionSetState) -> Vec<FieldDiff> {
    let mut diffs = Vec::new();
    let (want, have) = (&desired.attributes, &actual.attributes);
    if want.description.is_some() && want.description != have.description {
        diffs.push(FieldDiff::new("permissionSet.description", shown(&want.description), shown(&have.description)));
    }
    let session = |d: &Option<String>| d.as_deref().and_then(iso_duration);
    if want.session_duration.is_some() && session(&want.session_duration) != session(&have.session_duration) {
        diffs.push(FieldDiff::new(
            "permissionSet.sessionDuration",
            shown(&want.session_duration),
            shown(&have.session_duration),
        ));
    }
    if want.relay_state.is_some() && want.relay_state != have.relay_state {
        diffs.push(FieldDiff::new("permissionSet.relayState", shown(&want.relay_state), shown(&have.relay_state)));
    }
    if desired.managed_policies != actual.managed_policies {
        diffs.push(FieldDiff::new(
            "permissionSet.managedPolicies",
            desired.managed_policies.join(", "),
            actual.managed_policies.join(", "),
        ));
    }
    if desired.customer_policies != actual.customer_policies {
        let list =
            |refs: &[PolicyRef]| refs.iter().map(|r| format!("{}{}", r.path, r.name)).collect::<Vec<_>>().join(", ");
        diffs.push(FieldDiff::new(
            "permissionSet.customerManagedPolicies",
            list(&desired.customer_policies),
            list(&actual.customer_policies),
        ));
    }
    let inline_differs =
        !super::revocation::same_user_part(desired.inline_policy.as_deref(), actual.inline_policy.as_deref());
    if inline_differs {
        let summary =
            |p: &Option<String>| p.as_ref().map_or("(absent)".to_string(), |p| format!("{} characters", p.len()));
        diffs.push(FieldDiff::new(
            "permissionSet.inlinePolicy",
            summary(&desired.inline_policy),
            if actual.inline_policy.is_some() { "a different document".into() } else { summary(&actual.inline_policy) },
        ));
    }
    if desired.boundary != actual.boundary {
        diffs.push(FieldDiff::new(
            "permissionSet.permissionsBoundary",
            shown(&desired.boundary),
            shown(&actual.boundary),
        ));
    }
    diffs
}

/// Whether a change in these fields needs the permission set provisioned again.
pub fn needs_provisioning(diffs: &[FieldDiff]) -> bool {
    diffs.iter().any(|d| {
        matches!(
            d.path.as_str(),
            "permissionSet.sessionDuration"
                | "permissionSet.relayState"
                | "permissionSet.managedPolicies"
                | "permissionSet.customerManagedPolicies"
                | "permissionSet.inlinePolicy"
                | "permissionSet.permissionsBoundary"
                | "revocations"
                | "provisioning"
        )
    })
}

/// How an assignment's principal is written in the spec.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PrincipalSpec {
    /// By name, to resolve through the identity store.
    Named(PrincipalKind, String),
    /// By id.
    Id(PrincipalKind, String),
}

impl PrincipalSpec {
    /// The principal of a spec assignment (admission makes sure exactly one is set).
    pub fn of(assignment: &Assignment) -> PrincipalSpec {
        match assignment {
            Assignment { group: Some(name), .. } => PrincipalSpec::Named(PrincipalKind::Group, name.clone()),
            Assignment { user: Some(name), .. } => PrincipalSpec::Named(PrincipalKind::User, name.clone()),
            Assignment { group_id: Some(id), .. } => PrincipalSpec::Id(PrincipalKind::Group, id.clone()),
            Assignment { user_id: Some(id), .. } => PrincipalSpec::Id(PrincipalKind::User, id.clone()),
            _ => PrincipalSpec::Id(PrincipalKind::Group, String::new()),
        }
    }

    /// `group payroll-developers`, `user id 9067…`.
    pub fn label(&self) -> String {
        match self {
            PrincipalSpec::Named(kind, name) => format!("{} {name}", kind.as_str().to_lowercase()),
            PrincipalSpec::Id(kind, id) => format!("{} id {id}", kind.as_str().to_lowercase()),
        }
    }
}

/// An RFC 3339 time, or an Invalid error naming the field.
pub fn expiry(field: &str, text: &str) -> Result<Timestamp, Error> {
    text.parse::<Timestamp>()
        .map_err(|e| Error::invalid(format!("{field} {text:?} is not an RFC 3339 time with a zone: {e}")))
}

/// One (principal, account) the spec asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Wanted {
    /// Who.
    pub principal: Principal,
    /// As the spec names them.
    pub label: String,
    /// Where.
    pub account: String,
    /// When it ends, if it does.
    pub expires_at: Option<Timestamp>,
}

impl Wanted {
    /// Whether it has expired at `now`.
    pub fn expired(&self, now: Timestamp) -> bool {
        self.expires_at.is_some_and(|at| at <= now)
    }
}

/// What to change in the assignments.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AssignmentPlan {
    /// Wanted, not in AWS.
    pub create: Vec<Wanted>,
    /// In AWS, and expired.
    pub expire: Vec<(Principal, String, String)>,
    /// In AWS, not wanted (added out of band, or removed from the spec): principal, account.
    pub remove: Vec<(Principal, String)>,
}

/// Compares the wanted assignments with AWS's (`actual`: account → principals, for every
/// account orgops looked at). `keep` are principals never removed: those whose name did
/// not resolve this time, known by their last id.
pub fn assignment_plan(
    wanted: &[Wanted],
    actual: &BTreeMap<String, Vec<Principal>>,
    keep: &BTreeSet<Principal>,
    now: Timestamp,
) -> AssignmentPlan {
    let mut plan = AssignmentPlan::default();
    let has = |account: &str, principal: &Principal| actual.get(account).is_some_and(|list| list.contains(principal));
    for want in wanted {
        let present = has(&want.account, &want.principal);
        if want.expired(now) {
            let active =
                wanted.iter().any(|w| w.principal == want.principal && w.account == want.account && !w.expired(now));
            if present && !active {
                plan.expire.push((want.principal.clone(), want.account.clone(), want.label.clone()));
            }
        } else if !present && !plan.create.iter().any(|c| c.principal == want.principal && c.account == want.account) {
            plan.create.push(want.clone());
        }
    }
    for (account, principals) in actual {
        for principal in principals {
            let in_spec = wanted.iter().any(|w| w.principal == *principal && w.account == *account);
            if !in_spec && !keep.contains(principal) {
                plan.remove.push((principal.clone(), account.clone()));
            }
        }
    }
    plan
}

/// The differences an assignment plan makes, for the driver: expiries are scheduled
/// changes, the rest spec changes or drift.
pub fn assignment_diffs(plan: &AssignmentPlan) -> Vec<FieldDiff> {
    let mut diffs = Vec::new();
    for want in &plan.create {
        diffs.push(FieldDiff::new("assignments", format!("{} in {}", want.label, want.account), "(absent)"));
    }
    for (principal, account) in &plan.remove {
        diffs.push(FieldDiff::new(
            "assignments",
            "(absent)",
            format!("{} {} in {account}", principal.kind.as_str(), principal.id),
        ));
    }
    for (_, account, label) in &plan.expire {
        diffs.push(FieldDiff::scheduled("assignments", "(expired)", format!("{label} in {account}")));
    }
    diffs
}
