//! Shared heart of Continuo: what the trainer and the plugin must agree on.
//!
//! * [`vocab`] — the event vocabulary (token ids and what they mean),
//! * [`midi`] — reading and writing Standard MIDI Files as beat-timed notes,
//! * [`tokens`] — notes ↔ tokens, including an incremental decoder for live generation,
//! * [`contract`] — the ONNX model contract (tensor names, shapes) and its JSON metadata,
//! * [`sampling`] — allocation-free sampling with temperature and musical masks,
//! * [`runtime`] (feature `ort`) — running a model that follows the contract with ONNX Runtime.

pub mod contract;
pub mod midi;
pub mod sampling;
pub mod tokens;
pub mod vocab;

#[cfg(feature = "ort")]
pub mod runtime;

pub use contract::{ModelMeta, CONTRACT_VERSION};
pub use midi::{Note, Score};
pub use vocab::{Token, Vocab};
