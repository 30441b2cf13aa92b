//! What `trainer check --learn` reports, as tables and as JSON.

use std::fmt;

use serde::Serialize;

use super::figures::ROWS;
use super::{Closeness, LearnOptions};
use crate::check::copying::Runs;

/// One kind of passage, measured against the learned phrases.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Column {
    pub label: String,
    /// The memory weight of the answers; `None` for the player's next phrase.
    pub weight: Option<f32>,
    /// Means over the passages.
    pub closeness: Closeness,
    /// Longest copied runs, over the passages with notes.
    pub runs: Runs,
    /// Held-out accuracy of telling these passages from the learned phrases: 0.5 when it
    /// cannot, 1 when it always can.
    pub classifier: Option<f64>,
    pub passages: usize,
    /// Passages without a note.
    pub empty: usize,
}

/// One style's columns, or all styles' together.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StyleReport {
    pub style: String,
    pub players: usize,
    pub columns: Vec<Column>,
}

/// Held-out windows of the continuation check answered as the check answers them, with an
/// empty memory at full weight, and with a taught memory at weight 0.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Unchanged {
    pub answers: usize,
    /// Answers with an empty memory at weight 1 that are the check's, note for note.
    pub same_with_empty_memory: usize,
    /// Answers with a taught memory at weight 0 that are the check's, note for note.
    pub same_at_weight_zero: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LearnReport {
    pub options: LearnOptions,
    pub learned_phrases: usize,
    pub styles: Vec<StyleReport>,
    /// Every style's passages together.
    pub all: StyleReport,
    /// With held-out pieces given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unchanged: Option<Unchanged>,
}

impl LearnReport {
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a report is plain data")
    }
}

const LABEL_WIDTH: usize = 32;
const CELL: usize = 12;

fn cell(f: &mut fmt::Formatter<'_>, value: Option<f64>) -> fmt::Result {
    match value {
        Some(v) => write!(f, "{v:>CELL$.3}"),
        None => write!(f, "{:>CELL$}", "-"),
    }
}

fn row(
    f: &mut fmt::Formatter<'_>,
    label: &str,
    columns: &[Column],
    value: impl Fn(&Column) -> Option<f64>,
) -> fmt::Result {
    write!(f, "{label:LABEL_WIDTH$}")?;
    for c in columns {
        cell(f, value(c))?;
    }
    writeln!(f)
}

impl fmt::Display for StyleReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let label = format!("{} ({} players)", self.style, self.players);
        write!(f, "{label:LABEL_WIDTH$}")?;
        for c in &self.columns {
            write!(f, "{:>CELL$}", c.label)?;
        }
        writeln!(f)?;
        let columns = &self.columns;
        for r in &ROWS {
            let label = format!("  {} {}", r.label, r.mark);
            row(f, &label, columns, |c| (r.value)(&c.closeness))?;
        }
        row(f, "  longest copied run, median", columns, |c| {
            c.runs.median
        })?;
        row(f, "  longest copied run, max", columns, |c| c.runs.max)?;
        row(f, "  empty", columns, |c| Some(c.empty as f64))?;
        row(f, "  classifier accuracy ↓", columns, |c| c.classifier)
    }
}

impl fmt::Display for LearnReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for style in self.styles.iter().chain([&self.all]) {
            writeln!(f, "{style}")?;
        }
        writeln!(
            f,
            "Each player plays {} phrases into an empty memory, learning each; the model answers the last at each weight (one seed per player); \"next phrase\" is the player's phrase after that, never learned.",
            self.learned_phrases
        )?;
        writeln!(
            f,
            "Figures are runs of 3 top-line intervals or 3 onset gaps; shared: found in a learned phrase. Copied run: notes in a row a learned phrase holds, in any transposition. Classifier: {}-fold, {} dealings averaged, telling the column's passages from the learned phrases (0.5 = can't).",
            crate::check::FOLDS,
            crate::check::DEALINGS
        )?;
        if let Some(u) = &self.unchanged {
            writeln!(
                f,
                "Held-out windows with nothing learned: {} of {} answers identical note for note with an empty memory at weight 1, {} of {} with a taught memory at weight 0.",
                u.same_with_empty_memory, u.answers, u.same_at_weight_zero, u.answers
            )?;
        }
        writeln!(
            f,
            "↑ higher is closer to the player, ↓ lower is closer, ≈ read against the next phrase; {}",
            crate::check::report::SamplingLine(&self.options.sampling)
        )
    }
}
