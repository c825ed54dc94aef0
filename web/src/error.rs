//! Domain errors as HTTP answers: a status and `{"error": "…"}`.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use parc_imaging::{ChunkError, Error};

/// An error answer.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    message: String,
}

impl ApiError {
    /// An answer with an explicit status.
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self { status, message: message.into() }
    }

    /// Its status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// What went wrong, for a person.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// A chunk the server already stored turned out bad: that is the
    /// server's fault, not the client's.
    pub fn from_stored(e: Error) -> Self {
        match e {
            Error::Chunk(c) => Self::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("{c}; the stored copy was quarantined: re-capture an image holding it, and run `parc store check`"),
            ),
            e => e.into(),
        }
    }
}

/// The status an error deserves; a wrapped error keeps its inner error's.
fn status_of(e: &Error) -> StatusCode {
    match e {
        Error::NoSuchImage(_) | Error::NoSuchUpload(_) | Error::MissingChunk(_) => StatusCode::NOT_FOUND,
        Error::ImageExists(_) | Error::InUse(_) | Error::ChunksAbsent { .. } | Error::UploadInProgress { .. } => StatusCode::CONFLICT,
        Error::BadName(_) | Error::BadManifest(_) => StatusCode::BAD_REQUEST,
        Error::Chunk(ChunkError::HashMismatch { .. } | ChunkError::Undecodable { .. }) => StatusCode::BAD_REQUEST,
        Error::InImage { cause, .. } => status_of(cause),
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        let status = status_of(&e);
        if status.is_server_error() {
            tracing::error!(error = %e, "request failed");
        }
        Self { status, message: e.to_string() }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(serde_json::json!({ "error": self.message }))).into_response()
    }
}

fn inventory_status(e: &parc_inventory::Error) -> StatusCode {
    use parc_inventory::Error as E;
    match e {
        E::NotFound(_) | E::EmptyGroup(_) => StatusCode::NOT_FOUND,
        E::Conflict(_) => StatusCode::CONFLICT,
        E::Invalid(_) | E::Csv { .. } | E::CsvRows(_) => StatusCode::BAD_REQUEST,
        E::Db(_) => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

fn task_status(e: &parc_deploy::Error) -> StatusCode {
    use parc_deploy::Error as E;
    match e {
        E::NotFound(_) | E::NotFoundImage(_) => StatusCode::NOT_FOUND,
        E::BadToken(_) => StatusCode::UNAUTHORIZED,
        E::Conflict(_) => StatusCode::CONFLICT,
        E::Invalid(_) => StatusCode::BAD_REQUEST,
        E::Inventory(e) => inventory_status(e),
        E::About { cause, .. } => task_status(cause),
        E::Db(_) => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

fn boot_status(e: &parc_pxe::site::BootError) -> StatusCode {
    use parc_pxe::site::BootError as E;
    match e {
        E::NotAScript(_) => StatusCode::NOT_FOUND,
        E::BadMac(_) => StatusCode::BAD_REQUEST,
        E::Inventory(e) => inventory_status(e),
        E::Task(e) => task_status(e),
        E::Template(_) => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// One `From` per domain error, each through its status function.
macro_rules! from_domain {
    ($($t:ty => $status:ident),* $(,)?) => {$(
        impl From<$t> for ApiError {
            fn from(e: $t) -> Self {
                let status = $status(&e);
                if status.is_server_error() {
                    tracing::error!(error = %e, "request failed");
                }
                Self { status, message: e.to_string() }
            }
        }
    )*};
}

from_domain!(
    parc_inventory::Error => inventory_status,
    parc_deploy::Error => task_status,
    parc_pxe::site::BootError => boot_status,
);

impl From<parc_access::Error> for ApiError {
    fn from(e: parc_access::Error) -> Self {
        use parc_access::Error as A;
        let status = match &e {
            A::NotFound(_) => StatusCode::NOT_FOUND,
            A::Conflict(_) => StatusCode::CONFLICT,
            A::Invalid(_) => StatusCode::BAD_REQUEST,
            A::BadLogin | A::BadToken => StatusCode::UNAUTHORIZED,
            A::Hash(_) | A::Db(_) => StatusCode::INTERNAL_SERVER_ERROR,
        };
        if status.is_server_error() {
            tracing::error!(error = %e, "request failed");
        }
        Self::new(status, e.to_string())
    }
}
