//! `trainer` — train, evaluate and play Continuo models from the command line.

use std::path::PathBuf;

use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand};
use continuo_core::sampling::Sampling;
use continuo_trainer::config::TrainConfig;
use continuo_trainer::train::{train, Ending, Start, TrainArgs};
use continuo_trainer::{check, eval, generate};

const CHOPIN_ATTRIBUTION: &str =
    "Chopin MIDI files from piano-midi.de by Bernd Krueger, CC BY-SA 3.0 DE";

#[derive(Parser)]
#[command(
    name = "trainer",
    version,
    about = "Train Continuo's GRU on MIDI files and export ONNX"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Train a model on a folder of MIDI files.
    Train(Box<TrainCmd>),
    /// Report NLL per token and top-1/top-5 accuracy of a model on a folder of MIDI files.
    Eval {
        #[arg(long)]
        model: PathBuf,
        #[arg(long)]
        data: PathBuf,
    },
    /// Continue a prompt MIDI file.
    Generate {
        #[arg(long)]
        model: PathBuf,
        #[arg(long)]
        prompt: PathBuf,
        /// Length of the continuation in beats.
        #[arg(long, default_value_t = 16.0, value_parser = within((1.0 / 24.0, 4096.0)))]
        beats: f64,
        #[command(flatten)]
        sampling: SamplingArgs,
        /// Seed of the (first) continuation.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Write this many continuations of the same prompt, with seeds SEED, SEED+1, …, as
        /// OUT-1.mid, OUT-2.mid, …
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..=64))]
        variations: u64,
        /// Longest a generated note may sound, in beats (0: no limit).
        #[arg(long, default_value_t = continuo_core::constraints::DEFAULT_LONGEST_NOTE_BEATS, value_parser = within((0.0, 64.0)))]
        longest_note: f32,
        #[arg(long)]
        out: PathBuf,
    },
    /// Continue 2-bar prompts from held-out pieces and compare the answers with the true
    /// continuations and two baselines (replaying the prompt, random notes of its key).
    Check {
        #[arg(long)]
        model: PathBuf,
        /// Folder of held-out .mid/.midi files (searched recursively).
        #[arg(long)]
        data: PathBuf,
        /// Prompts per piece, spread evenly over it.
        #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u64).range(1..))]
        windows: u64,
        /// Answers per prompt, with seeds 1 to N.
        #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u64).range(1..))]
        seeds: u64,
        #[command(flatten)]
        sampling: SamplingArgs,
        /// Also write the report to this file as JSON.
        #[arg(long)]
        json: Option<PathBuf>,
    },
}

/// How notes are drawn; the defaults are the plugin's.
#[derive(clap::Args)]
struct SamplingArgs {
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
}

/// A clap parser for a finite number within `(min, max)`.
fn within<T>((min, max): (T, T)) -> impl Fn(&str) -> Result<T, String> + Clone
where
    T: std::str::FromStr
        + PartialOrd
        + std::fmt::Display
        + Copy
        + Into<f64>
        + Send
        + Sync
        + 'static,
    T::Err: std::fmt::Display,
{
    move |s: &str| {
        let v: T = s.parse().map_err(|e| format!("{e}"))?;
        if v.into().is_finite() && (min..=max).contains(&v) {
            Ok(v)
        } else {
            Err(format!("{v} is not within {min}..={max}"))
        }
    }
}

impl From<SamplingArgs> for Sampling {
    fn from(a: SamplingArgs) -> Self {
        Sampling {
            temperature: a.temperature,
            min_p: a.min_p,
            repeat_penalty: a.repeat_penalty,
            follow: a.follow,
            density: a.density,
            polyphony: a.polyphony,
        }
    }
}

#[derive(clap::Args)]
struct TrainCmd {
    /// Folder(s) of .mid/.midi files (searched recursively), read together: `--data A B` or
    /// `--data A --data B`. With more than one, piece names start with their folder's name.
    #[arg(long, required = true, num_args = 1..)]
    data: Vec<PathBuf>,
    /// Output folder: model.onnx, model.json and checkpoint/.
    #[arg(long)]
    out: PathBuf,
    /// Continue the stopped run in --out from its last checkpoint.
    #[arg(long)]
    resume: bool,
    /// cpu (the fused CPU engine), flex (burn's CPU backend, the slower reference), or
    /// cuda / wgpu when built with that feature.
    #[arg(long, default_value = "cpu")]
    device: String,
    /// Threads of the CPU engine (default: every available core).
    #[arg(long)]
    threads: Option<usize>,
    /// Model name stored in the metadata (default: the output folder's name).
    #[arg(long)]
    name: Option<String>,
    /// Dataset description and licence stored in the metadata.
    #[arg(long)]
    attribution: Option<String>,
    #[arg(long)]
    epochs: Option<usize>,
    #[arg(long)]
    batch_size: Option<usize>,
    #[arg(long)]
    seq_len: Option<usize>,
    #[arg(long)]
    hidden: Option<usize>,
    #[arg(long)]
    embed: Option<usize>,
    #[arg(long)]
    layers: Option<usize>,
    #[arg(long)]
    lr: Option<f64>,
    #[arg(long)]
    dropout: Option<f64>,
    /// Random transposition range in semitones (0 disables augmentation).
    #[arg(long)]
    transpose: Option<i32>,
    #[arg(long)]
    seed: Option<u64>,
    /// Stop after this many steps (a checkpoint is saved; continue with --resume).
    #[arg(long)]
    max_steps: Option<usize>,
    /// Fine-tune: start from the weights of the run in this output folder (its architecture
    /// is used).
    #[arg(long)]
    init_from: Option<PathBuf>,
    /// File names (comma-separated) to leave out of training and validation, for example the
    /// validation pieces of the run you will fine-tune on.
    #[arg(long, value_delimiter = ',')]
    exclude: Vec<String>,
}

impl TrainCmd {
    /// The run's config from the flags, or — with `--resume` — what may change of the saved
    /// one. Flags that would make a resumed run a different run are refused by name.
    fn start(&self) -> Result<Start> {
        let d = TrainConfig::default();
        if self.resume {
            let fixed = [
                ("--batch-size", self.batch_size.is_some()),
                ("--seq-len", self.seq_len.is_some()),
                ("--hidden", self.hidden.is_some()),
                ("--embed", self.embed.is_some()),
                ("--layers", self.layers.is_some()),
                ("--lr", self.lr.is_some()),
                ("--dropout", self.dropout.is_some()),
                ("--transpose", self.transpose.is_some()),
                ("--seed", self.seed.is_some()),
                ("--init-from", self.init_from.is_some()),
                ("--exclude", !self.exclude.is_empty()),
            ];
            let refused: Vec<&str> = fixed.iter().filter(|f| f.1).map(|f| f.0).collect();
            if !refused.is_empty() {
                bail!(
                    "{} cannot change with --resume: a resumed run keeps its saved config (only --epochs may extend it); start a new run in another --out instead",
                    refused.join(", ")
                );
            }
            return Ok(Start::Resume {
                epochs: self.epochs,
            });
        }
        let mut d = d;
        if let Some(dir) = &self.init_from {
            // The network's shape is the initial weights' shape.
            let base = continuo_trainer::train::saved_config(dir)?;
            for (flag, given, saved) in [
                ("--hidden", self.hidden, base.hidden_dim),
                ("--embed", self.embed, base.embed_dim),
                ("--layers", self.layers, base.num_layers),
            ] {
                if given.is_some_and(|g| g != saved) {
                    bail!(
                        "{flag} differs from the network in {} ({saved})",
                        dir.display()
                    );
                }
            }
            (d.hidden_dim, d.embed_dim, d.num_layers) =
                (base.hidden_dim, base.embed_dim, base.num_layers);
        }
        Ok(Start::Fresh(TrainConfig {
            init_from: self.init_from.clone(),
            exclude: self.exclude.clone(),
            epochs: self.epochs.unwrap_or(d.epochs),
            batch_size: self.batch_size.unwrap_or(d.batch_size),
            seq_len: self.seq_len.unwrap_or(d.seq_len),
            hidden_dim: self.hidden.unwrap_or(d.hidden_dim),
            embed_dim: self.embed.unwrap_or(d.embed_dim),
            num_layers: self.layers.unwrap_or(d.num_layers),
            learning_rate: self.lr.unwrap_or(d.learning_rate),
            dropout: self.dropout.unwrap_or(d.dropout),
            transpose: self.transpose.unwrap_or(d.transpose),
            seed: self.seed.unwrap_or(d.seed),
            ..d
        }))
    }
}

/// Set by the first Ctrl-C / SIGTERM: the loop finishes its step and checkpoints.
static STOP: AtomicBool = AtomicBool::new(false);

fn run_train(cmd: TrainCmd) -> Result<()> {
    let start = cmd.start()?;
    ctrlc::set_handler(|| {
        if STOP.swap(true, Ordering::SeqCst) {
            eprintln!("\nstopping now, without a checkpoint");
            std::process::exit(130);
        }
        eprintln!("\nstopping after this step (a checkpoint is written; press Ctrl-C again to quit at once)");
    })
    .context("installing the Ctrl-C handler")?;
    let name = cmd.name.unwrap_or_else(|| {
        cmd.out
            .file_name()
            .map_or("model".into(), |n| n.to_string_lossy().into_owned())
    });
    let attribution = cmd.attribution.unwrap_or_else(|| {
        if cmd
            .data
            .iter()
            .all(|d| d.to_string_lossy().contains("chopin"))
        {
            CHOPIN_ATTRIBUTION.into()
        } else {
            let dirs: Vec<String> = cmd.data.iter().map(|d| d.display().to_string()).collect();
            format!("MIDI files from {}", dirs.join(" and "))
        }
    });
    let threads = cmd.threads.unwrap_or_else(|| {
        std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
    });
    let args = TrainArgs {
        data: cmd.data,
        out: cmd.out,
        name,
        device: cmd.device,
        threads,
        attribution,
        max_steps: cmd.max_steps,
        stop: Some(&STOP),
        quiet: false,
    };
    let outcome = train(start, &args)?;
    if !outcome.skipped.is_empty() {
        eprintln!(
            "{} file(s) skipped (see warnings above)",
            outcome.skipped.len()
        );
    }
    let s = &outcome.state;
    match outcome.ending {
        Ending::Finished => match s.best_val_nll {
            Some(nll) => println!(
                "best validation NLL {nll:.4} per token; model written to {}",
                outcome.onnx.display()
            ),
            None => println!("no epoch ran"),
        },
        Ending::StepLimit | Ending::Stopped => println!(
            "stopped at epoch {} step {}; continue with --resume",
            s.epoch + 1,
            s.batch
        ),
    }
    Ok(())
}

fn main() -> Result<()> {
    match Cli::parse().command {
        Command::Train(cmd) => run_train(*cmd)?,
        Command::Eval { model, data } => {
            let (r, skipped) = eval::evaluate(&model, &data)?;
            for s in &skipped {
                eprintln!("warning: skipped {}: {}", s.path.display(), s.reason);
            }
            println!(
                "{} pieces, {} tokens: NLL {:.4} per token, top-1 {:.1}%, top-5 {:.1}%",
                r.pieces,
                r.tokens,
                r.nll,
                r.top1 * 100.0,
                r.top5 * 100.0
            );
        }
        Command::Generate {
            model,
            prompt,
            beats,
            sampling,
            seed,
            variations,
            longest_note,
            out,
        } => {
            let bytes =
                std::fs::read(&prompt).with_context(|| format!("reading {}", prompt.display()))?;
            let score = continuo_core::midi::read_midi(&bytes)
                .with_context(|| format!("reading {}", prompt.display()))?;
            let model = continuo_core::runtime::Model::load(&model, &Default::default())?;
            let mut generator = continuo_core::generator::Generator::new(model, seed);
            let sampling = Sampling::from(sampling);
            let constraints = continuo_core::constraints::Constraints {
                max_note_beats: (longest_note > 0.0).then_some(longest_note),
                ..Default::default()
            };
            for k in 0..variations {
                generator.reseed(seed + k);
                let result = generate::continue_score(
                    &mut generator,
                    &score,
                    beats,
                    &sampling,
                    &constraints,
                )?;
                let path = if variations == 1 {
                    out.clone()
                } else {
                    generate::variation_path(&out, k + 1)
                };
                let added = result.notes.len() - score.notes.len();
                std::fs::write(&path, continuo_core::midi::write_midi(&result)?)
                    .with_context(|| format!("writing {}", path.display()))?;
                println!(
                    "{} prompt notes + {added} generated notes (seed {}) written to {}",
                    score.notes.len(),
                    seed + k,
                    path.display()
                );
            }
        }
        Command::Check {
            model,
            data,
            windows,
            seeds,
            sampling,
            json,
        } => {
            let options = check::CheckOptions {
                windows: windows as usize,
                seeds,
                sampling: sampling.into(),
            };
            let (report, skipped) = check::check_model(&model, &data, &options)?;
            for s in &skipped {
                eprintln!("warning: skipped {}: {}", s.path.display(), s.reason);
            }
            print!("{report}");
            if let Some(path) = json {
                std::fs::write(&path, report.to_json())
                    .with_context(|| format!("writing {}", path.display()))?;
            }
        }
    }
    Ok(())
}
