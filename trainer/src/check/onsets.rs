//! Onsets, and the histograms the measures compare.
//!
//! An onset is the set of pitches struck at one step of the vocabulary's default grid (1/24
//! beat), so a chord whose notes a MIDI file spreads over a tick or two still counts as one
//! onset, as the model would hear it.

use continuo_core::midi::Note;

pub const STEPS_PER_BEAT: u32 = 24;

/// The grid step nearest to `beat`.
pub fn step_of(beat: f64) -> i64 {
    (beat * f64::from(STEPS_PER_BEAT)).round() as i64
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Onset {
    /// Grid step from the window's origin.
    pub step: i64,
    /// Ascending, each once: a key struck twice at once sounds once.
    pub pitches: Vec<u8>,
}

impl Onset {
    pub fn top(&self) -> u8 {
        *self.pitches.last().expect("an onset has a pitch")
    }

    pub fn bottom(&self) -> u8 {
        self.pitches[0]
    }

    /// The pitches as a 128-bit set.
    pub fn set(&self) -> u128 {
        self.pitches.iter().fold(0, |s, &p| s | 1u128 << (p & 127))
    }
}

/// `notes` as onsets, in time order.
pub fn onsets(notes: &[Note]) -> Vec<Onset> {
    let mut events: Vec<(i64, u8)> = notes
        .iter()
        .map(|n| (step_of(n.start), n.pitch & 127))
        .collect();
    events.sort_unstable();
    events.dedup();
    let mut out: Vec<Onset> = Vec::new();
    for (step, pitch) in events {
        match out.last_mut() {
            Some(last) if last.step == step => last.pitches.push(pitch),
            _ => out.push(Onset {
                step,
                pitches: vec![pitch],
            }),
        }
    }
    out
}

/// Steps from each onset to the next.
pub fn inter_onset_steps(onsets: &[Onset]) -> impl Iterator<Item = i64> + '_ {
    onsets.windows(2).map(|w| w[1].step - w[0].step)
}

/// Counts scaled to sum to 1; `None` when there is nothing to count.
pub fn normalized(counts: Vec<f64>) -> Option<Vec<f64>> {
    let total: f64 = counts.iter().sum();
    (total > 0.0).then(|| counts.into_iter().map(|c| c / total).collect())
}

/// A histogram of `bins` bins from the bin of each item.
pub fn histogram(bins: usize, items: impl IntoIterator<Item = usize>) -> Option<Vec<f64>> {
    let mut counts = vec![0.0; bins];
    for i in items {
        counts[i.min(bins - 1)] += 1.0;
    }
    normalized(counts)
}

/// 1 − L1/2 between two histograms of the same bins: 1 for the same mix, 0 for none in
/// common.
pub fn similarity(a: &[f64], b: &[f64]) -> f64 {
    debug_assert_eq!(a.len(), b.len());
    let l1: f64 = a.iter().zip(b).map(|(x, y)| (x - y).abs()).sum();
    1.0 - l1 / 2.0
}

/// [`similarity`] of two histograms that may be missing.
pub fn similarity_of(a: Option<&[f64]>, b: Option<&[f64]>) -> Option<f64> {
    Some(similarity(a?, b?))
}

pub fn mean(values: impl IntoIterator<Item = f64>) -> Option<f64> {
    let (sum, count) = values
        .into_iter()
        .fold((0.0, 0usize), |(s, c), v| (s + v, c + 1));
    (count > 0).then(|| sum / count as f64)
}

/// |log2(a / b)|: 1 means twice or half as much.
pub fn log_ratio_gap(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    let (a, b) = (a?, b?);
    (a > 0.0 && b > 0.0).then(|| (a / b).log2().abs())
}

pub fn abs_gap(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    Some((a? - b?).abs())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::metrics::note;

    #[test]
    fn notes_at_one_step_are_one_onset() {
        let notes = [
            note(67, 1.0),
            note(60, 0.0),
            note(64, 1.0 / 480.0),
            note(60, 0.0),
        ];
        let o = onsets(&notes);
        assert_eq!(o.len(), 2);
        assert_eq!(o[0].pitches, [60, 64], "a doubled key counts once");
        assert_eq!((o[0].top(), o[0].bottom()), (64, 60));
        assert_eq!(o[1].step, 24);
        assert_eq!(inter_onset_steps(&o).collect::<Vec<_>>(), [24]);
        assert!(onsets(&[]).is_empty());
    }

    #[test]
    fn histograms_and_gaps() {
        let h = histogram(3, [0, 0, 1, 7]).unwrap();
        assert_eq!(h, [0.5, 0.25, 0.25], "bins past the end go to the last");
        assert_eq!(histogram(3, []), None);
        assert_eq!(similarity(&h, &h), 1.0);
        assert_eq!(similarity(&[1.0, 0.0], &[0.0, 1.0]), 0.0);
        assert_eq!(similarity_of(Some(&h), None), None);
        assert_eq!(log_ratio_gap(Some(1.0), Some(4.0)), Some(2.0));
        assert_eq!(log_ratio_gap(Some(0.0), Some(4.0)), None);
        assert_eq!(abs_gap(Some(1.0), Some(4.0)), Some(3.0));
        assert_eq!(mean([1.0, 2.0]), Some(1.5));
        assert_eq!(mean([]), None);
    }
}
