//! Shared by the admin schema's end-to-end tests: staff users made directly in the database
//! (through `server::staff`, as `server create-admin` does), staff sign-in over HTTP, and
//! GraphQL requests to `/admin/graphql`.
//!
//! ```ignore
//! mod admin;
//! mod common;
//!
//! let db = TestDb::postgres().await;
//! let server = TestServer::start(&db).await;
//! let token = admin::staff_token(&server, &db, &["catalogue"]).await;
//! let body = admin::admin_gql(&server, Some(&token), "{ currentStaff { email } }", json!({})).await;
//! ```

#![allow(dead_code)] // each test binary uses a different part

use serde_json::{json, Value};
use sync::testing::TestDb;
use uuid::Uuid;

use crate::common::TestServer;

/// The password `staff_token` gives the staff users it makes.
pub const PASSWORD: &str = "correct-horse-battery-staple";

/// Creates a role holding exactly `permissions` (names as in the API: `catalogue`, `orders`,
/// `customers`, `content`, `reports`, `sync`, `staff`, or `*`) and an active staff user with
/// it, directly in the database; returns the staff user's id.
pub async fn create_staff(db: &TestDb, email: &str, password: &str, permissions: &[&str]) -> Uuid {
    let conn = db.connect().await;
    let permissions: Vec<String> = permissions.iter().map(|p| (*p).to_string()).collect();
    let role = server::staff::accounts::create_role(
        &conn,
        None,
        &format!("role-{}", Uuid::new_v4().simple()),
        &permissions,
    )
    .await
    .expect("create role");
    let (staff, _) = server::staff::accounts::create_staff(
        &conn,
        None,
        server::staff::accounts::NewStaff {
            email,
            display_name: email.split('@').next().unwrap_or(email),
            password,
            role_id: role.id,
        },
    )
    .await
    .expect("create staff user");
    conn.close().await.ok();
    staff.id
}

/// Signs in over HTTP; returns the whole response body.
pub async fn sign_in(server: &TestServer, email: &str, password: &str) -> Value {
    admin_gql(
        server,
        None,
        "mutation($e: String!, $p: String!) { signIn(email: $e, password: $p) { accessToken refreshToken expiresIn staff { id email } } }",
        json!({ "e": email, "p": password }),
    )
    .await
}

/// Creates a staff user with `permissions` (see [`create_staff`]) and a fresh email, signs
/// them in over HTTP and returns their access token.
pub async fn staff_token(server: &TestServer, db: &TestDb, permissions: &[&str]) -> String {
    let email = format!("staff-{}@example.com", Uuid::new_v4().simple());
    create_staff(db, &email, PASSWORD, permissions).await;
    let body = sign_in(server, &email, PASSWORD).await;
    assert!(body["errors"].is_null(), "staff sign-in failed: {body}");
    body["data"]["signIn"]["accessToken"]
        .as_str()
        .expect("accessToken")
        .to_string()
}

/// POSTs a GraphQL operation to `/admin/graphql` with an optional bearer token; returns the
/// whole response body (the status must be 2xx, or 400 for a request error).
pub async fn admin_gql(
    server: &TestServer,
    token: Option<&str>,
    query: &str,
    variables: Value,
) -> Value {
    let mut request = server
        .client
        .post(server.url("/admin/graphql"))
        .header("accept", "application/graphql-response+json")
        .json(&json!({ "query": query, "variables": variables }));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.expect("request");
    let status = response.status();
    let body: Value = response.json().await.expect("JSON body");
    assert!(
        status.is_success() || status.as_u16() == 400,
        "unexpected status {status}: {body}"
    );
    body
}
