//! The shop's anonymous catalogue cache (`server::http::catalogue_cache`) on the real server
//! and PostgreSQL: what it serves again, what it never serves, and that a catalogue change
//! committed by another process (as the sync consumer would) drops it at once, also after
//! the listening connection was cut.

mod common;
#[allow(dead_code)]
mod kavenegar_sim;
mod shop;

use std::time::Duration;

use common::seed::{self, ProductSpec};
use common::{TestDb, TestServer};
use sea_orm::{ConnectionTrait, DatabaseConnection};
use serde_json::{json, Value};

const LISTING: &str =
    "{ products(first: 10) { edges { node { name variants { price inStock } } } } }";

/// Far longer than any wait below: what the test sees change, the notification changed.
const CACHE_ON: (&str, &str) = ("APP__GRAPHQL__CATALOGUE_CACHE_TTL_SECS", "200");

async fn cache_count(server: &TestServer, outcome: &str) -> f64 {
    server
        .metric("catalogue_cache_requests_total", &[("outcome", outcome)])
        .await
}

fn first_name(body: &Value) -> &str {
    body["data"]["products"]["edges"][0]["node"]["name"]
        .as_str()
        .unwrap_or_else(|| panic!("no product in {body}"))
}

/// Waits until the server has logged `times` (re)connections of the cache's listener.
async fn listening(server: &TestServer, times: usize) {
    for _ in 0..200 {
        let seen = server
            .output
            .lock()
            .unwrap()
            .iter()
            .filter(|line| line.contains("listening for catalogue changes"))
            .count();
        if seen >= times {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the catalogue cache did not (re)connect its listener {times} time(s)");
}

/// Renames the product in the database directly, as another process would.
async fn rename(conn: &DatabaseConnection, name: &str) {
    conn.execute_unprepared(&format!("UPDATE products SET name = '{name}'"))
        .await
        .unwrap();
}

/// Polls the anonymous listing until it shows `name`; panics after 10 s.
async fn shows(server: &TestServer, name: &str) {
    for _ in 0..200 {
        if first_name(&server.shop(LISTING, json!({})).await) == name {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the shop still does not show {name:?} after 10 s");
}

#[tokio::test]
async fn anonymous_catalogue_answers_are_served_again_until_the_catalogue_changes() {
    let db = TestDb::postgres().await;
    let conn = db.connect().await;
    seed::product(&conn, &ProductSpec::new(7100, "Lamp")).await;
    let server = TestServer::start_capturing(&db, &[CACHE_ON]).await;
    listening(&server, 1).await;

    let first = server.shop(LISTING, json!({})).await;
    let again = server.shop(LISTING, json!({})).await;
    assert_eq!(first_name(&first), "Lamp");
    assert_eq!(first, again);
    assert_eq!(cache_count(&server, "miss").await, 1.0);
    assert_eq!(cache_count(&server, "hit").await, 1.0);

    // Other variables are another answer.
    let one = server
        .shop(
            "query($n: Int) { products(first: $n) { edges { node { name } } } }",
            json!({ "n": 1 }),
        )
        .await;
    assert_eq!(
        one["data"]["products"]["edges"].as_array().unwrap().len(),
        1
    );
    assert_eq!(cache_count(&server, "miss").await, 2.0);

    // A change committed elsewhere drops the cache well within the 200 s TTL.
    rename(&conn, "Desk lamp").await;
    shows(&server, "Desk lamp").await;
    assert_eq!(cache_count(&server, "miss").await, 3.0);

    // Answers with errors are not kept.
    for _ in 0..2 {
        let refused = server
            .shop("{ products(first: 1000) { edges { cursor } } }", json!({}))
            .await;
        assert!(refused["errors"].is_array(), "{refused}");
    }
    assert_eq!(cache_count(&server, "miss").await, 5.0);

    // Cut the listening connection: the server reconnects, and a change made around the cut
    // is seen.
    let cut = conn
        .query_one(sea_orm::Statement::from_string(
            sea_orm::DbBackend::Postgres,
            "SELECT count(pg_terminate_backend(pid))::bigint AS n FROM pg_stat_activity \
             WHERE datname = current_database() AND query ILIKE 'LISTEN%'",
        ))
        .await
        .unwrap()
        .unwrap()
        .try_get::<i64>("", "n")
        .unwrap();
    assert_eq!(cut, 1, "one listening connection");
    rename(&conn, "Floor lamp").await;
    listening(&server, 2).await;
    shows(&server, "Floor lamp").await;
}

#[tokio::test]
async fn personal_and_non_catalogue_requests_are_never_cached() {
    let db = TestDb::postgres().await;
    let conn = db.connect().await;
    seed::product(&conn, &ProductSpec::new(7200, "Chair")).await;
    let (server, sms) = shop::start(&db, &[CACHE_ON]).await;
    let token = shop::sign_in(&server, &sms, "09121117200", None).await;
    // The cache serves (its listener is connected): an anonymous listing is stored.
    for _ in 0..200 {
        if server.metric("catalogue_cache_listening", &[]).await == 1.0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(first_name(&server.shop(LISTING, json!({})).await), "Chair");
    assert_eq!(cache_count(&server, "miss").await, 1.0);

    for _ in 0..2 {
        // Signed in, or with a guest cart: personal.
        let signed_in = shop::gql(&server, LISTING, json!({}), Some(&token), None).await;
        assert_eq!(first_name(&signed_in), "Chair");
        let guest = shop::gql(&server, LISTING, json!({}), None, Some("cart-1")).await;
        assert_eq!(first_name(&guest), "Chair");
        // Catalogue and something else in one query.
        let mixed = shop::gql(
            &server,
            "{ products(first: 1) { edges { cursor } } banners { id } }",
            json!({}),
            None,
            None,
        )
        .await;
        assert!(mixed["errors"].is_null(), "{mixed}");
    }
    assert_eq!(cache_count(&server, "miss").await, 1.0);
    assert_eq!(cache_count(&server, "hit").await, 0.0);
}
