//! The converted ("clean") Mahak rows the sync pipeline consumes, and the parsing of raw rows
//! into them.
//!
//! A raw row goes through two steps: the lenient wire model ([`super::models`]) and the edge
//! conversions ([`super::convert`]: Rial to `i64`, Tehran time to UTC, JSON text to JSON,
//! display text normalized). A row that fails either step becomes a [`RejectedRow`] carrying
//! the entity, whatever identity could still be read, the raw JSON and the reason; it never
//! fails the page. Every clean row keeps its raw JSON object (`raw`) for the mirror's
//! `payload` column, so nothing Mahak sent is lost to the model's choice of fields.
//!
//! Every row has `id` (Mahak's `XId`, the mirror's key), `client_id`, `code`, `row_version`
//! and `deleted`; entities that have no client id or code on the wire leave them `None`.
//! `id` and `RowVersion` are required: without them a row can neither be keyed nor ordered.

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use serde_json::Value;

use super::convert::{self, display, plain, rial_opt, ConvertError};
use super::entity::Entity;
use super::lenient::{Fields, WireModel};
use super::models::*;

/// What can be read of a row's identity, even from a row that does not parse.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct RowIdentity {
    pub id: Option<i64>,
    pub client_id: Option<i64>,
    pub code: Option<i64>,
    pub row_version: Option<i64>,
    pub deleted: Option<bool>,
}

impl RowIdentity {
    /// Reads the identity fields of `entity` from a raw row, ignoring anything unreadable.
    pub fn read(entity: Entity, raw: &Value) -> Self {
        let Ok(f) = Fields::of(raw) else {
            return Self::default();
        };
        Self {
            id: f.peek(&entity.id_field()),
            client_id: f.peek(&entity.client_id_field()),
            code: f.peek(&entity.code_field()),
            row_version: f.peek("rowVersion"),
            deleted: f.peek("deleted"),
        }
    }
}

/// A row that could not be parsed: reported, dead-lettered by the caller, never fatal.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RejectedRow {
    pub entity: Entity,
    /// What could be read of its identity (for the dead-letter's `mahak_id`, and so the
    /// cursor can still move past it).
    pub identity: RowIdentity,
    /// The row exactly as received.
    pub raw: Value,
    /// Why it was rejected, naming the field.
    pub reason: String,
}

impl std::fmt::Display for RejectedRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} row", self.entity)?;
        if let Some(id) = self.identity.id {
            write!(f, " id {id}")?;
        }
        if let Some(rv) = self.identity.row_version {
            write!(f, " (RowVersion {rv})")?;
        }
        write!(f, " rejected: {}", self.reason)
    }
}

/// The identity and bookkeeping every clean row has.
pub trait MahakRow {
    const ENTITY: Entity;
    /// Mahak's `XId`.
    fn id(&self) -> i64;
    fn client_id(&self) -> Option<i64>;
    fn code(&self) -> Option<i64>;
    fn row_version(&self) -> i64;
    fn deleted(&self) -> bool;
    /// The row exactly as received.
    fn raw(&self) -> &Value;
}

fn required<T>(field: &'static str, value: Option<T>) -> Result<T, ConvertError> {
    value.ok_or(ConvertError::Missing { field })
}

fn time(
    field: &'static str,
    value: Option<&String>,
) -> Result<Option<DateTime<Utc>>, ConvertError> {
    match value {
        None => Ok(None),
        Some(text) => convert::tehran_to_utc(field, text),
    }
}

/// A date without time of day (birth dates): the Tehran calendar day as written.
fn date(field: &'static str, value: Option<&String>) -> Result<Option<NaiveDate>, ConvertError> {
    let Some(text) = value.map(|t| t.trim()).filter(|t| !t.is_empty()) else {
        return Ok(None);
    };
    let day = text.get(..10).unwrap_or(text);
    let parsed = NaiveDate::parse_from_str(day, "%Y-%m-%d").map_err(|_| ConvertError::BadTime {
        field,
        value: text.to_string(),
    })?;
    // .NET's DateTime.MinValue means "no date".
    Ok(Some(parsed).filter(|d| NaiveDate::from_ymd_opt(1, 1, 1) != Some(*d)))
}

fn rial_levels(
    names: [&'static str; 10],
    values: [Option<f64>; 10],
) -> Result<[Option<i64>; 10], ConvertError> {
    let mut out = [None; 10];
    for ((slot, name), value) in out.iter_mut().zip(names).zip(values) {
        *slot = rial_opt(name, value)?;
    }
    Ok(out)
}

/// Declares a clean record: the common identity fields, the entity's own fields, `raw`.
macro_rules! record {
    (
        $(#[$meta:meta])*
        pub struct $name:ident {
            $( $(#[$fmeta:meta])* pub $field:ident : $ty:ty, )*
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Serialize)]
        pub struct $name {
            /// Mahak's id: the mirror's key.
            pub id: i64,
            pub client_id: Option<i64>,
            pub code: Option<i64>,
            pub row_version: i64,
            pub deleted: bool,
            $( $(#[$fmeta])* pub $field: $ty, )*
            /// The row exactly as received.
            pub raw: Value,
        }

        impl MahakRow for $name {
            const ENTITY: Entity = Entity::$name;
            fn id(&self) -> i64 { self.id }
            fn client_id(&self) -> Option<i64> { self.client_id }
            fn code(&self) -> Option<i64> { self.code }
            fn row_version(&self) -> i64 { self.row_version }
            fn deleted(&self) -> bool { self.deleted }
            fn raw(&self) -> &Value { &self.raw }
        }
    };
}

record! {
    /// A product (the variants are [`ProductDetail`]s).
    pub struct Product {
        pub category_id: Option<i64>,
        pub category_client_id: Option<i64>,
        pub category_code: Option<i64>,
        pub name: Option<String>,
        pub unit_name: Option<String>,
        pub unit_name2: Option<String>,
        pub unit_ratio: Option<f64>,
        pub tags: Option<String>,
        /// Percent.
        pub tax_percent: Option<f64>,
        /// Percent (the "toll").
        pub charge_percent: Option<f64>,
        pub weight: Option<f64>,
        pub width: Option<f64>,
        pub height: Option<f64>,
        pub length: Option<f64>,
        pub product_type: Option<i32>,
        pub description: Option<String>,
    }
}

impl Product {
    fn from_wire(w: &ProductModel) -> Result<Self, ConvertError> {
        Ok(Self {
            id: required("productId", w.product_id)?,
            client_id: w.product_client_id,
            code: w.product_code,
            row_version: required("rowVersion", w.row_version)?,
            deleted: w.deleted.unwrap_or(false),
            category_id: w.product_category_id,
            category_client_id: w.product_category_client_id,
            category_code: w.product_category_code,
            name: display(w.name.as_deref()),
            unit_name: display(w.unit_name.as_deref()),
            unit_name2: display(w.unit_name2.as_deref()),
            unit_ratio: w.unit_ratio,
            tags: display(w.tags.as_deref()),
            tax_percent: w.tax_percent,
            charge_percent: w.charge_percent,
            weight: w.weight,
            width: w.width,
            height: w.height,
            length: w.length,
            product_type: w.product_type,
            description: display(w.description.as_deref()),
            raw: Value::Null,
        })
    }
}

record! {
    /// A sellable variant with Mahak's ten price levels, in Rial.
    pub struct ProductDetail {
        pub product_id: Option<i64>,
        pub product_client_id: Option<i64>,
        pub product_code: Option<i64>,
        pub barcode: Option<String>,
        /// The parsed `properties` JSON text (`[{"C":12,"V":"Red"}]`); an empty array when
        /// Mahak sent none.
        pub properties: Value,
        /// `price1`..`price10`, Rial.
        pub prices: [Option<i64>; 10],
        /// Which level (1..=10) is the default sell price.
        pub default_sell_price_level: Option<i32>,
        /// Rial.
        pub customer_price: Option<i64>,
        /// `consumerPrice1`..`consumerPrice10`, Rial.
        pub consumer_prices: [Option<i64>; 10],
        pub default_consumer_price_level: Option<i32>,
        /// Kept as sent: its unit (amount or percent) depends on `discount_type`.
        pub discount: Option<f64>,
        pub discount_type: Option<i32>,
        pub default_discount_level: Option<i32>,
        pub serials: Option<String>,
        pub created_at: Option<DateTime<Utc>>,
    }
}

impl ProductDetail {
    /// The price at `level` (1..=10), if set.
    pub fn price(&self, level: i32) -> Option<i64> {
        usize::try_from(level)
            .ok()
            .and_then(|l| l.checked_sub(1))
            .and_then(|i| self.prices.get(i).copied().flatten())
    }

    fn from_wire(w: &ProductDetailModel) -> Result<Self, ConvertError> {
        let prices = rial_levels(
            [
                "price1", "price2", "price3", "price4", "price5", "price6", "price7", "price8",
                "price9", "price10",
            ],
            [
                w.price1, w.price2, w.price3, w.price4, w.price5, w.price6, w.price7, w.price8,
                w.price9, w.price10,
            ],
        )?;
        let consumer_prices = rial_levels(
            [
                "consumerPrice1",
                "consumerPrice2",
                "consumerPrice3",
                "consumerPrice4",
                "consumerPrice5",
                "consumerPrice6",
                "consumerPrice7",
                "consumerPrice8",
                "consumerPrice9",
                "consumerPrice10",
            ],
            [
                w.consumer_price1,
                w.consumer_price2,
                w.consumer_price3,
                w.consumer_price4,
                w.consumer_price5,
                w.consumer_price6,
                w.consumer_price7,
                w.consumer_price8,
                w.consumer_price9,
                w.consumer_price10,
            ],
        )?;
        Ok(Self {
            id: required("productDetailId", w.product_detail_id)?,
            client_id: w.product_detail_client_id,
            code: w.product_detail_code,
            row_version: required("rowVersion", w.row_version)?,
            deleted: w.deleted.unwrap_or(false),
            product_id: w.product_id,
            product_client_id: w.product_client_id,
            product_code: w.product_code,
            barcode: plain(w.barcode.as_deref()),
            properties: convert::json_text("properties", w.properties.as_deref())?
                .unwrap_or_else(|| Value::Array(Vec::new())),
            prices,
            default_sell_price_level: w.default_sell_price_level,
            customer_price: rial_opt("customerPrice", w.customer_price)?,
            consumer_prices,
            default_consumer_price_level: w.default_consumer_price_level,
            discount: w.discount,
            discount_type: w.discount_type,
            default_discount_level: w.default_discount_level,
            serials: plain(w.serials.as_deref()),
            created_at: time("createDate", w.create_date.as_ref())?,
            raw: Value::Null,
        })
    }
}

record! {
    /// Stock of one variant in one warehouse.
    pub struct ProductDetailStoreAsset {
        pub product_detail_id: Option<i64>,
        pub store_id: Option<i64>,
        /// Quantity in the main unit (may be fractional: kilograms, metres).
        pub count1: Option<f64>,
        /// Quantity in the second unit.
        pub count2: Option<f64>,
        pub created_at: Option<DateTime<Utc>>,
    }
}

impl ProductDetailStoreAsset {
    fn from_wire(w: &ProductDetailStoreAssetModel) -> Result<Self, ConvertError> {
        Ok(Self {
            id: required("productDetailStoreAssetId", w.product_detail_store_asset_id)?,
            client_id: None,
            code: None,
            row_version: required("rowVersion", w.row_version)?,
            deleted: w.deleted.unwrap_or(false),
            product_detail_id: w.product_detail_id,
            store_id: w.store_id,
            count1: w.count1,
            count2: w.count2,
            created_at: time("createDate", w.create_date.as_ref())?,
            raw: Value::Null,
        })
    }
}

record! {
    /// A product category.
    pub struct ProductCategory {
        pub name: Option<String>,
        pub color: Option<String>,
        pub icon: Option<String>,
    }
}

impl ProductCategory {
    fn from_wire(w: &ProductCategoryModel) -> Result<Self, ConvertError> {
        Ok(Self {
            id: required("productCategoryId", w.product_category_id)?,
            client_id: w.product_category_client_id,
            code: w.product_category_code,
            row_version: required("rowVersion", w.row_version)?,
            deleted: w.deleted.unwrap_or(false),
            name: display(w.name.as_deref()),
            color: plain(w.color.as_deref()),
            icon: plain(w.icon.as_deref()),
            raw: Value::Null,
        })
    }
}

record! {
    /// A picture file; `url` is relative to the Mahak service host.
    pub struct Picture {
        pub file_name: Option<String>,
        pub title: Option<String>,
        pub url: Option<String>,
        pub display_order: Option<i32>,
        pub file_size: Option<i64>,
        pub width: Option<i32>,
        pub height: Option<i32>,
        pub format: Option<String>,
    }
}

impl Picture {
    fn from_wire(w: &PictureModel) -> Result<Self, ConvertError> {
        Ok(Self {
            id: required("pictureId", w.picture_id)?,
            client_id: w.picture_client_id,
            code: w.picture_code,
            row_version: required("rowVersion", w.row_version)?,
            deleted: w.deleted.unwrap_or(false),
            file_name: plain(w.file_name.as_deref()),
            title: display(w.title.as_deref()),
            url: plain(w.url.as_deref()),
            display_order: w.display_order,
            file_size: w.file_size,
            width: w.width,
            height: w.height,
            format: plain(w.format.as_deref()),
            raw: Value::Null,
        })
    }
}

/// `PhotoGallery.entityType` of a product picture.
pub const GALLERY_ENTITY_PRODUCT: i32 = 102;
/// `PhotoGallery.entityType` of a person picture.
pub const GALLERY_ENTITY_PERSON: i32 = 101;

record! {
    /// Links a picture to a product (`entity_type` 102) or a person (101) by `item_code`.
    pub struct PhotoGallery {
        pub picture_id: Option<i64>,
        pub entity_type: Option<i32>,
        pub item_code: Option<i64>,
        pub item_type: Option<i32>,
    }
}

impl PhotoGallery {
    fn from_wire(w: &PhotoGalleryModel) -> Result<Self, ConvertError> {
        Ok(Self {
            id: required("photoGalleryId", w.photo_gallery_id)?,
            client_id: None,
            code: None,
            row_version: required("rowVersion", w.row_version)?,
            deleted: w.deleted.unwrap_or(false),
            picture_id: w.picture_id,
            entity_type: w.entity_type,
            item_code: w.item_code,
            item_type: w.item_type,
            raw: Value::Null,
        })
    }
}

record! {
    /// A customer or supplier. `credit` and `balance` are Rial.
    pub struct Person {
        pub person_group_id: Option<i64>,
        pub person_group_client_id: Option<i64>,
        pub person_group_code: Option<i64>,
        pub person_type: Option<i32>,
        pub prefix: Option<String>,
        pub first_name: Option<String>,
        pub last_name: Option<String>,
        pub organization: Option<String>,
        pub gender: Option<i32>,
        pub national_code: Option<String>,
        pub credit: Option<i64>,
        pub balance: Option<i64>,
        pub email: Option<String>,
        pub mobile: Option<String>,
        pub phone: Option<String>,
        pub discount_percent: Option<f64>,
        pub sell_price_level: Option<i32>,
        pub state: Option<String>,
        pub city: Option<String>,
        pub city_code: Option<i64>,
        pub zone: Option<String>,
        pub address: Option<String>,
        pub postal_code: Option<String>,
        pub latitude: Option<f64>,
        pub longitude: Option<f64>,
        pub economic_no: Option<String>,
        pub description: Option<String>,
        pub birth_date: Option<NaiveDate>,
    }
}

impl Person {
    fn from_wire(w: &PersonModel) -> Result<Self, ConvertError> {
        Ok(Self {
            id: required("personId", w.person_id)?,
            client_id: w.person_client_id,
            code: w.person_code,
            row_version: required("rowVersion", w.row_version)?,
            deleted: w.deleted.unwrap_or(false),
            person_group_id: w.person_group_id,
            person_group_client_id: w.person_group_client_id,
            person_group_code: w.person_group_code,
            person_type: w.person_type,
            prefix: display(w.prefix.as_deref()),
            first_name: display(w.first_name.as_deref()),
            last_name: display(w.last_name.as_deref()),
            organization: display(w.organization.as_deref()),
            gender: w.gender,
            national_code: plain(w.national_code.as_deref()),
            credit: rial_opt("credit", w.credit)?,
            balance: rial_opt("balance", w.balance)?,
            email: plain(w.email.as_deref()),
            mobile: plain(w.mobile.as_deref()),
            phone: plain(w.phone.as_deref()),
            discount_percent: w.discount_percent,
            sell_price_level: w.sell_price_level,
            state: display(w.state.as_deref()),
            city: display(w.city.as_deref()),
            city_code: w.city_code,
            zone: display(w.zone.as_deref()),
            address: display(w.address.as_deref()),
            postal_code: plain(w.postal_code.as_deref()),
            latitude: w.latitude,
            longitude: w.longitude,
            economic_no: plain(w.economic_no.as_deref()),
            description: display(w.description.as_deref()),
            birth_date: date("birthDate", w.birth_date.as_ref())?,
            raw: Value::Null,
        })
    }
}

record! {
    /// A group of people with its own discount and sell price level.
    pub struct PersonGroup {
        pub name: Option<String>,
        pub discount_percent: Option<f64>,
        pub sell_price_level: Option<i32>,
    }
}

impl PersonGroup {
    fn from_wire(w: &PersonGroupModel) -> Result<Self, ConvertError> {
        Ok(Self {
            id: required("personGroupId", w.person_group_id)?,
            client_id: w.person_group_client_id,
            code: w.person_group_code,
            row_version: required("rowVersion", w.row_version)?,
            deleted: w.deleted.unwrap_or(false),
            name: display(w.name.as_deref()),
            discount_percent: w.discount_percent,
            sell_price_level: w.sell_price_level,
            raw: Value::Null,
        })
    }
}

record! {
    /// An address of a person.
    pub struct PersonAddress {
        pub person_id: Option<i64>,
        pub person_client_id: Option<i64>,
        pub person_code: Option<i64>,
        pub title: Option<String>,
        pub address: Option<String>,
        pub postal_code: Option<String>,
        pub tel: Option<String>,
        pub mobile: Option<String>,
        pub city_id: Option<i64>,
        pub latitude: Option<f64>,
        pub longitude: Option<f64>,
        pub is_default: Option<bool>,
        pub description: Option<String>,
    }
}

impl PersonAddress {
    fn from_wire(w: &PersonAddressModel) -> Result<Self, ConvertError> {
        Ok(Self {
            id: required("personAddressId", w.person_address_id)?,
            client_id: w.person_address_client_id,
            code: w.person_address_code,
            row_version: required("rowVersion", w.row_version)?,
            deleted: w.deleted.unwrap_or(false),
            person_id: w.person_id,
            person_client_id: w.person_client_id,
            person_code: w.person_code,
            title: display(w.title.as_deref()),
            address: display(w.address.as_deref()),
            postal_code: plain(w.postal_code.as_deref()),
            tel: plain(w.tel.as_deref()),
            mobile: plain(w.mobile.as_deref()),
            city_id: w.city_id,
            latitude: w.latitude,
            longitude: w.longitude,
            is_default: w.is_default,
            description: display(w.description.as_deref()),
            raw: Value::Null,
        })
    }
}

record! {
    /// A person assigned to a visitor; deleted when removed from the visitor.
    pub struct VisitorPerson {
        pub person_id: Option<i64>,
        pub person_client_id: Option<i64>,
        pub person_code: Option<i64>,
        pub visitor_id: Option<i64>,
    }
}

impl VisitorPerson {
    fn from_wire(w: &VisitorPersonModel) -> Result<Self, ConvertError> {
        Ok(Self {
            id: required("visitorPersonId", w.visitor_person_id)?,
            client_id: None,
            code: None,
            row_version: required("rowVersion", w.row_version)?,
            deleted: w.deleted.unwrap_or(false),
            person_id: w.person_id,
            person_client_id: w.person_client_id,
            person_code: w.person_code,
            visitor_id: w.visitor_id,
            raw: Value::Null,
        })
    }
}

record! {
    /// A variant assigned to a visitor; deleted when removed from the visitor even if the
    /// product still exists.
    pub struct VisitorProduct {
        pub product_detail_id: Option<i64>,
        pub product_detail_client_id: Option<i64>,
        pub product_detail_code: Option<i64>,
        pub visitor_id: Option<i64>,
        pub count1: Option<f64>,
        pub count2: Option<f64>,
        /// Rial.
        pub price: Option<i64>,
    }
}

impl VisitorProduct {
    fn from_wire(w: &VisitorProductModel) -> Result<Self, ConvertError> {
        Ok(Self {
            id: required("visitorProductId", w.visitor_product_id)?,
            client_id: None,
            code: None,
            row_version: required("rowVersion", w.row_version)?,
            deleted: w.deleted.unwrap_or(false),
            product_detail_id: w.product_detail_id,
            product_detail_client_id: w.product_detail_client_id,
            product_detail_code: w.product_detail_code,
            visitor_id: w.visitor_id,
            count1: w.count1,
            count2: w.count2,
            price: rial_opt("price", w.price)?,
            raw: Value::Null,
        })
    }
}

record! {
    /// An order: 201 sales invoice, 202 sales return, 203 pre-sale, 204 purchase, 299
    /// pre-invoice. Amounts are Rial; dates UTC.
    pub struct Order {
        pub order_type: Option<i32>,
        pub fiscal_year: Option<i32>,
        pub person_id: Option<i64>,
        pub person_client_id: Option<i64>,
        pub person_code: Option<i64>,
        pub visitor_id: Option<i64>,
        pub receipt_id: Option<i64>,
        pub receipt_client_id: Option<i64>,
        pub reference_order_id: Option<i64>,
        pub order_date: Option<DateTime<Utc>>,
        pub delivery_date: Option<DateTime<Utc>>,
        pub discount: Option<i64>,
        pub discount_type: Option<i32>,
        pub send_cost: Option<i64>,
        pub other_cost: Option<i64>,
        pub settlement_type: Option<i32>,
        pub immediate: Option<bool>,
        pub return_reason_id: Option<i64>,
        pub description: Option<String>,
        /// The parsed `shippingAddress` JSON text; text that is not JSON is kept as a string.
        pub shipping_address: Option<Value>,
        pub latitude: Option<f64>,
        pub longitude: Option<f64>,
        pub currency_id: Option<i64>,
    }
}

impl Order {
    fn from_wire(w: &OrderModel) -> Result<Self, ConvertError> {
        Ok(Self {
            id: required("orderId", w.order_id)?,
            client_id: w.order_client_id,
            code: w.order_code,
            row_version: required("rowVersion", w.row_version)?,
            deleted: w.deleted.unwrap_or(false),
            order_type: w.order_type,
            fiscal_year: w.fiscal_year,
            person_id: w.person_id,
            person_client_id: w.person_client_id,
            person_code: w.person_code,
            visitor_id: w.visitor_id,
            receipt_id: w.receipt_id,
            receipt_client_id: w.receipt_client_id,
            reference_order_id: w.reference_order_id,
            order_date: time("orderDate", w.order_date.as_ref())?,
            delivery_date: time("deliveryDate", w.delivery_date.as_ref())?,
            discount: rial_opt("discount", w.discount)?,
            discount_type: w.discount_type,
            send_cost: rial_opt("sendCost", w.send_cost)?,
            other_cost: rial_opt("otherCost", w.other_cost)?,
            settlement_type: w.settlement_type,
            immediate: w.immediate,
            return_reason_id: w.return_reason_id,
            description: display(w.description.as_deref()),
            shipping_address: convert::json_text_or_string(w.shipping_address.as_deref()),
            latitude: w.latitude,
            longitude: w.longitude,
            currency_id: w.currency_id,
            raw: Value::Null,
        })
    }
}

record! {
    /// A line of an order. `price` and `discount` are Rial.
    pub struct OrderDetail {
        pub order_id: Option<i64>,
        pub order_client_id: Option<i64>,
        pub order_code: Option<i64>,
        pub item_type: Option<i32>,
        pub product_detail_id: Option<i64>,
        pub product_detail_client_id: Option<i64>,
        pub product_detail_code: Option<i64>,
        pub store_id: Option<i64>,
        pub price: Option<i64>,
        pub count1: Option<f64>,
        pub count2: Option<f64>,
        pub discount: Option<i64>,
        pub discount_type: Option<i32>,
        pub tax_percent: Option<f64>,
        pub charge_percent: Option<f64>,
        pub gift: Option<i32>,
        pub row_id: Option<i32>,
        pub description: Option<String>,
    }
}

impl OrderDetail {
    fn from_wire(w: &OrderDetailModel) -> Result<Self, ConvertError> {
        Ok(Self {
            id: required("orderDetailId", w.order_detail_id)?,
            client_id: w.order_detail_client_id,
            code: w.order_detail_code,
            row_version: required("rowVersion", w.row_version)?,
            deleted: w.deleted.unwrap_or(false),
            order_id: w.order_id,
            order_client_id: w.order_client_id,
            order_code: w.order_code,
            item_type: w.item_type,
            product_detail_id: w.product_detail_id,
            product_detail_client_id: w.product_detail_client_id,
            product_detail_code: w.product_detail_code,
            store_id: w.store_id,
            price: rial_opt("price", w.price)?,
            count1: w.count1,
            count2: w.count2,
            discount: rial_opt("discount", w.discount)?,
            discount_type: w.discount_type,
            tax_percent: w.tax_percent,
            charge_percent: w.charge_percent,
            gift: w.gift,
            row_id: w.row_id,
            description: display(w.description.as_deref()),
            raw: Value::Null,
        })
    }
}

record! {
    /// Money received from a person, possibly against an order. `cash_amount` is Rial.
    pub struct Receipt {
        pub person_id: Option<i64>,
        pub person_client_id: Option<i64>,
        pub person_code: Option<i64>,
        pub visitor_id: Option<i64>,
        pub cash_amount: Option<i64>,
        pub cash_code: Option<i64>,
        pub date: Option<DateTime<Utc>>,
        pub order_id: Option<i64>,
        pub order_client_id: Option<i64>,
        pub order_code: Option<i64>,
        pub order_type: Option<i32>,
        pub tracking_code: Option<String>,
        pub description: Option<String>,
        pub updated_at: Option<DateTime<Utc>>,
    }
}

impl Receipt {
    fn from_wire(w: &ReceiptModel) -> Result<Self, ConvertError> {
        Ok(Self {
            id: required("receiptId", w.receipt_id)?,
            client_id: w.receipt_client_id,
            code: w.receipt_code,
            row_version: required("rowVersion", w.row_version)?,
            deleted: w.deleted.unwrap_or(false),
            person_id: w.person_id,
            person_client_id: w.person_client_id,
            person_code: w.person_code,
            visitor_id: w.visitor_id,
            cash_amount: rial_opt("cashAmount", w.cash_amount)?,
            cash_code: w.cash_code,
            date: time("date", w.date.as_ref())?,
            order_id: w.order_id,
            order_client_id: w.order_client_id,
            order_code: w.order_code,
            order_type: w.order_type,
            tracking_code: plain(w.tracking_code.as_deref()),
            description: display(w.description.as_deref()),
            updated_at: time("updateDate", w.update_date.as_ref())?,
            raw: Value::Null,
        })
    }
}

/// `Cheque.type` of a received cheque.
pub const CHEQUE_TYPE_CHEQUE: i32 = 1;
/// `Cheque.type` of a bank transfer.
pub const CHEQUE_TYPE_TRANSFER: i32 = 2;

record! {
    /// A cheque (`cheque_type` 1) or bank transfer (2) belonging to a receipt. `amount` is
    /// Rial.
    pub struct Cheque {
        pub receipt_id: Option<i64>,
        pub receipt_client_id: Option<i64>,
        pub receipt_code: Option<i64>,
        pub cheque_type: Option<i32>,
        pub amount: Option<i64>,
        pub number: Option<String>,
        pub bank_id: Option<i64>,
        pub bank_name: Option<String>,
        pub branch: Option<String>,
        pub date: Option<DateTime<Utc>>,
        pub description: Option<String>,
    }
}

impl Cheque {
    fn from_wire(w: &ChequeModel) -> Result<Self, ConvertError> {
        Ok(Self {
            id: required("chequeId", w.cheque_id)?,
            client_id: w.cheque_client_id,
            code: w.cheque_code,
            row_version: required("rowVersion", w.row_version)?,
            deleted: w.deleted.unwrap_or(false),
            receipt_id: w.receipt_id,
            receipt_client_id: w.receipt_client_id,
            receipt_code: w.receipt_code,
            cheque_type: w.cheque_type,
            amount: rial_opt("amount", w.amount)?,
            number: plain(w.number.as_deref()),
            bank_id: w.bank_id,
            bank_name: display(w.bank_name.as_deref()),
            branch: display(w.branch.as_deref()),
            date: time("date", w.date.as_ref())?,
            description: display(w.description.as_deref()),
            raw: Value::Null,
        })
    }
}

record! {
    /// One ledger line on a person's account. Amounts are Rial.
    pub struct Transaction {
        pub person_id: Option<i64>,
        pub transaction_type: Option<i32>,
        pub debt_amount: Option<i64>,
        pub credit_amount: Option<i64>,
        pub balance: Option<i64>,
        pub status: Option<i32>,
        pub row: Option<i32>,
        pub date: Option<DateTime<Utc>>,
        pub description: Option<String>,
    }
}

impl Transaction {
    fn from_wire(w: &TransactionModel) -> Result<Self, ConvertError> {
        Ok(Self {
            id: required("transactionId", w.transaction_id)?,
            client_id: w.transaction_client_id,
            code: w.transaction_code,
            row_version: required("rowVersion", w.row_version)?,
            deleted: w.deleted.unwrap_or(false),
            person_id: w.person_id,
            transaction_type: w.transaction_type,
            debt_amount: rial_opt("debtAmount", w.debt_amount)?,
            credit_amount: rial_opt("creditAmount", w.credit_amount)?,
            balance: rial_opt("balance", w.balance)?,
            status: w.status,
            row: w.row,
            date: time("date", w.date.as_ref())?,
            description: display(w.description.as_deref()),
            raw: Value::Null,
        })
    }
}

record! {
    /// A warehouse.
    pub struct Store {
        pub name: Option<String>,
        pub comment: Option<String>,
    }
}

impl Store {
    fn from_wire(w: &StoreModel) -> Result<Self, ConvertError> {
        Ok(Self {
            id: required("storeId", w.store_id)?,
            client_id: w.store_client_id,
            code: w.store_code,
            row_version: required("rowVersion", w.row_version)?,
            deleted: w.deleted.unwrap_or(false),
            name: display(w.name.as_deref()),
            comment: display(w.comment.as_deref()),
            raw: Value::Null,
        })
    }
}

/// `Setting.settingCode` holding the default toll ("charge") percentage.
pub const SETTING_DEFAULT_TOLL_PERCENT: i64 = 14000;
/// `Setting.settingCode` holding the default tax percentage.
pub const SETTING_DEFAULT_TAX_PERCENT: i64 = 14001;

record! {
    /// One setting value. `code` stays `None`: a setting's identity is `id`, and what it
    /// configures is `setting_code`.
    pub struct Setting {
        pub setting_code: Option<i64>,
        pub visitor_id: Option<i64>,
        /// As sent, not normalized (it may be a number or a code).
        pub value: Option<String>,
    }
}

impl Setting {
    fn from_wire(w: &SettingModel) -> Result<Self, ConvertError> {
        Ok(Self {
            id: required("settingId", w.setting_id)?,
            client_id: w.setting_client_id,
            code: None,
            row_version: required("rowVersion", w.row_version)?,
            deleted: w.deleted.unwrap_or(false),
            setting_code: w.setting_code,
            visitor_id: w.visitor_id,
            value: w.value.clone(),
            raw: Value::Null,
        })
    }
}

/// Declares [`Record`] over the entities, each with its wire model.
macro_rules! records {
    ($( $variant:ident => $model:ty ),* $(,)?) => {
        /// A clean row of any entity.
        #[derive(Debug, Clone, PartialEq, Serialize)]
        #[serde(tag = "entity", content = "row")]
        pub enum Record {
            $( $variant($variant), )*
        }

        impl Record {
            pub fn entity(&self) -> Entity {
                match self { $( Record::$variant(_) => Entity::$variant, )* }
            }
            pub fn id(&self) -> i64 {
                match self { $( Record::$variant(r) => r.id, )* }
            }
            pub fn client_id(&self) -> Option<i64> {
                match self { $( Record::$variant(r) => r.client_id, )* }
            }
            pub fn code(&self) -> Option<i64> {
                match self { $( Record::$variant(r) => r.code, )* }
            }
            pub fn row_version(&self) -> i64 {
                match self { $( Record::$variant(r) => r.row_version, )* }
            }
            pub fn deleted(&self) -> bool {
                match self { $( Record::$variant(r) => r.deleted, )* }
            }
            /// The row exactly as received.
            pub fn raw(&self) -> &Value {
                match self { $( Record::$variant(r) => &r.raw, )* }
            }
        }

        fn convert_row(entity: Entity, raw: &Value) -> Result<Record, String> {
            match entity {
                $( Entity::$variant => {
                    let wire = <$model>::from_value(raw).map_err(|e| e.to_string())?;
                    $variant::from_wire(&wire).map(Record::$variant).map_err(|e| e.to_string())
                } )*
            }
        }
    };
}

records! {
    ProductCategory => ProductCategoryModel,
    Product => ProductModel,
    ProductDetail => ProductDetailModel,
    ProductDetailStoreAsset => ProductDetailStoreAssetModel,
    Store => StoreModel,
    Picture => PictureModel,
    PhotoGallery => PhotoGalleryModel,
    PersonGroup => PersonGroupModel,
    Person => PersonModel,
    PersonAddress => PersonAddressModel,
    VisitorPerson => VisitorPersonModel,
    VisitorProduct => VisitorProductModel,
    Order => OrderModel,
    OrderDetail => OrderDetailModel,
    Receipt => ReceiptModel,
    Cheque => ChequeModel,
    Transaction => TransactionModel,
    Setting => SettingModel,
}

/// Parses one raw row of `entity`: the clean record (keeping `raw`), or the reasons it was
/// rejected.
pub fn parse_row(entity: Entity, raw: Value) -> Result<Record, Box<RejectedRow>> {
    match convert_row(entity, &raw) {
        Ok(mut record) => {
            set_raw(&mut record, raw);
            Ok(record)
        }
        Err(reason) => Err(Box::new(RejectedRow {
            entity,
            identity: RowIdentity::read(entity, &raw),
            raw,
            reason,
        })),
    }
}

fn set_raw(record: &mut Record, raw: Value) {
    macro_rules! set {
        ($($variant:ident),*) => {
            match record { $( Record::$variant(r) => r.raw = raw, )* }
        };
    }
    set!(
        ProductCategory,
        Product,
        ProductDetail,
        ProductDetailStoreAsset,
        Store,
        Picture,
        PhotoGallery,
        PersonGroup,
        Person,
        PersonAddress,
        VisitorPerson,
        VisitorProduct,
        Order,
        OrderDetail,
        Receipt,
        Cheque,
        Transaction,
        Setting
    );
}

/// The rows of one entity list, parsed: the clean records and the rejects, in input order
/// within each.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ParsedRows {
    pub records: Vec<Record>,
    pub rejects: Vec<RejectedRow>,
}

impl ParsedRows {
    /// The highest RowVersion among the records and the rejects whose RowVersion could be
    /// read. Rejects count: a bad row is dead-lettered, and the cursor must be able to move
    /// past it.
    pub fn max_row_version(&self) -> Option<i64> {
        self.records
            .iter()
            .map(Record::row_version)
            .chain(self.rejects.iter().filter_map(|r| r.identity.row_version))
            .max()
    }

    pub fn len(&self) -> usize {
        self.records.len() + self.rejects.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Parses every raw row of an entity list; a bad row is a reject, never an error.
pub fn parse_rows(entity: Entity, rows: Vec<Value>) -> ParsedRows {
    let mut out = ParsedRows {
        records: Vec::with_capacity(rows.len()),
        rejects: Vec::new(),
    };
    for raw in rows {
        match parse_row(entity, raw) {
            Ok(record) => out.records.push(record),
            Err(reject) => {
                tracing::warn!(target: "mahak", entity = %entity, id = ?reject.identity.id,
                    row_version = ?reject.identity.row_version, reason = %reject.reason,
                    "Mahak row rejected");
                out.rejects.push(*reject);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn product_detail_converts_at_the_edge() {
        let raw = json!({
            "ProductDetailId": 7, "ProductDetailClientId": "70", "ProductId": 3,
            "Properties": "[{\"C\":12,\"V\":\"Red\"}]", "Barcode": 6260000000017_i64,
            "Price1": 125000.0, "Price2": "99000", "DefaultSellPriceLevel": 1,
            "CreateDate": "2025-03-01T14:30:00", "Deleted": "False", "RowVersion": 42,
            "SomethingNew": {"x": 1}
        });
        let Record::ProductDetail(d) =
            parse_row(Entity::ProductDetail, raw.clone()).expect("parses")
        else {
            panic!("wrong entity")
        };
        assert_eq!(
            (d.id, d.client_id, d.row_version, d.deleted),
            (7, Some(70), 42, false)
        );
        assert_eq!(d.prices[0], Some(125_000));
        assert_eq!(d.price(2), Some(99_000));
        assert_eq!(d.price(3), None);
        assert_eq!(d.price(0), None);
        assert_eq!(d.properties, json!([{"C": 12, "V": "Red"}]));
        assert_eq!(d.barcode.as_deref(), Some("6260000000017"));
        assert_eq!(
            d.created_at.map(|t| t.to_rfc3339()),
            Some("2025-03-01T11:00:00+00:00".to_string())
        );
        assert_eq!(d.raw, raw);
    }

    #[test]
    fn bad_rows_are_rejected_with_identity_and_reason() {
        let raw = json!({"ProductDetailId": 9, "RowVersion": 50, "Price1": "abc"});
        let reject = parse_row(Entity::ProductDetail, raw.clone()).expect_err("rejected");
        assert_eq!(reject.identity.id, Some(9));
        assert_eq!(reject.identity.row_version, Some(50));
        assert!(reject.reason.contains("price1"), "{}", reject.reason);
        assert_eq!(reject.raw, raw);

        let fractional = json!({"ProductDetailId": 10, "RowVersion": 51, "Price3": 1.5});
        let reject = parse_row(Entity::ProductDetail, fractional).expect_err("rejected");
        assert!(reject.reason.contains("price3"), "{}", reject.reason);

        let no_id = json!({"RowVersion": 52, "Name": "x"});
        let reject = parse_row(Entity::Product, no_id).expect_err("rejected");
        assert!(reject.reason.contains("productId"), "{}", reject.reason);

        let not_object = json!([1, 2]);
        let reject = parse_row(Entity::Store, not_object).expect_err("rejected");
        assert_eq!(reject.identity, RowIdentity::default());
    }

    #[test]
    fn a_page_with_a_bad_row_still_parses_the_rest() {
        let rows = vec![
            json!({"StoreId": 1, "Name": "انبار مركزي", "RowVersion": 1}),
            json!({"StoreId": 2, "RowVersion": "x"}),
            json!({"StoreId": 3, "Name": "B", "RowVersion": 3, "Deleted": true}),
        ];
        let parsed = parse_rows(Entity::Store, rows);
        assert_eq!(parsed.records.len(), 2);
        assert_eq!(parsed.rejects.len(), 1);
        assert_eq!(parsed.max_row_version(), Some(3));
        let Record::Store(s) = &parsed.records[0] else {
            panic!("wrong entity")
        };
        assert_eq!(s.name.as_deref(), Some("انبار مرکزی"));
        assert_eq!(s.raw["Name"], "انبار مركزي");
        assert!(parsed.records[1].deleted());
    }

    #[test]
    fn order_amounts_and_dates() {
        let raw = json!({
            "OrderId": 1, "RowVersion": 2, "OrderType": 201, "OrderDate": "2024-12-31T23:59:59",
            "Discount": 5000, "SendCost": "20000", "ShippingAddress": "{\"city\":\"تهران\"}"
        });
        let Record::Order(o) = parse_row(Entity::Order, raw).expect("parses") else {
            panic!("wrong entity")
        };
        assert_eq!(o.discount, Some(5000));
        assert_eq!(o.send_cost, Some(20_000));
        assert_eq!(o.shipping_address, Some(json!({"city": "تهران"})));
        assert_eq!(
            o.order_date.map(|t| t.to_rfc3339()),
            Some("2024-12-31T20:29:59+00:00".to_string())
        );
    }
}
