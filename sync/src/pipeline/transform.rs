//! Mahak records (as the adapter parsed them) to mirror rows (the local model).
//!
//! Only Mahak-owned columns are produced; shop-owned fields live in other tables and are
//! never touched by sync. Display names are already normalized by the adapter; products
//! also get their search text. A deleted row may arrive with its fields emptied: required
//! columns then get neutral defaults so the delete mark still lands.

use serde_json::{json, Map, Value};

use crate::mahak::records::Record;
use crate::mirror::MirrorRow;

pub fn to_mirror_row(record: &Record) -> MirrorRow {
    let deleted = record.deleted();
    let mut c = Map::new();
    let mut put = |name: &str, value: Value| {
        c.insert(name.to_string(), value);
    };
    // `name` is required; a deleted row keeps the mark even without one.
    let name = |n: &Option<String>| match n {
        Some(n) => json!(n),
        None if deleted => json!(""),
        None => Value::Null,
    };
    match record {
        Record::ProductCategory(r) => put("name", name(&r.name)),
        Record::Product(r) => {
            put("category_mahak_id", json!(r.category_id));
            put("name", name(&r.name));
            put(
                "search_text",
                json!(crate::persian::fold_for_search(
                    r.name.as_deref().unwrap_or_default()
                )),
            );
            put("unit_name", json!(r.unit_name));
            put("tax_percent", json!(r.tax_percent.unwrap_or(0.0)));
            put("toll_percent", json!(r.charge_percent.unwrap_or(0.0)));
            put("weight", json!(r.weight));
        }
        Record::ProductDetail(r) => {
            put("product_mahak_id", json!(r.product_id));
            put("barcode", json!(r.barcode));
            put("properties", r.properties.clone());
            put(
                "default_price_level",
                json!(r.default_sell_price_level.unwrap_or(1)),
            );
            for (level, price) in r.prices.iter().enumerate() {
                put(&format!("price_{}", level + 1), json!(price));
            }
        }
        Record::ProductDetailStoreAsset(r) => {
            put("variant_mahak_id", json!(r.product_detail_id));
            put("warehouse_mahak_id", json!(r.store_id));
            put("quantity", json!(r.count1.unwrap_or(0.0)));
            put("quantity2", json!(r.count2.unwrap_or(0.0)));
        }
        Record::Store(r) => put("name", name(&r.name)),
        Record::Picture(r) => {
            put("url", json!(r.url));
            put("file_name", json!(r.file_name));
            put("title", json!(r.title));
            put("display_order", json!(r.display_order));
        }
        Record::PhotoGallery(r) => {
            put("picture_mahak_id", json!(r.picture_id));
            put("entity_type", json!(r.entity_type));
            put("item_code", json!(r.item_code));
        }
        Record::PersonGroup(r) => {
            put("name", name(&r.name));
            put("sell_price_level", json!(r.sell_price_level));
        }
        Record::Person(r) => {
            put("person_group_mahak_id", json!(r.person_group_id));
            put("first_name", json!(r.first_name));
            put("last_name", json!(r.last_name));
            put("organization", json!(r.organization));
            put("mobile", json!(r.mobile));
            put(
                "mobile_e164",
                json!(r.mobile.as_deref().and_then(crate::phone::iran_mobile_e164)),
            );
            put("email", json!(r.email));
            put("national_code", json!(r.national_code));
            put("sell_price_level", json!(r.sell_price_level));
            put("credit", json!(r.credit.unwrap_or(0)));
            put("balance", json!(r.balance.unwrap_or(0)));
        }
        Record::PersonAddress(r) => {
            put("person_mahak_id", json!(r.person_id));
            put("title", json!(r.title));
            put("address", json!(r.address));
            put("postal_code", json!(r.postal_code));
            put("mobile", json!(r.mobile));
        }
        Record::VisitorPerson(r) => {
            put("person_mahak_id", json!(r.person_id));
            put("visitor_id", json!(r.visitor_id));
        }
        Record::VisitorProduct(r) => {
            put("variant_mahak_id", json!(r.product_detail_id));
            put("visitor_id", json!(r.visitor_id));
        }
        Record::Order(r) => {
            put("order_type", json!(r.order_type.or(deleted.then_some(0))));
            put("person_mahak_id", json!(r.person_id));
            put("visitor_id", json!(r.visitor_id));
            put("reference_order_mahak_id", json!(r.reference_order_id));
            put("order_date", json!(r.order_date.map(|t| t.to_rfc3339())));
            put("discount", json!(r.discount.unwrap_or(0)));
            put("send_cost", json!(r.send_cost.unwrap_or(0)));
            put("other_cost", json!(r.other_cost.unwrap_or(0)));
            put("description", json!(r.description));
            put(
                "shipping_address",
                r.shipping_address.clone().unwrap_or(Value::Null),
            );
        }
        Record::OrderDetail(r) => {
            put("order_mahak_id", json!(r.order_id));
            put("variant_mahak_id", json!(r.product_detail_id));
            put("warehouse_mahak_id", json!(r.store_id));
            put("item_type", json!(r.item_type.unwrap_or(1)));
            put("price", json!(r.price.unwrap_or(0)));
            put("count1", json!(r.count1.unwrap_or(0.0)));
            put("discount", json!(r.discount.unwrap_or(0)));
            put("tax_percent", json!(r.tax_percent.unwrap_or(0.0)));
            put("toll_percent", json!(r.charge_percent.unwrap_or(0.0)));
        }
        Record::Receipt(r) => {
            put("person_mahak_id", json!(r.person_id));
            put("order_mahak_id", json!(r.order_id));
            put("order_client_id", json!(r.order_client_id));
            put("visitor_id", json!(r.visitor_id));
            put("cash_amount", json!(r.cash_amount.unwrap_or(0)));
            put("receipt_date", json!(r.date.map(|t| t.to_rfc3339())));
            put("description", json!(r.description));
        }
        Record::Cheque(r) => {
            put("receipt_mahak_id", json!(r.receipt_id));
            put("receipt_client_id", json!(r.receipt_client_id));
            put("cheque_type", json!(r.cheque_type.or(deleted.then_some(0))));
            put("amount", json!(r.amount.unwrap_or(0)));
            put("number", json!(r.number));
            put("bank_name", json!(r.bank_name));
            put("cheque_date", json!(r.date.map(|t| t.to_rfc3339())));
        }
        Record::Transaction(r) => {
            put("person_mahak_id", json!(r.person_id));
            put("transaction_type", json!(r.transaction_type));
            put("debt_amount", json!(r.debt_amount.unwrap_or(0)));
            put("credit_amount", json!(r.credit_amount.unwrap_or(0)));
            put("balance", json!(r.balance.unwrap_or(0)));
            put("transaction_date", json!(r.date.map(|t| t.to_rfc3339())));
            put("description", json!(r.description));
        }
        Record::Setting(r) => {
            put(
                "setting_code",
                json!(r.setting_code.or(deleted.then_some(0))),
            );
            put("value", json!(r.value.clone().unwrap_or_default()));
        }
    }
    MirrorRow {
        mahak_id: record.id(),
        client_id: record.client_id(),
        code: record.code(),
        row_version: record.row_version(),
        deleted,
        payload: record.raw().clone(),
        columns: c,
    }
}
