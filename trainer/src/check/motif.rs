//! How much a passage reuses the prompt's figures: the shapes of its top line, as runs of
//! intervals and inter-onset times, that the prompt's top line also has.
//!
//! Intervals make a shape independent of transposition, so a sequence a step higher counts
//! as reuse; times are exact grid steps, so the same contour in another rhythm does not.

use std::collections::BTreeSet;

use super::onsets::Onset;

/// A shape spans this many onsets: two moves, a figure's smallest unit. Longer shapes are
/// rarely found whole in two bars even by the true continuation (4 onsets: 9% of its shapes
/// on the Chopin validation windows, against 16% for 3).
pub const MOTIF_ONSETS: usize = 3;

/// Each move of a shape: semitones to the next top note, and grid steps to its onset.
pub type Shape = Vec<(i32, i64)>;

/// The shapes of every run of [`MOTIF_ONSETS`] onsets, in time order.
pub fn shapes(onsets: &[Onset]) -> Vec<Shape> {
    onsets
        .windows(MOTIF_ONSETS)
        .map(|run| {
            run.windows(2)
                .map(|w| {
                    (
                        i32::from(w[1].top()) - i32::from(w[0].top()),
                        w[1].step - w[0].step,
                    )
                })
                .collect()
        })
        .collect()
}

/// The prompt's shapes, to look answers' shapes up in.
pub fn shape_set(onsets: &[Onset]) -> BTreeSet<Shape> {
    shapes(onsets).into_iter().collect()
}

/// Share of the shapes of `onsets` that `known` holds; `None` with too few onsets for one.
pub fn reuse(onsets: &[Onset], known: &BTreeSet<Shape>) -> Option<f64> {
    let all = shapes(onsets);
    if all.is_empty() {
        return None;
    }
    let found = all.iter().filter(|s| known.contains(*s)).count();
    Some(found as f64 / all.len() as f64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::baselines::replay;
    use crate::check::metrics::note;
    use crate::check::onsets::onsets;

    /// A figure of four 16ths and an 8th: C D E C, G.
    fn figure(at: f64, transpose: u8) -> Vec<continuo_core::midi::Note> {
        [(60, 0.0), (62, 0.25), (64, 0.5), (60, 0.75), (67, 1.0)]
            .iter()
            .map(|&(p, t)| note(p + transpose, at + t))
            .collect()
    }

    #[test]
    fn a_replayed_prompt_reuses_every_shape() {
        let prompt: Vec<_> = figure(0.0, 0).into_iter().chain(figure(1.5, 5)).collect();
        let known = shape_set(&onsets(&prompt));
        let answer = replay(&prompt, 8.0);
        assert_eq!(reuse(&onsets(&answer), &known), Some(1.0));
    }

    #[test]
    fn a_sequence_reuses_and_a_new_rhythm_does_not() {
        let known = shape_set(&onsets(&figure(0.0, 0)));
        assert_eq!(known.len(), 3);
        // A fourth higher, later: the same shapes.
        assert_eq!(reuse(&onsets(&figure(9.0, 5)), &known), Some(1.0));
        // The same pitches in 8ths: none.
        let slower: Vec<_> = figure(0.0, 0)
            .iter()
            .enumerate()
            .map(|(i, n)| note(n.pitch, i as f64 * 0.5))
            .collect();
        assert_eq!(reuse(&onsets(&slower), &known), Some(0.0));
        // The figure, then a leap down: the last of four shapes is new.
        let mut changed = figure(0.0, 0);
        changed.push(note(40, 1.25));
        let r = reuse(&onsets(&changed), &known).unwrap();
        assert_eq!(r, 0.75);
        assert_eq!(reuse(&onsets(&figure(0.0, 0)[..2]), &known), None);
    }
}
