//! Prometheus metrics of the operator, on one registry served at `/metrics`.

use prometheus::{
    Encoder, Gauge, GaugeVec, Histogram, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, IntGaugeVec, Opts,
    Registry, TextEncoder,
};

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
        let build_info = IntGauge::with_opts(
            Opts::new("orgops_build_info", "Build information of the running orgops")
                .const_label("version", env!("CARGO_PKG_VERSION")),
        )
        .expect("valid metric");
        build_info.set(1);
        let metrics = Metrics {
            ready: IntGauge::new("orgops_ready", "1 while the operator is ready to reconcile").expect("valid metric"),
            leader: IntGauge::new("orgops_leader", "1 while this replica holds the leader lease and reconciles")
                .expect("valid metric"),
            reconciles: counter("orgops_reconciles_total", "Reconciles by kind and result", &["kind", "result"]),
            reconcile_duration: HistogramVec::new(
                HistogramOpts::new("orgops_reconcile_duration_seconds", "Reconcile duration by kind")
                    .buckets(vec![0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0]),
                &["kind"],
            )
            .expect("valid metric"),
            resources: gauge("orgops_resources", "Managed objects by kind and Ready state", &["kind", "ready"]),
            drift_detected: counter(
                "orgops_drift_detected_total",
                "Drift found, by kind and field",
                &["kind", "field"],
            ),
            drift_corrected: counter(
                "orgops_drift_corrected_total",
                "Drift corrected, by kind and field",
                &["kind", "field"],
            ),
            drifted: gauge(
                "orgops_drifted",
                "1 while the object's AWS resource differs from its spec and is left so",
                &["kind", "namespace", "name"],
            ),
            not_ready: gauge("orgops_not_ready", "1 while the object is not Ready", &["kind", "namespace", "name"]),
            session_revocations: gauge(
                "orgops_session_revocations",
                "Session revocations a PermissionSetRequest holds: Denies of ended assignments' sessions",
                &["namespace", "name"],
            ),
            session_revocations_failed: counter(
                "orgops_session_revocations_failed_total",
                "Session revocations that could not be written, by namespace",
                &["namespace"],
            ),
            forbidden: counter("orgops_forbidden_total", "Objects refused by the platform policy, by kind", &["kind"]),
            aws_calls: counter(
                "orgops_aws_api_calls_total",
                "AWS API calls by service, operation and outcome (success, throttled, server_error, client_error)",
                &["service", "operation", "outcome"],
            ),
            pending: gauge(
                "orgops_pending_objects",
                "Objects waiting to be reconciled because they are new, changed, being deleted or were found unsettled at start-up",
                &["kind"],
            ),
            sweep_duration: GaugeVec::new(
                Opts::new(
                    "orgops_sweep_duration_seconds",
                    "How long the last complete sweep (snapshot refresh and a re-check of every object) took",
                ),
                &["kind"],
            )
            .expect("valid metric"),
            recheck_period: GaugeVec::new(
                Opts::new(
                    "orgops_recheck_period_seconds",
                    "How often each object is re-checked in fact: the resync, or the sweep when it takes longer",
                ),
                &["kind"],
            )
            .expect("valid metric"),
            sweeps: counter("orgops_sweeps_total", "Complete sweeps over every object, by kind", &["kind"]),
            resync: Gauge::new(
                "orgops_resync_seconds",
                "The resync period in force (with the change feed: long while it delivers, short while not)",
            )
            .expect("valid metric"),
            feed_events: counter(
                "orgops_change_feed_events_total",
                "Change-feed messages by outcome (mapped, own, unrelated, no_change, heartbeat, unknown, malformed)",
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
                "1 while the change feed delivers (messages or heartbeats within --change-feed-silence); 0 while the short resync stands in; absent without the feed",
                &[],
            ),
            feed_last_message: Gauge::new(
                "orgops_change_feed_last_message_timestamp_seconds",
                "When the change feed last delivered a message, in Unix seconds",
            )
            .expect("valid metric"),
            registry,
        };
        let collectors = metrics.collectors(build_info);
        for collector in collectors {
            metrics.registry.register(collector).expect("metric registered once");
        }
        metrics
    }

    /// Every metric, with `build_info`, to register.
    fn collectors(&self, build_info: IntGauge) -> Vec<Box<dyn prometheus::core::Collector>> {
        vec![
            Box::new(build_info),
            Box::new(self.ready.clone()),
            Box::new(self.leader.clone()),
            Box::new(self.reconciles.clone()),
            Box::new(self.reconcile_duration.clone()),
            Box::new(self.resources.clone()),
            Box::new(self.drift_detected.clone()),
            Box::new(self.drift_corrected.clone()),
            Box::new(self.drifted.clone()),
            Box::new(self.not_ready.clone()),
            Box::new(self.forbidden.clone()),
            Box::new(self.aws_calls.clone()),
            Box::new(self.pending.clone()),
            Box::new(self.sweep_duration.clone()),
            Box::new(self.recheck_period.clone()),
            Box::new(self.sweeps.clone()),
            Box::new(self.resync.clone()),
            Box::new(self.feed_events.clone()),
            Box::new(self.feed_requeues.clone()),
            Box::new(self.feed_lag.clone()),
            Box::new(self.feed_healthy.clone()),
            Box::new(self.feed_last_message.clone()),
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
        let metrics = Metrics::new();
        let build_info = IntGauge::new("orgops_build_info", "build").unwrap();
        let collectors = metrics.collectors(build_info);
        collectors.iter().flat_map(|c| c.desc().into_iter().map(|d| d.fq_name.clone()).collect::<Vec<_>>()).collect()
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

    #[test]
    fn every_exported_metric_is_documented() {
        let documented = mentioned(&repository_file("docs/metrics.md"));
        let missing: Vec<String> = exported().into_iter().filter(|n| !documented.contains(n)).collect();
        assert!(missing.is_empty(), "docs/metrics.md lacks {missing:?}");
        assert!(!mentioned("rate(orgops_nothing_total[5m])").is_empty(), "the scan finds names");
    }
}
