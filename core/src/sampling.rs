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

/// Draws a token id from `logits` at `temperature`, considering only ids where `allowed` is
/// true. Temperature ≤ 0 picks the most likely allowed id. Overwrites `logits`.
/// Returns `None` if nothing is allowed.
pub fn sample(
    logits: &mut [f32],
    temperature: f32,
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
    if temperature <= 1e-4 {
        return Some(argmax);
    }
    let inv_t = 1.0 / temperature;
    let mut total = 0.0f64;
    for (i, l) in logits.iter_mut().enumerate() {
        *l = if allowed(i) && l.is_finite() {
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
        }
    }
}

impl Constraints {
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
            Token::TimeShift(n) => match (self.max_note_steps(decoder), decoder.longest_held()) {
                (Some(max), Some((_, held))) => held + u64::from(n) <= max,
                _ => true,
            },
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

    #[test]
    fn zero_temperature_is_argmax_among_allowed() {
        let mut rng = Rng::new(1);
        let mut l = [1.0, 5.0, 3.0];
        assert_eq!(sample(&mut l, 0.0, &mut rng, |i| i != 1), Some(2));
        let mut l = [1.0, 5.0, 3.0];
        assert_eq!(sample(&mut l, 1.0, &mut rng, |_| false), None);
    }

    #[test]
    fn sampling_follows_softmax_and_is_seeded() {
        let mut rng = Rng::new(42);
        let mut counts = [0u32; 3];
        for _ in 0..20_000 {
            let mut l = [0.0f32, 1.0f32.ln() + 1.0, f32::NEG_INFINITY];
            // p = [1, e] / (1 + e)
            counts[sample(&mut l, 1.0, &mut rng, |_| true).unwrap()] += 1;
        }
        assert_eq!(counts[2], 0);
        let p1 = f64::from(counts[1]) / 20_000.0;
        let expected = std::f64::consts::E / (1.0 + std::f64::consts::E);
        assert!((p1 - expected).abs() < 0.02, "{p1} vs {expected}");

        let draw = |seed| {
            let mut r = Rng::new(seed);
            (0..10)
                .map(|_| sample(&mut [0.0f32; 8], 1.0, &mut r, |_| true).unwrap())
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
        assert!(
            Constraints::default().allows(Token::TimeShift(48), &d),
            "no limit"
        );
    }
}
