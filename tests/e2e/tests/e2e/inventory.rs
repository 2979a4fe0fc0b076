//! `orgops inventory`: the CSV of the cluster's accounts and the CSV read from AWS match
//! what moto holds.

use orgops_e2e::accounts::{PAYROLL, account, status_str, until_condition};
use orgops_e2e::apply;
use orgops_e2e::aws::organizations;
use orgops_e2e::operator::{Operator, OperatorOptions, binary};
use serde_json::json;
use std::collections::BTreeMap;

/// The CSV's rows by account id (the rows without one, not yet created, are left out).
async fn inventory(args: &[&str]) -> BTreeMap<String, Vec<String>> {
    let out = tokio::process::Command::new(binary())
        .arg("inventory")
        .args(args)
        .envs(orgops_e2e::operator::test_env().await)
        .output()
        .await
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).unwrap();
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("account_id,account_name,email,ou_path,state,namespace"));
    lines
        .map(|l| l.split(',').map(str::to_string).collect::<Vec<_>>())
        .filter(|cells| !cells[0].is_empty())
        .map(|cells| (cells[0].clone(), cells))
        .collect()
}

#[tokio::test]
async fn the_csv_from_the_cluster_and_from_aws_matches_the_organization() {
    let ns = "inventory";
    let org = organizations().await;
    let accounts = orgops_e2e::accounts::setup(ns).await;
    let _operator = Operator::start(OperatorOptions::new(ns, &[PAYROLL])).await;
    let mut ids = Vec::new();
    for name in ["inventory-a", "inventory-b"] {
        apply(&accounts, &account(ns, name, json!({"organizationalUnit": PAYROLL}))).await.unwrap();
        ids.push(status_str(&until_condition(&accounts, name, "Ready", "True", "Available").await, "accountId"));
    }
    let cluster = inventory(&["--format", "csv"]).await;
    // The organization is this test's own: the inventory from AWS is exactly its listing.
    let listed = listing(&org).await;
    let from_aws = inventory(&["--from-aws", "--format", "csv"]).await;
    assert_eq!(from_aws.keys().collect::<Vec<_>>(), listed.keys().collect::<Vec<_>>(), "every account, no other");
    for (id, seen) in &listed {
        let row = &from_aws[id];
        assert_eq!(
            (row[1].as_str(), row[2].as_str(), row[4].as_str()),
            (seen.0.as_str(), seen.1.as_str(), seen.2.as_str()),
            "{id}"
        );
    }
    for id in &ids {
        let (cluster_row, aws_row) = (&cluster[id], &from_aws[id]);
        assert_eq!(cluster_row, aws_row, "the cluster's view and AWS's agree on {id}");
        assert_eq!((cluster_row[3].as_str(), cluster_row[5].as_str()), (PAYROLL, ns));
    }
}

/// Every account of the organization: id → (name, email, state).
async fn listing(org: &aws_sdk_organizations::Client) -> BTreeMap<String, (String, String, String)> {
    let mut listed = BTreeMap::new();
    let mut pages = org.list_accounts().into_paginator().send();
    while let Some(page) = pages.next().await {
        for account in page.unwrap().accounts() {
            let text = |v: Option<&str>| v.unwrap_or_default().to_string();
            let state = account.state().map(|s| s.as_str().to_string()).unwrap_or_default();
            listed.insert(text(account.id()), (text(account.name()), text(account.email()), state));
        }
    }
    listed
}
