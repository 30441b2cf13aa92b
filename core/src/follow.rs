//! Following the phrase: biases on the model's logits that keep an answer near the phrase's
//! pitch classes and register ([`Guide`]), its pace in onsets ([`Density`]), its chords
//! ([`Texture`]), its grid ([`Phases`]), its figures ([`Figures`]), its articulation
//! ([`Lengths`]), its bass and where in the bar it falls ([`Hands`]), its melody's steps
//! and figures ([`Melody`]) and its habit of repeating notes ([`Repeats`]), each scaled by
//! [`Sampling::follow`](crate::sampling::Sampling). Everything here runs for every generated
//! token, so nothing allocates.
//!
//! Every count is of onsets (the notes struck at one grid step) where the music is: a chord is
//! one event of the pace and of the pitch-class balance. Counting single notes pulled chords
//! apart into runs, and a phrase of 16th-note chords was answered with single 32nd notes to
//! keep up its note count.

use crate::grid::Bar;
use crate::sampling::Sampling;

mod figures;
mod hands;
mod lengths;
mod melody;
mod phases;

use crate::vocab::{Token, Vocab};
pub use figures::Figures;
pub use hands::Hands;
pub use lengths::Lengths;
pub use melody::Melody;
pub use phases::Phases;

/// All that *Follow phrase* steers by: read from the context, kept up to date as the answer
/// plays, and applied to the model's logits before each draw.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Follow {
    onsets: Onsets,
    guide: Guide,
    density: Density,
    texture: Texture,
    phases: Phases,
    repeats: Repeats,
    figures: Figures,
    lengths: Lengths,
    hands: Hands,
    melody: Melody,
}

impl Follow {
    /// From the context's note-ons as (grid step, pitch), oldest first, the step its last note
    /// ends on (`phrase_end`: its pace is measured up to there, not through the rest before
    /// the answer) and the step the answer starts on (`end`); `origin` is the grid step (from
    /// the timeline's beat 0) of the context's step 0, and `bar` the meter's bars where the
    /// answer starts. The answer's time then counts from 0 at `end`; the context's last
    /// onset stays "previous" for the answer's first.
    pub fn from_context(
        notes: &[(u64, u8)],
        phrase_end: u64,
        end: u64,
        origin: i64,
        steps_per_beat: u32,
        bar: Bar,
    ) -> Self {
        let mut onsets = Onsets::default();
        for &(step, pitch) in notes {
            onsets.strike(pitch, step);
        }
        let recent = &notes[notes.len().saturating_sub(Guide::NOTES)..];
        let pitches: Vec<u8> = recent.iter().map(|&(_, p)| p).collect();
        let steps: Vec<u64> = recent.iter().map(|&(s, _)| s).collect();
        Self {
            onsets: onsets.rebased(),
            guide: Guide::from_pitches(&pitches),
            density: Density::from_onsets(&steps, phrase_end.max(1), steps_per_beat),
            texture: Texture::from_onsets(&steps),
            phases: Phases::from_onsets(&steps, origin, steps_per_beat, origin + end as i64),
            repeats: Repeats::from_notes(notes),
            figures: Figures::from_pitches(&pitches),
            lengths: Lengths::default(),
            hands: Hands::from_notes(recent, phrase_end.max(1)).in_bar(recent, origin, end, bar),
            melody: Melody::from_notes(recent),
        }
    }

    /// With the lengths (grid steps) of the context's notes, which the answer's articulation
    /// follows ([`Lengths`]).
    pub fn with_lengths(mut self, lengths: &[u64]) -> Self {
        self.lengths = Lengths::from_lengths(lengths);
        self
    }

    /// Biases `logits` for a token drawn at the answer's grid step `step`.
    pub fn apply(&self, logits: &mut [f32], vocab: &Vocab, step: u64, sampling: &Sampling) {
        if sampling.repeat_penalty <= 0.0 && sampling.follow <= 0.0 {
            return;
        }
        let repeats = self.onsets.previous_at(step);
        // A note joining the onset at `step` changes the chord, not the pace; one that starts
        // an onset changes the pace and lands on the phrase's grid or off it.
        let joins = self.texture.joins(step);
        let (pace, chord) = (sampling.density.exp2(), sampling.polyphony.exp2());
        let onset = if joins {
            self.texture.bias(step, chord)
        } else {
            self.density.note_on_bias(step, pace) + self.phases.bias(step, pace)
        };
        let habit = self.repeats.bias(step);
        // Which pitch (the guide, the habit of repeating) is kept apart from when: the first
        // only shares out the probability the model gives to striking a note now, so that a
        // pitch class the answer owes never pulls a note off the beat.
        let notes = &mut logits[vocab.note_on_range()];
        let before = log_sum_exp(notes);
        self.figures
            .apply(notes, sampling.follow * Figures::PULL, |p| {
                self.guide.in_register(p)
            });
        for (p, l) in notes.iter_mut().enumerate() {
            if repeats & (1 << p) != 0 {
                *l += sampling.follow * habit - sampling.repeat_penalty;
            }
            *l += sampling.follow * (self.guide.bias(p as u8) + self.hands.bias(p as u8, step));
        }
        self.melody
            .apply(notes, step, sampling.follow, |p| self.guide.in_phrase(p));
        let shared_out = log_sum_exp(notes) - before;
        let when = sampling.follow * onset
            - if shared_out.is_finite() {
                shared_out
            } else {
                0.0
            };
        for l in notes.iter_mut() {
            *l += when;
        }
        self.phases.share_out_waits(
            &mut logits[vocab.time_shift_range()],
            step,
            sampling.follow,
            pace,
        );
        let held = self.lengths.held(step);
        for id in vocab.time_shift_range() {
            if let Some(Token::TimeShift(steps)) = vocab.decode(id) {
                let steps = u64::from(steps);
                let landing = self.phases.share(step + steps, pace);
                logits[id] += sampling.follow * self.density.shift_bias(step, steps, pace, landing);
                logits[id] += sampling.follow * self.lengths.wait_bias(held, steps);
            }
        }
        for (p, id) in vocab.note_off_range().enumerate() {
            logits[id] += sampling.follow * self.lengths.bias(p as u8, step);
        }
    }

    /// The answer ended `pitch` at grid step `step`.
    pub fn end(&mut self, pitch: u8, step: u64) {
        self.lengths.end(pitch, step);
    }

    /// The answer struck `pitch` at grid step `step`.
    pub fn strike(&mut self, pitch: u8, step: u64) {
        self.repeats
            .strike(step, self.onsets.previous_at(step) & (1 << pitch) != 0);
        self.onsets.strike(pitch, step);
        self.density.strike(step);
        self.texture.strike(step);
        self.guide.strike(pitch, step);
        self.figures.strike(pitch);
        self.lengths.strike(pitch, step);
        self.hands.strike(pitch, step);
        self.melody.strike(pitch, step);
    }
}

/// Where the phrase lives: a log-prior over note-on pitches from the pitch classes and the
/// register of the context's latest notes, and how far the answer's own mix of pitch classes
/// has strayed from the phrase's. Added (times [`Sampling::follow`]) to note-on logits, it
/// keeps an answer near the phrase's key, mix and hands without forbidding anything.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Guide {
    bias: [f32; 128],
    /// Pitches within [`Self::REGISTER_WIDTH`] of one of the phrase's notes (bit per pitch):
    /// where its hands are.
    register: u128,
    /// The phrase's pitch-class distribution (smoothed); all 0 without a phrase.
    classes: [f32; 12],
    /// Note-ons of each pitch class the answer has played before its latest onset, and
    /// those at that onset (`current`, at step `current_step`): a chord's notes are owed
    /// alike, so the balance does not pull a chord apart.
    played: [u32; 12],
    /// The pitch classes the phrase played, as bits.
    phrase_classes: u16,
    notes: u32,
    current: [u32; 12],
    current_step: Option<u64>,
}

impl Default for Guide {
    /// No pull anywhere (no phrase).
    fn default() -> Self {
        Self {
            bias: [0.0; 128],
            register: u128::MAX,
            classes: [0.0; 12],
            played: [0; 12],
            phrase_classes: 0,
            notes: 0,
            current: [0; 12],
            current_step: None,
        }
    }
}

impl Guide {
    /// Notes of the context the guide reads: the latest ones, about four bars of melody.
    pub const NOTES: usize = 64;
    /// Nats per note a pitch class is owed. A fixed log-prior alone sharpens the answer onto
    /// the phrase's commonest classes; owing notes steers the answer's mix toward the
    /// phrase's. At 1.5 the answers' mix matched the phrase's more closely than real
    /// continuations do (0.80–0.88 against 0.65–0.68), the clearest tell a classifier had
    /// (docs/decisions/steering.md). At 0.5 it was still the second tell (after note
    /// lengths) on Chopin's pieces.
    const BALANCE: f32 = 0.25;
    /// Share of the pitch classes' log-prior (log of 12 × the phrase's share of a class)
    /// that the guide adds. A real continuation moves on harmonically; held to the phrase's
    /// classes, answers stayed in its chord. Halved with [`Self::BALANCE`], the classifier
    /// fell on all three check sets (by 0.07–0.09) for 0.01–0.02 of pitch-class similarity.
    const CLASS_PRIOR: f32 = 0.5;
    /// Width (semitones) of the register each of the phrase's notes lends its neighbours: the
    /// register is where the phrase's notes are, a bass and a melody two octaves apart
    /// alike, not one bell curve around their mean, which pulled a piano's two hands
    /// together into narrow chords.
    const REGISTER_WIDTH: f32 = 4.0;
    /// The most a pitch is held back for lying where the phrase played nothing (nats).
    const REGISTER_FLOOR: f32 = 2.0;

    /// From the pitches of the context's note-ons, oldest first (only the last
    /// [`Self::NOTES`] count).
    pub fn from_pitches(pitches: &[u8]) -> Self {
        let recent = &pitches[pitches.len().saturating_sub(Self::NOTES)..];
        if recent.is_empty() {
            return Self::default();
        }
        let n = recent.len() as f32;
        let mut classes = [0f32; 12];
        let mut phrase_classes = 0u16;
        for &p in recent {
            classes[usize::from(p % 12)] += 1.0;
            phrase_classes |= 1 << (p % 12);
        }
        // Add-½ smoothing.
        let classes = classes.map(|c| (c + 0.5) / (n + 6.0));
        let mut bias = [0f32; 128];
        let mut register = 0u128;
        for (p, b) in bias.iter_mut().enumerate() {
            // 0 where the phrase is uniform over the twelve classes.
            let class = Self::CLASS_PRIOR * (12.0 * classes[p % 12]).ln();
            // 0 where every note of the phrase is this pitch.
            let near = recent
                .iter()
                .map(|&q| (-0.5 * ((p as f32 - f32::from(q)) / Self::REGISTER_WIDTH).powi(2)).exp())
                .sum::<f32>()
                / n;
            if recent
                .iter()
                .any(|&q| (p as f32 - f32::from(q)).abs() <= Self::REGISTER_WIDTH)
            {
                register |= 1 << p;
            }
            *b = class + near.ln().max(-Self::REGISTER_FLOOR);
        }
        Self {
            bias,
            register,
            classes,
            phrase_classes,
            ..Self::default()
        }
    }

    /// Whether `pitch` lies where the phrase's notes are.
    pub fn in_register(&self, pitch: u8) -> bool {
        self.register & (1 << (pitch & 127)) != 0
    }

    /// Whether `pitch` lies where the phrase's notes are, in a pitch class it played.
    pub fn in_phrase(&self, pitch: u8) -> bool {
        self.in_register(pitch) && self.phrase_classes & (1 << (pitch % 12)) != 0
    }

    /// The answer struck `pitch` at grid step `step`.
    pub fn strike(&mut self, pitch: u8, step: u64) {
        if self.current_step != Some(step) {
            for (played, current) in self.played.iter_mut().zip(&mut self.current) {
                *played += std::mem::take(current);
            }
            self.current_step = Some(step);
        }
        self.current[usize::from(pitch % 12)] += 1;
        self.notes += 1;
    }

    /// Log-prior of a note-on of `pitch` now: where the phrase lives, plus
    /// [`Self::BALANCE`] per note its pitch class is owed (the answer played it less often,
    /// before its latest onset, than the phrase's share of its notes would have it) or minus
    /// per note it is ahead.
    pub fn bias(&self, pitch: u8) -> f32 {
        let class = usize::from(pitch % 12);
        let before = self.notes - self.current.iter().sum::<u32>();
        let owed = self.classes[class] * before as f32 - self.played[class] as f32;
        self.bias[usize::from(pitch & 127)] + Self::BALANCE * owed
    }
}

/// The bias that steers a count back to its target: `pull` nats per unit of imbalance that a
/// token removes (or adds), growing with the imbalance up to `cap` units. `ahead` is how far
/// the count runs ahead of its target before the token; the token adds one.
pub(crate) fn steer(ahead: f32, pull: f32, cap: f32) -> f32 {
    pull * (ahead.abs() - (ahead + 1.0).abs()) * ahead.abs().clamp(1.0, cap)
}

/// The pace an answer keeps in onsets, and how far it runs ahead of it or behind: a bias
/// (times [`Sampling::follow`]) on note-ons that start an onset and on time shifts, so an
/// answer keeps the phrase's density — a sparse answer to a busy phrase, or a flurry after a
/// few long notes, does not follow it. A chord is one onset: its notes are [`Texture`]'s.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Density {
    /// Onsets per grid step the answer aims at; 0: no phrase, no pull.
    rate: f32,
    onsets: OnsetCount,
}

impl Density {
    /// Nats per onset of imbalance a token adds or removes. Each token is biased by how much
    /// nearer (or further) it takes the answer to its pace: a note that starts an onset by one
    /// onset, a time shift by the onsets the pace gives meanwhile. Unlike one bias on every
    /// time shift, this does not answer "too many notes" with a long rest and then a burst.
    const PULL: f32 = 3.0;
    /// The pull on a note-on grows with the imbalance up to this many onsets, and a time
    /// shift's is bounded by [`Self::MAX_SHIFT_BIAS`]: a model keen on a texture (a run) is
    /// brought back within a few onsets, yet can still place a note where it hears one.
    const MAX_ONSETS: f32 = 3.0;
    const MAX_SHIFT_BIAS: f32 = 5.0;
    /// How sharply a wait's favour falls with its landing's share of the phrase's onsets: at
    /// 3, a place the phrase strikes half as often as its commonest gets an eighth. Powers
    /// from 1.5 to 8 measured alike (docs/decisions/steering.md); what counts is that a wait
    /// to nowhere is not favoured.
    const LANDING_POWER: i32 = 3;
    /// How far the answer's pace leans from the phrase's toward [`Self::TYPICAL_PER_BEAT`]
    /// (a share of the distance on a log scale). Real continuations do: a phrase's pace
    /// foretells its continuation's only in part (across piano pieces, log notes in the next
    /// two bars follow log notes in the last two with a slope of about 0.75, not 1).
    const LEAN: f32 = 0.15;
    /// Onsets per beat in a typical two bars of piano music: the geometric mean over two-bar
    /// windows is 2.2–2.6 for most composers of the piano-midi.de corpus and of the Mutopia
    /// keyboard pieces.
    const TYPICAL_PER_BEAT: f32 = 2.4;

    /// From the grid steps of the context's note-ons (oldest first; a chord's notes share a
    /// step) and the step the context ends on.
    pub fn from_onsets(steps: &[u64], end: u64, steps_per_beat: u32) -> Self {
        let Some(&first) = steps.first() else {
            return Self::default();
        };
        let onsets = distinct(steps);
        let phrase = onsets as f32 / end.saturating_sub(first).max(1) as f32;
        let typical = Self::TYPICAL_PER_BEAT / steps_per_beat.max(1) as f32;
        let rate = (phrase.ln() + Self::LEAN * (typical.ln() - phrase.ln())).exp();
        Self {
            rate,
            ..Self::default()
        }
    }

    /// The answer struck a note at `step`.
    pub fn strike(&mut self, step: u64) {
        self.onsets.strike(step);
    }

    /// Onsets the answer has played beyond what its pace (`scale` times its own) gives by
    /// grid step `step`. Half an onset is due at the start: an answer neither waits for its
    /// pace to build up before its first note nor owes one on its first step.
    fn ahead(&self, step: u64, scale: f32) -> f32 {
        self.onsets.count as f32 - (scale * self.rate * step as f32 + 0.5)
    }

    /// Bias on a note-on that starts an onset at grid step `step`, for a pace `scale` times
    /// the phrase's: negative when the answer is ahead of its pace, positive when behind.
    pub fn note_on_bias(&self, step: u64, scale: f32) -> f32 {
        if self.rate <= 0.0 {
            return 0.0;
        }
        steer(self.ahead(step, scale), Self::PULL, Self::MAX_ONSETS)
    }

    /// Bias on a time shift of `steps` grid steps taken at `step`: positive when waiting that
    /// long brings the answer back to its pace, negative when it overshoots. A wait is only
    /// favoured as far as it lands where the phrase strikes (`landing`: the phrase's share of
    /// onsets at that place in the beat, against its commonest, from [`Phases::share`]):
    /// favouring every wait of the right length led the model to places it would not strike,
    /// where it ended its notes instead, and the answers' note lengths came off the grid.
    pub fn shift_bias(&self, step: u64, steps: u64, scale: f32, landing: f32) -> f32 {
        if self.rate <= 0.0 {
            return 0.0;
        }
        let ahead = self.ahead(step, scale);
        let after = ahead - scale * self.rate * steps as f32;
        let bias = (Self::PULL * (ahead.abs() - after.abs()))
            .clamp(-Self::MAX_SHIFT_BIAS, Self::MAX_SHIFT_BIAS);
        if bias > 0.0 {
            bias * landing.powi(Self::LANDING_POWER)
        } else {
            bias
        }
    }
}

/// ln Σ exp(x) over the finite entries; −∞ when there are none.
fn log_sum_exp(xs: &[f32]) -> f32 {
    let max = xs
        .iter()
        .copied()
        .filter(|x| x.is_finite())
        .fold(f32::NEG_INFINITY, f32::max);
    if max == f32::NEG_INFINITY {
        return max;
    }
    max + xs
        .iter()
        .filter(|x| x.is_finite())
        .map(|&x| (x - max).exp())
        .sum::<f32>()
        .ln()
}

/// The answer's onsets so far (a chord's notes share one) and the step of the latest: what
/// the pace and the chord size both count.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct OnsetCount {
    count: u32,
    latest: Option<u64>,
}

impl OnsetCount {
    /// A note struck at `step` (non-decreasing).
    fn strike(&mut self, step: u64) {
        if self.latest != Some(step) {
            self.count += 1;
            self.latest = Some(step);
        }
    }
}

/// Distinct values in a sorted list: the onsets among note-on steps.
fn distinct(steps: &[u64]) -> usize {
    steps.windows(2).filter(|w| w[0] != w[1]).count() + usize::from(!steps.is_empty())
}

/// How many notes the phrase strikes at once, and how far the answer's chords run ahead of
/// that or behind: a bias (times [`Sampling::follow`]) on note-ons that would join the onset
/// already struck at this step. Block chords are answered with chords, a melody with single
/// notes.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Texture {
    /// The phrase's notes per onset; `None` (too few onsets to tell): no pull.
    per_onset: Option<f32>,
    notes: u32,
    onsets: OnsetCount,
}

impl Texture {
    /// Nats per note of imbalance, growing up to [`Self::MAX_NOTES`].
    const PULL: f32 = 3.0;
    const MAX_NOTES: f32 = 3.0;
    /// Onsets a phrase needs before its texture counts.
    const MIN_ONSETS: usize = 3;

    /// From the grid steps of the context's note-ons, oldest first.
    pub fn from_onsets(steps: &[u64]) -> Self {
        let onsets = distinct(steps);
        Self {
            per_onset: (onsets >= Self::MIN_ONSETS).then(|| steps.len() as f32 / onsets as f32),
            ..Self::default()
        }
    }

    /// Whether a note-on at `step` would join an onset the answer has struck.
    pub fn joins(&self, step: u64) -> bool {
        self.onsets.latest == Some(step)
    }

    /// Bias on a note-on that joins the onset at `step`: positive while the answer's chords
    /// are thinner than `scale` times the phrase's (never below one note), negative when
    /// thicker.
    pub fn bias(&self, step: u64, scale: f32) -> f32 {
        match self.per_onset {
            Some(rate) if self.joins(step) => {
                let rate = (rate * scale).max(1.0);
                let ahead = self.notes as f32 - rate * self.onsets.count as f32;
                steer(ahead, Self::PULL, Self::MAX_NOTES)
            }
            _ => 0.0,
        }
    }

    /// The answer struck a note at `step`.
    pub fn strike(&mut self, step: u64) {
        self.onsets.strike(step);
        self.notes += 1;
    }
}

/// How often the phrase strikes again a pitch of the onset before, and how far the answer
/// runs ahead of that habit or behind: a bias (times [`Sampling::follow`]) on note-ons that
/// would repeat the previous onset. Repeated notes and chords are a texture (a nocturne's
/// accompaniment, a toccata's hammered note) that an answer follows like the phrase's pace.
/// Left alone the model over-repeats; held to the phrase's pace it hardly repeats at all
/// (README, "Sampling").
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Repeats {
    /// Share of the phrase's onsets (after its first) that repeat a pitch of the one
    /// before; `None` (too few onsets to tell): no pull.
    rate: Option<f32>,
    /// The answer's onsets, marked where they repeat a pitch of the onset before.
    counts: MarkedOnsets,
}

impl Repeats {
    /// Nats per repeated onset of imbalance, growing up to [`Self::MAX_ONSETS`].
    const PULL: f32 = 3.0;
    const MAX_ONSETS: f32 = 3.0;
    /// Onsets a phrase needs before its habit counts.
    const MIN_ONSETS: u32 = 4;

    /// From the context's note-ons as (grid step, pitch), oldest first; only the last
    /// [`Guide::NOTES`] count.
    pub fn from_notes(notes: &[(u64, u8)]) -> Self {
        let recent = &notes[notes.len().saturating_sub(Guide::NOTES)..];
        let mut phrase = MarkedOnsets::default();
        let mut onsets = Onsets::default();
        for &(step, pitch) in recent {
            phrase.strike(step, onsets.previous_at(step) & (1 << (pitch & 127)) != 0);
            onsets.strike(pitch, step);
        }
        // The phrase's first onset has none before it, so it cannot repeat.
        let rate = (phrase.onsets >= Self::MIN_ONSETS)
            .then(|| phrase.marked as f32 / (phrase.onsets - 1) as f32);
        Self {
            rate,
            ..Self::default()
        }
    }

    /// Bias on a note-on at `step` of a pitch the previous onset struck: positive when the
    /// answer owes the phrase repeats, negative when it is ahead; 0 when the note changes
    /// nothing (no phrase, or its onset already repeats).
    pub fn bias(&self, step: u64) -> f32 {
        let Some(rate) = self.rate else {
            return 0.0;
        };
        // The answer's first onset follows the phrase's last, so every one of its onsets
        // counts, this one included.
        let onsets = match self.counts.at(step) {
            Some(true) => return 0.0,
            Some(false) => self.counts.onsets,
            None => self.counts.onsets + 1,
        };
        let ahead = self.counts.marked as f32 - rate * onsets as f32;
        steer(ahead, Self::PULL, Self::MAX_ONSETS)
    }

    /// A note struck at `step`; `repeat`: its pitch was struck at the onset before.
    pub fn strike(&mut self, step: u64, repeat: bool) {
        self.counts.strike(step, repeat);
    }
}

/// Onsets struck, and how many of them are marked (a note of the onset has the mark: it
/// repeats the onset before, it reaches the bass): a chord is one onset, marked once.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct MarkedOnsets {
    pub(crate) onsets: u32,
    pub(crate) marked: u32,
    /// Step of the latest onset, and whether it is marked.
    current: Option<(u64, bool)>,
}

impl MarkedOnsets {
    /// A note struck at `step` (non-decreasing), with the mark or without.
    pub(crate) fn strike(&mut self, step: u64, mark: bool) {
        match self.current {
            Some((s, true)) if s == step => {}
            Some((s, false)) if s == step => {
                self.marked += u32::from(mark);
                self.current = Some((s, mark));
            }
            _ => {
                self.onsets += 1;
                self.marked += u32::from(mark);
                self.current = Some((step, mark));
            }
        }
    }

    /// Whether the onset at `step` is marked; `None` when nothing was struck there yet.
    pub(crate) fn at(&self, step: u64) -> Option<bool> {
        match self.current {
            Some((s, mark)) if s == step => Some(mark),
            _ => None,
        }
    }
}

/// The pitches of the most recent onsets, for the repetition penalty: which pitches the
/// onset before "now" struck. Fed every token of context and generation alike, so the
/// answer's first note also knows the phrase's last one.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Onsets {
    /// Pitches struck at `current_step`.
    current: u128,
    current_step: u64,
    /// Pitches of the onset before `current`.
    previous: u128,
}

impl Onsets {
    /// Records a note-on of `pitch` at grid step `step` (non-decreasing).
    pub fn strike(&mut self, pitch: u8, step: u64) {
        if self.current != 0 && step != self.current_step {
            self.previous = self.current;
            self.current = 0;
        }
        self.current_step = step;
        self.current |= 1 << (pitch & 127);
    }

    /// The same onsets with time restarted: the last one counts as "previous" for any step.
    pub fn rebased(&self) -> Self {
        Self {
            current: 0,
            current_step: 0,
            previous: if self.current != 0 {
                self.current
            } else {
                self.previous
            },
        }
    }

    /// Pitches a note-on at `step` would repeat: those of the last onset before `step`.
    pub fn previous_at(&self, step: u64) -> u128 {
        if self.current != 0 && step != self.current_step {
            self.current
        } else {
            self.previous
        }
    }
}

#[cfg(test)]
mod tests;
