//! The Mahak simulator over real HTTP: the wire protocol a Mahak client depends on, the
//! control API, fault injection, determinism, scale and persistence.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{json, Value};
use sync::mahak::Entity;
use sync::simulator::{
    start, DataSizes, Faults, RateLimitFault, RunningSimulator, SimulatorConfig, ERROR_NOT_FOUND,
    ERROR_REQUIRED,
};

/// lower-case hex MD5 of "demo"
const DEMO_MD5: &str = "fe01ce2a7fbac8fafaed7c982a04e229";

async fn simulator(sizes: DataSizes) -> RunningSimulator {
    start(SimulatorConfig {
        sizes,
        ..SimulatorConfig::default()
    })
    .await
    .expect("simulator starts")
}

struct Api {
    http: reqwest::Client,
    base: String,
    token: String,
}

impl Api {
    async fn login(sim: &RunningSimulator) -> Api {
        let http = reqwest::Client::new();
        let base = sim.base_url();
        let (status, body) = post(&http, &base, "Login", None, &login_body(DEMO_MD5)).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body["Result"], json!(true), "{body}");
        let token = body["Data"]["UserToken"]
            .as_str()
            .expect("token")
            .to_owned();
        Api { http, base, token }
    }

    async fn call(&self, action: &str, body: &Value) -> (StatusCode, Value) {
        post(&self.http, &self.base, action, Some(&self.token), body).await
    }

    /// A successful GetAllData answer's `Data.Objects`.
    async fn objects(&self, body: Value) -> Value {
        let (status, answer) = self.call("GetAllData", &body).await;
        assert_eq!(status, StatusCode::OK, "{answer}");
        assert_eq!(answer["Result"], json!(true), "{answer}");
        answer["Data"]["Objects"].clone()
    }

    async fn save(&self, body: Value) -> Value {
        let (status, answer) = self.call("SaveAllData", &body).await;
        assert_eq!(status, StatusCode::OK, "{answer}");
        answer
    }
}

fn login_body(password: &str) -> Value {
    json!({"userName": "demo", "password": password, "databaseId": 1})
}

async fn post(
    http: &reqwest::Client,
    base: &str,
    action: &str,
    token: Option<&str>,
    body: &Value,
) -> (StatusCode, Value) {
    let mut request = http.post(format!("{base}{action}")).json(body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.expect("request sent");
    let status = response.status();
    let body = response.json().await.unwrap_or(Value::Null);
    (status, body)
}

fn rows<'a>(objects: &'a Value, plural: &str) -> &'a Vec<Value> {
    objects[plural]
        .as_array()
        .unwrap_or_else(|| panic!("{plural} missing from {objects}"))
}

fn rv(row: &Value) -> i64 {
    row["RowVersion"].as_i64().expect("RowVersion")
}

fn ids(rows: &[Value], field: &str) -> Vec<i64> {
    rows.iter()
        .map(|r| r[field].as_i64().expect("id"))
        .collect()
}

#[tokio::test]
async fn login_checks_credentials_and_calls_need_a_token() {
    let sim = simulator(DataSizes::for_products(5)).await;
    let http = reqwest::Client::new();
    let base = sim.base_url();

    // Keys in any casing, database id as a string.
    let (status, ok) = post(
        &http,
        &base,
        "Login",
        None,
        &json!({"UserName": "demo", "PASSWORD": DEMO_MD5, "databaseId": "1"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(ok["Result"], json!(true));
    let data = &ok["Data"];
    assert!(data["UserToken"].as_str().is_some_and(|t| t.len() >= 32));
    assert_eq!(data["VisitorId"], json!(1));
    assert_eq!(data["DatabaseId"], json!(1));
    assert!(data["SyncId"].is_i64());
    let server_time = data["ServerTime"].as_str().expect("ServerTime");
    assert!(
        chrono::NaiveDateTime::parse_from_str(server_time, "%Y-%m-%dT%H:%M:%S").is_ok(),
        "ServerTime {server_time} is not local time without offset"
    );

    // The plain password is not what Mahak's clients send.
    let (status, bad) = post(&http, &base, "Login", None, &login_body("demo")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(bad["Result"], json!(false));
    assert_eq!(bad["Code"], json!(401));
    assert!(bad["Message"].as_str().is_some_and(|m| !m.is_empty()));
    let wrong_db = json!({"userName": "demo", "password": DEMO_MD5, "databaseId": 2});
    let (_, bad) = post(&http, &base, "Login", None, &wrong_db).await;
    assert_eq!(bad["Result"], json!(false));

    // Paths ignore case.
    let (status, ok) = post(
        &http,
        &base.to_lowercase(),
        "login",
        None,
        &login_body(DEMO_MD5),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(ok["Result"], json!(true));

    // No token, a made-up token.
    let cursor = json!({"fromProductVersion": 0});
    let (status, body) = post(&http, &base, "GetAllData", None, &cursor).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["Code"], json!(401));
    let (status, _) = post(&http, &base, "GetAllData", Some("nope"), &cursor).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // Unreadable bodies are envelope errors, not crashes.
    let api = Api::login(&sim).await;
    let response = http
        .post(format!("{base}GetAllData"))
        .bearer_auth(&api.token)
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["Result"], json!(false));
    let (status, body) = api
        .call("GetAllData", &json!({"fromProductVersion": "x"}))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["Result"], json!(false));

    let stats = sim.control().stats();
    assert_eq!(stats.logins, 3);
    assert_eq!(stats.failed_logins, 2);
    assert_eq!(stats.unauthorized, 2);
    sim.shutdown().await;
}

#[tokio::test]
async fn get_all_data_pages_by_inclusive_cursor() {
    let sim = start(SimulatorConfig {
        sizes: DataSizes::for_products(50),
        max_page_size: 20,
        ..SimulatorConfig::default()
    })
    .await
    .unwrap();
    let api = Api::login(&sim).await;

    // Omitted cursors omit the entity; pageSize is capped by the server's maximum.
    let objects = api
        .objects(json!({"fromProductVersion": 0, "pageSize": 1000}))
        .await;
    assert!(objects.get("People").is_none());
    assert!(objects.get("ProductDetails").is_none());
    let products = rows(&objects, "Products");
    assert_eq!(products.len(), 20);
    let product = &products[0];
    for field in [
        "ProductId",
        "ProductClientId",
        "ProductCode",
        "Name",
        "TaxPercent",
        "Deleted",
    ] {
        assert!(product.get(field).is_some(), "{field} missing in {product}");
    }
    assert_ne!(product["ProductId"], product["ProductCode"]);

    // Ordered by RowVersion; without pageSize the default page (capped) applies.
    let versions: Vec<i64> = products.iter().map(rv).collect();
    assert!(versions.windows(2).all(|w| w[0] <= w[1]), "{versions:?}");
    let objects = api
        .objects(json!({"fromProductVersion": 0, "fromProductDetailVersion": "0", "pageSize": "7"}))
        .await;
    assert_eq!(rows(&objects, "Products").len(), 7);
    assert_eq!(
        rows(&objects, "ProductDetails").len(),
        7,
        "the cap is per entity"
    );
    let objects = api.objects(json!({"fromProductVersion": 0})).await;
    assert_eq!(rows(&objects, "Products").len(), 20);

    // Inclusive cursor: the row at the cursor comes back.
    let last = *versions.last().unwrap();
    let objects = api.objects(json!({"fromProductVersion": last})).await;
    let again = rows(&objects, "Products");
    assert_eq!(rv(&again[0]), last);
    assert_eq!(again[0]["ProductId"], products[19]["ProductId"]);

    // Paging with cursor = largest RowVersion seen reaches every product exactly.
    let mut seen = std::collections::BTreeSet::new();
    let mut cursor = 0;
    for _ in 0..10 {
        let objects = api.objects(json!({"fromProductVersion": cursor})).await;
        let page = rows(&objects, "Products");
        let new: Vec<i64> = ids(page, "ProductId")
            .into_iter()
            .filter(|id| seen.insert(*id))
            .collect();
        if new.is_empty() {
            break;
        }
        cursor = page.iter().map(rv).max().unwrap();
    }
    assert_eq!(seen.len(), 50);

    // Variants carry the wire quirks a client must handle.
    let objects = api
        .objects(json!({"fromProductDetailVersion": 0, "pageSize": 20}))
        .await;
    for detail in rows(&objects, "ProductDetails") {
        let properties = detail["Properties"]
            .as_str()
            .expect("Properties is a string");
        assert!(serde_json::from_str::<Value>(properties)
            .unwrap()
            .is_array());
        let price = detail["Price1"].as_f64().expect("Price1 is a number");
        assert!(price > 0.0 && price.fract() == 0.0);
        assert!((1..=3).contains(&detail["DefaultSellPriceLevel"].as_i64().unwrap()));
        assert!(detail["ProductDetailClientId"].is_i64());
    }
    sim.shutdown().await;
}

#[tokio::test]
async fn order_types_filter_orders() {
    let mut sizes = DataSizes::for_products(100);
    sizes.returns = 5;
    let sim = simulator(sizes).await;
    let api = Api::login(&sim).await;
    let all = api
        .objects(json!({"fromOrderVersion": 0, "pageSize": 1000}))
        .await;
    let all = rows(&all, "Orders");
    assert_eq!(all.len(), 55);
    let returns = api
        .objects(json!({"fromOrderVersion": 0, "pageSize": 1000, "orderTypes": [202]}))
        .await;
    let returns = rows(&returns, "Orders");
    assert_eq!(returns.len(), 5);
    let invoice_ids: Vec<i64> = all
        .iter()
        .filter(|o| o["OrderType"] == json!(201))
        .map(|o| o["OrderId"].as_i64().unwrap())
        .collect();
    for r in returns {
        assert_eq!(r["OrderType"], json!(202));
        assert!(invoice_ids.contains(&r["ReferenceOrderId"].as_i64().unwrap()));
        assert!(r["ShippingAddress"].is_null() || r["ShippingAddress"].is_string());
    }
    let invoices = api
        .objects(json!({"fromOrderVersion": 0, "pageSize": 1000, "orderTypes": ["201"]}))
        .await;
    assert_eq!(rows(&invoices, "Orders").len(), 50);
    sim.shutdown().await;
}

#[tokio::test]
async fn control_mutations_take_new_row_versions() {
    let sim = simulator(DataSizes::for_products(10)).await;
    let api = Api::login(&sim).await;
    let control = sim.control();
    let before = control.snapshot(Entity::Product);
    let top = before.iter().map(|r| r.row_version).max().unwrap();
    let id = before[3].id;

    // Logical delete: the row comes back, deleted, with a new RowVersion.
    assert!(control.delete_row(Entity::Product, id));
    let objects = api.objects(json!({"fromProductVersion": top + 1})).await;
    let changed = rows(&objects, "Products");
    assert_eq!(ids(changed, "ProductId"), vec![id]);
    assert_eq!(changed[0]["Deleted"], json!(true));
    let deleted_at = rv(&changed[0]);
    assert!(deleted_at > top);

    // Undelete: again a new RowVersion.
    assert!(control.undelete_row(Entity::Product, id));
    let objects = api
        .objects(json!({"fromProductVersion": deleted_at + 1}))
        .await;
    let changed = rows(&objects, "Products");
    assert_eq!(changed[0]["Deleted"], json!(false));
    assert!(rv(&changed[0]) > deleted_at);

    // Patch merges, upsert creates; both bump the counter.
    assert!(control.patch_row(Entity::Product, id, json!({"name": "چای سبز"})));
    let patched = control
        .snapshot(Entity::Product)
        .into_iter()
        .find(|r| r.id == id)
        .unwrap();
    assert_eq!(patched.row["Name"], json!("چای سبز"));
    assert_eq!(patched.row["ProductId"], json!(id));
    assert!(!control.patch_row(Entity::Product, 99_999, json!({"Name": "x"})));
    let new_id = control.upsert_row(Entity::Product, json!({"Name": "دفتر", "TaxPercent": 9.0}));
    assert!(new_id > before.iter().map(|r| r.id).max().unwrap());
    let created = control
        .snapshot(Entity::Product)
        .into_iter()
        .find(|r| r.id == new_id)
        .unwrap();
    assert!(created.row_version > patched.row_version);
    assert_eq!(created.row["Deleted"], json!(false));
    assert!(
        created.row.get("UnitName").is_some(),
        "model defaults filled in"
    );

    // Shared RowVersion: both rows at one value, ordered by id, both at an inclusive cursor.
    let (a, b) = (before[1].id, before[0].id);
    let shared = control.share_row_version(Entity::Product, &[a, b]);
    assert!(shared > created.row_version);
    let objects = api.objects(json!({"fromProductVersion": shared})).await;
    let tied = rows(&objects, "Products");
    assert_eq!(ids(tied, "ProductId"), vec![b.min(a), b.max(a)]);
    assert!(tied.iter().all(|r| rv(r) == shared));

    // A malformed row is served as planted.
    let bad = control.insert_malformed_row(
        Entity::ProductDetail,
        json!({"ProductId": 1, "Price1": "abc", "Deleted": false}),
    );
    let objects = api
        .objects(json!({"fromProductDetailVersion": 0, "pageSize": 1000}))
        .await;
    let details = rows(&objects, "ProductDetails");
    let planted = details.last().unwrap();
    assert_eq!(planted["Price1"], json!("abc"));
    assert!(planted.get("ProductDetailId").is_none());
    assert!(rv(planted) > 0);
    assert!(control
        .snapshot(Entity::ProductDetail)
        .iter()
        .any(|r| r.id == bad && r.row["Price1"] == json!("abc")));
    sim.shutdown().await;
}

fn web_order(suffix: i64) -> Value {
    // Children listed before parents: the simulator must link them anyway.
    json!({
        "orderDetails": [{
            "orderDetailClientId": 7101 + suffix, "orderClientId": 7001 + suffix,
            "itemType": 1, "productDetailId": 1, "price": 125000, "count1": "2",
            "storeId": 1, "taxPercent": 9, "chargePercent": 1
        }],
        "cheques": [{
            "chequeClientId": 8101 + suffix, "receiptClientId": 8001 + suffix,
            "type": 2, "amount": 272500.0, "bankName": "ملت"
        }],
        "receipts": [{
            "receiptClientId": 8001 + suffix, "personClientId": 9001 + suffix,
            "orderClientId": 7001 + suffix, "cashAmount": 0
        }],
        "orders": [{
            "orderClientId": 7001 + suffix, "personClientId": 9001 + suffix, "orderType": 201,
            "orderDate": "2025-03-01T14:30:00",
            "shippingAddress": "{\"Address\":\"تهران\",\"PostalCode\":\"1234567890\"}"
        }],
        "visitorPeople": [{"personClientId": 9001 + suffix}],
        "people": [{
            "PersonClientId": 9001 + suffix, "firstName": "سارا", "lastName": "تست",
            "mobile": "09120000000"
        }]
    })
}

fn results<'a>(answer: &'a Value, plural: &str) -> &'a Vec<Value> {
    answer["Data"]["Objects"][plural]["Results"]
        .as_array()
        .unwrap_or_else(|| panic!("no {plural} results in {answer}"))
}

#[tokio::test]
async fn save_all_data_is_idempotent_and_visible() {
    let sim = simulator(DataSizes::for_products(20)).await;
    let api = Api::login(&sim).await;
    let control = sim.control();
    let orders_before = control.snapshot(Entity::Order).len();
    let top_order = control
        .snapshot(Entity::Order)
        .iter()
        .map(|r| r.row_version)
        .max()
        .unwrap();

    let first = api.save(web_order(0)).await;
    assert_eq!(first["Result"], json!(true), "{first}");
    let mut assigned = Vec::new();
    for plural in [
        "People",
        "VisitorPeople",
        "Orders",
        "OrderDetails",
        "Receipts",
        "Cheques",
    ] {
        let list = results(&first, plural);
        assert_eq!(list.len(), 1);
        let r = &list[0];
        assert_eq!(r["Result"], json!(true), "{plural}: {r}");
        assert_eq!(r["Index"], json!(0));
        assert!(r["EntityId"].as_i64().unwrap() > 0);
        assert!(r["RowVersion"].as_i64().unwrap() > 0);
        assert!(r["Errors"].as_array().unwrap().is_empty());
        assigned.push((r["EntityId"].clone(), r["RowVersion"].as_i64().unwrap()));
    }
    assert_eq!(results(&first, "Orders")[0]["EntityClientId"], json!(7001));
    let person_id = results(&first, "People")[0]["EntityId"].as_i64().unwrap();
    let order_id = results(&first, "Orders")[0]["EntityId"].as_i64().unwrap();

    // The same push again: same rows, new RowVersions, no duplicates.
    let second = api.save(web_order(0)).await;
    assert_eq!(second["Result"], json!(true), "{second}");
    for (i, plural) in [
        "People",
        "VisitorPeople",
        "Orders",
        "OrderDetails",
        "Receipts",
        "Cheques",
    ]
    .iter()
    .enumerate()
    {
        let r = &results(&second, plural)[0];
        assert_eq!(r["EntityId"], assigned[i].0, "{plural} got a new id");
        assert!(r["RowVersion"].as_i64().unwrap() > assigned[i].1);
    }
    assert_eq!(control.snapshot(Entity::Order).len(), orders_before + 1);

    // Visible to GetAllData, with the parents' ids resolved.
    let objects = api
        .objects(
            json!({"fromOrderVersion": top_order + 1, "fromOrderDetailVersion": 0,
                        "fromPersonVersion": 0, "pageSize": 1000}),
        )
        .await;
    let orders = rows(&objects, "Orders");
    assert_eq!(ids(orders, "OrderId"), vec![order_id]);
    assert_eq!(orders[0]["PersonId"], json!(person_id));
    assert_eq!(orders[0]["VisitorId"], json!(1));
    assert_eq!(orders[0]["OrderClientId"], json!(7001));
    let line = rows(&objects, "OrderDetails")
        .iter()
        .find(|d| d["OrderDetailClientId"] == json!(7101))
        .expect("pushed line");
    assert_eq!(line["OrderId"], json!(order_id));
    assert_eq!(line["Count1"], json!(2.0));
    assert!(rows(&objects, "People")
        .iter()
        .any(|p| p["PersonId"] == json!(person_id) && p["FirstName"] == json!("سارا")));

    // A delete by ClientId.
    let deleted = api
        .save(json!({"orders": [{"orderClientId": 7001, "deleted": true}]}))
        .await;
    assert_eq!(deleted["Result"], json!(true), "{deleted}");
    let objects = api
        .objects(json!({"fromOrderVersion": results(&deleted, "Orders")[0]["RowVersion"]}))
        .await;
    assert_eq!(rows(&objects, "Orders")[0]["Deleted"], json!(true));
    assert_eq!(control.snapshot(Entity::Order).len(), orders_before + 1);
    sim.shutdown().await;
}

#[tokio::test]
async fn save_all_data_rejects_bad_rows_one_by_one() {
    let sim = simulator(DataSizes::for_products(20)).await;
    let api = Api::login(&sim).await;
    let control = sim.control();
    let orders_before = control.snapshot(Entity::Order).len();
    let details_before = control.snapshot(Entity::OrderDetail).len();
    let existing_order = control.snapshot(Entity::Order)[0].id;

    let answer = api
        .save(json!({
            "people": [{"personClientId": 501, "lastName": "درست"}],
            "orders": [
                {"orderClientId": 601, "personId": 999_999, "orderType": 201},
                {"orderClientId": 602, "personClientId": 501, "orderType": 201}
            ],
            "orderDetails": [
                {"orderDetailClientId": 701, "orderId": existing_order, "productDetailId": 1,
                 "price": 1000, "count1": 1},
                {"orderDetailClientId": 702, "orderId": existing_order,
                 "productDetailId": 999_999, "price": 1000, "count1": 1, "storeId": 1},
                {"orderDetailClientId": 703, "orderClientId": 601, "productDetailId": 1,
                 "price": 1000, "count1": 1, "storeId": 1},
                {"orderDetailClientId": 704, "orderClientId": 602, "productDetailId": 1,
                 "price": 1000, "count1": 1, "storeId": 1}
            ]
        }))
        .await;
    assert_eq!(answer["Result"], json!(false), "{answer}");
    let errors_of = |r: &Value| -> Vec<(String, i64)> {
        r["Errors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| {
                assert!(e["Error"].as_str().is_some_and(|m| !m.is_empty()));
                (
                    e["Property"].as_str().unwrap().to_owned(),
                    e["Code"].as_i64().unwrap(),
                )
            })
            .collect()
    };
    assert_eq!(results(&answer, "People")[0]["Result"], json!(true));
    let orders = results(&answer, "Orders");
    assert_eq!(orders[0]["Result"], json!(false));
    assert_eq!(
        errors_of(&orders[0]),
        vec![("PersonId".into(), i64::from(ERROR_NOT_FOUND))]
    );
    assert_eq!(orders[0]["EntityClientId"], json!(601));
    assert_eq!(orders[1]["Result"], json!(true));
    let lines = results(&answer, "OrderDetails");
    assert_eq!(ids(lines, "Index"), vec![0, 1, 2, 3]);
    assert_eq!(
        errors_of(&lines[0]),
        vec![("StoreId".into(), i64::from(ERROR_REQUIRED))]
    );
    assert_eq!(
        errors_of(&lines[1]),
        vec![("ProductDetailId".into(), i64::from(ERROR_NOT_FOUND))]
    );
    // The parent of line 703 was rejected, so the line cannot find it.
    assert_eq!(
        errors_of(&lines[2]),
        vec![("OrderClientId".into(), i64::from(ERROR_NOT_FOUND))]
    );
    assert_eq!(lines[3]["Result"], json!(true));
    for rejected in [&orders[0], &lines[0], &lines[1], &lines[2]] {
        assert_eq!(rejected["EntityId"], json!(0));
    }

    // Only the accepted rows were stored.
    assert_eq!(control.snapshot(Entity::Order).len(), orders_before + 1);
    assert_eq!(
        control.snapshot(Entity::OrderDetail).len(),
        details_before + 1
    );
    let stats = control.stats();
    assert_eq!((stats.rows_saved, stats.rows_rejected), (3, 4));

    // Type errors name the property; a list that is not a list is a request error.
    let answer = api
        .save(json!({"people": [{"personClientId": 502, "lastName": "x", "credit": "abc"}]}))
        .await;
    assert_eq!(answer["Result"], json!(false));
    assert_eq!(
        results(&answer, "People")[0]["Errors"][0]["Property"],
        json!("Credit")
    );
    let (status, answer) = api.call("SaveAllData", &json!({"orders": {"a": 1}})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(answer["Result"], json!(false));
    sim.shutdown().await;
}

#[tokio::test]
async fn injected_faults() {
    let sim = simulator(DataSizes::for_products(5)).await;
    let api = Api::login(&sim).await;
    let control = sim.control();
    let cursor = json!({"fromProductVersion": 0});

    control.set_faults(Faults {
        error_rate: 1.0,
        ..Faults::default()
    });
    for _ in 0..3 {
        assert_eq!(
            api.call("GetAllData", &cursor).await.0,
            StatusCode::INTERNAL_SERVER_ERROR
        );
    }
    let (status, _) = post(&api.http, &api.base, "Login", None, &login_body(DEMO_MD5)).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(control.stats().faults.server_errors, 4);

    control.set_faults(Faults {
        rate_limit: Some(RateLimitFault {
            calls: 2,
            retry_after_secs: 7,
        }),
        burst_5xx: 1,
        ..Faults::default()
    });
    for _ in 0..2 {
        let response = api
            .http
            .post(format!("{}GetAllData", api.base))
            .bearer_auth(&api.token)
            .json(&cursor)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(response.headers()["retry-after"], "7");
    }
    assert_eq!(
        api.call("GetAllData", &cursor).await.0,
        StatusCode::SERVICE_UNAVAILABLE
    );
    assert_eq!(api.call("GetAllData", &cursor).await.0, StatusCode::OK);

    control.set_faults(Faults {
        latency_ms: 300,
        ..Faults::default()
    });
    let started = Instant::now();
    assert_eq!(api.call("GetAllData", &cursor).await.0, StatusCode::OK);
    assert!(started.elapsed() >= Duration::from_millis(300));

    // Expired tokens: HTTP 401 by default, an envelope Code 401 when configured.
    control.set_faults(Faults::default());
    control.expire_tokens();
    let (status, body) = api.call("GetAllData", &cursor).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["Code"], json!(401));
    control.set_faults(Faults {
        token_expiry_as_envelope: true,
        ..Faults::default()
    });
    let (status, body) = api.call("SaveAllData", &json!({})).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["Result"], json!(false));
    assert_eq!(body["Code"], json!(401));
    let api = Api::login(&sim).await;
    assert_eq!(api.call("GetAllData", &cursor).await.0, StatusCode::OK);

    let stats = control.stats();
    assert_eq!(stats.faults.rate_limited, 2);
    assert_eq!(stats.faults.unavailable, 1);
    assert_eq!(stats.faults.delayed, 1);
    sim.shutdown().await;
}

#[tokio::test]
async fn dropped_answers_are_io_errors_after_the_effect() {
    let sim = simulator(DataSizes::for_products(5)).await;
    let api = Api::login(&sim).await;
    let control = sim.control();
    control.set_faults(Faults {
        drop_connection_rate: 1.0,
        ..Faults::default()
    });
    let people_before = control.snapshot(Entity::Person).len();
    let push = json!({"people": [{"personClientId": 4242, "lastName": "گمشده"}]});
    for (action, body) in [
        (
            "GetAllData",
            json!({"fromProductVersion": 0, "fromProductDetailVersion": 0}),
        ),
        ("SaveAllData", push.clone()),
    ] {
        let response = api
            .http
            .post(format!("{}{action}", api.base))
            .bearer_auth(&api.token)
            .json(&body)
            .send()
            .await;
        let outcome = match response {
            Ok(response) => response.bytes().await.map(|_| ()),
            Err(error) => Err(error),
        };
        assert!(
            outcome.is_err(),
            "{action}: the client must see an I/O error"
        );
    }
    // The push happened although its answer was lost; retrying with the same ClientId
    // updates the same row.
    let people = control.snapshot(Entity::Person);
    assert_eq!(people.len(), people_before + 1);
    let pushed = people.last().unwrap().id;
    control.set_faults(Faults::default());
    let answer = api.save(push).await;
    assert_eq!(results(&answer, "People")[0]["EntityId"], json!(pushed));
    assert_eq!(control.snapshot(Entity::Person).len(), people_before + 1);
    assert_eq!(control.stats().faults.dropped_connections, 2);
    sim.shutdown().await;
}

#[tokio::test]
async fn hung_calls_time_out_and_do_not_block_shutdown() {
    let sim = simulator(DataSizes::for_products(5)).await;
    let api = Api::login(&sim).await;
    sim.control().set_faults(Faults {
        timeout_rate: 1.0,
        ..Faults::default()
    });
    let result = api
        .http
        .post(format!("{}GetAllData", api.base))
        .bearer_auth(&api.token)
        .json(&json!({"fromProductVersion": 0}))
        .timeout(Duration::from_millis(500))
        .send()
        .await;
    assert!(result.is_err_and(|e| reqwest::Error::is_timeout(&e)));
    // A hung call still in flight must not hold up shutdown.
    let hung = tokio::spawn({
        let http = api.http.clone();
        let url = format!("{}GetAllData", api.base);
        let token = api.token.clone();
        async move {
            http.post(url)
                .bearer_auth(token)
                .json(&json!({}))
                .send()
                .await
                .map(|response| response.status())
        }
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    let started = Instant::now();
    sim.shutdown().await;
    assert!(started.elapsed() < Duration::from_secs(5));
    let status = hung.await.unwrap();
    assert!(status.is_err() || status.is_ok_and(|s| s == StatusCode::GATEWAY_TIMEOUT));
}

#[tokio::test]
async fn same_seed_same_data() {
    let sizes = DataSizes::for_products(300);
    let config = |seed| SimulatorConfig {
        seed,
        sizes: sizes.clone(),
        ..SimulatorConfig::default()
    };
    let a = start(config(42)).await.unwrap();
    let b = start(config(42)).await.unwrap();
    let c = start(config(43)).await.unwrap();
    for entity in Entity::ALL {
        assert_eq!(
            a.control().snapshot(entity),
            b.control().snapshot(entity),
            "{entity} differs with the same seed"
        );
    }
    assert_ne!(
        a.control().snapshot(Entity::Product),
        c.control().snapshot(Entity::Product)
    );
    // The data is consistent with itself: lines price their variants, people's balances are
    // their ledgers' last balance, every variant has stock in every warehouse.
    let control = a.control();
    let details = control.snapshot(Entity::ProductDetail);
    let assets = control.snapshot(Entity::ProductDetailStoreAsset);
    let stores = control.snapshot(Entity::Store);
    assert_eq!(assets.len(), details.len() * stores.len());
    for line in control.snapshot(Entity::OrderDetail).iter().take(50) {
        let detail = &details[line.row["ProductDetailId"].as_i64().unwrap() as usize - 1].row;
        let level = detail["DefaultSellPriceLevel"].as_i64().unwrap();
        assert_eq!(line.row["Price"], detail[format!("Price{level}")]);
    }
    let ledger = control.snapshot(Entity::Transaction);
    for person in control.snapshot(Entity::Person).iter().take(20) {
        let last = ledger
            .iter()
            .rfind(|t| t.row["PersonId"] == json!(person.id))
            .map_or(0.0, |t| t.row["Balance"].as_f64().unwrap());
        assert_eq!(person.row["Balance"].as_f64().unwrap(), last);
    }
    let names: Vec<String> = control
        .snapshot(Entity::Product)
        .iter()
        .map(|p| p.row["Name"].as_str().unwrap().to_owned())
        .collect();
    assert!(names.iter().any(|n| n.contains('ي') || n.contains('ك')));
    assert!(names.iter().any(|n| n.contains('ی') || n.contains('ک')));
    for sim in [a, b, c] {
        sim.shutdown().await;
    }
}

#[tokio::test]
async fn generates_a_hundred_thousand_products() {
    let started = Instant::now();
    let sim = simulator(DataSizes::for_products(100_000)).await;
    let generated_in = started.elapsed();
    let counts = sim.control().counts();
    let total: usize = counts.iter().map(|c| c.rows).sum();
    let products = counts.iter().find(|c| c.entity == Entity::Product).unwrap();
    assert_eq!(products.rows, 100_000);
    println!("generated {total} rows for 100,000 products in {generated_in:?}");
    for c in &counts {
        println!("  {:<24} {:>8}", c.entity.name(), c.rows);
    }
    assert!(total > 900_000, "{total} rows");

    // A page from the middle is a range scan, not a sort of the table.
    let api = Api::login(&sim).await;
    let started = Instant::now();
    let objects = api
        .objects(json!({"fromProductDetailVersion": 100_000,
                        "fromProductDetailStoreAssetVersion": 200_000, "pageSize": 1000}))
        .await;
    let page_in = started.elapsed();
    println!("one 2 x 1000-row page in {page_in:?}");
    assert_eq!(rows(&objects, "ProductDetails").len(), 1000);
    assert_eq!(rv(&rows(&objects, "ProductDetailStoreAssets")[0]), 200_000);
    assert!(page_in < Duration::from_secs(5));
    sim.shutdown().await;
}

fn temp_state_file(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "mahak-sim-{name}-{}-{}",
        std::process::id(),
        chrono::Utc::now().timestamp_nanos_opt().unwrap_or_default()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join("state.json")
}

#[tokio::test]
async fn state_survives_a_restart() {
    let path = temp_state_file("restart");
    let config = |seed| SimulatorConfig {
        seed,
        sizes: DataSizes::for_products(30),
        state_file: Some(path.clone()),
        ..SimulatorConfig::default()
    };
    let sim = start(config(1)).await.unwrap();
    let api = Api::login(&sim).await;
    let pushed = api.save(web_order(0)).await;
    assert_eq!(pushed["Result"], json!(true));
    let order_id = results(&pushed, "Orders")[0]["EntityId"].clone();
    let control = sim.control();
    let product = control.snapshot(Entity::Product)[0].id;
    assert!(control.patch_row(Entity::Product, product, json!({"Name": "نام تازه"})));
    // Debounced save: written within about a second of the change, before shutdown.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let on_disk = std::fs::read_to_string(&path).expect("state file written");
    assert!(on_disk.contains("نام تازه"));
    let before: Vec<_> = Entity::ALL.iter().map(|e| control.snapshot(*e)).collect();
    sim.shutdown().await;

    // Another seed: the data must come from the file, not the generator.
    let sim = start(config(99)).await.unwrap();
    let control = sim.control();
    let after: Vec<_> = Entity::ALL.iter().map(|e| control.snapshot(*e)).collect();
    assert_eq!(before, after);
    // Counters continue, and the ClientId index survived.
    let top = after[1].iter().map(|r| r.row_version).max().unwrap();
    assert!(control.patch_row(Entity::Product, product, json!({"Name": "باز هم"})));
    let patched = control
        .snapshot(Entity::Product)
        .into_iter()
        .find(|r| r.id == product)
        .unwrap();
    assert!(patched.row_version > top);
    let api = Api::login(&sim).await;
    let again = api.save(web_order(0)).await;
    assert_eq!(results(&again, "Orders")[0]["EntityId"], order_id);
    sim.shutdown().await;
    let _ = std::fs::remove_dir_all(path.parent().unwrap());
}

#[tokio::test]
async fn control_routes_over_http() {
    let sim = simulator(DataSizes::for_products(5)).await;
    let http = reqwest::Client::new();
    let root = format!("{}/control", sim.root_url());
    let get = |path: &str| http.get(format!("{root}{path}")).send();

    assert_eq!(get("/health").await.unwrap().status(), StatusCode::OK);
    let id: Value = http
        .post(format!("{root}/rows/product"))
        .json(&json!({"Name": "قهوه"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = id["id"].as_i64().unwrap();
    let row: Value = get(&format!("/rows/Products/{id}"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(row["row"]["Name"], json!("قهوه"));
    let first_version = row["rowVersion"].as_i64().unwrap();

    let patched = http
        .patch(format!("{root}/rows/Product/{id}"))
        .json(&json!({"Name": "قهوه ترک"}))
        .send()
        .await
        .unwrap();
    assert_eq!(patched.status(), StatusCode::OK);
    let deleted = http
        .delete(format!("{root}/rows/Product/{id}"))
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), StatusCode::OK);
    let row = sim.control().row(Entity::Product, id).unwrap();
    assert!(row.deleted && row.row_version > first_version + 1);
    assert_eq!(row.row["Name"], json!("قهوه ترک"));
    let undeleted = http
        .post(format!("{root}/rows/Product/{id}/undelete"))
        .send()
        .await
        .unwrap();
    assert_eq!(undeleted.status(), StatusCode::OK);

    let shared: Value = http
        .post(format!("{root}/rows/product/share-row-version"))
        .json(&json!({"ids": [1, 2]}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let shared = shared["rowVersion"].as_i64().unwrap();
    let snapshot = sim.control().snapshot(Entity::Product);
    assert!(snapshot[..2].iter().all(|r| r.row_version == shared));

    let malformed: Value = http
        .post(format!("{root}/rows/Person/malformed"))
        .json(&json!({"FirstName": 12}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let malformed = malformed["id"].as_i64().unwrap();
    assert_eq!(
        sim.control().row(Entity::Person, malformed).unwrap().row["FirstName"],
        json!(12)
    );

    let faults = http
        .put(format!("{root}/faults"))
        .json(&json!({"burst_5xx": 2}))
        .send()
        .await
        .unwrap();
    assert_eq!(faults.status(), StatusCode::OK);
    assert_eq!(sim.control().faults().burst_5xx, 2);
    let entities: Value = get("/entities").await.unwrap().json().await.unwrap();
    assert_eq!(entities.as_array().unwrap().len(), Entity::ALL.len());
    assert_eq!(
        get("/rows/Nothing").await.unwrap().status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        get(&format!("/rows/Product/{}", id + 100))
            .await
            .unwrap()
            .status(),
        StatusCode::NOT_FOUND
    );
    let bad = http
        .post(format!("{root}/rows/Product"))
        .body("[1]")
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
    let stats: Value = get("/stats").await.unwrap().json().await.unwrap();
    assert!(stats["faults"].is_object());

    // Pictures' relative URLs are served.
    let pictures = sim.control().snapshot(Entity::Picture);
    let url = pictures[0].row["Url"].as_str().unwrap();
    let image = http
        .get(format!("{}{url}", sim.root_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(image.status(), StatusCode::OK);
    assert!(image.bytes().await.unwrap().starts_with(b"\x89PNG"));
    sim.shutdown().await;
}

#[tokio::test]
async fn the_binary_serves_until_sigterm() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let state = temp_state_file("cli");
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_sync"))
        .args(["simulate", "--products", "40", "--seed", "3", "--port"])
        .arg(port.to_string())
        .arg("--state-file")
        .arg(&state)
        .kill_on_drop(true)
        // Its log would interleave with the test report.
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("sync binary starts");
    let http = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{port}/API/v3/Sync/");
    let mut answer = Value::Null;
    for _ in 0..100 {
        if let Ok(response) = http
            .post(format!("{base}Login"))
            .json(&login_body(DEMO_MD5))
            .send()
            .await
        {
            answer = response.json().await.unwrap_or_default();
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(answer["Result"], json!(true), "{answer}");
    let pid = child.id().expect("running").to_string();
    let killed = tokio::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .await
        .unwrap();
    assert!(killed.success());
    let status = tokio::time::timeout(Duration::from_secs(20), child.wait())
        .await
        .expect("exits after SIGTERM")
        .unwrap();
    assert!(status.success(), "{status}");
    assert!(state.exists(), "state saved on shutdown");
    let _ = std::fs::remove_dir_all(state.parent().unwrap());
}
