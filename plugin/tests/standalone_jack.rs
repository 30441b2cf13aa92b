//! `continuo-standalone` in a real JACK server (jackd's dummy driver, 48 kHz, 256-frame
//! periods): a "player" client plays the phrase into its MIDI input, a "listener" client
//! records its MIDI output. After a first exchange (the model loaded), the answer must come
//! after the pause, start within one beat of the grid (*Start on*: next beat), stay in its
//! bar, range and key, and end every note it starts; a transport stop ends the answer;
//! SIGTERM mid-answer ends every note (All Notes Off on each channel, then nothing) and saves
//! the state file the run began with.
//!
//! Skipped (it says why) without the `standalone` feature, without `jackd`, or without ONNX
//! Runtime (`ORT_DYLIB_PATH`, or `cargo xtask fetch-ort`'s copy in `.cache/ort`).

use std::path::PathBuf;
use std::process::{Child, Command};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use jack::{Client, ClientOptions, Control, MidiIn, MidiOut, Port, ProcessScope, RawMidi};

mod common;

// The phrase the host tests play: a C major arpeggio up and down, eighth notes.
use common::phrase;

const RATE: u64 = 48_000;
const FRAMES_PER_BEAT: u64 = RATE / 2; // 120 BPM, the standalone's tempo without a timebase master
const PERIOD: u64 = 256;
const ANSWER_CHANNEL: u8 = 1; // "channel" 2 in the state file below
const DEADLINE: Duration = Duration::from_secs(120);

/// When the player sends an event: at a transport frame (while it rolls), or at a frame of
/// JACK's own clock (which runs whether the transport rolls or not).
#[derive(Clone, Copy, Debug)]
enum At {
    Transport(u64),
    Clock(u64),
}

/// A MIDI message the listener heard, with the frame of JACK's clock, the transport frame,
/// and whether the transport rolled in that period.
#[derive(Clone, Debug)]
struct Heard {
    clock: u64,
    transport: u64,
    rolling: bool,
    bytes: Vec<u8>,
}

impl Heard {
    fn beat(&self) -> f64 {
        self.transport as f64 / FRAMES_PER_BEAT as f64
    }
    fn channel(&self) -> u8 {
        self.bytes[0] & 0x0f
    }
    fn note_on(&self) -> Option<u8> {
        (self.bytes.len() == 3 && self.bytes[0] & 0xf0 == 0x90 && self.bytes[2] > 0)
            .then_some(self.bytes[1])
    }
    fn note_off(&self) -> Option<u8> {
        let status = self.bytes[0] & 0xf0;
        (self.bytes.len() == 3 && (status == 0x80 || (status == 0x90 && self.bytes[2] == 0)))
            .then_some(self.bytes[1])
    }
    fn all_notes_off(&self) -> bool {
        self.bytes.len() == 3 && self.bytes[0] & 0xf0 == 0xb0 && self.bytes[1] == 123
    }
}

#[derive(Default)]
struct Shared {
    to_play: Vec<(At, [u8; 3])>,
    heard: Vec<Heard>,
    /// JACK's clock at the start of the last period the listener ran.
    clock: u64,
}

/// A child (jackd, the standalone), killed and reaped when the test ends, however it ends.
struct Reaped(Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        // SIGTERM first: a SIGKILLed jackd leaves its entry in JACK's shared registry, and
        // after eight of those no server starts.
        // SAFETY: a signal to a child this test started and has not reaped.
        unsafe { libc::kill(self.0.id() as i32, libc::SIGTERM) };
        let start = Instant::now();
        while self.0.try_wait().ok().flatten().is_none() {
            if start.elapsed() > Duration::from_secs(10) {
                let _ = self.0.kill();
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = self.0.wait();
    }
}

fn skip(reason: &str) {
    println!("skipped: {reason}");
}

fn ort_library() -> Option<PathBuf> {
    std::env::var_os("ORT_DYLIB_PATH")
        .map(PathBuf::from)
        .or_else(|| {
            let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
            std::fs::read_dir(root.join(".cache/ort/linux-x86_64"))
                .ok()?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .find(|p| {
                    p.file_name()
                        .and_then(|n| n.to_str())
                        .is_some_and(|n| n.starts_with("libonnxruntime.so."))
                })
        })
        .filter(|p| p.is_file())
}

/// What the listener heard, for a failure's message.
static HEARD: OnceLock<Arc<Mutex<Shared>>> = OnceLock::new();

/// Waits, with a generous deadline, until `done` holds.
fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        if start.elapsed() > DEADLINE {
            let heard = HEARD
                .get()
                .map(|h| format!("{:?}", h.lock().unwrap().heard));
            panic!(
                "gave up waiting: {what} (logs in {}); heard {}",
                std::env::temp_dir().display(),
                heard.unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Queues the phrase for the player, each event at `at(beat)`.
fn queue_phrase(shared: &Mutex<Shared>, at: impl Fn(f64) -> At) {
    let mut s = shared.lock().unwrap();
    for (b, p, v) in phrase() {
        let bytes = if v > 0 { [0x90, p, v] } else { [0x80, p, 0] };
        s.to_play.push((at(b), bytes));
    }
}

fn beats(b: f64) -> u64 {
    (b * FRAMES_PER_BEAT as f64).round() as u64
}

/// Every generated note-on has its note-off, in order, on the answer channel.
fn assert_balanced(heard: &[Heard]) {
    let mut sounding = [0i32; 128];
    for h in heard.iter().filter(|h| h.channel() == ANSWER_CHANNEL) {
        if let Some(p) = h.note_on() {
            sounding[p as usize] += 1;
            assert!(
                sounding[p as usize] <= 1,
                "struck twice without release: {h:?}"
            );
        } else if let Some(p) = h.note_off() {
            sounding[p as usize] -= 1;
            assert!(sounding[p as usize] >= 0, "note-off without note-on: {h:?}");
        }
    }
    let stuck: Vec<_> = (0..128).filter(|&p| sounding[p] != 0).collect();
    assert!(stuck.is_empty(), "stuck notes: {stuck:?}");
}

fn generated_ons(heard: &[Heard]) -> Vec<&Heard> {
    heard
        .iter()
        .filter(|h| h.channel() == ANSWER_CHANNEL && h.note_on().is_some())
        .collect()
}

/// Whether JACK's transport rolls, and its frame (0 when it cannot be read).
fn transport(c: &Client) -> (bool, u64) {
    let position = c.transport().query().ok();
    let rolling = position
        .as_ref()
        .is_some_and(|p| p.state == jack::TransportState::Rolling);
    (rolling, position.map_or(0, |p| u64::from(p.pos.frame())))
}

#[test]
fn the_standalone_answers_on_time_in_a_jack_server_and_ends_its_notes_on_quit() {
    // Cargo names the binary even when its required feature is off (and a stale one from an
    // earlier build may sit at that path), so the feature itself decides.
    let (true, Some(exe)) = (
        cfg!(feature = "standalone"),
        option_env!("CARGO_BIN_EXE_continuo-standalone"),
    ) else {
        return skip("built without the `standalone` feature (cargo test --features standalone)");
    };
    if Command::new("jackd").arg("--version").output().is_err() {
        return skip("jackd not found (Debian/Ubuntu: apt-get install jackd2)");
    }
    let Some(ort) = ort_library() else {
        return skip("no ONNX Runtime (set ORT_DYLIB_PATH, or run cargo xtask fetch-ort)");
    };

    let dir = std::env::temp_dir().join(format!("continuo-standalone-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    // What the previous run left: answers on channel 2, one bar long, in C major, C3–C6.
    let state = dir.join("state.json");
    std::fs::write(
        &state,
        r#"{"params": {"channel": 2, "length": 1, "key": 0, "scale": 1, "low": 48, "high": 84,
            "seed": 17}, "fields": {}}"#,
    )
    .unwrap();

    let server = format!("continuo-test-{}", std::process::id());
    // The test's own clients find the server through this too.
    std::env::set_var("JACK_DEFAULT_SERVER", &server);
    std::env::set_var("JACK_NO_AUDIO_RESERVATION", "1");
    let jackd_log = std::fs::File::create(dir.join("jackd.log")).unwrap();
    let _jackd = Reaped(
        Command::new("jackd")
            // Real-time where the machine allows it (jackd says so and runs without where it
            // does not), with a generous client timeout (ms): on a busy machine a client late
            // for a period misses its MIDI (a lost note-off holds the phrase open for good),
            // or is dropped from the graph. (`--sync` would wait for late clients, but then a
            // client that closes can stall the server.)
            .args(["-t", "10000", "-n", &server])
            .args(["-d", "dummy", "-r", "48000", "-p", "256"])
            .stdout(jackd_log.try_clone().unwrap())
            .stderr(jackd_log)
            .spawn()
            .expect("starting jackd"),
    );
    let mut player = None;
    wait_for("jackd to accept clients", || {
        player = Client::new("player", ClientOptions::NO_START_SERVER)
            .ok()
            .map(|(c, _)| c);
        player.is_some()
    });
    let player = player.unwrap();
    let (listener, _) = Client::new("listener", ClientOptions::NO_START_SERVER).unwrap();

    let shared = Arc::new(Mutex::new(Shared::default()));
    let _ = HEARD.set(shared.clone());
    let out: Port<MidiOut> = player.register_port("out", MidiOut::default()).unwrap();
    let input: Port<MidiIn> = listener.register_port("in", MidiIn::default()).unwrap();
    let play = {
        let shared = shared.clone();
        let mut out = out;
        jack::contrib::ClosureProcessHandler::new(move |c: &Client, ps: &ProcessScope| {
            let clock = u64::from(ps.last_frame_time());
            let n = u64::from(ps.n_frames());
            let (rolling, frame) = transport(c);
            let mut s = shared.lock().unwrap();
            let mut writer = out.writer(ps);
            let mut due: Vec<(u64, [u8; 3])> = Vec::new();
            s.to_play.retain(|&(at, bytes)| {
                // Late (a period the player missed) is played at once rather than lost.
                let offset = match at {
                    At::Transport(f) if rolling && f < frame + n => f.saturating_sub(frame),
                    At::Clock(f) if f < clock + n => f.saturating_sub(clock),
                    _ => return true,
                };
                due.push((offset, bytes));
                false
            });
            due.sort_by_key(|d| d.0);
            for (offset, bytes) in due {
                writer
                    .write(&RawMidi {
                        time: offset as u32,
                        bytes: &bytes,
                    })
                    .unwrap();
            }
            Control::Continue
        })
    };
    let listen = {
        let shared = shared.clone();
        jack::contrib::ClosureProcessHandler::new(move |c: &Client, ps: &ProcessScope| {
            let clock = u64::from(ps.last_frame_time());
            let (rolling, frame) = transport(c);
            let mut s = shared.lock().unwrap();
            s.clock = clock;
            for m in input.iter(ps) {
                s.heard.push(Heard {
                    clock: clock + u64::from(m.time),
                    transport: frame + u64::from(m.time),
                    rolling,
                    bytes: m.bytes.to_vec(),
                });
            }
            Control::Continue
        })
    };
    let player = player.activate_async((), play).unwrap();
    let listener = listener.activate_async((), listen).unwrap();

    let log = std::fs::File::create(dir.join("standalone.log")).unwrap();
    let mut app = Reaped(
        Command::new(exe)
            .args(["--headless", "--backend", "jack", "--state"])
            .arg(&state)
            .args([
                "--connect-jack-midi-input",
                "player:out",
                "--connect-jack-midi-output",
                "listener:in",
            ])
            .env("ORT_DYLIB_PATH", &ort)
            .env("HOME", &dir)
            .env("XDG_CONFIG_HOME", dir.join("config"))
            .env("XDG_DATA_HOME", dir.join("data"))
            .env_remove("CONTINUO_MODEL")
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("starting continuo-standalone"),
    );
    let log_text = || std::fs::read_to_string(dir.join("standalone.log")).unwrap_or_default();
    let connected = |name: &str| {
        player
            .as_client()
            .port_by_name(name)
            .is_some_and(|p| p.connected_count().unwrap_or(0) > 0)
    };
    wait_for("the standalone to connect its MIDI ports", || {
        if let Ok(Some(status)) = app.0.try_wait() {
            panic!("the standalone exited ({status}):\n{}", log_text());
        }
        connected("player:out") && connected("listener:in")
    });

    // 0. A first exchange on Continuo's own clock (the transport stopped), waited for as long
    // as loading the model takes on a busy machine: the checks below need it loaded.
    let now = shared.lock().unwrap().clock + 4800;
    queue_phrase(&shared, |b| At::Clock(now + beats(b)));
    wait_for("a first answer (the model loaded)", || {
        !generated_ons(&shared.lock().unwrap().heard).is_empty()
    });
    let answered = shared.lock().unwrap().clock;
    wait_for("the first answer's bar to pass", || {
        shared.lock().unwrap().clock > answered + beats(8.0)
    });
    let warm = shared.lock().unwrap().heard.len();

    // 1. With the transport rolling from 0, the phrase at beats 8–12: a pause of one beat is
    // reached at 12.95, so the answer starts at beat 13 and lasts a bar.
    let transport = player.as_client().transport();
    transport.locate(0).unwrap();
    queue_phrase(&shared, |b| At::Transport(beats(b + 8.0)));
    transport.start().unwrap();
    wait_for("beat 18", || {
        transport
            .query()
            .is_ok_and(|p| u64::from(p.pos.frame()) > beats(18.0))
    });
    let first: Vec<Heard> = shared.lock().unwrap().heard[warm..].to_vec();
    let passed = first
        .iter()
        .filter(|h| h.channel() == 0 && (h.note_on().is_some() || h.note_off().is_some()))
        .count();
    assert_eq!(
        passed,
        phrase().len(),
        "the phrase passes through: {first:?}"
    );
    let ons = generated_ons(&first);
    assert!(
        !ons.is_empty(),
        "no answer; heard {first:?}\n{}",
        log_text()
    );
    let start = ons[0].beat();
    assert!(
        (13.0..14.0).contains(&start),
        "the answer starts within a beat of beat 13: {start} ({:?})",
        ons[0]
    );
    for h in &ons {
        let p = h.note_on().unwrap();
        assert!(
            (13.0..=17.0).contains(&h.beat()),
            "a note outside the answer's bar: {h:?}"
        );
        assert!((48..=84).contains(&p), "pitch out of range: {h:?}");
        assert!(
            [0, 2, 4, 5, 7, 9, 11].contains(&(p % 12)),
            "pitch out of C major: {h:?}"
        );
    }
    assert_balanced(&first);

    // 2. The phrase again at beats 20–24; a transport stop mid-answer ends its notes.
    queue_phrase(&shared, |b| At::Transport(beats(b + 20.0)));
    wait_for("the second answer to sound", || {
        generated_ons(&shared.lock().unwrap().heard[warm..]).len() > ons.len()
    });
    transport.stop().unwrap();
    let stopped_at = shared.lock().unwrap().clock;
    // 200 periods with the transport stopped.
    wait_for("200 periods after the stop", || {
        shared.lock().unwrap().clock > stopped_at + 200 * PERIOD
    });
    let second: Vec<Heard> = shared.lock().unwrap().heard[warm + first.len()..].to_vec();
    let late: Vec<_> = second
        .iter()
        .filter(|h| !h.rolling && h.note_on().is_some())
        .collect();
    assert!(late.is_empty(), "notes started after the stop: {late:?}");
    assert_balanced(&second);

    // 3. With the transport stopped, Continuo keeps its own clock: play once more, and quit
    // with SIGTERM as soon as the answer sounds.
    let before = shared.lock().unwrap().heard.len();
    let now = shared.lock().unwrap().clock + 4800;
    queue_phrase(&shared, |b| At::Clock(now + beats(b)));
    wait_for("the third answer to sound", || {
        !generated_ons(&shared.lock().unwrap().heard[before..]).is_empty()
    });
    // SAFETY: a signal to the child this test started.
    unsafe { libc::kill(app.0.id() as i32, libc::SIGTERM) };
    let mut status = None;
    wait_for("the standalone to quit", || {
        status = app.0.try_wait().unwrap();
        status.is_some()
    });
    assert!(
        status.unwrap().success(),
        "quit with {status:?}:\n{}",
        log_text()
    );
    let quit_heard = shared.lock().unwrap().clock;
    wait_for("a few periods after the quit", || {
        shared.lock().unwrap().clock > quit_heard + 10 * PERIOD
    });
    let third: Vec<Heard> = shared.lock().unwrap().heard[before..].to_vec();
    let first_off = third
        .iter()
        .position(Heard::all_notes_off)
        .unwrap_or_else(|| panic!("no All Notes Off after SIGTERM: {third:?}"));
    let channels: std::collections::BTreeSet<u8> = third[first_off..]
        .iter()
        .filter(|h| h.all_notes_off())
        .map(Heard::channel)
        .collect();
    assert_eq!(
        channels.len(),
        16,
        "All Notes Off on every channel: {third:?}"
    );
    let block = third[first_off].clock;
    let after: Vec<_> = third[first_off..]
        .iter()
        .filter(|h| h.clock > block || h.note_on().is_some())
        .collect();
    assert!(
        after.is_empty(),
        "MIDI after the quit's last block: {after:?}"
    );
    assert_balanced(&third);

    // The state file holds the parameters the run began with.
    let saved: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&state).unwrap()).unwrap();
    for (id, value) in [
        ("channel", 2.0),
        ("length", 1.0),
        ("scale", 1.0),
        ("seed", 17.0),
    ] {
        assert_eq!(saved["params"][id].as_f64(), Some(value), "{id} in {saved}");
    }
    assert!(
        saved["params"]["temperature"].is_number(),
        "every parameter is saved: {saved}"
    );

    let _ = player.deactivate();
    let _ = listener.deactivate();
    let _ = std::fs::remove_dir_all(&dir);
}
