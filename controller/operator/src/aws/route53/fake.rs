//! Route 53 in memory, for unit tests of what moto cannot produce: changes PENDING then
//! INSYNC, PriorRequestNotComplete, a CallerReference already used, HostedZoneNotEmpty
//! for any record but the apex NS and SOA.

use crate::aws::route53::{ChangeState, CreatedZone, RecordSet, Route53, Tags, Zone};
use crate::aws::test_support::{CallLog, next_state};
use crate::aws::{AwsError, FailureKind};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex};

/// A zone and what is in it.
#[derive(Clone, Debug, Default)]
pub struct FakeZone {
    pub zone: Option<Zone>,
    pub records: Vec<RecordSet>,
    pub tags: Tags,
}

#[derive(Default)]
pub struct Route53State {
    /// Zones by (account, zone id).
    pub zones: BTreeMap<(String, String), FakeZone>,
    /// States the next changes go through (default: INSYNC at once).
    pub scripts: VecDeque<Vec<ChangeState>>,
    changes: HashMap<String, VecDeque<ChangeState>>,
}

/// Route 53 of every account, in memory.
#[derive(Default)]
pub struct FakeRoute53 {
    pub state: Mutex<Route53State>,
    pub log: CallLog,
}

pub fn route53_error(kind: FailureKind, code: &str) -> AwsError {
    AwsError { operation: "route53:Test".into(), code: Some(code.into()), message: code.into(), kind }
}

impl FakeRoute53 {
    pub fn new() -> Arc<Self> {
        Arc::new(FakeRoute53::default())
    }

    fn call(&self, name: &'static str) -> Result<(), AwsError> {
        self.log.call(name)
    }

    pub fn count(&self, name: &str) -> usize {
        self.log.count(name)
    }

    pub fn writes(&self) -> usize {
        let writes = ["CreateHostedZone", "ChangeTagsForResource", "ChangeResourceRecordSets", "DeleteHostedZone"];
        writes.iter().map(|w| self.count(w)).sum()
    }

    pub fn fail_next(&self, operation: &'static str, error: AwsError) {
        self.log.fail_next(operation, error);
    }

    /// Adds a zone with its apex NS and SOA; returns its id.
    pub fn add_zone(&self, account: &str, name: &str, caller_reference: &str, tags: Tags) -> String {
        let mut s = self.state.lock().unwrap();
        let id = format!("Z{:04}", s.zones.len() + 1);
        let servers: Vec<String> = (1..=4).map(|i| format!("ns-{i}.{}.example-dns.net", id.to_lowercase())).collect();
        let apex = |kind: &str, values: Vec<String>| RecordSet {
            name: name.into(),
            kind: kind.into(),
            ttl: Some(172_800),
            values,
        };
        let zone = FakeZone {
            zone: Some(Zone { id: id.clone(), name: name.into(), caller_reference: caller_reference.into() }),
            records: vec![apex("NS", servers), apex("SOA", vec![format!("ns-1.{id}")])],
            tags,
        };
        s.zones.insert((account.into(), id.clone()), zone);
        id
    }

    pub fn record(&self, account: &str, zone_id: &str, name: &str) -> Option<RecordSet> {
        let s = self.state.lock().unwrap();
        s.zones
            .get(&(account.into(), zone_id.into()))?
            .records
            .iter()
            .find(|r| r.name == name && r.kind == "NS")
            .cloned()
    }

    pub fn set_record(&self, account: &str, zone_id: &str, record: Option<RecordSet>, name: &str) {
        let mut s = self.state.lock().unwrap();
        let zone = s.zones.get_mut(&(account.into(), zone_id.into())).expect("a zone");
        zone.records.retain(|r| !(r.name == name && r.kind == "NS"));
        zone.records.extend(record);
    }

    pub fn zones_in(&self, account: &str) -> Vec<Zone> {
        let s = self.state.lock().unwrap();
        s.zones.iter().filter(|((a, _), _)| a == account).filter_map(|(_, z)| z.zone.clone()).collect()
    }

    fn servers(zone: &FakeZone) -> Vec<String> {
        let name = zone.zone.as_ref().map(|z| z.name.clone()).unwrap_or_default();
        zone.records.iter().find(|r| r.kind == "NS" && r.name == name).map(|r| r.values.clone()).unwrap_or_default()
    }

    fn start_change(&self) -> String {
        let mut s = self.state.lock().unwrap();
        let states: VecDeque<ChangeState> = s.scripts.pop_front().unwrap_or_else(|| vec![ChangeState::InSync]).into();
        let id = format!("C{}", s.changes.len() + 1);
        s.changes.insert(id.clone(), states);
        id
    }
}

impl Route53 for Arc<FakeRoute53> {
    async fn zones(&self, account: &str) -> Result<Vec<Zone>, AwsError> {
        self.call("ListHostedZones")?;
        Ok(self.zones_in(account))
    }
    async fn zones_named(&self, account: &str, name: &str) -> Result<Vec<Zone>, AwsError> {
        self.call("ListHostedZonesByName")?;
        Ok(self.zones_in(account).into_iter().filter(|z| z.name == name).collect())
    }
    async fn create_zone(&self, account: &str, name: &str, caller_reference: &str) -> Result<CreatedZone, AwsError> {
        self.call("CreateHostedZone")?;
        let used =
            self.state.lock().unwrap().zones.iter().any(|((a, _), z)| {
                a == account && z.zone.as_ref().is_some_and(|z| z.caller_reference == caller_reference)
            });
        if used {
            return Err(route53_error(FailureKind::Client, "HostedZoneAlreadyExists"));
        }
        let id = self.add_zone(account, name, caller_reference, Tags::new());
        let zone = self.state.lock().unwrap().zones[&(account.to_string(), id.clone())].clone();
        let change_id = self.start_change();
        Ok(CreatedZone { name_servers: FakeRoute53::servers(&zone), zone: zone.zone.unwrap(), change_id })
    }
    async fn name_servers(&self, account: &str, zone_id: &str) -> Result<Option<Vec<String>>, AwsError> {
        self.call("GetHostedZone")?;
        let s = self.state.lock().unwrap();
        Ok(s.zones.get(&(account.into(), zone_id.into())).map(FakeRoute53::servers))
    }
    async fn zone_tags(&self, account: &str, zone_id: &str) -> Result<Tags, AwsError> {
        self.call("ListTagsForResource")?;
        let s = self.state.lock().unwrap();
        Ok(s.zones.get(&(account.into(), zone_id.into())).map(|z| z.tags.clone()).unwrap_or_default())
    }
    async fn tag_zone(&self, account: &str, zone_id: &str, tags: &Tags) -> Result<(), AwsError> {
        self.call("ChangeTagsForResource")?;
        let mut s = self.state.lock().unwrap();
        let zone = s
            .zones
            .get_mut(&(account.into(), zone_id.into()))
            .ok_or_else(|| route53_error(FailureKind::Client, "NoSuchHostedZone"))?;
        zone.tags.extend(tags.clone());
        Ok(())
    }
    async fn records(&self, account: &str, zone_id: &str) -> Result<Vec<RecordSet>, AwsError> {
        self.call("ListResourceRecordSets")?;
        let s = self.state.lock().unwrap();
        let zone = s
            .zones
            .get(&(account.into(), zone_id.into()))
            .ok_or_else(|| route53_error(FailureKind::Client, "NoSuchHostedZone"))?;
        Ok(zone.records.clone())
    }
    async fn change_ns(
        &self,
        account: &str,
        zone_id: &str,
        record: &RecordSet,
        upsert: bool,
    ) -> Result<String, AwsError> {
        self.call("ChangeResourceRecordSets")?;
        if !upsert && self.record(account, zone_id, &record.name).as_ref() != Some(record) {
            return Err(route53_error(FailureKind::Client, "InvalidChangeBatch"));
        }
        self.set_record(account, zone_id, upsert.then(|| record.clone()), &record.name);
        Ok(self.start_change())
    }
    async fn change(&self, _account: &str, change_id: &str) -> Result<ChangeState, AwsError> {
        self.call("GetChange")?;
        let mut s = self.state.lock().unwrap();
        let states = s.changes.get_mut(change_id).ok_or_else(|| route53_error(FailureKind::Client, "NoSuchChange"))?;
        Ok(next_state(states, ChangeState::InSync))
    }
    async fn delete_zone(&self, account: &str, zone_id: &str) -> Result<(), AwsError> {
        self.call("DeleteHostedZone")?;
        let mut s = self.state.lock().unwrap();
        let key = (account.to_string(), zone_id.to_string());
        let zone = s.zones.get(&key).ok_or_else(|| route53_error(FailureKind::Client, "NoSuchHostedZone"))?;
        let name = zone.zone.as_ref().map(|z| z.name.clone()).unwrap_or_default();
        if zone.records.iter().any(|r| !(r.name == name && (r.kind == "NS" || r.kind == "SOA"))) {
            return Err(route53_error(FailureKind::Client, "HostedZoneNotEmpty"));
        }
        s.zones.remove(&key);
        Ok(())
    }
}
