//! The phrase's melody: how often its top line moves by step, and its figures.

use super::{log_sum_exp, Guide, Hands};

/// How often the phrase's melody (the top note of each onset above its bass) moves by a
/// step, one or two semitones, and how far the answer's melody has fallen behind that: a bias
/// (times [`Sampling::follow`](crate::sampling::Sampling)) on a pitch a step from the
/// melody's latest note that would be the top of the onset being struck. It only shares out
/// which note is struck, never when, and never holds a leap back. On its own the model moves
/// its top line by step a third of the time where Chopin's phrases do half the time: its
/// answers' tops wander among a chord's notes where a pianist hears a line.
///
/// It also takes up the melody's figures: after the answer's top line makes a move the
/// phrase's melody made, a pitch that goes on as the phrase's went on next, in the phrase's
/// register and pitch classes. Real continuations take up a quarter of their top line's
/// three-onset shapes from the phrase; the answers took up a twelfth.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Melody {
    /// Pitches below this are the bass, never the melody; 0: the phrase is one hand.
    split: u8,
    /// Share of the phrase's melodic moves that are steps; 0 without enough of them.
    steps_share: f32,
    /// The answer's melodic moves so far, and how many were steps.
    moves: u32,
    steps: u32,
    /// The melody's latest note before the onset being struck (0: none yet), and the one
    /// before it.
    last: u8,
    prev: u8,
    /// The phrase's melody's two-move figures, as semitones: (first move, second move).
    figures: [(i8, i8); MAX_FIGURES],
    figures_len: usize,
    /// Whether the phrase is being read: only its moves make figures.
    reading: bool,
    /// The top above the bass (0: none yet) of the onset at `current_step`.
    current: u8,
    current_step: Option<u64>,
}

/// Room for the phrase's melody's figures, one per move: the melody is read from the
/// context's latest [`Guide::NOTES`] note-ons, so it has fewer.
const MAX_FIGURES: usize = Guide::NOTES;

impl Default for Melody {
    fn default() -> Self {
        Self {
            split: 0,
            steps_share: 0.0,
            moves: 0,
            steps: 0,
            last: 0,
            prev: 0,
            figures: [(0, 0); MAX_FIGURES],
            figures_len: 0,
            reading: false,
            current: 0,
            current_step: None,
        }
    }
}

impl Melody {
    /// Nats (times *Follow phrase*) on a pitch that, as the new top, goes on as the phrase's
    /// melody went on after the same move. At 4 the answers took up more of the phrase's
    /// figures (0.084 → 0.105 on Chopin's validation pieces, the truth 0.247) and the
    /// classifier told them from the music less often on all four check sets; at 6 less so,
    /// and their density moved away from the truth's on all four. Without the phrase's pitch
    /// classes as a condition, pitch-class similarity fell on the tuning pieces (0.620 →
    /// 0.615).
    const FIGURE_PULL: f32 = 4.0;
    /// Nats on a step owed a whole move (times *Follow phrase*). At 2, 4 and 6 the answers'
    /// top lines came nearer the truth's on all four check sets and the classifier told them
    /// from the music less often on three; 4 is the middle (docs/decisions/steering.md).
    const PULL: f32 = 4.0;
    /// A phrase with fewer melodic moves than this says too little of its line to follow.
    const MIN_MOVES: u32 = 4;
    const STEP: std::ops::RangeInclusive<i32> = 1..=2;

    /// From the context's note-ons as (grid step, pitch), oldest first. The answer's time
    /// then starts again at 0 ([`super::Follow::from_context`]).
    pub fn from_notes(notes: &[(u64, u8)]) -> Self {
        let mut phrase = Self {
            split: Hands::bass_split(notes.iter().map(|&(_, p)| p)).unwrap_or(0),
            reading: true,
            ..Self::default()
        };
        for &(step, pitch) in notes {
            phrase.strike(pitch, step);
        }
        phrase.settle();
        Self {
            steps_share: if phrase.moves >= Self::MIN_MOVES {
                phrase.steps as f32 / phrase.moves as f32
            } else {
                0.0
            },
            moves: 0,
            steps: 0,
            current_step: None,
            reading: false,
            ..phrase
        }
    }

    /// The answer struck `pitch` at grid step `step` (non-decreasing).
    pub fn strike(&mut self, pitch: u8, step: u64) {
        if self.current_step != Some(step) {
            self.settle();
            self.current_step = Some(step);
        }
        if pitch >= self.split {
            self.current = self.current.max(pitch);
        }
    }

    /// The onset being struck is over: its top, if it has one above the bass, is the
    /// melody's latest note.
    fn settle(&mut self) {
        if self.current == 0 {
            return;
        }
        if self.last != 0 {
            self.moves += 1;
            let interval = (i32::from(self.current) - i32::from(self.last)).abs();
            self.steps += u32::from(Self::STEP.contains(&interval));
        }
        if self.reading && self.prev != 0 && self.figures_len < MAX_FIGURES {
            self.figures[self.figures_len] = (
                (i16::from(self.last) - i16::from(self.prev)) as i8,
                (i16::from(self.current) - i16::from(self.last)) as i8,
            );
            self.figures_len += 1;
        }
        self.prev = self.last;
        self.last = self.current;
        self.current = 0;
    }

    /// Adds `follow` times [`Self::bias`] to the note-on logits (indexed by pitch) above the
    /// bass, and the pull of the phrase's figures ([`Self::FIGURE_PULL`]), and shares that
    /// out among them: the bass keeps its odds, so an onset begun on a step of the melody
    /// never costs the bass note that would have begun it.
    pub(super) fn apply(
        &self,
        note_ons: &mut [f32],
        step: u64,
        follow: f32,
        in_phrase: impl Fn(u8) -> bool,
    ) {
        if follow <= 0.0 {
            return;
        }
        let now = self.at(step);
        let split = usize::from(self.split);
        let before = log_sum_exp(&note_ons[split..]);
        let mut moved = false;
        if self.steps_share > 0.0 {
            // Only the steps around the melody's last note can gain.
            let last = i32::from(now.last);
            for d in [-2, -1, 1, 2] {
                let p = (last + d).clamp(0, 127) as usize;
                let g = follow * now.gain(p as u8);
                if g > 0.0 {
                    note_ons[p] += g;
                    moved = true;
                }
            }
        }
        moved |= now.take_up_figures(note_ons, follow * Self::FIGURE_PULL, in_phrase);
        if !moved {
            return;
        }
        let after = log_sum_exp(&note_ons[split..]);
        if before.is_finite() && after.is_finite() {
            for l in &mut note_ons[split..] {
                *l -= after - before;
            }
        }
    }

    /// Adds `pull` to each pitch that, as the new top of the onset under way, goes on as a
    /// figure of the phrase's melody went on after the melody's latest move; whether any.
    fn take_up_figures(
        &self,
        note_ons: &mut [f32],
        pull: f32,
        in_phrase: impl Fn(u8) -> bool,
    ) -> bool {
        if self.prev == 0 || self.last == 0 || pull <= 0.0 {
            return false;
        }
        let last = i16::from(self.last);
        let latest = last - i16::from(self.prev);
        let lowest = i16::from(self.split).max(i16::from(self.current) + 1);
        let mut seen = 0u128;
        for &(first, second) in &self.figures[..self.figures_len] {
            let next = last + i16::from(second);
            if i16::from(first) == latest
                && (lowest..128).contains(&next)
                && seen & (1 << next) == 0
                && in_phrase(next as u8)
            {
                seen |= 1 << next;
                note_ons[next as usize] += pull;
            }
        }
        seen != 0
    }

    /// Bias on a note-on of `pitch` at grid step `step`.
    pub fn bias(&self, pitch: u8, step: u64) -> f32 {
        if self.steps_share <= 0.0 {
            return 0.0;
        }
        self.at(step).gain(pitch)
    }

    /// The melody as it stands at grid step `step`: an onset struck before `step` is over.
    fn at(&self, step: u64) -> Self {
        let mut now = *self;
        if now.current_step != Some(step) {
            now.settle();
        }
        now
    }

    /// [`Self::bias`] on a melody as it stands ([`Self::at`]): the onset under way takes a
    /// new top only from a pitch above its own.
    fn gain(&self, pitch: u8) -> f32 {
        let interval = (i32::from(pitch) - i32::from(self.last)).abs();
        if pitch < self.split
            || self.last == 0
            || pitch <= self.current
            || !Self::STEP.contains(&interval)
        {
            return 0.0;
        }
        // The next move is owed its share of a step.
        let owed = self.steps_share * (self.moves as f32 + 1.0) - self.steps as f32;
        Self::PULL * owed.clamp(0.0, 1.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A melody by step over a bass an octave and more below.
    fn stepwise_phrase() -> Vec<(u64, u8)> {
        let mut notes = Vec::new();
        for (i, top) in [72u8, 74, 76, 77, 76, 74, 72, 71].into_iter().enumerate() {
            let step = i as u64 * 12;
            if i % 2 == 0 {
                notes.push((step, 48));
            }
            notes.push((step, top));
        }
        notes
    }

    #[test]
    fn a_step_from_the_melodys_last_note_is_favoured_while_steps_are_owed() {
        let mut m = Melody::from_notes(&stepwise_phrase());
        // The phrase's melody ended on 71: 69, 70, 72 and 73 are steps from it.
        assert!(m.bias(72, 0) > 0.0 && m.bias(69, 0) > 0.0);
        assert_eq!(m.bias(71, 0), 0.0, "a repeat is no step");
        assert_eq!(m.bias(76, 0), 0.0, "a leap is not held back either");
        assert_eq!(m.bias(50, 0), 0.0, "the bass is no melody");
        // After three leaps a step is owed a whole move.
        for (i, p) in [79u8, 67, 76].into_iter().enumerate() {
            m.strike(p, 12 * i as u64);
        }
        assert_eq!(m.bias(77, 36), Melody::PULL);
    }

    #[test]
    fn once_the_answer_has_stepped_as_often_as_the_phrase_nothing_is_owed() {
        // Two steps and two leaps.
        let half: Vec<(u64, u8)> = [72u8, 74, 79, 77, 84]
            .into_iter()
            .enumerate()
            .map(|(i, p)| (i as u64 * 12, p))
            .collect();
        let mut m = Melody::from_notes(&half);
        assert_eq!(
            m.bias(86, 0),
            Melody::PULL * 0.5,
            "the first move owes half a step"
        );
        for (i, p) in [86u8, 84, 83].into_iter().enumerate() {
            m.strike(p, 12 * i as u64);
        }
        assert_eq!(m.bias(81, 36), 0.0);
    }

    #[test]
    fn within_an_onset_only_a_new_top_counts() {
        let mut m = Melody::from_notes(&stepwise_phrase());
        // A chord under way at step 0, its top 72 a step above the phrase's last note, 71.
        m.strike(60, 0);
        m.strike(72, 0);
        assert_eq!(m.bias(70, 0), 0.0, "under the chord's top");
        assert!(m.bias(73, 0) > 0.0, "a higher top, still a step from 71");
        // At the next step the chord is over: its top, 72, is the melody's latest note.
        assert!(m.bias(74, 12) > 0.0 && m.bias(70, 12) > 0.0);
        assert_eq!(m.bias(75, 12), 0.0);
    }

    #[test]
    fn the_bass_keeps_its_odds() {
        let m = Melody::from_notes(&stepwise_phrase());
        let mut logits = [0.0f32; 128];
        m.apply(&mut logits, 0, 0.5, |_| true);
        let share = |l: &[f32], range: std::ops::Range<usize>| {
            let total: f32 = l.iter().map(|x| x.exp()).sum();
            l[range].iter().map(|x| x.exp()).sum::<f32>() / total
        };
        let split = usize::from(m.split);
        assert!((share(&logits, 0..split) - split as f32 / 128.0).abs() < 1e-5);
        assert!(logits[72] > logits[76], "a step from 71 gains on a leap");
    }

    #[test]
    fn the_melody_goes_on_as_the_phrases_went_on_after_the_same_move() {
        // Up a third, down a step, three times over a low bass.
        let mut notes = vec![(0, 36)];
        for (i, top) in [60u8, 64, 62, 66, 64, 68, 66].into_iter().enumerate() {
            notes.push((i as u64 * 12, top));
        }
        let mut m = Melody::from_notes(&notes);
        // The answer moves up a third, 67 to 71: the phrase went down a step after that.
        m.strike(67, 0);
        m.strike(71, 12);
        let mut logits = [0.0f32; 128];
        m.apply(&mut logits, 24, 0.5, |_| true);
        assert!((logits[69] - logits[70] - 0.5 * Melody::FIGURE_PULL).abs() < 1e-5);
        assert_eq!(
            logits[70], logits[73],
            "beside it, steps from 71 gain alike"
        );
        // Not where the phrase never played.
        let mut logits = [0.0f32; 128];
        m.apply(&mut logits, 24, 0.5, |p| p != 69);
        assert_eq!(logits[69], logits[70]);
    }

    #[test]
    fn a_phrase_of_leaps_or_too_short_steers_nothing() {
        let leaps: Vec<(u64, u8)> = [60u8, 67, 72, 79, 84, 76]
            .into_iter()
            .enumerate()
            .map(|(i, p)| (i as u64 * 6, p))
            .collect();
        let m = Melody::from_notes(&leaps);
        assert!((71..=86).all(|p| m.bias(p, 0) == 0.0));
        let m = Melody::from_notes(&[(0, 60), (6, 62), (12, 64)]);
        assert_eq!(m.bias(65, 0), 0.0);
    }
}
