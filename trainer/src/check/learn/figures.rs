//! How close a passage comes to the phrases a player taught: the figures it shares with
//! them (runs of pitch intervals, runs of onset rhythm, and both together), how alike its
//! mix of intervals, onset gaps and pitch classes is, and the longest run of notes it copies.
//!
//! Intervals and gaps make a figure independent of where it starts and of transposition: a
//! riff played a fourth up is still the riff, and a boogie line over another root is still
//! the line.

use std::collections::BTreeSet;

use continuo_core::midi::Note;
use serde::Serialize;

use crate::check::copying::{Corpus, Runs};
use crate::check::melody::{interval_histogram, top_intervals};
use crate::check::metrics::pitch_class_similarity;
use crate::check::motif::{self, Shape};
use crate::check::onsets::{inter_onset_steps, mean, onsets, similarity, Onset};
use crate::check::rhythm::ioi_histogram;

/// A figure spans this many onsets, three moves: long enough to be a player's own (two
/// moves, [`motif::MOTIF_ONSETS`], are common to every style), short enough to recur in a
/// two-bar answer.
pub const FIGURE_ONSETS: usize = 4;

/// The runs of `FIGURE_ONSETS - 1` successive items of `moves`.
fn runs<T: Clone>(moves: impl Iterator<Item = T>) -> Vec<Vec<T>> {
    let moves: Vec<T> = moves.collect();
    moves
        .windows(FIGURE_ONSETS - 1)
        .map(<[T]>::to_vec)
        .collect()
}

/// The top line's interval figures: semitones from each top note to the next.
pub fn interval_figures(onsets: &[Onset]) -> Vec<Vec<i32>> {
    runs(top_intervals(onsets))
}

/// The rhythm figures: grid steps from each onset to the next.
pub fn rhythm_figures(onsets: &[Onset]) -> Vec<Vec<i64>> {
    runs(inter_onset_steps(onsets))
}

/// Share of `figures` that `known` holds; `None` when there are none.
pub fn share<T: Ord>(figures: &[T], known: &BTreeSet<T>) -> Option<f64> {
    if figures.is_empty() {
        return None;
    }
    let found = figures.iter().filter(|f| known.contains(f)).count();
    Some(found as f64 / figures.len() as f64)
}

/// How close one passage is to the player's phrases; each `None` where the passage lacks
/// the onsets it needs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Closeness {
    /// Share of the passage's interval figures the phrases have.
    pub interval_figures: Option<f64>,
    /// Share of its rhythm figures the phrases have.
    pub rhythm_figures: Option<f64>,
    /// Share of its 3-onset shapes (intervals and gaps together) the phrases have.
    pub shapes: Option<f64>,
    /// 1 − L1/2 between its top line's interval histogram and the phrases'.
    pub interval_similarity: Option<f64>,
    /// The same for its inter-onset gaps.
    pub inter_onset_similarity: Option<f64>,
    /// The same for its pitch classes.
    pub pitch_class_similarity: Option<f64>,
    /// The longest run of notes it shares with a phrase, in any transposition.
    pub longest_run: Option<f64>,
    pub notes: Option<f64>,
}

/// A row of the table: its label, how to read it, and its value.
pub struct Row {
    pub label: &'static str,
    pub mark: &'static str,
    pub value: fn(&Closeness) -> Option<f64>,
}

pub const ROWS: [Row; 8] = [
    Row {
        label: "interval figures shared",
        mark: "↑",
        value: |c| c.interval_figures,
    },
    Row {
        label: "rhythm figures shared",
        mark: "↑",
        value: |c| c.rhythm_figures,
    },
    Row {
        label: "3-onset shapes shared",
        mark: "↑",
        value: |c| c.shapes,
    },
    Row {
        label: "interval similarity",
        mark: "↑",
        value: |c| c.interval_similarity,
    },
    Row {
        label: "inter-onset similarity",
        mark: "↑",
        value: |c| c.inter_onset_similarity,
    },
    Row {
        label: "pitch-class similarity",
        mark: "↑",
        value: |c| c.pitch_class_similarity,
    },
    Row {
        label: "longest copied run, notes",
        mark: "≈",
        value: |c| c.longest_run,
    },
    Row {
        label: "notes",
        mark: "≈",
        value: |c| c.notes,
    },
];

impl Closeness {
    /// Each row's mean over `all`, skipping the passages a row has no value for.
    pub fn mean(all: &[Closeness]) -> Closeness {
        let of = |f: fn(&Closeness) -> Option<f64>| mean(all.iter().filter_map(f));
        Closeness {
            interval_figures: of(|c| c.interval_figures),
            rhythm_figures: of(|c| c.rhythm_figures),
            shapes: of(|c| c.shapes),
            interval_similarity: of(|c| c.interval_similarity),
            inter_onset_similarity: of(|c| c.inter_onset_similarity),
            pitch_class_similarity: of(|c| c.pitch_class_similarity),
            longest_run: of(|c| c.longest_run),
            notes: of(|c| c.notes),
        }
    }
}

/// The phrases a player taught, as a passage is compared with them.
#[derive(Debug, Clone)]
pub struct Material {
    intervals: BTreeSet<Vec<i32>>,
    rhythms: BTreeSet<Vec<i64>>,
    shapes: BTreeSet<Shape>,
    /// Each histogram the mean of the phrases' own, so that no figure runs from the end of
    /// one phrase into the start of the next.
    interval_histogram: Option<Vec<f64>>,
    ioi_histogram: Option<Vec<f64>>,
    notes: Vec<Note>,
    corpus: Corpus,
}

/// The mean of the histograms there are.
fn mean_histogram(all: impl Iterator<Item = Option<Vec<f64>>>) -> Option<Vec<f64>> {
    let all: Vec<Vec<f64>> = all.flatten().collect();
    let first = all.first()?;
    let mut sum = vec![0.0; first.len()];
    for h in &all {
        for (s, x) in sum.iter_mut().zip(h) {
            *s += x / all.len() as f64;
        }
    }
    Some(sum)
}

impl Material {
    pub fn new(phrases: &[&[Note]]) -> Self {
        let played: Vec<Vec<Onset>> = phrases.iter().map(|p| onsets(p)).collect();
        Self {
            intervals: played.iter().flat_map(|o| interval_figures(o)).collect(),
            rhythms: played.iter().flat_map(|o| rhythm_figures(o)).collect(),
            shapes: played.iter().flat_map(|o| motif::shapes(o)).collect(),
            interval_histogram: mean_histogram(played.iter().map(|o| interval_histogram(o))),
            ioi_histogram: mean_histogram(played.iter().map(|o| ioi_histogram(o))),
            notes: phrases.iter().flat_map(|p| p.iter().copied()).collect(),
            corpus: Corpus::new(phrases.iter().copied(), []),
        }
    }

    /// How close `notes` come to the phrases.
    pub fn closeness(&self, notes: &[Note]) -> Closeness {
        let o = onsets(notes);
        let against = |mine: Option<Vec<f64>>, theirs: &Option<Vec<f64>>| {
            Some(similarity(&mine?, theirs.as_deref()?))
        };
        Closeness {
            interval_figures: share(&interval_figures(&o), &self.intervals),
            rhythm_figures: share(&rhythm_figures(&o), &self.rhythms),
            shapes: motif::reuse(&o, &self.shapes),
            interval_similarity: against(interval_histogram(&o), &self.interval_histogram),
            inter_onset_similarity: against(ioi_histogram(&o), &self.ioi_histogram),
            pitch_class_similarity: pitch_class_similarity(notes, &self.notes),
            longest_run: (!notes.is_empty()).then(|| self.corpus.longest_run(notes) as f64),
            notes: Some(notes.len() as f64),
        }
    }
}

/// Longest copied runs of a column's passages, for the median and the longest of them.
pub fn runs_of(all: &[Closeness]) -> Runs {
    let runs: Vec<usize> = all
        .iter()
        .filter_map(|c| c.longest_run)
        .map(|r| r as usize)
        .collect();
    Runs::of(&runs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::metrics::note;

    /// Four 8ths of `pitches` from `at`.
    fn line(pitches: &[u8], at: f64) -> Vec<Note> {
        pitches
            .iter()
            .enumerate()
            .map(|(i, &p)| note(p, at + i as f64 * 0.5))
            .collect()
    }

    #[test]
    fn figures_are_runs_of_three_moves() {
        let o = onsets(&line(&[60, 64, 67, 69, 70], 0.0));
        assert_eq!(interval_figures(&o), [vec![4, 3, 2], vec![3, 2, 1]]);
        assert_eq!(rhythm_figures(&o), [vec![12, 12, 12], vec![12, 12, 12]]);
        assert!(interval_figures(&o[..3]).is_empty());
        let known: BTreeSet<Vec<i32>> = [vec![4, 3, 2]].into_iter().collect();
        assert_eq!(share(&interval_figures(&o), &known), Some(0.5));
        assert_eq!(share(&[] as &[Vec<i32>], &known), None);
    }

    #[test]
    fn a_transposed_copy_shares_everything_and_a_stranger_little() {
        let phrase = line(&[36, 40, 43, 45, 46, 45, 43, 40], 0.0);
        let material = Material::new(&[&phrase]);
        // The line a fourth up, later: every figure, the same mixes, copied whole.
        let fourth_up: Vec<Note> = line(&[41, 45, 48, 50, 51, 50, 48, 45], 8.0);
        let c = material.closeness(&fourth_up);
        assert_eq!(c.interval_figures, Some(1.0));
        assert_eq!(c.rhythm_figures, Some(1.0));
        assert_eq!(c.shapes, Some(1.0));
        assert_eq!(c.interval_similarity, Some(1.0));
        assert_eq!(c.inter_onset_similarity, Some(1.0));
        assert_eq!(c.longest_run, Some(8.0));
        assert!(c.pitch_class_similarity.unwrap() < 1.0, "another key");
        // A scale in 16ths: no figure, another rhythm, a short run at most.
        let scale: Vec<Note> = (0..8)
            .map(|i| note([60, 62, 64, 65, 67, 69, 71, 72][i], i as f64 * 0.25))
            .collect();
        let c = material.closeness(&scale);
        assert_eq!(c.interval_figures, Some(0.0));
        assert_eq!(c.rhythm_figures, Some(0.0));
        assert_eq!(c.inter_onset_similarity, Some(0.0));
        assert!(c.longest_run.unwrap() <= 3.0, "{c:?}");
        // Silence has nothing to measure but its size.
        let c = material.closeness(&[]);
        assert_eq!(c.notes, Some(0.0));
        assert_eq!((c.interval_figures, c.longest_run), (None, None));
    }

    #[test]
    fn phrases_are_measured_apart_and_means_skip_what_is_missing() {
        // Two phrases: a figure across their seam is no figure of the player's.
        let a = line(&[60, 62, 64, 65], 0.0);
        let b = line(&[72, 71, 69, 67], 8.0);
        let material = Material::new(&[&a, &b]);
        let across = line(&[64, 65, 72, 71], 20.0);
        assert_eq!(material.closeness(&across).interval_figures, Some(0.0));
        let h = material.interval_histogram.as_ref().unwrap();
        assert!((h.iter().sum::<f64>() - 1.0).abs() < 1e-12);
        let some = Closeness {
            interval_figures: Some(1.0),
            notes: Some(4.0),
            longest_run: Some(3.0),
            ..Default::default()
        };
        let none = Closeness {
            notes: Some(0.0),
            ..Default::default()
        };
        let m = Closeness::mean(&[some, none]);
        assert_eq!(m.interval_figures, Some(1.0));
        assert_eq!(m.notes, Some(2.0));
        assert_eq!(m.shapes, None);
        assert_eq!(runs_of(&[some, none]).max, Some(3.0));
    }
}
