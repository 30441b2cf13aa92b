//! Generation with the shipped model under constraints: what the plugin's answers and the
//! trainer's `generate` rely on.
#![cfg(feature = "ort")]

use std::path::Path;

use continuo_core::answer::Continuation;
use continuo_core::constraints::Constraints;
use continuo_core::generator::Generator;
use continuo_core::grid::Meter;
use continuo_core::memory::Memory;
use continuo_core::midi::Note;
use continuo_core::music::Scale;
use continuo_core::runtime::{Model, RuntimeOptions};
use continuo_core::sampling::Sampling;
use continuo_core::tokens::{encode, NoteCollector};

/// How the phrase reaches the model before the answer.
#[derive(Clone, Copy)]
enum Priming {
    /// All at once.
    Whole,
    /// The phrase read ahead of time, then a beat's rest.
    Prepared,
    /// The phrase and a beat's rest, in the two parts of a prepared priming but nothing
    /// prepared.
    InTwo,
}

fn generate(constraints: &Constraints, steps: u64, seed: u64) -> Vec<Note> {
    generate_primed(constraints, steps, seed, Priming::Whole)
}

/// `pitches`, one every `beats`, each held 90% of the way to the next.
fn phrase(pitches: &[u8], beats: f64) -> Vec<Note> {
    pitches
        .iter()
        .enumerate()
        .map(|(i, &pitch)| Note {
            pitch,
            velocity: 80,
            start: i as f64 * beats,
            end: (i as f64 + 0.9) * beats,
        })
        .collect()
}

fn generate_primed(
    constraints: &Constraints,
    steps: u64,
    seed: u64,
    priming: Priming,
) -> Vec<Note> {
    // A C major arpeggio as the phrase.
    let prompt = phrase(&[60, 64, 67, 72, 67, 64, 60], 0.5);
    answer_to(&prompt, constraints, steps, seed, priming)
}

/// The answer to `prompt` for `steps` grid steps, in beats from the answer's start.
fn answer_to(
    prompt: &[Note],
    constraints: &Constraints,
    steps: u64,
    seed: u64,
    priming: Priming,
) -> Vec<Note> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/chopin");
    let model = Model::load(&dir, &RuntimeOptions::default()).expect("the shipped model");
    let vocab = model.meta().vocab;
    let mut generator = Generator::new(model, seed);
    let context = encode(prompt, &vocab);
    let mut rest = Vec::new();
    continuo_core::tokens::push_time_shift(&mut rest, u64::from(vocab.steps_per_beat), &vocab);
    let meter = Meter::default();
    match priming {
        Priming::Whole => generator.prime(&context, 0, &meter).unwrap(),
        Priming::Prepared => {
            generator.prepare(&context, 0, &meter).unwrap();
            generator.prime_after(&context, &rest, 0, &meter).unwrap();
        }
        Priming::InTwo => generator.prime_after(&context, &rest, 0, &meter).unwrap(),
    }
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

#[test]
fn a_phrase_read_ahead_of_time_gives_the_same_answer() {
    let constraints = Constraints::answer_default();
    let prepared = generate_primed(&constraints, 192, 5, Priming::Prepared);
    assert!(!prepared.is_empty());
    assert_eq!(
        prepared,
        generate_primed(&constraints, 192, 5, Priming::InTwo)
    );
}

/// Share of onsets after the first that strike a pitch of the onset before.
fn repeat_rate(notes: &[Note]) -> f64 {
    let mut onsets: Vec<(f64, Vec<u8>)> = Vec::new();
    for n in notes {
        match onsets.last_mut() {
            Some((start, pitches)) if (*start - n.start).abs() < 1e-6 => pitches.push(n.pitch),
            _ => onsets.push((n.start, vec![n.pitch])),
        }
    }
    let repeats = onsets
        .windows(2)
        .filter(|w| w[1].1.iter().any(|p| w[0].1.contains(p)))
        .count();
    repeats as f64 / (onsets.len().max(2) - 1) as f64
}

#[test]
fn answers_follow_the_phrases_pace_and_its_habit_of_repeating() {
    let constraints = Constraints::answer_default();
    let answers = |prompt: &[Note]| -> Vec<Vec<Note>> {
        (1..=3)
            .map(|seed| answer_to(prompt, &constraints, 8 * 24, seed, Priming::Whole))
            .collect()
    };
    let mean = |answers: &[Vec<Note>], f: &dyn Fn(&[Note]) -> f64| {
        answers.iter().map(|a| f(a)).sum::<f64>() / answers.len() as f64
    };
    let count = |a: &[Note]| a.len() as f64;
    // The same eight beats of C major, as a hammered figure (each pitch struck four times,
    // four notes a beat) and as a scale that never repeats (one note a beat).
    let hammered: Vec<u8> = [60u8, 64, 67, 72, 67, 64, 60, 64]
        .iter()
        .flat_map(|&p| [p; 4])
        .collect();
    let hammered = answers(&phrase(&hammered, 0.25));
    let scale = answers(&phrase(&[60, 62, 64, 65, 67, 69, 71, 72], 1.0));
    let (busy, sparse) = (mean(&hammered, &count), mean(&scale, &count));
    assert!(
        busy > 2.0 * sparse,
        "notes in 8 beats: {busy} after 32 notes, {sparse} after 8"
    );
    let (repeating, stepping) = (
        mean(&hammered, &|a| repeat_rate(a)),
        mean(&scale, &|a| repeat_rate(a)),
    );
    assert!(
        repeating > 0.3 && stepping < 0.15,
        "repeated onsets: {repeating} after a hammered figure, {stepping} after a scale"
    );
}

#[test]
fn an_answer_after_a_pause_is_heard_from_its_start() {
    // An Alberti figure in 8ths, then a pause of a beat and a half: the model reads the first
    // half beat as a rest and plays the last beat in its head.
    let prompt = phrase(&[48, 55, 52, 55, 48, 55, 52, 55], 0.5);
    let start = 5.5;
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/chopin");
    for seed in 1..=4 {
        let model = Model::load(&dir, &RuntimeOptions::default()).expect("the shipped model");
        let mut generator = Generator::new(model, seed);
        let meter = Meter::default();
        let mut answer =
            Continuation::start(&mut generator, &prompt, &meter, Some(start), 4.0).expect("primed");
        let mut sounding = [false; 128];
        let mut notes = Vec::new();
        answer
            .generate(
                &mut generator,
                f64::INFINITY,
                10_000,
                &Constraints::answer_default(),
                &Sampling::default(),
                |ev| {
                    assert!(
                        ev.beat >= start,
                        "seed {seed}: heard before the start: {ev:?}"
                    );
                    assert!(
                        ev.beat <= start + 4.0 + 1e-9,
                        "seed {seed}: heard after the end: {ev:?}"
                    );
                    let p = usize::from(ev.pitch);
                    if ev.velocity > 0 {
                        sounding[p] = true;
                    } else {
                        assert!(
                            sounding[p],
                            "seed {seed}: the end of a note not heard: {ev:?}"
                        );
                        sounding[p] = false;
                    }
                    notes.extend(ev.ended);
                },
            )
            .unwrap();
        assert!(answer.is_finished());
        assert!(
            !sounding.contains(&true),
            "seed {seed}: a note left sounding"
        );
        assert!(!notes.is_empty(), "seed {seed}: nothing heard");
        for n in &notes {
            assert!(n.start >= start && n.end > n.start, "seed {seed}: {n:?}");
        }
    }
}

/// How an answer is generated in [`recalled`].
#[derive(Clone, Copy, PartialEq)]
enum Recall {
    /// Without a memory.
    Without,
    /// With the memory at this weight.
    With(f32),
    /// With the memory at this weight, the prompt read ahead of time.
    Prepared(f32),
}

/// The answer (8 beats from the beat after the prompt) to `prompt`, as the plugin's
/// inference thread generates one.
fn recalled(prompt: &[Note], memory: &mut Memory, recall: Recall, seed: u64) -> Vec<Note> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/chopin");
    let model = Model::load(&dir, &RuntimeOptions::default()).expect("the shipped model");
    let mut generator = Generator::new(model, seed);
    let meter = Meter::default();
    if let Recall::Prepared(_) = recall {
        Continuation::prepare(&mut generator, prompt, &meter).unwrap();
    }
    let start = prompt.iter().map(|n| n.end).fold(0.0, f64::max).ceil() + 1.0;
    let mut answer = Continuation::start(&mut generator, prompt, &meter, Some(start), 8.0).unwrap();
    let (constraints, sampling) = (
        Constraints::answer_default(),
        Sampling {
            temperature: 1.0,
            ..Default::default()
        },
    );
    let mut notes = Vec::new();
    let emit = |ev: continuo_core::answer::AnswerEvent| notes.extend(ev.ended);
    match recall {
        Recall::Without => answer.generate(
            &mut generator,
            f64::INFINITY,
            10_000,
            &constraints,
            &sampling,
            emit,
        ),
        Recall::With(weight) | Recall::Prepared(weight) => answer.generate_with_memory(
            &mut generator,
            f64::INFINITY,
            10_000,
            &constraints,
            &sampling,
            memory,
            weight,
            emit,
        ),
    }
    .unwrap();
    assert!(answer.is_finished());
    notes
}

/// A figure no keyboard piece plays, four times over in 16ths.
fn odd_figure() -> (Vec<Note>, [u8; 4]) {
    let figure = [60, 66, 61, 71];
    let pitches: Vec<u8> = figure.iter().copied().cycle().take(16).collect();
    (phrase(&pitches, 0.25), figure)
}

#[test]
fn an_answer_learning_nothing_from_the_player_is_the_answer_without_memory() {
    let (prompt, _) = odd_figure();
    let vocab = Model::load(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/chopin"),
        &RuntimeOptions::default(),
    )
    .unwrap()
    .meta()
    .vocab;
    let mut memory = Memory::new();
    memory.learn(&encode(&prompt, &vocab), &vocab);
    for seed in 1..=2 {
        let plain = recalled(&prompt, &mut memory, Recall::Without, seed);
        assert!(!plain.is_empty());
        assert_eq!(
            plain,
            recalled(&prompt, &mut memory, Recall::With(0.0), seed)
        );
        assert_eq!(
            plain,
            recalled(&prompt, &mut Memory::new(), Recall::With(1.0), seed)
        );
    }
    // Reading the phrase ahead of time keeps what the memory matches against, too.
    assert_eq!(
        recalled(&prompt, &mut memory, Recall::With(1.0), 3),
        recalled(&prompt, &mut memory, Recall::Prepared(1.0), 3)
    );
}

#[test]
fn an_answer_learning_from_the_player_plays_the_players_figure() {
    let (prompt, figure) = odd_figure();
    let vocab = continuo_core::Vocab::default();
    let mut memory = Memory::new();
    for _ in 0..3 {
        memory.learn(&encode(&prompt, &vocab), &vocab);
    }
    // Share of successive notes that step as the figure steps.
    let figure_steps = |notes: &[Note]| {
        let steps = notes
            .windows(2)
            .filter(|w| {
                (0..4).any(|i| w[0].pitch == figure[i] && w[1].pitch == figure[(i + 1) % 4])
            })
            .count();
        steps as f64 / notes.len().max(2) as f64
    };
    let mean = |recall| {
        (1..=3)
            .map(|seed| figure_steps(&recalled(&prompt, &mut memory.clone(), recall, seed)))
            .sum::<f64>()
            / 3.0
    };
    let (without, with) = (mean(Recall::Without), mean(Recall::With(1.0)));
    assert!(
        with > 0.5 && with > without + 0.2,
        "figure steps: {without} without memory, {with} with"
    );
}
