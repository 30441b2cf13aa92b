//! Offline rendering (a DAW's bounce or export) gives the answer a real-time run plays,
//! complete and on time, whatever the block size, at whatever speed the host renders: the
//! engine waits for the inference thread block by block (see `protocol`). Engine and worker
//! as the plugin wires them, on a virtual clock as fast as the machine goes.

use std::sync::Arc;

use continuo::engine::{Engine, OutEvent, Settings, Transport};
use continuo::protocol::connect;
use continuo::worker::{Shared, Worker, WorkerSettings};

const SAMPLE_RATE: f64 = 48_000.0;
const ANSWER_CHANNEL: u8 = 1;

/// The generated events (absolute beat, event) of one offline render at `tempo` in
/// `block`-sample blocks.
fn render(block: u32, tempo: f64, seed: u64) -> Vec<(f64, OutEvent)> {
    let spb = SAMPLE_RATE * 60.0 / tempo;
    let (engine_end, worker_end, stats) = connect();
    let shared = Arc::new(Shared::default());
    let mut engine = Engine::new(engine_end, stats.clone());
    let worker_settings = WorkerSettings {
        seed,
        ..Default::default()
    };
    let mut worker = Worker::new(worker_end, shared.clone(), stats);
    worker.refresh_settings(worker_settings.clone());
    assert!(
        shared.status.lock().model.is_some(),
        "{:?}",
        shared.status.lock().message
    );
    let handle = worker.spawn(Box::new(move || worker_settings.clone()));

    // A C major phrase of eight quarter notes, then 2 bars of answer.
    let phrase = [60u8, 62, 64, 65, 67, 65, 64, 62];
    let mut input: Vec<(u64, u8, u8)> = Vec::new();
    for (i, &p) in phrase.iter().enumerate() {
        let start = (i as f64 * 0.5 * spb) as u64;
        input.push((start, p, 90));
        input.push((start + (0.4 * spb) as u64, p, 0));
    }
    let settings = Settings {
        channel: ANSWER_CHANNEL,
        offline: true,
        ..Settings::default()
    };
    let mut heard = Vec::new();
    let (mut sample, mut next) = (0u64, 0);
    while (sample as f64) < 16.0 * spb {
        let transport = Transport::running(sample as f64 / spb, tempo, SAMPLE_RATE);
        let at = sample;
        let mut emit = |e: OutEvent| heard.push((at, e));
        engine.begin_block(&transport, settings, block, &mut emit);
        while next < input.len() && input[next].0 < sample + u64::from(block) {
            let (s, pitch, velocity) = input[next];
            engine.input_note((s - sample) as u32, 0, pitch, velocity, &mut emit);
            next += 1;
        }
        engine.end_block(&mut emit);
        sample += u64::from(block);
    }
    shared
        .stop
        .store(true, std::sync::atomic::Ordering::Relaxed);
    handle.join().unwrap();
    heard
        .into_iter()
        .filter_map(|(at, e)| match e {
            OutEvent::On {
                timing, channel, ..
            }
            | OutEvent::Off {
                timing, channel, ..
            } if channel == ANSWER_CHANNEL => Some((at + u64::from(timing), e)),
            _ => None,
        })
        .map(|(s, e)| (s as f64 / spb, strip_timing(e)))
        .collect()
}

fn strip_timing(e: OutEvent) -> OutEvent {
    match e {
        OutEvent::On {
            channel,
            pitch,
            velocity,
            ..
        } => OutEvent::On {
            timing: 0,
            channel,
            pitch,
            velocity,
        },
        OutEvent::Off { channel, pitch, .. } => OutEvent::Off {
            timing: 0,
            channel,
            pitch,
        },
    }
}

#[test]
fn offline_renders_are_complete_and_identical_at_any_block_size() {
    let reference = render(256, 120.0, 7);
    let ons = reference
        .iter()
        .filter(|(_, e)| matches!(e, OutEvent::On { .. }))
        .count();
    assert!(ons >= 4, "an answer of {ons} notes");
    // The phrase ends at beat 3.9; one beat of silence; the answer starts on the next beat.
    let first = reference[0].0;
    assert!((5.0..5.1).contains(&first), "first note at beat {first}");
    for block in [1024, 4096, 8192, 32768] {
        assert_eq!(render(block, 120.0, 7), reference, "{block}-sample blocks");
    }
}

#[test]
fn the_answer_ends_exactly_on_its_length_at_any_tempo() {
    for (tempo, seed) in [
        (90.0, 1),
        (90.0, 2),
        (90.0, 3),
        (120.0, 4),
        (137.0, 5),
        (90.0, 6),
    ] {
        let heard = render(512, tempo, seed);
        let last = heard.iter().map(|&(beat, _)| beat).fold(0.0, f64::max);
        // Two bars of 4/4 from beat 5; one sample of rounding.
        assert!(
            last <= 13.0 + 1e-3,
            "{tempo} bpm, seed {seed}: the last event at beat {last}"
        );
    }
}

#[test]
fn a_seed_plays_the_same_answer_again_for_the_same_phrase() {
    // The window shows each answer's seed; typed into Seed, it must give that answer again.
    let first = render(512, 120.0, 4242);
    assert_eq!(render(2048, 120.0, 4242), first);
    assert_ne!(
        render(512, 120.0, 4243),
        first,
        "another seed, another answer"
    );
}
