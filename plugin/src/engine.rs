//! The audio-thread half of Continuo, free of any plugin API so it can be tested and
//! benchmarked on its own. It follows the transport, forwards and timestamps the player's
//! notes, detects the end of a phrase, and plays the inference thread's notes at
//! sample-accurate offsets. It never allocates, locks or blocks: after construction it only
//! touches fixed-size state and non-blocking queue operations.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crossbeam_channel::{Receiver, Sender};

use crate::protocol::{FromWorker, ToWorker};
use crate::timeline::{quantize_start, BlockTime, StartQuantize};

/// Host transport, as much of it as a host tells.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Transport {
    pub playing: bool,
    pub tempo: Option<f64>,
    pub pos_beats: Option<f64>,
    pub bar_start_beats: Option<f64>,
    pub beats_per_bar: f64,
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
            beats_per_bar: 4.0,
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

/// Shared counters that non-audio code (tests, the demo, logging) can read.
#[derive(Debug, Default)]
pub struct EngineStats {
    /// Events dropped because a queue was full.
    pub dropped: AtomicU64,
    /// Current beat position (f64 bits); the inference thread generates ahead of it.
    pub now_beat_bits: AtomicU64,
}

impl EngineStats {
    pub fn now_beat(&self) -> f64 {
        f64::from_bits(self.now_beat_bits.load(Ordering::Relaxed))
    }
}

const PENDING_CAPACITY: usize = 4096;
/// A transport position this far from where the last block ended is a jump (loop, relocate).
const JUMP_TOLERANCE_BEATS: f64 = 1e-3;

pub struct Engine {
    to_worker: Sender<ToWorker>,
    from_worker: Receiver<FromWorker>,
    stats: Arc<EngineStats>,
    settings: Settings,

    block: BlockTime,
    was_playing: bool,
    expected_beat: Option<f64>,
    /// Beat position while the host transport is stopped: Continuo keeps time on its own so
    /// you can jam without pressing play.
    free_beat: f64,
    bar_origin: f64,
    beats_per_bar: f64,

    /// Keys the player holds (count per pitch, all channels).
    held: [u8; 128],
    held_total: u32,
    /// Beat of the last key release, while a phrase waits for its answer.
    phrase_end: Option<f64>,
    phrase_has_notes: bool,

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
    pub fn new(
        to_worker: Sender<ToWorker>,
        from_worker: Receiver<FromWorker>,
        stats: Arc<EngineStats>,
    ) -> Self {
        Self {
            to_worker,
            from_worker,
            stats,
            settings: Settings::default(),
            block: BlockTime::new(0.0, 120.0, 48_000.0, 0),
            was_playing: false,
            expected_beat: None,
            free_beat: 0.0,
            bar_origin: 0.0,
            beats_per_bar: 4.0,
            held: [0; 128],
            held_total: 0,
            phrase_end: None,
            phrase_has_notes: false,
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
        let tempo = t.tempo.unwrap_or(120.0);
        let host_beat = t.pos_beats.filter(|_| t.playing);
        let start = host_beat.unwrap_or(self.free_beat);
        let started_or_stopped = t.playing != self.was_playing;
        let jumped = host_beat.is_some_and(|b| {
            self.expected_beat
                .is_some_and(|e| (b - e).abs() > JUMP_TOLERANCE_BEATS)
        });
        self.block = BlockTime::new(start, tempo, t.sample_rate, len);
        if started_or_stopped || jumped {
            // The pending answer was scheduled on the old timeline.
            self.stop_answer(0, emit);
            self.phrase_end = None;
            self.phrase_has_notes = false;
            self.send(ToWorker::Reset);
        }
        if settings.channel != self.settings.channel || (!settings.enabled && self.settings.enabled)
        {
            self.stop_answer(0, emit);
        }
        self.settings = settings;
        self.was_playing = t.playing;
        self.beats_per_bar = t.beats_per_bar;
        if let Some(bar) = t.bar_start_beats.filter(|_| t.playing) {
            self.bar_origin = bar;
        }
        self.stats
            .now_beat_bits
            .store(start.to_bits(), Ordering::Relaxed);
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
                FromWorker::ModelChanged => self.stop_answer(0, emit),
            }
        }
    }

    /// Ends the answer in progress: every generated note stops at `timing`.
    pub fn stop_answer(&mut self, timing: u32, emit: &mut impl FnMut(OutEvent)) {
        if self.answering {
            self.send(ToWorker::Cancel);
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
            let Some(timing) = self.block.offset_of(p.beat) else {
                break;
            };
            if timing >= until {
                break;
            }
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

    /// Handles a note the player played at sample `timing` (velocity 0 = release).
    pub fn input_note(
        &mut self,
        timing: u32,
        channel: u8,
        pitch: u8,
        velocity: u8,
        emit: &mut impl FnMut(OutEvent),
    ) {
        self.play_until(timing + 1, emit);
        let pitch = pitch & 127;
        let beat = self.block.beat_at(timing);
        if velocity > 0 {
            if self.answering {
                // The player takes over: the answer yields at once.
                self.stop_answer(timing, emit);
            }
            self.held[pitch as usize] = self.held[pitch as usize].saturating_add(1);
            self.held_total += 1;
            self.phrase_has_notes = true;
            self.phrase_end = None;
        } else if self.held[pitch as usize] > 0 {
            self.held[pitch as usize] -= 1;
            self.held_total -= 1;
            if self.held_total == 0 {
                self.phrase_end = Some(beat);
            }
        }
        if self.settings.enabled {
            self.send(ToWorker::Played {
                pitch,
                velocity,
                beat,
            });
        }
        if self.settings.pass_through {
            emit(if velocity > 0 {
                OutEvent::On {
                    timing,
                    channel,
                    pitch,
                    velocity,
                }
            } else {
                OutEvent::Off {
                    timing,
                    channel,
                    pitch,
                }
            });
        }
    }

    /// Finishes the block: plays what is due and asks for an answer if the player has paused
    /// long enough.
    pub fn end_block(&mut self, emit: &mut impl FnMut(OutEvent)) {
        self.receive(emit);
        self.play_until(self.block.len, emit);
        let end = self.block.end_beat();
        if let Some(released) = self.phrase_end {
            let silent_from = released + self.settings.silence_beats;
            if self.settings.enabled
                && self.phrase_has_notes
                && self.held_total == 0
                && end >= silent_from
            {
                let start = quantize_start(
                    silent_from,
                    self.settings.quantize,
                    self.bar_origin,
                    self.beats_per_bar,
                );
                self.answer_id = self.answer_id.wrapping_add(1);
                self.answering = true;
                self.pending.clear();
                let length_beats = f64::from(self.settings.length_bars) * self.beats_per_bar;
                self.send(ToWorker::Answer {
                    id: self.answer_id,
                    start_beat: start,
                    length_beats,
                });
                self.phrase_end = None;
                self.phrase_has_notes = false;
            }
        }
        if !self.was_playing {
            self.free_beat = end;
        }
        self.expected_beat = Some(end);
    }

    /// Ends the answer and forgets the phrase where no events can be sent (host reset,
    /// deactivation): the note-offs of generated notes still sounding are owed to the next
    /// block.
    pub fn reset(&mut self) {
        let mut owed = self.owed_offs;
        self.stop_answer(0, &mut |e| {
            if let OutEvent::Off { channel, pitch, .. } = e {
                owed[usize::from(pitch)] = Some(channel);
            }
        });
        self.owed_offs = owed;
        self.held = [0; 128];
        self.held_total = 0;
        self.phrase_end = None;
        self.phrase_has_notes = false;
        self.expected_beat = None;
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
    use crossbeam_channel::bounded;

    struct Rig {
        engine: Engine,
        worker_rx: Receiver<ToWorker>,
        worker_tx: Sender<FromWorker>,
    }

    fn rig() -> Rig {
        let (to_w, worker_rx) = bounded(64);
        let (worker_tx, from_w) = bounded(64);
        Rig {
            engine: Engine::new(to_w, from_w, Arc::default()),
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
                length_beats: 8.0
            }]
        );
        assert!(r.engine.is_answering());
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
        assert!(r.worker_rx.try_iter().any(|m| m == ToWorker::Cancel));
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
        assert!(r.worker_rx.try_iter().any(|m| m == ToWorker::Cancel));
    }

    #[test]
    fn transport_jump_cancels_and_free_clock_runs_when_stopped() {
        let mut r = rig();
        block(&mut r, 0.0, |_, _| {});
        block(&mut r, 8.0, |_, _| {}); // loop/relocate
        assert!(r.worker_rx.try_iter().any(|m| m == ToWorker::Reset));
        let stopped = Transport {
            playing: false,
            pos_beats: Some(0.0),
            ..playing(0.0)
        };
        let mut sink = |_| {};
        r.engine
            .begin_block(&stopped, Settings::default(), 24_000, &mut sink);
        r.engine.end_block(&mut sink);
        let before = r.engine.block.end_beat();
        r.engine
            .begin_block(&stopped, Settings::default(), 24_000, &mut sink);
        assert_eq!(
            r.engine.block.start_beat, before,
            "own clock advances while stopped"
        );
    }
}
