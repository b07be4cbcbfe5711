//! The reference's error envelope: `{"errors":[{"status":N,"message":"…"}]}`.

use warp::http::{HeaderValue, StatusCode, header};
use warp::reply::Response;

use arca_db::DbError;
use arca_storage::StorageError;

/// An error answered to the client. Everything that goes wrong in a handler
/// becomes one of these; internal details are logged, not sent.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
    /// Ask the client for credentials (401 with `WWW-Authenticate`).
    pub challenge: bool,
    /// Seconds for a `Retry-After` header (a locked-out login).
    pub retry_after: Option<i64>,
    /// Send the message as the status line's reason phrase too: build tools (Maven) show the
    /// reason phrase, not the body, so a refusal by repository policy reads as what it is.
    pub reason_phrase: bool,
}

pub type ApiResult<T> = Result<T, ApiError>;

/// `Retry-After` of a 503 while the database is away: PostgreSQL restarts take seconds.
pub const UNAVAILABLE_RETRY_AFTER_SECS: i64 = 2;

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        ApiError {
            status,
            message: message.into(),
            challenge: false,
            retry_after: None,
            reason_phrase: false,
        }
    }
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, message)
    }
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, message)
    }
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, message)
    }
    pub fn unauthorized(message: impl Into<String>) -> Self {
        ApiError {
            status: StatusCode::UNAUTHORIZED,
            message: message.into(),
            challenge: true,
            retry_after: None,
            reason_phrase: false,
        }
    }

    /// A refusal by the repository's policy (release/snapshot handling, include/exclude
    /// patterns, POM consistency): 409 Conflict, with the message as the reason phrase.
    pub fn policy(message: impl Into<String>) -> Self {
        ApiError {
            reason_phrase: true,
            ..Self::new(StatusCode::CONFLICT, message)
        }
    }

    /// Add a `Retry-After: secs` header.
    pub fn with_retry_after(mut self, secs: i64) -> Self {
        self.retry_after = Some(secs);
        self
    }
    /// Whether this is an upstream's failure (502, 504): a virtual repository goes on with its
    /// other members.
    pub fn is_upstream_failure(&self) -> bool {
        matches!(
            self.status,
            StatusCode::BAD_GATEWAY | StatusCode::GATEWAY_TIMEOUT
        )
    }

    pub fn method_not_allowed() -> Self {
        Self::new(StatusCode::METHOD_NOT_ALLOWED, "Method not allowed")
    }
    /// A dependency (the database) is temporarily away: 503 with `Retry-After`, logged.
    pub fn unavailable(context: &str, err: impl std::fmt::Display) -> Self {
        tracing::warn!(error = %err, "{context} unavailable");
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("The {context} is temporarily unavailable; retry shortly"),
        )
        .with_retry_after(UNAVAILABLE_RETRY_AFTER_SECS)
    }

    pub fn internal(context: &str, err: impl std::fmt::Display) -> Self {
        tracing::error!(error = %err, "{context}");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("{context}: internal error"),
        )
    }

    pub fn into_response(self) -> Response {
        let body = serde_json::json!({
            "errors": [{ "status": self.status.as_u16(), "message": self.message }]
        });
        let mut resp = json_response(self.status, &body);
        if let Some(secs) = self.retry_after
            && let Ok(v) = HeaderValue::from_str(&secs.to_string())
        {
            resp.headers_mut().insert(header::RETRY_AFTER, v);
        }
        if self.reason_phrase {
            // printable ASCII only, bounded: a reason phrase is one short line
            let phrase: String = self
                .message
                .chars()
                .map(|c| {
                    if c.is_ascii_graphic() || c == ' ' {
                        c
                    } else {
                        '?'
                    }
                })
                .take(300)
                .collect();
            if let Ok(reason) = hyper::ext::ReasonPhrase::try_from(phrase.into_bytes()) {
                resp.extensions_mut().insert(reason);
            }
        }
        if self.challenge {
            resp.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"Artifactory Realm\""),
            );
        }
        resp
    }
}

impl From<DbError> for ApiError {
    fn from(err: DbError) -> Self {
        match err {
            DbError::Conflict(m) => ApiError::conflict(m),
            DbError::NotFound(m) => ApiError::not_found(m),
            DbError::Invalid(m) => ApiError::bad_request(m),
            // Out of space: nothing was written; deleting frees space (docs/operations.md).
            other if other.is_disk_full() => {
                tracing::error!(error = %other, "database: out of disk space");
                ApiError::new(
                    StatusCode::INSUFFICIENT_STORAGE,
                    "The database is out of disk space; nothing was written (deleting files frees space)",
                )
            }
            // Never a 404 or a bare 500 while the database is away: clients cache 404s, and a
            // 503 with Retry-After tells them (and load balancers) to come back.
            other if other.is_unavailable() => ApiError::unavailable("database", other),
            other => ApiError::internal("database", other),
        }
    }
}

impl From<StorageError> for ApiError {
    fn from(err: StorageError) -> Self {
        match err {
            // e.g. a sharding-cluster deploy that could not write lenientLimit copies: the
            // client may retry once nodes are back
            StorageError::Unavailable(m) => ApiError::new(StatusCode::SERVICE_UNAVAILABLE, m),
            other if other.is_storage_full() => {
                tracing::error!(error = %other, "storage: out of disk space");
                ApiError::new(
                    StatusCode::INSUFFICIENT_STORAGE,
                    "The node's storage is full; nothing was stored (deleting files frees space)",
                )
            }
            other => ApiError::internal("storage", other),
        }
    }
}

/// A JSON body with the given status.
pub fn json_response(status: StatusCode, value: &serde_json::Value) -> Response {
    let bytes = serde_json::to_vec_pretty(value).unwrap_or_default();
    let mut resp = Response::new(bytes.into());
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp
}

/// A JSON body with a vendor content type (e.g. FileInfo+json).
pub fn json_typed(
    status: StatusCode,
    value: &serde_json::Value,
    content_type: &'static str,
) -> Response {
    let mut resp = json_response(status, value);
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    resp
}

pub fn text_response(status: StatusCode, text: impl Into<String>) -> Response {
    let mut resp = Response::new(text.into().into());
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    resp
}

pub fn empty_response(status: StatusCode) -> Response {
    let mut resp = Response::default();
    *resp.status_mut() = status;
    resp
}
