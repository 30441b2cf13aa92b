//! Continuo's parameters: what a player sets while playing, plus the model choice that is
//! saved with the DAW project.

use std::sync::Arc;

use continuo_core::answer::DEFAULT_SILENCE_BEATS;
use continuo_core::constraints::DEFAULT_LONGEST_NOTE_BEATS;
use continuo_core::music::Scale;
use continuo_core::runtime::Provider;
use continuo_core::sampling::Sampling;
use nice_plug::prelude::*;

use crate::engine::{ANSWER_BARS, SILENCE_BEATS};
use crate::history::ClipContent;
use crate::learning::LearnedField;
use crate::protocol::SEED_MAX;
use crate::timeline::StartQuantize;

/// *Start on*: the parameter's choices, and the demo's `--start-on`.
#[derive(Enum, clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartAt {
    /// The next 16th note.
    #[name = "Next 16th"]
    Sixteenth,
    /// The next beat of the meter's pulse.
    #[name = "Next beat"]
    Beat,
    /// The next bar line.
    #[name = "Next bar"]
    Bar,
}

impl From<StartAt> for StartQuantize {
    fn from(s: StartAt) -> Self {
        match s {
            StartAt::Sixteenth => StartQuantize::Sixteenth,
            StartAt::Beat => StartQuantize::Beat,
            StartAt::Bar => StartQuantize::Bar,
        }
    }
}

#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Key {
    C,
    #[name = "C#/Db"]
    CSharp,
    D,
    #[name = "D#/Eb"]
    DSharp,
    E,
    F,
    #[name = "F#/Gb"]
    FSharp,
    G,
    #[name = "G#/Ab"]
    GSharp,
    A,
    #[name = "A#/Bb"]
    ASharp,
    B,
}

#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScaleParam {
    #[name = "Off (chromatic)"]
    Chromatic,
    Major,
    #[name = "Natural minor"]
    NaturalMinor,
    #[name = "Harmonic minor"]
    HarmonicMinor,
    Dorian,
    Mixolydian,
    #[name = "Major pentatonic"]
    MajorPentatonic,
    #[name = "Minor pentatonic"]
    MinorPentatonic,
    Blues,
}

impl From<ScaleParam> for Scale {
    fn from(s: ScaleParam) -> Self {
        Scale::ALL[s as usize]
    }
}

/// The inference device: only the execution providers this platform can run
/// ([`Provider::OFFERED`]), so the list never offers one that cannot load here. Saved by a
/// stable id, so a project keeps its choice across platforms whose lists differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Device(pub Provider);

impl Enum for Device {
    fn variants() -> &'static [&'static str] {
        static NAMES: std::sync::OnceLock<Vec<&'static str>> = std::sync::OnceLock::new();
        NAMES.get_or_init(|| Provider::OFFERED.iter().map(|p| p.name()).collect())
    }

    fn ids() -> Option<&'static [&'static str]> {
        static IDS: std::sync::OnceLock<Vec<&'static str>> = std::sync::OnceLock::new();
        Some(IDS.get_or_init(|| Provider::OFFERED.iter().map(|p| p.id()).collect()))
    }

    fn to_index(self) -> usize {
        Provider::OFFERED
            .iter()
            .position(|&p| p == self.0)
            .unwrap_or(0)
    }

    fn from_index(index: usize) -> Self {
        Self(
            Provider::OFFERED
                .get(index)
                .copied()
                .unwrap_or(Provider::Cpu),
        )
    }
}

impl From<Device> for Provider {
    fn from(d: Device) -> Self {
        d.0
    }
}

#[derive(Params)]
pub struct ContinuoParams {
    /// Model file (`.onnx` beside its `.json`) chosen for this instance; empty = the shipped
    /// default. Saved with the project.
    #[persist = "model-path"]
    pub model_path: Arc<parking_lot::Mutex<String>>,
    /// Where clips are saved; empty = [`crate::history::default_clips_dir`]. Saved with the
    /// project, like what a clip holds.
    #[persist = "clips-dir"]
    pub clips_dir: Arc<parking_lot::Mutex<String>>,
    #[persist = "clip-content"]
    pub clip_content: Arc<parking_lot::Mutex<ClipContent>>,
    /// The phrases *Learn from me* learned, when *Keep what it learned* is on; shared with
    /// the inference thread ([`crate::worker::Shared::learned`]).
    #[persist = "learned"]
    pub learned: Arc<LearnedField>,

    #[id = "bypass"]
    pub bypass: BoolParam,
    #[id = "enabled"]
    pub enabled: BoolParam,
    #[id = "temperature"]
    pub temperature: FloatParam,
    #[id = "min-p"]
    pub min_p: FloatParam,
    #[id = "repeat"]
    pub repeat_penalty: FloatParam,
    #[id = "follow"]
    pub follow: FloatParam,
    #[id = "density"]
    pub density: FloatParam,
    #[id = "polyphony"]
    pub polyphony: FloatParam,
    #[id = "length"]
    pub length_bars: IntParam,
    #[id = "silence"]
    pub silence_beats: FloatParam,
    #[id = "start"]
    pub start_at: EnumParam<StartAt>,
    #[id = "key"]
    pub key: EnumParam<Key>,
    #[id = "scale"]
    pub scale: EnumParam<ScaleParam>,
    #[id = "low"]
    pub lowest: IntParam,
    #[id = "high"]
    pub highest: IntParam,
    #[id = "longest"]
    pub longest_note: FloatParam,
    #[id = "velocity"]
    pub velocity_scale: FloatParam,
    #[id = "channel"]
    pub channel: IntParam,
    #[id = "thru"]
    pub pass_through: BoolParam,
    #[id = "seed"]
    pub seed: IntParam,
    #[id = "device"]
    pub device: EnumParam<Device>,
    /// Every answer is saved as a clip once heard, without a click.
    #[id = "keep"]
    pub keep_every: BoolParam,
    /// How much of what it learned of the player the answer draws on (0: none, the
    /// network alone, bit for bit).
    #[id = "learn"]
    pub learn: FloatParam,
    #[id = "keep-learned"]
    pub keep_learned: BoolParam,
}

const NOTE_NAMES: [&str; 12] = [
    "C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B",
];

fn note_name(n: i32) -> String {
    format!(
        "{}{}",
        NOTE_NAMES[n.rem_euclid(12) as usize],
        n.div_euclid(12) - 1
    )
}

/// Reads what [`note_name`] writes ("C-1", "F#4"), or a MIDI note number, as hosts send the
/// shown text back.
fn note_number(s: &str) -> Option<i32> {
    let s = s.trim();
    if let Ok(n) = s.parse() {
        return Some(n);
    }
    // The longest name that prefixes the text, so "C#4" is not read as "C" + "#4".
    let (pitch, name) = NOTE_NAMES
        .iter()
        .enumerate()
        .filter(|(_, name)| {
            s.get(..name.len())
                .is_some_and(|p| p.eq_ignore_ascii_case(name))
        })
        .max_by_key(|(_, name)| name.len())?;
    let octave: i32 = s.get(name.len()..)?.trim().parse().ok()?;
    Some((octave + 1) * 12 + pitch as i32)
}

/// The text of a seed: 0 means a new seed for every answer.
const SEED_VARY: &str = "Vary";

/// The top of the "Longest note" range, which means no limit.
pub const LONGEST_NOTE_UNLIMITED: f32 = 16.0;

/// Says why no answer comes (no model, still loading); `None` when a model runs.
pub type ModelProblem = Arc<dyn Fn() -> Option<String> + Send + Sync>;

impl ContinuoParams {
    /// The longest a generated note may sound, in beats; `None`: no limit.
    pub fn max_note_beats(&self) -> Option<f32> {
        let beats = self.longest_note.value();
        (beats < LONGEST_NOTE_UNLIMITED).then_some(beats)
    }

    /// `model_problem` feeds the "Answer" parameter's text: without an editor, the host's
    /// generic parameter list is where a player sees why nothing answers.
    pub fn new(model_problem: ModelProblem) -> Self {
        Self {
            clips_dir: Arc::default(),
            clip_content: Arc::default(),
            learned: Arc::default(),
            model_path: Arc::new(parking_lot::Mutex::new(
                std::env::var("CONTINUO_MODEL").unwrap_or_default(),
            )),
            bypass: BoolParam::new("Bypass", false).make_bypass(),
            enabled: BoolParam::new("Answer", true)
                .with_value_to_string(Arc::new(move |on| match (on, model_problem()) {
                    (false, _) => "Off".into(),
                    (true, None) => "On".into(),
                    (true, Some(why)) => format!("On — {why}"),
                }))
                .with_string_to_value(Arc::new(|s| {
                    let s = s.trim().to_ascii_lowercase();
                    Some(s.starts_with("on") || s == "true" || s == "1")
                })),
            temperature: FloatParam::new(
                "Temperature",
                Sampling::DEFAULT_TEMPERATURE,
                FloatRange::Linear {
                    min: 0.05,
                    max: 2.0,
                },
            )
            .with_step_size(0.01),
            min_p: FloatParam::new("Min-p", Sampling::DEFAULT_MIN_P, linear(Sampling::MIN_P))
                .with_step_size(0.01),
            follow: FloatParam::new(
                "Follow phrase",
                Sampling::DEFAULT_FOLLOW,
                linear(Sampling::FOLLOW),
            )
            .with_step_size(0.1),
            // In octaves of the phrase's own: shown as a factor a player reads at a glance.
            density: FloatParam::new("Density", 0.0, linear(Sampling::DENSITY))
                .with_step_size(0.05)
                .with_value_to_string(Arc::new(factor_to_string))
                .with_string_to_value(Arc::new(string_to_factor)),
            polyphony: FloatParam::new("Polyphony", 0.0, linear(Sampling::POLYPHONY))
                .with_step_size(0.05)
                .with_value_to_string(Arc::new(factor_to_string))
                .with_string_to_value(Arc::new(string_to_factor)),
            repeat_penalty: FloatParam::new(
                "Repeat penalty",
                Sampling::DEFAULT_REPEAT_PENALTY,
                linear(Sampling::REPEAT_PENALTY),
            )
            .with_step_size(0.1),
            length_bars: IntParam::new(
                "Answer length",
                2,
                IntRange::Linear {
                    min: ANSWER_BARS.0 as i32,
                    max: ANSWER_BARS.1 as i32,
                },
            )
            .with_unit(" bars"),
            silence_beats: FloatParam::new(
                "Silence trigger",
                DEFAULT_SILENCE_BEATS as f32,
                FloatRange::Linear {
                    min: SILENCE_BEATS.0 as f32,
                    max: SILENCE_BEATS.1 as f32,
                },
            )
            .with_step_size(0.25)
            .with_unit(" beats"),
            start_at: EnumParam::new("Start on", StartAt::Beat),
            key: EnumParam::new("Key", Key::C),
            scale: EnumParam::new("Scale lock", ScaleParam::Chromatic),
            lowest: IntParam::new("Lowest note", 21, IntRange::Linear { min: 0, max: 127 })
                .with_value_to_string(Arc::new(note_name))
                .with_string_to_value(Arc::new(note_number)),
            highest: IntParam::new("Highest note", 108, IntRange::Linear { min: 0, max: 127 })
                .with_value_to_string(Arc::new(note_name))
                .with_string_to_value(Arc::new(note_number)),
            longest_note: FloatParam::new(
                "Longest note",
                DEFAULT_LONGEST_NOTE_BEATS,
                FloatRange::Linear {
                    min: 0.5,
                    max: LONGEST_NOTE_UNLIMITED,
                },
            )
            .with_step_size(0.25)
            .with_value_to_string(Arc::new(|beats| {
                if beats >= LONGEST_NOTE_UNLIMITED {
                    "No limit".into()
                } else {
                    format!("{beats} beats")
                }
            }))
            .with_string_to_value(Arc::new(|s| {
                let s = s.trim().trim_end_matches("beats").trim();
                if s.eq_ignore_ascii_case("no limit") {
                    Some(LONGEST_NOTE_UNLIMITED)
                } else {
                    s.parse().ok()
                }
            })),
            velocity_scale: FloatParam::new(
                "Velocity",
                1.0,
                FloatRange::Linear { min: 0.1, max: 2.0 },
            )
            .with_step_size(0.01)
            .with_unit("×"),
            channel: IntParam::new("Output channel", 1, IntRange::Linear { min: 1, max: 16 }),
            pass_through: BoolParam::new("Pass input through", true),
            seed: IntParam::new(
                "Seed",
                0,
                IntRange::Linear {
                    min: 0,
                    max: SEED_MAX as i32,
                },
            )
            .with_value_to_string(Arc::new(|v| {
                if v == 0 {
                    SEED_VARY.into()
                } else {
                    v.to_string()
                }
            }))
            .with_string_to_value(Arc::new(|s| {
                let s = s.trim();
                if s.eq_ignore_ascii_case(SEED_VARY) {
                    Some(0)
                } else {
                    s.parse().ok()
                }
            })),
            device: EnumParam::new("Inference device", Device(Provider::Cpu)),
            keep_every: BoolParam::new("Save every answer", false).non_automatable(),
            learn: FloatParam::new(
                "Learn from me",
                Sampling::DEFAULT_LEARN,
                linear(Sampling::LEARN),
            )
            .with_step_size(0.05),
            keep_learned: BoolParam::new("Keep what it learned", true).non_automatable(),
        }
    }
}

/// An octave offset shown as the factor it stands for: 0 → "1.00× the phrase's".
fn factor_to_string(octaves: f32) -> String {
    format!("{:.2}× the phrase's", octaves.exp2())
}

/// A factor typed or shown ("1.5", "0.50× the phrase's") as its octave offset.
fn string_to_factor(s: &str) -> Option<f32> {
    let number: String = s
        .trim()
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == '.')
        .collect();
    let factor: f32 = number.parse().ok()?;
    (factor > 0.0).then(|| factor.log2())
}

/// A linear range from one of [`Sampling`]'s `(min, max)` pairs.
fn linear((min, max): (f32, f32)) -> FloatRange {
    FloatRange::Linear { min, max }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn density_and_polyphony_read_back_what_they_show() {
        for octaves in [-1.0f32, -0.5, 0.0, 0.25, 1.0] {
            let back = string_to_factor(&factor_to_string(octaves)).unwrap();
            assert!((back - octaves).abs() < 0.01, "{octaves} → {back}");
        }
        assert_eq!(string_to_factor("2"), Some(1.0));
        assert_eq!(string_to_factor("0"), None);
        assert_eq!(string_to_factor("much"), None);
    }

    #[test]
    fn the_device_list_offers_what_this_platform_runs_and_saves_by_id() {
        let names: Vec<&str> = Provider::OFFERED.iter().map(|p| p.name()).collect();
        assert_eq!(Device::variants(), names);
        assert_eq!(Device::variants()[0], "CPU", "the default comes first");
        for (i, &p) in Provider::OFFERED.iter().enumerate() {
            assert_eq!(Device::from_index(i).to_index(), i);
            assert_eq!(Provider::from(Device::from_index(i)), p);
            assert_eq!(Device::ids().unwrap()[i], p.id());
        }
        if cfg!(target_os = "linux") {
            assert_eq!(Device::ids().unwrap(), ["cpu", "cuda"]);
        }
    }

    #[test]
    fn the_answer_parameter_says_why_nothing_answers() {
        let text = |problem: Option<&'static str>, on: f32| {
            let p = ContinuoParams::new(Arc::new(move || problem.map(String::from)));
            p.enabled.normalized_value_to_string(on, true)
        };
        assert_eq!(text(None, 1.0), "On");
        assert_eq!(text(Some("no model: gone"), 0.0), "Off");
        assert_eq!(text(Some("no model: gone"), 1.0), "On — no model: gone");

        // Hosts may send the shown text back; it must still parse as on.
        let p = ContinuoParams::new(Arc::new(|| Some("loading model".into())));
        let shown = p.enabled.normalized_value_to_string(1.0, true);
        assert_eq!(p.enabled.string_to_normalized_value(&shown), Some(1.0));
        assert_eq!(p.enabled.string_to_normalized_value("Off"), Some(0.0));
    }

    /// clap-validator's param-conversions check: every shown text parses back to its value.
    #[test]
    fn note_and_seed_texts_parse_back() {
        let p = ContinuoParams::new(Arc::new(|| None));
        for param in [&p.lowest, &p.highest, &p.seed] {
            for step in [0.0, 0.1, 0.27, 0.5, 0.93, 1.0] {
                let v = param.preview_normalized(param.preview_plain(step));
                let text = param.normalized_value_to_string(v, true);
                assert_eq!(param.string_to_normalized_value(&text), Some(v), "{text}");
            }
        }
        assert_eq!(note_number("C-1"), Some(0));
        assert_eq!(note_number("c#4"), Some(61));
        assert_eq!(note_number("G9"), Some(127));
        assert_eq!(note_number("A0"), Some(21));
        assert_eq!(note_number("60"), Some(60));
        assert_eq!(note_number("H2"), None);
        assert_eq!(note_number("C♯4"), None);
    }

    #[test]
    fn longest_note_tops_out_at_no_limit() {
        let p = ContinuoParams::new(Arc::new(|| None));
        assert_eq!(p.max_note_beats(), Some(DEFAULT_LONGEST_NOTE_BEATS));
        let top = p.longest_note.preview_normalized(LONGEST_NOTE_UNLIMITED);
        assert_eq!(
            p.longest_note.normalized_value_to_string(top, true),
            "No limit"
        );
        assert_eq!(
            p.longest_note.string_to_normalized_value("No limit"),
            Some(top)
        );
        let two = p
            .longest_note
            .string_to_normalized_value("2 beats")
            .unwrap();
        assert_eq!(p.longest_note.preview_plain(two), 2.0);
    }
}
