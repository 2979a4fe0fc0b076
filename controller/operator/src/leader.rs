//! Leader election on a `coordination.k8s.io/v1` Lease: only the replica holding the
//! lease reconciles, so two replicas never both write to AWS.
//!
//! Expiry is judged on this replica's clock, from when it last saw the lease change, not
//! from the holder's timestamps, so clock skew between nodes cannot shorten a lease.

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use k8s_openapi::jiff::Timestamp;
use kube::Api;
use kube::api::{ObjectMeta, PostParams};
use std::time::Duration;
use tokio::time::Instant;

/// Where the lease lives and who this replica is.
#[derive(Clone, Debug)]
pub struct LeaseSettings {
    /// The lease's namespace.
    pub namespace: String,
    /// The lease's name.
    pub name: String,
    /// This replica's identity, written as the holder.
    pub identity: String,
    /// How long a lease stays valid without renewal.
    pub duration: Duration,
}

impl LeaseSettings {
    /// Renewals are attempted this often.
    fn retry_period(&self) -> Duration {
        self.duration / 7
    }

    /// The holder gives up when it could not renew for this long, well before another
    /// replica may take the lease (after `duration`).
    fn renew_deadline(&self) -> Duration {
        self.duration * 2 / 3
    }
}

/// What a replica does with the lease as it finds it.
#[derive(Debug, PartialEq, Eq)]
pub enum LeaseDecision {
    /// This replica holds it: renew.
    Renew,
    /// Nobody holds it, or its holder stopped renewing: take it.
    Take,
    /// Another replica holds it.
    Wait,
}

/// Decides from the lease's spec and how long this replica has seen it unchanged.
pub fn decide(spec: Option<&LeaseSpec>, identity: &str, unchanged_for: Duration) -> LeaseDecision {
    let holder = spec.and_then(|s| s.holder_identity.as_deref()).unwrap_or_default();
    if holder == identity {
        return LeaseDecision::Renew;
    }
    if holder.is_empty() {
        return LeaseDecision::Take;
    }
    let seconds = spec.and_then(|s| s.lease_duration_seconds).unwrap_or(15).max(1);
    if unchanged_for >= Duration::from_secs(seconds as u64) { LeaseDecision::Take } else { LeaseDecision::Wait }
}

/// One replica's side of the election.
pub struct Elector {
    api: Api<Lease>,
    settings: LeaseSettings,
    /// The lease's resourceVersion when last seen, and when it was first seen so.
    observed: Option<(String, Instant)>,
}

impl Elector {
    /// An elector for the lease in `settings`.
    pub fn new(client: kube::Client, settings: LeaseSettings) -> Self {
        Elector { api: Api::namespaced(client, &settings.namespace), settings, observed: None }
    }

    /// Waits until this replica holds the lease.
    pub async fn acquire(&mut self) {
        loop {
            match self.try_hold().await {
                Ok(true) => {
                    tracing::info!(identity = %self.settings.identity, lease = %self.settings.name, "leading");
                    return;
                }
                Ok(false) => {}
                Err(error) => tracing::warn!(%error, "leader lease not reachable"),
            }
            tokio::time::sleep(self.settings.retry_period()).await;
        }
    }

    /// Renews the lease until it is lost: another replica took it, or renewals failed
    /// for the renew deadline.
    pub async fn hold(&mut self) {
        let mut renewed = Instant::now();
        loop {
            tokio::time::sleep(self.settings.retry_period()).await;
            match self.try_hold().await {
                Ok(true) => renewed = Instant::now(),
                Ok(false) => {
                    tracing::error!("another replica holds the leader lease");
                    return;
                }
                Err(error) => {
                    tracing::warn!(%error, "leader lease not renewed");
                    if renewed.elapsed() >= self.settings.renew_deadline() {
                        tracing::error!("leader lease not renewed within the renew deadline");
                        return;
                    }
                }
            }
        }
    }

    /// Gives the lease up on shutdown, so that a standby takes over at once.
    pub async fn release(&mut self) {
        let Ok(Some(mut lease)) = self.api.get_opt(&self.settings.name).await else { return };
        let spec = lease.spec.get_or_insert_with(LeaseSpec::default);
        if spec.holder_identity.as_deref() != Some(self.settings.identity.as_str()) {
            return;
        }
        spec.holder_identity = None;
        spec.renew_time = None;
        spec.acquire_time = None;
        if let Err(error) = self.api.replace(&self.settings.name, &PostParams::default(), &lease).await {
            tracing::warn!(%error, "leader lease not released; the standby takes over when it expires");
        }
    }

    /// One round: `Ok(true)` when this replica holds the lease afterwards.
    async fn try_hold(&mut self) -> Result<bool, kube::Error> {
        let now = MicroTime(Timestamp::now());
        let Some(mut lease) = self.api.get_opt(&self.settings.name).await? else {
            let lease = Lease {
                metadata: ObjectMeta {
                    name: Some(self.settings.name.clone()),
                    namespace: Some(self.settings.namespace.clone()),
                    ..ObjectMeta::default()
                },
                spec: Some(self.holding(now.clone(), Some(now), 0)),
            };
            return conflict_is_false(self.api.create(&PostParams::default(), &lease).await);
        };
        let unchanged_for = self.unchanged_for(lease.metadata.resource_version.clone().unwrap_or_default());
        let spec = lease.spec.clone().unwrap_or_default();
        let transitions = spec.lease_transitions.unwrap_or(0);
        lease.spec = Some(match decide(Some(&spec), &self.settings.identity, unchanged_for) {
            LeaseDecision::Wait => return Ok(false),
            LeaseDecision::Renew => self.holding(now, spec.acquire_time, transitions),
            LeaseDecision::Take => self.holding(now.clone(), Some(now), transitions + 1),
        });
        // The resourceVersion makes the write conditional: of two replicas taking an
        // expired lease at once, one gets a conflict.
        conflict_is_false(self.api.replace(&self.settings.name, &PostParams::default(), &lease).await)
    }

    fn holding(&self, now: MicroTime, acquired: Option<MicroTime>, transitions: i32) -> LeaseSpec {
        LeaseSpec {
            holder_identity: Some(self.settings.identity.clone()),
            lease_duration_seconds: Some(self.settings.duration.as_secs().max(1) as i32),
            acquire_time: acquired,
            renew_time: Some(now),
            lease_transitions: Some(transitions),
            ..LeaseSpec::default()
        }
    }

    fn unchanged_for(&mut self, resource_version: String) -> Duration {
        match &self.observed {
            Some((seen, since)) if *seen == resource_version => since.elapsed(),
            _ => {
                self.observed = Some((resource_version, Instant::now()));
                Duration::ZERO
            }
        }
    }
}

fn conflict_is_false<T>(result: Result<T, kube::Error>) -> Result<bool, kube::Error> {
    match result {
        Ok(_) => Ok(true),
        Err(kube::Error::Api(status)) if status.code == 409 => Ok(false),
        Err(error) => Err(error),
    }
}

/// This replica's identity: the pod name in a cluster, else host and process id.
pub fn identity() -> String {
    if let Ok(pod) = std::env::var("POD_NAME") {
        return pod;
    }
    let host = std::fs::read_to_string("/etc/hostname")
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".into());
    format!("{host}-{}", std::process::id())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn held_by(holder: &str) -> LeaseSpec {
        LeaseSpec { holder_identity: Some(holder.into()), lease_duration_seconds: Some(15), ..LeaseSpec::default() }
    }

    #[test]
    fn a_missing_or_released_lease_is_taken() {
        assert_eq!(decide(None, "a", Duration::ZERO), LeaseDecision::Take);
        assert_eq!(decide(Some(&LeaseSpec::default()), "a", Duration::ZERO), LeaseDecision::Take);
    }

    #[test]
    fn the_holder_renews() {
        assert_eq!(decide(Some(&held_by("a")), "a", Duration::from_secs(60)), LeaseDecision::Renew);
    }

    #[test]
    fn another_holder_is_waited_out_for_the_lease_duration() {
        let spec = held_by("b");
        assert_eq!(decide(Some(&spec), "a", Duration::ZERO), LeaseDecision::Wait);
        assert_eq!(decide(Some(&spec), "a", Duration::from_secs(14)), LeaseDecision::Wait);
        assert_eq!(decide(Some(&spec), "a", Duration::from_secs(15)), LeaseDecision::Take);
    }

    #[test]
    fn the_holder_gives_up_before_anyone_may_take_over() {
        let settings = LeaseSettings {
            namespace: "n".into(),
            name: "l".into(),
            identity: "a".into(),
            duration: Duration::from_secs(15),
        };
        assert!(settings.renew_deadline() < settings.duration);
        assert!(settings.retry_period() * 3 < settings.renew_deadline(), "several renewals fit in the deadline");
    }
}
