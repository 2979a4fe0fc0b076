//! `SubdomainDelegation`: a Route 53 zone for the domain in a team account, and the NS
//! record delegating it from its parent zone, which the platform keeps in a central
//! account. The AWS calls are here; the decisions that need none are in `rules`.

mod rules;

use crate::aws::route53::{ChangeState, RecordSet, Route53, Zone};
use crate::aws::snapshots::dns::DnsView;
use crate::feed::FollowsChanges;
use crate::feed::change_event::Touched;
use crate::kinds::aws_error;
use crate::kinds::directory::{AccountDirectory, Claim, ClaimDirectory};
use crate::policy::{Grants, ParentDomain, PolicyStore};
use crate::reconcile::ownership;
use crate::reconcile::{Availability, Error, FieldDiff, Linked, ManagedKind, Observation, Progress, StatusSink};
use kube::ResourceExt;
use orgops_api::{AccountTarget, ManagementPolicy, SubdomainDelegation, SubdomainDelegationStatus};
use rules::Delegation;
use std::sync::Arc;

/// The SubdomainDelegation implementation of [`ManagedKind`].
pub struct SubdomainKind<R: Route53, A: AccountDirectory, D: ClaimDirectory> {
    dns: Arc<DnsView<R>>,
    accounts: A,
    delegations: D,
    policy: Arc<PolicyStore>,
}

impl<R: Route53, A: AccountDirectory, D: ClaimDirectory> SubdomainKind<R, A, D> {
    /// A kind on the shared Route 53 view, the AwsAccounts and the other delegations.
    pub fn new(dns: Arc<DnsView<R>>, accounts: A, delegations: D, policy: Arc<PolicyStore>) -> Self {
        SubdomainKind { dns, accounts, delegations, policy }
    }

    /// The parent zone the platform policy grants for this object's parent domain.
    fn parent(&self, obj: &SubdomainDelegation, grants: &Grants) -> Result<ParentDomain, Error> {
        let spec = &obj.spec;
        let parent = if grants.policy.admin {
            self.policy.parent_anywhere(&spec.parent_domain).ok_or_else(|| {
                Error::forbidden(format!(
                    "spec.parentDomain {:?} is no parent domain of the platform policy",
                    spec.parent_domain
                ))
            })?
        } else {
            grants.parent_domain(&spec.domain, &spec.parent_domain)?
        };
        if let Some(zone) = &spec.parent_zone_id
            && zone.trim_start_matches("/hostedzone/") != parent.zone_id
        {
            return Err(Error::forbidden(format!(
                "spec.parentZoneId {zone} is not the zone the platform policy names for {} ({})",
                parent.domain, parent.zone_id
            )));
        }
        if let Some(account) = spec.parent_account.as_ref().and_then(|a| a.account_id.as_ref())
            && *account != parent.account_id
        {
            return Err(Error::forbidden(format!(
                "spec.parentAccount.accountId {account} is not the account the platform policy names for {} ({})",
                parent.domain, parent.account_id
            )));
        }
        Ok(parent)
    }

    /// The child zone's account, once its AwsAccount is Ready.
    fn child_account(&self, obj: &SubdomainDelegation) -> Result<String, Error> {
        let namespace = obj.namespace().unwrap_or_default();
        match &obj.spec.account {
            AccountTarget { account_id: Some(id), .. } => Ok(id.clone()),
            AccountTarget { account_ref: Some(name), .. } => match self.accounts.account(&namespace, name) {
                Some(entry) if entry.ready && entry.account_id.is_some() => Ok(entry.account_id.unwrap_or_default()),
                Some(_) => Err(Error::waiting(format!("waiting for AwsAccount {name} to be Ready"))),
                None => Err(Error::waiting(format!("waiting for AwsAccount {name} in namespace {namespace}"))),
            },
            _ => Err(Error::invalid("spec.account: exactly one of accountRef or accountId must be set")),
        }
    }

    /// The zone this object owns among those of the domain's name in the account: by the
    /// CallerReference it would have used, or by its ownership tags. Another zone of that
    /// name is refused unless the object only observes.
    async fn find_zone(&self, obj: &SubdomainDelegation, account: &str) -> Result<Option<(Zone, Linked)>, Error> {
        let domain = &obj.spec.domain;
        let uid = obj.uid().unwrap_or_default();
        let zones = self.dns.route53().zones_named(account, domain).await.map_err(aws_error)?;
        if let Some(zone) = zones.iter().find(|z| rules::is_own_caller_reference(&z.caller_reference, &uid, domain)) {
            let message = format!("found hosted zone {} created for this object before a restart", zone.id);
            return Ok(Some((zone.clone(), Linked::Created(message))));
        }
        for zone in &zones {
            let tags = self.dns.route53().zone_tags(account, &zone.id).await.map_err(aws_error)?;
            let resource = format!("hosted zone {} ({domain}) in account {account}", zone.id);
            ownership::check_not_owned_by_another(obj, &resource, &tags)?;
            if ownership::carries_uid(obj, &tags) {
                // Created or adopted by this very object before its status recorded it.
                let message = format!("found {resource}: it carries this object's ownership tags");
                return Ok(Some((zone.clone(), Linked::Created(message))));
            }
        }
        if let Some(zone) = zones.iter().find(|z| ownership::names_for_adoption(obj, &z.id)) {
            let message = format!(
                "adopted hosted zone {} ({domain}) in account {account}, named by annotation {}",
                zone.id,
                ownership::ADOPT_ANNOTATION
            );
            return Ok(Some((zone.clone(), Linked::Adopted(message))));
        }
        let Some(zone) = zones.first() else { return Ok(None) };
        let resource = format!("hosted zone {} ({domain}) in account {account}", zone.id);
        if obj.spec.policies.management_policy == ManagementPolicy::ObserveOnly {
            let message = format!("observing {resource} (managementPolicy ObserveOnly)");
            return Ok(Some((zone.clone(), Linked::Adopted(message))));
        }
        Err(ownership::not_owned(obj, &resource, &zone.id))
    }

    /// Refuses a parent NS record for the domain that orgops did not write.
    fn refuse_foreign(obj: &SubdomainDelegation, parent: &ParentDomain, values: &[String]) -> Error {
        Error::forbidden(format!(
            "an NS record for {} already exists in parent zone {} ({}) and orgops did not write it; it is never \
             overwritten: remove it, or delegate another domain",
            obj.spec.domain,
            parent.zone_id,
            values.join(", ")
        ))
    }

    /// UPSERTs the parent's NS record with the child's servers; `true` while the change is
    /// still propagating.
    async fn delegate(
        &self,
        obj: &SubdomainDelegation,
        status: &mut SubdomainDelegationStatus,
        parent: &ParentDomain,
    ) -> Result<bool, Error> {
        let written = status.parent_zone_id.as_deref() == Some(parent.zone_id.as_str());
        if !written {
            let now = self.dns.parent_record_now(&parent.account_id, &parent.zone_id, &obj.spec.domain).await;
            if let Some(existing) = now.map_err(aws_error)?
                && !rules::same_servers(&existing.values, &status.name_servers)
            {
                return Err(Self::refuse_foreign(obj, parent, &existing.values));
            }
        }
        let record = RecordSet {
            name: obj.spec.domain.clone(),
            kind: "NS".into(),
            ttl: Some(obj.spec.ttl),
            values: status.name_servers.clone(),
        };
        let route53 = self.dns.route53();
        let change = route53.change_ns(&parent.account_id, &parent.zone_id, &record, true).await.map_err(aws_error)?;
        self.dns.record_parent(&parent.account_id, &parent.zone_id, &obj.spec.domain, Some(record));
        status.parent_zone_id = Some(parent.zone_id.clone());
        status.change_id = Some(change.clone());
        status.delegated = false;
        self.settle_change(status, &parent.account_id).await
    }

    /// Polls the change in status; `true` while it is PENDING.
    async fn settle_change(&self, status: &mut SubdomainDelegationStatus, account: &str) -> Result<bool, Error> {
        let Some(change) = status.change_id.clone() else { return Ok(false) };
        match self.dns.route53().change(account, &change).await.map_err(aws_error)? {
            ChangeState::Pending => Ok(true),
            ChangeState::InSync => {
                status.change_id = None;
                status.delegated = true;
                Ok(false)
            }
        }
    }
}

impl<R: Route53, A: AccountDirectory, D: ClaimDirectory> ManagedKind for SubdomainKind<R, A, D> {
    type Resource = SubdomainDelegation;
    const KIND: &'static str = "SubdomainDelegation";

    async fn begin_sweep(&self) -> Result<(), Error> {
        self.dns.begin_sweep();
        Ok(())
    }

    async fn check_policy(&self, obj: &SubdomainDelegation, grants: &Grants) -> Result<(), Error> {
        let spec = &obj.spec;
        self.parent(obj, grants)?;
        if self.policy.is_parent_domain(&spec.domain) {
            return Err(Error::forbidden(format!(
                "spec.domain {} is itself a parent domain of the platform policy: delegating it would take it, and \
                 every subdomain delegated from it, away from the platform",
                spec.domain
            )));
        }
        let namespace = obj.namespace().unwrap_or_default();
        if let Some(id) = &spec.account.account_id {
            grants.check_account("spec.account.accountId", id, self.accounts.owned_by(&namespace, id))?;
        }
        if let Some(other) = Claim::of(obj).earlier(&self.delegations.claims(&spec.domain)) {
            return Err(Error::forbidden(format!(
                "spec.domain {} is already claimed by SubdomainDelegation {}, which is older",
                spec.domain, other.key
            )));
        }
        Ok(())
    }

    async fn observe(
        &self,
        obj: &SubdomainDelegation,
        status: &mut SubdomainDelegationStatus,
    ) -> Result<Observation, Error> {
        let grants = self.policy.grants(&obj.namespace().unwrap_or_default());
        let parent = self.parent(obj, &grants)?;
        let account = self.child_account(obj)?;
        status.account_id = Some(account.clone());
        let domain = &obj.spec.domain;
        let written = status.parent_zone_id.as_deref() == Some(parent.zone_id.as_str());

        let mut linked = None;
        let zone_id = match &status.zone_id {
            Some(id) => {
                let zones = self.dns.zones(&account).await.map_err(aws_error)?;
                if !zones.iter().any(|z| z.id == *id) {
                    // Deleted outside orgops: created again by the driver, and the parent
                    // then pointed at the new servers.
                    return Ok(Observation::Absent);
                }
                id.clone()
            }
            None => match self.find_zone(obj, &account).await? {
                Some((zone, link)) => {
                    linked = Some(link);
                    status.zone_id = Some(zone.id.clone());
                    status.name_servers.clear();
                    zone.id
                }
                None => {
                    // Nothing is written while the parent holds someone else's record:
                    // read now, not from the sweep's listing, since a write follows.
                    let record = self.dns.parent_record_now(&parent.account_id, &parent.zone_id, domain).await;
                    if let Some(record) = record.map_err(aws_error)?
                        && !written
                    {
                        return Err(Self::refuse_foreign(obj, &parent, &record.values));
                    }
                    return Ok(Observation::Absent);
                }
            },
        };
        if status.name_servers.is_empty() {
            let servers = self.dns.route53().name_servers(&account, &zone_id).await.map_err(aws_error)?;
            status.name_servers = servers.unwrap_or_default();
        }
        if self.settle_change(status, &parent.account_id).await? {
            return Err(Error::waiting(format!("the NS record in parent zone {} is propagating", parent.zone_id)));
        }

        let record = self.dns.parent_record(&parent.account_id, &parent.zone_id, domain).await.map_err(aws_error)?;
        let servers = status.name_servers.join(", ");
        let mut diffs = Vec::new();
        match rules::delegation(record.as_ref(), &status.name_servers, obj.spec.ttl, written) {
            Delegation::InSync => {
                status.parent_zone_id = Some(parent.zone_id.clone());
                status.delegated = true;
            }
            Delegation::Missing => diffs.push(FieldDiff::new("delegation", servers, "(absent)")),
            Delegation::Changed(values) => diffs.push(FieldDiff::new("delegation", servers, values.join(", "))),
            Delegation::OtherTtl(ttl) => {
                let shown = ttl.map_or_else(|| "(none)".to_string(), |t| t.to_string());
                diffs.push(FieldDiff::new("ttl", obj.spec.ttl.to_string(), shown));
            }
            Delegation::Foreign(values) => return Err(Self::refuse_foreign(obj, &parent, &values)),
        }
        if !diffs.is_empty() {
            status.delegated = false;
        }
        if let Some(Linked::Adopted(_)) = &linked {
            let tags = self.dns.route53().zone_tags(&account, &zone_id).await.map_err(aws_error)?;
            diffs.extend(ownership::tag_diffs(obj, &Default::default(), &tags).into_iter().filter(|d| d.ownership));
        }
        // The zone exists: the delegation's differences are the update's to make (or, under
        // driftPolicy Report, Synced's to report).
        Ok(Observation::Present { diffs, availability: Availability::Available, linked })
    }

    async fn create(
        &self,
        obj: &SubdomainDelegation,
        status: &mut SubdomainDelegationStatus,
        _sink: &dyn StatusSink<SubdomainDelegationStatus>,
    ) -> Result<Progress, Error> {
        let grants = self.policy.grants(&obj.namespace().unwrap_or_default());
        let parent = self.parent(obj, &grants)?;
        let account = self.child_account(obj)?;
        let domain = &obj.spec.domain;
        let replaced = status.zone_id.take();
        if replaced.is_some() {
            status.zone_generation += 1;
        }
        let reference = rules::caller_reference(&obj.uid().unwrap_or_default(), domain, status.zone_generation);
        let route53 = self.dns.route53();
        let created = match route53.create_zone(&account, domain, &reference).await {
            Ok(created) => created,
            // A create whose answer was lost made the zone: found by name on the next pass.
            Err(error) if error.is("HostedZoneAlreadyExists") => {
                return Err(Error::retryable(format!(
                    "a zone with CallerReference {reference} exists already: {error}"
                )));
            }
            Err(error) => return Err(aws_error(error)),
        };
        let zone_id = created.zone.id.clone();
        route53.tag_zone(&account, &zone_id, &ownership::ownership_tags(obj)).await.map_err(aws_error)?;
        self.dns.record_zone(&account, Some(created.zone), replaced.as_deref());
        status.zone_id = Some(zone_id.clone());
        status.name_servers = created.name_servers;
        let mut message = format!("created hosted zone {zone_id} for {domain} in account {account}");
        if let Some(old) = replaced {
            message.push_str(&format!(" (replacing zone {old}, deleted outside orgops)"));
        }
        let propagating = self.delegate(obj, status, &parent).await?;
        message.push_str(&format!("; delegated from parent zone {}", parent.zone_id));
        Ok(if propagating { Progress::InProgress(message) } else { Progress::Done(message) })
    }

    async fn update(
        &self,
        obj: &SubdomainDelegation,
        status: &mut SubdomainDelegationStatus,
        diffs: &[FieldDiff],
    ) -> Result<Progress, Error> {
        let mut done = Vec::new();
        let (account, zone_id) = match (&status.account_id, &status.zone_id) {
            (Some(account), Some(zone)) => (account.clone(), zone.clone()),
            _ => return Err(Error::retryable("no zone yet")),
        };
        let (to_set, _) = ownership::tag_changes(diffs, &ownership::ownership_tags(obj));
        if !to_set.is_empty() {
            self.dns.route53().tag_zone(&account, &zone_id, &to_set).await.map_err(aws_error)?;
            done.push("tagged the zone".to_string());
        }
        let mut propagating = false;
        if diffs.iter().any(|d| d.path == "delegation" || d.path == "ttl") {
            let grants = self.policy.grants(&obj.namespace().unwrap_or_default());
            let parent = self.parent(obj, &grants)?;
            propagating = self.delegate(obj, status, &parent).await?;
            done.push(format!("wrote the NS record in parent zone {}", parent.zone_id));
        }
        let message = done.join(", ");
        Ok(if propagating { Progress::InProgress(message) } else { Progress::Done(message) })
    }

    async fn delete(
        &self,
        obj: &SubdomainDelegation,
        status: &mut SubdomainDelegationStatus,
        _owned: &ownership::Owned,
    ) -> Result<Progress, Error> {
        let (account, zone_id) = match (&status.account_id, &status.zone_id) {
            (Some(account), Some(zone)) => (account.clone(), zone.clone()),
            _ => return Err(Error::retryable("no zone yet")),
        };
        let domain = &obj.spec.domain;
        let route53 = self.dns.route53();
        let mut done = Vec::new();
        if let Some(parent_zone) = status.parent_zone_id.clone() {
            let grants = self.policy.grants(&obj.namespace().unwrap_or_default());
            let parent = self.parent(obj, &grants)?;
            let record = self.dns.parent_record(&parent.account_id, &parent_zone, domain).await.map_err(aws_error)?;
            // Only the record that points at this zone: anything else is not orgops's.
            if let Some(record) = record.filter(|r| rules::same_servers(&r.values, &status.name_servers)) {
                route53.change_ns(&parent.account_id, &parent_zone, &record, false).await.map_err(aws_error)?;
                self.dns.record_parent(&parent.account_id, &parent_zone, domain, None);
                done.push(format!("removed the NS record from parent zone {parent_zone}"));
            }
            status.parent_zone_id = None;
            status.delegated = false;
        }
        let records = route53.records(&account, &zone_id).await.map_err(aws_error)?;
        let keeping = rules::records_keeping_zone(&records, domain);
        if keeping.is_empty() {
            route53.delete_zone(&account, &zone_id).await.map_err(aws_error)?;
            self.dns.record_zone(&account, None, Some(&zone_id));
            done.push(format!("deleted hosted zone {zone_id}"));
        } else {
            done.push(format!("kept hosted zone {zone_id} in account {account}, which holds {}", keeping.join(", ")));
        }
        Ok(Progress::Done(done.join("; ")))
    }
}

impl<R: Route53, A: AccountDirectory, D: ClaimDirectory> FollowsChanges for SubdomainKind<R, A, D> {
    fn forget(&self, touched: &Touched) {
        if let Touched::HostedZone(id) = touched {
            self.dns.forget_zone(id);
        }
    }

    fn concerns(&self, obj: &SubdomainDelegation, touched: &Touched) -> bool {
        let Touched::HostedZone(id) = touched else { return false };
        obj.status.as_ref().is_some_and(|s| s.zone_id.as_ref() == Some(id) || s.parent_zone_id.as_ref() == Some(id))
    }
}

#[cfg(test)]
mod tests;
