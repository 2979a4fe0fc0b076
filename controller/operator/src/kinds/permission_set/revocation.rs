//! Temporary access that really ends. Removing an assignment stops new sign-ins, but the
//! sessions already issued through it keep working for the permission set's session
//! duration. AWS documents the way to end them ("Revoke active IAM role sessions created
//! by permission sets", IAM Identity Center user guide; "Revoke IAM role temporary
//! security credentials", IAM user guide): an explicit Deny of every action in the
//! permission set's inline policy, for the user's `identitystore:UserId`, the account
//! (`aws:PrincipalAccount`) and sessions issued before the end (`aws:TokenIssueTime`), so
//! that a later re-grant is not affected. orgops keeps its statements apart from the
//! user's inline policy (by their Sid), merges them per account and end, and drops each
//! once every session it covers has expired.

use k8s_openapi::jiff::{SignedDuration, Timestamp};
use orgops_api::permission_set::SessionRevocation;
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};

/// The Sid of every statement orgops writes for a revocation, then a number.
pub const SID_PREFIX: &str = "OrgopsRevokeSessions";

/// IAM: "the total size of all inline policies of a role cannot exceed 10,240
/// characters", whitespace not counted (IAM and AWS STS quotas, IAM user guide). The
/// role a permission set provisions carries its inline policy.
pub const ROLE_INLINE_POLICY_LIMIT: usize = 10_240;

/// Kept beyond the last session's expiry: clock skew, and the minutes AWS documents a
/// policy change may take to apply.
pub const MARGIN: SignedDuration = SignedDuration::from_mins(5);

/// How long after its end a revocation is held: the permission set's session duration
/// (the longest a session issued before the end can last), plus [`MARGIN`].
pub fn hold(session: Option<&str>) -> SignedDuration {
    session_duration(session) + MARGIN
}

/// A revocation due now: `users` lost the permission set in `account` at `ended`.
pub fn revocation(
    principal: &str,
    account: &str,
    users: BTreeSet<String>,
    ended: Timestamp,
    hold: SignedDuration,
) -> SessionRevocation {
    SessionRevocation {
        principal: principal.to_string(),
        account_id: account.to_string(),
        user_ids: users.into_iter().collect(),
        issued_before: ended.to_string(),
        held_until: (ended + hold).to_string(),
    }
}

/// Whether the revocation still holds at `now`.
pub fn holds(revocation: &SessionRevocation, now: Timestamp) -> bool {
    revocation.held_until.parse::<Timestamp>().is_ok_and(|until| until > now) && !revocation.user_ids.is_empty()
}

/// The statements that the revocations holding at `now` need: one per account and end,
/// with every user denied there for sessions issued before that end.
pub fn statements(revocations: &[SessionRevocation], now: Timestamp) -> Vec<Value> {
    let mut merged: BTreeMap<(&str, &str), BTreeSet<&str>> = BTreeMap::new();
    for r in revocations.iter().filter(|r| holds(r, now)) {
        merged.entry((&r.account_id, &r.issued_before)).or_default().extend(r.user_ids.iter().map(String::as_str));
    }
    merged
        .into_iter()
        .enumerate()
        .map(|(index, ((account, before), users))| {
            json!({
                "Sid": format!("{SID_PREFIX}{index}"),
                "Effect": "Deny",
                "Action": "*",
                "Resource": "*",
                "Condition": {
                    "StringEquals": {"identitystore:UserId": users, "aws:PrincipalAccount": account},
                    "DateLessThan": {"aws:TokenIssueTime": before}
                }
            })
        })
        .collect()
}

/// An inline policy's statements: the user's, and orgops's revocations.
pub fn split(document: Option<&str>) -> (Vec<Value>, Vec<Value>) {
    let Some(parsed) = document.and_then(|d| serde_json::from_str::<Value>(d).ok()) else {
        return (Vec::new(), Vec::new());
    };
    let statements = match &parsed["Statement"] {
        Value::Array(list) => list.clone(),
        Value::Null => Vec::new(),
        one => vec![one.clone()],
    };
    statements.into_iter().partition(|s| !s["Sid"].as_str().is_some_and(|sid| sid.starts_with(SID_PREFIX)))
}

/// The inline policy to write: the user's document with orgops's statements after its
/// own; `None` when both are empty. Fails, naming the sizes, when it would exceed
/// [`ROLE_INLINE_POLICY_LIMIT`].
pub fn merged(user_document: Option<&str>, revocations: Vec<Value>) -> Result<Option<String>, String> {
    if revocations.is_empty() {
        return Ok(user_document.map(str::to_string));
    }
    let (user, _) = split(user_document);
    let version = user_document
        .and_then(|d| serde_json::from_str::<Value>(d).ok())
        .and_then(|d| d["Version"].as_str().map(str::to_string))
        .unwrap_or_else(|| "2012-10-17".into());
    let count = revocations.len();
    let mut statement = user;
    statement.extend(revocations);
    let document = json!({"Version": version, "Statement": statement}).to_string();
    let size = document.chars().filter(|c| !c.is_whitespace()).count();
    if size > ROLE_INLINE_POLICY_LIMIT {
        return Err(format!(
            "the inline policy with {count} session revocations would be {size} characters, over IAM's limit of \
             {ROLE_INLINE_POLICY_LIMIT} for a role's inline policies"
        ));
    }
    Ok(Some(document))
}

/// Whether the user's part of AWS's inline policy is the spec's document: orgops's
/// statements are compared on their own.
pub fn same_user_part(desired: Option<&str>, actual: Option<&str>) -> bool {
    let (user, orgops) = split(actual);
    if orgops.is_empty() {
        let parsed = |d: &str| serde_json::from_str::<Value>(d).ok();
        return match (desired, actual) {
            (Some(want), Some(have)) => match (parsed(want), parsed(have)) {
                (Some(a), Some(b)) => a == b,
                _ => want == have,
            },
            (None, None) => true,
            _ => false,
        };
    }
    split(desired).0 == user
}

/// The revocations holding at `now`, naming each principal and account, for the Event.
pub fn describe_holding(revocations: &[SessionRevocation], now: Timestamp) -> String {
    let parts: Vec<String> = revocations
        .iter()
        .filter(|r| holds(r, now))
        .map(|r| {
            format!(
                "{} in {} ({} users, sessions issued before {}, until {})",
                r.principal,
                r.account_id,
                r.user_ids.len(),
                r.issued_before,
                r.held_until
            )
        })
        .collect();
    if parts.is_empty() { "(none)".into() } else { format!("deny the sessions of {}", parts.join("; ")) }
}

/// The revocation statements as a short text, for differences and Events.
pub fn describe(statements: &[Value]) -> String {
    if statements.is_empty() {
        return "(none)".into();
    }
    let parts: Vec<String> = statements
        .iter()
        .map(|s| {
            let condition = &s["Condition"];
            let users = match &condition["StringEquals"]["identitystore:UserId"] {
                Value::Array(list) => list.len(),
                _ => 1,
            };
            format!(
                "{users} users in {} before {}",
                condition["StringEquals"]["aws:PrincipalAccount"].as_str().unwrap_or("?"),
                condition["DateLessThan"]["aws:TokenIssueTime"].as_str().unwrap_or("?")
            )
        })
        .collect();
    format!("deny sessions of {}", parts.join("; "))
}

/// Whether AWS's statements are the ones wanted (their order and Sids aside).
pub fn same(wanted: &[Value], actual: &[Value]) -> bool {
    let key = |list: &[Value]| -> BTreeSet<String> {
        list.iter()
            .map(|s| {
                let mut s = s.clone();
                if let Some(map) = s.as_object_mut() {
                    map.remove("Sid");
                }
                s.to_string()
            })
            .collect()
    };
    key(wanted) == key(actual)
}

/// A permission set's session duration (ISO 8601, `PT1H` to `PT12H`); AWS's default of
/// one hour when absent or unreadable.
pub fn session_duration(text: Option<&str>) -> SignedDuration {
    let parse = |t: &str| -> Option<SignedDuration> {
        let rest = t.strip_prefix("PT")?;
        let (mut hours, mut minutes) = (0i64, 0i64);
        let mut number = String::new();
        for c in rest.chars() {
            match c {
                '0'..='9' => number.push(c),
                'H' => hours = std::mem::take(&mut number).parse().ok()?,
                'M' => minutes = std::mem::take(&mut number).parse().ok()?,
                _ => return None,
            }
        }
        number.is_empty().then(|| SignedDuration::from_hours(hours) + SignedDuration::from_mins(minutes))
    };
    text.and_then(parse).unwrap_or(SignedDuration::from_hours(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> Timestamp {
        text.parse().unwrap()
    }

    fn users(ids: &[&str]) -> BTreeSet<String> {
        ids.iter().map(|i| i.to_string()).collect()
    }

    #[test]
    fn a_statement_denies_exactly_the_user_the_account_and_sessions_before_the_end() {
        let ended = at("2026-12-07T10:00:00Z");
        let r = revocation("user jdoe", "111122223333", users(&["u-1"]), ended, hold(Some("PT4H")));
        assert_eq!(r.held_until, "2026-12-07T14:05:00Z", "the end, the session duration and the margin");
        let list = statements(&[r], at("2026-12-07T10:00:01Z"));
        assert_eq!(
            list,
            [json!({
                "Sid": "OrgopsRevokeSessions0", "Effect": "Deny", "Action": "*", "Resource": "*",
                "Condition": {
                    "StringEquals": {"identitystore:UserId": ["u-1"], "aws:PrincipalAccount": "111122223333"},
                    "DateLessThan": {"aws:TokenIssueTime": "2026-12-07T10:00:00Z"}
                }
            })]
        );
    }

    #[test]
    fn revocations_merge_per_account_and_end_and_go_after_their_window() {
        let ended = at("2026-12-07T10:00:00Z");
        let hour = hold(Some("PT1H"));
        let all = [
            revocation("user a", "111122223333", users(&["u-a"]), ended, hour),
            revocation("group devs", "111122223333", users(&["u-b", "u-a"]), ended, hour),
            revocation("user a", "444455556666", users(&["u-a"]), ended, hour),
            revocation("user c", "111122223333", users(&["u-c"]), ended + SignedDuration::from_hours(1), hour),
        ];
        let list = statements(&all, at("2026-12-07T10:30:00Z"));
        assert_eq!(list.len(), 3, "one per account and end: {list:#?}");
        assert_eq!(list[0]["Condition"]["StringEquals"]["identitystore:UserId"], json!(["u-a", "u-b"]));
        assert!(list[2]["Condition"]["StringEquals"]["aws:PrincipalAccount"] == "444455556666");
        // After the end plus the hour of sessions plus the margin, the first three go.
        let later = statements(&all, at("2026-12-07T11:05:01Z"));
        assert_eq!(later.len(), 1, "{later:#?}");
        assert_eq!(later[0]["Sid"], "OrgopsRevokeSessions0");
        assert!(statements(&all, at("2026-12-07T12:06:00Z")).is_empty());
        let nobody = revocation("group empty", "111122223333", BTreeSet::new(), ended, hour);
        assert!(statements(&[nobody], ended).is_empty(), "a group with no member denies nobody");
    }

    #[test]
    fn the_user_s_inline_policy_and_orgops_s_statements_are_kept_apart() {
        let user = r#"{"Version": "2012-10-17", "Statement": [{"Sid": "Deploy", "Effect": "Allow", "Action": "ecs:*", "Resource": "*"}]}"#;
        let revoked = statements(
            &[revocation("user a", "111122223333", users(&["u-a"]), at("2026-12-07T10:00:00Z"), hold(None))],
            at("2026-12-07T10:00:00Z"),
        );
        let document = merged(Some(user), revoked.clone()).unwrap().unwrap();
        let (mine, orgops) = split(Some(&document));
        assert_eq!(mine.len(), 1);
        assert_eq!(mine[0]["Sid"], "Deploy");
        assert!(same(&orgops, &revoked));
        assert_eq!(
            merged(Some(user), Vec::new()).unwrap().as_deref(),
            Some(user),
            "no revocation: the user's as written"
        );
        assert_eq!(merged(None, Vec::new()).unwrap(), None);
        assert!(same_user_part(Some(user), Some(&document)), "orgops's statements are not the user's drift");
        let edited = user.replace("ecs:*", "s3:*");
        assert!(!same_user_part(Some(&edited), Some(&document)), "the user's document changed");
        assert!(same_user_part(None, Some(&merged(None, revoked.clone()).unwrap().unwrap())));
        let alone = merged(None, revoked).unwrap().unwrap();
        assert_eq!(split(Some(&alone)).0.len(), 0);
    }

    #[test]
    fn a_revocation_that_cannot_fit_is_refused_loudly() {
        let many: Vec<SessionRevocation> = (0..200)
            .map(|i| {
                let ended = at("2026-12-07T10:00:00Z") + SignedDuration::from_secs(i);
                let user = format!("{i:08}-aaaa-bbbb-cccc-dddddddddddd");
                revocation("user x", "111122223333", BTreeSet::from([user]), ended, hold(None))
            })
            .collect();
        let error = merged(None, statements(&many, at("2026-12-07T10:00:00Z"))).unwrap_err();
        assert!(error.contains("over IAM's limit of 10240"), "{error}");
    }

    #[test]
    fn session_durations_read_as_iso_8601() {
        assert_eq!(session_duration(Some("PT4H")), SignedDuration::from_hours(4));
        assert_eq!(session_duration(Some("PT1H30M")), SignedDuration::from_mins(90));
        assert_eq!(session_duration(None), SignedDuration::from_hours(1));
        assert_eq!(session_duration(Some("P1D")), SignedDuration::from_hours(1), "unreadable: AWS's default");
    }
}
