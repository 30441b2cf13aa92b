//! `trainer check` end to end: a small exported model answers MIDI fixtures through ONNX
//! Runtime, as the command does.

use std::path::PathBuf;

use burn::prelude::*;
use continuo_core::constraints::Constraints;
use continuo_core::contract::{Architecture, ModelMeta};
use continuo_core::generator::Generator;
use continuo_core::grid::read_on_grid;
use continuo_core::midi::{write_midi, Note, Score};
use continuo_core::runtime::{Model, RuntimeOptions};
use continuo_core::sampling::Sampling;
use continuo_core::vocab::Vocab;
use continuo_trainer::check::baselines::replay;
use continuo_trainer::check::learn::{learn_model, LearnOptions};
use continuo_trainer::check::measures::{Context, Measures, ROWS};
use continuo_trainer::check::onsets::onsets;
use continuo_trainer::check::{
    check_model, rhythm, styles, texture, usable_windows, CheckError, CheckOptions,
};
use continuo_trainer::generate::continue_score_from;
use continuo_trainer::model::ContinuoNet;
use continuo_trainer::train::write_model;

/// Two bars of 4/4.
const PROMPT_BEATS: f64 = 8.0;

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("continuo-{name}-{}", std::process::id()));
    if dir.exists() {
        std::fs::remove_dir_all(&dir).unwrap();
    }
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// An untrained model: its answers are arbitrary, but they go through the real runtime.
fn tiny_model(name: &str) -> PathBuf {
    let device = Device::flex();
    device.seed(11);
    let vocab = Vocab::default();
    let arch = Architecture {
        embed_dim: 8,
        hidden_dim: 16,
        num_layers: 1,
    };
    let net = ContinuoNet::new(&vocab, arch, 0.0, &device);
    let dir = temp_dir(name);
    write_model(&dir, &net, &ModelMeta::new(name, vocab, arch)).unwrap();
    dir
}

fn note(pitch: u8, start: f64, len: f64) -> Note {
    Note {
        pitch,
        velocity: 64,
        start,
        end: start + len,
    }
}

/// `bars` bars of 8ths walking up and down a D-major scale.
fn walk(bars: u32) -> Score {
    const D_MAJOR: [u8; 7] = [62, 64, 66, 67, 69, 71, 73];
    let notes = (0..bars * 8)
        .map(|i| note(D_MAJOR[(i * 3 % 7) as usize], f64::from(i) * 0.5, 0.4))
        .collect();
    Score::new(notes, 100.0)
}

fn write(dir: &std::path::Path, name: &str, score: &Score) {
    std::fs::write(dir.join(name), write_midi(score).unwrap()).unwrap();
}

#[test]
fn check_answers_every_window_with_the_model_the_same_way_twice() {
    let model = tiny_model("check-model");
    let data = temp_dir("check-data");
    write(&data, "walk.mid", &walk(16));
    std::fs::create_dir_all(data.join("more")).unwrap();
    write(&data, "more/long.midi", &walk(40));
    write(&data, "short.mid", &walk(3));
    std::fs::write(data.join("broken.mid"), b"MThd not really").unwrap();

    let options = CheckOptions {
        windows: 3,
        seeds: 2,
        sampling: Sampling {
            temperature: 1.0,
            ..Default::default()
        },
        ..Default::default()
    };
    let (report, skipped) = check_model(&model, &data, &options).unwrap();
    assert_eq!(skipped.len(), 1);
    assert!(skipped[0].path.ends_with("broken.mid"));
    assert_eq!(report.pieces, 3);
    assert_eq!(report.pieces_without_windows, 1, "3 bars hold no window");
    assert_eq!(report.windows, 6);
    assert_eq!(report.answers, 12);
    assert!(report.empty_answers < report.answers, "{report}");
    assert!(
        report.model.pitch.pitch_class_similarity.is_some(),
        "{report}"
    );
    assert_eq!(report.truth.pitch.pitch_class_similarity, Some(1.0));

    let (again, _) = check_model(&model, &data, &options).unwrap();
    assert_eq!(report, again);

    let empty = temp_dir("check-empty");
    write(&empty, "short.mid", &walk(3));
    assert!(matches!(
        check_model(&model, &empty, &options),
        Err(CheckError::NoWindows { pieces: 1, .. })
    ));
    let none = temp_dir("check-none");
    assert!(matches!(
        check_model(&model, &none, &options),
        Err(CheckError::NoPieces { .. })
    ));
    for dir in [model, data, empty, none] {
        std::fs::remove_dir_all(dir).ok();
    }
}

#[test]
fn a_continuation_from_a_later_beat_hears_the_rest_first() {
    let dir = tiny_model("check-from");
    let model = Model::load(&dir, &RuntimeOptions::default()).unwrap();
    let mut generator = Generator::new(model, 5);
    // The prompt's last note ends at beat 5: three beats of rest before the answer.
    let prompt = Score::new(
        vec![note(60, 0.0, 1.0), note(64, 2.0, 1.0), note(67, 4.0, 1.0)],
        120.0,
    );
    let mut out = continue_score_from(
        &mut generator,
        &prompt,
        Some(PROMPT_BEATS),
        8.0,
        &Sampling {
            temperature: 1.0,
            ..Default::default()
        },
        &Constraints::default(),
    )
    .unwrap();
    let answer = out.notes.split_off(prompt.notes.len());
    assert_eq!(out.notes, prompt.notes);
    assert!(!answer.is_empty());
    assert!(
        answer
            .iter()
            .all(|n| (PROMPT_BEATS..PROMPT_BEATS + 8.0).contains(&n.start)),
        "{answer:?}"
    );
    std::fs::remove_dir_all(dir).ok();
}

/// `score`'s first two bars over and over, `bars` bars in all.
fn looped(score: &Score, bars: u32) -> Score {
    let bar = score.meter.sig_at(0.0).beats_per_bar();
    let notes = (0..bars / 2)
        .flat_map(|k| {
            score
                .notes
                .iter()
                .map(move |n| n.moved(f64::from(k) * 2.0 * bar))
        })
        .collect();
    Score {
        notes,
        ..score.clone()
    }
}

#[test]
fn style_prompts_are_two_bars_in_their_meter() {
    let all = styles::all();
    assert_eq!(all.len(), 15);
    for (name, score) in &all {
        let bar = score.meter.sig_at(0.0).beats_per_bar();
        let expected = match *name {
            "waltz" | "barcarolle" => 3.0,
            "shuffle" => 6.0,
            _ => 4.0,
        };
        assert_eq!(bar, expected, "{name}");
        assert!(score.notes.len() >= 8, "{name}");
        assert!(
            score
                .notes
                .iter()
                .all(|n| n.start >= 0.0 && n.end <= 2.0 * bar),
            "{name}"
        );
        assert!(
            score.notes.windows(2).all(|w| w[0].start <= w[1].start),
            "{name}: sorted"
        );
        // A prompt of the style with the style again as its truth: the vamp goes on.
        let context = Context::new(score, 2.0 * bar, 2.0 * bar);
        let again = replay(&score.notes, 2.0 * bar);
        let m = Measures::measure(&again, &again, &context);
        assert_eq!(m.motif.reuse, Some(1.0), "{name}");
        assert_eq!(m.rhythm.onset_in_bar, Some(1.0), "{name}");
    }
}

#[test]
fn a_style_played_by_hand_is_off_its_grid_and_read_back_onto_it() {
    let starts = |notes: &[Note]| -> Vec<(i64, usize)> {
        onsets(notes)
            .iter()
            .map(|o| (o.step, o.pitches.len()))
            .collect()
    };
    for (name, written) in styles::all() {
        assert_eq!(styles::played_by_hand(&written, 0.0, 1), written, "{name}");
        let played = styles::played_by_hand(&written, 0.02, 1);
        assert_eq!(played, styles::played_by_hand(&written, 0.02, 1), "{name}");
        assert_ne!(starts(&played.notes), starts(&written.notes), "{name}");
        let mut read = played.notes.clone();
        read_on_grid(&mut read);
        let (read, written) = (starts(&read), starts(&written.notes));
        let kept = written.iter().filter(|o| read.contains(o)).count();
        assert!(
            kept as f64 >= 0.9 * written.len() as f64,
            "{name}: {kept} of {} onsets read back as written: {read:?}",
            written.len()
        );
    }
}

#[test]
fn style_prompts_measure_as_their_styles() {
    let beat = |s: &Score| rhythm::beat_histogram(&onsets(&s.notes), &s.meter).unwrap();
    let per_onset = |s: &Score| texture::notes_per_onset(&onsets(&s.notes)).unwrap();

    // Bass and triad on even beats, the triad alone on odd ones.
    assert_eq!(per_onset(&styles::block_chords()), 3.5);
    assert_eq!(per_onset(&styles::pop()), 3.5);
    assert_eq!(beat(&styles::block_chords())[0], 1.0);
    // Bass, chord, chord: a third of the onsets on each beat of the bar.
    let waltz = styles::waltz();
    let bar = rhythm::bar_histogram(&onsets(&waltz.notes), &waltz.meter).unwrap();
    for b in 0..3 {
        assert!((bar[b * 24] - 1.0 / 3.0).abs() < 1e-12);
    }
    assert!((per_onset(&waltz) - 7.0 / 3.0).abs() < 1e-12);
    // Alberti: one note at every 16th.
    let alberti = styles::alberti();
    assert_eq!(per_onset(&alberti), 1.0);
    assert_eq!(
        beat(&alberti)
            .iter()
            .enumerate()
            .filter(|(_, &h)| h == 0.25)
            .map(|(i, _)| i)
            .collect::<Vec<_>>(),
        [0, 6, 12, 18]
    );
    // Boogie: swung 8ths, on the beat and on its last third.
    let boogie = beat(&styles::boogie());
    assert_eq!((boogie[0], boogie[16]), (0.5, 0.5));
    // Jazz: four-note voicings, some off the beat.
    let jazz = styles::jazz_ii_v_i();
    let spread = texture::chord_spread(&onsets(&jazz.notes)).unwrap();
    assert!(spread > 11.0, "{spread}");
    assert!(beat(&jazz)[12] > 0.0);
    // 16th chords of two and three notes; triplets on steps 0, 8 and 16 of the beat.
    let sixteenths = styles::sixteenth_chords();
    assert!((per_onset(&sixteenths) - 2.25).abs() < 1e-12);
    let triplets = beat(&styles::triplets());
    assert!(triplets[0] > 0.0 && triplets[8] > 0.0 && triplets[16] > 0.0);
    assert_eq!(triplets[0] + triplets[8] + triplets[16], 1.0);
    // The barcarolle strikes every 8th of its 6/8 bar and nothing between; the bass only on
    // the dotted quarters (steps 0 and 36).
    let barcarolle = styles::barcarolle();
    let bar = rhythm::bar_histogram(&onsets(&barcarolle.notes), &barcarolle.meter).unwrap();
    for (step, share) in bar.iter().enumerate() {
        assert_eq!(*share > 0.0, step < 72 && step % 12 == 0, "step {step}");
    }
    let bass: Vec<f64> = barcarolle
        .notes
        .iter()
        .filter(|n| n.pitch < 50)
        .map(|n| n.start)
        .collect();
    assert_eq!(bass, [0.0, 1.5, 3.0, 4.5]);
    let swing = beat(&styles::swing());
    assert_eq!(swing[0] + swing[16], 1.0);
    assert!(swing[16] > 0.25);
}

#[test]
fn the_model_answers_every_style_and_check_reads_the_meter_from_the_file() {
    let dir = tiny_model("check-styles");
    let model = Model::load(&dir, &RuntimeOptions::default()).unwrap();
    let mut generator = Generator::new(model, 3);
    for (name, prompt) in styles::all() {
        let bars = 2.0 * prompt.meter.sig_at(0.0).beats_per_bar();
        let mut out = continue_score_from(
            &mut generator,
            &prompt,
            Some(bars),
            bars,
            &Sampling::default(),
            &Constraints::default(),
        )
        .unwrap();
        let answer = out.notes.split_off(prompt.notes.len());
        assert!(
            answer.iter().all(|n| (bars..2.0 * bars).contains(&n.start)),
            "{name}: {answer:?}"
        );
        let context = Context::new(&prompt, bars, bars);
        let m = Measures::measure(&answer, &replay(&prompt.notes, bars), &context);
        assert_eq!(m.values().len(), ROWS.len(), "{name}");
    }

    // Sixteen bars of waltz, written with its 3/4: windows start every three beats.
    let data = temp_dir("check-waltz");
    let waltz = looped(&styles::waltz(), 16);
    write(&data, "waltz.mid", &waltz);
    let read =
        continuo_core::midi::read_midi(&std::fs::read(data.join("waltz.mid")).unwrap()).unwrap();
    let starts: Vec<f64> = usable_windows(&read).iter().map(|w| w.start).collect();
    assert_eq!(
        starts,
        (0..12).map(|i| f64::from(i) * 3.0).collect::<Vec<_>>()
    );
    let options = CheckOptions {
        windows: 3,
        seeds: 1,
        ..Default::default()
    };
    let (report, _) = check_model(&dir, &data, &options).unwrap();
    assert_eq!(report.windows, 3);
    assert_eq!(report.windows_without_other_passage, 0);
    // Every passage of the loop has its bars' rhythm and texture.
    let other = &report.other_passage;
    assert_eq!(other.rhythm.onset_in_bar, Some(1.0), "{report}");
    assert_eq!(other.texture.notes_per_onset_gap, Some(0.0), "{report}");
    assert_eq!(report.replay.motif.reuse, Some(1.0));
    for dir in [dir, data] {
        std::fs::remove_dir_all(dir).ok();
    }
}

#[test]
fn learning_leaves_held_out_answers_alone_and_a_taught_memory_moves_the_answers() {
    let model = tiny_model("learn-model");
    let data = temp_dir("learn-data");
    write(&data, "walk.mid", &walk(16));
    let options = LearnOptions {
        players: 2,
        weights: vec![0.0, 1.0],
        sampling: Sampling {
            temperature: 1.0,
            ..Default::default()
        },
    };
    let check = CheckOptions {
        windows: 3,
        seeds: 2,
        sampling: options.sampling,
        ..Default::default()
    };
    let (report, skipped) = learn_model(&model, Some((&data, &check)), &options).unwrap();
    assert!(skipped.is_empty());
    // With nothing learned, or at weight 0, every answer of the check is the check's own.
    let unchanged = report.unchanged.unwrap();
    assert_eq!(unchanged.answers, 6);
    assert_eq!(unchanged.same_with_empty_memory, 6, "{report}");
    assert_eq!(unchanged.same_at_weight_zero, 6, "{report}");
    assert_eq!(report.styles.len(), 3);
    let [_, zero, full] = &report.all.columns[..] else {
        panic!("{report}");
    };
    assert_eq!(zero.passages, 6);
    // An untrained network knows nothing of the player; the memory brings runs of the
    // player's notes and intervals in.
    let (z, f) = (&zero.closeness, &full.closeness);
    assert!(f.longest_run > z.longest_run, "{report}");
    assert!(f.interval_similarity > z.interval_similarity, "{report}");
    let (again, _) = learn_model(&model, None, &options).unwrap();
    assert_eq!(
        again.all, report.all,
        "the same answers without the held-out part"
    );
    assert!(again.unchanged.is_none());
    for dir in [model, data] {
        std::fs::remove_dir_all(dir).ok();
    }
}

#[test]
fn the_styles_check_answers_every_style_and_measures_the_style_against_itself() {
    let dir = tiny_model("check-styles-report");
    let options = CheckOptions {
        seeds: 2,
        ..Default::default()
    };
    let report = continuo_trainer::check::style_answers::check_styles(&dir, &options).unwrap();
    let names: Vec<&str> = styles::all().iter().map(|(name, _)| *name).collect();
    let rows: Vec<&str> = report.rows.iter().map(|r| r.name).collect();
    assert_eq!(rows, names);
    for row in &report.rows {
        assert_eq!(row.style.rhythm.onset_in_beat, Some(1.0), "{}", row.name);
        // From where the plugin starts, mid-bar for some, the style played on crosses the
        // seam from the prompt's end to its start, a shape the prompt itself never plays.
        let reuse = row.style.motif.reuse.unwrap();
        assert!(reuse >= 0.7, "{}: {reuse}", row.name);
        assert!(row.empty <= 2, "{}", row.name);
    }
    let waltz = &report.rows[1];
    assert!((waltz.style_bass.unwrap() - 1.0 / 3.0).abs() < 1e-12);
    let text = report.to_string();
    assert!(
        text.contains("barcarolle") && text.contains("seeds 1 to 2"),
        "{text}"
    );
    assert!(report.to_json().contains("\"answers_bass\""));

    // Played by hand, the prompts the model reads change; the styles they are measured
    // against do not.
    let by_hand = CheckOptions {
        jitter: 0.02,
        ..options
    };
    let played = continuo_trainer::check::style_answers::check_styles(&dir, &by_hand).unwrap();
    for (a, b) in played.rows.iter().zip(&report.rows) {
        assert_eq!(a.style, b.style, "{}", a.name);
        assert_eq!(a.style_bass, b.style_bass, "{}", a.name);
    }
    assert!(played.to_string().contains("played by hand"));

    let late = CheckOptions {
        start_late: 0.25,
        ..by_hand
    };
    let late = continuo_trainer::check::style_answers::check_styles(&dir, &late).unwrap();
    assert_eq!(late.rows.len(), report.rows.len());
    assert!(late.to_string().contains("0.25 beats later"));
}
