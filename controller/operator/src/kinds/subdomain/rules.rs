//! The SubdomainDelegation decisions that need no AWS call: the CallerReference of a
//! child zone, whether a parent NS record is this delegation's, which records keep a zone
//! from being deleted, and which of two objects claiming one domain wins.

use crate::aws::route53::RecordSet;

/// FNV-1a, 64 bits: a hash that is the same in every process and version.
fn fnv1a(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |hash, byte| (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3))
}

/// The CallerReference of the object's child zone: its UID, a hash of the domain, and
/// how many times the zone was recreated. A retried create after a lost answer uses the
/// same one, and a zone found by name is recognised as this object's by it.
pub fn caller_reference(uid: &str, domain: &str, generation: u32) -> String {
    format!("orgops-{uid}-{:016x}-{generation}", fnv1a(domain))
}

/// Whether a zone's CallerReference is one this object would have used, in any
/// generation.
pub fn is_own_caller_reference(reference: &str, uid: &str, domain: &str) -> bool {
    let prefix = format!("orgops-{uid}-{:016x}-", fnv1a(domain));
    reference.strip_prefix(&prefix).is_some_and(|generation| generation.parse::<u32>().is_ok())
}

/// Two lists of name servers hold the same servers, whatever the order and case.
pub fn same_servers(a: &[String], b: &[String]) -> bool {
    let normalize = |list: &[String]| {
        let mut list: Vec<String> = list.iter().map(|n| n.trim_end_matches('.').to_ascii_lowercase()).collect();
        list.sort();
        list
    };
    normalize(a) == normalize(b)
}

/// How the parent's NS record for the domain stands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Delegation {
    /// It points at the child's servers with the spec's TTL.
    InSync,
    /// There is none.
    Missing,
    /// It points at the child's servers with another TTL.
    OtherTtl(Option<i64>),
    /// It is orgops's (written before) but points elsewhere: drift.
    Changed(Vec<String>),
    /// It points elsewhere and orgops never wrote it: someone else's, never overwritten.
    Foreign(Vec<String>),
}

/// Judges the parent's NS record. `written` is whether orgops wrote the record in this
/// zone before (kept in status, so it survives restarts); a record holding exactly the
/// child's servers is orgops's in any case, since only the child zone has them.
pub fn delegation(record: Option<&RecordSet>, name_servers: &[String], ttl: i64, written: bool) -> Delegation {
    match record {
        None => Delegation::Missing,
        Some(r) if same_servers(&r.values, name_servers) => {
            if r.ttl == Some(ttl) {
                Delegation::InSync
            } else {
                Delegation::OtherTtl(r.ttl)
            }
        }
        Some(r) if written => Delegation::Changed(r.values.clone()),
        Some(r) => Delegation::Foreign(r.values.clone()),
    }
}

/// The records that keep a zone from being deleted: anything but its apex NS and SOA.
pub fn records_keeping_zone(records: &[RecordSet], domain: &str) -> Vec<String> {
    records
        .iter()
        .filter(|r| !(r.name == domain && (r.kind == "NS" || r.kind == "SOA")))
        .map(|r| format!("{} {}", r.name, r.kind))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ns(values: &[&str], ttl: i64) -> RecordSet {
        RecordSet {
            name: "payroll.example.com".into(),
            kind: "NS".into(),
            ttl: Some(ttl),
            values: values.iter().map(|v| v.to_string()).collect(),
        }
    }

    #[test]
    fn caller_references_are_stable_and_recognised_in_every_generation() {
        let first = caller_reference("uid-1", "payroll.example.com", 0);
        assert_eq!(first, caller_reference("uid-1", "payroll.example.com", 0));
        assert_ne!(first, caller_reference("uid-1", "payroll.example.com", 1));
        assert!(first.len() <= 128, "Route 53 takes up to 128 characters");
        assert!(is_own_caller_reference(
            &caller_reference("uid-1", "payroll.example.com", 3),
            "uid-1",
            "payroll.example.com"
        ));
        assert!(!is_own_caller_reference(&first, "uid-2", "payroll.example.com"));
        assert!(!is_own_caller_reference(&first, "uid-1", "billing.example.com"));
        assert!(!is_own_caller_reference("terraform-2024", "uid-1", "payroll.example.com"));
    }

    #[test]
    fn the_parent_record_is_judged_by_its_servers_and_who_wrote_it() {
        let servers = vec!["ns-1.awsdns.com".to_string(), "ns-2.awsdns.net".to_string()];
        assert_eq!(delegation(None, &servers, 300, true), Delegation::Missing);
        assert_eq!(
            delegation(Some(&ns(&["ns-2.awsdns.net", "ns-1.awsdns.com"], 300)), &servers, 300, false),
            Delegation::InSync
        );
        assert_eq!(
            delegation(Some(&ns(&["ns-1.awsdns.com", "ns-2.awsdns.net"], 60)), &servers, 300, true),
            Delegation::OtherTtl(Some(60))
        );
        let elsewhere = ns(&["ns.other.example"], 300);
        assert_eq!(
            delegation(Some(&elsewhere), &servers, 300, true),
            Delegation::Changed(vec!["ns.other.example".into()])
        );
        assert_eq!(
            delegation(Some(&elsewhere), &servers, 300, false),
            Delegation::Foreign(vec!["ns.other.example".into()])
        );
    }

    #[test]
    fn only_apex_ns_and_soa_leave_a_zone_deletable() {
        let mut records = vec![ns(&["a"], 300), RecordSet { kind: "SOA".into(), ..ns(&["b"], 900) }];
        assert!(records_keeping_zone(&records, "payroll.example.com").is_empty());
        records.push(RecordSet { name: "staging.payroll.example.com".into(), ..ns(&["c"], 300) });
        records.push(RecordSet { name: "www.payroll.example.com".into(), kind: "TXT".into(), ..ns(&["d"], 300) });
        assert_eq!(
            records_keeping_zone(&records, "payroll.example.com"),
            ["staging.payroll.example.com NS", "www.payroll.example.com TXT"]
        );
    }
}
