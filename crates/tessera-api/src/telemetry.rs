//! Metrics: request counts and latencies, and counters of security events, rendered for
//! Prometheus at `/metrics`.

use std::sync::OnceLock;
use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::middleware::Next;
use axum::response::Response;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use tessera_core::events::{EventSink, SecurityEvent};

/// The process-wide Prometheus handle (a metrics recorder can be installed once per process).
pub fn prometheus() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new().build_recorder();
            let handle = recorder.handle();
            // Another recorder may already be installed (an embedding application's): then
            // this handle renders only what Tessera records through it, which is acceptable.
            let _ = metrics::set_global_recorder(recorder);
            handle
        })
        .clone()
}

/// Counts requests and records their latency, labelled by route template (never by raw path,
/// which could carry ids).
pub async fn track(req: Request, next: Next) -> Response {
    let start = Instant::now();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let method = req.method().as_str().to_owned();
    let res = next.run(req).await;
    let status = res.status().as_u16().to_string();
    metrics::counter!("tessera_http_requests_total", "method" => method.clone(), "route" => route.clone(), "status" => status).increment(1);
    metrics::histogram!("tessera_http_request_duration_seconds", "method" => method, "route" => route).record(start.elapsed().as_secs_f64());
    res
}

/// Counts security events (`tessera_events_total{event="login"|"refresh"|"reuse_detected"|…}`).
#[derive(Debug, Clone, Copy, Default)]
pub struct MetricsSink;

impl EventSink for MetricsSink {
    fn emit(&self, event: &SecurityEvent) {
        metrics::counter!("tessera_events_total", "event" => event.kind.as_str()).increment(1);
    }
}
