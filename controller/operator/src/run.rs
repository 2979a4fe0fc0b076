//! `orgops run`: connects to the cluster, checks the CRDs, builds the AWS clients and
//! the controllers, serves the HTTP endpoints and runs until SIGTERM or SIGINT.

use crate::aws::account_management::SdkAccountManagement;
use crate::aws::change_event::OwnIdentity;
use crate::aws::change_queue::SdkChangeQueue;
use crate::aws::dns_view::DnsView;
use crate::aws::identity_center::IdentityCenter;
use crate::aws::identity_store::SdkIdentityStore;
use crate::aws::limits::RateLimiter;
use crate::aws::member::{MemberAccess, MemberRoles, SESSION_NAME};
use crate::aws::org_cache::OrgCache;
use crate::aws::organizations::SdkOrganizations;
use crate::aws::regions::EnabledRegions;
use crate::aws::route53::SdkRoute53;
use crate::aws::sso_admin::{Instance, SdkSsoAdmin};
use crate::aws::stack_sets::SdkStackSets;
use crate::aws::{CallGate, load_sdk_config};
use crate::feed::{Feed, FeedSettings, Follower, KindFollower};
use crate::kinds::account::{AccountKind, AccountSettings};
use crate::kinds::baseline::BaselineKind;
use crate::kinds::permission_set::{PermissionSetKind, targets_organizational_units};
use crate::kinds::subdomain::SubdomainKind;
use crate::kube_side::{ApiServer, EventPublisher};
use crate::leader::{Elector, LeaseSettings, identity};
use crate::policy::PolicyStore;
use crate::reconcile::runner::{Runner, RunnerSettings};
use crate::reconcile::{Driver, DriverConfig, ManagedKind};
use crate::{http, metrics::Metrics};
use anyhow::{Context, bail};
use kube::runtime::reflector::Store;
use kube::{Api, Client, ResourceExt};
use orgops_api::{AccountTarget, AwsAccount, PermissionSetRequest, SecurityBaseline, SubdomainDelegation};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

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

type Accounts = AccountKind<SdkOrganizations, SdkAccountManagement, Store<AwsAccount>>;
type PermissionSets =
    PermissionSetKind<SdkSsoAdmin, SdkIdentityStore, SdkOrganizations, Store<AwsAccount>, Store<PermissionSetRequest>>;
type Subdomains = SubdomainKind<SdkRoute53, Store<AwsAccount>, Store<SubdomainDelegation>>;
type Baselines = BaselineKind<SdkStackSets, SdkOrganizations, Store<AwsAccount>, Client, SdkAccountManagement>;

/// The resync without the change feed: drift is found within it.
const POLLING_RESYNC: Duration = Duration::from_secs(300);
/// The resync with the change feed, as a safety net: once a day keeps idle reads under
/// 0.1 per account and hour.
const FEED_RESYNC: Duration = Duration::from_secs(24 * 3600);

/// Whether a change to this AwsAccount may change what the request assigns: it names the
/// account, or targets an OU the account may have joined or left.
fn depends_on(request: &PermissionSetRequest, account: &AwsAccount) -> bool {
    let same_namespace = request.namespace() == account.namespace();
    targets_organizational_units(request)
        || (same_namespace
            && request
                .spec
                .assignments
                .iter()
                .flat_map(|a| &a.targets)
                .any(|target| target.account_ref.as_deref() == Some(account.name_any().as_str())))
}

/// Whether the baseline may have to reach this AwsAccount's account: it targets OUs, or
/// names the account.
fn covers(baseline: &SecurityBaseline, account: &AwsAccount) -> bool {
    let targets = &baseline.spec.targets;
    let named = baseline.namespace() == account.namespace()
        && targets.accounts.iter().any(|t| t.account_ref.as_deref() == Some(account.name_any().as_str()));
    named || !targets.organizational_units.is_empty()
}

/// Whether the delegation's zone lives in this AwsAccount's account.
fn hosted_in(delegation: &SubdomainDelegation, account: &AwsAccount) -> bool {
    let named = matches!(&delegation.spec.account, AccountTarget { account_ref: Some(name), .. } if *name == account.name_any());
    named && delegation.namespace() == account.namespace()
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

/// Runs the operator until it is told to stop.
pub async fn run(args: RunArgs) -> anyhow::Result<()> {
    let client = Client::try_default().await.context("connecting to the Kubernetes API (kubeconfig or in-cluster)")?;
    check_crds_installed(&client).await?;
    let policy = Arc::new(PolicyStore::open(args.policy_file.clone())?);
    if args.policy_file.is_none() {
        tracing::warn!("no platform policy (--policy-file): every namespace that is not admin is refused everything");
    }

    let metrics = Metrics::new();
    let sdk = load_sdk_config().await;
    let gate = aws_gate(&args.limits, metrics.aws_calls.clone())?;
    let org = Arc::new(OrgCache::new(SdkOrganizations::new(aws_sdk_organizations::Client::new(&sdk), gate.clone())));
    let contacts = SdkAccountManagement::new(aws_sdk_account::Client::new(&sdk), gate.clone());
    let feed_settings = args.change_queue_url.as_ref().map(|_| FeedSettings {
        resync: args.resync.unwrap_or(FEED_RESYNC),
        fallback_resync: args.fallback_resync,
        silence: args.change_feed_silence,
    });
    // With the feed, the short resync stands in until the feed has delivered.
    let resync = match &feed_settings {
        Some(feed) => feed.fallback_resync,
        None => args.resync.unwrap_or(POLLING_RESYNC),
    };
    let (resync_setter, resync_rx) = watch::channel(resync);
    let runner_settings = RunnerSettings {
        concurrency: usize::from(args.concurrency.max(1)),
        recheck_slots: usize::from(args.recheck_concurrency.clamp(1, args.concurrency.max(1))),
        resync: resync_rx,
        selector: args.selector.clone(),
    };
    let mut account_runner = Runner::<Accounts>::new(&runner_settings);
    let account_kind = AccountKind::new(
        org.clone(),
        contacts.clone(),
        account_runner.store(),
        AccountSettings {
            unconfirmed_create_grace: args.unconfirmed_create_grace,
            creates_in_flight: args.limits.create_account_concurrency.into(),
        },
    );

    let request_runner = Runner::<PermissionSets>::new(&runner_settings);
    let subdomain_runner = Runner::<Subdomains>::new(&runner_settings);
    let baseline_runner = Runner::<Baselines>::new(&runner_settings);
    let (requests_to_poke, subdomains_to_poke) = (request_runner.poker(), subdomain_runner.poker());
    let baselines_to_poke = baseline_runner.poker();
    account_runner.observe_changes(Box::new(move |account: &AwsAccount| {
        requests_to_poke.poke_where(|request| depends_on(request, account));
        subdomains_to_poke.poke_where(|delegation| hosted_in(delegation, account));
        baselines_to_poke.poke_where(|baseline| covers(baseline, account));
    }));
    let instance = match (&args.sso_instance_arn, &args.identity_store_id) {
        (Some(arn), Some(store)) => Some(Instance { arn: arn.clone(), identity_store_id: store.clone() }),
        _ => None,
    };
    let center = Arc::new(IdentityCenter::new(
        SdkSsoAdmin::new(aws_sdk_ssoadmin::Client::new(&sdk), gate.clone()),
        SdkIdentityStore::new(aws_sdk_identitystore::Client::new(&sdk), gate.clone()),
        instance,
    ));
    let stack_sets = SdkStackSets::new(aws_sdk_cloudformation::Client::new(&sdk), gate.clone());
    let baseline_kind = BaselineKind::new(
        stack_sets,
        org.clone(),
        account_runner.store(),
        client.clone(),
        EnabledRegions::new(contacts.clone()),
        args.stack_set_drift_interval,
    );
    let request_kind =
        PermissionSetKind::new(center, org, account_runner.store(), request_runner.store(), policy.clone())
            .with_assignments_in_flight(args.limits.assignment_concurrency.into())
            .with_revocation_hold(args.session_revocation_hold)
            .with_metrics(metrics.clone());
    let roles =
        MemberRoles { member_role_name: args.member_role_name.clone(), hub_role_arn: args.hub_role_arn.clone() };
    let members = Arc::new(MemberAccess::new(sdk.clone(), roles, gate.clone()));
    let dns = Arc::new(DnsView::new(SdkRoute53::new(members.clone(), gate.clone())));
    let subdomain_kind = SubdomainKind::new(dns, account_runner.store(), subdomain_runner.store(), policy.clone());
    let shared = Shared {
        client: client.clone(),
        events: Arc::new(EventPublisher::new(client.clone(), "orgops", &identity())),
        policy,
        metrics: metrics.clone(),
        poll_interval: args.poll_interval,
    };
    let accounts = shared.driver(account_kind);
    let requests = shared.driver(request_kind);
    let subdomains = shared.driver(subdomain_kind);
    let baselines = shared.driver(baseline_kind);
    let followers: Vec<Box<dyn Follower>> = vec![
        Box::new(KindFollower::new(accounts.clone(), account_runner.poker())),
        Box::new(KindFollower::new(requests.clone(), request_runner.poker())),
        Box::new(KindFollower::new(subdomains.clone(), subdomain_runner.poker())),
        Box::new(KindFollower::new(baselines.clone(), baseline_runner.poker())),
    ];
    let feed = match (&args.change_queue_url, feed_settings) {
        (Some(url), Some(settings)) => {
            let own = OwnIdentity {
                caller_arn: members
                    .caller_arn()
                    .await
                    .context("reading orgops's own identity (sts:GetCallerIdentity)")?,
                hub_role_arn: args.hub_role_arn.clone(),
                member_role_name: args.member_role_name.clone(),
                session_name: SESSION_NAME.to_string(),
            };
            let queue = SdkChangeQueue::new(aws_sdk_sqs::Client::new(&sdk), url.clone(), gate.clone());
            tracing::info!(queue = url, own = own.caller_arn, "following the change feed");
            Some(Feed { queue, own, followers, metrics: metrics.clone(), settings, resync: resync_setter })
        }
        _ => None,
    };

    let (stop_tx, stop_rx) = watch::channel(false);
    let stopped = |mut rx: watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|stop| *stop).await;
    };
    let server = tokio::spawn(http::serve(args.http_addr, metrics.clone(), stopped(stop_rx.clone())));
    metrics.ready.set(1);
    let shutdown = shutdown_signal();
    tokio::pin!(shutdown);

    let mut elector = args.leader_election.then(|| Elector::new(client.clone(), lease_settings(&args)));
    if let Some(elector) = elector.as_mut() {
        tracing::info!("waiting for the leader lease");
        tokio::select! {
            () = elector.acquire() => {}
            () = &mut shutdown => {
                let _ = stop_tx.send(true);
                server.await.context("HTTP server task")?.context("HTTP server")?;
                return Ok(());
            }
        }
    }
    metrics.leader.set(1);
    let mut controllers = tokio::task::JoinSet::new();
    let launch = Launch {
        client: client.clone(),
        namespace: args.namespace.clone(),
        metrics: metrics.clone(),
        settings: runner_settings,
        stop: stop_rx.clone(),
    };
    controllers.spawn(launch.run(account_runner, accounts));
    controllers.spawn(launch.run(request_runner, requests));
    controllers.spawn(launch.run(subdomain_runner, subdomains));
    controllers.spawn(launch.run(baseline_runner, baselines));
    if let Some(feed) = feed {
        controllers.spawn(feed.run(stop_rx.clone()));
    }

    tracing::info!(resync_s = resync.as_secs(), "orgops is running");
    let lost = async {
        match elector.as_mut() {
            Some(elector) => elector.hold().await,
            None => std::future::pending().await,
        }
    };
    let lost_leadership = tokio::select! {
        () = &mut shutdown => false,
        () = lost => true,
    };
    tracing::info!("shutting down");
    metrics.ready.set(0);
    metrics.leader.set(0);
    let _ = stop_tx.send(true);
    while let Some(finished) = controllers.join_next().await {
        finished.context("controller task")?;
    }
    if let Some(elector) = elector.as_mut().filter(|_| !lost_leadership) {
        elector.release().await;
    }
    server.await.context("HTTP server task")?.context("HTTP server")?;
    if lost_leadership {
        bail!("lost the leader lease; exiting so that a restart rejoins the election");
    }
    Ok(())
}

/// What every kind's driver is built with.
struct Shared {
    client: Client,
    events: Arc<EventPublisher>,
    policy: Arc<PolicyStore>,
    metrics: Metrics,
    poll_interval: Duration,
}

impl Shared {
    fn driver<K>(&self, kind: K) -> Arc<Driver<K, ApiServer>>
    where
        K: ManagedKind<Resource: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope>>,
    {
        let kube = ApiServer::new(self.client.clone(), self.events.clone());
        let config = DriverConfig { waiting: self.poll_interval, ..DriverConfig::default() };
        Arc::new(Driver::new(kind, kube, self.policy.clone(), self.metrics.clone(), config))
    }
}

/// What every kind's runner runs with, once this replica leads.
struct Launch {
    client: Client,
    namespace: Option<String>,
    metrics: Metrics,
    settings: RunnerSettings,
    stop: watch::Receiver<bool>,
}

impl Launch {
    /// Runs the kind in the watched namespace, or in all of them, until told to stop.
    fn run<K>(&self, runner: Runner<K>, driver: Arc<Driver<K, ApiServer>>) -> impl Future<Output = ()> + Send + 'static
    where
        K: ManagedKind<Resource: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope>>,
    {
        let api = match &self.namespace {
            Some(namespace) => Api::namespaced(self.client.clone(), namespace),
            None => Api::all(self.client.clone()),
        };
        runner.run(api, driver, self.metrics.clone(), self.settings.clone(), self.stop.clone())
    }
}

fn lease_settings(args: &RunArgs) -> LeaseSettings {
    let namespace = args
        .lease_namespace
        .clone()
        .or_else(|| std::env::var("POD_NAMESPACE").ok())
        .or_else(|| args.namespace.clone())
        .unwrap_or_else(|| "default".into());
    LeaseSettings { namespace, name: "orgops".into(), identity: identity(), duration: args.lease_duration }
}

/// What the read-only commands (`plan`, `import`) read AWS with.
#[derive(clap::Args, Debug)]
pub struct ReadArgs {
    /// The IAM Identity Center instance (default: the first ListInstances finds).
    #[arg(long, requires = "identity_store_id")]
    pub sso_instance_arn: Option<String>,
    /// Its identity store.
    #[arg(long, requires = "sso_instance_arn")]
    pub identity_store_id: Option<String>,
    /// The role assumed in member accounts (Route 53 reads).
    #[arg(long, default_value = "OrganizationAccountAccessRole")]
    pub member_role_name: String,
    /// A role assumed first, whose credentials assume the member roles.
    #[arg(long)]
    pub hub_role_arn: Option<String>,
    /// Client-side AWS rate limits.
    #[command(flatten)]
    pub limits: RateLimits,
}

impl ReadArgs {
    /// The Identity Center instance given by flags, if any.
    pub fn instance(&self) -> Option<Instance> {
        let (arn, id) = (self.sso_instance_arn.clone()?, self.identity_store_id.clone()?);
        Some(Instance { arn, identity_store_id: id })
    }

    /// How member accounts are reached.
    pub fn roles(&self) -> MemberRoles {
        MemberRoles { member_role_name: self.member_role_name.clone(), hub_role_arn: self.hub_role_arn.clone() }
    }
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

/// Fails with a message naming each missing CRD when the API server does not serve it.
async fn check_crds_installed(client: &Client) -> anyhow::Result<()> {
    let group_version = format!("{}/v1alpha1", orgops_api::GROUP);
    let served: Vec<String> = match client.list_api_group_resources(&group_version).await {
        Ok(list) => list.resources.into_iter().map(|r| r.name).collect(),
        Err(kube::Error::Api(status)) if status.code == 404 => Vec::new(),
        Err(e) => return Err(e).context("asking the API server which orgops kinds it serves"),
    };
    let missing: Vec<String> = orgops_api::crds()
        .into_iter()
        .filter(|crd| !served.contains(&crd.spec.names.plural))
        .filter_map(|crd| crd.metadata.name)
        .collect();
    if !missing.is_empty() {
        bail!(
            "the orgops CRDs are not installed ({}): apply them with `kubectl apply --server-side -f crds/`",
            missing.join(", ")
        );
    }
    Ok(())
}

async fn shutdown_signal() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).expect("SIGTERM handler");
    tokio::select! {
        _ = term.recv() => {},
        _ = tokio::signal::ctrl_c() => {},
    }
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
