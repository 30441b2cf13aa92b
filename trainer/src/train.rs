//! The training loop: Adam with gradient clipping and a warm-up + cosine schedule, validation
//! NLL per token each epoch, checkpoints that `--resume` continues from, and ONNX export of
//! the best model.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use continuo_core::contract::{Architecture, ModelMeta, TrainingInfo, CONTRACT_VERSION};
use continuo_core::vocab::Vocab;
use indicatif::{ProgressBar, ProgressStyle};
use serde::{Deserialize, Serialize};

use crate::base::Base;
use crate::config::TrainConfig;
use crate::data::{self, Piece, TrainSampler};
use crate::learner::{new_learner, Learner};
use crate::model::ContinuoNet;
use crate::onnx;

/// How a run begins.
#[derive(Debug, Clone)]
pub enum Start {
    Fresh(TrainConfig),
    /// Continue the run saved in the output folder, with its own config; `epochs` may only
    /// extend it.
    Resume {
        epochs: Option<usize>,
    },
}

/// What a run needs besides its config.
pub struct TrainArgs {
    /// Folders of MIDI files, read together.
    pub data: Vec<PathBuf>,
    pub out: PathBuf,
    pub name: String,
    /// `cpu` (the fused engine), or a burn device name (`flex`, `cuda`, `wgpu`).
    pub device: String,
    /// Threads of the CPU engine.
    pub threads: usize,
    /// Dataset description and licence, copied into the model metadata.
    pub attribution: String,
    /// Stop after this many optimizer steps in this invocation (for tests and smoke runs).
    pub max_steps: Option<usize>,
    /// Set (by a signal handler) to stop after the current step, with a checkpoint.
    pub stop: Option<&'static AtomicBool>,
    pub quiet: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
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

/// Why [`train`] returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    Finished,
    /// `--max-steps` reached; a checkpoint was written.
    StepLimit,
    /// A stop was requested; a checkpoint was written.
    Stopped,
}

pub struct Outcome {
    pub state: RunState,
    pub config: TrainConfig,
    pub skipped: Vec<data::Skipped>,
    pub onnx: PathBuf,
    pub ending: Ending,
}

pub(crate) fn checkpoint_dir(out: &Path) -> PathBuf {
    out.join("checkpoint")
}

fn save_checkpoint(
    out: &Path,
    config: &TrainConfig,
    learner: &dyn Learner,
    state: &RunState,
) -> Result<()> {
    let dir = checkpoint_dir(out);
    let tmp = out.join("checkpoint.tmp");
    if tmp.exists() {
        std::fs::remove_dir_all(&tmp)?;
    }
    std::fs::create_dir_all(&tmp)?;
    learner.save(&tmp)?;
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

/// The config of the run saved in `out`.
pub fn saved_config(out: &Path) -> Result<TrainConfig> {
    let path = checkpoint_dir(out).join("config.json");
    let text = std::fs::read_to_string(&path).with_context(|| {
        format!(
            "reading {} (is {} a trainer output folder?)",
            path.display(),
            out.display()
        )
    })?;
    serde_json::from_str(&text).with_context(|| format!("reading {}", path.display()))
}

/// The config and progress saved in `out`, with `epochs` applied.
fn saved_run(out: &Path, epochs: Option<usize>, quiet: bool) -> Result<(TrainConfig, RunState)> {
    let dir = checkpoint_dir(out);
    let state_path = dir.join("state.json");
    if !state_path.is_file() {
        bail!(
            "--resume: no checkpoint in {} (nothing to resume; drop --resume to start)",
            dir.display()
        );
    }
    let mut config = saved_config(out)?;
    let state: RunState = serde_json::from_str(&std::fs::read_to_string(&state_path)?)
        .context("reading checkpoint state")?;
    if let Some(epochs) = epochs {
        if epochs < config.epochs {
            bail!(
                "--epochs {epochs} with --resume would shorten the run (it was started for {}); resume may only extend it",
                config.epochs
            );
        }
        if epochs > config.epochs && !quiet {
            eprintln!(
                "extending the run from {} to {epochs} epochs: the learning-rate schedule is recomputed for the new length",
                config.epochs
            );
        }
        config.epochs = epochs;
    }
    Ok((config, state))
}

pub fn train(start: Start, args: &TrainArgs) -> Result<Outcome> {
    let vocab = Vocab::default();
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;
    let (config, resumed) = match start {
        Start::Fresh(config) => (config, None),
        Start::Resume { epochs } => {
            let (config, state) = saved_run(&args.out, epochs, args.quiet)?;
            (config, Some(state))
        }
    };

    if args.data.is_empty() {
        bail!("no --data folder given");
    }
    let (mut pieces, skipped) = data::load_folders(&args.data, &vocab)?;
    let before = pieces.len();
    pieces.retain(|p| {
        !config
            .exclude
            .iter()
            .any(|x| Path::new(&p.name).ends_with(x))
    });
    if before != pieces.len() && !args.quiet {
        eprintln!("left out {} excluded piece(s)", before - pieces.len());
    }
    for s in &skipped {
        eprintln!("warning: skipped {}: {}", s.path.display(), s.reason);
    }
    if pieces.len() < 2 {
        bail!(
            "{} hold(s) {} usable MIDI file(s); training needs at least 2 (one is held out for validation)",
            folders(&args.data),
            pieces.len()
        );
    }
    let (train_set, val_set) = match &resumed {
        // Keep the split of the stopped run, by name, even if files were added since, and in
        // its order: the sampler draws by position in this list.
        Some(state) => {
            let by_name: std::collections::HashMap<&str, &Piece> =
                pieces.iter().map(|p| (p.name.as_str(), p)).collect();
            let pick = |names: &[String]| -> Vec<Piece> {
                names
                    .iter()
                    .filter_map(|n| by_name.get(n.as_str()).map(|p| (*p).clone()))
                    .collect()
            };
            (pick(&state.train_pieces), pick(&state.val_pieces))
        }
        None => data::split_pieces(pieces, config.val_fraction, config.seed),
    };
    if train_set.is_empty() || val_set.is_empty() {
        bail!(
            "the checkpoint's train/validation pieces are no longer in {}",
            folders(&args.data)
        );
    }

    let mut learner = new_learner(&config, &vocab, &args.device, args.threads)?;
    if let (Some(dir), None) = (&config.init_from, &resumed) {
        Base::open(dir)
            .and_then(|base| base.load_into(learner.as_mut(), &vocab))
            .with_context(|| format!("taking initial weights from {}", dir.display()))?;
    }
    let mut state = match resumed {
        Some(state) => {
            learner.load(&checkpoint_dir(&args.out))?;
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
    let per_epoch = sampler.batches_per_epoch();
    let total_steps = per_epoch * config.epochs;
    if !args.quiet {
        let val_tokens: usize = val_batches.iter().map(|b| b.batch * b.seq_len).sum();
        eprintln!(
            "{} train pieces ({} tokens), {} validation pieces ({val_tokens} tokens); {} params; {per_epoch} batches of {}×{} per epoch; {}",
            train_set.len(),
            sampler.tokens(),
            val_set.len(),
            learner.num_params(),
            config.batch_size,
            config.seq_len,
            engine_name(&args.device, args.threads),
        );
    }
    let onnx_path = args.out.join("model.onnx");
    let mut steps_this_run = 0usize;
    let outcome = |state: RunState, ending| Outcome {
        state,
        config: config.clone(),
        skipped: skipped.clone(),
        onnx: onnx_path.clone(),
        ending,
    };

    while state.epoch < config.epochs {
        let epoch_start = Instant::now();
        let bar = progress_bar(args.quiet, per_epoch, &state, config.epochs);
        let mut meter = Meter::default();
        while state.batch < per_epoch {
            let interrupted = if args.stop.is_some_and(|s| s.load(Ordering::SeqCst)) {
                Some(Ending::Stopped)
            } else if args.max_steps.is_some_and(|m| steps_this_run >= m) {
                Some(Ending::StepLimit)
            } else {
                None
            };
            if let Some(ending) = interrupted {
                save_checkpoint(&args.out, &config, learner.as_ref(), &state)?;
                bar.abandon();
                return Ok(outcome(state, ending));
            }
            let batch = sampler.batch(state.epoch, state.batch);
            let lr = config.lr_at(state.global_step, total_steps);
            let loss = learner.step(&batch, lr, state.global_step);
            if !loss.is_finite() {
                bail!(
                    "training diverged (loss {loss}) at step {}; lower --lr",
                    state.global_step
                );
            }
            state.batch += 1;
            state.global_step += 1;
            steps_this_run += 1;
            state.epoch_loss_sum += loss;
            state.epoch_loss_count += 1;
            bar.set_message(meter.record(loss, batch.batch * batch.seq_len, lr));
            bar.inc(1);
            if config.checkpoint_every > 0 && state.global_step % config.checkpoint_every == 0 {
                save_checkpoint(&args.out, &config, learner.as_ref(), &state)?;
            }
        }
        bar.finish_and_clear();
        finish_epoch(
            &mut state,
            learner.as_ref(),
            &val_batches,
            epoch_start,
            &config,
            args,
        )?;
        if state.history.last().map(|r| r.val_nll) == state.best_val_nll {
            let net = learner.net();
            let meta = metadata(
                &args.name,
                vocab,
                net.architecture(),
                &config,
                &state,
                &train_set,
                &val_set,
                &args.attribution,
            );
            write_model(&args.out, &net, &meta)?;
        }
        save_checkpoint(&args.out, &config, learner.as_ref(), &state)?;
    }
    Ok(outcome(state, Ending::Finished))
}

/// Validates, records the epoch and moves the run to the next one.
fn finish_epoch(
    state: &mut RunState,
    learner: &dyn Learner,
    val_batches: &[data::Batch],
    epoch_start: Instant,
    config: &TrainConfig,
    args: &TrainArgs,
) -> Result<()> {
    let train_nll = state.epoch_loss_sum / state.epoch_loss_count.max(1) as f64;
    let val_nll = learner.evaluate(val_batches);
    let seconds = epoch_start.elapsed().as_secs_f64();
    if !args.quiet {
        eprintln!(
            "epoch {}/{}: train NLL {train_nll:.4}, val NLL {val_nll:.4} per token ({seconds:.0} s)",
            state.epoch + 1,
            config.epochs,
        );
    }
    state.history.push(EpochRecord {
        epoch: state.epoch + 1,
        train_nll,
        val_nll,
        seconds,
    });
    state.epoch += 1;
    state.batch = 0;
    state.epoch_loss_sum = 0.0;
    state.epoch_loss_count = 0;
    if state.best_val_nll.is_none_or(|b| val_nll < b) {
        state.best_val_nll = Some(val_nll);
    }
    Ok(())
}

/// The folders, for messages.
fn folders(dirs: &[PathBuf]) -> String {
    dirs.iter()
        .map(|d| d.display().to_string())
        .collect::<Vec<_>>()
        .join(" and ")
}

fn engine_name(device: &str, threads: usize) -> String {
    if device == "cpu" {
        format!("fused CPU engine, {threads} thread(s)")
    } else {
        format!("burn on {device}")
    }
}

fn progress_bar(quiet: bool, per_epoch: usize, state: &RunState, epochs: usize) -> ProgressBar {
    let bar = if quiet {
        ProgressBar::hidden()
    } else {
        ProgressBar::new(per_epoch as u64)
    };
    bar.set_style(
        ProgressStyle::with_template("epoch {prefix} [{bar:30}] {pos}/{len} {msg} ({eta} left)")
            .expect("template")
            .progress_chars("=> "),
    );
    bar.set_prefix(format!("{}/{}", state.epoch + 1, epochs));
    bar.set_position(state.batch as u64);
    bar
}

/// Smoothed loss and recent throughput for the progress bar.
#[derive(Default)]
struct Meter {
    smoothed: Option<f64>,
    window: Option<(Instant, usize)>,
}

impl Meter {
    fn record(&mut self, loss: f64, tokens: usize, lr: f64) -> String {
        let s = self.smoothed.map_or(loss, |s| 0.95 * s + 0.05 * loss);
        self.smoothed = Some(s);
        let (since, count) = self.window.get_or_insert_with(|| (Instant::now(), 0));
        *count += tokens;
        let tok_s = *count as f64 / since.elapsed().as_secs_f64().max(1e-9);
        if *count > 200_000 {
            self.window = None;
        }
        format!("loss {s:.3} · {:.1}k tok/s · lr {lr:.1e}", tok_s / 1e3)
    }
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
        dataset: match &config.init_from {
            Some(base) => format!(
                "{} pieces, fine-tuned from {}",
                train.len() + val.len(),
                base.file_name().unwrap_or_default().to_string_lossy()
            ),
            None => format!("{} pieces", train.len() + val.len()),
        },
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

/// Writes `model.onnx` and `model.json` into `dir`. The graph is always of the current
/// contract, so the metadata says so whatever `meta` held.
pub fn write_model(dir: &Path, net: &ContinuoNet, meta: &ModelMeta) -> Result<()> {
    let meta = ModelMeta {
        contract_version: CONTRACT_VERSION,
        ..meta.clone()
    };
    std::fs::write(dir.join("model.onnx"), onnx::export(net, &meta))
        .context("writing model.onnx")?;
    std::fs::write(dir.join("model.json"), meta.to_json()).context("writing model.json")?;
    Ok(())
}
