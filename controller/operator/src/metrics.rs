//! Prometheus metrics of the operator, on one registry served at `/metrics`.

use prometheus::{
    Encoder, Gauge, GaugeVec, Histogram, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, IntGaugeVec, Opts,
    Registry, TextEncoder,
};

/// A metric as the docs list it.
pub struct MetricDescription {
    pub name: String,
    /// `counter`, `gauge` or `histogram`.
    pub kind: &'static str,
    pub help: String,
    pub labels: Vec<String>,
}

/// The operator's metrics. Cheap to clone: every field is a handle.
#[derive(Clone)]
pub struct Metrics {
    registry: Registry,
    /// 1 while this replica is ready to reconcile (CRDs found, controllers started).
    pub ready: IntGauge,
    /// 1 while this replica holds the leader lease and reconciles.
    pub leader: IntGauge,
    /// Reconciles by kind and result.
    pub reconciles: IntCounterVec,
    /// Reconcile duration by kind.
    pub reconcile_duration: HistogramVec,
    /// Managed objects by kind and Ready state.
    pub resources: IntGaugeVec,
    /// Drift found, by kind and field.
    pub drift_detected: IntCounterVec,
    /// Drift corrected, by kind and field.
    pub drift_corrected: IntCounterVec,
    /// 1 for each object whose AWS resource differs from its spec and is left so.
    pub drifted: IntGaugeVec,
    /// 1 for each object that is not Ready.
    pub not_ready: IntGaugeVec,
    /// The session revocations a PermissionSetRequest holds (a series only while some do).
    pub session_revocations: IntGaugeVec,
    /// Session revocations that could not be written (the inline policy would be too large).
    pub session_revocations_failed: IntCounterVec,
    /// Objects refused by the platform policy, by kind.
    pub forbidden: IntCounterVec,
    /// AWS API calls by service, operation and outcome.
    pub aws_calls: IntCounterVec,
    /// Objects waiting to be reconciled because they are new, changed, being deleted or
    /// were found unsettled at start-up, by kind.
    pub pending: IntGaugeVec,
    /// How long the last complete sweep (snapshot refresh and a re-check of every
    /// object) took, by kind.
    pub sweep_duration: GaugeVec,
    /// How often each object is re-checked in fact: the resync, or the sweep when it
    /// takes longer, by kind.
    pub recheck_period: GaugeVec,
    /// Complete sweeps, by kind.
    pub sweeps: IntCounterVec,
    /// The resync period in force.
    pub resync: Gauge,
    /// Change-feed messages by outcome.
    pub feed_events: IntCounterVec,
    /// Objects queued by the change feed, by kind.
    pub feed_requeues: IntCounterVec,
    /// From an AWS change to the requeue of the objects it concerns.
    pub feed_lag: Histogram,
    /// 1 while the change feed delivers; no series without the feed (label-less vector).
    pub feed_healthy: IntGaugeVec,
    /// When the change feed last delivered a message (Unix seconds).
    pub feed_last_message: Gauge,
}

/// `orgops_build_info`: 1, labelled with the running version.
fn build_info() -> IntGauge {
    let opts = Opts::new("orgops_build_info", "1, with the running version");
    IntGauge::with_opts(opts.const_label("version", env!("CARGO_PKG_VERSION"))).expect("valid metric")
}

fn counter(name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    IntCounterVec::new(Opts::new(name, help), labels).expect("valid metric")
}

fn gauge(name: &str, help: &str, labels: &[&str]) -> IntGaugeVec {
    IntGaugeVec::new(Opts::new(name, help), labels).expect("valid metric")
}

impl Metrics {
    /// Creates and registers every metric.
    pub fn new() -> Self {
        let registry = Registry::new();
        let build_info = build_info();
        build_info.set(1);
        let metrics = Metrics {
            ready: IntGauge::new("orgops_ready", "1 while the replica is ready to reconcile (CRDs found, controllers started)").expect("valid metric"),
            leader: IntGauge::new("orgops_leader", "1 while this replica holds the leader Lease and reconciles")
                .expect("valid metric"),
            reconciles: counter("orgops_reconciles_total", "Reconciles, by kind and result (success, waiting, retryable_error, terminal_error)", &["kind", "result"]),
            reconcile_duration: HistogramVec::new(
                HistogramOpts::new("orgops_reconcile_duration_seconds", "How long a reconcile took, by kind")
                    .buckets(vec![0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0]),
                &["kind"],
            )
            .expect("valid metric"),
            resources: gauge("orgops_resources", "Managed objects by kind and Ready state (true, false): the inventory", &["kind", "ready"]),
            drift_detected: counter(
                "orgops_drift_detected_total",
                "Differences found between AWS and a spec it matched, by kind and field",
                &["kind", "field"],
            ),
            drift_corrected: counter(
                "orgops_drift_corrected_total",
                "Differences changed back to the spec, by kind and field",
                &["kind", "field"],
            ),
            drifted: gauge(
                "orgops_drifted",
                "1 for each object whose AWS resource differs from its spec and is left so (Report, ObserveOnly, or what CloudFormation cannot restore)",
                &["kind", "namespace", "name"],
            ),
            not_ready: gauge("orgops_not_ready", "1 for each object that is not Ready (no series for Ready ones)", &["kind", "namespace", "name"]),
            session_revocations: gauge(
                "orgops_session_revocations",
                "Session revocations a PermissionSetRequest holds: Denies of ended assignments' sessions (no series when none)",
                &["namespace", "name"],
            ),
            session_revocations_failed: counter(
                "orgops_session_revocations_failed_total",
                "Session revocations that could not be written (the inline policy would exceed IAM's size limit), by namespace",
                &["namespace"],
            ),
            forbidden: counter("orgops_forbidden_total", "Objects refused by the platform policy, by kind", &["kind"]),
            aws_calls: counter(
                "orgops_aws_api_calls_total",
                "AWS API calls, counted where they are made, by service, operation and outcome (success; throttled; server_error: 5xx, timeouts, connection failures; client_error)",
                &["service", "operation", "outcome"],
            ),
            pending: gauge(
                "orgops_pending_objects",
                "Objects waiting because they are new, changed, being deleted or found unsettled at start-up, by kind",
                &["kind"],
            ),
            sweep_duration: GaugeVec::new(
                Opts::new(
                    "orgops_sweep_duration_seconds",
                    "How long the last complete sweep (snapshot refresh and a re-check of every object) took, by kind",
                ),
                &["kind"],
            )
            .expect("valid metric"),
            recheck_period: GaugeVec::new(
                Opts::new(
                    "orgops_recheck_period_seconds",
                    "How often each object is re-checked in fact: the resync, or the sweep when it takes longer, by kind",
                ),
                &["kind"],
            )
            .expect("valid metric"),
            sweeps: counter("orgops_sweeps_total", "Complete sweeps, by kind", &["kind"]),
            resync: Gauge::new(
                "orgops_resync_seconds",
                "The resync period in force: --resync, or with the change feed the safety net's period while it delivers and --fallback-resync while not",
            )
            .expect("valid metric"),
            feed_events: counter(
                "orgops_change_feed_events_total",
                "Change-feed messages by outcome: mapped (to objects, queued), own (orgops's own writes), unrelated (writes no object depends on), no_change (failed or read-only calls), heartbeat, unknown (events the feed does not carry), malformed (bodies that are not EventBridge events); each is deleted",
                &["outcome"],
            ),
            feed_requeues: counter(
                "orgops_change_feed_requeues_total",
                "Objects queued for a re-check by the change feed, by kind",
                &["kind"],
            ),
            feed_lag: Histogram::with_opts(
                HistogramOpts::new(
                    "orgops_change_feed_lag_seconds",
                    "From an AWS change (the event's time) to the requeue of the objects it concerns",
                )
                .buckets(vec![1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 900.0]),
            )
            .expect("valid metric"),
            feed_healthy: gauge(
                "orgops_change_feed_healthy",
                "1 while the change feed delivers (messages or heartbeats within --change-feed-silence), 0 while the short resync stands in; no series without --change-queue-url",
                &[],
            ),
            feed_last_message: Gauge::new(
                "orgops_change_feed_last_message_timestamp_seconds",
                "When the change feed last delivered a message, in Unix seconds",
            )
            .expect("valid metric"),
            registry,
        };
        for (_, collector) in metrics.collectors(build_info) {
            metrics.registry.register(collector).expect("metric registered once");
        }
        metrics
    }

    /// Every metric with its type, as the docs' reference lists them.
    pub fn descriptions(&self) -> Vec<MetricDescription> {
        let build_info = build_info();
        let collectors = self.collectors(build_info);
        let mut descriptions = Vec::new();
        for (kind, collector) in collectors {
            for desc in collector.desc() {
                let mut labels: Vec<String> =
                    desc.const_label_pairs.iter().map(|pair| pair.name().to_string()).collect();
                labels.extend(desc.variable_labels.iter().cloned());
                descriptions.push(MetricDescription {
                    name: desc.fq_name.clone(),
                    kind,
                    help: desc.help.clone(),
                    labels,
                });
            }
        }
        descriptions
    }

    /// Every metric, with `build_info`, to register, each with its type.
    fn collectors(&self, build_info: IntGauge) -> Vec<(&'static str, Box<dyn prometheus::core::Collector>)> {
        const COUNTER: &str = "counter";
        const GAUGE: &str = "gauge";
        const HISTOGRAM: &str = "histogram";
        vec![
            (GAUGE, Box::new(build_info)),
            (GAUGE, Box::new(self.ready.clone())),
            (GAUGE, Box::new(self.leader.clone())),
            (COUNTER, Box::new(self.reconciles.clone())),
            (HISTOGRAM, Box::new(self.reconcile_duration.clone())),
            (GAUGE, Box::new(self.resources.clone())),
            (GAUGE, Box::new(self.not_ready.clone())),
            (COUNTER, Box::new(self.drift_detected.clone())),
            (COUNTER, Box::new(self.drift_corrected.clone())),
            (GAUGE, Box::new(self.drifted.clone())),
            (COUNTER, Box::new(self.forbidden.clone())),
            (GAUGE, Box::new(self.session_revocations.clone())),
            (COUNTER, Box::new(self.session_revocations_failed.clone())),
            (COUNTER, Box::new(self.aws_calls.clone())),
            (GAUGE, Box::new(self.pending.clone())),
            (GAUGE, Box::new(self.sweep_duration.clone())),
            (GAUGE, Box::new(self.recheck_period.clone())),
            (COUNTER, Box::new(self.sweeps.clone())),
            (GAUGE, Box::new(self.resync.clone())),
            (COUNTER, Box::new(self.feed_events.clone())),
            (COUNTER, Box::new(self.feed_requeues.clone())),
            (HISTOGRAM, Box::new(self.feed_lag.clone())),
            (GAUGE, Box::new(self.feed_healthy.clone())),
            (GAUGE, Box::new(self.feed_last_message.clone())),
        ]
    }

    /// The text exposition of every metric.
    pub fn render(&self) -> String {
        let mut buffer = Vec::new();
        TextEncoder::new().encode(&self.registry.gather(), &mut buffer).expect("text encoding cannot fail");
        String::from_utf8(buffer).expect("text exposition is UTF-8")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_build_info_readiness_and_labelled_series() {
        let metrics = Metrics::new();
        metrics.ready.set(1);
        metrics.aws_calls.with_label_values(&["organizations", "ListAccounts", "success"]).inc();
        let text = metrics.render();
        assert!(text.contains(&format!("orgops_build_info{{version=\"{}\"}} 1", env!("CARGO_PKG_VERSION"))));
        assert!(text.contains("orgops_ready 1"));
        assert!(text.contains(
            "orgops_aws_api_calls_total{operation=\"ListAccounts\",outcome=\"success\",service=\"organizations\"} 1"
        ));
    }

    /// The names of every exported metric.
    fn exported() -> Vec<String> {
        Metrics::new().descriptions().into_iter().map(|metric| metric.name).collect()
    }

    /// The `orgops_*` names a text mentions.
    fn mentioned(text: &str) -> std::collections::BTreeSet<String> {
        let mut names = std::collections::BTreeSet::new();
        let mut rest = text;
        while let Some(at) = rest.find("orgops_") {
            let tail = &rest[at..];
            let end = tail.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(tail.len());
            names.insert(tail[..end].to_string());
            rest = &tail[end..];
        }
        names
    }

    fn repository_file(relative: &str) -> String {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../").to_string() + relative;
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    #[test]
    fn the_dashboard_and_the_alerts_query_only_exported_metrics() {
        let exported = exported();
        let known = |name: &str| {
            ["", "_bucket", "_sum", "_count"]
                .iter()
                .any(|suffix| name.strip_suffix(suffix).is_some_and(|base| exported.iter().any(|e| e == base)))
        };
        for file in ["charts/orgops/files/dashboard.json", "charts/orgops/files/alerts.yaml"] {
            let unknown: Vec<String> = mentioned(&repository_file(file)).into_iter().filter(|n| !known(n)).collect();
            assert!(unknown.is_empty(), "{file} queries metrics orgops does not export: {unknown:?}");
        }
    }
}
