//! `trainer check`: the continuation check on held-out pieces, with `--learn` how answers
//! take after a player once the session memory has learned the player's phrases, or with
//! `--styles` how much of each built-in style prompt the answers keep.

use std::path::PathBuf;

use anyhow::{Context, Result};

use super::{within, SamplingArgs};
use crate::check::learn::{learn_model, LearnOptions};
use crate::check::rolls::write_rolls;
use crate::check::style_answers::check_styles;
use crate::check::{check_model_against, CheckOptions};
use crate::data::Skipped;

#[derive(clap::Args)]
pub struct CheckCmd {
    #[arg(long)]
    model: PathBuf,
    /// Folder of held-out .mid/.midi files (searched recursively). With --learn: whether
    /// the answers to its windows stay the same with nothing learned.
    #[arg(long, required_unless_present_any = ["learn", "styles"], conflicts_with = "styles")]
    data: Option<PathBuf>,
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
    /// Write the windows whose answers the classifier tells most surely into this folder:
    /// a piano roll each (the phrase over its true continuation, and over the answer told
    /// most surely) and both as MIDI files.
    #[arg(long, conflicts_with_all = ["learn", "styles"])]
    rolls: Option<PathBuf>,
    /// Folder(s) the model was trained on (searched recursively): `--train A B` or
    /// `--train A --train B`. Adds the longest run of notes each kind of answer shares
    /// with a piece in them; files with a held-out piece's notes are left out.
    #[arg(long, num_args = 1.., conflicts_with = "learn")]
    train: Vec<PathBuf>,
    /// Players of styles the model does not know teach the session memory four phrases
    /// each; the answers to the fourth, at each --weights, are compared with what they
    /// taught.
    #[arg(long)]
    learn: bool,
    /// Answer the built-in style prompts (block chords, a waltz, Alberti bass, a barcarolle
    /// in 6/8, swing and more), each measured against the style played on, instead of
    /// held-out pieces.
    #[arg(long, conflicts_with_all = ["learn", "train"])]
    styles: bool,
    /// Under --styles: the prompts played by hand, each onset off its written time by a
    /// normal draw of this many beats (0.02: 10 ms at 120 BPM, a tight player) and each
    /// length off by 2.5 times as much of itself; 0 plays them as written.
    #[arg(long, conflicts_with_all = ["data", "learn"], value_parser = within((0.0f64, 0.25)))]
    jitter: Option<f64>,
    /// Under --styles: the answers start this many beats later than where the plugin's
    /// start with its default settings: 0.25 starts them a 16th after the beat, as the
    /// plugin does with *Start on* at a 16th after a phrase whose last note ended off the
    /// beat; 1 to 4, as after a longer *Silence trigger* or with *Start on* at the bar.
    #[arg(long, conflicts_with_all = ["data", "learn"], value_parser = within((0.0f64, 4.0)))]
    start_late: Option<f64>,
    /// Players per style under --learn, with seeds 1 to N.
    #[arg(long, default_value_t = 32, value_parser = clap::value_parser!(u64).range(2..=1000))]
    players: u64,
    /// Memory weights compared under --learn, comma-separated, each within 0..=1 (the
    /// plugin's *Learn from me* knob at k mixes the memory in at k²).
    #[arg(long, value_delimiter = ',', num_args = 1.., default_value = "0,0.25,0.5,1", value_parser = within((0.0f32, 1.0)))]
    weights: Vec<f32>,
}

fn warn(skipped: &[Skipped]) {
    for s in skipped {
        eprintln!("warning: skipped {}: {}", s.path.display(), s.reason);
    }
}

impl CheckCmd {
    /// Prints the report, and writes it as JSON when asked.
    pub fn run(self) -> Result<()> {
        let check = CheckOptions {
            windows: self.windows as usize,
            seeds: self.seeds,
            sampling: self.sampling.into(),
            jitter: self.jitter.unwrap_or(0.0),
            start_late: self.start_late.unwrap_or(0.0),
        };
        let (text, json) = if self.styles {
            let report = check_styles(&self.model, &check)?;
            (report.to_string(), report.to_json())
        } else if self.learn {
            let options = LearnOptions {
                players: self.players,
                weights: self.weights,
                sampling: check.sampling,
            };
            let held_out = self.data.as_deref().map(|d| (d, &check));
            let (report, skipped) = learn_model(&self.model, held_out, &options)?;
            warn(&skipped);
            (report.to_string(), report.to_json())
        } else {
            let data = self.data.expect("clap requires --data without --learn");
            let (report, skipped) = check_model_against(&self.model, &data, &self.train, &check)?;
            warn(&skipped);
            if let Some(dir) = &self.rolls {
                let written = write_rolls(&report.classifier.model_most_told, dir)?;
                eprintln!("wrote {} files into {}", written.len(), dir.display());
            }
            (report.to_string(), report.to_json())
        };
        print!("{text}");
        if let Some(path) = self.json {
            std::fs::write(&path, json).with_context(|| format!("writing {}", path.display()))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        check: CheckCmd,
    }

    fn parse(flags: &[&str]) -> Result<CheckCmd, clap::Error> {
        let line = ["trainer", "--model", "m"].iter().chain(flags);
        Cli::try_parse_from(line).map(|c| c.check)
    }

    #[test]
    fn learn_needs_no_data_and_takes_weights_within_zero_to_one() {
        let cmd = parse(&["--learn"]).unwrap();
        assert!(cmd.learn && cmd.data.is_none());
        assert_eq!(cmd.weights, [0.0, 0.25, 0.5, 1.0]);
        assert_eq!(cmd.players, 32);
        let cmd = parse(&["--learn", "--weights", "0,0.1", "--players", "4"]).unwrap();
        assert_eq!((cmd.weights, cmd.players), (vec![0.0, 0.1], 4));
        for bad in [
            &["--learn", "--weights", "0,1.5"][..],
            &["--learn", "--weights", "-0.5"],
            &["--learn", "--weights", "NaN"],
            &["--learn", "--players", "1"],
            &["--learn", "--train", "t"],
        ] {
            assert!(parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn rolls_go_with_held_out_pieces_only() {
        let cmd = parse(&["--data", "d", "--rolls", "out"]).unwrap();
        assert_eq!(cmd.rolls, Some(PathBuf::from("out")));
        assert!(parse(&["--styles", "--rolls", "out"]).is_err());
        assert!(parse(&["--learn", "--rolls", "out"]).is_err());
    }

    #[test]
    fn styles_need_no_data_and_go_alone() {
        let cmd = parse(&["--styles", "--seeds", "8"]).unwrap();
        assert!(cmd.styles && cmd.data.is_none());
        assert_eq!(cmd.jitter, None, "as written");
        let cmd = parse(&["--styles", "--jitter", "0.04"]).unwrap();
        assert_eq!(cmd.jitter, Some(0.04));
        assert_eq!(cmd.start_late, None, "where the plugin starts");
        let cmd = parse(&["--styles", "--start-late", "0.25"]).unwrap();
        assert_eq!(cmd.start_late, Some(0.25));
        for bad in [
            &["--styles", "--data", "d"][..],
            &["--styles", "--learn"],
            &["--styles", "--train", "t"],
            &["--styles", "--jitter", "-0.01"],
            &["--styles", "--jitter", "1"],
            &["--data", "d", "--jitter", "0.02"],
            &["--learn", "--jitter", "0.02"],
            &["--styles", "--start-late", "4.5"],
            &["--data", "d", "--start-late", "0.25"],
        ] {
            assert!(parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn the_continuation_check_still_needs_its_data() {
        assert!(parse(&[]).is_err());
        let cmd = parse(&["--data", "d", "--windows", "8"]).unwrap();
        assert!(!cmd.learn);
        assert_eq!(cmd.windows, 8);
    }
}
