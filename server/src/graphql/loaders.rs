//! DataLoaders for the catalogue's nested fields: each turns the N lookups of one request
//! level into one query.

use std::collections::HashMap;
use std::sync::Arc;

use async_graphql::dataloader::{DataLoader, HashMapCache, Loader};
use async_graphql::SelectionField;
use entity::{product_images, products, variant_stock, variants};

/// A variant and its live stock rows.
#[derive(Debug, Clone)]
pub struct VariantWithStock {
    pub variant: variants::Model,
    pub stock: Vec<variant_stock::Model>,
}
use sea_orm::{DatabaseConnection, DbErr};

use crate::catalogue::{self, ListedCategory};

pub type LoadError = Arc<DbErr>;

/// Variants with their stock, by product Mahak id. Stock is loaded with the variants (two
/// queries in one load) rather than by a loader of its own one level deeper, so a page of
/// products needs one round of batching for everything below a product.
pub struct VariantsByProduct(pub DatabaseConnection);
/// Images by product id.
pub struct ImagesByProduct(pub DatabaseConnection);
/// Published categories by Mahak id.
pub struct CategoryByMahakId(pub DatabaseConnection);

impl Loader<i64> for VariantsByProduct {
    /// Behind `Arc`s: every `load_one` hands out a copy of the cached value, which should
    /// not copy each variant's and stock row's Mahak JSON again.
    type Value = Vec<Arc<VariantWithStock>>;
    type Error = LoadError;

    async fn load(&self, keys: &[i64]) -> Result<HashMap<i64, Self::Value>, Self::Error> {
        let variants = catalogue::variants_by_product(&self.0, keys)
            .await
            .map_err(Arc::new)?;
        let variant_ids: Vec<i64> = variants.values().flatten().map(|v| v.mahak_id).collect();
        let mut stock = catalogue::stock_by_variant(&self.0, &variant_ids)
            .await
            .map_err(Arc::new)?;
        Ok(variants
            .into_iter()
            .map(|(product, rows)| {
                let rows = rows
                    .into_iter()
                    .map(|variant| {
                        Arc::new(VariantWithStock {
                            stock: stock.remove(&variant.mahak_id).unwrap_or_default(),
                            variant,
                        })
                    })
                    .collect();
                (product, rows)
            })
            .collect())
    }
}

impl Loader<i64> for ImagesByProduct {
    type Value = Vec<product_images::Model>;
    type Error = LoadError;

    async fn load(&self, keys: &[i64]) -> Result<HashMap<i64, Self::Value>, Self::Error> {
        catalogue::images_by_product(&self.0, keys)
            .await
            .map_err(Arc::new)
    }
}

impl Loader<i64> for CategoryByMahakId {
    type Value = ListedCategory;
    type Error = LoadError;

    async fn load(&self, keys: &[i64]) -> Result<HashMap<i64, Self::Value>, Self::Error> {
        catalogue::categories_by_mahak_id(&self.0, keys)
            .await
            .map_err(Arc::new)
    }
}

/// The catalogue loaders, created once per request so batches and caches never mix
/// requests. Each caches what it loaded for the rest of the request, which lets a list
/// resolver load the relations of a whole page up front (see `prime`).
pub struct CatalogueLoaders {
    pub variants: DataLoader<VariantsByProduct, HashMapCache>,
    pub images: DataLoader<ImagesByProduct, HashMapCache>,
    pub categories: DataLoader<CategoryByMahakId, HashMapCache>,
}

impl CatalogueLoaders {
    pub fn new(db: &DatabaseConnection) -> Self {
        CatalogueLoaders {
            variants: DataLoader::with_cache(
                VariantsByProduct(db.clone()),
                tokio::spawn,
                HashMapCache::default(),
            ),
            images: DataLoader::with_cache(
                ImagesByProduct(db.clone()),
                tokio::spawn,
                HashMapCache::default(),
            ),
            categories: DataLoader::with_cache(
                CategoryByMahakId(db.clone()),
                tokio::spawn,
                HashMapCache::default(),
            ),
        }
    }
}

impl CatalogueLoaders {
    /// Loads, in one batch per relation and all relations at once, what the selection under
    /// a list of products asks for. DataLoader batching alone is timing-based (keys queued
    /// within its delay share a query), so under CPU pressure a page can split into several
    /// batches; loading the page's keys explicitly keeps it at one query per relation.
    pub async fn prime(
        &self,
        products: &[&products::Model],
        selection: SelectionField<'_>,
    ) -> Result<(), LoadError> {
        let wants = |name: &str| selection.selection_set().any(|f| f.name() == name);
        let mahak_ids = products.iter().map(|p| p.mahak_id);
        let ids = products.iter().map(|p| p.id);
        let category_ids = products.iter().filter_map(|p| p.category_mahak_id);
        let variants = async {
            if wants("variants") {
                self.variants.load_many(mahak_ids).await?;
            }
            Ok::<_, LoadError>(())
        };
        let images = async {
            if wants("images") {
                self.images.load_many(ids).await?;
            }
            Ok(())
        };
        let categories = async {
            if wants("category") {
                self.categories.load_many(category_ids).await?;
            }
            Ok(())
        };
        futures::try_join!(variants, images, categories)?;
        Ok(())
    }
}

impl From<LoadError> for crate::error::ApiError {
    fn from(err: LoadError) -> Self {
        crate::error::ApiError::internal(anyhow::anyhow!("{err}"))
    }
}
