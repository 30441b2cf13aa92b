//! `trainer generate`: continue a prompt MIDI file with a model.

use anyhow::Result;
use continuo_core::midi::{sort_notes, Note, Score};
use continuo_core::runtime::{Generator, RuntimeError};
use continuo_core::sampling::Constraints;
use continuo_core::tokens::{encode, NoteCollector, NoteEvent};
use continuo_core::vocab::Token;

/// Continues `prompt` for `beats` beats. Returns the prompt followed by the continuation.
pub fn continue_score(
    generator: &mut Generator,
    prompt: &Score,
    beats: f64,
    temperature: f32,
    constraints: &Constraints,
) -> Result<Score, RuntimeError> {
    let vocab = generator.model().meta().vocab;
    let context = encode(&prompt.notes, &vocab);
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
    let start = origin + context_steps as f64 * step;
    generator.prime(&context)?;

    let target_steps = (beats / step).ceil() as u64;
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
            .step(constraints, temperature, |ev| record(ev, &mut notes))?
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
