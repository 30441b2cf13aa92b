//! The inference thread: collects the player's phrase, loads and swaps models, and generates
//! answers a little ahead of playback. Everything slow or allocating lives here.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use continuo_core::contract::ModelMeta;
use continuo_core::midi::{Keyboard, Note};
use continuo_core::runtime::{init_runtime, Generator, Model, Provider, RuntimeOptions};
use continuo_core::sampling::{Constraints, Rng, Sampling};
use continuo_core::tokens::{encode, push_time_shift, NoteCollector, NoteEvent};
use continuo_core::vocab::Vocab;
use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};
use parking_lot::Mutex;

use crate::engine::EngineStats;
use crate::history::{save_clip, ClipContent, Exchange, History};
use crate::protocol::{FromWorker, Meter, Prompt, ToWorker, LOOKAHEAD_BEATS};

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
    pub sampling: Sampling,
    pub constraints: Constraints,
    /// 0 = a new seed for every answer.
    pub seed: u64,
    /// Save every exchange as a clip here, once it has been heard (*Save every answer*).
    pub keep: Option<(PathBuf, ClipContent)>,
}

impl Default for WorkerSettings {
    fn default() -> Self {
        Self {
            source: ModelSource::Embedded,
            provider: Provider::Cpu,
            sampling: Sampling::default(),
            constraints: Constraints::answer_default(),
            seed: 0,
            keep: None,
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
    /// Seed of the latest answer: typed into *Seed*, it plays that answer again for the same
    /// phrase.
    pub last_seed: Option<u64>,
    /// Where the last clip was saved, or why it could not be.
    pub clip: Option<Result<PathBuf, String>>,
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
    pub history: Mutex<History>,
    pub stop: AtomicBool,
}

pub type SettingsSource = Box<dyn Fn() -> WorkerSettings + Send>;

/// Tokens of context the model reads before answering: the phrase and, before it, as much of
/// the recent exchange (earlier phrases and answers) as fits. Bounded so that priming stays
/// well inside the time between a phrase's end and its answer.
pub const MAX_CONTEXT_TOKENS: usize = 512;
/// A pause this long between an answer and the next phrase starts a new conversation.
pub const CONVERSATION_GAP_BEATS: f64 = 8.0;
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

/// A seed that differs between instances and runs (time, address and std's per-process
/// hash keys), for answers that are meant to vary.
fn entropy() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    h.write_u128(now.as_nanos());
    h.write_usize(&h as *const _ as usize);
    h.finish()
}

/// The next answer's context: the conversation so far followed by `phrase` — or the phrase
/// alone after a long pause — without its oldest notes where it would not fit
/// [`MAX_CONTEXT_TOKENS`]. The conversation becomes that context; the answer joins it as it
/// is generated.
fn conversation_context<'a>(
    conversation: &'a mut Vec<Note>,
    phrase: Vec<Note>,
    vocab: &Vocab,
) -> &'a [Note] {
    let last_end = conversation.iter().map(|n| n.end).fold(f64::MIN, f64::max);
    let first_start = phrase.iter().map(|n| n.start).fold(f64::MAX, f64::min);
    if first_start - last_end > CONVERSATION_GAP_BEATS {
        conversation.clear();
    }
    conversation.extend(phrase);
    continuo_core::midi::sort_notes(conversation);
    // The fewest oldest notes to drop, found by bisection: the token count falls as notes go.
    let fits = |k: usize| encode(&conversation[k..], vocab).len() <= MAX_CONTEXT_TOKENS;
    let (mut lo, mut hi) = (0, conversation.len().saturating_sub(1));
    if !fits(lo) {
        while hi - lo > 1 {
            let mid = (lo + hi) / 2;
            if fits(mid) {
                hi = mid;
            } else {
                lo = mid;
            }
        }
        conversation.drain(..hi);
    }
    conversation
}

/// The exchange in the history whose answer is still heard, and the beat its answer ends on
/// unless cut (kept here so the inference thread's loop need not lock the history for it).
#[derive(Debug, Clone, Copy)]
struct Live {
    serial: u64,
    end: f64,
}

struct Answer {
    id: u32,
    start_beat: f64,
    length_steps: u64,
    step_beats: f64,
    /// Pairs the generated events into notes for the conversation.
    collector: NoteCollector,
}

pub struct Worker {
    rx: Receiver<ToWorker>,
    tx: Sender<FromWorker>,
    shared: Arc<Shared>,
    stats: Arc<EngineStats>,
    generator: Option<Generator>,
    loaded: Option<(ModelSource, Provider)>,
    settings: WorkerSettings,
    /// Where current settings come from, once the thread runs.
    settings_source: Option<SettingsSource>,
    keyboard: Keyboard,
    phrase: Vec<Note>,
    /// The exchange so far (phrases and answers, in beats), oldest first; the context of the
    /// next answer.
    conversation: Vec<Note>,
    answer: Option<Answer>,
    answers: u64,
    /// The exchange in the history whose answer is still heard (cut at an interruption,
    /// saved once over when *Save every answer* is on).
    live: Option<Live>,
    /// The last phrase the player ended and where its answer started: what *Again* answers.
    last_prompt: Option<(Vec<Note>, f64)>,
    /// The phrase grew since the model last read it ahead of time.
    prepare_due: bool,
    /// Draws the seeds of "Vary" from `1..=SEED_MAX`, so that a player can type any of them
    /// into *Seed* (0 there means "Vary" itself). Seeded from entropy: two fresh instances
    /// answer differently.
    vary: Rng,
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
            settings_source: None,
            keyboard: Keyboard::default(),
            phrase: Vec::new(),
            conversation: Vec::new(),
            answer: None,
            answers: 0,
            live: None,
            last_prompt: None,
            prepare_due: false,
            vary: Rng::new(entropy()),
        }
    }

    /// Runs until [`Shared::stop`] is set, reading settings from `settings` (off the audio
    /// thread) every few milliseconds.
    pub fn spawn(mut self, settings: SettingsSource) -> JoinHandle<()> {
        self.settings_source = Some(settings);
        let shared = self.shared.clone();
        std::thread::Builder::new()
            .name("continuo-inference".into())
            .spawn(move || {
                // A panic here must not take the host down, nor leave the player guessing:
                // the plugin passes notes through from then on, and says why.
                let run = std::panic::AssertUnwindSafe(move || self.run());
                if let Err(panic) = std::panic::catch_unwind(run) {
                    let what = panic
                        .downcast_ref::<&str>()
                        .map(|s| s.to_string())
                        .or_else(|| panic.downcast_ref::<String>().cloned())
                        .unwrap_or_else(|| "unknown panic".into());
                    let why =
                        format!("the inference thread stopped ({what}); passing notes through");
                    nice_plug::nice_error!("{why}");
                    let mut status = shared.status.lock();
                    status.model = None;
                    status.message = Some(why);
                }
            })
            .expect("spawning the inference thread")
    }

    /// The inference thread's loop, until [`Shared::stop`] is set or the plugin is gone.
    fn run(&mut self) {
        let mut last_poll = Instant::now() - SETTINGS_POLL;
        while !self.shared.stop.load(Ordering::Relaxed) {
            if last_poll.elapsed() >= SETTINGS_POLL {
                self.refresh();
                last_poll = Instant::now();
            }
            if self.poll() {
                continue;
            }
            if self.is_answering() {
                // Keep up with the playhead.
                std::thread::sleep(IDLE_SLEEP);
            } else {
                self.prepare_ahead();
                // Nothing to generate: sleep until the audio thread says something
                // (or settings are due), so an idle instance costs no CPU.
                match self.rx.recv_timeout(SETTINGS_POLL) {
                    Ok(msg) => self.handle(msg),
                    Err(RecvTimeoutError::Timeout) => {}
                    Err(RecvTimeoutError::Disconnected) => break,
                }
            }
        }
        // The plugin is going: what the audio thread last said (the deactivation's cancel and
        // reset) still counts, so the last exchange is complete before it is kept. No new
        // answer starts now.
        while let Ok(msg) = self.rx.try_recv() {
            if !matches!(msg, ToWorker::Answer { .. }) {
                self.handle(msg);
            }
        }
        self.finish_exchange();
    }

    /// Reads the current settings, if the thread has a source for them.
    fn refresh(&mut self) {
        if let Some(settings) = self.settings_source.as_ref().map(|source| source()) {
            self.refresh_settings(settings);
        }
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
        let block_end = self.stats.playhead.block_end();
        let heard = self
            .live
            .is_some_and(|live| block_end >= live.end && self.answer.is_none());
        if heard {
            self.finish_exchange();
        }
        worked | self.generate_ahead(block_end + LOOKAHEAD_BEATS)
    }

    fn handle(&mut self, msg: ToWorker) {
        match msg {
            ToWorker::Played {
                pitch,
                velocity,
                beat,
            } => {
                let phrase = &mut self.phrase;
                let mut out = |n: Note| phrase.push(n);
                self.prepare_due = true;
                if velocity > 0 {
                    self.keyboard.key_down(pitch, velocity, beat, &mut out);
                } else {
                    self.keyboard.key_up(pitch, beat, &mut out);
                }
            }
            ToWorker::Pedal { down, beat } => {
                self.prepare_due = true;
                let phrase = &mut self.phrase;
                self.keyboard.pedal(down, beat, &mut |n| phrase.push(n));
            }
            ToWorker::Answer {
                id,
                start_beat,
                length_beats,
                prompt,
                meter,
            } => {
                // The answer follows the parameters as they are now, not as of the last poll:
                // an offline render may play many beats within one poll interval.
                self.refresh();
                self.finish_exchange();
                self.start_answer(id, start_beat, length_beats, prompt, meter)
            }
            ToWorker::Cancel { beat } => self.cancel_answer(beat),
            ToWorker::Reset => {
                self.finish_exchange();
                self.answer = None;
                self.phrase.clear();
                self.conversation.clear();
                self.keyboard = Keyboard::default();
            }
        }
    }

    /// The answer stops at `beat` (the player took over, or the transport moved): what it
    /// would have played after that was never heard, so it leaves the conversation.
    fn cancel_answer(&mut self, beat: f64) {
        let answer = self.answer.take();
        // Generation runs ahead of playback: an answer may be complete and still not heard.
        if answer.is_some() || self.live.is_some() {
            if let Some(mut answer) = answer {
                // Notes sounding at the interruption were heard until it.
                let (start, step) = (answer.start_beat, answer.step_beats);
                let open = answer
                    .collector
                    .close_all(beat, |s| start + s as f64 * step);
                self.record(&open);
                self.conversation.extend(open);
            }
            self.conversation.retain(|n| n.start < beat);
            for n in &mut self.conversation {
                n.end = n.end.min(beat);
            }
        }
        if let Some(Live { serial, .. }) = self.live {
            if let Some(e) = self.shared.history.lock().get_mut(serial) {
                e.cut(beat);
            }
        }
        self.finish_exchange();
    }

    /// While the phrase falls silent, has the model read the context its answer would get
    /// now, so that the answer reads only the rest before its start
    /// ([`Generator::prepare`]). Skipped while keys or the pedal still hold notes: their ends
    /// are not known yet.
    fn prepare_ahead(&mut self) {
        if !std::mem::take(&mut self.prepare_due) || self.answer.is_some() {
            return;
        }
        let Some(generator) = self.generator.as_mut() else {
            return;
        };
        if self.keyboard.sounding() || self.phrase.is_empty() {
            return;
        }
        let vocab = generator.model().meta().vocab;
        let mut conversation = self.conversation.clone();
        let recent = conversation_context(&mut conversation, self.phrase.clone(), &vocab);
        // A failure shows when the answer primes for real.
        let _ = generator.prepare(&encode(recent, &vocab));
    }

    /// Adds generated notes to the live exchange's answer.
    fn record(&self, notes: &[Note]) {
        if let (Some(Live { serial, .. }), false) = (self.live, notes.is_empty()) {
            if let Some(e) = self.shared.history.lock().get_mut(serial) {
                e.answer.extend_from_slice(notes);
            }
        }
    }

    /// The live exchange has been heard (or cut): it stays in the history as it is, and is
    /// saved when *Save every answer* is on.
    fn finish_exchange(&mut self) {
        let Some(Live { serial, .. }) = self.live.take() else {
            return;
        };
        let Some((dir, content)) = self.settings.keep.clone() else {
            return;
        };
        let Some(exchange) = self.shared.history.lock().get(serial).cloned() else {
            return;
        };
        if exchange.answer.is_empty() {
            return;
        }
        let saved = save_clip(&exchange, content, &dir).map_err(|e| e.to_string());
        if let Err(why) = &saved {
            nice_plug::nice_warn!("could not save the clip: {why}");
        }
        self.shared.status.lock().clip = Some(saved);
    }

    fn start_answer(
        &mut self,
        id: u32,
        start_beat: f64,
        length_beats: f64,
        prompt: Prompt,
        meter: Meter,
    ) {
        let phrase = match prompt {
            Prompt::Phrase => {
                let mut phrase = std::mem::take(&mut self.phrase);
                // Keys still down (or held by the pedal) when the answer is due sound on to
                // its start.
                let mut keyboard = self.keyboard.clone();
                keyboard.release_all(start_beat, &mut |n| phrase.push(n));
                self.last_prompt = Some((phrase.clone(), start_beat));
                Some(phrase)
            }
            Prompt::Again => self.last_prompt.as_ref().map(|(phrase, answered_at)| {
                // A variation answers the phrase alone, moved so it ends as far before the
                // new start as it did before the first.
                self.conversation.clear();
                let by = start_beat - answered_at;
                phrase.iter().map(|n| n.moved(by)).collect()
            }),
        };
        let (Some(phrase), Some(generator)) = (phrase, self.generator.as_mut()) else {
            // No answer will come: an offline render must not wait for one.
            self.stats.progress.publish(id, f64::INFINITY);
            return;
        };
        let vocab = generator.model().meta().vocab;
        let played = phrase.clone();
        let recent = conversation_context(&mut self.conversation, phrase, &vocab);
        let context = encode(recent, &vocab);
        // Tell the model about the rest between the phrase and the answer, so the answer's
        // first step lands on `start_beat` and keeps the phrase's grid phase.
        let spb = f64::from(vocab.steps_per_beat);
        let last_event = recent
            .iter()
            .map(|n| (n.end * spb).round().max((n.start * spb).round() + 1.0))
            .fold(0.0, f64::max);
        let gap = ((start_beat * spb).round() - last_event).max(0.0) as u64;
        let mut rest = Vec::new();
        push_time_shift(&mut rest, gap, &vocab);
        // *Again* always varies: the fixed seed's answer is the one already heard.
        let seed = if self.settings.seed == 0 || prompt == Prompt::Again {
            1 + self.vary.below(crate::params::SEED_MAX)
        } else {
            self.settings.seed
        };
        generator.reseed(seed);
        if let Err(e) = generator.prime_after(&context, &rest) {
            self.shared.status.lock().message = Some(format!("inference failed: {e}"));
            self.stats.progress.publish(id, f64::INFINITY);
            return;
        }
        self.answers += 1;
        let model = generator.model().meta().name.clone();
        {
            let mut status = self.shared.status.lock();
            status.answers = self.answers;
            status.last_seed = Some(seed);
        }
        let serial = self.shared.history.lock().push(Exchange {
            serial: 0,
            made: std::time::SystemTime::now(),
            model,
            seed,
            meter,
            prompt,
            phrase: played,
            answer: Vec::new(),
            answer_start: start_beat,
            answer_end: start_beat + length_beats,
        });
        self.live = Some(Live {
            serial,
            end: start_beat + length_beats,
        });
        self.answer = Some(Answer {
            id,
            start_beat,
            length_steps: (length_beats * spb).round() as u64,
            step_beats: vocab.step_beats(),
            collector: NoteCollector::default(),
        });
    }

    /// Generates the current answer up to `horizon` (beats). Returns whether it generated.
    pub fn generate_ahead(&mut self, horizon: f64) -> bool {
        let (Some(answer), Some(generator)) = (self.answer.as_mut(), self.generator.as_mut())
        else {
            return false;
        };
        let tx = &self.tx;
        let stats = &self.stats;
        let conversation = &mut self.conversation;
        let mut heard = Vec::new();
        let (id, start, step_beats) = (answer.id, answer.start_beat, answer.step_beats);
        let collector = &mut answer.collector;
        let mut send = |ev: NoteEvent| {
            let to_beat = |step: u64| start + step as f64 * step_beats;
            let msg = match ev {
                NoteEvent::On {
                    pitch,
                    velocity,
                    step,
                } => FromWorker::Note {
                    id,
                    beat: to_beat(step),
                    pitch,
                    velocity,
                },
                NoteEvent::Off { pitch, step } => FromWorker::Note {
                    id,
                    beat: to_beat(step),
                    pitch,
                    velocity: 0,
                },
            };
            if tx.try_send(msg).is_err() {
                stats.dropped.fetch_add(1, Ordering::Relaxed);
            }
            if let Some(note) = collector.push(ev, to_beat) {
                conversation.push(note);
                heard.push(note);
            }
        };
        let length_steps = answer.length_steps;
        let constraints = Constraints {
            end_step: Some(length_steps),
            ..self.settings.constraints
        };
        let mut worked = false;
        let mut tokens = 0;
        let mut finished = false;
        while start + generator.step_count() as f64 * step_beats < horizon && tokens < 64 {
            worked = true;
            tokens += 1;
            if generator.step_count() >= length_steps {
                // The answer is complete: end what still sounds at its last step.
                finished = true;
                break;
            }
            match generator.step(&constraints, &self.settings.sampling, &mut send) {
                Ok(Some(_)) => {}
                Ok(None) | Err(_) => {
                    finished = true;
                    break;
                }
            }
        }
        if finished {
            generator.release_all(&mut send);
        }
        if finished {
            self.answer = None;
            self.stats.progress.publish(id, f64::INFINITY);
        } else {
            let through = start + generator.step_count() as f64 * step_beats;
            self.stats.progress.publish(id, through);
        }
        self.record(&heard);
        worked
    }

    pub fn is_answering(&self) -> bool {
        self.answer.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fresh_worker() -> Worker {
        let (_, rx) = crossbeam_channel::bounded(1);
        let (tx, _) = crossbeam_channel::bounded(1);
        Worker::new(rx, tx, Arc::default(), Arc::default())
    }

    #[test]
    fn a_panic_on_the_inference_thread_is_reported_not_hidden() {
        let worker = fresh_worker();
        let shared = worker.shared.clone();
        let handle = worker.spawn(Box::new(|| panic!("settings exploded")));
        handle.join().expect("the panic stays inside the thread");
        let status = shared.status.lock().clone();
        assert_eq!(status.model, None);
        let why = status.problem().unwrap();
        assert!(
            why.contains("inference thread stopped (settings exploded)")
                && why.contains("passing notes through"),
            "{why}"
        );
    }

    #[test]
    fn fresh_instances_vary_differently() {
        let firsts: Vec<u64> = (0..4)
            .map(|_| fresh_worker().vary.below(crate::params::SEED_MAX))
            .collect();
        assert!(
            firsts.windows(2).any(|w| w[0] != w[1]),
            "every fresh instance drew {firsts:?}"
        );
    }

    fn note(pitch: u8, start: f64, end: f64) -> Note {
        Note {
            pitch,
            velocity: 80,
            start,
            end,
        }
    }

    #[test]
    fn the_context_is_the_recent_exchange_within_its_bound() {
        let vocab = Vocab::default();
        let mut conversation = Vec::new();
        let phrase1: Vec<Note> = (0..4)
            .map(|i| note(60 + i, i as f64, i as f64 + 0.5))
            .collect();
        let c = conversation_context(&mut conversation, phrase1.clone(), &vocab).to_vec();
        assert_eq!(c, phrase1);
        // The answer joins, then the next phrase: all three are the context, in time order.
        conversation.push(note(72, 5.0, 6.0));
        let phrase2 = vec![note(65, 8.0, 9.0)];
        let c = conversation_context(&mut conversation, phrase2, &vocab).to_vec();
        assert_eq!(c.len(), 6);
        assert_eq!((c[4].pitch, c[5].pitch), (72, 65));

        // A long pause starts a new conversation.
        let phrase3 = vec![note(50, 30.0, 31.0)];
        let c = conversation_context(&mut conversation, phrase3.clone(), &vocab).to_vec();
        assert_eq!(c, phrase3);

        // However long the exchange, the context keeps its most recent part within the bound.
        let long: Vec<Note> = (0..2000)
            .map(|i| note(40 + (i % 40) as u8, i as f64 * 0.25, i as f64 * 0.25 + 0.2))
            .collect();
        let c = conversation_context(&mut conversation, long.clone(), &vocab).to_vec();
        let tokens = encode(&c, &vocab).len();
        assert!(tokens <= MAX_CONTEXT_TOKENS, "{tokens}");
        assert!(
            tokens > MAX_CONTEXT_TOKENS / 2,
            "{tokens}: dropped too much"
        );
        assert_eq!(c.last(), long.last(), "the newest note stays");
    }
}
