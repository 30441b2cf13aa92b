//! Shared heart of Continuo: what the trainer and the plugin must agree on.
//!
//! * [`vocab`] — the event vocabulary (token ids and what they mean),
//! * [`midi`] — reading and writing Standard MIDI Files as beat-timed notes,
//! * [`tokens`] — notes ↔ tokens, including an incremental decoder for live generation,
//! * [`grid`] — where an event sits in the beat and the bar (what a model hears of the meter),
//! * [`contract`] — the ONNX model contract (tensor names, shapes) and its JSON metadata,
//! * [`sampling`] — allocation-free sampling with temperature and min-p,
//! * [`constraints`] — what a generated token may be (range, scale, polyphony, note length),
//! * [`follow`] — the pull toward the phrase's pitch classes, pace and repeats,
//! * [`memory`] — the player's phrases, learned as they are played, mixed into predictions,
//! * [`music`] — scales and keys,
//! * [`roll`] (feature `roll`) — piano rolls as PNG images, for the demo and the check,
//! * [`answer`] (feature `ort`) — one answer to a phrase: the loop the plugin, the demo and
//!   the trainer's `generate` and `check` share,
//! * [`runtime`] (feature `ort`) — running a model that follows the contract with ONNX Runtime,
//! * [`generator`] (feature `ort`) — continuing a token stream with a model, token by token.

#[cfg(feature = "ort")]
pub mod answer;
pub mod constraints;
pub mod contract;
pub mod follow;
pub mod grid;
pub mod memory;
pub mod midi;
pub mod music;
#[cfg(feature = "roll")]
pub mod roll;
pub mod sampling;
pub mod tokens;
pub mod vocab;

#[cfg(feature = "ort")]
pub mod generator;
#[cfg(feature = "ort")]
pub mod runtime;

pub use contract::{ModelMeta, CONTRACT_VERSION};
pub use midi::{Note, Score};
pub use vocab::{Token, Vocab};
