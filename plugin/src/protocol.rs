//! Messages between the audio thread and the inference thread. All `Copy` and fixed-size, so
//! sending them through a bounded `crossbeam_channel` never allocates.

/// Audio thread → inference thread.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ToWorker {
    /// A key the player pressed (`velocity` > 0) or released (`velocity` == 0), at `beat`.
    Played { pitch: u8, velocity: u8, beat: f64 },
    /// The phrase ended: answer it with `length_beats` of music starting at `start_beat`.
    Answer {
        id: u32,
        start_beat: f64,
        length_beats: f64,
    },
    /// Stop the answer in progress (player interrupted, transport stopped or jumped).
    Cancel,
    /// Forget the phrase collected so far as well.
    Reset,
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
