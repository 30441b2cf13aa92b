//! Who the plugin is to a host: its name, vendor, version and classes. The plugin's `Plugin`,
//! `ClapPlugin` and `Vst3Plugin` implementations take it from here, and so does xtask, which
//! compiles this file into itself to write each VST3 bundle's `moduleinfo.json`: so it may
//! use nothing outside itself.

pub const NAME: &str = "Continuo";
pub const VENDOR: &str = "Continuo developers";
pub const URL: &str = "https://github.com/continuo-midi/continuo";
pub const EMAIL: &str = "continuo@example.invalid";
/// The workspace's version, which every crate takes, xtask included.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// One of the plugin's two faces: the same plugin, laid out for different hosts.
pub struct Variant {
    pub name: &'static str,
    pub clap_id: &'static str,
    pub vst3_class_id: [u8; 16],
    /// As VST3 spells them (the SDK's `PlugType`), and so as hosts and `moduleinfo.json` see
    /// them.
    pub vst3_subcategories: &'static [&'static str],
    /// A silent stereo output. Ableton Live and FL Studio take a plugin that plays MIDI only
    /// as an instrument with audio, then route its MIDI output to other tracks.
    pub audio_out: bool,
}

/// A MIDI effect with no audio: it sits before an instrument (Bitwig, Reaper, Ardour).
pub const EFFECT: Variant = Variant {
    name: NAME,
    clap_id: "org.continuo.continuo",
    vst3_class_id: *b"ContinuoGRUmidi1",
    vst3_subcategories: &["Fx", "Tools"],
    audio_out: false,
};

/// An instrument whose audio is silence, for hosts that want one (Live, FL Studio).
pub const INSTRUMENT: Variant = Variant {
    name: "Continuo Instrument",
    clap_id: "org.continuo.continuo-instrument",
    vst3_class_id: *b"ContinuoGRUinst1",
    vst3_subcategories: &["Instrument", "Generator"],
    audio_out: true,
};

/// Every class the plugin library exports, in the order of its factories.
pub const VARIANTS: [&Variant; 2] = [&EFFECT, &INSTRUMENT];
