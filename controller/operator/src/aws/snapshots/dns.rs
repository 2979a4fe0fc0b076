//! What orgops reads of Route 53, shared by every SubdomainDelegation: the NS records of
//! each parent zone and the hosted zones of each team account, each listed once per
//! sweep (one listing serves every delegation under that parent or in that account).
//! Writes update it in place, so nothing is read back after a write orgops made.

use crate::aws::AwsError;
use crate::aws::route53::{RecordSet, Route53, Zone};
use crate::aws::snapshots::sweep::SweepCache;
use tokio::sync::Mutex;
use tokio::time::Instant;

/// The shared view of Route 53.
pub struct DnsView<R: Route53> {
    route53: R,
    /// NS records by (account, parent zone id).
    parent_records: SweepCache<(String, String), Vec<RecordSet>>,
    /// Hosted zones by account.
    zones: SweepCache<String, Vec<Zone>>,
    /// One listing at a time, so delegations checked together share it.
    listing: Mutex<()>,
}

impl<R: Route53> DnsView<R> {
    /// A view with nothing read yet.
    pub fn new(route53: R) -> Self {
        DnsView {
            route53,
            parent_records: SweepCache::default(),
            zones: SweepCache::default(),
            listing: Mutex::new(()),
        }
    }

    /// The Route 53 calls, for writes and per-object reads.
    pub fn route53(&self) -> &R {
        &self.route53
    }

    /// A sweep began: what was listed before is stale.
    pub fn begin_sweep(&self) {
        let now = Instant::now();
        self.parent_records.begin_sweep(now);
        self.zones.begin_sweep(now);
    }

    /// AWS said the hosted zone or its records changed: its NS records, and the zone
    /// listing of the account holding it, are read again.
    pub fn forget_zone(&self, zone_id: &str) {
        self.parent_records.forget_where(|(_, zone), _| zone == zone_id);
        self.zones.forget_where(|_, zones| zones.iter().any(|zone| zone.id == zone_id));
    }

    /// The NS record named `name` in a parent zone, from the zone's NS records listed
    /// once per sweep.
    pub async fn parent_record(&self, account: &str, zone_id: &str, name: &str) -> Result<Option<RecordSet>, AwsError> {
        let key = (account.to_string(), zone_id.to_string());
        let records = match self.parent_records.get(&key) {
            Some(records) => records,
            None => {
                let _listing = self.listing.lock().await;
                match self.parent_records.get(&key) {
                    Some(records) => records,
                    None => {
                        let all = self.route53.records(account, zone_id).await?;
                        let ns: Vec<RecordSet> = all.into_iter().filter(|r| r.kind == "NS").collect();
                        self.parent_records.insert(key, ns.clone());
                        ns
                    }
                }
            }
        };
        Ok(records.into_iter().find(|r| r.name == name))
    }

    /// The NS record named `name` in a parent zone, listed now rather than from the
    /// sweep's listing: before orgops writes a record it has never written, so that one
    /// written by someone else since the listing is never overwritten.
    pub async fn parent_record_now(
        &self,
        account: &str,
        zone_id: &str,
        name: &str,
    ) -> Result<Option<RecordSet>, AwsError> {
        let all = self.route53.records(account, zone_id).await?;
        let ns: Vec<RecordSet> = all.into_iter().filter(|r| r.kind == "NS").collect();
        let found = ns.iter().find(|r| r.name == name).cloned();
        self.parent_records.insert((account.to_string(), zone_id.to_string()), ns);
        Ok(found)
    }

    /// Records what orgops wrote to a parent zone: the record, or its removal.
    pub fn record_parent(&self, account: &str, zone_id: &str, name: &str, record: Option<RecordSet>) {
        let key = (account.to_string(), zone_id.to_string());
        let Some(mut records) = self.parent_records.get(&key) else { return };
        records.retain(|r| r.name != name);
        records.extend(record);
        self.parent_records.insert(key, records);
    }

    /// The hosted zones of an account, listed once per sweep.
    pub async fn zones(&self, account: &str) -> Result<Vec<Zone>, AwsError> {
        if let Some(zones) = self.zones.get(&account.to_string()) {
            return Ok(zones);
        }
        let _listing = self.listing.lock().await;
        if let Some(zones) = self.zones.get(&account.to_string()) {
            return Ok(zones);
        }
        let zones = self.route53.zones(account).await?;
        self.zones.insert(account.to_string(), zones.clone());
        Ok(zones)
    }

    /// Records a zone orgops created (`Some`) or deleted (`None`, by id).
    pub fn record_zone(&self, account: &str, created: Option<Zone>, deleted: Option<&str>) {
        let Some(mut zones) = self.zones.get(&account.to_string()) else { return };
        zones.retain(|z| Some(z.id.as_str()) != deleted);
        zones.extend(created);
        self.zones.insert(account.to_string(), zones);
    }
}
