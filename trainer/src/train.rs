//! The training loop: Adam with gradient clipping and a warm-up + cosine schedule, validation
//! NLL per token each epoch, checkpoints that `--resume` continues from, and ONNX export of
//! the best model.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use burn::grad_clipping::GradientClippingConfig;
use burn::nn::loss::CrossEntropyLossConfig;
use burn::optim::decay::WeightDecayConfig;
use burn::optim::{AdamConfig, GradientsParams, ModuleOptimizer};
use burn::prelude::*;
use burn::tensor::TensorData;
use continuo_core::contract::{Architecture, ModelMeta, TrainingInfo};
use continuo_core::vocab::Vocab;
use indicatif::{ProgressBar, ProgressStyle};
use serde::{Deserialize, Serialize};

use crate::config::TrainConfig;
use crate::data::{self, Batch, Piece, TrainSampler};
use crate::model::ContinuoNet;
use crate::onnx;

/// What a run needs besides its config.
pub struct TrainArgs {
    pub data: PathBuf,
    pub out: PathBuf,
    pub name: String,
    pub device: Device,
    pub resume: bool,
    /// Dataset description and licence, copied into the model metadata.
    pub attribution: String,
    /// Stop after this many optimizer steps in this invocation (for tests and smoke runs).
    pub max_steps: Option<usize>,
    pub quiet: bool,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct EpochRecord {
    pub epoch: usize,
    pub train_nll: f64,
    pub val_nll: f64,
    pub seconds: f64,
}

/// Progress of a run, saved with each checkpoint.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct RunState {
    /// Epoch in progress and the next batch index within it.
    pub epoch: usize,
    pub batch: usize,
    pub global_step: usize,
    /// Sum and count of training loss in the epoch in progress.
    pub epoch_loss_sum: f64,
    pub epoch_loss_count: usize,
    pub history: Vec<EpochRecord>,
    pub best_val_nll: Option<f64>,
    pub train_pieces: Vec<String>,
    pub val_pieces: Vec<String>,
}

pub struct Outcome {
    pub state: RunState,
    pub skipped: Vec<data::Skipped>,
    pub onnx: PathBuf,
}

fn checkpoint_dir(out: &Path) -> PathBuf {
    out.join("checkpoint")
}

fn save_checkpoint(
    out: &Path,
    config: &TrainConfig,
    net: &ContinuoNet,
    optim: &ModuleOptimizer,
    state: &RunState,
) -> Result<()> {
    let dir = checkpoint_dir(out);
    let tmp = out.join("checkpoint.tmp");
    if tmp.exists() {
        std::fs::remove_dir_all(&tmp)?;
    }
    std::fs::create_dir_all(&tmp)?;
    net.clone()
        .save_file(tmp.join("model.bpk"))
        .map_err(|e| anyhow::anyhow!("{e:?}"))?;
    optim
        .save(tmp.join("optim.bpk"))
        .map_err(|e| anyhow::anyhow!("{e:?}"))?;
    std::fs::write(
        tmp.join("config.json"),
        serde_json::to_string_pretty(config)?,
    )?;
    std::fs::write(tmp.join("state.json"), serde_json::to_string_pretty(state)?)?;
    // Swap in whole so a stop mid-save never leaves a half-written checkpoint.
    if dir.exists() {
        std::fs::remove_dir_all(&dir)?;
    }
    std::fs::rename(&tmp, &dir)?;
    Ok(())
}

fn to_tensors(batch: &Batch, device: &Device) -> (Tensor<2, Int>, Tensor<1, Int>) {
    let inputs = Tensor::from_data(
        TensorData::new(batch.inputs.clone(), [batch.batch, batch.seq_len]),
        device,
    );
    let targets = Tensor::from_data(
        TensorData::new(batch.targets.clone(), [batch.batch * batch.seq_len]),
        device,
    );
    (inputs, targets)
}

/// Mean NLL per token (nats) of `net` over `batches`.
pub fn evaluate(net: &ContinuoNet, batches: &[Batch], device: &Device) -> f64 {
    let loss_fn = CrossEntropyLossConfig::new().init(device);
    let (mut sum, mut count) = (0.0, 0usize);
    for b in batches {
        let (inputs, targets) = to_tensors(b, device);
        let (logits, _) = net.forward(inputs, None);
        let [bs, t, v] = logits.dims();
        let loss: f32 = loss_fn
            .forward(logits.reshape([bs * t, v]), targets)
            .into_scalar();
        sum += f64::from(loss) * (bs * t) as f64;
        count += bs * t;
    }
    if count == 0 {
        f64::NAN
    } else {
        sum / count as f64
    }
}

fn optimizer(config: &TrainConfig) -> ModuleOptimizer {
    let mut adam =
        AdamConfig::new().with_grad_clipping(Some(GradientClippingConfig::Norm(config.grad_clip)));
    if config.weight_decay > 0.0 {
        adam = adam.with_weight_decay(Some(WeightDecayConfig::new(config.weight_decay)));
    }
    adam.init()
}

pub fn train(config: TrainConfig, args: &TrainArgs) -> Result<Outcome> {
    let vocab = Vocab::default();
    let device = args.device.clone().autodiff();
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;

    let (config, resumed) = if args.resume {
        let dir = checkpoint_dir(&args.out);
        let state_path = dir.join("state.json");
        if !state_path.is_file() {
            bail!(
                "--resume: no checkpoint in {} (nothing to resume; drop --resume to start)",
                dir.display()
            );
        }
        let saved: TrainConfig =
            serde_json::from_str(&std::fs::read_to_string(dir.join("config.json"))?)
                .context("reading checkpoint config")?;
        let state: RunState = serde_json::from_str(&std::fs::read_to_string(&state_path)?)
            .context("reading checkpoint state")?;
        // The saved config wins, except for the number of epochs, which a resumed run may extend.
        let config = TrainConfig {
            epochs: config.epochs.max(saved.epochs),
            ..saved
        };
        (config, Some(state))
    } else {
        (config, None)
    };

    let (pieces, skipped) = data::load_pieces(&args.data, &vocab)
        .with_context(|| format!("reading MIDI folder {}", args.data.display()))?;
    for s in &skipped {
        eprintln!("warning: skipped {}: {}", s.path.display(), s.reason);
    }
    if pieces.len() < 2 {
        bail!(
            "{} holds {} usable MIDI file(s); training needs at least 2 (one is held out for validation)",
            args.data.display(),
            pieces.len()
        );
    }
    let (train_set, val_set) = match &resumed {
        // Keep the split of the stopped run, by name, even if files were added since.
        Some(state) => {
            let pick = |names: &[String]| -> Vec<Piece> {
                pieces
                    .iter()
                    .filter(|p| names.contains(&p.name))
                    .cloned()
                    .collect()
            };
            (pick(&state.train_pieces), pick(&state.val_pieces))
        }
        None => data::split_pieces(pieces, config.val_fraction, config.seed),
    };
    if train_set.is_empty() || val_set.is_empty() {
        bail!(
            "the checkpoint's train/validation pieces are no longer in {}",
            args.data.display()
        );
    }

    let arch = Architecture {
        embed_dim: config.embed_dim,
        hidden_dim: config.hidden_dim,
        num_layers: config.num_layers,
    };
    device.seed(config.seed);
    let mut net = ContinuoNet::new(vocab.size(), arch, config.dropout, &device);
    let mut optim = optimizer(&config);
    let mut state = match resumed {
        Some(state) => {
            let dir = checkpoint_dir(&args.out);
            net = net
                .try_load_file(dir.join("model.bpk"))
                .map_err(|e| anyhow::anyhow!("loading checkpoint model: {e:?}"))?;
            optim = optim
                .load(dir.join("optim.bpk"))
                .map_err(|e| anyhow::anyhow!("loading checkpoint optimizer: {e:?}"))?;
            if !args.quiet {
                eprintln!(
                    "resuming at epoch {} batch {} (step {})",
                    state.epoch + 1,
                    state.batch,
                    state.global_step
                );
            }
            state
        }
        None => RunState {
            train_pieces: train_set.iter().map(|p| p.name.clone()).collect(),
            val_pieces: val_set.iter().map(|p| p.name.clone()).collect(),
            ..Default::default()
        },
    };

    let sampler = TrainSampler::new(
        &train_set,
        vocab,
        config.seq_len,
        config.batch_size,
        config.transpose,
        config.seed,
    );
    let val_batches = data::validation_batches(&val_set, config.seq_len, config.batch_size);
    let val_tokens: usize = val_batches.iter().map(|b| b.batch * b.seq_len).sum();
    let per_epoch = sampler.batches_per_epoch();
    let total_steps = per_epoch * config.epochs;
    if !args.quiet {
        eprintln!(
            "{} train pieces ({} tokens), {} validation pieces ({} tokens); {} params; {} batches of {}×{} per epoch",
            train_set.len(),
            sampler.tokens(),
            val_set.len(),
            val_tokens,
            net.num_params(),
            per_epoch,
            config.batch_size,
            config.seq_len
        );
    }
    let loss_fn = CrossEntropyLossConfig::new().init(&device);
    let mut steps_this_run = 0usize;
    let onnx_path = args.out.join("model.onnx");

    while state.epoch < config.epochs {
        let epoch_start = Instant::now();
        let bar = if args.quiet {
            ProgressBar::hidden()
        } else {
            ProgressBar::new(per_epoch as u64)
        };
        bar.set_style(
            ProgressStyle::with_template(
                "epoch {prefix} [{bar:30}] {pos}/{len} {msg} ({eta} left)",
            )
            .expect("template")
            .progress_chars("=> "),
        );
        bar.set_prefix(format!("{}/{}", state.epoch + 1, config.epochs));
        bar.set_position(state.batch as u64);
        let mut smoothed: Option<f64> = None;
        let mut window_start = Instant::now();
        let mut window_tokens = 0usize;

        while state.batch < per_epoch {
            if args.max_steps.is_some_and(|m| steps_this_run >= m) {
                save_checkpoint(&args.out, &config, &net, &optim, &state)?;
                bar.abandon_with_message("stopped (step limit); resume with --resume");
                return Ok(Outcome {
                    state,
                    skipped,
                    onnx: onnx_path,
                });
            }
            let batch = sampler.batch(state.epoch, state.batch);
            let (inputs, targets) = to_tensors(&batch, &device);
            let (logits, _) = net.forward(inputs, None);
            let [b, t, v] = logits.dims();
            let loss = loss_fn.forward(logits.reshape([b * t, v]), targets);
            let loss_value = f64::from(loss.clone().into_scalar::<f32>());
            if !loss_value.is_finite() {
                bail!(
                    "training diverged (loss {loss_value}) at step {}; lower --lr",
                    state.global_step
                );
            }
            let grads = GradientsParams::from_grads(loss.backward(), &net);
            let lr = config.lr_at(state.global_step, total_steps);
            net = optim.step(lr, net, grads);

            state.batch += 1;
            state.global_step += 1;
            steps_this_run += 1;
            state.epoch_loss_sum += loss_value;
            state.epoch_loss_count += 1;
            window_tokens += b * t;
            let s = smoothed.map_or(loss_value, |s| 0.95 * s + 0.05 * loss_value);
            smoothed = Some(s);
            let tok_s = window_tokens as f64 / window_start.elapsed().as_secs_f64().max(1e-9);
            bar.set_message(format!(
                "loss {s:.3} · {:.1}k tok/s · lr {lr:.1e}",
                tok_s / 1e3
            ));
            bar.inc(1);
            if window_tokens > 200_000 {
                window_start = Instant::now();
                window_tokens = 0;
            }
            if config.checkpoint_every > 0 && state.global_step % config.checkpoint_every == 0 {
                save_checkpoint(&args.out, &config, &net, &optim, &state)?;
            }
        }

        let train_nll = state.epoch_loss_sum / state.epoch_loss_count.max(1) as f64;
        let val_nll = evaluate(&net.valid(), &val_batches, &device.clone().inner());
        bar.finish_and_clear();
        if !args.quiet {
            eprintln!(
                "epoch {}/{}: train NLL {train_nll:.4}, val NLL {val_nll:.4} per token ({:.0} s)",
                state.epoch + 1,
                config.epochs,
                epoch_start.elapsed().as_secs_f64()
            );
        }
        state.history.push(EpochRecord {
            epoch: state.epoch + 1,
            train_nll,
            val_nll,
            seconds: epoch_start.elapsed().as_secs_f64(),
        });
        state.epoch += 1;
        state.batch = 0;
        state.epoch_loss_sum = 0.0;
        state.epoch_loss_count = 0;
        if state.best_val_nll.is_none_or(|b| val_nll < b) {
            state.best_val_nll = Some(val_nll);
            let meta = metadata(
                &args.name,
                vocab,
                arch,
                &config,
                &state,
                &train_set,
                &val_set,
                &args.attribution,
            );
            write_model(&args.out, &net.valid(), &meta)?;
        }
        save_checkpoint(&args.out, &config, &net, &optim, &state)?;
    }
    Ok(Outcome {
        state,
        skipped,
        onnx: onnx_path,
    })
}

#[allow(clippy::too_many_arguments)]
fn metadata(
    name: &str,
    vocab: Vocab,
    arch: Architecture,
    config: &TrainConfig,
    state: &RunState,
    train: &[Piece],
    val: &[Piece],
    attribution: &str,
) -> ModelMeta {
    let last = state.history.last().cloned().unwrap_or_default();
    let mut meta = ModelMeta::new(name, vocab, arch);
    meta.training = Some(TrainingInfo {
        dataset: format!("{} pieces", train.len() + val.len()),
        attribution: attribution.into(),
        pieces_train: train.len(),
        pieces_val: val.len(),
        tokens_train: train.iter().map(|p| p.ids.len()).sum(),
        tokens_val: val.iter().map(|p| p.ids.len()).sum(),
        epochs: last.epoch,
        steps: state.global_step,
        train_nll: last.train_nll,
        val_nll: last.val_nll,
        seed: config.seed,
        notes: format!(
            "val pieces: {}; config: {}",
            val.iter()
                .map(|p| p.name.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            serde_json::to_string(config).unwrap_or_default()
        ),
    });
    meta
}

/// Writes `model.onnx` and `model.json` into `dir`.
pub fn write_model(dir: &Path, net: &ContinuoNet, meta: &ModelMeta) -> Result<()> {
    std::fs::write(dir.join("model.onnx"), onnx::export(net, meta))
        .context("writing model.onnx")?;
    std::fs::write(dir.join("model.json"), meta.to_json()).context("writing model.json")?;
    Ok(())
}
