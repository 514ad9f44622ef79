//! GraphQL over HTTP as clients see it: media types, status codes, malformed requests,
//! limits, health, readiness, metrics and GraphiQL. Runs on SQLite (the embedded default),
//! which also makes it the smoke test of that configuration.

mod common;

use common::seed::{self, ProductSpec};
use common::{error_codes, TestDb, TestServer};
use reqwest::header::{ACCEPT, CONTENT_TYPE};
use serde_json::{json, Value};

const GRJ: &str = "application/graphql-response+json";

async fn post(
    server: &TestServer,
    path: &str,
    accept: Option<&str>,
    body: &str,
) -> (u16, String, Value) {
    let mut request = server
        .client
        .post(server.url(path))
        .header(CONTENT_TYPE, "application/json")
        .body(body.to_string());
    if let Some(accept) = accept {
        request = request.header(ACCEPT, accept);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get(CONTENT_TYPE)
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    let text = response.text().await.unwrap();
    (
        status,
        content_type,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

#[tokio::test]
async fn embedded_sqlite_default_serves_the_catalogue() {
    let db = TestDb::sqlite();
    let conn = db.connect().await;
    seed::product(&conn, &ProductSpec::new(1, "دفتر ۱۰۰ برگ")).await;
    let server = TestServer::start(&db).await;
    let body = server.shop("{ products(first: 10) { totalCount edges { node { name variants { price inStock } } } } }", json!({})).await;
    assert_eq!(body["data"]["products"]["totalCount"], 1, "{body}");
    assert_eq!(
        body["data"]["products"]["edges"][0]["node"]["variants"][0]["inStock"],
        true
    );
    assert!(server.terminate(), "SIGTERM ends the server cleanly");
}

#[tokio::test]
async fn embedded_default_fills_the_store_from_the_simulated_mahak() {
    let db = TestDb::sqlite();
    let server = TestServer::start_with(
        &db,
        &[
            ("APP__SYNC__EMBEDDED", "true"),
            ("APP__SYNC__SIMULATOR_PRODUCTS", "25"),
            ("APP__SYNC__INTERVAL_SECS", "1"),
        ],
    )
    .await;
    let mut total = 0;
    for _ in 0..120 {
        let body = server
            .shop(
                "{ products(first: 5) { totalCount edges { node { name variants { price } } } } }",
                json!({}),
            )
            .await;
        total = body["data"]["products"]["totalCount"].as_i64().unwrap_or(0);
        if total >= 20 {
            assert!(
                body["data"]["products"]["edges"][0]["node"]["variants"][0]["price"]
                    .as_i64()
                    .unwrap()
                    > 0
            );
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
    assert!(
        total >= 20,
        "the embedded sync should fill the catalogue; saw {total} products"
    );
    assert!(
        server.terminate(),
        "SIGTERM stops the server and its embedded sync cleanly"
    );
}

#[tokio::test]
async fn media_types_and_status_codes_follow_graphql_over_http() {
    let db = TestDb::sqlite();
    let server = TestServer::start(&db).await;
    let ok = r#"{"query":"{ categories { id } }"}"#;

    let (status, ct, body) = post(&server, "/graphql", Some(GRJ), ok).await;
    assert_eq!(
        (status, ct.as_str()),
        (200, "application/graphql-response+json; charset=utf-8")
    );
    assert_eq!(body, json!({ "data": { "categories": [] } }));
    let (status, ct, _) = post(&server, "/graphql", Some("application/json"), ok).await;
    assert_eq!(
        (status, ct.as_str()),
        (200, "application/json; charset=utf-8")
    );
    let (status, ct, _) = post(&server, "/graphql", None, ok).await;
    assert_eq!(
        (status, ct.as_str()),
        (200, "application/json; charset=utf-8")
    );
    let (status, _, _) = post(&server, "/graphql", Some("text/csv"), ok).await;
    assert_eq!(status, 406);

    // A document that does not validate: 400 under the new media type, 200 under the legacy
    // one; never a `data` entry; always a code.
    let invalid = r#"{"query":"{ noSuchField }"}"#;
    let (status, _, body) = post(&server, "/graphql", Some(GRJ), invalid).await;
    assert_eq!(status, 400);
    assert!(body.get("data").is_none(), "{body}");
    assert_eq!(error_codes(&body), vec!["BAD_USER_INPUT"]);
    let (status, _, body) = post(&server, "/graphql", Some("application/json"), invalid).await;
    assert_eq!(status, 200);
    assert!(body.get("data").is_none());

    // Not a well-formed request at all: 400 whatever is accepted.
    for malformed in [
        "{",
        "[]",
        "42",
        r#"{"query": 1}"#,
        r#"{"query":"{a}","variables":"x"}"#,
    ] {
        let (status, _, body) =
            post(&server, "/graphql", Some("application/json"), malformed).await;
        assert_eq!(status, 400, "{malformed}: {body}");
        assert_eq!(error_codes(&body), vec!["BAD_REQUEST"]);
    }
    let response = server
        .client
        .post(server.url("/graphql"))
        .header(CONTENT_TYPE, "text/plain")
        .body(ok)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 415);
    let response = server
        .client
        .put(server.url("/graphql"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 405);

    // GET: queries run, mutations are refused.
    let response = server
        .client
        .get(server.url("/graphql"))
        .query(&[("query", "{ categories { id } }")])
        .header(ACCEPT, GRJ)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let response = server
        .client
        .get(server.url("/graphql"))
        .query(&[("query", "mutation { x }")])
        .header(ACCEPT, GRJ)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 405);
    assert_eq!(response.headers()["allow"], "POST");

    // A browser gets GraphiQL.
    let response = server
        .client
        .get(server.url("/graphql"))
        .header(ACCEPT, "text/html,application/xhtml+xml")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    assert!(response.text().await.unwrap().contains("graphiql"));
}

#[tokio::test]
async fn limits_stop_expensive_requests() {
    let db = TestDb::sqlite();
    let server = TestServer::start_with(
        &db,
        &[
            ("APP__GRAPHQL__MAX_ALIASES", "3"),
            ("APP__GRAPHQL__MAX_BATCH", "2"),
        ],
    )
    .await;

    let aliases = r#"{"query":"{ a: categories { id } b: categories { id } c: categories { id } d: categories { id } }"}"#;
    let (status, _, body) = post(&server, "/graphql", Some(GRJ), aliases).await;
    assert_eq!(status, 400, "{body}");
    assert!(body["errors"][0]["message"]
        .as_str()
        .unwrap()
        .contains("aliases"));
    // Aliases hidden in a fragment spread several times count every time.
    let spread = r#"{"query":"fragment F on Query { a: categories { id } b: categories { id } } { ...F ... on Query { ...F } }"}"#;
    let (status, _, _) = post(&server, "/graphql", Some(GRJ), spread).await;
    assert_eq!(status, 400);

    let batch = r#"[{"query":"{ categories { id } }"},{"query":"{ categories { id } }"},{"query":"{ categories { id } }"}]"#;
    let (status, _, body) = post(&server, "/graphql", Some(GRJ), batch).await;
    assert_eq!(status, 400, "{body}");
    let batch = r#"[{"query":"{ categories { id } }"},{"query":"{ nope }"}]"#;
    let (status, _, body) = post(&server, "/graphql", Some(GRJ), batch).await;
    assert_eq!(status, 200);
    assert_eq!(body[0], json!({ "data": { "categories": [] } }));
    assert!(body[1].get("data").is_none());

    let deep = format!(
        r#"{{"query":"{{ products(first: 1) {{ edges {{ node {{ category {{ id }} {} }} }} }} }}"}}"#,
        ""
    );
    let (status, _, _) = post(&server, "/graphql", Some(GRJ), &deep).await;
    assert_eq!(status, 200, "a reasonable query passes the limits");
    let too_deep = format!(r#"{{"query":"{}"}}"#, "{ __schema { types { fields { type { ofType { ofType { ofType { ofType { ofType { ofType { ofType { ofType { ofType { ofType { ofType { ofType { ofType { ofType { name } } } } } } } } } } } } } } } } } }");
    let (status, _, body) = post(&server, "/graphql", Some(GRJ), &too_deep).await;
    assert_eq!(status, 400, "{body}");

    let huge = format!(
        r#"{{"query":"{{ categories {{ id }} }}","variables":{{"pad":"{}"}}}}"#,
        "x".repeat(2 * 1024 * 1024)
    );
    let (status, _, _) = post(&server, "/graphql", Some(GRJ), &huge).await;
    assert_eq!(status, 413, "bodies over http.body_limit_bytes are refused");
}

#[tokio::test]
async fn operations_endpoints_answer() {
    let db = TestDb::sqlite();
    let server = TestServer::start(&db).await;
    let response = server
        .client
        .get(server.url("/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let response = server
        .client
        .get(server.url("/readyz"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(
        response.json::<Value>().await.unwrap(),
        json!({ "database": "ok" })
    );

    let response = server
        .client
        .post(server.url("/graphql"))
        .header("x-request-id", "req-123")
        .json(&json!({ "query": "query ListCategories { categories { id } }", "operationName": "ListCategories" }))
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.headers()["x-request-id"],
        "req-123",
        "the request id is propagated"
    );
    let metrics = server
        .client
        .get(server.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains(r#"graphql_requests_total{schema="shop",operation="ListCategories"} 1"#),
        "{metrics}"
    );
    assert!(metrics.contains("graphql_request_duration_seconds_bucket"));
    assert!(metrics.contains("db_pool_connections"));
    assert!(metrics.contains("db_statements_total"));
}

#[tokio::test]
async fn the_admin_schema_is_a_separate_schema() {
    let db = TestDb::sqlite();
    let server = TestServer::start(&db).await;
    let body = server
        .post_graphql("/admin/graphql", "{ serverVersion }", json!({}))
        .await;
    assert!(body["data"]["serverVersion"].is_string(), "{body}");
    let body = server
        .post_graphql(
            "/admin/graphql",
            "{ myOrders { edges { cursor } } }",
            json!({}),
        )
        .await;
    assert!(
        body.get("data").is_none(),
        "shop fields are not in the admin schema: {body}"
    );
    let body = server.shop("{ serverVersion }", json!({})).await;
    assert!(
        body.get("data").is_none(),
        "admin fields are not in the shop schema: {body}"
    );
}
