//! Content pages, banners and promotions, end to end over HTTP against the real server on
//! PostgreSQL: staff manage them on the admin schema (with audit entries), the shop shows only
//! what is published, page HTML is sanitized, and a promotion created by staff is applied by
//! customers' carts with the right discount and within its limits.

mod admin;
mod common;
#[allow(dead_code)]
mod kavenegar_sim;
mod shop;

use chrono::{Duration, Utc};
use common::seed::{self, ProductSpec};
use common::{error_codes, TestDb, TestServer};
use entity::audit_entries;
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder};
use serde_json::{json, Value};

use admin::{admin_gql, staff_token};

async fn staff(server: &TestServer, token: &str, query: &str, variables: Value) -> Value {
    admin_gql(server, Some(token), query, variables).await
}

fn ok(body: &Value) -> &Value {
    assert!(body["errors"].is_null(), "unexpected errors: {body}");
    &body["data"]
}

/// The single error's code and `field`.
fn error(body: &Value) -> (String, String) {
    let codes = error_codes(body);
    assert_eq!(codes.len(), 1, "{body}");
    (
        codes[0].clone(),
        body["errors"][0]["extensions"]["field"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
    )
}

async fn audit_actions(conn: &DatabaseConnection, target_id: &str) -> Vec<String> {
    audit_entries::Entity::find()
        .filter(audit_entries::Column::TargetId.eq(target_id))
        .order_by_asc(audit_entries::Column::Id)
        .all(conn)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.action)
        .collect()
}

const PAGE: &str = "id slug title body published";
const CREATE_PAGE: &str =
    "mutation($i: CreatePageInput!) { createPage(input: $i) { id slug title body published } }";
const UPDATE_PAGE: &str = "mutation($id: ID!, $i: UpdatePageInput!) { updatePage(id: $id, input: $i) { id slug title body published } }";
const SHOP_PAGE: &str = "query($s: String!) { page(slug: $s) { slug title body html } }";

#[tokio::test]
async fn pages_are_managed_by_staff_and_shown_only_when_published() {
    let db = TestDb::postgres().await;
    let conn = db.connect().await;
    let server = TestServer::start(&db).await;
    let token = staff_token(&server, &db, &["content"]).await;

    let markdown = "# Shipping\n\nWe ship **everywhere** in [Iran](https://example.com/iran).\n\n\
                    <script>alert('stolen')</script>\n\n\
                    <a href=\"javascript:alert(1)\" onclick=\"alert(2)\">click</a>";
    let created = staff(
        &server,
        &token,
        CREATE_PAGE,
        json!({ "i": { "slug": "shipping", "title": "  Shipping  ", "body": markdown } }),
    )
    .await;
    let page = ok(&created)["createPage"].clone();
    assert_eq!(page["slug"], "shipping");
    assert_eq!(page["title"], "Shipping");
    assert_eq!(page["body"], markdown);
    assert_eq!(page["published"], false);
    let id = page["id"].as_str().unwrap().to_string();

    // Unpublished: the shop does not know it.
    let hidden = server.shop(SHOP_PAGE, json!({ "s": "shipping" })).await;
    assert_eq!(error_codes(&hidden), ["NOT_FOUND"], "{hidden}");

    let updated = staff(
        &server,
        &token,
        UPDATE_PAGE,
        json!({ "id": id, "i": { "published": true } }),
    )
    .await;
    assert_eq!(ok(&updated)["updatePage"]["published"], true);
    assert_eq!(ok(&updated)["updatePage"]["title"], "Shipping");

    let shown = server.shop(SHOP_PAGE, json!({ "s": "shipping" })).await;
    let shown = &ok(&shown)["page"];
    assert_eq!(shown["title"], "Shipping");
    assert_eq!(
        shown["body"], markdown,
        "the Markdown comes back as written"
    );
    let html = shown["html"].as_str().unwrap();
    assert!(html.contains("<h1>Shipping</h1>"), "{html}");
    assert!(html.contains("<strong>everywhere</strong>"), "{html}");
    assert!(html.contains("href=\"https://example.com/iran\""), "{html}");
    assert!(!html.contains("<script"), "{html}");
    assert!(!html.contains("alert"), "{html}");
    assert!(!html.contains("javascript:"), "{html}");
    assert!(!html.contains("onclick"), "{html}");

    // Validation: nothing is written for bad input.
    for (input, field) in [
        (
            json!({ "slug": "Bad Slug", "title": "x", "body": "" }),
            "slug",
        ),
        (
            json!({ "slug": "ok-slug", "title": "   ", "body": "" }),
            "title",
        ),
        (
            json!({ "slug": "ok-slug", "title": "x".repeat(201), "body": "" }),
            "title",
        ),
    ] {
        let body = staff(&server, &token, CREATE_PAGE, json!({ "i": input })).await;
        assert_eq!(
            error(&body),
            ("BAD_USER_INPUT".into(), field.into()),
            "{body}"
        );
    }
    let taken = staff(
        &server,
        &token,
        CREATE_PAGE,
        json!({ "i": { "slug": "shipping", "title": "Again", "body": "" } }),
    )
    .await;
    assert_eq!(error(&taken).0, "CONFLICT");
    let other = staff(
        &server,
        &token,
        CREATE_PAGE,
        json!({ "i": { "slug": "terms", "title": "Terms", "body": "", "published": true } }),
    )
    .await;
    let other_id = ok(&other)["createPage"]["id"].as_str().unwrap().to_string();
    let renamed = staff(
        &server,
        &token,
        UPDATE_PAGE,
        json!({ "id": other_id, "i": { "slug": "shipping" } }),
    )
    .await;
    assert_eq!(error(&renamed).0, "CONFLICT");

    let list = staff(
        &server,
        &token,
        &format!("{{ contentPages {{ {PAGE} }} }}"),
        json!({}),
    )
    .await;
    let slugs: Vec<&str> = ok(&list)["contentPages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["slug"].as_str().unwrap())
        .collect();
    assert_eq!(slugs, ["shipping", "terms"]);

    let deleted = staff(
        &server,
        &token,
        "mutation($id: ID!) { deletePage(id: $id) { slug } }",
        json!({ "id": id }),
    )
    .await;
    assert_eq!(ok(&deleted)["deletePage"]["slug"], "shipping");
    let gone = server.shop(SHOP_PAGE, json!({ "s": "shipping" })).await;
    assert_eq!(error_codes(&gone), ["NOT_FOUND"]);
    let again = staff(
        &server,
        &token,
        "mutation($id: ID!) { deletePage(id: $id) { slug } }",
        json!({ "id": id }),
    )
    .await;
    assert_eq!(error(&again).0, "NOT_FOUND");

    assert_eq!(
        audit_actions(&conn, &id).await,
        [
            "content_page.create",
            "content_page.update",
            "content_page.delete"
        ]
    );
    // The refused rename wrote nothing.
    assert_eq!(
        audit_actions(&conn, &other_id).await,
        ["content_page.create"]
    );

    // Another permission is not enough.
    let orders_only = staff_token(&server, &db, &["orders"]).await;
    let refused = staff(
        &server,
        &orders_only,
        CREATE_PAGE,
        json!({ "i": { "slug": "x", "title": "x", "body": "" } }),
    )
    .await;
    assert_eq!(error(&refused).0, "FORBIDDEN");
}

const CREATE_BANNER: &str = "mutation($i: CreateBannerInput!) { createBanner(input: $i) { id title image imageUrl linkUrl position published startsAt endsAt } }";
const SHOP_BANNERS: &str = "{ banners { id title imageUrl linkUrl position } }";

#[tokio::test]
async fn banners_show_when_published_and_within_their_window() {
    let db = TestDb::postgres().await;
    let conn = db.connect().await;
    let server = TestServer::start(&db).await;
    let token = staff_token(&server, &db, &["content"]).await;
    let now = Utc::now();
    let hour = Duration::hours(1);

    let mut ids = std::collections::HashMap::new();
    for (title, image, link, position, published, starts, ends) in [
        (
            "second",
            "banners/b.jpg",
            None,
            20,
            true,
            Some(now - hour),
            Some(now + hour),
        ),
        (
            "first",
            "https://cdn.example.com/a.jpg",
            Some("/c/tea"),
            10,
            true,
            None,
            None,
        ),
        ("draft", "banners/c.jpg", None, 0, false, None, None),
        (
            "expired",
            "banners/d.jpg",
            None,
            1,
            true,
            None,
            Some(now - hour),
        ),
        (
            "future",
            "banners/e.jpg",
            None,
            2,
            true,
            Some(now + hour),
            None,
        ),
    ] {
        let body = staff(
            &server,
            &token,
            CREATE_BANNER,
            json!({ "i": {
                "title": title, "image": image, "linkUrl": link, "position": position,
                "published": published, "startsAt": starts, "endsAt": ends,
            } }),
        )
        .await;
        let banner = &ok(&body)["createBanner"];
        assert_eq!(banner["image"], image);
        ids.insert(title, banner["id"].as_str().unwrap().to_string());
    }

    let shown = server.shop(SHOP_BANNERS, json!({})).await;
    let shown = ok(&shown)["banners"].as_array().unwrap().clone();
    let titles: Vec<&str> = shown.iter().map(|b| b["title"].as_str().unwrap()).collect();
    assert_eq!(titles, ["first", "second"]);
    assert_eq!(shown[0]["imageUrl"], "https://cdn.example.com/a.jpg");
    assert_eq!(shown[0]["linkUrl"], "/c/tea");
    let key_url = shown[1]["imageUrl"].as_str().unwrap();
    assert!(key_url.contains("banners/b.jpg"), "{key_url}");
    assert!(shown[1]["linkUrl"].is_null());

    // Clearing the expired banner's end shows it (position 1: before the others).
    let update = "mutation($id: ID!, $i: UpdateBannerInput!) { updateBanner(id: $id, input: $i) { endsAt position } }";
    let body = staff(
        &server,
        &token,
        update,
        json!({ "id": ids["expired"], "i": { "endsAt": null } }),
    )
    .await;
    assert!(ok(&body)["updateBanner"]["endsAt"].is_null());
    assert_eq!(ok(&body)["updateBanner"]["position"], 1);
    let shown = server.shop(SHOP_BANNERS, json!({})).await;
    let titles: Vec<String> = ok(&shown)["banners"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["title"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(titles, ["expired", "first", "second"]);

    // Bad input: named field, nothing written.
    let count_before = ok(&staff(&server, &token, "{ banners { id } }", json!({})).await)
        ["banners"]
        .as_array()
        .unwrap()
        .len();
    for (input, field) in [
        (json!({ "title": "x", "image": "../secret" }), "image"),
        (
            json!({ "title": "x", "image": "javascript:alert(1)" }),
            "image",
        ),
        (json!({ "title": "", "image": "banners/x.jpg" }), "title"),
        (
            json!({ "title": "x", "image": "banners/x.jpg", "linkUrl": "javascript:alert(1)" }),
            "linkUrl",
        ),
        (
            json!({ "title": "x", "image": "banners/x.jpg", "position": -1 }),
            "position",
        ),
        (
            json!({ "title": "x", "image": "banners/x.jpg", "startsAt": now, "endsAt": now - hour }),
            "endsAt",
        ),
    ] {
        let body = staff(&server, &token, CREATE_BANNER, json!({ "i": input })).await;
        assert_eq!(
            error(&body),
            ("BAD_USER_INPUT".into(), field.into()),
            "{body}"
        );
    }
    // An end before the stored start, on update.
    let body = staff(
        &server,
        &token,
        update,
        json!({ "id": ids["second"], "i": { "endsAt": now - Duration::hours(2) } }),
    )
    .await;
    assert_eq!(error(&body), ("BAD_USER_INPUT".into(), "endsAt".into()));
    let count_after = ok(&staff(&server, &token, "{ banners { id } }", json!({})).await)["banners"]
        .as_array()
        .unwrap()
        .len();
    assert_eq!(count_before, count_after);

    let body = staff(
        &server,
        &token,
        "mutation($id: ID!) { deleteBanner(id: $id) { title } }",
        json!({ "id": ids["first"] }),
    )
    .await;
    assert_eq!(ok(&body)["deleteBanner"]["title"], "first");
    let shown = server.shop(SHOP_BANNERS, json!({})).await;
    assert_eq!(ok(&shown)["banners"].as_array().unwrap().len(), 2);
    assert_eq!(
        audit_actions(&conn, &ids["first"]).await,
        ["banner.create", "banner.delete"]
    );
    assert_eq!(
        audit_actions(&conn, &ids["expired"]).await,
        ["banner.create", "banner.update"]
    );
    assert_eq!(
        audit_actions(&conn, &ids["second"]).await,
        ["banner.create"],
        "a refused update writes no audit entry"
    );
}

const CREATE_PROMOTION: &str = "mutation($i: CreatePromotionInput!) { createPromotion(input: $i) { id code kind percentage amount minSubtotal maxDiscount usageLimit perCustomerLimit usedCount active startsAt endsAt } }";
const CART: &str = "couponCode couponProblem subtotal discount grandTotal";

async fn add_to_cart(server: &TestServer, token: &str, variant: i64, quantity: i32) {
    let body = shop::gql(
        server,
        &format!(
            "mutation($v: ID!, $q: Int!) {{ addToCart(variantId: $v, quantity: $q) {{ {CART} }} }}"
        ),
        json!({ "v": variant.to_string(), "q": quantity }),
        Some(token),
        None,
    )
    .await;
    ok(&body);
}

async fn apply_coupon(server: &TestServer, token: &str, code: &str) -> Value {
    shop::gql(
        server,
        &format!("mutation($c: String!) {{ applyCoupon(code: $c) {{ {CART} }} }}"),
        json!({ "c": code }),
        Some(token),
        None,
    )
    .await
}

async fn checkout(server: &TestServer, token: &str) -> Value {
    let address = shop::add_home_address(server, token).await;
    let body = shop::gql(
        server,
        "mutation($i: CheckoutInput!) { checkout(input: $i) { subtotal discount couponCode } }",
        json!({ "i": { "addressId": address } }),
        Some(token),
        None,
    )
    .await;
    ok(&body)["checkout"].clone()
}

#[tokio::test]
async fn a_promotion_made_by_staff_discounts_carts_within_its_limits() {
    let db = TestDb::postgres().await;
    let conn = db.connect().await;
    let (server, sms) = shop::start(&db, &[]).await;
    let token = staff_token(&server, &db, &["content"]).await;
    let mut spec = ProductSpec::new(700, "Saffron");
    spec.variants = vec![(Some(1_234_567), 50.0)];
    seed::product(&conn, &spec).await;
    let variant = entity::variants::Entity::find()
        .filter(entity::variants::Column::MahakId.eq(7000))
        .one(&conn)
        .await
        .unwrap()
        .unwrap()
        .id;

    // Validation first: every refusal names its field and writes nothing.
    let now = Utc::now();
    for (input, code, field) in [
        (
            json!({ "code": "P0", "percentage": 10 }),
            "BAD_USER_INPUT",
            "code",
        ),
        (
            json!({ "code": "ZERO", "percentage": 0 }),
            "BAD_USER_INPUT",
            "percentage",
        ),
        (
            json!({ "code": "HUGE", "percentage": 101 }),
            "BAD_USER_INPUT",
            "percentage",
        ),
        (
            json!({ "code": "FREE", "amount": 0 }),
            "BAD_USER_INPUT",
            "amount",
        ),
        (
            json!({ "code": "BOTH", "percentage": 5, "amount": 5 }),
            "BAD_USER_INPUT",
            "amount",
        ),
        (json!({ "code": "NONE" }), "BAD_USER_INPUT", "percentage"),
        (
            json!({ "code": "BACKWARDS", "percentage": 5, "startsAt": now, "endsAt": now - Duration::days(1) }),
            "BAD_USER_INPUT",
            "endsAt",
        ),
        (
            json!({ "code": "LIMITS", "percentage": 5, "usageLimit": 0 }),
            "BAD_USER_INPUT",
            "usageLimit",
        ),
        (
            json!({ "code": "MINUS", "percentage": 5, "minSubtotal": -1 }),
            "BAD_USER_INPUT",
            "minSubtotal",
        ),
    ] {
        let body = staff(&server, &token, CREATE_PROMOTION, json!({ "i": input })).await;
        assert_eq!(error(&body), (code.into(), field.into()), "{input}: {body}");
    }
    let none = staff(&server, &token, "{ promotions { id } }", json!({})).await;
    assert_eq!(ok(&none)["promotions"], json!([]));

    // 10% off, at most 200,000 Rial, on subtotals from 1,000,000; twice in all, once each.
    let body = staff(
        &server,
        &token,
        CREATE_PROMOTION,
        json!({ "i": {
            "code": "STAFF10", "description": "Autumn", "percentage": 10,
            "minSubtotal": 1_000_000, "maxDiscount": 200_000,
            "usageLimit": 2, "perCustomerLimit": 1,
            "startsAt": now - Duration::minutes(5), "endsAt": now + Duration::days(7),
        } }),
    )
    .await;
    let promotion = ok(&body)["createPromotion"].clone();
    assert_eq!(promotion["kind"], "PERCENTAGE");
    assert_eq!(promotion["percentage"], 10);
    assert!(promotion["amount"].is_null());
    assert_eq!(promotion["usedCount"], 0);
    assert_eq!(promotion["active"], true);
    let id = promotion["id"].as_str().unwrap().to_string();
    let duplicate = staff(
        &server,
        &token,
        CREATE_PROMOTION,
        json!({ "i": { "code": "STAFF10", "amount": 1000 } }),
    )
    .await;
    assert_eq!(error(&duplicate).0, "CONFLICT");

    // First customer: one unit is 1,234,567 -> 10% = 123,456.7 -> 123,457 (half up).
    let alice = shop::sign_in(&server, &sms, "09123330001", None).await;
    add_to_cart(&server, &alice, variant, 1).await;
    let cart = apply_coupon(&server, &alice, "STAFF10").await;
    let cart = &ok(&cart)["applyCoupon"];
    assert_eq!(cart["subtotal"], 1_234_567);
    assert_eq!(cart["discount"], 123_457);
    assert_eq!(cart["couponCode"], "STAFF10");
    // Two units: 246,913.4 is capped at 200,000.
    add_to_cart(&server, &alice, variant, 1).await;
    let cart = shop::gql(
        &server,
        &format!("{{ cart {{ {CART} }} }}"),
        json!({}),
        Some(&alice),
        None,
    )
    .await;
    assert_eq!(ok(&cart)["cart"]["discount"], 200_000);
    let order = checkout(&server, &alice).await;
    assert_eq!(order["discount"], 200_000);
    assert_eq!(order["couponCode"], "STAFF10");

    // Alice has used her one time.
    add_to_cart(&server, &alice, variant, 1).await;
    let again = apply_coupon(&server, &alice, "STAFF10").await;
    assert_eq!(error(&again), ("BAD_USER_INPUT".into(), "code".into()));

    // Bob: below the minimum first, then the second and last use.
    let bob = shop::sign_in(&server, &sms, "09123330002", None).await;
    let mut cheap = ProductSpec::new(701, "Tea");
    cheap.variants = vec![(Some(500_000), 50.0)];
    seed::product(&conn, &cheap).await;
    let tea = entity::variants::Entity::find()
        .filter(entity::variants::Column::MahakId.eq(7010))
        .one(&conn)
        .await
        .unwrap()
        .unwrap()
        .id;
    add_to_cart(&server, &bob, tea, 1).await;
    let low = apply_coupon(&server, &bob, "STAFF10").await;
    assert_eq!(error(&low).0, "BAD_USER_INPUT");
    add_to_cart(&server, &bob, tea, 1).await;
    let cart = apply_coupon(&server, &bob, "STAFF10").await;
    assert_eq!(ok(&cart)["applyCoupon"]["discount"], 100_000);
    let order = checkout(&server, &bob).await;
    assert_eq!(order["discount"], 100_000);

    // The overall limit is reached.
    let carol = shop::sign_in(&server, &sms, "09123330003", None).await;
    add_to_cart(&server, &carol, variant, 1).await;
    let used_up = apply_coupon(&server, &carol, "STAFF10").await;
    assert_eq!(error(&used_up).0, "BAD_USER_INPUT");
    let listed = staff(
        &server,
        &token,
        "{ promotions { code usedCount } }",
        json!({}),
    )
    .await;
    assert_eq!(
        ok(&listed)["promotions"],
        json!([{ "code": "STAFF10", "usedCount": 2 }])
    );

    // Raising the limit lets Carol use it; deactivating takes it away again.
    let update = "mutation($id: ID!, $i: UpdatePromotionInput!) { updatePromotion(id: $id, input: $i) { usageLimit amount percentage kind maxDiscount active } }";
    let body = staff(
        &server,
        &token,
        update,
        json!({ "id": id, "i": { "usageLimit": 3, "amount": 50_000, "maxDiscount": null } }),
    )
    .await;
    let updated = &ok(&body)["updatePromotion"];
    assert_eq!(updated["usageLimit"], 3);
    assert_eq!(updated["kind"], "FIXED_AMOUNT");
    assert_eq!(updated["amount"], 50_000);
    assert!(updated["percentage"].is_null());
    assert!(updated["maxDiscount"].is_null());
    let cart = apply_coupon(&server, &carol, "STAFF10").await;
    assert_eq!(ok(&cart)["applyCoupon"]["discount"], 50_000);
    let body = staff(
        &server,
        &token,
        "mutation($id: ID!) { deactivatePromotion(id: $id) { active } }",
        json!({ "id": id }),
    )
    .await;
    assert_eq!(ok(&body)["deactivatePromotion"]["active"], false);
    let cart = shop::gql(
        &server,
        &format!("{{ cart {{ {CART} }} }}"),
        json!({}),
        Some(&carol),
        None,
    )
    .await;
    let cart = &ok(&cart)["cart"];
    assert_eq!(cart["discount"], 0);
    assert!(cart["couponProblem"].as_str().is_some(), "{cart}");
    let bad = staff(
        &server,
        &token,
        update,
        json!({ "id": id, "i": { "percentage": 150 } }),
    )
    .await;
    assert_eq!(error(&bad), ("BAD_USER_INPUT".into(), "percentage".into()));

    assert_eq!(
        audit_actions(&conn, &id).await,
        [
            "promotion.create",
            "promotion.update",
            "promotion.deactivate"
        ]
    );
}

/// The same rules on SQLite (the embedded default), through the domain functions.
#[tokio::test]
async fn content_rules_on_sqlite() {
    use server::content::{banners, pages, promotions};
    let db = TestDb::sqlite();
    let conn = db.connect().await;
    let staff_id = uuid::Uuid::now_v7();
    let now = Utc::now();

    let page = pages::create(
        &conn,
        staff_id,
        pages::NewPage {
            slug: "about".into(),
            title: "About".into(),
            body: "**hi**".into(),
            published: false,
        },
    )
    .await
    .unwrap();
    assert_eq!(
        pages::published(&conn, "about").await.unwrap_err().code(),
        "NOT_FOUND"
    );
    pages::update(
        &conn,
        staff_id,
        page.id,
        pages::PagePatch {
            published: Some(true),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(
        pages::published(&conn, "about").await.unwrap().title,
        "About"
    );
    let taken = pages::create(
        &conn,
        staff_id,
        pages::NewPage {
            slug: "about".into(),
            title: "Again".into(),
            body: String::new(),
            published: true,
        },
    )
    .await
    .unwrap_err();
    assert_eq!(taken.code(), "CONFLICT");

    for (title, starts, ends) in [
        (
            "now",
            Some(now - Duration::minutes(1)),
            Some(now + Duration::hours(1)),
        ),
        ("later", Some(now + Duration::hours(1)), None),
        ("over", None, Some(now - Duration::seconds(1))),
    ] {
        banners::create(
            &conn,
            staff_id,
            banners::NewBanner {
                title: title.into(),
                image: "banners/x.jpg".into(),
                link_url: None,
                position: 0,
                starts_at: starts,
                ends_at: ends,
                published: true,
            },
        )
        .await
        .unwrap();
    }
    let visible: Vec<String> = banners::visible(&conn, Utc::now())
        .await
        .unwrap()
        .into_iter()
        .map(|b| b.title)
        .collect();
    assert_eq!(visible, ["now"]);

    let promotion = promotions::create(
        &conn,
        staff_id,
        promotions::NewPromotion {
            code: "SQLITE5".into(),
            description: String::new(),
            discount: promotions::Discount::Percentage(5),
            min_subtotal: 0,
            max_discount: None,
            usage_limit: None,
            per_customer_limit: None,
            starts_at: None,
            ends_at: None,
            active: true,
        },
    )
    .await
    .unwrap();
    assert_eq!(promotion.kind, "percent");
    assert_eq!(promotion.value, 500);
    let off = promotions::deactivate(&conn, staff_id, promotion.id)
        .await
        .unwrap();
    assert!(!off.active);
    let entries = audit_entries::Entity::find().all(&conn).await.unwrap();
    assert_eq!(entries.len(), 7, "2 pages, 3 banners, 2 promotion changes");
    assert!(entries.iter().all(|e| e.staff_user_id == Some(staff_id)));
}
