//! The flags of `orgops run`, and the AWS rate limits every command that calls AWS takes.

use crate::aws::CallGate;
use crate::aws::limits::RateLimiter;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// Options of `orgops run`.
#[derive(clap::Args, Debug)]
pub struct RunArgs {
    /// Address of the /metrics, /healthz and /readyz endpoints.
    #[arg(long, env = "ORGOPS_HTTP_ADDR", default_value = "0.0.0.0:8080")]
    pub http_addr: SocketAddr,
    /// The platform policy file (YAML). Without one, no namespace is granted anything.
    #[arg(long, env = "ORGOPS_POLICY_FILE")]
    pub policy_file: Option<PathBuf>,
    /// How often every object is compared with AWS; drift is corrected within it.
    /// Default 5m; 24h with --change-queue-url, where the feed finds drift in seconds and
    /// the resync is the safety net.
    #[arg(long, env = "ORGOPS_RESYNC", value_parser = parse_duration)]
    pub resync: Option<Duration>,
    /// The SQS queue of the change feed (CloudTrail events through EventBridge, see
    /// manifests/aws/change-feed.yaml). Off by default.
    #[arg(long, env = "ORGOPS_CHANGE_QUEUE_URL")]
    pub change_queue_url: Option<String>,
    /// With the change feed: the resync while the feed has delivered nothing, not even its
    /// heartbeat, for --change-feed-silence, or its queue cannot be read.
    #[arg(long, env = "ORGOPS_FALLBACK_RESYNC", default_value = "5m", value_parser = parse_duration)]
    pub fallback_resync: Duration,
    /// How long the change feed may stay silent before orgops falls back to
    /// --fallback-resync (the feed's heartbeat comes every 5 minutes).
    #[arg(long, env = "ORGOPS_CHANGE_FEED_SILENCE", default_value = "15m", value_parser = parse_duration)]
    pub change_feed_silence: Duration,
    /// Watch only this namespace (default: all namespaces).
    #[arg(long, env = "ORGOPS_NAMESPACE")]
    pub namespace: Option<String>,
    /// Reconcile only the objects matching this label selector (default: every object),
    /// for instance to try a new version on a few objects beside the installed one.
    #[arg(long, env = "ORGOPS_SELECTOR")]
    pub selector: Option<String>,
    /// Objects of one kind reconciled at once.
    #[arg(long, env = "ORGOPS_CONCURRENCY", default_value_t = 16)]
    pub concurrency: u16,
    /// Of those, how many may be periodic re-checks: changes always find a free worker,
    /// and wait behind at most this many re-checks for an AWS rate limit.
    #[arg(long, env = "ORGOPS_RECHECK_CONCURRENCY", default_value_t = 4)]
    pub recheck_concurrency: u16,
    /// Elect a leader through a Lease, so that of several replicas only one reconciles.
    #[arg(long, env = "ORGOPS_LEADER_ELECTION", default_value_t = true, action = clap::ArgAction::Set)]
    pub leader_election: bool,
    /// Namespace of the leader Lease (default: POD_NAMESPACE, else --namespace, else
    /// `default`).
    #[arg(long, env = "ORGOPS_LEASE_NAMESPACE")]
    pub lease_namespace: Option<String>,
    /// How long the leader Lease is valid without renewal: a standby takes over this long
    /// after the leader stopped.
    #[arg(long, env = "ORGOPS_LEASE_DURATION", default_value = "15s", value_parser = parse_duration)]
    pub lease_duration: Duration,
    /// How long a CreateAccount whose answer was lost may take to show up in AWS's list of
    /// requests before orgops concludes it never reached AWS and creates the account.
    #[arg(long, env = "ORGOPS_UNCONFIRMED_CREATE_GRACE", default_value = "60s", value_parser = parse_duration)]
    pub unconfirmed_create_grace: Duration,
    /// The IAM Identity Center instance (default: the one ListInstances finds).
    #[arg(long, env = "ORGOPS_SSO_INSTANCE_ARN", requires = "identity_store_id")]
    pub sso_instance_arn: Option<String>,
    /// The instance's identity store (with --sso-instance-arn).
    #[arg(long, env = "ORGOPS_IDENTITY_STORE_ID", requires = "sso_instance_arn")]
    pub identity_store_id: Option<String>,
    /// The role orgops assumes in a member account to act there.
    #[arg(long, env = "ORGOPS_MEMBER_ROLE_NAME", default_value = "OrganizationAccountAccessRole")]
    pub member_role_name: String,
    /// A role assumed first, whose credentials then assume the member roles (a security
    /// or hub account's role).
    #[arg(long, env = "ORGOPS_HUB_ROLE_ARN")]
    pub hub_role_arn: Option<String>,
    /// Client-side AWS rate limits.
    #[command(flatten)]
    pub limits: RateLimits,
    /// How soon an object waiting on AWS (an account being created, an assignment or a
    /// stack set operation in progress) is looked at again.
    #[arg(long, env = "ORGOPS_POLL_INTERVAL", default_value = "5s", value_parser = parse_duration)]
    pub poll_interval: Duration,
    /// How often CloudFormation is asked to detect drift in a SecurityBaseline's stack
    /// instances (DetectStackSetDrift: an operation per stack set, so rarely).
    #[arg(long, env = "ORGOPS_STACK_SET_DRIFT_INTERVAL", default_value = "24h", value_parser = parse_duration)]
    pub stack_set_drift_interval: Duration,
    /// How long the Deny of an ended assignment's sessions is held after the end. Default:
    /// the permission set's session duration plus 5 minutes, the longest such a session
    /// can live; a shorter value is for tests, and leaves sessions alive.
    #[arg(long, env = "ORGOPS_SESSION_REVOCATION_HOLD", value_parser = parse_duration)]
    pub session_revocation_hold: Option<Duration>,
}

/// Parses `90s`, `5m`, `1h` or a plain number of seconds.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let (number, unit) =
        text.trim().split_at(text.trim().find(|c: char| !c.is_ascii_digit()).unwrap_or(text.trim().len()));
    let value: u64 = number.parse().map_err(|_| format!("{text:?} is not a duration like 90s, 5m or 1h"))?;
    let seconds = match unit {
        "" | "s" => value,
        "m" => value * 60,
        "h" => value * 3600,
        _ => return Err(format!("{text:?} is not a duration like 90s, 5m or 1h")),
    };
    if seconds == 0 {
        return Err("a duration must be positive".into());
    }
    Ok(Duration::from_secs(seconds))
}

/// Client-side AWS rate limits, in calls per second. Each default is at or under the
/// quota AWS documents, so orgops alone is never throttled; several controllers, or
/// other automation, sharing an account share its quota and should lower theirs.
#[derive(clap::Args, Clone, Debug, PartialEq)]
pub struct RateLimits {
    /// Organizations reads (List*, Describe*), every read operation together: AWS
    /// throttles Organizations per account, not per operation.
    #[arg(long, env = "ORGOPS_ORGANIZATIONS_READ_RATE", default_value_t = 8.0)]
    pub organizations_read_rate: f64,
    /// Organizations writes (MoveAccount, TagResource, UntagResource), together.
    #[arg(long, env = "ORGOPS_ORGANIZATIONS_WRITE_RATE", default_value_t = 2.0)]
    pub organizations_write_rate: f64,
    /// CreateAccount calls, with bursts of 5: AWS allows 5 account creations in progress
    /// at once, and a creation takes minutes.
    #[arg(long, env = "ORGOPS_CREATE_ACCOUNT_RATE", default_value_t = 1.0)]
    pub create_account_rate: f64,
    /// CreateAccount requests in progress at once (AWS: 5).
    #[arg(long, env = "ORGOPS_CREATE_ACCOUNT_CONCURRENCY", default_value_t = crate::kinds::account::DEFAULT_CREATES_IN_FLIGHT, value_parser = clap::value_parser!(u16).range(1..))]
    pub create_account_concurrency: u16,
    /// CreateAccountAssignment requests in progress at once (Identity Center: 10).
    #[arg(long, env = "ORGOPS_ASSIGNMENT_CONCURRENCY", default_value_t = crate::kinds::permission_set::DEFAULT_ASSIGNMENTS_IN_FLIGHT, value_parser = clap::value_parser!(u16).range(1..))]
    pub assignment_concurrency: u16,
    /// CloseAccount calls (AWS closes at most 10% of the accounts in 30 days).
    #[arg(long, env = "ORGOPS_CLOSE_ACCOUNT_RATE", default_value_t = 1.0)]
    pub close_account_rate: f64,
    /// Account Management GetAlternateContact (AWS: 10 a second per account).
    #[arg(long, env = "ORGOPS_ACCOUNT_READ_RATE", default_value_t = 8.0)]
    pub account_read_rate: f64,
    /// Account Management PutAlternateContact and PutAccountName (AWS: 5 and 1 a second).
    #[arg(long, env = "ORGOPS_ACCOUNT_WRITE_RATE", default_value_t = 1.0)]
    pub account_write_rate: f64,
    /// IAM Identity Center sso-admin calls, all operations together (AWS: 20 a second).
    #[arg(long, env = "ORGOPS_SSO_RATE", default_value_t = 20.0)]
    pub sso_rate: f64,
    /// Identity Store calls (name lookups).
    #[arg(long, env = "ORGOPS_IDENTITYSTORE_RATE", default_value_t = 10.0)]
    pub identitystore_rate: f64,
    /// Route 53 requests, all accounts together (AWS: 5 a second per account).
    #[arg(long, env = "ORGOPS_ROUTE53_RATE", default_value_t = 5.0)]
    pub route53_rate: f64,
    /// CloudFormation StackSets calls.
    #[arg(long, env = "ORGOPS_CLOUDFORMATION_RATE", default_value_t = 5.0)]
    pub cloudformation_rate: f64,
}

impl Default for RateLimits {
    fn default() -> Self {
        use clap::Parser;
        #[derive(Parser)]
        struct Defaults {
            #[command(flatten)]
            limits: RateLimits,
        }
        Defaults::parse_from(["defaults"]).limits
    }
}

/// The gate every AWS call of orgops goes through, counted in `calls`.
pub fn aws_gate(limits: &RateLimits, calls: prometheus::IntCounterVec) -> anyhow::Result<CallGate> {
    Ok(CallGate::new(aws_rate_limits(limits)?, RateLimiter::per_second(5.0, 5), calls))
}

/// The limiter of each operation (`service:Operation`) or service.
fn aws_rate_limits(limits: &RateLimits) -> anyhow::Result<HashMap<&'static str, RateLimiter>> {
    let rate = |flag: &str, value: f64, burst: u32| {
        anyhow::ensure!(value.is_finite() && value > 0.0, "--{flag} must be a positive number of calls a second");
        Ok(move || RateLimiter::per_second(value, burst))
    };
    // AWS throttles Organizations and Account Management per account, not per operation:
    // one bucket is shared by every read, and one by every write, of each service (the
    // limiters are clones of one bucket).
    let read = rate("organizations-read-rate", limits.organizations_read_rate, 10)?();
    let write = rate("organizations-write-rate", limits.organizations_write_rate, 5)?();
    let account_read = rate("account-read-rate", limits.account_read_rate, 10)?();
    let account_write = rate("account-write-rate", limits.account_write_rate, 1)?();
    Ok(HashMap::from([
        ("organizations:ListRoots", read.clone()),
        ("organizations:ListOrganizationalUnitsForParent", read.clone()),
        ("organizations:ListAccountsForParent", read.clone()),
        ("organizations:ListTagsForResource", read.clone()),
        ("organizations:DescribeAccount", read.clone()),
        ("organizations:ListParents", read.clone()),
        ("organizations:DescribeCreateAccountStatus", read.clone()),
        ("organizations:ListCreateAccountStatus", read.clone()),
        ("organizations:CreateAccount", rate("create-account-rate", limits.create_account_rate, 5)?()),
        ("organizations:MoveAccount", write.clone()),
        ("organizations:TagResource", write.clone()),
        ("organizations:UntagResource", write.clone()),
        ("organizations:CloseAccount", rate("close-account-rate", limits.close_account_rate, 1)?()),
        ("account:GetAlternateContact", account_read.clone()),
        ("account:PutAlternateContact", account_write.clone()),
        ("account:PutAccountName", account_write.clone()),
        ("sso", rate("sso-rate", limits.sso_rate, 20)?()),
        ("identitystore", rate("identitystore-rate", limits.identitystore_rate, 10)?()),
        // One budget for every account, to be safe.
        ("route53", rate("route53-rate", limits.route53_rate, 5)?()),
        ("cloudformation", rate("cloudformation-rate", limits.cloudformation_rate, 5)?()),
    ]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse() {
        assert_eq!(parse_duration("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse_duration("42"), Ok(Duration::from_secs(42)));
        assert!(parse_duration("5 minutes").is_err());
        assert!(parse_duration("0s").is_err());
    }

    #[tokio::test(start_paused = true)]
    async fn organizations_reads_share_one_budget_across_operations() {
        let limits = RateLimits { organizations_read_rate: 1.0, ..RateLimits::default() };
        let limiters = aws_rate_limits(&limits).unwrap();
        let started = tokio::time::Instant::now();
        for _ in 0..10 {
            limiters["organizations:ListTagsForResource"].acquire().await;
        }
        assert_eq!(started.elapsed(), Duration::ZERO, "a burst of 10");
        limiters["organizations:ListAccountsForParent"].acquire().await;
        assert_eq!(started.elapsed(), Duration::from_secs(1), "another read operation waits in the same bucket");
    }
}
