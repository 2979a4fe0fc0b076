//! Two replicas of the operator: one leads and reconciles, the other stays idle until the
//! leader dies, then takes over.

use orgops_e2e::accounts::{PAYROLL, account, email, setup, status_str, until_condition};
use orgops_e2e::aws::{self, organizations};
use orgops_e2e::operator::{Operator, OperatorOptions};
use orgops_e2e::{apply, eventually};
use serde_json::json;

fn replica<'a>(namespace: &'a str, name: &'a str) -> OperatorOptions<'a> {
    let mut options = OperatorOptions::new(namespace, &[PAYROLL]);
    options.replica = name;
    options
}

#[tokio::test]
async fn one_replica_leads_and_a_standby_takes_over_when_it_dies() {
    let ns = "leader";
    let api = setup(ns).await;
    let org = organizations().await;
    let mut first = Operator::start(replica(ns, "-a")).await;
    eventually(30, "the first replica to lead", || async { first.is_leader().then_some(()) }).await;
    let second = Operator::start(replica(ns, "-b")).await;

    apply(&api, &account(ns, "main", json!({"tags": {"team": "payroll"}}))).await.unwrap();
    let object = until_condition(&api, "main", "Ready", "True", "Available").await;
    let id = status_str(&object, "accountId");
    assert!(!second.is_leader(), "two leaders");
    assert!(second.aws_calls().is_empty(), "the standby called AWS: {:?}", second.aws_calls());
    assert_eq!(first.aws_calls().get("CreateAccount"), Some(&1.0));

    first.kill9();
    eventually(30, "the standby to lead", || async { second.is_leader().then_some(()) }).await;
    apply(&api, &account(ns, "main", json!({"tags": {"team": "payroll", "env": "prod"}}))).await.unwrap();
    eventually(30, "the new leader to tag the account", || async {
        (aws::tags_of(&org, &id).await.get("env").map(String::as_str) == Some("prod")).then_some(())
    })
    .await;
    assert_eq!(second.aws_calls().get("TagResource"), Some(&1.0));
    assert_eq!(second.aws_calls().get("CreateAccount"), None);
    assert_eq!(aws::accounts_with_email(&org, &email(ns, "main")).await, [id]);
}
