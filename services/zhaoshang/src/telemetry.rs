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

/// Keeps the optional OTLP exporter alive; dropping it (at the end of `main`)
/// sends the spans still queued.
#[must_use = "dropping the guard stops the trace export"]
pub struct TelemetryGuard {
    #[cfg(feature = "otlp")]
    provider: Option<opentelemetry_sdk::trace::SdkTracerProvider>,
}

impl Drop for TelemetryGuard {
    fn drop(&mut self) {
        #[cfg(feature = "otlp")]
        if let Some(provider) = self.provider.take() {
            if let Err(error) = provider.shutdown() {
                eprintln!("the last spans could not be exported: {error}");
            }
        }
    }
}

/// Sets up logging: `RUST_LOG` filters (default `info,sqlx=warn`), `format`
/// chooses the line format. Built with the `otlp` feature, the spans are
/// also exported over OTLP/HTTP when `OTEL_EXPORTER_OTLP_ENDPOINT` (or
/// `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) is set, e.g. `http://collector:4318`.
pub fn init_logging(format: LogFormat) -> TelemetryGuard {
    use tracing_subscriber::Layer as _;
    use tracing_subscriber::layer::SubscriberExt as _;
    use tracing_subscriber::util::SubscriberInitExt as _;
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info,sqlx=warn".into());
    let lines = match format {
        LogFormat::Text => tracing_subscriber::fmt::layer().boxed(),
        LogFormat::Json => tracing_subscriber::fmt::layer().json().with_current_span(true).with_span_list(true).boxed(),
    };
    let registry = tracing_subscriber::registry().with(lines);
    #[cfg(feature = "otlp")]
    {
        use opentelemetry::trace::TracerProvider as _;
        let provider = otlp_provider();
        let layer = provider.as_ref().map(|p| tracing_opentelemetry::layer().with_tracer(p.tracer("zhaoshang")));
        registry.with(layer).with(filter).init();
        if provider.is_some() {
            tracing::info!("exporting spans over OTLP/HTTP");
        }
        TelemetryGuard { provider }
    }
    #[cfg(not(feature = "otlp"))]
    {
        registry.with(filter).init();
        if std::env::var_os("OTEL_EXPORTER_OTLP_ENDPOINT").is_some() {
            tracing::warn!("OTEL_EXPORTER_OTLP_ENDPOINT is set, but this build has no OTLP export (feature `otlp`)");
        }
        TelemetryGuard {}
    }
}

/// The OTLP/HTTP span exporter, when an endpoint is configured. The
/// exporter reads the standard `OTEL_EXPORTER_OTLP_*` variables itself.
#[cfg(feature = "otlp")]
fn otlp_provider() -> Option<opentelemetry_sdk::trace::SdkTracerProvider> {
    let configured = ["OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"]
        .iter()
        .any(|name| std::env::var_os(name).is_some_and(|v| !v.is_empty()));
    if !configured {
        return None;
    }
    let exporter = match opentelemetry_otlp::SpanExporter::builder().with_http().build() {
        Ok(exporter) => exporter,
        Err(error) => {
            eprintln!("OTLP export is configured but cannot start: {error}");
            return None;
        }
    };
    let resource = opentelemetry_sdk::Resource::builder().with_service_name("zhaoshang").build();
    Some(
        opentelemetry_sdk::trace::SdkTracerProvider::builder()
            .with_batch_exporter(exporter)
            .with_resource(resource)
            .build(),
    )
}
