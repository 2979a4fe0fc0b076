//! What a fault-injecting proxy does to AWS calls on their way to moto: throttling and
//! server errors at a rate, latency, dropped connections, asynchronous operations held
//! IN_PROGRESS for a number of polls, and AWS's own quotas. Errors are written in each
//! service's protocol, so the SDK classifies them as AWS's would be (throttling, or a
//! transient server error) and retries them as it would in production.
//!
//! Quotas (the `quota` mode), as AWS documents them:
//! - Organizations: at most 5 CreateAccount requests in progress at once
//!   (<https://docs.aws.amazon.com/organizations/latest/userguide/orgs_reference_limits.html>):
//!   a creation is in progress from its CreateAccount until a status read shows it ended
//!   (or for 60 s). Organizations publishes no per-second rate for its operations; the
//!   proxy allows 10 a second for the whole API.
//! - Account Management: GetAlternateContact 10 a second (burst 15), PutAlternateContact
//!   5 a second (burst 8), per account
//!   (<https://docs.aws.amazon.com/accounts/latest/reference/quotas.html>).
//! - IAM Identity Center: 20 requests a second for the whole sso-admin API, and at most
//!   10 account assignments in progress
//!   (<https://docs.aws.amazon.com/singlesignon/latest/userguide/limits.html>).
//! - Route 53: 5 requests a second per account
//!   (<https://docs.aws.amazon.com/Route53/latest/DeveloperGuide/DNSLimitations.html#limits-api-requests>).
//! - CloudFormation StackSets: one operation per stack set at a time (moto, with the
//!   harness's extension, refuses a second one itself).

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// What to do to calls, as rates from 0 to 1.
#[derive(Clone, Debug, Default)]
pub struct Faults {
    /// Answered with the service's throttling error, never reaching moto.
    pub throttle: f64,
    /// Answered with a 500 or 503, never reaching moto.
    pub server_error: f64,
    /// Added before each call is forwarded.
    pub latency: Duration,
    /// The connection is dropped before the call is forwarded.
    pub reset: f64,
    /// Each asynchronous operation's status reads IN_PROGRESS (RUNNING, PENDING) this many
    /// times before moto's answer is shown.
    pub in_progress_polls: u32,
    /// Throttle what exceeds AWS's documented rates.
    pub quota: bool,
    /// Seed of the random draws, so a run can be repeated.
    pub seed: u64,
}

/// A call as the proxy sees it.
#[derive(Clone, Debug)]
pub struct Call {
    /// The SigV4 signing name (`organizations`, `sso`, `route53`…).
    pub service: String,
    pub operation: String,
    /// The access key that signed it: one per account for assumed member roles.
    pub caller: String,
    /// Identifies an asynchronous operation's status poll (its request id, in the body
    /// or the path).
    pub poll_key: String,
}

/// What happens to a call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    Forward,
    Throttle,
    ServerError,
    Reset,
}

/// The injected faults, counted.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Injected {
    pub throttled: u64,
    pub quota_throttled: u64,
    /// CreateAccount calls refused because 5 creations were in progress.
    pub creations_over_quota: u64,
    pub server_errors: u64,
    pub resets: u64,
    pub in_progress: u64,
}

struct Bucket {
    tokens: f64,
    rate: f64,
    burst: f64,
    at: Instant,
}

impl Bucket {
    fn take(&mut self, now: Instant) -> bool {
        self.tokens = (self.tokens + now.duration_since(self.at).as_secs_f64() * self.rate).min(self.burst);
        self.at = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// The documented rate of an operation (per second, burst) and whether it is counted per
/// calling account; `None` for no rate limit.
fn quota_of(service: &str, operation: &str) -> Option<(f64, f64, bool)> {
    match (service, operation) {
        ("organizations", _) => Some((10.0, 10.0, false)),
        ("account", "GetAlternateContact") => Some((10.0, 15.0, false)),
        ("account", "PutAlternateContact") => Some((5.0, 8.0, false)),
        ("account", _) => Some((1.0, 1.0, false)),
        ("sso", _) => Some((20.0, 20.0, false)),
        ("route53", _) => Some((5.0, 5.0, true)),
        _ => None,
    }
}

/// The decisions of one proxy: random draws, quota buckets, poll counts.
pub struct Injector {
    faults: Faults,
    rng: Mutex<fastrand::Rng>,
    buckets: Mutex<BTreeMap<String, Bucket>>,
    polls: Mutex<BTreeMap<String, u32>>,
    /// CreateAccount request ids in progress, since when.
    creating: Mutex<BTreeMap<String, Instant>>,
    pub injected: Mutex<Injected>,
}

/// Status polls of asynchronous operations, and the field that tells their state.
const POLLS: [&str; 6] = [
    "DescribeCreateAccountStatus",
    "DescribeAccountAssignmentCreationStatus",
    "DescribeAccountAssignmentDeletionStatus",
    "DescribePermissionSetProvisioningStatus",
    "GetChange",
    "DescribeStackSetOperation",
];

impl Injector {
    pub fn new(faults: Faults) -> Self {
        let rng = fastrand::Rng::with_seed(faults.seed);
        Injector {
            faults,
            rng: Mutex::new(rng),
            buckets: Mutex::new(BTreeMap::new()),
            polls: Mutex::new(BTreeMap::new()),
            creating: Mutex::new(BTreeMap::new()),
            injected: Mutex::new(Injected::default()),
        }
    }

    pub fn latency(&self) -> Duration {
        self.faults.latency
    }

    /// Whether AWS's quotas let the call through; `injected` counts what they refuse.
    fn within_quota(&self, call: &Call, injected: &mut Injected) -> bool {
        if call.operation == "CreateAccount" {
            let mut creating = self.creating.lock().unwrap();
            creating.retain(|_, since| since.elapsed() < Duration::from_secs(60));
            if creating.len() >= 5 {
                injected.creations_over_quota += 1;
                return false;
            }
        }
        let Some((rate, burst, per_caller)) = quota_of(&call.service, &call.operation) else { return true };
        let key = if per_caller { format!("{}:{}", call.service, call.caller) } else { call.service.clone() };
        let now = Instant::now();
        let mut buckets = self.buckets.lock().unwrap();
        let bucket = buckets.entry(key).or_insert(Bucket { tokens: burst, rate, burst, at: now });
        bucket.take(now)
    }

    /// The fate of a call before it is forwarded.
    pub fn verdict(&self, call: &Call) -> Verdict {
        let mut injected = self.injected.lock().unwrap();
        if self.faults.quota && !self.within_quota(call, &mut injected) {
            injected.quota_throttled += 1;
            return Verdict::Throttle;
        }
        let draw = self.rng.lock().unwrap().f64();
        let f = &self.faults;
        if draw < f.throttle {
            injected.throttled += 1;
            Verdict::Throttle
        } else if draw < f.throttle + f.server_error {
            injected.server_errors += 1;
            Verdict::ServerError
        } else if draw < f.throttle + f.server_error + f.reset {
            injected.resets += 1;
            Verdict::Reset
        } else {
            Verdict::Forward
        }
    }

    /// Keeps the count of account creations in progress from moto's answers (before any
    /// rewrite): a CreateAccount starts one, a status read that shows it ended ends it,
    /// whether the read is DescribeCreateAccountStatus or ListCreateAccountStatus (which
    /// is never rewritten: a request it shows ended has ended for its reader).
    pub fn observe(&self, call: &Call, body: &[u8], shown_in_progress: bool) {
        let id_and_state = |status: &serde_json::Value| -> Option<(String, String)> {
            Some((status.get("Id")?.as_str()?.to_string(), status.get("State")?.as_str()?.to_string()))
        };
        let json = || serde_json::from_slice::<serde_json::Value>(body).ok();
        let status = || json().and_then(|json| id_and_state(json.get("CreateAccountStatus")?));
        let mut creating = self.creating.lock().unwrap();
        match call.operation.as_str() {
            "CreateAccount" => {
                if let Some((id, _)) = status() {
                    creating.insert(id, Instant::now());
                }
            }
            "DescribeCreateAccountStatus" if !shown_in_progress => {
                if let Some((id, state)) = status()
                    && state != "IN_PROGRESS"
                {
                    creating.remove(&id);
                }
            }
            "ListCreateAccountStatus" => {
                let listed = json().and_then(|json| json.get("CreateAccountStatuses")?.as_array().cloned());
                for (id, state) in listed.unwrap_or_default().iter().filter_map(id_and_state) {
                    if state != "IN_PROGRESS" {
                        creating.remove(&id);
                    }
                }
            }
            _ => {}
        }
    }

    /// Moto's answer to a status poll, shown as still running for the first polls.
    pub fn rewrite(&self, call: &Call, body: &[u8]) -> Option<Vec<u8>> {
        if self.faults.in_progress_polls == 0 || !POLLS.contains(&call.operation.as_str()) {
            return None;
        }
        let key = format!("{}:{}", call.operation, call.poll_key);
        let mut polls = self.polls.lock().unwrap();
        let seen = polls.entry(key).or_default();
        if *seen >= self.faults.in_progress_polls {
            return None;
        }
        *seen += 1;
        let text = String::from_utf8_lossy(body);
        let rewritten = match call.operation.as_str() {
            "DescribeCreateAccountStatus" => {
                let mut json: serde_json::Value = serde_json::from_slice(body).ok()?;
                let status = json.get_mut("CreateAccountStatus")?.as_object_mut()?;
                (status.get("State")? == "SUCCEEDED").then_some(())?;
                status.insert("State".into(), "IN_PROGRESS".into());
                status.remove("AccountId");
                status.remove("CompletedTimestamp");
                serde_json::to_string(&json).ok()?
            }
            "GetChange" => text
                .contains("<Status>INSYNC</Status>")
                .then(|| text.replace("<Status>INSYNC</Status>", "<Status>PENDING</Status>"))?,
            "DescribeStackSetOperation" => text
                .contains("<Status>SUCCEEDED</Status>")
                .then(|| text.replace("<Status>SUCCEEDED</Status>", "<Status>RUNNING</Status>"))?,
            _ => {
                let mut json: serde_json::Value = serde_json::from_slice(body).ok()?;
                let status = json.as_object_mut()?.values_mut().find_map(|v| v.as_object_mut())?;
                (status.get("Status")? == "SUCCEEDED").then_some(())?;
                status.insert("Status".into(), "IN_PROGRESS".into());
                serde_json::to_string(&json).ok()?
            }
        };
        self.injected.lock().unwrap().in_progress += 1;
        Some(rewritten.into_bytes())
    }
}

/// The throttling error code each service answers with.
fn throttling_code(service: &str) -> &'static str {
    match service {
        "organizations" | "account" => "TooManyRequestsException",
        "sso" | "identitystore" => "ThrottlingException",
        _ => "Throttling",
    }
}

/// An error answer in the protocol of the call's service: status, headers, body.
pub fn error_answer(service: &str, throttled: bool) -> (u16, Vec<(&'static str, String)>, String) {
    let (status, code, message) = if throttled {
        (400, throttling_code(service), "Rate exceeded")
    } else {
        (503, "ServiceUnavailable", "Service is unavailable, injected by the fault proxy")
    };
    match service {
        // JSON protocols (awsJson1_1): the code in `__type`.
        "organizations" | "sso" | "identitystore" => (
            status,
            vec![("content-type", "application/x-amz-json-1.1".into())],
            serde_json::json!({"__type": code, "message": message}).to_string(),
        ),
        // REST-JSON: the code in a header.
        "account" => (
            if throttled { 429 } else { status },
            vec![("content-type", "application/json".into()), ("x-amzn-errortype", code.into())],
            serde_json::json!({"message": message}).to_string(),
        ),
        // Query and REST-XML protocols.
        _ => (
            status,
            vec![("content-type", "text/xml".into())],
            format!(
                "<ErrorResponse><Error><Type>{}</Type><Code>{code}</Code><Message>{message}</Message></Error>\
                 <RequestId>injected</RequestId></ErrorResponse>",
                if throttled { "Sender" } else { "Receiver" }
            ),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(service: &str, operation: &str) -> Call {
        Call { service: service.into(), operation: operation.into(), caller: "AKIA1".into(), poll_key: "car-1".into() }
    }

    #[test]
    fn a_creation_a_listing_shows_ended_frees_its_place_in_the_quota() {
        let injector = Injector::new(Faults { quota: true, ..Faults::default() });
        let create = call("organizations", "CreateAccount");
        let started = |id: &str| format!(r#"{{"CreateAccountStatus":{{"Id":"{id}","State":"IN_PROGRESS"}}}}"#);
        for i in 0..5 {
            assert_eq!(injector.verdict(&create), Verdict::Forward);
            injector.observe(&create, started(&format!("car-{i}")).as_bytes(), false);
        }
        assert_eq!(injector.verdict(&create), Verdict::Throttle, "five in progress: the sixth is refused");
        let listing =
            r#"{"CreateAccountStatuses":[{"Id":"car-0","State":"SUCCEEDED"},{"Id":"car-1","State":"IN_PROGRESS"}]}"#;
        injector.observe(&call("organizations", "ListCreateAccountStatus"), listing.as_bytes(), false);
        assert_eq!(injector.verdict(&create), Verdict::Forward, "car-0 ended: a place is free");
    }

    #[test]
    fn rates_are_drawn_and_counted() {
        let injector = Injector::new(Faults { throttle: 0.2, server_error: 0.05, seed: 7, ..Faults::default() });
        let verdicts: Vec<Verdict> = (0..10_000).map(|_| injector.verdict(&call("sso", "ListInstances"))).collect();
        let throttled = verdicts.iter().filter(|v| **v == Verdict::Throttle).count();
        let errors = verdicts.iter().filter(|v| **v == Verdict::ServerError).count();
        assert!((1_800..2_200).contains(&throttled), "{throttled}");
        assert!((350..650).contains(&errors), "{errors}");
        assert_eq!(injector.injected.lock().unwrap().throttled, throttled as u64);
    }

    #[test]
    fn quota_mode_throttles_above_the_documented_rate_per_account_for_route53() {
        let injector = Injector::new(Faults { quota: true, ..Faults::default() });
        let burst: Vec<Verdict> = (0..7).map(|_| injector.verdict(&call("route53", "ListHostedZones"))).collect();
        assert_eq!(burst.iter().filter(|v| **v == Verdict::Forward).count(), 5);
        let other = Call { caller: "AKIA2".into(), ..call("route53", "ListHostedZones") };
        assert_eq!(injector.verdict(&other), Verdict::Forward, "another account has its own rate");
    }

    #[test]
    fn a_status_reads_in_progress_for_the_first_polls() {
        let injector = Injector::new(Faults { in_progress_polls: 2, ..Faults::default() });
        let answer = br#"{"CreateAccountStatus":{"Id":"car-1","State":"SUCCEEDED","AccountId":"111100000001"}}"#;
        let poll = call("organizations", "DescribeCreateAccountStatus");
        for _ in 0..2 {
            let shown: serde_json::Value = serde_json::from_slice(&injector.rewrite(&poll, answer).unwrap()).unwrap();
            assert_eq!(shown["CreateAccountStatus"]["State"], "IN_PROGRESS");
            assert!(shown["CreateAccountStatus"].get("AccountId").is_none());
        }
        assert_eq!(injector.rewrite(&poll, answer), None, "then moto's answer");
        let change = call("route53", "GetChange");
        let rewritten = injector.rewrite(&change, b"<ChangeInfo><Status>INSYNC</Status></ChangeInfo>").unwrap();
        assert_eq!(String::from_utf8(rewritten).unwrap(), "<ChangeInfo><Status>PENDING</Status></ChangeInfo>");
        let assignment = call("sso", "DescribeAccountAssignmentCreationStatus");
        let body = br#"{"AccountAssignmentCreationStatus":{"Status":"SUCCEEDED","RequestId":"r"}}"#;
        let shown: serde_json::Value = serde_json::from_slice(&injector.rewrite(&assignment, body).unwrap()).unwrap();
        assert_eq!(shown["AccountAssignmentCreationStatus"]["Status"], "IN_PROGRESS");
    }
}
