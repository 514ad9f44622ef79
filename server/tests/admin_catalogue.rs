//! The admin catalogue (merchandising) end to end: the real server binary, real HTTP, staff
//! signed in over `/admin/graphql`; the catalogue seeded as sync writes it. The list, edits
//! and bulk publish run on PostgreSQL and on SQLite (the SQL differs per backend); the stock
//! view against a checkout's reservation and the statement count run on PostgreSQL.

mod admin;
mod common;
#[allow(dead_code)]
mod kavenegar_sim;
mod shop;

use std::collections::BTreeSet;

use common::seed::{self, ProductSpec};
use common::{error_codes, TestDb, TestServer};
use entity::{audit_entries, category_listings, variant_stock, warehouses};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, DatabaseConnection, EntityTrait, NotSet, QueryFilter, QueryOrder,
};
use serde_json::{json, Value};

const PRODUCTS: &str = "query($first: Int, $after: String, $filter: AdminProductFilter, $sort: AdminProductSort) {
  products(first: $first, after: $after, filter: $filter, sort: $sort) {
    totalCount
    pageInfo { hasNextPage endCursor }
    edges { cursor node { id name slug published visibleInShop deletedAt minPrice totalAvailable
      category { id name published }
      images { url }
      variants { id price stock { onHand reserved available warehouses { warehouseId quantity } } } } }
  }
}";

struct Admin {
    server: TestServer,
    token: String,
    conn: DatabaseConnection,
}

impl Admin {
    async fn gql(&self, query: &str, variables: Value) -> Value {
        admin::admin_gql(&self.server, Some(&self.token), query, variables).await
    }

    async fn ok(&self, query: &str, variables: Value) -> Value {
        let body = self.gql(query, variables).await;
        assert!(body["errors"].is_null(), "{body}");
        body["data"].clone()
    }

    /// Every product matching `filter` in `sort` order, read in pages of `page`; checks
    /// `totalCount` against what the pages held and that no product comes twice.
    async fn list(&self, filter: Value, sort: &str, page: i64) -> Vec<Value> {
        let mut all = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let data = self
                .ok(
                    PRODUCTS,
                    json!({ "first": page, "after": after, "filter": filter, "sort": sort }),
                )
                .await;
            let products = &data["products"];
            for edge in products["edges"].as_array().unwrap() {
                all.push(edge["node"].clone());
            }
            if products["pageInfo"]["hasNextPage"] == json!(false) {
                assert_eq!(products["totalCount"], all.len(), "{filter} {sort}");
                break;
            }
            after = Some(
                products["pageInfo"]["endCursor"]
                    .as_str()
                    .unwrap()
                    .to_string(),
            );
        }
        let ids: BTreeSet<&str> = all.iter().map(|p| p["id"].as_str().unwrap()).collect();
        assert_eq!(ids.len(), all.len(), "a product came twice: {all:?}");
        all
    }

    async fn names(&self, filter: Value, sort: &str) -> Vec<String> {
        names(&self.list(filter, sort, 2).await)
    }
}

fn names(products: &[Value]) -> Vec<String> {
    products
        .iter()
        .map(|p| p["name"].as_str().unwrap().to_string())
        .collect()
}

fn set(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|n| (*n).to_string()).collect()
}

fn sorted(names: Vec<String>) -> BTreeSet<String> {
    names.into_iter().collect()
}

/// The seeded catalogue: five products covering every filter.
struct Catalogue {
    tea: i64,
    black_tea: i64,
    coffee: i64,
    sugar: i64,
    salt: i64,
    teas: i64,
    hidden_category: i64,
}

const TEA: &str = "چای سبز";
/// Written with Arabic ي, as Mahak often sends it (displayed with Persian ی).
const BLACK_TEA: &str = "چاي سياه";
const BLACK_TEA_DISPLAY: &str = "چای سیاه";

async fn seed_catalogue(conn: &DatabaseConnection) -> Catalogue {
    let teas = seed::category(conn, 10, "چای", "tea", 1).await;
    let hidden = seed::category(conn, 11, "قهوه", "coffee", 2).await;
    category_listings::Entity::update_many()
        .col_expr(category_listings::Column::Published, false.into())
        .filter(category_listings::Column::CategoryId.eq(hidden.id))
        .exec(conn)
        .await
        .unwrap();

    let mut tea = ProductSpec::new(1001, TEA);
    tea.category_mahak_id = Some(teas.mahak_id);
    tea.variants = vec![(Some(100_000), 5.5)];
    let mut black = ProductSpec::new(1002, BLACK_TEA);
    black.category_mahak_id = Some(teas.mahak_id);
    black.published = false;
    black.variants = vec![(Some(50_000), 0.0)];
    let mut coffee = ProductSpec::new(1003, "Coffee");
    coffee.category_mahak_id = Some(hidden.mahak_id);
    coffee.deleted = true;
    coffee.variants = vec![(Some(200_000), 2.0)];
    let mut sugar = ProductSpec::new(1004, "Sugar");
    sugar.variants = vec![(None, 10.0)];
    let mut salt = ProductSpec::new(1005, "Salt");
    salt.variants = vec![(Some(30_000), 1.0)];
    Catalogue {
        tea: seed::product(conn, &tea).await,
        black_tea: seed::product(conn, &black).await,
        coffee: seed::product(conn, &coffee).await,
        sugar: seed::product(conn, &sugar).await,
        salt: seed::product(conn, &salt).await,
        teas: teas.id,
        hidden_category: hidden.id,
    }
}

async fn start_admin(db: &TestDb, server: TestServer) -> Admin {
    let token = admin::staff_token(&server, db, &["catalogue"]).await;
    Admin {
        server,
        token,
        conn: db.connect().await,
    }
}

async fn lists_filters_sorts_and_pages(db: TestDb) {
    let conn = db.connect().await;
    let seeded = seed_catalogue(&conn).await;
    conn.close().await.ok();
    let admin = start_admin(&db, TestServer::start(&db).await).await;

    // Everything, unpublished and deleted included; NEWEST is by id, newest first, and pages
    // of 2 give the same sequence as one page.
    let all = admin.list(json!({}), "NEWEST", 2).await;
    let ids: Vec<i64> = all
        .iter()
        .map(|p| p["id"].as_str().unwrap().parse().unwrap())
        .collect();
    let mut expected = vec![
        seeded.tea,
        seeded.black_tea,
        seeded.coffee,
        seeded.sugar,
        seeded.salt,
    ];
    expected.sort_unstable_by(|a, b| b.cmp(a));
    assert_eq!(ids, expected);
    assert_eq!(
        names(&admin.list(json!({}), "NEWEST", 100).await),
        names(&all)
    );

    // Nested fields come with the page: category in any state, variants with stock, images.
    let coffee = all.iter().find(|p| p["name"] == "Coffee").unwrap();
    assert_eq!(coffee["published"], true);
    assert_eq!(coffee["visibleInShop"], false);
    assert!(coffee["deletedAt"].is_string());
    assert_eq!(coffee["category"]["published"], false);
    let tea = all.iter().find(|p| p["name"] == TEA).unwrap();
    assert_eq!(tea["category"]["id"], seeded.teas.to_string());
    assert_eq!(tea["images"].as_array().unwrap().len(), 1);
    assert_eq!(
        tea["variants"][0]["stock"],
        json!({ "onHand": 5, "reserved": 0, "available": 5,
                "warehouses": [{ "warehouseId": "1", "quantity": 5.5 }] })
    );
    assert_eq!(tea["totalAvailable"], 5);
    assert_eq!(
        all.iter().find(|p| p["name"] == "Sugar").unwrap()["minPrice"],
        Value::Null
    );

    // Each filter.
    let black = BLACK_TEA_DISPLAY;
    let cases: Vec<(Value, BTreeSet<String>)> = vec![
        // Persian ی finds the name Mahak sent with Arabic ي; Persian digits are not needed.
        (json!({ "search": "چای" }), set(&[TEA, black])),
        (json!({ "search": "سیاه" }), set(&[black])),
        (
            json!({ "categoryId": seeded.teas.to_string() }),
            set(&[TEA, black]),
        ),
        (
            json!({ "categoryId": seeded.hidden_category.to_string() }),
            set(&["Coffee"]),
        ),
        (json!({ "published": false }), set(&[black])),
        (
            json!({ "published": true }),
            set(&[TEA, "Coffee", "Sugar", "Salt"]),
        ),
        (json!({ "deleted": true }), set(&["Coffee"])),
        (
            json!({ "deleted": false }),
            set(&[TEA, black, "Sugar", "Salt"]),
        ),
        (json!({ "priced": false }), set(&["Sugar"])),
        (json!({ "inStock": false }), set(&[black])),
        (
            json!({ "inStock": true }),
            set(&[TEA, "Coffee", "Sugar", "Salt"]),
        ),
        (json!({ "lowStockThreshold": 1 }), set(&[black, "Salt"])),
        (json!({ "lowStockThreshold": 0 }), set(&[black])),
        (
            json!({ "published": true, "deleted": false, "priced": true }),
            set(&[TEA, "Salt"]),
        ),
    ];
    for (filter, expected) in cases {
        assert_eq!(
            sorted(admin.names(filter.clone(), "NEWEST").await),
            expected,
            "filter {filter}"
        );
    }

    // Price sorts put the unpriced product last in both directions, on both backends.
    assert_eq!(
        admin.names(json!({}), "PRICE_ASC").await,
        ["Salt", black, TEA, "Coffee", "Sugar"]
    );
    assert_eq!(
        admin.names(json!({}), "PRICE_DESC").await,
        ["Coffee", TEA, black, "Salt", "Sugar"]
    );
    // By name: the Latin names in order, and paging agrees with one page.
    let by_name = admin.names(json!({}), "NAME_ASC").await;
    let latin: Vec<&str> = by_name
        .iter()
        .map(String::as_str)
        .filter(|n| n.is_ascii())
        .collect();
    assert_eq!(latin, ["Coffee", "Salt", "Sugar"]);
    assert_eq!(
        names(&admin.list(json!({}), "NAME_ASC", 100).await),
        by_name
    );

    // UPDATED: an edited listing comes first.
    admin
        .ok(
            "mutation($id: ID!) { updateProductListing(productId: $id, input: { seoTitle: \"x\" }) { id } }",
            json!({ "id": seeded.sugar.to_string() }),
        )
        .await;
    let updated = admin.names(json!({}), "UPDATED").await;
    assert_eq!(updated.len(), 5);
    assert_eq!(updated[0], "Sugar");

    // A cursor of one sort order is refused under another; bad input names its field.
    let first = admin
        .ok(PRODUCTS, json!({ "first": 1, "sort": "NAME_ASC" }))
        .await;
    let cursor = first["products"]["pageInfo"]["endCursor"].clone();
    let body = admin
        .gql(
            PRODUCTS,
            json!({ "first": 1, "after": cursor, "sort": "PRICE_ASC" }),
        )
        .await;
    assert_eq!(error_codes(&body), ["BAD_USER_INPUT"]);
    assert_eq!(body["errors"][0]["extensions"]["field"], "after");
    for (vars, field) in [
        (json!({ "first": 0 }), "first"),
        (json!({ "first": 101 }), "first"),
        (
            json!({ "filter": { "lowStockThreshold": -1 } }),
            "lowStockThreshold",
        ),
        (json!({ "filter": { "categoryId": "abc" } }), "categoryId"),
    ] {
        let body = admin.gql(PRODUCTS, vars.clone()).await;
        assert_eq!(error_codes(&body), ["BAD_USER_INPUT"], "{vars}");
        assert_eq!(body["errors"][0]["extensions"]["field"], field, "{vars}");
    }

    // lowStock: variants of products not deleted, fewest available first, paged.
    let mut low = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let data = admin
            .ok(
                "query($after: String) { lowStock(threshold: 1, first: 1, after: $after) {
                    pageInfo { hasNextPage endCursor }
                    edges { node { variant { stock { available } } product { name category { name } } } } } }",
                json!({ "after": after }),
            )
            .await;
        let page = &data["lowStock"];
        for edge in page["edges"].as_array().unwrap() {
            low.push((
                edge["node"]["product"]["name"]
                    .as_str()
                    .unwrap()
                    .to_string(),
                edge["node"]["variant"]["stock"]["available"].clone(),
            ));
        }
        if page["pageInfo"]["hasNextPage"] == json!(false) {
            break;
        }
        after = page["pageInfo"]["endCursor"].as_str().map(str::to_string);
    }
    assert_eq!(
        low,
        [
            (black.to_string(), json!(0)),
            ("Salt".to_string(), json!(1))
        ]
    );

    // Categories: all of them, the unpublished one included, in display order.
    let data = admin
        .ok(
            "{ categories { id name published displayOrder } }",
            json!({}),
        )
        .await;
    assert_eq!(
        data["categories"],
        json!([
            { "id": seeded.teas.to_string(), "name": "چای", "published": true, "displayOrder": 1 },
            { "id": seeded.hidden_category.to_string(), "name": "قهوه", "published": false, "displayOrder": 2 },
        ])
    );
}

#[tokio::test]
async fn lists_filters_sorts_and_pages_on_postgres() {
    lists_filters_sorts_and_pages(TestDb::postgres().await).await;
}

#[tokio::test]
async fn lists_filters_sorts_and_pages_on_sqlite() {
    lists_filters_sorts_and_pages(TestDb::sqlite()).await;
}

async fn audit_rows(conn: &DatabaseConnection, action: &str) -> Vec<audit_entries::Model> {
    audit_entries::Entity::find()
        .filter(audit_entries::Column::Action.eq(action))
        .order_by_asc(audit_entries::Column::Id)
        .all(conn)
        .await
        .unwrap()
}

const UPDATE: &str = "mutation($id: ID!, $input: ProductListingInput!) {
  updateProductListing(productId: $id, input: $input) { id slug description published seoTitle seoDescription visibleInShop }
}";

const SHOP_PRODUCT: &str =
    "query($slug: String!) { product(slug: $slug) { id name description seoTitle seoDescription } }";

#[tokio::test]
async fn listing_edits_reach_the_shop_and_are_audited_on_postgres() {
    listing_edits_reach_the_shop_and_are_audited(TestDb::postgres().await).await;
}

#[tokio::test]
async fn listing_edits_reach_the_shop_and_are_audited_on_sqlite() {
    listing_edits_reach_the_shop_and_are_audited(TestDb::sqlite()).await;
}

async fn listing_edits_reach_the_shop_and_are_audited(db: TestDb) {
    let conn = db.connect().await;
    let seeded = seed_catalogue(&conn).await;
    let admin = start_admin(&db, TestServer::start(&db).await).await;
    let tea = seeded.tea.to_string();

    // Slug normalized (Persian kept, Latin lower-cased, Persian digits as Latin), text set.
    let data = admin
        .ok(
            UPDATE,
            json!({ "id": tea, "input": {
                "slug": "  Green Tea / چاي ۱۰۰ ",
                "description": "**Fresh** green tea.",
                "seoTitle": "Green tea",
                "seoDescription": "Loose-leaf green tea",
            } }),
        )
        .await;
    let edited = &data["updateProductListing"];
    assert_eq!(edited["slug"], "green-tea-چای-100");
    assert_eq!(edited["visibleInShop"], true);
    let shop = admin
        .server
        .shop(SHOP_PRODUCT, json!({ "slug": "green-tea-چای-100" }))
        .await;
    assert_eq!(
        shop["data"]["product"],
        json!({ "id": tea, "name": TEA, "description": "**Fresh** green tea.",
                "seoTitle": "Green tea", "seoDescription": "Loose-leaf green tea" })
    );
    let old = admin
        .server
        .shop(SHOP_PRODUCT, json!({ "slug": "p-1001" }))
        .await;
    assert_eq!(old["data"]["product"], Value::Null);

    let entries = audit_rows(&admin.conn, "product_listing.update").await;
    assert_eq!(entries.len(), 1);
    let entry = &entries[0];
    assert_eq!(entry.target_type, "product");
    assert_eq!(entry.target_id, tea);
    assert!(entry.staff_user_id.is_some());
    assert_eq!(entry.before.as_ref().unwrap()["slug"], "p-1001");
    assert_eq!(entry.after.as_ref().unwrap()["slug"], "green-tea-چای-100");
    assert_eq!(
        entry.after.as_ref().unwrap()["description"],
        "**Fresh** green tea."
    );

    // null clears a field; a field left out stays.
    let data = admin
        .ok(UPDATE, json!({ "id": tea, "input": { "seoTitle": null } }))
        .await;
    assert_eq!(data["updateProductListing"]["seoTitle"], Value::Null);
    assert_eq!(
        data["updateProductListing"]["seoDescription"],
        "Loose-leaf green tea"
    );
    // An edit that changes nothing writes nothing.
    admin
        .ok(UPDATE, json!({ "id": tea, "input": { "published": true } }))
        .await;
    assert_eq!(
        audit_rows(&admin.conn, "product_listing.update")
            .await
            .len(),
        2
    );

    // A taken slug (after normalizing) is a CONFLICT naming the field; nothing changes.
    let salt = seeded.salt.to_string();
    let body = admin
        .gql(
            UPDATE,
            json!({ "id": salt, "input": { "slug": "GREEN tea چای 100", "description": "kept?" } }),
        )
        .await;
    assert_eq!(error_codes(&body), ["CONFLICT"], "{body}");
    assert_eq!(body["errors"][0]["extensions"]["field"], "slug");
    let salt_shop = admin
        .server
        .shop(SHOP_PRODUCT, json!({ "slug": "p-1005" }))
        .await;
    assert_eq!(salt_shop["data"]["product"]["description"], "توضیح Salt");

    // Bad input names its field and changes nothing.
    for (input, field) in [
        (json!({ "slug": " /// " }), "slug"),
        (json!({ "seoTitle": "x".repeat(201) }), "seoTitle"),
        (
            json!({ "seoDescription": "x".repeat(501) }),
            "seoDescription",
        ),
        (json!({ "description": "x".repeat(20_001) }), "description"),
    ] {
        let body = admin
            .gql(UPDATE, json!({ "id": salt, "input": input }))
            .await;
        assert_eq!(error_codes(&body), ["BAD_USER_INPUT"], "{body}");
        assert_eq!(body["errors"][0]["extensions"]["field"], field);
    }
    // A deleted or unpriced product cannot be published; an unknown one is NOT_FOUND.
    for id in [seeded.coffee, seeded.sugar] {
        admin
            .ok(
                UPDATE,
                json!({ "id": id.to_string(), "input": { "published": false } }),
            )
            .await;
        let body = admin
            .gql(
                UPDATE,
                json!({ "id": id.to_string(), "input": { "published": true } }),
            )
            .await;
        assert_eq!(error_codes(&body), ["BAD_USER_INPUT"], "{body}");
        assert_eq!(body["errors"][0]["extensions"]["field"], "published");
    }
    let body = admin
        .gql(
            UPDATE,
            json!({ "id": "999999", "input": { "published": true } }),
        )
        .await;
    assert_eq!(error_codes(&body), ["NOT_FOUND"]);
    assert_eq!(
        audit_rows(&admin.conn, "product_listing.update")
            .await
            .len(),
        4,
        "two unpublishes, nothing for the refused edits"
    );

    // Publishing the unpublished tea shows it in the shop; unpublishing hides it.
    let black = seeded.black_tea.to_string();
    assert_eq!(
        admin
            .server
            .shop(SHOP_PRODUCT, json!({ "slug": "p-1002" }))
            .await["data"]["product"],
        Value::Null
    );
    admin
        .ok(
            UPDATE,
            json!({ "id": black, "input": { "published": true } }),
        )
        .await;
    assert_eq!(
        admin
            .server
            .shop(SHOP_PRODUCT, json!({ "slug": "p-1002" }))
            .await["data"]["product"]["id"],
        black
    );

    // Category listing: display order and published flag, audited; the shop follows.
    let data = admin
        .ok(
            "mutation($id: ID!) { updateCategoryListing(categoryId: $id, input: { displayOrder: 7, published: false, slug: \"Black & Green\" }) { slug displayOrder published } }",
            json!({ "id": seeded.teas.to_string() }),
        )
        .await;
    assert_eq!(
        data["updateCategoryListing"],
        json!({ "slug": "black-green", "displayOrder": 7, "published": false })
    );
    let shop = admin
        .server
        .shop("{ categories { name } }", json!({}))
        .await;
    assert_eq!(shop["data"]["categories"], json!([]));
    let entries = audit_rows(&admin.conn, "category_listing.update").await;
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].target_id, seeded.teas.to_string());
    assert_eq!(entries[0].before.as_ref().unwrap()["display_order"], 1);
    assert_eq!(entries[0].after.as_ref().unwrap()["display_order"], 7);
    let body = admin
        .gql(
            "mutation($id: ID!) { updateCategoryListing(categoryId: $id, input: { slug: \"black-green\" }) { slug } }",
            json!({ "id": seeded.hidden_category.to_string() }),
        )
        .await;
    assert_eq!(error_codes(&body), ["CONFLICT"]);
    assert_eq!(body["errors"][0]["extensions"]["field"], "slug");

    // Without the catalogue permission: FORBIDDEN, nothing changes.
    let other = admin::staff_token(&admin.server, &db, &["orders"]).await;
    let body = admin::admin_gql(
        &admin.server,
        Some(&other),
        UPDATE,
        json!({ "id": salt, "input": { "published": false } }),
    )
    .await;
    assert_eq!(error_codes(&body), ["FORBIDDEN"]);
    assert_eq!(
        admin
            .server
            .shop(SHOP_PRODUCT, json!({ "slug": "p-1005" }))
            .await["data"]["product"]["id"],
        salt
    );
}

const PUBLISH: &str = "mutation($ids: [ID!]!, $p: Boolean!) {
  setProductsPublished(productIds: $ids, published: $p) {
    productId ok changed error message product { id published visibleInShop variants { id } }
  }
}";

#[tokio::test]
async fn bulk_publish_answers_per_row_on_postgres() {
    bulk_publish_answers_per_row(TestDb::postgres().await).await;
}

#[tokio::test]
async fn bulk_publish_answers_per_row_on_sqlite() {
    bulk_publish_answers_per_row(TestDb::sqlite()).await;
}

async fn bulk_publish_answers_per_row(db: TestDb) {
    let conn = db.connect().await;
    let seeded = seed_catalogue(&conn).await;
    let admin = start_admin(&db, TestServer::start(&db).await).await;
    let id = |n: i64| n.to_string();

    let data = admin
        .ok(
            PUBLISH,
            json!({ "p": true, "ids": [
                id(seeded.black_tea), "999999", id(seeded.coffee), id(seeded.sugar), "not-an-id",
                id(seeded.tea), id(seeded.black_tea),
            ] }),
        )
        .await;
    let rows = data["setProductsPublished"].as_array().unwrap();
    let summary: Vec<(Value, Value, Value, Value)> = rows
        .iter()
        .map(|r| {
            (
                r["productId"].clone(),
                r["ok"].clone(),
                r["changed"].clone(),
                r["error"].clone(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            (
                json!(id(seeded.black_tea)),
                json!(true),
                json!(true),
                Value::Null
            ),
            (
                json!("999999"),
                json!(false),
                json!(false),
                json!("NOT_FOUND")
            ),
            (
                json!(id(seeded.coffee)),
                json!(false),
                json!(false),
                json!("DELETED_IN_MAHAK")
            ),
            (
                json!(id(seeded.sugar)),
                json!(false),
                json!(false),
                json!("NO_PRICE")
            ),
            (
                json!("not-an-id"),
                json!(false),
                json!(false),
                json!("NOT_FOUND")
            ),
            (
                json!(id(seeded.tea)),
                json!(true),
                json!(false),
                Value::Null
            ),
            (
                json!(id(seeded.black_tea)),
                json!(true),
                json!(true),
                Value::Null
            ),
        ]
    );
    assert!(rows[2]["message"].as_str().unwrap().contains("deleted"));
    assert!(rows[3]["message"].as_str().unwrap().contains("price"));
    assert_eq!(rows[0]["product"]["visibleInShop"], true);
    assert_eq!(rows[0]["product"]["variants"].as_array().unwrap().len(), 1);
    assert_eq!(rows[1]["product"], Value::Null);
    // The refused rows are left as they were: Sugar is still published but unpriced,
    // and only the one change is audited.
    assert_eq!(rows[3]["product"]["published"], true);
    let entries = audit_rows(&admin.conn, "product_listing.publish").await;
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].target_id, id(seeded.black_tea));
    assert_eq!(entries[0].before, Some(json!({ "published": false })));
    assert_eq!(entries[0].after, Some(json!({ "published": true })));
    let shop = admin
        .server
        .shop(SHOP_PRODUCT, json!({ "slug": "p-1002" }))
        .await;
    assert_eq!(shop["data"]["product"]["id"], id(seeded.black_tea));

    // Unpublishing works for any existing product, deleted ones included.
    let data = admin
        .ok(
            PUBLISH,
            json!({ "p": false, "ids": [id(seeded.coffee), id(seeded.black_tea)] }),
        )
        .await;
    let rows = data["setProductsPublished"].as_array().unwrap();
    assert!(rows.iter().all(|r| r["ok"] == true && r["changed"] == true));
    assert_eq!(
        audit_rows(&admin.conn, "product_listing.unpublish")
            .await
            .len(),
        2
    );
    let shop = admin
        .server
        .shop(SHOP_PRODUCT, json!({ "slug": "p-1002" }))
        .await;
    assert_eq!(shop["data"]["product"], Value::Null);

    // More than 500 ids is refused as a whole.
    let many: Vec<String> = (0..501).map(|n| n.to_string()).collect();
    let body = admin.gql(PUBLISH, json!({ "p": true, "ids": many })).await;
    assert_eq!(error_codes(&body), ["BAD_USER_INPUT"]);
    assert_eq!(body["errors"][0]["extensions"]["field"], "productIds");
}

const STOCK: &str = "query($v: ID!) { stock(variantId: $v) {
  onHand reserved available warehouses { warehouseId warehouseName quantity quantity2 } } }";

#[tokio::test]
async fn stock_is_mahaks_minus_open_reservations() {
    let db = TestDb::postgres().await;
    let conn = db.connect().await;
    let mut spec = ProductSpec::new(2001, "Honey");
    spec.variants = vec![(Some(250_000), 5.0)];
    seed::product(&conn, &spec).await;
    // A second warehouse with a fractional count, and names for both.
    let now = chrono::Utc::now();
    for (mahak_id, name) in [(1_i64, "Main"), (2, "Shop floor")] {
        warehouses::Entity::insert(warehouses::ActiveModel {
            id: NotSet,
            mahak_id: Set(mahak_id),
            mahak_client_id: Set(None),
            mahak_code: Set(None),
            row_version: Set(1),
            deleted_at: Set(None),
            payload: Set(json!({})),
            synced_at: Set(now),
            name: Set(name.to_string()),
        })
        .exec(&conn)
        .await
        .unwrap();
    }
    variant_stock::Entity::insert(variant_stock::ActiveModel {
        id: NotSet,
        mahak_id: Set(900_001),
        mahak_client_id: Set(None),
        mahak_code: Set(None),
        row_version: Set(1),
        deleted_at: Set(None),
        payload: Set(json!({})),
        synced_at: Set(now),
        variant_mahak_id: Set(20010),
        warehouse_mahak_id: Set(2),
        quantity: Set(2.5),
        quantity2: Set(1.0),
    })
    .exec(&conn)
    .await
    .unwrap();
    let variant = entity::variants::Entity::find()
        .filter(entity::variants::Column::MahakId.eq(20010))
        .one(&conn)
        .await
        .unwrap()
        .unwrap()
        .id
        .to_string();

    let (server, sms) = shop::start(&db, &[]).await;
    let admin = start_admin(&db, server).await;
    let before = admin.ok(STOCK, json!({ "v": variant })).await;
    assert_eq!(
        before["stock"],
        json!({ "onHand": 7, "reserved": 0, "available": 7, "warehouses": [
            { "warehouseId": "1", "warehouseName": "Main", "quantity": 5.0, "quantity2": 0.0 },
            { "warehouseId": "2", "warehouseName": "Shop floor", "quantity": 2.5, "quantity2": 1.0 },
        ] })
    );

    // A customer checks out 3 units: they are reserved until the order is released.
    let token = shop::sign_in(&admin.server, &sms, "09121110000", None).await;
    let added = shop::gql(
        &admin.server,
        "mutation($v: ID!) { addToCart(variantId: $v, quantity: 3) { itemCount } }",
        json!({ "v": variant }),
        Some(&token),
        None,
    )
    .await;
    assert!(added["errors"].is_null(), "{added}");
    let address = shop::add_home_address(&admin.server, &token).await;
    let order = shop::gql(
        &admin.server,
        "mutation($i: CheckoutInput!) { checkout(input: $i) { number status } }",
        json!({ "i": { "addressId": address } }),
        Some(&token),
        None,
    )
    .await;
    assert!(order["errors"].is_null(), "{order}");

    let after = admin.ok(STOCK, json!({ "v": variant })).await;
    assert_eq!(after["stock"]["onHand"], 7);
    assert_eq!(after["stock"]["reserved"], 3);
    assert_eq!(after["stock"]["available"], 4);
    assert_eq!(after["stock"]["warehouses"], before["stock"]["warehouses"]);
    // The same numbers through the product, and the same as what the shop's cart offers.
    let product = admin
        .ok(
            "{ products(first: 5) { edges { node { variants { id stock { onHand reserved available } } } } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        product["products"]["edges"][0]["node"]["variants"][0],
        json!({ "id": variant, "stock": { "onHand": 7, "reserved": 3, "available": 4 } })
    );
    let cart = shop::gql(
        &admin.server,
        "mutation($v: ID!) { addToCart(variantId: $v, quantity: 1) { lines { availableQuantity } } }",
        json!({ "v": variant }),
        Some(&token),
        None,
    )
    .await;
    assert_eq!(
        cart["data"]["addToCart"]["lines"][0]["availableQuantity"], after["stock"]["available"],
        "{cart}"
    );

    // Low stock sees the reservation: 4 available is low at 4, not at 3.
    let low = |t: i32| {
        let admin = &admin;
        async move {
            admin
                .ok(
                    "query($t: Int!) { lowStock(threshold: $t) { edges { node { variant { id } } } } }",
                    json!({ "t": t }),
                )
                .await["lowStock"]["edges"]
                .as_array()
                .unwrap()
                .len()
        }
    };
    assert_eq!(low(4).await, 1);
    assert_eq!(low(3).await, 0);

    // Cancelling the order releases its reservation: back to Mahak's stock.
    let number = order["data"]["checkout"]["number"].as_str().unwrap();
    let cancelled = shop::gql(
        &admin.server,
        "mutation($n: String!) { cancelOrder(orderNumber: $n) { status } }",
        json!({ "n": number }),
        Some(&token),
        None,
    )
    .await;
    assert!(cancelled["errors"].is_null(), "{cancelled}");
    let released = admin.ok(STOCK, json!({ "v": variant })).await;
    assert_eq!(released["stock"]["reserved"], 0);
    assert_eq!(released["stock"]["available"], 7);
    let body = admin.gql(STOCK, json!({ "v": "999999" })).await;
    assert_eq!(error_codes(&body), ["NOT_FOUND"]);
}

#[tokio::test]
async fn a_page_costs_the_same_statements_whatever_its_size() {
    let db = TestDb::postgres().await;
    let conn = db.connect().await;
    let teas = seed::category(&conn, 1, "چای", "tea", 1).await;
    for i in 0..60 {
        let mut spec = ProductSpec::new(3000 + i, &format!("کالا {i}"));
        spec.category_mahak_id = Some(teas.mahak_id);
        spec.published = i % 3 != 0;
        spec.variants = vec![(Some(10_000 + i * 100), 2.0), (None, 0.0)];
        spec.images = 2;
        seed::product(&conn, &spec).await;
    }
    let admin = start_admin(
        &db,
        TestServer::start_with(&db, common::QUIET_BACKGROUND).await,
    )
    .await;
    // A scrape of /metrics runs statements of its own: measure and subtract them.
    let first_scrape = admin.server.metric_sum("db_statements_total").await;
    let scrape_cost = admin.server.metric_sum("db_statements_total").await - first_scrape;
    let mut counts = Vec::new();
    for first in [5, 50] {
        let before = admin.server.metric_sum("db_statements_total").await;
        let data = admin.ok(PRODUCTS, json!({ "first": first })).await;
        let after = admin.server.metric_sum("db_statements_total").await - scrape_cost;
        let edges = data["products"]["edges"].as_array().unwrap();
        assert_eq!(edges.len(), first as usize);
        for edge in edges {
            let node = &edge["node"];
            assert_eq!(node["variants"].as_array().unwrap().len(), 2, "{node}");
            assert_eq!(node["images"].as_array().unwrap().len(), 2);
            assert_eq!(node["category"]["id"], teas.id.to_string());
        }
        counts.push(after - before);
    }
    assert_eq!(
        counts[0], counts[1],
        "statements for 5 vs 50 products: {counts:?}"
    );
    assert!(
        counts[1] >= 7.0,
        "the counter must see the page, count, variants, stock, reservations, categories and images: {counts:?}"
    );
}
