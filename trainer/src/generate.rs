//! `trainer generate`: continue a prompt MIDI file with a model.

use std::path::{Path, PathBuf};

use continuo_core::answer::{self, Continuation, Conversation};
use continuo_core::constraints::Constraints;
use continuo_core::generator::Generator;
use continuo_core::memory::Memory;
use continuo_core::midi::{sort_notes, Note, Score};
use continuo_core::runtime::RuntimeError;
use continuo_core::sampling::Sampling;

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
/// it does in the plugin. `None`: right after the prompt's last event. The answer is the one
/// the plugin plays for the same phrase, start and seed ([`answer::continue_score`]).
pub fn continue_score_from(
    generator: &mut Generator,
    prompt: &Score,
    from: Option<f64>,
    beats: f64,
    sampling: &Sampling,
    constraints: &Constraints,
) -> Result<Score, RuntimeError> {
    let answer = answer::continue_score(generator, prompt, from, beats, constraints, sampling)?;
    let mut notes = prompt.notes.clone();
    notes.extend(answer);
    sort_notes(&mut notes);
    Ok(Score {
        notes,
        ..prompt.clone()
    })
}

/// [`answer::continue_score`] with `memory`'s predictions mixed into the model's, `weight`
/// (0..1; the plugin's *Learn from me* knob squared) of the way at most: the answer the
/// plugin plays for the same phrase when it has learned what `memory` holds. Returns the
/// answer's notes, sorted; with an empty memory, or at weight 0, the notes
/// [`answer::continue_score`] gives.
#[allow(clippy::too_many_arguments)]
pub fn continue_with_memory(
    generator: &mut Generator,
    prompt: &Score,
    from: Option<f64>,
    beats: f64,
    constraints: &Constraints,
    sampling: &Sampling,
    memory: &mut Memory,
    weight: f32,
) -> Result<Vec<Note>, RuntimeError> {
    let vocab = generator.model().meta().vocab;
    let mut conversation = Conversation::default();
    let context = conversation.add_phrase(prompt.notes.iter().copied(), &vocab);
    let mut answer = Continuation::start(generator, context, &prompt.meter, from, beats)?;
    let mut notes = Vec::new();
    // As `answer::continue_score` bounds it: each token advances time or is bounded per
    // instant, and the cap guards against a degenerate model.
    let steps = (beats / vocab.step_beats()).round().max(0.0) as usize;
    let max_tokens = steps * 8 + 1024;
    answer.generate_with_memory(
        generator,
        f64::INFINITY,
        max_tokens,
        constraints,
        sampling,
        memory,
        weight,
        |ev| notes.extend(ev.ended),
    )?;
    if !answer.is_finished() {
        notes.extend(answer.cancel(answer.generated_through(generator)));
    }
    sort_notes(&mut notes);
    Ok(notes)
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
