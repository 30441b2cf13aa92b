//! The built plugin in a VST3 host (`common/vst3_harness.rs`): an answer in time, key and
//! range; bypass, suspension and a model swap mid-answer; project state saved and restored;
//! an offline render; and a project's MIDI CC parameters sent back on reopening.

// The VST3 SDK's constant names, matched in patterns; its enum types differ by platform, so
// casts that are no-ops here are needed elsewhere.
#![allow(non_upper_case_globals, clippy::unnecessary_cast)]

mod common;

use common::vst3_harness::*;
use common::*;
use vst3::ComPtr;
use vst3::Steinberg::Vst::*;
use vst3::Steinberg::*;

/// Key lock C major, range C3–C6, 1-bar answers on channel 2, as plain values.
const MUSICAL: [(&str, f64); 6] = [
    ("scale", 1.0), // Major
    ("key", 0.0),   // C
    ("low", 48.0),
    ("high", 84.0),
    ("length", 1.0),
    ("channel", 2.0),
];

/// The *Answer* parameter's text once the inference thread has loaded (or failed to load) the
/// model: what a host shows. Waits for the load, which takes its own time on its own thread.
fn settled_status(s: &Session) -> String {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let shown = s.display("enabled");
        if !shown.contains("loading") || std::time::Instant::now() > deadline {
            return shown;
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
}

#[test]
fn answers_a_phrase_in_time_key_and_range_and_stop_ends_notes() {
    let mut s = Session::start(None);
    assert_eq!(settled_status(&s), "On", "the shipped model loads");
    answer_then_stop(&mut s, &MUSICAL);
    s.finish();
}

#[test]
fn bypass_and_suspension_mid_answer_leave_no_stuck_notes() {
    let mut s = Session::start(None);
    play(&mut s, &phrase(), 5.0, &MUSICAL);
    play_until_sounding(&mut s, 1, 9.0);
    let at_bypass = s.heard.len();
    for _ in 0..20 {
        s.block(true, &[("bypass", 1.0)], &[]);
    }
    assert_eq!(sounding(&s.heard, 1), 0, "bypass ends the answer's notes");
    assert!(
        s.heard[at_bypass..].iter().all(|h| h.velocity == 0),
        "nothing new while bypassed"
    );

    // Unbypassed, a new phrase, and the host suspends the plugin mid-note: the owed
    // note-offs come with the first block after it resumes.
    let next = (s.sample() as f64 / SAMPLES_PER_BEAT).ceil() + 1.0;
    s.block(true, &[("bypass", 0.0)], &[]);
    play(&mut s, &phrase_at(next), next + 5.0, &[]);
    play_until_sounding(&mut s, 1, next + 9.0);
    s.suspend_and_resume();
    let at_resume = s.heard.len();
    s.block(true, &[], &[]);
    assert_eq!(sounding(&s.heard, 1), 0, "resuming ends the answer's notes");
    assert!(s.heard[at_resume..]
        .iter()
        .all(|h| h.velocity == 0 && h.sample == s.sample() - u64::from(BLOCK)));
    let heard = s.finish();
    check_answer(&heard, 1, 5.0, next + 9.0, 48, 84);
}

/// The project chunk of `s` with its model path replaced by one that does not exist.
fn with_missing_model(chunk: &[u8]) -> Vec<u8> {
    let mut state: serde_json::Value = serde_json::from_slice(chunk).expect("state is JSON");
    let missing = std::env::temp_dir().join("continuo-no-such-model/model.onnx");
    // Persisted fields are JSON inside the JSON state.
    state["fields"]["model-path"] =
        serde_json::Value::String(serde_json::to_string(missing.to_str().unwrap()).unwrap());
    serde_json::to_vec(&state).unwrap()
}

#[test]
fn swapping_the_model_mid_answer_ends_its_notes() {
    let mut s = Session::start(None);
    // 4-bar answers, so the answer is still going when the model changes.
    let mut params = MUSICAL.to_vec();
    params.push(("length", 4.0));
    play(&mut s, &phrase(), 5.0, &params);
    play_until_sounding(&mut s, 1, 9.0);
    s.load(&with_missing_model(&s.save()));
    // nice-plug applies a state loaded during processing at the end of the next block; the
    // inference thread then sees the new path within its 50 ms poll and swaps the model.
    s.block(true, &[], &[]);
    std::thread::sleep(std::time::Duration::from_millis(300));
    let swapped = s.heard.len();
    s.block(true, &[], &[]);
    assert_eq!(
        sounding(&s.heard, 1),
        0,
        "the swap ended the answer's notes"
    );
    let end = s.sample() as f64 / SAMPLES_PER_BEAT + 8.0;
    play(&mut s, &[], end, &[]);
    assert!(
        s.heard[swapped..].iter().all(|h| h.velocity == 0),
        "the old model's answer does not go on: {:?}",
        &s.heard[swapped..]
    );
    assert!(s.display("enabled").contains("no model"));
    let heard = s.finish();
    check_answer(&heard, 1, 5.0, 21.0, 48, 84);
}

#[test]
fn offers_an_editor_window() {
    let s = Session::start(None);
    unsafe {
        let view = s.controller.createView(c"editor".as_ptr());
        let view = ComPtr::<IPlugView>::from_raw(view).expect("a plugin view");
        assert_eq!(
            view.isPlatformTypeSupported(c"X11EmbedWindowID".as_ptr()),
            kResultOk
        );
        let mut rect: ViewRect = std::mem::zeroed();
        assert_eq!(view.getSize(&mut rect), kResultOk);
        let (w, h) = (rect.right - rect.left, rect.bottom - rect.top);
        assert!(w >= 400 && h >= 400, "window of {w}×{h}");
    }
    s.finish();
}

#[test]
fn project_state_restores_parameters_and_model_choice() {
    let mut s = Session::start(None);
    s.block(true, &MUSICAL, &[]);
    s.block(true, &[("temperature", 0.5), ("seed", 42.0)], &[]);
    let chunk = s.save();
    s.finish();

    let json: serde_json::Value = serde_json::from_slice(&chunk).expect("state is JSON");
    // Persisted fields are JSON inside the JSON state.
    assert_eq!(
        json["fields"]["model-path"], "\"\"",
        "the default model is saved as the empty path: {json}"
    );

    let restored = Session::start(Some(&chunk));
    for (id, value) in MUSICAL
        .iter()
        .chain(&[("temperature", 0.5), ("seed", 42.0)])
    {
        let got = restored.plain(id);
        assert!((got - value).abs() < 1e-4, "{id}: saved {value}, got {got}");
    }
    restored.finish();
}

#[test]
fn a_project_keeps_what_learn_from_me_learned() {
    let mut s = Session::start(None);
    play(&mut s, &phrase(), 10.0, &MUSICAL);
    let chunk = s.save();
    s.finish();
    // Persisted fields are JSON inside the JSON state.
    let learned = |chunk: &[u8]| -> serde_json::Value {
        let json: serde_json::Value = serde_json::from_slice(chunk).expect("state is JSON");
        serde_json::from_str(
            json["fields"]["learned"]
                .as_str()
                .expect("learned is saved"),
        )
        .unwrap()
    };
    let saved = learned(&chunk);
    let phrases = saved["phrases"].as_array().expect("phrases");
    assert_eq!(phrases.len(), 1, "the phrase played: {saved}");
    assert_eq!(phrases[0].as_array().unwrap().len(), phrase().len() / 2);

    // Reopened, it is learned again, and saved again as it was.
    let reopened = Session::start(Some(&chunk));
    assert_eq!(learned(&reopened.save()), saved);
    reopened.finish();
}

#[test]
fn a_missing_model_from_the_project_passes_notes_through() {
    // A project saved with a model file that is no longer there.
    let first = Session::start(None);
    let chunk = with_missing_model(&first.save());
    first.finish();

    let mut s = Session::start(Some(&chunk));
    let shown = settled_status(&s);
    assert!(
        shown.contains("no model") && shown.contains("does not exist"),
        "the Answer parameter says why: {shown}"
    );
    play(&mut s, &phrase(), 10.0, &MUSICAL);
    let heard = s.finish();
    let played: Vec<_> = heard.iter().filter(|h| h.channel == 0).collect();
    assert_eq!(played.len(), phrase().len(), "the phrase passes through");
    assert!(
        heard.iter().all(|h| h.channel == 0),
        "no answer without a model: {heard:?}"
    );
}

/// Plays the phrase into `s` with no pause at all between blocks, as a host renders a bounce
/// or an export, through beat 10; returns what came out.
fn render(mut s: Session, params: &[(&'static str, f64)]) -> Vec<Heard> {
    let block = u64::from(s.block_len());
    let mut first = true;
    while (s.sample() as f64) < 10.0 * SAMPLES_PER_BEAT {
        let start = s.sample();
        let in_block: Vec<(u32, u8, u8)> = phrase()
            .iter()
            .map(|&(b, p, v)| ((b * SAMPLES_PER_BEAT).round() as u64, p, v))
            .filter(|&(t, _, _)| t >= start && t < start + block)
            .map(|(t, p, v)| ((t - start) as u32, p, v))
            .collect();
        s.block(true, if first { params } else { &[] }, &in_block);
        first = false;
    }
    s.finish()
}

/// No note of `heard` ends on the sample it starts.
fn assert_no_zero_length_notes(heard: &[Heard]) {
    for (i, on) in heard.iter().enumerate().filter(|(_, h)| h.velocity > 0) {
        let off = heard[i + 1..]
            .iter()
            .find(|h| h.velocity == 0 && h.pitch == on.pitch && h.channel == on.channel)
            .unwrap_or_else(|| panic!("{on:?} is never released"));
        assert!(off.sample > on.sample, "a note of zero length: {on:?}");
    }
}

#[test]
fn an_offline_render_holds_the_whole_answer_on_time_at_any_speed() {
    // Continuo must wait for its answers rather than drop or delay them.
    let heard = render(
        Session::start_in(None, ProcessModes_::kOffline as int32),
        &MUSICAL,
    );
    // Phrase in beats 0–3.95, pause reached at 4.95: a 1-bar answer from beat 5 to 9.
    // Before nice-plug's patch the plugin was told it ran in real time and played nothing.
    check_answer(&heard, 1, 5.0, 9.0, 48, 84);
    assert_no_zero_length_notes(&heard);
}

#[test]
fn an_export_announced_only_per_block_holds_the_same_answer_at_any_block_size() {
    // Ardour's VST3 export: processing is set up in real time, and each block says offline.
    // The answer must be the one a 256-sample offline render holds, note for note and sample
    // for sample, however large the blocks.
    let seeded: Vec<(&str, f64)> = MUSICAL.iter().copied().chain([("seed", 5.0)]).collect();
    let offline = ProcessModes_::kOffline as int32;
    let reference = render(Session::start_in(None, offline), &seeded);
    check_answer(&reference, 1, 5.0, 9.0, 48, 84);
    for block_len in [4096, 8192] {
        let realtime = ProcessModes_::kRealtime as int32;
        let heard = render(
            Session::start_with(None, realtime, offline, block_len),
            &seeded,
        );
        assert_no_zero_length_notes(&heard);
        assert_eq!(heard, reference, "{block_len}-sample blocks");
    }
}

#[test]
fn the_instrument_answers_as_the_effect_does_with_silent_audio() {
    // Live and FL Studio load Continuo as an instrument with an audio output, then route its
    // MIDI on. It must answer as the MIDI effect does, and its audio must be silence.
    let seeded: Vec<(&str, f64)> = MUSICAL.iter().copied().chain([("seed", 9.0)]).collect();
    let offline = ProcessModes_::kOffline as int32;
    let effect = render(Session::start_in(None, offline), &seeded);
    let instrument = render(
        Session::start_class(INSTRUMENT, None, offline, offline, BLOCK),
        &seeded,
    );
    check_answer(&instrument, 1, 5.0, 9.0, 48, 84);
    assert_eq!(instrument, effect);
}

#[test]
fn reopening_a_project_restores_no_midi_cc_burst() {
    // nice-plug registers 16 × 130 hidden parameters that carry MIDI CCs, channel pressure and
    // pitch bend. A host that saved them with the project sends them all back on reopening,
    // with the value the plugin reported (0.5). That must reach nobody, and it must not
    // overflow the event buffer (this build aborts on an allocation in `process`).
    let mut s = Session::start(None);
    let count = unsafe { s.controller.getParameterCount() };
    let midi_params: Vec<(u32, f64)> = (0..count)
        .filter_map(|i| {
            let mut info: ParameterInfo = unsafe { std::mem::zeroed() };
            unsafe { s.controller.getParameterInfo(i, &mut info) };
            let reported = unsafe { s.controller.getParamNormalized(info.id) };
            (c_str_u16(&info.title).starts_with("MIDI Ch.")).then_some((info.id, reported))
        })
        .collect();
    assert_eq!(midi_params.len(), 16 * 130);
    assert_eq!(s.restore_params(&midi_params), 0, "no events out");
    // A real CC still passes: the sustain pedal down on channel 1.
    let pedal = midi_params[64].0;
    assert_eq!(s.restore_params(&[(pedal, 127.0 / 127.0)]), 1);
}

fn c_str_u16(chars: &[u16]) -> String {
    String::from_utf16_lossy(&chars[..chars.iter().position(|&c| c == 0).unwrap_or(chars.len())])
}
