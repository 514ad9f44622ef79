//! Cart, pricing, coupons, checkout and orders, end to end over HTTP against the real server on
//! PostgreSQL. Customers sign in through the Kavenegar simulator (the OTP is read from it).

mod common;
#[allow(dead_code)]
mod kavenegar_sim;
mod shop;

use chrono::{Duration, Utc};
use common::seed::{self, ProductSpec};
use common::{error_codes, TestDb, TestServer};
use entity::{mahak_people, mahak_person_groups, mahak_settings, promotions};
use kavenegar_sim::Kavenegar;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, NotSet,
    QueryFilter, Statement,
};
use serde_json::{json, Value};
use uuid::Uuid;

const SHIPPING: i64 = 300_000;

struct Shop {
    server: TestServer,
    sms: Kavenegar,
    conn: DatabaseConnection,
}

async fn start(db: &TestDb) -> Shop {
    let env = [
        ("APP__CHECKOUT__SHIPPING_FLAT_RIAL", "300000"),
        ("APP__CHECKOUT__FREE_SHIPPING_OVER_RIAL", "5000000"),
        ("APP__CHECKOUT__MAX_LINE_QUANTITY", "20"),
        ("APP__DATABASE__MAX_CONNECTIONS", "8"),
    ];
    let (server, sms) = shop::start(db, &env).await;
    let conn = db.connect().await;
    Shop { server, sms, conn }
}

/// Who sends a request: anonymous, a customer's access token, and/or a guest cart token.
#[derive(Clone, Copy, Default)]
struct As<'a> {
    token: Option<&'a str>,
    cart: Option<&'a str>,
}

fn customer(token: &str) -> As<'_> {
    As {
        token: Some(token),
        cart: None,
    }
}

fn guest(cart: &str) -> As<'_> {
    As {
        token: None,
        cart: Some(cart),
    }
}

const ANON: As<'static> = As {
    token: None,
    cart: None,
};

const CART: &str = "id itemCount couponCode couponProblem subtotal discount tax toll shipping grandTotal
    lines { id variantId productName quantity purchasable availableQuantity unitPrice discount tax toll lineTotal }";
const ORDER: &str =
    "id number status subtotal discount tax toll shipping grandTotal couponCode note
    shippingAddress { recipientName city postalCode }
    lines { variantId productName quantity unitPrice discount tax toll lineTotal }
    history { kind fromStatus toStatus }";

impl Shop {
    async fn gql(&self, query: &str, variables: Value, who: As<'_>) -> Value {
        shop::gql(&self.server, query, variables, who.token, who.cart).await
    }

    /// Signs in `national` (`09...`), optionally sending a guest cart token; returns the access
    /// token.
    async fn sign_in_with(&self, national: &str, cart: Option<&str>) -> String {
        shop::sign_in(&self.server, &self.sms, national, cart).await
    }

    async fn sign_in(&self, national: &str) -> String {
        self.sign_in_with(national, None).await
    }

    async fn create_cart(&self) -> String {
        let body = self
            .gql(
                &format!("mutation {{ createCart {{ token cart {{ {CART} }} }} }}"),
                json!({}),
                ANON,
            )
            .await;
        assert!(body["errors"].is_null(), "{body}");
        body["data"]["createCart"]["token"]
            .as_str()
            .unwrap()
            .to_string()
    }

    async fn cart(&self, who: As<'_>) -> Value {
        self.gql(&format!("{{ cart {{ {CART} }} }}"), json!({}), who)
            .await
    }

    async fn add(&self, who: As<'_>, variant: i64, quantity: i32) -> Value {
        self.gql(
            &format!(
                "mutation($v: ID!, $q: Int!) {{ addToCart(variantId: $v, quantity: $q) {{ {CART} }} }}"
            ),
            json!({ "v": variant.to_string(), "q": quantity }),
            who,
        )
        .await
    }

    async fn add_ok(&self, who: As<'_>, variant: i64, quantity: i32) -> Value {
        let body = self.add(who, variant, quantity).await;
        assert!(body["errors"].is_null(), "{body}");
        body["data"]["addToCart"].clone()
    }

    async fn update_line(&self, who: As<'_>, line: &str, quantity: i32) -> Value {
        self.gql(
            &format!(
                "mutation($l: ID!, $q: Int!) {{ updateCartLine(lineId: $l, quantity: $q) {{ {CART} }} }}"
            ),
            json!({ "l": line, "q": quantity }),
            who,
        )
        .await
    }

    async fn remove_line(&self, who: As<'_>, line: &str) -> Value {
        self.gql(
            &format!("mutation($l: ID!) {{ removeCartLine(lineId: $l) {{ {CART} }} }}"),
            json!({ "l": line }),
            who,
        )
        .await
    }

    async fn apply_coupon(&self, who: As<'_>, code: &str) -> Value {
        self.gql(
            &format!("mutation($c: String!) {{ applyCoupon(code: $c) {{ {CART} }} }}"),
            json!({ "c": code }),
            who,
        )
        .await
    }

    async fn add_address(&self, token: &str) -> String {
        shop::add_home_address(&self.server, token).await
    }

    async fn checkout(&self, token: &str, address: &str, key: Option<&str>) -> Value {
        self.gql(
            &format!("mutation($i: CheckoutInput!) {{ checkout(input: $i) {{ {ORDER} }} }}"),
            json!({ "i": { "addressId": address, "note": "ring twice", "idempotencyKey": key } }),
            customer(token),
        )
        .await
    }

    async fn exec(&self, sql: &str) {
        self.conn
            .execute(Statement::from_string(
                self.conn.get_database_backend(),
                sql.to_string(),
            ))
            .await
            .unwrap();
    }
}

/// The local id of the variant with Mahak id `mahak_id`.
async fn variant_id(conn: &DatabaseConnection, mahak_id: i64) -> i64 {
    entity::variants::Entity::find()
        .filter(entity::variants::Column::MahakId.eq(mahak_id))
        .one(conn)
        .await
        .unwrap()
        .expect("variant seeded")
        .id
}

/// Seeds a product with one variant (price at level 1, level 2 = price − 1000) and stock;
/// returns the variant's local id.
async fn product(conn: &DatabaseConnection, mahak_id: i64, price: i64, stock: f64) -> i64 {
    let mut spec = ProductSpec::new(mahak_id, &format!("Item {mahak_id}"));
    spec.variants = vec![(Some(price), stock)];
    seed::product(conn, &spec).await;
    variant_id(conn, mahak_id * 10).await
}

fn rial(v: &Value) -> i64 {
    v.as_i64()
        .unwrap_or_else(|| panic!("not a Rial amount: {v}"))
}

fn line_of(cart: &Value, variant: i64) -> &Value {
    cart["lines"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["variantId"].as_str().and_then(|s| s.parse::<i64>().ok()) == Some(variant))
        .unwrap_or_else(|| panic!("no line for {variant}: {cart}"))
}

#[tokio::test]
async fn guest_cart_is_merged_into_the_customers_cart_on_sign_in() {
    let db = TestDb::postgres().await;
    let shop = start(&db).await;
    let a = product(&shop.conn, 100, 100_000, 3.0).await;
    let b = product(&shop.conn, 101, 50_000, 10.0).await;

    // Without a customer or cart token there is no cart to work on.
    assert_eq!(
        error_codes(&shop.add(ANON, a, 1).await),
        ["UNAUTHENTICATED"]
    );
    assert_eq!(error_codes(&shop.cart(ANON).await), ["UNAUTHENTICATED"]);

    let token = shop.create_cart().await;
    shop.add_ok(guest(&token), a, 2).await;
    let cart = shop.add_ok(guest(&token), b, 1).await;
    assert_eq!(cart["itemCount"], 3);
    assert_eq!(rial(&cart["subtotal"]), 250_000);
    assert_eq!(
        error_codes(&shop.cart(guest("not-a-real-token")).await),
        ["NOT_FOUND"]
    );

    // The customer already has 2 of `a`: 2 + 2 is capped at the 3 in stock.
    let access = shop.sign_in("09121110001").await;
    shop.add_ok(customer(&access), a, 2).await;
    let access = shop.sign_in_with("09121110001", Some(&token)).await;
    let cart = shop.cart(customer(&access)).await;
    assert!(cart["errors"].is_null(), "{cart}");
    let cart = &cart["data"]["cart"];
    assert_eq!(line_of(cart, a)["quantity"], 3);
    assert_eq!(line_of(cart, b)["quantity"], 1);
    assert_eq!(rial(&cart["subtotal"]), 350_000);

    // The guest cart is gone.
    assert_eq!(error_codes(&shop.cart(guest(&token)).await), ["NOT_FOUND"]);
}

#[tokio::test]
async fn prices_follow_the_customers_level_and_totals_are_exact() {
    let db = TestDb::postgres().await;
    let shop = start(&db).await;
    // Product tax 9%, toll 1% (seeded); product 201 has none of its own and takes Mahak's
    // settings: tax 10%, toll 0.5%.
    let a = product(&shop.conn, 200, 123_455, 10.0).await;
    let b = product(&shop.conn, 201, 99_999, 10.0).await;
    shop.exec("UPDATE products SET tax_percent = 0, toll_percent = 0 WHERE mahak_id = 201")
        .await;
    for (mahak_id, code, value) in [(1, 14001, "10"), (2, 14000, "0.5")] {
        mahak_settings::Entity::insert(mahak_settings::ActiveModel {
            id: NotSet,
            mahak_id: Set(mahak_id),
            mahak_client_id: Set(None),
            mahak_code: Set(None),
            row_version: Set(1),
            deleted_at: Set(None),
            payload: Set(json!({})),
            synced_at: Set(Utc::now()),
            setting_code: Set(code),
            value: Set(value.into()),
        })
        .exec(&shop.conn)
        .await
        .unwrap();
    }

    let plain = shop.sign_in("09121110010").await;
    shop.add_ok(customer(&plain), a, 2).await;
    let cart = shop.add_ok(customer(&plain), b, 1).await;
    let la = line_of(&cart, a);
    assert_eq!(rial(&la["unitPrice"]), 123_455);
    assert_eq!(rial(&la["tax"]), 22_222); // 9% of 246,910 = 22,221.9, half up
    assert_eq!(rial(&la["toll"]), 2_469); // 1% = 2,469.1
    assert_eq!(rial(&la["lineTotal"]), 246_910 + 22_222 + 2_469);
    let lb = line_of(&cart, b);
    assert_eq!(rial(&lb["tax"]), 10_000); // 10% of 99,999 = 9,999.9
    assert_eq!(rial(&lb["toll"]), 500); // 0.5% = 499.995
    assert_eq!(rial(&cart["subtotal"]), 346_909);
    assert_eq!(rial(&cart["tax"]), 32_222);
    assert_eq!(rial(&cart["toll"]), 2_969);
    assert_eq!(rial(&cart["shipping"]), SHIPPING);
    assert_eq!(
        rial(&cart["grandTotal"]),
        346_909 + 32_222 + 2_969 + SHIPPING
    );

    // A customer linked to a Mahak person at price level 2 pays level-2 prices; one whose
    // person has no level takes the person group's.
    mahak_person_groups::Entity::insert(mahak_person_groups::ActiveModel {
        id: NotSet,
        mahak_id: Set(70),
        mahak_client_id: Set(None),
        mahak_code: Set(None),
        row_version: Set(1),
        deleted_at: Set(None),
        payload: Set(json!({})),
        synced_at: Set(Utc::now()),
        name: Set("Wholesale".into()),
        sell_price_level: Set(Some(2)),
    })
    .exec(&shop.conn)
    .await
    .unwrap();
    for (mahak_id, level, group) in [(900, Some(2), None), (901, None, Some(70))] {
        person(&shop.conn, mahak_id, level, group).await;
    }
    let own_level = shop.sign_in("09121110011").await;
    let group_level = shop.sign_in("09121110012").await;
    shop.exec("UPDATE customers SET mahak_person_id = 900 WHERE phone = '+989121110011'")
        .await;
    shop.exec("UPDATE customers SET mahak_person_id = 901 WHERE phone = '+989121110012'")
        .await;
    for token in [&own_level, &group_level] {
        let cart = shop.add_ok(customer(token), a, 1).await;
        assert_eq!(rial(&line_of(&cart, a)["unitPrice"]), 122_455, "{cart}");
    }
    // Level 3 has no price for this variant: the default level's price applies.
    shop.exec("UPDATE mahak_people SET sell_price_level = 3 WHERE mahak_id = 900")
        .await;
    let cart = shop.cart(customer(&own_level)).await;
    assert_eq!(
        rial(&line_of(&cart["data"]["cart"], a)["unitPrice"]),
        123_455
    );
}

async fn person(conn: &DatabaseConnection, mahak_id: i64, level: Option<i32>, group: Option<i64>) {
    mahak_people::Entity::insert(mahak_people::ActiveModel {
        id: NotSet,
        mahak_id: Set(mahak_id),
        mahak_client_id: Set(None),
        mahak_code: Set(None),
        row_version: Set(1),
        deleted_at: Set(None),
        payload: Set(json!({})),
        synced_at: Set(Utc::now()),
        person_group_mahak_id: Set(group),
        first_name: Set(None),
        last_name: Set(None),
        organization: Set(None),
        mobile: Set(None),
        mobile_e164: Set(None),
        email: Set(None),
        national_code: Set(None),
        sell_price_level: Set(level),
        credit: Set(0),
        balance: Set(0),
    })
    .exec(conn)
    .await
    .unwrap();
}

struct Promo {
    code: &'static str,
    kind: &'static str,
    value: i64,
    min_subtotal: i64,
    max_discount: Option<i64>,
    usage_limit: Option<i32>,
    per_customer_limit: Option<i32>,
    used_count: i32,
    starts_in_days: Option<i64>,
    ends_in_days: Option<i64>,
    active: bool,
}

const PROMO: Promo = Promo {
    code: "",
    kind: "percent",
    value: 1_000,
    min_subtotal: 0,
    max_discount: None,
    usage_limit: None,
    per_customer_limit: None,
    used_count: 0,
    starts_in_days: None,
    ends_in_days: None,
    active: true,
};

async fn promotion(conn: &DatabaseConnection, p: Promo) {
    let now = Utc::now();
    promotions::Entity::insert(promotions::ActiveModel {
        id: Set(Uuid::new_v4()),
        code: Set(p.code.into()),
        description: Set(String::new()),
        kind: Set(p.kind.into()),
        value: Set(p.value),
        min_subtotal: Set(p.min_subtotal),
        max_discount: Set(p.max_discount),
        usage_limit: Set(p.usage_limit),
        per_customer_limit: Set(p.per_customer_limit),
        used_count: Set(p.used_count),
        starts_at: Set(p.starts_in_days.map(|d| now + Duration::days(d))),
        ends_at: Set(p.ends_in_days.map(|d| now + Duration::days(d))),
        active: Set(p.active),
        created_at: Set(now),
        updated_at: Set(now),
    })
    .exec(conn)
    .await
    .unwrap();
}

fn bad_input_message(body: &Value) -> String {
    assert_eq!(error_codes(body), ["BAD_USER_INPUT"], "{body}");
    body["errors"][0]["message"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn coupons_follow_their_rules() {
    let db = TestDb::postgres().await;
    let shop = start(&db).await;
    let a = product(&shop.conn, 300, 100_000, 50.0).await;
    for p in [
        Promo {
            code: "TEN",
            max_discount: Some(5_000),
            ..PROMO
        },
        Promo {
            code: "FIXED",
            kind: "fixed",
            value: 20_000,
            min_subtotal: 300_000,
            ..PROMO
        },
        Promo {
            code: "OLD",
            ends_in_days: Some(-1),
            ..PROMO
        },
        Promo {
            code: "SOON",
            starts_in_days: Some(1),
            ..PROMO
        },
        Promo {
            code: "OFF",
            active: false,
            ..PROMO
        },
        Promo {
            code: "GONE",
            usage_limit: Some(1),
            used_count: 1,
            ..PROMO
        },
        Promo {
            code: "ONCE",
            kind: "fixed",
            value: 5_000,
            per_customer_limit: Some(1),
            usage_limit: Some(10),
            ..PROMO
        },
    ] {
        promotion(&shop.conn, p).await;
    }
    let token = shop.sign_in("09121110020").await;
    let me = customer(&token);
    shop.add_ok(me, a, 2).await;

    for (code, reason) in [
        ("NOPE", "unknown coupon code"),
        ("OLD", "expired"),
        ("SOON", "not valid yet"),
        ("OFF", "no longer active"),
        ("GONE", "used up"),
        ("FIXED", "at least 300000 Rial"),
    ] {
        let message = bad_input_message(&shop.apply_coupon(me, code).await);
        assert!(message.contains(reason), "{code}: {message}");
    }

    // 10% of 200,000 = 20,000, capped at 5,000.
    let cart = shop.apply_coupon(me, "TEN").await;
    assert!(cart["errors"].is_null(), "{cart}");
    let cart = &cart["data"]["applyCoupon"];
    assert_eq!(rial(&cart["discount"]), 5_000);
    assert_eq!(cart["couponCode"], "TEN");
    // Tax and toll are charged on the discounted amount: 195,000 × 10%.
    assert_eq!(rial(&cart["tax"]) + rial(&cart["toll"]), 19_500);
    assert_eq!(
        rial(&cart["grandTotal"]),
        200_000 - 5_000 + 19_500 + SHIPPING
    );

    // FIXED applies once the subtotal reaches its minimum; it is dropped (with the reason
    // shown) when the subtotal falls below it again.
    shop.add_ok(me, a, 1).await;
    let cart = shop.apply_coupon(me, "FIXED").await;
    assert_eq!(
        rial(&cart["data"]["applyCoupon"]["discount"]),
        20_000,
        "{cart}"
    );
    let line = cart["data"]["applyCoupon"]["lines"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let cart = shop.update_line(me, &line, 1).await;
    let cart = &cart["data"]["updateCartLine"];
    assert_eq!(rial(&cart["discount"]), 0, "{cart}");
    assert!(cart["couponProblem"].as_str().unwrap().contains("at least"));
    let address = shop.add_address(&token).await;
    let body = shop.checkout(&token, &address, None).await;
    assert!(bad_input_message(&body).contains("at least"));

    let body = shop
        .gql(
            "mutation { removeCoupon { couponCode discount } }",
            json!({}),
            me,
        )
        .await;
    assert_eq!(
        body["data"]["removeCoupon"],
        json!({ "couponCode": null, "discount": 0 }),
        "{body}"
    );

    // A per-customer limit of one: the second order with ONCE is refused.
    let cart = shop.apply_coupon(me, "ONCE").await;
    assert_eq!(
        rial(&cart["data"]["applyCoupon"]["discount"]),
        5_000,
        "{cart}"
    );
    let order = shop.checkout(&token, &address, None).await;
    assert!(order["errors"].is_null(), "{order}");
    assert_eq!(order["data"]["checkout"]["couponCode"], "ONCE");
    assert_eq!(rial(&order["data"]["checkout"]["discount"]), 5_000);
    let used = promotions::Entity::find()
        .filter(promotions::Column::Code.eq("ONCE"))
        .one(&shop.conn)
        .await
        .unwrap()
        .unwrap()
        .used_count;
    assert_eq!(used, 1);
    shop.add_ok(me, a, 1).await;
    let message = bad_input_message(&shop.apply_coupon(me, "ONCE").await);
    assert!(message.contains("already used"), "{message}");
}

#[tokio::test]
async fn stock_and_sellability_limit_the_cart() {
    let db = TestDb::postgres().await;
    let shop = start(&db).await;
    let a = product(&shop.conn, 400, 10_000, 2.0).await;
    let mut hidden = ProductSpec::new(401, "Hidden");
    hidden.published = false;
    seed::product(&shop.conn, &hidden).await;
    let hidden = variant_id(&shop.conn, 4010).await;
    let mut unpriced = ProductSpec::new(402, "Unpriced");
    unpriced.variants = vec![(Some(10_000), 5.0), (None, 5.0)];
    seed::product(&shop.conn, &unpriced).await;
    let unpriced = variant_id(&shop.conn, 4021).await;
    let deleted = product(&shop.conn, 403, 10_000, 5.0).await;
    shop.exec("UPDATE variants SET deleted_at = now() WHERE mahak_id = 4030")
        .await;

    let token = shop.sign_in("09121110030").await;
    let me = customer(&token);
    let message = bad_input_message(&shop.add(me, a, 3).await);
    assert!(message.contains("only 2 in stock"), "{message}");
    let cart = shop.add_ok(me, a, 2).await;
    assert_eq!(line_of(&cart, a)["quantity"], 2);
    let message = bad_input_message(&shop.add(me, a, 1).await);
    assert!(message.contains("only 2 in stock"), "{message}");
    for variant in [hidden, unpriced, deleted, 999_999] {
        let body = shop.add(me, variant, 1).await;
        assert_eq!(error_codes(&body), ["BAD_USER_INPUT"], "{variant}: {body}");
    }
    assert_eq!(error_codes(&shop.add(me, a, 0).await), ["BAD_USER_INPUT"]);

    let line = line_of(&cart, a)["id"].as_str().unwrap().to_string();
    assert_eq!(
        error_codes(&shop.update_line(me, &line, 3).await),
        ["BAD_USER_INPUT"]
    );
    let cart = shop.update_line(me, &line, 1).await;
    assert_eq!(cart["data"]["updateCartLine"]["itemCount"], 1, "{cart}");
    let cart = shop.update_line(me, &line, 0).await;
    assert_eq!(cart["data"]["updateCartLine"]["lines"], json!([]), "{cart}");
    assert_eq!(rial(&cart["data"]["updateCartLine"]["grandTotal"]), 0);
}

#[tokio::test]
async fn checkout_places_an_order_once_and_empties_the_cart() {
    let db = TestDb::postgres().await;
    let shop = start(&db).await;
    let a = product(&shop.conn, 500, 1_000_000, 5.0).await;
    let b = product(&shop.conn, 501, 250_000, 5.0).await;
    let token = shop.sign_in("09121110040").await;
    let me = customer(&token);
    let address = shop.add_address(&token).await;

    let body = shop.checkout(&token, &address, None).await;
    assert!(bad_input_message(&body).contains("empty"));

    shop.add_ok(me, a, 2).await;
    let cart = shop.add_ok(me, b, 3).await;
    let order = shop.checkout(&token, &address, Some("key-1")).await;
    assert!(order["errors"].is_null(), "{order}");
    let order = order["data"]["checkout"].clone();
    assert_eq!(order["status"], "PENDING_PAYMENT");
    // The order carries the cart's prices, to the Rial (2,750,000 is below the free-shipping
    // threshold of 5,000,000, so shipping is charged).
    for field in [
        "subtotal",
        "discount",
        "tax",
        "toll",
        "shipping",
        "grandTotal",
    ] {
        assert_eq!(order[field], cart[field], "{field}");
    }
    assert_eq!(rial(&order["subtotal"]), 2_750_000);
    assert_eq!(rial(&order["tax"]), 247_500);
    assert_eq!(rial(&order["toll"]), 27_500);
    assert_eq!(
        rial(&order["grandTotal"]),
        2_750_000 + 247_500 + 27_500 + SHIPPING
    );
    assert_eq!(order["note"], "ring twice");
    assert_eq!(order["shippingAddress"]["postalCode"], "1234567890");
    assert_eq!(order["lines"].as_array().unwrap().len(), 2);
    assert_eq!(order["lines"][0]["variantId"], a.to_string());
    assert_eq!(rial(&order["lines"][0]["unitPrice"]), 1_000_000);
    assert_eq!(order["lines"][1]["quantity"], 3);
    assert_eq!(
        order["history"],
        json!([{ "kind": "placed", "fromStatus": null, "toStatus": "PENDING_PAYMENT" }])
    );
    let number: i64 = order["number"].as_str().unwrap().parse().unwrap();
    assert!(number > 100_000);

    // The cart is empty, and the reserved units are no longer available.
    let cart = shop.cart(me).await;
    assert_eq!(cart["data"]["cart"]["lines"], json!([]), "{cart}");
    let message = bad_input_message(&shop.add(me, a, 4).await);
    assert!(message.contains("only 3 in stock"), "{message}");

    // A retry with the same key returns the same order and places nothing.
    let again = shop.checkout(&token, &address, Some("key-1")).await;
    assert!(again["errors"].is_null(), "{again}");
    assert_eq!(again["data"]["checkout"]["id"], order["id"]);
    let count = entity::orders::Entity::find()
        .all(&shop.conn)
        .await
        .unwrap()
        .len();
    assert_eq!(count, 1);

    // A second order gets the next number; the list is newest first and pages.
    shop.add_ok(me, b, 1).await;
    let second = shop.checkout(&token, &address, Some("key-2")).await;
    assert!(second["errors"].is_null(), "{second}");
    let second_number: i64 = second["data"]["checkout"]["number"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(second_number, number + 1);
    let page = shop
        .gql(
            "query($a: String) { myOrders(first: 1, after: $a) { edges { cursor node { id number } } pageInfo { hasNextPage endCursor } } }",
            json!({ "a": null }),
            me,
        )
        .await;
    assert_eq!(
        page["data"]["myOrders"]["edges"][0]["node"]["id"], second["data"]["checkout"]["id"],
        "{page}"
    );
    assert_eq!(page["data"]["myOrders"]["pageInfo"]["hasNextPage"], true);
    let next = shop
        .gql(
            "query($a: String) { myOrders(first: 1, after: $a) { edges { node { id } } pageInfo { hasNextPage } } }",
            json!({ "a": page["data"]["myOrders"]["pageInfo"]["endCursor"] }),
            me,
        )
        .await;
    assert_eq!(
        next["data"]["myOrders"]["edges"][0]["node"]["id"],
        order["id"]
    );
    assert_eq!(next["data"]["myOrders"]["pageInfo"]["hasNextPage"], false);

    let one = shop
        .gql(
            &format!("query($n: String!) {{ order(number: $n) {{ {ORDER} }} }}"),
            json!({ "n": order["number"] }),
            me,
        )
        .await;
    assert_eq!(one["data"]["order"], order, "{one}");

    // The state machine: illegal moves are CONFLICT; cancelling records history and releases
    // the reserved stock.
    let id = Uuid::parse_str(order["id"].as_str().unwrap()).unwrap();
    let row = entity::orders::Entity::find_by_id(id)
        .one(&shop.conn)
        .await
        .unwrap()
        .unwrap();
    use server::commerce::orders::{transition, OrderStatus};
    let err = transition(&shop.conn, &row, OrderStatus::Shipped, "system", "")
        .await
        .unwrap_err();
    assert_eq!(err.code(), "CONFLICT");
    let cancelled = transition(&shop.conn, &row, OrderStatus::Cancelled, "system", "test")
        .await
        .unwrap();
    assert_eq!(cancelled.status, "cancelled");
    assert!(cancelled.cancelled_at.is_some());
    // The stale row (old version) cannot be moved again.
    let err = transition(&shop.conn, &row, OrderStatus::Paid, "system", "")
        .await
        .unwrap_err();
    assert_eq!(err.code(), "CONFLICT");
    let one = shop
        .gql(
            "query($n: String!) { order(number: $n) { status history { kind fromStatus toStatus } } }",
            json!({ "n": order["number"] }),
            me,
        )
        .await;
    assert_eq!(one["data"]["order"]["status"], "CANCELLED");
    assert_eq!(
        one["data"]["order"]["history"][1],
        json!({ "kind": "status_changed", "fromStatus": "PENDING_PAYMENT", "toStatus": "CANCELLED" })
    );
    let cart = shop.add_ok(me, a, 5).await;
    assert_eq!(line_of(&cart, a)["availableQuantity"], 5);
}

#[tokio::test]
async fn concurrent_checkouts_never_oversell() {
    let db = TestDb::postgres().await;
    let shop = start(&db).await;
    let a = product(&shop.conn, 600, 10_000, 10.0).await;
    let mut buyers = Vec::new();
    for n in 0..50 {
        let token = shop.sign_in(&format!("09121112{n:03}")).await;
        shop.add_ok(customer(&token), a, 1).await;
        let address = shop.add_address(&token).await;
        buyers.push((token, address));
    }
    let shop = std::sync::Arc::new(shop);
    let tasks: Vec<_> = buyers
        .into_iter()
        .map(|(token, address)| {
            let shop = shop.clone();
            tokio::spawn(async move { shop.checkout(&token, &address, None).await })
        })
        .collect();
    let mut placed = 0;
    let mut refused = 0;
    for task in tasks {
        let body = task.await.unwrap();
        if body["errors"].is_null() {
            placed += 1;
        } else {
            assert_eq!(error_codes(&body), ["CONFLICT"], "{body}");
            refused += 1;
        }
    }
    assert_eq!((placed, refused), (10, 40));
    let orders = entity::orders::Entity::find()
        .all(&shop.conn)
        .await
        .unwrap();
    assert_eq!(orders.len(), 10);
    let mut numbers: Vec<i64> = orders.iter().map(|o| o.number).collect();
    numbers.sort();
    numbers.dedup();
    assert_eq!(numbers.len(), 10, "order numbers are unique");
}

#[tokio::test]
async fn customers_only_reach_their_own_cart_and_orders() {
    let db = TestDb::postgres().await;
    let shop = start(&db).await;
    let a = product(&shop.conn, 700, 10_000, 10.0).await;
    let alice = shop.sign_in("09121110070").await;
    let bob = shop.sign_in("09121110071").await;
    let cart = shop.add_ok(customer(&alice), a, 2).await;
    let line = line_of(&cart, a)["id"].as_str().unwrap().to_string();
    let alice_address = shop.add_address(&alice).await;
    shop.add_ok(customer(&bob), a, 1).await;

    // Bob cannot touch Alice's line, nor check out to her address.
    assert_eq!(
        error_codes(&shop.update_line(customer(&bob), &line, 1).await),
        ["NOT_FOUND"]
    );
    assert_eq!(
        error_codes(&shop.remove_line(customer(&bob), &line).await),
        ["NOT_FOUND"]
    );
    assert_eq!(
        error_codes(&shop.checkout(&bob, &alice_address, None).await),
        ["NOT_FOUND"]
    );
    // A guest cart cannot reach a customer's line either.
    let guest_token = shop.create_cart().await;
    assert_eq!(
        error_codes(&shop.update_line(guest(&guest_token), &line, 1).await),
        ["NOT_FOUND"]
    );
    let bobs_cart = shop.cart(customer(&bob)).await;
    assert_eq!(bobs_cart["data"]["cart"]["itemCount"], 1);

    let order = shop.checkout(&alice, &alice_address, None).await;
    assert!(order["errors"].is_null(), "{order}");
    let order_number = order["data"]["checkout"]["number"].clone();
    let as_bob = shop
        .gql(
            "query($n: String!) { order(number: $n) { id } }",
            json!({ "n": order_number }),
            customer(&bob),
        )
        .await;
    assert_eq!(error_codes(&as_bob), ["NOT_FOUND"]);
    let list = shop
        .gql(
            "{ myOrders { edges { node { id } } } }",
            json!({}),
            customer(&bob),
        )
        .await;
    assert_eq!(list["data"]["myOrders"]["edges"], json!([]), "{list}");

    // Anonymous callers get UNAUTHENTICATED for customer-only fields.
    for (query, variables) in [
        ("{ myOrders { edges { node { id } } } }", json!({})),
        (
            "query($n: String!) { order(number: $n) { id } }",
            json!({ "n": order_number }),
        ),
        (
            "mutation($i: CheckoutInput!) { checkout(input: $i) { id } }",
            json!({ "i": { "addressId": alice_address } }),
        ),
        ("{ cart { id } }", json!({})),
    ] {
        let body = shop.gql(query, variables, ANON).await;
        assert_eq!(error_codes(&body), ["UNAUTHENTICATED"], "{query}: {body}");
    }

    // A blocked customer cannot order.
    shop.add_ok(customer(&bob), a, 1).await;
    let bob_address = shop.add_address(&bob).await;
    shop.exec("UPDATE customers SET status = 'blocked' WHERE phone = '+989121110071'")
        .await;
    assert_eq!(
        error_codes(&shop.checkout(&bob, &bob_address, None).await),
        ["FORBIDDEN"]
    );
}

/// The embedded default: the same flow on SQLite, including checkouts racing for stock.
#[tokio::test]
async fn cart_and_checkout_work_on_sqlite() {
    let db = TestDb::sqlite();
    let shop = start(&db).await;
    let a = product(&shop.conn, 800, 100_000, 2.0).await;

    let guest_token = shop.create_cart().await;
    shop.add_ok(guest(&guest_token), a, 1).await;
    let first = shop.sign_in_with("09121118000", Some(&guest_token)).await;
    let cart = shop.cart(customer(&first)).await;
    assert_eq!(line_of(&cart["data"]["cart"], a)["quantity"], 1, "{cart}");

    let mut buyers = vec![(first.clone(), shop.add_address(&first).await)];
    for n in 1..5 {
        let token = shop.sign_in(&format!("0912111800{n}")).await;
        shop.add_ok(customer(&token), a, 1).await;
        let address = shop.add_address(&token).await;
        buyers.push((token, address));
    }
    let shop = std::sync::Arc::new(shop);
    let tasks: Vec<_> = buyers
        .into_iter()
        .map(|(token, address)| {
            let shop = shop.clone();
            tokio::spawn(async move { shop.checkout(&token, &address, Some("k")).await })
        })
        .collect();
    let mut placed = 0;
    for task in tasks {
        let body = task.await.unwrap();
        if body["errors"].is_null() {
            assert_eq!(body["data"]["checkout"]["status"], "PENDING_PAYMENT");
            placed += 1;
        } else {
            assert_eq!(error_codes(&body), ["CONFLICT"], "{body}");
        }
    }
    assert_eq!(placed, 2);
    let orders = shop
        .gql(
            "{ myOrders { edges { node { number grandTotal } } } }",
            json!({}),
            customer(&first),
        )
        .await;
    assert!(orders["errors"].is_null(), "{orders}");
}

#[tokio::test]
async fn concurrent_retries_with_one_key_place_one_order() {
    let db = TestDb::postgres().await;
    let shop = start(&db).await;
    let a = product(&shop.conn, 900, 10_000, 10.0).await;
    let token = shop.sign_in("09121119000").await;
    shop.add_ok(customer(&token), a, 2).await;
    let address = shop.add_address(&token).await;
    let shop = std::sync::Arc::new(shop);
    let tasks: Vec<_> = (0..10)
        .map(|_| {
            let (shop, token, address) = (shop.clone(), token.clone(), address.clone());
            tokio::spawn(async move { shop.checkout(&token, &address, Some("same")).await })
        })
        .collect();
    let mut ids = Vec::new();
    for task in tasks {
        let body = task.await.unwrap();
        assert!(body["errors"].is_null(), "{body}");
        ids.push(body["data"]["checkout"]["id"].clone());
    }
    ids.dedup();
    assert_eq!(ids.len(), 1, "every retry answers the same order");
    let orders = entity::orders::Entity::find()
        .all(&shop.conn)
        .await
        .unwrap();
    assert_eq!(orders.len(), 1);
    let reserved: i32 = entity::stock_reservations::Entity::find()
        .all(&shop.conn)
        .await
        .unwrap()
        .iter()
        .map(|r| r.quantity)
        .sum();
    assert_eq!(reserved, 2);
}

#[tokio::test]
async fn unpaid_orders_expire_and_release_their_stock() {
    let db = TestDb::postgres().await;
    let shop = start(&db).await;
    let a = product(&shop.conn, 950, 10_000, 1.0).await;
    let token = shop.sign_in("09121119500").await;
    shop.add_ok(customer(&token), a, 1).await;
    let address = shop.add_address(&token).await;
    let order = shop.checkout(&token, &address, None).await;
    assert!(order["errors"].is_null(), "{order}");
    let message = bad_input_message(&shop.add(customer(&token), a, 1).await);
    assert!(message.contains("out of stock"), "{message}");

    use server::commerce::orders::expire_unpaid;
    // Not old enough yet.
    let cutoff = Utc::now() - Duration::minutes(30);
    let events = server::events::OrderEvents::default();
    let mut published = events.subscribe();
    assert_eq!(expire_unpaid(&shop.conn, &events, cutoff).await.unwrap(), 0);
    assert_eq!(
        expire_unpaid(&shop.conn, &events, Utc::now() + Duration::seconds(1))
            .await
            .unwrap(),
        1
    );
    let one = shop
        .gql(
            "query($n: String!) { order(number: $n) { status history { toStatus message } } }",
            json!({ "n": order["data"]["checkout"]["number"] }),
            customer(&token),
        )
        .await;
    assert_eq!(one["data"]["order"]["status"], "CANCELLED", "{one}");
    assert_eq!(
        one["data"]["order"]["history"][1]["message"],
        "payment not received in time"
    );
    let event = published.try_recv().expect("the cancellation is published");
    assert_eq!(event.to, server::commerce::orders::OrderStatus::Cancelled);
    assert_eq!(
        event.order_id.to_string(),
        order["data"]["checkout"]["id"].as_str().unwrap()
    );
    shop.add_ok(customer(&token), a, 1).await;
}
