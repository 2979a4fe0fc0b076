//! PermissionSetRequest objects as the tests write and wait for them.

use crate::{client, dynamic_api, merge};
use kube::Api;
use kube::api::DynamicObject;
use serde_json::{Value, json};

/// A PermissionSetRequest in `namespace` for a permission set named after the namespace
/// (names are unique in the shared Identity Center instance), `spec` merged over it.
pub fn request(namespace: &str, name: &str, spec: Value) -> Value {
    let mut object = json!({
        "apiVersion": "orgops.dev/v1alpha1", "kind": "PermissionSetRequest",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"permissionSet": {"name": permission_set_name(namespace, name)}}
    });
    merge(&mut object, &json!({ "spec": spec }));
    object
}

/// The permission set name of [`request`]`(namespace, name, …)`.
pub fn permission_set_name(namespace: &str, name: &str) -> String {
    format!("{namespace}-{name}")
}

/// Seeds the organization, creates the namespace and returns the AwsAccount and the
/// PermissionSetRequest APIs in it.
pub async fn setup(namespace: &str) -> (Api<DynamicObject>, Api<DynamicObject>) {
    crate::aws::organizations().await;
    let accounts = crate::accounts::setup(namespace).await;
    (accounts, dynamic_api(&client().await, namespace, "PermissionSetRequest"))
}
