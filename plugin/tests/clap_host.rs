//! Loads the built plugin as a CLAP host would (clack-host), plays a phrase with a running
//! transport, and checks what comes out.

mod common;

use clack_extensions::render::{PluginRender, RenderMode};
use clack_extensions::state::PluginState;
use clack_host::events::event_types::*;
use clack_host::events::spaces::CoreEventSpace;
use clack_host::events::{EventFlags, Match};
use clack_host::prelude::*;
use clack_host::utils::BeatTime;
use common::*;

/// The plugin's two CLAP ids: the MIDI effect, and the instrument with a silent stereo output.
const EFFECT: &[u8] = b"org.continuo.continuo";
const INSTRUMENT: &[u8] = b"org.continuo.continuo-instrument";

struct Session {
    // Field order matters: the instance must drop before the entry.
    instance: PluginInstance<()>,
    /// The instrument's silent stereo output, checked each block.
    audio_out: bool,
    processor: Option<StartedPluginAudioProcessor<()>>,
    sample: u64,
    mode: RenderMode,
    heard: Vec<Heard>,
    /// What `process` returned for each block.
    statuses: Vec<ProcessStatus>,
    _entry: PluginEntry,
}

impl Session {
    /// A session that renders offline: the tests' virtual clock (see `HostSession::offline`).
    fn start() -> Self {
        Self::start_in(RenderMode::Offline)
    }

    /// [`Self::start`], told by the render extension whether the host renders in real time
    /// or offline (a bounce or export) before it activates the plugin.
    fn start_in(mode: RenderMode) -> Self {
        Self::start_with(mode, |_| {})
    }

    /// [`Self::start_in`], with `setup` run on the instance before it is activated (as a
    /// host restores a project's state).
    fn start_with(mode: RenderMode, setup: impl FnOnce(&mut PluginInstance<()>)) -> Self {
        Self::start_plugin(EFFECT, mode, setup)
    }

    /// [`Self::start_with`] for the plugin of CLAP id `id`.
    fn start_plugin(
        id: &[u8],
        mode: RenderMode,
        setup: impl FnOnce(&mut PluginInstance<()>),
    ) -> Self {
        let lib = plugin_library();
        let entry = unsafe { PluginEntry::load(&lib) }
            .unwrap_or_else(|e| panic!("loading {}: {e:?}", lib.display()));
        let factory = entry.get_plugin_factory().expect("plugin factory");
        let ids: Vec<Vec<u8>> = factory
            .plugin_descriptors()
            .map(|d| d.id().unwrap().to_bytes().to_vec())
            .collect();
        assert_eq!(ids, [EFFECT, INSTRUMENT], "the plugin's two layouts");
        let descriptor = factory
            .plugin_descriptors()
            .find(|d| d.id().unwrap().to_bytes() == id)
            .unwrap();
        let host = HostInfo::new(
            "continuo-test",
            "continuo",
            "https://example.invalid",
            "1.0",
        )
        .unwrap();
        let mut instance =
            PluginInstance::<()>::new(|_| (), |_| (), &entry, descriptor.id().unwrap(), &host)
                .unwrap();
        let render: PluginRender = instance
            .plugin_handle()
            .get_extension()
            .expect("the render extension");
        render
            .set(&instance.plugin_handle(), mode)
            .expect("render mode accepted");
        setup(&mut instance);
        let config = PluginAudioConfiguration {
            sample_rate: SAMPLE_RATE,
            min_frames_count: BLOCK,
            max_frames_count: BLOCK,
        };
        let processor = instance
            .activate(|_, _| (), config)
            .unwrap()
            .start_processing()
            .unwrap();
        Self {
            instance,
            audio_out: id == INSTRUMENT,
            processor: Some(processor),
            sample: 0,
            mode,
            heard: Vec::new(),
            statuses: Vec::new(),
            _entry: entry,
        }
    }

    fn finish(mut self) -> Vec<Heard> {
        let p = self.processor.take().unwrap().stop_processing();
        self.instance.deactivate(p);
        std::mem::take(&mut self.heard)
    }
}

impl HostSession for Session {
    /// (CLAP parameter id, plain value: for nice-plug's int and enum parameters, the index
    /// from the range's start).
    type Param = (u32, f64);

    fn sample(&self) -> u64 {
        self.sample
    }

    fn heard(&self) -> &[Heard] {
        &self.heard
    }

    fn offline(&self) -> bool {
        self.mode == RenderMode::Offline
    }

    fn block(&mut self, playing: bool, params: &[(u32, f64)], notes: &[(u32, u8, u8)]) {
        let beat = self.sample as f64 / SAMPLES_PER_BEAT;
        let mut flags = TransportFlags::HAS_TEMPO
            | TransportFlags::HAS_BEATS_TIMELINE
            | TransportFlags::HAS_TIME_SIGNATURE;
        if playing {
            flags |= TransportFlags::IS_PLAYING;
        }
        let transport = TransportEvent {
            header: EventHeader::new_core(0, EventFlags::empty()),
            flags,
            song_pos_beats: BeatTime::from_float(beat),
            song_pos_seconds: Default::default(),
            tempo: TEMPO,
            tempo_inc: 0.0,
            loop_start_beats: Default::default(),
            loop_end_beats: Default::default(),
            loop_start_seconds: Default::default(),
            loop_end_seconds: Default::default(),
            bar_start: BeatTime::from_float((beat / 4.0).floor() * 4.0),
            bar_number: (beat / 4.0).floor() as i32,
            time_signature_numerator: 4,
            time_signature_denominator: 4,
        };
        let mut input = EventBuffer::new();
        for &(id, value) in params {
            input.push(&ParamValueEvent::new(
                0,
                ClapId::new(id),
                Pckn::match_all(),
                value,
            ));
        }
        for &(offset, pitch, velocity) in notes {
            let pckn = Pckn::new(0u16, 0u16, u16::from(pitch), Match::All);
            if velocity > 0 {
                input.push(&NoteOnEvent::new(offset, pckn, f64::from(velocity) / 127.0));
            } else {
                input.push(&NoteOffEvent::new(offset, pckn, 0.0));
            }
        }
        let mut output = EventBuffer::new();
        // No audio input: give the block its real length so event offsets mean something.
        let audio_in = unsafe { InputAudioBuffers::from_raw_buffers(&[], BLOCK) };
        // The instrument's output, filled with noise the plugin must overwrite with silence.
        let mut channels = [[0.5f32; BLOCK as usize]; 2];
        let mut ports = AudioPorts::with_capacity(2, 1);
        let mut audio_out = if self.audio_out {
            ports.with_output_buffers([AudioPortBuffer {
                latency: 0,
                channels: AudioPortBufferType::f32_output_only(
                    channels.iter_mut().map(|c| c.as_mut_slice()),
                ),
            }])
        } else {
            OutputAudioBuffers::empty()
        };
        let status = self
            .processor
            .as_mut()
            .unwrap()
            .process(
                &audio_in,
                &mut audio_out,
                &InputEvents::from_buffer(&input),
                &mut OutputEvents::from_buffer(&mut output),
                Some(self.sample),
                Some(&transport),
            )
            .expect("process");
        if self.audio_out {
            assert!(
                channels.iter().flatten().all(|&x| x == 0.0),
                "the instrument's output is silence"
            );
        }
        self.statuses.push(status);
        let mut last_time = 0;
        for event in output.iter() {
            let time = event.header().time();
            assert!(
                time >= last_time && time < BLOCK,
                "events out of order or outside the block"
            );
            last_time = time;
            let (pckn, velocity) = match event.as_core_event() {
                Some(CoreEventSpace::NoteOn(e)) => (e.pckn(), (e.velocity() * 127.0).round() as u8),
                Some(CoreEventSpace::NoteOff(e)) => (e.pckn(), 0),
                _ => continue,
            };
            let pitch = pckn.key.into_specific().expect("specific key") as u8;
            let channel = pckn.channel.into_specific().expect("specific channel") as u8;
            self.heard.push(Heard {
                sample: self.sample + u64::from(time),
                channel,
                pitch,
                velocity,
            });
        }
        self.sample += u64::from(BLOCK);
    }
}

/// Key lock C major, range C3–C6, 1-bar answers on channel 2.
fn musical_params() -> Vec<(u32, f64)> {
    vec![
        (param_id("scale"), 1.0), // Major
        (param_id("key"), 0.0),   // C
        (param_id("low"), 48.0),
        (param_id("high"), 84.0),
        (param_id("length"), 0.0),  // 1 bar (index from 1)
        (param_id("channel"), 1.0), // channel 2 (index from 1)
    ]
}

#[test]
fn answers_a_phrase_in_time_key_and_range_and_stop_ends_notes() {
    let mut s = Session::start();
    answer_then_stop(&mut s, &musical_params());
    s.finish();
}

#[test]
fn the_instrument_answers_with_silent_audio() {
    // Live and FL Studio load Continuo as an instrument, then route its MIDI on.
    let mut s = Session::start_plugin(INSTRUMENT, RenderMode::Offline, |_| {});
    answer_then_stop(&mut s, &musical_params());
    s.finish();
}

#[test]
fn keeps_the_host_from_sleeping_while_an_answer_is_due() {
    let mut s = Session::start();
    play(&mut s, &[], 1.0, &musical_params());
    assert!(
        s.statuses
            .iter()
            .all(|&st| st == ProcessStatus::ContinueIfNotQuiet),
        "nothing played yet: the host may sleep"
    );
    // The phrase (beats 1–5), its silence and its 1-bar answer (beats 6–10).
    let phrase: Vec<_> = phrase()
        .into_iter()
        .map(|(b, p, v)| (b + 1.0, p, v))
        .collect();
    let from = s.statuses.len();
    play(&mut s, &phrase, 10.0, &[]);
    let quiet_input = (5.0 * SAMPLES_PER_BEAT) as usize / BLOCK as usize;
    // Up to the block where the answer's last note-off goes out and it is over (an answer
    // may end on a rest: its last note can end before its last bar does).
    let last = s
        .heard()
        .iter()
        .filter(|h| h.channel == 1)
        .map(|h| (h.sample / u64::from(BLOCK)) as usize)
        .max()
        .expect("the answer played");
    assert!(
        s.statuses[quiet_input..last]
            .iter()
            .all(|&st| st == ProcessStatus::Continue),
        "input is quiet after beat 5 while the answer is due and plays: {:?}",
        &s.statuses[from..]
    );
    // After the answer, nothing waits: the host may sleep again.
    play(&mut s, &[], 12.0, &[]);
    assert_eq!(s.statuses.last(), Some(&ProcessStatus::ContinueIfNotQuiet));
    s.finish();
}

/// Resident memory of this process, in bytes (Linux).
fn rss_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096)
}

/// CPU time this process has used (user + system), in seconds (Linux, 100 ticks/s).
fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let fields: Vec<&str> = stat.rsplit(')').next()?.split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some(ticks as f64 / 100.0)
}

#[test]
fn eight_instances_in_one_process_each_answer_their_own_phrase() {
    const N: usize = 8;
    let before = rss_bytes();
    let mut sessions: Vec<Session> = (0..N).map(|_| Session::start()).collect();
    std::thread::sleep(std::time::Duration::from_millis(1000));
    let after = rss_bytes();

    // Nobody plays: the idle cost of all eight (reported, not asserted: timings live in
    // reports, not tests).
    let cpu0 = cpu_seconds();
    std::thread::sleep(std::time::Duration::from_secs(2));
    let idle = cpu0.zip(cpu_seconds()).map(|(a, b)| (b - a) / 2.0);
    if let (Some(b), Some(a), Some(idle)) = (before, after, idle) {
        eprintln!(
            "{N} instances: {:.1} MiB resident each (model loaded), idle CPU of all {N}: {:.1}% of one core",
            (a.saturating_sub(b)) as f64 / N as f64 / (1 << 20) as f64,
            idle * 100.0
        );
    }

    // Instance i hears the phrase with its own first block of parameters; each plays the
    // phrase transposed by a different octave-safe step so its answer is its own.
    let params = musical_params();
    let phrases: Vec<Vec<(f64, u8, u8)>> = (0..N)
        .map(|i| {
            phrase()
                .into_iter()
                .map(|(b, p, v)| (b, p + [0, 2, 4, 5, 7, 9, 11, 12][i], v))
                .collect()
        })
        .collect();
    let mut first = true;
    while (sessions[0].sample as f64) < 10.0 * SAMPLES_PER_BEAT {
        for (s, events) in sessions.iter_mut().zip(&phrases) {
            let start = s.sample;
            let in_block: Vec<(u32, u8, u8)> = events
                .iter()
                .map(|&(b, p, v)| ((b * SAMPLES_PER_BEAT).round() as u64, p, v))
                .filter(|&(t, _, _)| t >= start && t < start + u64::from(BLOCK))
                .map(|(t, p, v)| ((t - start) as u32, p, v))
                .collect();
            s.block(true, if first { &params } else { &[] }, &in_block);
        }
        first = false;
        // Real time at 2×: eight inference threads share the machine's cores.
        std::thread::sleep(std::time::Duration::from_micros(
            (f64::from(BLOCK) / SAMPLE_RATE * 1e6 / 2.0) as u64,
        ));
    }
    for (i, s) in sessions.into_iter().enumerate() {
        // Phrase in beats 0–3.95, pause reached at 4.95: a 1-bar answer from beat 5.
        check_answer(&s.heard, 1, 5.0, 9.0, 48, 84);
        let own: Vec<u8> = s
            .heard
            .iter()
            .filter(|h| h.channel == 0 && h.velocity > 0)
            .map(|h| h.pitch)
            .collect();
        assert_eq!(
            own[0],
            60 + [0, 2, 4, 5, 7, 9, 11, 12][i],
            "instance {i} heard its phrase"
        );
        s.finish();
    }
}

#[test]
fn an_offline_render_holds_the_whole_answer_at_any_speed() {
    // A bounce or export: blocks as fast as the machine goes, no pause between them.
    // Continuo waits for its answers instead of dropping them.
    let mut s = Session::start_in(RenderMode::Offline);
    let params = musical_params();
    let mut first = true;
    while (s.sample as f64) < 10.0 * SAMPLES_PER_BEAT {
        let start = s.sample;
        let in_block: Vec<(u32, u8, u8)> = phrase()
            .iter()
            .map(|&(b, p, v)| ((b * SAMPLES_PER_BEAT).round() as u64, p, v))
            .filter(|&(t, _, _)| t >= start && t < start + u64::from(BLOCK))
            .map(|(t, p, v)| ((t - start) as u32, p, v))
            .collect();
        s.block(true, if first { &params } else { &[] }, &in_block);
        first = false;
    }
    check_answer(&s.heard, 1, 5.0, 9.0, 48, 84);
    s.finish();
}

/// Restores a project in which the clips folder was set to `dir`: the plugin's own state,
/// with that one field changed, as a host loads it.
fn restore_clips_dir(instance: &mut PluginInstance<()>, dir: &std::path::Path) {
    let state: PluginState = instance
        .plugin_handle()
        .get_extension()
        .expect("the state extension");
    let mut saved = Vec::new();
    state
        .save(&instance.plugin_handle(), &mut saved)
        .expect("state saved");
    // nice-plug's CLAP state: the JSON's length (8 bytes, little-endian), then the JSON.
    let mut json: serde_json::Value = serde_json::from_slice(&saved[8..]).expect("JSON state");
    json["fields"]["clips-dir"] = serde_json::to_string(dir.to_str().unwrap()).unwrap().into();
    let json = serde_json::to_vec(&json).unwrap();
    let mut edited = (json.len() as u64).to_le_bytes().to_vec();
    edited.extend(json);
    state
        .load(&instance.plugin_handle(), &mut edited.as_slice())
        .expect("state loaded");
}

#[test]
fn save_every_answer_keeps_a_clip_that_reads_back_as_played() {
    let dir = std::env::temp_dir().join(format!("continuo-clap-clips-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let mut s = Session::start_with(RenderMode::Offline, |i| restore_clips_dir(i, &dir));
    let mut params = musical_params();
    params.push((param_id("keep"), 1.0));
    play(&mut s, &phrase(), 10.0, &params);
    // Removing the instance ends its exchange: the clip is on disk once it is gone.
    let heard = s.finish();
    check_answer(&heard, 1, 5.0, 9.0, 48, 84);

    let files: Vec<_> = std::fs::read_dir(&dir)
        .expect("the clips folder from the project")
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    let clip = continuo_core::midi::read_midi(&std::fs::read(&files[0]).unwrap()).unwrap();
    assert!((clip.bpm - TEMPO).abs() < 1e-2);
    // The clip starts on the phrase's bar (beat 0): its beats are the session's.
    let (phrase_notes, answer): (Vec<&continuo_core::midi::Note>, Vec<_>) =
        clip.notes.iter().partition(|n| n.start < 4.5);
    assert_eq!(phrase_notes.len(), phrase().len() / 2);
    let mut played = Vec::new();
    let mut sounding = [None; 128];
    for h in heard.iter().filter(|h| h.channel == 1) {
        match (h.velocity, sounding[usize::from(h.pitch)].take()) {
            (0, Some(start)) => played.push((h.pitch, start, h.beat())),
            (0, None) => {}
            (_, _) => sounding[usize::from(h.pitch)] = Some(h.beat()),
        }
    }
    played.sort_by(|a, b| a.1.total_cmp(&b.1).then(a.0.cmp(&b.0)));
    assert_eq!(
        answer.len(),
        played.len(),
        "saved {answer:?}\nheard {played:?}"
    );
    let step = 1.0 / 24.0;
    for (saved, (pitch, start, end)) in answer.iter().zip(&played) {
        assert_eq!(saved.pitch, *pitch);
        assert!(
            (saved.start - start).abs() <= step && (saved.end - end).abs() <= step,
            "saved {saved:?}, heard {pitch} {start}–{end}"
        );
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
