//! `trainer check`: how a model continues held-out pieces, compared with what the pieces
//! really do next and with two answers that need no model.
//!
//! A window is four bars of a piece. The first two are the prompt; the model answers with two
//! bars, and [`metrics`] measures the answer against the piece's own next two bars. The same
//! windows are answered by replaying the prompt and by random notes of the prompt's key
//! ([`baselines`]), so the model's numbers have something to be read against.
//!
//! A bar is taken as 4 beats: [`Score`] keeps no time signature, so bars are counted in 4/4
//! from the piece's first beat.

pub mod baselines;
pub mod metrics;

use std::fmt;
use std::path::{Path, PathBuf};

use continuo_core::midi::{Note, Score};
use continuo_core::runtime::{Generator, Model, RuntimeError, RuntimeOptions};
use continuo_core::sampling::{Constraints, Rng, Sampling};
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;
use thiserror::Error;

use crate::data::{read_scores, NamedScore, Skipped};
use crate::generate;
use metrics::{best_key, MeanMetrics, Metrics};

/// A bar in beats (see the module documentation).
pub const BAR_BEATS: f64 = 4.0;
/// The prompt, and the answer after it, are two bars each.
pub const PROMPT_BEATS: f64 = 2.0 * BAR_BEATS;
pub const ANSWER_BEATS: f64 = 2.0 * BAR_BEATS;
/// Fewer notes than this in a prompt or its true continuation make a window too thin to
/// judge an answer by.
pub const MIN_WINDOW_NOTES: usize = 4;

#[derive(Debug, Error)]
pub enum CheckError {
    #[error("reading {}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("loading model {}", path.display())]
    Model {
        path: PathBuf,
        #[source]
        source: RuntimeError,
    },
    #[error(transparent)]
    Generate(#[from] RuntimeError),
    #[error("no readable MIDI file in {}", dir.display())]
    NoPieces { dir: PathBuf },
    #[error(
        "nothing to check in {}: none of its {pieces} readable MIDI file(s) has {MIN_WINDOW_NOTES} notes in two bars followed by {MIN_WINDOW_NOTES} in the next two",
        dir.display()
    )]
    NoWindows { dir: PathBuf, pieces: usize },
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CheckOptions {
    /// Windows per piece, spread evenly over it.
    pub windows: usize,
    /// Answers per window, with seeds 1..=`seeds`.
    pub seeds: u64,
    pub sampling: Sampling,
}

impl Default for CheckOptions {
    fn default() -> Self {
        Self {
            windows: 4,
            seeds: 3,
            sampling: Sampling::default(),
        }
    }
}

/// A held-out piece.
pub type Piece = NamedScore;

/// Four bars of a piece, in a time base where the prompt starts at beat 0.
#[derive(Debug, Clone, PartialEq)]
pub struct Window {
    /// Where the prompt starts in the piece, in beats.
    pub start: f64,
    /// Notes starting in the first two bars. They are cut at the prompt's end, so that the
    /// answer, like the truth, starts at [`PROMPT_BEATS`].
    pub prompt: Score,
    /// Notes starting in the next two bars.
    pub truth: Vec<Note>,
}

fn window_at(score: &Score, start: f64) -> Window {
    let prompt_end = start + PROMPT_BEATS;
    let truth_end = prompt_end + ANSWER_BEATS;
    let rebase = |n: &Note| n.moved(-start);
    let prompt = score
        .notes
        .iter()
        .filter(|n| n.start >= start && n.start < prompt_end)
        .map(|n| {
            let mut n = rebase(n);
            n.end = n.end.min(PROMPT_BEATS);
            n
        })
        .collect();
    let truth = score
        .notes
        .iter()
        .filter(|n| n.start >= prompt_end && n.start < truth_end)
        .map(rebase)
        .collect();
    Window {
        start,
        prompt: Score {
            notes: prompt,
            bpm: score.bpm,
        },
        truth,
    }
}

/// Up to `count` windows, starting on bar lines, spread evenly over those of the piece whose
/// prompt and truth each hold [`MIN_WINDOW_NOTES`] notes. A window must end by the time the
/// last note does, so the piece's end never passes for a true continuation.
pub fn windows(score: &Score, count: usize) -> Vec<Window> {
    let end = score.notes.iter().map(|n| n.end).fold(0.0, f64::max);
    let usable: Vec<Window> = (0u32..)
        .map(|bar| f64::from(bar) * BAR_BEATS)
        .take_while(|s| s + PROMPT_BEATS + ANSWER_BEATS <= end)
        .map(|s| window_at(score, s))
        .filter(|w| w.prompt.notes.len() >= MIN_WINDOW_NOTES && w.truth.len() >= MIN_WINDOW_NOTES)
        .collect();
    spread(usable, count)
}

/// `count` items of `items` at the middles of `count` equal stretches, or all of them.
fn spread<T>(items: Vec<T>, count: usize) -> Vec<T> {
    let n = items.len();
    if n <= count {
        return items;
    }
    let picks: Vec<usize> = (0..count).map(|i| (2 * i + 1) * n / (2 * count)).collect();
    items
        .into_iter()
        .enumerate()
        .filter(|(i, _)| picks.binary_search(i).is_ok())
        .map(|(_, w)| w)
        .collect()
}

/// The seed of answer `k` (1-based) to window `window` (counted over all pieces).
pub fn answer_seed(window: usize, k: u64) -> u64 {
    Rng::new((window as u64) << 32 | k).next_u64()
}

/// What `trainer check` reports: each column's five measures averaged over windows × seeds.
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
    /// The true continuation against itself: what a perfect answer scores.
    pub truth: Metrics,
    /// The prompt again, two bars later.
    pub replay: Metrics,
    /// Random notes of the prompt's key, range and density.
    pub random: Metrics,
    pub model: Metrics,
}

/// Answers every window of `pieces` with `continuation` (given the prompt and the answer's
/// seed, it returns notes in the prompt's time base; those starting in the answer's two bars
/// are the answer) and with the baselines, and measures them all against the truth.
pub fn check<E>(
    pieces: &[Piece],
    options: &CheckOptions,
    progress: &ProgressBar,
    mut continuation: impl FnMut(&Score, u64) -> Result<Vec<Note>, E>,
) -> Result<Report, E> {
    let per_piece: Vec<Vec<Window>> = pieces
        .iter()
        .map(|p| windows(&p.score, options.windows))
        .collect();
    let windows_total: usize = per_piece.iter().map(Vec::len).sum();
    progress.set_length(windows_total as u64 * options.seeds);
    let answer_span = PROMPT_BEATS..PROMPT_BEATS + ANSWER_BEATS;
    let [mut truth, mut replay, mut random, mut model] = [MeanMetrics::default(); 4];
    let mut empty_answers = 0;
    let mut index = 0;
    for (piece, windows) in pieces.iter().zip(&per_piece) {
        progress.set_message(piece.name.clone());
        for window in windows {
            let key = best_key(&window.prompt.notes).pitch_classes();
            let truth_m = Metrics::measure(&window.truth, &window.truth, key);
            let replayed = baselines::replay(&window.prompt.notes, PROMPT_BEATS);
            let replay_m = Metrics::measure(&replayed, &window.truth, key);
            for k in 1..=options.seeds {
                let seed = answer_seed(index, k);
                let answer: Vec<Note> = continuation(&window.prompt, seed)?
                    .into_iter()
                    .filter(|n| answer_span.contains(&n.start))
                    .collect();
                empty_answers += usize::from(answer.is_empty());
                model.add(&Metrics::measure(&answer, &window.truth, key));
                let guess = baselines::random_in_scale(
                    &window.prompt.notes,
                    key,
                    PROMPT_BEATS,
                    ANSWER_BEATS,
                    seed,
                );
                random.add(&Metrics::measure(&guess, &window.truth, key));
                // The same every seed; added per answer so every column has the same weights.
                truth.add(&truth_m);
                replay.add(&replay_m);
                progress.inc(1);
            }
            index += 1;
        }
    }
    Ok(Report {
        options: options.clone(),
        pieces: pieces.len(),
        pieces_without_windows: per_piece.iter().filter(|w| w.is_empty()).count(),
        windows: windows_total,
        answers: windows_total * options.seeds as usize,
        empty_answers,
        truth: truth.mean(),
        replay: replay.mean(),
        random: random.mean(),
        model: model.mean(),
    })
}

/// The model's answer to `prompt`: the only place `check` asks the model for notes.
fn model_answer(
    generator: &mut Generator,
    prompt: &Score,
    seed: u64,
    options: &CheckOptions,
) -> Result<Vec<Note>, RuntimeError> {
    generator.reseed(seed);
    let mut out = generate::continue_score_from(
        generator,
        prompt,
        Some(PROMPT_BEATS),
        ANSWER_BEATS,
        &options.sampling,
        &Constraints::answer_default(),
    )?;
    // The result is the prompt followed by the continuation.
    Ok(out.notes.split_off(prompt.notes.len()))
}

/// Every MIDI file under `dir`, sorted by path; unreadable ones are returned with the reason.
pub fn load_pieces(dir: &Path) -> Result<(Vec<Piece>, Vec<Skipped>), CheckError> {
    read_scores(dir).map_err(|source| CheckError::Read {
        path: dir.to_path_buf(),
        source,
    })
}

/// `trainer check`: the model at `model_path` answers the pieces under `data_dir`, with a
/// progress bar on stderr (indicatif draws nothing when stderr is not a terminal).
pub fn check_model(
    model_path: &Path,
    data_dir: &Path,
    options: &CheckOptions,
) -> Result<(Report, Vec<Skipped>), CheckError> {
    let model = Model::load(model_path, &RuntimeOptions::default()).map_err(|source| {
        CheckError::Model {
            path: model_path.to_path_buf(),
            source,
        }
    })?;
    let mut generator = Generator::new(model, 0);
    let (pieces, skipped) = load_pieces(data_dir)?;
    let progress = ProgressBar::new(0);
    progress.set_style(
        ProgressStyle::with_template("check [{bar:30}] {pos}/{len} {msg} ({eta} left)")
            .expect("template")
            .progress_chars("=> "),
    );
    let report = check(&pieces, options, &progress, |prompt, seed| {
        model_answer(&mut generator, prompt, seed, options)
    });
    progress.finish_and_clear();
    let report = report?;
    if pieces.is_empty() {
        return Err(CheckError::NoPieces {
            dir: data_dir.to_path_buf(),
        });
    }
    if report.windows == 0 {
        return Err(CheckError::NoWindows {
            dir: data_dir.to_path_buf(),
            pieces: pieces.len(),
        });
    }
    Ok((report, skipped))
}

impl Report {
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a report is plain data")
    }
}

/// Row labels; the mark says which way is better (≈: closest to the true continuation).
const ROWS: [&str; 5] = [
    "pitch-class similarity   ↑",
    "in prompt's scale        ≈",
    "register gap (semitones) ↓",
    "density |log2 ratio|     ↓",
    "repeated onsets          ≈",
];

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let columns = [&self.truth, &self.replay, &self.random, &self.model];
        writeln!(
            f,
            "{:28}{:>9}{:>9}{:>9}{:>9}",
            "", "true", "replay", "random", "model"
        )?;
        for (row, label) in ROWS.iter().enumerate() {
            write!(f, "{label:28}")?;
            for column in columns {
                match column.values()[row] {
                    Some(v) => write!(f, "{v:>9.3}")?,
                    None => write!(f, "{:>9}", "-")?,
                }
            }
            writeln!(f)?;
        }
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
        writeln!(
            f,
            "true: the piece's own continuation; replay: the prompt again; random: notes of the prompt's key, range and density"
        )?;
        writeln!(
            f,
            "↑ higher is better, ↓ lower is better, ≈ closest to true is best; temperature {}, min-p {}, repeat penalty {}, follow {}",
            self.options.sampling.temperature,
            self.options.sampling.min_p,
            self.options.sampling.repeat_penalty,
            self.options.sampling.follow
        )
    }
}

#[cfg(test)]
mod tests {
    use std::convert::Infallible;

    use super::*;
    use continuo_core::midi::sort_notes;

    fn n(pitch: u8, start: f64, len: f64) -> Note {
        Note {
            pitch,
            velocity: 70,
            start,
            end: start + len,
        }
    }

    /// `bars` bars of a C-major scale up and down in eighths, over a bass note per bar that
    /// rings into the next.
    fn scale_piece(bars: u32) -> Score {
        const UP_DOWN: [u8; 14] = [0, 2, 4, 5, 7, 9, 11, 12, 11, 9, 7, 5, 4, 2];
        let mut notes: Vec<Note> = (0..bars * 8)
            .map(|i| n(60 + UP_DOWN[i as usize % 14], f64::from(i) * 0.5, 0.5))
            .collect();
        let bass = [36, 41, 43];
        notes.extend((0..bars).map(|b| n(bass[b as usize % 3], f64::from(b) * 4.0, 6.0)));
        sort_notes(&mut notes);
        Score { notes, bpm: 120.0 }
    }

    /// `bars` bars of A-minor, G-major and F-major broken chords in 16ths, silent in bars 2
    /// and 3 (counting from 0).
    fn arpeggio_piece(bars: u32) -> Score {
        let chords: [[u8; 4]; 3] = [[57, 60, 64, 69], [55, 59, 62, 67], [53, 57, 60, 65]];
        let mut notes: Vec<Note> = (0..bars * 16)
            .filter(|i| !(2..4).contains(&(i / 16)))
            .map(|i| {
                let chord = chords[(i / 16 % 3) as usize];
                n(chord[(i % 4) as usize], f64::from(i) * 0.25, 0.25)
            })
            .collect();
        sort_notes(&mut notes);
        Score { notes, bpm: 90.0 }
    }

    /// One note a bar: never enough for a window.
    fn sparse_piece() -> Score {
        let notes = (0..20).map(|b| n(60, f64::from(b) * 4.0, 1.0)).collect();
        Score { notes, bpm: 100.0 }
    }

    fn fixture() -> Vec<Piece> {
        [
            ("scale", scale_piece(24)),
            ("arpeggio", arpeggio_piece(12)),
            ("sparse", sparse_piece()),
        ]
        .into_iter()
        .map(|(name, score)| Piece {
            name: name.into(),
            score,
        })
        .collect()
    }

    fn run(
        options: &CheckOptions,
        continuation: impl FnMut(&Score, u64) -> Result<Vec<Note>, Infallible>,
    ) -> Report {
        let Ok(report) = check(&fixture(), options, &ProgressBar::hidden(), continuation);
        report
    }

    /// The window a prompt came from, found by its notes.
    fn truth_of(prompt: &Score) -> Vec<Note> {
        fixture()
            .iter()
            .flat_map(|p| windows(&p.score, 4))
            .find(|w| w.prompt == *prompt)
            .expect("prompt comes from a fixture window")
            .truth
    }

    #[test]
    fn windows_are_rebased_cut_and_spread_over_the_usable_bars() {
        let score = arpeggio_piece(12);
        // 12 bars allow starts at bars 0..=8. Bars 2 and 3 are silent, so the window at bar 0
        // has no truth and the one at bar 2 no prompt.
        let all = windows(&score, 100);
        let starts: Vec<f64> = all.iter().map(|w| w.start).collect();
        assert_eq!(starts, [4.0, 12.0, 16.0, 20.0, 24.0, 28.0, 32.0]);
        let two: Vec<f64> = windows(&score, 2).iter().map(|w| w.start).collect();
        assert_eq!(two, [12.0, 28.0], "middles of two halves of seven");
        // The window at bar 1: its prompt ends with a silent bar, its truth starts with one.
        assert_eq!(all[0].prompt.notes.len(), 16);
        assert_eq!(all[0].truth[0].start, 12.0);
        let w = &all[2];
        assert_eq!(w.prompt.notes.len(), 32);
        assert_eq!(w.truth.len(), 32);
        assert_eq!(w.prompt.notes[0].start, 0.0);
        assert!(w.prompt.notes.iter().all(|n| n.end <= PROMPT_BEATS));
        assert_eq!(w.truth[0].start, PROMPT_BEATS);
        assert!(w.truth.iter().all(|n| n.start < 16.0));

        // The scale's bass notes last a bar; the last prompt bass note ends at the cut.
        let w = &windows(&scale_piece(24), 1)[0];
        assert_eq!(
            w.prompt.notes.iter().map(|n| n.end).fold(0.0, f64::max),
            PROMPT_BEATS
        );
        assert!(windows(&sparse_piece(), 4).is_empty());
        assert_eq!(spread(vec![1, 2, 3], 4), [1, 2, 3]);
    }

    #[test]
    fn answering_with_the_truth_scores_as_the_truth() {
        let options = CheckOptions::default();
        let report = run(&options, |prompt, _| Ok(truth_of(prompt)));
        assert_eq!(report.model, report.truth);
        assert_eq!(report.pieces, 3);
        assert_eq!(report.pieces_without_windows, 1);
        assert_eq!(report.windows, 8);
        assert_eq!(report.answers, 24);
        assert_eq!(report.empty_answers, 0);
        assert_eq!(report.truth.pitch_class_similarity, Some(1.0));
        assert_eq!(report.truth.register_gap, Some(0.0));
        assert_eq!(report.truth.density_gap, Some(0.0));
        assert_eq!(
            report.truth.in_scale,
            Some(1.0),
            "both fixtures stay in key"
        );
        assert!(report.replay.pitch_class_similarity.unwrap() < 1.0);
    }

    #[test]
    fn answering_with_a_replay_scores_as_the_replay() {
        let options = CheckOptions {
            windows: 2,
            seeds: 2,
            ..Default::default()
        };
        let report = run(&options, |prompt, _| {
            Ok(baselines::replay(&prompt.notes, PROMPT_BEATS))
        });
        assert_eq!(report.model, report.replay);
        assert_eq!(report.windows, 4);
        assert_eq!(report.answers, 8);
    }

    #[test]
    fn the_random_baseline_uses_the_answer_seed() {
        let report = run(&CheckOptions::default(), |prompt, seed| {
            let key = best_key(&prompt.notes).pitch_classes();
            Ok(baselines::random_in_scale(
                &prompt.notes,
                key,
                PROMPT_BEATS,
                ANSWER_BEATS,
                seed,
            ))
        });
        assert_eq!(report.model, report.random);
        assert_ne!(report.random, report.replay);
    }

    #[test]
    fn empty_answers_are_counted_and_skipped() {
        let mut calls = 0;
        let report = run(&CheckOptions::default(), |prompt, _| {
            calls += 1;
            // Every other answer is empty; notes outside the answer's bars do not count.
            Ok(if calls % 2 == 0 {
                vec![n(60, 0.0, 1.0), n(60, 16.0, 1.0)]
            } else {
                truth_of(prompt)
            })
        });
        assert_eq!(report.empty_answers, 12);
        assert_eq!(report.model, report.truth, "only the true answers count");

        let report = run(&CheckOptions::default(), |_, _| Ok(Vec::new()));
        assert_eq!(report.empty_answers, report.answers);
        assert_eq!(report.model, Metrics::default());
        let table = report.to_string();
        assert!(table.contains("24 answers, 24 empty"), "{table}");
    }

    #[test]
    fn the_same_inputs_give_the_same_report() {
        // An answer that depends on the seed: the random baseline an octave up.
        let answer = |prompt: &Score, seed: u64| {
            let mut notes =
                baselines::random_in_scale(&prompt.notes, 0xFFF, PROMPT_BEATS, 8.0, seed);
            notes.iter_mut().for_each(|n| n.pitch += 12);
            Ok(notes)
        };
        let options = CheckOptions::default();
        let first = run(&options, answer);
        assert_eq!(first, run(&options, answer));
        assert_eq!(first.to_json(), run(&options, answer).to_json());
        let more_seeds = CheckOptions {
            seeds: 4,
            ..Default::default()
        };
        assert_ne!(first.model, run(&more_seeds, answer).model);
    }

    #[test]
    fn report_prints_a_table_and_json() {
        let report = run(&CheckOptions::default(), |prompt, _| Ok(truth_of(prompt)));
        let table = report.to_string();
        let lines: Vec<&str> = table.lines().collect();
        assert!(
            lines[0].ends_with("true   replay   random    model"),
            "{table}"
        );
        assert!(
            lines[1].starts_with("pitch-class similarity")
                && lines[1].contains("    1.000")
                && lines[1].ends_with("1.000"),
            "{table}"
        );
        assert!(lines[3].contains("0.000"), "{table}");
        assert!(
            table.contains(
                "3 pieces (1 without a usable window), 8 windows × 3 seeds = 24 answers, 0 empty"
            ),
            "{table}"
        );
        let json: serde_json::Value = serde_json::from_str(&report.to_json()).unwrap();
        assert_eq!(json["answers"], 24);
        assert_eq!(json["model"]["pitch_class_similarity"], 1.0);
        assert_eq!(json["options"]["seeds"], 3);
    }
}
