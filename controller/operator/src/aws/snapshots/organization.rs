//! A shared snapshot of the organization (OU tree, accounts and their parents), read with
//! a few paginated list calls at the start of each sweep, so observing an account costs
//! no AWS call of its own. Per-account details (tags) are read on demand, once per sweep.
//! Writes update the snapshot in place, so nothing is re-read after a write orgops made
//! itself.

use crate::aws::AwsError;
use crate::aws::organizations::{CreateRequest, OrgAccount, OrgRoot, OrgUnit, Organizations, Tags};
use crate::aws::snapshots::sweep::SweepCache;
use orgops_api::normalize_ou_path;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio::time::Instant;

/// The organization at one point in time.
#[derive(Clone, Debug, Default)]
pub struct Snapshot {
    /// The root, whose ARN account ARNs are derived from.
    pub root: OrgRoot,
    /// OUs by id, with their parent's id.
    ous: HashMap<String, (OrgUnit, String)>,
    /// Accounts by id.
    accounts: HashMap<String, OrgAccount>,
    /// Each account's parent (OU or root) id.
    parents: HashMap<String, String>,
}

impl Snapshot {
    /// The account with this id.
    pub fn account(&self, id: &str) -> Option<&OrgAccount> {
        self.accounts.get(id)
    }

    /// Every account, by id.
    pub fn accounts(&self) -> Vec<&OrgAccount> {
        let mut accounts: Vec<&OrgAccount> = self.accounts.values().collect();
        accounts.sort_by(|a, b| a.id.cmp(&b.id));
        accounts
    }

    /// The account with this email, compared without case.
    pub fn account_by_email(&self, email: &str) -> Option<&OrgAccount> {
        self.accounts.values().find(|a| a.email.eq_ignore_ascii_case(email))
    }

    /// The account's parent OU or root id.
    pub fn parent_of(&self, account_id: &str) -> Option<&str> {
        self.parents.get(account_id).map(String::as_str)
    }

    /// The id of an OU given as `Root`, a root id, an OU id or a path from the root.
    pub fn resolve_ou(&self, ou: &str) -> Option<String> {
        if ou.starts_with("ou-") {
            return self.ous.contains_key(ou).then(|| ou.to_string());
        }
        if ou.starts_with("r-") {
            return (ou == self.root.id).then(|| ou.to_string());
        }
        let mut current = self.root.id.clone();
        for segment in normalize_ou_path(ou).split('/').filter(|s| !s.is_empty()) {
            current = self.ous.iter().find(|(_, (unit, parent))| *parent == current && unit.name == segment)?.0.clone();
        }
        Some(current)
    }

    /// The accounts in an OU (or root) and every OU below it, sorted by id.
    pub fn accounts_under(&self, ou_id: &str) -> Vec<&OrgAccount> {
        let mut found: Vec<&OrgAccount> = self
            .accounts
            .values()
            .filter(|account| {
                let mut current = self.parents.get(&account.id).map(String::as_str);
                while let Some(parent) = current {
                    if parent == ou_id {
                        return true;
                    }
                    current = self.ous.get(parent).map(|(_, grandparent)| grandparent.as_str());
                }
                false
            })
            .collect();
        found.sort_by(|a, b| a.id.cmp(&b.id));
        found
    }

    /// The management account's id, from the root's ARN.
    pub fn management_account(&self) -> Option<&str> {
        self.root.arn.split(':').nth(4).filter(|id| !id.is_empty())
    }

    /// The path from the root of an OU or root id: `Root` for the root itself.
    pub fn ou_path(&self, id: &str) -> Option<String> {
        let mut names = Vec::new();
        let mut current = id;
        while current != self.root.id {
            let (unit, parent) = self.ous.get(current)?;
            names.push(unit.name.as_str());
            current = parent;
        }
        if names.is_empty() {
            return Some("Root".to_string());
        }
        names.reverse();
        Some(names.join("/"))
    }
}

struct State {
    snapshot: Snapshot,
    fetched_at: Option<Instant>,
    /// What orgops wrote, with when: a refresh that began before a write may have read
    /// the organization as it was, so the write is applied again on top of it.
    writes: Vec<(Instant, LocalWrite)>,
    /// Accounts AWS said changed since the snapshot was read: read again, one by one,
    /// before the snapshot is next used.
    stale: Vec<String>,
}

/// A change orgops made itself, kept in the snapshot without re-reading AWS.
enum LocalWrite {
    Account(OrgAccount, String),
    Parent(String, String),
    State(String, String),
    Name(String, String),
}

impl LocalWrite {
    fn apply(&self, snapshot: &mut Snapshot) {
        match self {
            LocalWrite::Account(account, parent) => {
                snapshot.parents.insert(account.id.clone(), parent.clone());
                snapshot.accounts.insert(account.id.clone(), account.clone());
            }
            LocalWrite::Parent(account_id, parent) => {
                snapshot.parents.insert(account_id.clone(), parent.clone());
            }
            LocalWrite::State(account_id, state) => {
                if let Some(account) = snapshot.accounts.get_mut(account_id) {
                    account.state = state.clone();
                }
            }
            LocalWrite::Name(account_id, name) => {
                if let Some(account) = snapshot.accounts.get_mut(account_id) {
                    account.name = name.clone();
                }
            }
        }
    }
}

/// The shared snapshot of the organization, read at the start of each sweep.
pub struct OrgCache<O: Organizations> {
    org: O,
    state: Mutex<State>,
    tags: SweepCache<String, Tags>,
    refreshing: tokio::sync::Mutex<()>,
    /// The last listing of CreateAccount requests, with when it began.
    requests: tokio::sync::Mutex<Option<(Instant, Arc<Vec<CreateRequest>>)>>,
}

impl<O: Organizations> OrgCache<O> {
    /// A cache with nothing read yet.
    pub fn new(org: O) -> Self {
        OrgCache {
            org,
            state: Mutex::new(State {
                snapshot: Snapshot::default(),
                fetched_at: None,
                writes: Vec::new(),
                stale: Vec::new(),
            }),
            tags: SweepCache::default(),
            refreshing: tokio::sync::Mutex::new(()),
            requests: tokio::sync::Mutex::new(None),
        }
    }

    /// The Organizations client behind the cache, for writes.
    pub fn org(&self) -> &O {
        &self.org
    }

    /// Makes sure a snapshot was read, and that the accounts AWS said changed since were
    /// read again; sweeps keep the rest current.
    pub async fn ensure_loaded(&self) -> Result<(), AwsError> {
        if self.state.lock().unwrap().fetched_at.is_none() {
            return self.ensure_current().await;
        }
        if self.state.lock().unwrap().stale.is_empty() {
            return Ok(());
        }
        let _single_flight = self.refreshing.lock().await;
        let stale = std::mem::take(&mut self.state.lock().unwrap().stale);
        for (index, account_id) in stale.iter().enumerate() {
            match self.load_account(account_id).await {
                Ok(_) => {}
                // Left the organization: the snapshot forgets it.
                Err(error) if error.is("AccountNotFoundException") => {
                    let mut state = self.state.lock().unwrap();
                    state.snapshot.accounts.remove(account_id);
                    state.snapshot.parents.remove(account_id);
                }
                Err(error) => {
                    self.state.lock().unwrap().stale.extend_from_slice(&stale[index..]);
                    return Err(error);
                }
            }
        }
        Ok(())
    }

    /// AWS said the account changed (moved, tagged, closed): its place, state and tags are
    /// read again before they are next used.
    pub fn forget_account(&self, account_id: &str) {
        self.tags.forget_where(|id, _| id == account_id);
        let mut state = self.state.lock().unwrap();
        if !state.stale.iter().any(|id| id == account_id) {
            state.stale.push(account_id.to_string());
        }
    }

    /// AWS said the OU tree changed: the whole snapshot is read again before it is next used.
    pub fn forget_organizational_units(&self) {
        self.state.lock().unwrap().fetched_at = None;
    }

    /// Starts a sweep: the snapshot and the tags are read again, after this moment.
    pub async fn begin_sweep(&self) -> Result<(), AwsError> {
        let began = Instant::now();
        self.tags.begin_sweep(began);
        self.refresh_unless_fetched_since(began).await
    }

    /// Makes sure the snapshot was read after this call began. Concurrent callers share one
    /// refresh.
    pub async fn ensure_current(&self) -> Result<(), AwsError> {
        self.refresh_unless_fetched_since(Instant::now()).await
    }

    async fn refresh_unless_fetched_since(&self, since: Instant) -> Result<(), AwsError> {
        let fetched_since = |state: &State| state.fetched_at.is_some_and(|t| t >= since);
        if fetched_since(&self.state.lock().unwrap()) {
            return Ok(());
        }
        let _single_flight = self.refreshing.lock().await;
        if fetched_since(&self.state.lock().unwrap()) {
            return Ok(());
        }
        let started = Instant::now();
        let snapshot = self.read_organization().await?;
        self.install(snapshot, started);
        Ok(())
    }

    /// Replaces the snapshot with one whose reading began at `started`, keeping the
    /// writes made since.
    fn install(&self, mut snapshot: Snapshot, started: Instant) {
        let mut state = self.state.lock().unwrap();
        state.writes.retain(|(at, _)| *at >= started);
        for (_, write) in &state.writes {
            write.apply(&mut snapshot);
        }
        state.snapshot = snapshot;
        state.fetched_at = Some(started);
    }

    fn record(&self, write: LocalWrite) {
        let mut state = self.state.lock().unwrap();
        write.apply(&mut state.snapshot);
        state.writes.push((Instant::now(), write));
    }

    async fn read_organization(&self) -> Result<Snapshot, AwsError> {
        let root = self.org.root().await?;
        let mut parents_to_visit = vec![root.id.clone()];
        let mut snapshot = Snapshot { root, ..Snapshot::default() };
        while let Some(parent) = parents_to_visit.pop() {
            for ou in self.org.child_ous(&parent).await? {
                parents_to_visit.push(ou.id.clone());
                snapshot.ous.insert(ou.id.clone(), (ou, parent.clone()));
            }
            for account in self.org.accounts_in(&parent).await? {
                snapshot.parents.insert(account.id.clone(), parent.clone());
                snapshot.accounts.insert(account.id.clone(), account);
            }
        }
        Ok(snapshot)
    }

    /// Every CreateAccount request AWS lists (it keeps 90 days of them), from a listing
    /// that began after `asked`. Callers asking while a listing runs share the next one, so
    /// many unconfirmed creations settled at once (after a restart) cost two listings, not
    /// one each.
    pub async fn create_requests_since(&self, asked: Instant) -> Result<Arc<Vec<CreateRequest>>, AwsError> {
        let mut last = self.requests.lock().await;
        if let Some((began, requests)) = last.as_ref()
            && *began >= asked
        {
            return Ok(requests.clone());
        }
        let began = Instant::now();
        let requests = Arc::new(self.org.create_requests().await?);
        *last = Some((began, requests.clone()));
        Ok(requests)
    }

    /// Reads the snapshot.
    pub fn read<T>(&self, f: impl FnOnce(&Snapshot) -> T) -> T {
        f(&self.state.lock().unwrap().snapshot)
    }

    /// Reads one account and its parent straight from AWS into the snapshot: for an
    /// account orgops just created, which the snapshot cannot hold yet.
    pub async fn load_account(&self, account_id: &str) -> Result<OrgAccount, AwsError> {
        let account = self.org.describe_account(account_id).await?;
        let parent = self.org.parent_of(account_id).await?;
        self.record(LocalWrite::Account(account.clone(), parent));
        Ok(account)
    }

    /// Records an account that a CreateAccount of this process just created, as AWS
    /// creates it: ACTIVE, in the root, its ARN derived from the root's. Costs no AWS call;
    /// `None` when no snapshot was read yet to derive from.
    pub fn record_created(&self, account_id: &str, name: &str, email: &str) -> Option<OrgAccount> {
        let (root_id, arn) = self.read(|s| (s.root.id.clone(), s.root.account_arn(account_id)));
        let account = OrgAccount {
            id: account_id.to_string(),
            arn: arn?,
            name: name.to_string(),
            email: email.to_string(),
            state: "ACTIVE".to_string(),
        };
        self.record(LocalWrite::Account(account.clone(), root_id));
        Some(account)
    }

    /// The account's tags, read at most once per sweep.
    pub async fn tags(&self, account_id: &str) -> Result<Tags, AwsError> {
        if let Some(tags) = self.tags.get(&account_id.to_string()) {
            return Ok(tags);
        }
        let tags = self.org.tags_of(account_id).await?;
        self.record_tags(account_id, tags.clone());
        Ok(tags)
    }

    /// Records tags orgops just wrote.
    pub fn record_tags(&self, account_id: &str, tags: Tags) {
        self.tags.insert(account_id.to_string(), tags);
    }

    /// Records a move orgops just made.
    pub fn record_parent(&self, account_id: &str, parent_id: &str) {
        self.record(LocalWrite::Parent(account_id.to_string(), parent_id.to_string()));
    }

    /// Records an account's new name.
    pub fn record_name(&self, account_id: &str, name: &str) {
        self.record(LocalWrite::Name(account_id.to_string(), name.to_string()));
    }

    /// Records an account's new state.
    pub fn record_state(&self, account_id: &str, state: &str) {
        self.record(LocalWrite::State(account_id.to_string(), state.to_string()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn ou(id: &str, name: &str, parent: &str) -> (String, (OrgUnit, String)) {
        (id.to_string(), (OrgUnit { id: id.to_string(), name: name.to_string() }, parent.to_string()))
    }

    fn snapshot() -> Snapshot {
        Snapshot {
            root: OrgRoot { id: "r-root".into(), arn: "arn:aws:organizations::000000000000:root/o-test/r-root".into() },
            ous: [
                ou("ou-root-work0000", "Workloads", "r-root"),
                ou("ou-root-payr0000", "Payroll", "ou-root-work0000"),
                ou("ou-root-sand0000", "Sandbox", "r-root"),
            ]
            .into_iter()
            .collect(),
            ..Snapshot::default()
        }
    }

    #[test]
    fn resolves_paths_ids_and_root() {
        let s = snapshot();
        assert_eq!(s.resolve_ou("Workloads/Payroll").as_deref(), Some("ou-root-payr0000"));
        assert_eq!(s.resolve_ou("Root/Workloads/Payroll").as_deref(), Some("ou-root-payr0000"));
        assert_eq!(s.resolve_ou("Root").as_deref(), Some("r-root"));
        assert_eq!(s.resolve_ou("ou-root-sand0000").as_deref(), Some("ou-root-sand0000"));
        assert_eq!(s.resolve_ou("r-root").as_deref(), Some("r-root"));
        assert_eq!(s.resolve_ou("Workloads/Billing"), None);
        assert_eq!(s.resolve_ou("Payroll"), None, "paths start at the root");
        assert_eq!(s.resolve_ou("ou-root-none0000"), None);
    }

    #[test]
    fn accounts_under_an_ou_include_those_below_it() {
        let mut s = snapshot();
        for (id, parent) in [("1", "ou-root-payr0000"), ("2", "ou-root-work0000"), ("3", "ou-root-sand0000")] {
            s.accounts.insert(
                id.into(),
                OrgAccount {
                    id: id.into(),
                    arn: String::new(),
                    name: id.into(),
                    email: id.into(),
                    state: "ACTIVE".into(),
                },
            );
            s.parents.insert(id.into(), parent.into());
        }
        let ids = |ou: &str| s.accounts_under(ou).iter().map(|a| a.id.clone()).collect::<Vec<_>>();
        assert_eq!(ids("ou-root-work0000"), ["1", "2"]);
        assert_eq!(ids("ou-root-payr0000"), ["1"]);
        assert_eq!(ids("r-root"), ["1", "2", "3"]);
        assert_eq!(s.management_account(), Some("000000000000"));
    }

    #[test]
    fn paths_of_ids() {
        let s = snapshot();
        assert_eq!(s.ou_path("ou-root-payr0000").as_deref(), Some("Workloads/Payroll"));
        assert_eq!(s.ou_path("r-root").as_deref(), Some("Root"));
        assert_eq!(s.ou_path("ou-unknown"), None);
    }

    #[tokio::test(start_paused = true)]
    async fn a_move_made_while_a_refresh_reads_survives_the_refresh() {
        let org = std::sync::Arc::new(crate::aws::organizations::fake::FakeOrg::new());
        org.add_account("111122223333", "a@example.com", "r-root");
        let cache = OrgCache::new(org.clone());
        cache.ensure_loaded().await.unwrap();

        // A refresh reads the account still in the root; the move lands before it ends.
        tokio::time::advance(Duration::from_secs(1)).await;
        let started = Instant::now();
        let read_before_the_move = cache.read_organization().await.unwrap();
        tokio::time::advance(Duration::from_secs(1)).await;
        cache.record_parent("111122223333", "ou-root-payr0000");
        cache.install(read_before_the_move, started);
        assert_eq!(
            cache.read(|s| s.parent_of("111122223333").map(str::to_string)).as_deref(),
            Some("ou-root-payr0000")
        );

        // A refresh that began after the write reads AWS as it is and drops the record.
        tokio::time::advance(Duration::from_secs(1)).await;
        let started = Instant::now();
        let read_after = cache.read_organization().await.unwrap();
        cache.install(read_after, started);
        assert_eq!(cache.read(|s| s.parent_of("111122223333").map(str::to_string)).as_deref(), Some("r-root"));
    }

    #[tokio::test]
    async fn an_account_aws_said_changed_is_read_again_alone() {
        let org = std::sync::Arc::new(crate::aws::organizations::fake::FakeOrg::new());
        org.add_account("111122223333", "a@example.com", "r-root");
        org.add_account("444455556666", "b@example.com", "r-root");
        let cache = OrgCache::new(org.clone());
        cache.ensure_loaded().await.unwrap();
        cache.tags("111122223333").await.unwrap();
        let parent = |id: &str| cache.read(|s| s.parent_of(id).map(str::to_string));

        // Moved and tagged out of band: the snapshot does not know until told.
        org.move_account("111122223333", "r-root", "ou-root-payr0000").await.unwrap();
        org.tag("111122223333", &[("team".to_string(), "x".to_string())].into()).await.unwrap();
        cache.ensure_loaded().await.unwrap();
        assert_eq!(parent("111122223333").as_deref(), Some("r-root"));

        let listed = org.count("ListAccountsForParent");
        cache.forget_account("111122223333");
        cache.forget_account("111122223333");
        cache.ensure_loaded().await.unwrap();
        assert_eq!(parent("111122223333").as_deref(), Some("ou-root-payr0000"));
        assert_eq!(cache.tags("111122223333").await.unwrap().get("team").map(String::as_str), Some("x"));
        assert_eq!(
            (org.count("DescribeAccount"), org.count("ListParents"), org.count("ListTagsForResource")),
            (1, 1, 2),
            "one account read once, however often it was named"
        );
        assert_eq!(org.count("ListAccountsForParent"), listed, "no listing");

        // Removed from the organization: forgotten.
        org.state.lock().unwrap().accounts.retain(|(a, _)| a.id != "444455556666");
        cache.forget_account("444455556666");
        cache.ensure_loaded().await.unwrap();
        assert!(cache.read(|s| s.account("444455556666").is_none()));

        // The OU tree changed: everything is listed again.
        cache.forget_organizational_units();
        cache.ensure_loaded().await.unwrap();
        assert!(org.count("ListAccountsForParent") > listed);
    }

    #[tokio::test(start_paused = true)]
    async fn creations_settled_together_share_a_listing_begun_after_they_asked() {
        let org = Arc::new(crate::aws::organizations::fake::FakeOrg::new());
        let cache = Arc::new(OrgCache::new(org.clone()));
        let asked = Instant::now();
        let together = (0..20).map(|_| {
            let cache = cache.clone();
            tokio::spawn(async move { cache.create_requests_since(asked).await.unwrap().len() })
        });
        futures::future::join_all(together).await;
        assert_eq!(org.count("ListCreateAccountStatus"), 1, "one listing for twenty askers");

        tokio::time::advance(Duration::from_secs(1)).await;
        cache.create_requests_since(asked).await.unwrap();
        assert_eq!(org.count("ListCreateAccountStatus"), 1, "begun after the ask: reused");
        cache.create_requests_since(Instant::now()).await.unwrap();
        assert_eq!(org.count("ListCreateAccountStatus"), 2, "asked later: listed again");
    }
}
