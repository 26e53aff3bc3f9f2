//! The demo resource: a user's notes. Every route needs an authenticated session; another
//! user's note is a 404, never a 403, so ids of others cannot be probed.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use tessera_axum::{AuthError, Authenticated, JsonBody};

use crate::app::ApiState;
use crate::repo::{Note, NoteBody, RepoError};

/// How many notes `GET /notes` returns at most.
pub const LIST_LIMIT: u32 = 200;

/// A note as the API shows it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct NoteView {
    /// Note id.
    pub id: String,
    /// Text.
    pub body: String,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339.
    pub updated_at: String,
}

impl From<Note> for NoteView {
    fn from(n: Note) -> Self {
        Self {
            id: n.id,
            body: n.body,
            created_at: n.created_at.to_rfc3339(),
            updated_at: n.updated_at.to_rfc3339(),
        }
    }
}

/// `{notes: [...]}`
#[derive(Debug, Serialize)]
struct NoteList {
    notes: Vec<NoteView>,
}

/// `{body}`
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NoteInput {
    /// Text, 1 to 10,000 characters.
    pub body: String,
}

pub(crate) fn repo_error(e: RepoError) -> AuthError {
    match e {
        RepoError::Conflict => AuthError::Conflict,
        other => {
            tracing::warn!(error = %other, "database error");
            AuthError::Unavailable
        }
    }
}

fn body_of(input: NoteInput) -> Result<NoteBody, AuthError> {
    NoteBody::parse(&input.body).map_err(|e| AuthError::Invalid(e.to_string()))
}

/// The notes routes.
pub fn router() -> Router<ApiState> {
    Router::new()
        .route("/notes", get(list).post(create))
        .route("/notes/{id}", get(show).patch(update).delete(remove))
}

async fn list(State(s): State<ApiState>, auth: Authenticated) -> Result<Response, AuthError> {
    let notes = s
        .repo
        .list_notes(auth.user_id().as_str(), LIST_LIMIT)
        .await
        .map_err(repo_error)?;
    let notes: Vec<NoteView> = notes.into_iter().map(NoteView::from).collect();
    Ok(Json(NoteList { notes }).into_response())
}

async fn create(
    State(s): State<ApiState>,
    auth: Authenticated,
    JsonBody(input): JsonBody<NoteInput>,
) -> Result<Response, AuthError> {
    let body = body_of(input)?;
    let now = s.auth.sessions.now();
    let note = s
        .repo
        .create_note(auth.user_id().as_str(), &body, now)
        .await
        .map_err(repo_error)?;
    Ok((StatusCode::CREATED, Json(NoteView::from(note))).into_response())
}

async fn show(
    State(s): State<ApiState>,
    auth: Authenticated,
    Path(id): Path<String>,
) -> Result<Response, AuthError> {
    let note = s
        .repo
        .note(auth.user_id().as_str(), &id)
        .await
        .map_err(repo_error)?
        .ok_or(AuthError::NotFound)?;
    Ok(Json(NoteView::from(note)).into_response())
}

async fn update(
    State(s): State<ApiState>,
    auth: Authenticated,
    Path(id): Path<String>,
    JsonBody(input): JsonBody<NoteInput>,
) -> Result<Response, AuthError> {
    let body = body_of(input)?;
    let now = s.auth.sessions.now();
    let note = s
        .repo
        .update_note(auth.user_id().as_str(), &id, &body, now)
        .await
        .map_err(repo_error)?
        .ok_or(AuthError::NotFound)?;
    Ok(Json(NoteView::from(note)).into_response())
}

async fn remove(
    State(s): State<ApiState>,
    auth: Authenticated,
    Path(id): Path<String>,
) -> Result<Response, AuthError> {
    if s.repo
        .delete_note(auth.user_id().as_str(), &id)
        .await
        .map_err(repo_error)?
    {
        Ok(StatusCode::NO_CONTENT.into_response())
    } else {
        Err(AuthError::NotFound)
    }
}
