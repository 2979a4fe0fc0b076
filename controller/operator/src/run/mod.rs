//! `orgops run`: connects to the cluster, checks the CRDs, builds the AWS clients and
//! the controllers, serves the HTTP endpoints and runs until SIGTERM or SIGINT.

pub mod args;

use crate::aws::account::SdkAccountManagement;
use crate::aws::identity_store::SdkIdentityStore;
use crate::aws::load_sdk_config;
use crate::aws::member::{MemberAccess, MemberRoles, SESSION_NAME};
use crate::aws::organizations::SdkOrganizations;
use crate::aws::route53::SdkRoute53;
use crate::aws::snapshots::dns::DnsView;
use crate::aws::snapshots::enabled_regions::EnabledRegions;
use crate::aws::snapshots::identity_center::IdentityCenter;
use crate::aws::snapshots::organization::OrgCache;
use crate::aws::sqs::SdkChangeQueue;
use crate::aws::sso_admin::{Instance, SdkSsoAdmin};
use crate::aws::stack_sets::SdkStackSets;
use crate::feed::change_event::OwnIdentity;
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
use args::{RunArgs, aws_gate};
use kube::runtime::reflector::Store;
use kube::{Api, Client, ResourceExt};
use orgops_api::{AccountTarget, AwsAccount, PermissionSetRequest, SecurityBaseline, SubdomainDelegation};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

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
