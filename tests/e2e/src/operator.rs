//! The `orgops` binary as a test runs it: one process per test, watching the test's own
//! namespace, with its own platform policy and metrics endpoint.

use crate::repo_root;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running operator. Killed when dropped.
pub struct Operator {
    child: Child,
    port: u16,
    launch: Launch,
}

/// How the operator process is started, the same at every restart.
struct Launch {
    namespace: String,
    policy: PathBuf,
    log: PathBuf,
    endpoint: Option<String>,
    pod_name: String,
    extra_args: Vec<String>,
    kubeconfig: Option<PathBuf>,
    env: Vec<(String, String)>,
    lease_duration: String,
    selector: Option<String>,
}

/// Options of a test's operator.
pub struct OperatorOptions<'a> {
    /// The namespace it watches.
    pub namespace: &'a str,
    /// The platform policy's YAML.
    pub policy: String,
    /// Resync period, as `orgops run --resync` takes it.
    pub resync: &'a str,
    /// An AWS endpoint to use instead of the environment's (a fault-injecting proxy).
    pub aws_endpoint: Option<String>,
    /// Tells apart the logs and identities of several replicas in one namespace.
    pub replica: &'a str,
    /// More `orgops run` flags.
    pub extra_args: Vec<String>,
    /// A kubeconfig instead of the environment's (another identity).
    pub kubeconfig: Option<PathBuf>,
    /// More environment variables, over [`test_env`] (AWS credentials of another
    /// organization).
    pub env: Vec<(String, String)>,
    /// `--lease-duration`.
    pub lease_duration: String,
    /// A label selector: the operator then watches every namespace (several teams at
    /// once) but only the objects carrying the label, and `namespace` holds its Lease.
    pub selector: Option<String>,
}

impl<'a> OperatorOptions<'a> {
    /// The namespace may place accounts in these OUs; resync every 3 s.
    pub fn new(namespace: &'a str, organizational_units: &[&str]) -> Self {
        let ous: Vec<String> = organizational_units.iter().map(|o| format!("\"{o}\"")).collect();
        OperatorOptions {
            namespace,
            policy: format!("namespaces:\n  {namespace}:\n    organizationalUnits: [{}]\n", ous.join(", ")),
            resync: "3s",
            aws_endpoint: None,
            replica: "",
            extra_args: Vec::new(),
            kubeconfig: None,
            env: Vec::new(),
            lease_duration: LEASE_DURATION.into(),
            selector: None,
        }
    }
}

/// The environment of every orgops process a test starts: the credentials of the test's
/// own organization, and a raised Organizations read budget, since moto does not
/// throttle (the quota runs of bench and chaos set the proxy's quotas instead).
pub async fn test_env() -> Vec<(String, String)> {
    let mut env = crate::aws::credentials_env().await;
    env.push(("ORGOPS_ORGANIZATIONS_READ_RATE".into(), "40".into()));
    env
}

/// The leader lease duration of test operators: a replacement leads this long after its
/// predecessor was killed.
pub const LEASE_DURATION: &str = "6s";

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

impl Operator {
    /// Starts the operator and waits until it is ready.
    pub async fn start(options: OperatorOptions<'_>) -> Operator {
        let dir = repo_root().join("target/e2e");
        std::fs::create_dir_all(&dir).unwrap();
        let policy = dir.join(format!("{}-policy.yaml", options.namespace));
        std::fs::write(&policy, &options.policy).unwrap();
        let log = dir.join(format!("{}-operator{}.log", options.namespace, options.replica));
        std::fs::write(&log, "").unwrap(); // a restart appends; a new start begins afresh
        let port = free_port();
        let launch = Launch {
            namespace: options.namespace.to_string(),
            policy,
            log,
            endpoint: options.aws_endpoint,
            // A restarted container keeps its pod's name, and so its leader identity.
            pod_name: format!("orgops-{}{}", options.namespace, options.replica),
            extra_args: options.extra_args,
            kubeconfig: options.kubeconfig,
            env: [test_env().await, options.env].concat(),
            lease_duration: options.lease_duration,
            selector: options.selector,
        };
        let mut operator = Operator { child: launch.spawn(options.resync, port), port, launch };
        operator.wait_ready().await;
        operator
    }

    /// Starts the operator again after it died (same namespace, policy and log file).
    pub async fn restart(&mut self, resync: &str) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.port = free_port();
        self.child = self.launch.spawn(resync, self.port);
        self.wait_ready().await;
    }

    /// Replaces the platform policy file: the operator reads it again when its
    /// modification time changes.
    pub fn set_policy(&self, yaml: &str) {
        std::fs::write(&self.launch.policy, yaml).unwrap();
    }

    /// Whether the process is still running.
    pub fn running(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }

    /// SIGTERM, as Kubernetes stops a pod; waits up to 10 s for the exit.
    pub async fn terminate(&mut self) -> std::process::ExitStatus {
        let status = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status().unwrap();
        assert!(status.success());
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(exit) = self.child.try_wait().unwrap() {
                return exit;
            }
            assert!(Instant::now() < deadline, "orgops did not stop within 10 s of SIGTERM: {}", self.log());
            // Asynchronously: a proxy on this test's runtime may be answering its last calls.
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// GET on one of the operator's endpoints: the status code and body.
    pub fn http(&self, path: &str) -> Option<(u16, String)> {
        http_get(self.port, path)
    }

    /// SIGKILL, as a crash would.
    pub fn kill9(&mut self) {
        let _ = Command::new("kill").args(["-9", &self.child.id().to_string()]).status();
        let _ = self.child.wait();
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The process's resident memory in KiB (`VmRSS`), 0 when it cannot be read.
    pub fn resident_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap_or_default();
        let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap_or("VmRSS: 0 kB");
        line.split_whitespace().nth(1).and_then(|v| v.parse().ok()).unwrap_or(0)
    }

    async fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!(
                    "orgops exited with {status}; log: {}",
                    std::fs::read_to_string(&self.launch.log).unwrap_or_default()
                );
            }
            if http_get(self.port, "/readyz").is_some_and(|(code, _)| code == 200) {
                return;
            }
            assert!(Instant::now() < deadline, "orgops not ready after 30 s");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The operator's metrics, as `name{labels}` → value.
    pub fn metrics(&self) -> BTreeMap<String, f64> {
        let (_, text) = self.http("/metrics").expect("metrics endpoint");
        text.lines()
            .filter(|l| !l.starts_with('#'))
            .filter_map(|l| l.rsplit_once(' '))
            .filter_map(|(k, v)| Some((k.to_string(), v.parse().ok()?)))
            .collect()
    }

    /// How many sweeps of `kind` have ended.
    fn sweeps(&self, kind: &str) -> f64 {
        self.metrics().get(&format!("orgops_sweeps_total{{kind=\"{kind}\"}}")).copied().unwrap_or(0.0)
    }

    /// Waits until more than `after` sweeps of `kind` have ended; returns how many have.
    async fn sweep_after(&self, kind: &str, after: f64) -> f64 {
        crate::eventually(90, "a sweep", || async { Some(self.sweeps(kind)).filter(|n| *n > after) }).await
    }

    /// Waits until the first sweep of each kind has ended: every object was looked at.
    pub async fn until_swept(&self, kinds: &[&str]) {
        for kind in kinds {
            crate::eventually(900, "a first sweep", || async { Some(self.sweeps(kind)).filter(|n| *n >= 1.0) }).await;
        }
    }

    /// The calls `counts` (a counting proxy's) saw during one whole sweep of `kind`, by
    /// operation. The sweep running when this is called may still do unfinished work, so
    /// the one after it (idle) ends first; the next one is counted, from the pause before
    /// it to the pause after it. Needs a resync longer than one sweep.
    pub async fn calls_of_one_idle_sweep(&self, kind: &str, counts: &crate::proxy::Counts) -> Vec<(String, u32)> {
        let idle = self.sweep_after(kind, self.sweep_after(kind, self.sweeps(kind)).await).await;
        let before = counts.lock().unwrap().clone();
        self.sweep_after(kind, idle).await;
        let after = counts.lock().unwrap().clone();
        after
            .iter()
            .map(|(op, n)| (op.clone(), n - before.get(op).copied().unwrap_or(0)))
            .filter(|(_, n)| *n > 0)
            .collect()
    }

    /// AWS calls made so far, by operation, from the metrics.
    pub fn aws_calls(&self) -> BTreeMap<String, f64> {
        let mut calls = BTreeMap::new();
        for (series, value) in self.metrics() {
            if let Some(labels) = series.strip_prefix("orgops_aws_api_calls_total{") {
                let operation =
                    labels.split("operation=\"").nth(1).and_then(|r| r.split('"').next()).unwrap_or_default();
                *calls.entry(operation.to_string()).or_insert(0.0) += value;
            }
        }
        calls
    }

    /// Whether this replica holds the leader lease.
    pub fn is_leader(&self) -> bool {
        self.metrics().get("orgops_leader") == Some(&1.0)
    }

    /// The log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.launch.log).unwrap_or_default()
    }
}

impl Drop for Operator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The `orgops` binary under test: `target/debug/orgops`, or `ORGOPS_BINARY` (another
/// build, the release build for benchmarks).
pub fn binary() -> PathBuf {
    let binary =
        std::env::var_os("ORGOPS_BINARY").map(PathBuf::from).unwrap_or_else(|| repo_root().join("target/debug/orgops"));
    assert!(binary.exists(), "build the operator first (`make build`): {}", binary.display());
    binary
}

impl Launch {
    fn spawn(&self, resync: &str, port: u16) -> Child {
        let binary = binary();
        let log_file = std::fs::OpenOptions::new().create(true).append(true).open(&self.log).unwrap();
        let mut command = Command::new(binary);
        match &self.selector {
            Some(selector) => command.args(["run", "--selector", selector, "--lease-namespace", &self.namespace]),
            None => command.args(["run", "--namespace", &self.namespace]),
        };
        command
            .args(["--resync", resync])
            .args(["--http-addr", &format!("127.0.0.1:{port}")])
            // The lease lives in the test's namespace; a short one lets a standby lead soon.
            .args(["--lease-duration", &self.lease_duration])
            .arg("--policy-file")
            .arg(&self.policy)
            .args(&self.extra_args)
            .env("RUST_LOG", "info,orgops=debug")
            .env("POD_NAME", &self.pod_name)
            .envs(self.env.iter().cloned())
            .stdout(Stdio::from(log_file.try_clone().unwrap()))
            .stderr(Stdio::from(log_file));
        if let Some(endpoint) = &self.endpoint {
            command.env("AWS_ENDPOINT_URL", endpoint);
        }
        if let Some(kubeconfig) = &self.kubeconfig {
            command.env("KUBECONFIG", kubeconfig);
        }
        command.spawn().expect("starting orgops")
    }
}

/// GET on localhost, with curl: the status code and body.
fn http_get(port: u16, path: &str) -> Option<(u16, String)> {
    let out = Command::new("curl")
        .args(["-s", "-o", "-", "-w", "\n%{http_code}", &format!("http://127.0.0.1:{port}{path}")])
        .output()
        .ok()?;
    let text = String::from_utf8(out.stdout).ok()?;
    let (body, code) = text.rsplit_once('\n')?;
    Some((code.parse().ok()?, body.to_string()))
}
