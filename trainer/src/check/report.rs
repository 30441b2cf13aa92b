//! What `trainer check` reports, as a table and as JSON.

use std::fmt;

use continuo_core::sampling::Sampling;
use serde::Serialize;

use super::copying::{Copying, Runs};
use super::measures::{Measures, ROWS};
use super::CheckOptions;

/// Held-out accuracy of a classifier telling each kind of answer from the true
/// continuations of the same windows: 0.5 when it cannot, 1 when it always can.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Classifier {
    /// Cross-validation folds; a window's answers and truth stay in one fold.
    pub folds: usize,
    /// Deals of windows to folds, the accuracies averaged over them.
    pub dealings: usize,
    /// Features per passage.
    pub features: usize,
    pub replay: Option<f64>,
    pub random: Option<f64>,
    pub other_passage: Option<f64>,
    pub model: Option<f64>,
    /// The model's answers against the truth with each part of the features alone: what
    /// gives them away.
    pub model_by_part: Vec<(String, Option<f64>)>,
    /// The features whose means differ most between the model's answers and the truth, in
    /// standard deviations: what the answers lack or overdo.
    pub model_furthest: Vec<Difference>,
    /// The windows whose answers it tells from the truth most surely, surest first: where
    /// to look and listen first.
    pub model_most_told: Vec<Told>,
}

/// A window whose answers the classifier tells from the truth.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Told {
    pub piece: String,
    /// Where the window's phrase starts in the piece, in beats.
    pub start: f64,
    /// The held-out probability that the window's answers are answers, their mean (0.5:
    /// the classifier cannot tell).
    pub answers: f64,
    /// The same for the window's true continuation (low: heard as music); `None` where its
    /// fold could not be fitted.
    pub truth: Option<f64>,
    /// The seed (1 to `--seeds`) whose answer it tells most surely.
    pub seed: u64,
    /// The phrase, the truth and that answer, to be drawn ([`super::rolls`]).
    #[serde(skip)]
    pub passages: Passages,
}

/// A window's phrase, its true continuation and one answer, in the window's time base (the
/// phrase from beat 0).
#[derive(Debug, Clone, PartialEq)]
pub struct Passages {
    pub phrase: continuo_core::Score,
    pub truth: Vec<continuo_core::Note>,
    pub answer: Vec<continuo_core::Note>,
    /// The phrase's bar, in beats.
    pub bar_beats: f64,
}

/// One feature's mean in the model's answers and in the truth, and their gap in pooled
/// standard deviations (positive: the answers have more of it).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Difference {
    pub feature: String,
    pub effect: f64,
    pub answers: f64,
    pub truth: f64,
}

/// What `trainer check` reports: each column's measures averaged over windows × seeds.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    pub options: CheckOptions,
    /// Pieces read.
    pub pieces: usize,
    /// Pieces without a usable window (too short or too sparse).
    pub pieces_without_windows: usize,
    pub windows: usize,
    /// windows × seeds.
    pub answers: usize,
    /// Model answers without a note; measures that need notes skip them.
    pub empty_answers: usize,
    /// Windows whose piece has no other window clear of them, so no "other passage" answer.
    pub windows_without_other_passage: usize,
    /// The true continuation against itself: what a perfect answer scores.
    pub truth: Measures,
    /// The prompt again, two bars later.
    pub replay: Measures,
    /// Random notes of the prompt's key, range and density.
    pub random: Measures,
    /// The two bars after another window of the same piece.
    pub other_passage: Measures,
    pub model: Measures,
    pub classifier: Classifier,
    /// Runs of notes shared with the training pieces, when their folders are given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub copying: Option<Copying>,
}

impl Report {
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a report is plain data")
    }
}

/// The sampling settings a report's answers were drawn with, as its last line names them.
pub(crate) struct SamplingLine<'a>(pub &'a Sampling);

impl fmt::Display for SamplingLine<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.0;
        write!(
            f,
            "temperature {}, min-p {}, repeat penalty {}, follow {}",
            s.temperature, s.min_p, s.repeat_penalty, s.follow
        )
    }
}

const LABEL_WIDTH: usize = 34;
const COLUMNS: [&str; 5] = ["true", "replay", "random", "passage", "model"];

fn cell(f: &mut fmt::Formatter<'_>, value: Option<f64>) -> fmt::Result {
    match value {
        Some(v) => write!(f, "{v:>9.3}"),
        None => write!(f, "{:>9}", "-"),
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:LABEL_WIDTH$}", "")?;
        for c in COLUMNS {
            write!(f, "{c:>9}")?;
        }
        writeln!(f)?;
        let columns = [
            &self.truth,
            &self.replay,
            &self.random,
            &self.other_passage,
            &self.model,
        ]
        .map(Measures::values);
        let mut group = "";
        for (i, row) in ROWS.iter().enumerate() {
            if row.group != group {
                group = row.group;
                writeln!(f, "{group}")?;
            }
            let label = format!("  {} {}", row.label, row.mark);
            write!(f, "{label:LABEL_WIDTH$}")?;
            for column in &columns {
                cell(f, column[i])?;
            }
            writeln!(f)?;
        }
        if let Some(copying) = &self.copying {
            writeln!(
                f,
                "copying (longest run of notes shared with a training piece)"
            )?;
            let columns = copying.columns().map(Runs::values);
            for (i, label) in Runs::LABELS.iter().enumerate() {
                write!(f, "{:LABEL_WIDTH$}", format!("  {label} ≈"))?;
                for column in &columns {
                    cell(f, column[i])?;
                }
                writeln!(f)?;
            }
        }
        let c = &self.classifier;
        writeln!(
            f,
            "classifier ({}-fold, {} dealings averaged, 0.5 = can't tell from true)",
            c.folds, c.dealings
        )?;
        write!(f, "{:LABEL_WIDTH$}", "  held-out accuracy ↓")?;
        for value in [None, c.replay, c.random, c.other_passage, c.model] {
            cell(f, value)?;
        }
        writeln!(f)?;
        let parts: Vec<String> = c
            .model_by_part
            .iter()
            .filter_map(|(name, a)| a.map(|a| format!("{name} {a:.2}")))
            .collect();
        if !parts.is_empty() {
            writeln!(f, "  model, one part alone: {}", parts.join(", "))?;
        }
        if !c.model_furthest.is_empty() {
            writeln!(
                f,
                "  model, furthest from true (standardized gap: answers' mean against true's):"
            )?;
            for d in &c.model_furthest {
                writeln!(
                    f,
                    "    {:+.2}  {}: {:.3} against {:.3}",
                    d.effect, d.feature, d.answers, d.truth
                )?;
            }
        }
        if !c.model_most_told.is_empty() {
            writeln!(
                f,
                "  model, most surely told (held-out probability that a window's answers are answers; its truth's):"
            )?;
            for t in &c.model_most_told {
                let truth = t
                    .truth
                    .map_or_else(|| "-".to_string(), |p| format!("{p:.2}"));
                writeln!(
                    f,
                    "    {:.2}; {truth}  {} from beat {} (seed {} surest)",
                    t.answers, t.piece, t.start, t.seed
                )?;
            }
        }
        writeln!(f)?;
        writeln!(
            f,
            "{} pieces ({} without a usable window), {} windows × {} seeds = {} answers, {} empty (no notes)",
            self.pieces,
            self.pieces_without_windows,
            self.windows,
            self.options.seeds,
            self.answers,
            self.empty_answers
        )?;
        if self.windows_without_other_passage > 0 {
            writeln!(
                f,
                "{} windows without another passage clear of them (its column skips them)",
                self.windows_without_other_passage
            )?;
        }
        writeln!(
            f,
            "true: the piece's own continuation; replay: the prompt again; random: notes of the prompt's key, range and density; passage: the two bars after another window of the piece"
        )?;
        if let Some(c) = &self.copying {
            let folders: Vec<String> = c.folders.iter().map(|d| d.display().to_string()).collect();
            writeln!(
                f,
                "copying: notes in a row whose pitch intervals (in any transposition) a piece of {} holds, up to {}; {} pieces, {} notes{}",
                folders.join(", "),
                c.max_run,
                c.pieces,
                c.notes,
                match c.held_out_left_out {
                    0 => String::new(),
                    n => format!(", less {n} with the notes of a held-out piece"),
                }
            )?;
        }
        writeln!(
            f,
            "↑ higher is better, ↓ lower is better, ≈ closest to true is best; {}",
            SamplingLine(&self.options.sampling)
        )
    }
}
