//! `trainer generate`: continue a prompt MIDI file with a model.

use std::path::{Path, PathBuf};

use anyhow::Result;
use continuo_core::midi::{sort_notes, Note, Score};
use continuo_core::runtime::{Generator, RuntimeError};
use continuo_core::sampling::{Constraints, Sampling};
use continuo_core::tokens::{encode, push_time_shift, NoteCollector, NoteEvent};
use continuo_core::vocab::Token;

/// Continues `prompt` for `beats` beats. Returns the prompt followed by the continuation.
pub fn continue_score(
    generator: &mut Generator,
    prompt: &Score,
    beats: f64,
    sampling: &Sampling,
    constraints: &Constraints,
) -> Result<Score, RuntimeError> {
    continue_score_from(generator, prompt, None, beats, sampling, constraints)
}

/// [`continue_score`], but the continuation starts at beat `from` (the prompt's time base)
/// when that is later than the prompt's last event: the model hears the rest in between, as
/// it does in the plugin. `None`, or a `from` before the prompt ends: right after the
/// prompt's last event.
pub fn continue_score_from(
    generator: &mut Generator,
    prompt: &Score,
    from: Option<f64>,
    beats: f64,
    sampling: &Sampling,
    constraints: &Constraints,
) -> Result<Score, RuntimeError> {
    let vocab = generator.model().meta().vocab;
    let mut context = encode(&prompt.notes, &vocab);
    let step = vocab.step_beats();
    let origin = prompt
        .first_start()
        .map_or(0.0, |first| (first / step).round() * step);
    let context_steps: u64 = context
        .iter()
        .map(|t| {
            if let Token::TimeShift(n) = t {
                u64::from(*n)
            } else {
                0
            }
        })
        .sum();
    let mut start = origin + context_steps as f64 * step;
    if let Some(from) = from {
        let rest = ((from - start) / step).round().max(0.0) as u64;
        push_time_shift(&mut context, rest, &vocab);
        start += rest as f64 * step;
    }
    generator.prime(&context)?;

    let target_steps = (beats / step).ceil() as u64;
    // The continuation ends exactly on its length, not a time shift beyond.
    let constraints = Constraints {
        end_step: Some(target_steps),
        ..*constraints
    };
    let mut collector = NoteCollector::default();
    let mut notes: Vec<Note> = prompt.notes.clone();
    let beat = |s: u64| start + s as f64 * step;
    let mut record = |ev: NoteEvent, notes: &mut Vec<Note>| notes.extend(collector.push(ev, beat));
    // Each token either advances time or is bounded per instant by the constraints, so this
    // terminates; the token cap is a guard against a degenerate model.
    let max_tokens = target_steps as usize * 8 + 1024;
    for _ in 0..max_tokens {
        if generator.step_count() >= target_steps {
            break;
        }
        if generator
            .step(&constraints, sampling, |ev| record(ev, &mut notes))?
            .is_none()
        {
            break;
        }
    }
    generator.release_all(|ev| record(ev, &mut notes));
    sort_notes(&mut notes);
    Ok(Score {
        notes,
        bpm: prompt.bpm,
    })
}

/// `out` with `-k` before its extension: where variation `k` of `trainer generate` goes.
pub fn variation_path(out: &Path, k: u64) -> PathBuf {
    let stem = out.file_stem().unwrap_or_default().to_string_lossy();
    let name = match out.extension() {
        Some(ext) => format!("{stem}-{k}.{}", ext.to_string_lossy()),
        None => format!("{stem}-{k}"),
    };
    out.with_file_name(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variations_are_numbered_before_the_extension() {
        assert_eq!(
            variation_path(Path::new("out/answer.mid"), 3),
            Path::new("out/answer-3.mid")
        );
        assert_eq!(
            variation_path(Path::new("answer"), 1),
            Path::new("answer-1")
        );
    }
}
