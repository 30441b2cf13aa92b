//! A host on a virtual clock: the audio thread's [`Engine`] and the inference thread's
//! [`Worker`] driven in turn on one thread, block by block, with a running transport.
//! Nothing waits and nothing races, so a seed plays the same notes every run on any
//! machine; the demo, the clips tests and the window example play through it.

use std::sync::Arc;

use continuo_core::midi::{sort_notes, Note};

use crate::engine::{Engine, EngineStats, OutEvent, Settings, Transport};
use crate::timeline::TimeSig;
use crate::worker::{Shared, Worker, WorkerSettings};

pub const SAMPLE_RATE: f64 = 48_000.0;
/// The tempo a new [`Sim`] plays at.
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
    /// The host's tempo (BPM) and time signature (bars from beat 0); change them before
    /// playing.
    pub tempo: f64,
    pub time_sig: TimeSig,
    /// What the audio thread reads from the parameters each block.
    pub settings: Settings,
    sample: u64,
    /// Generated notes as heard, in the order they ended.
    heard: Vec<Note>,
    sounding: [Option<(f64, u8)>; 128],
    /// Generated note-ons struck again while sounding, and note-offs of silent pitches.
    unpaired: usize,
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
        let (engine_end, worker_end, _) = crate::protocol::connect();
        let engine = Engine::new(engine_end, stats.clone());
        let mut worker = Worker::new(worker_end, shared.clone(), stats.clone());
        worker.refresh_settings(settings);
        Self {
            engine,
            worker,
            shared,
            stats,
            tempo: TEMPO,
            time_sig: TimeSig::COMMON,
            settings: Settings {
                channel: ANSWER_CHANNEL,
                ..Settings::default()
            },
            sample: 0,
            heard: Vec::new(),
            sounding: [None; 128],
            unpaired: 0,
        }
    }

    fn samples_per_beat(&self) -> f64 {
        SAMPLE_RATE * 60.0 / self.tempo
    }

    /// Beat of the next block.
    pub fn beat(&self) -> f64 {
        self.sample as f64 / self.samples_per_beat()
    }

    /// Plays blocks with the transport running until `until` (beats), the player's `input`
    /// (beat, pitch, velocity; 0 = release) among them; the worker takes its turn after each
    /// block.
    pub fn play(&mut self, input: &[(f64, u8, u8)], until: f64) {
        let (settings, spb) = (self.settings, self.samples_per_beat());
        while self.beat() < until {
            let bar = self.time_sig.beats_per_bar();
            let transport = Transport {
                time_sig: self.time_sig,
                bar_start_beats: Some((self.beat() / bar).floor() * bar),
                ..Transport::running(self.beat(), self.tempo, SAMPLE_RATE)
            };
            let at = self.sample;
            let mut out = Vec::new();
            let mut emit = |e: OutEvent| out.push(e);
            self.engine
                .begin_block(&transport, settings, BLOCK, &mut emit);
            for &(beat, pitch, velocity) in input {
                let s = (beat * spb).round() as u64;
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
            // As the inference thread's loop does: waiting work when nothing else is due.
            if !self.worker.poll() && !self.worker.is_answering() {
                self.worker.idle();
            }
        }
    }

    /// Ends the answer as a transport stop would: every generated note still sounding ends.
    pub fn stop(&mut self) {
        let mut out = Vec::new();
        self.engine.stop_answer(0, &mut |e| out.push(e));
        for e in out {
            self.hear(self.sample, e);
        }
    }

    fn hear(&mut self, at: u64, e: OutEvent) {
        let spb = self.samples_per_beat();
        let beat = |timing: u32| (at + u64::from(timing)) as f64 / spb;
        match e {
            OutEvent::On {
                timing,
                channel: ANSWER_CHANNEL,
                pitch,
                velocity,
            } => {
                let was = self.sounding[usize::from(pitch)].replace((beat(timing), velocity));
                self.unpaired += usize::from(was.is_some());
            }
            OutEvent::Off {
                timing,
                channel: ANSWER_CHANNEL,
                pitch,
            } => match self.sounding[usize::from(pitch)].take() {
                Some((start, velocity)) => self.heard.push(Note {
                    pitch,
                    velocity,
                    start,
                    end: beat(timing),
                }),
                None => self.unpaired += 1,
            },
            _ => {}
        }
    }

    /// Generated note-ons and note-offs without their partner so far (a note-on still
    /// sounding counts): a well-formed answer has none once it is over.
    pub fn unpaired(&self) -> usize {
        self.unpaired + self.sounding.iter().filter(|s| s.is_some()).count()
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
