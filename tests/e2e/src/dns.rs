//! Route 53 in moto, in any account of the organization (through AssumeRole into its
//! `OrganizationAccountAccessRole`, as the operator reaches it), read and changed as a
//! platform engineer or an intruder would.

use aws_sdk_route53::Client;
use aws_sdk_route53::types::{Change, ChangeAction, ChangeBatch, ResourceRecord, ResourceRecordSet, RrType};

/// A Route 53 client acting in `account`.
pub async fn route53(account: &str) -> Client {
    Client::new(&crate::aws::member_config(account).await)
}

fn id(zone: &str) -> String {
    zone.trim_start_matches("/hostedzone/").to_string()
}

/// Creates a hosted zone in the account; returns its id.
pub async fn create_zone(account: &str, name: &str) -> String {
    let reference = format!("e2e-{name}-{}", std::process::id());
    let out = route53(account).await.create_hosted_zone().name(name).caller_reference(reference).send().await.unwrap();
    id(out.hosted_zone().unwrap().id())
}

/// The account's zone named `name`, created unless a rerun against the same moto made it.
pub async fn existing_zone(account: &str, name: &str) -> String {
    match zones_named(account, name).await.first() {
        Some(zone) => zone.clone(),
        None => create_zone(account, name).await,
    }
}

/// The ids of the account's zones named `name`.
pub async fn zones_named(account: &str, name: &str) -> Vec<String> {
    let out = route53(account).await.list_hosted_zones().send().await.unwrap();
    let wanted = format!("{name}.");
    out.hosted_zones().iter().filter(|z| z.name() == wanted || z.name() == name).map(|z| id(z.id())).collect()
}

/// The zone's name servers.
pub async fn name_servers(account: &str, zone: &str) -> Vec<String> {
    let out = route53(account).await.get_hosted_zone().id(zone).send().await.unwrap();
    let mut servers: Vec<String> =
        out.delegation_set().unwrap().name_servers().iter().map(|n| n.trim_end_matches('.').to_string()).collect();
    servers.sort();
    servers
}

/// The record `name` of type `kind`: its TTL and sorted values.
pub async fn record(account: &str, zone: &str, name: &str, kind: &str) -> Option<(i64, Vec<String>)> {
    let out = route53(account).await.list_resource_record_sets().hosted_zone_id(zone).send().await.unwrap();
    let wanted = format!("{name}.");
    let set = out
        .resource_record_sets()
        .iter()
        .find(|r| (r.name() == wanted || r.name() == name) && r.r#type().as_str() == kind)?;
    let mut values: Vec<String> =
        set.resource_records().iter().map(|v| v.value().trim_end_matches('.').to_string()).collect();
    values.sort();
    Some((set.ttl().unwrap_or_default(), values))
}

/// UPSERTs (`Some`) or DELETEs the record out of band.
pub async fn set_record(account: &str, zone: &str, name: &str, kind: RrType, ttl: i64, values: &[&str], upsert: bool) {
    let records = values.iter().map(|v| ResourceRecord::builder().value(*v).build().unwrap()).collect();
    let set = ResourceRecordSet::builder()
        .name(name)
        .r#type(kind)
        .ttl(ttl)
        .set_resource_records(Some(records))
        .build()
        .unwrap();
    let action = if upsert { ChangeAction::Upsert } else { ChangeAction::Delete };
    let batch = ChangeBatch::builder()
        .changes(Change::builder().action(action).resource_record_set(set).build().unwrap())
        .build()
        .unwrap();
    route53(account).await.change_resource_record_sets().hosted_zone_id(zone).change_batch(batch).send().await.unwrap();
}

/// Deletes a zone out of band.
pub async fn delete_zone(account: &str, zone: &str) {
    route53(account).await.delete_hosted_zone().id(zone).send().await.unwrap();
}
