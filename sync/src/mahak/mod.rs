//! The Mahak API adapter: the only code that knows Mahak's wire format.

pub mod entity;

pub use entity::Entity;
