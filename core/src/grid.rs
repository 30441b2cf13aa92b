//! Where an event sits in the beat and in the bar: what a model of contract 2 is told beside
//! each token, so that it hears the meter instead of counting time shifts to find it.
//!
//! Time is counted in grid steps (`1 / steps_per_beat` beat) from beat 0 of the piece, or of
//! the host's timeline. Bars are counted from each time signature change; before the first
//! one, and where there is none, the meter is 4/4 from beat 0.

use crate::midi::{sort_notes, Note};
use crate::vocab::{Token, Vocab};

/// Beats in a bar that the model tells apart; later beats of a longer bar share the last.
pub const BAR_BEATS: usize = 16;

/// A time signature, as a host or a MIDI file states it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeSig {
    pub numerator: u8,
    pub denominator: u8,
}

impl Default for TimeSig {
    fn default() -> Self {
        Self::COMMON
    }
}

impl TimeSig {
    pub const COMMON: Self = Self {
        numerator: 4,
        denominator: 4,
    };

    /// The host's numerator and denominator, or 4/4 where they are missing or unusable.
    pub fn from_host(numerator: Option<i32>, denominator: Option<i32>) -> Self {
        match (numerator, denominator) {
            (Some(n @ 1..=255), Some(d @ 1..=255)) => Self {
                numerator: n as u8,
                denominator: d as u8,
            },
            _ => Self::COMMON,
        }
    }

    /// Beats (quarter notes) in a bar.
    pub fn beats_per_bar(self) -> f64 {
        f64::from(self.numerator.max(1)) * 4.0 / f64::from(self.denominator.max(1))
    }

    /// Beats (quarter notes) in the pulse a player counts: a dotted quarter in 6/8, 9/8 and
    /// 12/8 (compound meters group their 8ths in threes), otherwise the note the denominator
    /// names: a quarter in 3/4, a half in 2/2, an 8th in 3/8, 5/8 and 7/8.
    pub fn pulse_beats(self) -> f64 {
        let note = 4.0 / f64::from(self.denominator.max(1));
        let compound =
            self.denominator >= 8 && self.numerator > 3 && self.numerator.is_multiple_of(3);
        if compound {
            3.0 * note
        } else {
            note
        }
    }
}

/// The first beat at or after `beat` on a grid of `unit` beats through `origin` (beats a
/// hair past a grid line, from rounding, count as on it): where an answer quantized to that
/// grid may start.
pub fn next_on_grid(beat: f64, unit: f64, origin: f64) -> f64 {
    const EPS: f64 = 1e-6;
    origin + ((beat - origin) / unit - EPS).ceil() * unit
}

/// The lines a played onset may be read on: 16ths and 8th-note triplets, in beats.
const READ_LINES: [f64; 2] = [0.25, 1.0 / 3.0];
/// Notes struck closer together than this (beats) are one onset: a chord's notes, which a
/// hand strikes some milliseconds apart (42 ms at 120 BPM). At a 16th of a beat, chords
/// played with 20 ms of spread still came apart.
pub const CHORD_SPREAD_BEATS: f64 = 1.0 / 12.0;
/// The furthest an onset is moved onto a line of [`READ_LINES`], in beats (42 ms at 120
/// BPM), and never more than a quarter of the way to the onsets beside it, so that a run of
/// 32nds stays as played.
pub const READ_TOLERANCE_BEATS: f64 = 1.0 / 12.0;

/// A phrase as played, read as the notation it means: the notes of a chord struck together,
/// and each onset near a line of the 16th or 8th-triplet grid on that line, each note keeping
/// its length. A player's onsets stray from the grid by 10–20 ms; the model, trained on
/// scores, read those strays as written rhythm, and answered a waltz, block chords or a
/// boogie played by hand with split chords off the beat. Onsets further from every line (a
/// rubato, a note well between two 16ths) are kept as played; a light swing is read as the
/// nearer of straight and triplet 8ths, as notation writes it.
///
/// A phrase written rather than played (from a sequencer, a quantized recording, a score
/// file) is read as it is, tuplets, grace notes and all: on the tuning pieces, reading two
/// scores full of ornaments as played took onsets in the beat from 0.832 to 0.811.
pub fn read_on_grid(notes: &mut [Note]) {
    sort_notes(notes);
    if is_written(notes) {
        return;
    }
    // Onsets: runs of notes starting within the chord spread of the run's first, and where
    // they were struck on average.
    let mut onsets: Vec<(usize, usize, f64)> = Vec::new();
    let mut from = 0;
    while from < notes.len() {
        let first = notes[from].start;
        let to = from
            + notes[from..]
                .iter()
                .take_while(|n| n.start - first < CHORD_SPREAD_BEATS)
                .count();
        let mean = notes[from..to].iter().map(|n| n.start).sum::<f64>() / (to - from) as f64;
        onsets.push((from, to, mean));
        from = to;
    }
    for (k, &(from, to, at)) in onsets.iter().enumerate() {
        let before = k.checked_sub(1).map_or(f64::INFINITY, |j| at - onsets[j].2);
        let after = onsets.get(k + 1).map_or(f64::INFINITY, |o| o.2 - at);
        let tolerance = READ_TOLERANCE_BEATS.min(before.min(after) / 4.0);
        let line = READ_LINES
            .iter()
            .map(|&unit| (at / unit).round() * unit)
            .min_by(|a, b| (a - at).abs().total_cmp(&(b - at).abs()))
            .expect("lines");
        // Already on the line (within rounding), an onset stays exactly as it was.
        let off = (line - at).abs();
        let start = if off > 1e-9 && off <= tolerance + 1e-9 {
            line
        } else {
            at
        };
        for n in &mut notes[from..to] {
            *n = n.moved(start - n.start);
        }
    }
    sort_notes(notes);
}

/// Whether `notes` (sorted) were written rather than played: most of the times between
/// their onsets are whole 96ths of a beat, as a sequencer's or a score's are, wherever the
/// phrase starts. Within a quarter of a thousandth of a beat, which a clip played through a
/// host keeps (its onsets are rounded to samples: at 22.05 kHz and 240 BPM, a ten-thousandth
/// of a beat each) and a hand's gaps come to about once in twenty.
fn is_written(notes: &[Note]) -> bool {
    const FINE: f64 = 96.0;
    const CLOSE: f64 = 2.5e-4 * FINE;
    let mut gaps = 0;
    let mut even = 0;
    for w in notes.windows(2) {
        let gap = (w[1].start - w[0].start) * FINE;
        if gap > 0.0 {
            gaps += 1;
            even += usize::from((gap.round() - gap).abs() <= CLOSE);
        }
    }
    2 * even >= gaps
}

/// An event's place on the grid: the model's two position inputs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Position {
    /// Grid steps since the last beat of the bar, `0..steps_per_beat`.
    pub phase: u16,
    /// Whole beats since the bar began, `0..BAR_BEATS` (the last holds the rest of a long bar).
    pub bar_beat: u8,
}

/// A meter's bars on the grid: one starts at grid step `origin` (from beat 0), and each is
/// `steps` grid steps long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bar {
    pub origin: i64,
    pub steps: u32,
}

impl Bar {
    /// Which bar grid step `step` falls in (0 holds `origin`), and the place in it.
    pub fn place(self, step: i64) -> (i64, usize) {
        let steps = i64::from(self.steps.max(1));
        let from = step - self.origin;
        (from.div_euclid(steps), from.rem_euclid(steps) as usize)
    }
}

/// The time signatures of a piece, each from the beat it starts on.
#[derive(Debug, Clone, PartialEq)]
pub struct Meter {
    /// Sorted by beat; the first starts at beat 0.
    changes: Vec<(f64, TimeSig)>,
}

impl Default for Meter {
    fn default() -> Self {
        Self::constant(TimeSig::COMMON)
    }
}

impl Meter {
    /// One time signature throughout, bars counted from beat 0.
    pub fn constant(sig: TimeSig) -> Self {
        Self {
            changes: vec![(0.0, sig)],
        }
    }

    /// One time signature throughout, its bars running through `origin` (any beat a bar
    /// starts on): the host's bars after a change of meter, which need not line up with beat 0.
    /// Before the first of them from beat 0, the bars count from 0.
    pub fn through(sig: TimeSig, origin: f64) -> Self {
        let first = if origin.is_finite() {
            origin.rem_euclid(sig.beats_per_bar().max(1e-6))
        } else {
            0.0
        };
        let mut changes = vec![(0.0, sig)];
        if first > 1e-9 {
            changes.push((first, sig));
        }
        Self { changes }
    }

    /// From time signature changes at beats (any order). 4/4 holds before the first change;
    /// of two changes at one beat the later listed wins.
    pub fn from_changes(changes: impl IntoIterator<Item = (f64, TimeSig)>) -> Self {
        let mut all: Vec<(f64, TimeSig)> = changes
            .into_iter()
            .filter(|(b, _)| b.is_finite())
            .map(|(b, s)| (b.max(0.0), s))
            .collect();
        all.sort_by(|a, b| a.0.total_cmp(&b.0));
        let mut changes: Vec<(f64, TimeSig)> = vec![(0.0, TimeSig::COMMON)];
        for (beat, sig) in all {
            match changes.last_mut() {
                Some(last) if last.0 == beat => last.1 = sig,
                Some(last) if last.1 == sig => {}
                _ => changes.push((beat, sig)),
            }
        }
        Self { changes }
    }

    /// The changes, first at beat 0.
    pub fn changes(&self) -> &[(f64, TimeSig)] {
        &self.changes
    }

    /// The time signature in force at `beat`.
    pub fn sig_at(&self, beat: f64) -> TimeSig {
        self.change_at(beat).1
    }

    /// The change in force at `beat`: the beat it starts on, where its bars (and pulses)
    /// count from, and its time signature.
    pub fn change_at(&self, beat: f64) -> (f64, TimeSig) {
        let i = self.changes.partition_point(|(b, _)| *b <= beat);
        self.changes[i.saturating_sub(1)]
    }

    /// The bar in force at grid step `step` (from beat 0): where its bars line up and how
    /// long each is, in grid steps.
    pub fn bar_at(&self, step: i64, steps_per_beat: u32) -> Bar {
        let spb = f64::from(steps_per_beat.max(1));
        let (from, sig) = self.change_at(step as f64 / spb);
        Bar {
            origin: (from * spb).round() as i64,
            steps: ((sig.beats_per_bar() * spb).round() as u32).max(1),
        }
    }

    /// Where grid step `step` (from beat 0; negative before it) falls.
    pub fn position(&self, step: i64, steps_per_beat: u32) -> Position {
        let spb = i64::from(steps_per_beat.max(1));
        let in_bar = self.bar_at(step, steps_per_beat).place(step).1 as i64;
        Position {
            phase: (in_bar % spb) as u16,
            bar_beat: (in_bar / spb).min(BAR_BEATS as i64 - 1) as u8,
        }
    }

    /// The position after each of `tokens`, read from grid step `start` on: the time at which
    /// the model predicts what follows it.
    pub fn positions(&self, tokens: &[Token], start: i64, vocab: &Vocab) -> Vec<Position> {
        let mut tracker = Tracker::new(start);
        tokens
            .iter()
            .map(|&t| tracker.advance(t, self, vocab))
            .collect()
    }
}

/// Follows the grid step of a token stream as it is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Tracker {
    step: i64,
}

impl Tracker {
    pub fn new(step: i64) -> Self {
        Self { step }
    }

    /// The current grid step.
    pub fn step(&self) -> i64 {
        self.step
    }

    /// Reads `token` and returns the position it leaves the stream at.
    pub fn advance(&mut self, token: Token, meter: &Meter, vocab: &Vocab) -> Position {
        if let Token::TimeShift(n) = token {
            self.step += i64::from(n);
        }
        meter.position(self.step, vocab.steps_per_beat)
    }
}

/// Grid step nearest to `beat`.
pub fn step_of(beat: f64, vocab: &Vocab) -> i64 {
    (beat * f64::from(vocab.steps_per_beat)).round() as i64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bar_in_force_counts_from_its_change_of_meter() {
        let waltz = TimeSig {
            numerator: 3,
            denominator: 4,
        };
        let meter = Meter::from_changes([(8.0, waltz)]);
        let common = meter.bar_at(5, 24);
        assert_eq!(
            common,
            Bar {
                origin: 0,
                steps: 96
            }
        );
        assert_eq!(common.place(-1), (-1, 95));
        let bar = meter.bar_at(8 * 24 + 10, 24);
        assert_eq!(
            bar,
            Bar {
                origin: 192,
                steps: 72
            }
        );
        assert_eq!(bar.place(192 + 80), (1, 8));
    }

    fn played(pitch: u8, start: f64, end: f64) -> Note {
        Note {
            pitch,
            velocity: 80,
            start,
            end,
        }
    }

    #[test]
    fn a_phrase_played_by_hand_is_read_on_its_grid() {
        let mut notes = vec![
            // A chord struck a little late, its notes 10 ms apart at 120 BPM.
            played(48, 1.03, 1.8),
            played(52, 1.05, 1.9),
            played(55, 1.01, 1.7),
            // A swung 8th a little early, and a note far from any line, kept as played.
            played(60, 1.64, 1.9),
            played(62, 2.12, 2.4),
            // A 16th a little early.
            played(64, 2.72, 2.9),
        ];
        read_on_grid(&mut notes);
        let starts: Vec<(u8, f64)> = notes.iter().map(|n| (n.pitch, n.start)).collect();
        let third = 1.0 + 2.0 / 3.0;
        assert_eq!(starts[..3], [(48, 1.0), (52, 1.0), (55, 1.0)]);
        assert!((starts[3].1 - third).abs() < 1e-9, "{starts:?}");
        assert_eq!(starts[4], (62, 2.12));
        assert_eq!(starts[5], (64, 2.75));
        assert!(
            (notes[0].end - 1.77).abs() < 1e-9,
            "each note keeps its length"
        );
    }

    #[test]
    fn a_run_of_32nds_played_by_hand_stays_a_run() {
        // Each note a millisecond or two off, as hands play.
        let off = [0.004, -0.003, 0.002, -0.004, 0.003, -0.0015, 0.0025, -0.001];
        let run: Vec<Note> = (0..8u8)
            .map(|i| {
                let start = f64::from(i) * 0.125 + off[usize::from(i)];
                played(60 + i, start, start + 0.1)
            })
            .collect();
        let mut read = run.clone();
        read_on_grid(&mut read);
        for (i, (r, p)) in read.iter().zip(&run).enumerate() {
            // The 16ths go onto their lines; the 32nds between, nearer their neighbours than
            // a quarter of the way, stay as played.
            let expected = if i % 2 == 0 {
                p.start - off[i]
            } else {
                p.start
            };
            assert!((r.start - expected).abs() < 1e-9, "{r:?} from {p:?}");
        }
    }

    #[test]
    fn a_phrase_written_on_the_grid_is_read_as_it_is() {
        // 16th-note triplets, a grace note a 24th before a chord, a 32nd, the whole starting
        // off the grid, as a score's pickup can.
        let written: Vec<Note> = [
            played(60, 0.0, 0.1),
            played(62, 1.0 / 6.0, 0.3),
            played(64, 2.0 / 6.0, 0.45),
            played(59, 23.0 / 24.0, 1.0),
            played(60, 1.0, 1.5),
            played(64, 1.0, 1.5),
            played(67, 1.125, 1.5),
        ]
        .into_iter()
        .map(|n| n.moved(0.112))
        .collect();
        let mut read = written.clone();
        read_on_grid(&mut read);
        assert_eq!(read, written);
        // Played back through a host, each onset rounded to a sample: still written.
        let mut rounded: Vec<Note> = written
            .iter()
            .zip([1.0, -0.7, 0.4, -1.0, 0.8, -0.2, 0.6])
            .map(|(n, e)| n.moved(e * 1e-4))
            .collect();
        sort_notes(&mut rounded);
        let mut read = rounded.clone();
        read_on_grid(&mut read);
        assert_eq!(read, rounded);
    }

    const SPB: u32 = 24;

    #[test]
    fn bars_run_through_the_hosts_bar_line() {
        let waltz = TimeSig {
            numerator: 3,
            denominator: 4,
        };
        // Four bars of 4/4, then 3/4: the host's bar lines are at 16, 19, 22, …
        let m = Meter::through(waltz, 22.0);
        for (beat, bar_beat) in [(16, 0), (17, 1), (19, 0), (23, 1), (100, 0)] {
            assert_eq!(m.position(beat * 24, SPB).bar_beat, bar_beat, "beat {beat}");
        }
        assert_eq!(Meter::through(waltz, 9.0), Meter::constant(waltz));
        assert_eq!(
            Meter::through(TimeSig::COMMON, f64::NAN),
            Meter::constant(TimeSig::COMMON)
        );
    }

    #[test]
    fn positions_count_beats_from_the_bar_in_common_time() {
        let m = Meter::default();
        assert_eq!(m.position(0, SPB), Position::default());
        assert_eq!(
            m.position(24 * 5 + 6, SPB),
            Position {
                phase: 6,
                bar_beat: 1
            }
        );
        // Before beat 0 the bars go on backwards.
        assert_eq!(
            m.position(-1, SPB),
            Position {
                phase: 23,
                bar_beat: 3
            }
        );
    }

    #[test]
    fn a_change_restarts_the_bar_and_six_eight_has_three_beats() {
        let six_eight = TimeSig {
            numerator: 6,
            denominator: 8,
        };
        // A 4/4 bar and a half, then 6/8 from beat 6.
        let m = Meter::from_changes([(6.0, six_eight)]);
        assert_eq!(m.sig_at(5.9), TimeSig::COMMON);
        assert_eq!(m.sig_at(6.0), six_eight);
        assert_eq!(m.position(6 * 24, SPB), Position::default());
        assert_eq!(m.position(9 * 24, SPB), Position::default());
        assert_eq!(
            m.position(8 * 24 + 12, SPB),
            Position {
                phase: 12,
                bar_beat: 2
            }
        );
    }

    #[test]
    fn the_pulse_is_a_dotted_quarter_in_compound_meters() {
        let sig = |numerator, denominator| TimeSig {
            numerator,
            denominator,
        };
        assert_eq!(TimeSig::COMMON.pulse_beats(), 1.0);
        assert_eq!(sig(3, 4).pulse_beats(), 1.0);
        assert_eq!(sig(2, 2).pulse_beats(), 2.0);
        for n in [6, 9, 12] {
            assert_eq!(sig(n, 8).pulse_beats(), 1.5, "{n}/8");
        }
        assert_eq!(sig(12, 16).pulse_beats(), 0.75);
        for n in [3, 5, 7] {
            assert_eq!(sig(n, 8).pulse_beats(), 0.5, "{n}/8");
        }
        assert_eq!(sig(6, 4).pulse_beats(), 1.0);
    }

    #[test]
    fn a_long_bar_shares_its_last_beats() {
        let m = Meter::constant(TimeSig {
            numerator: 21,
            denominator: 4,
        });
        assert_eq!(m.position(20 * 24, SPB).bar_beat as usize, BAR_BEATS - 1);
    }

    #[test]
    fn positions_follow_time_shifts() {
        let v = Vocab::default();
        let m = Meter::default();
        let tokens = [
            Token::Bos,
            Token::NoteOn(60),
            Token::TimeShift(12),
            Token::NoteOff(60),
            Token::TimeShift(48),
        ];
        let p = m.positions(&tokens, 3 * 24 + 6, &v);
        assert_eq!(p[0], p[1]);
        assert_eq!(
            p[0],
            Position {
                phase: 6,
                bar_beat: 3
            }
        );
        assert_eq!(
            p[2],
            Position {
                phase: 18,
                bar_beat: 3
            }
        );
        assert_eq!(
            p[4],
            Position {
                phase: 18,
                bar_beat: 1
            }
        );
    }

    #[test]
    fn duplicate_and_unsorted_changes_collapse() {
        let three = TimeSig {
            numerator: 3,
            denominator: 4,
        };
        let m = Meter::from_changes([(3.0, three), (0.0, TimeSig::COMMON), (3.0, three)]);
        assert_eq!(m.changes(), &[(0.0, TimeSig::COMMON), (3.0, three)]);
        assert_eq!(TimeSig::from_host(Some(6), Some(8)).beats_per_bar(), 3.0);
        assert_eq!(TimeSig::from_host(None, Some(8)), TimeSig::COMMON);
    }
}
