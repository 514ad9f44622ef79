//! Hostile input against every mutation of both schemas (issue 8, "abuse and bad input").
//!
//! The list of mutations comes from the running server's introspection, and `WRITES` must name
//! every one of them (a new mutation fails the test until it is added), so nothing escapes the
//! corpus. Each mutation's arguments are generated from its argument types: every string-like
//! leaf (`String`, `ID`, `JSON`, `DateTime`) and every number-like leaf (`Int`, `Float`, `Rial`)
//! is given each corpus value, once all leaves together and once each leaf alone with plausible
//! values elsewhere (so a check on one argument cannot hide a crash on another).
//!
//! For every call: never HTTP 5xx, never an `INTERNAL` error, and when the mutation failed,
//! no table changed (a fingerprint of every table's rows is taken before and after, not just a
//! count, so partial updates are caught too). Raw bodies (invalid UTF-8, oversized, lone
//! surrogates, deep nesting, NUL) are sent to both endpoints. The server still answers at the
//! end.

mod admin;
mod common;
#[allow(dead_code)]
mod kavenegar_sim;
mod shop;

use std::collections::{BTreeMap, BTreeSet, HashMap};

use common::seed::{self, ProductSpec};
use common::{TestDb, TestServer, QUIET_BACKGROUND};
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, Statement};
use serde_json::{json, Value};

/// Every mutation of both schemas (`shop:` / `admin:` prefix). Listing one here is the
/// promise that it was looked at; the fingerprint covers all tables either way.
const MUTATIONS: &[&str] = &[
    "shop:requestOtp",
    "shop:verifyOtp",
    "shop:refreshToken",
    "shop:logout",
    "shop:updateProfile",
    "shop:addAddress",
    "shop:updateAddress",
    "shop:removeAddress",
    "shop:setDefaultAddress",
    "shop:createCart",
    "shop:addToCart",
    "shop:updateCartLine",
    "shop:removeCartLine",
    "shop:applyCoupon",
    "shop:removeCoupon",
    "shop:checkout",
    "shop:cancelOrder",
    "shop:startPayment",
    "shop:payOnAccount",
    "admin:signIn",
    "admin:refreshStaffToken",
    "admin:signOut",
    "admin:createRole",
    "admin:updateRole",
    "admin:createStaff",
    "admin:updateStaff",
    "admin:disableStaff",
    "admin:enableStaff",
    "admin:resetStaffPassword",
    "admin:createImageUpload",
    "admin:attachProductImage",
    "admin:reorderProductImages",
    "admin:deleteProductImage",
    "admin:updateProductListing",
    "admin:setProductsPublished",
    "admin:updateCategoryListing",
    "admin:replayDeadLetter",
    "admin:replayDeadLetters",
    "admin:discardDeadLetter",
    "admin:triggerSync",
    "admin:confirmOrder",
    "admin:shipOrder",
    "admin:deliverOrder",
    "admin:cancelOrder",
    "admin:refundOrder",
    "admin:blockCustomer",
    "admin:unblockCustomer",
    "admin:createPage",
    "admin:updatePage",
    "admin:deletePage",
    "admin:createBanner",
    "admin:updateBanner",
    "admin:deleteBanner",
    "admin:createPromotion",
    "admin:updatePromotion",
    "admin:deactivatePromotion",
    "admin:retryMahakPush",
];

/// Tables a refused call may legitimately touch: the rate limiter's attempt log (an attempt
/// is recorded, then taken back) and the migration bookkeeping.
const UNFINGERPRINTED: &[&str] = &["auth_attempts", "seaql_migrations"];

/// Writes a refused call is meant to make: a wrong OTP code is counted on its challenge (the
/// per-challenge attempt limit).
const WRITES_WHEN_REFUSED: &[(&str, &str)] = &[("shop:verifyOtp", "otp_challenges")];

fn string_corpus() -> Vec<(&'static str, Value)> {
    vec![
        ("empty", json!("")),
        ("oversized 64 KiB", json!("ب".repeat(32 * 1024))),
        ("persian digits", json!("۰۹۱۲۱۲۳۴۵۶۷")),
        ("arabic digits", json!("٠٩١٢١٢٣٤٥٦٧")),
        ("persian/arabic letters", json!("علی ك ي ۀ ة")),
        (
            "zero-width and rtl marks",
            json!("\u{200c}\u{200f}\u{202e}abc\u{202c}\u{feff}\u{200b}"),
        ),
        (
            "sql metacharacters",
            json!("'; DROP TABLE orders; -- \" OR 1=1 %_\\"),
        ),
        (
            "html",
            json!("<script>alert(1)</script><img src=x onerror=alert(1)>"),
        ),
        ("null byte", json!("a\u{0}b")),
        ("only null byte", json!("\u{0}")),
        ("control characters", json!("\u{1}\u{7}\u{1b}[31m\r\n\t")),
        ("huge number as text", json!("9".repeat(400))),
        ("negative number as text", json!("-1")),
        ("noncharacters", json!("\u{fffe}\u{ffff}\u{10ffff}")),
        (
            "uuid-looking",
            json!("00000000-0000-0000-0000-000000000000"),
        ),
    ]
}

fn number_corpus() -> Vec<(&'static str, Value)> {
    vec![
        ("zero", json!(0)),
        ("minus one", json!(-1)),
        ("i32 min", json!(i32::MIN)),
        ("i32 max", json!(i32::MAX)),
        ("beyond i32", json!(i64::from(i32::MAX) + 1)),
        ("i64 max", json!(i64::MAX)),
        ("i64 min", json!(i64::MIN)),
        ("2^53", json!(1_i64 << 53)),
        ("fraction", json!(1.5)),
        ("1e308", json!(1e308)),
        ("-1e308", json!(-1e308)),
    ]
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LeafKind {
    Text,
    Number,
}

fn leaf_kind(scalar: &str) -> Option<LeafKind> {
    match scalar {
        "String" | "ID" | "JSON" | "DateTime" => Some(LeafKind::Text),
        "Int" | "Float" | "Rial" => Some(LeafKind::Number),
        _ => None,
    }
}

/// The introspected parts the generator needs.
struct Schema {
    mutations: Vec<Value>,
    types: HashMap<String, Value>,
}

const INTROSPECTION: &str = r"
fragment T on __Type { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name } } } } }
fragment I on __InputValue { name type { ...T } }
{ __schema {
    mutationType { fields { name args { ...I } type { ...T } } }
    types { kind name inputFields { ...I } enumValues { name } }
} }";

fn type_string(ty: &Value) -> String {
    match ty["kind"].as_str().unwrap() {
        "NON_NULL" => format!("{}!", type_string(&ty["ofType"])),
        "LIST" => format!("[{}]", type_string(&ty["ofType"])),
        _ => ty["name"].as_str().unwrap().to_string(),
    }
}

fn named(ty: &Value) -> &Value {
    if ty["ofType"].is_object() {
        named(&ty["ofType"])
    } else {
        ty
    }
}

/// Plausible ids and values, so that a single hostile leaf gets past the others' checks.
struct Plausible {
    ids: HashMap<&'static str, String>,
}

impl Plausible {
    fn text(&self, name: &str, scalar: &str) -> Value {
        if let Some(id) = self.ids.get(name) {
            return json!(id);
        }
        let lower = name.to_ascii_lowercase();
        let text = match scalar {
            "DateTime" => "2030-01-01T00:00:00Z",
            "ID" => "00000000-0000-4000-8000-000000000000",
            "JSON" => return json!({}),
            _ if lower.contains("phone") || lower == "mobile" => "09121234567",
            _ if lower.contains("email") => "someone@example.com",
            _ if lower.contains("postal") => "1234567890",
            _ if lower.contains("password") => "a-long-enough-password-123",
            _ if lower.contains("contenttype") => "image/png",
            _ if lower.contains("url") || lower.contains("link") => "https://example.com/x",
            _ if lower.contains("slug") => "a-slug",
            _ if lower == "code" => "123456",
            _ if lower.contains("number") => "1000001",
            _ if lower.contains("permission") => "catalogue",
            _ => "Test value",
        };
        json!(text)
    }

    fn number(&self, name: &str, scalar: &str) -> Value {
        match (scalar, name) {
            ("Rial", _) => json!(10_000),
            (_, "percentage" | "value") => json!(10),
            _ => json!(1),
        }
    }
}

/// One generated argument value for `ty`; `pick` chooses each leaf given its path and scalar.
fn generate(
    schema: &Schema,
    ty: &Value,
    path: &str,
    name: &str,
    depth: usize,
    pick: &mut dyn FnMut(&str, &str, &str) -> Value,
) -> Value {
    match ty["kind"].as_str().unwrap() {
        "NON_NULL" => generate(schema, &ty["ofType"], path, name, depth, pick),
        "LIST" => json!([generate(schema, &ty["ofType"], path, name, depth, pick)]),
        "SCALAR" => pick(path, name, ty["name"].as_str().unwrap()),
        "ENUM" => {
            let def = &schema.types[ty["name"].as_str().unwrap()];
            def["enumValues"][0]["name"].clone()
        }
        "INPUT_OBJECT" => {
            let def = &schema.types[ty["name"].as_str().unwrap()];
            let mut object = serde_json::Map::new();
            if depth < 4 {
                for field in def["inputFields"].as_array().unwrap() {
                    let field_name = field["name"].as_str().unwrap();
                    let value = generate(
                        schema,
                        &field["type"],
                        &format!("{path}.{field_name}"),
                        field_name,
                        depth + 1,
                        pick,
                    );
                    object.insert(field_name.into(), value);
                }
            }
            Value::Object(object)
        }
        other => panic!("unexpected input kind {other}"),
    }
}

/// The leaves (path, kind) of a mutation's arguments.
fn leaves(schema: &Schema, mutation: &Value) -> Vec<(String, LeafKind)> {
    let mut found = Vec::new();
    for arg in mutation["args"].as_array().unwrap() {
        let name = arg["name"].as_str().unwrap();
        generate(
            schema,
            &arg["type"],
            name,
            name,
            0,
            &mut |path, _, scalar| {
                if let Some(kind) = leaf_kind(scalar) {
                    found.push((path.to_string(), kind));
                }
                Value::Null
            },
        );
    }
    found
}

fn document(mutation: &Value) -> String {
    let name = mutation["name"].as_str().unwrap();
    let args = mutation["args"].as_array().unwrap();
    let declarations: Vec<String> = args
        .iter()
        .map(|a| {
            format!(
                "${}: {}",
                a["name"].as_str().unwrap(),
                type_string(&a["type"])
            )
        })
        .collect();
    let uses: Vec<String> = args
        .iter()
        .map(|a| format!("{0}: ${0}", a["name"].as_str().unwrap()))
        .collect();
    let selection = match named(&mutation["type"])["kind"].as_str().unwrap() {
        "OBJECT" | "INTERFACE" | "UNION" => " { __typename }",
        _ => "",
    };
    let wrap = |items: &[String]| {
        if items.is_empty() {
            String::new()
        } else {
            format!("({})", items.join(", "))
        }
    };
    format!(
        "mutation{} {{ {name}{}{selection} }}",
        wrap(&declarations),
        wrap(&uses)
    )
}

/// Variables for `mutation` with the leaves chosen by `hostile` (path, kind) → value.
fn variables(
    schema: &Schema,
    plausible: &Plausible,
    mutation: &Value,
    hostile: &dyn Fn(&str, LeafKind) -> Option<Value>,
) -> Value {
    let mut vars = serde_json::Map::new();
    for arg in mutation["args"].as_array().unwrap() {
        let name = arg["name"].as_str().unwrap();
        let value = generate(
            schema,
            &arg["type"],
            name,
            name,
            0,
            &mut |path, leaf, scalar| match leaf_kind(scalar) {
                Some(kind) => hostile(path, kind).unwrap_or_else(|| match kind {
                    LeafKind::Text => plausible.text(leaf, scalar),
                    LeafKind::Number => plausible.number(leaf, scalar),
                }),
                None => json!(true),
            },
        );
        vars.insert(name.into(), value);
    }
    Value::Object(vars)
}

/// A digest of every table's rows (all tables but `UNFINGERPRINTED`), in one statement.
struct Fingerprint {
    sql: String,
}

impl Fingerprint {
    async fn new(conn: &DatabaseConnection) -> Fingerprint {
        let rows = conn
            .query_all(Statement::from_string(
                DbBackend::Postgres,
                "SELECT table_name::text AS name FROM information_schema.tables \
                 WHERE table_schema = 'public' AND table_type = 'BASE TABLE' ORDER BY 1",
            ))
            .await
            .unwrap();
        let parts: Vec<String> = rows
            .iter()
            .map(|row| row.try_get::<String>("", "name").unwrap())
            .filter(|name| !UNFINGERPRINTED.contains(&name.as_str()))
            .map(|name| {
                format!(
                    "SELECT '{name}' AS name, md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), '')) AS digest FROM \"{name}\" t"
                )
            })
            .collect();
        assert!(parts.len() > 10, "too few tables: {}", parts.len());
        Fingerprint {
            sql: parts.join(" UNION ALL "),
        }
    }

    async fn take(&self, conn: &DatabaseConnection) -> BTreeMap<String, String> {
        conn.query_all(Statement::from_string(
            DbBackend::Postgres,
            self.sql.clone(),
        ))
        .await
        .unwrap()
        .iter()
        .map(|row| {
            (
                row.try_get::<String>("", "name").unwrap(),
                row.try_get::<String>("", "digest").unwrap(),
            )
        })
        .collect()
    }
}

struct Target<'a> {
    prefix: &'static str,
    path: &'static str,
    token: &'a str,
}

async fn post_raw(
    client: &reqwest::Client,
    server: &TestServer,
    path: &str,
    token: Option<&str>,
    body: Vec<u8>,
) -> (u16, String) {
    let mut request = client
        .post(server.url(path))
        .header("accept", "application/graphql-response+json")
        .header("content-type", "application/json")
        .body(body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    match request.send().await {
        Ok(response) => {
            let status = response.status().as_u16();
            (status, response.text().await.unwrap_or_default())
        }
        // The server may answer and close before a large body is fully sent.
        Err(err) => (0, format!("connection closed: {err}")),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_mutation_survives_the_hostile_corpus() {
    let db = TestDb::postgres().await;
    let conn = db.connect().await;
    let product = seed::product(&conn, &ProductSpec::new(7001, "کالای آزمایشی")).await;
    let mut env: Vec<(&str, &str)> = QUIET_BACKGROUND.to_vec();
    env.push(("APP__STAFF__IP_FAILURES_PER_HOUR", "1000000"));
    let (server, sms) = shop::start(&db, &env).await;
    let customer = shop::sign_in(&server, &sms, "09120000001", None).await;
    let staff = admin::staff_token(&server, &db, &["*"]).await;

    // Real ids, so that one hostile leaf is tried next to valid ones.
    let catalogue = shop::gql(
        &server,
        "{ products(first: 5) { edges { node { id variants { id } } } } }",
        json!({}),
        None,
        None,
    )
    .await;
    let node = &catalogue["data"]["products"]["edges"][0]["node"];
    let variant = node["variants"][0]["id"]
        .as_str()
        .expect("a variant")
        .to_string();
    let cart = shop::gql(
        &server,
        "mutation($v: ID!) { addToCart(variantId: $v, quantity: 1) { lines { id } } }",
        json!({ "v": variant }),
        Some(&customer),
        None,
    )
    .await;
    let line = cart["data"]["addToCart"]["lines"][0]["id"]
        .as_str()
        .expect("a cart line")
        .to_string();
    let address = shop::add_home_address(&server, &customer).await;
    let mut ids = HashMap::new();
    ids.insert("productId", node["id"].as_str().unwrap().to_string());
    ids.insert("productIds", node["id"].as_str().unwrap().to_string());
    ids.insert("variantId", variant);
    ids.insert("lineId", line);
    ids.insert("addressId", address);
    let plausible = Plausible { ids };
    let _ = product;

    let fingerprint = Fingerprint::new(&conn).await;
    let targets = [
        Target {
            prefix: "shop",
            path: "/graphql",
            token: &customer,
        },
        Target {
            prefix: "admin",
            path: "/admin/graphql",
            token: &staff,
        },
    ];

    let mut seen = BTreeSet::new();
    let mut failures: Vec<String> = Vec::new();
    let mut calls = 0_usize;
    let mut refused = 0_usize;
    for target in &targets {
        let intro = match target.prefix {
            "shop" => shop::gql(&server, INTROSPECTION, json!({}), None, None).await,
            _ => admin::admin_gql(&server, None, INTROSPECTION, json!({})).await,
        };
        let schema_json = &intro["data"]["__schema"];
        let schema = Schema {
            mutations: schema_json["mutationType"]["fields"]
                .as_array()
                .expect("mutations")
                .clone(),
            types: schema_json["types"]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| (t["name"].as_str().unwrap().to_string(), t.clone()))
                .collect(),
        };
        for mutation in &schema.mutations {
            let name = mutation["name"].as_str().unwrap();
            let key = format!("{}:{name}", target.prefix);
            seen.insert(key.clone());
            let query = document(mutation);
            let leaves = leaves(&schema, mutation);

            // (description, variables) for every case of this mutation.
            let mut cases: Vec<(String, Value)> = Vec::new();
            for (label, value) in string_corpus().into_iter() {
                cases.push((
                    format!("all text leaves = {label}"),
                    variables(&schema, &plausible, mutation, &|_, kind| {
                        (kind == LeafKind::Text).then(|| value.clone())
                    }),
                ));
                for (path, _) in leaves.iter().filter(|(_, k)| *k == LeafKind::Text) {
                    cases.push((
                        format!("{path} = {label}"),
                        variables(&schema, &plausible, mutation, &|p, _| {
                            (p == path).then(|| value.clone())
                        }),
                    ));
                }
            }
            for (label, value) in number_corpus().into_iter() {
                for (path, _) in leaves.iter().filter(|(_, k)| *k == LeafKind::Number) {
                    cases.push((
                        format!("{path} = {label}"),
                        variables(&schema, &plausible, mutation, &|p, _| {
                            (p == path).then(|| value.clone())
                        }),
                    ));
                }
            }

            for (label, vars) in cases {
                let before = fingerprint.take(&conn).await;
                let body =
                    serde_json::to_vec(&json!({ "query": query, "variables": vars })).unwrap();
                let (status, text) = post_raw(
                    &server.client,
                    &server,
                    target.path,
                    Some(target.token),
                    body,
                )
                .await;
                calls += 1;
                let what = format!("{key} [{label}]");
                if status >= 500 {
                    failures.push(format!("{what}: HTTP {status}: {}", cut(&text)));
                    continue;
                }
                let Ok(response) = serde_json::from_str::<Value>(&text) else {
                    failures.push(format!("{what}: HTTP {status}, not JSON: {}", cut(&text)));
                    continue;
                };
                if common::error_codes(&response)
                    .iter()
                    .any(|c| c == "INTERNAL")
                {
                    failures.push(format!("{what}: INTERNAL: {}", cut(&text)));
                }
                let failed = response["data"][name].is_null();
                if failed {
                    refused += 1;
                    let after = fingerprint.take(&conn).await;
                    let changed: Vec<&String> = before
                        .iter()
                        .filter(|(table, digest)| after.get(*table) != Some(digest))
                        .filter(|(table, _)| {
                            !WRITES_WHEN_REFUSED.contains(&(key.as_str(), table.as_str()))
                        })
                        .map(|(table, _)| table)
                        .collect();
                    if !changed.is_empty() {
                        failures.push(format!(
                            "{what}: refused ({}) but wrote to {changed:?}",
                            cut(&text)
                        ));
                    }
                }
            }
            assert_answers(&server).await;
        }
    }

    let listed: BTreeSet<String> = MUTATIONS.iter().map(ToString::to_string).collect();
    let missing: Vec<&String> = seen.difference(&listed).collect();
    assert!(
        missing.is_empty(),
        "mutations missing from MUTATIONS in server/tests/hostile_input.rs: {missing:?}"
    );
    let unknown: Vec<&String> = listed.difference(&seen).collect();
    assert!(
        unknown.is_empty(),
        "MUTATIONS names no such mutation: {unknown:?}"
    );

    eprintln!(
        "hostile corpus: {calls} calls, {refused} refused, {} failures",
        failures.len()
    );
    assert!(
        failures.is_empty(),
        "{} of {calls} hostile calls misbehaved:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(calls > 1000, "only {calls} calls");
    drop(sms);
}

fn cut(text: &str) -> String {
    text.chars().take(300).collect()
}

async fn assert_answers(server: &TestServer) {
    let response = server
        .client
        .get(server.url("/healthz"))
        .send()
        .await
        .expect("server answers");
    assert_eq!(response.status().as_u16(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_bodies_are_refused_without_a_server_error() {
    let db = TestDb::postgres().await;
    let server = TestServer::start_with(&db, QUIET_BACKGROUND).await;
    let mutation = "mutation { requestOtp(phone: \"09121234567\") { sentAt } }";
    let mut invalid_utf8 = br#"{"query": "mutation { requestOtp(phone: \""#.to_vec();
    invalid_utf8.extend_from_slice(&[0xff, 0xfe, 0xc3, 0x28]);
    invalid_utf8.extend_from_slice(br#"\") { sentAt } }"}"#);
    let cases: Vec<(&str, Vec<u8>, &[u16])> = vec![
        ("invalid UTF-8", invalid_utf8, &[400]),
        (
            "oversized body (2 MiB)",
            serde_json::to_vec(
                &json!({ "query": mutation, "variables": { "x": "a".repeat(2 << 20) } }),
            )
            .unwrap(),
            // 413 up front from Content-Length; the client may see the close before the answer.
            &[413, 0],
        ),
        (
            "lone surrogate escape",
            br#"{"query": "mutation { requestOtp(phone: \"\ud800\") { sentAt } }"}"#.to_vec(),
            &[400],
        ),
        (
            "deeply nested JSON",
            {
                let mut body = b"{\"query\": \"{ __typename }\", \"variables\": {\"x\": ".to_vec();
                body.extend(std::iter::repeat_n(b'[', 100_000));
                body
            },
            &[400],
        ),
        (
            "truncated JSON",
            br#"{"query": "mutation { requestOtp("#.to_vec(),
            &[400],
        ),
        (
            "NUL in query",
            b"{\"query\": \"mutation { requestOtp(phone: \\\"\\u0000\\\") { sentAt } }\"}".to_vec(),
            &[200, 400],
        ),
        (
            "a string where an object belongs",
            br#""mutation""#.to_vec(),
            &[400],
        ),
        (
            "numbers as the query",
            br#"{"query": 1e400}"#.to_vec(),
            &[400],
        ),
    ];
    // A connection per request: the server closes the one an oversized body came on.
    let fresh = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    for path in ["/graphql", "/admin/graphql"] {
        for (label, body, expected) in &cases {
            let (status, text) = post_raw(&fresh, &server, path, None, body.clone()).await;
            assert!(
                expected.contains(&status),
                "{path} {label}: HTTP {status} (expected {expected:?}): {}",
                cut(&text)
            );
            assert!(!text.contains("INTERNAL"), "{path} {label}: {}", cut(&text));
        }
    }
    assert_answers(&server).await;
}
