//! The audio-thread half of Continuo, free of any plugin API so it can be tested and
//! benchmarked on its own. It follows the transport, forwards and timestamps the player's
//! notes, detects the end of a phrase, and plays the inference thread's notes at
//! sample-accurate offsets. It never allocates, locks or blocks: after construction it only
//! touches fixed-size state and non-blocking queue operations.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use continuo_core::answer::DEFAULT_SILENCE_BEATS;
use crossbeam_channel::{Receiver, Sender};

mod clock;
mod phrase;
mod playback;

pub use crate::protocol::EngineStats;
use crate::protocol::{EngineEnd, FromWorker, Prompt, ToWorker};
use crate::timeline::{StartQuantize, TimeSig};
use clock::Clock;
use phrase::Phrase;
use playback::{Pending, Playback};

/// Host transport, as much of it as a host tells.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Transport {
    pub playing: bool,
    pub tempo: Option<f64>,
    pub pos_beats: Option<f64>,
    pub bar_start_beats: Option<f64>,
    pub time_sig: TimeSig,
    pub sample_rate: f64,
}

impl Transport {
    /// A running 4/4 transport at `beat`, bars counted from beat 0: what the demo, tests and
    /// benches drive the engine with.
    pub fn running(beat: f64, tempo: f64, sample_rate: f64) -> Self {
        Self {
            playing: true,
            tempo: Some(tempo),
            pos_beats: Some(beat),
            bar_start_beats: Some(0.0),
            time_sig: TimeSig::COMMON,
            sample_rate,
        }
    }
}

/// The answer lengths a player may set, in bars.
pub const ANSWER_BARS: (u32, u32) = (1, 16);
/// The silences a player may set to trigger an answer, in beats.
pub const SILENCE_BEATS: (f64, f64) = (0.25, 8.0);

/// Parameter values the audio thread needs, read once per block.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Settings {
    pub enabled: bool,
    pub pass_through: bool,
    pub silence_beats: f64,
    pub length_bars: u32,
    pub quantize: StartQuantize,
    pub velocity_scale: f32,
    /// Output channel of generated notes, `0..16`.
    pub channel: u8,
    /// Rendering offline (bounce, export): wait for the inference thread instead of playing
    /// late notes; see [`crate::protocol`].
    pub offline: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            enabled: true,
            pass_through: true,
            silence_beats: DEFAULT_SILENCE_BEATS,
            length_bars: 2,
            quantize: StartQuantize::Beat,
            velocity_scale: 1.0,
            channel: 0,
            offline: false,
        }
    }
}

/// A note event leaving the plugin, `timing` in samples from the block start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutEvent {
    On {
        timing: u32,
        channel: u8,
        pitch: u8,
        velocity: u8,
    },
    Off {
        timing: u32,
        channel: u8,
        pitch: u8,
    },
}

/// The share of the *Silence trigger* a phrase is silent before its answer is foretold to the
/// inference thread ([`ToWorker::Expect`]), which draws the answer's beginning then. Not at
/// the last key-up: a detached phrase falls silent between its notes, and each answer drawn
/// there would be thrown away at the next note. Half the trigger is time enough: the lead-in
/// lasts no longer than the silence before the answer's start, and each of its beats draws
/// at most 32 tokens (about 10 ms with the built-in model), while half a beat lasts 125 ms
/// at 240 BPM.
const FORETELL_AFTER: f64 = 0.5;

/// Rendering offline, the longest the audio thread waits for the inference thread per block,
/// so a stalled or crashed worker slows a bounce down rather than hanging the host.
const OFFLINE_WAIT_LIMIT: std::time::Duration = std::time::Duration::from_secs(5);
const OFFLINE_POLL: std::time::Duration = std::time::Duration::from_micros(50);

pub struct Engine {
    to_worker: Sender<ToWorker>,
    from_worker: Receiver<FromWorker>,
    stats: Arc<EngineStats>,
    settings: Settings,

    clock: Clock,
    /// Latest sample offset handled or emitted in this block: later events never go out
    /// before it, so the block's output stays in time order (hosts require it).
    cursor: u32,
    phrase: Phrase,
    /// Channels (bits) on which each pitch's note-on was passed through: its note-off follows
    /// it whatever *Pass input through* says by then, so no note is left stuck downstream.
    passed: [u16; 128],
    /// The answer last foretold to the inference thread ([`ToWorker::Expect`]) while the
    /// phrase is silent.
    foretold: Option<ToWorker>,

    playback: Playback,
}

impl Engine {
    pub fn new(end: EngineEnd, stats: Arc<EngineStats>) -> Self {
        Self {
            to_worker: end.to_worker,
            from_worker: end.from_worker,
            stats,
            settings: Settings::default(),
            clock: Clock::default(),
            cursor: 0,
            phrase: Phrase::default(),
            passed: [0; 128],
            foretold: None,
            playback: Playback::default(),
        }
    }

    pub fn is_answering(&self) -> bool {
        self.playback.is_answering()
    }

    fn send(&self, msg: ToWorker) {
        if self.to_worker.try_send(msg).is_err() {
            self.stats.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Starts a block. Call before any other method for the block.
    pub fn begin_block(
        &mut self,
        t: &Transport,
        settings: Settings,
        len: u32,
        emit: &mut impl FnMut(OutEvent),
    ) {
        self.playback.pay_owed(emit);
        self.playback.begin_block();
        // Where the last block ended: on a broken timeline, what the player heard ends there.
        let heard_until = self.clock.block().end_beat();
        let timeline_broke = self.clock.begin(t, len);
        self.cursor = 0;
        if timeline_broke {
            // The pending answer was scheduled on the old timeline.
            self.stop_answer_at(0, heard_until, emit);
            self.phrase.forget();
            self.send(ToWorker::Reset);
        }
        if settings.channel != self.settings.channel || (!settings.enabled && self.settings.enabled)
        {
            self.stop_answer(0, emit);
        }
        if settings.enabled != self.settings.enabled {
            // A phrase from before answering was switched off (or on) is stale: answered
            // later, its start would lie in the past and its notes would burst out at once.
            self.phrase.forget();
            self.send(ToWorker::Reset);
        }
        self.settings = settings;
        let block = self.clock.block();
        self.stats
            .playhead
            .publish(block.start_beat, block.end_beat());
        self.receive(emit);
        self.await_worker(emit);
    }

    /// Offline only: waits until the answer is generated through the block's end, then takes
    /// its notes. Never called in real time, where waiting is not allowed.
    fn await_worker(&mut self, emit: &mut impl FnMut(OutEvent)) {
        if !(self.settings.offline && self.playback.is_answering()) {
            return;
        }
        let end = self.clock.block().end_beat();
        let since = std::time::Instant::now();
        while !self.stats.progress.covers(self.playback.id(), end)
            && since.elapsed() < OFFLINE_WAIT_LIMIT
        {
            std::thread::sleep(OFFLINE_POLL);
        }
        self.receive(emit);
    }

    fn receive(&mut self, emit: &mut impl FnMut(OutEvent)) {
        while let Ok(msg) = self.from_worker.try_recv() {
            match msg {
                FromWorker::Note {
                    id,
                    beat,
                    pitch,
                    velocity,
                } => {
                    let note = Pending {
                        beat,
                        pitch,
                        velocity,
                    };
                    if !self.playback.queue(id, note) {
                        self.stats.dropped.fetch_add(1, Ordering::Relaxed);
                    }
                }
                FromWorker::ModelChanged => self.stop_answer(self.cursor, emit),
            }
        }
    }

    /// Ends the answer in progress: every generated note stops at `timing`.
    pub fn stop_answer(&mut self, timing: u32, emit: &mut impl FnMut(OutEvent)) {
        self.stop_answer_at(timing, self.clock.block().beat_at(timing), emit);
    }

    /// [`Self::stop_answer`] where `timing` is not on this block's timeline: the answer was
    /// heard until `beat`.
    fn stop_answer_at(&mut self, timing: u32, beat: f64, emit: &mut impl FnMut(OutEvent)) {
        self.cancel_at(beat);
        self.playback.stop(timing, emit);
    }

    /// Tells the inference thread that the answer in progress, if any, was heard until `beat`.
    fn cancel_at(&self, beat: f64) {
        if self.playback.is_answering() {
            self.send(ToWorker::Cancel { beat });
        }
    }

    /// Plays generated events due before sample `until` (exclusive; `len` for the whole block).
    pub fn play_until(&mut self, until: u32, emit: &mut impl FnMut(OutEvent)) {
        self.playback.play_until(
            self.clock.block(),
            until,
            &mut self.cursor,
            &self.settings,
            emit,
        );
    }

    /// Brings the block up to a host event at `timing` (the player's notes, pedal, or one the
    /// plugin passes through): plays what is due up to it, and keeps later output after it.
    pub fn host_event(&mut self, timing: u32, emit: &mut impl FnMut(OutEvent)) {
        self.play_until(timing + 1, emit);
        self.cursor = self.cursor.max(timing);
    }

    /// Handles a note the player played at sample `timing` (velocity 0 = release).
    pub fn input_note(
        &mut self,
        timing: u32,
        channel: u8,
        pitch: u8,
        velocity: u8,
        emit: &mut impl FnMut(OutEvent),
    ) {
        self.host_event(timing, emit);
        let pitch = pitch & 127;
        let beat = self.clock.block().beat_at(timing);
        if velocity > 0 {
            if self.playback.is_answering() {
                // The player takes over: the answer yields at once.
                self.stop_answer(timing, emit);
            }
            self.phrase.key_down(pitch, channel);
        } else {
            self.phrase.key_up(pitch, channel, beat);
        }
        if self.settings.enabled {
            self.tell_phrase(ToWorker::Played {
                pitch,
                velocity,
                beat,
            });
        }
        let bit = 1u16 << (channel & 15);
        let passed = &mut self.passed[pitch as usize];
        if velocity > 0 && self.settings.pass_through {
            *passed |= bit;
            emit(OutEvent::On {
                timing,
                channel,
                pitch,
                velocity,
            });
        } else if velocity == 0 && *passed & bit != 0 {
            *passed &= !bit;
            emit(OutEvent::Off {
                timing,
                channel,
                pitch,
            });
        }
    }

    /// All keys up at sample `timing`: a wildcard note-off or choke, or All Notes Off / All
    /// Sound Off (CC123 / CC120). The host's event itself passes through and silences what
    /// was passed. Without this, a key counted as held would keep the phrase open forever.
    pub fn release_all_keys(&mut self, timing: u32, emit: &mut impl FnMut(OutEvent)) {
        self.host_event(timing, emit);
        let beat = self.clock.block().beat_at(timing);
        let released = self.phrase.release_all(beat);
        if self.settings.enabled {
            for pitch in (0..128u8).filter(|&p| released & (1 << p) != 0) {
                self.tell_phrase(ToWorker::Played {
                    pitch,
                    velocity: 0,
                    beat,
                });
            }
        }
        self.passed = [0; 128];
    }

    /// Whether the host must keep calling `process` although its input is quiet: a phrase
    /// waits for its answer, an answer plays, or note-offs are owed. Hosts may otherwise put
    /// a quiet plugin to sleep — exactly when the answer is due.
    pub fn needs_processing(&self) -> bool {
        self.phrase.is_open() || self.playback.is_answering() || self.sounding_count() > 0
    }

    /// Handles the player's sustain pedal (CC64) on `channel` at sample `timing`. The pedal
    /// itself passes through with the host's other events.
    pub fn input_pedal(
        &mut self,
        timing: u32,
        channel: u8,
        down: bool,
        emit: &mut impl FnMut(OutEvent),
    ) {
        self.host_event(timing, emit);
        let beat = self.clock.block().beat_at(timing);
        if let Some(down) = self.phrase.pedal(channel, down, beat) {
            if self.settings.enabled {
                self.tell_phrase(ToWorker::Pedal { down, beat });
            }
        }
    }

    /// Finishes the block: plays what is due and asks for an answer if the player has paused
    /// long enough.
    pub fn end_block(&mut self, emit: &mut impl FnMut(OutEvent)) {
        let len = self.clock.block().len;
        self.receive(emit);
        self.play_until(len, emit);
        let end = self.clock.block().end_beat();
        let silent_from = self.phrase.ends_at(self.settings.silence_beats);
        match silent_from.filter(|_| self.settings.enabled) {
            Some(silent_from) => {
                let start = self
                    .clock
                    .start_at_or_after(silent_from, self.settings.quantize);
                if end >= silent_from {
                    self.foretold = None;
                    self.phrase.forget();
                    self.ask(start, Prompt::Phrase, emit);
                } else if end >= silent_from - FORETELL_AFTER * self.settings.silence_beats {
                    self.foretell(start);
                }
            }
            None => self.foretold = None,
        }
        // Asked for from the window; never while the player plays (the phrase comes first).
        let again = self.stats.again.swap(false, Ordering::Relaxed);
        if again && self.settings.enabled && !self.phrase.is_open() {
            self.stop_answer(self.cursor, emit);
            let start = self.clock.start_at_or_after(end, self.settings.quantize);
            self.ask(start, Prompt::Again, emit);
        }
        self.finish_answer(emit);
        self.clock.end();
    }

    /// Tells the inference thread of a change to the phrase (a key, the pedal). It drops what
    /// it drew for the phrase as it was, so the next silence is foretold again, even where its
    /// answer would start on the same beat.
    fn tell_phrase(&mut self, msg: ToWorker) {
        self.send(msg);
        self.foretold = None;
    }

    /// Tells the inference thread where the silent phrase's answer will start, if it has
    /// not been told so already.
    fn foretell(&mut self, start: f64) {
        let expect = ToWorker::Expect {
            start_beat: start,
            length_beats: self.answer_beats(),
            meter: self.clock.meter(),
        };
        if self.foretold != Some(expect) {
            self.foretold = Some(expect);
            self.send(expect);
        }
    }

    fn answer_beats(&self) -> f64 {
        f64::from(self.settings.length_bars) * self.clock.beats_per_bar()
    }

    /// Asks the inference thread for an answer to `prompt` from `start` (a beat at or after
    /// this block's end, or inside it).
    fn ask(&mut self, start: f64, prompt: Prompt, emit: &mut impl FnMut(OutEvent)) {
        let id = self.playback.start();
        self.send(ToWorker::Answer {
            id,
            start_beat: start,
            length_beats: self.answer_beats(),
            prompt,
            meter: self.clock.meter(),
        });
        // Offline, an answer starting inside this block plays in it, as in real time with
        // smaller blocks.
        self.await_worker(emit);
        self.play_until(self.clock.block().len, emit);
    }

    /// Ends the answer once the inference thread has sent all of it and all of it has played,
    /// so nothing keeps the host awake after it.
    fn finish_answer(&mut self, emit: &mut impl FnMut(OutEvent)) {
        // Progress first: notes sent before it was published are in the queue by then.
        let id = self.playback.id();
        if !(self.playback.is_answering() && self.stats.progress.covers(id, f64::INFINITY)) {
            return;
        }
        self.receive(emit);
        self.play_until(self.clock.block().len, emit);
        self.playback.finish_if_played();
    }

    /// Ends the answer and forgets the phrase where no events can be sent (host reset,
    /// deactivation): the note-offs of generated notes still sounding are owed to the next
    /// block.
    pub fn reset(&mut self) {
        // Between blocks: the last one was heard to its end.
        self.cancel_at(self.clock.block().end_beat());
        self.playback.stop_owing();
        self.phrase = Phrase::default();
        self.passed = [0; 128];
        self.clock.forget_position();
        self.send(ToWorker::Reset);
    }

    /// How many generated notes sound now (including those whose note-off is owed).
    pub fn sounding_count(&self) -> usize {
        self.playback.sounding_count()
    }
}

#[cfg(test)]
mod tests;
