//! `trainer generate`: continue a prompt MIDI file, once or in several variations.

use std::path::PathBuf;

use anyhow::{Context, Result};
use continuo_core::constraints::Constraints;
use continuo_core::generator::Generator;
use continuo_core::midi::{read_midi, write_midi};
use continuo_core::runtime::Model;
use continuo_core::sampling::Sampling;

use super::{within, SamplingArgs};
use crate::generate::{continue_score, variation_path};

#[derive(clap::Args)]
pub struct GenerateCmd {
    #[arg(long)]
    model: PathBuf,
    #[arg(long)]
    prompt: PathBuf,
    /// Length of the continuation in beats, from the prompt's next beat (of its meter's
    /// pulse) after its last note ends.
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
    #[arg(long, default_value_t = continuo_core::constraints::DEFAULT_LONGEST_NOTE_BEATS, value_parser = within((0.0f32, 64.0)))]
    longest_note: f32,
    #[arg(long)]
    out: PathBuf,
}

impl GenerateCmd {
    /// Writes each continuation and says where.
    pub fn run(self) -> Result<()> {
        let GenerateCmd {
            model,
            prompt,
            beats,
            sampling,
            seed,
            variations,
            longest_note,
            out,
        } = self;
        let bytes =
            std::fs::read(&prompt).with_context(|| format!("reading {}", prompt.display()))?;
        let score = read_midi(&bytes).with_context(|| format!("reading {}", prompt.display()))?;
        let model = Model::load(&model, &Default::default())?;
        let mut generator = Generator::new(model, seed);
        let sampling = Sampling::from(sampling);
        let constraints = Constraints {
            max_note_beats: (longest_note > 0.0).then_some(longest_note),
            ..Default::default()
        };
        for k in 0..variations {
            generator.reseed(seed + k);
            let result = continue_score(&mut generator, &score, beats, &sampling, &constraints)?;
            let path = if variations == 1 {
                out.clone()
            } else {
                variation_path(&out, k + 1)
            };
            let added = result.notes.len() - score.notes.len();
            std::fs::write(&path, write_midi(&result)?)
                .with_context(|| format!("writing {}", path.display()))?;
            println!(
                "{} prompt notes + {added} generated notes (seed {}) written to {}",
                score.notes.len(),
                seed + k,
                path.display()
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        generate: GenerateCmd,
    }

    #[test]
    fn every_flag_reads_back_as_its_field_type() {
        // clap checks a value parser's type only when the field is read: a parser of f64 for
        // an f32 field parses, then panics.
        let cli = Cli::try_parse_from([
            "generate",
            "--model",
            "m.onnx",
            "--prompt",
            "p.mid",
            "--out",
            "o.mid",
            "--longest-note",
            "2.5",
            "--beats",
            "8",
        ])
        .unwrap();
        assert_eq!(cli.generate.longest_note, 2.5);
        assert_eq!(cli.generate.beats, 8.0);
        let defaults =
            Cli::try_parse_from(["generate", "--model", "m", "--prompt", "p", "--out", "o"])
                .unwrap();
        assert_eq!(
            defaults.generate.longest_note,
            continuo_core::constraints::DEFAULT_LONGEST_NOTE_BEATS
        );
    }
}
