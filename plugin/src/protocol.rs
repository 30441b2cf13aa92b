//! The contract between the audio thread and the inference thread: messages (all `Copy` and
//! fixed-size, so sending them through a bounded `crossbeam_channel` never allocates) and the
//! atomics that say where each side is.
//!
//! Timing: the audio thread publishes the beat its current block ends on
//! ([`Playhead::block_end`]); the inference thread generates the answer until
//! [`LOOKAHEAD_BEATS`] past it and publishes how far it got ([`Progress`]), after sending
//! every note before that point. In real time the audio thread never waits: a note that comes
//! late plays at once. Rendering offline (a bounce or export, faster or slower than real time),
//! it waits before each block until the answer is generated through the block's end, so the
//! render holds exactly the notes a real-time run plays, whatever the block size and speed.

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};

use crossbeam_channel::{bounded, Receiver, Sender};

use crate::timeline::TimeSig;

/// Audio thread → inference thread.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ToWorker {
    /// A key the player pressed (`velocity` > 0) or released (`velocity` == 0), at `beat`.
    Played { pitch: u8, velocity: u8, beat: f64 },
    /// The sustain pedal went down or came up (any channel), at `beat`.
    Pedal { down: bool, beat: f64 },
    /// Answer `prompt` with `length_beats` of music starting at `start_beat`.
    Answer {
        id: u32,
        start_beat: f64,
        length_beats: f64,
        prompt: Prompt,
        meter: Meter,
    },
    /// The phrase fell silent: if it stays so, its answer will be asked for with these
    /// (sent again whenever they change). The inference thread draws the answer's lead-in
    /// meanwhile, so a long pause before it delays its first note no more than a short one.
    Expect {
        start_beat: f64,
        length_beats: f64,
        meter: Meter,
    },
    /// Stop the answer in progress at `beat` (player interrupted, transport stopped or
    /// jumped): nothing after it was heard.
    Cancel { beat: f64 },
    /// Forget the phrase collected so far as well.
    Reset,
}

/// What an answer answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Prompt {
    /// The phrase the player just ended.
    Phrase,
    /// The last phrase once more, with a new seed: a variation the player asked for.
    Again,
}

/// Tempo and time signature an exchange is played in; the clips a player keeps carry them.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Meter {
    pub bpm: f64,
    pub time_sig: TimeSig,
    /// A beat a bar starts on (the host's latest bar line): bars of `time_sig` run through
    /// it, not necessarily through beat 0 (after a change of meter, say).
    pub bar_origin: f64,
}

impl Default for Meter {
    fn default() -> Self {
        Self {
            bpm: crate::timeline::DEFAULT_TEMPO,
            time_sig: TimeSig::COMMON,
            bar_origin: 0.0,
        }
    }
}

/// Inference thread → audio thread.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum FromWorker {
    /// A generated note event of answer `id`; `velocity` 0 ends the note.
    Note {
        id: u32,
        beat: f64,
        pitch: u8,
        velocity: u8,
    },
    /// The model changed: end every generated note (it belongs to the old model's answer).
    ModelChanged,
}

/// Queue depths. The audio thread drops (and counts) what does not fit rather than wait.
pub const TO_WORKER_CAPACITY: usize = 4096;
pub const FROM_WORKER_CAPACITY: usize = 4096;

/// Highest seed a player can type; "Vary" draws its seeds from `1..=SEED_MAX` so any answer
/// can be played again by typing its seed.
pub const SEED_MAX: u64 = 9999;

/// The audio thread's end of the connection.
pub struct EngineEnd {
    pub to_worker: Sender<ToWorker>,
    pub from_worker: Receiver<FromWorker>,
}

/// The inference thread's end of the connection.
pub struct WorkerEnd {
    pub from_engine: Receiver<ToWorker>,
    pub to_engine: Sender<FromWorker>,
}

/// The two bounded queues between the audio thread and the inference thread, and what both
/// share besides them.
pub fn connect() -> (EngineEnd, WorkerEnd, std::sync::Arc<EngineStats>) {
    let (to_worker, from_engine) = bounded(TO_WORKER_CAPACITY);
    let (to_engine, from_worker) = bounded(FROM_WORKER_CAPACITY);
    (
        EngineEnd {
            to_worker,
            from_worker,
        },
        WorkerEnd {
            from_engine,
            to_engine,
        },
        std::sync::Arc::default(),
    )
}

/// What the audio thread and the inference thread share besides their queues.
#[derive(Debug, Default)]
pub struct EngineStats {
    /// Events dropped because a queue was full.
    pub dropped: AtomicU64,
    pub playhead: Playhead,
    pub progress: Progress,
    /// The window asks for another answer to the last phrase (*Again*); the audio thread
    /// takes the request at its next block.
    pub again: AtomicBool,
}

/// Generation stays this many beats ahead of the end of the audio thread's block.
pub const LOOKAHEAD_BEATS: f64 = 2.0;

/// Where the audio thread is, for the inference thread.
#[derive(Debug, Default)]
pub struct Playhead {
    start_bits: AtomicU64,
    end_bits: AtomicU64,
}

impl Playhead {
    /// Audio thread: the block now processed spans `start..end` beats.
    pub fn publish(&self, start: f64, end: f64) {
        self.start_bits.store(start.to_bits(), Ordering::Relaxed);
        self.end_bits.store(end.to_bits(), Ordering::Relaxed);
    }

    /// Beat at the start of the block now processed: "now".
    pub fn now(&self) -> f64 {
        f64::from_bits(self.start_bits.load(Ordering::Relaxed))
    }

    /// Beat the block now processed ends on: generation must be ahead of it.
    pub fn block_end(&self) -> f64 {
        f64::from_bits(self.end_bits.load(Ordering::Relaxed))
    }
}

/// How far the inference thread has generated answer `id`.
#[derive(Debug)]
pub struct Progress {
    id: AtomicU32,
    through_bits: AtomicU64,
}

impl Default for Progress {
    fn default() -> Self {
        Self {
            id: AtomicU32::new(u32::MAX),
            through_bits: AtomicU64::new(0f64.to_bits()),
        }
    }
}

impl Progress {
    /// Inference thread: every note of answer `id` before `beat` has been sent;
    /// `f64::INFINITY` once the answer is complete or will never come.
    pub fn publish(&self, id: u32, beat: f64) {
        // The beat first: a reader that sees `id` (acquire) also sees a beat for it.
        self.through_bits.store(beat.to_bits(), Ordering::Release);
        self.id.store(id, Ordering::Release);
    }

    /// Audio thread: whether answer `id`'s notes before `beat` have all been sent.
    pub fn covers(&self, id: u32, beat: f64) -> bool {
        self.id.load(Ordering::Acquire) == id
            && f64::from_bits(self.through_bits.load(Ordering::Acquire)) >= beat
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_covers_only_its_answer_up_to_its_beat() {
        let p = Progress::default();
        assert!(!p.covers(0, 0.0), "nothing generated yet");
        p.publish(3, 10.0);
        assert!(p.covers(3, 10.0) && p.covers(3, 2.0));
        assert!(!p.covers(3, 10.5));
        assert!(!p.covers(4, 0.0), "another answer");
        p.publish(4, f64::INFINITY);
        assert!(p.covers(4, 1e9));
    }
}
