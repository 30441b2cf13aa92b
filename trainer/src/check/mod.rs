//! `trainer check`: how a model continues held-out pieces, compared with what the pieces
//! really do next and with three answers that need no model.
//!
//! A window is four bars of a piece, in the piece's meter. The first two are the prompt; the
//! model answers with two bars, and [`measures`] compares the answer with the piece's own
//! next two bars: its pitch, rhythm, texture, top line and reuse of the prompt's figures. The
//! same windows are answered by replaying the prompt, by random notes of the prompt's key,
//! and by the two bars after another passage of the same piece ([`baselines`]), so the
//! model's numbers have something to be read against. A [`classifier`] trained to tell each
//! kind of answer from the true continuations sums them up: the nearer its held-out accuracy
//! is to 0.5, the less an answer gives itself away. Given the folders the model was trained
//! on, [`copying`] adds how long a run of notes each kind of answer shares with a training
//! piece. [`learn`] asks another question: how answers take after a player the model does
//! not know, once the session memory has learned the player's phrases; [`style_answers`]
//! how much of each of the [`styles`] prompts its answers keep.

pub mod baselines;
pub mod classifier;
pub mod copying;
pub mod features;
pub mod learn;
pub mod measures;
pub mod melody;
pub mod metrics;
pub mod motif;
pub mod onsets;
mod report;
pub mod rhythm;
pub mod rolls;
pub mod style_answers;
pub mod styles;
pub mod texture;

use std::ops::Range;
use std::path::{Path, PathBuf};

use continuo_core::constraints::Constraints;
use continuo_core::generator::Generator;
use continuo_core::grid::Meter;
use continuo_core::midi::{Note, Score};
use continuo_core::runtime::{Model, RuntimeError, RuntimeOptions};
use continuo_core::sampling::{Rng, Sampling};
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;
use thiserror::Error;

use crate::data::{read_scores, NamedScore, Skipped};
use crate::generate;
use classifier::{
    feature_gaps, held_out_deals, mean_accuracy, mean_cross_validated_accuracy, mean_probabilities,
    Gap, Sample,
};
use copying::{Copying, Corpus};
use measures::{Context, MeanMeasures, Measures};
pub use report::{Classifier, Difference, Passages, Report, Told};

/// The prompt, and the answer after it, are two bars each.
pub const PROMPT_BARS: usize = 2;
pub const ANSWER_BARS: usize = 2;
/// Fewer notes than this in a prompt or its true continuation make a window too thin to
/// judge an answer by.
pub const MIN_WINDOW_NOTES: usize = 4;
/// Folds of the classifier's cross-validation.
pub const FOLDS: usize = 5;
/// Deals of windows to folds the classifier's accuracy is averaged over
/// ([`classifier::mean_cross_validated_accuracy`]).
pub const DEALINGS: usize = 8;
/// Deals windows to folds (the first of [`DEALINGS`] seeds); fixed, so a report is the same
/// for the same answers.
const FOLD_SEED: u64 = 0xF01D;

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
        "no notes to compare answers with in the training folder(s) {}, other than the held-out pieces'",
        dirs.iter().map(|d| d.display().to_string()).collect::<Vec<_>>().join(", ")
    )]
    NoTrainingPieces { dirs: Vec<PathBuf> },
    #[error(
        "nothing to check in {}: none of its {pieces} readable MIDI file(s) has {MIN_WINDOW_NOTES} notes in two bars followed by {MIN_WINDOW_NOTES} in the next two",
        dir.display()
    )]
    NoWindows { dir: PathBuf, pieces: usize },
    #[error("writing {}", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CheckOptions {
    /// Windows per piece, spread evenly over it.
    pub windows: usize,
    /// Answers per window, with seeds 1..=`seeds`.
    pub seeds: u64,
    pub sampling: Sampling,
    /// Under `--styles`: the style prompts played by hand, each onset off its written time
    /// by a normal draw of this many beats (see [`styles::played_by_hand`]); 0 as written.
    pub jitter: f64,
    /// Under `--styles`: beats the answers start after the plugin's default start.
    pub start_late: f64,
}

impl Default for CheckOptions {
    fn default() -> Self {
        Self {
            windows: 4,
            seeds: 3,
            sampling: Sampling::default(),
            jitter: 0.0,
            start_late: 0.0,
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
    /// The prompt's two bars, in beats.
    pub prompt_beats: f64,
    /// The answer's two bars, in beats.
    pub answer_beats: f64,
    /// Notes starting in the first two bars, with the piece's meter from the window's start.
    /// They are cut at the prompt's end, so that the answer, like the truth, starts at
    /// `prompt_beats`.
    pub prompt: Score,
    /// Notes starting in the next two bars, cut at their end: every passage is measured
    /// within the window, as an answer, which ends its notes with its last bar, is.
    pub truth: Vec<Note>,
}

impl Window {
    /// Where an answer's notes start, in the window's time base.
    pub fn answer_span(&self) -> Range<f64> {
        self.prompt_beats..self.prompt_beats + self.answer_beats
    }

    /// Where the window ends in the piece.
    pub fn end(&self) -> f64 {
        self.start + self.prompt_beats + self.answer_beats
    }

    /// The notes of `notes` that start in the answer's bars, cut at their end (see
    /// [`Self::truth`]).
    pub fn in_answer(&self, notes: impl IntoIterator<Item = Note>) -> Vec<Note> {
        let span = self.answer_span();
        notes
            .into_iter()
            .filter(|n| span.contains(&n.start))
            .map(|mut n| {
                n.end = n.end.min(span.end);
                n
            })
            .collect()
    }
}

/// The beats on which bars begin, up to `end`, in `meter`: each time signature counts its
/// bars from the beat it starts on. A change a hair after a bar line moves that line rather
/// than leave a sliver of a bar.
pub fn bar_lines(meter: &Meter, end: f64) -> Vec<f64> {
    const SLIVER: f64 = 1.0 / 24.0;
    let changes = meter.changes();
    let mut lines: Vec<f64> = Vec::new();
    for (i, &(from, sig)) in changes.iter().enumerate() {
        let until = changes.get(i + 1).map_or(f64::INFINITY, |c| c.0);
        let bar = sig.beats_per_bar();
        for k in 0u32.. {
            let line = from + f64::from(k) * bar;
            if line >= until || line > end {
                break;
            }
            match lines.last_mut() {
                Some(last) if line - *last < SLIVER => *last = line,
                _ => lines.push(line),
            }
        }
    }
    lines
}

/// `meter` as seen from `start`, a bar line: the signature there holds from beat 0.
fn meter_from(meter: &Meter, start: f64) -> Meter {
    let later = meter
        .changes()
        .iter()
        .filter(|(beat, _)| *beat > start)
        .map(|&(beat, sig)| (beat - start, sig));
    Meter::from_changes(std::iter::once((0.0, meter.sig_at(start))).chain(later))
}

fn window_at(score: &Score, start: f64, prompt_end: f64, truth_end: f64) -> Window {
    let prompt_beats = prompt_end - start;
    let rebase = |n: &Note| n.moved(-start);
    let prompt = score
        .notes
        .iter()
        .filter(|n| n.start >= start && n.start < prompt_end)
        .map(|n| {
            let mut n = rebase(n);
            n.end = n.end.min(prompt_beats);
            n
        })
        .collect();
    let mut window = Window {
        start,
        prompt_beats,
        answer_beats: truth_end - prompt_end,
        prompt: Score {
            notes: prompt,
            bpm: score.bpm,
            meter: meter_from(&score.meter, start),
        },
        truth: Vec::new(),
    };
    window.truth = window.in_answer(score.notes.iter().map(rebase));
    window
}

/// Every window of the piece that starts on a bar line, whose prompt and truth each hold
/// [`MIN_WINDOW_NOTES`] notes, and that ends by the time the last note does, so the piece's
/// end never passes for a true continuation.
pub fn usable_windows(score: &Score) -> Vec<Window> {
    let end = score.notes.iter().map(|n| n.end).fold(0.0, f64::max);
    bar_lines(&score.meter, end)
        .windows(PROMPT_BARS + ANSWER_BARS + 1)
        .map(|l| window_at(score, l[0], l[PROMPT_BARS], l[PROMPT_BARS + ANSWER_BARS]))
        .filter(|w| w.prompt.notes.len() >= MIN_WINDOW_NOTES && w.truth.len() >= MIN_WINDOW_NOTES)
        .collect()
}

/// Up to `count` of [`usable_windows`], spread evenly over them.
pub fn windows(score: &Score, count: usize) -> Vec<Window> {
    spread(usable_windows(score), count)
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

/// One kind of answer: its measures, its classifier samples, and the longest run each
/// answer shares with the training pieces, when they are given.
struct Kind<'a> {
    /// Answers per window of the model and the baselines that vary with the seed.
    seeds: usize,
    measures: MeanMeasures,
    samples: Vec<Sample>,
    corpus: Option<&'a Corpus>,
    runs: Vec<usize>,
}

impl<'a> Kind<'a> {
    fn new(seeds: usize, corpus: Option<&'a Corpus>) -> Self {
        Self {
            seeds,
            measures: MeanMeasures::default(),
            samples: Vec::new(),
            corpus,
            runs: Vec::new(),
        }
    }

    /// One of `answers` answers of this kind to window `group`.
    fn add(
        &mut self,
        answer: &[Note],
        window: &Window,
        context: &Context,
        group: usize,
        answers: usize,
    ) {
        let m = Measures::measure(answer, &window.truth, context);
        // An answer that is the same every seed is measured once but counted once a seed,
        // so that every column weighs every window alike.
        for _ in 0..self.seeds / answers {
            self.measures.add(&m);
        }
        self.samples.push(Sample {
            group,
            label: true,
            weight: 1.0 / answers as f64,
            features: features::features(answer, context),
        });
        if let Some(corpus) = self.corpus {
            self.runs.push(corpus.longest_run(answer));
        }
    }

    /// Held-out accuracy of telling these answers from the truths of the same windows.
    fn accuracy(&self, truths: &[Sample]) -> Option<f64> {
        self.accuracy_on(truths, 0..features::FEATURES)
    }

    /// [`Self::accuracy`] with only the features in `part`.
    fn accuracy_on(&self, truths: &[Sample], part: std::ops::Range<usize>) -> Option<f64> {
        let samples = self.beside(truths, part);
        mean_cross_validated_accuracy(&samples, FOLDS, DEALINGS, FOLD_SEED)
    }

    /// These answers, then the truths of their windows, with only the features in `part`:
    /// what the classifier is fitted and tested on.
    fn beside(&self, truths: &[Sample], part: std::ops::Range<usize>) -> Vec<Sample> {
        let groups: std::collections::BTreeSet<usize> =
            self.samples.iter().map(|s| s.group).collect();
        self.samples
            .iter()
            .chain(truths.iter().filter(|t| groups.contains(&t.group)))
            .map(|s| Sample {
                features: s.features[part.clone()].to_vec(),
                ..s.clone()
            })
            .collect()
    }
}

/// Answers every window of `pieces` with `continuation` (given the window and the answer's
/// seed, it returns notes in the window's time base; those starting in the answer's bars are
/// the answer) and with the baselines, and measures them all against the truth.
pub fn check<E>(
    pieces: &[Piece],
    options: &CheckOptions,
    progress: &ProgressBar,
    continuation: impl FnMut(&Window, u64) -> Result<Vec<Note>, E>,
) -> Result<Report, E> {
    check_against(pieces, options, None, progress, continuation)
}

/// [`check`], and with the training pieces in `corpus`, how long a run of notes each kind
/// of answer shares with one of them.
pub fn check_against<E>(
    pieces: &[Piece],
    options: &CheckOptions,
    corpus: Option<&Corpus>,
    progress: &ProgressBar,
    mut continuation: impl FnMut(&Window, u64) -> Result<Vec<Note>, E>,
) -> Result<Report, E> {
    let usable: Vec<Vec<Window>> = pieces.iter().map(|p| usable_windows(&p.score)).collect();
    let picked: Vec<Vec<&Window>> = usable
        .iter()
        .map(|u| spread(u.iter().collect(), options.windows))
        .collect();
    let windows_total: usize = picked.iter().map(Vec::len).sum();
    progress.set_length(windows_total as u64 * options.seeds);
    let seeds = options.seeds as usize;
    let [mut truth, mut replay, mut random, mut passage, mut model] =
        std::array::from_fn(|_| Kind::new(seeds, corpus));
    let mut empty_answers = 0;
    let mut windows_without_other_passage = 0;
    let mut index = 0;
    let mut kept = Vec::with_capacity(windows_total);
    for ((piece, usable), windows) in pieces.iter().zip(&usable).zip(&picked) {
        progress.set_message(piece.name.clone());
        for &window in windows {
            let context = Context::new(&window.prompt, window.prompt_beats, window.answer_beats);
            truth.add(&window.truth, window, &context, index, 1);
            let replayed =
                window.in_answer(baselines::replay(&window.prompt.notes, window.prompt_beats));
            replay.add(&replayed, window, &context, index, 1);
            let mut apart = true;
            let mut answers = Vec::with_capacity(seeds);
            for k in 1..=options.seeds {
                let seed = answer_seed(index, k);
                let answer = window.in_answer(continuation(window, seed)?);
                empty_answers += usize::from(answer.is_empty());
                model.add(&answer, window, &context, index, seeds);
                answers.push(answer);
                let guess = window.in_answer(baselines::random_in_scale(
                    &window.prompt.notes,
                    context.key.pitch_classes(),
                    window.prompt_beats,
                    window.answer_beats,
                    seed,
                ));
                random.add(&guess, window, &context, index, seeds);
                match baselines::other_passage(window, usable, seed) {
                    Some(other) => passage.add(&other, window, &context, index, seeds),
                    None => apart = false,
                }
                progress.inc(1);
            }
            windows_without_other_passage += usize::from(!apart);
            kept.push(Kept {
                piece: &piece.name,
                window,
                answers,
            });
            index += 1;
        }
    }
    let truths: Vec<Sample> = truth
        .samples
        .iter()
        .map(|s| Sample {
            label: false,
            ..s.clone()
        })
        .collect();
    // The model's answers are told apart once, for the accuracy and for the windows told
    // most surely alike.
    let model_samples = model.beside(&truths, 0..features::FEATURES);
    let model_deals = held_out_deals(&model_samples, FOLDS, DEALINGS, FOLD_SEED);
    Ok(Report {
        options: options.clone(),
        pieces: pieces.len(),
        pieces_without_windows: picked.iter().filter(|w| w.is_empty()).count(),
        windows: windows_total,
        answers: windows_total * seeds,
        empty_answers,
        windows_without_other_passage,
        truth: truth.measures.mean(),
        replay: replay.measures.mean(),
        random: random.measures.mean(),
        other_passage: passage.measures.mean(),
        model: model.measures.mean(),
        classifier: Classifier {
            folds: FOLDS,
            dealings: DEALINGS,
            features: features::FEATURES,
            replay: replay.accuracy(&truths),
            random: random.accuracy(&truths),
            other_passage: passage.accuracy(&truths),
            model: mean_accuracy(&model_samples, &model_deals),
            model_by_part: features::GROUPS
                .iter()
                .map(|(name, part)| (name.to_string(), model.accuracy_on(&truths, part.clone())))
                .collect(),
            model_furthest: furthest(&model.samples, &truths),
            model_most_told: most_told(&model_samples, &model_deals, &kept),
        },
        copying: corpus.map(|c| {
            Copying::new(
                c,
                [&truth, &replay, &random, &passage, &model].map(|k| k.runs.as_slice()),
            )
        }),
    })
}

/// How many features [`furthest`] names.
const FURTHEST: usize = 8;

/// The [`FURTHEST`] features whose means differ most, in standard deviations, between
/// `answers` and `truths`.
fn furthest(answers: &[Sample], truths: &[Sample]) -> Vec<Difference> {
    let mut gaps: Vec<(usize, Gap)> = feature_gaps(answers, truths)
        .into_iter()
        .enumerate()
        .collect();
    gaps.sort_by(|(_, a), (_, b)| b.effect.abs().total_cmp(&a.effect.abs()));
    gaps.into_iter()
        .take(FURTHEST)
        // Rounding leaves a feature both hold alike a gap of about 1e-16.
        .filter(|(_, g)| g.effect.abs() > 1e-9)
        .map(|(i, g)| Difference {
            feature: features::name(i),
            effect: g.effect,
            answers: g.mean_a,
            truth: g.mean_b,
        })
        .collect()
}

/// How many windows [`most_told`] names.
const MOST_TOLD: usize = 5;

/// A window as the check answered it.
struct Kept<'a> {
    piece: &'a str,
    window: &'a Window,
    /// The model's answers, seed 1 first.
    answers: Vec<Vec<Note>>,
}

/// The [`MOST_TOLD`] windows whose answers the classifier tells from their truths most
/// surely: `samples` the answers (a window's seeds in order) and then the truths, `deals`
/// their held-out probabilities in each deal of windows to folds.
fn most_told(samples: &[Sample], deals: &[Vec<Option<f64>>], kept: &[Kept]) -> Vec<Told> {
    let Some(p) = mean_probabilities(deals) else {
        return Vec::new();
    };
    // Per window: its answers' probabilities, seed 1 first, and its truth's.
    let mut by_window: Vec<(Vec<Option<f64>>, Option<f64>)> = vec![(Vec::new(), None); kept.len()];
    for (s, p) in samples.iter().zip(p) {
        let (seeds, truth) = &mut by_window[s.group];
        if s.label {
            seeds.push(p);
        } else {
            *truth = p;
        }
    }
    let mut told: Vec<Told> = by_window
        .into_iter()
        .zip(kept)
        .filter_map(|((seeds, truth), k)| {
            let known = seeds.iter().flatten();
            let mean = known.clone().sum::<f64>() / known.clone().count() as f64;
            let (surest, _) = seeds
                .iter()
                .enumerate()
                .filter_map(|(i, p)| Some((i, (*p)?)))
                .max_by(|a, b| a.1.total_cmp(&b.1))?;
            Some(Told {
                piece: k.piece.to_string(),
                start: k.window.start,
                answers: mean,
                truth,
                seed: surest as u64 + 1,
                passages: Passages {
                    phrase: k.window.prompt.clone(),
                    truth: k.window.truth.clone(),
                    answer: k.answers[surest].clone(),
                    bar_beats: k.window.prompt_beats / PROMPT_BARS as f64,
                },
            })
        })
        .collect();
    told.sort_by(|a, b| b.answers.total_cmp(&a.answers));
    told.truncate(MOST_TOLD);
    told
}

/// The model's answer to `window`: the only place `check` asks the model for notes.
fn model_answer(
    generator: &mut Generator,
    window: &Window,
    seed: u64,
    options: &CheckOptions,
) -> Result<Vec<Note>, RuntimeError> {
    generator.reseed(seed);
    let prompt = &window.prompt;
    let mut out = generate::continue_score_from(
        generator,
        prompt,
        Some(window.prompt_beats),
        window.answer_beats,
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
    check_model_against(model_path, data_dir, &[], options)
}

fn progress_bar(template: &str) -> ProgressBar {
    let progress = ProgressBar::new(0);
    progress.set_style(
        ProgressStyle::with_template(template)
            .expect("template")
            .progress_chars("=> "),
    );
    progress
}

/// The model the check answers with, or why it cannot be loaded.
pub(crate) fn load_model(path: &Path) -> Result<Model, CheckError> {
    Model::load(path, &RuntimeOptions::default()).map_err(|source| CheckError::Model {
        path: path.to_path_buf(),
        source,
    })
}

/// [`check_model`], and with `train` the folders the model was trained on (none: as
/// [`check_model`]), how long a run of notes the answers share with a piece in them.
/// Unreadable files of those folders are skipped and returned with the others.
pub fn check_model_against(
    model_path: &Path,
    data_dir: &Path,
    train: &[PathBuf],
    options: &CheckOptions,
) -> Result<(Report, Vec<Skipped>), CheckError> {
    let mut generator = Generator::new(load_model(model_path)?, 0);
    let (pieces, mut skipped) = load_pieces(data_dir)?;
    if pieces.is_empty() {
        return Err(CheckError::NoPieces {
            dir: data_dir.to_path_buf(),
        });
    }
    let corpus = if train.is_empty() {
        None
    } else {
        let progress = progress_bar("training pieces [{bar:30}] {pos}/{len} {msg}");
        let read = Corpus::read(train, &pieces, &progress);
        progress.finish_and_clear();
        let (corpus, unreadable) = read?;
        skipped.extend(unreadable);
        if corpus.notes() == 0 {
            return Err(CheckError::NoTrainingPieces {
                dirs: train.to_vec(),
            });
        }
        Some(corpus)
    };
    let progress = progress_bar("check [{bar:30}] {pos}/{len} {msg} ({eta} left)");
    let report = check_against(
        &pieces,
        options,
        corpus.as_ref(),
        &progress,
        |window, seed| model_answer(&mut generator, window, seed, options),
    );
    progress.finish_and_clear();
    let report = report?;
    if report.windows == 0 {
        return Err(CheckError::NoWindows {
            dir: data_dir.to_path_buf(),
            pieces: pieces.len(),
        });
    }
    Ok((report, skipped))
}

#[cfg(test)]
mod tests;
