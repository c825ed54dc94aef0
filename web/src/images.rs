//! The image API: uploads (start, which chunks are missing, put chunks,
//! commit), image listing and deletion, manifest and chunk downloads.

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{header, Method, StatusCode};
use axum::response::IntoResponse;
use axum::Json;
use parc_imaging::codec::MAX_CHUNK_LEN;
use parc_imaging::{ChunkId, ImageRecord};
use serde::{Deserialize, Serialize};

use crate::auth::{check, scope_of, with_before, Principal, RouteScope};
use crate::error::ApiError;
use crate::table::Table;
use crate::AppState;
use axum::Extension;
use parc_access::Permission;

/// Most ids one "missing" request may ask about.
const MAX_IDS_PER_QUERY: usize = 65_536;
/// Largest manifest accepted (about 8 million extents).
const MAX_MANIFEST: usize = 1 << 30;

type ApiResult<T> = Result<T, ApiError>;

/// Routes under `/api/v1`.
pub fn routes() -> Table {
    Table::default()
        .add(Method::GET, "/images", list)
        .add(Method::GET, "/images/{name}", show)
        .add(Method::DELETE, "/images/{name}", delete)
        .add(Method::GET, "/images/{name}/manifest", manifest)
        .add(Method::POST, "/uploads", begin)
        .add(Method::DELETE, "/uploads/{upload}", abort)
        .add(Method::POST, "/uploads/{upload}/missing", missing)
        .add_limited(Method::PUT, "/uploads/{upload}/chunks/{chunk}", put_chunk, Some(MAX_CHUNK_LEN + (MAX_CHUNK_LEN >> 7) + 1024))
        .add_limited(Method::POST, "/uploads/{upload}/commit", commit, Some(MAX_MANIFEST))
        .add(Method::GET, "/chunks/{chunk}", chunk)
        .add(Method::GET, "/stats", stats)
}

fn parse_chunk(s: &str) -> ApiResult<ChunkId> {
    s.parse().map_err(|e: parc_imaging::id::BadChunkId| ApiError::new(StatusCode::BAD_REQUEST, e.to_string()))
}

async fn list(State(s): State<AppState>, Extension(RouteScope(scope)): Extension<RouteScope>) -> ApiResult<Json<Vec<ImageRecord>>> {
    let mut all = s.repo.catalog().list().await?;
    all.retain(|i| scope.contains(i.entity_id));
    Ok(Json(all))
}

/// The image `name` if the caller may do the route's action on it (an
/// image they may not even read does not exist for them).
async fn image_for(s: &AppState, p: &Principal, scope: &parc_access::Scope, perm: Permission, name: &str) -> ApiResult<ImageRecord> {
    let rec = s.repo.catalog().get(name).await?;
    let readable = scope_of(s, p, Permission::ImageRead).await?;
    check(rec.entity_id, scope, &readable, || parc_imaging::Error::NoSuchImage(name.to_string()).into(), perm, &p.actor())?;
    Ok(rec)
}

async fn show(State(s): State<AppState>, Extension(RouteScope(scope)): Extension<RouteScope>, Extension(p): Extension<Principal>, Path(name): Path<String>) -> ApiResult<Json<ImageRecord>> {
    Ok(Json(image_for(&s, &p, &scope, Permission::ImageRead, &name).await?))
}

#[derive(Deserialize)]
struct DeleteQuery {
    #[serde(default)]
    force: bool,
}

async fn delete(
    State(s): State<AppState>,
    Extension(RouteScope(scope)): Extension<RouteScope>,
    Extension(p): Extension<Principal>,
    Path(name): Path<String>,
    Query(q): Query<DeleteQuery>,
) -> ApiResult<axum::response::Response> {
    let before = image_for(&s, &p, &scope, Permission::ImageDelete, &name).await?;
    Ok(with_before(Json(parc_deploy::orders::delete_image(&s.tasks, &s.inventory, s.repo.catalog(), &name, q.force).await?), &before))
}

async fn manifest(State(s): State<AppState>, Extension(RouteScope(scope)): Extension<RouteScope>, Extension(p): Extension<Principal>, Path(name): Path<String>) -> ApiResult<impl IntoResponse> {
    image_for(&s, &p, &scope, Permission::ImageRead, &name).await?;
    let (rec, bytes) = s.repo.manifest(&name).await?;
    Ok(([(header::CONTENT_TYPE, "application/json".to_string()), (header::ETAG, format!("\"{}\"", rec.root))], bytes))
}

#[derive(Deserialize)]
struct BeginUpload {
    name: String,
    #[serde(default)]
    replace: bool,
    /// Who captures (host and source, or task and host): a re-run from the
    /// same origin takes over its interrupted upload.
    #[serde(default)]
    origin: String,
    /// The entity a new image goes into (default the caller's one place).
    #[serde(default)]
    entity: Option<String>,
}

#[derive(Serialize)]
struct UploadStarted {
    upload: String,
}

async fn begin(
    State(s): State<AppState>,
    Extension(RouteScope(scope)): Extension<RouteScope>,
    Extension(p): Extension<Principal>,
    Json(req): Json<BeginUpload>,
) -> ApiResult<(StatusCode, Json<UploadStarted>)> {
    let entity = match &p {
        // A netboot environment captures into its host's entity.
        Principal::Agent { task } => {
            let t = s.tasks.get(*task).await?;
            s.inventory.find(&t.host_id.to_string()).await?.entity_id
        }
        _ => crate::hosts::target_entity(&s, &scope, req.entity.as_deref()).await?,
    };
    // Replacing an image needs the right where it is.
    if let Ok(old) = s.repo.catalog().get(&req.name).await {
        let readable = scope_of(&s, &p, Permission::ImageRead).await?;
        check(old.entity_id, &scope, &readable, || parc_imaging::Error::ImageExists(req.name.clone()).into(), Permission::ImageCapture, &p.actor())?;
    }
    let upload = s.repo.begin_upload_in(&req.name, req.replace, &req.origin, entity).await?;
    Ok((StatusCode::CREATED, Json(UploadStarted { upload })))
}

async fn abort(State(s): State<AppState>, Path(upload): Path<String>) -> ApiResult<StatusCode> {
    s.repo.abort(&upload).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
struct MissingQuery {
    chunks: Vec<ChunkId>,
}

#[derive(Serialize)]
struct MissingAnswer {
    missing: Vec<ChunkId>,
}

async fn missing(State(s): State<AppState>, Path(upload): Path<String>, Json(q): Json<MissingQuery>) -> ApiResult<Json<MissingAnswer>> {
    if q.chunks.len() > MAX_IDS_PER_QUERY {
        return Err(ApiError::new(StatusCode::BAD_REQUEST, format!("at most {MAX_IDS_PER_QUERY} chunk ids per request")));
    }
    Ok(Json(MissingAnswer { missing: s.repo.missing(&upload, q.chunks).await? }))
}

async fn put_chunk(State(s): State<AppState>, Path((upload, chunk)): Path<(String, String)>, body: Bytes) -> ApiResult<StatusCode> {
    let id = parse_chunk(&chunk)?;
    let stored = s.repo.put_chunk(&upload, id, body).await.inspect_err(|e| tracing::warn!(chunk = %id, error = %e, "chunk refused"))?;
    Ok(if stored { StatusCode::CREATED } else { StatusCode::OK })
}

async fn commit(State(s): State<AppState>, Path(upload): Path<String>, body: Bytes) -> ApiResult<(StatusCode, Json<ImageRecord>)> {
    let rec = s.repo.commit(&upload, body.to_vec()).await?;
    Ok((StatusCode::CREATED, Json(rec)))
}

async fn chunk(State(s): State<AppState>, Path(chunk): Path<String>) -> ApiResult<impl IntoResponse> {
    let id = parse_chunk(&chunk)?;
    let bytes = s.repo.chunk(id).await.map_err(ApiError::from_stored)?;
    Ok(([(header::CONTENT_TYPE, "application/zstd")], bytes))
}

async fn stats(State(s): State<AppState>) -> Json<parc_imaging::repo::TransferStats> {
    Json(s.repo.transfer_stats())
}
