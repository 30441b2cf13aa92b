//! Where onsets fall: in the beat, in the bar, and how far apart; and how long notes are held.

use continuo_core::grid::{Meter, BAR_BEATS};
use continuo_core::midi::Note;

use super::onsets::{histogram, inter_onset_steps, step_of, Onset, STEPS_PER_BEAT};

pub const BEAT_BINS: usize = STEPS_PER_BEAT as usize;
/// Every step of the longest bar the grid tells apart.
pub const BAR_BINS: usize = BAR_BEATS * BEAT_BINS;
/// Half-octave bins of inter-onset intervals: a 16th (6 steps), a triplet 8th (8), an 8th
/// (12), a triplet quarter (16) and a quarter (24) each get their own, and everything from
/// about 7 beats up shares the last.
pub const IOI_BINS: usize = 16;

/// Share of onsets at each step of the beat; beats are counted from the bar, in `meter`.
pub fn beat_histogram(onsets: &[Onset], meter: &Meter) -> Option<Vec<f64>> {
    histogram(
        BEAT_BINS,
        onsets
            .iter()
            .map(|o| usize::from(meter.position(o.step, STEPS_PER_BEAT).phase)),
    )
}

/// Share of onsets at each step of the bar, with bars from `meter`.
pub fn bar_histogram(onsets: &[Onset], meter: &Meter) -> Option<Vec<f64>> {
    histogram(
        BAR_BINS,
        onsets.iter().map(|o| {
            let p = meter.position(o.step, STEPS_PER_BEAT);
            usize::from(p.bar_beat) * BEAT_BINS + usize::from(p.phase)
        }),
    )
}

/// The bin of an interval of `steps` (≥ 1) grid steps: round(2 · log2 steps).
pub fn ioi_bin(steps: i64) -> usize {
    (2.0 * (steps.max(1) as f64).log2()).round() as usize
}

/// Share of inter-onset intervals in each of [`IOI_BINS`] bins; needs two onsets.
pub fn ioi_histogram(onsets: &[Onset]) -> Option<Vec<f64>> {
    histogram(IOI_BINS, inter_onset_steps(onsets).map(ioi_bin))
}

/// Share of notes held for each length, in the bins of [`ioi_bin`]: the articulation, which
/// tells a legato line from the same rhythm played detached.
pub fn length_histogram(notes: &[Note]) -> Option<Vec<f64>> {
    histogram(
        IOI_BINS,
        notes
            .iter()
            .map(|n| ioi_bin(step_of(n.end) - step_of(n.start))),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::metrics::note;
    use crate::check::onsets::{onsets, similarity};
    use continuo_core::grid::TimeSig;

    #[test]
    fn a_triplet_figure_falls_on_thirds_of_the_beat() {
        let notes: Vec<_> = (0..6).map(|i| note(60, f64::from(i) / 3.0)).collect();
        let h = beat_histogram(&onsets(&notes), &Meter::default()).unwrap();
        let third = 1.0 / 3.0;
        for (step, share) in h.iter().enumerate() {
            let expected = if step % 8 == 0 { third } else { 0.0 };
            assert!((share - expected).abs() < 1e-12, "step {step}: {share}");
        }
        let ioi = ioi_histogram(&onsets(&notes)).unwrap();
        assert_eq!(ioi[ioi_bin(8)], 1.0);
        // Straight 8ths share none of it.
        let eighths: Vec<_> = (0..4).map(|i| note(60, f64::from(i) / 2.0)).collect();
        let e = beat_histogram(&onsets(&eighths), &Meter::default()).unwrap();
        assert!((similarity(&h, &e) - third).abs() < 1e-12, "only the beat");
        assert_eq!(beat_histogram(&[], &Meter::default()), None);
    }

    #[test]
    fn bar_positions_follow_the_meter() {
        let waltz = Meter::constant(TimeSig {
            numerator: 3,
            denominator: 4,
        });
        // A note on each of 6 beats: two bars of 3/4, or a bar and a half of 4/4.
        let notes: Vec<_> = (0..6).map(|i| note(60, f64::from(i))).collect();
        let o = onsets(&notes);
        let h = bar_histogram(&o, &waltz).unwrap();
        assert_eq!(h.len(), BAR_BINS);
        let third = 1.0 / 3.0;
        for beat in 0..3 {
            assert!((h[beat * 24] - third).abs() < 1e-12);
        }
        let common = bar_histogram(&o, &Meter::default()).unwrap();
        assert_eq!(common[0], third, "beats 0 and 4");
        assert_eq!(common[3 * 24], 1.0 / 6.0);
        // Every beat falls on its own downbeat either way.
        assert_eq!(beat_histogram(&o, &waltz).unwrap()[0], 1.0);
    }

    #[test]
    fn lengths_tell_legato_from_detached() {
        let held = |pitch, start, end| Note {
            end,
            ..note(pitch, start)
        };
        let legato = [held(60, 0.0, 0.5), held(62, 0.5, 1.0)];
        let detached = [held(60, 0.0, 0.125), held(62, 0.5, 0.625)];
        let (l, d) = (
            length_histogram(&legato).unwrap(),
            length_histogram(&detached).unwrap(),
        );
        assert_eq!(l[ioi_bin(12)], 1.0);
        assert_eq!(d[ioi_bin(3)], 1.0);
        assert_eq!(similarity(&l, &d), 0.0);
    }

    #[test]
    fn intervals_go_to_half_octave_bins() {
        let bins: Vec<usize> = [1, 2, 3, 4, 6, 8, 12, 16, 24, 48, 96, 1000]
            .into_iter()
            .map(ioi_bin)
            .collect();
        assert_eq!(bins, [0, 2, 3, 4, 5, 6, 7, 8, 9, 11, 13, 20]);
        // The last bin takes the long ones; one onset has no interval.
        let notes = [note(60, 0.0), note(60, 0.25), note(60, 30.0)];
        let h = ioi_histogram(&onsets(&notes)).unwrap();
        assert_eq!((h[5], h[IOI_BINS - 1]), (0.5, 0.5));
        assert_eq!(ioi_histogram(&onsets(&notes[..1])), None);
    }
}
