//! Who the plugin is to a host: its name, vendor, version and VST3 class. The plugin's
//! `Plugin` and `Vst3Plugin` implementations take it from here, and so does xtask, which
//! compiles this file into itself to write each VST3 bundle's `moduleinfo.json`: so it may
//! use nothing outside itself.

pub const NAME: &str = "Continuo";
pub const VENDOR: &str = "Continuo developers";
pub const URL: &str = "https://github.com/continuo-midi/continuo";
pub const EMAIL: &str = "continuo@example.invalid";
/// The workspace's version, which every crate takes, xtask included.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

pub const VST3_CLASS_ID: [u8; 16] = *b"ContinuoGRUmidi1";
/// As VST3 spells them (the SDK's `PlugType`), and so as hosts and `moduleinfo.json` see them.
pub const VST3_SUBCATEGORIES: [&str; 2] = ["Fx", "Tools"];
