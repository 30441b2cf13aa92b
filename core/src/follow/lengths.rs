//! The phrase's articulation: how long it holds its notes.

/// How long the phrase holds its notes, and when each of the answer's began: biases (times
/// [`Sampling::follow`](crate::sampling::Sampling)) against ending a note much sooner than
/// the phrase ends its own, and toward ending notes as soon as the phrase does.
///
/// The steering shapes *when* the next onset comes, and the model tends to end a note just
/// before the next onset it expects; without the first, a pull toward shorter waits left
/// legato phrases answered with staccato blips a grid step long. Without the second,
/// detached chords were answered legato: half the training music is rendered from scores,
/// every note held its full value, and the model held on even after a staccato phrase.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Lengths {
    /// The phrase's median note length, in grid steps; 0: no phrase, no pull.
    typical: f32,
    /// The phrase's longest note, in grid steps; 0: no phrase.
    longest: f32,
    /// Of the phrase's notes held into each length bin ([`bin`]), the share that end there
    /// (1 past its longest); all 0 without a phrase.
    hazard: [f32; BINS],
    /// The answer's notes ended in each length bin.
    ended: [u32; BINS],
    /// Grid step (answer time) each pitch was last struck at by the answer; `u64::MAX`: not
    /// sounding from the answer.
    struck: [u64; 128],
}

/// Half-octave bins of note lengths, as the continuation check's: a 16th (6 grid steps at 24
/// a beat), an 8th and a quarter each get their own.
const BINS: usize = 16;

/// The length bin of a note held `steps` grid steps: round(2 · log2 steps).
fn bin(steps: u64) -> usize {
    ((2.0 * (steps.max(1) as f32).log2()).round() as usize).min(BINS - 1)
}

impl Default for Lengths {
    fn default() -> Self {
        Self {
            typical: 0.0,
            longest: 0.0,
            hazard: [0.0; BINS],
            ended: [0; BINS],
            struck: [u64::MAX; 128],
        }
    }
}

impl Lengths {
    /// Nats against ending a note on the step it began, fading to none at the phrase's
    /// typical length. Soft, so a model that hears a staccato figure can still play one. On
    /// the tuning pieces, the answers' note lengths came to 0.61 of the truth's mix (1 − L1/2
    /// of the histograms) from 0.55 without it, against 0.63 with no steering at all; 4 nats
    /// or half the reach left them at 0.55–0.58.
    pub(super) const PULL: f32 = 8.0;
    /// The share of the typical length the pull reaches: a note held as long as the phrase's
    /// median is free to end. Phrases mix lengths (a melody's 8ths over a held bass), so the
    /// median is a guide, and the pull fades as a note nears it.
    pub(super) const REACH: f32 = 1.0;
    /// Nats per note the answer owes ending at a length ([`Self::owed`]), up to
    /// [`Self::OWED_CAP`] notes, on the note-off and on the wait that reaches it: a note can
    /// only end where the model has waited to. On Chopin's validation pieces the answers'
    /// note lengths came to 0.66 of the truth's mix from 0.61, and the windows with a fifth
    /// of their notes short (a 16th or less) to 16% from 4% (the truth's 22%); holding notes
    /// back where the answer ended more than it owed lengthened every note instead.
    pub(super) const OWED_PULL: f32 = 2.0;
    pub(super) const OWED_CAP: f32 = 3.0;
    /// Nats toward ending a note held far past the phrase's longest, from
    /// [`Self::OVERDUE_FROM`] times that length, growing to the whole pull at
    /// [`Self::OVERDUE_FULL`] times it. What is owed above counts only notes that have ended,
    /// so nothing ended a note the answer held on: after a shuffle in 12/8 or a waltz, 6–10%
    /// of the answers' notes were held more than twice the phrase's longest and piled up into
    /// a wash; with this, 1%. Continuations in music hold 0.5–0.9% of their notes that long
    /// (Chopin's and the piano-midi.de pieces). From 2 to 2.5 times, the notes piled up as
    /// before, ending just later.
    pub(super) const OVERDUE_PULL: f32 = 12.0;
    const OVERDUE_FROM: f32 = 1.5;
    const OVERDUE_FULL: f32 = 2.0;

    /// From the lengths (grid steps) of the context's notes.
    pub fn from_lengths(lengths: &[u64]) -> Self {
        let mut sorted = lengths.to_vec();
        sorted.sort_unstable();
        let mut counts = [0u32; BINS];
        for &l in lengths {
            counts[bin(l)] += 1;
        }
        let mut hazard = [0.0; BINS];
        if !lengths.is_empty() {
            let mut held = 0;
            for b in (0..BINS).rev() {
                held += counts[b];
                hazard[b] = if held > 0 {
                    counts[b] as f32 / held as f32
                } else {
                    1.0
                };
            }
        }
        Self {
            typical: sorted.get(sorted.len() / 2).map_or(0.0, |&l| l as f32),
            longest: sorted.last().map_or(0.0, |&l| l as f32),
            hazard,
            ..Self::default()
        }
    }

    /// The answer struck `pitch` at grid step `step`.
    pub fn strike(&mut self, pitch: u8, step: u64) {
        self.struck[usize::from(pitch & 127)] = step;
    }

    /// The answer ended `pitch` at grid step `step`.
    pub fn end(&mut self, pitch: u8, step: u64) {
        let struck = std::mem::replace(&mut self.struck[usize::from(pitch & 127)], u64::MAX);
        if struck != u64::MAX {
            self.ended[bin(step.saturating_sub(struck))] += 1;
        }
    }

    /// Notes the answer owes ending at length bin `b` (≥ 0): of its ended notes held that
    /// long, as many as the phrase's share would have ended there, less those that did.
    fn owed(&self, b: usize) -> f32 {
        let reached: u32 = self.ended[b..].iter().sum();
        (self.hazard[b] * reached as f32 - self.ended[b] as f32).clamp(0.0, Self::OWED_CAP)
    }

    /// How long the answer's latest notes still sounding have been held at grid step `step`;
    /// `None` when none sounds.
    pub fn held(&self, step: u64) -> Option<u64> {
        let latest = self
            .struck
            .iter()
            .copied()
            .filter(|&s| s != u64::MAX)
            .max()?;
        Some(step.saturating_sub(latest))
    }

    /// Bias on a wait of `steps` grid steps while the latest notes have been `held` (from
    /// [`Self::held`]): toward the length the answer owes ending notes at.
    pub fn wait_bias(&self, held: Option<u64>, steps: u64) -> f32 {
        held.map_or(0.0, |held| Self::OWED_PULL * self.owed(bin(held + steps)))
    }

    /// Bias on ending `pitch` at grid step `step`.
    pub fn bias(&self, pitch: u8, step: u64) -> f32 {
        let since = self.struck[usize::from(pitch & 127)];
        let reach = self.typical * Self::REACH;
        if since == u64::MAX || reach <= 0.0 {
            return 0.0;
        }
        let held = step.saturating_sub(since);
        Self::OWED_PULL * self.owed(bin(held)) + self.overdue(held)
            - Self::PULL * (1.0 - held as f32 / reach).max(0.0)
    }

    /// Nats toward ending a note held `held` grid steps, far past the phrase's longest.
    fn overdue(&self, held: u64) -> f32 {
        if self.longest <= 0.0 {
            return 0.0;
        }
        let past = (held as f32 / self.longest - Self::OVERDUE_FROM)
            / (Self::OVERDUE_FULL - Self::OVERDUE_FROM);
        Self::OVERDUE_PULL * past.clamp(0.0, 1.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_note_is_held_back_from_ending_until_the_phrases_typical_length() {
        // Quarter notes at 24 steps a beat, and one short grace note.
        let mut l = Lengths::from_lengths(&[24, 22, 3, 24, 23]);
        l.strike(60, 10);
        assert_eq!(l.bias(60, 10), -Lengths::PULL);
        assert!(l.bias(60, 16) < 0.0 && l.bias(60, 16) > -Lengths::PULL);
        assert_eq!(l.bias(60, 10 + 23), 0.0);
        assert_eq!(l.bias(60, 40), 0.0);
        assert_eq!(l.bias(62, 10), 0.0, "a pitch the answer did not strike");
    }

    #[test]
    fn after_a_detached_phrase_the_answer_owes_its_short_notes() {
        // 8th-note chords held a 16th (6 steps at 24 a beat), and a bass held a beat.
        let mut l = Lengths::from_lengths(&[6, 6, 6, 6, 6, 6, 24]);
        l.strike(60, 0);
        assert_eq!(
            l.wait_bias(l.held(0), 6),
            0.0,
            "nothing owed before a note ends"
        );
        assert_eq!(l.bias(60, 6), 0.0);
        // The answer holds three notes to the next 8th.
        for k in 0..3 {
            l.strike(60, 12 * k);
            l.end(60, 12 * k + 12);
        }
        l.strike(64, 36);
        // Of three notes held a 16th, the phrase would have ended 6/7 there: 2.6 owed.
        let owed = 3.0 * 6.0 / 7.0;
        let expected = Lengths::OWED_PULL * owed;
        assert!(
            (l.bias(64, 42) - expected).abs() < 1e-5,
            "{}",
            l.bias(64, 42)
        );
        assert!((l.wait_bias(l.held(38), 4) - expected).abs() < 1e-5);
        // An 8th is held as often as the phrase holds one: nothing owed there.
        assert_eq!(l.wait_bias(l.held(36), 12), 0.0);
        assert_eq!(l.bias(64, 48), 0.0);
        // Ending the note now settles a little of the debt.
        l.end(64, 42);
        assert_eq!(l.held(42), None, "nothing sounds");
        assert_eq!(l.wait_bias(None, 6), 0.0);
        l.strike(65, 48);
        let settled = 4.0 * 6.0 / 7.0 - 1.0;
        assert!((l.bias(65, 54) - Lengths::OWED_PULL * settled).abs() < 1e-5);
    }

    #[test]
    fn an_answer_held_as_the_phrase_owes_nothing() {
        let mut l = Lengths::from_lengths(&[12, 12, 12, 12]);
        for k in 0..4 {
            l.strike(60, 12 * k);
            l.end(60, 12 * k + 12);
        }
        l.strike(62, 48);
        for held in 0..48 {
            assert!(l.wait_bias(l.held(48), held) == 0.0, "a wait of {held}");
        }
        // Until it is held half as long again as the phrase's longest, when it is overdue.
        for held in 0..=18 {
            assert!(l.bias(62, 48 + held) <= 0.0, "held {held}");
        }
        // A note held four times the phrase's longest leaves an end owed at every length from
        // the phrase's up.
        l.end(62, 96);
        l.strike(64, 96);
        assert_eq!(l.wait_bias(l.held(96), 24), Lengths::OWED_PULL);
        assert_eq!(
            l.wait_bias(l.held(96), 12),
            Lengths::OWED_PULL,
            "the phrase's own length"
        );
        assert_eq!(
            l.wait_bias(l.held(96), 6),
            0.0,
            "shorter than any of the phrase's"
        );
    }

    #[test]
    fn a_note_held_far_past_the_phrases_longest_is_pulled_to_end() {
        // Quarter notes and one half note, at 24 steps a beat.
        let mut l = Lengths::from_lengths(&[24, 24, 24, 48]);
        l.strike(60, 0);
        assert_eq!(l.bias(60, 72), 0.0, "1.5 times the longest");
        let ramp = l.bias(60, 84);
        assert!(ramp > 0.0 && ramp < Lengths::OVERDUE_PULL, "{ramp}");
        assert_eq!(l.bias(60, 96), Lengths::OVERDUE_PULL, "twice the longest");
        assert_eq!(l.bias(60, 500), Lengths::OVERDUE_PULL, "no more after");
    }

    #[test]
    fn without_a_phrase_nothing_is_held() {
        let mut l = Lengths::from_lengths(&[]);
        l.strike(60, 0);
        assert_eq!(l.bias(60, 0), 0.0);
    }
}
