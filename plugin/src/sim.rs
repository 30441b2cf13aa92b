//! A host on a virtual clock: the audio thread's [`Engine`] and the inference thread's
//! [`Worker`] driven in turn on one thread, block by block. Nothing waits and nothing races,
//! so a seed plays the same notes every run; tests and the window example play through it.

use std::sync::Arc;

use continuo_core::midi::{sort_notes, Note};
use crossbeam_channel::bounded;

use crate::engine::{Engine, EngineStats, OutEvent, Settings, Transport};
use crate::protocol::{FROM_WORKER_CAPACITY, TO_WORKER_CAPACITY};
use crate::worker::{Shared, Worker, WorkerSettings};

pub const SAMPLE_RATE: f64 = 48_000.0;
pub const TEMPO: f64 = 120.0;
pub const SAMPLES_PER_BEAT: f64 = SAMPLE_RATE * 60.0 / TEMPO;
pub const BLOCK: u32 = 512;
/// Channel the answers play on (MIDI channel 2), apart from the player's.
pub const ANSWER_CHANNEL: u8 = 1;

/// The engine and worker of one plugin instance, and what came out of it.
pub struct Sim {
    pub engine: Engine,
    pub worker: Worker,
    pub shared: Arc<Shared>,
    pub stats: Arc<EngineStats>,
    sample: u64,
    /// Generated notes as heard, in the order they ended.
    heard: Vec<Note>,
    sounding: [Option<(f64, u8)>; 128],
}

impl Sim {
    /// An instance with `settings` and its model loaded (or, if it cannot load, the reason in
    /// the shared status).
    pub fn new(settings: WorkerSettings) -> Self {
        Self::with_shared(settings, Arc::default(), Arc::default())
    }

    /// [`Self::new`] around given shared state, as a window reads it.
    pub fn with_shared(
        settings: WorkerSettings,
        shared: Arc<Shared>,
        stats: Arc<EngineStats>,
    ) -> Self {
        let (to_worker, worker_rx) = bounded(TO_WORKER_CAPACITY);
        let (worker_tx, from_worker) = bounded(FROM_WORKER_CAPACITY);
        let engine = Engine::new(to_worker, from_worker, stats.clone());
        let mut worker = Worker::new(worker_rx, worker_tx, shared.clone(), stats.clone());
        worker.refresh_settings(settings);
        Self {
            engine,
            worker,
            shared,
            stats,
            sample: 0,
            heard: Vec::new(),
            sounding: [None; 128],
        }
    }

    /// Beat of the next block.
    pub fn beat(&self) -> f64 {
        self.sample as f64 / SAMPLES_PER_BEAT
    }

    /// Plays blocks with the transport running until `until` (beats), the player's `input`
    /// (beat, pitch, velocity; 0 = release) among them; the worker takes its turn after each
    /// block.
    pub fn play(&mut self, input: &[(f64, u8, u8)], until: f64) {
        let settings = Settings {
            channel: ANSWER_CHANNEL,
            ..Settings::default()
        };
        while self.beat() < until {
            let transport = Transport::running(self.beat(), TEMPO, SAMPLE_RATE);
            let at = self.sample;
            let mut out = Vec::new();
            let mut emit = |e: OutEvent| out.push(e);
            self.engine
                .begin_block(&transport, settings, BLOCK, &mut emit);
            for &(beat, pitch, velocity) in input {
                let s = (beat * SAMPLES_PER_BEAT).round() as u64;
                if (at..at + u64::from(BLOCK)).contains(&s) {
                    self.engine
                        .input_note((s - at) as u32, 0, pitch, velocity, &mut emit);
                }
            }
            self.engine.end_block(&mut emit);
            for e in out {
                self.hear(at, e);
            }
            self.sample += u64::from(BLOCK);
            self.worker.poll();
        }
    }

    fn hear(&mut self, at: u64, e: OutEvent) {
        let beat = |timing: u32| (at + u64::from(timing)) as f64 / SAMPLES_PER_BEAT;
        match e {
            OutEvent::On {
                timing,
                channel: ANSWER_CHANNEL,
                pitch,
                velocity,
            } => self.sounding[usize::from(pitch)] = Some((beat(timing), velocity)),
            OutEvent::Off {
                timing,
                channel: ANSWER_CHANNEL,
                pitch,
            } => {
                if let Some((start, velocity)) = self.sounding[usize::from(pitch)].take() {
                    self.heard.push(Note {
                        pitch,
                        velocity,
                        start,
                        end: beat(timing),
                    });
                }
            }
            _ => {}
        }
    }

    /// Generated notes heard that start in `from..to`, in canonical order.
    pub fn heard_in(&self, from: f64, to: f64) -> Vec<Note> {
        let mut notes: Vec<Note> = self
            .heard
            .iter()
            .filter(|n| (from..to).contains(&n.start))
            .copied()
            .collect();
        sort_notes(&mut notes);
        notes
    }
}
