//! The AwsAccount decisions that need no AWS call: which alternate contact a field
//! names and how it differs, what a FAILED CreateAccount means, which listed requests
//! may be a lost CreateAccount's, and which tags an update writes.

use crate::aws::account::{ContactDetails, ContactType};
use crate::aws::organizations::CreateRequest;
use crate::reconcile::FieldDiff;
use orgops_api::account::{AlternateContacts, Contact};

/// The spec's contact of this type.
pub fn contact_of(spec: &AlternateContacts, kind: ContactType) -> Option<&Contact> {
    match kind {
        ContactType::Billing => spec.billing.as_ref(),
        ContactType::Operations => spec.operations.as_ref(),
        ContactType::Security => spec.security.as_ref(),
    }
}

/// The spec field of a contact type.
pub fn contact_field(kind: ContactType) -> &'static str {
    match kind {
        ContactType::Billing => "alternateContacts.billing",
        ContactType::Operations => "alternateContacts.operations",
        ContactType::Security => "alternateContacts.security",
    }
}

/// A spec contact as the Account Management API takes it.
pub fn details(contact: &Contact) -> ContactDetails {
    ContactDetails {
        name: contact.name.clone(),
        title: contact.title.clone(),
        email: contact.email.clone(),
        phone: contact.phone_number.clone(),
    }
}

/// The spec contact that asks for what the Account Management API holds.
pub fn contact(details: &ContactDetails) -> Contact {
    Contact {
        name: details.name.clone(),
        title: details.title.clone(),
        email: details.email.clone(),
        phone_number: details.phone.clone(),
    }
}

/// The spec's alternate contacts for those AWS holds; `None` when it holds none.
pub fn alternate_contacts(found: &[(ContactType, ContactDetails)]) -> Option<AlternateContacts> {
    let of = |kind: ContactType| found.iter().find(|(k, _)| *k == kind).map(|(_, d)| contact(d));
    let contacts = AlternateContacts {
        billing: of(ContactType::Billing),
        operations: of(ContactType::Operations),
        security: of(ContactType::Security),
    };
    (contacts != AlternateContacts::default()).then_some(contacts)
}

/// How AWS's contact differs from the spec's, shown as `name <email>`.
pub fn contact_diff(kind: ContactType, wanted: &Contact, actual: Option<&ContactDetails>) -> Option<FieldDiff> {
    if actual == Some(&details(wanted)) {
        return None;
    }
    let shown = actual.map(|a| format!("{} <{}>", a.name, a.email)).unwrap_or_else(|| "(absent)".into());
    Some(FieldDiff::new(contact_field(kind), format!("{} <{}>", wanted.name, wanted.email), shown))
}

/// What a FAILED CreateAccount means for the object.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FailedCreation {
    /// EMAIL_ALREADY_EXISTS: adopt the account if it is in this organization.
    AdoptByEmail,
    /// A limit or a concurrent change: create again later.
    Retry,
    /// Only a spec change helps.
    Terminal,
}

/// Classifies AWS's FailureReason.
pub fn failed_creation(reason: &str) -> FailedCreation {
    match reason {
        "EMAIL_ALREADY_EXISTS" => FailedCreation::AdoptByEmail,
        "ACCOUNT_LIMIT_EXCEEDED"
        | "CONCURRENT_ACCOUNT_MODIFICATION"
        | "INTERNAL_FAILURE"
        | "UPDATE_EXISTING_RESOURCE_POLICY_WITH_TAGS_NOT_SUPPORTED" => FailedCreation::Retry,
        _ => FailedCreation::Terminal,
    }
}

/// The listed requests that may be a lost CreateAccount's: same account name, made no
/// earlier than `since` (seconds), newest first.
pub fn creation_candidates(requests: &[CreateRequest], account_name: &str, since: i64) -> Vec<CreateRequest> {
    let mut candidates: Vec<CreateRequest> = requests
        .iter()
        .filter(|r| r.account_name == account_name && r.requested_at.is_none_or(|t| t >= since))
        .cloned()
        .collect();
    candidates.sort_by_key(|r| std::cmp::Reverse(r.requested_at));
    candidates
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aws::organizations::CreateState;

    fn request(id: &str, name: &str, at: Option<i64>) -> CreateRequest {
        CreateRequest { id: id.into(), account_name: name.into(), state: CreateState::InProgress, requested_at: at }
    }

    #[test]
    fn candidates_have_the_name_are_recent_enough_and_come_newest_first() {
        let requests = vec![
            request("old", "prod", Some(100)),
            request("other", "dev", Some(300)),
            request("new", "prod", Some(300)),
            request("mid", "prod", Some(200)),
            request("undated", "prod", None),
        ];
        let ids: Vec<String> = creation_candidates(&requests, "prod", 150).into_iter().map(|r| r.id).collect();
        assert_eq!(ids, ["new", "mid", "undated"]);
    }

    #[test]
    fn failure_reasons_are_classified() {
        assert_eq!(failed_creation("EMAIL_ALREADY_EXISTS"), FailedCreation::AdoptByEmail);
        assert_eq!(failed_creation("CONCURRENT_ACCOUNT_MODIFICATION"), FailedCreation::Retry);
        assert_eq!(failed_creation("INVALID_EMAIL"), FailedCreation::Terminal);
    }

    #[test]
    fn a_contact_differs_by_any_detail_and_shows_name_and_email() {
        let wanted = Contact {
            name: "Sec".into(),
            title: "Lead".into(),
            email: "sec@example.com".into(),
            phone_number: "+1 555 0100".into(),
        };
        assert_eq!(contact_diff(ContactType::Security, &wanted, Some(&details(&wanted))), None);
        let mut other = details(&wanted);
        other.phone = "+1 555 0199".into();
        let diff = contact_diff(ContactType::Security, &wanted, Some(&other)).unwrap();
        assert_eq!(
            diff,
            FieldDiff::new("alternateContacts.security", "Sec <sec@example.com>", "Sec <sec@example.com>")
        );
        let missing = contact_diff(ContactType::Billing, &wanted, None).unwrap();
        assert_eq!((missing.path.as_str(), missing.actual.as_str()), ("alternateContacts.billing", "(absent)"));
    }
}
