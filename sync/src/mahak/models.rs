//! Mahak's request and answer models, as they travel on the wire.
//!
//! These mirror `swagger-v3.json` (the fields a store uses, plus every identity,
//! `RowVersion` and `Deleted`). Reading is lenient (see [`super::lenient`]): PascalCase or
//! camelCase, numbers as strings, unknown fields ignored. Writing is camelCase with absent
//! fields left out, as Mahak's own clients send. Every field is optional because Mahak omits
//! what it likes; what a field *means* for the store is decided in [`super::records`], not here.

use std::collections::BTreeMap;
use std::fmt;

use serde::ser::SerializeMap;
use serde::{Deserialize, Serialize, Serializer};
use serde_json::Value;

use super::entity::Entity;
use super::lenient::{FieldError, Fields, WireModel};

/// Declares a wire model: a struct of optional fields, each with its camelCase wire name,
/// that serializes camelCase (absent fields omitted) and deserializes leniently.
macro_rules! wire_model {
    (
        $(#[$meta:meta])*
        pub struct $name:ident {
            $( $(#[$fmeta:meta])* $field:ident : $ty:ty = $wire:literal ),* $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Default, PartialEq, Serialize)]
        pub struct $name {
            $(
                $(#[$fmeta])*
                #[serde(rename = $wire, skip_serializing_if = "Option::is_none")]
                pub $field: Option<$ty>,
            )*
        }

        impl WireModel for $name {
            const FIELDS: &'static [&'static str] = &[$($wire),*];

            fn from_fields(fields: &Fields<'_>) -> Result<Self, FieldError> {
                Ok(Self { $( $field: fields.get::<$ty>($wire)?, )* })
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let value = Value::deserialize(d)?;
                <Self as WireModel>::from_value(&value).map_err(serde::de::Error::custom)
            }
        }
    };
}

// ---------------------------------------------------------------------------------------------
// Envelope and login

/// The envelope of every answer: `{Result, Code, Message, Data}`.
#[derive(Debug, Clone, PartialEq)]
pub struct Envelope {
    pub result: bool,
    pub code: Option<i32>,
    pub message: Option<String>,
    /// `Data`, `Null` when absent.
    pub data: Value,
}

impl Envelope {
    /// Reads an envelope; `Result` is required (without it the body is not Mahak's).
    pub fn from_value(mut value: Value) -> Result<Self, FieldError> {
        let fields = Fields::of(&value).map_err(|r| FieldError::new("(body)", r))?;
        let result = fields
            .get::<bool>("result")?
            .ok_or_else(|| FieldError::new("result", "missing"))?;
        let code = fields.get::<i32>("code")?;
        let message = fields.get::<String>("message")?;
        let data_key = match &value {
            Value::Object(map) => map.keys().find(|k| k.eq_ignore_ascii_case("data")).cloned(),
            _ => None,
        };
        let data = match (&mut value, data_key) {
            (Value::Object(map), Some(key)) => map.remove(&key).unwrap_or(Value::Null),
            _ => Value::Null,
        };
        Ok(Self {
            result,
            code,
            message,
            data,
        })
    }
}

/// The `Login` body (`LoginModel`). `password` is already the lower-case hex MD5 of the
/// plain password, as Mahak's clients send it; `Debug` does not show it.
#[derive(Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LoginRequest {
    pub user_name: String,
    pub password: String,
    pub database_id: i32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub package_no: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub app_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_version: Option<String>,
}

impl fmt::Debug for LoginRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LoginRequest")
            .field("user_name", &self.user_name)
            .field("password", &"<md5 redacted>")
            .field("database_id", &self.database_id)
            .finish_non_exhaustive()
    }
}

/// Lower-case hex MD5 of a password, as Mahak's own clients send it.
pub fn password_md5(plain: &str) -> String {
    use md5::{Digest, Md5};
    Md5::digest(plain.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

wire_model! {
    /// `Data` of a `Login` answer (`LoginResultModel`).
    pub struct LoginAnswer {
        user_token: String = "userToken",
        sync_id: i64 = "syncId",
        visitor_id: i64 = "visitorId",
        database_id: i64 = "databaseId",
        error_code: i32 = "errorCode",
        error_message: String = "errorMessage",
        user_title: String = "userTitle",
        mahak_id: String = "mahakId",
        /// Tehran local time of the server.
        server_time: String = "serverTime",
        package_no: i64 = "packageNo",
        credit_day: i32 = "creditDay",
    }
}

// ---------------------------------------------------------------------------------------------
// GetAllData

/// The `GetAllData` body (`RequestAllDataModel`): one inclusive cursor per entity wanted.
/// An entity without a cursor is not requested at all (Mahak returns no list for it); `0`
/// asks for everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestAllData {
    cursors: BTreeMap<Entity, i64>,
    /// `pageSize`: rows per entity list; Mahak's default applies when absent.
    pub page_size: Option<u32>,
    /// `orderTypes`: which order types (201, 202, ...) the `Orders` list holds.
    pub order_types: Option<Vec<i32>>,
}

impl RequestAllData {
    pub fn new() -> Self {
        Self::default()
    }

    /// A request for one entity from `cursor` on.
    pub fn for_entity(entity: Entity, cursor: i64) -> Self {
        Self::new().with_cursor(entity, cursor)
    }

    pub fn with_cursor(mut self, entity: Entity, cursor: i64) -> Self {
        self.cursors.insert(entity, cursor);
        self
    }

    pub fn with_page_size(mut self, page_size: u32) -> Self {
        self.page_size = Some(page_size);
        self
    }

    pub fn with_order_types(mut self, order_types: Vec<i32>) -> Self {
        self.order_types = Some(order_types);
        self
    }

    /// `from<Entity>Version`: `None` means the entity is not requested.
    pub fn cursor(&self, entity: Entity) -> Option<i64> {
        self.cursors.get(&entity).copied()
    }

    pub fn set_cursor(&mut self, entity: Entity, cursor: Option<i64>) {
        match cursor {
            Some(c) => self.cursors.insert(entity, c),
            None => self.cursors.remove(&entity),
        };
    }

    /// The entities requested.
    pub fn entities(&self) -> impl Iterator<Item = Entity> + '_ {
        self.cursors.keys().copied()
    }
}

impl Serialize for RequestAllData {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        for (entity, cursor) in &self.cursors {
            map.serialize_entry(&entity.cursor_field(), cursor)?;
        }
        if let Some(page_size) = self.page_size {
            map.serialize_entry("pageSize", &page_size)?;
        }
        if let Some(order_types) = &self.order_types {
            map.serialize_entry("orderTypes", order_types)?;
        }
        map.end()
    }
}

/// `Data.Objects` of a `GetAllData` answer: the raw rows of each entity list returned.
/// Lists for entities the adapter does not model (`Banks`, ...) are dropped; parsing the rows
/// is [`super::records::parse_rows`]'s job, so that one bad row cannot fail the answer.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AllData {
    pub objects: BTreeMap<Entity, Vec<Value>>,
}

impl AllData {
    /// Reads `Data` of a `GetAllData` envelope. A missing `Objects` means no rows.
    pub fn from_data(data: Value) -> Result<Self, FieldError> {
        let objects = match data {
            Value::Null => return Ok(Self::default()),
            Value::Object(mut map) => {
                let key = map
                    .keys()
                    .find(|k| k.eq_ignore_ascii_case("objects"))
                    .cloned();
                match key.and_then(|k| map.remove(&k)) {
                    None | Some(Value::Null) => return Ok(Self::default()),
                    Some(Value::Object(objects)) => objects,
                    Some(other) => {
                        return Err(FieldError::new(
                            "objects",
                            format!("expected an object, got {}", super::lenient::kind(&other)),
                        ))
                    }
                }
            }
            other => {
                return Err(FieldError::new(
                    "data",
                    format!("expected an object, got {}", super::lenient::kind(&other)),
                ))
            }
        };
        let mut out = BTreeMap::new();
        for (list, rows) in objects {
            let Some(entity) = entity_from_plural(&list) else {
                continue;
            };
            match rows {
                Value::Null => {}
                Value::Array(rows) => {
                    out.entry(entity).or_insert_with(Vec::new).extend(rows);
                }
                other => {
                    return Err(FieldError::new(
                        list,
                        format!("expected a list, got {}", super::lenient::kind(&other)),
                    ))
                }
            }
        }
        Ok(Self { objects: out })
    }

    /// The raw rows of one entity (empty when the list was absent).
    pub fn rows(&self, entity: Entity) -> &[Value] {
        self.objects.get(&entity).map_or(&[], Vec::as_slice)
    }

    /// Takes the raw rows of one entity out.
    pub fn take(&mut self, entity: Entity) -> Vec<Value> {
        self.objects.remove(&entity).unwrap_or_default()
    }
}

/// The entity whose list is named `plural` (`Products`, `productDetails`), ignoring case.
pub fn entity_from_plural(plural: &str) -> Option<Entity> {
    Entity::ALL
        .into_iter()
        .find(|e| e.plural().eq_ignore_ascii_case(plural))
}

// ---------------------------------------------------------------------------------------------
// SaveAllData

/// The `SaveAllData` body (`CommitDataModel`): camelCase lists, empty lists left out. Send a
/// parent and its children in one call, linked by ClientId.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CommitData {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub people: Vec<PersonModel>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub person_groups: Vec<PersonGroupModel>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub person_addresses: Vec<PersonAddressModel>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub visitor_people: Vec<VisitorPersonModel>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub orders: Vec<OrderModel>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub order_details: Vec<OrderDetailModel>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub receipts: Vec<ReceiptModel>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub cheques: Vec<ChequeModel>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub transactions: Vec<TransactionModel>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub products: Vec<ProductModel>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub product_details: Vec<ProductDetailModel>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub product_categories: Vec<ProductCategoryModel>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub product_detail_store_assets: Vec<ProductDetailStoreAssetModel>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub pictures: Vec<PictureModel>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub photo_galleries: Vec<PhotoGalleryModel>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub visitor_products: Vec<VisitorProductModel>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub stores: Vec<StoreModel>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub settings: Vec<SettingModel>,
}

impl CommitData {
    /// How many rows of `entity` the body holds (the length of its `Results` in the answer).
    pub fn len_of(&self, entity: Entity) -> usize {
        match entity {
            Entity::Person => self.people.len(),
            Entity::PersonGroup => self.person_groups.len(),
            Entity::PersonAddress => self.person_addresses.len(),
            Entity::VisitorPerson => self.visitor_people.len(),
            Entity::Order => self.orders.len(),
            Entity::OrderDetail => self.order_details.len(),
            Entity::Receipt => self.receipts.len(),
            Entity::Cheque => self.cheques.len(),
            Entity::Transaction => self.transactions.len(),
            Entity::Product => self.products.len(),
            Entity::ProductDetail => self.product_details.len(),
            Entity::ProductCategory => self.product_categories.len(),
            Entity::ProductDetailStoreAsset => self.product_detail_store_assets.len(),
            Entity::Picture => self.pictures.len(),
            Entity::PhotoGallery => self.photo_galleries.len(),
            Entity::VisitorProduct => self.visitor_products.len(),
            Entity::Store => self.stores.len(),
            Entity::Setting => self.settings.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        Entity::ALL.into_iter().all(|e| self.len_of(e) == 0)
    }
}

wire_model! {
    /// One problem with one property of a pushed row (`PropertyErrorModel`).
    pub struct PropertyError {
        property: String = "property",
        code: i32 = "code",
        error: String = "error",
    }
}

wire_model! {
    /// What Mahak did with one pushed row (`EntityUpdateResult`).
    pub struct EntityUpdateResult {
        result: bool = "result",
        /// Position of the row in the pushed list.
        index: i64 = "index",
        entity_id: i64 = "entityId",
        entity_client_id: i64 = "entityClientId",
        entity_code: i64 = "entityCode",
        row_version: i64 = "rowVersion",
        errors: Vec<PropertyError> = "errors",
    }
}

impl EntityUpdateResult {
    /// `Result` true and no errors.
    pub fn succeeded(&self) -> bool {
        self.result == Some(true) && self.errors.as_ref().is_none_or(Vec::is_empty)
    }
}

/// The answer to `SaveAllData`: the envelope's verdict and, per entity, one result per pushed
/// row in input order. The top-level `result` can be false while some rows succeeded and the
/// reverse, so callers must look at every row.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SaveAllDataResult {
    pub result: bool,
    pub code: Option<i32>,
    pub message: Option<String>,
    pub entities: BTreeMap<Entity, Vec<EntityUpdateResult>>,
}

impl SaveAllDataResult {
    /// Reads the envelope's `Data.Objects.<plural>.Results`.
    pub fn from_envelope(envelope: Envelope) -> Result<Self, FieldError> {
        let mut entities = BTreeMap::new();
        if let Value::Object(data) = &envelope.data {
            let objects = data
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case("objects"))
                .map(|(_, v)| v);
            if let Some(Value::Object(objects)) = objects {
                for (list, value) in objects {
                    let Some(entity) = entity_from_plural(list) else {
                        continue;
                    };
                    if value.is_null() {
                        continue;
                    }
                    let fields = Fields::of(value).map_err(|r| FieldError::new(list, r))?;
                    let results = fields
                        .get::<Vec<EntityUpdateResult>>("results")
                        .map_err(|e| FieldError::new(format!("{list}.results"), e.reason))?
                        .unwrap_or_default();
                    entities.insert(entity, results);
                }
            }
        }
        Ok(Self {
            result: envelope.result,
            code: envelope.code,
            message: envelope.message,
            entities,
        })
    }

    /// The results of one entity's rows (empty when Mahak sent none).
    pub fn results(&self, entity: Entity) -> &[EntityUpdateResult] {
        self.entities.get(&entity).map_or(&[], Vec::as_slice)
    }

    /// The result for row `index` of `entity`'s pushed list: matched on `Index`, falling back
    /// to the position when Mahak leaves `Index` out.
    pub fn result_for(&self, entity: Entity, index: usize) -> Option<&EntityUpdateResult> {
        let results = self.results(entity);
        results
            .iter()
            .find(|r| r.index.and_then(|i| usize::try_from(i).ok()) == Some(index))
            .or_else(|| results.get(index).filter(|r| r.index.is_none()))
    }
}

// ---------------------------------------------------------------------------------------------
// Entities

wire_model! {
    /// `ProductModel`.
    pub struct ProductModel {
        product_id: i64 = "productId",
        product_client_id: i64 = "productClientId",
        product_code: i64 = "productCode",
        product_category_id: i64 = "productCategoryId",
        product_category_client_id: i64 = "productCategoryClientId",
        product_category_code: i64 = "productCategoryCode",
        name: String = "name",
        unit_name: String = "unitName",
        unit_name2: String = "unitName2",
        unit_ratio: f64 = "unitRatio",
        tags: String = "tags",
        min: f64 = "min",
        tax_percent: f64 = "taxPercent",
        charge_percent: f64 = "chargePercent",
        width: f64 = "width",
        height: f64 = "height",
        length: f64 = "length",
        weight: f64 = "weight",
        product_type: i32 = "type",
        description: String = "description",
        deleted: bool = "deleted",
        row_version: i64 = "rowVersion",
    }
}

wire_model! {
    /// `ProductDetailModel`: a sellable variant with ten price levels.
    pub struct ProductDetailModel {
        product_detail_id: i64 = "productDetailId",
        product_detail_client_id: i64 = "productDetailClientId",
        product_detail_code: i64 = "productDetailCode",
        product_id: i64 = "productId",
        product_client_id: i64 = "productClientId",
        product_code: i64 = "productCode",
        /// JSON text: `[{"C":12,"V":"Red"}]`.
        properties: String = "properties",
        barcode: String = "barcode",
        price1: f64 = "price1",
        price2: f64 = "price2",
        price3: f64 = "price3",
        price4: f64 = "price4",
        price5: f64 = "price5",
        price6: f64 = "price6",
        price7: f64 = "price7",
        price8: f64 = "price8",
        price9: f64 = "price9",
        price10: f64 = "price10",
        default_sell_price_level: i32 = "defaultSellPriceLevel",
        customer_price: f64 = "customerPrice",
        consumer_price1: f64 = "consumerPrice1",
        consumer_price2: f64 = "consumerPrice2",
        consumer_price3: f64 = "consumerPrice3",
        consumer_price4: f64 = "consumerPrice4",
        consumer_price5: f64 = "consumerPrice5",
        consumer_price6: f64 = "consumerPrice6",
        consumer_price7: f64 = "consumerPrice7",
        consumer_price8: f64 = "consumerPrice8",
        consumer_price9: f64 = "consumerPrice9",
        consumer_price10: f64 = "consumerPrice10",
        default_consumer_price_level: i32 = "defaultConsumerPriceLevel",
        discount: f64 = "discount",
        discount_type: i32 = "discountType",
        default_discount_level: i32 = "defaultDiscountLevel",
        serials: String = "serials",
        create_date: String = "createDate",
        deleted: bool = "deleted",
        row_version: i64 = "rowVersion",
    }
}

wire_model! {
    /// `ProductDetailStoreAssetModel`: stock of a variant in one warehouse.
    pub struct ProductDetailStoreAssetModel {
        product_detail_store_asset_id: i64 = "productDetailStoreAssetId",
        product_detail_id: i64 = "productDetailId",
        store_id: i64 = "storeId",
        count1: f64 = "count1",
        count2: f64 = "count2",
        create_date: String = "createDate",
        deleted: bool = "deleted",
        row_version: i64 = "rowVersion",
    }
}

wire_model! {
    /// `ProductCategoryModel`.
    pub struct ProductCategoryModel {
        product_category_id: i64 = "productCategoryId",
        product_category_client_id: i64 = "productCategoryClientId",
        product_category_code: i64 = "productCategoryCode",
        name: String = "name",
        color: String = "color",
        icon: String = "icon",
        deleted: bool = "deleted",
        row_version: i64 = "rowVersion",
    }
}

wire_model! {
    /// `PictureModel`: a picture file; `url` is relative to the service host.
    pub struct PictureModel {
        picture_id: i64 = "pictureId",
        picture_client_id: i64 = "pictureClientId",
        picture_code: i64 = "pictureCode",
        file_name: String = "fileName",
        display_order: i32 = "displayOrder",
        title: String = "title",
        url: String = "url",
        file_size: i64 = "fileSize",
        width: i32 = "width",
        height: i32 = "height",
        format: String = "format",
        deleted: bool = "deleted",
        row_version: i64 = "rowVersion",
    }
}

wire_model! {
    /// `PhotoGalleryModel`: links a picture to a product (`entityType` 102) or person (101).
    pub struct PhotoGalleryModel {
        photo_gallery_id: i64 = "photoGalleryId",
        picture_id: i64 = "pictureId",
        entity_type: i32 = "entityType",
        item_code: i64 = "itemCode",
        item_type: i32 = "itemType",
        deleted: bool = "deleted",
        row_version: i64 = "rowVersion",
    }
}

wire_model! {
    /// `PersonModel`: a customer or supplier.
    pub struct PersonModel {
        person_id: i64 = "personId",
        person_client_id: i64 = "personClientId",
        person_code: i64 = "personCode",
        person_group_id: i64 = "personGroupId",
        person_group_client_id: i64 = "personGroupClientId",
        person_group_code: i64 = "personGroupCode",
        person_type: i32 = "personType",
        /// Mahak spells it `prifix`.
        prefix: String = "prifix",
        first_name: String = "firstName",
        last_name: String = "lastName",
        organization: String = "organization",
        gender: i32 = "gender",
        national_code: String = "nationalCode",
        credit: f64 = "credit",
        balance: f64 = "balance",
        email: String = "email",
        discount_percent: f64 = "discountPercent",
        sell_price_level: i32 = "sellPriceLevel",
        state: String = "state",
        city: String = "city",
        city_code: i64 = "cityCode",
        zone: String = "zone",
        address: String = "address",
        latitude: f64 = "latitude",
        longitude: f64 = "longitude",
        phone: String = "phone",
        mobile: String = "mobile",
        description: String = "description",
        economic_no: String = "economicNo",
        postal_code: String = "postalCode",
        birth_date: String = "birthDate",
        deleted: bool = "deleted",
        row_version: i64 = "rowVersion",
    }
}

wire_model! {
    /// `PersonGroupModel`.
    pub struct PersonGroupModel {
        person_group_id: i64 = "personGroupId",
        person_group_client_id: i64 = "personGroupClientId",
        person_group_code: i64 = "personGroupCode",
        name: String = "name",
        discount_percent: f64 = "discountPercent",
        sell_price_level: i32 = "sellPriceLevel",
        deleted: bool = "deleted",
        row_version: i64 = "rowVersion",
    }
}

wire_model! {
    /// `PersonAddressModel`.
    pub struct PersonAddressModel {
        person_address_id: i64 = "personAddressId",
        person_address_client_id: i64 = "personAddressClientId",
        person_address_code: i64 = "personAddressCode",
        person_id: i64 = "personId",
        person_client_id: i64 = "personClientId",
        person_code: i64 = "personCode",
        title: String = "title",
        description: String = "description",
        address: String = "address",
        postal_code: String = "postalCode",
        tel: String = "tel",
        mobile: String = "mobile",
        city_id: i64 = "cityId",
        latitude: f64 = "latitude",
        longitude: f64 = "longitude",
        is_default: bool = "isDefault",
        deleted: bool = "deleted",
        row_version: i64 = "rowVersion",
    }
}

wire_model! {
    /// `VisitorPersonModel`: a person assigned to the visitor.
    pub struct VisitorPersonModel {
        visitor_person_id: i64 = "visitorPersonId",
        person_id: i64 = "personId",
        person_client_id: i64 = "personClientId",
        person_code: i64 = "personCode",
        visitor_id: i64 = "visitorId",
        deleted: bool = "deleted",
        row_version: i64 = "rowVersion",
    }
}

wire_model! {
    /// `VisitorProductModel`: a variant assigned to the visitor.
    pub struct VisitorProductModel {
        visitor_product_id: i64 = "visitorProductId",
        product_detail_id: i64 = "productDetailId",
        product_detail_client_id: i64 = "productDetailClientId",
        product_detail_code: i64 = "productDetailCode",
        visitor_id: i64 = "visitorId",
        count1: f64 = "count1",
        count2: f64 = "count2",
        price: f64 = "price",
        deleted: bool = "deleted",
        row_version: i64 = "rowVersion",
    }
}

wire_model! {
    /// `OrderModel`: an invoice, return or other order (`orderType` 201..299).
    pub struct OrderModel {
        order_id: i64 = "orderId",
        order_client_id: i64 = "orderClientId",
        order_code: i64 = "orderCode",
        fiscal_year: i32 = "fiscalYear",
        person_id: i64 = "personId",
        person_client_id: i64 = "personClientId",
        person_code: i64 = "personCode",
        visitor_id: i64 = "visitorId",
        receipt_id: i64 = "receiptId",
        receipt_client_id: i64 = "receiptClientId",
        order_type: i32 = "orderType",
        order_date: String = "orderDate",
        delivery_date: String = "deliveryDate",
        discount: f64 = "discount",
        discount_type: i32 = "discountType",
        send_cost: f64 = "sendCost",
        other_cost: f64 = "otherCost",
        settlement_type: i32 = "settlementType",
        immediate: bool = "immediate",
        return_reason_id: i64 = "returnReasonId",
        description: String = "description",
        latitude: f64 = "latitude",
        longitude: f64 = "longitude",
        /// JSON text.
        shipping_address: String = "shippingAddress",
        reference_order_id: i64 = "referenceOrderId",
        currency_id: i64 = "currencyId",
        deleted: bool = "deleted",
        row_version: i64 = "rowVersion",
    }
}

wire_model! {
    /// `OrderDetailModel`: a line of an order.
    pub struct OrderDetailModel {
        order_detail_id: i64 = "orderDetailId",
        order_detail_client_id: i64 = "orderDetailClientId",
        order_detail_code: i64 = "orderDetailCode",
        item_type: i32 = "itemType",
        order_id: i64 = "orderId",
        order_client_id: i64 = "orderClientId",
        order_code: i64 = "orderCode",
        product_detail_id: i64 = "productDetailId",
        product_detail_client_id: i64 = "productDetailClientId",
        product_detail_code: i64 = "productDetailCode",
        price: f64 = "price",
        count1: f64 = "count1",
        count2: f64 = "count2",
        gift: i32 = "gift",
        description: String = "description",
        discount: f64 = "discount",
        discount_type: i32 = "discountType",
        tax_percent: f64 = "taxPercent",
        charge_percent: f64 = "chargePercent",
        store_id: i64 = "storeId",
        row_id: i32 = "rowId",
        deleted: bool = "deleted",
        row_version: i64 = "rowVersion",
    }
}

wire_model! {
    /// `ReceiptModel`: money received from a person, optionally against an order.
    pub struct ReceiptModel {
        receipt_id: i64 = "receiptId",
        receipt_client_id: i64 = "receiptClientId",
        receipt_code: i64 = "receiptCode",
        person_id: i64 = "personId",
        person_client_id: i64 = "personClientId",
        person_code: i64 = "personCode",
        visitor_id: i64 = "visitorId",
        cash_amount: f64 = "cashAmount",
        cash_code: i64 = "cashCode",
        description: String = "description",
        date: String = "date",
        order_id: i64 = "orderId",
        order_client_id: i64 = "orderClientId",
        order_code: i64 = "orderCode",
        order_type: i32 = "orderType",
        /// Mahak's `trackingCode` (a payment reference), sent by its web plugin.
        tracking_code: String = "trackingCode",
        update_date: String = "updateDate",
        deleted: bool = "deleted",
        row_version: i64 = "rowVersion",
    }
}

wire_model! {
    /// `ChequeModel`: a cheque (`type` 1) or bank transfer (`type` 2) of a receipt.
    pub struct ChequeModel {
        cheque_id: i64 = "chequeId",
        cheque_client_id: i64 = "chequeClientId",
        cheque_code: i64 = "chequeCode",
        receipt_id: i64 = "receiptId",
        receipt_client_id: i64 = "receiptClientId",
        receipt_code: i64 = "receiptCode",
        bank_id: i64 = "bankId",
        bank_client_id: i64 = "bankClientId",
        bank_code: i64 = "bankCode",
        number: String = "number",
        bank_name: String = "bankName",
        branch: String = "branch",
        amount: f64 = "amount",
        date: String = "date",
        cheque_type: i32 = "type",
        description: String = "description",
        deleted: bool = "deleted",
        row_version: i64 = "rowVersion",
    }
}

wire_model! {
    /// `TransactionModel`: one ledger line on a person's account.
    pub struct TransactionModel {
        transaction_id: i64 = "transactionId",
        transaction_client_id: i64 = "transactionClientId",
        transaction_code: i64 = "transactionCode",
        person_id: i64 = "personId",
        transaction_type: i32 = "type",
        debt_amount: f64 = "debtAmount",
        credit_amount: f64 = "creditAmount",
        balance: f64 = "balance",
        status: i32 = "status",
        description: String = "description",
        row: i32 = "row",
        date: String = "date",
        deleted: bool = "deleted",
        row_version: i64 = "rowVersion",
    }
}

wire_model! {
    /// `StoreModel`: a warehouse.
    pub struct StoreModel {
        store_id: i64 = "storeId",
        store_client_id: i64 = "storeClientId",
        store_code: i64 = "storeCode",
        name: String = "name",
        comment: String = "comment",
        deleted: bool = "deleted",
        row_version: i64 = "rowVersion",
    }
}

wire_model! {
    /// `SettingModel`: one setting (14000/14001 hold the default toll and tax percentages).
    pub struct SettingModel {
        setting_id: i64 = "settingId",
        setting_client_id: i64 = "settingClientId",
        setting_code: i64 = "settingCode",
        visitor_id: i64 = "visitorId",
        value: String = "value",
        deleted: bool = "deleted",
        row_version: i64 = "rowVersion",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn md5_is_lower_hex() {
        assert_eq!(password_md5("demo"), "fe01ce2a7fbac8fafaed7c982a04e229");
    }

    #[test]
    fn request_all_data_wire_form() {
        let r = RequestAllData::for_entity(Entity::ProductDetail, 0)
            .with_cursor(Entity::Order, 17)
            .with_page_size(100)
            .with_order_types(vec![201]);
        assert_eq!(
            serde_json::to_value(&r).expect("serializes"),
            json!({"fromProductDetailVersion": 0, "fromOrderVersion": 17, "pageSize": 100, "orderTypes": [201]})
        );
        assert_eq!(r.cursor(Entity::Product), None);
    }

    #[test]
    fn models_read_both_casings_and_write_camel_case() {
        let pascal = json!({"ProductDetailId": 5, "Price1": "125000", "Deleted": 0, "RowVersion": "9", "Unknown": [1]});
        let camel =
            json!({"productDetailId": 5, "price1": 125000.0, "deleted": false, "rowVersion": 9});
        let a: ProductDetailModel = serde_json::from_value(pascal).expect("pascal");
        let b: ProductDetailModel = serde_json::from_value(camel.clone()).expect("camel");
        assert_eq!(a, b);
        assert_eq!(serde_json::to_value(&a).expect("serializes"), camel);
    }

    #[test]
    fn bad_field_is_named() {
        let e = ProductDetailModel::from_value(&json!({"Price1": "abc"})).expect_err("bad");
        assert_eq!(e.field, "price1");
    }

    #[test]
    fn all_data_picks_known_lists() {
        let data =
            json!({"Objects": {"Products": [{"ProductId": 1}], "Banks": [{}], "People": null}});
        let all = AllData::from_data(data).expect("reads");
        assert_eq!(all.rows(Entity::Product).len(), 1);
        assert!(all.rows(Entity::Person).is_empty());
        assert_eq!(all.objects.len(), 1);
    }

    #[test]
    fn save_results_per_row() {
        let env = Envelope::from_value(json!({
            "Result": false, "Code": 0, "Message": "partly",
            "Data": {"Objects": {"Orders": {"Results": [
                {"Result": true, "Index": 0, "EntityId": 10, "EntityClientId": 99, "RowVersion": 5, "Errors": []},
                {"Result": false, "Index": 1, "Errors": [{"Property": "personId", "Code": 3, "Error": "unknown person"}]}
            ]}}}
        }))
        .expect("envelope");
        let r = SaveAllDataResult::from_envelope(env).expect("reads");
        assert!(!r.result);
        assert!(r
            .result_for(Entity::Order, 0)
            .is_some_and(EntityUpdateResult::succeeded));
        let bad = r.result_for(Entity::Order, 1).expect("row 1");
        assert!(!bad.succeeded());
        assert_eq!(bad.errors.as_ref().map(Vec::len), Some(1));
    }
}
