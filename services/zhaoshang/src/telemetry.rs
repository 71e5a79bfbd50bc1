//! What the operators see: Prometheus metrics at `/metrics`, the HTTP
//! request metrics and spans (with the request's correlation id), and the
//! log format.
//!
//! The services record with the `metrics` facade (`zhaoshang_commands_total`,
//! `zhaoshang_append_seconds`, `zhaoshang_projection_*`, ...); this module
//! installs the one process-wide Prometheus recorder they record into and
//! renders it. Without a recorder the facade's calls cost next to nothing,
//! so a library used alone (a test, a tool) pays nothing for them.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{MatchedPath, Request};
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

/// Latency buckets, in seconds, of every `*_seconds` histogram: fine below
/// 10 ms, where a healthy command or query answers, and up to the 30 s a
/// query may wait for a consistency token.
const SECONDS_BUCKETS: &[f64] =
    &[0.000_5, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0];

/// Batch-size buckets, in events, of the projector's batches.
const BATCH_BUCKETS: &[f64] = &[1.0, 2.0, 5.0, 10.0, 50.0, 100.0, 500.0, 1000.0, 2000.0, 4000.0];

/// The process's Prometheus recorder, installed on first use. One per
/// process: tests start many systems in one process and they share it.
pub fn prometheus() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let recorder = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Suffix("_seconds".to_owned()), SECONDS_BUCKETS)
            .and_then(|builder| builder.set_buckets_for_metric(Matcher::Suffix("_events".to_owned()), BATCH_BUCKETS))
            .expect("the bucket lists are not empty")
            .build_recorder();
        let handle = recorder.handle();
        if metrics::set_global_recorder(recorder).is_err() {
            tracing::warn!("another metrics recorder was installed first; /metrics will stay empty");
        }
        // Histograms are drained into their buckets by upkeep; without it a
        // process nobody scrapes would keep every sample.
        let upkeep = handle.clone();
        std::thread::Builder::new()
            .name("metrics-upkeep".to_owned())
            .spawn(move || {
                loop {
                    std::thread::sleep(Duration::from_secs(5));
                    upkeep.run_upkeep();
                }
            })
            .expect("the metrics upkeep thread starts");
        handle
    })
}

/// `GET /metrics`: every metric in the Prometheus text format.
pub fn metrics_router() -> Router {
    Router::new().route(
        "/metrics",
        get(|| async {
            let handle = prometheus();
            handle.run_upkeep();
            ([(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; version=0.0.4"))], handle.render())
                .into_response()
        }),
    )
}

/// Middleware: records each request's latency and status by route
/// (`zhaoshang_http_request_seconds`): the query latency, and the command
/// latency as clients see it.
pub async fn record_request(request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |path| path.as_str().to_owned());
    let method = request.method().as_str().to_owned();
    let started = Instant::now();
    let response = next.run(request).await;
    let status = response.status().as_u16().to_string();
    metrics::histogram!("zhaoshang_http_request_seconds", "method" => method, "route" => route, "status" => status)
        .record(started.elapsed());
    response
}

/// The span of one HTTP request: method, path and the correlation id the
/// client sent (`X-Correlation-Id`), so that every log line of a business
/// process can be found with one search.
pub fn request_span(request: &Request) -> tracing::Span {
    let correlation_id =
        request.headers().get("x-correlation-id").and_then(|value| value.to_str().ok()).unwrap_or("").to_owned();
    tracing::info_span!(
        "http",
        method = %request.method(),
        path = %request.uri().path(),
        correlation_id = %correlation_id,
    )
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines, for a terminal.
    #[default]
    Text,
    /// One JSON object per line with the span fields (correlation id,
    /// aggregate, id), for a log collector.
    Json,
}

/// Sets up logging: `RUST_LOG` filters (default `info,sqlx=warn`), `format`
/// chooses the line format.
pub fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info,sqlx=warn".into());
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().with_current_span(true).with_span_list(true).init(),
    }
}
