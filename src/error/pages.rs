//! The pages a problem's `type` points at: `/problems/<kind>` explains each
//! kind of problem this API answers with, so that a `type` followed in a
//! browser resolves (RFC 9457 §3.1.1) instead of answering 404. `/problems`
//! lists them all; `/docs` links to it.

use axum::extract::Path;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};

use super::AppError;

/// Each kind of problem: its slug (the last segment of `type`), its status
/// and what it means for a client.
pub const KINDS: &[(&str, u16, &str)] = &[
    (
        "bad-request",
        400,
        "The request could not be read: the body is not JSON, is empty, or a path segment (such as an id) is not what the route takes. `detail` says which. Fix the request; sending it again unchanged gives the same answer.",
    ),
    (
        "bad-query",
        400,
        "A query parameter does not parse (`page=abc`), is given twice, or is not one the route takes (`colour=red` on `/api/products`). `errors` names every such parameter at once.",
    ),
    (
        "unauthorized",
        401,
        "No session: the `Authorization: Bearer <token>` header is missing, or the token is invalid, expired or revoked (signed out). Sign in again at `POST /api/auth/signin`.",
    ),
    (
        "forbidden",
        403,
        "Signed in, but this account may not do this (catalog writes and order status changes need an admin).",
    ),
    (
        "not-found",
        404,
        "Nothing has this id, or it belongs to another user (carts and orders show only their owner's rows), or no route matches the path.",
    ),
    (
        "method-not-allowed",
        405,
        "The path exists but does not answer this HTTP method.",
    ),
    (
        "conflict",
        409,
        "The request is valid but clashes with the current state: a name or email already taken, more than is in stock (`lines` names each short line with `requested` and `available`), or an order status change the status machine does not allow.",
    ),
    (
        "payload-too-large",
        413,
        "The body is larger than the server accepts (`BODY_LIMIT_BYTES`).",
    ),
    (
        "unsupported-media-type",
        415,
        "The body must be JSON, sent with `Content-Type: application/json`.",
    ),
    (
        "validation",
        422,
        "The request is well-formed but some fields or query values are out of range or invalid; `errors` names every one of them at once, each with its messages. Also the answer to an `Idempotency-Key` reused with another body.",
    ),
    (
        "rate-limited",
        429,
        "Too many sign-up or sign-in attempts from this address or for this email. Wait the seconds `Retry-After` says.",
    ),
    (
        "unavailable",
        503,
        "A dependency (PostgreSQL, or Redis for sessions) is down, or the request took too long. Nothing was half-done; retry after the seconds `Retry-After` says. A write cut off by the request timeout (its detail says it may have taken effect), or one whose database connection was lost, may have committed whole: read before retrying it, or retry an order with the same `Idempotency-Key`.",
    ),
    (
        "internal",
        500,
        "The server failed to answer. The cause is logged with the `request_id` of the problem; quote it when reporting.",
    ),
];

/// `GET /problems/{kind}`: one kind explained.
pub async fn page(Path(slug): Path<String>) -> Result<Response, AppError> {
    let (slug, status, text) = KINDS
        .iter()
        .find(|(known, _, _)| *known == slug)
        .ok_or_else(|| AppError::not_found(format!("no kind of problem is called {slug:?}")))?;
    let title = title_of(*status);
    let body = format!(
        "<h1>{status} {title}: <code>/problems/{slug}</code></h1>\n<p>{}</p>\n\
         <p>Every problem body is <code>application/problem+json</code> with <code>type</code>, \
         <code>title</code>, <code>status</code>, <code>detail</code> and the request's \
         <code>request_id</code>. <a href=\"/problems\">All kinds</a> · <a href=\"/docs\">API docs</a></p>",
        code_spans(text)
    );
    Ok(html(&format!("Problem: {slug}"), &body))
}

/// `GET /problems`: every kind, linked.
pub async fn index() -> Response {
    let items: String = KINDS
        .iter()
        .map(|(slug, status, text)| {
            format!(
                "<li><a href=\"/problems/{slug}\"><code>/problems/{slug}</code></a> ({status} {}): {}</li>\n",
                title_of(*status),
                code_spans(text)
            )
        })
        .collect();
    html(
        "Problems",
        &format!(
            "<h1>Problems this API answers with</h1>\n<p>Errors are RFC 9457 problem details; \
             their <code>type</code> is one of these.</p>\n<ul>\n{items}</ul>\n\
             <p><a href=\"/docs\">API docs</a></p>"
        ),
    )
}

fn title_of(status: u16) -> &'static str {
    axum::http::StatusCode::from_u16(status)
        .ok()
        .and_then(|status| status.canonical_reason())
        .unwrap_or("Error")
}

/// `code` spans written with backticks in [`KINDS`] (which hold no HTML).
fn code_spans(text: &str) -> String {
    let escaped = text
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;");
    let mut out = String::new();
    for (index, part) in escaped.split('`').enumerate() {
        if index % 2 == 1 {
            out.push_str("<code>");
            out.push_str(part);
            out.push_str("</code>");
        } else {
            out.push_str(part);
        }
    }
    out
}

fn html(title: &str, body: &str) -> Response {
    let page = format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{title}</title></head>\n<body>\n{body}\n</body></html>\n"
    );
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/html; charset=utf-8"),
        )],
        page,
    )
        .into_response()
}
