//! AwsAccount objects as the tests write and wait for them.

use crate::{client, condition, dynamic_api, ensure_namespace, eventually, merge};
use kube::Api;
use kube::api::DynamicObject;
use serde_json::{Value, json};

/// The OU the test namespaces place their accounts in.
pub const PAYROLL: &str = "Workloads/Payroll";

/// An AwsAccount in `namespace`, in [`PAYROLL`], with `spec` merged over the defaults.
pub fn account(namespace: &str, name: &str, spec: Value) -> Value {
    let mut object = json!({
        "apiVersion": "orgops.dev/v1alpha1", "kind": "AwsAccount",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"accountName": name, "email": email(namespace, name), "organizationalUnit": PAYROLL}
    });
    merge(&mut object, &json!({ "spec": spec }));
    object
}

/// The email of [`account`]`(namespace, name, …)`.
pub fn email(namespace: &str, name: &str) -> String {
    format!("{name}@{namespace}.example.com")
}

/// Creates the namespace and returns the AwsAccount API in it.
pub async fn setup(namespace: &str) -> Api<DynamicObject> {
    let client = client().await;
    ensure_namespace(&client, namespace).await;
    dynamic_api(&client, namespace, "AwsAccount")
}

/// Waits until the object's condition has this status and reason; returns the object.
pub async fn until_condition(
    api: &Api<DynamicObject>,
    name: &str,
    type_: &str,
    status: &str,
    reason: &str,
) -> DynamicObject {
    eventually(60, &format!("{name}: {type_}={status} ({reason})"), || async {
        let object = api.get(name).await.ok()?;
        let (s, r, _) = condition(&object, type_)?;
        (s == status && r == reason).then_some(object)
    })
    .await
}

/// How many objects of the API are Ready (0 while the API server cannot be read).
pub async fn ready_count(api: &Api<DynamicObject>) -> usize {
    let Ok(list) = api.list(&Default::default()).await else { return 0 };
    list.items.iter().filter(|o| condition(o, "Ready").is_some_and(|(s, _, _)| s == "True")).count()
}

/// A string field of the object's status, empty when absent.
pub fn status_str(object: &DynamicObject, field: &str) -> String {
    object.data["status"][field].as_str().unwrap_or_default().to_string()
}
