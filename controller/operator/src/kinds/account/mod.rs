//! `AwsAccount`: creates or adopts an account, keeps its name, OU, tags and alternate
//! contacts as the spec says, and closes it on deletion when asked to. The AWS calls are
//! here; the decisions that need none are in `rules`.

pub mod rules;

use crate::aws::FailureKind;
use crate::aws::account::{AccountManagement, ContactDetails, ContactType};
use crate::aws::organizations::{CreateRequest, CreateState, Organizations, Tags};
use crate::aws::snapshots::organization::OrgCache;
use crate::aws::snapshots::sweep::SweepCache;
use crate::feed::FollowsChanges;
use crate::feed::change_event::Touched;
use crate::kinds::aws_error;
use crate::kinds::directory::{AccountDirectory, Claim};
use crate::policy::Grants;
use crate::reconcile::ownership;
use crate::reconcile::{Availability, Error, FieldDiff, Linked, ManagedKind, Observation, Progress, StatusSink};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use kube::ResourceExt;
use orgops_api::account::PendingCreation;
use orgops_api::{AwsAccount, AwsAccountStatus};
use rules::FailedCreation;
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// AWS allows this many CreateAccount requests in progress at once.
pub const DEFAULT_CREATES_IN_FLIGHT: u16 = 5;

/// How soon a creation that found every slot taken looks again: checking costs no AWS
/// call, so a freed slot is taken within a second.
const IN_FLIGHT_RECHECK: Duration = Duration::from_secs(1);

/// How far AWS's clock may be behind ours when a request's time is compared with a
/// marker's.
const CLOCK_SKEW: Duration = Duration::from_secs(60);

/// Tuning of the account kind.
#[derive(Clone, Debug)]
pub struct AccountSettings {
    /// How long a creation marker without a request id waits for AWS to show the request
    /// before orgops concludes CreateAccount never reached AWS.
    pub unconfirmed_create_grace: Duration,
    /// CreateAccount requests in progress at once (AWS allows
    /// [`DEFAULT_CREATES_IN_FLIGHT`]).
    pub creates_in_flight: usize,
}

/// The AwsAccount implementation of [`ManagedKind`].
pub struct AccountKind<O: Organizations, C: AccountManagement, D: AccountDirectory> {
    org: Arc<OrgCache<O>>,
    management: C,
    /// Every AwsAccount of the cluster, for the claims on one account.
    accounts: D,
    settings: AccountSettings,
    contact_cache: SweepCache<(String, ContactType), Option<ContactDetails>>,
    creating: Mutex<HashSet<String>>,
    /// The creation markers this process persisted, by object uid, until settled: when
    /// the API server did not take the latest one (it was down), the object's status
    /// lacks it, and this copy keeps the next pass from sending CreateAccount again.
    markers: Mutex<HashMap<String, PendingCreation>>,
}

impl<O: Organizations, C: AccountManagement, D: AccountDirectory> AccountKind<O, C, D> {
    /// An account kind on a shared organization cache.
    pub fn new(org: Arc<OrgCache<O>>, management: C, accounts: D, settings: AccountSettings) -> Self {
        AccountKind {
            org,
            management,
            accounts,
            contact_cache: SweepCache::default(),
            settings,
            creating: Mutex::new(HashSet::new()),
            markers: Mutex::new(HashMap::new()),
        }
    }

    /// The account as the Account Management API names it: the management account (the
    /// caller) without an id, since AWS refuses the caller's own id there.
    fn contacts_of<'a>(&self, account_id: &'a str) -> Option<&'a str> {
        let caller = self.org.read(|s| s.management_account() == Some(account_id));
        (!caller).then_some(account_id)
    }

    async fn contact(&self, account_id: &str, kind: ContactType) -> Result<Option<ContactDetails>, Error> {
        let key = (account_id.to_string(), kind);
        if let Some(details) = self.contact_cache.get(&key) {
            return Ok(details);
        }
        let details = self.management.get_contact(self.contacts_of(account_id), kind).await.map_err(aws_error)?;
        self.contact_cache.insert(key, details.clone());
        Ok(details)
    }

    /// Settles a CreateAccount marker: `Ok(Some(link))` once the account exists,
    /// `Ok(None)` when the request never reached AWS (the marker is cleared), or a
    /// Waiting error while AWS is still at work.
    async fn settle_creation(
        &self,
        obj: &AwsAccount,
        status: &mut AwsAccountStatus,
        pending: &PendingCreation,
    ) -> Result<Option<(String, Linked)>, Error> {
        let uid = obj.uid().unwrap_or_default();
        let request = match &pending.request_id {
            Some(id) => self.org.org().create_request(id).await.map_err(aws_error)?,
            None => match self.find_unconfirmed_request(obj, pending).await? {
                Some(request) => request,
                None => {
                    self.creating.lock().unwrap().remove(&uid);
                    status.pending_creation = None;
                    return Ok(None);
                }
            },
        };
        match request.state {
            CreateState::InProgress => {
                self.creating.lock().unwrap().insert(uid);
                Err(Error::waiting(format!("CreateAccount request {} is in progress", request.id)))
            }
            CreateState::Succeeded(account_id) => {
                // This process sent the request or saw it running, so the account is as
                // AWS creates it; after a restart it may have been moved since: read it.
                let seen_running = self.creating.lock().unwrap().remove(&uid);
                let derived = seen_running
                    .then(|| self.org.record_created(&account_id, &obj.spec.account_name, &obj.spec.email))
                    .flatten();
                if derived.is_none() {
                    self.org.load_account(&account_id).await.map_err(aws_error)?;
                }
                status.pending_creation = None;
                if pending.request_id.is_some() {
                    // Created by this request, with these tags: no need to read them back.
                    self.org.record_tags(&account_id, Self::desired_tags(obj));
                }
                let link = Linked::Created(format!("account {account_id} created"));
                Ok(Some((account_id, link)))
            }
            CreateState::Failed(reason) => {
                self.creating.lock().unwrap().remove(&uid);
                self.markers.lock().unwrap().remove(&uid);
                status.pending_creation = None;
                Err(self.failed_creation(obj, &reason).await)
            }
        }
    }

    /// The request of a marker whose CreateAccount answer was never saved: orgops stopped
    /// between persisting the marker and saving AWS's answer. AWS lists every request it
    /// received (ListCreateAccountStatus), so a request that reached AWS shows up at once;
    /// `None` once the grace for AWS's propagation has passed with no trace of it.
    async fn find_unconfirmed_request(
        &self,
        obj: &AwsAccount,
        pending: &PendingCreation,
    ) -> Result<Option<CreateRequest>, Error> {
        let spec = &obj.spec;
        // Requested-at times come from AWS's clock and the marker from ours.
        let since = pending.requested_at.0.as_second() - CLOCK_SKEW.as_secs() as i64;
        let requests = self.org.create_requests_since(tokio::time::Instant::now()).await.map_err(aws_error)?;
        let candidates = rules::creation_candidates(&requests, &spec.account_name, since);
        // Account names are not unique: a finished request is this object's only when its
        // account has this object's email.
        for candidate in &candidates {
            if let CreateState::Succeeded(id) = &candidate.state {
                let known = self.org.read(|s| s.account(id).map(|a| a.email.clone()));
                let email = match known {
                    Some(email) => email,
                    None => self.org.load_account(id).await.map_err(aws_error)?.email,
                };
                if email.eq_ignore_ascii_case(&spec.email) {
                    return Ok(Some(candidate.clone()));
                }
            }
        }
        if let Some(running) = candidates.iter().find(|r| r.state == CreateState::InProgress) {
            return Ok(Some(running.clone()));
        }
        if let Some(failed) = candidates.iter().find(|r| matches!(r.state, CreateState::Failed(_))) {
            return Ok(Some(failed.clone()));
        }
        let waited = Timestamp::now().duration_since(pending.requested_at.0).as_secs().max(0) as u64;
        let grace = self.settings.unconfirmed_create_grace.as_secs();
        if waited < grace {
            return Err(Error::waiting(format!(
                "waiting up to {} s more to learn whether the CreateAccount sent at {} reached AWS",
                grace - waited,
                pending.requested_at.0
            )));
        }
        // Last look, by email, before concluding that the request never reached AWS.
        self.org.ensure_current().await.map_err(aws_error)?;
        if let Some(account) = self.org.read(|s| s.account_by_email(&spec.email).cloned()) {
            return Ok(Some(CreateRequest {
                id: String::new(),
                account_name: account.name,
                state: CreateState::Succeeded(account.id),
                requested_at: None,
            }));
        }
        tracing::warn!(
            object = %obj.name_any(),
            grace_s = grace,
            "no trace in AWS of the CreateAccount sent at {}: it never reached AWS; creating again",
            pending.requested_at.0
        );
        Ok(None)
    }

    /// A FAILED CreateAccount, as the error the pass ends with: EMAIL_ALREADY_EXISTS for
    /// an account of this organization is retried, so that a next pass adopts it after its
    /// checks; retry limits and concurrency retry; anything else needs the spec to change.
    async fn failed_creation(&self, obj: &AwsAccount, reason: &str) -> Error {
        match rules::failed_creation(reason) {
            FailedCreation::AdoptByEmail => {
                if let Err(error) = self.org.ensure_current().await {
                    return aws_error(error);
                }
                let email = &obj.spec.email;
                match self.org.read(|s| s.account_by_email(email).map(|a| a.id.clone())) {
                    // An account that joined since the last read: adopted only by a next
                    // pass, once the platform policy and the claims have judged it.
                    Some(id) => Error::retryable(format!(
                        "CreateAccount answered EMAIL_ALREADY_EXISTS: spec.email {email} belongs to account {id} \
                         of this organization, checked against the platform policy before it is adopted"
                    )),
                    None => Error::terminal(format!(
                        "CreateAccount failed: EMAIL_ALREADY_EXISTS: spec.email {email} belongs to an AWS account \
                         outside this organization"
                    )),
                }
            }
            FailedCreation::Retry => Error::retryable(format!("CreateAccount failed: {reason}; it will be retried")),
            FailedCreation::Terminal => Error::terminal(format!("CreateAccount failed: {reason}")),
        }
    }

    fn desired_tags(obj: &AwsAccount) -> Tags {
        ownership::desired_tags(obj, &obj.spec.tags)
    }

    fn target_ou(&self, obj: &AwsAccount) -> Result<String, Error> {
        self.org.read(|s| s.resolve_ou(&obj.spec.organizational_unit)).ok_or_else(|| {
            Error::terminal(format!(
                "spec.organizationalUnit {:?} does not exist in the organization",
                obj.spec.organizational_unit
            ))
        })
    }
}

impl<O: Organizations, C: AccountManagement, D: AccountDirectory> ManagedKind for AccountKind<O, C, D> {
    type Resource = AwsAccount;
    const KIND: &'static str = "AwsAccount";

    async fn begin_sweep(&self) -> Result<(), Error> {
        self.contact_cache.begin_sweep(tokio::time::Instant::now());
        self.org.begin_sweep().await.map_err(aws_error)
    }

    async fn check_policy(&self, obj: &AwsAccount, grants: &Grants) -> Result<(), Error> {
        let spec = &obj.spec;
        let linked_id = obj.status.as_ref().and_then(|s| s.account_id.as_deref()).or(spec.account_id.as_deref());
        if let Some(older) = Claim::of(obj).earlier(&self.accounts.claims(linked_id, &spec.email)) {
            return Err(Error::forbidden(format!(
                "the account (spec.email {}{}) is already claimed by AwsAccount {}, which is older: one account, \
                 one object",
                spec.email,
                linked_id.map(|id| format!(", id {id}")).unwrap_or_default(),
                older.key
            )));
        }
        if grants.policy.admin {
            return Ok(());
        }
        let by_id = spec.organizational_unit.starts_with("ou-") || spec.organizational_unit.starts_with("r-");
        if by_id {
            self.org.ensure_loaded().await.map_err(aws_error)?;
        }
        let path = if by_id {
            self.org.read(|s| s.ou_path(&spec.organizational_unit))
        } else {
            Some(spec.organizational_unit.clone())
        };
        if let Some(path) = path {
            grants.check_organizational_unit("spec.organizationalUnit", &path)?;
        }
        // Adopting an existing account must not pull it out of an OU the namespace does
        // not own. A creation with a known request is settled by that request instead.
        let status = obj.status.as_ref();
        let linked = status.is_some_and(|s| s.account_id.is_some());
        let created_by_request =
            status.and_then(|s| s.pending_creation.as_ref()).is_some_and(|p| p.request_id.is_some());
        if !linked && !created_by_request {
            self.org.ensure_loaded().await.map_err(aws_error)?;
            let current = self.org.read(|s| {
                let account = match &spec.account_id {
                    Some(id) => s.account(id),
                    None => s.account_by_email(&spec.email),
                }?;
                Some((account.id.clone(), s.parent_of(&account.id).and_then(|p| s.ou_path(p))?))
            });
            if let Some((id, current_path)) = current {
                // An account carrying this object's uid is its own creation (found after a
                // crash, before the move into its OU), not an adoption.
                if ownership::carries_uid(obj, &self.org.tags(&id).await.map_err(aws_error)?) {
                    return Ok(());
                }
                grants.check_organizational_unit(
                    &format!("the organizational unit of existing account {id}"),
                    &current_path,
                )?;
            }
        }
        Ok(())
    }

    async fn observe(&self, obj: &AwsAccount, status: &mut AwsAccountStatus) -> Result<Observation, Error> {
        let spec = &obj.spec;
        let mut linked = None;
        let mut account_id = status.account_id.clone().or_else(|| spec.account_id.clone());
        let uid = obj.uid().unwrap_or_default();
        if status.pending_creation.is_none() && account_id.is_none() {
            status.pending_creation = self.markers.lock().unwrap().get(&uid).cloned();
        }
        if let Some(pending) = status.pending_creation.clone() {
            match self.settle_creation(obj, status, &pending).await? {
                Some((id, link)) => {
                    linked = Some(link);
                    account_id = Some(id);
                }
                None => {
                    if status.pending_creation.is_none() {
                        self.markers.lock().unwrap().remove(&uid);
                    }
                    return Ok(Observation::Absent);
                }
            }
            self.markers.lock().unwrap().remove(&uid);
        }
        self.org.ensure_loaded().await.map_err(aws_error)?;
        let target_ou = self.target_ou(obj)?;

        let account = match &account_id {
            Some(id) => match self.org.read(|s| s.account(id).cloned()) {
                Some(account) => account,
                None if status.account_id.is_none() => {
                    return Err(Error::terminal(format!("spec.accountId {id} is not an account of this organization")));
                }
                None => return Err(Error::terminal(format!("account {id} is no longer in the organization"))),
            },
            None => match self.org.read(|s| s.account_by_email(&spec.email).cloned()) {
                Some(account) => {
                    linked = Some(Linked::Adopted(format!(
                        "adopted existing account {} whose email is {}",
                        account.id, spec.email
                    )));
                    account
                }
                None => return Ok(Observation::Absent),
            },
        };
        if !account.email.eq_ignore_ascii_case(&spec.email) {
            return Err(Error::invalid(format!(
                "spec.email {} does not match the email of account {} ({})",
                spec.email, account.id, account.email
            )));
        }
        if status.account_id.is_none() && linked.is_none() {
            linked = Some(Linked::Adopted(format!("adopted account {} named by spec.accountId", account.id)));
        }

        let actual_tags = self.org.tags(&account.id).await.map_err(aws_error)?;
        ownership::check_not_owned_by_another(obj, &format!("account {}", account.id), &actual_tags)?;

        let parent = self.org.read(|s| s.parent_of(&account.id).map(str::to_string)).unwrap_or_default();
        status.account_id = Some(account.id.clone());
        status.arn = Some(account.arn.clone());
        status.state = Some(account.state.clone());
        status.ou_path = self.org.read(|s| s.ou_path(&parent));
        status.ou_id = Some(parent.clone());

        let mut diffs = Vec::new();
        if account.name != spec.account_name {
            diffs.push(FieldDiff::new("accountName", spec.account_name.clone(), account.name.clone()));
        }
        if parent != target_ou {
            diffs.push(FieldDiff::new(
                "organizationalUnit",
                spec.organizational_unit.clone(),
                status.ou_path.clone().unwrap_or(parent),
            ));
        }
        diffs.extend(ownership::tag_diffs(obj, &spec.tags, &actual_tags));
        if let Some(wanted) = &spec.alternate_contacts {
            for kind in ContactType::ALL {
                if let Some(contact) = rules::contact_of(wanted, kind) {
                    let actual = self.contact(&account.id, kind).await?;
                    diffs.extend(rules::contact_diff(kind, contact, actual.as_ref()));
                }
            }
        }
        let availability = if account.state == "ACTIVE" {
            Availability::Available
        } else {
            Availability::Unavailable(format!("account {} is {}", account.id, account.state))
        };
        Ok(Observation::Present { diffs, availability, linked })
    }

    async fn create(
        &self,
        obj: &AwsAccount,
        status: &mut AwsAccountStatus,
        sink: &dyn StatusSink<AwsAccountStatus>,
    ) -> Result<Progress, Error> {
        let spec = &obj.spec;
        if spec.account_id.is_some() {
            return Err(Error::terminal("spec.accountId is set: orgops adopts that account and never creates one"));
        }
        // Observe found no account with the email in this sweep's snapshot. One created
        // since makes AWS answer EMAIL_ALREADY_EXISTS, which adopts it: cheaper than
        // re-reading the whole organization (500 pages at 10,000 accounts) per creation.
        let uid = obj.uid().unwrap_or_default();
        // The creations in flight are this process's and every marker persisted in the
        // cluster: after a restart, those a previous process sent count from the start.
        let persisted = self.accounts.creations_in_flight();
        {
            let mut creating = self.creating.lock().unwrap();
            let limit = self.settings.creates_in_flight;
            let in_flight = creating.len() + persisted.iter().filter(|u| !creating.contains(*u) && **u != uid).count();
            if in_flight >= limit && !creating.contains(&uid) {
                return Err(Error::waiting_for_turn(
                    format!("{limit} account creations are in progress; waiting for one to finish"),
                    IN_FLIGHT_RECHECK,
                ));
            }
            creating.insert(uid.clone());
        }
        // Wait for the rate limit before the marker, never after it: a marker must not
        // wait in a queue, since a restart during that wait leaves it unconfirmed.
        let permit = self.org.org().reserve_create().await;
        // CreateAccount has no idempotency token: persist the marker first, so that a
        // restart at any later point resolves this request instead of sending another.
        status.pending_creation = Some(PendingCreation { requested_at: Time(Timestamp::now()), request_id: None });
        if let Err(error) = sink.persist(status).await {
            self.creating.lock().unwrap().remove(&uid);
            status.pending_creation = None;
            return Err(error);
        }
        self.markers.lock().unwrap().insert(uid.clone(), status.pending_creation.clone().expect("just set"));
        match self.org.org().create_account(permit, &spec.account_name, &spec.email, &Self::desired_tags(obj)).await {
            Ok(request) => {
                if let Some(pending) = status.pending_creation.as_mut() {
                    pending.request_id = Some(request.id.clone());
                    self.markers.lock().unwrap().insert(uid.clone(), pending.clone());
                }
                sink.persist(status).await?;
                Ok(Progress::InProgress(format!("CreateAccount requested (request {})", request.id)))
            }
            // AWS answered with a refusal (throttling too: this call is sent once, never
            // retried by the SDK): nothing was created, so the marker goes.
            Err(error) if matches!(error.kind, FailureKind::Client | FailureKind::Throttled) => {
                self.creating.lock().unwrap().remove(&uid);
                self.markers.lock().unwrap().remove(&uid);
                status.pending_creation = None;
                Err(aws_error(error))
            }
            // No answer: the request may have reached AWS. The marker stays, and the next
            // observe settles it.
            Err(error) => Err(aws_error(error)),
        }
    }

    async fn update(
        &self,
        obj: &AwsAccount,
        status: &mut AwsAccountStatus,
        diffs: &[FieldDiff],
    ) -> Result<Progress, Error> {
        let account_id = status.account_id.clone().ok_or_else(|| Error::retryable("no account id yet"))?;
        let mut done = Vec::new();
        if diffs.iter().any(|d| d.path == "organizationalUnit") {
            let target = self.target_ou(obj)?;
            let current = status.ou_id.clone().unwrap_or_default();
            self.org.org().move_account(&account_id, &current, &target).await.map_err(aws_error)?;
            self.org.record_parent(&account_id, &target);
            status.ou_id = Some(target.clone());
            status.ou_path = self.org.read(|s| s.ou_path(&target));
            done.push("moved".to_string());
        }
        if diffs.iter().any(|d| d.path == "accountName") {
            self.management.put_account_name(&account_id, &obj.spec.account_name).await.map_err(aws_error)?;
            self.org.record_name(&account_id, &obj.spec.account_name);
            done.push("renamed".to_string());
        }
        let (to_set, to_remove) = ownership::tag_changes(diffs, &Self::desired_tags(obj));
        if !to_set.is_empty() || !to_remove.is_empty() {
            let mut tags = self.org.tags(&account_id).await.map_err(aws_error)?;
            if !to_set.is_empty() {
                self.org.org().tag(&account_id, &to_set).await.map_err(aws_error)?;
            }
            if !to_remove.is_empty() {
                self.org.org().untag(&account_id, &to_remove).await.map_err(aws_error)?;
            }
            tags.extend(to_set);
            tags.retain(|k, _| !to_remove.contains(k));
            self.org.record_tags(&account_id, tags);
            done.push("tagged".to_string());
        }
        if let Some(wanted) = &obj.spec.alternate_contacts {
            for kind in ContactType::ALL {
                if let Some(contact) = rules::contact_of(wanted, kind)
                    .filter(|_| diffs.iter().any(|d| d.path == rules::contact_field(kind)))
                {
                    let details = rules::details(contact);
                    self.management
                        .put_contact(self.contacts_of(&account_id), kind, &details)
                        .await
                        .map_err(aws_error)?;
                    self.contact_cache.insert((account_id.clone(), kind), Some(details));
                    done.push(format!("set {}", rules::contact_field(kind)));
                }
            }
        }
        Ok(Progress::Done(done.join(", ")))
    }

    async fn delete(
        &self,
        _obj: &AwsAccount,
        status: &mut AwsAccountStatus,
        _owned: &ownership::Owned,
    ) -> Result<Progress, Error> {
        let account_id = status.account_id.clone().ok_or_else(|| Error::retryable("no account id yet"))?;
        let state = match status.state.as_deref() {
            // Closing is asynchronous: right after CloseAccount, ask AWS directly.
            Some("PENDING_CLOSURE") => {
                let account = self.org.load_account(&account_id).await.map_err(aws_error)?;
                account.state
            }
            Some(state) => state.to_string(),
            None => String::new(),
        };
        match state.as_str() {
            "SUSPENDED" => return Ok(Progress::Done(format!("account {account_id} closed (SUSPENDED)"))),
            "PENDING_CLOSURE" => {
                status.state = Some(state);
                return Ok(Progress::InProgress(format!("account {account_id} is PENDING_CLOSURE")));
            }
            _ => {}
        }
        match self.org.org().close_account(&account_id).await {
            Ok(()) => {
                self.org.record_state(&account_id, "PENDING_CLOSURE");
                status.state = Some("PENDING_CLOSURE".into());
                Ok(Progress::InProgress(format!("CloseAccount requested for {account_id}; it is PENDING_CLOSURE")))
            }
            Err(error) if error.is("AccountAlreadyClosedException") => {
                Ok(Progress::Done(format!("account {account_id} was already closed")))
            }
            Err(error)
                if error.is("ConstraintViolationException") && error.message.to_lowercase().contains("quota") =>
            {
                Err(Error::retryable(format!(
                    "CloseAccount refused: the organization reached its quota of account closures ({}); \
                     orgops retries, or close the account by hand and set deletionPolicy Retain",
                    error.message
                )))
            }
            Err(error) => Err(aws_error(error)),
        }
    }
}

impl<O: Organizations, C: AccountManagement, D: AccountDirectory> FollowsChanges for AccountKind<O, C, D> {
    fn forget(&self, touched: &Touched) {
        match touched {
            Touched::Account(id) => {
                self.org.forget_account(id);
                self.contact_cache.forget_where(|(account, _), _| account == id);
            }
            Touched::OrganizationalUnits => self.org.forget_organizational_units(),
            _ => {}
        }
    }

    fn concerns(&self, obj: &AwsAccount, touched: &Touched) -> bool {
        match touched {
            Touched::Account(id) => obj.status.as_ref().and_then(|s| s.account_id.as_ref()) == Some(id),
            // An OU renamed or deleted may change where any account belongs.
            Touched::OrganizationalUnits => true,
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests;
