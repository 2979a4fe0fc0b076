//! The driver's Kubernetes writes on the API server: status by server-side apply,
//! the finalizer by JSON patch, and Events (`events.k8s.io/v1`).

use crate::reconcile::{Error, FINALIZER, KubeSide, ObjectEvent};
use futures::future::BoxFuture;
use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::api::events::v1::{Event as K8sEvent, EventSeries};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::api::{Patch, PatchParams, PostParams};
use kube::{Api, Resource, ResourceExt};
use serde::de::DeserializeOwned;
use serde_json::json;
use std::collections::HashMap;
use std::fmt::Debug;
use std::hash::{BuildHasher, RandomState};
use std::sync::Mutex;

/// An Event repeated within this time is counted in its series instead of written anew.
const EVENT_SERIES_WINDOW: SignedDuration = SignedDuration::from_mins(10);

/// Publishes Events. A repeat of the same reason and message about the same object
/// within [`EVENT_SERIES_WINDOW`] increments that Event's series; any other message is
/// an Event of its own, so two different corrections are never folded into one.
pub struct EventPublisher {
    client: kube::Client,
    controller: String,
    instance: String,
    /// Events written within the window, by a hash of (object uid, reason, message):
    /// a few dozen bytes each, however long the message.
    recent: Mutex<HashMap<u64, Written>>,
    hasher: RandomState,
}

/// An Event written recently: enough to extend its series.
struct Written {
    name: String,
    namespace: String,
    count: i32,
    last: Timestamp,
}

impl EventPublisher {
    /// Events reported by `controller` from `instance` (the pod).
    pub fn new(client: kube::Client, controller: &str, instance: &str) -> Self {
        EventPublisher {
            client,
            controller: controller.to_string(),
            instance: instance.to_string(),
            recent: Mutex::new(HashMap::new()),
            hasher: RandomState::new(),
        }
    }

    async fn publish(&self, regarding: ObjectReference, event: &ObjectEvent) -> Result<(), kube::Error> {
        let now = Timestamp::now();
        let message = truncate(&event.message, 1000);
        let key = self.hasher.hash_one((&regarding.uid, event.kind.reason(), &message));
        let repeat = {
            let mut recent = self.recent.lock().unwrap();
            recent.retain(|_, written| written.last + EVENT_SERIES_WINDOW > now);
            recent.get_mut(&key).map(|written| {
                written.count += 1;
                written.last = now;
                (written.name.clone(), written.namespace.clone(), written.count)
            })
        };
        if let Some((name, namespace, count)) = repeat {
            let series = EventSeries { count, last_observed_time: MicroTime(now) };
            let api: Api<K8sEvent> = Api::namespaced(self.client.clone(), &namespace);
            api.patch(&name, &PatchParams::default(), &Patch::Merge(&json!({"series": series}))).await?;
            return Ok(());
        }
        let namespace = regarding.namespace.clone().unwrap_or_else(|| "default".into());
        let name = format!("{}.{:x}", regarding.name.clone().unwrap_or_default(), now.as_nanosecond());
        let written = K8sEvent {
            metadata: ObjectMeta {
                name: Some(name.clone()),
                namespace: Some(namespace.clone()),
                ..ObjectMeta::default()
            },
            action: Some("Reconcile".into()),
            reason: Some(event.kind.reason().to_string()),
            note: Some(message),
            type_: Some(if event.kind.is_warning() { "Warning" } else { "Normal" }.into()),
            event_time: Some(MicroTime(now)),
            regarding: Some(regarding),
            reporting_controller: Some(self.controller.clone()),
            reporting_instance: Some(self.instance.clone()),
            ..K8sEvent::default()
        };
        Api::<K8sEvent>::namespaced(self.client.clone(), &namespace).create(&PostParams::default(), &written).await?;
        self.recent.lock().unwrap().insert(key, Written { name, namespace, count: 1, last: now });
        Ok(())
    }
}

/// The field manager of everything orgops writes.
pub const FIELD_MANAGER: &str = "orgops";

/// [`KubeSide`] on the API server.
pub struct ApiServer {
    client: kube::Client,
    events: std::sync::Arc<EventPublisher>,
}

impl ApiServer {
    /// Writes through `client`; Events go through `events`, shared by every kind.
    pub fn new(client: kube::Client, events: std::sync::Arc<EventPublisher>) -> Self {
        ApiServer { client, events }
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
            if let Err(error) = self.events.publish(obj.object_ref(&()), &event).await {
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
