//! The bench's own database: created afresh, migrated by the real `server migrate up`, and
//! filled with a catalogue written the way the sync consumer writes it (Mahak mirror rows
//! linked by Mahak id, plus the shop's listings), in a handful of set-based statements so
//! that 20,000 products load in seconds.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context};
use sea_orm::sqlx::{self, postgres::PgPoolOptions, PgPool};

/// Product types, brands and colours the names are made of. Every combination of type and
/// brand occurs, so a two-word Persian query finds a known share of the catalogue.
const KINDS: [&str; 20] = [
    "گوشی",
    "لپ‌تاپ",
    "هدفون",
    "ساعت",
    "کفش",
    "کیف",
    "پیراهن",
    "شلوار",
    "کتاب",
    "چای",
    "قهوه",
    "برنج",
    "روغن",
    "صابون",
    "شامپو",
    "یخچال",
    "تلویزیون",
    "جاروبرقی",
    "اتو",
    "فرش",
];
const BRANDS: [&str; 10] = [
    "سامسونگ",
    "شیائومی",
    "اپل",
    "ال‌جی",
    "سونی",
    "پارس‌خزر",
    "گلرنگ",
    "بیژن",
    "نیک",
    "کاله",
];
const COLOURS: [&str; 7] = ["مشکی", "سفید", "قرمز", "آبی", "سبز", "طلایی", "نقره‌ای"];
const DEPARTMENTS: [&str; 4] = ["کالای دیجیتال", "پوشاک", "خوراکی", "لوازم خانگی"];

pub const CATEGORIES: i64 = 40;
pub const VARIANTS_PER_PRODUCT: i64 = 3;
pub const IMAGES_PER_PRODUCT: i64 = 2;

/// The search query the bench sends, and how many products it matches in a catalogue of
/// `products` products (names cycle through kinds, then brands).
pub const SEARCH_QUERY: &str = "گوشی سامسونگ";

/// Product `n` (1-based; its Mahak id) is named after kind `n % 20` and brand `(n / 20) % 10`.
fn product_name(n: i64) -> String {
    let kind = KINDS[(n % 20) as usize];
    let brand = BRANDS[((n / 20) % 10) as usize];
    let colour = COLOURS[(n % 7) as usize];
    format!("{kind} {brand} {colour} مدل {}", persian_digits(n))
}

fn persian_digits(n: i64) -> String {
    n.to_string()
        .chars()
        .map(|c| char::from_u32('۰' as u32 + c.to_digit(10).unwrap_or(0)).unwrap_or(c))
        .collect()
}

/// The server URL of database `name` on the PostgreSQL at `base` (`postgres://user@host:port`).
pub fn database_url(base: &str, name: &str) -> String {
    format!("{}/{name}", base.trim_end_matches('/'))
}

/// Drops and creates database `name`.
pub async fn create_database(base: &str, name: &str) -> anyhow::Result<()> {
    ensure!(
        name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
        "database name {name:?}: only letters, digits and _"
    );
    let admin = PgPoolOptions::new()
        .max_connections(1)
        .connect(&database_url(base, "postgres"))
        .await
        .with_context(|| format!("connecting to PostgreSQL at {base}"))?;
    sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .execute(&admin)
        .await?;
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&admin)
        .await?;
    admin.close().await;
    Ok(())
}

/// Runs the real binary's `migrate up` against `url`.
pub async fn migrate(server_bin: &Path, url: &str, work_dir: &Path) -> anyhow::Result<()> {
    let output = tokio::process::Command::new(server_bin)
        .args(["migrate", "up"])
        .env("APP__DATABASE__URL", url)
        .env("APP__LOG__LEVEL", "warn")
        .env_remove("RUST_LOG")
        .current_dir(work_dir)
        .output()
        .await
        .with_context(|| format!("running {} migrate up", server_bin.display()))?;
    if !output.status.success() {
        bail!(
            "server migrate up failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(())
}

pub struct Seeded {
    pub products: i64,
    pub variants: i64,
    pub stock_rows: i64,
    pub images: i64,
    pub categories: i64,
    pub visible: i64,
    pub search_matches: i64,
    pub took: Duration,
}

/// Loads `products` products with their listings, variants, stock, images and categories.
pub async fn catalogue(pool: &PgPool, products: i64) -> anyhow::Result<Seeded> {
    let started = Instant::now();
    let mut tx = pool.begin().await?;

    sqlx::query(
        "INSERT INTO warehouses (mahak_id, mahak_code, row_version, payload, synced_at, name) \
         VALUES (1, 1, 1, '{\"StoreId\": 1}', now(), 'انبار مرکزی')",
    )
    .execute(&mut *tx)
    .await?;

    let category_names: Vec<String> = (1..=CATEGORIES)
        .map(|k| format!("{} {}", DEPARTMENTS[(k % 4) as usize], persian_digits(k)))
        .collect();
    sqlx::query(
        "INSERT INTO categories (mahak_id, mahak_code, row_version, payload, synced_at, name) \
         SELECT k, k, 1, jsonb_build_object('ProductCategoryId', k, 'Name', n), now(), n \
         FROM UNNEST($1::text[]) WITH ORDINALITY AS t(n, k)",
    )
    .bind(&category_names)
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "INSERT INTO category_listings (category_id, slug, display_order, published) \
         SELECT id, 'c-' || mahak_id, mahak_id::int, true FROM categories",
    )
    .execute(&mut *tx)
    .await?;

    // Names and their search folding are computed by the same functions the sync consumer
    // uses, so search finds exactly what it would find in a synced store.
    let ids: Vec<i64> = (1..=products).collect();
    let names: Vec<String> = ids
        .iter()
        .map(|&n| sync::persian::normalize_display(&product_name(n)))
        .collect();
    let folded: Vec<String> = names
        .iter()
        .map(|n| sync::persian::fold_for_search(n))
        .collect();
    let category_of: Vec<i64> = ids.iter().map(|n| 1 + n % CATEGORIES).collect();
    sqlx::query(
        "INSERT INTO products (mahak_id, mahak_code, row_version, payload, synced_at, \
         category_mahak_id, name, search_text, unit_name, tax_percent, toll_percent) \
         SELECT m, m, 1, jsonb_build_object('ProductId', m, 'Name', n), now(), c, n, s, 'عدد', 9, 1 \
         FROM UNNEST($1::bigint[], $2::text[], $3::text[], $4::bigint[]) AS t(m, n, s, c)",
    )
    .bind(&ids)
    .bind(&names)
    .bind(&folded)
    .bind(&category_of)
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "INSERT INTO product_listings (product_id, slug, description, published) \
         SELECT id, 'p-' || mahak_id, 'توضیح ' || name, true FROM products",
    )
    .execute(&mut *tx)
    .await?;
    // Variant ids follow the test fixtures (`product * 10 + n`); prices are whole Rial at
    // the default level 1, a second level below it.
    sqlx::query(
        "INSERT INTO variants (mahak_id, row_version, payload, synced_at, product_mahak_id, \
         barcode, properties, default_price_level, price_1, price_2) \
         SELECT p.mahak_id * 10 + k, 1, jsonb_build_object('ProductDetailId', p.mahak_id * 10 + k), \
         now(), p.mahak_id, '626' || lpad((p.mahak_id * 10 + k)::text, 10, '0'), \
         jsonb_build_array(jsonb_build_object('C', 1, 'V', (ARRAY['کوچک', 'متوسط', 'بزرگ'])[k + 1])), \
         1, 1500000 + ((p.mahak_id * 7919) % 9000) * 1000 + k * 250000, \
         1500000 + ((p.mahak_id * 7919) % 9000) * 1000 + k * 250000 - 50000 \
         FROM products p CROSS JOIN generate_series(0, $1::int - 1) AS k",
    )
    .bind(VARIANTS_PER_PRODUCT as i32)
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "INSERT INTO variant_stock (mahak_id, row_version, payload, synced_at, variant_mahak_id, \
         warehouse_mahak_id, quantity, quantity2) \
         SELECT v.mahak_id, 1, jsonb_build_object('ProductDetailStoreAssetId', v.mahak_id), now(), \
         v.mahak_id, 1, (v.mahak_id % 15)::float8, 0 FROM variants v",
    )
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "INSERT INTO product_images (product_id, object_key, alt_text, position, width, height, \
         content_type, byte_size) \
         SELECT p.id, 'products/' || p.mahak_id || '/' || pos || '.webp', p.name, pos, 800, 800, \
         'image/webp', 48000 FROM products p CROSS JOIN generate_series(0, $1::int - 1) AS pos",
    )
    .bind(IMAGES_PER_PRODUCT as i32)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;

    // The price summary by the sync's own rule (what makes a product visible to the shop).
    let db = sea_orm::SqlxPostgresConnector::from_sqlx_postgres_pool(pool.clone());
    sync::mirror::price::refresh_price_summary(&db, &ids).await?;
    sqlx::query("ANALYZE").execute(pool).await?;
    let took = started.elapsed();

    let count = |sql: &'static str| async move {
        let (n,): (i64,) = sqlx::query_as(sql).fetch_one(pool).await?;
        anyhow::Ok(n)
    };
    let pattern: Vec<String> = sync::persian::fold_for_search(SEARCH_QUERY)
        .split(' ')
        .map(|w| format!("%{w}%"))
        .collect();
    let (search_matches,): (i64,) = sqlx::query_as(
        "SELECT count(*) FROM products WHERE search_text LIKE ALL($1::text[]) AND min_price IS NOT NULL",
    )
    .bind(&pattern)
    .fetch_one(pool)
    .await?;
    Ok(Seeded {
        products: count("SELECT count(*) FROM products").await?,
        variants: count("SELECT count(*) FROM variants").await?,
        stock_rows: count("SELECT count(*) FROM variant_stock").await?,
        images: count("SELECT count(*) FROM product_images").await?,
        categories: count("SELECT count(*) FROM categories").await?,
        visible: count(
            "SELECT count(*) FROM products p JOIN product_listings l ON l.product_id = p.id \
             WHERE p.deleted_at IS NULL AND p.min_price IS NOT NULL AND l.published",
        )
        .await?,
        search_matches,
        took,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_persian_and_fold_for_the_search_query() {
        // Product 20 * 10 * k is kind 0 and brand 0: the search query's words.
        let name = sync::persian::normalize_display(&product_name(200));
        assert!(name.starts_with("گوشی سامسونگ"), "{name}");
        assert!(name.ends_with("۲۰۰"), "{name}");
        let folded = sync::persian::fold_for_search(&name);
        for word in sync::persian::fold_for_search(SEARCH_QUERY).split(' ') {
            assert!(folded.contains(word), "{folded} lacks {word}");
        }
        // Product 201 is another kind, so the query does not match it.
        let other = sync::persian::fold_for_search(&product_name(201));
        assert!(!other.starts_with("گوشی سامسونگ"), "{other}");
    }
}
