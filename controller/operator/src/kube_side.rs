//! The driver's Kubernetes writes on the API server: status by server-side apply,
//! the finalizer by JSON patch, and Events through the event recorder.

use crate::reconcile::{Error, FINALIZER, KubeSide, ObjectEvent};
use futures::future::BoxFuture;
use kube::api::{Patch, PatchParams};
use kube::runtime::events::{Event, EventType, Recorder};
use kube::{Api, Resource, ResourceExt};
use serde::de::DeserializeOwned;
use serde_json::json;
use std::fmt::Debug;

/// The field manager of everything orgops writes.
pub const FIELD_MANAGER: &str = "orgops";

/// [`KubeSide`] on the API server.
pub struct ApiServer {
    client: kube::Client,
    recorder: Recorder,
}

impl ApiServer {
    /// Writes through `client`; Events are reported as `reporter`.
    pub fn new(client: kube::Client, recorder: Recorder) -> Self {
        ApiServer { client, recorder }
    }

    fn api<R>(&self, obj: &R) -> Api<R>
    where
        R: Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>,
    {
        Api::namespaced(self.client.clone(), &obj.namespace().unwrap_or_default())
    }
}

impl ApiServer {
    /// Replaces the finalizer list. The resourceVersion makes the API server refuse the
    /// patch if the object changed since it was read, so no other writer's entry is lost.
    async fn set_finalizers<R>(&self, obj: &R, finalizers: Vec<String>, action: &str) -> Result<(), Error>
    where
        R: Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope> + Clone + Debug + DeserializeOwned,
    {
        let patch = json!({"metadata": {"finalizers": finalizers, "resourceVersion": obj.resource_version()}});
        match self.api(obj).patch(&obj.name_any(), &PatchParams::default(), &Patch::Merge(&patch)).await {
            Ok(_) => Ok(()),
            Err(kube::Error::Api(e)) if e.code == 404 => Ok(()),
            Err(e) => Err(kube_error(action, e)),
        }
    }
}

fn kube_error(action: &str, error: kube::Error) -> Error {
    Error::retryable(format!("{action}: {error}"))
}

impl<R> KubeSide<R> for ApiServer
where
    R: Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
        + Clone
        + Debug
        + DeserializeOwned
        + serde::Serialize
        + Send
        + Sync
        + 'static,
{
    fn apply_status(&self, obj: &R, status: serde_json::Value) -> BoxFuture<'_, Result<(), Error>> {
        let api = self.api(obj);
        let name = obj.name_any();
        let patch = json!({
            "apiVersion": R::api_version(&()),
            "kind": R::kind(&()),
            "status": status,
        });
        Box::pin(async move {
            api.patch_status(&name, &PatchParams::apply(FIELD_MANAGER).force(), &Patch::Apply(&patch))
                .await
                .map(|_| ())
                .map_err(|e| kube_error("writing status", e))
        })
    }

    fn add_finalizer<'a>(&'a self, obj: &'a R) -> BoxFuture<'a, Result<(), Error>> {
        let mut finalizers = obj.finalizers().to_vec();
        finalizers.push(FINALIZER.to_string());
        Box::pin(self.set_finalizers(obj, finalizers, "adding the finalizer"))
    }

    fn remove_finalizer<'a>(&'a self, obj: &'a R) -> BoxFuture<'a, Result<(), Error>> {
        let finalizers = obj.finalizers().iter().filter(|f| *f != FINALIZER).cloned().collect();
        Box::pin(self.set_finalizers(obj, finalizers, "removing the finalizer"))
    }

    fn publish<'a>(&'a self, obj: &'a R, event: ObjectEvent) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            let kube_event = Event {
                type_: if event.kind.is_warning() { EventType::Warning } else { EventType::Normal },
                reason: event.kind.reason().to_string(),
                note: Some(truncate(&event.message, 1000)),
                action: "Reconcile".to_string(),
                secondary: None,
            };
            if let Err(error) = self.recorder.publish(&kube_event, &obj.object_ref(&())).await {
                tracing::warn!(object = %obj.name_any(), %error, "publishing an Event failed");
            }
        })
    }
}

fn truncate(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_string();
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}
