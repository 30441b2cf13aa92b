//! `trainer check` end to end: a small exported model answers MIDI fixtures through ONNX
//! Runtime, as the command does.

use std::path::PathBuf;

use burn::prelude::*;
use continuo_core::contract::{Architecture, ModelMeta};
use continuo_core::midi::{write_midi, Note, Score};
use continuo_core::runtime::{Generator, Model, RuntimeOptions};
use continuo_core::sampling::{Constraints, Sampling};
use continuo_core::vocab::Vocab;
use continuo_trainer::check::{check_model, CheckError, CheckOptions, PROMPT_BEATS};
use continuo_trainer::generate::continue_score_from;
use continuo_trainer::model::ContinuoNet;
use continuo_trainer::train::write_model;

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("continuo-{name}-{}", std::process::id()));
    if dir.exists() {
        std::fs::remove_dir_all(&dir).unwrap();
    }
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// An untrained model: its answers are arbitrary, but they go through the real runtime.
fn tiny_model(name: &str) -> PathBuf {
    let device = Device::flex();
    device.seed(11);
    let vocab = Vocab::default();
    let arch = Architecture {
        embed_dim: 8,
        hidden_dim: 16,
        num_layers: 1,
    };
    let net = ContinuoNet::new(vocab.size(), arch, 0.0, &device);
    let dir = temp_dir(name);
    write_model(&dir, &net, &ModelMeta::new(name, vocab, arch)).unwrap();
    dir
}

fn note(pitch: u8, start: f64, len: f64) -> Note {
    Note {
        pitch,
        velocity: 64,
        start,
        end: start + len,
    }
}

/// `bars` bars of 8ths walking up and down a D-major scale.
fn walk(bars: u32) -> Score {
    const D_MAJOR: [u8; 7] = [62, 64, 66, 67, 69, 71, 73];
    let notes = (0..bars * 8)
        .map(|i| note(D_MAJOR[(i * 3 % 7) as usize], f64::from(i) * 0.5, 0.4))
        .collect();
    Score { notes, bpm: 100.0 }
}

fn write(dir: &std::path::Path, name: &str, score: &Score) {
    std::fs::write(dir.join(name), write_midi(score).unwrap()).unwrap();
}

#[test]
fn check_answers_every_window_with_the_model_the_same_way_twice() {
    let model = tiny_model("check-model");
    let data = temp_dir("check-data");
    write(&data, "walk.mid", &walk(16));
    std::fs::create_dir_all(data.join("more")).unwrap();
    write(&data, "more/long.midi", &walk(40));
    write(&data, "short.mid", &walk(3));
    std::fs::write(data.join("broken.mid"), b"MThd not really").unwrap();

    let options = CheckOptions {
        windows: 3,
        seeds: 2,
        sampling: Sampling {
            temperature: 1.0,
            ..Default::default()
        },
    };
    let (report, skipped) = check_model(&model, &data, &options).unwrap();
    assert_eq!(skipped.len(), 1);
    assert!(skipped[0].path.ends_with("broken.mid"));
    assert_eq!(report.pieces, 3);
    assert_eq!(report.pieces_without_windows, 1, "3 bars hold no window");
    assert_eq!(report.windows, 6);
    assert_eq!(report.answers, 12);
    assert!(report.empty_answers < report.answers, "{report}");
    assert!(report.model.pitch_class_similarity.is_some(), "{report}");
    assert_eq!(report.truth.pitch_class_similarity, Some(1.0));

    let (again, _) = check_model(&model, &data, &options).unwrap();
    assert_eq!(report, again);

    let empty = temp_dir("check-empty");
    write(&empty, "short.mid", &walk(3));
    assert!(matches!(
        check_model(&model, &empty, &options),
        Err(CheckError::NoWindows { pieces: 1, .. })
    ));
    let none = temp_dir("check-none");
    assert!(matches!(
        check_model(&model, &none, &options),
        Err(CheckError::NoPieces { .. })
    ));
    for dir in [model, data, empty, none] {
        std::fs::remove_dir_all(dir).ok();
    }
}

#[test]
fn a_continuation_from_a_later_beat_hears_the_rest_first() {
    let dir = tiny_model("check-from");
    let model = Model::load(&dir, &RuntimeOptions::default()).unwrap();
    let mut generator = Generator::new(model, 5);
    // The prompt's last note ends at beat 5: three beats of rest before the answer.
    let prompt = Score {
        notes: vec![note(60, 0.0, 1.0), note(64, 2.0, 1.0), note(67, 4.0, 1.0)],
        bpm: 120.0,
    };
    let mut out = continue_score_from(
        &mut generator,
        &prompt,
        Some(PROMPT_BEATS),
        8.0,
        &Sampling {
            temperature: 1.0,
            ..Default::default()
        },
        &Constraints::default(),
    )
    .unwrap();
    let answer = out.notes.split_off(prompt.notes.len());
    assert_eq!(out.notes, prompt.notes);
    assert!(!answer.is_empty());
    assert!(
        answer
            .iter()
            .all(|n| (PROMPT_BEATS..PROMPT_BEATS + 8.0).contains(&n.start)),
        "{answer:?}"
    );
    std::fs::remove_dir_all(dir).ok();
}
