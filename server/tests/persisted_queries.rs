//! Apollo-style clients over real HTTP (and the shop's WebSocket): automatic persisted
//! queries (hash-only request, `PersistedQueryNotFound`, the full request registering it,
//! hash-only over GET and POST, hash mismatches refused) and the operation safelist
//! (`graphql.safelist_file`: anything not listed answers `OPERATION_NOT_ALLOWED`).

mod common;

use std::process::{Command, Stdio};

use common::seed::{self, ProductSpec};
use common::{error_codes, TestDb, TestServer};
use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

const PRODUCTS: &str = "query Products { products(first: 5) { totalCount } }";
const CATEGORIES: &str = "query Categories { categories { id } }";
/// What Apollo Client's HTTP link sends.
const APOLLO_ACCEPT: &str = "application/graphql-response+json,application/json;q=0.9";

fn sha256(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

fn persisted(hash: &str) -> Value {
    json!({ "persistedQuery": { "version": 1, "sha256Hash": hash } })
}

/// POSTs `body` to `path`; returns the status and the JSON body.
async fn post(server: &TestServer, path: &str, accept: &str, body: Value) -> (u16, Value) {
    let response = server
        .client
        .post(server.url(path))
        .header("accept", accept)
        .json(&body)
        .send()
        .await
        .expect("request");
    let status = response.status().as_u16();
    (status, response.json().await.expect("JSON body"))
}

/// A hash-only GET, the way Apollo's `useGETForHashedQueries` and CDNs send it.
async fn get_hashed(server: &TestServer, hash: &str) -> (u16, String) {
    let response = server
        .client
        .get(server.url("/graphql"))
        .header("accept", APOLLO_ACCEPT)
        .query(&[
            ("operationName", "Products"),
            ("extensions", &persisted(hash).to_string()),
        ])
        .send()
        .await
        .expect("request");
    let status = response.status().as_u16();
    (status, response.text().await.unwrap())
}

async fn start(extra: &[(&str, &str)]) -> (TestDb, TestServer) {
    let db = TestDb::sqlite();
    let conn = db.connect().await;
    seed::product(&conn, &ProductSpec::new(1, "Notebook")).await;
    let server = TestServer::start_with(&db, extra).await;
    (db, server)
}

#[tokio::test]
async fn automatic_persisted_queries_work_like_apollo_expects() {
    let (_db, server) = start(&[]).await;
    let hash = sha256(PRODUCTS);

    // Hash only, unknown: the error Apollo's persisted-queries link retries on, as a request
    // error (no `data`; 400 under graphql-response+json, 200 under application/json).
    let (status, body) = post(
        &server,
        "/graphql",
        APOLLO_ACCEPT,
        json!({ "operationName": "Products", "extensions": persisted(&hash) }),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["errors"][0]["message"], "PersistedQueryNotFound");
    assert_eq!(error_codes(&body), ["PERSISTED_QUERY_NOT_FOUND"]);
    assert!(body.get("data").is_none(), "{body}");
    let (status, body) = post(
        &server,
        "/graphql",
        "application/json",
        json!({ "extensions": persisted(&hash) }),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(error_codes(&body), ["PERSISTED_QUERY_NOT_FOUND"]);
    let (status, text) = get_hashed(&server, &hash).await;
    assert_eq!(status, 400, "{text}");
    assert!(text.contains("PersistedQueryNotFound"), "{text}");

    // A full query whose hash does not match is refused and registers nothing.
    let wrong = sha256(CATEGORIES);
    let (status, body) = post(
        &server,
        "/graphql",
        APOLLO_ACCEPT,
        json!({ "query": PRODUCTS, "extensions": persisted(&wrong) }),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(error_codes(&body), ["PERSISTED_QUERY_HASH_MISMATCH"]);
    assert!(body.get("data").is_none(), "{body}");
    let (_, body) = post(
        &server,
        "/graphql",
        APOLLO_ACCEPT,
        json!({ "extensions": persisted(&wrong) }),
    )
    .await;
    assert_eq!(error_codes(&body), ["PERSISTED_QUERY_NOT_FOUND"], "{body}");

    // The full request runs and registers the query (the hash in upper case is the same hash).
    let (status, body) = post(
        &server,
        "/graphql",
        APOLLO_ACCEPT,
        json!({ "query": PRODUCTS, "extensions": persisted(&hash.to_uppercase()) }),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["products"]["totalCount"], 1, "{body}");

    // Then hash-only works over POST and GET.
    let (status, body) = post(
        &server,
        "/graphql",
        APOLLO_ACCEPT,
        json!({ "operationName": "Products", "extensions": persisted(&hash) }),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["products"]["totalCount"], 1, "{body}");
    let (status, text) = get_hashed(&server, &hash).await;
    assert_eq!(status, 200, "{text}");
    let body: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(body["data"]["products"]["totalCount"], 1, "{body}");

    // In a batch, each operation is resolved on its own.
    let (status, body) = post(
        &server,
        "/graphql",
        APOLLO_ACCEPT,
        json!([
            { "extensions": persisted(&hash) },
            { "extensions": persisted(&sha256("{ __typename }")) },
        ]),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body[0]["data"]["products"]["totalCount"], 1, "{body}");
    assert_eq!(error_codes(&body[1]), ["PERSISTED_QUERY_NOT_FOUND"]);

    // A persisted mutation still never runs over GET.
    let mutation = "mutation { createCart { token } }";
    let (_, body) = post(
        &server,
        "/graphql",
        APOLLO_ACCEPT,
        json!({ "query": mutation, "extensions": persisted(&sha256(mutation)) }),
    )
    .await;
    assert!(body["errors"].is_null(), "{body}");
    let (status, text) = get_hashed(&server, &sha256(mutation)).await;
    assert_eq!(status, 405, "{text}");

    // Only version 1 exists.
    let (status, body) = post(
        &server,
        "/graphql",
        APOLLO_ACCEPT,
        json!({ "extensions": { "persistedQuery": { "version": 2, "sha256Hash": hash } } }),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(error_codes(&body), ["PERSISTED_QUERY_INVALID"]);

    // The admin endpoint keeps no persisted queries: Apollo clients fall back to full text.
    let (status, body) = post(
        &server,
        "/admin/graphql",
        APOLLO_ACCEPT,
        json!({ "extensions": persisted(&sha256("{ __typename }")) }),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["errors"][0]["message"], "PersistedQueryNotSupported");
    assert_eq!(error_codes(&body), ["PERSISTED_QUERY_NOT_SUPPORTED"]);
}

#[tokio::test]
async fn with_apq_off_hashes_are_not_supported() {
    let (_db, server) = start(&[("APP__GRAPHQL__PERSISTED_QUERY_CACHE_ENTRIES", "0")]).await;
    let hash = sha256(PRODUCTS);
    let (_, body) = post(
        &server,
        "/graphql",
        APOLLO_ACCEPT,
        json!({ "query": PRODUCTS, "extensions": persisted(&hash) }),
    )
    .await;
    assert_eq!(body["data"]["products"]["totalCount"], 1, "{body}");
    let (_, body) = post(
        &server,
        "/graphql",
        APOLLO_ACCEPT,
        json!({ "extensions": persisted(&hash) }),
    )
    .await;
    assert_eq!(
        error_codes(&body),
        ["PERSISTED_QUERY_NOT_SUPPORTED"],
        "{body}"
    );
}

#[tokio::test]
async fn the_safelist_runs_only_listed_operations() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = json!({
        "format": "apollo-persisted-query-manifest",
        "version": 1,
        "operations": [
            { "id": sha256(PRODUCTS), "name": "Products", "type": "query", "body": PRODUCTS },
        ],
    });
    let path = dir.path().join("safelist.json");
    std::fs::write(&path, manifest.to_string()).unwrap();
    let (_db, server) = start(&[("APP__GRAPHQL__SAFELIST_FILE", path.to_str().unwrap())]).await;

    // Listed: as full text, and by hash alone without registering first (POST and GET).
    let (status, body) = post(
        &server,
        "/graphql",
        APOLLO_ACCEPT,
        json!({ "query": PRODUCTS }),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["products"]["totalCount"], 1, "{body}");
    let (_, body) = post(
        &server,
        "/graphql",
        APOLLO_ACCEPT,
        json!({ "extensions": persisted(&sha256(PRODUCTS)) }),
    )
    .await;
    assert_eq!(body["data"]["products"]["totalCount"], 1, "{body}");
    let (status, text) = get_hashed(&server, &sha256(PRODUCTS)).await;
    assert_eq!(status, 200, "{text}");

    // Not listed: refused before execution, whatever way it is sent, and APQ does not
    // register it; introspection is an operation like any other.
    let introspection = "{ __schema { queryType { name } } }";
    for body in [
        json!({ "query": CATEGORIES }),
        json!({ "query": format!("{PRODUCTS} ") }),
        json!({ "query": introspection }),
        json!({ "query": CATEGORIES, "extensions": persisted(&sha256(CATEGORIES)) }),
        json!({ "extensions": persisted(&sha256(CATEGORIES)) }),
        json!({ "query": "mutation { createCart { token } }" }),
    ] {
        let (status, answer) = post(&server, "/graphql", APOLLO_ACCEPT, body.clone()).await;
        assert_eq!(status, 400, "{body} -> {answer}");
        assert!(answer.get("data").is_none(), "{body} -> {answer}");
        let codes = error_codes(&answer);
        assert!(
            codes == ["OPERATION_NOT_ALLOWED"] || codes == ["PERSISTED_QUERY_NOT_FOUND"],
            "{body} -> {answer}"
        );
    }
    let (_, answer) = post(
        &server,
        "/graphql",
        APOLLO_ACCEPT,
        json!({ "query": CATEGORIES }),
    )
    .await;
    assert_eq!(error_codes(&answer), ["OPERATION_NOT_ALLOWED"]);
    assert_eq!(
        answer["errors"][0]["message"],
        "this operation is not in the server's safelist"
    );

    // The admin endpoint is not restricted by the shop's safelist.
    let (status, body) = post(
        &server,
        "/admin/graphql",
        APOLLO_ACCEPT,
        json!({ "query": "{ __typename }" }),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["__typename"], "AdminQuery", "{body}");

    // Over WebSocket: an unlisted operation gets an `error` for its id, the socket stays up
    // and runs a listed one.
    let url = server.url("/graphql").replacen("http://", "ws://", 1);
    let mut request = url.into_client_request().unwrap();
    request.headers_mut().insert(
        "sec-websocket-protocol",
        "graphql-transport-ws".parse().unwrap(),
    );
    let (mut ws, _) = tokio_tungstenite::connect_async(request).await.unwrap();
    send(&mut ws, json!({ "type": "connection_init" })).await;
    assert_eq!(next(&mut ws).await["type"], "connection_ack");
    send(
        &mut ws,
        json!({ "id": "1", "type": "subscribe", "payload": { "query": CATEGORIES } }),
    )
    .await;
    let refused = next(&mut ws).await;
    assert_eq!(refused["id"], "1", "{refused}");
    assert_eq!(refused["type"], "error", "{refused}");
    assert_eq!(
        refused["payload"][0]["extensions"]["code"],
        "OPERATION_NOT_ALLOWED"
    );
    send(
        &mut ws,
        json!({ "id": "2", "type": "subscribe", "payload": { "query": "", "extensions": persisted(&sha256(PRODUCTS)) } }),
    )
    .await;
    let result = next(&mut ws).await;
    assert_eq!(result["type"], "next", "{result}");
    assert_eq!(result["payload"]["data"]["products"]["totalCount"], 1);
    assert_eq!(
        next(&mut ws).await,
        json!({ "id": "2", "type": "complete" })
    );
}

async fn send<S>(ws: &mut tokio_tungstenite::WebSocketStream<S>, value: Value)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    ws.send(Message::Text(value.to_string().into()))
        .await
        .unwrap();
}

async fn next<S>(ws: &mut tokio_tungstenite::WebSocketStream<S>) -> Value
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    loop {
        match ws.next().await.expect("socket open").expect("frame") {
            Message::Text(text) => return serde_json::from_str(&text).unwrap(),
            Message::Ping(_) | Message::Pong(_) => continue,
            other => panic!("unexpected frame {other:?}"),
        }
    }
}

#[test]
fn a_safelist_entry_that_is_not_its_query_hash_stops_the_server() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("safelist.json");
    std::fs::write(&path, json!({ sha256(CATEGORIES): PRODUCTS }).to_string()).unwrap();
    let db = TestDb::sqlite();
    let output = Command::new(env!("CARGO_BIN_EXE_server"))
        .arg("serve")
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("APP__DATABASE__URL", &db.url)
        .env("APP__HTTP__PORT", "0")
        .env("APP__GRAPHQL__SAFELIST_FILE", &path)
        .stdin(Stdio::null())
        .output()
        .expect("run server");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("graphql.safelist_file") && stderr.contains("not the SHA-256"),
        "{stderr}"
    );
}
