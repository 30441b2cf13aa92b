//! `trainer` — train, evaluate and play Continuo models from the command line.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use continuo_trainer::config::TrainConfig;
use continuo_trainer::train::{train, TrainArgs};
use continuo_trainer::{eval, generate};

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
        #[arg(long, default_value_t = 16.0)]
        beats: f64,
        #[arg(long, default_value_t = 0.9)]
        temperature: f32,
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Longest a generated note may sound, in beats (0: no limit).
        #[arg(long, default_value_t = continuo_core::sampling::DEFAULT_LONGEST_NOTE_BEATS)]
        longest_note: f32,
        #[arg(long)]
        out: PathBuf,
    },
}

#[derive(clap::Args)]
struct TrainCmd {
    /// Folder of .mid/.midi files (searched recursively).
    #[arg(long)]
    data: PathBuf,
    /// Output folder: model.onnx, model.json and checkpoint/.
    #[arg(long)]
    out: PathBuf,
    /// Continue the stopped run in --out from its last checkpoint.
    #[arg(long)]
    resume: bool,
    /// cpu, or cuda / wgpu when built with that feature.
    #[arg(long, default_value = "cpu")]
    device: String,
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
}

fn main() -> Result<()> {
    match Cli::parse().command {
        Command::Train(cmd) => {
            let d = TrainConfig::default();
            let config = TrainConfig {
                epochs: cmd.epochs.unwrap_or(d.epochs),
                batch_size: cmd.batch_size.unwrap_or(d.batch_size),
                seq_len: cmd.seq_len.unwrap_or(d.seq_len),
                hidden_dim: cmd.hidden.unwrap_or(d.hidden_dim),
                embed_dim: cmd.embed.unwrap_or(d.embed_dim),
                num_layers: cmd.layers.unwrap_or(d.num_layers),
                learning_rate: cmd.lr.unwrap_or(d.learning_rate),
                dropout: cmd.dropout.unwrap_or(d.dropout),
                transpose: cmd.transpose.unwrap_or(d.transpose),
                seed: cmd.seed.unwrap_or(d.seed),
                ..d
            };
            let name = cmd.name.unwrap_or_else(|| {
                cmd.out
                    .file_name()
                    .map_or("model".into(), |n| n.to_string_lossy().into_owned())
            });
            let attribution = cmd.attribution.unwrap_or_else(|| {
                if cmd.data.to_string_lossy().contains("chopin") {
                    CHOPIN_ATTRIBUTION.into()
                } else {
                    format!("MIDI files from {}", cmd.data.display())
                }
            });
            let args = TrainArgs {
                data: cmd.data,
                out: cmd.out,
                name,
                device: continuo_trainer::device(&cmd.device)?,
                resume: cmd.resume,
                attribution,
                max_steps: cmd.max_steps,
                quiet: false,
            };
            let outcome = train(config, &args)?;
            if !outcome.skipped.is_empty() {
                eprintln!(
                    "{} file(s) skipped (see warnings above)",
                    outcome.skipped.len()
                );
            }
            match outcome.state.best_val_nll {
                Some(nll) => println!(
                    "best validation NLL {nll:.4} per token; model written to {}",
                    outcome.onnx.display()
                ),
                None => println!("no epoch finished yet; continue with --resume"),
            }
        }
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
            temperature,
            seed,
            longest_note,
            out,
        } => {
            let bytes =
                std::fs::read(&prompt).with_context(|| format!("reading {}", prompt.display()))?;
            let score = continuo_core::midi::read_midi(&bytes)
                .with_context(|| format!("reading {}", prompt.display()))?;
            let model = continuo_core::runtime::Model::load(&model, &Default::default())?;
            let mut generator = continuo_core::runtime::Generator::new(model, seed);
            let result = generate::continue_score(
                &mut generator,
                &score,
                beats,
                temperature,
                &continuo_core::sampling::Constraints {
                    max_note_beats: (longest_note > 0.0).then_some(longest_note),
                    ..Default::default()
                },
            )?;
            let added = result.notes.len() - score.notes.len();
            std::fs::write(&out, continuo_core::midi::write_midi(&result)?)
                .with_context(|| format!("writing {}", out.display()))?;
            println!(
                "{} prompt notes + {added} generated notes written to {}",
                score.notes.len(),
                out.display()
            );
        }
    }
    Ok(())
}
