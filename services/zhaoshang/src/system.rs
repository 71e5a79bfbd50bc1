//! Wiring the services together: one HTTP app for all three, or each alone.

use anyhow::Context as _;
use axum::Router;
use axum::response::IntoResponse;
use axum::routing::get;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::trace::TraceLayer;
use zhaoshang_command::CommandService;
use zhaoshang_event_store::EventStore;

use zhaoshang_http::MAX_BODY_BYTES;
use zhaoshang_http::auth::{self, Security};
use zhaoshang_query::QueryService;
use zhaoshang_read_model::ReadModel;

use crate::config::Config;

/// Which services this process runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Role {
    /// Command, projection and query services in one process.
    All,
    /// Only the command service (HTTP writes).
    Command,
    /// Only the projection service (no HTTP API).
    Projector,
    /// Only the query service (HTTP reads).
    Query,
}

/// A running system.
pub struct RunningSystem {
    /// The address the HTTP API answers on, if it has one.
    pub address: Option<std::net::SocketAddr>,
    /// The command service, when this process runs it.
    pub command: Option<CommandService>,
    /// The event store.
    pub store: EventStore,
    /// The read models.
    pub read_model: ReadModel,
    /// The server and projector tasks.
    pub tasks: Vec<JoinHandle<anyhow::Result<()>>>,
    /// Cancelling it stops everything gracefully.
    pub shutdown: CancellationToken,
}

/// Starts the services of `role`, serving HTTP on `listener`.
///
/// # Errors
/// When NATS or PostgreSQL cannot be reached or set up.
pub async fn start(
    config: &Config,
    role: Role,
    listener: Option<TcpListener>,
    shutdown: CancellationToken,
) -> anyhow::Result<RunningSystem> {
    // Installed before anything records, so no early count is lost.
    crate::telemetry::prometheus();
    let store = EventStore::connect(config.event_store()).await.context("failed to open the event store")?;
    let read_model = ReadModel::connect(&config.read_model()).await.context("failed to open the read models")?;
    let mut tasks = Vec::new();
    if matches!(role, Role::All | Role::Projector) {
        let projector =
            zhaoshang_projector::run(store.clone(), read_model.clone(), config.projector(), shutdown.clone());
        tasks.push(tokio::spawn(projector));
        match crate::audit::load_signing_key(config)? {
            Some(key) => tasks.push(tokio::spawn(crate::audit::run_digester(
                store.clone(),
                read_model.clone(),
                key,
                config.digest_every_events.max(1),
                std::time::Duration::from_secs(config.digest_every_seconds.max(1)),
                shutdown.clone(),
            ))),
            None => tracing::warn!("no signing key configured (ZHAOSHANG_SIGNING_KEY_FILE): no tree heads are signed"),
        }
    }
    let command = if matches!(role, Role::All | Role::Command) {
        let service = CommandService::new(store.clone()).await.context("failed to start the command service")?;
        service.set_key_store(zhaoshang_read_model::personal_data::KeyStore::new(
            read_model.pool().clone(),
            read_model.schema(),
        ));
        Some(service)
    } else {
        None
    };
    let query = if matches!(role, Role::All | Role::Query) {
        Some(
            QueryService::start(read_model.clone(), shutdown.clone())
                .await
                .context("failed to start the query service")?
                .with_event_store(store.clone(), config.ready_lag)
                .with_console(config.console()),
        )
    } else {
        None
    };
    let mut address = None;
    if let Some(listener) = listener.filter(|_| role != Role::Projector) {
        address = Some(listener.local_addr()?);
        let security = crate::security::security(config).await?;
        let timeout = std::time::Duration::from_millis(config.request_timeout_ms);
        let app = app(command.clone(), query, security, timeout);
        let token = shutdown.clone();
        tasks.push(tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async move { token.cancelled().await })
                .await
                .context("the HTTP server failed")
        }));
    }
    Ok(RunningSystem { address, command, store, read_model, tasks, shutdown })
}

/// The HTTP app: the routers of the services this process runs, plus
/// `/healthz`, `/metrics` and `/openapi.json`, behind the security layer
/// (every path but `/healthz`, `/readyz` and `/openapi.json` needs a token;
/// see `zhaoshang_http::auth`) and the request timeout.
pub fn app(
    command: Option<CommandService>,
    query: Option<QueryService>,
    security: Arc<Security>,
    request_timeout: Duration,
) -> Router {
    let mut docs = zhaoshang_http::openapi::OpenApiBuilder::default();
    let mut router = Router::new().merge(zhaoshang_query::health_router()).merge(crate::telemetry::metrics_router());
    if let Some(command) = command {
        router = router.merge(zhaoshang_command::router(command));
        docs.merge(zhaoshang_command::openapi());
    }
    if let Some(query) = query {
        // The console's HTML pages are left out of /openapi.json: they are for
        // people, and every fact they show or record has its API operation.
        router = router.merge(zhaoshang_query::console::router(query.clone(), security.clone()));
        router = router.merge(zhaoshang_query::router(query));
        docs.merge(zhaoshang_query::openapi());
    }
    let document = std::sync::Arc::new(docs.build("zhaoshang 招商", env!("CARGO_PKG_VERSION")));
    router
        .route("/openapi.json", get(move || async move { axum::Json((*document).clone()).into_response() }))
        // Only matched routes are measured (their path is the label); an
        // unknown path must not grow the metrics without bound.
        .route_layer(axum::middleware::from_fn(crate::telemetry::record_request))
        .fallback(|| async { zhaoshang_http::ApiError::NotFound { what: "该接口".to_owned() } })
        .layer(axum::middleware::from_fn_with_state(security, auth::middleware))
        .layer(axum::middleware::from_fn_with_state(request_timeout, auth::timeout))
        .layer(RequestBodyLimitLayer::new(MAX_BODY_BYTES))
        .layer(TraceLayer::new_for_http().make_span_with(crate::telemetry::request_span))
}
