//! The store's GraphQL backend-for-frontend: configuration, database, the shop and admin
//! schemas, the HTTP surface, and the domain modules the resolvers call.

pub mod account_credit;
pub mod app;
pub mod auth;
pub mod catalogue;
pub mod commerce;
pub mod config;
pub mod content;
pub mod customers;
pub use sync::db;
pub mod error;
pub mod events;
pub mod graphql;
pub mod http;
pub mod mahak_push;
pub mod media;
pub mod merchandising;
pub mod notifications;
pub mod outbox;
pub mod payment;
pub mod reconcile;
pub mod reports;
pub mod sms;
pub mod staff;
pub mod storage;
pub mod sync_console;
pub mod telemetry;
