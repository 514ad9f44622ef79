//! Browser-facing protections over real HTTP (issue 8): security headers on every kind of
//! answer, the CORS allow-list (`http.cors_allowed_origins`; none by default), HSTS only when
//! `http.hsts` is set, and the production profile (introspection, GraphiQL and field
//! suggestions off). Runs on SQLite: nothing here depends on the database backend.

mod common;

use common::seed::{self, ProductSpec};
use common::{TestDb, TestServer};
use reqwest::header::{ACCEPT, CONTENT_TYPE, ORIGIN};
use reqwest::{Method, Response};
use serde_json::{json, Value};

const ALLOWED: &str = "https://shop.example";
const ALSO_ALLOWED: &str = "http://localhost:3000";
const EVIL: &str = "https://evil.example";
const ACAO: &str = "access-control-allow-origin";

fn header(response: &Response, name: &str) -> Option<String> {
    response
        .headers()
        .get(name)
        .map(|v| v.to_str().unwrap().to_string())
}

/// The headers every response carries, whatever answered it.
fn assert_security_headers(response: &Response, what: &str, hsts: bool) {
    assert_eq!(
        header(response, "x-content-type-options").as_deref(),
        Some("nosniff"),
        "{what}"
    );
    assert_eq!(
        header(response, "referrer-policy").as_deref(),
        Some("no-referrer"),
        "{what}"
    );
    assert_eq!(
        header(response, "x-frame-options").as_deref(),
        Some("DENY"),
        "{what}"
    );
    let csp = header(response, "content-security-policy").unwrap_or_default();
    assert!(
        csp.contains("frame-ancestors 'none'"),
        "{what}: CSP {csp:?}"
    );
    let sts = header(response, "strict-transport-security");
    if hsts {
        assert_eq!(
            sts.as_deref(),
            Some("max-age=31536000; includeSubDomains"),
            "{what}"
        );
    } else {
        assert_eq!(sts, None, "{what}: HSTS without http.hsts");
    }
}

/// One request of each kind of answer: 200 (GraphQL, health, GraphiQL), 400, 404, 405, 403.
async fn assert_headers_on_every_kind_of_answer(server: &TestServer, hsts: bool) {
    // No connection reuse: the 413 answer leaves its connection with an unread body.
    let client = &reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    let cases: Vec<(&str, reqwest::RequestBuilder, u16)> = vec![
        (
            "shop query",
            client
                .post(server.url("/graphql"))
                .header(CONTENT_TYPE, "application/json")
                .body(r#"{"query":"{ products(first: 1) { totalCount } }"}"#),
            200,
        ),
        ("healthz", client.get(server.url("/healthz")), 200),
        (
            "malformed body",
            client
                .post(server.url("/graphql"))
                .header(CONTENT_TYPE, "application/json")
                .header(ACCEPT, "application/graphql-response+json")
                .body("{not json"),
            400,
        ),
        (
            "admin malformed body",
            client
                .post(server.url("/admin/graphql"))
                .header(CONTENT_TYPE, "application/json")
                .header(ACCEPT, "application/graphql-response+json")
                .body("[]]"),
            400,
        ),
        (
            "unknown route",
            client.get(server.url("/no/such/page")),
            404,
        ),
        (
            "method not allowed",
            client.request(Method::DELETE, server.url("/graphql")),
            405,
        ),
        (
            "missing media object",
            client.get(server.url("/media/products/1/x/orig.jpg")),
            404,
        ),
        (
            "unsigned upload",
            client
                .put(server.url("/media/products/1/x/orig.jpg"))
                .header(CONTENT_TYPE, "image/jpeg")
                .body("x"),
            403,
        ),
        (
            "too large",
            client
                .post(server.url("/graphql"))
                .header(CONTENT_TYPE, "application/json")
                .body(vec![b' '; 2 * 1024 * 1024]),
            413,
        ),
        ("sync page", client.get(server.url("/admin/sync")), 200),
    ];
    for (what, request, status) in cases {
        let response = request.send().await.unwrap();
        assert_eq!(response.status().as_u16(), status, "{what}");
        assert_security_headers(&response, what, hsts);
    }
}

async fn preflight(server: &TestServer, path: &str, origin: &str, method: &str) -> Response {
    server
        .client
        .request(Method::OPTIONS, server.url(path))
        .header(ORIGIN, origin)
        .header("access-control-request-method", method)
        .header(
            "access-control-request-headers",
            "content-type,authorization,x-cart-token",
        )
        .send()
        .await
        .unwrap()
}

async fn shop_post(server: &TestServer, origin: &str, query: &str) -> Response {
    server
        .client
        .post(server.url("/graphql"))
        .header(ORIGIN, origin)
        .header(CONTENT_TYPE, "application/json")
        .json(&json!({ "query": query }))
        .send()
        .await
        .unwrap()
}

fn messages(body: &Value) -> Vec<String> {
    body["errors"]
        .as_array()
        .map(|errors| {
            errors
                .iter()
                .map(|e| e["message"].as_str().unwrap_or_default().to_string())
                .collect()
        })
        .unwrap_or_default()
}

async fn post_json(server: &TestServer, path: &str, query: &str) -> Value {
    let response = server
        .client
        .post(server.url(path))
        .header(CONTENT_TYPE, "application/json")
        .header(ACCEPT, "application/json")
        .json(&json!({ "query": query }))
        .send()
        .await
        .unwrap();
    response.json().await.unwrap()
}

const MISSPELLED: &str = "{ prodcts(first: 1) { totalCount } }";
const INTROSPECTION: &str = "{ __schema { queryType { name } types { name } } }";

#[tokio::test]
async fn default_config_sends_security_headers_and_no_cors_headers() {
    let db = TestDb::sqlite();
    let server = TestServer::start(&db).await;

    assert_headers_on_every_kind_of_answer(&server, false).await;

    // GraphiQL still loads its scripts from unpkg: its page carries no script-src policy.
    let graphiql = server
        .client
        .get(server.url("/graphql"))
        .header(ACCEPT, "text/html")
        .send()
        .await
        .unwrap();
    assert_eq!(graphiql.status(), 200);
    assert_security_headers(&graphiql, "graphiql", false);
    let csp = header(&graphiql, "content-security-policy").unwrap();
    assert!(
        !csp.contains("script-src") && !csp.contains("default-src"),
        "{csp}"
    );
    assert!(graphiql.text().await.unwrap().contains("unpkg.com"));

    // The sync page keeps its own, stricter policy.
    let sync_page = server
        .client
        .get(server.url("/admin/sync"))
        .send()
        .await
        .unwrap();
    let csp = header(&sync_page, "content-security-policy").unwrap();
    assert!(csp.contains("default-src 'self'"), "{csp}");

    // No origin is allowed by default: neither preflights nor requests get CORS headers.
    for path in ["/graphql", "/admin/graphql"] {
        let response = preflight(&server, path, ALLOWED, "POST").await;
        assert_eq!(header(&response, ACAO), None, "{path}");
        assert_eq!(
            header(&response, "access-control-allow-methods"),
            None,
            "{path}"
        );
    }
    let response = shop_post(&server, ALLOWED, "{ products(first: 1) { totalCount } }").await;
    assert_eq!(response.status(), 200);
    assert_eq!(header(&response, ACAO), None);

    // What a cross-site page can send without a preflight (a form post, text/plain) never
    // runs: POST needs a JSON content type, which browsers only send cross-origin after a
    // preflight.
    for content_type in [
        "multipart/form-data; boundary=x",
        "application/x-www-form-urlencoded",
        "text/plain",
    ] {
        let response = server
            .client
            .post(server.url("/graphql"))
            .header(ORIGIN, EVIL)
            .header(CONTENT_TYPE, content_type)
            .body(r#"{"query":"mutation { logout(refreshToken: \"x\") }"}"#)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 415, "{content_type}");
    }

    // Outside the production profile, introspection and suggestions are on (the control for
    // the production-profile test).
    let body = post_json(&server, "/graphql", INTROSPECTION).await;
    assert_eq!(body["data"]["__schema"]["queryType"]["name"], "ShopQuery");
    let body = post_json(&server, "/graphql", MISSPELLED).await;
    assert!(
        messages(&body).iter().any(|m| m.contains("Did you mean")),
        "{body}"
    );
    assert!(server.terminate());
}

#[tokio::test]
async fn cors_allow_list_answers_listed_origins_only_and_hsts_when_configured() {
    let db = TestDb::sqlite();
    let server = TestServer::start_with(
        &db,
        &[
            (
                "APP__HTTP__CORS_ALLOWED_ORIGINS",
                r#"["https://shop.example", "http://localhost:3000"]"#,
            ),
            ("APP__HTTP__HSTS", "true"),
        ],
    )
    .await;

    assert_headers_on_every_kind_of_answer(&server, true).await;

    for (path, method) in [
        ("/graphql", "POST"),
        ("/graphql", "GET"),
        ("/admin/graphql", "POST"),
        ("/media/products/1/abc/orig.jpg", "PUT"),
    ] {
        for origin in [ALLOWED, ALSO_ALLOWED] {
            let response = preflight(&server, path, origin, method).await;
            let what = format!("{origin} {method} {path}");
            assert_eq!(response.status(), 200, "{what}");
            assert_eq!(header(&response, ACAO).as_deref(), Some(origin), "{what}");
            let methods = header(&response, "access-control-allow-methods").unwrap_or_default();
            assert!(methods.contains(method), "{what}: {methods}");
            let headers = header(&response, "access-control-allow-headers")
                .unwrap_or_default()
                .to_ascii_lowercase();
            for name in ["content-type", "authorization", "x-cart-token"] {
                assert!(headers.contains(name), "{what}: {headers}");
            }
            assert_eq!(
                header(&response, "access-control-allow-credentials"),
                None,
                "{what}"
            );
            let vary = header(&response, "vary").unwrap_or_default();
            assert!(vary.contains("origin"), "{what}: vary {vary:?}");
            assert_security_headers(&response, &what, true);
        }

        // Any other origin (and a listed host under another scheme or port) is not allowed:
        // without `Access-Control-Allow-Origin` the browser stops there. (tower-http lists
        // the methods in every preflight answer; they grant nothing on their own.)
        for origin in [EVIL, "http://shop.example", "https://shop.example:8443"] {
            let response = preflight(&server, path, origin, method).await;
            let what = format!("{origin} {method} {path}");
            assert_eq!(header(&response, ACAO), None, "{what}");
        }
    }

    // Actual requests: the listed origin may read the answer (and the request id); another
    // origin's page gets no CORS headers, so its browser withholds the answer.
    let response = shop_post(&server, ALLOWED, "{ products(first: 1) { totalCount } }").await;
    assert_eq!(response.status(), 200);
    assert_eq!(header(&response, ACAO).as_deref(), Some(ALLOWED));
    let exposed = header(&response, "access-control-expose-headers").unwrap_or_default();
    assert!(exposed.contains("x-request-id"), "{exposed}");
    let response = shop_post(&server, EVIL, "{ products(first: 1) { totalCount } }").await;
    assert_eq!(header(&response, ACAO), None);

    // A failed request from a listed origin is readable too (the client needs the error).
    let response = shop_post(&server, ALLOWED, MISSPELLED).await;
    assert_eq!(header(&response, ACAO).as_deref(), Some(ALLOWED));

    // Routes that are not for cross-origin browsers get no CORS headers.
    for path in ["/healthz", "/metrics"] {
        let response = server
            .client
            .get(server.url(path))
            .header(ORIGIN, ALLOWED)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{path}");
        assert_eq!(header(&response, ACAO), None, "{path}");
    }
    assert!(server.terminate());
}

#[tokio::test]
async fn production_profile_hides_the_schema() {
    let db = TestDb::sqlite();
    let conn = db.connect().await;
    seed::product(&conn, &ProductSpec::new(1, "دفتر")).await;
    let server = TestServer::start_with(
        &db,
        &[
            ("APP__GRAPHQL__INTROSPECTION", "false"),
            ("APP__GRAPHQL__GRAPHIQL", "false"),
        ],
    )
    .await;

    // Ordinary queries still run.
    let body = post_json(&server, "/graphql", "{ products(first: 1) { totalCount } }").await;
    assert_eq!(body["data"]["products"]["totalCount"], 1, "{body}");

    for path in ["/graphql", "/admin/graphql"] {
        // Introspection is refused: the schema's names do not come back.
        for query in [INTROSPECTION, r#"{ __type(name: "String") { name kind } }"#] {
            let body = post_json(&server, path, query).await;
            // async-graphql answers the introspection fields with null when it is disabled.
            let data = &body["data"];
            assert!(
                data.is_null() || (data["__schema"].is_null() && data["__type"].is_null()),
                "{path}: {body}"
            );
            let text = body.to_string();
            assert!(
                !text.contains("Query\"") && !text.contains("SCALAR"),
                "{path}: {body}"
            );
        }

        // GraphiQL is not served to browsers.
        let response = server
            .client
            .get(server.url(path))
            .header(ACCEPT, "text/html,application/xhtml+xml")
            .send()
            .await
            .unwrap();
        let content_type = header(&response, "content-type").unwrap_or_default();
        assert!(
            !content_type.contains("text/html"),
            "{path}: {content_type}"
        );
        let text = response.text().await.unwrap();
        assert!(!text.to_ascii_lowercase().contains("graphiql"), "{path}");

        // A misspelled field is an error without a suggestion naming the real field.
        let body = post_json(&server, path, MISSPELLED).await;
        let messages = messages(&body);
        assert!(!messages.is_empty(), "{path}: {body}");
        assert!(
            messages
                .iter()
                .all(|m| !m.contains("Did you mean") && !m.contains("\"products\"")),
            "{path}: {body}"
        );
    }
    assert!(server.terminate());
}
