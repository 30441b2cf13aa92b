//! Players of styles the built-in model was not trained on, written in code: each player has
//! habits (a key, a favourite figure or rhythm) drawn from its seed, and plays a new
//! two-bar phrase of its style each time, varied a little, as a player does.
//!
//! A fixed loop would let one phrase stand for the style; phrases that differ in small ways
//! are what a memory of the player has to generalise from.

use continuo_core::grid::{Meter, TimeSig};
use continuo_core::midi::{sort_notes, Note, Score};
use continuo_core::sampling::Rng;

use crate::check::styles::note;

/// Every phrase is two bars of 4/4.
pub const PHRASE_BEATS: f64 = 8.0;
const BEATS_PER_BAR: f64 = 4.0;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    /// A boogie-woogie bass in swung 8ths, over a blues progression's roots.
    Boogie,
    /// A minor-pentatonic riff in 16ths, played and answered within the phrase.
    Pentatonic,
    /// Chord stabs on a syncopated rhythm (a tresillo, a clave): the rhythm is the figure.
    Rhythmic,
}

impl Style {
    pub const ALL: [Style; 3] = [Style::Boogie, Style::Pentatonic, Style::Rhythmic];

    pub fn name(self) -> &'static str {
        match self {
            Style::Boogie => "boogie bass",
            Style::Pentatonic => "pentatonic riff",
            Style::Rhythmic => "rhythmic motif",
        }
    }

    fn bpm(self) -> f64 {
        match self {
            Style::Boogie => 132.0,
            Style::Pentatonic => 100.0,
            Style::Rhythmic => 104.0,
        }
    }
}

/// One player of `style`, its habits drawn from `seed`.
#[derive(Debug, Clone)]
pub struct Player {
    style: Style,
    rng: Rng,
    /// The lowest note of its key (a bass root, a riff's tonic, a chord's root).
    root: u8,
    /// Indices into the style's stock of figures or rhythms: the favourite first.
    favourites: [usize; 2],
    /// The riff a pentatonic player keeps coming back to: (16th of the bar, scale degree).
    riff: Vec<(u32, i32)>,
}

/// Boogie lines, semitones above the bar's root, one 8th each.
const BOOGIE_LINES: [[u8; 8]; 3] = [
    [0, 4, 7, 9, 10, 9, 7, 4],
    [0, 4, 7, 9, 12, 9, 7, 4],
    [0, 0, 4, 4, 7, 7, 9, 9],
];
/// Two bars of a twelve-bar blues: the roots' distance from the key's, bar by bar.
const BLUES_BARS: [[u8; 2]; 5] = [[0, 0], [0, 5], [5, 0], [7, 5], [5, 5]];

/// Onsets of a riff in 16ths of its bar.
const RIFF_RHYTHMS: [&[u32]; 3] = [
    &[0, 2, 3, 6, 8, 10, 11, 14],
    &[0, 3, 6, 8, 10, 12, 14],
    &[0, 1, 2, 4, 6, 8, 9, 10, 12],
];
const MINOR_PENTATONIC: [u8; 5] = [0, 3, 5, 7, 10];

/// Two bars of stabs, in 16ths from the phrase's start.
const STAB_RHYTHMS: [&[u32]; 4] = [
    // Tresillo, 3+3+2, in both bars.
    &[0, 3, 6, 8, 11, 14, 16, 19, 22, 24, 27, 30],
    // Son clave, 3–2.
    &[0, 6, 12, 20, 24],
    // 3+3+3+3+2+2.
    &[0, 3, 6, 9, 12, 14, 16, 19, 22, 25, 28, 30],
    // Pushed: every stab a 16th before a beat.
    &[0, 3, 7, 11, 14, 16, 19, 23, 27, 30],
];
/// The second bar's chord against the first's: ♭VII, IV or ♭VI.
const STAB_MOVES: [i8; 3] = [-2, 5, -4];
/// Close voicings of a major triad, semitones above the root: root position and inversions.
const VOICINGS: [[u8; 3]; 3] = [[0, 4, 7], [4, 7, 12], [7, 12, 16]];

impl Player {
    pub fn new(style: Style, seed: u64) -> Self {
        let mut rng = Rng::new(seed ^ 0x9A7E_5EED ^ (style as u64) << 40);
        let (stock, roots): (usize, &[u8]) = match style {
            Style::Boogie => (BOOGIE_LINES.len(), &[36, 38, 40, 41, 43]),
            Style::Pentatonic => (RIFF_RHYTHMS.len(), &[57, 59, 60, 62, 64]),
            Style::Rhythmic => (STAB_RHYTHMS.len(), &[55, 57, 58, 60, 62]),
        };
        let root = roots[rng.below(roots.len() as u64) as usize];
        let first = rng.below(stock as u64) as usize;
        let second = (first + 1 + rng.below(stock as u64 - 1) as usize) % stock;
        let riff = match style {
            Style::Pentatonic => pentatonic_walk(&mut rng, RIFF_RHYTHMS[first], 0),
            _ => Vec::new(),
        };
        Self {
            style,
            rng,
            root,
            favourites: [first, second],
            riff,
        }
    }

    /// The player's next phrase: two bars from beat 0.
    pub fn phrase(&mut self) -> Score {
        let mut notes = match self.style {
            Style::Boogie => self.boogie(),
            Style::Pentatonic => self.pentatonic(),
            Style::Rhythmic => self.stabs(),
        };
        sort_notes(&mut notes);
        Score {
            notes,
            bpm: self.style.bpm(),
            meter: Meter::constant(TimeSig {
                numerator: 4,
                denominator: 4,
            }),
        }
    }

    /// `phrases` phrases in a row.
    pub fn phrases(&mut self, phrases: usize) -> Vec<Score> {
        (0..phrases).map(|_| self.phrase()).collect()
    }

    fn chance(&mut self, p: f64) -> bool {
        self.rng.next_f64() < p
    }

    /// A velocity around `centre`, as a hand plays it.
    fn velocity(&mut self, centre: u8) -> u8 {
        centre - 6 + self.rng.below(13) as u8
    }

    fn boogie(&mut self) -> Vec<Note> {
        let roots = BLUES_BARS[self.rng.below(BLUES_BARS.len() as u64) as usize];
        let mut notes = Vec::new();
        for (bar, &step) in roots.iter().enumerate() {
            let line = if self.chance(0.75) {
                self.favourites[0]
            } else {
                self.favourites[1]
            };
            for (i, &offset) in BOOGIE_LINES[line].iter().enumerate() {
                let beat = bar as f64 * BEATS_PER_BAR + (i / 2) as f64;
                // Swung: the second 8th of a beat on its last third.
                let (start, len, accent) = if i % 2 == 0 {
                    (beat, 2.0 / 3.0, 88)
                } else {
                    (beat + 2.0 / 3.0, 1.0 / 3.0, 72)
                };
                let velocity = self.velocity(accent);
                notes.push(note(self.root + step + offset, start, len * 0.9, velocity));
            }
        }
        // A turnaround: the last 8th leads back to the root from a semitone below.
        if self.chance(0.3) {
            let last = notes.last_mut().expect("a boogie phrase has notes");
            last.pitch = self.root + 11;
        }
        notes
    }

    fn pentatonic(&mut self) -> Vec<Note> {
        let mut riff = self.riff.clone();
        // One note of the riff bent to a neighbouring degree, now and then.
        if self.chance(0.3) {
            let i = self.rng.below(riff.len() as u64) as usize;
            riff[i].1 += if self.chance(0.5) { 1 } else { -1 };
        }
        let mut bars = vec![riff.clone()];
        let second = if self.chance(0.3) {
            // The riff a fourth up (two degrees of the pentatonic scale), as on the IV chord.
            riff.iter().map(|&(at, d)| (at, d + 2)).collect()
        } else {
            // The riff's start, then a fill of its own.
            let keep = riff.len() / 2;
            let fill: Vec<u32> = riff[keep..].iter().map(|&(at, _)| at).collect();
            let from = riff[keep - 1].1;
            let mut bar = riff[..keep].to_vec();
            bar.extend(pentatonic_walk(&mut self.rng, &fill, from));
            bar
        };
        bars.push(second);
        let mut notes = Vec::new();
        for (bar, figure) in bars.iter().enumerate() {
            for (k, &(sixteenth, degree)) in figure.iter().enumerate() {
                let next = figure.get(k + 1).map_or(16, |n| n.0);
                let start = bar as f64 * BEATS_PER_BAR + f64::from(sixteenth) / 4.0;
                let len = f64::from(next - sixteenth) / 4.0 * 0.8;
                let velocity = self.velocity(if sixteenth % 4 == 0 { 92 } else { 80 });
                notes.push(note(
                    pentatonic_pitch(self.root, degree),
                    start,
                    len,
                    velocity,
                ));
            }
        }
        notes
    }

    fn stabs(&mut self) -> Vec<Note> {
        let rhythm = if self.chance(0.85) {
            STAB_RHYTHMS[self.favourites[0]]
        } else {
            STAB_RHYTHMS[self.favourites[1]]
        };
        let moved = STAB_MOVES[usize::from(self.root) % STAB_MOVES.len()];
        let voicing = VOICINGS[self.rng.below(VOICINGS.len() as u64) as usize];
        let mut notes = Vec::new();
        for &sixteenth in rhythm {
            let bar = sixteenth / 16;
            let root = if bar == 0 {
                self.root
            } else {
                self.root.saturating_add_signed(moved)
            };
            let start = f64::from(sixteenth) / 4.0;
            let accent = if sixteenth % 4 == 0 { 90 } else { 100 };
            let velocity = self.velocity(accent);
            notes.extend(
                voicing
                    .iter()
                    .map(|&v| note(root + v, start, 0.3, velocity)),
            );
        }
        // A ghost note on an empty 16th, now and then: the rhythm stays recognisable.
        if self.chance(0.3) {
            let free: Vec<u32> = (0..32).filter(|s| !rhythm.contains(s)).collect();
            let at = free[self.rng.below(free.len() as u64) as usize];
            notes.push(note(self.root, f64::from(at) / 4.0, 0.2, 50));
        }
        notes
    }
}

/// The pitch of pentatonic `degree` (0: the tonic; 5: its octave) above `tonic`.
fn pentatonic_pitch(tonic: u8, degree: i32) -> u8 {
    let octave = degree.div_euclid(5);
    let step = MINOR_PENTATONIC[degree.rem_euclid(5) as usize];
    (i32::from(tonic) + 12 * octave + i32::from(step)).clamp(0, 127) as u8
}

/// Degrees for the onsets `at`, a step or two of the scale from `from` each time, kept
/// within an octave and a half of the tonic.
fn pentatonic_walk(rng: &mut Rng, at: &[u32], from: i32) -> Vec<(u32, i32)> {
    let mut degree = from;
    at.iter()
        .map(|&sixteenth| {
            let step = [-2, -1, 1, 2][rng.below(4) as usize];
            degree = (degree + step).clamp(-2, 7);
            (sixteenth, degree)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::onsets::{inter_onset_steps, onsets};

    fn pitch_classes(notes: &[Note]) -> u16 {
        notes.iter().fold(0, |s, n| s | 1 << (n.pitch % 12))
    }

    #[test]
    fn every_phrase_is_two_bars_of_its_style_and_a_seed_plays_the_same_phrases() {
        for style in Style::ALL {
            for seed in 1..=20 {
                let phrases = Player::new(style, seed).phrases(5);
                assert_eq!(phrases, Player::new(style, seed).phrases(5));
                for p in &phrases {
                    assert!(p.notes.len() >= 8, "{style:?} {seed}: {:?}", p.notes);
                    assert!(p
                        .notes
                        .iter()
                        .all(|n| n.start >= 0.0 && n.start < PHRASE_BEATS && n.end > n.start));
                    assert_eq!(p.meter.sig_at(0.0).beats_per_bar(), 4.0);
                }
            }
        }
    }

    #[test]
    fn a_player_varies_its_phrases_and_players_differ() {
        for style in Style::ALL {
            let mut differ = 0;
            for seed in 1..=20 {
                let phrases = Player::new(style, seed).phrases(5);
                differ += usize::from(phrases.windows(2).any(|w| w[0] != w[1]));
            }
            assert!(differ >= 15, "{style:?}: {differ} of 20 players vary");
            let first = |seed| Player::new(style, seed).phrase();
            assert!((2..10).any(|seed| first(seed) != first(1)), "{style:?}");
        }
    }

    #[test]
    fn boogie_swings_its_eighths_over_blues_roots() {
        let phrase = Player::new(Style::Boogie, 3).phrase();
        let o = onsets(&phrase.notes);
        assert_eq!(o.len(), 16);
        // Swung pairs: 2/3 of a beat, then 1/3 (16 and 8 steps of 24).
        let gaps: Vec<i64> = inter_onset_steps(&o).collect();
        assert!(gaps.iter().step_by(2).all(|&g| g == 16), "{gaps:?}");
        assert!(gaps.iter().skip(1).step_by(2).all(|&g| g == 8), "{gaps:?}");
    }

    #[test]
    fn a_riff_stays_in_its_minor_pentatonic_and_comes_back() {
        for seed in 1..=10 {
            let mut player = Player::new(Style::Pentatonic, seed);
            let tonic = player.root % 12;
            let scale = MINOR_PENTATONIC
                .iter()
                .fold(0u16, |s, &d| s | 1 << ((tonic + d) % 12));
            let phrases = player.phrases(4);
            for p in &phrases {
                assert_eq!(pitch_classes(&p.notes) & !scale, 0, "seed {seed}");
            }
            // Every phrase opens with the riff's rhythm.
            let opening = |p: &Score| -> Vec<i64> {
                let o = onsets(&p.notes);
                o.iter().take(4).map(|o| o.step).collect()
            };
            assert!(phrases.iter().all(|p| opening(p) == opening(&phrases[0])));
        }
        assert_eq!(pentatonic_pitch(57, 0), 57);
        assert_eq!(pentatonic_pitch(57, 5), 69);
        assert_eq!(pentatonic_pitch(57, -1), 55, "a tone below A is G");
    }

    #[test]
    fn stabs_keep_their_rhythm_and_voicing() {
        for seed in 1..=10 {
            let phrase = Player::new(Style::Rhythmic, seed).phrase();
            let o = onsets(&phrase.notes);
            let chords: Vec<_> = o.iter().filter(|o| o.pitches.len() == 3).collect();
            assert!(chords.len() >= 5, "seed {seed}");
            assert!(o.len() - chords.len() <= 1, "one ghost note at most");
            // A triad's outer notes, a fifth or a sixth apart in any close voicing.
            assert!(chords
                .iter()
                .all(|c| [7, 8, 9].contains(&(c.top() - c.bottom()))));
        }
    }
}
