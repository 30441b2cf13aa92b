//! The inference thread: collects the player's phrase, loads and swaps models, and generates
//! answers a little ahead of playback. Everything slow or allocating lives here.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use continuo_core::contract::ModelMeta;
use continuo_core::midi::Note;
use continuo_core::runtime::{init_runtime, Generator, Model, Provider, RuntimeOptions};
use continuo_core::sampling::{Constraints, DEFAULT_LONGEST_NOTE_BEATS};
use continuo_core::tokens::{encode, push_time_shift, NoteEvent};
use crossbeam_channel::{Receiver, Sender};
use parking_lot::Mutex;

use crate::engine::EngineStats;
use crate::protocol::{FromWorker, ToWorker};

/// Which model to run.
#[derive(Debug, Clone, PartialEq)]
pub enum ModelSource {
    /// The default model compiled into the plugin.
    Embedded,
    Path(PathBuf),
}

/// What the inference thread needs to know about parameters, refreshed by the plugin.
#[derive(Debug, Clone, PartialEq)]
pub struct WorkerSettings {
    pub source: ModelSource,
    pub provider: Provider,
    pub temperature: f32,
    pub constraints: Constraints,
    /// 0 = a new seed for every answer.
    pub seed: u64,
}

impl Default for WorkerSettings {
    fn default() -> Self {
        Self {
            source: ModelSource::Embedded,
            provider: Provider::Cpu,
            temperature: 0.9,
            constraints: Constraints {
                max_note_beats: Some(DEFAULT_LONGEST_NOTE_BEATS),
                ..Constraints::default()
            },
            seed: 0,
        }
    }
}

/// What the plugin reports about its model, for people (log, tests, demo).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Status {
    pub model: Option<String>,
    /// Why no model runs (the plugin then passes notes through), or a provider fallback note.
    pub message: Option<String>,
    pub answers: u64,
}

impl Status {
    /// Why the plugin cannot answer right now, for the host's parameter display.
    pub fn problem(&self) -> Option<String> {
        match (&self.model, &self.message) {
            (Some(_), _) => None,
            (None, Some(why)) => Some(why.clone()),
            (None, None) => Some("loading model".into()),
        }
    }
}

/// State shared between the plugin (non-audio threads) and the inference thread.
#[derive(Default)]
pub struct Shared {
    pub status: Mutex<Status>,
    pub stop: AtomicBool,
}

pub type SettingsSource = Box<dyn Fn() -> WorkerSettings + Send>;

/// Generation stays this many beats ahead of the playhead.
pub const LOOKAHEAD_BEATS: f64 = 2.0;
/// Notes of context the model reads from a phrase (the most recent ones).
const MAX_CONTEXT_NOTES: usize = 512;
const IDLE_SLEEP: Duration = Duration::from_millis(1);
const SETTINGS_POLL: Duration = Duration::from_millis(50);

pub const DEFAULT_ONNX: &[u8] = include_bytes!("../../models/chopin/model.onnx");
pub const DEFAULT_META: &str = include_str!("../../models/chopin/model.json");

/// Where ONNX Runtime may be found besides `$ORT_DYLIB_PATH`: beside this plugin's binary,
/// in its bundle's resources, and in the user's Continuo data folder.
pub fn library_locations() -> Vec<PathBuf> {
    let lib = continuo_core::runtime::ORT_LIBRARY;
    let mut v = Vec::new();
    if let Some(dir) = crate::location::plugin_binary_dir() {
        v.push(dir.join(lib));
        v.push(dir.join("../Resources").join(lib));
        v.push(dir.join("continuo").join(lib));
    }
    if let Some(data) = crate::location::user_data_dir() {
        v.push(data.join(lib));
    }
    v
}

fn load(source: &ModelSource, provider: Provider) -> Result<Model, String> {
    init_runtime(&library_locations()).map_err(|e| e.to_string())?;
    let options = RuntimeOptions {
        provider,
        intra_threads: 1,
    };
    match source {
        ModelSource::Embedded => {
            let meta: ModelMeta = serde_json::from_str(DEFAULT_META)
                .map_err(|e| format!("embedded model metadata: {e}"))?;
            Model::from_memory(
                DEFAULT_ONNX,
                meta,
                PathBuf::from("<embedded default model>"),
                &options,
            )
            .map_err(|e| e.to_string())
        }
        ModelSource::Path(p) => Model::load(p, &options).map_err(|e| e.to_string()),
    }
}

struct Answer {
    id: u32,
    start_beat: f64,
    length_steps: u64,
    step_beats: f64,
}

pub struct Worker {
    rx: Receiver<ToWorker>,
    tx: Sender<FromWorker>,
    shared: Arc<Shared>,
    stats: Arc<EngineStats>,
    generator: Option<Generator>,
    loaded: Option<(ModelSource, Provider)>,
    settings: WorkerSettings,
    open: [Option<(f64, u8)>; 128],
    phrase: Vec<Note>,
    answer: Option<Answer>,
    answers: u64,
}

impl Worker {
    pub fn new(
        rx: Receiver<ToWorker>,
        tx: Sender<FromWorker>,
        shared: Arc<Shared>,
        stats: Arc<EngineStats>,
    ) -> Self {
        Self {
            rx,
            tx,
            shared,
            stats,
            generator: None,
            loaded: None,
            settings: WorkerSettings::default(),
            open: [None; 128],
            phrase: Vec::new(),
            answer: None,
            answers: 0,
        }
    }

    /// Runs until [`Shared::stop`] is set, reading settings from `settings` (off the audio
    /// thread) every few milliseconds.
    pub fn spawn(mut self, settings: SettingsSource) -> JoinHandle<()> {
        std::thread::Builder::new()
            .name("continuo-inference".into())
            .spawn(move || {
                let mut last_poll = Instant::now() - SETTINGS_POLL;
                while !self.shared.stop.load(Ordering::Relaxed) {
                    if last_poll.elapsed() >= SETTINGS_POLL {
                        self.refresh_settings(settings());
                        last_poll = Instant::now();
                    }
                    if !self.poll() {
                        std::thread::sleep(IDLE_SLEEP);
                    }
                }
            })
            .expect("spawning the inference thread")
    }

    /// Picks up parameter changes and (re)loads the model when its source changed.
    pub fn refresh_settings(&mut self, settings: WorkerSettings) {
        self.settings = settings;
        let wanted = (self.settings.source.clone(), self.settings.provider);
        if self.loaded.as_ref() == Some(&wanted) {
            return;
        }
        if self.loaded.is_some() {
            self.answer = None;
            let _ = self.tx.try_send(FromWorker::ModelChanged);
        }
        let result = load(&wanted.0, wanted.1);
        let mut status = self.shared.status.lock();
        match result {
            Ok(model) => {
                status.model = Some(model.meta().name.clone());
                status.message = model.provider_note().map(str::to_string);
                self.generator = Some(Generator::new(model, self.settings.seed));
            }
            Err(e) => {
                let why = format!("no model, passing notes through: {e}");
                nice_plug::nice_warn!("{why}");
                status.model = None;
                status.message = Some(why);
                self.generator = None;
            }
        }
        self.loaded = Some(wanted);
    }

    /// Handles queued messages and generates what is due. Returns whether it did any work.
    pub fn poll(&mut self) -> bool {
        let mut worked = false;
        while let Ok(msg) = self.rx.try_recv() {
            worked = true;
            self.handle(msg);
        }
        worked | self.generate_ahead(self.stats.now_beat() + LOOKAHEAD_BEATS)
    }

    fn handle(&mut self, msg: ToWorker) {
        match msg {
            ToWorker::Played {
                pitch,
                velocity,
                beat,
            } => {
                let p = pitch as usize & 127;
                if velocity > 0 {
                    self.open[p] = Some((beat, velocity));
                } else if let Some((start, velocity)) = self.open[p].take() {
                    self.phrase.push(Note {
                        pitch,
                        velocity,
                        start,
                        end: beat,
                    });
                }
            }
            ToWorker::Answer {
                id,
                start_beat,
                length_beats,
            } => self.start_answer(id, start_beat, length_beats),
            ToWorker::Cancel => self.answer = None,
            ToWorker::Reset => {
                self.answer = None;
                self.phrase.clear();
                self.open = [None; 128];
            }
        }
    }

    fn start_answer(&mut self, id: u32, start_beat: f64, length_beats: f64) {
        let notes = std::mem::take(&mut self.phrase);
        let Some(generator) = self.generator.as_mut() else {
            return;
        };
        let vocab = generator.model().meta().vocab;
        let recent = &notes[notes.len().saturating_sub(MAX_CONTEXT_NOTES)..];
        let mut context = encode(recent, &vocab);
        // Tell the model about the rest between the phrase and the answer, so the answer's
        // first step lands on `start_beat` and keeps the phrase's grid phase.
        let spb = f64::from(vocab.steps_per_beat);
        let last_event = recent
            .iter()
            .map(|n| (n.end * spb).round().max((n.start * spb).round() + 1.0))
            .fold(0.0, f64::max);
        let gap = ((start_beat * spb).round() - last_event).max(0.0) as u64;
        push_time_shift(&mut context, gap, &vocab);
        let seed = if self.settings.seed == 0 {
            self.answers
                .wrapping_mul(0x9E37_79B9)
                .wrapping_add(id as u64)
        } else {
            self.settings.seed
        };
        generator.reseed(seed);
        if let Err(e) = generator.prime(&context) {
            self.shared.status.lock().message = Some(format!("inference failed: {e}"));
            return;
        }
        self.answers += 1;
        self.shared.status.lock().answers = self.answers;
        self.answer = Some(Answer {
            id,
            start_beat,
            length_steps: (length_beats * spb).round() as u64,
            step_beats: vocab.step_beats(),
        });
    }

    /// Generates the current answer up to `horizon` (beats). Returns whether it generated.
    pub fn generate_ahead(&mut self, horizon: f64) -> bool {
        let (Some(answer), Some(generator)) = (self.answer.as_ref(), self.generator.as_mut())
        else {
            return false;
        };
        let tx = &self.tx;
        let stats = &self.stats;
        let (id, start, step_beats) = (answer.id, answer.start_beat, answer.step_beats);
        let mut send = |ev: NoteEvent| {
            let msg = match ev {
                NoteEvent::On {
                    pitch,
                    velocity,
                    step,
                } => FromWorker::Note {
                    id,
                    beat: start + step as f64 * step_beats,
                    pitch,
                    velocity,
                },
                NoteEvent::Off { pitch, step } => FromWorker::Note {
                    id,
                    beat: start + step as f64 * step_beats,
                    pitch,
                    velocity: 0,
                },
            };
            if tx.try_send(msg).is_err() {
                stats.dropped.fetch_add(1, Ordering::Relaxed);
            }
        };
        let mut worked = false;
        let mut tokens = 0;
        while start + generator.step_count() as f64 * step_beats < horizon && tokens < 64 {
            worked = true;
            tokens += 1;
            if generator.step_count() >= answer.length_steps {
                // The answer is complete: end what still sounds at its last step.
                generator.release_all(&mut send);
                self.answer = None;
                return true;
            }
            match generator.step(
                &self.settings.constraints,
                self.settings.temperature,
                &mut send,
            ) {
                Ok(Some(_)) => {}
                Ok(None) | Err(_) => {
                    generator.release_all(&mut send);
                    self.answer = None;
                    return true;
                }
            }
        }
        worked
    }

    pub fn is_answering(&self) -> bool {
        self.answer.is_some()
    }
}
