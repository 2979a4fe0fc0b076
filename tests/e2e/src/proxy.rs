//! An HTTP proxy in front of moto that lets a test act at an exact point of an AWS call
//! (after moto answered, before the operator gets the answer), count every call that
//! reached moto, and inject faults (see [`crate::faults`]).

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use crate::faults::{Call, Faults, Injected, Injector, Verdict, error_answer};

/// Runs after moto answered a call, with the call's operation (`CreateAccount`, from the
/// `X-Amz-Target` header); the operator gets the answer only when the hook returns.
pub type Hook = Arc<dyn Fn(&str) + Send + Sync>;

/// Calls by operation, as a counting proxy saw them.
pub type Counts = Arc<std::sync::Mutex<std::collections::BTreeMap<String, u32>>>;

/// Starts a proxy to the environment's moto that counts every call by operation,
/// outside the process under test. Returns its URL and the counts.
pub async fn counting() -> (String, Counts) {
    let counts = Counts::default();
    let counter = counts.clone();
    let hook: Hook = Arc::new(move |operation| *counter.lock().unwrap().entry(operation.to_string()).or_default() += 1);
    (start(std::env::var("AWS_ENDPOINT_URL").expect("AWS_ENDPOINT_URL from the harness"), hook).await, counts)
}

/// Starts a proxy to the environment's moto that SIGKILLs the process whose pid is in the
/// returned slot right after moto answered `operation`, before that process gets the
/// answer: once, after which the slot is 0. Returns the proxy's URL and the slot.
pub async fn killing_after(operation: &'static str) -> (String, Arc<AtomicU32>) {
    let slot = Arc::new(AtomicU32::new(0));
    let target = slot.clone();
    let hook: Hook = Arc::new(move |called| {
        if called != operation {
            return;
        }
        let victim = target.swap(0, Ordering::SeqCst);
        if victim != 0 {
            let _ = std::process::Command::new("kill").args(["-9", &victim.to_string()]).status();
            std::thread::sleep(std::time::Duration::from_millis(200));
        }
    });
    (start(std::env::var("AWS_ENDPOINT_URL").expect("AWS_ENDPOINT_URL from the harness"), hook).await, slot)
}

/// Calls by `service:Operation`, as a fault-injecting proxy let them reach moto.
pub type ServiceCounts = Arc<std::sync::Mutex<std::collections::BTreeMap<String, u32>>>;

/// A write that reached moto.
#[derive(Clone, Debug)]
pub struct Write {
    /// `service:Operation`.
    pub call: String,
    /// The request's path: it names the resource of REST calls (Route 53's zone ids).
    pub path: String,
    pub body: String,
}

impl Write {
    /// Whether the request names `resource` in its path or body.
    pub fn names(&self, resource: &str) -> bool {
        self.path.contains(resource) || self.body.contains(resource)
    }
}

/// The writes that reached moto, in order.
pub type WriteLog = Arc<std::sync::Mutex<Vec<Write>>>;

/// A fault-injecting proxy: its URL, the calls that reached moto, the faults injected.
pub struct FaultProxy {
    pub url: String,
    pub calls: ServiceCounts,
    /// Each write with its body: what this proxy's client (one process) wrote.
    pub write_log: WriteLog,
    injector: Arc<Injector>,
}

impl FaultProxy {
    /// The faults injected so far.
    pub fn injected(&self) -> Injected {
        self.injector.injected.lock().unwrap().clone()
    }

    /// Calls that reached moto and change something (neither a read nor AssumeRole).
    pub fn writes(&self) -> std::collections::BTreeMap<String, u32> {
        let reads = ["Describe", "List", "Get", "AssumeRole", "DetectStackSetDrift"];
        let calls = self.calls.lock().unwrap().clone();
        calls
            .into_iter()
            .filter(|(call, _)| !reads.iter().any(|r| call.split(':').nth(1).unwrap_or(call).starts_with(r)))
            .collect()
    }

    /// Every call that reached moto.
    pub fn total(&self) -> u64 {
        self.calls.lock().unwrap().values().map(|n| u64::from(*n)).sum()
    }
}

/// Whether a `service:Operation` (or an operation) changes something in AWS.
pub fn is_write(call: &str) -> bool {
    let operation = call.rsplit(':').next().unwrap_or(call);
    !["Describe", "List", "Get", "AssumeRole", "DetectStackSetDrift"].iter().any(|r| operation.starts_with(r))
}

/// Starts a proxy to the environment's moto that injects `faults` and counts the calls
/// that reached moto by service and operation.
pub async fn with_faults(faults: Faults) -> FaultProxy {
    let calls = ServiceCounts::default();
    let write_log = WriteLog::default();
    let (counter, log) = (calls.clone(), write_log.clone());
    let hook: ServiceHook = Arc::new(move |service, operation, path, body| {
        let call = format!("{service}:{operation}");
        if is_write(&call) {
            log.lock().unwrap().push(Write {
                call: call.clone(),
                path: path.to_string(),
                body: String::from_utf8_lossy(body).to_string(),
            });
        }
        *counter.lock().unwrap().entry(call).or_default() += 1
    });
    let injector = Arc::new(Injector::new(faults));
    let upstream = std::env::var("AWS_ENDPOINT_URL").expect("AWS_ENDPOINT_URL from the harness");
    let url = serve(upstream, hook, Some(injector.clone())).await;
    FaultProxy { url, calls, write_log, injector }
}

/// Runs after moto answered, with the call's service, operation, path and request body.
type ServiceHook = Arc<dyn Fn(&str, &str, &str, &[u8]) + Send + Sync>;

/// Starts the proxy to `upstream` and returns its URL.
pub async fn start(upstream: String, hook: Hook) -> String {
    serve(upstream, Arc::new(move |_, operation, _, _| hook(operation)), None).await
}

/// Serves on a thread and runtime of its own, so the proxy answers at once however busy
/// the test's own thread is (several operators' calls pass through it while the test
/// polls), and a hook may block; it stops when the test's runtime ends.
async fn serve(upstream: String, hook: ServiceHook, injector: Option<Arc<Injector>>) -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    // Dropped with the test's runtime, which drops `stop`.
    tokio::spawn(async move {
        let _stop = stop;
        std::future::pending::<()>().await
    });
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            let client: Client<_, Full<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
            let accept = async move {
                loop {
                    let Ok((stream, _)) = listener.accept().await else { return };
                    let (client, upstream, hook, injector) =
                        (client.clone(), upstream.clone(), hook.clone(), injector.clone());
                    tokio::spawn(async move {
                        let service = service_fn(move |request: Request<Incoming>| {
                            let (client, upstream, hook, injector) =
                                (client.clone(), upstream.clone(), hook.clone(), injector.clone());
                            async move { forward(client, &upstream, hook, injector, request).await }
                        });
                        let _ = http1::Builder::new().serve_connection(TokioIo::new(stream), service).await;
                    });
                }
            };
            tokio::select! {
                _ = stopped => {}
                () = accept => {}
            }
        });
    });
    url
}

/// The AWS operation of a request: from `X-Amz-Target` (JSON protocols), from `Action=`
/// in the form body (query protocols: STS), from the path of the Account API's REST-JSON
/// (`POST /getAlternateContact`), or, for Route 53's REST protocol, the operation its
/// method and path name.
fn operation_of(parts: &hyper::http::request::Parts, body: &[u8]) -> String {
    if let Some(target) = parts.headers.get("x-amz-target").and_then(|v| v.to_str().ok()) {
        return target.rsplit('.').next().unwrap_or_default().to_string();
    }
    let text = String::from_utf8_lossy(body);
    if let Some(action) = text.split('&').find_map(|pair| pair.strip_prefix("Action=")) {
        return action.to_string();
    }
    let path = parts.uri.path();
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    let method = parts.method.as_str();
    if let ("POST", [single]) = (method, segments.as_slice())
        && single.starts_with(|c: char| c.is_ascii_lowercase())
    {
        let mut chars = single.chars();
        return chars.next().map(|c| c.to_ascii_uppercase().to_string() + chars.as_str()).unwrap_or_default();
    }
    let name = match (method, segments.get(1).copied(), segments.len()) {
        ("POST", Some("hostedzone"), 2) => "CreateHostedZone",
        ("POST", Some("hostedzone"), 4) if path.ends_with("/rrset") || path.ends_with("/rrset/") => {
            "ChangeResourceRecordSets"
        }
        ("GET", Some("hostedzone"), 4) if path.contains("/rrset") => "ListResourceRecordSets",
        ("DELETE", Some("hostedzone"), 3) => "DeleteHostedZone",
        ("GET", Some("hostedzone"), 3) => "GetHostedZone",
        ("GET", Some("hostedzone"), 2) => "ListHostedZones",
        ("GET", Some("hostedzonesbyname"), _) => "ListHostedZonesByName",
        ("POST", Some("tags"), _) => "ChangeTagsForResource",
        ("GET", Some("tags"), _) => "ListTagsForResource",
        ("GET", Some("change"), _) => "GetChange",
        _ => return format!("{method} {path}"),
    };
    name.to_string()
}

/// The SigV4 signing name and access key of a request, from its Authorization header
/// (`Credential=<key>/<date>/<region>/<service>/aws4_request`).
fn signer_of(parts: &hyper::http::request::Parts) -> (String, String) {
    let header = parts.headers.get("authorization").and_then(|v| v.to_str().ok()).unwrap_or_default();
    let credential = header.split("Credential=").nth(1).and_then(|c| c.split(',').next()).unwrap_or_default();
    let fields: Vec<&str> = credential.split('/').collect();
    (fields.get(3).copied().unwrap_or_default().to_string(), fields.first().copied().unwrap_or_default().to_string())
}

/// Why the proxy answered a call with no response: the connection is then dropped.
#[derive(Debug)]
struct Dropped(String);

impl std::fmt::Display for Dropped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Dropped {}

impl From<hyper::Error> for Dropped {
    fn from(error: hyper::Error) -> Self {
        Dropped(error.to_string())
    }
}

impl From<hyper::http::Error> for Dropped {
    fn from(error: hyper::http::Error) -> Self {
        Dropped(error.to_string())
    }
}

async fn forward(
    client: Client<hyper_util::client::legacy::connect::HttpConnector, Full<Bytes>>,
    upstream: &str,
    hook: ServiceHook,
    injector: Option<Arc<Injector>>,
    request: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Dropped> {
    let (mut parts, body) = request.into_parts();
    let body = body.collect().await?.to_bytes();
    let operation = operation_of(&parts, &body);
    let (service, caller) = signer_of(&parts);
    let call = Call {
        service,
        operation,
        caller,
        poll_key: format!("{}?{}", parts.uri.path(), String::from_utf8_lossy(&body)),
    };
    if let Some(injector) = &injector {
        tokio::time::sleep(injector.latency()).await;
        match injector.verdict(&call) {
            Verdict::Forward => {}
            Verdict::Reset => return Err(Dropped("connection reset by the fault proxy".into())),
            verdict => {
                let (status, headers, text) = error_answer(&call.service, verdict == Verdict::Throttle);
                let mut answer = Response::builder().status(status);
                for (name, value) in headers {
                    answer = answer.header(name, value);
                }
                return Ok(answer.body(Full::new(Bytes::from(text)))?);
            }
        }
    }
    let path = parts.uri.path_and_query().map(|p| p.as_str()).unwrap_or("/").to_string();
    parts.uri = format!("{upstream}{path}").parse().expect("upstream URL");
    // A request that reached the proxy is on the wire: it goes on to moto (and the hook
    // runs) even when the caller dies meanwhile, as it would reach AWS.
    let upstream_call = tokio::spawn(async move {
        let sent = body.clone();
        let answer = client.request(Request::from_parts(parts, Full::new(body))).await.expect("moto answers");
        let (mut parts, body) = answer.into_parts();
        let mut body = body.collect().await?.to_bytes();
        hook(&call.service, &call.operation, &path, &sent);
        if let Some(injector) = &injector {
            let rewritten = injector.rewrite(&call, &body);
            injector.observe(&call, &body, rewritten.is_some());
            if let Some(rewritten) = rewritten {
                parts.headers.remove("content-length");
                body = Bytes::from(rewritten);
            }
        }
        Ok::<_, hyper::Error>(Response::from_parts(parts, Full::new(body)))
    });
    Ok(upstream_call.await.expect("the upstream call does not panic")?)
}
