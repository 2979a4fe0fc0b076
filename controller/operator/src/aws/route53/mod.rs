//! Route 53: the calls orgops makes on hosted zones and NS records, each in a named
//! account, and their SDK implementation (one client per account, through
//! [`MemberAccess`]). Names are lower case without the trailing dot; zone ids carry no
//! `/hostedzone/` prefix.

#[cfg(test)]
pub mod fake;

use crate::aws::member::MemberAccess;
use crate::aws::{AwsError, CallGate, FailureKind};
use aws_sdk_route53::Client;
use aws_sdk_route53::types::{
    Change, ChangeAction, ChangeBatch, ChangeStatus, ResourceRecord, ResourceRecordSet, RrType, Tag, TagResourceType,
};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use tokio::sync::Mutex;

const SERVICE: &str = "route53";

/// Tags as key → value.
pub type Tags = BTreeMap<String, String>;

/// A hosted zone.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Zone {
    /// Its id (`Z…`).
    pub id: String,
    /// Its domain.
    pub name: String,
    /// The CallerReference it was created with.
    pub caller_reference: String,
}

/// A record set, as orgops compares it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordSet {
    /// Its name.
    pub name: String,
    /// Its type (`NS`, `SOA`, `TXT`, ...).
    pub kind: String,
    /// Its TTL.
    pub ttl: Option<i64>,
    /// Its values, lower case, without trailing dots, sorted.
    pub values: Vec<String>,
}

/// A zone just created: the zone, its name servers and the change to wait for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CreatedZone {
    /// The zone.
    pub zone: Zone,
    /// Its name servers.
    pub name_servers: Vec<String>,
    /// The change id.
    pub change_id: String,
}

/// Whether a change has reached every Route 53 server.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChangeState {
    /// Still propagating.
    Pending,
    /// Done.
    InSync,
}

/// A DNS name as orgops keeps it: lower case, no trailing dot.
pub fn normalize(name: &str) -> String {
    name.trim_end_matches('.').to_ascii_lowercase()
}

/// The Route 53 calls orgops makes, each in an account.
pub trait Route53: Send + Sync + 'static {
    /// ListHostedZones, all pages.
    fn zones(&self, account: &str) -> impl Future<Output = Result<Vec<Zone>, AwsError>> + Send;
    /// ListHostedZonesByName from `name`: the zones of exactly that name.
    fn zones_named(&self, account: &str, name: &str) -> impl Future<Output = Result<Vec<Zone>, AwsError>> + Send;
    /// CreateHostedZone.
    fn create_zone(
        &self,
        account: &str,
        name: &str,
        caller_reference: &str,
    ) -> impl Future<Output = Result<CreatedZone, AwsError>> + Send;
    /// GetHostedZone: its name servers; `None` when it does not exist.
    fn name_servers(
        &self,
        account: &str,
        zone_id: &str,
    ) -> impl Future<Output = Result<Option<Vec<String>>, AwsError>> + Send;
    /// ListTagsForResource of a zone.
    fn zone_tags(&self, account: &str, zone_id: &str) -> impl Future<Output = Result<Tags, AwsError>> + Send;
    /// ChangeTagsForResource: adds or replaces these tags on a zone.
    fn tag_zone(&self, account: &str, zone_id: &str, tags: &Tags) -> impl Future<Output = Result<(), AwsError>> + Send;
    /// ListResourceRecordSets, all pages.
    fn records(&self, account: &str, zone_id: &str) -> impl Future<Output = Result<Vec<RecordSet>, AwsError>> + Send;
    /// ChangeResourceRecordSets with one UPSERT (`upsert`) or DELETE of an NS record: the
    /// change id.
    fn change_ns(
        &self,
        account: &str,
        zone_id: &str,
        record: &RecordSet,
        upsert: bool,
    ) -> impl Future<Output = Result<String, AwsError>> + Send;
    /// GetChange.
    fn change(&self, account: &str, change_id: &str) -> impl Future<Output = Result<ChangeState, AwsError>> + Send;
    /// DeleteHostedZone.
    fn delete_zone(&self, account: &str, zone_id: &str) -> impl Future<Output = Result<(), AwsError>> + Send;
}

/// [`Route53`] on the AWS SDK: a client per account, built once.
pub struct SdkRoute53 {
    access: Arc<MemberAccess>,
    gate: CallGate,
    clients: Mutex<HashMap<String, Client>>,
}

impl SdkRoute53 {
    /// Route 53 in every account `access` reaches; every call goes through `gate`.
    pub fn new(access: Arc<MemberAccess>, gate: CallGate) -> Self {
        SdkRoute53 { access, gate, clients: Mutex::new(HashMap::new()) }
    }

    async fn client(&self, account: &str) -> Result<Client, AwsError> {
        let mut clients = self.clients.lock().await;
        if let Some(client) = clients.get(account) {
            return Ok(client.clone());
        }
        let client = Client::new(&self.access.config(account).await?);
        clients.insert(account.to_string(), client.clone());
        Ok(client)
    }
}

fn zone_id(id: &str) -> String {
    id.trim_start_matches("/hostedzone/").to_string()
}

fn change_id(id: &str) -> String {
    id.trim_start_matches("/change/").to_string()
}

fn zone(z: &aws_sdk_route53::types::HostedZone) -> Zone {
    Zone { id: zone_id(z.id()), name: normalize(z.name()), caller_reference: z.caller_reference().to_string() }
}

fn record(r: &ResourceRecordSet) -> RecordSet {
    let mut values: Vec<String> = r.resource_records().iter().map(|v| normalize(v.value())).collect();
    values.sort();
    RecordSet { name: normalize(r.name()), kind: r.r#type().as_str().to_string(), ttl: r.ttl(), values }
}

fn build_error(what: &str, error: impl std::fmt::Display) -> AwsError {
    AwsError {
        operation: format!("{SERVICE}:{what}"),
        code: None,
        message: error.to_string(),
        kind: FailureKind::Client,
    }
}

impl Route53 for SdkRoute53 {
    async fn zones(&self, account: &str) -> Result<Vec<Zone>, AwsError> {
        let client = self.client(account).await?;
        let mut zones = Vec::new();
        let mut marker = None;
        loop {
            let request = client.list_hosted_zones().set_marker(marker.take()).send();
            let out = self.gate.send(SERVICE, "ListHostedZones", request).await?;
            zones.extend(out.hosted_zones().iter().map(zone));
            match out.next_marker() {
                Some(next) if out.is_truncated() => marker = Some(next.to_string()),
                _ => return Ok(zones),
            }
        }
    }

    async fn zones_named(&self, account: &str, name: &str) -> Result<Vec<Zone>, AwsError> {
        let client = self.client(account).await?;
        let request = client.list_hosted_zones_by_name().dns_name(name).send();
        let out = self.gate.send(SERVICE, "ListHostedZonesByName", request).await?;
        Ok(out.hosted_zones().iter().map(zone).filter(|z| z.name == normalize(name)).collect())
    }

    async fn create_zone(&self, account: &str, name: &str, caller_reference: &str) -> Result<CreatedZone, AwsError> {
        let client = self.client(account).await?;
        let request = client.create_hosted_zone().name(name).caller_reference(caller_reference).send();
        let out = self.gate.send(SERVICE, "CreateHostedZone", request).await?;
        Ok(CreatedZone {
            zone: out
                .hosted_zone()
                .map(zone)
                .ok_or_else(|| build_error("CreateHostedZone", "no zone in the answer"))?,
            name_servers: out
                .delegation_set()
                .map(|d| d.name_servers().iter().map(|n| normalize(n)).collect())
                .unwrap_or_default(),
            change_id: out.change_info().map(|c| change_id(c.id())).unwrap_or_default(),
        })
    }

    async fn name_servers(&self, account: &str, zone_id: &str) -> Result<Option<Vec<String>>, AwsError> {
        let client = self.client(account).await?;
        match self.gate.send(SERVICE, "GetHostedZone", client.get_hosted_zone().id(zone_id).send()).await {
            Ok(out) => Ok(Some(
                out.delegation_set()
                    .map(|d| d.name_servers().iter().map(|n| normalize(n)).collect())
                    .unwrap_or_default(),
            )),
            Err(error) if error.is("NoSuchHostedZone") => Ok(None),
            Err(error) => Err(error),
        }
    }

    async fn zone_tags(&self, account: &str, zone_id: &str) -> Result<Tags, AwsError> {
        let client = self.client(account).await?;
        let request =
            client.list_tags_for_resource().resource_type(TagResourceType::Hostedzone).resource_id(zone_id).send();
        let out = self.gate.send(SERVICE, "ListTagsForResource", request).await?;
        let tags = out.resource_tag_set().map(|set| set.tags()).unwrap_or_default();
        Ok(tags.iter().filter_map(|t| Some((t.key()?.to_string(), t.value()?.to_string()))).collect())
    }

    async fn tag_zone(&self, account: &str, zone_id: &str, tags: &Tags) -> Result<(), AwsError> {
        let client = self.client(account).await?;
        let tags = tags.iter().map(|(k, v)| Tag::builder().key(k).value(v).build()).collect();
        let request = client
            .change_tags_for_resource()
            .resource_type(TagResourceType::Hostedzone)
            .resource_id(zone_id)
            .set_add_tags(Some(tags))
            .send();
        self.gate.send(SERVICE, "ChangeTagsForResource", request).await?;
        Ok(())
    }

    async fn records(&self, account: &str, zone_id: &str) -> Result<Vec<RecordSet>, AwsError> {
        let client = self.client(account).await?;
        let mut records = Vec::new();
        let mut start: Option<(String, RrType, Option<String>)> = None;
        loop {
            let mut request = client.list_resource_record_sets().hosted_zone_id(zone_id);
            if let Some((name, kind, identifier)) = start.take() {
                request =
                    request.start_record_name(name).start_record_type(kind).set_start_record_identifier(identifier);
            }
            let out = self.gate.send(SERVICE, "ListResourceRecordSets", request.send()).await?;
            records.extend(out.resource_record_sets().iter().map(record));
            match (out.is_truncated(), out.next_record_name(), out.next_record_type()) {
                (true, Some(name), Some(kind)) => {
                    start = Some((name.to_string(), kind.clone(), out.next_record_identifier().map(str::to_string)))
                }
                _ => return Ok(records),
            }
        }
    }

    async fn change_ns(&self, account: &str, zone_id: &str, set: &RecordSet, upsert: bool) -> Result<String, AwsError> {
        let client = self.client(account).await?;
        let values = set
            .values
            .iter()
            .map(|v| ResourceRecord::builder().value(v).build().map_err(|e| build_error("ResourceRecord", e)))
            .collect::<Result<Vec<_>, _>>()?;
        let record = ResourceRecordSet::builder()
            .name(&set.name)
            .r#type(RrType::Ns)
            .set_ttl(set.ttl)
            .set_resource_records(Some(values))
            .build()
            .map_err(|e| build_error("ResourceRecordSet", e))?;
        let action = if upsert { ChangeAction::Upsert } else { ChangeAction::Delete };
        let change = Change::builder()
            .action(action)
            .resource_record_set(record)
            .build()
            .map_err(|e| build_error("Change", e))?;
        let batch = ChangeBatch::builder().changes(change).build().map_err(|e| build_error("ChangeBatch", e))?;
        let request = client.change_resource_record_sets().hosted_zone_id(zone_id).change_batch(batch).send();
        let out = self.gate.send(SERVICE, "ChangeResourceRecordSets", request).await?;
        Ok(out.change_info().map(|c| change_id(c.id())).unwrap_or_default())
    }

    async fn change(&self, account: &str, change_id: &str) -> Result<ChangeState, AwsError> {
        let client = self.client(account).await?;
        let out = self.gate.send(SERVICE, "GetChange", client.get_change().id(change_id).send()).await?;
        Ok(match out.change_info().map(|c| c.status()) {
            Some(ChangeStatus::Insync) => ChangeState::InSync,
            _ => ChangeState::Pending,
        })
    }

    async fn delete_zone(&self, account: &str, zone_id: &str) -> Result<(), AwsError> {
        let client = self.client(account).await?;
        self.gate.send(SERVICE, "DeleteHostedZone", client.delete_hosted_zone().id(zone_id).send()).await?;
        Ok(())
    }
}
