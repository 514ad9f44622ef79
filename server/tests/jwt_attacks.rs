//! JWT attacks on both GraphQL endpoints, over HTTP (`Authorization: Bearer`) and WebSocket
//! (`connection_init`): the real server binary on PostgreSQL, tokens forged in the test with
//! `jsonwebtoken` and the very key the server is configured with.
//!
//! Every forged token differs from a valid one in exactly one way (`ATTACKS`); a control
//! token made by the same forge with nothing changed must be accepted on both transports, so
//! a rejection below is the server's doing, not a broken forge. A rejected token answers
//! `UNAUTHENTICATED` with no data over HTTP and closes the socket with 4403 at init.

mod admin;
mod common;
mod gql_ws;
#[allow(dead_code)]
mod kavenegar_sim;
mod shop;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use common::{error_codes, TestDb, TestServer};
use hmac::{Hmac, Mac};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{json, Value};
use sha2::Sha256;

use gql_ws::Reply;

/// The key the server signs and verifies with (the one `shop::start` configures).
const KID: &str = "a";
const SECRET: &str = "key-a-secret-that-is-at-least-32-bytes-long";
const WRONG_SECRET: &str = "not-the-key-but-also-at-least-32-bytes-long";
const ISSUER: &str = "store-authz-test";
const SHOP_AUDIENCE: &str = "store-authz-shop";
const ADMIN_AUDIENCE: &str = "store-authz-admin";

/// One GraphQL endpoint, a query that needs a signed-in caller there, and its audience.
#[derive(Clone, Copy, Debug)]
struct Endpoint {
    name: &'static str,
    path: &'static str,
    probe: &'static str,
    /// Where the caller's id is in the probe's answer.
    probe_field: &'static str,
    audience: &'static str,
    /// The audience of the other endpoint.
    other_audience: &'static str,
}

const SHOP: Endpoint = Endpoint {
    name: "shop",
    path: "/graphql",
    probe: "{ me { id } }",
    probe_field: "me",
    audience: SHOP_AUDIENCE,
    other_audience: ADMIN_AUDIENCE,
};

const ADMIN: Endpoint = Endpoint {
    name: "admin",
    path: "/admin/graphql",
    probe: "{ currentStaff { id } }",
    probe_field: "currentStaff",
    audience: ADMIN_AUDIENCE,
    other_audience: SHOP_AUDIENCE,
};

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// The claims of a valid access token for `sub` on `endpoint`.
fn valid_claims(endpoint: Endpoint, sub: &str) -> Value {
    let now = now();
    json!({
        "iss": ISSUER,
        "aud": endpoint.audience,
        "sub": sub,
        "exp": now + 600,
        "nbf": now - 5,
        "iat": now - 5,
        "jti": uuid::Uuid::new_v4(),
    })
}

/// A token signed by `jsonwebtoken` with `alg`, `kid` and `secret`.
fn sign(alg: Algorithm, kid: Option<&str>, secret: &str, claims: &Value) -> String {
    let mut header = Header::new(alg);
    header.kid = kid.map(str::to_string);
    jsonwebtoken::encode(
        &header,
        claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .expect("encode")
}

fn b64(value: &Value) -> String {
    URL_SAFE_NO_PAD.encode(value.to_string())
}

/// A token with an arbitrary header (one `jsonwebtoken` refuses to write: `alg: none`, an
/// asymmetric `alg` over an HMAC signature), signed with HMAC-SHA256 of `secret` or unsigned.
fn raw(header: Value, claims: &Value, secret: Option<&str>) -> String {
    let input = format!("{}.{}", b64(&header), b64(claims));
    let signature = match secret {
        Some(secret) => {
            let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
            mac.update(input.as_bytes());
            URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
        }
        None => String::new(),
    };
    format!("{input}.{signature}")
}

/// `token` with its payload replaced by `change(payload)`, the signature kept.
fn tamper(token: &str, change: impl Fn(&mut Value)) -> String {
    let parts: Vec<&str> = token.split('.').collect();
    assert_eq!(parts.len(), 3, "a JWT: {token}");
    let mut payload: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).expect("JSON payload");
    change(&mut payload);
    format!("{}.{}.{}", parts[0], b64(&payload), parts[2])
}

fn with(mut claims: Value, key: &str, value: Value) -> Value {
    claims[key] = value;
    claims
}

fn without(mut claims: Value, key: &str) -> Value {
    claims.as_object_mut().unwrap().remove(key);
    claims
}

/// The caller on one endpoint: their id and the real tokens the server gave them.
struct Principal {
    id: String,
    access: String,
    refresh: String,
}

/// Every attack on `endpoint` against `me` (whose id the tokens name); `other` is the caller
/// of the other endpoint, whose real tokens must not work here.
fn attacks(endpoint: Endpoint, me: &Principal, other: &Principal) -> Vec<(String, String)> {
    let claims = valid_claims(endpoint, &me.id);
    let hs256 = |claims: &Value| sign(Algorithm::HS256, Some(KID), SECRET, claims);
    let header = |alg: &str| json!({ "alg": alg, "typ": "JWT", "kid": KID });
    let now = now();
    let mut list: Vec<(&str, String)> = vec![
        ("alg none", raw(header("none"), &claims, None)),
        ("alg None", raw(header("None"), &claims, None)),
        (
            "alg none with a valid HS256 signature kept",
            raw(header("none"), &claims, Some(SECRET)),
        ),
        (
            "alg RS256 over an HMAC with the secret (key confusion)",
            raw(header("RS256"), &claims, Some(SECRET)),
        ),
        (
            "alg EdDSA over an HMAC with the secret",
            raw(header("EdDSA"), &claims, Some(SECRET)),
        ),
        (
            "HS384 with the right secret (algorithm not pinned)",
            sign(Algorithm::HS384, Some(KID), SECRET, &claims),
        ),
        (
            "HS512 with the right secret",
            sign(Algorithm::HS512, Some(KID), SECRET, &claims),
        ),
        (
            "HS256 with the wrong secret",
            sign(Algorithm::HS256, Some(KID), WRONG_SECRET, &claims),
        ),
        (
            "HS256 with an empty secret",
            sign(Algorithm::HS256, Some(KID), "", &claims),
        ),
        (
            "unknown kid",
            sign(Algorithm::HS256, Some("b"), SECRET, &claims),
        ),
        ("no kid", sign(Algorithm::HS256, None, SECRET, &claims)),
        (
            "empty kid",
            sign(Algorithm::HS256, Some(""), SECRET, &claims),
        ),
        (
            "expired an hour ago",
            hs256(&with(
                with(claims.clone(), "exp", json!(now - 3600)),
                "nbf",
                json!(now - 7200),
            )),
        ),
        (
            "nbf an hour ahead",
            hs256(&with(claims.clone(), "nbf", json!(now + 3600))),
        ),
        (
            "wrong aud",
            hs256(&with(claims.clone(), "aud", json!("someone-else"))),
        ),
        (
            "the other endpoint's aud",
            hs256(&with(claims.clone(), "aud", json!(endpoint.other_audience))),
        ),
        (
            "wrong iss",
            hs256(&with(claims.clone(), "iss", json!("evil-issuer"))),
        ),
        ("no exp", hs256(&without(claims.clone(), "exp"))),
        ("no nbf", hs256(&without(claims.clone(), "nbf"))),
        ("no iss", hs256(&without(claims.clone(), "iss"))),
        ("no aud", hs256(&without(claims.clone(), "aud"))),
        ("no sub", hs256(&without(claims.clone(), "sub"))),
        (
            "sub not a uuid",
            hs256(&with(claims.clone(), "sub", json!("1 OR 1=1"))),
        ),
        (
            "payload tampered after signing: sub",
            tamper(&me.access, |p| p["sub"] = json!(other.id)),
        ),
        (
            "payload tampered after signing: exp",
            tamper(&me.access, |p| p["exp"] = json!(now + 10 * 365 * 86400)),
        ),
        (
            "payload tampered after signing: aud",
            tamper(&other.access, |p| p["aud"] = json!(endpoint.audience)),
        ),
        ("the other endpoint's real token", other.access.clone()),
        ("a refresh token as the access token", me.refresh.clone()),
        ("the other endpoint's refresh token", other.refresh.clone()),
        ("not a JWT", "not-a-jwt".to_string()),
        ("two segments", {
            let mut parts = me.access.rsplitn(2, '.');
            parts.nth(1).unwrap().to_string()
        }),
        ("signature stripped", {
            let cut = me.access.rfind('.').unwrap();
            me.access[..=cut].to_string()
        }),
    ];
    list.sort_by_key(|(name, _)| *name);
    list.into_iter()
        .map(|(name, token)| (format!("{}: {name}", endpoint.name), token))
        .collect()
}

async fn post(server: &TestServer, endpoint: Endpoint, token: &str) -> Value {
    let response = server
        .client
        .post(server.url(endpoint.path))
        .header("accept", "application/graphql-response+json")
        .bearer_auth(token)
        .json(&json!({ "query": endpoint.probe }))
        .send()
        .await
        .expect("request");
    let status = response.status();
    let body: Value = response.json().await.expect("JSON body");
    assert!(
        status.is_success() || status.as_u16() == 400,
        "unexpected status {status}: {body}"
    );
    body
}

/// The token is accepted on both transports and stands for `id`.
async fn assert_accepted(server: &TestServer, endpoint: Endpoint, token: &str, id: &str) {
    let body = post(server, endpoint, token).await;
    assert_eq!(
        body["data"][endpoint.probe_field]["id"], id,
        "{} control token refused over HTTP: {body}",
        endpoint.name
    );
    let (mut ws, reply) = gql_ws::init(server, endpoint.path, Some(token)).await;
    assert_eq!(
        reply,
        gql_ws::ack(),
        "{} control token over WebSocket",
        endpoint.name
    );
    match gql_ws::subscribe(&mut ws, "1", endpoint.probe, json!({})).await {
        Reply::Message(message) => assert_eq!(
            message["payload"]["data"][endpoint.probe_field]["id"], id,
            "{}: {message}",
            endpoint.name
        ),
        other => panic!("{}: {other:?}", endpoint.name),
    }
}

/// Signs up customer `phone` over HTTP; returns their id and real tokens.
async fn customer(server: &TestServer, sms: &kavenegar_sim::Kavenegar, phone: &str) -> Principal {
    let sent = shop::gql(
        server,
        "mutation($p: String!) { requestOtp(phone: $p) { sentAt } }",
        json!({ "p": phone }),
        None,
        None,
    )
    .await;
    assert!(sent["errors"].is_null(), "{sent}");
    let code = sms.last_code(phone).expect("code sent");
    let body = shop::gql(
        server,
        "mutation($p: String!, $c: String!) { verifyOtp(phone: $p, code: $c) { accessToken refreshToken } }",
        json!({ "p": phone, "c": code }),
        None,
        None,
    )
    .await;
    let tokens = &body["data"]["verifyOtp"];
    let access = tokens["accessToken"]
        .as_str()
        .expect("accessToken")
        .to_string();
    let me = shop::gql(server, "{ me { id } }", json!({}), Some(&access), None).await;
    Principal {
        id: me["data"]["me"]["id"].as_str().expect("me.id").to_string(),
        access,
        refresh: tokens["refreshToken"].as_str().unwrap().to_string(),
    }
}

/// Makes a super admin and signs them in over HTTP; returns their id and real tokens.
async fn staff(server: &TestServer, db: &TestDb) -> Principal {
    let email = "root@example.com";
    admin::create_staff(db, email, admin::PASSWORD, &["*"]).await;
    let body = admin::sign_in(server, email, admin::PASSWORD).await;
    let session = &body["data"]["signIn"];
    Principal {
        id: session["staff"]["id"]
            .as_str()
            .expect("staff id")
            .to_string(),
        access: session["accessToken"].as_str().unwrap().to_string(),
        refresh: session["refreshToken"].as_str().unwrap().to_string(),
    }
}

#[tokio::test]
async fn forged_and_misused_tokens_are_refused_on_both_endpoints_and_transports() {
    let db = TestDb::postgres().await;
    let (server, sms) = shop::start(
        &db,
        &[
            ("APP__JWT__ISSUER", ISSUER),
            ("APP__JWT__SHOP_AUDIENCE", SHOP_AUDIENCE),
            ("APP__JWT__ADMIN_AUDIENCE", ADMIN_AUDIENCE),
        ],
    )
    .await;
    let customer = customer(&server, &sms, "09121234567").await;
    let staff = staff(&server, &db).await;

    let mut refused = 0;
    for (endpoint, me, other) in [(SHOP, &customer, &staff), (ADMIN, &staff, &customer)] {
        // The real token and the forge's own token work: the forge holds the server's key.
        assert_accepted(&server, endpoint, &me.access, &me.id).await;
        let control = sign(
            Algorithm::HS256,
            Some(KID),
            SECRET,
            &valid_claims(endpoint, &me.id),
        );
        assert_accepted(&server, endpoint, &control, &me.id).await;

        for (name, token) in attacks(endpoint, me, other) {
            let body = post(&server, endpoint, &token).await;
            assert_eq!(
                error_codes(&body),
                ["UNAUTHENTICATED"],
                "{name} over HTTP: {body}"
            );
            assert!(body["data"].is_null(), "{name} over HTTP gave data: {body}");
            assert!(!body.to_string().contains(&me.id), "{name}: {body}");
            let (_ws, reply) = gql_ws::init(&server, endpoint.path, Some(&token)).await;
            assert_eq!(reply, Reply::Closed(4403), "{name} at connection_init");
            refused += 1;
        }
    }
    assert!(refused >= 60, "only {refused} attacks ran");
}
