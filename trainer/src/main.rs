//! `trainer` — train, evaluate and play Continuo models from the command line.

use std::path::PathBuf;

use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use continuo_trainer::cli::check::CheckCmd;
use continuo_trainer::cli::generate::GenerateCmd;
use continuo_trainer::cli::train::TrainCmd;
use continuo_trainer::eval;
use continuo_trainer::train::{train, Ending};

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
    Generate(GenerateCmd),
    /// Continue 2-bar prompts from held-out pieces and compare the answers with the true
    /// continuations and answers that need no model; with --learn, measure how answers take
    /// after a player the session memory has learned.
    Check(CheckCmd),
}

/// Set by the first Ctrl-C / SIGTERM: the loop finishes its step and checkpoints.
static STOP: AtomicBool = AtomicBool::new(false);

fn run_train(cmd: TrainCmd) -> Result<()> {
    let (start, args) = cmd.into_run(&STOP)?;
    ctrlc::set_handler(|| {
        if STOP.swap(true, Ordering::SeqCst) {
            eprintln!("\nstopping now, without a checkpoint");
            std::process::exit(130);
        }
        eprintln!("\nstopping after this step (a checkpoint is written; press Ctrl-C again to quit at once)");
    })
    .context("installing the Ctrl-C handler")?;
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
            let kinds: Vec<String> = eval::KINDS
                .iter()
                .zip(&r.by_kind)
                .filter(|(_, k)| k.tokens > 0)
                .map(|(name, k)| {
                    let share = k.tokens as f64 / r.tokens.max(1) as f64;
                    format!("{name} {:.3} ({:.0}% of tokens)", k.nll, share * 100.0)
                })
                .collect();
            println!("NLL by kind of token: {}", kinds.join(", "));
        }
        Command::Generate(cmd) => cmd.run()?,
        Command::Check(cmd) => cmd.run()?,
    }
    Ok(())
}
