//! Training configuration: everything that decides a run, saved beside its checkpoints so
//! `--resume` continues the same run.

use std::path::PathBuf;

use continuo_core::contract::Architecture;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainConfig {
    pub embed_dim: usize,
    pub hidden_dim: usize,
    pub num_layers: usize,
    pub dropout: f64,
    /// Tokens per training window (truncated backpropagation length).
    pub seq_len: usize,
    pub batch_size: usize,
    pub epochs: usize,
    pub learning_rate: f64,
    /// Linear warm-up steps before the cosine decay.
    pub warmup_steps: usize,
    /// Final learning rate as a fraction of the peak.
    pub min_lr_ratio: f64,
    /// Global gradient norm clip.
    pub grad_clip: f32,
    pub weight_decay: f32,
    /// Random transposition range in semitones, `-max..=max` (0 disables).
    pub transpose: i32,
    /// Fraction of pieces held out for validation.
    pub val_fraction: f64,
    pub seed: u64,
    /// Save a checkpoint every this many steps (and at each epoch end).
    pub checkpoint_every: usize,
    /// Start from the weights of this run's checkpoint (fine-tuning) instead of random ones.
    #[serde(default)]
    pub init_from: Option<PathBuf>,
    /// File names left out of training and validation (e.g. another run's validation pieces).
    #[serde(default)]
    pub exclude: Vec<String>,
}

impl Default for TrainConfig {
    fn default() -> Self {
        Self {
            embed_dim: 96,
            hidden_dim: 256,
            num_layers: 2,
            dropout: 0.2,
            seq_len: 128,
            batch_size: 32,
            epochs: 20,
            learning_rate: 3e-3,
            warmup_steps: 100,
            min_lr_ratio: 0.05,
            grad_clip: 1.0,
            weight_decay: 0.0,
            transpose: 5,
            val_fraction: 0.1,
            seed: 17,
            checkpoint_every: 200,
            init_from: None,
            exclude: Vec::new(),
        }
    }
}

impl TrainConfig {
    /// The network's shape.
    pub fn architecture(&self) -> Architecture {
        Architecture {
            embed_dim: self.embed_dim,
            hidden_dim: self.hidden_dim,
            num_layers: self.num_layers,
        }
    }

    /// Learning rate at `step` of `total`: linear warm-up, then cosine decay to
    /// `min_lr_ratio × learning_rate`.
    pub fn lr_at(&self, step: usize, total: usize) -> f64 {
        let peak = self.learning_rate;
        if step < self.warmup_steps {
            return peak * (step + 1) as f64 / self.warmup_steps as f64;
        }
        let span = total.saturating_sub(self.warmup_steps).max(1);
        let progress = ((step - self.warmup_steps) as f64 / span as f64).min(1.0);
        let floor = peak * self.min_lr_ratio;
        floor + (peak - floor) * 0.5 * (1.0 + (std::f64::consts::PI * progress).cos())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedule_warms_up_then_decays_to_floor() {
        let c = TrainConfig {
            warmup_steps: 10,
            learning_rate: 1.0,
            min_lr_ratio: 0.1,
            ..Default::default()
        };
        assert!((c.lr_at(0, 100) - 0.1).abs() < 1e-12);
        assert!((c.lr_at(9, 100) - 1.0).abs() < 1e-12);
        assert!((c.lr_at(10, 100) - 1.0).abs() < 1e-12);
        assert!(c.lr_at(50, 100) < 1.0 && c.lr_at(50, 100) > 0.1);
        assert!((c.lr_at(100, 100) - 0.1).abs() < 1e-12);
    }
}
