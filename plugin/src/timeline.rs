//! Beat ↔ sample arithmetic and start quantization: pure functions the audio thread uses to
//! place events inside a block.

/// Tempo when the host gives none, or one that cannot be (0, negative, NaN).
pub const DEFAULT_TEMPO: f64 = 120.0;

/// `bpm` if a clock can run at it, else [`DEFAULT_TEMPO`].
pub fn usable_tempo(bpm: f64) -> f64 {
    if bpm.is_finite() && bpm > 0.0 {
        bpm
    } else {
        DEFAULT_TEMPO
    }
}

/// Where a block sits on the musical timeline.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BlockTime {
    /// Beat (quarter note) at the block's first sample.
    pub start_beat: f64,
    /// Samples per beat at the block's tempo.
    pub samples_per_beat: f64,
    /// Block length in samples.
    pub len: u32,
}

impl BlockTime {
    pub fn new(start_beat: f64, tempo_bpm: f64, sample_rate: f64, len: u32) -> Self {
        Self {
            start_beat,
            samples_per_beat: sample_rate * 60.0 / usable_tempo(tempo_bpm),
            len,
        }
    }

    pub fn end_beat(&self) -> f64 {
        self.start_beat + f64::from(self.len) / self.samples_per_beat
    }

    /// Beat of sample `offset` within the block.
    pub fn beat_at(&self, offset: u32) -> f64 {
        self.start_beat + f64::from(offset) / self.samples_per_beat
    }

    /// Sample offset of `beat` inside the block, or `None` if it lies at or after the block's
    /// end. Beats before the block (late events) map to offset 0.
    pub fn offset_of(&self, beat: f64) -> Option<u32> {
        let samples = ((beat - self.start_beat) * self.samples_per_beat).round();
        if samples >= f64::from(self.len) {
            None
        } else {
            Some(samples.max(0.0) as u32)
        }
    }
}

/// Where a continuation may start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartQuantize {
    /// On the next 16th note.
    Sixteenth,
    /// On the next beat of the meter's pulse ([`TimeSig::pulse_beats`]), counted from the
    /// bar: in 6/8 an answer starts on a dotted quarter, not between the 8ths of a group.
    Beat,
    Bar,
}

/// The first allowed start at or after `beat`, in bars of `sig`. `bar_origin` is any beat
/// where a bar starts.
pub fn quantize_start(beat: f64, q: StartQuantize, bar_origin: f64, sig: TimeSig) -> f64 {
    let (origin, unit) = match q {
        StartQuantize::Sixteenth => (0.0, 0.25),
        StartQuantize::Beat => (bar_origin, sig.pulse_beats()),
        StartQuantize::Bar => (bar_origin, sig.beats_per_bar().max(1e-6)),
    };
    next_on_grid(beat, unit, origin)
}

use continuo_core::grid::next_on_grid;
pub use continuo_core::grid::TimeSig;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn beats_map_to_sample_offsets() {
        // 120 bpm at 48 kHz: 24000 samples per beat.
        let b = BlockTime::new(10.0, 120.0, 48_000.0, 512);
        assert_eq!(b.samples_per_beat, 24_000.0);
        assert_eq!(b.offset_of(10.0), Some(0));
        assert_eq!(b.offset_of(10.01), Some(240));
        assert_eq!(b.offset_of(9.0), Some(0), "late events play at once");
        assert_eq!(b.offset_of(b.end_beat()), None);
        assert!((b.beat_at(240) - 10.01).abs() < 1e-12);
        assert_eq!(
            BlockTime::new(0.0, 0.0, 48_000.0, 1).samples_per_beat,
            24_000.0,
            "bad tempo falls back to 120"
        );
    }

    #[test]
    fn quantization_rounds_up_to_grid() {
        let common = TimeSig::COMMON;
        let three_four = TimeSig::from_host(Some(3), Some(4));
        let six_eight = TimeSig::from_host(Some(6), Some(8));
        use StartQuantize::{Bar, Beat, Sixteenth};
        // (beat, quantize, bar origin, meter, start); in 6/8 the beat is the dotted quarter,
        // counted from the bar.
        for (beat, q, origin, sig, start) in [
            (5.2, Beat, 0.0, common, 6.0),
            (6.0, Beat, 0.0, common, 6.0),
            (5.2, Bar, 0.0, common, 8.0),
            (5.2, Bar, 1.0, three_four, 7.0),
            (5.3, Sixteenth, 0.0, common, 5.5),
            (6.2, Beat, 0.0, six_eight, 7.5),
            (6.2, Beat, 1.0, six_eight, 7.0),
            (7.6, Beat, 0.0, six_eight, 9.0),
        ] {
            assert_eq!(
                quantize_start(beat, q, origin, sig),
                start,
                "{beat} {q:?} {sig:?}"
            );
        }
        assert_eq!(TimeSig::from_host(Some(6), Some(8)).beats_per_bar(), 3.0);
        assert_eq!(TimeSig::from_host(Some(0), Some(0)), TimeSig::COMMON);
        assert_eq!(TimeSig::from_host(None, Some(8)), TimeSig::COMMON);
    }
}
