//! Allocation-free sampling from model logits with musical constraints.
//!
//! Everything here runs on the plugin's inference thread for every generated token, so it
//! works in place on the logits buffer and never allocates.

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
    /// Onsets per beat against the phrase's, in octaves (−1: half as many, 1: twice as many);
    /// what *Follow phrase* steers the pace toward.
    #[serde(default)]
    pub density: f32,
    /// Notes per onset against the phrase's, in octaves (−1: half as many, never below one
    /// note; 1: twice as many); what *Follow phrase* steers chords toward.
    #[serde(default)]
    pub polyphony: f32,
    /// *Learn from me* (0..1): how far the answer draws on the player's phrases, the one it
    /// answers included, through a [`crate::memory::Memory`] of them mixed in at
    /// [`crate::memory::weight`] of this. 0: the network and the steering alone, bit for bit.
    #[serde(default)]
    pub learn: f32,
}

impl Sampling {
    pub const DEFAULT_TEMPERATURE: f32 = 1.1;
    pub const DEFAULT_MIN_P: f32 = 0.02;
    pub const DEFAULT_REPEAT_PENALTY: f32 = 0.0;
    /// Where answers were hardest to tell from the music on all three check sets with the
    /// lighter pitch-class guide (docs/decisions/steering.md).
    pub const DEFAULT_FOLLOW: f32 = 0.5;
    /// Half way: an answer takes up the rhythm and figures of the phrases it learned (the
    /// phrase it answers among them) without playing them back; see
    /// docs/measurements/learning.md and the continuation check.
    pub const DEFAULT_LEARN: f32 = 0.5;
    /// The ranges a player and the trainer's flags may set.
    pub const TEMPERATURE: (f32, f32) = (0.0, 2.0);
    pub const MIN_P: (f32, f32) = (0.0, 0.5);
    pub const REPEAT_PENALTY: (f32, f32) = (0.0, 4.0);
    pub const FOLLOW: (f32, f32) = (0.0, 3.0);
    pub const DENSITY: (f32, f32) = (-1.0, 1.0);
    pub const POLYPHONY: (f32, f32) = (-1.0, 1.0);
    pub const LEARN: (f32, f32) = (0.0, 1.0);
}

/// A setting given as text (a command-line flag) that is not a number, or is outside the
/// range the setting takes.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SettingError {
    #[error("{text:?} is not a number")]
    NotANumber { text: String },
    #[error("{value} is not within {min}..={max}")]
    OutOfRange { value: f64, min: f64, max: f64 },
}

/// `text` as a finite number within `min..=max` (a range such as [`Sampling::TEMPERATURE`]):
/// what every command line checks a bounded setting with, as the plugin's parameters bound it.
pub fn parse_within<T>(text: &str, (min, max): (T, T)) -> Result<T, SettingError>
where
    T: std::str::FromStr + PartialOrd + Copy + Into<f64>,
{
    let value: T = text.trim().parse().map_err(|_| SettingError::NotANumber {
        text: text.to_owned(),
    })?;
    if value.into().is_finite() && (min..=max).contains(&value) {
        Ok(value)
    } else {
        Err(SettingError::OutOfRange {
            value: value.into(),
            min: min.into(),
            max: max.into(),
        })
    }
}

/// [`parse_within`] as a parser of one setting's flag (a clap `value_parser`).
pub fn within<T>(range: (T, T)) -> impl Fn(&str) -> Result<T, SettingError> + Clone
where
    T: std::str::FromStr + PartialOrd + Copy + Into<f64> + Send + Sync + 'static,
{
    move |text: &str| parse_within(text, range)
}

/// How notes are drawn; the defaults are the plugin's.
#[cfg(feature = "cli")]
#[derive(clap::Args)]
pub struct SamplingArgs {
    #[arg(long, default_value_t = Sampling::DEFAULT_TEMPERATURE, value_parser = within(Sampling::TEMPERATURE))]
    temperature: f32,
    /// Never draw a token less likely than this share of the likeliest one (0: off).
    #[arg(long, default_value_t = Sampling::DEFAULT_MIN_P, value_parser = within(Sampling::MIN_P))]
    min_p: f32,
    /// Logit penalty on striking the previous onset's pitch again (0: off).
    #[arg(long, default_value_t = Sampling::DEFAULT_REPEAT_PENALTY, value_parser = within(Sampling::REPEAT_PENALTY))]
    repeat_penalty: f32,
    /// Pull toward the prompt's pitch classes, register, pace, chords, grid and repeats (0: off).
    #[arg(long, default_value_t = Sampling::DEFAULT_FOLLOW, value_parser = within(Sampling::FOLLOW))]
    follow: f32,
    /// Onsets per beat against the prompt's, in octaves (-1: half, 1: twice), under --follow.
    #[arg(long, default_value_t = 0.0, value_parser = within(Sampling::DENSITY), allow_hyphen_values = true)]
    density: f32,
    /// Notes per onset against the prompt's, in octaves (-1: half, 1: twice), under --follow.
    #[arg(long, default_value_t = 0.0, value_parser = within(Sampling::POLYPHONY), allow_hyphen_values = true)]
    polyphony: f32,
    /// Learn from me: how far the answer draws on the phrase it answers, through the memory
    /// the plugin learns the player's phrases into (0: the network and the steering alone).
    #[arg(long, default_value_t = Sampling::DEFAULT_LEARN, value_parser = within(Sampling::LEARN))]
    learn_from_me: f32,
}

#[cfg(feature = "cli")]
impl From<SamplingArgs> for Sampling {
    fn from(a: SamplingArgs) -> Self {
        Sampling {
            temperature: a.temperature,
            min_p: a.min_p,
            repeat_penalty: a.repeat_penalty,
            follow: a.follow,
            density: a.density,
            polyphony: a.polyphony,
            learn: a.learn_from_me,
        }
    }
}

impl Default for Sampling {
    fn default() -> Self {
        Self {
            temperature: Self::DEFAULT_TEMPERATURE,
            min_p: Self::DEFAULT_MIN_P,
            repeat_penalty: Self::DEFAULT_REPEAT_PENALTY,
            follow: Self::DEFAULT_FOLLOW,
            density: 0.0,
            polyphony: 0.0,
            learn: Self::DEFAULT_LEARN,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_setting_is_a_finite_number_within_its_range() {
        assert_eq!(parse_within("1.5", Sampling::TEMPERATURE), Ok(1.5));
        assert_eq!(parse_within(" 2 ", Sampling::TEMPERATURE), Ok(2.0));
        assert_eq!(parse_within("-1", Sampling::DENSITY), Ok(-1.0));
        assert_eq!(parse_within("16", (1u32, 16)), Ok(16));
        let err = parse_within("2.5", Sampling::TEMPERATURE).unwrap_err();
        assert_eq!(err.to_string(), "2.5 is not within 0..=2");
        for bad in ["NaN", "inf", "-0.1"] {
            assert!(parse_within(bad, Sampling::TEMPERATURE).is_err(), "{bad}");
        }
        assert_eq!(
            parse_within("fast", Sampling::TEMPERATURE),
            Err(SettingError::NotANumber {
                text: "fast".into()
            })
        );
        assert!(parse_within("0", (1u32, 16)).is_err());
    }

    /// Temperature alone, as sampling was before min-p.
    fn plain(temperature: f32) -> Sampling {
        Sampling {
            temperature,
            min_p: 0.0,
            repeat_penalty: 0.0,
            follow: 0.0,
            ..Sampling::default()
        }
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
}
