//! The Mahak entities the store exchanges, and how each is named on the wire.

use serde::{Deserialize, Serialize};

/// A Mahak entity type. The names follow Mahak's own (`ProductDetail` is a sellable variant,
/// `ProductDetailStoreAsset` its stock in one warehouse, `Store` a warehouse, `Person` a
/// customer or supplier, `Order` an invoice or return).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Entity {
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
    Setting,
}

impl Entity {
    pub const ALL: [Entity; 18] = [
        Entity::ProductCategory,
        Entity::Product,
        Entity::ProductDetail,
        Entity::ProductDetailStoreAsset,
        Entity::Store,
        Entity::Picture,
        Entity::PhotoGallery,
        Entity::PersonGroup,
        Entity::Person,
        Entity::PersonAddress,
        Entity::VisitorPerson,
        Entity::VisitorProduct,
        Entity::Order,
        Entity::OrderDetail,
        Entity::Receipt,
        Entity::Cheque,
        Entity::Transaction,
        Entity::Setting,
    ];

    /// The entity's name as Mahak spells it (`ProductDetail`).
    pub fn name(self) -> &'static str {
        match self {
            Entity::ProductCategory => "ProductCategory",
            Entity::Product => "Product",
            Entity::ProductDetail => "ProductDetail",
            Entity::ProductDetailStoreAsset => "ProductDetailStoreAsset",
            Entity::Store => "Store",
            Entity::Picture => "Picture",
            Entity::PhotoGallery => "PhotoGallery",
            Entity::PersonGroup => "PersonGroup",
            Entity::Person => "Person",
            Entity::PersonAddress => "PersonAddress",
            Entity::VisitorPerson => "VisitorPerson",
            Entity::VisitorProduct => "VisitorProduct",
            Entity::Order => "Order",
            Entity::OrderDetail => "OrderDetail",
            Entity::Receipt => "Receipt",
            Entity::Cheque => "Cheque",
            Entity::Transaction => "Transaction",
            Entity::Setting => "Setting",
        }
    }

    /// The list's name in `GetAllData`'s `Data.Objects` (PascalCase, as the live service
    /// answers); `SaveAllData` takes the same name in camelCase.
    pub fn plural(self) -> &'static str {
        match self {
            Entity::ProductCategory => "ProductCategories",
            Entity::Product => "Products",
            Entity::ProductDetail => "ProductDetails",
            Entity::ProductDetailStoreAsset => "ProductDetailStoreAssets",
            Entity::Store => "Stores",
            Entity::Picture => "Pictures",
            Entity::PhotoGallery => "PhotoGalleries",
            Entity::PersonGroup => "PersonGroups",
            Entity::Person => "People",
            Entity::PersonAddress => "PersonAddresses",
            Entity::VisitorPerson => "VisitorPeople",
            Entity::VisitorProduct => "VisitorProducts",
            Entity::Order => "Orders",
            Entity::OrderDetail => "OrderDetails",
            Entity::Receipt => "Receipts",
            Entity::Cheque => "Cheques",
            Entity::Transaction => "Transactions",
            Entity::Setting => "Settings",
        }
    }

    /// The camelCase list name used in `SaveAllData` bodies (`productDetails`).
    pub fn plural_camel(self) -> String {
        lower_first(self.plural())
    }

    /// The cursor field in `GetAllData`'s body (`fromProductDetailVersion`).
    pub fn cursor_field(self) -> String {
        format!("from{}Version", self.name())
    }

    /// The field holding the row's Mahak id (`ProductDetailId`).
    pub fn id_field(self) -> String {
        format!("{}Id", self.name())
    }

    /// The field holding the row's client id (`ProductDetailClientId`).
    pub fn client_id_field(self) -> String {
        format!("{}ClientId", self.name())
    }

    /// The field holding the desktop program's code (`ProductDetailCode`).
    pub fn code_field(self) -> String {
        format!("{}Code", self.name())
    }

    /// Parses [`Entity::name`] back, ignoring case.
    pub fn from_name(name: &str) -> Option<Entity> {
        Entity::ALL
            .into_iter()
            .find(|e| e.name().eq_ignore_ascii_case(name))
    }
}

fn lower_first(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}

impl std::fmt::Display for Entity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_names() {
        assert_eq!(
            Entity::ProductDetail.cursor_field(),
            "fromProductDetailVersion"
        );
        assert_eq!(Entity::Person.plural(), "People");
        assert_eq!(Entity::Person.plural_camel(), "people");
        assert_eq!(Entity::PhotoGallery.id_field(), "PhotoGalleryId");
        assert_eq!(
            Entity::from_name("productdetail"),
            Some(Entity::ProductDetail)
        );
    }
}
