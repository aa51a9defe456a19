//! Toxiproxy's HTTP API over a [`Registry`], with the same routes, JSON shapes and status
//! codes, so Toxiproxy's clients work unchanged.
//!
//! | route | answer |
//! |---|---|
//! | `GET /proxies` | 200, `{name: proxy}` |
//! | `POST /proxies` | 201 proxy; 400 bad body, 409 name taken |
//! | `POST /populate` | 201 `{"proxies": [...]}`; on error its status, with `error` |
//! | `GET /proxies/{proxy}` | 200 proxy; 404 |
//! | `POST`/`PATCH /proxies/{proxy}` | 200 proxy (`enabled`, `listen`, `upstream`) |
//! | `DELETE /proxies/{proxy}` | 204 |
//! | `GET /proxies/{proxy}/toxics` | 200, array of toxics |
//! | `POST /proxies/{proxy}/toxics` | 200 toxic; 400 bad type/stream/attributes, 409 name taken |
//! | `GET`/`POST`/`PATCH`/`DELETE /proxies/{proxy}/toxics/{toxic}` | 200 toxic / 200 / 204 |
//! | `POST /reset` | 204: every proxy enabled, every toxic removed |
//! | `GET /version` | 200 `{"version": ...}` |
//! | `GET /healthz` | 200 (Faultline's convention; not in Toxiproxy) |
//!
//! Bodies are parsed whatever their content type, as Toxiproxy does. Requests whose
//! User-Agent starts with `Mozilla/` get 403, as in Toxiproxy: a web page must not be
//! able to drive a local proxy.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Serialize;

use crate::error::ApiError;
use crate::model::{bool_field, parse_object, str_field, ProxySpec, Toxic, ToxicJson};
use crate::registry::{ProxyJson, ProxyUpdate, Registry};

type Reg = State<Arc<Registry>>;
type ApiResult<T> = Result<T, ApiError>;

/// The API's routes over `registry`.
pub fn router(registry: Arc<Registry>) -> Router {
    Router::new()
        .route("/proxies", get(proxy_index).post(proxy_create))
        .route("/populate", post(populate))
        .route("/proxies/{proxy}", get(proxy_show).post(proxy_update).patch(proxy_update).delete(proxy_delete))
        .route("/proxies/{proxy}/toxics", get(toxic_index).post(toxic_create))
        .route(
            "/proxies/{proxy}/toxics/{toxic}",
            get(toxic_show).post(toxic_update).patch(toxic_update).delete(toxic_delete),
        )
        .route("/reset", post(reset))
        .route("/version", get(version))
        .route("/healthz", get(healthz))
        .layer(middleware::from_fn(stop_browsers))
        .with_state(registry)
}

async fn stop_browsers(request: Request, next: Next) -> Response {
    let ua = request.headers().get(header::USER_AGENT).and_then(|v| v.to_str().ok()).unwrap_or("");
    if ua.starts_with("Mozilla/") {
        return (StatusCode::FORBIDDEN, "User agent not allowed\n").into_response();
    }
    tracing::debug!(method = %request.method(), uri = %request.uri(), "api request");
    next.run(request).await
}

async fn proxy_index(State(reg): Reg) -> Json<BTreeMap<String, ProxyJson>> {
    Json(reg.list().await.into_iter().map(|p| (p.name.clone(), p.to_json())).collect())
}

async fn proxy_create(State(reg): Reg, body: Bytes) -> ApiResult<(StatusCode, Json<ProxyJson>)> {
    let spec = ProxySpec::from_map(&parse_object(&body)?, None)?;
    let proxy = reg.create(spec).await?;
    Ok((StatusCode::CREATED, Json(proxy.to_json())))
}

#[derive(Serialize)]
struct PopulateBody {
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    status: Option<u16>,
    proxies: Vec<ProxyJson>,
}

async fn populate(State(reg): Reg, body: Bytes) -> ApiResult<(StatusCode, Json<PopulateBody>)> {
    // Every entry is checked before any proxy is created.
    let specs = ProxySpec::list_from_json(&body)?;
    let (done, err) = reg.populate(specs).await;
    let proxies = done.iter().map(|p| p.to_json()).collect();
    Ok(match err {
        None => (StatusCode::CREATED, Json(PopulateBody { error: None, status: None, proxies })),
        Some(e) => {
            let body = e.body();
            (e.status(), Json(PopulateBody { error: Some(body.error), status: Some(body.status), proxies }))
        }
    })
}

async fn proxy_show(State(reg): Reg, Path(name): Path<String>) -> ApiResult<Json<ProxyJson>> {
    Ok(Json(reg.get(&name).await?.to_json()))
}

async fn proxy_update(State(reg): Reg, Path(name): Path<String>, body: Bytes) -> ApiResult<Json<ProxyJson>> {
    reg.get(&name).await?;
    let map = parse_object(&body)?;
    let update = ProxyUpdate {
        listen: str_field(&map, "listen")?.filter(|s| !s.is_empty()).map(str::to_string),
        upstream: str_field(&map, "upstream")?.filter(|s| !s.is_empty()).map(str::to_string),
        enabled: bool_field(&map, "enabled")?,
    };
    Ok(Json(reg.update(&name, update).await?.to_json()))
}

async fn proxy_delete(State(reg): Reg, Path(name): Path<String>) -> ApiResult<StatusCode> {
    reg.delete(&name).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn toxic_index(State(reg): Reg, Path(proxy): Path<String>) -> ApiResult<Json<Vec<ToxicJson>>> {
    Ok(Json(reg.toxics(&proxy).await?.iter().map(Toxic::to_json).collect()))
}

async fn toxic_create(State(reg): Reg, Path(proxy): Path<String>, body: Bytes) -> ApiResult<Json<ToxicJson>> {
    reg.get(&proxy).await?;
    let toxic = Toxic::from_create_body(&body)?;
    Ok(Json(reg.add_toxic(&proxy, toxic).await?.to_json()))
}

async fn toxic_show(State(reg): Reg, Path((proxy, toxic)): Path<(String, String)>) -> ApiResult<Json<ToxicJson>> {
    Ok(Json(reg.toxic(&proxy, &toxic).await?.to_json()))
}

async fn toxic_update(State(reg): Reg, Path((proxy, toxic)): Path<(String, String)>, body: Bytes) -> ApiResult<Json<ToxicJson>> {
    let updated = reg.update_toxic(&proxy, &toxic, |current| current.updated(&body)).await?;
    Ok(Json(updated.to_json()))
}

async fn toxic_delete(State(reg): Reg, Path((proxy, toxic)): Path<(String, String)>) -> ApiResult<StatusCode> {
    reg.remove_toxic(&proxy, &toxic).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn reset(State(reg): Reg) -> ApiResult<StatusCode> {
    reg.reset().await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn version() -> Json<serde_json::Value> {
    Json(serde_json::json!({ "version": crate::VERSION }))
}

async fn healthz() -> Json<serde_json::Value> {
    Json(serde_json::json!({ "status": "ok", "service": "faultline-proxy", "build": crate::VERSION }))
}
