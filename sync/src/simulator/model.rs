//! The row models of the entities the simulator serves, transcribed from Mahak's Swagger
//! document (`*Model` definitions of `swagger-v3.json`) with the field order kept.
//!
//! They exist so that every generated row carries *all* of the model's fields, in PascalCase,
//! as the live service answers (a client must cope with the fields it does not use), and so
//! that `SaveAllData` can map the camelCase (or any-case) keys it receives onto the canonical
//! names and types: [`schema`] derives both from the `Default` value of each model.
//!
//! Deviations from the Swagger document, each because the live service or the README says so:
//! `Order` gets the `RowVersion` the document forgets, and `Receipt` gets the `TrackingCode`
//! the README mentions.

use std::collections::HashMap;
use std::sync::LazyLock;

use serde::Serialize;
use serde_json::{Map, Value};

use crate::mahak::Entity;

/// `ProductCategoryModel` of the Swagger document.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ProductCategory {
    pub product_category_id: i32,
    pub product_category_client_id: i64,
    pub product_category_code: i32,
    pub name: Option<String>,
    pub color: Option<String>,
    pub icon: Option<String>,
    pub deleted: bool,
    pub row_version: i64,
}

/// `ProductModel` of the Swagger document.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Product {
    pub product_id: i32,
    pub product_client_id: i64,
    pub product_code: i32,
    pub product_category_id: i32,
    pub name: Option<String>,
    pub unit_name: Option<String>,
    pub unit_name2: Option<String>,
    pub unit_code: i32,
    pub unit_code2: i32,
    pub tags: Option<String>,
    pub unit_ratio: f64,
    pub min: f64,
    pub tax_percent: f64,
    pub charge_percent: f64,
    pub width: f64,
    pub height: f64,
    pub length: f64,
    pub weight: f64,
    #[serde(rename = "Type")]
    pub kind: i32,
    pub description: Option<String>,
    #[serde(rename = "ProductTIN")]
    pub product_tin: Option<String>,
    #[serde(rename = "UnitTIN")]
    pub unit_tin: Option<String>,
    pub deleted: bool,
    pub row_version: i64,
    pub product_category_client_id: i64,
    pub product_category_code: i32,
}

/// `ProductDetailModel` of the Swagger document.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ProductDetail {
    pub product_detail_id: i32,
    pub product_detail_client_id: i64,
    pub product_detail_code: i32,
    pub product_id: i32,
    pub properties: Option<String>,
    pub properties2: Option<String>,
    pub barcode: Option<String>,
    pub price1: f64,
    pub price2: f64,
    pub price3: f64,
    pub price4: f64,
    pub price5: f64,
    pub price6: f64,
    pub price7: f64,
    pub price8: f64,
    pub price9: f64,
    pub price10: f64,
    pub discount: f64,
    pub discount1: f64,
    pub discount2: f64,
    pub discount3: f64,
    pub discount4: f64,
    pub default_discount_level: i32,
    pub discount_type: i32,
    pub default_sell_price_level: i32,
    pub customer_price: f64,
    pub serials: Option<String>,
    pub default_consumer_price_level: i32,
    pub consumer_price1: f64,
    pub consumer_price2: f64,
    pub consumer_price3: f64,
    pub consumer_price4: f64,
    pub consumer_price5: f64,
    pub consumer_price6: f64,
    pub consumer_price7: f64,
    pub consumer_price8: f64,
    pub consumer_price9: f64,
    pub consumer_price10: f64,
    pub deleted: bool,
    pub data_hash: Option<String>,
    pub create_date: Option<String>,
    pub row_version: i64,
    pub product_client_id: i64,
    pub product_code: i32,
}

/// `ProductDetailStoreAssetModel` of the Swagger document.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ProductDetailStoreAsset {
    pub product_detail_store_asset_id: i32,
    pub product_detail_id: i32,
    pub store_id: i32,
    pub count1: f64,
    pub count2: f64,
    pub deleted: bool,
    pub create_date: Option<String>,
    pub row_version: i64,
}

/// `StoreModel` of the Swagger document.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Store {
    pub store_id: i32,
    pub store_client_id: i64,
    pub store_code: i32,
    pub name: Option<String>,
    pub stock: f64,
    pub comment: Option<String>,
    pub deleted: bool,
    pub row_version: i64,
}

/// `PictureModel` of the Swagger document.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Picture {
    pub picture_id: i32,
    pub picture_client_id: i64,
    pub picture_code: i32,
    pub file_name: Option<String>,
    pub display_order: i32,
    pub title: Option<String>,
    pub url: Option<String>,
    pub file_size: i32,
    pub width: i32,
    pub height: i32,
    pub format: Option<String>,
    pub deleted: bool,
    pub row_version: i64,
}

/// `PhotoGalleryModel` of the Swagger document.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct PhotoGallery {
    pub photo_gallery_id: i32,
    pub picture_id: i32,
    pub entity_type: i32,
    pub item_code: i32,
    pub item_type: i32,
    pub deleted: bool,
    pub row_version: i64,
}

/// `PersonGroupModel` of the Swagger document.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct PersonGroup {
    pub person_group_id: i32,
    pub person_group_client_id: i64,
    pub person_group_code: i32,
    pub name: Option<String>,
    pub color: Option<String>,
    pub icon: Option<String>,
    pub discount_percent: f64,
    pub sell_price_level: i32,
    pub deleted: bool,
    pub row_version: i64,
}

/// `PersonModel` of the Swagger document.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Person {
    pub person_id: i32,
    pub person_client_id: i64,
    pub branch_code: Option<String>,
    pub person_code: i32,
    pub person_group_id: i32,
    pub person_type: i32,
    pub prifix: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub organization: Option<String>,
    pub gender: i32,
    pub national_code: Option<String>,
    pub credit: f64,
    pub balance: f64,
    pub email: Option<String>,
    pub user_name: Option<String>,
    pub password: Option<String>,
    pub discount_percent: f64,
    pub sell_price_level: i32,
    pub state: Option<String>,
    pub city: Option<String>,
    pub city_code: i32,
    pub zone: Option<String>,
    pub address: Option<String>,
    pub latitude: f64,
    pub longitude: f64,
    pub phone: Option<String>,
    pub mobile: Option<String>,
    pub fax: Option<String>,
    pub description: Option<String>,
    pub finance_tax_payer_type: i32,
    pub economic_no: Option<String>,
    pub postal_code: Option<String>,
    pub birth_date: Option<String>,
    pub deleted: bool,
    pub row_version: i64,
    pub person_group_client_id: i64,
    pub person_group_code: i32,
}

/// `PersonAddressModel` of the Swagger document.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct PersonAddress {
    pub person_address_id: i32,
    pub person_address_client_id: i64,
    pub person_address_code: i32,
    pub person_id: i32,
    pub title: Option<String>,
    pub description: Option<String>,
    pub address: Option<String>,
    pub postal_code: Option<String>,
    pub tel: Option<String>,
    pub mobile: Option<String>,
    pub city_id: i32,
    pub latitude: f64,
    pub longitude: f64,
    pub is_default: bool,
    pub person_client_id: i64,
    pub person_code: i32,
    pub deleted: bool,
    pub row_version: i64,
}

/// `VisitorPersonModel` of the Swagger document.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct VisitorPerson {
    pub visitor_person_id: i32,
    pub person_id: i32,
    pub visitor_id: i32,
    pub deleted: bool,
    pub row_version: i64,
    pub person_client_id: i64,
    pub person_code: i32,
    pub visitor_client_id: i64,
    pub visitor_code: i32,
}

/// `VisitorProductModel` of the Swagger document.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct VisitorProduct {
    pub visitor_product_id: i32,
    pub product_detail_id: i32,
    pub visitor_id: i32,
    pub count1: f64,
    pub count2: f64,
    pub price: f64,
    pub serials: Option<String>,
    pub deleted: bool,
    pub row_version: i64,
    pub product_detail_client_id: i64,
    pub product_detail_code: i32,
    pub visitor_client_id: i64,
    pub visitor_code: i32,
}

/// `OrderModel` of the Swagger document.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Order {
    pub order_id: i32,
    pub order_client_id: i64,
    pub fiscal_year: i32,
    pub order_code: i32,
    pub person_id: i32,
    pub visitor_id: i32,
    pub receipt_id: i32,
    pub payment_id: i32,
    pub order_type: i32,
    pub order_date: Option<String>,
    pub delivery_date: Option<String>,
    pub discount: f64,
    pub discount_type: i32,
    pub send_cost: f64,
    pub other_cost: f64,
    pub settlement_type: i32,
    pub immediate: bool,
    pub return_reason_id: i32,
    pub description: Option<String>,
    pub expense_id: i32,
    pub project_id: i32,
    pub latitude: f64,
    pub longitude: f64,
    pub shipping_address: Option<String>,
    pub carrier_type: i32,
    #[serde(rename = "CarrierID")]
    pub carrier_id: i64,
    pub driver_currency_type: i32,
    pub carrying_as_expense: bool,
    pub reference_order_id: i32,
    pub invoice_template: Option<String>,
    pub deleted: bool,
    pub extra_items: Option<String>,
    pub person_client_id: i64,
    pub person_code: i32,
    pub receipt_client_id: i64,
    pub receipt_code: i32,
    pub payment_client_id: i64,
    pub payment_code: i32,
    pub cottage_number: Option<String>,
    pub cottage_date: Option<String>,
    pub currency_id: i32,
    pub curr_exchange_rate: f64,
    pub row_version: i64,
}

/// `OrderDetailModel` of the Swagger document.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct OrderDetail {
    pub order_detail_id: i32,
    pub order_detail_client_id: i64,
    pub item_type: i32,
    pub order_id: i32,
    pub product_detail_id: i32,
    pub income_id: i32,
    pub expense_id: i32,
    pub price: f64,
    pub count1: f64,
    pub count2: f64,
    pub promotion_code: i32,
    pub gift: i32,
    pub description: Option<String>,
    pub discount: f64,
    pub discount_type: i32,
    pub tax_percent: f64,
    pub charge_percent: f64,
    pub store_id: i32,
    pub width: f64,
    pub height: f64,
    pub item_count: i32,
    pub row_id: i32,
    pub deleted: bool,
    pub row_version: i64,
    pub order_client_id: i64,
    pub order_code: i32,
    pub product_detail_client_id: i64,
    pub product_detail_code: i32,
}

/// `ReceiptModel` of the Swagger document.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Receipt {
    pub receipt_id: i32,
    pub receipt_client_id: i64,
    pub receipt_code: i32,
    pub person_id: i32,
    pub visitor_id: i32,
    pub cash_amount: f64,
    pub cash_code: i32,
    pub description: Option<String>,
    pub date: Option<String>,
    pub project_id: i32,
    pub order_id: i32,
    pub deleted: bool,
    pub update_date: Option<String>,
    pub row_version: i64,
    pub order_client_id: i64,
    pub order_code: i32,
    pub order_type: i32,
    /// Not in the Swagger model; the README lists it for receipts.
    pub tracking_code: Option<String>,
}

/// `ChequeModel` of the Swagger document.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Cheque {
    pub cheque_id: i32,
    pub cheque_client_id: i64,
    pub cheque_code: i32,
    pub receipt_id: i32,
    pub bank_id: i32,
    pub number: Option<String>,
    pub bank_name: Option<String>,
    pub branch: Option<String>,
    pub amount: f64,
    pub date: Option<String>,
    #[serde(rename = "Type")]
    pub kind: i32,
    pub description: Option<String>,
    pub deleted: bool,
    pub row_version: i64,
    pub receipt_client_id: i64,
    pub receipt_code: i32,
    pub bank_client_id: i64,
    pub bank_code: i32,
}

/// `TransactionModel` of the Swagger document.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Transaction {
    pub transaction_id: i32,
    pub transaction_client_id: i64,
    pub transaction_code: i32,
    pub person_id: i32,
    #[serde(rename = "Type")]
    pub kind: i32,
    pub debt_amount: f64,
    pub credit_amount: f64,
    pub balance: f64,
    pub status: i32,
    pub description: Option<String>,
    pub row: i32,
    pub date: Option<String>,
    pub deleted: bool,
    pub row_version: i64,
}

/// `SettingModel` of the Swagger document.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Setting {
    pub setting_id: i32,
    pub setting_code: i32,
    pub setting_client_id: i64,
    pub visitor_id: i32,
    pub value: Option<String>,
    pub deleted: bool,
    pub row_version: i64,
}

/// The kind of value a model field holds, as read off its default value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Int,
    Double,
    Bool,
    /// Strings and dates (both `null` by default).
    Text,
}

/// The fields of one entity's model: canonical PascalCase names, in model order, and kinds.
pub(crate) struct Schema {
    default_row: Map<String, Value>,
    by_lower: HashMap<String, (String, Kind)>,
}

impl Schema {
    fn of<T: Serialize + Default>() -> Schema {
        let default_row = match serde_json::to_value(T::default()) {
            Ok(Value::Object(map)) => map,
            // The models are plain structs: they always serialize to objects.
            _ => Map::new(),
        };
        let by_lower = default_row
            .iter()
            .map(|(name, value)| {
                let kind = match value {
                    Value::Bool(_) => Kind::Bool,
                    Value::Number(n) if n.is_f64() => Kind::Double,
                    Value::Number(_) => Kind::Int,
                    _ => Kind::Text,
                };
                (name.to_ascii_lowercase(), (name.clone(), kind))
            })
            .collect();
        Schema {
            default_row,
            by_lower,
        }
    }

    /// A row with every field of the model at its default (0, 0.0, false, null).
    pub(crate) fn default_row(&self) -> Map<String, Value> {
        self.default_row.clone()
    }

    /// The canonical name and kind of a field, whatever the casing of `key`.
    pub(crate) fn field(&self, key: &str) -> Option<(&str, Kind)> {
        self.by_lower
            .get(&key.to_ascii_lowercase())
            .map(|(name, kind)| (name.as_str(), *kind))
    }

    /// Whether the model has a field of this exact canonical name.
    pub(crate) fn has(&self, name: &str) -> bool {
        self.default_row.contains_key(name)
    }
}

static SCHEMAS: LazyLock<HashMap<Entity, Schema>> = LazyLock::new(|| {
    Entity::ALL
        .into_iter()
        .map(|entity| {
            let schema = match entity {
                Entity::ProductCategory => Schema::of::<ProductCategory>(),
                Entity::Product => Schema::of::<Product>(),
                Entity::ProductDetail => Schema::of::<ProductDetail>(),
                Entity::ProductDetailStoreAsset => Schema::of::<ProductDetailStoreAsset>(),
                Entity::Store => Schema::of::<Store>(),
                Entity::Picture => Schema::of::<Picture>(),
                Entity::PhotoGallery => Schema::of::<PhotoGallery>(),
                Entity::PersonGroup => Schema::of::<PersonGroup>(),
                Entity::Person => Schema::of::<Person>(),
                Entity::PersonAddress => Schema::of::<PersonAddress>(),
                Entity::VisitorPerson => Schema::of::<VisitorPerson>(),
                Entity::VisitorProduct => Schema::of::<VisitorProduct>(),
                Entity::Order => Schema::of::<Order>(),
                Entity::OrderDetail => Schema::of::<OrderDetail>(),
                Entity::Receipt => Schema::of::<Receipt>(),
                Entity::Cheque => Schema::of::<Cheque>(),
                Entity::Transaction => Schema::of::<Transaction>(),
                Entity::Setting => Schema::of::<Setting>(),
            };
            (entity, schema)
        })
        .collect()
});

/// The schema of `entity`'s model.
pub(crate) fn schema(entity: Entity) -> &'static Schema {
    // SCHEMAS is built from Entity::ALL, so every entity has an entry.
    &SCHEMAS[&entity]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schemas_use_live_casing() {
        let detail = schema(Entity::ProductDetail);
        assert_eq!(detail.field("price10"), Some(("Price10", Kind::Double)));
        assert_eq!(
            detail.field("PRODUCTDETAILID"),
            Some(("ProductDetailId", Kind::Int))
        );
        assert_eq!(detail.field("properties"), Some(("Properties", Kind::Text)));
        let order = schema(Entity::Order);
        assert_eq!(order.field("carrierId"), Some(("CarrierID", Kind::Int)));
        assert!(order.has("RowVersion"));
        for entity in Entity::ALL {
            let s = schema(entity);
            assert!(s.has("RowVersion"), "{entity} lacks RowVersion");
            assert!(s.has("Deleted"), "{entity} lacks Deleted");
            assert!(s.has(&entity.id_field()), "{entity} lacks its id");
        }
    }
}
