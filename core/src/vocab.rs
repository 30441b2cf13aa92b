//! The event vocabulary.
//!
//! A piece is a stream of events in the style of Performance RNN, but with time measured in
//! beats rather than seconds, so that a model's output follows the host's tempo:
//!
//! * `NOTE_ON(p)` / `NOTE_OFF(p)` for each of the 128 MIDI pitches (fully polyphonic),
//! * `VELOCITY(b)` sets the (binned) velocity of the following note-ons,
//! * `TIME_SHIFT(n)` advances time by `n` grid steps of `1 / steps_per_beat` beat,
//! * `BOS` starts a piece, so the model learns how pieces begin.
//!
//! 24 steps per beat represent 32nd notes (3 steps) as well as 8th, 16th and 32nd triplets
//! (8, 4 and 2 steps) exactly.

use serde::{Deserialize, Serialize};
use thiserror::Error;

/// Bumped whenever the meaning of a token id changes; stored in every model's metadata.
pub const VOCAB_VERSION: u32 = 1;

pub const NUM_PITCHES: usize = 128;

/// One event of the vocabulary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Token {
    Bos,
    NoteOn(u8),
    NoteOff(u8),
    /// Advance time by this many grid steps, `1..=max_shift_steps`.
    TimeShift(u16),
    /// Velocity bin, `0..velocity_bins`.
    Velocity(u8),
}

/// The parameters that fix the vocabulary's layout. Stored in model metadata so the plugin
/// decodes exactly what the model was trained on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Vocab {
    pub version: u32,
    pub steps_per_beat: u32,
    pub max_shift_steps: u32,
    pub velocity_bins: u32,
}

impl Default for Vocab {
    fn default() -> Self {
        Self {
            version: VOCAB_VERSION,
            steps_per_beat: 24,
            max_shift_steps: 48,
            velocity_bins: 16,
        }
    }
}

impl Vocab {
    const BOS: usize = 0;
    const NOTE_ON: usize = 1;
    const NOTE_OFF: usize = Self::NOTE_ON + NUM_PITCHES;
    const TIME_SHIFT: usize = Self::NOTE_OFF + NUM_PITCHES;

    fn velocity_offset(&self) -> usize {
        Self::TIME_SHIFT + self.max_shift_steps as usize
    }

    /// Number of token ids (the model's input and output width).
    pub fn size(&self) -> usize {
        self.velocity_offset() + self.velocity_bins as usize
    }

    pub fn encode(&self, token: Token) -> usize {
        match token {
            Token::Bos => Self::BOS,
            Token::NoteOn(p) => Self::NOTE_ON + (p as usize & 127),
            Token::NoteOff(p) => Self::NOTE_OFF + (p as usize & 127),
            Token::TimeShift(n) => {
                debug_assert!(n >= 1 && u32::from(n) <= self.max_shift_steps);
                Self::TIME_SHIFT + n as usize - 1
            }
            Token::Velocity(b) => {
                debug_assert!(u32::from(b) < self.velocity_bins);
                self.velocity_offset() + b as usize
            }
        }
    }

    /// The token with this id, or `None` for an id outside the vocabulary.
    pub fn decode(&self, id: usize) -> Option<Token> {
        Some(match id {
            Self::BOS => Token::Bos,
            i if i < Self::NOTE_OFF => Token::NoteOn((i - Self::NOTE_ON) as u8),
            i if i < Self::TIME_SHIFT => Token::NoteOff((i - Self::NOTE_OFF) as u8),
            i if i < self.velocity_offset() => Token::TimeShift((i - Self::TIME_SHIFT + 1) as u16),
            i if i < self.size() => Token::Velocity((i - self.velocity_offset()) as u8),
            _ => return None,
        })
    }

    /// Id range of `NOTE_ON` tokens; index `range.start + pitch`.
    pub fn note_on_range(&self) -> std::ops::Range<usize> {
        Self::NOTE_ON..Self::NOTE_OFF
    }

    pub fn note_off_range(&self) -> std::ops::Range<usize> {
        Self::NOTE_OFF..Self::TIME_SHIFT
    }

    pub fn time_shift_range(&self) -> std::ops::Range<usize> {
        Self::TIME_SHIFT..self.velocity_offset()
    }

    pub fn velocity_range(&self) -> std::ops::Range<usize> {
        self.velocity_offset()..self.size()
    }

    /// Duration of one grid step in beats.
    pub fn step_beats(&self) -> f64 {
        1.0 / f64::from(self.steps_per_beat)
    }

    /// Bin for a MIDI velocity `1..=127` (0 is a note-off and never binned).
    pub fn velocity_bin(&self, velocity: u8) -> u8 {
        let v = u32::from(velocity.clamp(1, 127)) - 1;
        (v * self.velocity_bins / 127) as u8
    }

    /// Representative MIDI velocity of a bin: the middle of the velocities it holds.
    pub fn bin_velocity(&self, bin: u8) -> u8 {
        let bins = self.velocity_bins;
        let b = u32::from(bin).min(bins - 1);
        let lo = (b * 127).div_ceil(bins) + 1;
        let hi = ((b + 1) * 127).div_ceil(bins);
        ((lo + hi) / 2).clamp(1, 127) as u8
    }

    /// Checks the parameters describe a usable vocabulary (metadata can come from anywhere).
    pub fn validate(&self) -> Result<(), VocabError> {
        if self.version != VOCAB_VERSION {
            return Err(VocabError::Version(self.version));
        }
        let ranges = [
            ("steps_per_beat", self.steps_per_beat, 960),
            ("max_shift_steps", self.max_shift_steps, 4096),
            ("velocity_bins", self.velocity_bins, 127),
        ];
        for (name, value, max) in ranges {
            if !(1..=max).contains(&value) {
                return Err(VocabError::OutOfRange { name, value, max });
            }
        }
        Ok(())
    }
}

/// Why a vocabulary cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum VocabError {
    #[error("vocabulary version {0} is not supported (this build reads version {VOCAB_VERSION})")]
    Version(u32),
    #[error("{name} {value} out of 1..={max}")]
    OutOfRange {
        name: &'static str,
        value: u32,
        max: u32,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_id_round_trips() {
        let v = Vocab::default();
        assert_eq!(v.size(), 1 + 128 + 128 + 48 + 16);
        for id in 0..v.size() {
            let t = v.decode(id).unwrap();
            assert_eq!(v.encode(t), id, "{t:?}");
        }
        assert_eq!(v.decode(v.size()), None);
    }

    #[test]
    fn velocity_bins_cover_midi_range_monotonically() {
        let v = Vocab::default();
        assert_eq!(v.velocity_bin(1), 0);
        assert_eq!(v.velocity_bin(127), 15);
        let mut last = 0;
        for vel in 1..=127u8 {
            let b = v.velocity_bin(vel);
            assert!(b >= last);
            last = b;
            // The representative velocity of a bin falls back into the same bin.
            assert_eq!(v.velocity_bin(v.bin_velocity(b)), b, "velocity {vel}");
        }
    }

    #[test]
    fn grid_represents_triplets_and_32nds() {
        let v = Vocab::default();
        for beats in [1.0 / 8.0, 1.0 / 3.0, 1.0 / 6.0, 1.0 / 12.0] {
            let steps = beats * f64::from(v.steps_per_beat);
            assert!((steps - steps.round()).abs() < 1e-9, "{beats}");
        }
    }
}
