//! `trainer check --learn`: whether answers take after a player who plays in a style the
//! model does not know, once the session memory ([`continuo_core::memory`]) has learned
//! three of the player's phrases.
//!
//! For each style of [`players`] and each player (a seed), in order:
//! 1. the player plays four phrases into an empty memory, which learns each; the fourth is
//!    learned before it is answered, as the plugin learns a phrase;
//! 2. the model answers the fourth, at each memory weight, with the same seed;
//! 3. each answer is compared with the learned phrases: the figures it shares with them,
//!    its mix of intervals, gaps and pitch classes, the longest run it copies ([`figures`]);
//! 4. a [`classifier`](super::classifier) tries to tell the answers from the learned phrases
//!    by the features the continuation check uses: the nearer 0.5, the more the answers
//!    sound like the player.
//!
//! The fifth phrase, which the memory never learns, is measured the same way: what the
//! player's own next phrase scores, so the answers' figures have a target to be read against.

pub mod figures;
pub mod players;
mod report;

use std::path::Path;

use continuo_core::constraints::Constraints;
use continuo_core::generator::Generator;
use continuo_core::memory::Memory;
use continuo_core::midi::{Note, Score};
use continuo_core::runtime::RuntimeError;
use continuo_core::sampling::Sampling;
use continuo_core::tokens::encode;
use indicatif::ProgressBar;
use serde::Serialize;

use super::classifier::{mean_cross_validated_accuracy, Sample};
use super::features::features;
use super::measures::Context;
use super::{answer_seed, load_pieces, model_answer, progress_bar, windows, CheckError};
use super::{CheckOptions, DEALINGS, FOLDS, FOLD_SEED};
use crate::data::Skipped;
use continuo_core::answer::continue_score_with_memory;
use figures::{Closeness, Material};
use players::{Player, Style, PHRASE_BEATS};
pub use report::{Column, LearnReport, StyleReport, Unchanged};

/// Phrases the memory learns: three, then the one it answers.
pub const LEARNED_PHRASES: usize = 4;
/// The learned phrases, and the one the player plays next.
const PHRASES: usize = LEARNED_PHRASES + 1;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LearnOptions {
    /// Players per style, with seeds 1..=`players`.
    pub players: u64,
    /// Memory weights ([`Memory::apply`]), each answered with the same seed.
    pub weights: Vec<f32>,
    pub sampling: Sampling,
}

impl Default for LearnOptions {
    fn default() -> Self {
        Self {
            players: 32,
            weights: vec![0.0, 0.25, 0.5, 1.0],
            sampling: Sampling::default(),
        }
    }
}

/// What an answer is asked for: the phrases learned, and the phrase it answers (the last
/// of them).
#[derive(Debug, Clone, Copy)]
pub struct Exchange<'a> {
    pub learned: &'a [Score],
    pub prompt: &'a Score,
}

/// The passages of one column of one style: how close each came, and the classifier's
/// samples of them.
#[derive(Debug, Clone, Default)]
struct Tally {
    closeness: Vec<Closeness>,
    samples: Vec<Sample>,
    empty: usize,
}

impl Tally {
    fn add(&mut self, notes: &[Note], material: &Material, context: &Context, group: usize) {
        self.closeness.push(material.closeness(notes));
        self.empty += usize::from(notes.is_empty());
        self.samples.push(Sample {
            group,
            label: true,
            weight: 1.0,
            features: features(notes, context),
        });
    }

    /// Held-out accuracy of telling these passages from the player's learned phrases.
    fn accuracy(&self, taught: &[Sample]) -> Option<f64> {
        let samples: Vec<Sample> = self.samples.iter().chain(taught).cloned().collect();
        mean_cross_validated_accuracy(&samples, FOLDS, DEALINGS, FOLD_SEED)
    }

    fn column(&self, label: String, weight: Option<f32>, taught: &[Sample]) -> Column {
        Column {
            label,
            weight,
            closeness: Closeness::mean(&self.closeness),
            runs: figures::runs_of(&self.closeness),
            classifier: self.accuracy(taught),
            passages: self.closeness.len(),
            empty: self.empty,
        }
    }

    fn extend(&mut self, other: &Tally) {
        self.closeness.extend_from_slice(&other.closeness);
        self.samples.extend_from_slice(&other.samples);
        self.empty += other.empty;
    }
}

/// A style's columns: the player's next phrase, then each weight's answers.
struct Columns {
    next: Tally,
    answers: Vec<Tally>,
    /// The learned phrases, as the classifier's other kind.
    taught: Vec<Sample>,
}

impl Columns {
    fn new(weights: usize) -> Self {
        Self {
            next: Tally::default(),
            answers: vec![Tally::default(); weights],
            taught: Vec::new(),
        }
    }

    fn extend(&mut self, other: &Columns) {
        self.next.extend(&other.next);
        for (mine, theirs) in self.answers.iter_mut().zip(&other.answers) {
            mine.extend(theirs);
        }
        self.taught.extend_from_slice(&other.taught);
    }

    fn report(&self, style: &str, players: usize, weights: &[f32]) -> StyleReport {
        let mut columns = vec![self.next.column("next phrase".into(), None, &self.taught)];
        columns.extend(
            self.answers
                .iter()
                .zip(weights)
                .map(|(t, &w)| t.column(format!("w {w}"), Some(w), &self.taught)),
        );
        StyleReport {
            style: style.into(),
            players,
            columns,
        }
    }
}

/// `notes` moved from a phrase's bars to the answer's, after the prompt.
fn in_answer_bars(notes: &[Note]) -> Vec<Note> {
    notes.iter().map(|n| n.moved(PHRASE_BEATS)).collect()
}

/// Has every player of every style teach, and `answer` (given the exchange, the weight and
/// the seed, it returns notes in the prompt's time base; those in the two bars after the
/// prompt are the answer) answer at every weight of `options`; measures it all.
pub fn learn_check<E>(
    options: &LearnOptions,
    progress: &ProgressBar,
    mut answer: impl FnMut(&Exchange, f32, u64) -> Result<Vec<Note>, E>,
) -> Result<LearnReport, E> {
    let players = options.players as usize;
    let weights = &options.weights;
    progress.set_length((Style::ALL.len() * players * weights.len()) as u64);
    let mut styles = Vec::new();
    let mut all = Columns::new(weights.len());
    let mut group = 0;
    for style in Style::ALL {
        progress.set_message(style.name());
        let mut columns = Columns::new(weights.len());
        for player in 1..=options.players {
            let phrases = Player::new(style, player).phrases(PHRASES);
            let (learned, rest) = phrases.split_at(LEARNED_PHRASES);
            let (prompt, next) = (&learned[LEARNED_PHRASES - 1], &rest[0]);
            let taught: Vec<&[Note]> = learned.iter().map(|p| p.notes.as_slice()).collect();
            let material = Material::new(&taught);
            let context = Context::new(prompt, PHRASE_BEATS, PHRASE_BEATS);
            columns.taught.extend(taught.iter().map(|p| Sample {
                group,
                label: false,
                weight: 1.0 / LEARNED_PHRASES as f64,
                features: features(&in_answer_bars(p), &context),
            }));
            columns
                .next
                .add(&in_answer_bars(&next.notes), &material, &context, group);
            let exchange = Exchange { learned, prompt };
            // One seed for every weight: the answers differ by what the memory adds alone.
            let seed = answer_seed(group, 1);
            for (tally, &weight) in columns.answers.iter_mut().zip(weights) {
                let span = PHRASE_BEATS..2.0 * PHRASE_BEATS;
                let notes: Vec<Note> = answer(&exchange, weight, seed)?
                    .into_iter()
                    .filter(|n| span.contains(&n.start))
                    .collect();
                tally.add(&notes, &material, &context, group);
                progress.inc(1);
            }
            group += 1;
        }
        styles.push(columns.report(style.name(), players, weights));
        all.extend(&columns);
    }
    Ok(LearnReport {
        options: options.clone(),
        learned_phrases: LEARNED_PHRASES,
        all: all.report("all styles", Style::ALL.len() * players, weights),
        styles,
        unchanged: None,
    })
}

/// Answers the held-out `pieces`' windows three ways, as the continuation check picks them:
/// as the check does, with an empty memory at full weight, and with a memory that learned a
/// player's phrases at weight 0. Both must give the check's notes, so with nothing learned,
/// or *Learn from me* at 0, every measure of the check stays what it was.
fn unchanged(
    generator: &mut Generator,
    pieces: &[super::Piece],
    options: &CheckOptions,
    progress: &ProgressBar,
) -> Result<Unchanged, RuntimeError> {
    let vocab = generator.model().meta().vocab;
    // Nothing learned: *Learn from me* at 0, where the answer does not learn its own phrase.
    let options = &CheckOptions {
        sampling: Sampling {
            learn: 0.0,
            ..options.sampling
        },
        ..options.clone()
    };
    let mut taught = Memory::new();
    for phrase in Player::new(Style::Boogie, 1).phrases(LEARNED_PHRASES) {
        taught.learn(&encode(&phrase.notes, &vocab), &vocab);
    }
    let picked: Vec<_> = pieces
        .iter()
        .flat_map(|p| windows(&p.score, options.windows))
        .collect();
    progress.set_length(picked.len() as u64 * options.seeds);
    let mut result = Unchanged::default();
    for (index, window) in picked.iter().enumerate() {
        for k in 1..=options.seeds {
            let seed = answer_seed(index, k);
            let checked = model_answer(generator, window, seed, options)?;
            let mut with = |memory: &mut Memory, weight: f32| {
                generator.reseed(seed);
                continue_score_with_memory(
                    generator,
                    &window.prompt,
                    Some(window.prompt_beats),
                    window.answer_beats,
                    &Constraints::answer_default(),
                    &options.sampling,
                    memory,
                    weight,
                )
            };
            let empty = with(&mut Memory::new(), 1.0)?;
            let zero = with(&mut taught, 0.0)?;
            result.answers += 1;
            result.same_with_empty_memory += usize::from(empty == checked);
            result.same_at_weight_zero += usize::from(zero == checked);
            progress.inc(1);
        }
    }
    Ok(result)
}

/// `trainer check --learn`: the model at `model_path` answers players of every style; with
/// `held_out` (a folder of pieces, and how the continuation check picks windows from it),
/// also whether its answers to those windows are unchanged with nothing learned.
pub fn learn_model(
    model_path: &Path,
    held_out: Option<(&Path, &CheckOptions)>,
    options: &LearnOptions,
) -> Result<(LearnReport, Vec<Skipped>), CheckError> {
    let mut generator = Generator::new(super::load_model(model_path)?, 0);
    let vocab = generator.model().meta().vocab;
    let progress = progress_bar("learn [{bar:30}] {pos}/{len} {msg} ({eta} left)");
    let report = learn_check(options, &progress, |exchange, weight, seed| {
        let mut memory = Memory::new();
        for phrase in exchange.learned {
            memory.learn(&encode(&phrase.notes, &vocab), &vocab);
        }
        generator.reseed(seed);
        continue_score_with_memory(
            &mut generator,
            exchange.prompt,
            Some(PHRASE_BEATS),
            PHRASE_BEATS,
            &Constraints::answer_default(),
            &options.sampling,
            &mut memory,
            weight,
        )
    });
    progress.finish_and_clear();
    let mut report = report?;
    let Some((dir, check)) = held_out else {
        return Ok((report, Vec::new()));
    };
    let (pieces, skipped) = load_pieces(dir)?;
    if pieces.is_empty() {
        return Err(CheckError::NoPieces {
            dir: dir.to_path_buf(),
        });
    }
    let progress = progress_bar("unchanged [{bar:30}] {pos}/{len} ({eta} left)");
    let same = unchanged(&mut generator, &pieces, check, &progress);
    progress.finish_and_clear();
    let same = same?;
    if same.answers == 0 {
        return Err(CheckError::NoWindows {
            dir: dir.to_path_buf(),
            pieces: pieces.len(),
        });
    }
    report.unchanged = Some(same);
    Ok((report, skipped))
}

#[cfg(test)]
mod tests;
