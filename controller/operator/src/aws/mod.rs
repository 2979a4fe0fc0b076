//! The AWS side. Nothing here knows about Kubernetes.
//!
//! - one folder per service (`organizations/`, `account/`, `sso_admin/`, `identity_store/`,
//!   `route53/`, `stack_sets/`, `sqs/`): a narrow trait listing only the calls orgops
//!   makes, its SDK implementation, and `fake.rs`, the in-memory double the unit tests use
//!   for what moto cannot produce;
//! - `snapshots/`: what orgops reads across calls and shares between objects (the
//!   organization, Identity Center, DNS, enabled regions, the per-sweep cache);
//! - `member.rs`: clients acting inside member accounts; `limits.rs`: client-side rate
//!   limits; here: the call gate every call goes through, and AWS's errors.

pub mod account;
#[cfg(test)]
mod iam_policy_tests;
pub mod identity_store;
pub mod limits;
pub mod member;
pub mod organizations;
pub mod route53;
pub mod snapshots;
pub mod sqs;
pub mod sso_admin;
pub mod stack_sets;
#[cfg(test)]
pub mod test_support;

use aws_sdk_organizations::config::http::HttpResponse;
use aws_sdk_organizations::error::{ProvideErrorMetadata, SdkError};
use limits::RateLimiter;
use prometheus::IntCounterVec;
use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

/// How an AWS call failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FailureKind {
    /// Throttled: retry later.
    Throttled,
    /// A 5xx, a timeout or a connection failure: retry later.
    Transient,
    /// AWS refused the request (4xx): retrying the same request will not help.
    Client,
}

/// A failed AWS call: which operation, AWS's error code and message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AwsError {
    /// `service:Operation`.
    pub operation: String,
    /// AWS's error code (`ConstraintViolationException`, ...), when it sent one.
    pub code: Option<String>,
    /// AWS's message, or a description of the failure.
    pub message: String,
    /// How it failed.
    pub kind: FailureKind,
}

impl AwsError {
    /// Whether AWS answered with this error code.
    pub fn is(&self, code: &str) -> bool {
        self.code.as_deref() == Some(code)
    }

    /// Converts an SDK error.
    pub fn from_sdk<E>(operation: &str, error: SdkError<E, HttpResponse>) -> Self
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        let code = error.code().map(str::to_string);
        let message = error.message().map(str::to_string).unwrap_or_else(|| error_chain(&error));
        let kind = match (&error, code.as_deref()) {
            (_, Some(code)) if is_throttling(code) => FailureKind::Throttled,
            (SdkError::ServiceError(service), _) if service.raw().status().is_server_error() => FailureKind::Transient,
            (SdkError::ServiceError(_), _) => FailureKind::Client,
            (SdkError::ConstructionFailure(_), _) => FailureKind::Client,
            _ => FailureKind::Transient,
        };
        AwsError { operation: operation.to_string(), code, message, kind }
    }
}

fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(inner) = source {
        text.push_str(": ");
        text.push_str(&inner.to_string());
        source = inner.source();
    }
    text
}

fn is_throttling(code: &str) -> bool {
    matches!(
        code,
        "Throttling"
            | "ThrottlingException"
            | "ThrottledException"
            | "TooManyRequestsException"
            | "RequestLimitExceeded"
            | "PriorRequestNotComplete"
            | "RequestThrottled"
            | "RequestThrottledException"
            | "SlowDown"
    )
}

impl fmt::Display for AwsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.code {
            Some(code) => write!(f, "{} failed: {code}: {}", self.operation, self.message),
            None => write!(f, "{} failed: {}", self.operation, self.message),
        }
    }
}

impl std::error::Error for AwsError {}

/// The permission to make one call of an operation now: its rate limit was taken.
#[derive(Debug)]
#[must_use = "a permit spends a slot of the operation's rate limit"]
pub struct Permit {
    service: &'static str,
    operation: &'static str,
}

impl Permit {
    /// A permit outside any gate, for in-memory fakes.
    #[cfg(test)]
    pub fn unlimited(service: &'static str, operation: &'static str) -> Self {
        Permit { service, operation }
    }
}

/// Every AWS call passes through here: the operation's rate limit first, then the call,
/// then the call metric.
#[derive(Clone)]
pub struct CallGate {
    limits: Arc<HashMap<&'static str, RateLimiter>>,
    default_limit: RateLimiter,
    calls: IntCounterVec,
    read_only: bool,
}

/// Whether an operation only reads (`Describe…`, `List…`, `Get…`).
pub fn is_read(operation: &str) -> bool {
    ["Describe", "List", "Get"].iter().any(|prefix| operation.starts_with(prefix))
}

impl CallGate {
    /// A gate with per-operation limits (`service:Operation` → limiter) or per-service
    /// ones (`service` → limiter, shared by its operations not listed); the rest share
    /// `default_limit`.
    pub fn new(limits: HashMap<&'static str, RateLimiter>, default_limit: RateLimiter, calls: IntCounterVec) -> Self {
        CallGate { limits: Arc::new(limits), default_limit, calls, read_only: false }
    }

    /// The same gate, refusing every call that is not a read before it is sent: what
    /// `orgops plan` runs on, so no input can make it write.
    pub fn read_only(self) -> Self {
        CallGate { read_only: true, ..self }
    }

    /// Waits for the operation's rate limit, runs the call and counts its outcome.
    pub async fn call<T, F>(&self, service: &'static str, operation: &'static str, call: F) -> Result<T, AwsError>
    where
        F: Future<Output = Result<T, AwsError>>,
    {
        let permit = self.reserve(service, operation).await;
        self.call_with(permit, call).await
    }

    /// Waits for the operation's rate limit and returns the permission to make one call
    /// at once: for a call that must go out the moment something else was done first.
    pub async fn reserve(&self, service: &'static str, operation: &'static str) -> Permit {
        let key = format!("{service}:{operation}");
        let limit = self.limits.get(key.as_str()).or_else(|| self.limits.get(service));
        limit.unwrap_or(&self.default_limit).acquire().await;
        Permit { service, operation }
    }

    /// Runs a call whose rate limit was already taken, and counts its outcome.
    pub async fn call_with<T, F>(&self, permit: Permit, call: F) -> Result<T, AwsError>
    where
        F: Future<Output = Result<T, AwsError>>,
    {
        if self.read_only && !is_read(permit.operation) {
            // The call's future is dropped unpolled: nothing is sent.
            return Err(AwsError {
                operation: format!("{}:{}", permit.service, permit.operation),
                code: Some("ReadOnly".into()),
                message: "refused before it was sent: this run makes read calls only".into(),
                kind: FailureKind::Client,
            });
        }
        let result = call.await;
        let outcome = match &result {
            Ok(_) => "success",
            Err(e) if e.kind == FailureKind::Throttled => "throttled",
            Err(e) if e.kind == FailureKind::Transient => "server_error",
            Err(_) => "client_error",
        };
        self.calls.with_label_values(&[permit.service, permit.operation, outcome]).inc();
        result
    }

    /// Counts a successful call made on orgops's behalf outside the gate (STS AssumeRole,
    /// made by the SDK's credentials provider).
    pub fn count(&self, service: &'static str, operation: &'static str) {
        self.calls.with_label_values(&[service, operation, "success"]).inc();
    }

    /// Sends one SDK request whose rate limit was already taken, naming the operation in
    /// its error.
    pub async fn send_with<T, E>(
        &self,
        permit: Permit,
        request: impl Future<Output = Result<T, SdkError<E, HttpResponse>>>,
    ) -> Result<T, AwsError>
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        let name = format!("{}:{}", permit.service, permit.operation);
        // SDK request futures are large: on the heap, they do not swell every future that
        // awaits them (a reconcile awaits several, nested).
        let request = Box::pin(request);
        self.call_with(permit, async { request.await.map_err(|e| AwsError::from_sdk(&name, e)) }).await
    }

    /// Sends one SDK request through [`CallGate::call`], naming the operation in its error.
    pub async fn send<T, E>(
        &self,
        service: &'static str,
        operation: &'static str,
        request: impl Future<Output = Result<T, SdkError<E, HttpResponse>>>,
    ) -> Result<T, AwsError>
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        let permit = self.reserve(service, operation).await;
        self.send_with(permit, request).await
    }

    /// Runs a paginated SDK request to the end: `fetch` sends it with the previous page's
    /// token, `page` splits an answer into its items and the next token. Each page is one
    /// gated call.
    pub async fn paginate<T, O, E, F, Fut>(
        &self,
        service: &'static str,
        operation: &'static str,
        mut fetch: F,
        page: impl Fn(O) -> (Vec<T>, Option<String>),
    ) -> Result<Vec<T>, AwsError>
    where
        F: FnMut(Option<String>) -> Fut,
        Fut: Future<Output = Result<O, SdkError<E, HttpResponse>>>,
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        let mut items = Vec::new();
        let mut token: Option<String> = None;
        let mut tokens_seen = std::collections::HashSet::new();
        loop {
            // A listing of many pages fails as a whole when one page does: a page that
            // was throttled or hit a server error is asked again (it is a read), after
            // the SDK's own retries, so a long listing survives a throttled AWS.
            let mut retries = PAGE_RETRY_DELAYS.iter();
            let answer = loop {
                match self.send(service, operation, fetch(token.clone())).await {
                    Ok(answer) => break answer,
                    Err(error) if error.kind != FailureKind::Client => match retries.next() {
                        Some(delay) => tokio::time::sleep(*delay).await,
                        None => return Err(error),
                    },
                    Err(error) => return Err(error),
                }
            };
            let (found, next) = page(answer);
            items.extend(found);
            match next {
                // AWS never hands out a page token twice in one listing: an endpoint that
                // does would be followed round in a circle forever.
                Some(next) if !tokens_seen.insert(next.clone()) => {
                    return Err(AwsError {
                        operation: format!("{service}:{operation}"),
                        code: None,
                        message: format!(
                            "the listing handed out page token {next:?} twice; stopped instead of looping"
                        ),
                        kind: FailureKind::Transient,
                    });
                }
                Some(next) if !next.is_empty() => token = Some(next),
                _ => return Ok(items),
            }
        }
    }
}

/// How long a page of a listing waits before it is asked again, each time it failed.
const PAGE_RETRY_DELAYS: [std::time::Duration; 4] = [
    std::time::Duration::from_millis(500),
    std::time::Duration::from_secs(1),
    std::time::Duration::from_secs(2),
    std::time::Duration::from_secs(4),
];

/// Loads the SDK configuration: the default credential chain (IRSA, Pod Identity,
/// environment, profile), the region from the environment or config, and
/// `AWS_ENDPOINT_URL` / `AWS_ENDPOINT_URL_<SERVICE>` when set.
pub async fn load_sdk_config() -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .http_client(https_client())
        .retry_config(aws_config::retry::RetryConfig::standard().with_max_attempts(3))
        .load()
        .await
}

/// The SDK's HTTPS client: rustls on ring (as kube's), the platform's root certificates.
pub fn https_client() -> aws_types::sdk_config::SharedHttpClient {
    use aws_smithy_http_client::tls::{Provider, rustls_provider::CryptoMode};
    aws_smithy_http_client::Builder::new().tls_provider(Provider::Rustls(CryptoMode::Ring)).build_https()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::Metrics;

    #[tokio::test]
    async fn a_read_only_gate_refuses_writes_before_sending_them() {
        let gate =
            CallGate::new(HashMap::new(), RateLimiter::per_second(100.0, 10), Metrics::new().aws_calls).read_only();
        let write = gate.call::<(), _>("organizations", "CreateAccount", async { panic!("a write was sent") });
        let error = write.await.unwrap_err();
        assert_eq!(error.code.as_deref(), Some("ReadOnly"));
        let read = gate.call("organizations", "ListRoots", async { Ok::<_, AwsError>(7) });
        assert_eq!(read.await, Ok(7));
    }

    #[tokio::test(start_paused = true)]
    async fn a_throttled_page_is_asked_again_and_the_listing_goes_on() {
        use aws_sdk_organizations::operation::list_roots::ListRootsError;
        use aws_smithy_types::body::SdkBody;
        use aws_smithy_types::error::ErrorMetadata;
        let gate = CallGate::new(HashMap::new(), RateLimiter::per_second(100.0, 10), Metrics::new().aws_calls);
        let failure = |code: &str, status: u16| {
            let error = ListRootsError::generic(ErrorMetadata::builder().code(code).build());
            SdkError::service_error(error, HttpResponse::new(status.try_into().unwrap(), SdkBody::empty()))
        };
        let asked = std::sync::Mutex::new(Vec::new());
        let answers = std::sync::Mutex::new(std::collections::VecDeque::from([
            Ok((vec![1], Some("p2".to_string()))),
            Err(failure("TooManyRequestsException", 400)),
            Err(failure("ServiceUnavailable", 503)),
            Ok((vec![2], None)),
        ]));
        let fetch = |token: Option<String>| {
            asked.lock().unwrap().push(token);
            let answer = answers.lock().unwrap().pop_front().unwrap();
            async move { answer }
        };
        let items = gate.paginate("organizations", "ListRoots", fetch, |page| page).await.unwrap();
        assert_eq!(items, [1, 2]);
        let p2 = Some("p2".to_string());
        assert_eq!(*asked.lock().unwrap(), [None, p2.clone(), p2.clone(), p2], "the failed page, asked again");

        let refused =
            std::sync::Mutex::new(Some(Err::<(Vec<i32>, Option<String>), _>(failure("AccessDeniedException", 400))));
        let fetch = |_| {
            let answer = refused.lock().unwrap().take().expect("asked once");
            async move { answer }
        };
        let error = gate.paginate("organizations", "ListRoots", fetch, |page| page).await.unwrap_err();
        assert_eq!(error.kind, FailureKind::Client, "a refusal is not asked again");

        let circling = |_: Option<String>| async {
            Ok::<_, SdkError<ListRootsError, HttpResponse>>((vec![3], Some("p2".to_string())))
        };
        let error = gate.paginate("organizations", "ListRoots", circling, |page| page).await.unwrap_err();
        assert!(error.message.contains("twice"), "a repeated token ends the listing: {error}");
    }

    #[test]
    fn throttling_codes_are_recognised() {
        assert!(is_throttling("TooManyRequestsException"));
        assert!(is_throttling("ThrottlingException"));
        assert!(!is_throttling("ConstraintViolationException"));
    }
}
