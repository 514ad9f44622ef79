//! `database.read_url`: the shop's catalogue reads go to the read replica, everything else to
//! the primary, on the real server and PostgreSQL. A copied database cannot be a streaming
//! replica here, so the "replica" is a second database holding a different catalogue: what a
//! response shows tells which database answered it.

mod common;
#[allow(dead_code)]
mod kavenegar_sim;
mod shop;

use common::seed::{self, ProductSpec};
use common::TestDb;
use sea_orm::{DatabaseConnection, EntityTrait, PaginatorTrait};
use serde_json::json;

/// One category and one product with one variant, named after `which` database; the same
/// Mahak ids (and so the same local ids and slugs) in both.
async fn catalogue(conn: &DatabaseConnection, which: &str, stock: f64) {
    seed::category(conn, 51, &format!("{which} shelf"), "shelf", 1).await;
    let mut spec = ProductSpec::new(9500, &format!("{which} lamp"));
    spec.category_mahak_id = Some(51);
    spec.variants = vec![(Some(2_000_000), stock)];
    seed::product(conn, &spec).await;
}

#[tokio::test]
async fn catalogue_reads_go_to_the_replica_and_everything_else_to_the_primary() {
    let primary = TestDb::postgres().await;
    let replica = TestDb::postgres().await;
    let primary_conn = primary.connect().await;
    let replica_conn = replica.connect().await;
    catalogue(&primary_conn, "Primary", 5.0).await;
    // Out of stock on the replica: a lagging replica must not decide whether checkout may sell.
    catalogue(&replica_conn, "Replica", 0.0).await;
    let (server, sms) = shop::start(
        &primary,
        &[("APP__DATABASE__READ_URL", replica.url.as_str())],
    )
    .await;

    let listing = shop::gql(
        &server,
        r#"{ categories { name }
             products(first: 10) { totalCount edges { node { name category { name } variants { id inStock } } } }
             bySlug: product(slug: "p-9500") { name }
             found: products(filter: { search: "replica" }) { edges { node { name } } }
             notFound: products(filter: { search: "primary" }) { edges { node { name } } } }"#,
        json!({}),
        None,
        None,
    )
    .await;
    assert!(listing["errors"].is_null(), "{listing}");
    let data = &listing["data"];
    assert_eq!(data["categories"], json!([{ "name": "Replica shelf" }]));
    assert_eq!(data["products"]["totalCount"], 1);
    let node = &data["products"]["edges"][0]["node"];
    assert_eq!(node["name"], "Replica lamp", "{listing}");
    assert_eq!(node["category"]["name"], "Replica shelf");
    assert_eq!(node["variants"][0]["inStock"], false);
    assert_eq!(data["bySlug"]["name"], "Replica lamp");
    assert_eq!(data["found"]["edges"].as_array().unwrap().len(), 1);
    assert_eq!(data["notFound"]["edges"], json!([]));
    let variant = node["variants"][0]["id"].as_str().unwrap().to_string();

    // Sign-in, cart and checkout read and write the primary: the variant is in stock there,
    // and the order records the primary's name.
    let token = shop::sign_in(&server, &sms, "09121117500", None).await;
    let added = shop::gql(
        &server,
        "mutation($v: ID!) { addToCart(variantId: $v, quantity: 2) { itemCount } }",
        json!({ "v": variant }),
        Some(&token),
        None,
    )
    .await;
    assert!(added["errors"].is_null(), "{added}");
    let address = shop::add_home_address(&server, &token).await;
    let order = shop::gql(
        &server,
        "mutation($i: CheckoutInput!) { checkout(input: $i) { number lines { productName quantity } } }",
        json!({ "i": { "addressId": address } }),
        Some(&token),
        None,
    )
    .await;
    assert!(order["errors"].is_null(), "{order}");
    assert_eq!(
        order["data"]["checkout"]["lines"],
        json!([{ "productName": "Primary lamp", "quantity": 2 }])
    );
    let count = |conn: &DatabaseConnection| {
        let conn = conn.clone();
        async move {
            (
                entity::customers::Entity::find()
                    .count(&conn)
                    .await
                    .unwrap(),
                entity::orders::Entity::find().count(&conn).await.unwrap(),
            )
        }
    };
    assert_eq!(count(&primary_conn).await, (1, 1));
    assert_eq!(count(&replica_conn).await, (0, 0));
}
