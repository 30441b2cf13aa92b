//! The two training engines behind one interface, so the training loop is written once:
//! [`FusedLearner`] (the CPU default, see [`crate::fused`]) and [`BurnLearner`] (burn's
//! autodiff on any burn device: CUDA, wgpu, or its CPU backend as the reference).

use std::path::Path;

use anyhow::{bail, Context, Result};
use burn::grad_clipping::GradientClippingConfig;
use burn::nn::loss::CrossEntropyLossConfig;
use burn::optim::decay::WeightDecayConfig;
use burn::optim::{AdamConfig, GradientsParams, ModuleOptimizer};
use burn::prelude::*;
use burn::tensor::TensorData;
use continuo_core::vocab::Vocab;

use crate::config::TrainConfig;
use crate::data::Batch;
use crate::fused::adam::Adam;
use crate::fused::params::Layout;
use crate::fused::{DropoutKey, FusedNet, Window};
use crate::model::ContinuoNet;

/// Computes training steps and holds what they change.
pub trait Learner {
    /// One optimizer step on `batch` at learning rate `lr`; returns the batch's mean loss.
    /// `step` is the run's global step number (it seeds dropout).
    fn step(&mut self, batch: &Batch, lr: f64, step: usize) -> f64;
    /// Mean NLL per token over `batches`, without dropout.
    fn evaluate(&self, batches: &[Batch]) -> f64;
    /// The current weights as an inference module, for export.
    fn net(&self) -> ContinuoNet;
    fn num_params(&self) -> usize;
    /// Writes the weights and optimizer state into `dir` (an existing, empty folder).
    fn save(&self, dir: &Path) -> Result<()>;
    /// Reads what [`Learner::save`] wrote.
    fn load(&mut self, dir: &Path) -> Result<()>;
    /// Reads only the weights of what [`Learner::save`] wrote (to fine-tune from them).
    fn load_weights(&mut self, dir: &Path) -> Result<()>;
    /// Replaces the weights with `params`, in [`Layout`]'s order.
    fn set_weights(&mut self, params: &[f32]);
}

/// The engine a device name selects: `cpu` → fused, anything else → burn on that device.
pub fn new_learner(
    config: &TrainConfig,
    vocab: &Vocab,
    device: &str,
    threads: usize,
) -> Result<Box<dyn Learner>> {
    let arch = config.architecture();
    // Both engines start from burn's initialisation for the seed. The lock is held until the
    // weights are read out: burn may draw them lazily, when first read.
    let _rng = crate::model::burn_rng();
    let init = |device: &Device| {
        device.seed(config.seed);
        let net = ContinuoNet::new(vocab, arch, config.dropout, device);
        Layout::new(vocab, arch).read(&net);
        net
    };
    Ok(match device {
        "cpu" => Box::new(FusedLearner::new(&init(&Device::flex()), config, threads)),
        other => {
            let device = crate::device(other)?.autodiff();
            Box::new(BurnLearner::new(init(&device), config, device))
        }
    })
}

/// The mean over every token of `batches`, from each batch's mean `loss` (NaN for none).
fn mean_per_token(batches: &[Batch], mut loss: impl FnMut(&Batch) -> f64) -> f64 {
    let (mut sum, mut count) = (0.0, 0usize);
    for b in batches {
        let tokens = b.batch * b.seq_len;
        sum += loss(b) * tokens as f64;
        count += tokens;
    }
    if count == 0 {
        f64::NAN
    } else {
        sum / count as f64
    }
}

pub struct FusedLearner {
    net: FusedNet,
    adam: Adam,
    dropout: f64,
    seed: u64,
}

/// File of a fused checkpoint: weights, then Adam's two moments, little-endian `f32`.
const FUSED_FILE: &str = "fused.bin";
/// Format 2 holds the grid embeddings (model contract 2).
const FUSED_MAGIC: &[u8; 8] = b"CNTFUSE2";
/// The format before the grid embeddings.
const FUSED_MAGIC_1: &[u8; 8] = b"CNTFUSE1";

impl FusedLearner {
    pub fn new(init: &ContinuoNet, config: &TrainConfig, threads: usize) -> Self {
        let layout = Layout::of(init);
        let params = layout.read(init);
        let len = layout.len;
        Self {
            net: FusedNet::new(layout, params, threads),
            adam: Adam::new(len, Some(config.grad_clip), config.weight_decay),
            dropout: config.dropout,
            seed: config.seed,
        }
    }

    fn window<'a>(batch: &'a Batch) -> Window<'a> {
        Window {
            inputs: &batch.inputs,
            targets: &batch.targets,
            phase: &batch.phase,
            bar_beat: &batch.bar_beat,
            batch: batch.batch,
            time: batch.seq_len,
            state: None,
        }
    }
}

impl Learner for FusedLearner {
    fn step(&mut self, batch: &Batch, lr: f64, step: usize) -> f64 {
        let dropout = (self.dropout > 0.0).then_some(DropoutKey {
            probability: self.dropout,
            seed: self.seed,
            step: step as u64,
        });
        let mut pass = self.net.pass(&Self::window(batch), dropout, true);
        let tensors = self.net.layout.slots.iter().map(|s| s.range.clone());
        self.adam
            .step(lr as f32, &mut self.net.params, &mut pass.grads, tensors);
        self.net.recycle(pass.grads);
        pass.loss
    }

    fn evaluate(&self, batches: &[Batch]) -> f64 {
        mean_per_token(batches, |b| {
            self.net.pass(&Self::window(b), None, false).loss
        })
    }

    fn net(&self) -> ContinuoNet {
        self.net
            .layout
            .write(&self.net.params, self.dropout, &Device::flex())
    }

    fn num_params(&self) -> usize {
        self.net.layout.len
    }

    fn save(&self, dir: &Path) -> Result<()> {
        let mut bytes = Vec::with_capacity(16 + 12 * self.net.params.len());
        bytes.extend_from_slice(FUSED_MAGIC);
        bytes.extend_from_slice(&(self.adam.time as u64).to_le_bytes());
        for buffer in [&self.net.params, &self.adam.moment_1, &self.adam.moment_2] {
            bytes.extend(buffer.iter().flat_map(|v| v.to_le_bytes()));
        }
        std::fs::write(dir.join(FUSED_FILE), bytes).context("writing the fused checkpoint")
    }

    fn load(&mut self, dir: &Path) -> Result<()> {
        self.adam.time = self.read_checkpoint(dir, true)?;
        Ok(())
    }

    fn load_weights(&mut self, dir: &Path) -> Result<()> {
        self.read_checkpoint(dir, false).map(|_| ())
    }

    fn set_weights(&mut self, params: &[f32]) {
        self.net.params.copy_from_slice(params);
    }
}

impl FusedLearner {
    /// Reads the weights and, with `moments`, Adam's moments; returns Adam's step count.
    fn read_checkpoint(&mut self, dir: &Path, moments: bool) -> Result<usize> {
        let path = dir.join(FUSED_FILE);
        if !path.is_file() {
            bail!(
                "{} is missing: this checkpoint was not written by the CPU engine (resume it with the --device it was trained on)",
                path.display()
            );
        }
        let bytes = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
        if bytes.starts_with(FUSED_MAGIC_1) {
            return Err(before_the_grid(&path));
        }
        let n = self.net.params.len();
        if bytes.len() != 16 + 12 * n || &bytes[..8] != FUSED_MAGIC {
            bail!(
                "{} does not hold this network's weights ({} parameters expected)",
                path.display(),
                n
            );
        }
        let time = u64::from_le_bytes(bytes[8..16].try_into().expect("8 bytes")) as usize;
        let mut values = bytes[16..]
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes(c.try_into().expect("4 bytes")));
        let mut buffers = vec![&mut self.net.params];
        if moments {
            buffers.extend([&mut self.adam.moment_1, &mut self.adam.moment_2]);
        }
        for buffer in buffers {
            buffer
                .iter_mut()
                .for_each(|v| *v = values.next().expect("length checked"));
        }
        Ok(time)
    }
}

/// Why a checkpoint of a network without the grid tables cannot be loaded.
fn before_the_grid(path: &Path) -> anyhow::Error {
    anyhow::anyhow!(
        "{} was written by an earlier trainer, for models that do not hear the grid (contract 1); this trainer cannot continue or fine-tune from it: start a new run",
        path.display()
    )
}

pub struct BurnLearner {
    net: ContinuoNet,
    optim: ModuleOptimizer,
    device: Device,
    dropout: f64,
}

impl BurnLearner {
    /// `net` lives on `device`, an autodiff device.
    pub fn new(net: ContinuoNet, config: &TrainConfig, device: Device) -> Self {
        let mut adam = AdamConfig::new()
            .with_grad_clipping(Some(GradientClippingConfig::Norm(config.grad_clip)));
        if config.weight_decay > 0.0 {
            adam = adam.with_weight_decay(Some(WeightDecayConfig::new(config.weight_decay)));
        }
        Self {
            net,
            optim: adam.init(),
            device,
            dropout: config.dropout,
        }
    }
}

/// A batch on a device: `[batch, time]` inputs and their grid positions, flat targets.
pub struct BatchTensors {
    pub inputs: Tensor<2, Int>,
    pub phase: Tensor<2, Int>,
    pub bar_beat: Tensor<2, Int>,
    pub targets: Tensor<1, Int>,
}

pub fn to_tensors(batch: &Batch, device: &Device) -> BatchTensors {
    let grid = |values: &[i64]| {
        Tensor::from_data(
            TensorData::new(values.to_vec(), [batch.batch, batch.seq_len]),
            device,
        )
    };
    BatchTensors {
        inputs: grid(&batch.inputs),
        phase: grid(&batch.phase),
        bar_beat: grid(&batch.bar_beat),
        targets: Tensor::from_data(
            TensorData::new(batch.targets.clone(), [batch.batch * batch.seq_len]),
            device,
        ),
    }
}

/// Mean cross-entropy of `net`'s logits for `batch`.
pub fn burn_loss(net: &ContinuoNet, batch: &Batch, device: &Device) -> Tensor<1> {
    let BatchTensors {
        inputs,
        phase,
        bar_beat,
        targets,
    } = to_tensors(batch, device);
    let (logits, _) = net.forward(inputs, phase, bar_beat, None);
    let [b, t, v] = logits.dims();
    CrossEntropyLossConfig::new()
        .init(device)
        .forward(logits.reshape([b * t, v]), targets)
}

impl Learner for BurnLearner {
    fn step(&mut self, batch: &Batch, lr: f64, _step: usize) -> f64 {
        let loss = burn_loss(&self.net, batch, &self.device);
        let value = f64::from(loss.clone().into_scalar::<f32>());
        let grads = GradientsParams::from_grads(loss.backward(), &self.net);
        self.net = self.optim.step(lr, self.net.clone(), grads);
        value
    }

    fn evaluate(&self, batches: &[Batch]) -> f64 {
        let net = self.net.valid();
        let device = self.device.clone().inner();
        mean_per_token(batches, |b| {
            f64::from(burn_loss(&net, b, &device).into_scalar::<f32>())
        })
    }

    fn net(&self) -> ContinuoNet {
        self.net.valid()
    }

    fn num_params(&self) -> usize {
        self.net.num_params()
    }

    fn save(&self, dir: &Path) -> Result<()> {
        self.net
            .clone()
            .save_file(dir.join("model.bpk"))
            .map_err(|e| anyhow::anyhow!("writing the model checkpoint: {e:?}"))?;
        self.optim
            .save(dir.join("optim.bpk"))
            .map_err(|e| anyhow::anyhow!("writing the optimizer checkpoint: {e:?}"))
    }

    fn load(&mut self, dir: &Path) -> Result<()> {
        if !dir.join("optim.bpk").is_file() {
            bail!(
                "{} holds no burn optimizer state: this checkpoint was written by the CPU engine (resume it with --device cpu)",
                dir.display()
            );
        }
        self.load_weights(dir)?;
        let optim = std::mem::replace(&mut self.optim, AdamConfig::new().init());
        self.optim = optim
            .load(dir.join("optim.bpk"))
            .map_err(|e| anyhow::anyhow!("loading the optimizer checkpoint: {e:?}"))?;
        Ok(())
    }

    fn load_weights(&mut self, dir: &Path) -> Result<()> {
        let path = dir.join("model.bpk");
        self.net = self.net.clone().try_load_file(&path).map_err(|e| {
            let message = format!("{e:?}");
            if message.contains("phase.weight") {
                before_the_grid(&path)
            } else {
                anyhow::anyhow!("loading the model checkpoint: {message}")
            }
        })?;
        Ok(())
    }

    fn set_weights(&mut self, params: &[f32]) {
        self.net = Layout::of(&self.net).write(params, self.dropout, &self.device);
    }
}
