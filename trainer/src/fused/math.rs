//! Element-wise kernels of the fused GRU, written so the compiler vectorises them: no calls
//! into libm inside the per-element loops (a scalar `expf` per gate costs as much as the
//! matrix products at this model size).

const LOG2_E: f32 = std::f32::consts::LOG2_E;
/// 1.5 · 2²³: adding it rounds to an integer and leaves that integer in the low mantissa bits.
const ROUND_MAGIC: f32 = 12_582_912.0;

/// `eˣ` within about 2e-7 relative error over the range that does not overflow f32.
#[inline(always)]
pub fn exp(x: f32) -> f32 {
    let x = x.clamp(-87.0, 88.0);
    let t = x * LOG2_E;
    let shifted = t + ROUND_MAGIC;
    let n = shifted - ROUND_MAGIC;
    // x − n·ln2 in two parts (Cody–Waite), exact enough for large |x|.
    let f = x - n * 0.693_359_4 + n * 2.121_944_4e-4;
    // eᶠ for |f| ≤ ln2/2: Taylor to degree 7, truncation error below 1e-8.
    let p = 1.0
        + f * (1.0
            + f * (0.5
                + f * (1.0 / 6.0
                    + f * (1.0 / 24.0
                        + f * (1.0 / 120.0 + f * (1.0 / 720.0 + f * (1.0 / 5040.0)))))));
    let exponent = shifted.to_bits().wrapping_sub(ROUND_MAGIC.to_bits());
    f32::from_bits(exponent.wrapping_add(127) << 23) * p
}

#[inline(always)]
pub fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + exp(-x))
}

#[inline(always)]
pub fn tanh(x: f32) -> f32 {
    2.0 / (1.0 + exp(-2.0 * x)) - 1.0
}

/// `dst[j] += Σ_rows m[row, j]` for a row-major `[rows, dst.len()]` matrix.
pub fn add_column_sums(dst: &mut [f32], m: &[f32]) {
    for row in m.chunks_exact(dst.len()) {
        for (d, &v) in dst.iter_mut().zip(row) {
            *d += v;
        }
    }
}

/// Softmax cross-entropy of each row of `logits` (`[rows, vocab]`) against `targets`.
/// Returns the summed loss (nats). With `scale`, each row is replaced by the gradient of
/// `scale · loss` with respect to it: `scale · (softmax − onehot)`.
pub fn cross_entropy(
    logits: &mut [f32],
    vocab: usize,
    targets: &[usize],
    scale: Option<f32>,
) -> f64 {
    let mut total = 0.0f64;
    for (row, &target) in logits.chunks_exact_mut(vocab).zip(targets) {
        let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let target_logit = row[target] - max;
        let mut sum = 0.0f32;
        for v in row.iter_mut() {
            *v = exp(*v - max);
            sum += *v;
        }
        total += f64::from(sum.ln() - target_logit);
        if let Some(scale) = scale {
            let k = scale / sum;
            for v in row.iter_mut() {
                *v *= k;
            }
            row[target] -= scale;
        }
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exp_sigmoid_tanh_match_the_standard_library() {
        for i in -4000..=4000 {
            let x = i as f32 * 0.01;
            let rel = (exp(x) - x.exp()).abs() / x.exp();
            assert!(rel < 5e-7, "exp({x}): {rel}");
            assert!(
                (sigmoid(x) - 1.0 / (1.0 + (-x).exp())).abs() < 1e-6,
                "sigmoid({x})"
            );
            assert!((tanh(x) - x.tanh()).abs() < 1e-6, "tanh({x})");
        }
        assert!((0.0..1e-37).contains(&exp(-1000.0)));
        assert!(exp(1000.0).is_finite());
        assert!((0.0..1e-37).contains(&sigmoid(-1000.0)));
        assert_eq!(tanh(1000.0), 1.0);
    }

    #[test]
    fn cross_entropy_gradient_is_softmax_minus_onehot() {
        let mut logits = vec![1.0, 2.0, 3.0, 0.5, 0.5, 0.5];
        let loss = cross_entropy(&mut logits, 3, &[2, 0], Some(1.0));
        let lse = (1f32.exp() + 2f32.exp() + 3f32.exp()).ln();
        let want = (lse - 3.0) + 3f32.ln();
        assert!((loss - f64::from(want)).abs() < 1e-5);
        let p2 = 3f32.exp() / (1f32.exp() + 2f32.exp() + 3f32.exp());
        assert!((logits[2] - (p2 - 1.0)).abs() < 1e-6);
        assert!((logits[3] - (1.0 / 3.0 - 1.0)).abs() < 1e-6);
        assert!((logits[4] - 1.0 / 3.0).abs() < 1e-6);
    }
}
