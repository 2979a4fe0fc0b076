//! `orgops inventory`: the CSV of the cluster's accounts and the CSV read from AWS match
//! what moto holds.

use orgops_e2e::accounts::{PAYROLL, account, status_str, until_condition};
use orgops_e2e::apply;
use orgops_e2e::aws::organizations;
use orgops_e2e::operator::{Operator, OperatorOptions, binary};
use serde_json::json;
use std::collections::BTreeMap;

/// The CSV's rows by account id (the rows without one, not yet created, are left out).
fn inventory(args: &[&str]) -> BTreeMap<String, Vec<String>> {
    let out = std::process::Command::new(binary()).arg("inventory").args(args).output().unwrap();
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
    let cluster = inventory(&["--format", "csv"]);
    let from_aws = inventory(&["--from-aws", "--format", "csv"]);

    let mut listed = Vec::new();
    let mut pages = org.list_accounts().into_paginator().send();
    while let Some(page) = pages.next().await {
        listed.extend(page.unwrap().accounts().iter().cloned());
    }
    let all: Vec<String> = listed.iter().map(|a| a.id().unwrap().to_string()).collect();
    assert_eq!(
        from_aws.keys().cloned().collect::<Vec<_>>(),
        {
            let mut all = all.clone();
            all.sort();
            all
        },
        "every account of the organization"
    );
    for account in &listed {
        let id = account.id().unwrap();
        let row = &from_aws[id];
        assert_eq!(
            (row[1].as_str(), row[2].as_str(), row[4].as_str()),
            (account.name().unwrap(), account.email().unwrap(), account.state().unwrap().as_str()),
            "{id}"
        );
    }
    for id in &ids {
        let (cluster_row, aws_row) = (&cluster[id], &from_aws[id]);
        assert_eq!(cluster_row, aws_row, "the cluster's view and AWS's agree on {id}");
        assert_eq!((cluster_row[3].as_str(), cluster_row[5].as_str()), (PAYROLL, ns));
    }
}
