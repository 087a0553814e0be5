//! `POST /token` and `GET /token/validate`: short-lived HS256 JWTs, as in podinfo, minus its
//! default secret. With no `--jwt-secret`, a random 256-bit key is drawn at start (and a warning
//! logged), so tokens never verify across instances by accident.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::http::header::AUTHORIZATION;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::{ApiError, ErrorBody};
use crate::state::AppState;

/// The `iss` claim of our tokens.
pub const ISSUER: &str = "blueprint";
/// Lifetime of a token, in seconds.
pub const TOKEN_TTL_SECONDS: i64 = 60;
/// Longest accepted token name (the request body), in bytes.
pub const MAX_NAME_BYTES: usize = 256;

/// Signing and verifying keys.
pub struct JwtKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    /// Whether the key was drawn at random (no `--jwt-secret`).
    pub generated: bool,
}

impl std::fmt::Debug for JwtKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtKeys")
            .field("generated", &self.generated)
            .finish_non_exhaustive()
    }
}

impl JwtKeys {
    /// Keys from the configured secret, or a random one.
    pub fn new(secret: Option<&secrecy::SecretString>) -> Self {
        secret.map_or_else(
            || Self::from_bytes(&rand::random::<[u8; 32]>(), true),
            |s| Self::from_bytes(s.expose_secret().as_bytes(), false),
        )
    }

    fn from_bytes(key: &[u8], generated: bool) -> Self {
        Self {
            encoding: EncodingKey::from_secret(key),
            decoding: DecodingKey::from_secret(key),
            generated,
        }
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    name: String,
    iss: String,
    exp: i64,
}

/// A new token.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct TokenResponse {
    pub token: String,
    /// Expiry, RFC 3339.
    pub expires_at: String,
}

/// A valid token's content.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct TokenValidation {
    pub token_name: String,
    /// Expiry, RFC 3339.
    pub expires_at: String,
}

fn rfc3339(unix: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(unix)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}

/// Issue a token named by the request body (default `anonymous`), valid for one minute.
#[utoipa::path(post, path = "/token", tag = "token",
    request_body(content = String, content_type = "text/plain", description = "Token name (optional)"),
    responses(
        (status = 200, description = "A signed token", body = TokenResponse),
        (status = 400, description = "Name too long or not UTF-8", body = ErrorBody)))]
pub async fn issue(
    State(state): State<AppState>,
    body: Bytes,
) -> Result<Json<TokenResponse>, ApiError> {
    if body.len() > MAX_NAME_BYTES {
        return Err(ApiError::bad_request(format!(
            "token name is {} bytes; at most {MAX_NAME_BYTES}",
            body.len()
        )));
    }
    let name = std::str::from_utf8(&body)
        .map_err(|_| ApiError::bad_request("token name must be UTF-8"))?
        .trim();
    let name = if name.is_empty() { "anonymous" } else { name };
    let exp = time::OffsetDateTime::now_utc().unix_timestamp() + TOKEN_TTL_SECONDS;
    let claims = Claims {
        name: name.to_owned(),
        iss: ISSUER.to_owned(),
        exp,
    };
    let token = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &state.jwt.encoding)
        .map_err(|e| ApiError::Internal(anyhow::anyhow!("signing a token: {e}")))?;
    Ok(Json(TokenResponse {
        token,
        expires_at: rfc3339(exp),
    }))
}

/// Check the `Authorization: Bearer` token.
#[utoipa::path(get, path = "/token/validate", tag = "token",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Valid", body = TokenValidation),
        (status = 401, description = "Missing, malformed, expired, or wrongly signed", body = ErrorBody)))]
pub async fn validate(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Json<TokenValidation>, ApiError> {
    let header = headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| ApiError::unauthorized("authorization bearer header required"))?;
    let token = match header.split_once(' ') {
        Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") && !token.is_empty() => {
            token.trim()
        }
        _ => {
            return Err(ApiError::unauthorized(
                "authorization bearer header required",
            ));
        }
    };
    let mut validation = Validation::new(Algorithm::HS256);
    validation.set_issuer(&[ISSUER]);
    validation.set_required_spec_claims(&["exp", "iss"]);
    validation.leeway = 0;
    let data = jsonwebtoken::decode::<Claims>(token, &state.jwt.decoding, &validation)
        .map_err(|e| ApiError::unauthorized(format!("invalid token: {e}")))?;
    Ok(Json(TokenValidation {
        token_name: data.claims.name,
        expires_at: rfc3339(data.claims.exp),
    }))
}
