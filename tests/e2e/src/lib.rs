//! Helpers shared by the end-to-end tests. They run against the environment that
//! `tests/harness/env.sh up` starts (a real kube-apiserver and etcd, and moto), whose
//! variables `make e2e` exports; without them every test fails with that instruction.
#![forbid(unsafe_code)]
#![deny(warnings)]

pub mod accounts;
pub mod aws;
pub mod bench;
pub mod chaos;
pub mod dns;
pub mod estate;
pub mod faults;
pub mod feed;
pub mod identity;
pub mod operator;
pub mod proxy;
pub mod requests;
pub mod stack_sets;

use anyhow::Context;
use k8s_openapi::api::core::v1::Namespace;
use kube::api::{DynamicObject, Patch, PatchParams, PostParams};
use kube::core::{ApiResource, GroupVersionKind};
use kube::{Api, Client, ResourceExt};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;
use tokio::sync::OnceCell;

/// The repository's root directory.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().expect("repository root")
}

/// A client of the test API server, with the orgops CRDs installed and established.
pub async fn client() -> Client {
    assert!(
        std::env::var_os("ORGOPS_E2E").is_some(),
        "end-to-end tests need the local environment: run `make e2e`, or `tests/harness/env.sh up` \
         and `source target/harness/env` before `cargo test --workspace --test e2e`"
    );
    let client = Client::try_default().await.expect("client from KUBECONFIG");
    static CRDS: OnceCell<()> = OnceCell::const_new();
    CRDS.get_or_init(|| async { install_crds().await.expect("installing crds/") }).await;
    client
}

/// Applies every file in `crds/` (as a user would, from the checked-in YAML) and waits
/// until each CRD is established.
async fn install_crds() -> anyhow::Result<()> {
    let crds = repo_root().join("crds");
    kubectl_status(&["apply", "--server-side", "--force-conflicts", "-f", crds.to_str().context("UTF-8 path")?])?;
    let mut wait = vec!["wait".to_string(), "--for=condition=Established".into(), "--timeout=60s".into()];
    wait.extend(orgops_api::crds().iter().map(|crd| format!("crd/{}", crd.name_any())));
    kubectl_status(&wait.iter().map(String::as_str).collect::<Vec<_>>())
}

fn kubectl_status(args: &[&str]) -> anyhow::Result<()> {
    let output = Command::new("kubectl").args(args).output().context("running kubectl")?;
    anyhow::ensure!(output.status.success(), "kubectl {args:?}: {}", String::from_utf8_lossy(&output.stderr));
    Ok(())
}

/// Creates the namespace if it does not exist.
pub async fn ensure_namespace(client: &Client, name: &str) {
    let api: Api<Namespace> = Api::all(client.clone());
    let ns: Namespace = serde_json::from_value(serde_json::json!({"metadata": {"name": name}})).unwrap();
    match api.create(&PostParams::default(), &ns).await {
        Ok(_) => {}
        Err(kube::Error::Api(e)) if e.code == 409 => {}
        Err(e) => panic!("creating namespace {name}: {e}"),
    }
}

/// An API handle for any orgops kind, by kind name.
pub fn dynamic_api(client: &Client, namespace: &str, kind: &str) -> Api<DynamicObject> {
    let crd = orgops_api::crds().into_iter().find(|c| c.spec.names.kind == kind).expect("an orgops kind");
    let gvk = GroupVersionKind::gvk(orgops_api::GROUP, "v1alpha1", kind);
    let resource = ApiResource::from_gvk_with_plural(&gvk, &crd.spec.names.plural);
    Api::namespaced_with(client.clone(), namespace, &resource)
}

/// Reads a YAML file of the repository (one document).
pub fn read_yaml(relative: &str) -> Value {
    let path = repo_root().join(relative);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    yaml_serde::from_str(&text).unwrap_or_else(|e| panic!("parsing {}: {e}", path.display()))
}

/// RFC 7386 JSON merge patch: `null` removes a key, objects merge, anything else replaces.
pub fn merge(target: &mut Value, patch: &Value) {
    match (target, patch) {
        (Value::Object(t), Value::Object(p)) => {
            for (key, value) in p {
                if value.is_null() {
                    t.remove(key);
                } else {
                    merge(t.entry(key.clone()).or_insert(Value::Null), value);
                }
            }
        }
        (target, patch) => *target = patch.clone(),
    }
}

/// Server-side applies an object given as JSON, returning what the server stored.
pub async fn apply(api: &Api<DynamicObject>, object: &Value) -> Result<DynamicObject, kube::Error> {
    let name = object["metadata"]["name"].as_str().expect("metadata.name").to_string();
    api.patch(&name, &PatchParams::apply("orgops-e2e").force(), &Patch::Apply(object)).await
}

/// Runs the real kubectl with the test kubeconfig and returns its standard output.
pub fn kubectl(args: &[&str]) -> String {
    let output = Command::new("kubectl").args(args).output().expect("running kubectl");
    assert!(output.status.success(), "kubectl {args:?} failed: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout).expect("kubectl prints UTF-8")
}

/// Polls `check` every 200 ms until it returns `Some`, for at most `seconds`.
pub async fn eventually<T, F, Fut>(seconds: u64, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(seconds);
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(std::time::Instant::now() < deadline, "timed out after {seconds} s waiting for {what}");
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}

/// The condition of this type on an object, as (status, reason, message).
pub fn condition(object: &DynamicObject, type_: &str) -> Option<(String, String, String)> {
    let conditions = object.data.get("status")?.get("conditions")?.as_array()?;
    let c = conditions.iter().find(|c| c["type"] == type_)?;
    Some((
        c["status"].as_str()?.to_string(),
        c["reason"].as_str()?.to_string(),
        c["message"].as_str().unwrap_or_default().to_string(),
    ))
}

/// The Events of an object, as (reason, message).
pub fn events_of(namespace: &str, name: &str) -> Vec<(String, String)> {
    let out = kubectl(&[
        "get",
        "events",
        "-n",
        namespace,
        "--field-selector",
        &format!("involvedObject.name={name}"),
        "-o",
        "jsonpath={range .items[*]}{.reason}{\"\\t\"}{.message}{\"\\n\"}{end}",
    ]);
    out.lines().filter_map(|l| l.split_once('\t')).map(|(r, m)| (r.to_string(), m.to_string())).collect()
}

/// Deletes each named object and waits until every one is gone (its finalizer released),
/// for at most `seconds`.
pub async fn delete_and_wait_gone(api: &Api<DynamicObject>, names: &[&str], seconds: u64) {
    for name in names {
        match api.delete(name, &Default::default()).await {
            Ok(_) => {}
            Err(kube::Error::Api(e)) if e.code == 404 => {}
            Err(e) => panic!("deleting {name}: {e}"),
        }
    }
    for name in names {
        eventually(seconds, &format!("{name} gone"), || async {
            matches!(api.get(name).await, Err(kube::Error::Api(e)) if e.code == 404).then_some(())
        })
        .await;
    }
}
