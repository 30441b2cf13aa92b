//! The inference thread: collects the player's phrase, loads and swaps models, and generates
//! answers a little ahead of playback. Everything slow or allocating lives here.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use continuo_core::answer::{
    AnswerEvent, Continuation, Conversation, CONVERSATION_GAP_BEATS, LEAD_IN_MAX_BEATS,
    LEAD_IN_TOKENS,
};
use continuo_core::constraints::Constraints;
use continuo_core::generator::Generator;
use continuo_core::grid::{read_on_grid, Meter as Bars};
use continuo_core::memory::{self, MemoryStats};
use continuo_core::midi::{Keyboard, Note};
use continuo_core::runtime::{Provider, RuntimeError};
use continuo_core::sampling::{Rng, Sampling};
use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};
use parking_lot::Mutex;

use crate::history::{save_clip, ClipContent, Exchange, History};
use crate::learning::{LearnedField, Learning};
use crate::library::{load, ModelSource};
use crate::protocol::{
    EngineStats, FromWorker, Meter, Prompt, ToWorker, WorkerEnd, LOOKAHEAD_BEATS, SEED_MAX,
};

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
    /// A project keeps what was learned (*Keep what it learned*).
    pub keep_learned: bool,
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
            keep_learned: true,
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
    /// What *Learn from me* has learned and still recalls.
    pub learned: MemoryStats,
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
    /// What a project saves of the learning; the parameters hold the same field.
    pub learned: Arc<LearnedField>,
    /// The window's *Forget*: the inference thread forgets what it learned.
    pub forget: AtomicBool,
}

pub type SettingsSource = Box<dyn Fn() -> WorkerSettings + Send>;

/// Tokens generated between two looks at the queue, so a cancel is never long unheard.
const MAX_TOKENS_PER_POLL: usize = 64;
const IDLE_SLEEP: Duration = Duration::from_millis(1);
const SETTINGS_POLL: Duration = Duration::from_millis(50);

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

/// Shows what `learning` holds in the window, and hands it to the project when it `keep`s it.
fn publish(shared: &Shared, learning: &Learning, keep: bool) {
    shared.learned.publish(keep.then(|| learning.learned()));
    shared.status.lock().learned = learning.stats();
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
    continuation: Continuation,
}

/// Where an answer starts, how long it is, and the bars it is played in.
#[derive(Debug, Clone, PartialEq)]
struct Ask {
    start_beat: f64,
    length_beats: f64,
    bars: Bars,
}

/// An answer made ready on copies of what answering changes, adopted when it is asked for.
struct Draft {
    ask: Ask,
    /// The settings it was drawn with: drawn ahead, it is drawn again if they changed.
    settings: WorkerSettings,
    seed: u64,
    /// "Vary"'s draws after this answer's seed.
    vary: Rng,
    /// The phrase it answers, as played.
    played: Vec<Note>,
    /// The conversation and the learning once the phrase joined them.
    conversation: Conversation,
    learning: Learning,
    continuation: Continuation,
    /// Events drawn ahead of the request, sent when it comes.
    drawn: Vec<AnswerEvent>,
}

/// How far past an answer's start [`Worker::foresee`] draws it: its first notes, where it
/// does not open on a rest.
const FORESEE_BEATS: f64 = 0.5;
/// The most tokens drawn ahead: the longest lead-in ([`LEAD_IN_TOKENS`] for each of up to
/// [`LEAD_IN_MAX_BEATS`]) and the answer's opening.
const FORESEE_TOKENS: usize = (LEAD_IN_TOKENS as usize) * (LEAD_IN_MAX_BEATS as usize + 1);

/// Draws `continuation` on as `settings` ask, with what `learning` learned mixed in, until
/// `limits`: (horizon in beats, most tokens).
fn draw(
    continuation: &mut Continuation,
    generator: &mut Generator,
    settings: &WorkerSettings,
    learning: &mut Learning,
    (horizon, max_tokens): (f64, usize),
    emit: impl FnMut(AnswerEvent),
) -> Result<bool, RuntimeError> {
    let vocab = generator.model().meta().vocab;
    continuation.generate_with_memory(
        generator,
        horizon,
        max_tokens,
        &settings.constraints,
        &settings.sampling,
        learning.memory_for(&vocab),
        memory::weight(settings.sampling.learn),
        emit,
    )
}

/// Sends an event of answer `id` to the audio thread; a note it ends was heard, by the
/// conversation and in `heard`.
fn deliver(
    tx: &Sender<FromWorker>,
    stats: &EngineStats,
    conversation: &mut Conversation,
    heard: &mut Vec<Note>,
    id: u32,
    ev: AnswerEvent,
) {
    let msg = FromWorker::Note {
        id,
        beat: ev.beat,
        pitch: ev.pitch,
        velocity: ev.velocity,
    };
    if tx.try_send(msg).is_err() {
        stats.dropped.fetch_add(1, Ordering::Relaxed);
    }
    if let Some(note) = ev.ended {
        conversation.heard(note);
        heard.push(note);
    }
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
    conversation: Conversation,
    answer: Option<Answer>,
    answers: u64,
    /// The exchange in the history whose answer is still heard (cut at an interruption,
    /// saved once over when *Save every answer* is on).
    live: Option<Live>,
    /// The last phrase the player ended and where its answer started: what *Again* answers.
    last_prompt: Option<(Vec<Note>, f64)>,
    /// The phrase grew since the model last read it ahead of time.
    prepare_due: bool,
    /// The answer the audio thread foretold for the silent phrase, not drawn yet.
    expected: Option<Ask>,
    /// The answer drawn ahead for the silent phrase.
    foreseen: Option<Draft>,
    /// The bars of the latest answer: the host's time signature, through its latest bar line.
    bars: Bars,
    /// What the player's phrases taught (*Learn from me*).
    learning: Learning,
    /// The last answer heard to its end, and the beat it ended on: learned too if the
    /// player takes the conversation up again after it (*Learn from me* learns the answers
    /// a player plays on from, not only the player's phrases).
    kept: Option<(Vec<Note>, f64)>,
    /// Draws the seeds of "Vary" from `1..=SEED_MAX`, so that a player can type any of them
    /// into *Seed* (0 there means "Vary" itself). Seeded from entropy: two fresh instances
    /// answer differently.
    vary: Rng,
}

impl Worker {
    pub fn new(end: WorkerEnd, shared: Arc<Shared>, stats: Arc<EngineStats>) -> Self {
        Self {
            rx: end.from_engine,
            tx: end.to_engine,
            shared,
            stats,
            generator: None,
            loaded: None,
            settings: WorkerSettings::default(),
            settings_source: None,
            keyboard: Keyboard::default(),
            phrase: Vec::new(),
            conversation: Conversation::default(),
            answer: None,
            answers: 0,
            live: None,
            last_prompt: None,
            prepare_due: false,
            expected: None,
            foreseen: None,
            bars: Bars::default(),
            learning: Learning::default(),
            kept: None,
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
                self.idle();
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
        let keep_changed = settings.keep_learned != self.settings.keep_learned;
        self.settings = settings;
        self.refresh_learning(keep_changed);
        let wanted = (self.settings.source.clone(), self.settings.provider);
        if self.loaded.as_ref() == Some(&wanted) {
            return;
        }
        if self.loaded.is_some() {
            self.answer = None;
            self.foreseen = None;
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

    /// Takes back what a project restored, forgets when the window asks, and publishes what
    /// is learned when it changed (or `force`).
    fn refresh_learning(&mut self, force: bool) {
        let mut changed = force;
        if let Some(restored) = self.shared.learned.take_restored() {
            self.learning.restore(restored);
            changed = true;
        }
        if self.shared.forget.swap(false, Ordering::AcqRel) {
            self.learning.forget();
            changed = true;
        }
        if changed {
            publish(&self.shared, &self.learning, self.settings.keep_learned);
        }
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
            self.keep_heard_answer();
            self.finish_exchange();
        }
        worked | self.generate_ahead(block_end + LOOKAHEAD_BEATS)
    }

    fn handle(&mut self, msg: ToWorker) {
        if !matches!(msg, ToWorker::Answer { .. }) {
            // The phrase, the conversation or the answer foretold changed.
            self.foreseen = None;
        }
        match msg {
            ToWorker::Played {
                pitch,
                velocity,
                beat,
            } => {
                let phrase = &mut self.phrase;
                let mut out = |n: Note| phrase.push(n);
                self.prepare_due = true;
                self.expected = None;
                if velocity > 0 {
                    self.keyboard.key_down(pitch, velocity, beat, &mut out);
                } else {
                    self.keyboard.key_up(pitch, beat, &mut out);
                }
            }
            ToWorker::Pedal { down, beat } => {
                self.prepare_due = true;
                self.expected = None;
                let phrase = &mut self.phrase;
                self.keyboard.pedal(down, beat, &mut |n| phrase.push(n));
            }
            ToWorker::Expect {
                start_beat,
                length_beats,
                meter,
            } => {
                self.expected = Some(Ask {
                    start_beat,
                    length_beats,
                    bars: Bars::through(meter.time_sig, meter.bar_origin),
                })
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
                self.expected = None;
                self.kept = None;
                self.finish_exchange();
                self.answer = None;
                self.phrase.clear();
                self.conversation.clear();
                self.keyboard = Keyboard::default();
            }
        }
    }

    /// The live exchange's answer was heard to its end: kept, until the player's next phrase
    /// says whether the conversation goes on from it.
    fn keep_heard_answer(&mut self) {
        let Some(Live { serial, end }) = self.live else {
            return;
        };
        let answer = self
            .shared
            .history
            .lock()
            .get(serial)
            .map(|e| e.answer.clone());
        self.kept = answer.filter(|a| !a.is_empty()).map(|a| (a, end));
        // A phrase answered from here learns the answer too.
        self.foreseen = None;
    }

    /// The answer stops at `beat` (the player took over, or the transport moved): what it
    /// would have played after that was never heard, so it leaves the conversation.
    fn cancel_answer(&mut self, beat: f64) {
        self.kept = None;
        let answer = self.answer.take();
        // Generation runs ahead of playback: an answer may be complete and still not heard.
        if answer.is_some() || self.live.is_some() {
            if let Some(mut answer) = answer {
                // Notes sounding at the interruption were heard until it.
                let open = answer.continuation.cancel(beat);
                self.record(&open);
                open.into_iter().for_each(|n| self.conversation.heard(n));
            }
            self.conversation.cut(beat);
        }
        if let Some(Live { serial, .. }) = self.live {
            if let Some(e) = self.shared.history.lock().get_mut(serial) {
                e.cut(beat);
            }
        }
        self.finish_exchange();
    }

    /// What the inference thread does while it waits for the audio thread: reads the silent
    /// phrase ahead of its answer, and draws the answer foretold.
    pub fn idle(&mut self) {
        self.prepare_ahead();
        self.foresee();
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
        let recent = conversation.add_phrase(self.phrase.iter().copied(), &vocab);
        // A failure shows when the answer primes for real.
        let _ = Continuation::prepare(generator, recent, &self.bars);
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
        let ask = Ask {
            start_beat,
            length_beats,
            bars: Bars::through(meter.time_sig, meter.bar_origin),
        };
        let foreseen = self
            .foreseen
            .take()
            .filter(|d| prompt == Prompt::Phrase && d.ask == ask && d.settings == self.settings);
        let drafted = match foreseen {
            Some(draft) => Some(Ok(draft)),
            None => self.draft(prompt, ask),
        };
        if prompt == Prompt::Phrase {
            self.last_prompt = Some((self.phrase_until(start_beat), start_beat));
            self.phrase.clear();
        }
        match drafted {
            Some(Ok(draft)) => self.adopt(id, prompt, meter, draft),
            Some(Err(e)) => {
                self.shared.status.lock().message = Some(format!("inference failed: {e}"));
                // No answer will come: an offline render must not wait for one.
                self.stats.progress.publish(id, f64::INFINITY);
            }
            None => self.stats.progress.publish(id, f64::INFINITY),
        }
    }

    /// While the phrase falls silent, draws the answer the audio thread foretold
    /// ([`ToWorker::Expect`]) up to a little past its start: a longer pause has a longer
    /// lead-in, and drawn now it no longer delays the first note. Kept until the answer is
    /// asked for as foretold, dropped when the phrase or the settings change.
    fn foresee(&mut self) {
        let Some(ask) = self.expected.take() else {
            return;
        };
        if self.answer.is_some() || self.keyboard.sounding() || self.phrase.is_empty() {
            return;
        }
        // A failure shows when the answer is asked for and drawn again.
        let horizon = ask.start_beat + FORESEE_BEATS;
        let Some(Ok(mut draft)) = self.draft(Prompt::Phrase, ask) else {
            return;
        };
        let Some(generator) = self.generator.as_mut() else {
            return;
        };
        let Draft {
            continuation,
            learning,
            drawn,
            ..
        } = &mut draft;
        let limits = (horizon, FORESEE_TOKENS);
        let push = |ev| drawn.push(ev);
        let _ = draw(
            continuation,
            generator,
            &self.settings,
            learning,
            limits,
            push,
        );
        self.foreseen = Some(draft);
    }

    /// The phrase as it is answered from `start_beat`: keys still down (or held by the pedal)
    /// then sound on to it.
    fn phrase_until(&self, start_beat: f64) -> Vec<Note> {
        let mut phrase = self.phrase.clone();
        let mut keyboard = self.keyboard.clone();
        keyboard.release_all(start_beat, &mut |n| phrase.push(n));
        phrase
    }

    /// An answer to `prompt` made ready to play on copies of what answering changes: the
    /// model primed, the seed drawn, the phrase learned. `None` without a model, or for
    /// *Again* before any phrase.
    fn draft(&mut self, prompt: Prompt, ask: Ask) -> Option<Result<Draft, RuntimeError>> {
        let vocab = self.generator.as_ref()?.model().meta().vocab;
        let mut conversation = self.conversation.clone();
        let phrase: Vec<Note> = match prompt {
            Prompt::Phrase => self.phrase_until(ask.start_beat),
            Prompt::Again => {
                let (phrase, answered_at) = self.last_prompt.as_ref()?;
                // A variation answers the phrase alone, moved so it ends as far before the
                // new start as it did before the first.
                conversation.clear();
                let by = ask.start_beat - answered_at;
                phrase.iter().map(|n| n.moved(by)).collect()
            }
        };
        let mut learning = self.learning.clone();
        if prompt == Prompt::Phrase {
            let starts = phrase.iter().map(|n| n.start).fold(f64::INFINITY, f64::min);
            if let Some((answer, end)) = &self.kept {
                // The player played on from the answer: it belongs to the conversation.
                if starts - end <= CONVERSATION_GAP_BEATS {
                    learning.learn(answer, &vocab);
                }
            }
            // Learned before it is answered (a figure the phrase repeats is the player's too),
            // and as the model reads it.
            let mut read = phrase.clone();
            read_on_grid(&mut read);
            learning.learn(&read, &vocab);
        }
        let played = phrase.clone();
        let recent = conversation.add_phrase(phrase, &vocab);
        // *Again* always varies: the fixed seed's answer is the one already heard.
        let mut vary = self.vary.clone();
        let seed = if self.settings.seed == 0 || prompt == Prompt::Again {
            1 + vary.below(SEED_MAX)
        } else {
            self.settings.seed
        };
        let generator = self.generator.as_mut()?;
        generator.reseed(seed);
        let started = Continuation::start(
            generator,
            recent,
            &ask.bars,
            Some(ask.start_beat),
            ask.length_beats,
        );
        Some(started.map(|continuation| Draft {
            ask,
            settings: self.settings.clone(),
            seed,
            vary,
            played,
            conversation,
            learning,
            continuation,
            drawn: Vec::new(),
        }))
    }

    /// The answer `draft` becomes the one playing, as answer `id`.
    fn adopt(&mut self, id: u32, prompt: Prompt, meter: Meter, draft: Draft) {
        let (ask, seed) = (draft.ask, draft.seed);
        if prompt == Prompt::Phrase {
            self.kept = None;
        }
        self.conversation = draft.conversation;
        self.learning = draft.learning;
        publish(&self.shared, &self.learning, self.settings.keep_learned);
        self.vary = draft.vary;
        self.bars = ask.bars;
        self.answers += 1;
        let model = self
            .generator
            .as_ref()
            .map(|g| g.model().meta().name.clone())
            .unwrap_or_default();
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
            phrase: draft.played,
            answer: Vec::new(),
            answer_start: ask.start_beat,
            answer_end: ask.start_beat + ask.length_beats,
        });
        self.live = Some(Live {
            serial,
            end: ask.start_beat + ask.length_beats,
        });
        // What was drawn ahead goes out now; the rest as playback comes near.
        let (tx, stats, conversation) = (&self.tx, &self.stats, &mut self.conversation);
        let mut heard = Vec::new();
        for ev in draft.drawn {
            deliver(tx, stats, conversation, &mut heard, id, ev);
        }
        self.record(&heard);
        self.answer = Some(Answer {
            id,
            continuation: draft.continuation,
        });
    }

    /// Generates the current answer up to `horizon` (beats). Returns whether it generated.
    pub fn generate_ahead(&mut self, horizon: f64) -> bool {
        let (Some(answer), Some(generator)) = (self.answer.as_mut(), self.generator.as_mut())
        else {
            return false;
        };
        let (tx, stats, conversation) = (&self.tx, &self.stats, &mut self.conversation);
        let id = answer.id;
        let mut heard = Vec::new();
        let send = |ev| deliver(tx, stats, conversation, &mut heard, id, ev);
        let (settings, learning) = (&self.settings, &mut self.learning);
        let limits = (horizon, MAX_TOKENS_PER_POLL);
        let generated = draw(
            &mut answer.continuation,
            generator,
            settings,
            learning,
            limits,
            send,
        );
        // A model that fails mid-answer ends it; what it played stands.
        let worked = generated.unwrap_or(true);
        let through = answer.continuation.generated_through(generator);
        if answer.continuation.is_finished() {
            self.answer = None;
        }
        self.stats.progress.publish(id, through);
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
        let (_, end, stats) = crate::protocol::connect();
        Worker::new(end, Arc::default(), stats)
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

    /// A worker with the built-in model and a fixed seed, its playhead far ahead so that
    /// answers are generated whole, and the audio thread's end of its queues.
    fn seeded_worker(sampling: Sampling) -> (Worker, crate::protocol::EngineEnd) {
        let (engine, end, stats) = crate::protocol::connect();
        stats.playhead.publish(1000.0, 1000.0);
        let mut worker = Worker::new(end, Arc::default(), stats);
        worker.refresh_settings(WorkerSettings {
            seed: 7,
            sampling,
            ..Default::default()
        });
        (worker, engine)
    }

    /// Keys struck and released (pitch, from, to) in beats.
    fn play(worker: &mut Worker, to: &Sender<ToWorker>, keys: &[(u8, f64, f64)]) {
        for &(pitch, from, until) in keys {
            for (velocity, beat) in [(80, from), (0, until)] {
                to.send(ToWorker::Played {
                    pitch,
                    velocity,
                    beat,
                })
                .unwrap();
            }
        }
        worker.poll();
    }

    /// Asks for the answer from `start_beat` and takes all it sends.
    fn answer(
        worker: &mut Worker,
        engine: &crate::protocol::EngineEnd,
        start_beat: f64,
    ) -> Vec<FromWorker> {
        let ask = ToWorker::Answer {
            id: 1,
            start_beat,
            length_beats: 8.0,
            prompt: Prompt::Phrase,
            meter: Meter::default(),
        };
        engine.to_worker.send(ask).unwrap();
        worker.poll();
        while worker.is_answering() {
            worker.poll();
        }
        engine.from_worker.try_iter().collect()
    }

    fn foretell(worker: &mut Worker, to: &Sender<ToWorker>, start_beat: f64) {
        let expect = ToWorker::Expect {
            start_beat,
            length_beats: 8.0,
            meter: Meter::default(),
        };
        to.send(expect).unwrap();
        worker.poll();
        worker.idle();
    }

    const PHRASE: [(u8, f64, f64); 6] = [
        (60, 0.0, 0.4),
        (64, 0.5, 0.9),
        (67, 1.0, 1.4),
        (72, 1.5, 2.4),
        (67, 2.5, 2.9),
        (64, 3.0, 3.9),
    ];

    #[test]
    fn an_answer_drawn_ahead_is_the_one_drawn_when_asked() {
        // After a pause of four beats, the longest lead-in.
        let (mut asked, engine) = seeded_worker(Sampling::default());
        play(&mut asked, &engine.to_worker, &PHRASE);
        let expected = answer(&mut asked, &engine, 8.0);

        let (mut foreseeing, engine) = seeded_worker(Sampling::default());
        play(&mut foreseeing, &engine.to_worker, &PHRASE);
        foretell(&mut foreseeing, &engine.to_worker, 8.0);
        let draft = foreseeing.foreseen.as_ref().expect("drawn while silent");
        assert!(
            draft.drawn.iter().any(|ev| ev.velocity > 0),
            "the first note is drawn before it is asked for"
        );
        assert!(engine.from_worker.is_empty(), "and held until then");
        let heard = answer(&mut foreseeing, &engine, 8.0);
        assert!(heard.len() > 4, "{heard:?}");
        assert_eq!(heard, expected);
    }

    #[test]
    fn what_was_drawn_ahead_goes_when_the_player_plays_on_or_a_setting_changes() {
        let more = [(62, 5.0, 5.4), (60, 5.5, 5.9)];
        let (mut asked, engine) = seeded_worker(Sampling::default());
        play(&mut asked, &engine.to_worker, &PHRASE);
        play(&mut asked, &engine.to_worker, &more);
        let expected = answer(&mut asked, &engine, 7.0);

        let (mut foreseeing, engine) = seeded_worker(Sampling::default());
        play(&mut foreseeing, &engine.to_worker, &PHRASE);
        foretell(&mut foreseeing, &engine.to_worker, 5.0);
        assert!(foreseeing.foreseen.is_some());
        play(&mut foreseeing, &engine.to_worker, &more);
        assert!(foreseeing.foreseen.is_none(), "the phrase went on");
        assert_eq!(answer(&mut foreseeing, &engine, 7.0), expected);

        let hotter = Sampling {
            temperature: 1.3,
            ..Sampling::default()
        };
        let (mut asked, engine) = seeded_worker(hotter);
        play(&mut asked, &engine.to_worker, &PHRASE);
        let expected = answer(&mut asked, &engine, 5.0);

        let (mut foreseeing, engine) = seeded_worker(Sampling::default());
        play(&mut foreseeing, &engine.to_worker, &PHRASE);
        foretell(&mut foreseeing, &engine.to_worker, 5.0);
        foreseeing.refresh_settings(WorkerSettings {
            seed: 7,
            sampling: hotter,
            ..Default::default()
        });
        assert_eq!(answer(&mut foreseeing, &engine, 5.0), expected);
    }

    #[test]
    fn fresh_instances_vary_differently() {
        let firsts: Vec<u64> = (0..4)
            .map(|_| fresh_worker().vary.below(SEED_MAX))
            .collect();
        assert!(
            firsts.windows(2).any(|w| w[0] != w[1]),
            "every fresh instance drew {firsts:?}"
        );
    }
}
