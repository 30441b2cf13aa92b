//! How thick the writing is: how many notes each onset strikes, and how wide its chords are.

use super::onsets::{mean, Onset};

/// Mean number of pitches an onset strikes.
pub fn notes_per_onset(onsets: &[Onset]) -> Option<f64> {
    mean(onsets.iter().map(|o| o.pitches.len() as f64))
}

/// Mean span, in semitones, of the onsets that strike two or more pitches; `None` without
/// such an onset, so a single line is not read as a very narrow chord.
pub fn chord_spread(onsets: &[Onset]) -> Option<f64> {
    mean(
        onsets
            .iter()
            .filter(|o| o.pitches.len() > 1)
            .map(|o| f64::from(o.top() - o.bottom())),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::metrics::note;
    use crate::check::onsets::onsets;

    #[test]
    fn a_chord_only_answer_strikes_three_notes_an_onset() {
        // C major and F major triads, a beat each.
        let notes: Vec<_> = [[60, 64, 67], [60, 65, 69]]
            .iter()
            .enumerate()
            .flat_map(|(i, chord)| chord.iter().map(move |&p| note(p, i as f64)))
            .collect();
        let o = onsets(&notes);
        assert_eq!(notes_per_onset(&o), Some(3.0));
        assert_eq!(chord_spread(&o), Some(8.0), "7 and 9 semitones");
    }

    #[test]
    fn single_notes_have_no_spread() {
        let line = [note(60, 0.0), note(62, 0.5), note(48, 1.0), note(55, 1.0)];
        let o = onsets(&line);
        assert_eq!(notes_per_onset(&o), Some(4.0 / 3.0));
        assert_eq!(chord_spread(&o), Some(7.0), "only the fifth counts");
        assert_eq!(chord_spread(&o[..2]), None);
        assert_eq!(notes_per_onset(&[]), None);
    }
}
