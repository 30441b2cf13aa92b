//! Answers that need no model, measured on the same windows as the model: a model that does
//! not beat them has learned little about continuing a phrase.

use continuo_core::midi::{sort_notes, Note};
use continuo_core::sampling::Rng;

use super::Window;

/// Random onsets fall on a 16th-note grid.
const RANDOM_GRID_BEATS: f64 = 0.25;
/// Picks the other passage from an answer's seed, apart from the seed's other uses.
const PASSAGE_SALT: u64 = 0x0A55_A9E0;

/// The prompt played again, `by` beats later.
pub fn replay(prompt: &[Note], by: f64) -> Vec<Note> {
    prompt.iter().map(|n| n.moved(by)).collect()
}

/// As many notes as the prompt, drawn from `seed`: pitches uniform over the pitches of
/// `pitch_classes` between the prompt's lowest and highest, onsets uniform on the 16th-note
/// grid of `[from, from + beats)`, each with the length and velocity of a random prompt note.
/// So it matches the prompt's key, range and density, and nothing else.
pub fn random_in_scale(
    prompt: &[Note],
    pitch_classes: u16,
    from: f64,
    beats: f64,
    seed: u64,
) -> Vec<Note> {
    let (Some(lo), Some(hi)) = (
        prompt.iter().map(|n| n.pitch).min(),
        prompt.iter().map(|n| n.pitch).max(),
    ) else {
        return Vec::new();
    };
    let mut pitches: Vec<u8> = (lo..=hi)
        .filter(|p| pitch_classes & (1 << (p % 12)) != 0)
        .collect();
    if pitches.is_empty() {
        // Only when no prompt note is in the scale, which a best-fitting key rules out.
        pitches = (lo..=hi).collect();
    }
    let slots = ((beats / RANDOM_GRID_BEATS).round() as u64).max(1);
    let mut rng = Rng::new(seed);
    let mut notes: Vec<Note> = prompt
        .iter()
        .map(|_| {
            let pitch = pitches[rng.below(pitches.len() as u64) as usize];
            let start = from + rng.below(slots) as f64 * RANDOM_GRID_BEATS;
            let model = prompt[rng.below(prompt.len() as u64) as usize];
            Note {
                pitch,
                velocity: model.velocity,
                start,
                end: start + (model.end - model.start),
            }
        })
        .collect();
    sort_notes(&mut notes);
    notes
}

/// The "another passage" answer to `window` for `seed`: the true continuation of a window
/// of the same piece (one of `usable`) that shares no beat with it, moved to start where
/// `window`'s answer does. `None` when the piece has no such window.
pub fn other_passage(window: &Window, usable: &[Window], seed: u64) -> Option<Vec<Note>> {
    let apart: Vec<&Window> = usable
        .iter()
        .filter(|u| u.end() <= window.start || u.start >= window.end())
        .collect();
    if apart.is_empty() {
        return None;
    }
    let other = apart[Rng::new(seed ^ PASSAGE_SALT).below(apart.len() as u64) as usize];
    let by = window.prompt_beats - other.prompt_beats;
    Some(window.in_answer(other.truth.iter().map(|n| n.moved(by))))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::metrics::note;

    #[test]
    fn replay_moves_the_prompt() {
        let prompt = [note(60, 0.0), note(64, 7.5)];
        let r = replay(&prompt, 8.0);
        assert_eq!(r[0].start, 8.0);
        assert_eq!(r[0].end, 8.5);
        assert_eq!(r[1].start, 15.5);
        assert_eq!(r[1].pitch, 64);
    }

    #[test]
    fn random_notes_keep_count_key_range_grid_and_lengths() {
        let mut prompt = vec![note(62, 0.0), note(71, 1.0), note(67, 2.0), note(64, 3.0)];
        prompt[2].end = 3.5; // lengths 0.5 and 1.5
        let c_major = 0b1010_1011_0101;
        let r = random_in_scale(&prompt, c_major, 8.0, 8.0, 7);
        assert_eq!(r.len(), 4);
        for n in &r {
            assert!((62..=71).contains(&n.pitch), "{n:?}");
            assert!(c_major & (1 << (n.pitch % 12)) != 0, "{n:?}");
            assert!((8.0..16.0).contains(&n.start), "{n:?}");
            assert_eq!((n.start * 4.0).fract(), 0.0, "{n:?}");
            let len = n.end - n.start;
            assert!(len == 0.5 || len == 1.5, "{n:?}");
        }
        assert_eq!(r, random_in_scale(&prompt, c_major, 8.0, 8.0, 7));
        assert_ne!(r, random_in_scale(&prompt, c_major, 8.0, 8.0, 8));
        assert!(random_in_scale(&[], c_major, 8.0, 8.0, 7).is_empty());
    }
}
