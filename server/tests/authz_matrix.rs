//! The shop's authorization matrix, generated from the schema: every root query, mutation and
//! subscription field that takes an id-like argument is either in `ENTRIES` (how to call it
//! with one of customer A's objects) or in `NOT_OWNED` (ids of public or bearer-secret
//! things, each with its reason); a field of the schema in neither fails the test, so a new
//! field cannot escape.
//!
//! Customer A makes real objects over HTTP (an order with a started payment, addresses, a cart
//! line). Customer B, an anonymous caller and a guest with their own cart token try every
//! entry on A's objects: each answer must be `NOT_FOUND`, `FORBIDDEN` or `UNAUTHENTICATED`,
//! with no data and none of A's identifiers in the body, and A's rows (and the row counts of
//! every owned table) must be unchanged afterwards. Subscriptions go over WebSocket and must
//! answer `error`, never `next`. Finally A runs every entry on fresh objects of their own and
//! is served, so a refusal above is the server's check, not a broken document.

mod common;
mod gql_ws;
#[allow(dead_code)]
mod kavenegar_sim;
mod shop;

use std::collections::BTreeSet;

use async_graphql::parser::types::{
    BaseType, InputValueDefinition, Type, TypeKind, TypeSystemDefinition,
};
use common::seed::{self, ProductSpec};
use common::{error_codes, TestDb, TestServer};
use sea_orm::{
    ColumnTrait, DatabaseConnection, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder,
};
use serde_json::{json, Value};
use uuid::Uuid;

use gql_ws::Reply;

/// Which of A's objects an entry's `$id` names.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Kind {
    /// The order number.
    Order,
    Address,
    CartLine,
}

/// One id-taking root field and how to call it with an object's id in `$id`.
struct Entry {
    field: &'static str,
    /// The argument (dotted path into an input object) that carries the id.
    argument: &'static str,
    kind: Kind,
    document: &'static str,
    /// What A gets on their own object: `None` for data, or an error code that proves the
    /// call got past the ownership check (A has no account credit, say).
    owner_answer: Option<&'static str>,
}

const ADDRESS_INPUT: &str = r#"{ title: "Taken", recipientName: "Mallory", recipientPhone: "09129999999", province: "Tehran", city: "Tehran", addressLine: "Elsewhere 1", postalCode: "9999999999" }"#;

const ENTRIES: &[Entry] = &[
    Entry {
        field: "order",
        argument: "number",
        kind: Kind::Order,
        document: "query($id: String!) { order(number: $id) { id number grandTotal shippingAddress { recipientName } payments { id } } }",
        owner_answer: None,
    },
    Entry {
        field: "orderStatusChanged",
        argument: "orderNumber",
        kind: Kind::Order,
        document: "subscription($id: String!) { orderStatusChanged(orderNumber: $id) { orderId orderNumber status } }",
        owner_answer: None,
    },
    Entry {
        field: "startPayment",
        argument: "orderNumber",
        kind: Kind::Order,
        document: "mutation($id: String!) { startPayment(orderNumber: $id) { paymentId redirectUrl } }",
        owner_answer: None,
    },
    Entry {
        field: "cancelOrder",
        argument: "orderNumber",
        kind: Kind::Order,
        document: "mutation($id: String!) { cancelOrder(orderNumber: $id) { id status } }",
        owner_answer: None,
    },
    Entry {
        field: "payOnAccount",
        argument: "orderNumber",
        kind: Kind::Order,
        document: "mutation($id: String!) { payOnAccount(orderNumber: $id) { id status } }",
        // A has no credit line: refused for that reason, after the order was found to be A's.
        owner_answer: Some("CREDIT_REFUSED"),
    },
    Entry {
        field: "updateAddress",
        argument: "id",
        kind: Kind::Address,
        document: concat!(
            "mutation($id: ID!) { updateAddress(id: $id, input: ",
            r#"{ title: "Taken", recipientName: "Mallory", recipientPhone: "09129999999", province: "Tehran", city: "Tehran", addressLine: "Elsewhere 1", postalCode: "9999999999" }"#,
            ") { id title } }"
        ),
        owner_answer: None,
    },
    Entry {
        field: "setDefaultAddress",
        argument: "id",
        kind: Kind::Address,
        document: "mutation($id: ID!) { setDefaultAddress(id: $id) { id isDefault } }",
        owner_answer: None,
    },
    Entry {
        field: "checkout",
        argument: "input.addressId",
        kind: Kind::Address,
        document: "mutation($id: ID!) { checkout(input: { addressId: $id }) { id number shippingAddress { recipientName } } }",
        owner_answer: None,
    },
    Entry {
        field: "removeAddress",
        argument: "id",
        kind: Kind::Address,
        document: "mutation($id: ID!) { removeAddress(id: $id) }",
        owner_answer: None,
    },
    Entry {
        field: "updateCartLine",
        argument: "lineId",
        kind: Kind::CartLine,
        document: "mutation($id: ID!) { updateCartLine(lineId: $id, quantity: 7) { id lines { id quantity } } }",
        owner_answer: None,
    },
    Entry {
        field: "removeCartLine",
        argument: "lineId",
        kind: Kind::CartLine,
        document: "mutation($id: ID!) { removeCartLine(lineId: $id) { id lines { id } } }",
        owner_answer: None,
    },
];

/// Id-like arguments that name nothing a customer owns: (field, argument, why).
const NOT_OWNED: &[(&str, &str, &str)] = &[
    ("product", "id", "the public catalogue"),
    ("products", "filter.categoryId", "the public catalogue"),
    (
        "addToCart",
        "variantId",
        "a catalogue variant; the cart is the caller's own",
    ),
    (
        "refreshToken",
        "token",
        "a bearer secret, not an object id: holding it is the authority",
    ),
    (
        "logout",
        "refreshToken",
        "a bearer secret, not an object id: holding it is the authority",
    ),
];

/// Codes a refused caller may get.
const REFUSALS: &[&str] = &["NOT_FOUND", "FORBIDDEN", "UNAUTHENTICATED"];

fn named(ty: &Type) -> String {
    match &ty.base {
        BaseType::Named(name) => name.to_string(),
        BaseType::List(inner) => named(inner),
    }
}

fn id_like(name: &str, type_name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    type_name == "ID" || name.ends_with("id") || name.ends_with("number") || name.ends_with("token")
}

/// Every (root field, argument path) of the shop schema whose argument is id-like, looking
/// inside input objects.
fn id_arguments(sdl: &str) -> BTreeSet<(String, String)> {
    let document = async_graphql::parser::parse_schema(sdl).expect("SDL parses");
    let mut roots: Vec<String> = Vec::new();
    let mut objects = Vec::new();
    let mut inputs = std::collections::HashMap::new();
    for definition in document.definitions {
        match definition {
            TypeSystemDefinition::Schema(schema) => {
                let schema = schema.node;
                for root in [schema.query, schema.mutation, schema.subscription]
                    .into_iter()
                    .flatten()
                {
                    roots.push(root.node.to_string());
                }
            }
            TypeSystemDefinition::Type(ty) => {
                let ty = ty.node;
                let name = ty.name.node.to_string();
                match ty.kind {
                    TypeKind::Object(object) => objects.push((name, object.fields)),
                    TypeKind::InputObject(input) => {
                        inputs.insert(name, input.fields);
                    }
                    _ => {}
                }
            }
            TypeSystemDefinition::Directive(_) => {}
        }
    }
    assert_eq!(
        roots.len(),
        3,
        "the shop has query, mutation and subscription roots"
    );
    fn walk(
        inputs: &std::collections::HashMap<
            String,
            Vec<async_graphql::Positioned<InputValueDefinition>>,
        >,
        prefix: &str,
        values: &[async_graphql::Positioned<InputValueDefinition>],
        depth: usize,
        out: &mut Vec<String>,
    ) {
        for value in values {
            let name = value.node.name.node.to_string();
            let type_name = named(&value.node.ty.node);
            let path = format!("{prefix}{name}");
            if id_like(&name, &type_name) {
                out.push(path.clone());
            }
            if let (Some(fields), true) = (inputs.get(&type_name), depth < 5) {
                walk(inputs, &format!("{path}."), fields, depth + 1, out);
            }
        }
    }
    let mut found = BTreeSet::new();
    for (name, fields) in objects {
        if !roots.contains(&name) {
            continue;
        }
        for field in fields {
            let mut paths = Vec::new();
            walk(&inputs, "", &field.node.arguments, 0, &mut paths);
            for path in paths {
                found.insert((field.node.name.node.to_string(), path));
            }
        }
    }
    found
}

#[test]
fn every_id_taking_shop_field_is_in_the_matrix() {
    let found = id_arguments(&server::graphql::shop::sdl());
    let listed: BTreeSet<(String, String)> = ENTRIES
        .iter()
        .map(|e| (e.field.to_string(), e.argument.to_string()))
        .chain(
            NOT_OWNED
                .iter()
                .map(|(f, a, _)| (f.to_string(), a.to_string())),
        )
        .collect();
    let missing: Vec<_> = found.difference(&listed).collect();
    assert!(
        missing.is_empty(),
        "id-taking shop fields missing from ENTRIES (or NOT_OWNED) in server/tests/authz_matrix.rs: {missing:?}"
    );
    let unknown: Vec<_> = listed.difference(&found).collect();
    assert!(
        unknown.is_empty(),
        "the matrix names no such field/argument: {unknown:?}"
    );
    for entry in ENTRIES {
        assert!(entry.document.contains(entry.field), "{}", entry.field);
    }
    // The detector itself finds the fields it must.
    assert!(found.contains(&("order".into(), "number".into())));
    assert!(found.contains(&("checkout".into(), "input.addressId".into())));
    assert!(!ADDRESS_INPUT.is_empty());
}

/// Who tries A's objects.
#[derive(Clone, Copy, Debug)]
enum Intruder<'a> {
    Customer(&'a str),
    Anonymous,
    /// No customer token, their own guest cart's token.
    Guest(&'a str),
}

impl Intruder<'_> {
    fn token(&self) -> Option<&str> {
        match self {
            Intruder::Customer(token) => Some(token),
            _ => None,
        }
    }

    fn cart(&self) -> Option<&str> {
        match self {
            Intruder::Guest(cart) => Some(cart),
            _ => None,
        }
    }
}

/// A's objects and every identifier of A's that must never reach anyone else.
struct Victim {
    token: String,
    id: Uuid,
    order_number: String,
    address: String,
    cart_line: String,
    /// Strings that must not appear in an intruder's response body.
    secrets: Vec<String>,
}

impl Victim {
    fn id_of(&self, kind: Kind) -> &str {
        match kind {
            Kind::Order => &self.order_number,
            Kind::Address => &self.address,
            Kind::CartLine => &self.cart_line,
        }
    }
}

async fn ok(
    server: &TestServer,
    token: Option<&str>,
    cart: Option<&str>,
    query: &str,
    variables: Value,
) -> Value {
    let body = shop::gql(server, query, variables, token, cart).await;
    assert!(body["errors"].is_null(), "{query}: {body}");
    body["data"].clone()
}

async fn add_to_cart(
    server: &TestServer,
    token: Option<&str>,
    cart: Option<&str>,
    variant: i64,
) -> Value {
    ok(
        server,
        token,
        cart,
        "mutation($v: ID!) { addToCart(variantId: $v, quantity: 1) { id lines { id variantId } } }",
        json!({ "v": variant.to_string() }),
    )
    .await["addToCart"]
        .clone()
}

/// A fresh object of `kind` for the signed-in `token`; returns its id.
async fn fresh(server: &TestServer, token: &str, variant: i64, kind: Kind) -> String {
    match kind {
        Kind::Order => {
            add_to_cart(server, Some(token), None, variant).await;
            let address = shop::add_home_address(server, token).await;
            let data = ok(
                server,
                Some(token),
                None,
                "mutation($a: ID!) { checkout(input: { addressId: $a }) { number } }",
                json!({ "a": address }),
            )
            .await;
            data["checkout"]["number"].as_str().unwrap().to_string()
        }
        Kind::Address => shop::add_home_address(server, token).await,
        Kind::CartLine => {
            let cart = add_to_cart(server, Some(token), None, variant).await;
            cart["lines"][0]["id"].as_str().expect("a line").to_string()
        }
    }
}

/// Debug renderings of every row A owns, and the row counts of every owned table.
async fn snapshot(conn: &DatabaseConnection, customer: Uuid) -> Vec<String> {
    use entity::*;
    let mut rows = Vec::new();
    rows.push(format!(
        "{:?}",
        customers::Entity::find_by_id(customer)
            .one(conn)
            .await
            .unwrap()
    ));
    rows.push(format!(
        "{:?}",
        customer_addresses::Entity::find()
            .filter(customer_addresses::Column::CustomerId.eq(customer))
            .order_by_asc(customer_addresses::Column::Id)
            .all(conn)
            .await
            .unwrap()
    ));
    let carts = carts::Entity::find()
        .filter(carts::Column::CustomerId.eq(customer))
        .order_by_asc(carts::Column::Id)
        .all(conn)
        .await
        .unwrap();
    let cart_ids: Vec<Uuid> = carts.iter().map(|c| c.id).collect();
    rows.push(format!("{carts:?}"));
    rows.push(format!(
        "{:?}",
        cart_lines::Entity::find()
            .filter(cart_lines::Column::CartId.is_in(cart_ids))
            .order_by_asc(cart_lines::Column::Id)
            .all(conn)
            .await
            .unwrap()
    ));
    let orders = orders::Entity::find()
        .filter(orders::Column::CustomerId.eq(customer))
        .order_by_asc(orders::Column::Id)
        .all(conn)
        .await
        .unwrap();
    let order_ids: Vec<Uuid> = orders.iter().map(|o| o.id).collect();
    rows.push(format!("{orders:?}"));
    rows.push(format!(
        "{:?}",
        order_lines::Entity::find()
            .filter(order_lines::Column::OrderId.is_in(order_ids.clone()))
            .order_by_asc(order_lines::Column::Id)
            .all(conn)
            .await
            .unwrap()
    ));
    rows.push(format!(
        "{:?}",
        order_events::Entity::find()
            .filter(order_events::Column::OrderId.is_in(order_ids.clone()))
            .order_by_asc(order_events::Column::Id)
            .all(conn)
            .await
            .unwrap()
    ));
    rows.push(format!(
        "{:?}",
        payments::Entity::find()
            .filter(payments::Column::OrderId.is_in(order_ids))
            .order_by_asc(payments::Column::Id)
            .all(conn)
            .await
            .unwrap()
    ));
    rows.push(format!(
        "counts: orders {} payments {} addresses {} cart lines {} order events {}",
        orders::Entity::find().count(conn).await.unwrap(),
        payments::Entity::find().count(conn).await.unwrap(),
        customer_addresses::Entity::find()
            .count(conn)
            .await
            .unwrap(),
        cart_lines::Entity::find().count(conn).await.unwrap(),
        order_events::Entity::find().count(conn).await.unwrap(),
    ));
    rows
}

/// Checks a refused answer: a refusal code, no data, none of A's identifiers but `sent`.
fn assert_refused(what: &str, field: &str, body: &Value, victim: &Victim, sent: &str) {
    let codes = error_codes(body);
    assert!(
        !codes.is_empty() && codes.iter().all(|c| REFUSALS.contains(&c.as_str())),
        "{what}: expected one of {REFUSALS:?}, got {body}"
    );
    assert!(
        body["data"].is_null() || body["data"][field].is_null(),
        "{what}: data in a refused answer: {body}"
    );
    let text = body.to_string();
    for secret in victim.secrets.iter().filter(|s| s.as_str() != sent) {
        assert!(
            !text.contains(secret.as_str()),
            "{what}: A's {secret} in {body}"
        );
    }
}

#[tokio::test]
async fn no_customer_or_guest_reaches_another_customers_objects() {
    let db = TestDb::postgres().await;
    let (server, sms) = shop::start(&db, &[]).await;
    let conn = db.connect().await;
    let mut spec = ProductSpec::new(500, "Matrix item");
    spec.variants = vec![(Some(120_000), 1000.0)];
    seed::product(&conn, &spec).await;
    let variant = entity::variants::Entity::find()
        .filter(entity::variants::Column::MahakId.eq(5000))
        .one(&conn)
        .await
        .unwrap()
        .expect("variant")
        .id;

    // A: an order with a started payment, two addresses, a cart line.
    let a_token = shop::sign_in(&server, &sms, "09121111111", None).await;
    let a_id: Uuid = ok(&server, Some(&a_token), None, "{ me { id } }", json!({})).await["me"]
        ["id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let order_number = fresh(&server, &a_token, variant, Kind::Order).await;
    let started = ok(
        &server,
        Some(&a_token),
        None,
        "mutation($o: String!) { startPayment(orderNumber: $o) { paymentId } }",
        json!({ "o": order_number }),
    )
    .await;
    let payment_id = started["startPayment"]["paymentId"]
        .as_str()
        .unwrap()
        .to_string();
    let address = fresh(&server, &a_token, variant, Kind::Address).await;
    let cart_line = fresh(&server, &a_token, variant, Kind::CartLine).await;
    let mine = ok(
        &server,
        Some(&a_token),
        None,
        "query($o: String!) { order(number: $o) { id } addresses { id } cart { id } }",
        json!({ "o": order_number }),
    )
    .await;
    let mut secrets = vec![
        a_id.to_string(),
        "9121111111".to_string(),
        format!("\"{order_number}\""),
        payment_id,
        cart_line.clone(),
        mine["order"]["id"].as_str().unwrap().to_string(),
        mine["cart"]["id"].as_str().unwrap().to_string(),
    ];
    for address in mine["addresses"].as_array().unwrap() {
        secrets.push(address["id"].as_str().unwrap().to_string());
    }
    let victim = Victim {
        token: a_token.clone(),
        id: a_id,
        order_number: order_number.clone(),
        address,
        cart_line,
        secrets,
    };

    // B: a customer with a cart and an address of their own; a guest with a cart.
    let b_token = shop::sign_in(&server, &sms, "09122222222", None).await;
    shop::add_home_address(&server, &b_token).await;
    add_to_cart(&server, Some(&b_token), None, variant).await;
    let guest = ok(
        &server,
        None,
        None,
        "mutation { createCart { token } }",
        json!({}),
    )
    .await["createCart"]["token"]
        .as_str()
        .unwrap()
        .to_string();
    add_to_cart(&server, None, Some(&guest), variant).await;

    let before = snapshot(&conn, victim.id).await;
    let intruders = [
        ("customer B", Intruder::Customer(&b_token)),
        ("anonymous", Intruder::Anonymous),
        ("guest with a cart", Intruder::Guest(&guest)),
    ];
    let mut tried = 0;
    for entry in ENTRIES {
        let id = victim.id_of(entry.kind);
        for (who, intruder) in intruders {
            let what = format!("{} by {who}", entry.field);
            if entry.document.starts_with("subscription") {
                let (mut ws, reply) = gql_ws::init(&server, "/graphql", intruder.token()).await;
                assert_eq!(reply, gql_ws::ack(), "{what}");
                match gql_ws::subscribe(&mut ws, "1", entry.document, json!({ "id": id })).await {
                    Reply::Message(message) => {
                        assert_eq!(message["type"], "error", "{what}: {message}");
                        assert_refused(
                            &what,
                            entry.field,
                            &json!({ "errors": message["payload"] }),
                            &victim,
                            id,
                        );
                    }
                    other => panic!("{what}: {other:?}"),
                }
            } else {
                let body = shop::gql(
                    &server,
                    entry.document,
                    json!({ "id": id }),
                    intruder.token(),
                    intruder.cart(),
                )
                .await;
                assert_refused(&what, entry.field, &body, &victim, id);
            }
            tried += 1;
        }
    }
    assert_eq!(tried, ENTRIES.len() * intruders.len());
    let after = snapshot(&conn, victim.id).await;
    for (before, after) in before.iter().zip(&after) {
        assert_eq!(before, after, "A's rows changed by refused calls");
    }

    // A is served by every entry (on fresh objects, so each call has something to act on).
    for entry in ENTRIES {
        let id = fresh(&server, &victim.token, variant, entry.kind).await;
        add_to_cart(&server, Some(&victim.token), None, variant).await;
        if entry.document.starts_with("subscription") {
            let (mut ws, reply) = gql_ws::init(&server, "/graphql", Some(&victim.token)).await;
            assert_eq!(reply, gql_ws::ack());
            match gql_ws::subscribe(&mut ws, "1", entry.document, json!({ "id": id })).await {
                Reply::Message(message) => {
                    assert_eq!(message["type"], "next", "{}: {message}", entry.field);
                    assert_eq!(
                        message["payload"]["data"][entry.field]["orderNumber"],
                        id.as_str()
                    );
                }
                other => panic!("{}: {other:?}", entry.field),
            }
        } else if let Some(code) = entry.owner_answer {
            let body = shop::gql(
                &server,
                entry.document,
                json!({ "id": id }),
                Some(&victim.token),
                None,
            )
            .await;
            assert_eq!(error_codes(&body), [code], "{}: {body}", entry.field);
        } else {
            let data = ok(
                &server,
                Some(&victim.token),
                None,
                entry.document,
                json!({ "id": id }),
            )
            .await;
            assert!(!data[entry.field].is_null(), "{}: {data}", entry.field);
        }
    }
}
