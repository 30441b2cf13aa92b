//! Allocation-free sampling from model logits with musical constraints.
//!
//! Everything here runs on the plugin's inference thread for every generated token, so it
//! works in place on the logits buffer and never allocates.

use crate::tokens::Decoder;
use crate::vocab::{Token, Vocab};

/// Small, fast, seedable generator (SplitMix64). Reproducible across platforms, so a seed
/// saved with a DAW project or passed to `trainer generate` gives the same notes everywhere.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed ^ 0x9E37_79B9_7F4A_7C15)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `[0, 1)`.
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }
}

/// How tokens are drawn from the model's distribution: the settings a player turns and
/// `trainer generate` / `trainer check` take as flags. The defaults are the plugin's, chosen
/// on the continuation check (README, "Sampling").
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Sampling {
    /// Flattens (> 1) or sharpens (< 1) the distribution; ≤ 0 always picks the likeliest.
    pub temperature: f32,
    /// Min-p truncation: tokens less likely than `min_p` × the likeliest token's probability
    /// are never drawn. It cuts the unlikely tail whose accidental picks sound like wrong notes,
    /// and it adapts to the model's confidence, which a fixed top-k cannot. 0 disables it.
    pub min_p: f32,
    /// Logit penalty (nats) on striking again a pitch struck at the previous onset. Piano
    /// music re-strikes the previous pitch at about one onset in six; small models do it far
    /// more, and a melody of one repeated pitch is the commonest complaint. 0 disables it.
    pub repeat_penalty: f32,
    /// Strength of the pull toward the phrase's pitch classes and register ([`Guide`]), its
    /// density ([`Density`]) and its habit of repeating notes ([`Repeats`]): a small model
    /// drifts away from all of them, and an answer a musician keeps stays in the phrase's
    /// key, on its part of the keyboard, at its pace, in its texture. 0 disables it.
    pub follow: f32,
}

impl Sampling {
    pub const DEFAULT_TEMPERATURE: f32 = 1.1;
    pub const DEFAULT_MIN_P: f32 = 0.02;
    pub const DEFAULT_REPEAT_PENALTY: f32 = 0.0;
    pub const DEFAULT_FOLLOW: f32 = 0.7;
}

impl Default for Sampling {
    fn default() -> Self {
        Self {
            temperature: Self::DEFAULT_TEMPERATURE,
            min_p: Self::DEFAULT_MIN_P,
            repeat_penalty: Self::DEFAULT_REPEAT_PENALTY,
            follow: Self::DEFAULT_FOLLOW,
        }
    }
}

/// Draws a token id from `logits` with `sampling`'s temperature and min-p, considering only
/// ids where `allowed` is true. Temperature ≤ 0 picks the most likely allowed id. Overwrites
/// `logits`. Returns `None` if nothing is allowed.
pub fn sample(
    logits: &mut [f32],
    sampling: &Sampling,
    rng: &mut Rng,
    allowed: impl Fn(usize) -> bool,
) -> Option<usize> {
    let mut best: Option<(usize, f32)> = None;
    for (i, &l) in logits.iter().enumerate() {
        if allowed(i) && l.is_finite() && best.is_none_or(|(_, b)| l > b) {
            best = Some((i, l));
        }
    }
    let (argmax, max) = best?;
    if sampling.temperature <= 1e-4 {
        return Some(argmax);
    }
    // Min-p on the untempered distribution: p / p_max ≥ min_p ⇔ logit ≥ max + ln(min_p).
    // Temperature then only reshapes what min-p kept, so turning it up adds variety among
    // plausible notes rather than letting implausible ones in.
    let floor = if sampling.min_p > 0.0 {
        max + sampling.min_p.min(1.0).ln()
    } else {
        f32::NEG_INFINITY
    };
    let inv_t = 1.0 / sampling.temperature;
    let mut total = 0.0f64;
    for (i, l) in logits.iter_mut().enumerate() {
        *l = if allowed(i) && l.is_finite() && *l >= floor {
            ((*l - max) * inv_t).exp()
        } else {
            0.0
        };
        total += f64::from(*l);
    }
    let mut target = rng.next_f64() * total;
    let mut last_positive = argmax;
    for (i, &p) in logits.iter().enumerate() {
        if p > 0.0 {
            last_positive = i;
            target -= f64::from(p);
            if target < 0.0 {
                return Some(i);
            }
        }
    }
    Some(last_positive)
}

/// Where the phrase lives: a log-prior over note-on pitches from the pitch classes and the
/// register of the context's latest notes, and how far the answer's own mix of pitch classes
/// has strayed from the phrase's. Added (times [`Sampling::follow`]) to note-on logits, it
/// keeps an answer near the phrase's key, mix and hands without forbidding anything.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Guide {
    bias: [f32; 128],
    /// The phrase's pitch-class distribution (smoothed); all 0 without a phrase.
    classes: [f32; 12],
    /// Note-ons of each pitch class the answer has played so far.
    played: [u32; 12],
    notes: u32,
}

impl Default for Guide {
    /// No pull anywhere (no phrase).
    fn default() -> Self {
        Self {
            bias: [0.0; 128],
            classes: [0.0; 12],
            played: [0; 12],
            notes: 0,
        }
    }
}

impl Guide {
    /// Notes of the context the guide reads: the latest ones, about four bars of melody.
    pub const NOTES: usize = 64;
    /// Nats per note a pitch class is owed. A fixed log-prior alone sharpens the answer onto
    /// the phrase's commonest classes (a stronger pull made answers *less* like the phrase's
    /// mix); owing notes steers the answer's mix toward the phrase's, and by itself keeps
    /// one pitch from being struck over and over (README, "Sampling").
    const BALANCE: f32 = 1.5;
    /// The register's spread is at least this (semitones), so a phrase of one repeated note
    /// does not pin the answer to it.
    const MIN_SPREAD: f32 = 4.0;

    /// From the pitches of the context's note-ons, oldest first (only the last
    /// [`Self::NOTES`] count).
    pub fn from_pitches(pitches: &[u8]) -> Self {
        let recent = &pitches[pitches.len().saturating_sub(Self::NOTES)..];
        if recent.is_empty() {
            return Self::default();
        }
        let n = recent.len() as f32;
        let mut classes = [0f32; 12];
        for &p in recent {
            classes[usize::from(p % 12)] += 1.0;
        }
        let mean = recent.iter().map(|&p| f32::from(p)).sum::<f32>() / n;
        let var = recent
            .iter()
            .map(|&p| (f32::from(p) - mean).powi(2))
            .sum::<f32>()
            / n;
        let spread = var.sqrt().max(Self::MIN_SPREAD);
        // Add-½ smoothing.
        let classes = classes.map(|c| (c + 0.5) / (n + 6.0));
        let mut bias = [0f32; 128];
        for (p, b) in bias.iter_mut().enumerate() {
            // 0 where the phrase is uniform over the twelve classes.
            let class = (12.0 * classes[p % 12]).ln();
            let z = (p as f32 - mean) / spread;
            *b = class - 0.5 * z * z;
        }
        Self {
            bias,
            classes,
            ..Self::default()
        }
    }

    /// The answer struck `pitch`.
    pub fn strike(&mut self, pitch: u8) {
        self.played[usize::from(pitch % 12)] += 1;
        self.notes += 1;
    }

    /// Log-prior of a note-on of `pitch`.
    /// Log-prior of a note-on of `pitch` now: where the phrase lives, plus
    /// [`Self::BALANCE`] per note its pitch class is owed (the answer played it less often
    /// than the phrase's share of its notes would have it) or minus per note it is ahead.
    pub fn bias(&self, pitch: u8) -> f32 {
        let class = usize::from(pitch % 12);
        let owed = self.classes[class] * self.notes as f32 - self.played[class] as f32;
        self.bias[usize::from(pitch & 127)] + Self::BALANCE * owed
    }
}

/// The bias that steers a count back to its target: `pull` nats per unit of imbalance that a
/// token removes (or adds), growing with the imbalance up to `cap` units. `ahead` is how far
/// the count runs ahead of its target before the token; the token adds one.
fn steer(ahead: f32, pull: f32, cap: f32) -> f32 {
    pull * (ahead.abs() - (ahead + 1.0).abs()) * ahead.abs().clamp(1.0, cap)
}

/// The pace an answer keeps, and how far it runs ahead of it or behind: a bias (times
/// [`Sampling::follow`]) on note-ons and time shifts, so an answer keeps the phrase's density
/// — a sparse answer to a busy phrase, or a flurry after a few long notes, does not follow it.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Density {
    /// Note-ons per grid step the answer aims at; 0: no phrase, no pull.
    rate: f32,
    /// Note-ons the answer has played so far.
    notes: u32,
}

impl Density {
    /// Nats per note of imbalance a token adds or removes. Each token is biased by how much
    /// nearer (or further) it takes the answer to its pace: a note-on by one note, a time
    /// shift by the notes the pace gives meanwhile. Unlike one bias on every time shift,
    /// this does not answer "too many notes" with a long rest and then a burst.
    const PULL: f32 = 3.0;
    /// The pull on a note-on grows with the imbalance up to this many notes, and a time
    /// shift's is bounded by [`Self::MAX_SHIFT_BIAS`]: a model keen on a texture (a run, a
    /// chord) is brought back within a few notes, yet can still place a note where it hears one.
    const MAX_NOTES: f32 = 3.0;
    const MAX_SHIFT_BIAS: f32 = 5.0;
    /// How far the answer's pace leans from the phrase's toward [`Self::TYPICAL_PER_BEAT`]
    /// (a share of the distance on a log scale). Real continuations do: across the tuning
    /// pieces, log notes in the next two bars follow log notes in the last two with a slope
    /// of 0.74, not 1, so a phrase's pace foretells its continuation's only in part.
    const LEAN: f32 = 0.15;
    /// Note-ons per beat in a typical two bars of the piano corpus (the geometric mean over
    /// the tuning windows).
    const TYPICAL_PER_BEAT: f32 = 5.3;

    /// From the grid steps of the context's note-ons (oldest first; the last
    /// [`Guide::NOTES`] count) and the step the context ends on.
    pub fn from_onsets(steps: &[u64], end: u64, steps_per_beat: u32) -> Self {
        let recent = &steps[steps.len().saturating_sub(Guide::NOTES)..];
        let Some(&first) = recent.first() else {
            return Self::default();
        };
        let phrase = recent.len() as f32 / end.saturating_sub(first).max(1) as f32;
        let typical = Self::TYPICAL_PER_BEAT / steps_per_beat.max(1) as f32;
        let rate = (phrase.ln() + Self::LEAN * (typical.ln() - phrase.ln())).exp();
        Self { rate, notes: 0 }
    }

    /// The answer struck a note.
    pub fn note(&mut self) {
        self.notes += 1;
    }

    /// Notes the answer has played beyond what its pace gives by grid step `step`.
    fn ahead(&self, step: u64) -> f32 {
        self.notes as f32 - self.rate * step as f32
    }

    /// Bias on every note-on at grid step `step`: negative when the answer is ahead of its
    /// pace, positive when behind.
    pub fn note_on_bias(&self, step: u64) -> f32 {
        if self.rate <= 0.0 {
            return 0.0;
        }
        steer(self.ahead(step), Self::PULL, Self::MAX_NOTES)
    }

    /// Bias on a time shift of `steps` grid steps taken at `step`: positive when waiting that
    /// long brings the answer back to its pace, negative when it overshoots.
    pub fn shift_bias(&self, step: u64, steps: u64) -> f32 {
        if self.rate <= 0.0 {
            return 0.0;
        }
        let ahead = self.ahead(step);
        let after = ahead - self.rate * steps as f32;
        (Self::PULL * (ahead.abs() - after.abs()))
            .clamp(-Self::MAX_SHIFT_BIAS, Self::MAX_SHIFT_BIAS)
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
    /// The answer's onsets, and those that repeat a pitch of the onset before.
    onsets: u32,
    repeated: u32,
    /// Step of the answer's latest onset, and whether it repeats the one before.
    current: Option<(u64, bool)>,
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
        let mut phrase = Self::default();
        let mut onsets = Onsets::default();
        for &(step, pitch) in recent {
            phrase.strike(step, onsets.previous_at(step) & (1 << (pitch & 127)) != 0);
            onsets.strike(pitch, step);
        }
        // The phrase's first onset has none before it, so it cannot repeat.
        let rate = (phrase.onsets >= Self::MIN_ONSETS)
            .then(|| phrase.repeated as f32 / (phrase.onsets - 1) as f32);
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
        let onsets = match self.current {
            Some((s, true)) if s == step => return 0.0,
            Some((s, false)) if s == step => self.onsets,
            _ => self.onsets + 1,
        };
        let ahead = self.repeated as f32 - rate * onsets as f32;
        steer(ahead, Self::PULL, Self::MAX_ONSETS)
    }

    /// A note struck at `step`; `repeat`: its pitch was struck at the onset before.
    pub fn strike(&mut self, step: u64, repeat: bool) {
        match self.current {
            Some((s, true)) if s == step => {}
            Some((s, false)) if s == step => {
                self.repeated += u32::from(repeat);
                self.current = Some((s, repeat));
            }
            _ => {
                self.onsets += 1;
                self.repeated += u32::from(repeat);
                self.current = Some((step, repeat));
            }
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

/// Scales offered by the key lock, as pitch-class sets relative to the root.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scale {
    Chromatic,
    Major,
    NaturalMinor,
    HarmonicMinor,
    Dorian,
    Mixolydian,
    MajorPentatonic,
    MinorPentatonic,
    Blues,
}

impl Scale {
    pub const ALL: [Scale; 9] = [
        Scale::Chromatic,
        Scale::Major,
        Scale::NaturalMinor,
        Scale::HarmonicMinor,
        Scale::Dorian,
        Scale::Mixolydian,
        Scale::MajorPentatonic,
        Scale::MinorPentatonic,
        Scale::Blues,
    ];

    fn intervals(self) -> &'static [u8] {
        match self {
            Scale::Chromatic => &[0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11],
            Scale::Major => &[0, 2, 4, 5, 7, 9, 11],
            Scale::NaturalMinor => &[0, 2, 3, 5, 7, 8, 10],
            Scale::HarmonicMinor => &[0, 2, 3, 5, 7, 8, 11],
            Scale::Dorian => &[0, 2, 3, 5, 7, 9, 10],
            Scale::Mixolydian => &[0, 2, 4, 5, 7, 9, 10],
            Scale::MajorPentatonic => &[0, 2, 4, 7, 9],
            Scale::MinorPentatonic => &[0, 3, 5, 7, 10],
            Scale::Blues => &[0, 3, 5, 6, 7, 10],
        }
    }

    /// Bit `pc` is set when pitch class `pc` (0 = C) belongs to this scale on `root`.
    pub fn pitch_classes(self, root: u8) -> u16 {
        self.intervals()
            .iter()
            .fold(0, |m, &i| m | 1 << ((root + i) % 12))
    }
}

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
    /// Grid step time may not pass: the end of the answer, so its last notes end on it
    /// exactly rather than a time shift beyond. `None`: open-ended.
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
            Token::TimeShift(n) => {
                let n = u64::from(n);
                let within_note = match (self.max_note_steps(decoder), decoder.longest_held()) {
                    (Some(max), Some((_, held))) => held + n <= max,
                    _ => true,
                };
                within_note && self.end_step.is_none_or(|end| decoder.step() + n <= end)
            }
            Token::Velocity(_) => true,
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

    /// Temperature alone, as sampling was before min-p.
    fn plain(temperature: f32) -> Sampling {
        Sampling {
            temperature,
            min_p: 0.0,
            repeat_penalty: 0.0,
            follow: 0.0,
        }
    }

    #[test]
    fn density_steers_back_to_its_pace_without_overshooting() {
        let none = Density::from_onsets(&[], 10, 24);
        assert_eq!((none.note_on_bias(5), none.shift_bias(5, 24)), (0.0, 0.0));
        // A note a beat (24 steps).
        let mut d = Density {
            rate: 1.0 / 24.0,
            notes: 0,
        };
        // No notes after two beats: play on, and do not wait any longer.
        assert!(d.note_on_bias(48) > 0.0);
        assert!(d.shift_bias(48, 24) < 0.0);
        for _ in 0..3 {
            d.note();
        }
        // Three notes in two beats, one ahead: no more notes now; a beat's wait brings it
        // back to the pace, two beats put it as far behind, three further.
        assert!(d.note_on_bias(48) < 0.0);
        let wait = |beats: u64| d.shift_bias(48, beats * 24);
        assert!(wait(1) > 0.0);
        assert!(
            wait(2).abs() < 1e-6 && wait(3) < 0.0,
            "overshooting is worse"
        );
        let one_ahead = d.note_on_bias(48);
        for _ in 0..10 {
            d.note();
        }
        assert!(
            d.note_on_bias(48) < one_ahead,
            "further ahead, a stronger pull"
        );
        assert_eq!(
            d.note_on_bias(48),
            -Density::PULL * Density::MAX_NOTES,
            "bounded"
        );
        assert_eq!(d.shift_bias(48, 8 * 24), Density::MAX_SHIFT_BIAS, "bounded");
    }

    #[test]
    fn the_pace_leans_from_the_phrases_toward_the_typical_one() {
        let per_beat = |steps: &[u64], end| Density::from_onsets(steps, end, 24).rate * 24.0;
        let typical = Density::TYPICAL_PER_BEAT;
        // A note a beat: a little faster, far from typical.
        let slow = per_beat(&[0, 24, 48, 72], 96);
        assert!(slow > 1.0 && slow < 1.5, "{slow}");
        // Twelve a beat: a little slower.
        let busy: Vec<u64> = (0..48).map(|i| i * 2).collect();
        let fast = per_beat(&busy, 96);
        assert!(fast < 12.0 && fast > 10.0, "{fast}");
        // Only the last Guide::NOTES notes count, from the first of them to the context's end.
        let long: Vec<u64> = (0..100).map(|i| i * 24).collect();
        let recent = per_beat(&long, 100 * 24);
        assert!((recent - slow).abs() < 1e-4, "{recent} {slow}");
        assert!(typical > 5.0);
    }

    #[test]
    fn repeats_follow_the_phrases_habit_of_striking_again() {
        assert_eq!(
            Repeats::from_notes(&[(0, 60), (24, 60)]).bias(48),
            0.0,
            "too few onsets"
        );
        // C C E E G G ...: every second onset repeats the one before (3 of 5).
        let phrase = [(0, 60), (24, 60), (48, 64), (72, 64), (96, 67), (120, 67)];
        let mut r = Repeats::from_notes(&phrase);
        assert_eq!(r.rate, Some(0.6));
        // The answer's first onset: owed 0.6 of a repeat, so a repeat is welcome.
        assert!(r.bias(0) > 0.0);
        r.strike(0, true);
        // At the next onset it is 0.2 behind; a repeat would put it 0.8 ahead.
        assert!(r.bias(24) < 0.0);
        // A chord note at an onset that already repeats changes nothing.
        assert_eq!(r.bias(0), 0.0);
        r.strike(24, false);
        r.strike(48, false);
        r.strike(72, false);
        // Four onsets, one repeat, owed 2.4 (and 3 with the next): pulled hard toward one.
        let owed = r.bias(96);
        assert!(owed > Repeats::PULL, "{owed}");
        // A phrase that never repeats pushes repeats away.
        let mut never = Repeats::from_notes(&[(0, 60), (24, 62), (48, 64), (72, 65)]);
        assert!(never.bias(0) < 0.0);
        never.strike(0, true);
        assert!(
            never.bias(24) < never.bias(0),
            "further ahead, a stronger push"
        );
    }

    #[test]
    fn the_guide_steers_the_answers_mix_of_pitch_classes_toward_the_phrases() {
        // The phrase: C and G equally often.
        let mut g = Guide::from_pitches(&[60, 67, 60, 67, 60, 67]);
        let (c, g_) = (g.bias(60), g.bias(67));
        assert!((c - g_).abs() < 1.0);
        // The answer struck C three times: G is owed, C is not.
        for _ in 0..3 {
            g.strike(60);
        }
        assert!(g.bias(67) > g_ && g.bias(60) < c);
        assert!(g.bias(67) > g.bias(60) + 3.0);
    }

    #[test]
    fn the_guide_pulls_toward_the_phrases_key_and_register() {
        assert_eq!(Guide::from_pitches(&[]), Guide::default());
        // C major around middle C.
        let g = Guide::from_pitches(&[60, 62, 64, 65, 67, 69, 71, 72, 67, 64]);
        assert!(g.bias(64) > g.bias(63), "E over E flat");
        assert!(g.bias(67) > g.bias(66), "G over F sharp");
        assert!(
            g.bias(64) > g.bias(88),
            "near the phrase over two octaves up"
        );
        assert!(g.bias(64) > g.bias(40), "and two octaves down");
        assert!(g.bias(64) > 0.0 && g.bias(61) < 0.0);
        // Only the latest notes count.
        let mut long = vec![30u8; 200];
        long.extend([60, 64, 67].repeat(30));
        let g = Guide::from_pitches(&long);
        assert!(g.bias(64) > g.bias(30));
    }

    fn greedy() -> Sampling {
        plain(0.0)
    }

    #[test]
    fn min_p_never_draws_the_unlikely_tail() {
        // p ∝ [1, 0.5, 0.04, 0.01]: with min_p 0.05, ids 2 and 3 are below 0.05 × p_max.
        let logits = [0.0f32, 0.5f32.ln(), 0.04f32.ln(), 0.01f32.ln()];
        let s = Sampling {
            temperature: 1.5,
            min_p: 0.05,
            ..plain(1.5)
        };
        let mut rng = Rng::new(9);
        let mut seen = [0u32; 4];
        for _ in 0..5_000 {
            seen[sample(&mut logits.clone(), &s, &mut rng, |_| true).unwrap()] += 1;
        }
        assert!(seen[0] > 0 && seen[1] > 0);
        assert_eq!(seen[2] + seen[3], 0, "{seen:?}");
        // Without it the tail is drawn now and then.
        let mut seen = [0u32; 4];
        for _ in 0..5_000 {
            seen[sample(&mut logits.clone(), &plain(1.5), &mut rng, |_| true).unwrap()] += 1;
        }
        assert!(seen[2] + seen[3] > 0);
        // Min-p keeps the likeliest allowed id even when the likeliest overall is masked.
        let mut l = logits;
        assert_eq!(sample(&mut l, &s, &mut rng, |i| i == 3), Some(3));
    }

    #[test]
    fn onsets_remember_the_previous_chord() {
        let mut o = Onsets::default();
        assert_eq!(o.previous_at(0), 0);
        o.strike(60, 0);
        o.strike(64, 0);
        assert_eq!(o.previous_at(0), 0, "a chord's own notes are not repeats");
        let chord = 1u128 << 60 | 1u128 << 64;
        assert_eq!(o.previous_at(5), chord);
        o.strike(62, 5);
        assert_eq!(o.previous_at(5), chord, "later notes of the same onset");
        assert_eq!(o.previous_at(9), 1u128 << 62);
    }

    #[test]
    fn zero_temperature_is_argmax_among_allowed() {
        let mut rng = Rng::new(1);
        let mut l = [1.0, 5.0, 3.0];
        assert_eq!(sample(&mut l, &greedy(), &mut rng, |i| i != 1), Some(2));
        let mut l = [1.0, 5.0, 3.0];
        assert_eq!(sample(&mut l, &plain(1.0), &mut rng, |_| false), None);
    }

    #[test]
    fn sampling_follows_softmax_and_is_seeded() {
        let mut rng = Rng::new(42);
        let mut counts = [0u32; 3];
        for _ in 0..20_000 {
            let mut l = [0.0f32, 1.0f32.ln() + 1.0, f32::NEG_INFINITY];
            // p = [1, e] / (1 + e)
            counts[sample(&mut l, &plain(1.0), &mut rng, |_| true).unwrap()] += 1;
        }
        assert_eq!(counts[2], 0);
        let p1 = f64::from(counts[1]) / 20_000.0;
        let expected = std::f64::consts::E / (1.0 + std::f64::consts::E);
        assert!((p1 - expected).abs() < 0.02, "{p1} vs {expected}");

        let draw = |seed| {
            let mut r = Rng::new(seed);
            (0..10)
                .map(|_| sample(&mut [0.0f32; 8], &plain(1.0), &mut r, |_| true).unwrap())
                .collect::<Vec<_>>()
        };
        assert_eq!(draw(3), draw(3));
        assert_ne!(draw(3), draw(4));
    }

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
        assert!(!ending.allows(Token::TimeShift(6), &d), "not past it");
        assert!(
            Constraints::default().allows(Token::TimeShift(48), &d),
            "no limit"
        );
    }
}
