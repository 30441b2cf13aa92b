//! `trainer train`: the run's config from the flags, and what `--resume` lets them change.

use std::path::PathBuf;
use std::sync::atomic::AtomicBool;

use anyhow::{bail, Result};

use crate::base::Base;
use crate::config::TrainConfig;
use crate::train::{Start, TrainArgs};

const CHOPIN_ATTRIBUTION: &str =
    "Chopin MIDI files from piano-midi.de by Bernd Krueger, CC BY-SA 3.0 DE";

#[derive(clap::Args)]
pub struct TrainCmd {
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
    /// Fine-tune: start from the weights of the run in this output folder, or of an exported
    /// model (a folder holding model.onnx and model.json, such as models/keyboard); its
    /// architecture is used.
    #[arg(long)]
    init_from: Option<PathBuf>,
    /// File names (comma-separated) to leave out of training and validation, for example the
    /// validation pieces of the run you will fine-tune on.
    #[arg(long, value_delimiter = ',')]
    exclude: Vec<String>,
}

impl TrainCmd {
    /// How the run begins, and what else it needs: `stop` is set to stop it after a step.
    pub fn into_run(self, stop: &'static AtomicBool) -> Result<(Start, TrainArgs)> {
        let start = self.start()?;
        let name = self.name.unwrap_or_else(|| {
            self.out
                .file_name()
                .map_or("model".into(), |n| n.to_string_lossy().into_owned())
        });
        let attribution = self.attribution.unwrap_or_else(|| {
            if self
                .data
                .iter()
                .all(|d| d.to_string_lossy().contains("chopin"))
            {
                CHOPIN_ATTRIBUTION.into()
            } else {
                let dirs: Vec<String> = self.data.iter().map(|d| d.display().to_string()).collect();
                format!("MIDI files from {}", dirs.join(" and "))
            }
        });
        let threads = self.threads.unwrap_or_else(|| {
            std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
        });
        let args = TrainArgs {
            data: self.data,
            out: self.out,
            name,
            device: self.device,
            threads,
            attribution,
            max_steps: self.max_steps,
            stop: Some(stop),
            quiet: false,
        };
        Ok((start, args))
    }

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
            let base = Base::open(dir)?.architecture()?;
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

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        train: TrainCmd,
    }

    /// How `trainer train --data d --out o FLAGS` begins.
    fn start(flags: &[&str]) -> Result<Start> {
        let line = ["trainer", "--data", "d", "--out", "o"].iter().chain(flags);
        Cli::try_parse_from(line)?.train.start()
    }

    const RUN_FLAGS: [[&str; 2]; 11] = [
        ["--batch-size", "8"],
        ["--seq-len", "64"],
        ["--hidden", "32"],
        ["--embed", "16"],
        ["--layers", "1"],
        ["--lr", "0.01"],
        ["--dropout", "0.1"],
        ["--transpose", "3"],
        ["--seed", "7"],
        ["--init-from", "base"],
        ["--exclude", "a.mid,b.mid"],
    ];

    #[test]
    fn resume_refuses_every_flag_that_would_make_another_run_by_name() {
        for [flag, value] in RUN_FLAGS {
            let err = start(&["--resume", flag, value]).unwrap_err().to_string();
            assert!(
                err.starts_with(&format!("{flag} cannot change with --resume")),
                "{err}"
            );
        }
        let err = start(&["--resume", "--lr", "0.1", "--epochs", "9", "--seed", "2"])
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("--lr, --seed cannot change"), "{err}");
    }

    #[test]
    fn resume_takes_a_new_length_and_the_flags_that_leave_the_run_as_it_is() {
        let resumed = start(&["--resume", "--epochs", "20"]).unwrap();
        assert!(
            matches!(resumed, Start::Resume { epochs: Some(20) }),
            "{resumed:?}"
        );
        let resumed = start(&[
            "--resume",
            "--device",
            "flex",
            "--threads",
            "1",
            "--name",
            "n",
            "--attribution",
            "a",
            "--max-steps",
            "5",
        ])
        .unwrap();
        assert!(
            matches!(resumed, Start::Resume { epochs: None }),
            "{resumed:?}"
        );
    }

    #[test]
    fn a_fresh_run_takes_the_run_flags_and_the_defaults_for_the_rest() {
        let Start::Fresh(config) = start(&["--lr", "0.01", "--epochs", "3"]).unwrap() else {
            panic!("a fresh run");
        };
        assert_eq!(
            config,
            TrainConfig {
                learning_rate: 0.01,
                epochs: 3,
                ..TrainConfig::default()
            }
        );
    }
}
