//! Staff sign-in, permissions and the audit log, end to end: the real server binary on
//! PostgreSQL, real HTTP and WebSocket, customers signed in through the Kavenegar simulator.
//!
//! `OPERATIONS` lists every admin root field with the permission it needs; the table-driven
//! test runs each one anonymously, with a customer's token, without and with the permission,
//! and a schema test fails when an admin root field is missing from the table. Add your
//! fields to it.

mod admin;
mod common;
#[allow(dead_code)]
mod kavenegar_sim;
mod shop;

use std::collections::BTreeSet;
use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

use async_graphql::parser::types::{TypeKind, TypeSystemDefinition};
use common::{error_codes, TestDb, TestServer};
use futures::{SinkExt, StreamExt};
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

use admin::{admin_gql, create_staff, sign_in, staff_token, PASSWORD};

/// Every admin root field that needs a staff token: (name, a document calling only it, the
/// permission it needs; "" for any signed-in staff member). Extend it with your fields.
const OPERATIONS: &[(&str, &str, &str)] = &[
    ("currentStaff", "{ currentStaff { id email } }", ""),
    (
        "staffUsers",
        "{ staffUsers { id email role { name } } }",
        "staff",
    ),
    ("roles", "{ roles { id name permissions } }", "staff"),
    (
        "auditLog",
        "{ auditLog(first: 5) { edges { cursor node { action } } pageInfo { hasNextPage } } }",
        "staff",
    ),
    (
        "createRole",
        r#"mutation { createRole(name: "table-role", permissions: ["content"]) { id } }"#,
        "staff",
    ),
    (
        "updateRole",
        r#"mutation { updateRole(id: "999999", name: "renamed") { id } }"#,
        "staff",
    ),
    (
        "createStaff",
        r#"mutation { createStaff(email: "table@example.com", displayName: "Table", password: "long-enough-password", roleId: "999999") { id } }"#,
        "staff",
    ),
    (
        "updateStaff",
        r#"mutation { updateStaff(id: "00000000-0000-0000-0000-000000000000", displayName: "X") { id } }"#,
        "staff",
    ),
    (
        "disableStaff",
        r#"mutation { disableStaff(id: "00000000-0000-0000-0000-000000000000") { id } }"#,
        "staff",
    ),
    (
        "enableStaff",
        r#"mutation { enableStaff(id: "00000000-0000-0000-0000-000000000000") { id } }"#,
        "staff",
    ),
    (
        "resetStaffPassword",
        r#"mutation { resetStaffPassword(id: "00000000-0000-0000-0000-000000000000", password: "long-enough-password") { id } }"#,
        "staff",
    ),
    (
        "createImageUpload",
        r#"mutation { createImageUpload(productId: "999999", contentType: "image/jpeg", size: 1000) { uploadId url } }"#,
        "catalogue",
    ),
    (
        "attachProductImage",
        r#"mutation { attachProductImage(uploadId: "00000000-0000-0000-0000-000000000000", alt: "x") { id url } }"#,
        "catalogue",
    ),
    (
        "reorderProductImages",
        r#"mutation { reorderProductImages(productId: "999999", imageIds: []) { id } }"#,
        "catalogue",
    ),
    (
        "deleteProductImage",
        r#"mutation { deleteProductImage(id: "999999") }"#,
        "catalogue",
    ),
    (
        "products",
        "{ products(first: 2, filter: { published: false }) { totalCount edges { node { id name variants { stock { available } } } } } }",
        "catalogue",
    ),
    ("product", r#"{ product(id: "999999") { id slug } }"#, "catalogue"),
    ("categories", "{ categories { id name published } }", "catalogue"),
    (
        "stock",
        r#"{ stock(variantId: "999999") { onHand reserved available } }"#,
        "catalogue",
    ),
    (
        "lowStock",
        "{ lowStock(threshold: 0, first: 5) { edges { cursor } pageInfo { hasNextPage } } }",
        "catalogue",
    ),
    (
        "updateProductListing",
        r#"mutation { updateProductListing(productId: "999999", input: { published: false }) { id } }"#,
        "catalogue",
    ),
    (
        "setProductsPublished",
        r#"mutation { setProductsPublished(productIds: ["999999"], published: true) { productId ok error } }"#,
        "catalogue",
    ),
    (
        "updateCategoryListing",
        r#"mutation { updateCategoryListing(categoryId: "999999", input: { displayOrder: 1 }) { id } }"#,
        "catalogue",
    ),
    ("orders", "{ orders { edges { cursor } } }", "orders"),
    ("order", r#"{ order(number: "1") { id } }"#, "orders"),
    (
        "confirmOrder",
        r#"mutation { confirmOrder(number: "1") { id } }"#,
        "orders",
    ),
    (
        "shipOrder",
        r#"mutation { shipOrder(number: "1", trackingCode: "RR1IR") { id } }"#,
        "orders",
    ),
    (
        "deliverOrder",
        r#"mutation { deliverOrder(number: "1") { id } }"#,
        "orders",
    ),
    (
        "cancelOrder",
        r#"mutation { cancelOrder(number: "1", reason: "test") { id } }"#,
        "orders",
    ),
    (
        "refundOrder",
        r#"mutation { refundOrder(number: "1", reason: "test") { id } }"#,
        "orders",
    ),
    (
        "retryMahakPush",
        r#"mutation { retryMahakPush(orderNumber: "1") { id } }"#,
        "orders",
    ),
    ("customers", "{ customers { nodes { id } } }", "customers"),
    (
        "customer",
        r#"{ customer(id: "0190b3c4-0000-7000-8000-000000000000") { id } }"#,
        "customers",
    ),
    (
        "blockCustomer",
        r#"mutation { blockCustomer(id: "0190b3c4-0000-7000-8000-000000000000", reason: "test") { id } }"#,
        "customers",
    ),
    (
        "unblockCustomer",
        r#"mutation { unblockCustomer(id: "0190b3c4-0000-7000-8000-000000000000") { id } }"#,
        "customers",
    ),
    (
        "salesReport",
        r#"{ salesReport(from: "2026-11-01", to: "2026-11-07", bucket: DAY) { totalOrders } }"#,
        "reports",
    ),
    (
        "topProducts",
        r#"{ topProducts(from: "2026-11-01", to: "2026-11-07", limit: 5) { rank } }"#,
        "reports",
    ),
    (
        "ordersByStatus",
        r#"{ ordersByStatus(from: "2026-11-01", to: "2026-11-07") { status orders } }"#,
        "reports",
    ),
    (
        "paymentSuccessRate",
        r#"{ paymentSuccessRate(from: "2026-11-01", to: "2026-11-07") { attempts } }"#,
        "reports",
    ),
    (
        "customerCohorts",
        r#"{ customerCohorts(from: "2026-11-01", to: "2026-11-07", bucket: WEEK) { bucketStart } }"#,
        "reports",
    ),
    (
        "mahakReconciliation",
        r#"{ mahakReconciliation(from: "2026-11-01", to: "2026-11-07") { days { day } } }"#,
        "reports",
    ),
    ("contentPages", "{ contentPages { id slug } }", "content"),
    (
        "contentPage",
        r#"{ contentPage(id: "0190b3c4-0000-7000-8000-000000000000") { id } }"#,
        "content",
    ),
    ("banners", "{ banners { id title } }", "content"),
    ("promotions", "{ promotions { id code } }", "content"),
    (
        "createPage",
        r#"mutation { createPage(input: { slug: "table-page", title: "T", body: "b" }) { id } }"#,
        "content",
    ),
    (
        "updatePage",
        r#"mutation { updatePage(id: "0190b3c4-0000-7000-8000-000000000000", input: { title: "X" }) { id } }"#,
        "content",
    ),
    (
        "deletePage",
        r#"mutation { deletePage(id: "0190b3c4-0000-7000-8000-000000000000") { id } }"#,
        "content",
    ),
    (
        "createBanner",
        r#"mutation { createBanner(input: { title: "T", image: "banners/t.jpg" }) { id } }"#,
        "content",
    ),
    (
        "updateBanner",
        r#"mutation { updateBanner(id: "0190b3c4-0000-7000-8000-000000000000", input: { title: "X" }) { id } }"#,
        "content",
    ),
    (
        "deleteBanner",
        r#"mutation { deleteBanner(id: "0190b3c4-0000-7000-8000-000000000000") { id } }"#,
        "content",
    ),
    (
        "createPromotion",
        r#"mutation { createPromotion(input: { code: "TABLE10", percentage: 10 }) { id } }"#,
        "content",
    ),
    (
        "updatePromotion",
        r#"mutation { updatePromotion(id: "0190b3c4-0000-7000-8000-000000000000", input: { active: true }) { id } }"#,
        "content",
    ),
    (
        "deactivatePromotion",
        r#"mutation { deactivatePromotion(id: "0190b3c4-0000-7000-8000-000000000000") { id } }"#,
        "content",
    ),
    // The sync console (server/tests/sync_console.rs has the behaviour).
    (
        "syncStatus",
        "{ syncStatus { openDeadLetters entities { entity checkpoint } } }",
        "sync",
    ),
    (
        "syncRuns",
        "{ syncRuns(first: 5) { edges { cursor node { id outcome } } pageInfo { hasNextPage } } }",
        "sync",
    ),
    (
        "syncRun",
        r#"{ syncRun(id: "0190b3c4-0000-7000-8000-000000000000") { id } }"#,
        "sync",
    ),
    ("syncRequest", r#"{ syncRequest(id: "999999") { id } }"#, "sync"),
    (
        "deadLetters",
        "{ deadLetters(first: 5, openOnly: true) { edges { node { id error } } } }",
        "sync",
    ),
    (
        "replayDeadLetter",
        r#"mutation { replayDeadLetter(id: "999999") { replayed } }"#,
        "sync",
    ),
    (
        "replayDeadLetters",
        "mutation { replayDeadLetters(entity: STORE) { replayed stillFailing } }",
        "sync",
    ),
    (
        "discardDeadLetter",
        r#"mutation { discardDeadLetter(id: "999999", reason: "table") { id } }"#,
        "sync",
    ),
    (
        "triggerSync",
        "mutation { triggerSync(entity: SETTING) { id } }",
        "sync",
    ),
    // Subscriptions are checked over WebSocket (see `subscription_refusal`).
    (
        "syncStatusChanged",
        "subscription { syncStatusChanged { kind } }",
        "sync",
    ),
    (
        "deadLetterAdded",
        "subscription { deadLetterAdded { id } }",
        "sync",
    ),
    ("orderPlaced", "subscription { orderPlaced { id } }", "orders"),
];

/// Admin root fields anyone may call: signing in and out, and the server version.
const PUBLIC: &[&str] = &["serverVersion", "signIn", "refreshStaffToken", "signOut"];

/// Types the admin schema may share with the shop schema (same name in both SDLs, and then
/// the same definition). Anything else of the admin's must not appear in the shop's SDL.
const SHARED_TYPES: &[&str] = &[
    "DateTime",
    "PageInfo",
    "Rial",
    // The shop's catalogue image types, returned by the admin's media mutations.
    "ProductImage",
    "ImageThumbnail",
];

const PERMISSIONS: &[&str] = &[
    "catalogue",
    "orders",
    "customers",
    "content",
    "reports",
    "sync",
    "staff",
];

fn has_code(body: &Value, code: &str) -> bool {
    error_codes(body).iter().any(|c| c == code)
}

fn first_error(body: &Value) -> &Value {
    &body["errors"][0]
}

async fn db_conn(db: &TestDb) -> sea_orm::DatabaseConnection {
    db.connect().await
}

async fn staff_row(db: &TestDb, email: &str) -> entity::staff_users::Model {
    let conn = db_conn(db).await;
    let row = entity::staff_users::Entity::find()
        .filter(entity::staff_users::Column::Email.eq(email))
        .one(&conn)
        .await
        .unwrap()
        .expect("staff row");
    conn.close().await.ok();
    row
}

async fn current_email(server: &TestServer, token: &str) -> Value {
    admin_gql(server, Some(token), "{ currentStaff { email } }", json!({})).await
}

#[tokio::test]
async fn sign_in_succeeds_fails_alike_and_refuses_disabled_staff() {
    let db = TestDb::postgres().await;
    let server = TestServer::start(&db).await;
    let boss = staff_token(&server, &db, &["*"]).await;
    let id = create_staff(&db, "Sara@Example.com", PASSWORD, &["content"]).await;

    // Email case-insensitive, stored lower-case.
    let body = sign_in(&server, "  SARA@example.COM ", PASSWORD).await;
    assert!(body["errors"].is_null(), "{body}");
    let session = &body["data"]["signIn"];
    assert_eq!(session["staff"]["email"], "sara@example.com");
    assert_eq!(session["staff"]["id"], id.to_string());
    assert!(session["expiresIn"].as_i64().unwrap() > 0);
    let token = session["accessToken"].as_str().unwrap().to_string();
    let me = admin_gql(
        &server,
        Some(&token),
        "{ currentStaff { email permissions role { isSuperAdmin } } }",
        json!({}),
    )
    .await;
    assert_eq!(
        me["data"]["currentStaff"],
        json!({ "email": "sara@example.com", "permissions": ["content"], "role": { "isSuperAdmin": false } })
    );
    assert!(staff_row(&db, "sara@example.com")
        .await
        .last_login_at
        .is_some());

    // Wrong password and unknown email: the same answer.
    let wrong = sign_in(&server, "sara@example.com", "not-the-password").await;
    let unknown = sign_in(&server, "nobody@example.com", PASSWORD).await;
    assert!(wrong["data"].is_null() || wrong["data"]["signIn"].is_null());
    assert_eq!(error_codes(&wrong), ["UNAUTHENTICATED"]);
    assert_eq!(
        first_error(&wrong)["message"],
        first_error(&unknown)["message"]
    );
    assert_eq!(error_codes(&unknown), ["UNAUTHENTICATED"]);
    // Empty input is a user error naming the field.
    let empty = sign_in(&server, " ", PASSWORD).await;
    assert_eq!(error_codes(&empty), ["BAD_USER_INPUT"]);
    assert_eq!(first_error(&empty)["extensions"]["field"], "email");

    // Disabled: the token stops working at once, sign-in is refused (after the right
    // password only), and enabling restores both.
    let disable = admin_gql(
        &server,
        Some(&boss),
        "mutation($id: ID!) { disableStaff(id: $id) { status } }",
        json!({ "id": id }),
    )
    .await;
    assert_eq!(
        disable["data"]["disableStaff"]["status"], "DISABLED",
        "{disable}"
    );
    assert_eq!(
        error_codes(&current_email(&server, &token).await),
        ["UNAUTHENTICATED"]
    );
    assert_eq!(
        error_codes(&sign_in(&server, "sara@example.com", PASSWORD).await),
        ["FORBIDDEN"]
    );
    assert_eq!(
        error_codes(&sign_in(&server, "sara@example.com", "not-the-password").await),
        ["UNAUTHENTICATED"]
    );
    let enable = admin_gql(
        &server,
        Some(&boss),
        "mutation($id: ID!) { enableStaff(id: $id) { status } }",
        json!({ "id": id }),
    )
    .await;
    assert_eq!(
        enable["data"]["enableStaff"]["status"], "ACTIVE",
        "{enable}"
    );
    assert_eq!(
        current_email(&server, &token).await["data"]["currentStaff"]["email"],
        "sara@example.com"
    );
    assert!(sign_in(&server, "sara@example.com", PASSWORD).await["errors"].is_null());
}

#[tokio::test]
async fn consecutive_failures_lock_the_account_without_telling() {
    let db = TestDb::postgres().await;
    let server = TestServer::start_with(
        &db,
        &[
            ("APP__STAFF__MAX_FAILED_LOGINS", "3"),
            ("APP__STAFF__LOCKOUT_SECS", "600"),
        ],
    )
    .await;
    let boss = staff_token(&server, &db, &["staff"]).await;
    let id = create_staff(&db, "ali@example.com", PASSWORD, &["orders"]).await;

    // A success in between resets the count: 2 + 2 failures do not lock.
    for _ in 0..2 {
        let body = sign_in(&server, "ali@example.com", "wrong-password").await;
        assert_eq!(error_codes(&body), ["UNAUTHENTICATED"]);
    }
    assert_eq!(staff_row(&db, "ali@example.com").await.failed_logins, 2);
    assert!(sign_in(&server, "ali@example.com", PASSWORD).await["errors"].is_null());
    assert_eq!(staff_row(&db, "ali@example.com").await.failed_logins, 0);
    for _ in 0..2 {
        sign_in(&server, "ali@example.com", "wrong-password").await;
    }
    assert!(sign_in(&server, "ali@example.com", PASSWORD).await["errors"].is_null());

    // Three in a row lock it; then even the right password gets the wrong-password answer.
    let mut last = Value::Null;
    for _ in 0..3 {
        last = sign_in(&server, "ali@example.com", "wrong-password").await;
    }
    let row = staff_row(&db, "ali@example.com").await;
    let until = row.locked_until.expect("locked");
    let secs = (until - chrono::Utc::now()).num_seconds();
    assert!((500..=600).contains(&secs), "locked for {secs} s");
    let locked = sign_in(&server, "ali@example.com", PASSWORD).await;
    assert_eq!(error_codes(&locked), ["UNAUTHENTICATED"]);
    assert_eq!(
        first_error(&locked)["message"],
        first_error(&last)["message"]
    );
    let listed = admin_gql(
        &server,
        Some(&boss),
        "{ staffUsers { email lockedUntil } }",
        json!({}),
    )
    .await;
    let ali = listed["data"]["staffUsers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["email"] == "ali@example.com")
        .unwrap()
        .clone();
    assert!(ali["lockedUntil"].is_string(), "{listed}");

    // Staff with the permission lift the lock.
    let enabled = admin_gql(
        &server,
        Some(&boss),
        "mutation($id: ID!) { enableStaff(id: $id) { lockedUntil } }",
        json!({ "id": id }),
    )
    .await;
    assert!(
        enabled["data"]["enableStaff"]["lockedUntil"].is_null(),
        "{enabled}"
    );
    assert!(sign_in(&server, "ali@example.com", PASSWORD).await["errors"].is_null());
}

#[tokio::test]
async fn failed_sign_ins_are_rate_limited_per_email_and_per_ip() {
    let db = TestDb::postgres().await;
    let server = TestServer::start_with(
        &db,
        &[
            ("APP__STAFF__IP_FAILURES_PER_HOUR", "4"),
            ("APP__STAFF__EMAIL_FAILURES_PER_HOUR", "2"),
        ],
    )
    .await;
    create_staff(&db, "real@example.com", PASSWORD, &["orders"]).await;
    // Successes are not counted.
    for _ in 0..5 {
        assert!(sign_in(&server, "real@example.com", PASSWORD).await["errors"].is_null());
    }

    // Per email: the third failure for one address within the hour.
    for _ in 0..2 {
        let body = sign_in(&server, "a@example.com", "wrong-password").await;
        assert_eq!(error_codes(&body), ["UNAUTHENTICATED"]);
    }
    let limited = sign_in(&server, "A@example.com", "wrong-password").await;
    assert_eq!(error_codes(&limited), ["RATE_LIMITED"], "{limited}");
    let retry = first_error(&limited)["extensions"]["retryAfterSeconds"]
        .as_u64()
        .expect("retryAfterSeconds");
    assert!((1..=3600).contains(&retry), "{retry}");

    // Per IP: two more failures for other addresses reach 4 from this address; after that
    // even the right password of a real account is refused until the window passes.
    for email in ["b@example.com", "c@example.com"] {
        let body = sign_in(&server, email, "wrong-password").await;
        assert_eq!(error_codes(&body), ["UNAUTHENTICATED"], "{email}");
    }
    let limited = sign_in(&server, "real@example.com", PASSWORD).await;
    assert_eq!(error_codes(&limited), ["RATE_LIMITED"], "{limited}");
}

const REFRESH: &str =
    "mutation($t: String!) { refreshStaffToken(refreshToken: $t) { accessToken refreshToken staff { email } } }";

#[tokio::test]
async fn refresh_tokens_rotate_and_a_reused_one_ends_the_session() {
    let db = TestDb::postgres().await;
    let server = TestServer::start(&db).await;
    let boss = staff_token(&server, &db, &["staff"]).await;
    let id = create_staff(&db, "reza@example.com", PASSWORD, &[]).await;
    let body = sign_in(&server, "reza@example.com", PASSWORD).await;
    let first = body["data"]["signIn"]["refreshToken"]
        .as_str()
        .unwrap()
        .to_string();

    let body = admin_gql(&server, None, REFRESH, json!({ "t": first })).await;
    assert!(body["errors"].is_null(), "{body}");
    let rotated = &body["data"]["refreshStaffToken"];
    assert_eq!(rotated["staff"]["email"], "reza@example.com");
    let second = rotated["refreshToken"].as_str().unwrap().to_string();
    assert_ne!(second, first);
    let access = rotated["accessToken"].as_str().unwrap();
    assert_eq!(
        current_email(&server, access).await["data"]["currentStaff"]["email"],
        "reza@example.com"
    );

    // Reusing the spent token revokes the family: the newer token is dead too.
    let reused = admin_gql(&server, None, REFRESH, json!({ "t": first })).await;
    assert_eq!(error_codes(&reused), ["UNAUTHENTICATED"]);
    let after = admin_gql(&server, None, REFRESH, json!({ "t": second })).await;
    assert_eq!(error_codes(&after), ["UNAUTHENTICATED"]);
    let garbage = admin_gql(&server, None, REFRESH, json!({ "t": "not-a-token" })).await;
    assert_eq!(error_codes(&garbage), ["UNAUTHENTICATED"]);

    // Signing out ends a session; twice is fine.
    let token = sign_in(&server, "reza@example.com", PASSWORD).await["data"]["signIn"]
        ["refreshToken"]
        .as_str()
        .unwrap()
        .to_string();
    for _ in 0..2 {
        let out = admin_gql(
            &server,
            None,
            "mutation($t: String!) { signOut(refreshToken: $t) }",
            json!({ "t": token }),
        )
        .await;
        assert_eq!(out["data"]["signOut"], true, "{out}");
    }
    let body = admin_gql(&server, None, REFRESH, json!({ "t": token })).await;
    assert_eq!(error_codes(&body), ["UNAUTHENTICATED"]);

    // Disabling someone ends their sessions.
    let token = sign_in(&server, "reza@example.com", PASSWORD).await["data"]["signIn"]
        ["refreshToken"]
        .as_str()
        .unwrap()
        .to_string();
    let disabled = admin_gql(
        &server,
        Some(&boss),
        "mutation($id: ID!) { disableStaff(id: $id) { status } }",
        json!({ "id": id }),
    )
    .await;
    assert!(disabled["errors"].is_null(), "{disabled}");
    let body = admin_gql(&server, None, REFRESH, json!({ "t": token })).await;
    assert_eq!(error_codes(&body), ["UNAUTHENTICATED"]);
}

fn create_admin(
    db: &TestDb,
    args: &[&str],
    stdin: Option<&str>,
    env: &[(&str, &str)],
) -> (bool, String) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_server"));
    command
        .arg("create-admin")
        .args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("APP__DATABASE__URL", &db.url)
        .env("APP__LOG__LEVEL", "warn")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (key, value) in env {
        command.env(key, value);
    }
    let mut child = command.spawn().expect("run server create-admin");
    {
        let mut input = child.stdin.take().unwrap();
        if let Some(text) = stdin {
            input.write_all(text.as_bytes()).unwrap();
        }
    }
    let output = child.wait_with_output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), text)
}

#[tokio::test]
async fn create_admin_command_makes_a_super_admin() {
    let db = TestDb::postgres().await;
    let (ok, out) = create_admin(
        &db,
        &["--email", "Owner@Example.com", "--password-stdin"],
        Some("a-very-long-password\n"),
        &[],
    );
    assert!(ok, "{out}");
    assert!(out.contains("owner@example.com"), "{out}");

    // Duplicates (in any case) and weak passwords are refused with a clear message.
    let (ok, out) = create_admin(
        &db,
        &["--email", "OWNER@example.com", "--password-stdin"],
        Some("another-long-password\n"),
        &[],
    );
    assert!(!ok);
    assert!(out.contains("already exists"), "{out}");
    let (ok, out) = create_admin(
        &db,
        &["--email", "second@example.com"],
        None,
        &[("ADMIN_PASSWORD", "short")],
    );
    assert!(!ok);
    assert!(out.contains("at least 10 characters"), "{out}");
    assert!(!out.contains("short"), "the password was echoed: {out}");
    // The environment variable works, and the role is reused.
    let (ok, out) = create_admin(
        &db,
        &["--email", "second@example.com", "--display-name", "Second"],
        None,
        &[("ADMIN_PASSWORD", "second-long-password")],
    );
    assert!(ok, "{out}");
    let conn = db.connect().await;
    assert_eq!(entity::roles::Entity::find().count(&conn).await.unwrap(), 1);
    assert_eq!(
        entity::audit_entries::Entity::find()
            .filter(entity::audit_entries::Column::Action.eq("staff.create"))
            .count(&conn)
            .await
            .unwrap(),
        2
    );
    conn.close().await.ok();

    let server = TestServer::start(&db).await;
    let body = sign_in(&server, "owner@EXAMPLE.com", "a-very-long-password").await;
    let token = body["data"]["signIn"]["accessToken"]
        .as_str()
        .expect("signed in");
    let me = admin_gql(
        &server,
        Some(token),
        "{ currentStaff { permissions role { name isSuperAdmin } } }",
        json!({}),
    )
    .await;
    let me = &me["data"]["currentStaff"];
    assert_eq!(
        me["role"],
        json!({ "name": "super_admin", "isSuperAdmin": true })
    );
    assert_eq!(
        me["permissions"].as_array().unwrap().len(),
        PERMISSIONS.len()
    );
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn admin_socket(server: &TestServer) -> Ws {
    let url = server.url("/admin/graphql").replacen("http://", "ws://", 1);
    let mut request = url.into_client_request().unwrap();
    request.headers_mut().insert(
        "sec-websocket-protocol",
        "graphql-transport-ws".parse().unwrap(),
    );
    tokio_tungstenite::connect_async(request)
        .await
        .expect("WebSocket handshake")
        .0
}

async fn next_frame(ws: &mut Ws) -> Message {
    loop {
        let frame = tokio::time::timeout(Duration::from_secs(10), ws.next())
            .await
            .expect("a frame within 10 s")
            .expect("socket open")
            .expect("a frame");
        if !matches!(frame, Message::Ping(_) | Message::Pong(_)) {
            return frame;
        }
    }
}

async fn send(ws: &mut Ws, message: Value) {
    ws.send(Message::Text(message.to_string().into()))
        .await
        .unwrap();
}

/// The first message of a subscription that must be refused, as a GraphQL response body
/// (`{"errors": [...]}`).
async fn subscription_refusal(server: &TestServer, token: Option<&str>, document: &str) -> Value {
    let mut ws = admin_socket(server).await;
    let payload = match token {
        Some(token) => json!({ "Authorization": format!("Bearer {token}") }),
        None => json!({}),
    };
    send(
        &mut ws,
        json!({ "type": "connection_init", "payload": payload }),
    )
    .await;
    let ack = next_frame(&mut ws).await;
    assert!(
        matches!(&ack, Message::Text(t) if t.contains("connection_ack")),
        "{ack:?}"
    );
    send(
        &mut ws,
        json!({ "id": "1", "type": "subscribe", "payload": { "query": document } }),
    )
    .await;
    let Message::Text(text) = next_frame(&mut ws).await else {
        panic!("{document}: expected a text message");
    };
    let message: Value = serde_json::from_str(text.as_str()).unwrap();
    assert_eq!(message["type"], "error", "{document}: {message}");
    json!({ "errors": message["payload"] })
}

#[tokio::test]
async fn customer_and_staff_tokens_never_cross() {
    let db = TestDb::postgres().await;
    let (server, sms) = shop::start(&db, &[]).await;
    let customer = shop::sign_in(&server, &sms, "09121234567", None).await;
    let staff = staff_token(&server, &db, &["*"]).await;

    // A customer's token on the admin schema: not a staff member.
    let body = current_email(&server, &customer).await;
    assert_eq!(error_codes(&body), ["UNAUTHENTICATED"]);
    // A staff token on the shop: an invalid customer token.
    let body = shop::gql(&server, "{ me { phone } }", json!({}), Some(&staff), None).await;
    assert_eq!(error_codes(&body), ["UNAUTHENTICATED"]);
    // Each on its own schema works.
    let body = shop::gql(
        &server,
        "{ me { phone } }",
        json!({}),
        Some(&customer),
        None,
    )
    .await;
    assert_eq!(body["data"]["me"]["phone"], "+989121234567", "{body}");

    // Over WebSocket: the admin socket refuses a customer's token (4403) ...
    let mut ws = admin_socket(&server).await;
    send(
        &mut ws,
        json!({ "type": "connection_init", "payload": { "Authorization": format!("Bearer {customer}") } }),
    )
    .await;
    match next_frame(&mut ws).await {
        Message::Close(Some(frame)) => assert_eq!(u16::from(frame.code), 4403),
        other => panic!("expected close 4403, got {other:?}"),
    }
    // ... and gives a staff token the same identity as over HTTP.
    let mut ws = admin_socket(&server).await;
    send(
        &mut ws,
        json!({ "type": "connection_init", "payload": { "authorization": format!("Bearer {staff}") } }),
    )
    .await;
    assert_eq!(
        next_frame(&mut ws).await,
        Message::Text(json!({ "type": "connection_ack" }).to_string().into())
    );
    send(
        &mut ws,
        json!({ "type": "subscribe", "id": "1", "payload": { "query": "{ currentStaff { role { isSuperAdmin } } }" } }),
    )
    .await;
    let Message::Text(text) = next_frame(&mut ws).await else {
        panic!("expected a text frame");
    };
    let next: Value = serde_json::from_str(text.as_str()).unwrap();
    assert_eq!(next["type"], "next", "{next}");
    assert_eq!(
        next["payload"]["data"]["currentStaff"]["role"]["isSuperAdmin"],
        true
    );
    // An anonymous admin socket is accepted but gets UNAUTHENTICATED.
    let mut ws = admin_socket(&server).await;
    send(&mut ws, json!({ "type": "connection_init" })).await;
    next_frame(&mut ws).await;
    send(
        &mut ws,
        json!({ "type": "subscribe", "id": "1", "payload": { "query": "{ currentStaff { id } }" } }),
    )
    .await;
    let Message::Text(text) = next_frame(&mut ws).await else {
        panic!("expected a text frame");
    };
    let error: Value = serde_json::from_str(text.as_str()).unwrap();
    assert_eq!(error["type"], "error", "{error}");
    assert_eq!(
        error["payload"][0]["extensions"]["code"], "UNAUTHENTICATED",
        "{error}"
    );
}

#[tokio::test]
async fn every_admin_operation_checks_its_permission() {
    let db = TestDb::postgres().await;
    let (server, sms) = shop::start(&db, &[]).await;
    let customer = shop::sign_in(&server, &sms, "09121234567", None).await;
    let nothing = staff_token(&server, &db, &[]).await;
    let mut only = std::collections::HashMap::new();
    let mut all_but = std::collections::HashMap::new();
    for permission in PERMISSIONS {
        only.insert(*permission, staff_token(&server, &db, &[permission]).await);
        let others: Vec<&str> = PERMISSIONS
            .iter()
            .copied()
            .filter(|p| p != permission)
            .collect();
        all_but.insert(*permission, staff_token(&server, &db, &others).await);
    }

    for (name, document, permission) in OPERATIONS {
        if document.starts_with("subscription") {
            // Over WebSocket: a customer's token is refused at `connection_init` (4403);
            // anonymous and unpermitted staff get the operation's `error` message. (Permitted
            // staff are served; a subscription may stay silent, so that is checked where its
            // events are made, in the tests of its area.)
            let anonymous = subscription_refusal(&server, None, document).await;
            assert!(
                has_code(&anonymous, "UNAUTHENTICATED"),
                "{name} anonymous: {anonymous}"
            );
            let mut ws = admin_socket(&server).await;
            send(
                &mut ws,
                json!({ "type": "connection_init", "payload": { "Authorization": format!("Bearer {customer}") } }),
            )
            .await;
            match next_frame(&mut ws).await {
                Message::Close(Some(frame)) => assert_eq!(u16::from(frame.code), 4403, "{name}"),
                other => panic!("{name} with a customer's token: {other:?}"),
            }
            let denied = subscription_refusal(&server, Some(&all_but[permission]), document).await;
            assert!(
                has_code(&denied, "FORBIDDEN"),
                "{name} without `{permission}`: {denied}"
            );
            continue;
        }
        let anonymous = admin_gql(&server, None, document, json!({})).await;
        assert!(
            has_code(&anonymous, "UNAUTHENTICATED"),
            "{name} without a token: {anonymous}"
        );
        let shop = admin_gql(&server, Some(&customer), document, json!({})).await;
        assert!(
            has_code(&shop, "UNAUTHENTICATED"),
            "{name} with a customer's token: {shop}"
        );
        let allowed = if permission.is_empty() {
            &nothing
        } else {
            assert!(
                PERMISSIONS.contains(permission),
                "{name}: unknown permission {permission}"
            );
            let denied = admin_gql(&server, Some(&all_but[permission]), document, json!({})).await;
            assert!(
                has_code(&denied, "FORBIDDEN"),
                "{name} without `{permission}`: {denied}"
            );
            assert!(!has_code(&denied, "UNAUTHENTICATED"), "{name}: {denied}");
            &only[permission]
        };
        let body = admin_gql(&server, Some(allowed), document, json!({})).await;
        assert!(
            body.get("data").is_some(),
            "{name}: the document did not execute: {body}"
        );
        assert!(
            !has_code(&body, "FORBIDDEN") && !has_code(&body, "UNAUTHENTICATED"),
            "{name} with `{permission}`: {body}"
        );
    }
}

/// Root fields (`Query`, `Mutation`, `Subscription`) and every named type of an SDL.
struct Sdl {
    roots: BTreeSet<String>,
    types: BTreeSet<String>,
}

fn parse_sdl(sdl: &str) -> Sdl {
    let document = async_graphql::parser::parse_schema(sdl).expect("SDL parses");
    let mut root_names: Vec<String> = Vec::new();
    let mut objects = Vec::new();
    let mut types = BTreeSet::new();
    for definition in document.definitions {
        match definition {
            TypeSystemDefinition::Schema(schema) => {
                let schema = schema.node;
                for root in [schema.query, schema.mutation, schema.subscription]
                    .into_iter()
                    .flatten()
                {
                    root_names.push(root.node.to_string());
                }
            }
            TypeSystemDefinition::Type(ty) => {
                let ty = ty.node;
                let name = ty.name.node.to_string();
                types.insert(name.clone());
                if let TypeKind::Object(object) = ty.kind {
                    let fields: Vec<String> = object
                        .fields
                        .iter()
                        .map(|f| f.node.name.node.to_string())
                        .collect();
                    objects.push((name, fields));
                }
            }
            TypeSystemDefinition::Directive(_) => {}
        }
    }
    if root_names.is_empty() {
        root_names = vec!["Query".into(), "Mutation".into(), "Subscription".into()];
    }
    let roots = objects
        .into_iter()
        .filter(|(name, _)| root_names.contains(name))
        .flat_map(|(_, fields)| fields)
        .collect();
    Sdl { roots, types }
}

/// Each named definition's text without descriptions (its fields and their types), by name.
fn definitions(sdl: &str) -> std::collections::HashMap<String, String> {
    let mut blocks = std::collections::HashMap::new();
    for block in sdl.split("\n\n") {
        let mut in_description = false;
        let block: String = block
            .lines()
            .filter(|line| {
                let line = line.trim();
                if line == "\"\"\"" {
                    in_description = !in_description;
                    return false;
                }
                let one_line_description = line.starts_with("\"\"\"") && line.len() > 3;
                !in_description && !one_line_description
            })
            .collect::<Vec<_>>()
            .join("\n");
        let name = block.lines().find_map(|line| {
            let mut words = line.split_whitespace();
            match words.next()? {
                "type" | "input" | "enum" | "scalar" | "interface" | "union" => {
                    Some(words.next()?.trim_end_matches('{').to_string())
                }
                _ => None,
            }
        });
        if let Some(name) = name {
            blocks.insert(name, block.trim().to_string());
        }
    }
    blocks
}

#[test]
fn admin_types_stay_out_of_the_shop_and_every_admin_field_is_in_the_table() {
    let admin = parse_sdl(&server::graphql::admin::sdl());
    let shop = parse_sdl(&server::graphql::shop::sdl());
    assert!(admin.roots.contains("currentStaff") && admin.types.contains("StaffUser"));

    // A type in both schemas must be one that is meant to be shared.
    let leaked: Vec<&String> = admin
        .types
        .intersection(&shop.types)
        .filter(|name| !SHARED_TYPES.contains(&name.as_str()))
        .collect();
    assert!(
        leaked.is_empty(),
        "admin types in the shop schema (add to SHARED_TYPES only if that is intended): {leaked:?}"
    );
    // A shared name must mean the same type in both schemas.
    let admin_sdl = server::graphql::admin::sdl();
    let shop_sdl = server::graphql::shop::sdl();
    let (admin_blocks, shop_blocks) = (definitions(&admin_sdl), definitions(&shop_sdl));
    for name in admin.types.intersection(&shop.types) {
        assert_eq!(
            admin_blocks.get(name.as_str()),
            shop_blocks.get(name.as_str()),
            "{name} is defined differently in the two schemas"
        );
    }
    for name in [
        "StaffUser",
        "Role",
        "AuditEntry",
        "StaffSession",
        "currentStaff",
        "auditLog",
    ] {
        assert!(!shop_sdl.contains(name), "{name} in the shop SDL");
    }

    // Every admin root field is in OPERATIONS (checked for its permission) or PUBLIC.
    let listed: BTreeSet<&str> = OPERATIONS.iter().map(|(name, _, _)| *name).collect();
    for (name, document, _) in OPERATIONS {
        assert!(
            document.contains(name),
            "the document for {name} does not call it"
        );
    }
    let missing: Vec<&String> = admin
        .roots
        .iter()
        .filter(|field| !listed.contains(field.as_str()) && !PUBLIC.contains(&field.as_str()))
        .collect();
    assert!(
        missing.is_empty(),
        "admin root fields missing from OPERATIONS in server/tests/admin_access.rs: {missing:?}"
    );
    let unknown: Vec<&&str> = listed
        .iter()
        .filter(|name| !admin.roots.contains(**name))
        .collect();
    assert!(
        unknown.is_empty(),
        "OPERATIONS names no such field: {unknown:?}"
    );
}

async fn audit_count(db: &TestDb) -> u64 {
    let conn = db.connect().await;
    let n = entity::audit_entries::Entity::find()
        .count(&conn)
        .await
        .unwrap();
    conn.close().await.ok();
    n
}

#[tokio::test]
async fn staff_management_is_guarded_and_audited() {
    let db = TestDb::postgres().await;
    let server = TestServer::start(&db).await;
    let boss_id = create_staff(&db, "boss@example.com", PASSWORD, &["*"]).await;
    let boss = sign_in(&server, "boss@example.com", PASSWORD).await["data"]["signIn"]
        ["accessToken"]
        .as_str()
        .unwrap()
        .to_string();
    let gql = |query: &'static str, variables: Value| {
        let server = &server;
        let boss = boss.clone();
        async move { admin_gql(server, Some(&boss), query, variables).await }
    };

    // Unknown permission names: a user error listing the valid ones.
    let bad = gql(
        "mutation { createRole(name: \"x\", permissions: [\"content\", \"root\"]) { id } }",
        json!({}),
    )
    .await;
    assert_eq!(error_codes(&bad), ["BAD_USER_INPUT"]);
    assert_eq!(first_error(&bad)["extensions"]["field"], "permissions");
    let message = first_error(&bad)["message"].as_str().unwrap();
    for name in PERMISSIONS {
        assert!(message.contains(name), "{message}");
    }
    assert!(message.contains("root"), "{message}");

    let role = gql(
        "mutation { createRole(name: \"Editor\", permissions: [\"content\", \"content\"]) { id name permissions } }",
        json!({}),
    )
    .await;
    let role = &role["data"]["createRole"];
    assert_eq!(role["permissions"], json!(["content"]));
    let role_id = role["id"].as_str().unwrap().to_string();
    let dup = gql(
        "mutation { createRole(name: \"Editor\", permissions: []) { id } }",
        json!({}),
    )
    .await;
    assert_eq!(error_codes(&dup), ["CONFLICT"]);

    let create = "mutation($e: String!, $p: String!, $r: ID!) { createStaff(email: $e, displayName: \"Nima\", password: $p, roleId: $r) { id email status role { name } } }";
    let weak = gql(
        create,
        json!({ "e": "nima@example.com", "p": "short", "r": role_id }),
    )
    .await;
    assert_eq!(error_codes(&weak), ["BAD_USER_INPUT"]);
    assert_eq!(first_error(&weak)["extensions"]["field"], "password");
    let bad_email = gql(create, json!({ "e": "nima", "p": PASSWORD, "r": role_id })).await;
    assert_eq!(first_error(&bad_email)["extensions"]["field"], "email");
    let made = gql(
        create,
        json!({ "e": "Nima@Example.com", "p": PASSWORD, "r": role_id }),
    )
    .await;
    assert_eq!(
        made["data"]["createStaff"]["role"]["name"], "Editor",
        "{made}"
    );
    let nima_id = made["data"]["createStaff"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let again = gql(
        create,
        json!({ "e": "NIMA@example.com", "p": PASSWORD, "r": role_id }),
    )
    .await;
    assert_eq!(error_codes(&again), ["CONFLICT"]);

    // A role change takes effect at the next request, with the same token.
    let nima = sign_in(&server, "nima@example.com", PASSWORD).await["data"]["signIn"]
        ["accessToken"]
        .as_str()
        .unwrap()
        .to_string();
    let list = "{ staffUsers { email } }";
    assert_eq!(
        error_codes(&admin_gql(&server, Some(&nima), list, json!({})).await),
        ["FORBIDDEN"]
    );
    let updated = gql(
        "mutation($id: ID!) { updateRole(id: $id, permissions: [\"content\", \"staff\"]) { permissions } }",
        json!({ "id": role_id }),
    )
    .await;
    assert_eq!(
        updated["data"]["updateRole"]["permissions"],
        json!(["content", "staff"])
    );
    let listed = admin_gql(&server, Some(&nima), list, json!({})).await;
    assert_eq!(
        listed["data"]["staffUsers"],
        json!([{ "email": "boss@example.com" }, { "email": "nima@example.com" }])
    );

    // Nobody disables themselves; the last super admin stays.
    let before = audit_count(&db).await;
    let own = gql(
        "mutation($id: ID!) { disableStaff(id: $id) { id } }",
        json!({ "id": boss_id }),
    )
    .await;
    assert_eq!(error_codes(&own), ["CONFLICT"]);
    let by_nima = admin_gql(
        &server,
        Some(&nima),
        "mutation($id: ID!) { disableStaff(id: $id) { id } }",
        json!({ "id": boss_id }),
    )
    .await;
    assert_eq!(error_codes(&by_nima), ["CONFLICT"], "{by_nima}");
    let demote = gql(
        "mutation($id: ID!, $r: ID!) { updateStaff(id: $id, roleId: $r) { id } }",
        json!({ "id": boss_id, "r": role_id }),
    )
    .await;
    assert_eq!(error_codes(&demote), ["CONFLICT"], "{demote}");
    let roles = gql("{ roles { id name isSuperAdmin } }", json!({})).await;
    let super_role = roles["data"]["roles"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["isSuperAdmin"] == true)
        .unwrap()["id"]
        .clone();
    let strip = gql(
        "mutation($id: ID!) { updateRole(id: $id, permissions: [\"staff\"]) { id } }",
        json!({ "id": super_role }),
    )
    .await;
    assert_eq!(error_codes(&strip), ["CONFLICT"], "{strip}");
    assert_eq!(
        audit_count(&db).await,
        before,
        "refused changes leave no audit entry"
    );
    // Still a super admin.
    let me = gql("{ currentStaff { role { isSuperAdmin } } }", json!({})).await;
    assert_eq!(me["data"]["currentStaff"]["role"]["isSuperAdmin"], true);

    // Other changes go through, each audited.
    let renamed = gql(
        "mutation($id: ID!) { updateStaff(id: $id, displayName: \"Nima K.\") { displayName } }",
        json!({ "id": nima_id }),
    )
    .await;
    assert_eq!(renamed["data"]["updateStaff"]["displayName"], "Nima K.");
    let reset = gql(
        "mutation($id: ID!) { resetStaffPassword(id: $id, password: \"a-brand-new-password\") { id } }",
        json!({ "id": nima_id }),
    )
    .await;
    assert!(reset["errors"].is_null(), "{reset}");
    assert!(!sign_in(&server, "nima@example.com", PASSWORD).await["errors"].is_null());
    assert!(sign_in(&server, "nima@example.com", "a-brand-new-password").await["errors"].is_null());

    let log = "query($first: Int!, $after: String, $staff: ID, $type: String) { auditLog(first: $first, after: $after, staffId: $staff, targetType: $type) { edges { cursor node { staffId action targetType targetId before after } } pageInfo { hasNextPage endCursor } } }";
    let mine = gql(log, json!({ "first": 100, "staff": boss_id })).await;
    let actions: Vec<&str> = mine["data"]["auditLog"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"]["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        [
            "staff.reset_password",
            "staff.update",
            "role.update",
            "staff.create",
            "role.create"
        ]
    );
    let entries = &mine["data"]["auditLog"]["edges"];
    assert_eq!(entries[1]["node"]["before"]["displayName"], "Nima");
    assert_eq!(entries[1]["node"]["after"]["displayName"], "Nima K.");
    assert_eq!(entries[1]["node"]["targetId"], nima_id.as_str());
    assert_eq!(
        entries[2]["node"]["before"]["permissions"],
        json!(["content"])
    );
    assert!(entries[3]["node"]["before"].is_null());
    assert!(
        !mine.to_string().contains("argon2"),
        "a password hash in the log"
    );

    // Paging, newest first, and the target filter.
    let page = gql(log, json!({ "first": 2, "staff": boss_id })).await;
    let page = &page["data"]["auditLog"];
    assert_eq!(page["pageInfo"]["hasNextPage"], true);
    let rest = gql(
        log,
        json!({ "first": 100, "staff": boss_id, "after": page["pageInfo"]["endCursor"] }),
    )
    .await;
    let rest: Vec<&Value> = rest["data"]["auditLog"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| &e["node"]["action"])
        .collect();
    assert_eq!(
        rest,
        [
            &json!("role.update"),
            &json!("staff.create"),
            &json!("role.create")
        ]
    );
    let roles_only = gql(log, json!({ "first": 100, "type": "role" })).await;
    assert!(roles_only["data"]["auditLog"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .all(|e| e["node"]["targetType"] == "role"));
    let bad_cursor = gql(log, json!({ "first": 5, "after": "nonsense" })).await;
    assert_eq!(first_error(&bad_cursor)["extensions"]["field"], "after");
    let bad_first = gql(log, json!({ "first": 0 })).await;
    assert_eq!(first_error(&bad_first)["extensions"]["field"], "first");
}

/// The embedded default runs on SQLite: sign-in, management and the audit log work there too.
#[tokio::test]
async fn staff_sign_in_and_management_work_on_sqlite() {
    let db = TestDb::sqlite();
    let server = TestServer::start(&db).await;
    let boss = staff_token(&server, &db, &["*"]).await;
    let role = admin_gql(
        &server,
        Some(&boss),
        "mutation { createRole(name: \"Editor\", permissions: [\"content\"]) { id } }",
        json!({}),
    )
    .await;
    let role_id = role["data"]["createRole"]["id"].clone();
    assert!(role_id.is_string(), "{role}");
    let made = admin_gql(
        &server,
        Some(&boss),
        "mutation($r: ID!) { createStaff(email: \"E@example.com\", displayName: \"E\", password: \"long-enough-password\", roleId: $r) { id } }",
        json!({ "r": role_id }),
    )
    .await;
    let id = made["data"]["createStaff"]["id"].clone();
    assert!(id.is_string(), "{made}");
    let wrong = sign_in(&server, "e@example.com", "not-the-password").await;
    assert_eq!(error_codes(&wrong), ["UNAUTHENTICATED"]);
    let body = sign_in(&server, "e@EXAMPLE.com", "long-enough-password").await;
    let refresh = body["data"]["signIn"]["refreshToken"].clone();
    assert!(refresh.is_string(), "{body}");
    let rotated = admin_gql(&server, None, REFRESH, json!({ "t": refresh })).await;
    assert!(rotated["errors"].is_null(), "{rotated}");
    let disabled = admin_gql(
        &server,
        Some(&boss),
        "mutation($id: ID!) { disableStaff(id: $id) { status } }",
        json!({ "id": id }),
    )
    .await;
    assert_eq!(disabled["data"]["disableStaff"]["status"], "DISABLED");
    let log = admin_gql(
        &server,
        Some(&boss),
        "{ auditLog(first: 10) { edges { node { action } } } }",
        json!({}),
    )
    .await;
    let actions: Vec<&str> = log["data"]["auditLog"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"]["action"].as_str().unwrap())
        .collect();
    // The newest three; the helper's own role and staff user came first, unattributed.
    assert_eq!(
        actions[..3],
        ["staff.disable", "staff.create", "role.create"]
    );
}

/// `token` with its claims changed by `change` and signed again with the key `shop::start`
/// configures (kid `a`), as an attacker holding an old token and the key would forge it.
fn resigned(token: &str, change: impl Fn(&mut Value)) -> String {
    use base64::Engine;
    let payload = token.split('.').nth(1).expect("a JWT");
    let mut claims: Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .unwrap(),
    )
    .unwrap();
    change(&mut claims);
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
    header.kid = Some("a".into());
    jsonwebtoken::encode(
        &header,
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(b"key-a-secret-that-is-at-least-32-bytes-long"),
    )
    .unwrap()
}

/// One digest of every row of every table: equal before and after means nothing was written.
async fn database_fingerprint(db: &TestDb) -> String {
    use sea_orm::{ConnectionTrait, Statement};
    let conn = db.connect().await;
    let backend = conn.get_database_backend();
    let tables = conn
        .query_all(Statement::from_string(
            backend,
            "SELECT table_name::text AS t FROM information_schema.tables \
             WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' ORDER BY 1",
        ))
        .await
        .unwrap();
    let mut digest = String::new();
    for row in tables {
        let table: String = row.try_get("", "t").unwrap();
        let sql = format!(
            "SELECT coalesce(md5(string_agg(r::text, '|' ORDER BY r::text)), '') AS h FROM \"{table}\" r"
        );
        let row = conn
            .query_one(Statement::from_string(backend, sql))
            .await
            .unwrap()
            .unwrap();
        let hash: String = row.try_get("", "h").unwrap();
        digest.push_str(&format!("{table}:{hash}\n"));
    }
    conn.close().await.ok();
    digest
}

/// Whether a subscription with `token` is refused: 4403 at `connection_init`, or an `error`
/// message coded UNAUTHENTICATED or FORBIDDEN.
async fn subscription_refused(server: &TestServer, token: &str, document: &str) -> bool {
    let mut ws = admin_socket(server).await;
    send(
        &mut ws,
        json!({ "type": "connection_init", "payload": { "Authorization": format!("Bearer {token}") } }),
    )
    .await;
    match next_frame(&mut ws).await {
        Message::Close(Some(frame)) => return u16::from(frame.code) == 4403,
        Message::Text(text) if text.contains("connection_ack") => {}
        other => panic!("{document}: unexpected {other:?}"),
    }
    send(
        &mut ws,
        json!({ "id": "1", "type": "subscribe", "payload": { "query": document } }),
    )
    .await;
    match next_frame(&mut ws).await {
        Message::Text(text) => {
            let message: Value = serde_json::from_str(text.as_str()).unwrap();
            let body = json!({ "errors": message["payload"] });
            message["type"] == "error"
                && (has_code(&body, "UNAUTHENTICATED") || has_code(&body, "FORBIDDEN"))
        }
        Message::Close(Some(frame)) => u16::from(frame.code) == 4403,
        other => panic!("{document}: unexpected {other:?}"),
    }
}

#[tokio::test]
async fn expired_and_disabled_staff_tokens_do_nothing_anywhere() {
    let db = TestDb::postgres().await;
    let (server, _sms) = shop::start(&db, common::QUIET_BACKGROUND).await;
    let boss = staff_token(&server, &db, &["*"]).await;

    // A super admin's token, expired an hour ago (beyond any leeway); the same forge with the
    // claims unchanged must be accepted, so a refusal below is the expiry's doing.
    let admin_token = staff_token(&server, &db, &["*"]).await;
    let control = resigned(&admin_token, |_| {});
    assert!(
        current_email(&server, &control).await["errors"].is_null(),
        "the forge makes valid tokens"
    );
    let now = chrono::Utc::now().timestamp();
    let expired = resigned(&admin_token, |claims| {
        claims["iat"] = json!(now - 7200);
        claims["nbf"] = json!(now - 7200);
        claims["exp"] = json!(now - 3600);
    });

    // A super admin disabled after signing in: their token has not expired.
    let email = "disabled-admin@example.com";
    let id = create_staff(&db, email, PASSWORD, &["*"]).await;
    let disabled = sign_in(&server, email, PASSWORD).await["data"]["signIn"]["accessToken"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(current_email(&server, &disabled).await["errors"].is_null());
    let off = admin_gql(
        &server,
        Some(&boss),
        "mutation($id: ID!) { disableStaff(id: $id) { status } }",
        json!({ "id": id }),
    )
    .await;
    assert_eq!(off["data"]["disableStaff"]["status"], "DISABLED", "{off}");

    let before = database_fingerprint(&db).await;
    for (name, document, _) in OPERATIONS {
        for (who, token) in [("expired", &expired), ("disabled", &disabled)] {
            if document.starts_with("subscription") {
                assert!(
                    subscription_refused(&server, token, document).await,
                    "{name} with the {who} token was not refused"
                );
                continue;
            }
            let body = admin_gql(&server, Some(token), document, json!({})).await;
            assert!(
                has_code(&body, "UNAUTHENTICATED") || has_code(&body, "FORBIDDEN"),
                "{name} with the {who} token: {body}"
            );
            assert!(
                body["data"].is_null() || body["data"][*name].is_null(),
                "{name} with the {who} token returned data: {body}"
            );
        }
    }
    assert_eq!(
        database_fingerprint(&db).await,
        before,
        "an operation with an expired or disabled token changed the database"
    );
}
