//! Prometheus metrics of the operator, on one registry served at `/metrics`.

use prometheus::{Encoder, IntGauge, Opts, Registry, TextEncoder};

/// The operator's metrics.
#[derive(Clone)]
pub struct Metrics {
    registry: Registry,
    /// 1 while this replica is ready to reconcile (CRDs found, controllers started).
    pub ready: IntGauge,
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
        let ready = IntGauge::new("orgops_ready", "1 while the operator is ready to reconcile").expect("valid metric");
        for collector in [build_info, ready.clone()] {
            registry.register(Box::new(collector)).expect("metric registered once");
        }
        Metrics { registry, ready }
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
    fn renders_build_info_and_readiness() {
        let metrics = Metrics::new();
        metrics.ready.set(1);
        let text = metrics.render();
        assert!(text.contains(&format!("orgops_build_info{{version=\"{}\"}} 1", env!("CARGO_PKG_VERSION"))));
        assert!(text.contains("orgops_ready 1"));
    }
}
