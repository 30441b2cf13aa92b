//! Where a block sits on the musical timeline: the host's transport when it gives a usable
//! one, Continuo's own clock when it does not (stopped, no position, non-finite values).

use super::Transport;
use crate::protocol::Meter;
use crate::timeline::{quantize_start, BlockTime, StartQuantize, TimeSig, DEFAULT_TEMPO};

/// A transport position this far from where the last block ended is a jump (loop, relocate).
const JUMP_TOLERANCE_BEATS: f64 = 1e-3;
/// Hosts round the beat position they report: Ardour to its tick, 1/1920 beat, up to 6
/// samples at 120 BPM and 48 kHz. A position within a tick of where the last block ended is
/// that same place, and the block goes on from there, so that the answer's notes fall on
/// the same samples whatever the block size. Farther off (a tempo ramp the blocks' tempos
/// only approximate), the host's position is followed again.
const ROUNDING_BEATS: f64 = 1.0 / 1920.0;

#[derive(Debug, Clone)]
pub struct Clock {
    block: BlockTime,
    was_playing: bool,
    expected_beat: Option<f64>,
    /// Beat position while Continuo keeps time itself, so you can jam without pressing play.
    free_beat: f64,
    /// This block runs on `free_beat`.
    free_running: bool,
    bar_origin: f64,
    time_sig: TimeSig,
    tempo: f64,
}

impl Default for Clock {
    fn default() -> Self {
        Self {
            block: BlockTime::new(0.0, DEFAULT_TEMPO, 48_000.0, 0),
            was_playing: false,
            expected_beat: None,
            free_beat: 0.0,
            free_running: true,
            bar_origin: 0.0,
            time_sig: TimeSig::COMMON,
            tempo: DEFAULT_TEMPO,
        }
    }
}

impl Clock {
    /// Places a block of `len` samples. Returns whether the timeline broke (the transport
    /// started, stopped or jumped): anything scheduled on the old one is void.
    pub fn begin(&mut self, t: &Transport, len: u32) -> bool {
        let tempo = t.tempo.unwrap_or(DEFAULT_TEMPO);
        let host_beat = t.pos_beats.filter(|b| t.playing && b.is_finite());
        let start = match (host_beat, self.expected_beat) {
            (Some(b), Some(e))
                if (b - e).abs() < ROUNDING_BEATS && t.playing == self.was_playing =>
            {
                e
            }
            (Some(b), _) => b,
            (None, _) => self.free_beat,
        };
        let started_or_stopped = t.playing != self.was_playing;
        let jumped = host_beat.is_some_and(|b| {
            self.expected_beat
                .is_some_and(|e| (b - e).abs() > JUMP_TOLERANCE_BEATS)
        });
        self.block = BlockTime::new(start, tempo, t.sample_rate, len);
        self.free_running = host_beat.is_none();
        self.was_playing = t.playing;
        self.time_sig = t.time_sig;
        self.tempo = crate::timeline::usable_tempo(tempo);
        if let Some(bar) = t.bar_start_beats.filter(|b| t.playing && b.is_finite()) {
            self.bar_origin = bar;
        }
        started_or_stopped || jumped
    }

    /// The block is over: the next one is expected where it ended.
    pub fn end(&mut self) {
        let end = self.block.end_beat();
        if self.free_running {
            self.free_beat = end;
        }
        self.expected_beat = Some(end);
    }

    /// The block may not follow the last one (the host reset or suspended the plugin).
    pub fn forget_position(&mut self) {
        self.expected_beat = None;
    }

    pub fn block(&self) -> &BlockTime {
        &self.block
    }

    pub fn beats_per_bar(&self) -> f64 {
        self.time_sig.beats_per_bar()
    }

    /// Tempo (the host's, where usable) and time signature of this block.
    pub fn meter(&self) -> Meter {
        Meter {
            bpm: self.tempo,
            time_sig: self.time_sig,
            bar_origin: self.bar_origin,
        }
    }

    /// The first start allowed by `q` at or after `beat`, on this timeline's bars.
    pub fn start_at_or_after(&self, beat: f64, q: StartQuantize) -> f64 {
        quantize_start(beat, q, self.bar_origin, self.time_sig)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(pos: Option<f64>, playing: bool) -> Transport {
        Transport {
            playing,
            pos_beats: pos,
            ..Transport::running(0.0, 120.0, 48_000.0)
        }
    }

    #[test]
    fn follows_the_host_and_runs_on_its_own_without_a_position() {
        let mut c = Clock::default();
        assert!(c.begin(&at(Some(0.0), true), 24_000), "started");
        c.end();
        assert!(!c.begin(&at(Some(1.0), true), 24_000), "continues");
        c.end();
        assert!(c.begin(&at(Some(8.0), true), 24_000), "jumped");
        c.end();
        // Playing without a position (or a NaN one): the own clock goes on from 0.
        for pos in [None, Some(f64::NAN)] {
            let mut c = Clock::default();
            c.begin(&at(pos, true), 24_000);
            c.end();
            c.begin(&at(pos, true), 24_000);
            assert_eq!(c.block().start_beat, 1.0);
        }
    }

    #[test]
    fn in_six_eight_the_next_beat_is_the_next_dotted_quarter_of_the_hosts_bars() {
        let mut c = Clock::default();
        c.begin(
            &Transport {
                time_sig: TimeSig::from_host(Some(6), Some(8)),
                bar_start_beats: Some(7.0),
                ..at(Some(8.2), true)
            },
            24_000,
        );
        // Bars of three beats from beat 7 (a bar of 4/4 and one of 3/4 before, say).
        assert_eq!(c.start_at_or_after(8.2, StartQuantize::Beat), 8.5);
        assert_eq!(c.start_at_or_after(8.6, StartQuantize::Beat), 10.0);
        assert_eq!(c.start_at_or_after(8.2, StartQuantize::Bar), 10.0);
        // The answer's model hears the same bars.
        assert_eq!(c.meter().bar_origin, 7.0);
    }

    #[test]
    fn a_rounded_host_position_continues_the_last_block_exactly() {
        // Blocks of 1000 samples (1/24 beat) from a host that rounds to 1/1920 beat.
        let mut c = Clock::default();
        let rounded = |beat: f64| (beat * 1920.0).round() / 1920.0;
        for k in 0..200 {
            let exact = f64::from(k) / 24.0;
            assert!(!c.begin(&at(Some(rounded(exact)), true), 1000) || k == 0);
            assert!((c.block().start_beat - exact).abs() < 1e-9, "block {k}");
            c.end();
        }
        // A position farther off than the rounding is followed.
        c.begin(&at(Some(200.0 / 24.0 + 0.0008), true), 1000);
        assert_eq!(c.block().start_beat, 200.0 / 24.0 + 0.0008);
    }
}
