//! The measures of pitch, density and repeats: pure functions of note lists, `None` where a
//! measure needs notes (or onsets) that a list does not have.

use std::fmt;

use continuo_core::midi::Note;
use continuo_core::music::Scale;

use super::onsets::{onsets, Onset};

/// A major or natural-minor key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Key {
    /// Pitch class of the tonic, 0 = C.
    pub root: u8,
    pub minor: bool,
}

impl Key {
    /// The 24 candidates in tie-break order: C major … B major, then C minor … B minor.
    pub fn all() -> impl Iterator<Item = Key> {
        [false, true]
            .into_iter()
            .flat_map(|minor| (0..12).map(move |root| Key { root, minor }))
    }

    /// The key's pitch classes as a bit set (bit 0 = C).
    pub fn pitch_classes(self) -> u16 {
        let scale = if self.minor {
            Scale::NaturalMinor
        } else {
            Scale::Major
        };
        scale.pitch_classes(self.root)
    }
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const NAMES: [&str; 12] = [
            "C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B",
        ];
        let mode = if self.minor { "minor" } else { "major" };
        write!(f, "{} {mode}", NAMES[usize::from(self.root % 12)])
    }
}

fn in_set(pitch_classes: u16, pitch: u8) -> bool {
    pitch_classes & (1 << (pitch % 12)) != 0
}

/// The key holding the most of `notes` (counted with repeats). Ties go to the first in
/// [`Key::all`]'s order; a major key and its relative minor always tie, and share their notes,
/// so the tie never changes a measure.
pub fn best_key(notes: &[Note]) -> Key {
    let mut best = (Key::all().next().expect("24 keys"), 0);
    for key in Key::all() {
        let pcs = key.pitch_classes();
        let count = notes.iter().filter(|n| in_set(pcs, n.pitch)).count();
        if count > best.1 {
            best = (key, count);
        }
    }
    best.0
}

/// Onset counts per pitch class, normalised to sum to 1.
pub fn pitch_class_histogram(notes: &[Note]) -> Option<[f64; 12]> {
    if notes.is_empty() {
        return None;
    }
    let mut h = [0.0; 12];
    for n in notes {
        h[usize::from(n.pitch % 12)] += 1.0;
    }
    let total = notes.len() as f64;
    Some(h.map(|c| c / total))
}

/// 1 − L1/2 between the two pitch-class histograms: 1 for the same mix of pitch classes, 0 for
/// none in common.
pub fn pitch_class_similarity(a: &[Note], b: &[Note]) -> Option<f64> {
    let (ha, hb) = (pitch_class_histogram(a)?, pitch_class_histogram(b)?);
    let l1: f64 = ha.iter().zip(&hb).map(|(x, y)| (x - y).abs()).sum();
    Some(1.0 - l1 / 2.0)
}

/// Share of `notes` whose pitch class is in `pitch_classes`.
pub fn in_scale_share(notes: &[Note], pitch_classes: u16) -> Option<f64> {
    if notes.is_empty() {
        return None;
    }
    let inside = notes
        .iter()
        .filter(|n| in_set(pitch_classes, n.pitch))
        .count();
    Some(inside as f64 / notes.len() as f64)
}

pub fn mean_pitch(notes: &[Note]) -> Option<f64> {
    if notes.is_empty() {
        return None;
    }
    let sum: f64 = notes.iter().map(|n| f64::from(n.pitch)).sum();
    Some(sum / notes.len() as f64)
}

/// How far apart the two mean pitches are, in semitones.
pub fn register_gap(answer: &[Note], truth: &[Note]) -> Option<f64> {
    Some((mean_pitch(answer)? - mean_pitch(truth)?).abs())
}

/// |log2(notes / true notes)|: 1 means twice or half as many notes.
pub fn density_gap(answer: &[Note], truth: &[Note]) -> Option<f64> {
    if answer.is_empty() || truth.is_empty() {
        return None;
    }
    Some((answer.len() as f64 / truth.len() as f64).log2().abs())
}

/// Share of onsets, after the first, whose pitches share one with the previous onset's. The
/// first onset has no previous one, so it is not counted: a list with fewer than two onsets
/// has no rate.
pub fn repeat_rate(notes: &[Note]) -> Option<f64> {
    let sets: Vec<u128> = onsets(notes).iter().map(Onset::set).collect();
    if sets.len() < 2 {
        return None;
    }
    let repeats = sets.windows(2).filter(|w| w[0] & w[1] != 0).count();
    Some(repeats as f64 / (sets.len() - 1) as f64)
}

#[cfg(test)]
pub(crate) fn note(pitch: u8, start: f64) -> Note {
    Note {
        pitch,
        velocity: 80,
        start,
        end: start + 0.5,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: Option<f64>, b: f64) -> bool {
        a.is_some_and(|a| (a - b).abs() < 1e-12)
    }

    #[test]
    fn similarity_is_one_minus_half_the_l1_distance() {
        // C E G: 1/3 each. C C' E F: C 1/2, E 1/4, F 1/4.
        // L1 = 1/6 + 1/12 + 1/4 + 1/3 = 5/6, so 1 − 5/12.
        let a = [note(60, 0.0), note(64, 1.0), note(67, 2.0)];
        let b = [note(60, 0.0), note(72, 1.0), note(64, 2.0), note(65, 3.0)];
        assert!(close(pitch_class_similarity(&a, &b), 7.0 / 12.0));
        assert!(close(pitch_class_similarity(&b, &a), 7.0 / 12.0));
        assert!(close(pitch_class_similarity(&a, &a), 1.0));
        let disjoint = [note(61, 0.0), note(66, 0.0)];
        assert!(close(pitch_class_similarity(&a, &disjoint), 0.0));
        assert_eq!(pitch_class_similarity(&a, &[]), None);
    }

    #[test]
    fn best_key_counts_notes_and_breaks_ties_in_order() {
        // D F# A C#: only D major and B minor hold all four; major comes first.
        let d = [note(62, 0.0), note(66, 0.0), note(69, 1.0), note(73, 2.0)];
        assert_eq!(
            best_key(&d),
            Key {
                root: 2,
                minor: false
            }
        );
        // C D E fit C, F and G major (and their relative minors): C major is first.
        let c = [note(60, 0.0), note(62, 1.0), note(64, 2.0)];
        assert_eq!(best_key(&c).to_string(), "C major");
        // Repeats count: with one each of Bb, B, E and A, C major (B E A) and F major
        // (Bb E A) tie and C wins; with five Bb, F major wins.
        let once = [note(70, 0.0), note(71, 1.0), note(64, 2.0), note(69, 3.0)];
        assert_eq!(best_key(&once).to_string(), "C major");
        let mut bb = vec![note(70, 0.0); 4];
        bb.extend(once);
        assert_eq!(best_key(&bb).to_string(), "F major");
        // An empty prompt fits every key equally.
        assert_eq!(best_key(&[]).to_string(), "C major");
        assert_eq!(
            Key {
                root: 9,
                minor: true
            }
            .pitch_classes(),
            Key {
                root: 0,
                minor: false
            }
            .pitch_classes()
        );
    }

    #[test]
    fn in_scale_share_counts_notes() {
        let c_major = Key {
            root: 0,
            minor: false,
        }
        .pitch_classes();
        let notes = [note(60, 0.0), note(61, 0.0), note(62, 1.0), note(76, 2.0)];
        assert!(close(in_scale_share(&notes, c_major), 0.75));
        assert_eq!(in_scale_share(&[], c_major), None);
    }

    #[test]
    fn register_and_density_gaps() {
        let answer = [note(60, 0.0), note(64, 1.0)]; // mean 62
        let truth: Vec<Note> = [60, 62, 64, 66, 68, 70, 64, 66]
            .iter()
            .enumerate()
            .map(|(i, &p)| note(p, i as f64))
            .collect(); // mean 65
        assert!(close(register_gap(&answer, &truth), 3.0));
        assert!(close(register_gap(&truth, &answer), 3.0));
        assert!(
            close(density_gap(&answer, &truth), 2.0),
            "a quarter as many"
        );
        assert!(
            close(density_gap(&truth, &answer), 2.0),
            "four times as many"
        );
        assert!(close(density_gap(&truth, &truth), 0.0));
        assert_eq!(register_gap(&[], &truth), None);
        assert_eq!(density_gap(&[], &truth), None);
    }

    #[test]
    fn repeat_rate_compares_each_onset_with_the_one_before() {
        // Onsets {C, E} → {E} → {G} → {G, C'}: E repeats, G is new, G repeats: 2 of 3.
        let notes = [
            note(72, 1.5),
            note(64, 0.0),
            note(60, 0.0),
            note(64, 0.5),
            note(67, 1.0),
            note(67, 1.5),
        ];
        assert!(close(repeat_rate(&notes), 2.0 / 3.0));
        // A chord spread by a tick (1/480 beat) is one onset.
        let spread = [note(60, 0.0), note(64, 1.0 / 480.0), note(60, 1.0)];
        assert!(close(repeat_rate(&spread), 1.0));
        assert_eq!(repeat_rate(&[note(60, 0.0), note(64, 0.0)]), None);
        assert_eq!(repeat_rate(&[]), None);
    }
}
