//! Prometheus metrics: requests, GraphQL errors by code, run durations by
//! type, findings emitted. One process-wide registry, rendered at /metrics.

use std::sync::LazyLock;

use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounterVec, Opts, Registry, TextEncoder,
};

struct Metrics {
    registry: Registry,
    http_requests: IntCounterVec,
    graphql_errors: IntCounterVec,
    run_duration: HistogramVec,
    findings_emitted: IntCounterVec,
}

static METRICS: LazyLock<Metrics> = LazyLock::new(|| {
    let registry = Registry::new();
    let http_requests = IntCounterVec::new(
        Opts::new(
            "drift_http_requests_total",
            "HTTP requests by route and status",
        ),
        &["route", "status"],
    )
    .expect("valid metric");
    let graphql_errors = IntCounterVec::new(
        Opts::new(
            "drift_graphql_errors_total",
            "GraphQL errors by extensions.code",
        ),
        &["code"],
    )
    .expect("valid metric");
    let run_duration = HistogramVec::new(
        HistogramOpts::new(
            "drift_run_duration_seconds",
            "Operation run durations by type and outcome",
        )
        .buckets(vec![
            0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0,
        ]),
        &["type", "outcome"],
    )
    .expect("valid metric");
    let findings_emitted = IntCounterVec::new(
        Opts::new(
            "drift_findings_emitted_total",
            "Findings seen by compares, by type and fidelity",
        ),
        &["finding_type", "fidelity"],
    )
    .expect("valid metric");
    for collector in [
        Box::new(http_requests.clone()) as Box<dyn prometheus::core::Collector>,
        Box::new(graphql_errors.clone()),
        Box::new(run_duration.clone()),
        Box::new(findings_emitted.clone()),
    ] {
        registry.register(collector).expect("registered once");
    }
    Metrics {
        registry,
        http_requests,
        graphql_errors,
        run_duration,
        findings_emitted,
    }
});

pub fn http_request(route: &str, status: u16) {
    METRICS
        .http_requests
        .with_label_values(&[route, &status.to_string()])
        .inc();
}

pub fn graphql_error(code: &str) {
    METRICS.graphql_errors.with_label_values(&[code]).inc();
}

pub fn run_finished(run_type: &str, outcome: &str, seconds: f64) {
    METRICS
        .run_duration
        .with_label_values(&[run_type, outcome])
        .observe(seconds);
}

pub fn findings_emitted(finding_type: &str, fidelity: &str, count: u64) {
    METRICS
        .findings_emitted
        .with_label_values(&[finding_type, fidelity])
        .inc_by(count);
}

/// The Prometheus text exposition format.
pub fn render() -> String {
    let mut out = Vec::new();
    // Encoding gathered families into a Vec cannot fail.
    let _ = TextEncoder::new().encode(&METRICS.registry.gather(), &mut out);
    String::from_utf8(out).unwrap_or_default()
}
