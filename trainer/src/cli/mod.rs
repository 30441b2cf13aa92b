//! The `trainer` commands' flags and what the commands do with them, in the library so that
//! they can be tested; `main.rs` parses the command line and dispatches.

pub mod check;
pub mod generate;
pub mod train;

pub use continuo_core::sampling::{within, SamplingArgs};
