//! The catalogue read path of the shop schema, on PostgreSQL, over real HTTP.

mod common;

use std::collections::HashSet;

use common::seed::{self, ProductSpec};
use common::{error_codes, TestDb, TestServer};
use serde_json::{json, Value};

const FULL_PAGE: &str = r#"
query Page($first: Int!, $after: String, $filter: ProductFilter, $sort: ProductSort) {
  products(first: $first, after: $after, filter: $filter, sort: $sort) {
    totalCount
    pageInfo { hasNextPage endCursor }
    edges { cursor node {
      id slug name minPrice taxPercent
      category { id name slug }
      images { url altText width position }
      variants { id barcode price availableQuantity inStock properties { code value } }
    } }
  }
}"#;

async fn page(server: &TestServer, variables: Value) -> Value {
    let body = server.shop(FULL_PAGE, variables).await;
    assert!(body.get("errors").is_none(), "errors: {body}");
    body["data"]["products"].clone()
}

fn names(connection: &Value) -> Vec<String> {
    connection["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"]["name"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn nested_catalogue_reads_take_a_constant_number_of_statements() {
    let db = TestDb::postgres().await;
    let conn = db.connect().await;
    let phones = seed::category(&conn, 1, "موبایل", "mobile", 1).await;
    let books = seed::category(&conn, 2, "كتاب", "books", 2).await;
    for i in 0..60 {
        let mut spec = ProductSpec::new(1000 + i, &format!("کالا {i}"));
        spec.category_mahak_id = Some(if i % 2 == 0 {
            phones.mahak_id
        } else {
            books.mahak_id
        });
        spec.variants = vec![
            (Some(10_000 + i * 100), 2.0),
            (Some(20_000 + i * 100), 0.0),
            (None, 5.0),
        ];
        spec.images = 2;
        seed::product(&conn, &spec).await;
    }
    let server = TestServer::start_with(&db, common::QUIET_BACKGROUND).await;
    // Let the start-up ticks of the periodic work finish before measuring.
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;

    let mut counts = Vec::new();
    // A scrape of /metrics runs statements of its own (sync lag); measure and subtract them.
    let first_scrape = server.metric_sum("db_statements_total").await;
    let scrape_cost = server.metric_sum("db_statements_total").await - first_scrape;
    for first in [5, 50] {
        let before = server.metric_sum("db_statements_total").await;
        let connection = page(&server, json!({ "first": first })).await;
        let after = server.metric_sum("db_statements_total").await - scrape_cost;
        let edges = connection["edges"].as_array().unwrap();
        assert_eq!(edges.len(), first as usize);
        for edge in edges {
            let node = &edge["node"];
            assert_eq!(node["variants"].as_array().unwrap().len(), 3, "{node}");
            assert_eq!(node["images"].as_array().unwrap().len(), 2);
            assert!(node["category"]["slug"].is_string());
        }
        counts.push(after - before);
    }
    assert_eq!(
        counts[0], counts[1],
        "statements for 5 vs 50 products: {counts:?}"
    );
    assert!(
        counts[1] <= 6.0,
        "statements behind one page: {}",
        counts[1]
    );
    assert!(
        counts[1] >= 5.0,
        "the counter must see the page, count, variants, stock, images: {}",
        counts[1]
    );
}

#[tokio::test]
async fn listing_shows_only_published_live_priced_products_and_pages_through_all_of_them() {
    let db = TestDb::postgres().await;
    let conn = db.connect().await;
    let mut visible = HashSet::new();
    for i in 0..23 {
        let spec = ProductSpec::new(2000 + i, &format!("محصول {i:02}"));
        seed::product(&conn, &spec).await;
        visible.insert(spec.name.clone());
    }
    let mut hidden = ProductSpec::new(3000, "پیش‌نویس");
    hidden.published = false;
    seed::product(&conn, &hidden).await;
    let mut deleted = ProductSpec::new(3001, "حذف‌شده");
    deleted.deleted = true;
    seed::product(&conn, &deleted).await;
    let mut unpriced = ProductSpec::new(3002, "بی‌قیمت");
    unpriced.variants = vec![(None, 3.0), (Some(0), 1.0)];
    seed::product(&conn, &unpriced).await;
    let server = TestServer::start(&db).await;

    for sort in ["NEWEST", "NAME_ASC", "PRICE_ASC", "PRICE_DESC"] {
        let mut seen = Vec::new();
        let mut after = Value::Null;
        loop {
            let connection =
                page(&server, json!({ "first": 7, "after": after, "sort": sort })).await;
            assert_eq!(connection["totalCount"], 23);
            seen.extend(names(&connection));
            if connection["pageInfo"]["hasNextPage"] == false {
                break;
            }
            after = connection["pageInfo"]["endCursor"].clone();
        }
        assert_eq!(seen.len(), 23, "{sort}: {seen:?}");
        assert_eq!(
            seen.iter().cloned().collect::<HashSet<_>>(),
            visible,
            "{sort}"
        );
        if sort == "NAME_ASC" {
            let mut sorted = seen.clone();
            sorted.sort();
            assert_eq!(seen, sorted);
        }
    }

    // Hidden products cannot be fetched one by one either.
    let body = server
        .shop(r#"{ product(slug: "p-3000") { id } }"#, json!({}))
        .await;
    assert_eq!(body["data"]["product"], Value::Null);
    let body = server
        .shop(
            r#"{ product(slug: "p-2005") { name variants { price } } }"#,
            json!({}),
        )
        .await;
    assert_eq!(body["data"]["product"]["name"], "محصول 05");
    assert_eq!(body["data"]["product"]["variants"][0]["price"], 100_000);
}

#[tokio::test]
async fn filters_narrow_the_listing() {
    let db = TestDb::postgres().await;
    let conn = db.connect().await;
    let tea = seed::category(&conn, 7, "چای", "tea", 1).await;
    let mut cheap_tea = ProductSpec::new(4000, "چاي سياه ۱۰۰ گرمی");
    cheap_tea.category_mahak_id = Some(tea.mahak_id);
    cheap_tea.variants = vec![(Some(50_000), 0.0)];
    seed::product(&conn, &cheap_tea).await;
    let mut dear_tea = ProductSpec::new(4001, "چای سبز کيسه\u{200C}ای");
    dear_tea.category_mahak_id = Some(tea.mahak_id);
    dear_tea.variants = vec![(Some(900_000), 4.0)];
    seed::product(&conn, &dear_tea).await;
    seed::product(&conn, &ProductSpec::new(4002, "Samsung Galaxy A55")).await;
    let server = TestServer::start(&db).await;

    let list = |filter: Value| {
        let server = &server;
        async move { names(&page(server, json!({ "first": 50, "filter": filter })).await) }
    };
    assert_eq!(
        list(json!({ "categoryId": tea.id.to_string() }))
            .await
            .len(),
        2
    );
    assert_eq!(
        list(json!({ "inStock": true })).await.len(),
        2,
        "the cheap tea has no stock"
    );
    assert_eq!(
        list(json!({ "priceRange": { "min": 60000, "max": 1000000 } }))
            .await
            .len(),
        2
    );
    assert_eq!(
        list(json!({ "priceRange": { "max": 50000 } })).await,
        vec!["چای سیاه ۱۰۰ گرمی"]
    );
    // Persian letters find the Arabic-letter name, Latin digits find Persian ones.
    assert_eq!(
        list(json!({ "search": "چای سیاه 100" })).await,
        vec!["چای سیاه ۱۰۰ گرمی"]
    );
    // The ZWNJ is ignored both ways; Arabic yeh in the query matches Persian yeh.
    assert_eq!(
        list(json!({ "search": "کیسهای" })).await,
        vec!["چای سبز کیسه\u{200C}ای"]
    );
    assert_eq!(
        list(json!({ "search": "galaxy" })).await,
        vec!["Samsung Galaxy A55"]
    );
    assert_eq!(
        list(json!({ "search": "100%" })).await.len(),
        0,
        "LIKE wildcards are literal"
    );

    let bad = server
        .shop(
            FULL_PAGE,
            json!({ "first": 10, "filter": { "priceRange": { "min": 5, "max": 1 } } }),
        )
        .await;
    assert_eq!(error_codes(&bad), vec!["BAD_USER_INPUT"]);
    let bad = server.shop(FULL_PAGE, json!({ "first": 0 })).await;
    assert_eq!(error_codes(&bad), vec!["BAD_USER_INPUT"]);
    let bad = server
        .shop(FULL_PAGE, json!({ "first": 5, "after": "garbage" }))
        .await;
    assert_eq!(error_codes(&bad), vec!["BAD_USER_INPUT"]);
    let first = page(&server, json!({ "first": 1, "sort": "NAME_ASC" })).await;
    let bad = server
        .shop(
            FULL_PAGE,
            json!({ "first": 5, "after": first["pageInfo"]["endCursor"], "sort": "PRICE_ASC" }),
        )
        .await;
    assert_eq!(
        error_codes(&bad),
        vec!["BAD_USER_INPUT"],
        "a cursor of another sort order"
    );
    let categories = server
        .shop("{ categories { name slug displayOrder } }", json!({}))
        .await;
    assert_eq!(
        categories["data"]["categories"],
        json!([{ "name": "چای", "slug": "tea", "displayOrder": 1 }])
    );
}
