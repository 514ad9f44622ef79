//! SeaORM entities: the one description of the store's tables.
//!
//! One module per table, named after the table, matching the schema the `migration` crate
//! creates on PostgreSQL 15 and on SQLite. Every other crate reads and writes the database
//! through these types; `prelude` re-exports each `Entity` under the table's CamelCase name.
//!
//! Conventions:
//!
//! - Tables mirroring a Mahak entity (`warehouses`, `categories`, `products`, `variants`,
//!   `variant_stock` and the `mahak_*` tables) share the columns `id`, `mahak_id` (unique),
//!   `mahak_client_id`, `mahak_code`, `row_version`, `deleted_at`, `payload` and `synced_at`.
//!   Only sync writes them. They point at each other by Mahak id (`*_mahak_id` columns), never
//!   by foreign key, so no relation is declared between them.
//! - The shop-owned tables (`category_listings`, `product_listings`, `product_images` and the
//!   customer, staff and commerce tables) point at their parents by real foreign keys; exactly
//!   those foreign keys are declared here as relations. Other id columns (for example
//!   `order_lines.variant_id` or `notifications.customer_id`) are plain values.
//! - Money is an `i64` number of Rial, never a float. Timestamps are UTC. JSON documents are
//!   `jsonb` on PostgreSQL and JSON text on SQLite.
//!
//! Tables by area:
//!
//! - Catalogue (migration `m20261125_000001_catalogue`): [`warehouses`], [`categories`],
//!   [`products`], [`variants`], [`variant_stock`], [`category_listings`], [`product_listings`],
//!   [`product_images`].
//!
//! - Customers and staff (`m20261125_000002_customers_and_staff`): [`customers`],
//!   [`customer_addresses`], [`otp_challenges`], [`refresh_tokens`], [`roles`], [`staff_users`],
//!   [`audit_entries`].
//!
//! - Commerce (`m20261125_000003_commerce`): [`promotions`], [`carts`], [`cart_lines`], [`orders`],
//!   [`order_lines`], [`order_events`], [`payments`], [`payment_events`], [`content_pages`],
//!   [`notifications`].
//!
//! - Mahak mirror (`m20261125_000004_mahak_mirror`): [`mahak_person_groups`], [`mahak_people`],
//!   [`mahak_person_addresses`], [`mahak_visitor_people`], [`mahak_visitor_products`],
//!   [`mahak_pictures`], [`mahak_photo_galleries`], [`mahak_orders`], [`mahak_order_details`],
//!   [`mahak_receipts`], [`mahak_cheques`], [`mahak_transactions`], [`mahak_settings`].
//!
//! - Sync bookkeeping (`m20261125_000005_sync_bookkeeping`): [`sync_checkpoints`], [`sync_inbox`], [`sync_runs`],
//!   [`dead_letters`], [`outbox`].
//!
//! - Sign-in rate limits (`m20261126_000001_auth_attempts`): [`auth_attempts`].
//!
//! - Sandbox payment gateway (`m20261126_000002_payment_sandbox`): [`payment_sandbox_sessions`].
//!
//! - Checkout (`m20261126_000003_checkout`): `orders.idempotency_key`, [`order_number_seq`],
//!   [`stock_reservations`].
//!
//! - Staff sessions (`m20261127_000001_staff_sessions`): [`staff_refresh_tokens`].
//!
//! - Reports and banners (`m20261127_000003_reports_and_banners`): report indexes on `orders`
//!   and `payments`, [`banners`].
//!
//! - Sync console (`m20261127_000004_sync_console`): [`sync_requests`], the progress columns of
//!   `sync_runs`, `dead_letters.discard_reason`.
//!
//! - Image uploads (`m20261127_000002_image_uploads`): [`image_uploads`],
//!   `product_images.thumbnails`.

pub mod audit_entries;
pub mod auth_attempts;
pub mod banners;
pub mod cart_lines;
pub mod carts;
pub mod categories;
pub mod category_listings;
pub mod content_pages;
pub mod customer_addresses;
pub mod customers;
pub mod dead_letters;
pub mod image_uploads;
pub mod mahak_cheques;
pub mod mahak_order_details;
pub mod mahak_orders;
pub mod mahak_people;
pub mod mahak_person_addresses;
pub mod mahak_person_groups;
pub mod mahak_photo_galleries;
pub mod mahak_pictures;
pub mod mahak_receipts;
pub mod mahak_settings;
pub mod mahak_transactions;
pub mod mahak_visitor_people;
pub mod mahak_visitor_products;
pub mod notifications;
pub mod order_events;
pub mod order_lines;
pub mod order_number_seq;
pub mod orders;
pub mod otp_challenges;
pub mod outbox;
pub mod payment_events;
pub mod payment_sandbox_sessions;
pub mod payments;
pub mod product_images;
pub mod product_listings;
pub mod products;
pub mod promotions;
pub mod refresh_tokens;
pub mod roles;
pub mod staff_refresh_tokens;
pub mod staff_users;
pub mod stock_reservations;
pub mod sync_checkpoints;
pub mod sync_inbox;
pub mod sync_requests;
pub mod sync_runs;
pub mod variant_stock;
pub mod variants;
pub mod warehouses;

/// Every table's `Entity`, under the table's name in CamelCase.
pub mod prelude {
    pub use super::audit_entries::Entity as AuditEntries;
    pub use super::auth_attempts::Entity as AuthAttempts;
    pub use super::banners::Entity as Banners;
    pub use super::cart_lines::Entity as CartLines;
    pub use super::carts::Entity as Carts;
    pub use super::categories::Entity as Categories;
    pub use super::category_listings::Entity as CategoryListings;
    pub use super::content_pages::Entity as ContentPages;
    pub use super::customer_addresses::Entity as CustomerAddresses;
    pub use super::customers::Entity as Customers;
    pub use super::dead_letters::Entity as DeadLetters;
    pub use super::image_uploads::Entity as ImageUploads;
    pub use super::mahak_cheques::Entity as MahakCheques;
    pub use super::mahak_order_details::Entity as MahakOrderDetails;
    pub use super::mahak_orders::Entity as MahakOrders;
    pub use super::mahak_people::Entity as MahakPeople;
    pub use super::mahak_person_addresses::Entity as MahakPersonAddresses;
    pub use super::mahak_person_groups::Entity as MahakPersonGroups;
    pub use super::mahak_photo_galleries::Entity as MahakPhotoGalleries;
    pub use super::mahak_pictures::Entity as MahakPictures;
    pub use super::mahak_receipts::Entity as MahakReceipts;
    pub use super::mahak_settings::Entity as MahakSettings;
    pub use super::mahak_transactions::Entity as MahakTransactions;
    pub use super::mahak_visitor_people::Entity as MahakVisitorPeople;
    pub use super::mahak_visitor_products::Entity as MahakVisitorProducts;
    pub use super::notifications::Entity as Notifications;
    pub use super::order_events::Entity as OrderEvents;
    pub use super::order_lines::Entity as OrderLines;
    pub use super::order_number_seq::Entity as OrderNumberSeq;
    pub use super::orders::Entity as Orders;
    pub use super::otp_challenges::Entity as OtpChallenges;
    pub use super::outbox::Entity as Outbox;
    pub use super::payment_events::Entity as PaymentEvents;
    pub use super::payment_sandbox_sessions::Entity as PaymentSandboxSessions;
    pub use super::payments::Entity as Payments;
    pub use super::product_images::Entity as ProductImages;
    pub use super::product_listings::Entity as ProductListings;
    pub use super::products::Entity as Products;
    pub use super::promotions::Entity as Promotions;
    pub use super::refresh_tokens::Entity as RefreshTokens;
    pub use super::roles::Entity as Roles;
    pub use super::staff_refresh_tokens::Entity as StaffRefreshTokens;
    pub use super::staff_users::Entity as StaffUsers;
    pub use super::stock_reservations::Entity as StockReservations;
    pub use super::sync_checkpoints::Entity as SyncCheckpoints;
    pub use super::sync_inbox::Entity as SyncInbox;
    pub use super::sync_requests::Entity as SyncRequests;
    pub use super::sync_runs::Entity as SyncRuns;
    pub use super::variant_stock::Entity as VariantStock;
    pub use super::variants::Entity as Variants;
    pub use super::warehouses::Entity as Warehouses;
}
