//! Standard MIDI Files as beat-timed notes.
//!
//! Reading merges every track and channel, converts ticks to beats through the header's PPQ
//! (or, for SMPTE-timed files, through the tempo map), and applies the sustain pedal to note
//! lengths, because a pianist's "held" note is what the listener hears, not the key release.

mod keyboard;
mod smf;

use thiserror::Error;

use crate::grid::Meter;
pub use keyboard::Keyboard;
pub use smf::{read_midi, write_clip, write_midi, Clip};

/// A sounding note, timed in beats (quarter notes) from the start of the piece.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Note {
    pub pitch: u8,
    pub velocity: u8,
    pub start: f64,
    pub end: f64,
}

impl Note {
    /// The same note `by` beats later (earlier if negative).
    pub fn moved(self, by: f64) -> Self {
        Self {
            start: self.start + by,
            end: self.end + by,
            ..self
        }
    }
}

/// The notes of a piece plus the little we need to write it back.
#[derive(Debug, Clone, PartialEq)]
pub struct Score {
    /// Sorted by start, then pitch.
    pub notes: Vec<Note>,
    /// Tempo at the start of the piece; used when writing, not for timing notes.
    pub bpm: f64,
    /// Its time signatures (4/4 from beat 0 where the file states none).
    pub meter: Meter,
}

impl Score {
    /// Notes at `bpm` in 4/4.
    pub fn new(notes: Vec<Note>, bpm: f64) -> Self {
        Self {
            notes,
            bpm,
            meter: Meter::default(),
        }
    }

    /// When the earliest note starts, if there is one.
    pub fn first_start(&self) -> Option<f64> {
        self.notes.iter().map(|n| n.start).min_by(f64::total_cmp)
    }
}

#[derive(Debug, Error)]
pub enum MidiError {
    #[error("not a valid MIDI file: {0}")]
    Parse(#[from] midly::Error),
    #[error("the file contains no notes")]
    NoNotes,
    #[error("unusable timing in header: {0}")]
    Timing(String),
    #[error("could not write MIDI: {0}")]
    Write(String),
}

/// The sustain pedal's controller number.
pub const SUSTAIN_CC: u8 = 64;
/// PPQ used when writing; divisible by 24 (our grid) and by 5 and 7 for odd tuplets.
pub const WRITE_PPQ: u16 = 840;

/// Pedal positions at or above this value hold the dampers up (the MIDI convention).
pub const SUSTAIN_DOWN: u8 = 64;

/// Sorts notes into the canonical order: by start, then pitch.
pub fn sort_notes(notes: &mut [Note]) {
    notes.sort_by(|a, b| a.start.total_cmp(&b.start).then(a.pitch.cmp(&b.pitch)));
}
