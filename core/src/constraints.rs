//! What a generated token may be: the player's range, scale, polyphony and longest note, and
//! the answer's end.

use crate::tokens::Decoder;
use crate::vocab::{Token, Vocab};

/// The longest a generated note sounds unless the player chooses otherwise: a bar of 4/4.
pub const DEFAULT_LONGEST_NOTE_BEATS: f32 = 4.0;

/// What a generated token may be, given what is already sounding.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Constraints {
    pub pitch_lo: u8,
    pub pitch_hi: u8,
    /// Allowed pitch classes as a bit set (see [`Scale::pitch_classes`]).
    pub pitch_classes: u16,
    pub max_polyphony: u32,
    /// Bounds the notes started or ended at one instant, so generation always moves on in time.
    pub max_events_per_step: u32,
    /// Longest a generated note may sound, in beats: time may not pass it, and the generator
    /// then ends the note itself (a GRU sometimes forgets a note and drones on). `None`: no
    /// limit.
    pub max_note_beats: Option<f32>,
    /// The answer's end: time may not move on from it, and a time shift past it ends the
    /// answer there, its last notes with it. `None`: open-ended.
    pub end_step: Option<u64>,
}

impl Default for Constraints {
    fn default() -> Self {
        Self {
            pitch_lo: 0,
            pitch_hi: 127,
            pitch_classes: 0xFFF,
            max_polyphony: 10,
            max_events_per_step: 12,
            max_note_beats: None,
            end_step: None,
        }
    }
}

impl Constraints {
    /// What the plugin answers with by default (the whole keyboard, notes no longer than
    /// [`DEFAULT_LONGEST_NOTE_BEATS`]); `trainer check` measures with the same.
    pub fn answer_default() -> Self {
        Self {
            max_note_beats: Some(DEFAULT_LONGEST_NOTE_BEATS),
            ..Self::default()
        }
    }

    pub fn allows_pitch(&self, pitch: u8) -> bool {
        (self.pitch_lo..=self.pitch_hi).contains(&pitch)
            && self.pitch_classes & (1 << (pitch % 12)) != 0
    }

    /// Whether `token` may follow the state in `decoder`.
    pub fn allows(&self, token: Token, decoder: &Decoder) -> bool {
        match token {
            Token::Bos => false,
            Token::NoteOn(p) => {
                self.allows_pitch(p)
                    && !decoder.is_sounding(p)
                    && decoder.num_sounding() < self.max_polyphony
                    && decoder.events_at_step() < self.max_events_per_step
            }
            // A note ends at least one step after it starts: an empty note is never heard.
            Token::NoteOff(p) => decoder.held(p).is_some_and(|h| h > 0),
            // Time may pass the end, and the answer ends there: held back from it, a model
            // whose next event lay past an end off the beat crammed its last notes in before.
            Token::TimeShift(n) => {
                let to_end = self.end_step.map(|end| end.saturating_sub(decoder.step()));
                let n = to_end.map_or(u64::from(n), |left| u64::from(n).min(left));
                let within_note = match (self.max_note_steps(decoder), decoder.longest_held()) {
                    (Some(max), Some((_, held))) => held + n <= max,
                    _ => true,
                };
                within_note && to_end != Some(0)
            }
            // Two in a row change nothing, and a model held back from every other token
            // (notes off the phrase's grid, waits past its pace) could otherwise set the
            // velocity forever without time moving on.
            Token::Velocity(_) => !decoder.velocity_last(),
        }
    }

    /// [`Self::max_note_beats`] in the decoder's grid steps (at least one step).
    pub fn max_note_steps(&self, decoder: &Decoder) -> Option<u64> {
        let per_beat = decoder.vocab().steps_per_beat as f32;
        self.max_note_beats
            .map(|b| ((b * per_beat).round() as u64).max(1))
    }

    /// A sounding note that has reached the longest length allowed, which must end now.
    pub fn overdue(&self, decoder: &Decoder) -> Option<u8> {
        let max = self.max_note_steps(decoder)?;
        decoder
            .longest_held()
            .filter(|&(_, held)| held >= max)
            .map(|(p, _)| p)
    }

    /// [`Self::allows`] for a token id.
    pub fn allows_id(&self, vocab: &Vocab, id: usize, decoder: &Decoder) -> bool {
        vocab.decode(id).is_some_and(|t| self.allows(t, decoder))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::music::Scale;

    #[test]
    fn scales_and_constraints() {
        assert_eq!(Scale::Major.pitch_classes(0), 0b1010_1011_0101);
        // A minor == C major as sets.
        assert_eq!(
            Scale::NaturalMinor.pitch_classes(9),
            Scale::Major.pitch_classes(0)
        );
        let c = Constraints {
            pitch_lo: 48,
            pitch_hi: 72,
            pitch_classes: Scale::Major.pitch_classes(0),
            max_polyphony: 1,
            ..Default::default()
        };
        let mut d = Decoder::new(Vocab::default());
        assert!(c.allows(Token::NoteOn(60), &d));
        assert!(!c.allows(Token::NoteOn(61), &d), "C# is not in C major");
        assert!(!c.allows(Token::NoteOn(74), &d), "above range");
        assert!(!c.allows(Token::NoteOff(60), &d), "not sounding");
        d.feed(Token::NoteOn(60), |_| {});
        assert!(
            !c.allows(Token::NoteOff(60), &d),
            "not at the step it started"
        );
        assert!(!c.allows(Token::NoteOn(62), &d), "polyphony");
        d.feed(Token::TimeShift(1), |_| {});
        assert!(c.allows(Token::NoteOff(60), &d));
        assert!(!c.allows(Token::Bos, &d));
        assert!(c.allows(Token::Velocity(3), &d));
        d.feed(Token::Velocity(3), |_| {});
        assert!(!c.allows(Token::Velocity(5), &d), "two velocities in a row");
        d.feed(Token::TimeShift(1), |_| {});
        assert!(c.allows(Token::Velocity(5), &d));
    }

    #[test]
    fn notes_may_not_outlast_the_longest_length() {
        let c = Constraints {
            max_note_beats: Some(1.0),
            ..Default::default()
        };
        let mut d = Decoder::new(Vocab::default());
        assert!(c.allows(Token::TimeShift(48), &d), "nothing sounds yet");
        d.feed(Token::NoteOn(60), |_| {});
        d.feed(Token::TimeShift(12), |_| {});
        d.feed(Token::NoteOn(64), |_| {});
        assert_eq!(d.longest_held(), Some((60, 12)));
        assert!(
            c.allows(Token::TimeShift(12), &d),
            "up to one beat (24 steps)"
        );
        assert!(!c.allows(Token::TimeShift(13), &d), "past it");
        assert_eq!(c.overdue(&d), None);
        d.feed(Token::TimeShift(12), |_| {});
        assert_eq!(c.overdue(&d), Some(60), "C is due, E is not");
        d.feed(Token::NoteOff(60), |_| {});
        assert_eq!(c.overdue(&d), None);
        assert!(!Constraints::default().allows(Token::Bos, &d));
        let ending = Constraints {
            end_step: Some(d.step() + 5),
            ..Default::default()
        };
        assert!(ending.allows(Token::TimeShift(5), &d), "up to the end");
        assert!(
            ending.allows(Token::TimeShift(6), &d),
            "past it, ending there"
        );
        let ended = Constraints {
            end_step: Some(d.step()),
            ..Default::default()
        };
        assert!(!ended.allows(Token::TimeShift(1), &d), "not on from it");
        assert!(
            Constraints::default().allows(Token::TimeShift(48), &d),
            "no limit"
        );
    }
}
