//! A two-sample test: can a classifier tell one kind of passage from another?
//!
//! Cross-validated L2 logistic regression on standardized features, fitted by Newton's
//! method. Held-out accuracy near 0.5 means the two kinds look alike in these features; near
//! 1.0, that they are easy to tell apart. Small and exact rather than general: a few dozen
//! samples of a few dozen features, fitted in milliseconds, the same way for a seed.

use continuo_core::sampling::Rng;

/// One passage: the window it comes from, which kind it is, and its weight. Folds keep a
/// window's passages together, so an answer is never judged by a classifier that saw its
/// window's truth.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub group: usize,
    pub label: bool,
    pub weight: f64,
    pub features: Vec<f64>,
}

/// The L2 penalty on standardized weights, as scikit-learn's default (C = 1).
pub const L2: f64 = 1.0;
const NEWTON_STEPS: usize = 50;

/// A fitted model.
#[derive(Debug, Clone, PartialEq)]
pub struct Logistic {
    mean: Vec<f64>,
    scale: Vec<f64>,
    /// The intercept, then one weight per feature.
    beta: Vec<f64>,
}

fn sigmoid(z: f64) -> f64 {
    if z >= 0.0 {
        1.0 / (1.0 + (-z).exp())
    } else {
        let e = z.exp();
        e / (1.0 + e)
    }
}

/// log(1 + e^z) without overflow.
fn softplus(z: f64) -> f64 {
    z.max(0.0) + (-z.abs()).exp().ln_1p()
}

impl Logistic {
    /// Fits `samples` (at least one, all with the same number of features) with penalty
    /// `l2` on the feature weights (not the intercept).
    pub fn fit(samples: &[&Sample], l2: f64) -> Self {
        let d = samples[0].features.len();
        let total: f64 = samples.iter().map(|s| s.weight).sum();
        let mut mean = vec![0.0; d];
        for s in samples {
            for (m, x) in mean.iter_mut().zip(&s.features) {
                *m += s.weight * x / total;
            }
        }
        let mut var = vec![0.0; d];
        for s in samples {
            for ((v, x), m) in var.iter_mut().zip(&s.features).zip(&mean) {
                *v += s.weight * (x - m).powi(2) / total;
            }
        }
        // A feature constant in training carries nothing; it is left centred at 0.
        let scale = var
            .into_iter()
            .map(|v| if v > 1e-12 { v.sqrt() } else { 1.0 })
            .collect();
        let mut model = Self {
            mean,
            scale,
            beta: vec![0.0; d + 1],
        };
        let rows: Vec<Vec<f64>> = samples.iter().map(|s| model.row(&s.features)).collect();
        let objective = |beta: &[f64]| -> f64 {
            let loss: f64 = samples
                .iter()
                .zip(&rows)
                .map(|(s, x)| {
                    let z = dot(beta, x);
                    s.weight * softplus(if s.label { -z } else { z })
                })
                .sum();
            loss + 0.5 * l2 * beta[1..].iter().map(|b| b * b).sum::<f64>()
        };
        let mut current = objective(&model.beta);
        for _ in 0..NEWTON_STEPS {
            let mut gradient = vec![0.0; d + 1];
            let mut hessian = vec![vec![0.0; d + 1]; d + 1];
            for (s, x) in samples.iter().zip(&rows) {
                let p = sigmoid(dot(&model.beta, x));
                let residual = s.weight * (p - f64::from(u8::from(s.label)));
                let curvature = s.weight * p * (1.0 - p);
                for i in 0..=d {
                    gradient[i] += residual * x[i];
                    for j in 0..=i {
                        hessian[i][j] += curvature * x[i] * x[j];
                    }
                }
            }
            // Only the lower triangle is filled: it is all `solve` reads.
            for i in 0..=d {
                let penalty = if i == 0 { 1e-9 } else { l2 };
                gradient[i] += if i == 0 { 0.0 } else { l2 * model.beta[i] };
                hessian[i][i] += penalty;
            }
            let Some(step) = solve(hessian, &gradient) else {
                break;
            };
            // Newton's step, halved until it does not make things worse.
            let mut t = 1.0;
            let mut improved = false;
            for _ in 0..30 {
                let trial: Vec<f64> = model
                    .beta
                    .iter()
                    .zip(&step)
                    .map(|(b, s)| b - t * s)
                    .collect();
                let value = objective(&trial);
                if value <= current {
                    improved = current - value > 1e-12 * (1.0 + current.abs());
                    model.beta = trial;
                    current = value;
                    break;
                }
                t /= 2.0;
            }
            if !improved {
                break;
            }
        }
        model
    }

    /// 1 (the intercept's input), then the standardized features.
    fn row(&self, features: &[f64]) -> Vec<f64> {
        std::iter::once(1.0)
            .chain(
                features
                    .iter()
                    .zip(self.mean.iter().zip(&self.scale))
                    .map(|(x, (m, s))| (x - m) / s),
            )
            .collect()
    }

    /// The probability that `features` are of the `true` kind.
    pub fn probability(&self, features: &[f64]) -> f64 {
        sigmoid(dot(&self.beta, &self.row(features)))
    }
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// Solves `a x = b` for a symmetric positive definite `a`, given by its lower triangle
/// (Cholesky); `None` if it is not positive definite.
fn solve(mut a: Vec<Vec<f64>>, b: &[f64]) -> Option<Vec<f64>> {
    let n = b.len();
    for j in 0..n {
        let diagonal = a[j][j] - (0..j).map(|k| a[j][k] * a[j][k]).sum::<f64>();
        if diagonal <= 0.0 || !diagonal.is_finite() {
            return None;
        }
        a[j][j] = diagonal.sqrt();
        for i in j + 1..n {
            let off = a[i][j] - (0..j).map(|k| a[i][k] * a[j][k]).sum::<f64>();
            a[i][j] = off / a[j][j];
        }
    }
    let mut y = vec![0.0; n];
    for i in 0..n {
        y[i] = (b[i] - (0..i).map(|k| a[i][k] * y[k]).sum::<f64>()) / a[i][i];
    }
    let mut x = vec![0.0; n];
    for i in (0..n).rev() {
        x[i] = (y[i] - (i + 1..n).map(|k| a[k][i] * x[k]).sum::<f64>()) / a[i][i];
    }
    Some(x)
}

/// Each sample's held-out probability of the `true` kind under `folds`-fold
/// cross-validation, with the groups dealt to folds in an order drawn from `seed`: the
/// probability a classifier fitted without the sample's group gives it. `None` with fewer
/// than two groups or with a kind missing; a sample's own `None` where its fold left a
/// training set of one kind only. Weight each kind equally within a group, and every fold
/// is stratified.
pub fn held_out_probabilities(
    samples: &[Sample],
    folds: usize,
    seed: u64,
) -> Option<Vec<Option<f64>>> {
    let mut groups: Vec<usize> = samples.iter().map(|s| s.group).collect();
    groups.sort_unstable();
    groups.dedup();
    let has = |label: bool| samples.iter().any(|s| s.label == label);
    if groups.len() < 2 || !has(true) || !has(false) {
        return None;
    }
    // A seeded Fisher–Yates shuffle, then groups dealt round-robin.
    let mut rng = Rng::new(seed);
    for i in (1..groups.len()).rev() {
        groups.swap(i, rng.below(i as u64 + 1) as usize);
    }
    let folds = folds.clamp(2, groups.len());
    let fold_of = |group: usize| groups.iter().position(|&g| g == group).expect("a group") % folds;
    let mut probabilities = vec![None; samples.len()];
    for fold in 0..folds {
        let train: Vec<&Sample> = samples
            .iter()
            .filter(|s| fold_of(s.group) != fold)
            .collect();
        if train.iter().all(|s| s.label) || train.iter().all(|s| !s.label) {
            continue;
        }
        let model = Logistic::fit(&train, L2);
        for (p, s) in probabilities.iter_mut().zip(samples) {
            if fold_of(s.group) == fold {
                *p = Some(model.probability(&s.features));
            }
        }
    }
    Some(probabilities)
}

/// Weighted accuracy of held-out `probabilities` (one per sample, from
/// [`held_out_probabilities`]), a sample told as the `true` kind at a probability of 0.5 or
/// more; `None` where no sample has one.
pub fn accuracy(samples: &[Sample], probabilities: &[Option<f64>]) -> Option<f64> {
    let (mut right, mut total) = (0.0, 0.0);
    for (s, p) in samples.iter().zip(probabilities) {
        if let Some(p) = p {
            right += s.weight * f64::from(u8::from((*p >= 0.5) == s.label));
            total += s.weight;
        }
    }
    (total > 0.0).then(|| right / total)
}

/// Weighted held-out accuracy of `folds`-fold cross-validation. `None` with fewer than two
/// groups, or with a kind missing.
pub fn cross_validated_accuracy(samples: &[Sample], folds: usize, seed: u64) -> Option<f64> {
    accuracy(samples, &held_out_probabilities(samples, folds, seed)?)
}

/// [`held_out_probabilities`] for `dealings` deals of the groups to folds, from seeds
/// `seed`, `seed + 1`, …; deals that cannot be fitted are left out. Which windows share a
/// fold moves a single dealing's accuracy: by up to 0.04 between seeds for the same answers
/// on the check's sets, as much as many a change of settings did.
pub fn held_out_deals(
    samples: &[Sample],
    folds: usize,
    dealings: usize,
    seed: u64,
) -> Vec<Vec<Option<f64>>> {
    (0..dealings.max(1) as u64)
        .filter_map(|d| held_out_probabilities(samples, folds, seed.wrapping_add(d)))
        .collect()
}

/// The [`accuracy`] of each of `deals` (from [`held_out_deals`]), averaged.
pub fn mean_accuracy(samples: &[Sample], deals: &[Vec<Option<f64>>]) -> Option<f64> {
    let runs: Vec<f64> = deals.iter().filter_map(|p| accuracy(samples, p)).collect();
    (!runs.is_empty()).then(|| runs.iter().sum::<f64>() / runs.len() as f64)
}

/// [`cross_validated_accuracy`] averaged over `dealings` deals ([`held_out_deals`]).
pub fn mean_cross_validated_accuracy(
    samples: &[Sample],
    folds: usize,
    dealings: usize,
    seed: u64,
) -> Option<f64> {
    mean_accuracy(samples, &held_out_deals(samples, folds, dealings, seed))
}

/// Each sample's probability in `deals` (from [`held_out_deals`]), averaged over the deals
/// that gave it one; `None` without a deal.
pub fn mean_probabilities(deals: &[Vec<Option<f64>>]) -> Option<Vec<Option<f64>>> {
    let first = deals.first()?;
    Some(
        (0..first.len())
            .map(|i| {
                let known: Vec<f64> = deals.iter().filter_map(|d| d[i]).collect();
                (!known.is_empty()).then(|| known.iter().sum::<f64>() / known.len() as f64)
            })
            .collect(),
    )
}

/// How one feature differs between two kinds of passage.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Gap {
    /// The gap between the kinds' weighted means over their pooled standard deviation
    /// (Cohen's d); 0 where both kinds hold the feature constant, or a kind is empty.
    pub effect: f64,
    pub mean_a: f64,
    pub mean_b: f64,
}

/// Each feature's [`Gap`] between kinds `a` and `b`. Where the classifier says how well the
/// kinds are told apart, this says by what.
pub fn feature_gaps(a: &[Sample], b: &[Sample]) -> Vec<Gap> {
    let Some(d) = a.first().or(b.first()).map(|s| s.features.len()) else {
        return Vec::new();
    };
    let weight = |samples: &[Sample]| samples.iter().map(|s| s.weight).sum::<f64>();
    let (total_a, total_b) = (weight(a), weight(b));
    let moments = |samples: &[Sample], total: f64, i: usize| {
        if total <= 0.0 {
            return None;
        }
        let mean = samples
            .iter()
            .map(|s| s.weight * s.features[i])
            .sum::<f64>()
            / total;
        let var = samples
            .iter()
            .map(|s| s.weight * (s.features[i] - mean).powi(2))
            .sum::<f64>()
            / total;
        Some((mean, var))
    };
    (0..d)
        .map(|i| match (moments(a, total_a, i), moments(b, total_b, i)) {
            (Some((mean_a, va)), Some((mean_b, vb))) => Gap {
                effect: if va + vb > 0.0 {
                    (mean_a - mean_b) / ((va + vb) / 2.0).sqrt()
                } else {
                    0.0
                },
                mean_a,
                mean_b,
            },
            _ => Gap::default(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `n` groups, each with one sample of each kind: features drawn around `shift` for the
    /// `true` kind and around 0 for the other.
    fn two_kinds(n: usize, dims: usize, shift: f64, seed: u64) -> Vec<Sample> {
        let mut rng = Rng::new(seed);
        let mut noise = move || rng.next_f64() * 2.0 - 1.0;
        (0..n)
            .flat_map(|group| {
                [true, false].map(|label| Sample {
                    group,
                    label,
                    weight: 1.0,
                    features: (0..dims)
                        .map(|i| noise() + if label && i == 0 { shift } else { 0.0 })
                        .collect(),
                })
            })
            .collect()
    }

    #[test]
    fn separable_kinds_are_told_apart() {
        let samples = two_kinds(40, 5, 3.0, 1);
        let accuracy = cross_validated_accuracy(&samples, 5, 7).unwrap();
        assert_eq!(accuracy, 1.0);
    }

    #[test]
    fn the_same_distribution_is_a_coin_toss() {
        for seed in 1..=3 {
            let samples = two_kinds(100, 5, 0.0, seed);
            let accuracy = cross_validated_accuracy(&samples, 5, 7).unwrap();
            assert!((0.4..=0.6).contains(&accuracy), "{accuracy}");
        }
    }

    #[test]
    fn overlapping_kinds_fall_in_between_and_the_seed_fixes_the_result() {
        let samples = two_kinds(100, 5, 1.0, 2);
        let accuracy = cross_validated_accuracy(&samples, 5, 7).unwrap();
        assert!((0.6..0.9).contains(&accuracy), "{accuracy}");
        assert_eq!(Some(accuracy), cross_validated_accuracy(&samples, 5, 7));
    }

    #[test]
    fn held_out_probabilities_say_how_surely_each_sample_is_told() {
        let samples = two_kinds(40, 3, 4.0, 5);
        let p = held_out_probabilities(&samples, 5, 1).unwrap();
        assert!(p.iter().all(Option::is_some));
        for (s, p) in samples.iter().zip(&p) {
            let p = p.unwrap();
            assert!((0.0..=1.0).contains(&p));
            assert_eq!(p >= 0.5, s.label, "far apart, each is told as its kind");
        }
        let mean = mean_probabilities(&held_out_deals(&samples, 5, 4, 1)).unwrap();
        assert_eq!(mean.len(), samples.len());
        let one_kind: Vec<Sample> = samples.iter().filter(|s| s.label).cloned().collect();
        assert_eq!(held_out_probabilities(&one_kind, 5, 1), None);
    }

    #[test]
    fn dealings_average_what_single_dealings_say() {
        let samples = two_kinds(30, 4, 0.7, 5);
        let one = |seed| cross_validated_accuracy(&samples, 5, seed).unwrap();
        assert_eq!(
            mean_cross_validated_accuracy(&samples, 5, 1, 7),
            Some(one(7))
        );
        let singles: Vec<f64> = (7..11).map(one).collect();
        let mean = mean_cross_validated_accuracy(&samples, 5, 4, 7).unwrap();
        assert!((mean - singles.iter().sum::<f64>() / 4.0).abs() < 1e-12);
        assert_eq!(mean_cross_validated_accuracy(&samples[..2], 5, 4, 7), None);
    }

    #[test]
    fn a_fit_learns_the_direction_and_ignores_constant_features() {
        let mut samples = two_kinds(30, 2, 4.0, 3);
        for s in &mut samples {
            s.features.push(5.0);
        }
        let refs: Vec<&Sample> = samples.iter().collect();
        let model = Logistic::fit(&refs, L2);
        assert!(model.probability(&[4.0, 0.0, 5.0]) > 0.9);
        assert!(model.probability(&[0.0, 0.0, 5.0]) < 0.1);
        assert!(model.beta.iter().all(|b| b.is_finite()));
    }

    #[test]
    fn weights_count_and_too_little_data_gives_none() {
        // Three answers of weight 1/3 each per window against one truth: still balanced.
        let mut samples = two_kinds(30, 3, 4.0, 4);
        let extra: Vec<Sample> = samples.iter().filter(|s| s.label).cloned().collect();
        for s in samples.iter_mut().filter(|s| s.label) {
            s.weight = 1.0 / 3.0;
        }
        samples.extend(extra.into_iter().flat_map(|s| {
            let mut s = s;
            s.weight = 1.0 / 3.0;
            [s.clone(), s]
        }));
        assert_eq!(cross_validated_accuracy(&samples, 5, 1), Some(1.0));
        assert_eq!(cross_validated_accuracy(&samples[..2], 5, 1), None);
        let one_kind: Vec<Sample> = samples.iter().filter(|s| s.label).cloned().collect();
        assert_eq!(cross_validated_accuracy(&one_kind, 5, 1), None);
        assert!(solve(vec![vec![-1.0]], &[1.0]).is_none());
        assert_eq!(
            solve(vec![vec![4.0, 2.0], vec![2.0, 3.0]], &[2.0, 1.0]),
            Some(vec![0.5, 0.0])
        );
    }

    #[test]
    fn differences_say_which_feature_tells_the_kinds_apart_and_which_way() {
        let sample = |label, features: [f64; 3]| Sample {
            group: 0,
            label,
            weight: 1.0,
            features: features.to_vec(),
        };
        // Feature 0 higher in `a` by its spread, 1 the same in both, 2 constant.
        let a = [sample(true, [1.0, 0.0, 5.0]), sample(true, [3.0, 1.0, 5.0])];
        let b = [
            sample(false, [-1.0, 0.0, 5.0]),
            sample(false, [1.0, 1.0, 5.0]),
        ];
        let effects = |a, b| {
            feature_gaps(a, b)
                .iter()
                .map(|g| g.effect)
                .collect::<Vec<_>>()
        };
        assert_eq!(effects(&a, &b), [2.0, 0.0, 0.0]);
        assert_eq!(effects(&b, &a), [-2.0, 0.0, 0.0]);
        assert_eq!(feature_gaps(&a, &b)[0].mean_a, 2.0);
        assert_eq!(feature_gaps(&a, &b)[0].mean_b, 0.0);
        assert!(feature_gaps(&[], &[]).is_empty());
        assert_eq!(feature_gaps(&a, &[]), [Gap::default(); 3]);
    }
}
