//! Keeping what Continuo played: every exchange lands in the history as it was heard, *Again*
//! adds a variation of the last phrase, *Save every answer* writes each as a clip, and a model
//! swap loses nothing. Played through the virtual-clock host (`continuo::sim`): no waiting.

use std::path::PathBuf;
use std::sync::atomic::Ordering;

use continuo::history::ClipContent;
use continuo::library::ModelSource;
use continuo::protocol::Prompt;
use continuo::sim::{Sim, SAMPLES_PER_BEAT, TEMPO};
use continuo::worker::WorkerSettings;
use continuo_core::midi::{read_midi, Note};

/// The token grid: a note read back from a clip lies within one step of what was played.
const STEP: f64 = 1.0 / 24.0;

fn sim(settings: WorkerSettings) -> Sim {
    let sim = Sim::new(settings);
    let status = sim.shared.status.lock().clone();
    assert!(status.model.is_some(), "{:?}", status.message);
    sim
}

/// Eight quarter notes of C major from beat 0; their answer starts at beat 5.
fn phrase() -> Vec<(f64, u8, u8)> {
    let pitches = [60u8, 62, 64, 65, 67, 65, 64, 62];
    let mut input = Vec::new();
    for (i, &p) in pitches.iter().enumerate() {
        input.push((i as f64 * 0.5, p, 90));
        input.push((i as f64 * 0.5 + 0.4, p, 0));
    }
    input
}

/// `a` and `b` are the same notes, each start and end within `tolerance` beats.
fn same_notes(a: &[Note], b: &[Note], tolerance: f64) -> bool {
    a.len() == b.len()
        && a.iter().zip(b).all(|(x, y)| {
            x.pitch == y.pitch
                && (x.start - y.start).abs() <= tolerance
                && (x.end - y.end).abs() <= tolerance
        })
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("continuo-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

#[test]
fn the_history_holds_each_exchange_as_heard_and_again_adds_a_variation() {
    let mut r = sim(WorkerSettings {
        seed: 7,
        ..Default::default()
    });
    // The phrase, its 2-bar answer (beats 5–13), then *Again* from the window at beat 14:
    // a variation from the next beat, 15–23, cut short by the player at beat 20.
    r.play(&phrase(), 14.0);
    r.stats.again.store(true, Ordering::Relaxed);
    r.play(&[(20.0, 72, 90), (20.4, 72, 0)], 21.0);

    let rows: Vec<_> = r.shared.history.lock().newest_first().cloned().collect();
    assert_eq!(rows.len(), 2, "{rows:#?}");
    let (again, first) = (&rows[0], &rows[1]);

    assert_eq!((first.prompt, first.seed), (Prompt::Phrase, 7));
    assert_eq!(first.phrase.len(), 8);
    assert_eq!(first.answer_start, 5.0);
    let heard = r.heard_in(5.0, 13.0);
    assert!(heard.len() >= 4, "{heard:?}");
    let mut answer = first.answer.clone();
    continuo_core::midi::sort_notes(&mut answer);
    assert!(
        same_notes(&answer, &heard, 1.0 / SAMPLES_PER_BEAT),
        "history {answer:?}\nheard {heard:?}"
    );

    assert_eq!(again.prompt, Prompt::Again);
    assert_ne!(again.seed, 7, "Again draws a new seed");
    assert_eq!(again.answer_start, 15.0);
    let moved: Vec<f64> = first.phrase.iter().map(|n| n.start + 10.0).collect();
    let phrase: Vec<f64> = again.phrase.iter().map(|n| n.start).collect();
    assert_eq!(phrase, moved, "the same phrase, as far before its answer");
    // Heard until the player came in at beat 20: nothing after it is in the history.
    let mut answer = again.answer.clone();
    continuo_core::midi::sort_notes(&mut answer);
    assert!(answer.iter().all(|n| n.end <= 20.0 + 1e-9), "{answer:?}");
    assert!(
        same_notes(&answer, &r.heard_in(15.0, 20.0), 1.0 / SAMPLES_PER_BEAT),
        "history {answer:?}\nheard {:?}",
        r.heard_in(15.0, 20.0)
    );
    assert_eq!(
        r.shared.status.lock().last_seed,
        Some(again.seed),
        "the window shows the variation's seed"
    );

    // Another model (here: one that is missing) does not take the history with it.
    r.worker.refresh_settings(WorkerSettings {
        source: ModelSource::Path("/nonexistent/model.onnx".into()),
        ..Default::default()
    });
    assert!(r.shared.status.lock().model.is_none());
    assert_eq!(r.shared.history.lock().len(), 2);
}

#[test]
fn save_every_answer_writes_each_exchange_once_heard_as_played() {
    let dir = temp_dir("keep");
    let mut r = sim(WorkerSettings {
        seed: 3,
        keep: Some((dir.clone(), ClipContent::PhraseAndAnswer)),
        ..Default::default()
    });
    r.play(&phrase(), 12.0);
    assert!(!dir.exists(), "the answer still plays: nothing saved yet");
    r.play(&[], 14.0);
    let files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    let saved = r.shared.status.lock().clip.clone();
    assert_eq!(saved.and_then(Result::ok).as_ref(), Some(&files[0]));

    // Phrase and answer, from the phrase's bar (beat 0), within one grid step.
    let back = read_midi(&std::fs::read(&files[0]).unwrap()).unwrap();
    assert!((back.bpm - TEMPO).abs() < 1e-2);
    let (played, answer): (Vec<Note>, Vec<Note>) = back.notes.iter().partition(|n| n.start < 4.5);
    assert_eq!(played.len(), 8);
    let heard = r.heard_in(5.0, 13.0);
    assert!(
        same_notes(&answer, &heard, STEP),
        "saved {answer:?}\nheard {heard:?}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn the_plugin_answers_a_phrase_as_trainer_generate_does() {
    use continuo_core::answer::continue_score;
    use continuo_core::constraints::Constraints;
    use continuo_core::generator::Generator;
    use continuo_core::midi::Score;
    use continuo_core::runtime::{init_runtime, Model, RuntimeOptions};
    use continuo_core::sampling::Sampling;

    let mut r = sim(WorkerSettings {
        seed: 11,
        ..Default::default()
    });
    r.play(&phrase(), 14.0);
    let exchange = r
        .shared
        .history
        .lock()
        .newest_first()
        .next()
        .cloned()
        .unwrap();
    assert!(exchange.answer.len() >= 4, "{exchange:?}");

    // `trainer generate`'s loop, on the same phrase, start, length and seed.
    init_runtime(&continuo::library::library_locations()).unwrap();
    let meta = serde_json::from_str(continuo::library::DEFAULT_META).unwrap();
    let model = Model::from_memory(
        continuo::library::DEFAULT_ONNX,
        meta,
        "embedded".into(),
        &RuntimeOptions::default(),
    )
    .unwrap();
    let mut generator = Generator::new(model, exchange.seed);
    let answer = continue_score(
        &mut generator,
        &Score::new(exchange.phrase.clone(), TEMPO),
        Some(exchange.answer_start),
        exchange.answer_end - exchange.answer_start,
        &Constraints::answer_default(),
        &Sampling::default(),
    )
    .unwrap();

    let mut played = exchange.answer.clone();
    continuo_core::midi::sort_notes(&mut played);
    assert_eq!(answer, played, "the same notes, to the sample");
}
