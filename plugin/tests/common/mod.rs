//! Shared by the host tests: building the plugin library the way a host would load it, and
//! the phrase the "player" plays; `vst3_harness` is the VST3 host.

#![allow(dead_code)]

pub mod vst3_harness;

use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

pub const SAMPLE_RATE: f64 = 48_000.0;
pub const BLOCK: u32 = 256;
pub const TEMPO: f64 = 120.0;
pub const SAMPLES_PER_BEAT: f64 = SAMPLE_RATE * 60.0 / TEMPO;

/// The plugin's shared library, built in debug with `assert_process_allocs` so that any
/// allocation on the audio thread aborts the test. `CONTINUO_PLUGIN_LIB` overrides it.
pub fn plugin_library() -> PathBuf {
    static LIB: OnceLock<PathBuf> = OnceLock::new();
    LIB.get_or_init(|| {
        if let Some(p) = std::env::var_os("CONTINUO_PLUGIN_LIB") {
            return PathBuf::from(p);
        }
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .unwrap()
            .to_path_buf();
        // A separate target dir: the outer `cargo test` holds the default one.
        let target = root.join("target").join("plugin-under-test");
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let status = Command::new(cargo)
            .current_dir(&root)
            .args([
                "build",
                "-p",
                "continuo",
                "--lib",
                "--features",
                "assert_process_allocs",
                "--target-dir",
            ])
            .arg(&target)
            .status()
            .expect("running cargo build for the plugin");
        assert!(status.success(), "building the plugin library failed");
        let name = if cfg!(target_os = "macos") {
            "libcontinuo.dylib"
        } else if cfg!(windows) {
            "continuo.dll"
        } else {
            "libcontinuo.so"
        };
        target.join("debug").join(name)
    })
    .clone()
}

/// (beat, pitch, velocity; 0 = release): a C major arpeggio up and down, eighth notes,
/// beats 0–4.
pub fn phrase() -> Vec<(f64, u8, u8)> {
    let pitches = [60u8, 64, 67, 72, 67, 64, 62, 60];
    let mut ev = Vec::new();
    for (i, &p) in pitches.iter().enumerate() {
        let b = i as f64 * 0.5;
        ev.push((b, p, 96));
        ev.push((b + 0.45, p, 0));
    }
    ev
}

/// A note that left the plugin: absolute sample time, channel, pitch, velocity (0 = off).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Heard {
    pub sample: u64,
    pub channel: u8,
    pub pitch: u8,
    pub velocity: u8,
}

impl Heard {
    pub fn beat(&self) -> f64 {
        self.sample as f64 / SAMPLES_PER_BEAT
    }
}

pub const C_MAJOR: [u8; 7] = [0, 2, 4, 5, 7, 9, 11];

/// Checks the answer is musical and well-formed: notes on the answer channel only after the
/// phrase's pause, within range and key, and every note-on matched by a note-off.
pub fn check_answer(
    heard: &[Heard],
    answer_channel: u8,
    earliest_beat: f64,
    latest_beat: f64,
    lo: u8,
    hi: u8,
) {
    let answer: Vec<_> = heard
        .iter()
        .filter(|h| h.channel == answer_channel)
        .collect();
    let ons: Vec<_> = answer.iter().filter(|h| h.velocity > 0).collect();
    assert!(!ons.is_empty(), "no generated notes; heard {heard:?}");
    for h in &ons {
        assert!(
            h.beat() >= earliest_beat - 1e-9,
            "note before the pause ended: {h:?}"
        );
        assert!(
            h.beat() <= latest_beat + 1e-9,
            "note after the answer's end: {h:?}"
        );
        assert!((lo..=hi).contains(&h.pitch), "pitch out of range: {h:?}");
        assert!(
            C_MAJOR.contains(&(h.pitch % 12)),
            "pitch out of C major: {h:?}"
        );
    }
    let mut sounding = [0i32; 128];
    for h in &answer {
        if h.velocity > 0 {
            sounding[h.pitch as usize] += 1;
            assert!(
                sounding[h.pitch as usize] <= 1,
                "pitch struck twice without release: {h:?}"
            );
        } else {
            sounding[h.pitch as usize] -= 1;
            assert!(
                sounding[h.pitch as usize] >= 0,
                "note-off without note-on: {h:?}"
            );
        }
    }
    assert!(
        sounding.iter().all(|&s| s == 0),
        "stuck notes: {:?}",
        sounding
            .iter()
            .enumerate()
            .filter(|(_, &s)| s != 0)
            .collect::<Vec<_>>()
    );
}

/// What both host tests drive: one block at a time, with the transport running or stopped.
pub trait HostSession {
    /// A parameter change in the format's own terms (CLAP: id and plain index, VST3: id and
    /// plain value, normalized by the plugin).
    type Param: Copy;
    /// The sample position of the next block.
    fn sample(&self) -> u64;
    /// Every note that has left the plugin so far.
    fn heard(&self) -> &[Heard];
    /// One block of `BLOCK` samples; `notes` are (offset, pitch, velocity; 0 = release).
    fn block(&mut self, playing: bool, params: &[Self::Param], notes: &[(u32, u8, u8)]);
    /// The host renders offline: the plugin waits for its answers, so the test needs no
    /// wall-clock pacing and runs on the virtual clock of its blocks alone.
    fn offline(&self) -> bool;
}

/// Plays `events` (beat, pitch, velocity) over blocks until `until_beat`. Offline, as fast as
/// the machine goes; in real time, at up to 8× real time so the inference thread gets the head
/// start it would have in a DAW. `params` go with the first block.
pub fn play<S: HostSession>(
    s: &mut S,
    events: &[(f64, u8, u8)],
    until_beat: f64,
    params: &[S::Param],
) {
    let mut first = true;
    while (s.sample() as f64) < until_beat * SAMPLES_PER_BEAT {
        let start = s.sample();
        let in_block: Vec<(u32, u8, u8)> = events
            .iter()
            .map(|&(b, p, v)| ((b * SAMPLES_PER_BEAT).round() as u64, p, v))
            .filter(|&(t, _, _)| t >= start && t < start + u64::from(BLOCK))
            .map(|(t, p, v)| ((t - start) as u32, p, v))
            .collect();
        s.block(true, if first { params } else { &[] }, &in_block);
        first = false;
        if s.offline() {
            continue;
        }
        std::thread::sleep(std::time::Duration::from_micros(
            (f64::from(BLOCK) / SAMPLE_RATE * 1e6 / 8.0) as u64,
        ));
    }
}

/// Generated notes sounding after `heard` on `channel`.
pub fn sounding(heard: &[Heard], channel: u8) -> usize {
    let mut on = [false; 128];
    for h in heard.iter().filter(|h| h.channel == channel) {
        on[usize::from(h.pitch)] = h.velocity > 0;
    }
    on.iter().filter(|&&b| b).count()
}

/// Runs blocks with the transport playing until a generated note sounds on `channel`, so a
/// test can interrupt the answer mid-note. Panics if none does before `limit_beat`.
pub fn play_until_sounding<S: HostSession>(s: &mut S, channel: u8, limit_beat: f64) {
    while sounding(s.heard(), channel) == 0 {
        assert!(
            (s.sample() as f64) < limit_beat * SAMPLES_PER_BEAT,
            "no generated note sounded before beat {limit_beat}"
        );
        play(
            s,
            &[],
            (s.sample() + u64::from(BLOCK)) as f64 / SAMPLES_PER_BEAT,
            &[],
        );
    }
}

/// The scenario both host tests play, with `params` setting key lock C major, range C3–C6
/// and 1-bar answers on channel 2: a phrase and its answer, then a second phrase stopped
/// mid-answer.
pub fn answer_then_stop<S: HostSession>(s: &mut S, params: &[S::Param]) {
    // Phrase in beats 0–3.95, pause of 1 beat reached at 4.95 → answer from beat 5 for a bar.
    play(s, &phrase(), 10.0, params);
    let played = s.heard().iter().filter(|h| h.channel == 0).count();
    assert_eq!(played, phrase().len(), "the played phrase passes through");
    check_answer(s.heard(), 1, 5.0, 9.0, 48, 84);

    // Every sounding generated note ends at the stop, and no new one starts.
    play(s, &phrase_at(10.0), 16.5, &[]);
    let before_stop = s.heard().len();
    for _ in 0..200 {
        s.block(false, &[], &[]);
    }
    let after: Vec<_> = s.heard()[before_stop..]
        .iter()
        .filter(|h| h.channel == 1)
        .collect();
    assert!(
        after.iter().all(|h| h.velocity == 0),
        "no new notes after stop: {after:?}"
    );
    let second: Vec<_> = s
        .heard()
        .iter()
        .copied()
        .filter(|h| h.beat() >= 10.0)
        .collect();
    check_answer(&second, 1, 15.0, 19.0, 48, 84);
}

/// The same phrase `beats` later.
pub fn phrase_at(beats: f64) -> Vec<(f64, u8, u8)> {
    phrase()
        .into_iter()
        .map(|(b, p, v)| (b + beats, p, v))
        .collect()
}

/// nice-plug's parameter id hash (CLAP ids and VST3 ParamIDs alike).
pub fn param_id(id: &str) -> u32 {
    let mut hash: u32 = 0;
    for b in id.bytes() {
        hash = hash.wrapping_mul(31).wrapping_add(u32::from(b));
    }
    hash & !(1 << 31)
}
