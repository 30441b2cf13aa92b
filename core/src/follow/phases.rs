//! The phrase's grid: where in the beat its onsets fall.

/// Where in the beat the phrase strikes: a bias (times [`Sampling::follow`](crate::sampling::Sampling)) against starting
/// an onset where the phrase never does, and against waiting until there, so a 16th-note
/// phrase is answered on 16ths and a triplet phrase on triplets, not on a grid shifted by a
/// step.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Phases {
    /// Log share of the phrase's onsets at each step of the beat, against the commonest
    /// (≤ 0); all 0 without a phrase.
    bias: [f32; Self::MAX_STEPS],
    /// At the steps that subdivide the phrase's grid where it never strikes (its 8ths between
    /// quarters, 16ths between 8ths, triplets in a swung 8th): the share an answer twice as
    /// dense as the phrase gains there, the phrase's mean; 0 elsewhere.
    finer: [f32; Self::MAX_STEPS],
    /// The (smoothed) share of a place the phrase never strikes.
    unstruck: f32,
    steps_per_beat: u32,
    /// Grid step of the answer's step 0.
    origin: i64,
}

impl Default for Phases {
    fn default() -> Self {
        Self {
            bias: [0.0; Self::MAX_STEPS],
            finer: [0.0; Self::MAX_STEPS],
            unstruck: 1.0,
            steps_per_beat: 0,
            origin: 0,
        }
    }
}

impl Phases {
    /// Grids finer than this are not followed.
    const MAX_STEPS: usize = 96;
    /// Pseudo-onsets at every step of the beat, so that a short phrase does not forbid what
    /// it merely did not play.
    const SMOOTHING: f32 = 0.5;
    /// Nats per unit of log share: a position the phrase strikes a tenth as often as its
    /// commonest is held back by 11.5 nats (times *Follow phrase*). Weaker grids let the
    /// model's own drift through: the answers' onsets matched the truth's positions in the
    /// beat less well than with no steering at all.
    pub(super) const SHARPNESS: f32 = 5.0;
    /// The most a note is held back for an unheard position (nats).
    pub(super) const MAX_PENALTY: f32 = 15.0;
    /// Share of [`Self::bias`] that a wait gets for where it lands ([`Self::share_out_waits`]).
    /// At 0.5 the waltz and the barcarolle kept their grid throughout, but a swung line and
    /// the boogie lost theirs (docs/decisions/steering.md).
    pub(super) const WAIT_SHARE: f32 = 0.25;

    /// From the steps of the context's note-ons (from `origin`, the grid step of the
    /// context's step 0), for an answer whose step 0 is grid step `answer_origin`.
    pub fn from_onsets(
        steps: &[u64],
        origin: i64,
        steps_per_beat: u32,
        answer_origin: i64,
    ) -> Self {
        let spb = steps_per_beat as usize;
        if steps.is_empty() || spb == 0 || spb > Self::MAX_STEPS {
            return Self::default();
        }
        let mut counts = [0f32; Self::MAX_STEPS];
        let mut latest = None;
        for &s in steps {
            if latest != Some(s) {
                let phase = (origin + s as i64).rem_euclid(spb as i64) as usize;
                counts[phase] += 1.0;
                latest = Some(s);
            }
        }
        let most = counts[..spb].iter().copied().fold(0.0, f32::max) + Self::SMOOTHING;
        let mut bias = [0f32; Self::MAX_STEPS];
        for (b, c) in bias.iter_mut().zip(&counts).take(spb) {
            *b = Self::log_share((c + Self::SMOOTHING) / most);
        }
        let struck: Vec<usize> = (0..spb).filter(|&p| counts[p] > 0.0).collect();
        let mean = struck.iter().map(|&p| counts[p]).sum::<f32>() / struck.len() as f32;
        let mut finer = [0f32; Self::MAX_STEPS];
        if let Some(unit) = Self::finer_unit(&struck, spb) {
            for k in 0..spb / unit {
                let p = (struck[0] + k * unit) % spb;
                if counts[p] == 0.0 {
                    finer[p] = mean / most;
                }
            }
        }
        Self {
            bias,
            finer,
            unstruck: Self::SMOOTHING / most,
            steps_per_beat,
            origin: answer_origin,
        }
    }

    /// The bias of a place with `share` of the phrase's onsets against its commonest.
    fn log_share(share: f32) -> f32 {
        (Self::SHARPNESS * share.ln()).max(-Self::MAX_PENALTY)
    }

    /// The step of the grid an answer denser than the phrase subdivides it into: the
    /// greatest common step of the gaps between the places the phrase strikes (`struck`,
    /// ascending, within a beat of `spb` steps), halved where they are all that step (8ths
    /// into 16ths, a swung 8th's long and short gaps into triplets). `None` finer than a 32nd.
    fn finer_unit(struck: &[usize], spb: usize) -> Option<usize> {
        fn gcd(a: usize, b: usize) -> usize {
            if b == 0 {
                a
            } else {
                gcd(b, a % b)
            }
        }
        let (&first, &last) = (struck.first()?, struck.last()?);
        let wrap = first + spb - last;
        let gaps = struck.windows(2).map(|w| w[1] - w[0]).chain([wrap]);
        let step = gaps.clone().fold(0, gcd);
        let unit = if gaps.clone().all(|g| g == step) {
            (step % 2 == 0).then_some(step / 2)?
        } else {
            step
        };
        (unit * 8 >= spb).then_some(unit)
    }

    /// How often the phrase strikes at the answer's step `step`'s place in the beat, against
    /// its commonest place (smoothed, `0..=1`); 1 without a phrase. At a `pace` above 1 (the
    /// onsets per beat asked for, against the phrase's) the grid's subdivisions gain up to the
    /// phrase's mean share, reached at twice the phrase's pace.
    pub fn share(&self, step: u64, pace: f32) -> f32 {
        (self.bias(step, pace) / Self::SHARPNESS).exp()
    }

    /// Shares out among the waits (`shifts`, the time-shift logits: `shifts[k]` waits `k + 1`
    /// steps from the answer's step `step`) the probability the model gives to waiting, by
    /// where each lands: toward the places the phrase strikes, `weight` (*Follow phrase*)
    /// times [`Self::WAIT_SHARE`] of the onset's bias there. The model places its next onset
    /// when it chooses how long to wait; held back only on the note-on, it had waited to a
    /// place off the phrase's grid and struck there anyway (a waltz answered with 8ths off
    /// the beat). Whether to wait at all stays the model's and the pace's, so a note may
    /// still end off the grid; biasing each wait on its own instead pushed what it took
    /// from waiting into thicker chords.
    pub fn share_out_waits(&self, shifts: &mut [f32], step: u64, weight: f32, pace: f32) {
        if self.steps_per_beat == 0 || weight <= 0.0 {
            return;
        }
        let before = super::log_sum_exp(shifts);
        let pull = weight * Self::WAIT_SHARE;
        for (k, l) in shifts.iter_mut().enumerate() {
            *l += pull * self.bias(step + k as u64 + 1, pace);
        }
        let moved = super::log_sum_exp(shifts) - before;
        if moved.is_finite() {
            for l in shifts.iter_mut() {
                *l -= moved;
            }
        }
    }

    /// Bias on starting an onset at the answer's step `step`, at `pace` (see [`Self::share`]).
    pub fn bias(&self, step: u64, pace: f32) -> f32 {
        if self.steps_per_beat == 0 {
            return 0.0;
        }
        let phase = (self.origin + step as i64).rem_euclid(i64::from(self.steps_per_beat));
        let phase = phase as usize;
        // At or below the phrase's pace, and off the subdivisions, the table alone.
        let gain = (pace - 1.0).clamp(0.0, 1.0) * self.finer[phase];
        if gain > 0.0 {
            Self::log_share(self.unstruck + gain)
        } else {
            self.bias[phase]
        }
    }
}
