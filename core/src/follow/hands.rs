//! The phrase's left hand: how often its onsets reach down into the bass.

use super::{steer, MarkedOnsets};

/// How often the phrase's onsets strike a note in its bass (the lowest part of its range),
/// and how far the answer runs ahead of that or behind: a bias (times
/// [`Sampling::follow`](crate::sampling::Sampling)) on a bass pitch that would be the first
/// of the answer's current onset to reach the bass. It only shares out which note is struck,
/// never when. Without it, a held bass, bass octaves under triplets or a waltz's downbeat
/// dropped out of the answers while the melody went on.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Hands {
    /// Pitches below this are the bass; 0: the phrase has no bass part (too narrow).
    split: u8,
    /// The phrase's onsets that reach the bass, per grid step.
    rate: f32,
    /// The answer's onsets, marked where they reach the bass.
    reached: MarkedOnsets,
}

impl Hands {
    /// Nats per bass onset of imbalance, growing up to [`Self::MAX_ONSETS`]. At 4 the
    /// answers' register and chord spread came nearer the truth's on all three check sets
    /// (register gap 5.7 → 4.6 semitones on Chopin's pieces); at 2, half as far.
    const PULL: f32 = 4.0;
    const MAX_ONSETS: f32 = 3.0;
    /// A phrase narrower than this (semitones) is one hand.
    const MIN_RANGE: u8 = 15;
    /// The bass is the lowest share of the phrase's range.
    const BASS_SHARE: f32 = 0.35;

    /// From the context's note-ons as (grid step, pitch), oldest first, and the grid step
    /// its pace is measured to.
    pub fn from_notes(notes: &[(u64, u8)], end: u64) -> Self {
        let Some(split) = Self::bass_split(notes.iter().map(|&(_, p)| p)) else {
            return Self::default();
        };
        let mut phrase = MarkedOnsets::default();
        for &(step, pitch) in notes {
            phrase.strike(step, pitch < split);
        }
        let first = notes[0].0;
        Self {
            split,
            rate: phrase.marked as f32 / end.saturating_sub(first).max(1) as f32,
            ..Self::default()
        }
    }

    /// Pitches below this are the bass of a phrase of `pitches`; `None` for a phrase too
    /// narrow to have one (one hand) or without notes.
    pub fn bass_split(pitches: impl IntoIterator<Item = u8> + Clone) -> Option<u8> {
        let lo = pitches.clone().into_iter().min()?;
        let hi = pitches.into_iter().max()?;
        (hi - lo >= Self::MIN_RANGE)
            .then(|| lo + (f32::from(hi - lo) * Self::BASS_SHARE).ceil() as u8)
    }

    /// Whether `pitch` is in the phrase's bass.
    fn in_bass(&self, pitch: u8) -> bool {
        pitch < self.split
    }

    /// Bias on a note-on of `pitch` at `step`: positive on a bass pitch while the answer
    /// reaches the bass less often than the phrase, negative when more often; 0 on other
    /// pitches, or once the onset has reached it.
    pub fn bias(&self, pitch: u8, step: u64) -> f32 {
        if self.split == 0 || !self.in_bass(pitch) {
            return 0.0;
        }
        if self.reached.at(step) == Some(true) {
            return 0.0;
        }
        // Half a bass onset is due at the start, as with the pace.
        let ahead = self.reached.marked as f32 - (self.rate * step as f32 + 0.5);
        steer(ahead, Self::PULL, Self::MAX_ONSETS)
    }

    /// The answer struck `pitch` at `step`.
    pub fn strike(&mut self, pitch: u8, step: u64) {
        self.reached
            .strike(step, self.split != 0 && self.in_bass(pitch));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Bass octaves (C2, C3) on each half note under 8th-note melody (C5–G5), 24 steps a beat.
    fn phrase() -> Vec<(u64, u8)> {
        let mut notes = Vec::new();
        for i in 0..16u64 {
            let step = i * 12;
            if i % 4 == 0 {
                notes.extend([(step, 36), (step, 48)]);
            }
            notes.push((step, [72, 76, 79, 76][i as usize % 4]));
        }
        notes
    }

    #[test]
    fn a_bass_owed_pulls_a_low_note_and_one_struck_lets_go() {
        let mut h = Hands::from_notes(&phrase(), 16 * 12);
        assert_eq!(
            h.bias(36, 0),
            0.0,
            "at the start, striking the bass or not is even"
        );
        assert!(
            h.bias(36, 24) > 0.0,
            "half a bar without it, the bass is owed"
        );
        assert_eq!(h.bias(76, 0), 0.0, "the melody is not the bass");
        h.strike(36, 0);
        assert_eq!(h.bias(48, 0), 0.0, "the onset has its bass");
        assert!(
            h.bias(36, 12) < 0.0,
            "ahead of the phrase's bass right after it"
        );
        // Two beats of melody alone: the bass is owed again.
        for step in [12, 24, 36] {
            h.strike(76, step);
        }
        assert!(h.bias(36, 96) > 0.0);
    }

    #[test]
    fn one_hand_has_no_bass() {
        let melody: Vec<(u64, u8)> = (0..8).map(|i| (i * 12, 60 + (i % 5) as u8)).collect();
        let h = Hands::from_notes(&melody, 96);
        assert_eq!(h, Hands::default());
        assert_eq!(h.bias(40, 0), 0.0);
        assert_eq!(Hands::from_notes(&[], 0), Hands::default());
    }
}
