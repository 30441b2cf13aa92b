//! Every measure of an answer against the true continuation, grouped as the table shows
//! them. Each is `None` where it needs notes, onsets or chords that a list lacks, and a mean
//! skips it there.

use std::collections::BTreeSet;

use continuo_core::grid::Meter;
use continuo_core::midi::{Note, Score};
use serde::Serialize;

use super::metrics::{self, best_key, Key};
use super::motif::{self, Shape};
use super::onsets::{abs_gap, log_ratio_gap, onsets, similarity_of, Onset};
use super::{melody, rhythm, texture};

/// What an answer is measured in the light of: its window's prompt and meter.
#[derive(Debug, Clone)]
pub struct Context {
    /// In the window's time base, where the prompt starts at beat 0.
    pub prompt: Vec<Note>,
    pub prompt_onsets: Vec<Onset>,
    pub prompt_beats: f64,
    /// The answer's length in beats, from `prompt_beats` on.
    pub answer_beats: f64,
    /// The prompt's best-fitting key.
    pub key: Key,
    /// Bars from the prompt's start.
    pub meter: Meter,
    pub shapes: BTreeSet<Shape>,
    /// Pitches below this are the prompt's bass; `None` for a one-hand prompt.
    pub bass_split: Option<u8>,
}

impl Context {
    pub fn new(prompt: &Score, prompt_beats: f64, answer_beats: f64) -> Self {
        let prompt_onsets = onsets(&prompt.notes);
        Self {
            key: best_key(&prompt.notes),
            shapes: motif::shape_set(&prompt_onsets),
            prompt: prompt.notes.clone(),
            prompt_onsets,
            prompt_beats,
            answer_beats,
            meter: prompt.meter.clone(),
            bass_split: texture::bass_split(&prompt.notes),
        }
    }
}

/// A struct of optional measures, readable as a list in field order.
macro_rules! group {
    ($(#[$doc:meta])* $name:ident { $($(#[$field_doc:meta])* $field:ident),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
        pub struct $name {
            $($(#[$field_doc])* pub $field: Option<f64>,)+
        }

        impl $name {
            fn values(&self) -> impl Iterator<Item = Option<f64>> {
                [$(self.$field),+].into_iter()
            }

            fn from_values(values: &mut impl Iterator<Item = Option<f64>>) -> Self {
                Self {
                    $($field: values.next().flatten(),)+
                }
            }
        }
    };
}

group!(
    /// Which notes, and how high.
    Pitch {
        /// 1 − L1/2 between pitch-class histograms (higher is better).
        pitch_class_similarity,
        /// Share of notes in the prompt's best-fitting key.
        in_scale,
        /// |mean pitch − true mean pitch|, semitones (lower is better).
        register_gap,
    }
);

group!(
    /// How many onsets, and where they fall.
    Rhythm {
        /// |log2(notes / true notes)| (lower is better).
        density_gap,
        /// Similarity of the onsets' positions in the beat (24 steps).
        onset_in_beat,
        /// Similarity of the onsets' positions in the bar.
        onset_in_bar,
        /// Similarity of the inter-onset intervals (half-octave bins).
        inter_onset,
        /// Similarity of the notes' lengths (half-octave bins): the articulation.
        note_length,
    }
);

group!(
    /// How thick the writing is.
    Texture {
        /// Mean pitches an onset strikes.
        notes_per_onset,
        /// |log2(notes per onset / the truth's)|.
        notes_per_onset_gap,
        /// Mean span of chords (onsets of two or more pitches), semitones.
        chord_spread,
        /// |chord spread − the truth's|.
        chord_spread_gap,
        /// Share of onsets repeating a pitch of the onset before.
        repeat_rate,
        /// Similarity of the places in the bar where the onsets reach the prompt's bass.
        bass_in_bar,
    }
);

group!(
    /// The top line.
    Melody {
        /// Similarity of the top line's intervals (an octave each way).
        interval_similarity,
        /// Similarity of the top line's shares of moves down, level and up.
        contour_similarity,
    }
);

group!(
    /// The prompt's figures again.
    Motif {
        /// Share of the top line's 3-onset shapes (intervals and times) found in the prompt.
        reuse,
        /// |reuse − the truth's reuse|.
        reuse_gap,
    }
);

/// Every measure of one answer (or the mean of many).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Measures {
    pub pitch: Pitch,
    pub rhythm: Rhythm,
    pub texture: Texture,
    pub melody: Melody,
    pub motif: Motif,
}

/// A table row: its group, its label, and which way is better (↑ higher, ↓ lower, ≈ closest
/// to the true continuation's).
pub struct Row {
    pub group: &'static str,
    pub label: &'static str,
    pub mark: char,
}

const fn row(group: &'static str, label: &'static str, mark: char) -> Row {
    Row { group, label, mark }
}

/// In the order of [`Measures::values`].
pub const ROWS: [Row; 18] = [
    row("pitch", "pitch-class similarity", '↑'),
    row("pitch", "in prompt's scale", '≈'),
    row("pitch", "register gap (semitones)", '↓'),
    row("rhythm", "density |log2 ratio|", '↓'),
    row("rhythm", "onset-in-beat similarity", '↑'),
    row("rhythm", "onset-in-bar similarity", '↑'),
    row("rhythm", "inter-onset similarity", '↑'),
    row("rhythm", "note-length similarity", '↑'),
    row("texture", "notes per onset", '≈'),
    row("texture", "notes/onset |log2 ratio|", '↓'),
    row("texture", "chord spread (semitones)", '≈'),
    row("texture", "chord spread gap", '↓'),
    row("texture", "repeated onsets", '≈'),
    row("texture", "bass-in-bar similarity", '↑'),
    row("melody", "top-line interval similarity", '↑'),
    row("melody", "top-line contour similarity", '↑'),
    row("motif", "reuse of the prompt's figures", '≈'),
    row("motif", "reuse gap", '↓'),
];

impl Measures {
    /// `answer` against `truth`, both in the window's time base.
    pub fn measure(answer: &[Note], truth: &[Note], context: &Context) -> Self {
        let (a, t) = (onsets(answer), onsets(truth));
        let meter = &context.meter;
        let reuse = |o: &[Onset]| motif::reuse(o, &context.shapes);
        let notes_per_onset = texture::notes_per_onset(&a);
        let chord_spread = texture::chord_spread(&a);
        Self {
            pitch: Pitch {
                pitch_class_similarity: metrics::pitch_class_similarity(answer, truth),
                in_scale: metrics::in_scale_share(answer, context.key.pitch_classes()),
                register_gap: metrics::register_gap(answer, truth),
            },
            rhythm: Rhythm {
                density_gap: metrics::density_gap(answer, truth),
                onset_in_beat: similarity_of(
                    rhythm::beat_histogram(&a, meter).as_deref(),
                    rhythm::beat_histogram(&t, meter).as_deref(),
                ),
                onset_in_bar: similarity_of(
                    rhythm::bar_histogram(&a, meter).as_deref(),
                    rhythm::bar_histogram(&t, meter).as_deref(),
                ),
                inter_onset: similarity_of(
                    rhythm::ioi_histogram(&a).as_deref(),
                    rhythm::ioi_histogram(&t).as_deref(),
                ),
                note_length: similarity_of(
                    rhythm::length_histogram(answer).as_deref(),
                    rhythm::length_histogram(truth).as_deref(),
                ),
            },
            texture: Texture {
                notes_per_onset,
                notes_per_onset_gap: log_ratio_gap(notes_per_onset, texture::notes_per_onset(&t)),
                chord_spread,
                chord_spread_gap: abs_gap(chord_spread, texture::chord_spread(&t)),
                repeat_rate: metrics::repeat_rate(answer),
                bass_in_bar: context
                    .bass_split
                    .and_then(|split| texture::bass_in_bar(&a, &t, split, meter)),
            },
            melody: Melody {
                interval_similarity: similarity_of(
                    melody::interval_histogram(&a).as_deref(),
                    melody::interval_histogram(&t).as_deref(),
                ),
                contour_similarity: similarity_of(
                    melody::contour(&a).as_deref(),
                    melody::contour(&t).as_deref(),
                ),
            },
            motif: Motif {
                reuse: reuse(&a),
                reuse_gap: abs_gap(reuse(&a), reuse(&t)),
            },
        }
    }

    pub fn values(&self) -> Vec<Option<f64>> {
        self.pitch
            .values()
            .chain(self.rhythm.values())
            .chain(self.texture.values())
            .chain(self.melody.values())
            .chain(self.motif.values())
            .collect()
    }

    pub fn from_values(values: &[Option<f64>]) -> Self {
        let mut v = values.iter().copied();
        Self {
            pitch: Pitch::from_values(&mut v),
            rhythm: Rhythm::from_values(&mut v),
            texture: Texture::from_values(&mut v),
            melody: Melody::from_values(&mut v),
            motif: Motif::from_values(&mut v),
        }
    }
}

/// Running means of [`Measures`], each over the answers where that measure exists.
#[derive(Debug, Clone, Copy, Default)]
pub struct MeanMeasures {
    sums: [f64; ROWS.len()],
    counts: [usize; ROWS.len()],
}

impl MeanMeasures {
    pub fn add(&mut self, m: &Measures) {
        for (i, v) in m.values().into_iter().enumerate() {
            if let Some(v) = v {
                self.sums[i] += v;
                self.counts[i] += 1;
            }
        }
    }

    pub fn mean(&self) -> Measures {
        let values: Vec<Option<f64>> = (0..ROWS.len())
            .map(|i| (self.counts[i] > 0).then(|| self.sums[i] / self.counts[i] as f64))
            .collect();
        Measures::from_values(&values)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::baselines::replay;
    use crate::check::metrics::note;

    fn close(a: Option<f64>, b: f64) -> bool {
        a.is_some_and(|a| (a - b).abs() < 1e-12)
    }

    /// Two bars of a broken C-major chord in 8ths: C E G E.
    fn prompt() -> Score {
        let notes = (0..16)
            .map(|i| note([60, 64, 67, 64][i % 4], i as f64 * 0.5))
            .collect();
        Score::new(notes, 100.0)
    }

    #[test]
    fn rows_and_values_line_up() {
        let m = Measures::default();
        assert_eq!(m.values().len(), ROWS.len());
        let values: Vec<Option<f64>> = (0..ROWS.len()).map(|i| Some(i as f64)).collect();
        let m = Measures::from_values(&values);
        assert_eq!(m.values(), values);
        assert_eq!(m.pitch.pitch_class_similarity, Some(0.0));
        assert_eq!(m.motif.reuse_gap, Some(17.0));
    }

    #[test]
    fn the_truth_against_itself_is_perfect_and_a_replay_reuses_everything() {
        let prompt = prompt();
        let context = Context::new(&prompt, 8.0, 8.0);
        let truth = replay(&prompt.notes, 8.0);
        let m = Measures::measure(&truth, &truth, &context);
        for v in [
            m.pitch.pitch_class_similarity,
            m.rhythm.onset_in_beat,
            m.rhythm.onset_in_bar,
            m.rhythm.inter_onset,
            m.melody.interval_similarity,
            m.melody.contour_similarity,
            m.motif.reuse,
        ] {
            assert!(close(v, 1.0), "{m:?}");
        }
        for v in [
            m.pitch.register_gap,
            m.rhythm.density_gap,
            m.texture.notes_per_onset_gap,
            m.motif.reuse_gap,
        ] {
            assert!(close(v, 0.0), "{m:?}");
        }
        assert_eq!(m.texture.notes_per_onset, Some(1.0));
        assert_eq!(m.texture.chord_spread, None, "no chords");
    }

    #[test]
    fn block_chords_against_a_broken_chord() {
        let prompt = prompt();
        let context = Context::new(&prompt, 8.0, 8.0);
        let truth = replay(&prompt.notes, 8.0);
        // The same chord struck on each beat: three notes an onset, every 24 steps.
        let chords: Vec<Note> = (0..8)
            .flat_map(|b| [60, 64, 67].map(|p| note(p, 8.0 + f64::from(b))))
            .collect();
        let m = Measures::measure(&chords, &truth, &context);
        assert_eq!(m.texture.notes_per_onset, Some(3.0));
        assert!(close(m.texture.notes_per_onset_gap, 3f64.log2()));
        assert_eq!(m.texture.chord_spread, Some(7.0));
        assert_eq!(m.texture.chord_spread_gap, None, "the truth has no chords");
        assert!(close(m.rhythm.onset_in_beat, 0.5), "beats, not off-beats");
        assert!(close(m.rhythm.inter_onset, 0.0), "quarters against 8ths");
        assert!(
            close(m.melody.contour_similarity, 0.0),
            "level against moving"
        );
        assert!(close(m.motif.reuse, 0.0));
        assert!(close(m.motif.reuse_gap, 1.0));
        assert!(close(m.rhythm.density_gap, 24f64.log2() - 16f64.log2()));
    }

    #[test]
    fn means_skip_missing_values() {
        let mut m = MeanMeasures::default();
        let mut one = Measures::default();
        one.pitch.register_gap = Some(1.0);
        one.texture.repeat_rate = Some(0.5);
        m.add(&one);
        one.pitch.register_gap = Some(2.0);
        one.texture.repeat_rate = None;
        m.add(&one);
        let mean = m.mean();
        assert_eq!(mean.pitch.register_gap, Some(1.5));
        assert_eq!(mean.texture.repeat_rate, Some(0.5));
        assert_eq!(mean.pitch.pitch_class_similarity, None);
    }
}
