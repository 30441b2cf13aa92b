//! Continuo's parameters: what a player sets while playing, plus the model choice that is
//! saved with the DAW project.

use std::sync::Arc;

use continuo_core::runtime::Provider;
use continuo_core::sampling::Scale;
use nice_plug::prelude::*;

use crate::timeline::StartQuantize;

#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartAt {
    #[name = "Next 16th"]
    Sixteenth,
    #[name = "Next beat"]
    Beat,
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

#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Device {
    #[name = "CPU"]
    Cpu,
    #[name = "CUDA"]
    Cuda,
    #[name = "CoreML"]
    CoreMl,
}

impl From<Device> for Provider {
    fn from(d: Device) -> Self {
        match d {
            Device::Cpu => Provider::Cpu,
            Device::Cuda => Provider::Cuda,
            Device::CoreMl => Provider::CoreMl,
        }
    }
}

#[derive(Params)]
pub struct ContinuoParams {
    /// Model file (`.onnx` beside its `.json`) chosen for this instance; empty = the shipped
    /// default. Saved with the project.
    #[persist = "model-path"]
    pub model_path: Arc<parking_lot::Mutex<String>>,

    #[id = "bypass"]
    pub bypass: BoolParam,
    #[id = "enabled"]
    pub enabled: BoolParam,
    #[id = "temperature"]
    pub temperature: FloatParam,
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
}

fn note_name(n: i32) -> String {
    const NAMES: [&str; 12] = [
        "C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B",
    ];
    format!(
        "{}{}",
        NAMES[n.rem_euclid(12) as usize],
        n.div_euclid(12) - 1
    )
}

impl Default for ContinuoParams {
    fn default() -> Self {
        Self {
            model_path: Arc::new(parking_lot::Mutex::new(
                std::env::var("CONTINUO_MODEL").unwrap_or_default(),
            )),
            bypass: BoolParam::new("Bypass", false).make_bypass(),
            enabled: BoolParam::new("Answer", true),
            temperature: FloatParam::new(
                "Temperature",
                0.9,
                FloatRange::Linear {
                    min: 0.05,
                    max: 2.0,
                },
            )
            .with_step_size(0.01),
            length_bars: IntParam::new("Answer length", 2, IntRange::Linear { min: 1, max: 16 })
                .with_unit(" bars"),
            silence_beats: FloatParam::new(
                "Silence trigger",
                1.0,
                FloatRange::Linear {
                    min: 0.25,
                    max: 8.0,
                },
            )
            .with_step_size(0.25)
            .with_unit(" beats"),
            start_at: EnumParam::new("Start on", StartAt::Beat),
            key: EnumParam::new("Key", Key::C),
            scale: EnumParam::new("Scale lock", ScaleParam::Chromatic),
            lowest: IntParam::new("Lowest note", 21, IntRange::Linear { min: 0, max: 127 })
                .with_value_to_string(Arc::new(note_name)),
            highest: IntParam::new("Highest note", 108, IntRange::Linear { min: 0, max: 127 })
                .with_value_to_string(Arc::new(note_name)),
            velocity_scale: FloatParam::new(
                "Velocity",
                1.0,
                FloatRange::Linear { min: 0.1, max: 2.0 },
            )
            .with_step_size(0.01)
            .with_unit("×"),
            channel: IntParam::new("Output channel", 1, IntRange::Linear { min: 1, max: 16 }),
            pass_through: BoolParam::new("Pass input through", true),
            seed: IntParam::new("Seed", 0, IntRange::Linear { min: 0, max: 9999 })
                .with_value_to_string(Arc::new(
                    |v| if v == 0 { "Vary".into() } else { v.to_string() },
                )),
            device: EnumParam::new("Inference device", Device::Cpu),
        }
    }
}
