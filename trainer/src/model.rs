//! The network: token, phase and bar-beat embeddings summed → stacked GRU → dense logits.
//!
//! The GRU is written out here rather than taken from `burn::nn` so that its parameters are
//! exactly ONNX's `GRU` with `linear_before_reset = 1`: gates in `z, r, h` order, one input
//! projection `W` and one recurrent projection `R`, each with its own bias. Export is then a
//! transpose, and the equivalence test has nothing to reconcile.

use burn::nn::{
    Dropout, DropoutConfig, Embedding, EmbeddingConfig, Initializer, Linear, LinearConfig,
};
use burn::prelude::*;
use burn::tensor::activation::{sigmoid, tanh};
use continuo_core::contract::Architecture;
use continuo_core::grid::BAR_BEATS;
use continuo_core::vocab::Vocab;

/// burn's random generator is process-wide: whoever seeds it or builds a [`ContinuoNet`]
/// (which draws initial weights) holds this lock, so that two runs in one process (tests, a
/// tool training several models) never interleave their draws and a seed means one thing.
pub fn burn_rng() -> std::sync::MutexGuard<'static, ()> {
    static RNG: std::sync::Mutex<()> = std::sync::Mutex::new(());
    RNG.lock().unwrap_or_else(|e| e.into_inner())
}

#[derive(Module, Debug)]
pub struct GruLayer {
    /// `x W^T + Wb`, output `[.., 3 * hidden]` in `z, r, h` order.
    pub input: Linear,
    /// `h R^T + Rb`, output `[.., 3 * hidden]` in `z, r, h` order.
    pub recurrent: Linear,
}

impl GruLayer {
    pub fn new(d_input: usize, hidden: usize, device: &Device) -> Self {
        Self {
            input: LinearConfig::new(d_input, 3 * hidden).init(device),
            recurrent: LinearConfig::new(hidden, 3 * hidden).init(device),
        }
    }

    pub fn hidden(&self) -> usize {
        self.recurrent.weight.val().dims()[0]
    }

    /// `x`: `[batch, time, d_input]`, `h`: `[batch, hidden]` → all states `[batch, time, hidden]`
    /// and the last state.
    pub fn forward(&self, x: Tensor<3>, mut h: Tensor<2>) -> (Tensor<3>, Tensor<2>) {
        let [batch, time, _] = x.dims();
        let hidden = self.hidden();
        // One large matmul for every time step's input projection; only the recurrent part
        // must run step by step.
        let gx = self.input.forward(x);
        let mut states = Vec::with_capacity(time);
        for t in 0..time {
            let gx_t = gx.clone().narrow(1, t, 1).reshape([batch, 3 * hidden]);
            let gh = self.recurrent.forward(h.clone());
            let x_gates = gx_t.chunk(3, 1);
            let h_gates = gh.chunk(3, 1);
            let z = sigmoid(x_gates[0].clone() + h_gates[0].clone());
            let r = sigmoid(x_gates[1].clone() + h_gates[1].clone());
            let n = tanh(x_gates[2].clone() + r * h_gates[2].clone());
            // (1 - z) ⊙ n + z ⊙ h
            h = n.clone() + z * (h - n);
            states.push(h.clone().unsqueeze_dim::<3>(1));
        }
        (Tensor::cat(states, 1), h)
    }
}

#[derive(Module, Debug)]
pub struct ContinuoNet {
    pub embedding: Embedding,
    /// One row per grid step within the beat (`steps_per_beat` rows).
    pub phase: Embedding,
    /// One row per beat of the bar ([`BAR_BEATS`] rows).
    pub bar_beat: Embedding,
    pub layers: Vec<GruLayer>,
    pub dropout: Dropout,
    pub output: Linear,
}

impl ContinuoNet {
    /// A network for `vocab`'s tokens and grid: random weights, the grid tables at zero.
    pub fn new(vocab: &Vocab, arch: Architecture, dropout: f64, device: &Device) -> Self {
        Self::with_tables(
            vocab.size(),
            vocab.steps_per_beat as usize,
            arch,
            dropout,
            device,
        )
    }

    /// A network with `tokens` token rows and `phases` phase rows.
    pub fn with_tables(
        tokens: usize,
        phases: usize,
        arch: Architecture,
        dropout: f64,
        device: &Device,
    ) -> Self {
        let layers = (0..arch.num_layers)
            .map(|i| {
                let d_in = if i == 0 {
                    arch.embed_dim
                } else {
                    arch.hidden_dim
                };
                GruLayer::new(d_in, arch.hidden_dim, device)
            })
            .collect();
        // The grid tables start at zero: the network begins as one that ignores the grid and
        // learns what it says, instead of hearing each token through two tables of noise as
        // loud as its own embedding (on the Chopin pieces such a start trailed by 0.5 nats per
        // token after three epochs; zeros led the grid-less network slightly).
        let grid_table = |rows| {
            EmbeddingConfig::new(rows, arch.embed_dim)
                .with_initializer(Initializer::Zeros)
                .init(device)
        };
        Self {
            embedding: EmbeddingConfig::new(tokens, arch.embed_dim).init(device),
            phase: grid_table(phases),
            bar_beat: grid_table(BAR_BEATS),
            layers,
            dropout: DropoutConfig::new(dropout).init(),
            output: LinearConfig::new(arch.hidden_dim, tokens).init(device),
        }
    }

    /// Rows of the phase table: the grid steps of a beat.
    pub fn phases(&self) -> usize {
        self.phase.weight.dims()[0]
    }

    pub fn architecture(&self) -> Architecture {
        let [_, embed_dim] = self.embedding.weight.val().dims();
        Architecture {
            embed_dim,
            hidden_dim: self.layers[0].hidden(),
            num_layers: self.layers.len(),
        }
    }

    /// `tokens`, and the grid position after each (`phase`, `bar_beat`): `[batch, time]`;
    /// `state`: `[layers, batch, hidden]` (zeros when `None`).
    /// Returns logits `[batch, time, vocab]` and the final state.
    pub fn forward(
        &self,
        tokens: Tensor<2, Int>,
        phase: Tensor<2, Int>,
        bar_beat: Tensor<2, Int>,
        state: Option<Tensor<3>>,
    ) -> (Tensor<3>, Tensor<3>) {
        let [batch, _] = tokens.dims();
        let device = tokens.device();
        let a = self.architecture();
        let state =
            state.unwrap_or_else(|| Tensor::zeros([a.num_layers, batch, a.hidden_dim], &device));
        let mut x = self.embedding.forward(tokens)
            + self.phase.forward(phase)
            + self.bar_beat.forward(bar_beat);
        let mut last = Vec::with_capacity(self.layers.len());
        for (l, layer) in self.layers.iter().enumerate() {
            let h0 = state.clone().narrow(0, l, 1).reshape([batch, a.hidden_dim]);
            let (ys, h) = layer.forward(x, h0);
            x = self.dropout.forward(ys);
            last.push(h.unsqueeze_dim::<3>(0));
        }
        (self.output.forward(x), Tensor::cat(last, 0))
    }
}
