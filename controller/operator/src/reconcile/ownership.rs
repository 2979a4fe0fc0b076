//! Ownership: the tags by which an AWS resource names the object that owns it. They are
//! orgops's bookkeeping, not desired state a user wrote: an adopted resource gets them
//! when orgops may write (Event `Adopted`), their absence is no drift under
//! `ObserveOnly`, and once a resource is owned, losing them is drift like any other.
//! Every kind that tags its resources uses these rules.

use super::{Error, FieldDiff};
use kube::{Resource, ResourceExt};
use std::collections::{BTreeMap, BTreeSet};

/// Tag naming the object that owns an AWS resource (`namespace/name`).
pub const OWNER_TAG: &str = "orgops.dev/owner";
/// Tag holding the owning object's UID.
pub const UID_TAG: &str = "orgops.dev/uid";

/// Annotation by which an object names the existing AWS resource it takes over under
/// `managementPolicy: Full` (a permission set's ARN, a hosted zone's id): adoption written
/// in the object and reviewed with it, as `spec.accountId` is for an account.
pub const ADOPT_ANNOTATION: &str = "orgops.dev/adopt";

/// Tags as key → value.
pub type Tags = BTreeMap<String, String>;

/// Proof that an object owns the AWS resource it is about to delete: the one argument of
/// [`super::ManagedKind::delete`] a kind cannot make, so no path reaches a delete without
/// passing [`verify`].
#[derive(Debug)]
pub struct Owned(());

#[cfg(test)]
impl Owned {
    /// A proof for the kinds' unit tests, which call `delete` directly.
    pub fn for_tests() -> Self {
        Owned(())
    }
}

/// Why an object may not delete what its observe found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NotOwned {
    /// The object's persisted status never recorded that it created or adopted anything:
    /// it was refused, never got that far, or its status was lost.
    NeverRecorded,
    /// AWS does not carry this object's ownership tags (its UID): `paths` differ.
    NotTagged(Vec<String>),
    /// The resource was only found now, by what the spec names: naming is not owning.
    OnlyNamed(String),
}

impl std::fmt::Display for NotOwned {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NotOwned::NeverRecorded => f.write_str("this object never created or adopted anything in AWS"),
            NotOwned::NotTagged(paths) => {
                write!(f, "AWS does not record this object as its owner ({} differ)", paths.join(", "))
            }
            NotOwned::OnlyNamed(how) => write!(f, "this object only names it ({how}); it never owned it"),
        }
    }
}

/// The one ownership rule: an object owns a resource when its persisted status says it
/// created or adopted it (`owned_in_status`, as read from the API server, never as
/// recomputed in this pass) and AWS agrees: the resource was not linked just now by what
/// the spec names, and carries no ownership-tag difference.
pub fn verify(
    owned_in_status: Option<bool>,
    ownership_diffs: &[&FieldDiff],
    linked: Option<&super::Linked>,
) -> Result<Owned, NotOwned> {
    if owned_in_status != Some(true) {
        return Err(NotOwned::NeverRecorded);
    }
    if let Some(super::Linked::Adopted(how)) = linked {
        return Err(NotOwned::OnlyNamed(how.clone()));
    }
    if !ownership_diffs.is_empty() {
        return Err(NotOwned::NotTagged(ownership_diffs.iter().map(|d| d.path.clone()).collect()));
    }
    Ok(Owned(()))
}

/// `namespace/name` of the object, as the owner tag names it.
pub fn owner_of<R: Resource>(obj: &R) -> String {
    format!("{}/{}", obj.namespace().unwrap_or_default(), obj.name_any())
}

/// The ownership tags naming `obj`.
pub fn ownership_tags<R: Resource>(obj: &R) -> Tags {
    let mut tags = Tags::from([(OWNER_TAG.to_string(), owner_of(obj))]);
    // An object read from files (`orgops plan`) has no UID yet.
    if let Some(uid) = obj.uid() {
        tags.insert(UID_TAG.to_string(), uid);
    }
    tags
}

/// The tags the resource must carry: the spec's and, when orgops may write, its own.
pub fn desired_tags<R: Resource>(obj: &R, spec_tags: &Tags) -> Tags {
    let mut tags = spec_tags.clone();
    tags.extend(ownership_tags(obj));
    tags
}

/// Refuses a resource whose owner tag names another object, whatever the mode.
pub fn check_not_owned_by_another<R: Resource<DynamicType = ()>>(
    obj: &R,
    resource: &str,
    actual: &Tags,
) -> Result<(), Error> {
    match actual.get(OWNER_TAG) {
        Some(other) if *other != owner_of(obj) => {
            Err(Error::forbidden(format!("{resource} is managed by {} {other}", R::kind(&()))))
        }
        _ => Ok(()),
    }
}

/// Whether AWS's tags carry this object's UID: the resource is this object's own, even
/// if it was created by a previous process that died before recording it. An object read
/// from files (`orgops plan`) has no UID yet: the owner tag naming it stands for it.
pub fn carries_uid<R: Resource>(obj: &R, actual: &Tags) -> bool {
    match obj.uid() {
        Some(uid) => actual.get(UID_TAG) == Some(&uid),
        None => actual.get(OWNER_TAG) == Some(&owner_of(obj)),
    }
}

/// Whether the object's adopt annotation names this resource id.
pub fn names_for_adoption<R: Resource>(obj: &R, resource_id: &str) -> bool {
    obj.annotations().get(ADOPT_ANNOTATION).is_some_and(|named| named.trim() == resource_id)
}

/// The refusal of an existing resource the object does not own, with the two ways to
/// adopt it.
pub fn not_owned<R: Resource>(obj: &R, resource: &str, resource_id: &str) -> Error {
    Error::terminal(format!(
        "{resource} already exists and is not owned by this object: orgops never takes one over silently. To adopt \
         it, annotate the object {ADOPT_ANNOTATION}: {resource_id:?}, or tag the resource {OWNER_TAG}={} and \
         {UID_TAG}={}",
        owner_of(obj),
        obj.uid().unwrap_or_default()
    ))
}

/// The tag differences, one per key (`tags.<key>`): the spec's tags against AWS's, and
/// the ownership tags, marked as such, so the driver can tell adoption from drift.
pub fn tag_diffs<R: Resource>(obj: &R, spec_tags: &Tags, actual: &Tags) -> Vec<FieldDiff> {
    let own = ownership_tags(obj);
    let desired = desired_tags(obj, spec_tags);
    let keys: BTreeSet<&String> = desired.keys().chain(actual.keys()).collect();
    keys.into_iter()
        .filter(|k| desired.get(*k) != actual.get(*k))
        .filter(|k| obj.uid().is_some() || k.as_str() != UID_TAG)
        .map(|k| {
            let path = format!("tags.{k}");
            let wanted = desired.get(k).cloned().unwrap_or_else(|| "(absent)".into());
            let found = actual.get(k).cloned().unwrap_or_else(|| "(absent)".into());
            if own.contains_key(k) {
                FieldDiff::ownership(path, wanted, found)
            } else {
                FieldDiff::new(path, wanted, found)
            }
        })
        .collect()
}

/// For the `tags.<key>` differences, the tags to set and the keys to remove, so that an
/// update writes exactly those: under driftPolicy Report, taking ownership must not also
/// correct a drifted tag. Empty when no tag differs.
pub fn tag_changes(diffs: &[FieldDiff], desired: &Tags) -> (Tags, Vec<String>) {
    let keys: Vec<&str> = diffs.iter().filter_map(|d| d.path.strip_prefix("tags.")).collect();
    let to_set = keys.iter().filter_map(|k| Some((k.to_string(), desired.get(*k)?.clone()))).collect();
    let to_remove = keys.iter().filter(|k| !desired.contains_key(**k)).map(|k| k.to_string()).collect();
    (to_set, to_remove)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tag_changes_cover_only_the_keys_that_differ() {
        let desired: Tags = [("team", "payroll"), ("env", "prod")].map(|(k, v)| (k.into(), v.into())).into();
        let diffs = [FieldDiff::new("tags.team", "payroll", "x"), FieldDiff::new("tags.stray", "(absent)", "y")];
        let (to_set, to_remove) = tag_changes(&diffs, &desired);
        assert_eq!(to_set, [("team".to_string(), "payroll".to_string())].into());
        assert_eq!(to_remove, ["stray"]);
        assert_eq!(tag_changes(&[FieldDiff::new("accountName", "a", "b")], &desired), (Tags::new(), Vec::new()));
    }
    use orgops_api::AwsAccount;

    fn object() -> AwsAccount {
        serde_json::from_value(serde_json::json!({
            "apiVersion": "orgops.dev/v1alpha1", "kind": "AwsAccount",
            "metadata": {"name": "prod", "namespace": "payroll", "uid": "uid-1"},
            "spec": {"accountName": "prod", "email": "prod@example.com", "organizationalUnit": "Root"}
        }))
        .unwrap()
    }

    fn tags(pairs: &[(&str, &str)]) -> Tags {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn missing_ownership_tags_are_marked_apart_from_the_spec_s_tags() {
        let obj = object();
        let diffs =
            tag_diffs(&obj, &tags(&[("team", "payroll"), ("env", "prod")]), &tags(&[("team", "x"), ("stray", "y")]));
        let found: Vec<(&str, bool)> = diffs.iter().map(|d| (d.path.as_str(), d.ownership)).collect();
        assert_eq!(
            found,
            [
                ("tags.env", false),
                ("tags.orgops.dev/owner", true),
                ("tags.orgops.dev/uid", true),
                ("tags.stray", false),
                ("tags.team", false)
            ]
        );
    }

    #[test]
    fn a_resource_owned_by_this_object_has_no_differences() {
        let obj = object();
        let actual = tags(&[("team", "payroll"), (OWNER_TAG, "payroll/prod"), (UID_TAG, "uid-1")]);
        assert!(tag_diffs(&obj, &tags(&[("team", "payroll")]), &actual).is_empty());
        assert!(carries_uid(&obj, &actual));
        assert!(check_not_owned_by_another(&obj, "account 1", &actual).is_ok());
    }

    #[test]
    fn an_object_not_yet_stored_is_known_by_its_owner_tag() {
        let mut obj = object();
        obj.metadata.uid = None;
        let actual = tags(&[(OWNER_TAG, "payroll/prod"), (UID_TAG, "uid-1")]);
        assert!(carries_uid(&obj, &actual));
        assert!(tag_diffs(&obj, &Tags::new(), &actual).is_empty(), "its UID tag is not compared");
        assert!(!carries_uid(&obj, &tags(&[(OWNER_TAG, "billing/prod")])));
    }

    #[test]
    fn only_a_recorded_and_tagged_resource_is_owned() {
        let tag = FieldDiff::ownership("tags.orgops.dev/uid", "uid-1", "(absent)");
        let adopted = super::super::Linked::Adopted("named by spec.accountId".into());
        let created = super::super::Linked::Created("found after a restart".into());
        assert!(verify(Some(true), &[], None).is_ok());
        assert!(verify(Some(true), &[], Some(&created)).is_ok(), "its own creation, found again");
        assert_eq!(verify(None, &[], None).unwrap_err(), NotOwned::NeverRecorded, "status lost or never written");
        assert_eq!(verify(Some(false), &[], None).unwrap_err(), NotOwned::NeverRecorded, "observed only");
        assert!(matches!(verify(Some(true), &[], Some(&adopted)), Err(NotOwned::OnlyNamed(_))));
        assert_eq!(verify(Some(true), &[&tag], None).unwrap_err(), NotOwned::NotTagged(vec![tag.path.clone()]));
    }

    #[test]
    fn another_owner_is_refused() {
        let error =
            check_not_owned_by_another(&object(), "account 1", &tags(&[(OWNER_TAG, "billing/prod")])).unwrap_err();
        assert_eq!(error.reason.as_str(), "Forbidden");
        assert!(error.message.contains("managed by AwsAccount billing/prod"), "{}", error.message);
    }
}
