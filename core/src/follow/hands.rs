//! The phrase's left hand: how often its onsets reach down into the bass, and where in the
//! bar.

use super::{steer, MarkedOnsets};
use crate::grid::Bar;

/// How often the phrase's onsets strike a note in its bass (the lowest part of its range),
/// and how far the answer runs ahead of that or behind: a bias (times
/// [`Sampling::follow`](crate::sampling::Sampling)) on a bass pitch that would be the first
/// of the answer's current onset to reach the bass. It only shares out which note is struck,
/// never when. Without it, a held bass, bass octaves under triplets or a waltz's downbeat
/// dropped out of the answers while the melody went on.
///
/// Where the phrase's two latest bars strike at the same places of the bar, each reaching
/// the bass at some of them and staying above it at others (a waltz's bass on one and chords
/// on two and three, a bass on the half bar under chords on every beat), the answer's onsets
/// at those places are pulled the same way: the accompaniment's roles go on in the bar,
/// whatever pitches the harmony moves to.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Hands {
    /// Pitches below this are the bass; 0: the phrase has no bass part (too narrow).
    split: u8,
    /// The phrase's onsets that reach the bass, per grid step.
    rate: f32,
    /// The answer's onsets, marked where they reach the bass.
    reached: MarkedOnsets,
    /// What the two latest bars both do at each place of the bar.
    places: [Place; MAX_PLACES],
    /// The bar's length in grid steps; 0: no places followed.
    bar_steps: u32,
    /// The place of the bar the answer's step 0 falls on.
    answer_place: usize,
}

/// Places in the longest bar followed: 7/4 at 24 grid steps a beat.
const MAX_PLACES: usize = 168;

/// What the phrase's two latest bars both do at one place of the bar.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
enum Place {
    /// They differ there, or neither strikes.
    #[default]
    Free,
    /// Both strike, reaching the bass.
    Bass,
    /// Both strike, above the bass.
    Above,
}

impl Default for Hands {
    fn default() -> Self {
        Self {
            split: 0,
            rate: 0.0,
            reached: MarkedOnsets::default(),
            places: [Place::Free; MAX_PLACES],
            bar_steps: 0,
            answer_place: 0,
        }
    }
}

impl Hands {
    /// Nats per bass onset of imbalance, growing up to [`Self::MAX_ONSETS`]. At 4 the
    /// answers' register and chord spread came nearer the truth's on all three check sets
    /// (register gap 5.7 → 4.6 semitones on Chopin's pieces); at 2, half as far.
    const PULL: f32 = 4.0;
    const MAX_ONSETS: f32 = 3.0;
    /// Nats, on top of the pace's pull, on a bass pitch where the two bars both reach the
    /// bass, and against one where both strike above it. At 4 the answers' bass came back
    /// to the style prompts' places in the bar (the waltz's 0.41 → 0.74 like the style's,
    /// the block chords' 0.48 → 0.76, `trainer check --styles --seeds 48`) with the held-out
    /// sets' classifier where it was; at 8 the boogie's answers lost their swing (onsets in
    /// the beat 0.81 → 0.73 like the style's, 16 seeds).
    const PLACE_PULL: f32 = 4.0;
    /// Of the places either bar strikes, the share both strike alike (both reaching the
    /// bass, or both above it) for the two to be heard as one accompaniment going on.
    const ALIKE: f32 = 0.5;
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

    /// The same, also following where in the bar the phrase's two latest bars reach the
    /// bass and where they stay above it. `notes` are those it was made from, at grid steps
    /// counted from `origin` (a grid step from beat 0); `end` is the step the answer starts
    /// on, and `bar` the meter's bars there.
    pub fn in_bar(mut self, notes: &[(u64, u8)], origin: i64, end: u64, bar: Bar) -> Self {
        let steps = bar.steps as usize;
        let Some(&(last, _)) = notes.last() else {
            return self;
        };
        if self.split == 0 || steps == 0 || steps > MAX_PLACES {
            return self;
        }
        let at = |step: u64| bar.place(origin + step as i64);
        let latest = at(last).0;
        // Per bar (latest first) and place: what its onset there does.
        let mut bars = [[Place::Free; MAX_PLACES]; 2];
        for &(step, pitch) in notes {
            let (b, place) = at(step);
            if b == latest || b == latest - 1 {
                let mark = &mut bars[(latest - b) as usize][place];
                if self.in_bass(pitch) {
                    *mark = Place::Bass;
                } else if *mark == Place::Free {
                    *mark = Place::Above;
                }
            }
        }
        let (mut both, mut either) = (0u32, 0u32);
        let mut places = [Place::Free; MAX_PLACES];
        let [latest_bar, bar_before] = &bars;
        for ((own, &a), &b) in places[..steps]
            .iter_mut()
            .zip(&latest_bar[..steps])
            .zip(&bar_before[..steps])
        {
            both += u32::from(a != Place::Free && a == b);
            either += u32::from(a != Place::Free || b != Place::Free);
            if a == b {
                *own = a;
            }
        }
        if (both as f32) < Self::ALIKE * either as f32 {
            return self;
        }
        self.places = places;
        self.bar_steps = bar.steps;
        self.answer_place = at(end).1;
        self
    }

    /// What the phrase's bars do at the place of the answer's grid step `step`.
    fn place(&self, step: u64) -> Place {
        if self.bar_steps == 0 {
            return Place::Free;
        }
        let steps = self.bar_steps as usize;
        self.places[(self.answer_place + (step % steps as u64) as usize) % steps]
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
    /// reaches the bass less often than the phrase, negative when more often, and more so
    /// at a place where the phrase's bars reach the bass, less at one where they stay above
    /// it; 0 on other pitches, or once the onset has reached it.
    pub fn bias(&self, pitch: u8, step: u64) -> f32 {
        if self.split == 0 || !self.in_bass(pitch) {
            return 0.0;
        }
        if self.reached.at(step) == Some(true) {
            return 0.0;
        }
        let here = match self.place(step) {
            Place::Bass => Self::PLACE_PULL,
            Place::Above => -Self::PLACE_PULL,
            Place::Free => 0.0,
        };
        // Half a bass onset is due at the start, as with the pace.
        let ahead = self.reached.marked as f32 - (self.rate * step as f32 + 0.5);
        here + steer(ahead, Self::PULL, Self::MAX_ONSETS)
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

    /// Two bars of a waltz in 3/4 from grid step 0: the bass (C2, then G1) on one, a chord
    /// (E4 G4 C5) on two and three.
    fn waltz() -> Vec<(u64, u8)> {
        let mut notes = Vec::new();
        for (bar, bass) in [(0u64, 36u8), (1, 31)] {
            let one = bar * 72;
            notes.push((one, bass));
            for beat in [24, 48] {
                notes.extend([64, 67, 72].map(|p| (one + beat, p)));
            }
        }
        notes
    }

    const WALTZ_BAR: Bar = Bar {
        origin: 0,
        steps: 72,
    };

    #[test]
    fn a_waltz_keeps_its_bass_on_one_and_its_chords_above_it() {
        // The answer starts on the third bar's downbeat (step 144).
        let h = Hands::from_notes(&waltz(), 144).in_bar(&waltz(), 0, 144, WALTZ_BAR);
        let rate_only = Hands::from_notes(&waltz(), 144);
        // On one, the bass is pulled harder than its pace alone would; on two and three it
        // is held back, wherever the harmony moves the bass to.
        for one in [0, 72] {
            assert!(h.bias(38, one) > rate_only.bias(38, one));
            assert!(h.bias(38, one) > 0.0);
        }
        for beat in [24, 48, 96] {
            assert!(h.bias(38, beat) < rate_only.bias(38, beat));
        }
        assert!(h.bias(38, 24) < 0.0);
        // Places neither bar strikes, and the chords' own pitches, are left alone.
        assert_eq!(h.bias(38, 12), rate_only.bias(38, 12));
        assert_eq!(h.bias(72, 0), 0.0);
    }

    #[test]
    fn bars_that_do_not_repeat_their_roles_are_followed_by_pace_alone() {
        // The second bar puts its bass on two: the bars disagree at every place but three.
        let mut notes = waltz();
        for n in notes.iter_mut().filter(|n| n.0 >= 72) {
            n.0 = match n.0 - 72 {
                0 => 96,
                24 => 72,
                _ => n.0,
            };
        }
        notes.sort();
        let h = Hands::from_notes(&notes, 144).in_bar(&notes, 0, 144, WALTZ_BAR);
        assert_eq!(h, Hands::from_notes(&notes, 144));
        // Nor a phrase too short to have two bars' worth, or a bar longer than followed.
        let long = Bar {
            origin: 0,
            steps: 24 * 12,
        };
        let h = Hands::from_notes(&waltz(), 144).in_bar(&waltz(), 0, 144, long);
        assert_eq!(h, Hands::from_notes(&waltz(), 144));
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
