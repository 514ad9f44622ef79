//! The Mahak endpoints: routing (paths ignore case, as IIS does), fault injection, token
//! checks, and `Login` / `GetAllData` / `SaveAllData`.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::body::{Body as HttpBody, Bytes};
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use chrono::{FixedOffset, Utc};
use md5::{Digest, Md5};
use rand::Rng;
use serde::Serialize;
use serde_json::value::RawValue;

use super::faults::{add, bump, Endpoint, Injected, HANG};
use super::generator::format_local;
use super::save::{save_all, Results};
use super::wire::{
    business_error, json_bytes, json_response, lenient_i64, Body, Envelope, CODE_BAD_REQUEST,
    CODE_OK, CODE_UNAUTHORIZED,
};
use super::{control, Shared, DEFAULT_PAGE_SIZE};
use crate::mahak::Entity;

/// Largest request body accepted (a big `SaveAllData` batch, a control upsert).
const MAX_BODY: usize = 64 * 1024 * 1024;

pub(crate) fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .nest("/control", control::routes())
        .route("/Images/Products/{file}", get(picture))
        .fallback(dispatch)
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .with_state(shared)
}

fn endpoint_of(path: &str) -> Option<Endpoint> {
    let path = path.trim_end_matches('/').to_ascii_lowercase();
    let action = path.strip_prefix("/api/v3/sync/")?;
    match action.strip_suffix("v2").unwrap_or(action) {
        "login" => Some(Endpoint::Login),
        "getalldata" => Some(Endpoint::GetAllData),
        "savealldata" => Some(Endpoint::SaveAllData),
        _ => None,
    }
}

/// Every request that is not a control route lands here.
async fn dispatch(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(endpoint) = endpoint_of(uri.path()) else {
        let message = format!("no such endpoint: {}", uri.path());
        return json_response(StatusCode::NOT_FOUND, &Envelope::error(404, message));
    };
    if method != Method::POST {
        let message = "the Mahak API takes POST requests only";
        return json_response(
            StatusCode::METHOD_NOT_ALLOWED,
            &Envelope::error(405, message),
        );
    }
    shared.counters.request(endpoint);
    let (latency, injected) = shared.faults().decide(endpoint);
    if !latency.is_zero() {
        bump(&shared.counters.delayed);
        tokio::time::sleep(latency).await;
    }
    shared.counters.injected(injected);
    match injected {
        Injected::ServerError => return injected_status(StatusCode::INTERNAL_SERVER_ERROR),
        Injected::Unavailable => return injected_status(StatusCode::SERVICE_UNAVAILABLE),
        Injected::RateLimited { retry_after_secs } => {
            let mut response = injected_status(StatusCode::TOO_MANY_REQUESTS);
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
            return response;
        }
        Injected::Hang => {
            tokio::select! {
                () = tokio::time::sleep(HANG) => {}
                () = shared.shutting_down() => {}
            }
            return injected_status(StatusCode::GATEWAY_TIMEOUT);
        }
        Injected::None | Injected::DropConnection => {}
    }
    let response = match endpoint {
        Endpoint::Login => login(&shared, &body),
        Endpoint::GetAllData => match authorize(&shared, &headers) {
            Ok(_) => get_all_data(&shared, &body),
            Err(refused) => *refused,
        },
        Endpoint::SaveAllData => match authorize(&shared, &headers) {
            Ok(visitor) => save_all_data(&shared, visitor, &body),
            Err(refused) => *refused,
        },
    };
    if injected == Injected::DropConnection {
        cut_short(response).await
    } else {
        response
    }
}

fn injected_status(status: StatusCode) -> Response {
    let message = format!("simulated fault: {status}");
    json_response(
        status,
        &Envelope::error(i32::from(status.as_u16()), message),
    )
}

/// Sends the status, headers and half of the body, then fails the body stream: the client
/// sees an I/O error (the connection is cut short of the announced Content-Length).
async fn cut_short(response: Response) -> Response {
    let (mut parts, body) = response.into_parts();
    let bytes = axum::body::to_bytes(body, usize::MAX)
        .await
        .unwrap_or_default();
    let half = bytes.slice(..bytes.len() / 2);
    parts
        .headers
        .insert(header::CONTENT_LENGTH, HeaderValue::from(bytes.len()));
    let chunks: [Result<Bytes, std::io::Error>; 2] = [
        Ok(half),
        Err(std::io::Error::new(
            std::io::ErrorKind::ConnectionReset,
            "simulated dropped connection",
        )),
    ];
    Response::from_parts(parts, HttpBody::from_stream(futures::stream::iter(chunks)))
}

/// The visitor of the bearer token, or the refusal to send (boxed: a response is large).
fn authorize(shared: &Shared, headers: &HeaderMap) -> Result<i64, Box<Response>> {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            let (scheme, token) = v.trim().split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
        });
    let visitor = token.and_then(|t| shared.sessions().get(t).copied());
    if let Some(visitor) = visitor {
        return Ok(visitor);
    }
    bump(&shared.counters.unauthorized);
    let message = if token.is_some() {
        "the token is invalid or has expired; log in again"
    } else {
        "an Authorization: Bearer token is required"
    };
    let envelope = Envelope::error(CODE_UNAUTHORIZED, message);
    if shared.faults().token_expiry_as_envelope() {
        return Err(Box::new(json_response(StatusCode::OK, &envelope)));
    }
    let mut response = json_response(StatusCode::UNAUTHORIZED, &envelope);
    response
        .headers_mut()
        .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    Err(Box::new(response))
}

fn bad_request(message: String) -> Response {
    json_response(
        StatusCode::BAD_REQUEST,
        &Envelope::error(CODE_BAD_REQUEST, message),
    )
}

/// `LoginResultModel`, PascalCase.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct LoginData {
    user_token: String,
    sync_id: i64,
    visitor_id: i64,
    database_id: i32,
    error_code: i32,
    error_message: Option<String>,
    user_title: String,
    mahak_id: String,
    server_time: String,
    package_no: i64,
    credit_day: i32,
    has_radara: bool,
    with_data_transfer: bool,
}

/// Lower-case hex MD5, as Mahak's clients send passwords.
pub(crate) fn md5_hex(text: &str) -> String {
    format!("{:x}", Md5::digest(text.as_bytes()))
}

/// Tehran local time, no offset, as Mahak writes times.
fn tehran_now() -> String {
    // Iran has kept UTC+03:30 all year since 2022.
    let offset = FixedOffset::east_opt(3 * 3600 + 1800);
    let now = Utc::now().naive_utc();
    format_local(offset.map_or(now, |o| now + o))
}

fn login(shared: &Shared, bytes: &[u8]) -> Response {
    let body = match Body::parse(bytes) {
        Ok(body) => body,
        Err(message) => return bad_request(message),
    };
    let config = &shared.config;
    let user_ok = body
        .text("userName")
        .is_some_and(|u| u.trim().eq_ignore_ascii_case(&config.username));
    let password_ok = body
        .text("password")
        .is_some_and(|p| p.trim().eq_ignore_ascii_case(&md5_hex(&config.password)));
    let database_ok = body
        .get("databaseId")
        .and_then(lenient_i64)
        .is_some_and(|id| id == i64::from(config.database_id));
    if !(user_ok && password_ok && database_ok) {
        bump(&shared.counters.failed_logins);
        return business_error(
            CODE_UNAUTHORIZED,
            "invalid user name, password or database id",
        );
    }
    let token: String = {
        let mut rng = rand::rng();
        (0..32)
            .map(|_| format!("{:02x}", rng.random::<u8>()))
            .collect()
    };
    shared.sessions().insert(token.clone(), config.visitor_id);
    bump(&shared.counters.logins);
    let data = LoginData {
        user_token: token,
        sync_id: shared.next_sync_id(),
        visitor_id: config.visitor_id,
        database_id: config.database_id,
        error_code: 0,
        error_message: None,
        user_title: format!("{} (Mahak simulator)", config.username),
        mahak_id: format!("SIM-{}", config.database_id),
        server_time: tehran_now(),
        package_no: 1,
        credit_day: 365,
        has_radara: false,
        with_data_transfer: false,
    };
    json_response(
        StatusCode::OK,
        &Envelope {
            result: true,
            code: CODE_OK,
            message: "OK".into(),
            data: Some(data),
        },
    )
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct Objects<T> {
    objects: T,
}

fn get_all_data(shared: &Shared, bytes: &[u8]) -> Response {
    let body = match Body::parse(bytes) {
        Ok(body) => body,
        Err(message) => return bad_request(message),
    };
    let max = shared.config.max_page_size.max(1);
    let page_size = match body.i64("pageSize") {
        Ok(Some(n)) if n > 0 => usize::try_from(n).unwrap_or(usize::MAX).min(max),
        Ok(_) => DEFAULT_PAGE_SIZE.min(max),
        Err(message) => return bad_request(message),
    };
    let order_types: Vec<i64> = match body.get("orderTypes") {
        None => Vec::new(),
        Some(serde_json::Value::Array(items)) => {
            match items.iter().map(lenient_i64).collect::<Option<Vec<_>>>() {
                Some(types) => types,
                None => return bad_request("`orderTypes` must be a list of integers".into()),
            }
        }
        Some(other) => match lenient_i64(other) {
            Some(one) => vec![one],
            None => return bad_request("`orderTypes` must be a list of integers".into()),
        },
    };
    let mut cursors = Vec::new();
    for entity in Entity::ALL {
        match body.i64(&entity.cursor_field()) {
            Ok(Some(cursor)) => cursors.push((entity, cursor)),
            Ok(None) => {}
            Err(message) => return bad_request(message),
        }
    }

    let store = shared.read();
    let mut objects: BTreeMap<&'static str, Vec<&RawValue>> = BTreeMap::new();
    let mut served = 0;
    for (entity, cursor) in cursors {
        let table = store.table(entity);
        let rows = if entity == Entity::Order && !order_types.is_empty() {
            table.page(cursor, page_size, |row| {
                row.order_type.is_some_and(|t| order_types.contains(&t))
            })
        } else {
            table.page(cursor, page_size, |_| true)
        };
        served += rows.len();
        objects.insert(entity.plural(), rows);
    }
    add(&shared.counters.rows_served, served as u64);
    let envelope = Envelope {
        result: true,
        code: CODE_OK,
        message: "OK".into(),
        data: Some(Objects { objects }),
    };
    match serde_json::to_vec(&envelope) {
        Ok(bytes) => json_bytes(StatusCode::OK, bytes),
        Err(error) => (StatusCode::INTERNAL_SERVER_ERROR, error.to_string()).into_response(),
    }
}

fn save_all_data(shared: &Shared, visitor: i64, bytes: &[u8]) -> Response {
    let body = match Body::parse(bytes) {
        Ok(body) => body,
        Err(message) => return bad_request(message),
    };
    let outcome = {
        let mut store = shared.write();
        match save_all(&mut store, visitor, &body) {
            Ok(outcome) => outcome,
            Err(message) => {
                drop(store);
                return bad_request(message);
            }
        }
    };
    add(&shared.counters.rows_saved, outcome.accepted as u64);
    add(&shared.counters.rows_rejected, outcome.rejected as u64);
    let message = if outcome.rejected == 0 {
        "OK".to_owned()
    } else {
        format!(
            "{} of {} rows were rejected; see Errors",
            outcome.rejected,
            outcome.rejected + outcome.accepted
        )
    };
    let objects: BTreeMap<&'static str, Results> = outcome
        .lists
        .into_iter()
        .map(|(entity, results)| (entity.plural(), results))
        .collect();
    json_response(
        StatusCode::OK,
        &Envelope {
            result: outcome.rejected == 0,
            code: CODE_OK,
            message,
            data: Some(Objects { objects }),
        },
    )
}

/// An 8×8 grey PNG: enough for a client to download, store and serve a picture.
const PLACEHOLDER_PNG: &[u8] = &[
    0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0x00, 0x00, 0x00, 0x0D, 0x49, 0x48, 0x44, 0x52,
    0x00, 0x00, 0x00, 0x08, 0x00, 0x00, 0x00, 0x08, 0x08, 0x00, 0x00, 0x00, 0x00, 0xE1, 0x64, 0xE1,
    0x57, 0x00, 0x00, 0x00, 0x0E, 0x49, 0x44, 0x41, 0x54, 0x78, 0xDA, 0x63, 0x38, 0x03, 0x05, 0x0C,
    0x94, 0x31, 0x00, 0x2C, 0xB1, 0x33, 0x01, 0x87, 0x7E, 0x72, 0x70, 0x00, 0x00, 0x00, 0x00, 0x49,
    0x45, 0x4E, 0x44, 0xAE, 0x42, 0x60, 0x82,
];

async fn picture(Path(file): Path<String>) -> Response {
    if !file.to_ascii_lowercase().ends_with(".png") {
        return StatusCode::NOT_FOUND.into_response();
    }
    (
        [(header::CONTENT_TYPE, "image/png")],
        Bytes::from_static(PLACEHOLDER_PNG),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_ignore_case() {
        assert_eq!(endpoint_of("/API/v3/Sync/Login"), Some(Endpoint::Login));
        assert_eq!(
            endpoint_of("/api/V3/sync/getalldata/"),
            Some(Endpoint::GetAllData)
        );
        assert_eq!(
            endpoint_of("/Api/v3/Sync/SaveAllDataV2"),
            Some(Endpoint::SaveAllData)
        );
        assert_eq!(endpoint_of("/API/v3/Sync/Upload"), None);
        assert_eq!(endpoint_of("/login"), None);
    }

    #[test]
    fn md5_matches_known_digest() {
        assert_eq!(md5_hex("demo"), "fe01ce2a7fbac8fafaed7c982a04e229");
    }
}
