//! `POST|PUT /store` and `GET /store/{hash}`: a content-addressed blob store on local disk.
//!
//! The file name is the SHA-256 of the content, in lower-case hex. A read validates the hash against
//! a strict pattern before touching the file system, so no request can name a path outside
//! `--data-path` (podinfo had a path traversal here). Reads are served as opaque bytes with
//! `nosniff` and a CSP, so a stored HTML page cannot run in a browser (podinfo had a stored XSS).
//! Writes go to a temporary file first and are renamed into place, so a reader never sees half a file.

use std::path::PathBuf;
use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use sha2::{Digest, Sha256};
use utoipa::ToSchema;

use super::echo::inert_headers;
use crate::error::{ApiError, ErrorBody};
use crate::state::AppState;

/// The blob directory.
#[derive(Debug, Clone)]
pub struct Store {
    dir: Arc<PathBuf>,
}

/// `{"hash": "…"}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Stored {
    /// SHA-256 of the content, 64 lower-case hex digits.
    pub hash: String,
}

/// Whether `s` is a SHA-256 in lower-case hex: exactly 64 of `[0-9a-f]`.
pub fn is_valid_hash(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

impl Store {
    /// A store in `dir`; the directory is created if missing. If that fails, the store still exists
    /// and each request reports the problem as 503, so the rest of the API keeps serving.
    pub fn open(dir: PathBuf) -> Self {
        if let Err(err) = std::fs::create_dir_all(&dir) {
            tracing::warn!(path = %dir.display(), error = %err, "data path unavailable; /store will answer 503");
        }
        Self { dir: Arc::new(dir) }
    }

    /// Write `content`; returns its hash.
    pub async fn put(&self, content: Bytes) -> Result<String, ApiError> {
        let hash = hex::encode(Sha256::digest(&content));
        let path = self.dir.join(&hash);
        let tmp = self
            .dir
            .join(format!(".{hash}.{}.tmp", rand::random::<u64>()));
        let write = async {
            tokio::fs::write(&tmp, &content).await?;
            tokio::fs::rename(&tmp, &path).await
        };
        if let Err(err) = write.await {
            let _ = tokio::fs::remove_file(&tmp).await;
            return Err(ApiError::Unavailable(format!(
                "store unavailable: cannot write to the data path ({})",
                err.kind()
            )));
        }
        Ok(hash)
    }

    /// Read the blob named `hash`.
    pub async fn get(&self, hash: &str) -> Result<Bytes, ApiError> {
        if !is_valid_hash(hash) {
            return Err(ApiError::bad_request(
                "hash must be 64 lower-case hex digits (a SHA-256)",
            ));
        }
        match tokio::fs::read(self.dir.join(hash)).await {
            Ok(bytes) => Ok(Bytes::from(bytes)),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
                Err(ApiError::not_found(format!("no blob with hash {hash}")))
            }
            Err(err) => Err(ApiError::Unavailable(format!(
                "store unavailable: cannot read the data path ({})",
                err.kind()
            ))),
        }
    }
}

/// Store the body; answers 202 with its SHA-256.
#[utoipa::path(method(post, put), path = "/store", tag = "store", operation_id = "store_write",
    request_body(content = Vec<u8>, content_type = "application/octet-stream"),
    responses(
        (status = 202, description = "Stored", body = Stored),
        (status = 413, description = "Body above --body-limit", body = ErrorBody),
        (status = 503, description = "Data path not writable", body = ErrorBody)))]
pub async fn write(
    State(state): State<AppState>,
    body: Bytes,
) -> Result<(StatusCode, Json<Stored>), ApiError> {
    let hash = state.store.put(body).await?;
    Ok((StatusCode::ACCEPTED, Json(Stored { hash })))
}

/// Read a stored blob as opaque bytes.
#[utoipa::path(get, path = "/store/{hash}", tag = "store", operation_id = "store_read",
    params(("hash" = String, Path, description = "SHA-256, 64 lower-case hex digits")),
    responses(
        (status = 200, description = "The blob", content_type = "application/octet-stream", body = Vec<u8>),
        (status = 400, description = "Not a valid hash", body = ErrorBody),
        (status = 404, description = "No such blob", body = ErrorBody),
        (status = 503, description = "Data path not readable", body = ErrorBody)))]
pub async fn read(
    State(state): State<AppState>,
    Path(hash): Path<String>,
) -> Result<Response, ApiError> {
    let bytes = state.store.get(&hash).await?;
    Ok((inert_headers(), bytes).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_lower_case_sha256_hex_is_a_hash() {
        assert!(is_valid_hash(&"a".repeat(64)));
        assert!(is_valid_hash(
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        ));
        for bad in [
            "",
            "../etc/passwd",
            &"A".repeat(64),
            &"a".repeat(63),
            &"a".repeat(65),
            &format!("{}/", "a".repeat(63)),
            "..%2f..%2fetc%2fpasswd",
        ] {
            assert!(!is_valid_hash(bad), "{bad:?}");
        }
    }
}
