//! A deterministic catalogue, customer base and sales history, shaped like a real Mahak
//! database of an Iranian shop.
//!
//! Why it looks the way it does:
//! - The same seed and sizes give byte-identical rows, so a failing test or a demo can be
//!   replayed. Each entity draws from its own random stream (seeded from the seed and the
//!   entity's name), so changing one size does not reshuffle unrelated entities, and the
//!   tables can be built on several threads (100,000 products are about a million rows).
//! - Dates are spread over the year before a fixed reference time ([`REFERENCE_TIME`]), not
//!   "now", for the same reason.
//! - The data carries the quirks a client must handle: Persian names of which about one in
//!   five is written with Arabic `ي`/`ك` as the desktop program often stores them, `Properties`
//!   as a JSON *string*, money as doubles in Rial, ids and codes that differ (code = id +
//!   1000, so a client mixing them up is caught), several warehouses, returns that point at
//!   their invoice, and receipts paid by bank transfer.
//! - Figures agree with each other: a line's price is its variant's price at the variant's
//!   default level, a receipt pays its invoice's total, and a person's `Balance` is the last
//!   balance of their ledger (`Transaction`) rows.

use chrono::{Datelike, Duration, NaiveDate, NaiveDateTime, Timelike};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

use super::model;
use super::store::{Store, Table};
use crate::mahak::Entity;

/// Offset between a generated row's id and its desktop code (`XCode = XId + CODE_OFFSET`).
pub const CODE_OFFSET: i64 = 1000;

/// Generated dates lie in the 365 days before this Tehran local time.
pub const REFERENCE_TIME: &str = "2025-03-01T12:00:00";

/// How many rows of each kind the generator makes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct DataSizes {
    pub product_categories: usize,
    pub products: usize,
    /// Each product gets between 1 and this many variants (`ProductDetail`).
    pub max_variants_per_product: usize,
    /// Warehouses; every variant has one `ProductDetailStoreAsset` row in each.
    pub stores: usize,
    /// Pictures, each with one `PhotoGallery` row (EntityType 102) tying it to a product.
    pub pictures: usize,
    pub person_groups: usize,
    pub people: usize,
    pub person_addresses: usize,
    /// The first N people are tied to the visitor (`VisitorPerson`).
    pub visitor_people: usize,
    /// The first N variants are tied to the visitor (`VisitorProduct`).
    pub visitor_products: usize,
    /// Sales invoices (`Order` with OrderType 201).
    pub invoices: usize,
    /// Sales returns (OrderType 202), each referring to an invoice.
    pub returns: usize,
    /// Each order gets between 1 and this many lines (`OrderDetail`).
    pub max_lines_per_order: usize,
    /// Receipts, each paying one invoice.
    pub receipts: usize,
    /// Bank transfers and cheques, at most one per receipt (that receipt's whole amount).
    pub cheques: usize,
    /// At most this many ledger rows (one per invoice, return and receipt, oldest first).
    pub transactions: usize,
    /// Whether to create the settings rows (14000 toll percent, 14001 tax percent).
    pub settings: bool,
}

impl Default for DataSizes {
    fn default() -> Self {
        DataSizes::for_products(50)
    }
}

impl DataSizes {
    /// Sizes that scale with the number of products: about one customer per five products,
    /// one invoice per two, a picture per four.
    pub fn for_products(n: usize) -> Self {
        if n == 0 {
            return DataSizes::empty();
        }
        let people = (n / 5).max(n.min(10));
        let invoices = n / 2;
        let returns = invoices / 25;
        let receipts = invoices / 2;
        DataSizes {
            product_categories: (n / 200).clamp(3, 500),
            products: n,
            max_variants_per_product: 3,
            stores: 2,
            pictures: n / 4,
            person_groups: 4,
            people,
            person_addresses: people,
            visitor_people: people,
            visitor_products: n / 2,
            invoices,
            returns,
            max_lines_per_order: 4,
            receipts,
            cheques: receipts / 2,
            transactions: invoices + returns + receipts,
            settings: true,
        }
    }

    /// No rows at all (tests that build their own data start here).
    pub fn empty() -> Self {
        DataSizes {
            product_categories: 0,
            products: 0,
            max_variants_per_product: 1,
            stores: 0,
            pictures: 0,
            person_groups: 0,
            people: 0,
            person_addresses: 0,
            visitor_people: 0,
            visitor_products: 0,
            invoices: 0,
            returns: 0,
            max_lines_per_order: 1,
            receipts: 0,
            cheques: 0,
            transactions: 0,
            settings: false,
        }
    }
}

/// Builds the whole database. Three groups of tables are built on their own threads.
pub(crate) fn generate(seed: u64, sizes: &DataSizes, visitor_id: i64) -> anyhow::Result<Store> {
    let plan = Plan::new(seed, sizes);
    let (catalog, stock, sales) = std::thread::scope(|scope| {
        let catalog = scope.spawn(|| catalog(seed, sizes, &plan));
        let stock = scope.spawn(|| stock(seed, sizes, &plan, visitor_id));
        let sales = sales_and_people(seed, sizes, &plan, visitor_id);
        (catalog.join(), stock.join(), sales)
    });
    let mut store = Store::default();
    for tables in [
        catalog.map_err(|_| anyhow::anyhow!("catalogue generation panicked"))??,
        stock.map_err(|_| anyhow::anyhow!("stock generation panicked"))??,
        sales?,
    ] {
        for table in tables {
            store.install(table);
        }
    }
    Ok(store)
}

/// The facts several threads need: which product each variant belongs to, its price and
/// default price level, and each product's tax and toll percentages.
struct Plan {
    variant_product: Vec<u32>,
    variant_number: Vec<u8>,
    variant_count: Vec<u8>,
    base_price: Vec<i64>,
    default_level: Vec<u8>,
    product_tax: Vec<(f64, f64)>,
}

impl Plan {
    fn new(seed: u64, sizes: &DataSizes) -> Plan {
        let mut rng = rng_for(seed, "plan");
        let max_variants = sizes.max_variants_per_product.clamp(1, 255);
        let mut plan = Plan {
            variant_product: Vec::with_capacity(sizes.products * 2),
            variant_number: Vec::with_capacity(sizes.products * 2),
            variant_count: Vec::with_capacity(sizes.products),
            base_price: Vec::with_capacity(sizes.products * 2),
            default_level: Vec::with_capacity(sizes.products * 2),
            product_tax: Vec::with_capacity(sizes.products),
        };
        for product in 0..sizes.products {
            let variants = rng.random_range(1..=max_variants);
            plan.variant_count.push(variants as u8);
            // Books and bread-like staples are exempt from VAT and toll.
            plan.product_tax.push(if rng.random_bool(0.1) {
                (0.0, 0.0)
            } else {
                (9.0, 1.0)
            });
            // Prices in Rial, whole thousands, from 50,000 to 50,000,000 on a log scale.
            let base = (10f64.powf(rng.random_range(4.7..7.7)) / 1000.0).round() as i64 * 1000;
            for number in 0..variants {
                plan.variant_product.push(product as u32);
                plan.variant_number.push(number as u8);
                let step = rng.random_range(0..4) * 50_000;
                plan.base_price.push(base + step * i64::from(number > 0));
                plan.default_level.push(rng.random_range(1..=3));
            }
        }
        plan
    }

    fn variants(&self) -> usize {
        self.variant_product.len()
    }

    /// The price of variant `v` at price level `level` (1..=10): 3% less per level, whole
    /// thousands of Rial.
    fn price(&self, v: usize, level: u8) -> i64 {
        let base = self.base_price[v];
        base * (100 - 3 * (i64::from(level) - 1)) / 100 / 1000 * 1000
    }

    fn default_price(&self, v: usize) -> i64 {
        self.price(v, self.default_level[v])
    }
}

/// A random stream for one entity, independent of the others.
fn rng_for(seed: u64, stream: &str) -> StdRng {
    // FNV-1a: stable across Rust versions, unlike the standard hasher.
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in stream.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    StdRng::seed_from_u64(seed ^ hash)
}

fn rng_for_entity(seed: u64, entity: Entity) -> StdRng {
    rng_for(seed, entity.name())
}

/// Takes an id and a RowVersion from `table`, builds the row and stores it.
fn add<T: Serialize>(
    table: &mut Table,
    order_type: Option<i64>,
    build: impl FnOnce(i32, i64) -> T,
) -> anyhow::Result<i32> {
    let id = table.next_id();
    let row_version = table.next_row_version();
    let small_id = i32::try_from(id)?;
    table.put_typed(id, row_version, order_type, &build(small_id, row_version))?;
    Ok(small_id)
}

fn code(id: i32) -> i32 {
    id + CODE_OFFSET as i32
}

fn pick<'a>(rng: &mut StdRng, words: &[&'a str]) -> &'a str {
    words[rng.random_range(0..words.len())]
}

/// Some of the desktop program's text uses Arabic yeh and kaf.
fn maybe_arabic(rng: &mut StdRng, text: String) -> String {
    if rng.random_bool(0.2) {
        text.replace('ی', "ي").replace('ک', "ك")
    } else {
        text
    }
}

fn persian_digits(n: impl std::fmt::Display) -> String {
    n.to_string()
        .chars()
        .map(|c| match c.to_digit(10) {
            Some(d) => char::from_u32('۰' as u32 + d).unwrap_or(c),
            None => c,
        })
        .collect()
}

fn digits(rng: &mut StdRng, count: usize) -> String {
    (0..count)
        .map(|_| char::from(b'0' + rng.random_range(0..10u8)))
        .collect()
}

/// Tehran local time, no offset, `seconds_before` seconds before [`REFERENCE_TIME`].
fn tehran_time(seconds_before: i64) -> String {
    let reference = NaiveDate::from_ymd_opt(2025, 3, 1)
        .and_then(|d| d.and_hms_opt(12, 0, 0))
        .unwrap_or(NaiveDateTime::MIN);
    format_local(reference - Duration::seconds(seconds_before))
}

pub(crate) fn format_local(t: NaiveDateTime) -> String {
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
        t.year(),
        t.month(),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

const YEAR_SECONDS: i64 = 365 * 24 * 3600;

const CATEGORY_NAMES: &[&str] = &[
    "نوشت‌افزار",
    "مواد غذایی",
    "نوشیدنی",
    "بهداشتی",
    "پوشاک",
    "لوازم خانگی",
    "دیجیتال",
    "کتاب",
    "اسباب‌بازی",
    "آرایشی",
    "خشکبار",
    "ابزار",
];

const PRODUCT_NOUNS: &[&str] = &[
    "مداد",
    "دفتر",
    "چای",
    "خودکار",
    "پاک‌کن",
    "کیف",
    "شامپو",
    "صابون",
    "برنج",
    "روغن",
    "شکر",
    "قهوه",
    "ماکارونی",
    "عسل",
    "پنیر",
    "کتاب",
    "لیوان",
    "بشقاب",
    "حوله",
    "کفش",
    "پیراهن",
    "جوراب",
    "کلاه",
    "ساعت",
    "کیبورد",
    "ماوس",
    "هدفون",
    "لامپ",
    "باتری",
    "چسب",
    "قیچی",
    "خط‌کش",
    "ماژیک",
    "کاغذ",
    "زعفران",
    "پسته",
    "خرما",
    "گلاب",
    "نمک",
    "کیک",
];

const PRODUCT_QUALIFIERS: &[&str] = &[
    "ایرانی",
    "ممتاز",
    "درجه یک",
    "اقتصادی",
    "خانواده",
    "کلاسیک",
    "طلایی",
    "ویژه",
    "لوکس",
    "ساده",
    "کودک",
    "حرفه‌ای",
];

const BRANDS: &[&str] = &[
    "گلستان",
    "کاله",
    "مهرام",
    "سحر",
    "پارس",
    "البرز",
    "آریا",
    "سپید",
    "نیک",
    "دنا",
    "کیان",
];

const PACKAGES: &[&str] = &["گرمی", "کیلویی", "عددی", "میلی‌لیتری"];

const UNITS: &[&str] = &["عدد", "بسته", "کیلوگرم", "جعبه", "بطری"];

const COLORS: &[&str] = &["قرمز", "آبی", "سبز", "مشکی", "سفید", "زرد", "طوسی"];

const FIRST_NAMES: &[&str] = &[
    "علی",
    "محمد",
    "زهرا",
    "فاطمه",
    "رضا",
    "مریم",
    "حسین",
    "سارا",
    "مهدی",
    "نرگس",
    "امیر",
    "لیلا",
    "کاوه",
    "نیلوفر",
    "یاسر",
    "کیمیا",
    "پویا",
    "شیرین",
];

const LAST_NAMES: &[&str] = &[
    "احمدی",
    "محمدی",
    "حسینی",
    "رضایی",
    "کریمی",
    "موسوی",
    "جعفری",
    "کاظمی",
    "یزدانی",
    "کیانی",
    "نیکپور",
    "صادقی",
    "تهرانی",
    "شیرازی",
];

const CITIES: &[(&str, &str)] = &[
    ("تهران", "تهران"),
    ("اصفهان", "اصفهان"),
    ("شیراز", "فارس"),
    ("مشهد", "خراسان رضوی"),
    ("تبریز", "آذربایجان شرقی"),
    ("کرج", "البرز"),
    ("رشت", "گیلان"),
    ("یزد", "یزد"),
];

const STREETS: &[&str] = &[
    "ولیعصر",
    "انقلاب",
    "آزادی",
    "شریعتی",
    "مطهری",
    "فردوسی",
    "جمهوری",
    "بهشتی",
];

const BANKS: &[&str] = &["ملت", "ملی", "صادرات", "تجارت", "سامان", "پاسارگاد"];

const MOBILE_PREFIXES: &[&str] = &["12", "19", "35", "36", "01", "02", "90", "91", "30"];

fn address(rng: &mut StdRng) -> (String, &'static str, &'static str, String) {
    let (city, state) = CITIES[rng.random_range(0..CITIES.len())];
    let text = format!(
        "{city}، خیابان {}، کوچه {}، پلاک {}",
        pick(rng, STREETS),
        persian_digits(rng.random_range(1..40)),
        persian_digits(rng.random_range(1..200)),
    );
    let postal = format!("{}{}", rng.random_range(1..10), digits(rng, 9));
    (text, city, state, postal)
}

fn mobile(rng: &mut StdRng) -> String {
    format!("09{}{}", pick(rng, MOBILE_PREFIXES), digits(rng, 7))
}

/// A 10-digit Iranian national code with a valid check digit.
fn national_code(rng: &mut StdRng) -> String {
    let body: Vec<u32> = (0..9).map(|_| rng.random_range(0..10)).collect();
    let sum: u32 = body.iter().zip((2..=10).rev()).map(|(d, w)| d * w).sum();
    let rem = sum % 11;
    let check = if rem < 2 { rem } else { 11 - rem };
    body.iter()
        .chain(std::iter::once(&check))
        .map(|d| char::from(b'0' + *d as u8))
        .collect()
}

/// An EAN-13 barcode with Iran's 626 prefix and a valid check digit.
fn barcode(rng: &mut StdRng) -> String {
    let mut code = format!("626{}", digits(rng, 9));
    let sum: u32 = code
        .bytes()
        .enumerate()
        .map(|(i, b)| u32::from(b - b'0') * if i % 2 == 0 { 1 } else { 3 })
        .sum();
    code.push(char::from(b'0' + ((10 - sum % 10) % 10) as u8));
    code
}

fn catalog(seed: u64, sizes: &DataSizes, plan: &Plan) -> anyhow::Result<Vec<Table>> {
    let mut categories = Table::new(Entity::ProductCategory);
    let mut rng = rng_for_entity(seed, Entity::ProductCategory);
    for i in 0..sizes.product_categories {
        let base = CATEGORY_NAMES[i % CATEGORY_NAMES.len()];
        let name = match i / CATEGORY_NAMES.len() {
            0 => base.to_owned(),
            round => format!("{base} {}", persian_digits(round + 1)),
        };
        let color = format!("#{:06X}", rng.random_range(0..0x100_0000));
        add(&mut categories, None, |id, row_version| {
            model::ProductCategory {
                product_category_id: id,
                product_category_code: code(id),
                name: Some(name),
                color: Some(color),
                row_version,
                ..Default::default()
            }
        })?;
    }

    let mut products = Table::new(Entity::Product);
    let mut names = Vec::with_capacity(sizes.products);
    let mut rng = rng_for_entity(seed, Entity::Product);
    for p in 0..sizes.products {
        let mut name = format!(
            "{} {} {}",
            pick(&mut rng, PRODUCT_NOUNS),
            pick(&mut rng, PRODUCT_QUALIFIERS),
            pick(&mut rng, BRANDS)
        );
        if rng.random_bool(0.3) {
            let amount = [100, 250, 500, 1000][rng.random_range(0..4)];
            name = format!(
                "{name} {} {}",
                persian_digits(amount),
                pick(&mut rng, PACKAGES)
            );
        }
        let name = maybe_arabic(&mut rng, name);
        names.push(name.clone());
        let category = if sizes.product_categories == 0 {
            0
        } else {
            rng.random_range(1..=sizes.product_categories as i32)
        };
        let (tax, charge) = plan.product_tax[p];
        let weight = f64::from(rng.random_range(1..500) * 10);
        let unit = pick(&mut rng, UNITS);
        let description = rng
            .random_bool(0.5)
            .then(|| format!("{name}، مناسب برای استفاده روزانه"));
        add(&mut products, None, |id, row_version| model::Product {
            product_id: id,
            product_code: code(id),
            product_category_id: category,
            product_category_code: if category == 0 { 0 } else { code(category) },
            name: Some(name),
            unit_name: Some(unit.to_owned()),
            unit_ratio: 1.0,
            tax_percent: tax,
            charge_percent: charge,
            weight,
            width: 10.0,
            height: 10.0,
            length: 10.0,
            kind: 1,
            description,
            row_version,
            ..Default::default()
        })?;
    }

    let mut details = Table::new(Entity::ProductDetail);
    let mut rng = rng_for_entity(seed, Entity::ProductDetail);
    for v in 0..plan.variants() {
        let product = plan.variant_product[v] as i32 + 1;
        let number = usize::from(plan.variant_number[v]);
        let properties = if plan.variant_count[product as usize - 1] > 1 {
            let color = COLORS[(number + product as usize) % COLORS.len()];
            if rng.random_bool(0.3) {
                let size = ["کوچک", "متوسط", "بزرگ"][number % 3];
                format!(r#"[{{"C":12,"V":"{color}"}},{{"C":13,"V":"{size}"}}]"#)
            } else {
                format!(r#"[{{"C":12,"V":"{color}"}}]"#)
            }
        } else {
            "[]".to_owned()
        };
        let barcode = barcode(&mut rng);
        let created = tehran_time(rng.random_range(YEAR_SECONDS..2 * YEAR_SECONDS));
        let p = |level: u8| plan.price(v, level) as f64;
        add(&mut details, None, |id, row_version| model::ProductDetail {
            product_detail_id: id,
            product_detail_code: code(id),
            product_id: product,
            product_code: code(product),
            properties: Some(properties),
            barcode: Some(barcode),
            price1: p(1),
            price2: p(2),
            price3: p(3),
            price4: p(4),
            price5: p(5),
            price6: p(6),
            price7: p(7),
            price8: p(8),
            price9: p(9),
            price10: p(10),
            default_sell_price_level: i32::from(plan.default_level[v]),
            default_consumer_price_level: 1,
            consumer_price1: p(1),
            create_date: Some(created),
            row_version,
            ..Default::default()
        })?;
    }

    let mut pictures = Table::new(Entity::Picture);
    let mut galleries = Table::new(Entity::PhotoGallery);
    let mut rng = rng_for_entity(seed, Entity::Picture);
    if sizes.products > 0 {
        for i in 0..sizes.pictures {
            let product = (i * sizes.products / sizes.pictures.max(1)) % sizes.products;
            let title = names[product].clone();
            let size = rng.random_range(20_000..400_000);
            let picture = add(&mut pictures, None, |id, row_version| model::Picture {
                picture_id: id,
                picture_code: code(id),
                file_name: Some(format!("{}.png", code(id))),
                display_order: 1,
                title: Some(title),
                url: Some(format!("/Images/Products/{}.png", code(id))),
                file_size: size,
                width: 800,
                height: 800,
                format: Some("png".into()),
                row_version,
                ..Default::default()
            })?;
            add(&mut galleries, None, |id, row_version| {
                model::PhotoGallery {
                    photo_gallery_id: id,
                    picture_id: picture,
                    entity_type: 102,
                    item_code: code(product as i32 + 1),
                    item_type: 1,
                    row_version,
                    ..Default::default()
                }
            })?;
        }
    }
    Ok(vec![categories, products, details, pictures, galleries])
}

fn stock(seed: u64, sizes: &DataSizes, plan: &Plan, visitor_id: i64) -> anyhow::Result<Vec<Table>> {
    let visitor = i32::try_from(visitor_id)?;
    let mut stores = Table::new(Entity::Store);
    for s in 0..sizes.stores {
        let name = if s == 0 {
            "انبار مرکزی".to_owned()
        } else {
            format!("انبار شعبه {}", persian_digits(s + 1))
        };
        add(&mut stores, None, |id, row_version| model::Store {
            store_id: id,
            store_code: code(id),
            name: Some(name),
            row_version,
            ..Default::default()
        })?;
    }

    let mut assets = Table::new(Entity::ProductDetailStoreAsset);
    let mut rng = rng_for_entity(seed, Entity::ProductDetailStoreAsset);
    let mut on_hand = vec![0.0; plan.variants().min(sizes.visitor_products)];
    for v in 0..plan.variants() {
        for store in 1..=sizes.stores as i32 {
            // About one in ten is out of stock in a given warehouse.
            let count = if rng.random_bool(0.1) {
                0.0
            } else {
                f64::from(rng.random_range(1..200))
            };
            if let Some(total) = on_hand.get_mut(v) {
                *total += count;
            }
            let created = tehran_time(rng.random_range(0..YEAR_SECONDS));
            add(&mut assets, None, |id, row_version| {
                model::ProductDetailStoreAsset {
                    product_detail_store_asset_id: id,
                    product_detail_id: v as i32 + 1,
                    store_id: store,
                    count1: count,
                    count2: 0.0,
                    create_date: Some(created),
                    row_version,
                    ..Default::default()
                }
            })?;
        }
    }

    let mut visitor_products = Table::new(Entity::VisitorProduct);
    for (v, count) in on_hand.into_iter().enumerate() {
        add(&mut visitor_products, None, |id, row_version| {
            model::VisitorProduct {
                visitor_product_id: id,
                product_detail_id: v as i32 + 1,
                product_detail_code: code(v as i32 + 1),
                visitor_id: visitor,
                count1: count,
                price: plan.default_price(v) as f64,
                row_version,
                ..Default::default()
            }
        })?;
    }

    let mut settings = Table::new(Entity::Setting);
    if sizes.settings {
        for (setting_code, value) in [(14000, "1"), (14001, "9")] {
            add(&mut settings, None, |id, row_version| model::Setting {
                setting_id: id,
                setting_code,
                visitor_id: visitor,
                value: Some(value.into()),
                row_version,
                ..Default::default()
            })?;
        }
    }
    Ok(vec![stores, assets, visitor_products, settings])
}

/// One generated order line: variant index, unit price, count, discount, tax, toll, store.
struct Line {
    variant: usize,
    price: i64,
    count: i64,
    discount: i64,
    tax: f64,
    charge: f64,
    store: i32,
}

impl Line {
    fn total(&self) -> i64 {
        let net = self.price * self.count - self.discount;
        net + (net as f64 * (self.tax + self.charge) / 100.0).round() as i64
    }
}

/// A ledger event: when, whose, debt, credit, type and description.
struct Event {
    seconds_before: i64,
    person: usize,
    debt: i64,
    credit: i64,
    kind: i32,
    description: String,
}

fn sales_and_people(
    seed: u64,
    sizes: &DataSizes,
    plan: &Plan,
    visitor_id: i64,
) -> anyhow::Result<Vec<Table>> {
    let visitor = i32::try_from(visitor_id)?;
    let people = sizes.people;
    let mut orders = Table::new(Entity::Order);
    let mut order_lines = Table::new(Entity::OrderDetail);
    let mut events = Vec::new();
    let mut rng = rng_for_entity(seed, Entity::Order);
    let mut line_rng = rng_for_entity(seed, Entity::OrderDetail);
    let max_lines = sizes.max_lines_per_order.max(1);
    let store_count = sizes.stores.max(1) as i32;

    // (id, person index, seconds before the reference time, total, lines)
    let mut invoices: Vec<(i32, usize, i64, i64, Vec<Line>)> = Vec::with_capacity(sizes.invoices);
    for i in 0..sizes.invoices {
        let person = if people == 0 {
            usize::MAX
        } else {
            rng.random_range(0..people)
        };
        // Older invoices have smaller ids.
        let slot = YEAR_SECONDS * (sizes.invoices - i) as i64 / sizes.invoices as i64;
        let seconds_before = (slot - rng.random_range(0..3600)).max(0);
        let mut lines: Vec<Line> = Vec::new();
        if plan.variants() > 0 {
            for _ in 0..line_rng.random_range(1..=max_lines) {
                let variant = line_rng.random_range(0..plan.variants());
                if lines.iter().any(|l| l.variant == variant) {
                    continue;
                }
                let price = plan.default_price(variant);
                let count = line_rng.random_range(1..=5);
                let discount = if line_rng.random_bool(0.1) {
                    price * count / 20 / 1000 * 1000
                } else {
                    0
                };
                let (tax, charge) = plan.product_tax[plan.variant_product[variant] as usize];
                lines.push(Line {
                    variant,
                    price,
                    count,
                    discount,
                    tax,
                    charge,
                    store: line_rng.random_range(1..=store_count),
                });
            }
        }
        let total: i64 = lines.iter().map(Line::total).sum();
        let (shipping, _, _, postal) = address(&mut rng);
        let shipping = serde_json::json!({
            "Address": shipping,
            "PostalCode": postal,
            "Mobile": mobile(&mut rng),
        })
        .to_string();
        let person_id = person_id(person);
        let id = add(&mut orders, Some(201), |id, row_version| model::Order {
            order_id: id,
            order_code: code(id),
            fiscal_year: 1403,
            person_id,
            person_code: if person_id == 0 { 0 } else { code(person_id) },
            visitor_id: visitor,
            order_type: 201,
            order_date: Some(tehran_time(seconds_before)),
            settlement_type: 1,
            shipping_address: Some(shipping),
            description: Some(format!("فاکتور فروش {}", persian_digits(code(id)))),
            row_version,
            ..Default::default()
        })?;
        if person != usize::MAX {
            events.push(Event {
                seconds_before,
                person,
                debt: total,
                credit: 0,
                kind: 1,
                description: format!("فاکتور فروش شماره {}", code(id)),
            });
        }
        invoices.push((id, person, seconds_before, total, lines));
    }

    let mut returns: Vec<(i32, Vec<Line>)> = Vec::new();
    if !invoices.is_empty() {
        for _ in 0..sizes.returns {
            let (reference, person, sold, _, sold_lines) =
                &invoices[rng.random_range(0..invoices.len())];
            let seconds_before = (sold - rng.random_range(1..30) * 86_400).max(0);
            let lines: Vec<Line> = sold_lines
                .iter()
                .take(rng.random_range(1..=sold_lines.len().max(1)))
                .map(|l| Line {
                    count: rng.random_range(1..=l.count),
                    discount: 0,
                    ..*l
                })
                .collect();
            let total: i64 = lines.iter().map(Line::total).sum();
            let person_id = person_id(*person);
            let reference = *reference;
            let id = add(&mut orders, Some(202), |id, row_version| model::Order {
                order_id: id,
                order_code: code(id),
                fiscal_year: 1403,
                person_id,
                person_code: if person_id == 0 { 0 } else { code(person_id) },
                visitor_id: visitor,
                order_type: 202,
                order_date: Some(tehran_time(seconds_before)),
                reference_order_id: reference,
                return_reason_id: 1,
                description: Some(format!("برگشت از فروش {}", persian_digits(code(reference)))),
                row_version,
                ..Default::default()
            })?;
            if *person != usize::MAX {
                events.push(Event {
                    seconds_before,
                    person: *person,
                    debt: 0,
                    credit: total,
                    kind: 2,
                    description: format!("برگشت از فروش شماره {}", code(id)),
                });
            }
            returns.push((id, lines));
        }
    }

    let all_lines = invoices
        .iter()
        .map(|(id, _, _, _, lines)| (*id, lines))
        .chain(returns.iter().map(|(id, lines)| (*id, lines)));
    for (order, lines) in all_lines {
        for (row, line) in lines.iter().enumerate() {
            let detail = line.variant as i32 + 1;
            add(&mut order_lines, None, |id, row_version| {
                model::OrderDetail {
                    order_detail_id: id,
                    item_type: 1,
                    order_id: order,
                    order_code: code(order),
                    product_detail_id: detail,
                    product_detail_code: code(detail),
                    price: line.price as f64,
                    count1: line.count as f64,
                    discount: line.discount as f64,
                    tax_percent: line.tax,
                    charge_percent: line.charge,
                    store_id: line.store,
                    row_id: row as i32 + 1,
                    row_version,
                    ..Default::default()
                }
            })?;
        }
    }

    let mut receipts = Table::new(Entity::Receipt);
    let mut cheques = Table::new(Entity::Cheque);
    let mut rng = rng_for_entity(seed, Entity::Receipt);
    let mut cheque_rng = rng_for_entity(seed, Entity::Cheque);
    for r in 0..sizes.receipts {
        let (order, person, seconds_before, amount) = if invoices.is_empty() {
            let person = if people == 0 {
                usize::MAX
            } else {
                rng.random_range(0..people)
            };
            let amount = rng.random_range(1..1000) * 100_000;
            (0, person, rng.random_range(0..YEAR_SECONDS), amount)
        } else {
            let (id, person, sold, total, _) = &invoices[r * invoices.len() / sizes.receipts];
            (*id, *person, (sold - 3600).max(0), *total)
        };
        let by_cheque = r < sizes.cheques;
        let person_id = person_id(person);
        let receipt = add(&mut receipts, None, |id, row_version| model::Receipt {
            receipt_id: id,
            receipt_code: code(id),
            person_id,
            visitor_id: visitor,
            cash_amount: if by_cheque { 0.0 } else { amount as f64 },
            date: Some(tehran_time(seconds_before)),
            order_id: order,
            order_code: if order == 0 { 0 } else { code(order) },
            order_type: if order == 0 { 0 } else { 201 },
            tracking_code: Some(digits(&mut rng, 12)),
            description: Some("دریافت وجه".into()),
            row_version,
            ..Default::default()
        })?;
        if by_cheque {
            // Mostly bank transfers (type 2), as web payments arrive; some paper cheques.
            let kind = if cheque_rng.random_bool(0.7) { 2 } else { 1 };
            let bank = pick(&mut cheque_rng, BANKS);
            let number = digits(&mut cheque_rng, 10);
            add(&mut cheques, None, |id, row_version| model::Cheque {
                cheque_id: id,
                cheque_code: code(id),
                receipt_id: receipt,
                receipt_code: code(receipt),
                number: Some(number),
                bank_name: Some(bank.to_owned()),
                branch: Some("مرکزی".into()),
                amount: amount as f64,
                date: Some(tehran_time(seconds_before)),
                kind,
                row_version,
                ..Default::default()
            })?;
        }
        if person != usize::MAX {
            events.push(Event {
                seconds_before,
                person,
                debt: 0,
                credit: amount,
                kind: 3,
                description: format!("دریافت شماره {}", code(receipt)),
            });
        }
    }

    // The ledger, oldest first; each person's balance runs over their own rows.
    events.sort_by_key(|e| std::cmp::Reverse(e.seconds_before));
    events.truncate(sizes.transactions);
    let mut balances = vec![0i64; people];
    let mut transactions = Table::new(Entity::Transaction);
    for (row, event) in events.iter().enumerate() {
        let balance = &mut balances[event.person];
        *balance += event.debt - event.credit;
        let balance = *balance;
        add(&mut transactions, None, |id, row_version| {
            model::Transaction {
                transaction_id: id,
                transaction_code: code(id),
                person_id: person_id(event.person),
                kind: event.kind,
                debt_amount: event.debt as f64,
                credit_amount: event.credit as f64,
                balance: balance as f64,
                status: 1,
                description: Some(event.description.clone()),
                row: row as i32 + 1,
                date: Some(tehran_time(event.seconds_before)),
                row_version,
                ..Default::default()
            }
        })?;
    }

    let mut tables = vec![orders, order_lines, receipts, cheques, transactions];
    tables.extend(people_tables(seed, sizes, &balances, visitor)?);
    Ok(tables)
}

fn person_id(index: usize) -> i32 {
    if index == usize::MAX {
        0
    } else {
        index as i32 + 1
    }
}

fn people_tables(
    seed: u64,
    sizes: &DataSizes,
    balances: &[i64],
    visitor: i32,
) -> anyhow::Result<Vec<Table>> {
    const GROUPS: &[(&str, i32, f64)] = &[
        ("مشتریان عادی", 1, 0.0),
        ("همکاران", 2, 3.0),
        ("عمده‌فروشان", 3, 5.0),
        ("مشتریان ویژه", 1, 2.0),
    ];
    let mut groups = Table::new(Entity::PersonGroup);
    let mut group_levels = Vec::new();
    for g in 0..sizes.person_groups {
        let (name, level, discount) = GROUPS[g % GROUPS.len()];
        let name = match g / GROUPS.len() {
            0 => name.to_owned(),
            round => format!("{name} {}", persian_digits(round + 1)),
        };
        group_levels.push(level);
        add(&mut groups, None, |id, row_version| model::PersonGroup {
            person_group_id: id,
            person_group_code: code(id),
            name: Some(name),
            sell_price_level: level,
            discount_percent: discount,
            row_version,
            ..Default::default()
        })?;
    }

    let mut people = Table::new(Entity::Person);
    let mut contacts = Vec::with_capacity(sizes.people);
    let mut rng = rng_for_entity(seed, Entity::Person);
    for p in 0..sizes.people {
        let first = pick(&mut rng, FIRST_NAMES).to_owned();
        let first = maybe_arabic(&mut rng, first);
        let last = pick(&mut rng, LAST_NAMES).to_owned();
        let last = maybe_arabic(&mut rng, last);
        let organization = rng
            .random_bool(0.1)
            .then(|| format!("شرکت {}", pick(&mut rng, BRANDS)));
        let group = if group_levels.is_empty() {
            0
        } else {
            rng.random_range(0..group_levels.len()) + 1
        };
        let mobile = mobile(&mut rng);
        let national = national_code(&mut rng);
        let (address, city, state, postal) = address(&mut rng);
        let credit = if rng.random_bool(0.3) {
            rng.random_range(5..50) * 10_000_000
        } else {
            0
        };
        let email_wanted = rng.random_bool(0.6);
        let gender = rng.random_range(1..=2);
        contacts.push((mobile.clone(), address.clone(), postal.clone()));
        add(&mut people, None, |id, row_version| model::Person {
            person_id: id,
            person_code: code(id),
            person_group_id: group as i32,
            person_group_code: if group == 0 { 0 } else { code(group as i32) },
            person_type: if organization.is_some() { 2 } else { 1 },
            first_name: Some(first),
            last_name: Some(last),
            organization,
            gender,
            national_code: Some(national),
            credit: credit as f64,
            balance: balances.get(p).copied().unwrap_or(0) as f64,
            email: email_wanted.then(|| format!("customer{}@example.com", code(id))),
            sell_price_level: group_levels
                .get(group.wrapping_sub(1))
                .copied()
                .unwrap_or(1),
            state: Some(state.to_owned()),
            city: Some(city.to_owned()),
            address: Some(address),
            postal_code: Some(postal),
            mobile: Some(mobile),
            row_version,
            ..Default::default()
        })?;
    }

    let mut addresses = Table::new(Entity::PersonAddress);
    let mut rng = rng_for_entity(seed, Entity::PersonAddress);
    if sizes.people > 0 {
        for a in 0..sizes.person_addresses {
            let p = a % sizes.people;
            let first = a < sizes.people;
            let (mobile, text, postal) = if first {
                contacts[p].clone()
            } else {
                let (text, _, _, postal) = address(&mut rng);
                (mobile(&mut rng), text, postal)
            };
            let person = p as i32 + 1;
            add(&mut addresses, None, |id, row_version| {
                model::PersonAddress {
                    person_address_id: id,
                    person_address_code: code(id),
                    person_id: person,
                    person_code: code(person),
                    title: Some(if first { "خانه" } else { "محل کار" }.into()),
                    address: Some(text),
                    postal_code: Some(postal),
                    mobile: Some(mobile),
                    is_default: first,
                    row_version,
                    ..Default::default()
                }
            })?;
        }
    }

    let mut visitor_people = Table::new(Entity::VisitorPerson);
    for p in 0..sizes.visitor_people.min(sizes.people) {
        let person = p as i32 + 1;
        add(&mut visitor_people, None, |id, row_version| {
            model::VisitorPerson {
                visitor_person_id: id,
                person_id: person,
                person_code: code(person),
                visitor_id: visitor,
                row_version,
                ..Default::default()
            }
        })?;
    }
    Ok(vec![groups, people, addresses, visitor_people])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_digits() {
        let mut rng = rng_for(7, "t");
        for _ in 0..100 {
            let code = national_code(&mut rng);
            let d: Vec<u32> = code.chars().filter_map(|c| c.to_digit(10)).collect();
            assert_eq!(d.len(), 10);
            let sum: u32 = (0..9).map(|i| d[i] * (10 - i as u32)).sum();
            let rem = sum % 11;
            assert_eq!(d[9], if rem < 2 { rem } else { 11 - rem });
            let ean = barcode(&mut rng);
            assert_eq!(ean.len(), 13);
            assert!(ean.starts_with("626"));
        }
        assert_eq!(tehran_time(0), REFERENCE_TIME);
        assert_eq!(persian_digits(120), "۱۲۰");
    }

    #[test]
    fn prices_are_whole_thousands_and_fall_with_level() {
        let plan = Plan::new(3, &DataSizes::for_products(200));
        for v in 0..plan.variants() {
            let mut last = i64::MAX;
            for level in 1..=10 {
                let price = plan.price(v, level);
                assert!(price > 0 && price % 1000 == 0 && price <= last);
                last = price;
            }
        }
    }
}
