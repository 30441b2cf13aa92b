//! Generation with the shipped model under constraints: what the plugin's answers and the
//! trainer's `generate` rely on.
#![cfg(feature = "ort")]

use std::path::Path;

use continuo_core::midi::Note;
use continuo_core::runtime::{Generator, Model, RuntimeOptions};
use continuo_core::sampling::{Constraints, Sampling, Scale};
use continuo_core::tokens::{encode, NoteCollector};

fn generate(constraints: &Constraints, steps: u64, seed: u64) -> Vec<Note> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/chopin");
    let model = Model::load(&dir, &RuntimeOptions::default()).expect("the shipped model");
    let vocab = model.meta().vocab;
    let mut generator = Generator::new(model, seed);
    // A C major arpeggio as the phrase.
    let prompt: Vec<Note> = [60u8, 64, 67, 72, 67, 64, 60]
        .iter()
        .enumerate()
        .map(|(i, &pitch)| Note {
            pitch,
            velocity: 80,
            start: i as f64 * 0.5,
            end: i as f64 * 0.5 + 0.45,
        })
        .collect();
    generator.prime(&encode(&prompt, &vocab)).unwrap();
    let mut collector = NoteCollector::default();
    let mut notes = Vec::new();
    let beat = |s: u64| s as f64 / f64::from(vocab.steps_per_beat);
    let mut tokens = 0;
    while generator.step_count() < steps {
        let token = generator
            .step(
                constraints,
                &Sampling {
                    temperature: 1.0,
                    ..Default::default()
                },
                |e| notes.extend(collector.push(e, beat)),
            )
            .unwrap();
        assert!(token.is_some(), "the constraints always leave a way on");
        tokens += 1;
        assert!(tokens < 20 * steps, "generation does not move on in time");
    }
    generator.release_all(|e| notes.extend(collector.push(e, beat)));
    notes
}

#[test]
fn generated_notes_keep_to_range_key_and_longest_length() {
    let constraints = Constraints {
        pitch_lo: 48,
        pitch_hi: 84,
        pitch_classes: Scale::Major.pitch_classes(0),
        max_note_beats: Some(1.0),
        ..Constraints::default()
    };
    // 16 beats, a few seeds at a high temperature: the model's wilder moments too.
    for seed in 1..=3 {
        let notes = generate(&constraints, 16 * 24, seed);
        assert!(notes.len() >= 8, "seed {seed}: only {} notes", notes.len());
        for n in &notes {
            assert!(constraints.allows_pitch(n.pitch), "seed {seed}: {n:?}");
            assert!(
                n.end - n.start <= 1.0 + 1e-9,
                "seed {seed}: held too long: {n:?}"
            );
            assert!(n.end > n.start, "seed {seed}: an empty note {n:?}");
        }
    }
}
