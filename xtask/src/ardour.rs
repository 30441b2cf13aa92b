//! `ardour`: Continuo's VST3 bundle in a real DAW, Ardour 7, driven through its headless Lua
//! interpreter (`ardour7-lua`) on the Dummy backend, in a temporary `HOME`.
//!
//! 1. *record*: a phrase is recorded into a MIDI region (played by a Lua plugin, so that it
//!    lands exactly), then played through Continuo in real time while a second MIDI track,
//!    fed by the first one's MIDI output, records what comes out; the session is saved.
//! 2. *reopen*: the session is loaded again; the parameters must have survived, nothing may be
//!    recorded before the phrase plays, and the phrase is answered again.
//! 3. *export*: the session is exported offline at 256- and at 8192-sample buffers. Ardour
//!    exports audio only, so a Lua plugin after Continuo writes each note-on and note-off into
//!    the audio, one exact float a sample, and the WAV files are read back as MIDI.
//! 4. *bounce*: Ardour's "bounce with processing" up to Continuo, reported, not judged: Ardour
//!    7.3 says the track is not bounceable that way and bounces the phrase alone.
//!
//! Where `ardour7-lua` or Ardour's VST3 scanner is missing, it says "skipped" and passes.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};

use crate::bundle::debug_bundles;
use crate::ort::fetch_ort;
use crate::validate::plugin_under_test_path;
use crate::Platform;

const DRIVER: &str = include_str!("../ardour/continuo.lua");
const PHRASE_PLAYER: &str = include_str!("../ardour/phrase_player.lua");
const ENCODER: &str = include_str!("../ardour/midi_to_audio.lua");
const EXPORT_FORMAT: &str = include_str!("../ardour/continuo-check.format");
const EXPORT_PRESET: &str = include_str!("../ardour/continuo-check.preset");
/// The id in `continuo-check.preset`.
const EXPORT_PRESET_ID: &str = "3f6b1d0e-8a47-4c2e-a1f5-7d9e2b4c6a80";

const RATE: f64 = 48_000.0;
/// A new Ardour session's tempo; the driver reports it and the check refuses another.
const TEMPO: f64 = 120.0;
const SAMPLES_PER_BEAT: f64 = RATE * 60.0 / TEMPO;
/// Continuo's time step (the built-in model's `steps_per_beat`).
const STEP_BEATS: f64 = 1.0 / 24.0;

/// Where the phrase starts: the second bar, so a first bar of silence comes before it.
const PHRASE_AT: f64 = 4.0;
/// The phrase's last release is at 7.95; after the 1-beat silence trigger (8.95), the answer
/// starts on the next beat and lasts the one bar the parameters ask for.
const ANSWER_FROM: f64 = 9.0;
const ANSWER_UNTIL: f64 = 13.0;
/// How far each pass rolls: the phrase recording, the silence before the phrase, the rest.
const PHRASE_UNTIL: f64 = 8.5;
const QUIET_UNTIL: f64 = 3.5;
const ROLL_UNTIL: f64 = 14.5;
const OUTPUT_CHANNEL: u8 = 2;
const LOWEST: u8 = 48;
const HIGHEST: u8 = 84;
const C_MAJOR: [u8; 7] = [0, 2, 4, 5, 7, 9, 11];
/// Key lock C major, range C3–C6, 1-bar answers on channel 2 (as the host tests set them),
/// a fixed seed so that every pass must play the same answer, and *Learn from me* off: the
/// reopened session restores what the first pass learned, and would answer from it.
const PARAMS: &str = "Scale lock=1,Key=0,Lowest note=48,Highest note=84,Answer length=1,\
                      Output channel=2,Seed=7,Learn from me=0";

const BUFFERS: [u32; 2] = [256, 8192];
/// Ardour 7.3 sometimes corrupts its heap around an export and aborts, with or without
/// Continuo in the session; a stage that dies of a signal runs again, up to this many times.
const ATTEMPTS: usize = 6;
/// A stage that runs longer than this has hung (the driver times out its own waits sooner).
const STAGE_LIMIT: Duration = Duration::from_secs(300);

/// The host tests' phrase (`plugin/tests/common/mod.rs`): a C major arpeggio up and down in
/// eighth notes, each released after 0.45 beats; here from `PHRASE_AT`.
fn phrase() -> Vec<Note> {
    [60u8, 64, 67, 72, 67, 64, 62, 60]
        .iter()
        .enumerate()
        .map(|(i, &pitch)| {
            let on = PHRASE_AT + i as f64 * 0.5;
            Note {
                on,
                off: on + 0.45,
                channel: 1,
                pitch,
                velocity: 96,
            }
        })
        .collect()
}

fn sample(beat: f64) -> u64 {
    (beat * SAMPLES_PER_BEAT).round() as u64
}

/// A note as Ardour recorded it, in beats from the session start; `channel` 1–16.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Note {
    on: f64,
    off: f64,
    channel: u8,
    pitch: u8,
    velocity: u8,
}

/// A note-on or note-off read back from an exported WAV.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Event {
    sample: u64,
    on: bool,
    channel: u8,
    pitch: u8,
}

impl Event {
    fn beat(&self) -> f64 {
        self.sample as f64 / SAMPLES_PER_BEAT
    }
}

/// What a stage of the driver printed.
#[derive(Debug, Default)]
struct Report {
    tempo: Option<(f64, f64)>,
    params: Vec<(String, f64)>,
    notes: BTreeMap<String, Vec<Note>>,
    /// Events that reached the plugin after Continuo earlier than the one before them.
    disorder: Option<u64>,
    bounceable: Option<String>,
    done: bool,
    failure: Option<String>,
}

impl Report {
    fn parse(stdout: &str) -> Result<Self> {
        let mut r = Report::default();
        for line in stdout.lines() {
            let Some(rest) = line.strip_prefix("CONTINUO ") else {
                continue;
            };
            let f: Vec<&str> = rest.split_whitespace().collect();
            let num = |i: usize| -> Result<f64> {
                f.get(i)
                    .with_context(|| format!("short line from the driver: {line}"))?
                    .parse::<f64>()
                    .with_context(|| format!("not a number in: {line}"))
            };
            match f.first().copied() {
                Some("TEMPO") => r.tempo = Some((num(1)?, num(3)?)),
                Some("PARAM") => r.params.push((f[1].replace('_', " "), num(2)?)),
                Some("NOTE") => r.notes.entry(f[1].to_string()).or_default().push(Note {
                    on: num(2)?,
                    off: num(3)?,
                    channel: num(4)? as u8,
                    pitch: num(5)? as u8,
                    velocity: num(6)? as u8,
                }),
                Some("DISORDER") => r.disorder = Some(num(1)? as u64),
                Some("BOUNCEABLE") => r.bounceable = f.get(1).map(|s| s.to_string()),
                Some("DONE") => r.done = true,
                Some("FAIL") => r.failure = Some(f[1..].join(" ")),
                _ => {}
            }
        }
        Ok(r)
    }

    fn notes(&self, label: &str) -> &[Note] {
        self.notes.get(label).map_or(&[], Vec::as_slice)
    }
}

pub fn check(args: &[String]) -> Result<()> {
    let Some(lua) = find_ardour_lua() else {
        println!(
            "Ardour check: skipped (ardour7-lua not found; Debian/Ubuntu: apt-get install ardour, \
             or set ARDOUR_LUA)"
        );
        return Ok(());
    };
    let lib_dir = ardour_lib_dir(&lua);
    let scanner = lib_dir.join("ardour-vst3-scanner");
    if !scanner.is_file() {
        println!(
            "Ardour check: skipped ({} not found beside Ardour's luasession)",
            scanner.display()
        );
        return Ok(());
    }
    let bundle = bundle_dir(args)?;
    let vst3 = std::fs::canonicalize(bundle.join("Continuo.vst3"))
        .with_context(|| format!("no Continuo.vst3 in {}", bundle.display()))?;
    let uid = continuo_uid(&vst3)?;
    println!("Ardour check: {} with {}", vst3.display(), lua.display());

    let work = std::env::current_dir()?.join("target/ardour-check");
    if work.exists() {
        std::fs::remove_dir_all(&work)?;
    }
    let home = work.join("home");
    let config = home.join(".config/ardour7");
    std::fs::create_dir_all(config.join("scripts"))?;
    std::fs::create_dir_all(config.join("export"))?;
    std::fs::create_dir_all(home.join(".vst3"))?;
    // Ardour finds VST3 plugins in ~/.vst3; a link there keeps the user's own folder untouched.
    let linked = home.join(".vst3/Continuo.vst3");
    std::os::unix::fs::symlink(&vst3, &linked)?;
    std::fs::write(
        config.join("scripts/continuo_check_phrase.lua"),
        PHRASE_PLAYER.replace("PHRASE = {}", &phrase_table()),
    )?;
    std::fs::write(config.join("scripts/continuo_check_encoder.lua"), ENCODER)?;
    std::fs::write(config.join("export/continuo-check.format"), EXPORT_FORMAT)?;
    std::fs::write(config.join("export/continuo-check.preset"), EXPORT_PRESET)?;
    let driver = work.join("continuo.lua");
    std::fs::write(&driver, DRIVER)?;

    // Ardour's interpreter reads only its plugin cache; the scanner (what Ardour's window runs
    // on a new plugin) writes the cache, under the path Ardour will find the bundle at.
    // The cache file's time is whole seconds, and Ardour ignores a cache older than the
    // plugin, as one written in the second the bundle was copied would be.
    let module = vst3
        .join(Platform::host().vst3_binary_dir())
        .join("Continuo.so");
    let modified = std::fs::metadata(&module)
        .and_then(|m| m.modified())
        .with_context(|| format!("reading {}", module.display()))?;
    let settled = modified + Duration::from_millis(1100);
    if let Ok(wait) = settled.duration_since(std::time::SystemTime::now()) {
        std::thread::sleep(wait);
    }
    let mut scan = Command::new(&scanner);
    scan.arg(&linked).env("LD_LIBRARY_PATH", &lib_dir);
    isolate(&mut scan, &home);
    let scanned = scan.output().context("running Ardour's VST3 scanner")?;
    ensure!(
        scanned.status.success(),
        "Ardour's VST3 scanner failed on {} ({}):\n{}{}",
        vst3.display(),
        scanned.status,
        String::from_utf8_lossy(&scanned.stdout),
        String::from_utf8_lossy(&scanned.stderr)
    );

    let session = work.join("session");
    let stage = |name: &str, buffer: u32, extra: &[&Path]| -> Result<Report> {
        let mut args: Vec<String> = vec![
            driver.display().to_string(),
            name.to_string(),
            session.display().to_string(),
            buffer.to_string(),
        ];
        args.extend(extra.iter().map(|p| p.display().to_string()));
        run_stage(&lua, &home, &work, &uid, name, buffer, &args, || {
            // `create_session` refuses a folder that exists, as a crashed attempt leaves it.
            if name == "record" && session.exists() {
                std::fs::remove_dir_all(&session)?;
            }
            Ok(())
        })
    };

    let started = Instant::now();
    let record = stage("record", BUFFERS[0], &[])?;
    let reopen = stage("reopen", BUFFERS[0], &[])?;
    let exports = work.join("export");
    std::fs::create_dir_all(&exports)?;
    let mut exported = Vec::new();
    for buffer in BUFFERS {
        let report = stage("export", buffer, &[&exports])?;
        ensure!(
            report.disorder == Some(0),
            "{buffer}: Continuo's events reached the next plugin out of time order ({:?} times)",
            report.disorder
        );
        let wav = exports.join(format!("answer-{buffer}.wav"));
        exported.push((buffer, read_events(&wav)?));
    }
    verify(&record, &reopen, &exported)?;
    match stage("bounce", BUFFERS[0], &[]) {
        Ok(bounce) => {
            let bounced = bounce.notes("bounce");
            println!(
                "\nbounce with processing up to Continuo (not judged): Ardour says bounceable = \
                 {}; the region holds {} notes, {} of them on the answer's channel",
                bounce.bounceable.as_deref().unwrap_or("?"),
                bounced.len(),
                bounced
                    .iter()
                    .filter(|n| n.channel == OUTPUT_CHANNEL)
                    .count()
            );
        }
        Err(e) => println!("\nbounce with processing (not judged): could not run it: {e:#}"),
    }
    println!(
        "Ardour check: passed in {:.0} s; the session, exports and logs are in {}",
        started.elapsed().as_secs_f64(),
        work.display()
    );
    Ok(())
}

/// Runs one stage of the driver, again where Ardour died of a signal.
#[allow(clippy::too_many_arguments)]
fn run_stage(
    lua: &Path,
    home: &Path,
    work: &Path,
    uid: &str,
    name: &str,
    buffer: u32,
    args: &[String],
    before_each: impl Fn() -> Result<()>,
) -> Result<Report> {
    let log = work.join(format!("{name}-{buffer}.log"));
    for attempt in 1..=ATTEMPTS {
        before_each()?;
        let mut cmd = Command::new(lua);
        cmd.args(args)
            .env("CONTINUO_VST3_UID", uid)
            .env("CONTINUO_PHRASE_UNTIL", sample(PHRASE_UNTIL).to_string())
            .env("CONTINUO_RECORD_UNTIL", sample(ROLL_UNTIL).to_string())
            .env("CONTINUO_QUIET_UNTIL", sample(QUIET_UNTIL).to_string())
            .env("CONTINUO_PARAMS", PARAMS)
            .env("CONTINUO_EXPORT_PRESET", EXPORT_PRESET_ID);
        isolate(&mut cmd, home);
        let (status, stdout, stderr) = run_with_limit(cmd, STAGE_LIMIT)
            .with_context(|| format!("running ardour7-lua ({name}, {buffer}-sample buffers)"))?;
        std::fs::write(&log, format!("{stdout}\n--- stderr ---\n{stderr}"))?;
        let report = Report::parse(&stdout)?;
        if let Some(why) = &report.failure {
            bail!(
                "Ardour {name} ({buffer}-sample buffers): {why} (log: {})",
                log.display()
            );
        }
        if report.done && status.success() {
            println!("Ardour {name} ({buffer}-sample buffers): done");
            return Ok(report);
        }
        if let Some(signal) = killed_by(&status) {
            // Whether it died after its work (at teardown) or during it, the stage runs whole
            // again: a half-written export or session proves nothing.
            println!(
                "Ardour {name} ({buffer}-sample buffers): Ardour died of signal {signal} \
                 (attempt {attempt} of {ATTEMPTS}; Ardour 7.3 is known to corrupt its heap \
                 around exports): {}",
                last_line(&stderr)
            );
            continue;
        }
        bail!(
            "Ardour {name} ({buffer}-sample buffers) did not finish ({status}); log: {}\n{}",
            log.display(),
            tail(&format!("{stdout}\n{stderr}"), 30)
        );
    }
    bail!(
        "Ardour {name} ({buffer}-sample buffers) died {ATTEMPTS} times; last log: {}",
        log.display()
    )
}

/// The check's Ardour sees only its own configuration, caches and plugins, and Continuo its
/// built-in model and the runtime inside the bundle.
fn isolate(cmd: &mut Command, home: &Path) {
    cmd.env("HOME", home)
        .env_remove("XDG_CONFIG_HOME")
        .env_remove("XDG_CACHE_HOME")
        .env_remove("XDG_DATA_HOME")
        .env_remove("VST3_PATH")
        .env_remove("CONTINUO_MODEL")
        .env_remove("ORT_DYLIB_PATH");
}

fn run_with_limit(mut cmd: Command, limit: Duration) -> Result<(ExitStatus, String, String)> {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn()?;
    let mut out = child.stdout.take().expect("piped");
    let mut err = child.stderr.take().expect("piped");
    let out_reader = std::thread::spawn(move || {
        let mut s = Vec::new();
        let _ = out.read_to_end(&mut s);
        s
    });
    let err_reader = std::thread::spawn(move || {
        let mut s = Vec::new();
        let _ = err.read_to_end(&mut s);
        s
    });
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            bail!("still running after {} s", limit.as_secs());
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let stdout = String::from_utf8_lossy(&out_reader.join().unwrap_or_default()).into_owned();
    let stderr = String::from_utf8_lossy(&err_reader.join().unwrap_or_default()).into_owned();
    Ok((status, stdout, stderr))
}

#[cfg(unix)]
fn killed_by(status: &ExitStatus) -> Option<i32> {
    use std::os::unix::process::ExitStatusExt;
    status.signal()
}

fn last_line(s: &str) -> &str {
    s.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("")
}

fn tail(s: &str, n: usize) -> String {
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// `ardour7-lua`: `$ARDOUR_LUA`, or on `PATH`.
fn find_ardour_lua() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("ARDOUR_LUA").map(PathBuf::from) {
        return p.is_file().then_some(p);
    }
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|d| d.join("ardour7-lua"))
        .find(|p| p.is_file())
}

/// The folder of Ardour's own programs and libraries: Debian's `ardour7-lua` is a shell script
/// that sets `LD_LIBRARY_PATH` to it and runs `luasession` from it.
fn ardour_lib_dir(lua: &Path) -> PathBuf {
    std::fs::read_to_string(lua)
        .ok()
        .and_then(|script| {
            script.lines().find_map(|l| {
                let cmd = l.trim().strip_prefix("exec ")?;
                let program = cmd.split_whitespace().next()?;
                Some(Path::new(program).parent()?.to_path_buf())
            })
        })
        .unwrap_or_else(|| PathBuf::from("/usr/lib/ardour7"))
}

/// The bundles to load: `--bundle DIR`, else the debug `assert_process_allocs` build that
/// `cargo xtask test` leaves (so an allocation on Ardour's audio thread aborts), else the
/// release bundles in `target/bundled`.
fn bundle_dir(args: &[String]) -> Result<PathBuf> {
    if let Some(i) = args.iter().position(|a| a == "--bundle") {
        return args
            .get(i + 1)
            .map(PathBuf::from)
            .context("--bundle needs a folder");
    }
    if plugin_under_test_path().is_file() {
        return debug_bundles(&fetch_ort(&Platform::host())?);
    }
    let release = PathBuf::from(crate::bundle::BUNDLED);
    ensure!(
        release.join("Continuo.vst3").is_dir(),
        "no plugin build to load: run `cargo xtask test` (the debug build) or \
         `cargo xtask install --no-install` (release bundles) first, or pass --bundle DIR"
    );
    Ok(release)
}

/// The effect's class id, as the bundle's `moduleinfo.json` (and so Ardour) spells it.
fn continuo_uid(vst3: &Path) -> Result<String> {
    let path = vst3.join("Contents/Resources/moduleinfo.json");
    let info: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?,
    )?;
    info["Classes"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|c| c["Name"] == "Continuo")
        .and_then(|c| c["CID"].as_str())
        .map(str::to_string)
        .with_context(|| format!("no Continuo class in {}", path.display()))
}

/// The phrase as the Lua player's table: { transport sample, status, note, velocity }.
fn phrase_table() -> String {
    let mut events: Vec<(u64, u8, u8, u8)> = phrase()
        .iter()
        .flat_map(|n| {
            let status = 0x80 + n.channel - 1;
            [
                (sample(n.on), status + 0x10, n.pitch, n.velocity),
                (sample(n.off), status, n.pitch, 0),
            ]
        })
        .collect();
    events.sort();
    let rows: Vec<String> = events
        .iter()
        .map(|(s, st, p, v)| format!("{{{s}, {st}, {p}, {v}}}"))
        .collect();
    format!("PHRASE = {{{}}}", rows.join(", "))
}

/// The events `midi_to_audio.lua` wrote into an exported WAV (32-bit float, stereo).
fn read_events(wav: &Path) -> Result<Vec<Event>> {
    let bytes = std::fs::read(wav).with_context(|| format!("reading {}", wav.display()))?;
    let samples = wav_f32_stereo(&bytes).with_context(|| format!("reading {}", wav.display()))?;
    let mut events = Vec::new();
    for (i, frame) in samples.chunks_exact(2).enumerate() {
        let (code, late) = (frame[0], frame[1]);
        if code == 0.0 {
            continue;
        }
        let n = (code.abs() * 4096.0).round() as i64 - 1;
        let late = (late * 1024.0).round() as u64;
        ensure!(
            (0..16 * 128).contains(&n) && late as usize <= i,
            "{}: sample {i} holds no event ({code}, {late})",
            wav.display()
        );
        events.push(Event {
            sample: i as u64 - late,
            on: code > 0.0,
            channel: (n / 128) as u8 + 1,
            pitch: (n % 128) as u8,
        });
    }
    Ok(events)
}

fn wav_f32_stereo(bytes: &[u8]) -> Result<Vec<f32>> {
    ensure!(
        bytes.len() >= 12 && &bytes[..4] == b"RIFF" && &bytes[8..12] == b"WAVE",
        "not a WAV file"
    );
    let u16_at = |i: usize| u16::from_le_bytes([bytes[i], bytes[i + 1]]);
    let u32_at = |i: usize| u32::from_le_bytes(bytes[i..i + 4].try_into().expect("4 bytes"));
    let mut format = None;
    let mut i = 12;
    while i + 8 <= bytes.len() {
        let id = &bytes[i..i + 4];
        let size = u32_at(i + 4) as usize;
        let body = i + 8;
        ensure!(
            body + size <= bytes.len(),
            "a chunk runs past the file's end"
        );
        if id == b"fmt " {
            // 3: IEEE float; 0xFFFE: extensible, which Ardour writes for float too.
            format = Some((u16_at(body), u16_at(body + 2), u16_at(body + 14)));
        } else if id == b"data" {
            let Some((tag, channels, bits)) = format else {
                bail!("data before fmt");
            };
            ensure!(
                matches!(tag, 3 | 0xFFFE) && channels == 2 && bits == 32,
                "expected 32-bit float stereo, found format {tag}, {channels} channels, {bits} bits"
            );
            return Ok(bytes[body..body + size]
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes(b.try_into().expect("4 bytes")))
                .collect());
        }
        i = body + size + (size & 1);
    }
    bail!("no data chunk")
}

fn verify(record: &Report, reopen: &Report, exported: &[(u32, Vec<Event>)]) -> Result<()> {
    let (tempo, samples_per_beat) = record.tempo.context("the driver reported no tempo")?;
    ensure!(
        tempo == TEMPO && samples_per_beat == SAMPLES_PER_BEAT,
        "Ardour's new session runs at {tempo} BPM ({samples_per_beat} samples a beat), not {TEMPO}"
    );
    let phrase = phrase();
    ensure!(
        same_notes(record.notes("phrase"), &phrase),
        "the recorded phrase region is not the phrase: {:?}",
        record.notes("phrase")
    );

    println!(
        "\nreal time, 256-sample buffers (recorded by a second MIDI track, in Ardour's ticks):"
    );
    let answer = check_recorded("the real-time answer", record.notes("answer"), &phrase)?;
    ensure!(
        reopen.params == record.params,
        "parameters after reopening {:?} are not those saved {:?}",
        reopen.params,
        record.params
    );
    ensure!(
        reopen.notes("quiet").is_empty(),
        "after reopening, notes came out before the phrase played: {:?}",
        reopen.notes("quiet")
    );
    println!("reopened: parameters restored, nothing before the phrase; the phrase again:");
    let again = check_recorded("the answer after reopening", reopen.notes("again"), &phrase)?;
    ensure!(
        pitches(&again) == pitches(&answer),
        "the same phrase and seed were answered differently after reopening: {:?} then {:?}",
        pitches(&answer),
        pitches(&again)
    );

    let mut answers = Vec::new();
    for (buffer, events) in exported {
        println!("\nexport, {buffer}-sample buffers (sample, beat, off the 1/24-beat grid):");
        let played: Vec<Event> = events.iter().copied().filter(|e| e.channel == 1).collect();
        let expected: Vec<Event> = phrase
            .iter()
            .flat_map(|n| {
                [(n.on, true), (n.off, false)].map(|(beat, on)| Event {
                    sample: sample(beat),
                    on,
                    channel: 1,
                    pitch: n.pitch,
                })
            })
            .collect();
        ensure!(
            played == expected,
            "{buffer}: the phrase did not pass through unchanged: {played:?}"
        );
        let ans = check_exported(*buffer, events)?;
        let recorded: Vec<u8> = answer.iter().map(|n| n.pitch).collect();
        let ons: Vec<u8> = ans.iter().filter(|e| e.on).map(|e| e.pitch).collect();
        ensure!(
            ons == recorded,
            "{buffer}: the export's answer {ons:?} is not the real-time one {recorded:?}"
        );
        answers.push((*buffer, ans));
    }
    let (first_buffer, first) = &answers[0];
    for (buffer, other) in &answers[1..] {
        ensure!(first.len() == other.len(), "the exports differ in length");
        let mut worst = 0.0f64;
        for (a, b) in first.iter().zip(other) {
            ensure!(
                (a.on, a.channel, a.pitch) == (b.on, b.channel, b.pitch),
                "the exports at {first_buffer} and {buffer} samples differ: {a:?} vs {b:?}"
            );
            let d = a.sample.abs_diff(b.sample) as f64;
            worst = worst.max(d);
            ensure!(
                d == 0.0,
                "the exports at {first_buffer} and {buffer} samples place {a:?} and {b:?} \
                 apart"
            );
        }
        println!(
            "\nexports at {first_buffer} and {buffer} samples: the same answer, each event at most \
             {worst} samples apart"
        );
    }
    Ok(())
}

fn same_notes(a: &[Note], b: &[Note]) -> bool {
    a.len() == b.len()
        && a.iter().zip(b).all(|(x, y)| {
            (x.on - y.on).abs() < 1e-6
                && (x.off - y.off).abs() < 1e-6
                && (x.channel, x.pitch, x.velocity) == (y.channel, y.pitch, y.velocity)
        })
}

fn pitches(notes: &[Note]) -> Vec<u8> {
    notes.iter().map(|n| n.pitch).collect()
}

/// The phrase passed through, and an answer as `check_answer` in the host tests wants it; in
/// real time only loosely timed (it starts within its beat), as the JACK test has it. Returns
/// the answer's notes.
fn check_recorded(what: &str, notes: &[Note], phrase: &[Note]) -> Result<Vec<Note>> {
    let through: Vec<Note> = notes.iter().copied().filter(|n| n.channel == 1).collect();
    ensure!(
        same_notes(&through, phrase),
        "{what}: the phrase did not pass through unchanged: {through:?}"
    );
    let answer: Vec<Note> = notes
        .iter()
        .copied()
        .filter(|n| n.channel == OUTPUT_CHANNEL)
        .collect();
    ensure!(!answer.is_empty(), "{what}: no answer; recorded {notes:?}");
    ensure!(
        answer.len() + through.len() == notes.len(),
        "{what}: notes on other channels: {notes:?}"
    );
    for n in &answer {
        println!(
            "  {:>9.4} – {:>9.4}  channel {}  pitch {:>3}  velocity {:>3}",
            n.on, n.off, n.channel, n.pitch, n.velocity
        );
        ensure!(
            n.on >= ANSWER_FROM - 1e-9 && n.off <= ANSWER_UNTIL + 1e-9 && n.off > n.on,
            "{what}: a note outside beats {ANSWER_FROM}–{ANSWER_UNTIL}: {n:?}"
        );
        ensure!(
            (LOWEST..=HIGHEST).contains(&n.pitch) && C_MAJOR.contains(&(n.pitch % 12)),
            "{what}: a note out of range or out of C major: {n:?}"
        );
    }
    ensure!(
        answer[0].on < ANSWER_FROM + 1.0,
        "{what}: the answer did not start in beat {ANSWER_FROM}: {:?}",
        answer[0]
    );
    Ok(answer)
}

/// An exported answer: balanced, in range and key, from `ANSWER_FROM` to `ANSWER_UNTIL`, and
/// every event on Continuo's grid within one of Ardour's ticks. Returns the answer's events.
fn check_exported(buffer: u32, events: &[Event]) -> Result<Vec<Event>> {
    let answer: Vec<Event> = events
        .iter()
        .copied()
        .filter(|e| e.channel == OUTPUT_CHANNEL)
        .collect();
    ensure!(
        answer.len() + phrase().len() * 2 == events.len(),
        "{buffer}: events on other channels: {events:?}"
    );
    ensure!(!answer.is_empty(), "{buffer}: no answer in the export");
    // Continuo goes on from where its last block ended while Ardour's rounded position is
    // within a tick of it, so its answer is on the grid to the sample.
    let tolerance = 1.0 / SAMPLES_PER_BEAT;
    let mut sounding = [false; 128];
    for e in &answer {
        let beat = e.beat();
        let off_grid = (beat / STEP_BEATS - (beat / STEP_BEATS).round()) * STEP_BEATS;
        if e.on {
            println!(
                "  {:>7}  {:>9.4}  {:+5.1} samples  on   pitch {:>3}",
                e.sample,
                beat,
                off_grid * SAMPLES_PER_BEAT,
                e.pitch
            );
        }
        ensure!(
            off_grid.abs() <= tolerance,
            "{buffer}: {e:?} is {:.1} samples off Continuo's 1/24-beat grid",
            off_grid * SAMPLES_PER_BEAT
        );
        ensure!(
            beat >= ANSWER_FROM - tolerance && beat <= ANSWER_UNTIL + tolerance,
            "{buffer}: an event outside beats {ANSWER_FROM}–{ANSWER_UNTIL}: {e:?}"
        );
        ensure!(
            (LOWEST..=HIGHEST).contains(&e.pitch) && C_MAJOR.contains(&(e.pitch % 12)),
            "{buffer}: a note out of range or out of C major: {e:?}"
        );
        let p = usize::from(e.pitch);
        ensure!(
            sounding[p] != e.on,
            "{buffer}: {} twice: {e:?}",
            if e.on { "struck" } else { "released" }
        );
        sounding[p] = e.on;
    }
    ensure!(
        !sounding.iter().any(|&s| s),
        "{buffer}: notes left sounding at the end of the export"
    );
    ensure!(
        (answer[0].beat() - ANSWER_FROM).abs() <= tolerance,
        "{buffer}: the answer starts at beat {}, not {ANSWER_FROM}",
        answer[0].beat()
    );
    Ok(answer)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_float_wav_reads_back_as_events() {
        let frames: [[f32; 2]; 4] = [
            [0.0, 0.0],
            [(128.0 + 72.0 + 1.0) / 4096.0, 0.0],
            [-(61.0) / 4096.0, 1.0 / 1024.0],
            [0.0, 0.0],
        ];
        let data: Vec<u8> = frames
            .iter()
            .flatten()
            .flat_map(|s| s.to_le_bytes())
            .collect();
        let mut wav = Vec::new();
        wav.extend_from_slice(b"RIFF");
        wav.extend_from_slice(&(4 + 24 + 8 + data.len() as u32).to_le_bytes());
        wav.extend_from_slice(b"WAVEfmt ");
        wav.extend_from_slice(&16u32.to_le_bytes());
        for v in [3u16, 2] {
            wav.extend_from_slice(&v.to_le_bytes());
        }
        wav.extend_from_slice(&48_000u32.to_le_bytes());
        wav.extend_from_slice(&(48_000u32 * 8).to_le_bytes());
        for v in [8u16, 32] {
            wav.extend_from_slice(&v.to_le_bytes());
        }
        wav.extend_from_slice(b"data");
        wav.extend_from_slice(&(data.len() as u32).to_le_bytes());
        wav.extend_from_slice(&data);
        let dir = std::env::temp_dir().join(format!("continuo-wav-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("t.wav");
        std::fs::write(&path, wav).unwrap();
        let events = read_events(&path).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(
            events,
            [
                Event {
                    sample: 1,
                    on: true,
                    channel: 2,
                    pitch: 72
                },
                Event {
                    sample: 1,
                    on: false,
                    channel: 1,
                    pitch: 60
                },
            ]
        );
    }

    #[test]
    fn the_player_gets_the_phrase_in_time_order() {
        let t = phrase_table();
        assert!(t.starts_with("PHRASE = {{96000, 144, 60, 96}, {106800, 128, 60, 0}, "));
        assert!(t.ends_with("{190800, 128, 60, 0}}"));
    }

    #[test]
    fn driver_lines_parse() {
        let r = Report::parse(
            "noise\nCONTINUO TEMPO 120.0 SAMPLES_PER_BEAT 24000\nCONTINUO PARAM Output_channel 2.0\n\
             CONTINUO NOTE answer 9.000000 9.458333 2 72 92\nCONTINUO DONE record\n",
        )
        .unwrap();
        assert_eq!(r.tempo, Some((120.0, 24000.0)));
        assert_eq!(r.params, [("Output channel".to_string(), 2.0)]);
        assert_eq!(r.notes("answer")[0].pitch, 72);
        assert!(r.done && r.failure.is_none());
    }
}
