//! `trainer generate`: continue a prompt MIDI file with a model.

use std::path::{Path, PathBuf};

use continuo_core::answer;
use continuo_core::constraints::Constraints;
use continuo_core::generator::Generator;
use continuo_core::grid::next_on_grid;
use continuo_core::midi::{sort_notes, Score};
use continuo_core::runtime::RuntimeError;
use continuo_core::sampling::Sampling;

/// Continues `prompt` for `beats` beats from its next beat ([`start_after`] no silence), so
/// that the continuation keeps the prompt's grid and ends on it. Returns the prompt followed
/// by the continuation.
pub fn continue_score(
    generator: &mut Generator,
    prompt: &Score,
    beats: f64,
    sampling: &Sampling,
    constraints: &Constraints,
) -> Result<Score, RuntimeError> {
    let from = Some(start_after(prompt, 0.0));
    continue_score_from(generator, prompt, from, beats, sampling, constraints)
}

/// Where an answer to `prompt` starts once the prompt has been silent for `silence` beats
/// after its last note ends: on the next beat of the meter's pulse there, as the plugin
/// starts its answers (with its *Silence trigger* as `silence`).
pub fn start_after(prompt: &Score, silence: f64) -> f64 {
    let silent_from = prompt.notes.iter().map(|n| n.end).fold(0.0, f64::max);
    let (origin, sig) = prompt.meter.change_at(silent_from);
    next_on_grid(silent_from + silence, sig.pulse_beats(), origin)
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
    use continuo_core::grid::{Meter, TimeSig};
    use continuo_core::midi::Note;

    fn ending_at(end: f64, meter: Meter) -> Score {
        let note = Note {
            pitch: 60,
            velocity: 80,
            start: 0.0,
            end,
        };
        Score {
            meter,
            ..Score::new(vec![note], 120.0)
        }
    }

    #[test]
    fn a_continuation_starts_on_the_prompts_next_pulse() {
        let waltz = Meter::constant(TimeSig {
            numerator: 3,
            denominator: 4,
        });
        assert_eq!(start_after(&ending_at(5.8, waltz.clone()), 0.0), 6.0);
        assert_eq!(start_after(&ending_at(6.0, waltz.clone()), 0.0), 6.0);
        assert_eq!(
            start_after(&ending_at(5.8, waltz), 1.0),
            7.0,
            "after a beat's silence"
        );
        // 6/8 from beat 1 (after a bar of 1/4): its dotted quarters count from there.
        let six_eight = TimeSig {
            numerator: 6,
            denominator: 8,
        };
        let meter = Meter::from_changes([
            (
                0.0,
                TimeSig {
                    numerator: 1,
                    denominator: 4,
                },
            ),
            (1.0, six_eight),
        ]);
        assert_eq!(start_after(&ending_at(2.2, meter), 0.0), 2.5);
    }

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
