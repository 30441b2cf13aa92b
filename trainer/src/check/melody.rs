//! The top line (the highest pitch of each onset): its intervals and its contour.

use super::onsets::{histogram, normalized, Onset};

/// Intervals up to an octave each way get a bin; wider ones share the octave's.
pub const MAX_INTERVAL: i32 = 12;
pub const INTERVAL_BINS: usize = 2 * MAX_INTERVAL as usize + 1;

/// Semitones from each top note to the next, in time order.
pub fn top_intervals(onsets: &[Onset]) -> impl Iterator<Item = i32> + '_ {
    onsets
        .windows(2)
        .map(|w| i32::from(w[1].top()) - i32::from(w[0].top()))
}

fn interval_bin(interval: i32) -> usize {
    (interval.clamp(-MAX_INTERVAL, MAX_INTERVAL) + MAX_INTERVAL) as usize
}

/// Share of the top line's moves of each interval, from an octave down (bin 0) to an octave
/// up; needs two onsets.
pub fn interval_histogram(onsets: &[Onset]) -> Option<Vec<f64>> {
    histogram(INTERVAL_BINS, top_intervals(onsets).map(interval_bin))
}

/// Shares of the top line's moves that go down, stay, and go up; needs two onsets.
pub fn contour(onsets: &[Onset]) -> Option<Vec<f64>> {
    let mut counts = vec![0.0; 3];
    for i in top_intervals(onsets) {
        counts[(i.signum() + 1) as usize] += 1.0;
    }
    normalized(counts)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::metrics::note;
    use crate::check::onsets::onsets;

    #[test]
    fn the_top_line_is_the_highest_note_of_each_onset() {
        // C E G C' in the top, over a bass C held under the first two.
        let notes = [
            note(48, 0.0),
            note(60, 0.0),
            note(64, 1.0),
            note(48, 1.0),
            note(67, 2.0),
            note(72, 3.0),
            note(55, 4.0),
        ];
        let o = onsets(&notes);
        assert_eq!(top_intervals(&o).collect::<Vec<_>>(), [4, 3, 5, -17]);
        let h = interval_histogram(&o).unwrap();
        assert_eq!(h[interval_bin(4)], 0.25);
        assert_eq!(h[0], 0.25, "a 17th down counts as an octave down");
        assert_eq!(contour(&o).unwrap(), [0.25, 0.0, 0.75]);
        assert_eq!(contour(&o[..1]), None);
    }

    #[test]
    fn a_repeated_note_stays() {
        let o = onsets(&[note(60, 0.0), note(60, 1.0), note(60, 2.0)]);
        assert_eq!(contour(&o).unwrap(), [0.0, 1.0, 0.0]);
        assert_eq!(interval_histogram(&o).unwrap()[MAX_INTERVAL as usize], 1.0);
    }
}
