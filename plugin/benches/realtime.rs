//! Audio-thread cost of a block while generated notes play, the time from the end of a
//! phrase to the first generated note, and what answering costs the inference thread (the
//! shipped model, or the model at `$CONTINUO_BENCH_MODEL`, a folder or `.onnx` file).

use std::sync::Arc;
use std::time::{Duration, Instant};

use continuo::engine::{Engine, Settings, Transport};
use continuo::library::{load, ModelSource};
use continuo::protocol::{connect, FromWorker, Meter, Prompt, ToWorker};
use continuo::worker::{Shared, Worker, WorkerSettings};
use continuo_core::answer::Continuation;
use continuo_core::constraints::Constraints;
use continuo_core::generator::Generator;
use continuo_core::grid::Meter as Bars;
use continuo_core::midi::Note;
use continuo_core::runtime::Provider;
use continuo_core::sampling::Sampling;
use criterion::{criterion_group, criterion_main, Criterion};

fn transport(beat: f64) -> Transport {
    Transport::running(beat, 120.0, 48_000.0)
}

fn process_block(c: &mut Criterion) {
    let (engine_end, worker_end, stats) = connect();
    let mut engine = Engine::new(engine_end, stats);
    // The bench plays the inference thread's part.
    let (worker_rx, worker_tx) = (worker_end.from_engine, worker_end.to_engine);
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

/// The pause between a phrase's last key-up and its answer's request in the bench: the
/// plugin's shortest silence trigger, a quarter beat, at 240 BPM.
const SILENCE: Duration = Duration::from_millis(62);

/// From the request for an answer to the moment its first note-on leaves the inference
/// thread: reading what follows the phrase (which the model read during the silence), then
/// sampling until a note starts, where the answer was not drawn while the phrase fell silent
/// ([`ToWorker::Expect`]). The worker runs on its own thread as in the plugin, and the bench
/// waits on the queue, so the time is when the note is sent, not when a poll loop happens to
/// look.
fn phrase_to_first_note(c: &mut Criterion) {
    let (engine_end, worker_end, stats) = connect();
    // The bench plays the audio thread's part.
    let (to_w, from_w) = (engine_end.to_worker, engine_end.from_worker);
    let shared = Arc::new(Shared::default());
    // A playhead far ahead lifts the lookahead bound, so a first note that comes after a rest
    // is still generated (its latency is compute time; playback would wait for its beat).
    stats.playhead.publish(1000.0, 1000.0);
    let mut worker = Worker::new(worker_end, shared.clone(), stats.clone());
    let settings = WorkerSettings {
        source: bench_model(),
        ..Default::default()
    };
    worker.refresh_settings(settings.clone());
    assert!(
        shared.status.lock().model.is_some(),
        "model: {:?}",
        shared.status.lock().message
    );
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    // The inference thread, spawned here, keeps this core; the bench then moves to another.
    pin_to(cores - 1);
    let handle = worker.spawn(Box::new(move || settings.clone()));
    pin_to(0);
    let phrase = [60u8, 64, 67, 72, 67, 64, 62, 60];
    // The phrase's last key-up is at beat 3.9; by default the answer starts on beat 5, as
    // after the default *Silence trigger*. `CONTINUO_BENCH_START` moves it later, as a longer
    // trigger or *Start on* at the bar do: the pause is played in the model's head first.
    let start_beat: f64 = std::env::var("CONTINUO_BENCH_START").map_or(5.0, |s| {
        s.parse()
            .ok()
            .filter(|b: &f64| (4.0..=12.0).contains(b))
            .unwrap_or_else(|| panic!("CONTINUO_BENCH_START is a beat within 4..=12, not {s:?}"))
    });
    // `CONTINUO_BENCH_FORETELL=0`: the answer is not foretold, so nothing is drawn before it
    // is asked for (as before the inference thread drew ahead).
    let foretell = std::env::var("CONTINUO_BENCH_FORETELL").map_or(true, |v| v != "0");
    let mut id = 0;
    let mut group = c.benchmark_group("latency");
    // Each sample waits out the silence of each of its iterations: a few hundred suffice.
    group
        .sample_size(20)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3));
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
                // As the audio thread does once the phrase has been silent for half the
                // trigger: where its answer will start if it stays so.
                std::thread::sleep(SILENCE / 2);
                if foretell {
                    to_w.send(ToWorker::Expect {
                        start_beat,
                        length_beats: 8.0,
                        meter: Meter::default(),
                    })
                    .unwrap();
                }
                // The silence trigger: the answer is asked for at least a quarter beat after
                // the last key-up (62 ms at 240 BPM); the inference thread has this long.
                std::thread::sleep(SILENCE / 2);
                // What the last answer sent after its first note is not this one's.
                while from_w.try_recv().is_ok() {}
                let start = Instant::now();
                to_w.send(ToWorker::Answer {
                    id,
                    start_beat,
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
                to_w.send(ToWorker::Cancel { beat: start_beat }).unwrap();
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

/// Keeps the calling thread (and threads it spawns from now on) on `core`, so that the bench
/// and the inference thread run on two cores, as a host's audio thread and the inference
/// thread do. Left to the scheduler, the inference thread woken by the request took the
/// bench's core, and the bench saw the first note 1.8 ms after it was sent.
#[cfg(target_os = "linux")]
fn pin_to(core: usize) {
    // SAFETY: `set` is a plain bit set, initialised before use; the call only reads it.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(core, &mut set);
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set);
    }
}

#[cfg(not(target_os = "linux"))]
fn pin_to(_core: usize) {}

/// The model the inference benches run.
fn bench_model() -> ModelSource {
    std::env::var_os("CONTINUO_BENCH_MODEL")
        .map_or(ModelSource::Embedded, |p| ModelSource::Path(p.into()))
}

/// Tempo at which [`answer_cost`] is read as a share of one core.
const COST_TEMPO: f64 = 120.0;
const COST_BEATS: f64 = 16.0;

/// The inference thread's compute for a whole answer (16 beats, the plugin's defaults, the
/// phrase of [`phrase_to_first_note`]). At 120 BPM the answer plays for 8 s, so the time per
/// answer divided by 8 s is the share of one core that answering costs; the bench prints it.
fn answer_cost(c: &mut Criterion) {
    let model = load(&bench_model(), Provider::Cpu).expect("the bench model loads");
    let mut generator = Generator::new(model, 1);
    let phrase: Vec<Note> = [60u8, 64, 67, 72, 67, 64, 62, 60]
        .iter()
        .enumerate()
        .map(|(i, &pitch)| Note {
            pitch,
            velocity: 90,
            start: i as f64 * 0.5,
            end: i as f64 * 0.5 + 0.4,
        })
        .collect();
    let (constraints, sampling) = (Constraints::answer_default(), Sampling::default());
    let mut seed = 0;
    let mut answer = |generator: &mut Generator| {
        seed += 1;
        generator.reseed(seed);
        let mut a =
            Continuation::start(generator, &phrase, &Bars::default(), Some(5.0), COST_BEATS)
                .unwrap();
        a.generate(
            generator,
            f64::INFINITY,
            1 << 16,
            &constraints,
            &sampling,
            |_| {},
        )
        .unwrap();
    };
    let start = Instant::now();
    let runs = 20;
    for _ in 0..runs {
        answer(&mut generator);
    }
    let per_answer = start.elapsed().as_secs_f64() / f64::from(runs);
    let playing = COST_BEATS * 60.0 / COST_TEMPO;
    println!(
        "answer_cost: {:.1} ms per {COST_BEATS}-beat answer = {:.2}% of one core at {COST_TEMPO} BPM",
        per_answer * 1e3,
        100.0 * per_answer / playing
    );
    let mut group = c.benchmark_group("inference");
    group.sample_size(10);
    group.bench_function("answer_16_beats", |b| b.iter(|| answer(&mut generator)));
    group.finish();
}

criterion_group!(benches, process_block, phrase_to_first_note, answer_cost);
criterion_main!(benches);
