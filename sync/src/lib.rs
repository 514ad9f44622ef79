//! The Mahak side of the store: configuration shared by both binaries, the text conventions
//! of Mahak's data, and (in later modules) the adapter, the simulator and the sync worker.

pub mod persian;
pub mod settings;
