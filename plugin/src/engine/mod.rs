//! The audio-thread half of Continuo, free of any plugin API so it can be tested and
//! benchmarked on its own. It follows the transport, forwards and timestamps the player's
//! notes, detects the end of a phrase, and plays the inference thread's notes at
//! sample-accurate offsets. It never allocates, locks or blocks: after construction it only
//! touches fixed-size state and non-blocking queue operations.

use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use crossbeam_channel::{Receiver, Sender};

mod clock;
mod phrase;

pub use crate::protocol::EngineStats;
use crate::protocol::{EngineEnd, FromWorker, Prompt, ToWorker};
use crate::timeline::{StartQuantize, TimeSig};
use clock::Clock;
use phrase::Phrase;

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
            silence_beats: 1.0,
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

#[derive(Debug, Clone, Copy)]
struct Pending {
    beat: f64,
    pitch: u8,
    velocity: u8,
}

const PENDING_CAPACITY: usize = 4096;
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

    answer_id: u32,
    answering: bool,
    pending: VecDeque<Pending>,
    /// Channel each generated pitch sounds on, if it does.
    sounding: [Option<u8>; 128],
    /// Generated notes still sounding when the host reset or deactivated the plugin. No
    /// events can be sent then, so their note-offs go out first thing in the next block.
    owed_offs: [Option<u8>; 128],
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
            answer_id: 0,
            answering: false,
            pending: VecDeque::with_capacity(PENDING_CAPACITY),
            sounding: [None; 128],
            owed_offs: [None; 128],
        }
    }

    pub fn is_answering(&self) -> bool {
        self.answering
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
        for (pitch, owed) in self.owed_offs.iter_mut().enumerate() {
            if let Some(channel) = owed.take() {
                emit(OutEvent::Off {
                    timing: 0,
                    channel,
                    pitch: pitch as u8,
                });
            }
        }
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
        if !(self.settings.offline && self.answering) {
            return;
        }
        let end = self.clock.block().end_beat();
        let since = std::time::Instant::now();
        while !self.stats.progress.covers(self.answer_id, end)
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
                    if self.answering && id == self.answer_id {
                        if self.pending.len() < PENDING_CAPACITY {
                            self.pending.push_back(Pending {
                                beat,
                                pitch,
                                velocity,
                            });
                        } else {
                            self.stats.dropped.fetch_add(1, Ordering::Relaxed);
                        }
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
        if self.answering {
            self.send(ToWorker::Cancel { beat });
        }
        self.answering = false;
        self.pending.clear();
        for (pitch, ch) in self.sounding.iter_mut().enumerate() {
            if let Some(channel) = ch.take() {
                emit(OutEvent::Off {
                    timing,
                    channel,
                    pitch: pitch as u8,
                });
            }
        }
    }

    /// Plays generated events due before sample `until` (exclusive; `len` for the whole block).
    pub fn play_until(&mut self, until: u32, emit: &mut impl FnMut(OutEvent)) {
        while let Some(p) = self.pending.front().copied() {
            let Some(timing) = self.clock.block().offset_of(p.beat) else {
                break;
            };
            if timing >= until {
                break;
            }
            // A late note plays now, not before what this block already sent.
            let timing = timing.max(self.cursor);
            self.cursor = timing;
            self.pending.pop_front();
            let pitch = p.pitch & 127;
            let channel = self.settings.channel;
            // A note-off ends the pitch; a note-on re-strikes it if it still sounds.
            if let Some(ch) = self.sounding[pitch as usize].take() {
                emit(OutEvent::Off {
                    timing,
                    channel: ch,
                    pitch,
                });
            }
            if p.velocity > 0 {
                let v = (f32::from(p.velocity) * self.settings.velocity_scale)
                    .round()
                    .clamp(1.0, 127.0) as u8;
                emit(OutEvent::On {
                    timing,
                    channel,
                    pitch,
                    velocity: v,
                });
                self.sounding[pitch as usize] = Some(channel);
            }
        }
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
            if self.answering {
                // The player takes over: the answer yields at once.
                self.stop_answer(timing, emit);
            }
            self.phrase.key_down(pitch, channel);
        } else {
            self.phrase.key_up(pitch, channel, beat);
        }
        if self.settings.enabled {
            self.send(ToWorker::Played {
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
                self.send(ToWorker::Played {
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
        self.phrase.is_open() || self.answering || self.sounding_count() > 0
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
                self.send(ToWorker::Pedal { down, beat });
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
        if let Some(silent_from) = silent_from.filter(|&b| self.settings.enabled && end >= b) {
            let start = self
                .clock
                .start_at_or_after(silent_from, self.settings.quantize);
            self.phrase.forget();
            self.ask(start, Prompt::Phrase, emit);
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

    /// Asks the inference thread for an answer to `prompt` from `start` (a beat at or after
    /// this block's end, or inside it).
    fn ask(&mut self, start: f64, prompt: Prompt, emit: &mut impl FnMut(OutEvent)) {
        self.answer_id = self.answer_id.wrapping_add(1);
        self.answering = true;
        self.pending.clear();
        let length_beats = f64::from(self.settings.length_bars) * self.clock.beats_per_bar();
        self.send(ToWorker::Answer {
            id: self.answer_id,
            start_beat: start,
            length_beats,
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
        if !(self.answering && self.stats.progress.covers(self.answer_id, f64::INFINITY)) {
            return;
        }
        self.receive(emit);
        self.play_until(self.clock.block().len, emit);
        if self.pending.is_empty() {
            self.answering = false;
        }
    }

    /// Ends the answer and forgets the phrase where no events can be sent (host reset,
    /// deactivation): the note-offs of generated notes still sounding are owed to the next
    /// block.
    pub fn reset(&mut self) {
        let mut owed = self.owed_offs;
        // Between blocks: the last one was heard to its end.
        let heard_until = self.clock.block().end_beat();
        self.stop_answer_at(0, heard_until, &mut |e| {
            if let OutEvent::Off { channel, pitch, .. } = e {
                owed[usize::from(pitch)] = Some(channel);
            }
        });
        self.owed_offs = owed;
        self.phrase = Phrase::default();
        self.passed = [0; 128];
        self.clock.forget_position();
        self.send(ToWorker::Reset);
    }

    /// How many generated notes sound now (including those whose note-off is owed).
    pub fn sounding_count(&self) -> usize {
        self.sounding
            .iter()
            .chain(&self.owed_offs)
            .filter(|s| s.is_some())
            .count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::Meter;
    use crossbeam_channel::bounded;

    struct Rig {
        engine: Engine,
        worker_rx: Receiver<ToWorker>,
        worker_tx: Sender<FromWorker>,
    }

    fn rig() -> Rig {
        // Short queues, so a test can fill them.
        let (to_worker, worker_rx) = bounded(64);
        let (worker_tx, from_worker) = bounded(64);
        let end = EngineEnd {
            to_worker,
            from_worker,
        };
        Rig {
            engine: Engine::new(end, Arc::default()),
            worker_rx,
            worker_tx,
        }
    }

    fn playing(beat: f64) -> Transport {
        // 48 kHz, 120 bpm → 24000 samples per beat; blocks of 6000 samples = 1/4 beat.
        Transport::running(beat, 120.0, 48_000.0)
    }

    fn block(
        r: &mut Rig,
        beat: f64,
        f: impl FnOnce(&mut Engine, &mut Vec<OutEvent>),
    ) -> Vec<OutEvent> {
        let mut out = Vec::new();
        let mut emit = |e| out.push(e);
        r.engine
            .begin_block(&playing(beat), Settings::default(), 6000, &mut emit);
        let mut extra = Vec::new();
        f(&mut r.engine, &mut extra);
        r.engine.end_block(&mut emit);
        extra.extend(out);
        extra
    }

    /// A note played at beat 0 and the blocks until beat 2, where its answer starts.
    fn answering_rig() -> Rig {
        let mut r = rig();
        block(&mut r, 0.0, |e, out| {
            e.input_note(0, 0, 60, 100, &mut |ev| out.push(ev));
            e.input_note(10, 0, 60, 0, &mut |ev| out.push(ev));
        });
        for i in 1..8 {
            block(&mut r, i as f64 * 0.25, |_, _| {});
        }
        assert!(r.engine.is_answering());
        r
    }

    /// The inference thread's note for answer `id`.
    fn generated(r: &Rig, id: u32, beat: f64, pitch: u8) {
        r.worker_tx
            .send(FromWorker::Note {
                id,
                beat,
                pitch,
                velocity: 90,
            })
            .unwrap();
    }

    #[test]
    fn a_finished_answer_lets_the_host_sleep() {
        let mut r = answering_rig();
        let id = r.engine.answer_id;
        generated(&r, id, 2.0, 72);
        r.worker_tx
            .send(FromWorker::Note {
                id,
                beat: 2.5,
                pitch: 72,
                velocity: 0,
            })
            .unwrap();
        r.engine.stats.progress.publish(id, f64::INFINITY);
        for i in 8..10 {
            block(&mut r, i as f64 * 0.25, |_, _| {});
            assert!(r.engine.needs_processing(), "the note still sounds");
        }
        let out = block(&mut r, 2.5, |_, _| {});
        assert!(
            matches!(out[..], [OutEvent::Off { pitch: 72, .. }]),
            "{out:?}"
        );
        assert!(!r.engine.is_answering());
        assert!(!r.engine.needs_processing());
    }

    #[test]
    fn late_notes_never_go_out_before_what_the_block_already_sent() {
        let mut r = answering_rig();
        let id = r.engine.answer_id;
        let tx = r.worker_tx.clone();
        let out = block(&mut r, 2.0, |e, out| {
            // The host's CC at 100 passed through; then a note for beat 1.9 (before this
            // block) reaches the engine, late.
            e.host_event(100, &mut |ev| out.push(ev));
            tx.send(FromWorker::Note {
                id,
                beat: 1.9,
                pitch: 72,
                velocity: 90,
            })
            .unwrap();
        });
        assert!(
            out.iter()
                .any(|e| matches!(*e, OutEvent::On { timing, pitch: 72, .. } if timing >= 100)),
            "{out:?}"
        );
    }

    #[test]
    fn a_host_playing_without_a_position_still_gets_answers() {
        for pos in [None, Some(f64::NAN)] {
            let mut r = rig();
            let t = Transport {
                pos_beats: pos,
                bar_start_beats: None,
                tempo: Some(f64::NAN),
                ..playing(0.0)
            };
            let mut out = Vec::new();
            for i in 0..12 {
                r.engine
                    .begin_block(&t, Settings::default(), 6000, &mut |e| out.push(e));
                if i == 0 {
                    r.engine.input_note(0, 0, 60, 100, &mut |e| out.push(e));
                    r.engine.input_note(10, 0, 60, 0, &mut |e| out.push(e));
                }
                r.engine.end_block(&mut |e| out.push(e));
            }
            assert!(
                r.engine.is_answering(),
                "position {pos:?}: own clock, 120 bpm"
            );
        }
    }

    #[test]
    fn phrase_then_silence_asks_for_an_answer_on_the_next_beat() {
        let mut r = rig();
        let out = block(&mut r, 0.0, |e, out| {
            e.input_note(0, 0, 60, 100, &mut |ev| out.push(ev));
            e.input_note(3000, 0, 60, 0, &mut |ev| out.push(ev));
        });
        assert_eq!(out.len(), 2, "passed through");
        // The transport starting resets the worker; then the played notes follow.
        let played: Vec<_> = r
            .worker_rx
            .try_iter()
            .filter(|m| *m != ToWorker::Reset)
            .collect();
        assert_eq!(
            played[0],
            ToWorker::Played {
                pitch: 60,
                velocity: 100,
                beat: 0.0
            }
        );
        assert_eq!(
            played[1],
            ToWorker::Played {
                pitch: 60,
                velocity: 0,
                beat: 0.125
            }
        );
        // Released at 0.125; silence of 1 beat is reached at 1.125 → answer starts at beat 2.
        let mut beat = 0.25;
        while beat < 1.25 {
            block(&mut r, beat, |_, _| {});
            beat += 0.25;
        }
        let msgs: Vec<_> = r.worker_rx.try_iter().collect();
        assert_eq!(
            msgs,
            vec![ToWorker::Answer {
                id: 1,
                start_beat: 2.0,
                length_beats: 8.0,
                prompt: Prompt::Phrase,
                meter: Meter::default(),
            }]
        );
        assert!(r.engine.is_answering());
    }

    #[test]
    fn a_held_sustain_pedal_is_still_playing() {
        let mut r = rig();
        block(&mut r, 0.0, |e, out| {
            e.input_note(0, 0, 60, 100, &mut |ev| out.push(ev));
            e.input_pedal(5, 0, true, &mut |ev| out.push(ev));
            e.input_note(10, 0, 60, 0, &mut |ev| out.push(ev));
        });
        // Two beats of silence with the pedal down: no answer.
        for i in 1..8 {
            block(&mut r, i as f64 * 0.25, |_, _| {});
        }
        assert!(!r.engine.is_answering(), "the pedal still holds the phrase");
        // Pedal up at beat 2: silence counts from there (1 beat) → the answer at beat 3.
        block(&mut r, 2.0, |e, out| {
            e.input_pedal(0, 0, false, &mut |ev| out.push(ev))
        });
        for i in 9..11 {
            block(&mut r, i as f64 * 0.25, |_, _| {});
        }
        assert!(!r.engine.is_answering());
        block(&mut r, 2.75, |_, _| {}); // ends at beat 3: a beat after pedal-up

        assert!(r.engine.is_answering());
        let sent: Vec<ToWorker> = r.worker_rx.try_iter().collect();
        assert!(sent.contains(&ToWorker::Pedal {
            down: true,
            beat: 5.0 / 24_000.0
        }));
        assert!(sent.contains(&ToWorker::Pedal {
            down: false,
            beat: 2.0
        }));
        assert!(matches!(
            sent.last(),
            Some(ToWorker::Answer { start_beat, .. }) if *start_beat == 3.0
        ));
    }

    #[test]
    fn generated_notes_play_at_sample_offsets_and_stop_ends_them() {
        let mut r = answering_rig();
        assert!(r.engine.is_answering());
        generated(&r, 1, 2.0, 64);
        generated(&r, 1, 2.1, 67);
        generated(&r, 0, 2.1, 30); // stale: an earlier answer's
        let out = block(&mut r, 2.0, |_, _| {});
        assert_eq!(
            out,
            vec![
                OutEvent::On {
                    timing: 0,
                    channel: 0,
                    pitch: 64,
                    velocity: 90
                },
                OutEvent::On {
                    timing: 2400,
                    channel: 0,
                    pitch: 67,
                    velocity: 90
                },
            ]
        );
        assert_eq!(r.engine.sounding_count(), 2);
        // Transport stops: both end at once.
        let mut out = Vec::new();
        let stopped = Transport {
            playing: false,
            ..playing(2.25)
        };
        r.engine
            .begin_block(&stopped, Settings::default(), 6000, &mut |e| out.push(e));
        r.engine.end_block(&mut |e| out.push(e));
        assert_eq!(out.len(), 2);
        assert!(out
            .iter()
            .all(|e| matches!(e, OutEvent::Off { timing: 0, .. })));
        assert_eq!(r.engine.sounding_count(), 0);
    }

    #[test]
    fn notes_sounding_at_a_reset_end_first_thing_in_the_next_block() {
        let mut r = answering_rig();
        generated(&r, 1, 2.0, 64);
        block(&mut r, 2.0, |_, _| {});
        assert_eq!(r.engine.sounding_count(), 1);
        // The host deactivates (no event context), then processes again, from anywhere.
        r.engine.reset();
        assert!(r
            .worker_rx
            .try_iter()
            .any(|m| matches!(m, ToWorker::Cancel { .. })));
        assert_eq!(r.engine.sounding_count(), 1, "owed, not forgotten");
        let out = block(&mut r, 40.0, |_, _| {});
        assert_eq!(
            out,
            vec![OutEvent::Off {
                timing: 0,
                channel: 0,
                pitch: 64
            }]
        );
        assert_eq!(r.engine.sounding_count(), 0);
        assert!(block(&mut r, 40.25, |_, _| {}).is_empty(), "owed once");
    }

    /// One block at `beat` with `settings`.
    fn block_with(
        r: &mut Rig,
        beat: f64,
        settings: Settings,
        f: impl FnOnce(&mut Engine, &mut Vec<OutEvent>),
    ) -> Vec<OutEvent> {
        let mut out = Vec::new();
        let mut emit = |e| out.push(e);
        r.engine
            .begin_block(&playing(beat), settings, 6000, &mut emit);
        let mut during = Vec::new();
        f(&mut r.engine, &mut during);
        r.engine.end_block(&mut emit);
        during.extend(out);
        during
    }

    #[test]
    fn a_passed_note_on_gets_its_note_off_whatever_pass_through_says_then() {
        let mut r = rig();
        let on = Settings::default();
        let off = Settings {
            pass_through: false,
            ..on
        };
        let out = block_with(&mut r, 0.0, on, |e, out| {
            e.input_note(0, 2, 60, 100, &mut |ev| out.push(ev))
        });
        assert_eq!(out.len(), 1);
        // Pass-through switched off while the key is down: its note-off still goes out.
        let out = block_with(&mut r, 0.25, off, |e, out| {
            e.input_note(7, 2, 60, 0, &mut |ev| out.push(ev))
        });
        assert_eq!(
            out,
            [OutEvent::Off {
                timing: 7,
                channel: 2,
                pitch: 60
            }]
        );
        // And a note-on not passed sends no note-off once pass-through is back on.
        block_with(&mut r, 0.5, off, |e, out| {
            e.input_note(0, 2, 62, 100, &mut |ev| out.push(ev))
        });
        let out = block_with(&mut r, 0.75, on, |e, out| {
            e.input_note(0, 2, 62, 0, &mut |ev| out.push(ev))
        });
        assert!(out.is_empty(), "{out:?}");
    }

    #[test]
    fn switching_answers_off_and_on_forgets_the_phrase() {
        let mut r = rig();
        let on = Settings::default();
        let off = Settings {
            enabled: false,
            ..on
        };
        block_with(&mut r, 0.0, on, |e, out| {
            e.input_note(0, 0, 60, 100, &mut |ev| out.push(ev));
            e.input_note(10, 0, 60, 0, &mut |ev| out.push(ev));
        });
        block_with(&mut r, 0.25, off, |_, _| {});
        // On again long after the phrase: no answer from the stale phrase, ever.
        for i in 2..16 {
            block_with(&mut r, i as f64 * 0.25, on, |_, _| {});
        }
        assert!(!r.engine.is_answering());
        assert!(r
            .worker_rx
            .try_iter()
            .all(|m| !matches!(m, ToWorker::Answer { .. })));
    }

    #[test]
    fn all_notes_off_releases_keys_whose_note_off_was_lost() {
        let mut r = rig();
        block(&mut r, 0.0, |e, out| {
            e.input_note(0, 0, 60, 100, &mut |ev| out.push(ev));
            e.input_note(0, 0, 64, 100, &mut |ev| out.push(ev));
            e.input_note(10, 0, 64, 0, &mut |ev| out.push(ev));
            // 60's note-off never comes.
        });
        for i in 1..8 {
            block(&mut r, i as f64 * 0.25, |_, _| {});
        }
        assert!(!r.engine.is_answering(), "a key still counts as held");
        assert!(r.engine.needs_processing(), "a phrase is open");
        block(&mut r, 2.0, |e, out| {
            e.release_all_keys(0, &mut |ev| out.push(ev))
        });
        for i in 9..12 {
            block(&mut r, i as f64 * 0.25, |_, _| {});
        }
        assert!(
            r.engine.is_answering(),
            "the phrase ended at the all-notes-off"
        );
        assert!(r.engine.needs_processing(), "an answer plays");
        r.engine.reset();
        let out = block(&mut r, 3.0, |_, _| {});
        assert!(out.is_empty() || out.iter().all(|e| matches!(e, OutEvent::Off { .. })));
        assert!(
            !r.engine.needs_processing(),
            "nothing waits, plays or is owed"
        );
    }

    #[test]
    fn playing_again_interrupts_the_answer() {
        let mut r = answering_rig();
        generated(&r, 1, 2.0, 64);
        block(&mut r, 2.0, |_, _| {});
        let out = block(&mut r, 2.25, |e, out| {
            e.input_note(100, 0, 72, 80, &mut |ev| out.push(ev))
        });
        assert_eq!(
            out[0],
            OutEvent::Off {
                timing: 100,
                channel: 0,
                pitch: 64
            }
        );
        assert_eq!(
            out[1],
            OutEvent::On {
                timing: 100,
                channel: 0,
                pitch: 72,
                velocity: 80
            }
        );
        assert!(!r.engine.is_answering());
        let heard_until = 2.25 + 100.0 / 24_000.0;
        assert!(r
            .worker_rx
            .try_iter()
            .any(|m| m == ToWorker::Cancel { beat: heard_until }));
    }

    #[test]
    fn again_answers_the_last_phrase_anew_at_the_next_start_but_never_over_the_player() {
        let mut r = answering_rig();
        generated(&r, 1, 2.0, 64);
        block(&mut r, 2.0, |_, _| {});
        r.worker_rx.try_iter().for_each(drop);
        r.engine.stats.again.store(true, Ordering::Relaxed);
        let out = block(&mut r, 2.25, |_, _| {});
        assert!(
            out.contains(&OutEvent::Off {
                timing: 0,
                channel: 0,
                pitch: 64
            }),
            "the answer playing yields to its variation: {out:?}"
        );
        let sent: Vec<_> = r.worker_rx.try_iter().collect();
        assert!(matches!(sent[0], ToWorker::Cancel { .. }), "{sent:?}");
        assert!(
            matches!(
                sent[1],
                ToWorker::Answer {
                    id: 2,
                    start_beat: 3.0,
                    prompt: Prompt::Again,
                    ..
                }
            ),
            "{sent:?}"
        );
        assert!(r.engine.is_answering());

        // While a key is down the player's phrase comes first: the request is dropped.
        block(&mut r, 2.5, |e, out| {
            e.input_note(0, 0, 60, 90, &mut |ev| out.push(ev))
        });
        r.worker_rx.try_iter().for_each(drop);
        r.engine.stats.again.store(true, Ordering::Relaxed);
        block(&mut r, 2.75, |_, _| {});
        assert!(r
            .worker_rx
            .try_iter()
            .all(|m| !matches!(m, ToWorker::Answer { .. })));
        assert!(!r.engine.stats.again.load(Ordering::Relaxed));
    }

    #[test]
    fn transport_jump_cancels_and_free_clock_runs_when_stopped() {
        let mut r = rig();
        block(&mut r, 0.0, |_, _| {});
        block(&mut r, 8.0, |_, _| {}); // loop/relocate
        assert!(r.worker_rx.try_iter().any(|m| m == ToWorker::Reset));
        // An answer cut by a jump was heard until the last block before it ended.
        let mut r = answering_rig();
        r.worker_rx.try_iter().for_each(drop);
        block(&mut r, 16.0, |_, _| {});
        let sent: Vec<_> = r.worker_rx.try_iter().collect();
        assert_eq!(sent[0], ToWorker::Cancel { beat: 2.0 }, "{sent:?}");
        let stopped = Transport {
            playing: false,
            pos_beats: Some(0.0),
            ..playing(0.0)
        };
        let mut sink = |_| {};
        r.engine
            .begin_block(&stopped, Settings::default(), 24_000, &mut sink);
        r.engine.end_block(&mut sink);
        let before = r.engine.clock.block().end_beat();
        r.engine
            .begin_block(&stopped, Settings::default(), 24_000, &mut sink);
        assert_eq!(
            r.engine.clock.block().start_beat,
            before,
            "own clock advances while stopped"
        );
    }
}
