//! What the classifier sees of a passage: the measures' histograms and means as one vector.
//!
//! Pitch classes are counted from the prompt's key, and register and likeness are taken
//! against the prompt, so that windows in different keys and registers are comparable and
//! the classifier can hear whether a passage belongs after its prompt, not only whether it
//! sounds like music. A measure a passage lacks (an empty answer has no onsets) counts as 0.

use continuo_core::midi::Note;

use super::measures::Context;
use super::metrics::{mean_pitch, pitch_class_histogram, repeat_rate};
use super::onsets::{onsets, similarity_of};
use super::{melody, motif, rhythm, texture};

/// The vector's length.
pub const FEATURES: usize =
    rhythm::BEAT_BINS + 2 * rhythm::IOI_BINS + 12 + melody::INTERVAL_BINS + 3 + 10;

/// The vector's parts, each named for what the classifier hears in it: with one part alone,
/// its accuracy says how much that part gives an answer away.
pub const GROUPS: [(&str, std::ops::Range<usize>); 10] = {
    const BEAT: usize = rhythm::BEAT_BINS;
    const IOI: usize = BEAT + rhythm::IOI_BINS;
    const LENGTH: usize = IOI + rhythm::IOI_BINS;
    const CLASSES: usize = LENGTH + 12;
    const INTERVALS: usize = CLASSES + melody::INTERVAL_BINS;
    const CONTOUR: usize = INTERVALS + 3;
    [
        ("onset in beat", 0..BEAT),
        ("inter-onset", BEAT..IOI),
        ("note lengths", IOI..LENGTH),
        ("pitch classes", LENGTH..CLASSES),
        ("top-line intervals", CLASSES..INTERVALS),
        ("top-line contour", INTERVALS..CONTOUR),
        ("notes/onset, spread", CONTOUR..CONTOUR + 2),
        ("register, range", CONTOUR + 2..CONTOUR + 4),
        ("density, repeats", CONTOUR + 4..CONTOUR + 6),
        ("likeness to prompt", CONTOUR + 6..FEATURES),
    ]
};

/// The scalar features at the vector's end, in order.
const SCALARS: [&str; 10] = [
    "notes per onset",
    "chord spread",
    "register against the prompt's",
    "range",
    "density against the prompt's",
    "repeated onsets",
    "reuse of the prompt's figures",
    "pitch classes like the prompt's",
    "onsets in the beat like the prompt's",
    "onsets in the bar like the prompt's",
];

/// What feature `i` (< [`FEATURES`]) is, in words: the bin of its histogram or the measure.
pub fn name(i: usize) -> String {
    let (group, range) = GROUPS
        .iter()
        .find(|(_, r)| r.contains(&i))
        .expect("a feature of the vector");
    let k = i - range.start;
    // The grid steps that fall in inter-onset or length bin `k` (`rhythm::ioi_bin`).
    let steps = || {
        let mut fall = (1..=4096).filter(|&s| rhythm::ioi_bin(s) == k);
        match (fall.next(), fall.next_back()) {
            (Some(1), None) => "1 step".to_string(),
            (Some(lo), None) => format!("{lo} steps"),
            (Some(lo), Some(_)) if k + 1 == rhythm::IOI_BINS => format!("{lo} steps or more"),
            (Some(lo), Some(hi)) => format!("{lo}-{hi} steps"),
            (None, _) => "no whole number of steps".to_string(),
        }
    };
    match *group {
        "onset in beat" => format!("onsets at step {k} of the beat's {}", rhythm::BEAT_BINS),
        "inter-onset" => format!("inter-onset intervals of {}", steps()),
        "note lengths" => format!("notes {} long", steps()),
        "pitch classes" => format!("pitch class {k} above the key's root"),
        "top-line intervals" => {
            let semitones = k as i32 - melody::MAX_INTERVAL;
            let wider = if semitones.abs() == melody::MAX_INTERVAL {
                " or wider"
            } else {
                ""
            };
            format!("top-line moves of {semitones:+} semitones{wider}")
        }
        "top-line contour" => format!("top-line moves {}", ["down", "level", "up"][k]),
        _ => SCALARS[i - (FEATURES - SCALARS.len())].to_string(),
    }
}

fn histogram_or_zeros(h: Option<Vec<f64>>, bins: usize) -> Vec<f64> {
    h.unwrap_or_else(|| vec![0.0; bins])
}

/// `notes` (a passage in the window's time base, where the answer's bars are) as features.
pub fn features(notes: &[Note], context: &Context) -> Vec<f64> {
    let o = onsets(notes);
    let prompt = &context.prompt_onsets;
    let meter = &context.meter;
    let mut v = Vec::with_capacity(FEATURES);
    let beat = rhythm::beat_histogram(&o, meter);
    v.extend(histogram_or_zeros(beat.clone(), rhythm::BEAT_BINS));
    v.extend(histogram_or_zeros(
        rhythm::ioi_histogram(&o),
        rhythm::IOI_BINS,
    ));
    v.extend(histogram_or_zeros(
        rhythm::length_histogram(notes),
        rhythm::IOI_BINS,
    ));
    let pitch_classes = pitch_class_histogram(notes);
    let root = usize::from(context.key.root);
    v.extend((0..12).map(|pc| pitch_classes.map_or(0.0, |h| h[(pc + root) % 12])));
    v.extend(histogram_or_zeros(
        melody::interval_histogram(&o),
        melody::INTERVAL_BINS,
    ));
    v.extend(histogram_or_zeros(melody::contour(&o), 3));
    let register = match (mean_pitch(notes), mean_pitch(&context.prompt)) {
        (Some(a), Some(p)) => a - p,
        _ => 0.0,
    };
    let range = match (
        notes.iter().map(|n| n.pitch).max(),
        notes.iter().map(|n| n.pitch).min(),
    ) {
        (Some(hi), Some(lo)) => f64::from(hi - lo),
        _ => 0.0,
    };
    // Notes per beat against the prompt's, on a log scale; the +1 keeps an empty answer finite.
    let density = ((notes.len() as f64 + 1.0) / context.answer_beats.max(1e-9)).log2()
        - ((context.prompt.len() as f64 + 1.0) / context.prompt_beats.max(1e-9)).log2();
    let prompt_notes = &context.prompt;
    v.extend(
        [
            texture::notes_per_onset(&o),
            texture::chord_spread(&o),
            Some(register),
            Some(range),
            Some(density),
            repeat_rate(notes),
            motif::reuse(&o, &context.shapes),
            super::metrics::pitch_class_similarity(notes, prompt_notes),
            similarity_of(
                beat.as_deref(),
                rhythm::beat_histogram(prompt, meter).as_deref(),
            ),
            similarity_of(
                rhythm::bar_histogram(&o, meter).as_deref(),
                rhythm::bar_histogram(prompt, meter).as_deref(),
            ),
        ]
        .map(|x| x.unwrap_or(0.0)),
    );
    debug_assert_eq!(v.len(), FEATURES);
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::baselines::replay;
    use crate::check::metrics::note;
    use continuo_core::midi::Score;

    #[test]
    fn the_groups_cover_the_vector_once_in_order() {
        let mut next = 0;
        for (_, range) in GROUPS {
            assert_eq!(range.start, next);
            assert!(range.end > range.start);
            next = range.end;
        }
        assert_eq!(next, FEATURES);
    }

    #[test]
    fn every_feature_has_its_own_name() {
        let names: std::collections::BTreeSet<String> = (0..FEATURES).map(name).collect();
        assert_eq!(names.len(), FEATURES);
        assert_eq!(name(0), "onsets at step 0 of the beat's 24");
        assert_eq!(name(FEATURES - 1), "onsets in the bar like the prompt's");
        let intervals = GROUPS[4].1.start;
        assert_eq!(name(intervals), "top-line moves of -12 semitones or wider");
        assert_eq!(name(intervals + 14), "top-line moves of +2 semitones");
        let lengths = GROUPS[2].1.start;
        assert_eq!(name(lengths), "notes 1 step long");
        assert_eq!(
            name(lengths + 7),
            "notes 10-13 steps long",
            "an 8th among them"
        );
        assert_eq!(name(lengths + 15), "notes 153 steps or more long");
    }

    #[test]
    fn a_replay_looks_like_its_prompt_and_silence_is_zeros() {
        // D major, D F# A D' in 8ths for two bars.
        let notes = (0..16)
            .map(|i| note([62, 66, 69, 74][i % 4], i as f64 * 0.5))
            .collect();
        let prompt = Score::new(notes, 100.0);
        let context = Context::new(&prompt, 8.0, 8.0);
        let v = features(&replay(&prompt.notes, 8.0), &context);
        assert_eq!(v.len(), FEATURES);
        let tail = &v[FEATURES - 10..];
        // One note an onset, no chords, the prompt's register, its octave's range and its
        // density, no repeats, and the prompt's figures, pitch classes and positions.
        assert_eq!(tail[..4], [1.0, 0.0, 0.0, 12.0]);
        assert!(tail[4].abs() < 1e-12);
        assert_eq!(tail[5..], [0.0, 1.0, 1.0, 1.0, 1.0]);
        // The tonic, D, is the first pitch class.
        let pcs = rhythm::BEAT_BINS + 2 * rhythm::IOI_BINS;
        assert_eq!(v[pcs], 0.5, "D and D'");
        assert_eq!(v[pcs + 4], 0.25, "F#");
        let silent = features(&[], &context);
        assert_eq!(silent.len(), FEATURES);
        assert!(silent.iter().all(|x| x.is_finite()));
        assert!(silent[..FEATURES - 10].iter().all(|&x| x == 0.0));
    }
}
