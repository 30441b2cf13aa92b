//! Audio-thread cost of a block while generated notes play, and the time from the end of a
//! phrase to the first generated note (inference thread, shipped model).

use std::sync::Arc;
use std::time::{Duration, Instant};

use continuo::engine::{Engine, EngineStats, Settings, Transport};
use continuo::protocol::{FromWorker, Meter, Prompt, ToWorker};
use continuo::worker::{Shared, Worker};
use criterion::{criterion_group, criterion_main, Criterion};
use crossbeam_channel::bounded;

fn transport(beat: f64) -> Transport {
    Transport::running(beat, 120.0, 48_000.0)
}

fn process_block(c: &mut Criterion) {
    let (to_w, worker_rx) = bounded(4096);
    let (worker_tx, from_w) = bounded(4096);
    let mut engine = Engine::new(to_w, from_w, Arc::default());
    let settings = Settings::default();
    // Play a phrase and let the pause trigger an answer (id 1) starting at beat 2.
    let mut beat = 0.0;
    let block_beats = 256.0 / 24_000.0;
    let mut sink = |_| {};
    engine.begin_block(&transport(beat), settings, 256, &mut sink);
    engine.input_note(0, 0, 60, 100, &mut sink);
    engine.input_note(10, 0, 60, 0, &mut sink);
    engine.end_block(&mut sink);
    while !engine.is_answering() {
        beat += block_beats;
        engine.begin_block(&transport(beat), settings, 256, &mut sink);
        engine.end_block(&mut sink);
    }
    let mut events = 0u64;
    c.bench_function("process_block_256_with_answer_playing", |b| {
        b.iter(|| {
            // Keep a dense stream of generated notes (a 16th-note chord of 3) in flight.
            while worker_tx.len() < 64 {
                let at = beat + 0.01 + (events / 6) as f64 * 0.25;
                let pitch = 60 + (events % 3) as u8 * 4;
                let velocity = if events % 6 < 3 { 90 } else { 0 };
                let _ = worker_tx.try_send(FromWorker::Note {
                    id: 1,
                    beat: at,
                    pitch,
                    velocity,
                });
                events += 1;
            }
            let mut n = 0;
            let mut emit = |_| n += 1;
            engine.begin_block(&transport(beat), settings, 256, &mut emit);
            engine.end_block(&mut emit);
            beat += block_beats;
            while worker_rx.try_recv().is_ok() {}
            n
        })
    });
}

/// The shortest pause between a phrase's last key-up and its answer's request in the bench:
/// shorter than the plugin's shortest silence trigger (a quarter beat) at any usual tempo.
const SILENCE: Duration = Duration::from_millis(20);

/// From the request for an answer to the moment its first note-on leaves the inference
/// thread: reading what follows the phrase (which the model read during the silence), then
/// sampling until a note starts. The worker runs on its own thread as in the plugin, and the
/// bench waits on the queue, so the time is when the note is sent, not when a poll loop
/// happens to look.
fn phrase_to_first_note(c: &mut Criterion) {
    let (to_w, worker_rx) = bounded(4096);
    let (worker_tx, from_w) = bounded(4096);
    let shared = Arc::new(Shared::default());
    let stats = Arc::new(EngineStats::default());
    // A playhead far ahead lifts the lookahead bound, so a first note that comes after a rest
    // is still generated (its latency is compute time; playback would wait for its beat).
    stats.playhead.publish(1000.0, 1000.0);
    let mut worker = Worker::new(worker_rx, worker_tx, shared.clone(), stats);
    worker.refresh_settings(Default::default());
    assert!(
        shared.status.lock().model.is_some(),
        "model: {:?}",
        shared.status.lock().message
    );
    let handle = worker.spawn(Box::new(Default::default));
    let phrase = [60u8, 64, 67, 72, 67, 64, 62, 60];
    let mut id = 0;
    let mut group = c.benchmark_group("latency");
    group.measurement_time(Duration::from_secs(5));
    group.bench_function("phrase_end_to_first_generated_note", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                id += 1;
                // A fresh conversation each time: the phrase alone is the context.
                to_w.send(ToWorker::Reset).unwrap();
                for (i, &p) in phrase.iter().enumerate() {
                    for (velocity, at) in [(90, 0.0), (0, 0.4)] {
                        to_w.send(ToWorker::Played {
                            pitch: p,
                            velocity,
                            beat: i as f64 * 0.5 + at,
                        })
                        .unwrap();
                    }
                }
                // The silence trigger: the answer is asked for at least a quarter beat after
                // the last key-up (62 ms at 240 BPM); the inference thread has this long.
                std::thread::sleep(SILENCE);
                let start = Instant::now();
                to_w.send(ToWorker::Answer {
                    id,
                    start_beat: 5.0,
                    length_beats: 8.0,
                    prompt: Prompt::Phrase,
                    meter: Meter::default(),
                })
                .unwrap();
                loop {
                    match from_w.recv_timeout(Duration::from_secs(5)) {
                        Ok(FromWorker::Note {
                            id: of, velocity, ..
                        }) if of == id && velocity > 0 => break,
                        Ok(_) => {}
                        Err(_) => break, // an answer of rests only; counts its whole time
                    }
                }
                total += start.elapsed();
                to_w.send(ToWorker::Cancel { beat: 5.0 }).unwrap();
            }
            total
        })
    });
    group.finish();
    shared
        .stop
        .store(true, std::sync::atomic::Ordering::Relaxed);
    handle.join().unwrap();
}

criterion_group!(benches, process_block, phrase_to_first_note);
criterion_main!(benches);
