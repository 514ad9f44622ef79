//! The Mahak side of the store: the configuration shared by both binaries, the text
//! conventions of Mahak's data, the Mahak API adapter (`mahak`), the Mahak simulator
//! (`simulator`) and, later, the sync worker.

pub mod db;
pub mod failpoint;
pub mod live;
pub mod mahak;
pub mod mirror;
pub mod persian;
pub mod phone;
pub mod pipeline;
pub mod process;
pub mod push;
pub mod settings;
pub mod simulator;
#[cfg(feature = "testing")]
pub mod testing;
pub mod trace;
pub mod worker;
