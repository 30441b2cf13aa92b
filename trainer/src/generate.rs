//! `trainer generate`: continue a prompt MIDI file with a model.

use std::path::{Path, PathBuf};

use continuo_core::answer;
use continuo_core::constraints::Constraints;
use continuo_core::generator::Generator;
use continuo_core::midi::{sort_notes, Score};
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
