//! GraphQL over HTTP, as the GraphQL-over-HTTP specification describes it.
//!
//! async-graphql-axum's stock handler answers every request as
//! `application/graphql-response+json`, even to clients that accept only `application/json`,
//! and with 200 for requests that failed to parse or validate. This handler negotiates the
//! media type from `Accept`, answers malformed requests with 400, request errors with 400
//! under `application/graphql-response+json` and 200 under `application/json`, refuses
//! mutations over GET (405), caps batch size, serves GraphiQL to browsers, and gives every
//! error a stable `extensions.code`.

use std::sync::Arc;
use std::time::Instant;

use async_graphql::parser::types::{
    DocumentOperations, ExecutableDocument, OperationDefinition, OperationType,
};
use async_graphql::{
    BatchRequest, Executor, Positioned, Request, Response, ServerError, Variables,
};
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{Html, IntoResponse};
use serde_json::{json, Map, Value};

use crate::error::REQUEST_ERROR_CODE;
use crate::http::RequestContext;

const GRAPHQL_RESPONSE_JSON: &str = "application/graphql-response+json; charset=utf-8";
const JSON: &str = "application/json; charset=utf-8";

/// Adds per-request data to an operation, given the HTTP request's headers.
pub type Prepare = Box<dyn Fn(Request, &HeaderMap) -> Request + Send + Sync>;

/// One GraphQL endpoint (the shop's or the admin's): its schema and how it is served.
pub struct Endpoint<E> {
    pub executor: E,
    /// Label used in metrics and logs: `shop` or `admin`.
    pub name: &'static str,
    /// The path GraphiQL sends queries to.
    pub path: &'static str,
    pub graphiql: bool,
    pub max_batch: usize,
    /// Adds per-request data (DataLoaders, the caller's identity read from the headers) to
    /// each operation.
    pub prepare: Prepare,
    /// Automatic persisted queries and the operation safelist (the shop's); `None` runs
    /// requests as sent.
    pub persisted: Option<super::persisted::PersistedQueries>,
    /// Anonymous catalogue answers kept between requests (the shop's, on PostgreSQL); `None`
    /// runs every request.
    pub catalogue_cache: Option<super::catalogue_cache::CatalogueCache>,
    /// Checked on every request before it runs (aliases, NUL characters).
    pub limits: super::QueryLimits,
}

impl<E> Endpoint<E> {
    /// The request to execute (see [`super::persisted::PersistedQueries::resolve`]), once it
    /// passes [`super::QueryLimits::check`]; it then holds its parsed document.
    pub(super) fn resolve(&self, request: Request) -> Result<Request, ServerError> {
        let mut request = match &self.persisted {
            Some(persisted) => persisted.resolve(request)?,
            // Apollo clients stop sending hashes on this answer.
            None if request.query.is_empty()
                && request.extensions.contains_key("persistedQuery") =>
            {
                return Err(super::persisted::not_supported());
            }
            None => request,
        };
        self.limits.check(&mut request)?;
        Ok(request)
    }
}

/// The media type a response is written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum MediaType {
    /// `application/graphql-response+json`: status codes carry the request's outcome.
    GraphqlResponse,
    /// `application/json`: the legacy type; well-formed requests always get 200.
    Json,
}

impl MediaType {
    fn content_type(self) -> HeaderValue {
        HeaderValue::from_static(match self {
            MediaType::GraphqlResponse => GRAPHQL_RESPONSE_JSON,
            MediaType::Json => JSON,
        })
    }
}

/// Picks the response media type from `Accept` by quality, preferring
/// `application/graphql-response+json` on ties. No `Accept` header means `application/json`
/// (the spec's rule for legacy clients); `*/*` and `application/*` get `application/json`.
/// `None` means nothing acceptable was offered.
fn negotiate(headers: &HeaderMap) -> Option<MediaType> {
    let Some(accept) = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()) else {
        return Some(MediaType::Json);
    };
    if accept.trim().is_empty() {
        return Some(MediaType::Json);
    }
    let mut best: Option<(f32, MediaType)> = None;
    for item in accept.split(',') {
        let mut parts = item.split(';').map(str::trim);
        let essence = parts.next().unwrap_or_default().to_ascii_lowercase();
        let mut quality = 1.0_f32;
        let mut charset_ok = true;
        for param in parts {
            let (key, value) = param.split_once('=').unwrap_or((param, ""));
            match key.trim().to_ascii_lowercase().as_str() {
                "q" => quality = value.trim().parse().unwrap_or(0.0),
                "charset" => {
                    charset_ok = value.trim().trim_matches('"').eq_ignore_ascii_case("utf-8");
                }
                _ => {}
            }
        }
        let media = match essence.as_str() {
            "application/graphql-response+json" => MediaType::GraphqlResponse,
            "application/json" | "application/*" | "*/*" => MediaType::Json,
            _ => continue,
        };
        if quality <= 0.0 || !charset_ok {
            continue;
        }
        let better = match best {
            None => true,
            Some((q, current)) => {
                quality > q
                    || (quality == q && media == MediaType::GraphqlResponse && current != media)
            }
        };
        if better {
            best = Some((quality, media));
        }
    }
    best.map(|(_, media)| media)
}

fn wants_html(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|accept| accept.contains("text/html"))
}

/// A request that is not a well-formed GraphQL-over-HTTP request: answered before execution.
fn reject(status: StatusCode, media: MediaType, message: &str) -> axum::response::Response {
    let body =
        json!({ "errors": [{ "message": message, "extensions": { "code": "BAD_REQUEST" } }] });
    (
        status,
        [(header::CONTENT_TYPE, media.content_type())],
        body.to_string(),
    )
        .into_response()
}

/// Parses one request object (`query`, `operationName`, `variables`, `extensions`). `query`
/// may be left out only by a persisted query (`extensions.persistedQuery`); it is then empty
/// until [`Endpoint::resolve`] fills it.
pub(super) fn parse_params(value: Value) -> Result<Request, String> {
    let Value::Object(mut map) = value else {
        return Err("a GraphQL request must be a JSON object".into());
    };
    let persisted = map
        .get("extensions")
        .and_then(|e| e.get("persistedQuery"))
        .is_some();
    let query = match map.remove("query") {
        Some(Value::String(query)) => query,
        Some(_) => return Err("`query` must be a string".into()),
        None if persisted => String::new(),
        None => return Err("`query` is required".into()),
    };
    let mut request = Request::new(query);
    match map.remove("operationName") {
        Some(Value::String(name)) => request = request.operation_name(name),
        Some(Value::Null) | None => {}
        Some(_) => return Err("`operationName` must be a string or null".into()),
    }
    match map.remove("variables") {
        Some(variables @ Value::Object(_)) => {
            request = request.variables(Variables::from_json(variables));
        }
        Some(Value::Null) | None => {}
        Some(_) => return Err("`variables` must be an object or null".into()),
    }
    match map.remove("extensions") {
        Some(Value::Object(extensions)) => {
            for (key, value) in extensions {
                let value = async_graphql::Value::from_json(value)
                    .map_err(|_| "`extensions` holds an unsupported value".to_string())?;
                request.extensions.insert(key, value);
            }
        }
        Some(Value::Null) | None => {}
        Some(_) => return Err("`extensions` must be an object or null".into()),
    }
    Ok(request)
}

/// GET parameters arrive URL-encoded; `variables` and `extensions` are JSON strings.
fn parse_get_params(params: Vec<(String, String)>) -> Result<Request, String> {
    let mut map = Map::new();
    for (key, value) in params {
        let value = match key.as_str() {
            "variables" | "extensions" => serde_json::from_str(&value)
                .map_err(|_| format!("`{key}` must be URL-encoded JSON"))?,
            _ => Value::String(value),
        };
        map.insert(key, value);
    }
    parse_params(Value::Object(map))
}

/// `request`'s document (parsed once and kept by the request) and the operation its
/// `operationName` selects: the named one, or the only one when no name is given. `None`
/// when the document does not parse, or the choice is ambiguous or names nothing.
pub(super) fn selected_operation(
    request: &mut Request,
) -> Option<(&ExecutableDocument, &Positioned<OperationDefinition>)> {
    let operation_name = request.operation_name.clone();
    let document = request.parsed_query().ok()?;
    let operation = match (&document.operations, operation_name.as_deref()) {
        (DocumentOperations::Single(op), _) => Some(op),
        (DocumentOperations::Multiple(ops), Some(name)) => ops.get(name),
        (DocumentOperations::Multiple(ops), None) if ops.len() == 1 => ops.values().next(),
        (DocumentOperations::Multiple(_), None) => None,
    }?;
    Some((document, operation))
}

/// True when the operation the request selects is a mutation or subscription; those are not
/// allowed over GET. An unparsable document is left to execution, which reports it.
fn is_non_query_operation(request: &mut Request) -> bool {
    selected_operation(request).is_some_and(|(_, op)| op.node.ty != OperationType::Query)
}

/// The status of an answer with outcome `outcome` (see [`outcome`]): a request error is 400
/// under `application/graphql-response+json`; everything else is 200.
fn status_of(outcome: &str, media: MediaType) -> StatusCode {
    if outcome == "request_error" && media == MediaType::GraphqlResponse {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    }
}

/// An error raised before execution began (syntax, validation, variable coercion): the
/// response then has no `data` at all, and under `application/graphql-response+json` the
/// status is 400.
fn is_request_error(response: &Response) -> bool {
    !response.errors.is_empty()
        && response.data == async_graphql::Value::Null
        && response.errors.iter().all(|e| e.path.is_empty())
}

pub(super) fn error_json(mut error: ServerError) -> Value {
    let has_code = error
        .extensions
        .as_ref()
        .is_some_and(|ext| ext.get("code").is_some());
    if !has_code {
        error
            .extensions
            .get_or_insert_with(Default::default)
            .set("code", REQUEST_ERROR_CODE);
    }
    serde_json::to_value(error).unwrap_or_else(|_| json!({ "message": "internal error" }))
}

/// One execution result as the client receives it; `data` is left out for request errors,
/// as the GraphQL spec requires. It serializes `data` straight from async-graphql's value,
/// in selection order: turning it into a `serde_json::Value` first copied every key and
/// string of the response into a fresh tree (a profile of the catalogue listing put that,
/// and the allocations it makes, on top).
#[derive(serde::Serialize)]
pub(super) struct ResponseBody {
    #[serde(skip_serializing_if = "Option::is_none")]
    data: Option<async_graphql::Value>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    errors: Vec<Value>,
    #[serde(skip_serializing_if = "async_graphql::indexmap::IndexMap::is_empty")]
    extensions: async_graphql::indexmap::IndexMap<String, async_graphql::Value>,
}

impl ResponseBody {
    pub(super) fn to_bytes(&self) -> Bytes {
        // Serializing plain values and maps with string keys cannot fail.
        Bytes::from(serde_json::to_vec(self).unwrap_or_default())
    }
}

pub(super) fn response_json(response: Response) -> ResponseBody {
    let request_error = is_request_error(&response);
    ResponseBody {
        data: (!request_error).then_some(response.data),
        errors: response.errors.into_iter().map(error_json).collect(),
        extensions: response.extensions.into_iter().collect(),
    }
}

/// The operation name used as a metrics label: the client's name when it is a plain
/// identifier of reasonable length, else `anonymous` (labels must not grow without bound
/// from arbitrary input).
fn operation_label(request: &Request) -> String {
    match &request.operation_name {
        Some(name)
            if name.len() <= 64 && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') =>
        {
            name.clone()
        }
        _ => "anonymous".into(),
    }
}

/// The handler for every method on a GraphQL path.
pub async fn handle<E: Executor>(
    State(endpoint): State<Arc<Endpoint<E>>>,
    method: Method,
    headers: HeaderMap,
    Query(query): Query<Vec<(String, String)>>,
    context: axum::Extension<RequestContext>,
    body: Bytes,
) -> axum::response::Response {
    if method != Method::GET && method != Method::POST {
        return (
            StatusCode::METHOD_NOT_ALLOWED,
            [(header::ALLOW, "GET, POST")],
        )
            .into_response();
    }
    if method == Method::GET && endpoint.graphiql && query.is_empty() && wants_html(&headers) {
        let ws = endpoint.path;
        return Html(
            async_graphql::http::GraphiQLSource::build()
                .endpoint(endpoint.path)
                .subscription_endpoint(ws)
                .title(&format!("{} GraphQL", endpoint.name))
                .finish(),
        )
        .into_response();
    }
    let Some(media) = negotiate(&headers) else {
        return (
            StatusCode::NOT_ACCEPTABLE,
            "accepted media types: application/graphql-response+json, application/json",
        )
            .into_response();
    };

    let batch = if method == Method::GET {
        let mut request = match parse_get_params(query).map(|request| endpoint.resolve(request)) {
            Ok(Ok(request)) => request,
            Ok(Err(error)) => {
                let status = status_of("request_error", media);
                let body = response_json(Response::from_errors(vec![error])).to_bytes();
                return answer(status, media, body);
            }
            Err(message) => return reject(StatusCode::BAD_REQUEST, media, &message),
        };
        if is_non_query_operation(&mut request) {
            return (
                StatusCode::METHOD_NOT_ALLOWED,
                [(header::ALLOW, "POST")],
                "mutations and subscriptions must be sent with POST",
            )
                .into_response();
        }
        BatchRequest::Single(request)
    } else {
        match parse_post_body(&headers, &body, endpoint.max_batch) {
            Ok(batch) => batch,
            Err((status, message)) => return reject(status, media, &message),
        }
    };

    let context = context.0;
    let (body, status) = match batch {
        BatchRequest::Single(request) => {
            let label = operation_label(&request);
            tracing::Span::current().record("operation", label.as_str());
            let started = Instant::now();
            let mut request = match resolved(&endpoint, &method, request) {
                Ok(request) => request,
                Err(error) => {
                    let response = Response::from_errors(vec![error]);
                    let outcome = outcome(&response);
                    record_metrics(endpoint.name, &label, outcome, started);
                    let status = status_of(outcome, media);
                    return answer(status, media, response_json(response).to_bytes());
                }
            };
            let cached = endpoint
                .catalogue_cache
                .as_ref()
                .and_then(|cache| Some((cache, cache.key(&mut request, &headers)?)));
            let execute = async {
                let response = endpoint
                    .executor
                    .execute((endpoint.prepare)(request.data(context), &headers))
                    .await;
                let outcome = outcome(&response);
                let status = status_of(outcome, media);
                (response_json(response).to_bytes(), status, outcome)
            };
            let (body, status, outcome) = match cached {
                Some((cache, key)) => {
                    let run = async {
                        let (body, status, outcome) = execute.await;
                        (body, (status, outcome), outcome == "ok")
                    };
                    // Only error-free answers are stored: one served from the cache is `ok`.
                    let (body, ran) = cache.get_or_run(key, run).await;
                    let (status, outcome) = ran.unwrap_or((StatusCode::OK, "ok"));
                    (body, status, outcome)
                }
                None => execute.await,
            };
            record_metrics(endpoint.name, &label, outcome, started);
            return answer(status, media, body);
        }
        BatchRequest::Batch(requests) => {
            let mut results = Vec::with_capacity(requests.len());
            for request in requests {
                let label = operation_label(&request);
                let started = Instant::now();
                let response = match resolved(&endpoint, &method, request) {
                    Ok(request) => {
                        endpoint
                            .executor
                            .execute((endpoint.prepare)(request.data(context.clone()), &headers))
                            .await
                    }
                    Err(error) => Response::from_errors(vec![error]),
                };
                record_metrics(endpoint.name, &label, outcome(&response), started);
                results.push(response_json(response));
            }
            let body = serde_json::to_vec(&results).unwrap_or_default();
            (Bytes::from(body), StatusCode::OK)
        }
    };
    answer(status, media, body)
}

fn answer(
    status: StatusCode,
    media: MediaType,
    body: impl Into<axum::body::Body>,
) -> axum::response::Response {
    (
        status,
        [(header::CONTENT_TYPE, media.content_type())],
        body.into(),
    )
        .into_response()
}

/// A GET request was resolved while it was parsed (before the check that it is a query);
/// a POST request is resolved here.
fn resolved<E>(
    endpoint: &Endpoint<E>,
    method: &Method,
    request: Request,
) -> Result<Request, ServerError> {
    if method == Method::GET {
        Ok(request)
    } else {
        endpoint.resolve(request)
    }
}

fn parse_post_body(
    headers: &HeaderMap,
    body: &Bytes,
    max_batch: usize,
) -> Result<BatchRequest, (StatusCode, String)> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .ok_or((
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "Content-Type: application/json is required".into(),
        ))?;
    let mime: mime::Mime = content_type.parse().map_err(|_| {
        (
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unreadable Content-Type".to_string(),
        )
    })?;
    let is_json = mime.essence_str() == "application/json";
    let charset_ok = mime
        .get_param(mime::CHARSET)
        .is_none_or(|c| c.as_str().eq_ignore_ascii_case("utf-8"));
    if !is_json || !charset_ok {
        return Err((
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "Content-Type must be application/json (UTF-8)".into(),
        ));
    }
    if body.is_empty() {
        return Err((StatusCode::BAD_REQUEST, "a request body is required".into()));
    }
    let value: Value = serde_json::from_slice(body).map_err(|e| {
        (
            StatusCode::BAD_REQUEST,
            format!("the body is not valid JSON: {e}"),
        )
    })?;
    let bad = |message: String| (StatusCode::BAD_REQUEST, message);
    match value {
        Value::Array(items) => {
            if items.is_empty() {
                return Err(bad("an empty batch".into()));
            }
            if items.len() > max_batch {
                return Err(bad(format!("a batch holds at most {max_batch} operations")));
            }
            let requests = items
                .into_iter()
                .map(parse_params)
                .collect::<Result<Vec<_>, _>>();
            requests.map(BatchRequest::Batch).map_err(bad)
        }
        other => parse_params(other).map(BatchRequest::Single).map_err(bad),
    }
}

/// `graphql_responses_total`'s outcome of an execution.
fn outcome(response: &Response) -> &'static str {
    if response.errors.is_empty() {
        "ok"
    } else if is_request_error(response) {
        "request_error"
    } else {
        "error"
    }
}

fn record_metrics(schema: &'static str, operation: &str, outcome: &'static str, started: Instant) {
    let labels = [
        ("schema", schema.to_string()),
        ("operation", operation.to_string()),
    ];
    metrics::counter!("graphql_requests_total", &labels).increment(1);
    metrics::counter!(
        "graphql_responses_total",
        "schema" => schema, "outcome" => outcome
    )
    .increment(1);
    metrics::histogram!("graphql_request_duration_seconds", &labels)
        .record(started.elapsed().as_secs_f64());
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accept(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::ACCEPT, HeaderValue::from_str(value).unwrap());
        headers
    }

    #[test]
    fn negotiation_follows_the_spec() {
        assert_eq!(negotiate(&HeaderMap::new()), Some(MediaType::Json));
        assert_eq!(
            negotiate(&accept("application/json")),
            Some(MediaType::Json)
        );
        assert_eq!(negotiate(&accept("*/*")), Some(MediaType::Json));
        assert_eq!(
            negotiate(&accept(
                "application/graphql-response+json, application/json;q=0.9"
            )),
            Some(MediaType::GraphqlResponse)
        );
        assert_eq!(
            negotiate(&accept(
                "application/json, application/graphql-response+json"
            )),
            Some(MediaType::GraphqlResponse)
        );
        assert_eq!(
            negotiate(&accept(
                "application/graphql-response+json;q=0.5, application/json"
            )),
            Some(MediaType::Json)
        );
        assert_eq!(
            negotiate(&accept("application/json; charset=iso-8859-1")),
            None
        );
        assert_eq!(negotiate(&accept("text/plain")), None);
    }

    #[test]
    fn request_parameters_are_type_checked() {
        assert!(parse_params(json!({ "query": "{a}" })).is_ok());
        assert!(parse_params(
            json!({ "query": "{a}", "variables": null, "extensions": null, "operationName": null })
        )
        .is_ok());
        assert!(parse_params(json!({ "query": 1 })).is_err());
        assert!(parse_params(json!({})).is_err());
        assert!(parse_params(json!({ "query": "{a}", "variables": "{}" })).is_err());
        assert!(parse_params(json!({ "query": "{a}", "operationName": 1 })).is_err());
        assert!(parse_params(json!([])).is_err());
    }

    #[test]
    fn get_mutations_are_detected() {
        assert!(is_non_query_operation(&mut Request::new("mutation { a }")));
        assert!(!is_non_query_operation(&mut Request::new("{ a }")));
        let mut named = Request::new("query Q { a } mutation M { b }").operation_name("M");
        assert!(is_non_query_operation(&mut named));
    }
}
