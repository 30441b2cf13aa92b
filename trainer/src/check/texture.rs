//! How thick the writing is: how many notes each onset strikes, how wide its chords are,
//! and where in the bar it reaches the bass.

use continuo_core::follow::Hands;
use continuo_core::grid::Meter;
use continuo_core::midi::Note;

use super::onsets::{mean, similarity_of, Onset};
use super::rhythm::bar_histogram;

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

/// Pitches below this are the bass of a prompt of `notes`, as the plugin's `Hands` hears
/// it; `None` for a prompt too narrow to have one (one hand).
pub fn bass_split(notes: &[Note]) -> Option<u8> {
    Hands::bass_split(notes.iter().map(|n| n.pitch))
}

/// Whether `onset` strikes a pitch below `split`: reaches the bass.
pub fn reaches_bass(onset: &Onset, split: u8) -> bool {
    onset.pitches.iter().any(|&p| p < split)
}

/// Similarity of the places in the bar where `answer`'s onsets reach below `split` with
/// those where `truth`'s do: whether a waltz's bass stays on one, a bass on the half bar
/// stays there. `None` where either never reaches the bass.
pub fn bass_in_bar(answer: &[Onset], truth: &[Onset], split: u8, meter: &Meter) -> Option<f64> {
    let bass = |o: &[Onset]| -> Vec<Onset> {
        o.iter()
            .filter(|o| reaches_bass(o, split))
            .cloned()
            .collect()
    };
    similarity_of(
        bar_histogram(&bass(answer), meter).as_deref(),
        bar_histogram(&bass(truth), meter).as_deref(),
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

    #[test]
    fn a_bass_moved_off_the_downbeat_is_heard_in_the_bar() {
        let waltz = crate::check::styles::waltz();
        let meter = &waltz.meter;
        let split = bass_split(&waltz.notes).expect("a waltz has a bass");
        let style = onsets(&waltz.notes);
        assert_eq!(bass_in_bar(&style, &style, split, meter), Some(1.0));
        // The same bass a beat late: on two, where the style never strikes it.
        let late: Vec<Note> = waltz
            .notes
            .iter()
            .map(|n| {
                let shift = if n.pitch < split { 1.0 } else { 0.0 };
                Note {
                    start: n.start + shift,
                    end: n.end + shift,
                    ..*n
                }
            })
            .collect();
        assert_eq!(bass_in_bar(&onsets(&late), &style, split, meter), Some(0.0));
        let chords: Vec<Note> = waltz
            .notes
            .iter()
            .filter(|n| n.pitch >= split)
            .copied()
            .collect();
        assert_eq!(bass_in_bar(&onsets(&chords), &style, split, meter), None);
        let one_hand = [note(60, 0.0), note(72, 1.0)];
        assert_eq!(bass_split(&one_hand), None);
    }
}
