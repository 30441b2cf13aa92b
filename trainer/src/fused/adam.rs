//! Adam as burn's `AdamConfig` computes it (so the fused and the burn engine learn the same
//! thing): each tensor's gradient clipped to its own norm, L2 weight decay added to the
//! gradient, bias-corrected moments, `ε` scaled by the second-moment correction.

use std::ops::Range;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Adam {
    pub beta_1: f32,
    pub beta_2: f32,
    pub epsilon: f32,
    /// Largest L2 norm of one tensor's gradient.
    pub clip_norm: Option<f32>,
    pub weight_decay: f32,
    /// Steps taken.
    pub time: usize,
    #[serde(skip)]
    pub moment_1: Vec<f32>,
    #[serde(skip)]
    pub moment_2: Vec<f32>,
}

impl Adam {
    /// burn's defaults (β = 0.9, 0.999; ε = 1e-5) for `len` parameters.
    pub fn new(len: usize, clip_norm: Option<f32>, weight_decay: f32) -> Self {
        Self {
            beta_1: 0.9,
            beta_2: 0.999,
            epsilon: 1e-5,
            clip_norm,
            weight_decay,
            time: 0,
            moment_1: vec![0.0; len],
            moment_2: vec![0.0; len],
        }
    }

    /// One update of `params` from `grads`, tensor by tensor (`tensors` cover both buffers).
    pub fn step(
        &mut self,
        lr: f32,
        params: &mut [f32],
        grads: &mut [f32],
        tensors: impl Iterator<Item = Range<usize>>,
    ) {
        self.time += 1;
        let time = self.time as i32;
        let correction_2 = (1.0 - self.beta_2.powi(time)).sqrt();
        let factor = correction_2 / (1.0 - self.beta_1.powi(time));
        let epsilon = self.epsilon * correction_2;
        let (b1, b2) = (self.beta_1, self.beta_2);
        for range in tensors {
            let g = &mut grads[range.clone()];
            if let Some(threshold) = self.clip_norm {
                let norm = g.iter().map(|v| v * v).sum::<f32>().sqrt();
                let k = (threshold / (norm + f32::MIN_POSITIVE)).min(1.0);
                if k < 1.0 {
                    g.iter_mut().for_each(|v| *v *= k);
                }
            }
            let p = &mut params[range.clone()];
            let m = &mut self.moment_1[range.clone()];
            let v = &mut self.moment_2[range];
            for j in 0..p.len() {
                let gj = g[j] + self.weight_decay * p[j];
                m[j] = b1 * m[j] + (1.0 - b1) * gj;
                v[j] = b2 * v[j] + (1.0 - b2) * gj * gj;
                p[j] -= lr * (m[j] * factor / (v[j].sqrt() + epsilon));
            }
        }
    }
}
