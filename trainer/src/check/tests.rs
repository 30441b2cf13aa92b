//! `check` on hand-made pieces, with answers that need no model.

use std::convert::Infallible;

use continuo_core::grid::{Meter, TimeSig};
use continuo_core::midi::sort_notes;

use super::*;

fn n(pitch: u8, start: f64, len: f64) -> Note {
    Note {
        pitch,
        velocity: 70,
        start,
        end: start + len,
    }
}

/// `bars` bars of a C-major scale up and down in eighths, over a bass note per bar that
/// rings into the next.
fn scale_piece(bars: u32) -> Score {
    const UP_DOWN: [u8; 14] = [0, 2, 4, 5, 7, 9, 11, 12, 11, 9, 7, 5, 4, 2];
    let mut notes: Vec<Note> = (0..bars * 8)
        .map(|i| n(60 + UP_DOWN[i as usize % 14], f64::from(i) * 0.5, 0.5))
        .collect();
    let bass = [36, 41, 43];
    notes.extend((0..bars).map(|b| n(bass[b as usize % 3], f64::from(b) * 4.0, 6.0)));
    sort_notes(&mut notes);
    Score::new(notes, 120.0)
}

/// `bars` bars of A-minor, G-major and F-major broken chords in 16ths, silent in bars 2
/// and 3 (counting from 0).
fn arpeggio_piece(bars: u32) -> Score {
    let chords: [[u8; 4]; 3] = [[57, 60, 64, 69], [55, 59, 62, 67], [53, 57, 60, 65]];
    let mut notes: Vec<Note> = (0..bars * 16)
        .filter(|i| !(2..4).contains(&(i / 16)))
        .map(|i| {
            let chord = chords[(i / 16 % 3) as usize];
            n(chord[(i % 4) as usize], f64::from(i) * 0.25, 0.25)
        })
        .collect();
    sort_notes(&mut notes);
    Score::new(notes, 90.0)
}

/// One note a bar: never enough for a window.
fn sparse_piece() -> Score {
    let notes = (0..20).map(|b| n(60, f64::from(b) * 4.0, 1.0)).collect();
    Score::new(notes, 100.0)
}

fn fixture() -> Vec<Piece> {
    [
        ("scale", scale_piece(24)),
        ("arpeggio", arpeggio_piece(12)),
        ("sparse", sparse_piece()),
    ]
    .into_iter()
    .map(|(name, score)| Piece {
        name: name.into(),
        score,
    })
    .collect()
}

fn run(
    options: &CheckOptions,
    continuation: impl FnMut(&Window, u64) -> Result<Vec<Note>, Infallible>,
) -> Report {
    let Ok(report) = check(&fixture(), options, &ProgressBar::hidden(), continuation);
    report
}

const THREE_FOUR: TimeSig = TimeSig {
    numerator: 3,
    denominator: 4,
};

/// Means over answers that differ only in how often each window's value is counted agree
/// up to rounding.
fn assert_same(a: &Measures, b: &Measures) {
    for (x, y) in a.values().into_iter().zip(b.values()) {
        match (x, y) {
            (Some(x), Some(y)) => assert!((x - y).abs() < 1e-12, "{a:?}\n{b:?}"),
            (x, y) => assert_eq!(x, y, "{a:?}\n{b:?}"),
        }
    }
}

#[test]
fn windows_are_rebased_cut_and_spread_over_the_usable_bars() {
    let score = arpeggio_piece(12);
    // 12 bars allow starts at bars 0..=8. Bars 2 and 3 are silent, so the window at bar 0
    // has no truth and the one at bar 2 no prompt.
    let all = windows(&score, 100);
    let starts: Vec<f64> = all.iter().map(|w| w.start).collect();
    assert_eq!(starts, [4.0, 12.0, 16.0, 20.0, 24.0, 28.0, 32.0]);
    let two: Vec<f64> = windows(&score, 2).iter().map(|w| w.start).collect();
    assert_eq!(two, [12.0, 28.0], "middles of two halves of seven");
    // The window at bar 1: its prompt ends with a silent bar, its truth starts with one.
    assert_eq!(all[0].prompt.notes.len(), 16);
    assert_eq!(all[0].truth[0].start, 12.0);
    let w = &all[2];
    assert_eq!((w.prompt_beats, w.answer_beats), (8.0, 8.0));
    assert_eq!(w.answer_span(), 8.0..16.0);
    assert_eq!(w.end(), 32.0);
    assert_eq!(w.prompt.notes.len(), 32);
    assert_eq!(w.truth.len(), 32);
    assert_eq!(w.prompt.notes[0].start, 0.0);
    assert!(w.prompt.notes.iter().all(|n| n.end <= 8.0));
    assert_eq!(w.truth[0].start, 8.0);
    assert!(w.truth.iter().all(|n| n.start < 16.0));
    assert!(
        w.truth.iter().all(|n| n.end <= 16.0),
        "cut at the window's end"
    );
    let held = Note {
        end: 30.0,
        ..w.truth[0]
    };
    assert_eq!(w.in_answer([held])[0].end, 16.0, "an answer's notes too");
    assert_eq!(w.prompt.meter, Meter::default());

    // The scale's bass notes last a bar; the last prompt bass note ends at the cut.
    let w = &windows(&scale_piece(24), 1)[0];
    assert_eq!(
        w.prompt.notes.iter().map(|n| n.end).fold(0.0, f64::max),
        8.0
    );
    assert!(windows(&sparse_piece(), 4).is_empty());
    assert_eq!(spread(vec![1, 2, 3], 4), [1, 2, 3]);
}

#[test]
fn bars_follow_the_pieces_meter() {
    // Two bars of 4/4, then 3/4; a change a hair after a bar line moves it.
    let meter = Meter::from_changes([(8.0, THREE_FOUR)]);
    assert_eq!(bar_lines(&meter, 17.0), [0.0, 4.0, 8.0, 11.0, 14.0, 17.0]);
    let late = Meter::from_changes([(8.001, THREE_FOUR)]);
    assert_eq!(bar_lines(&late, 12.0), [0.0, 4.0, 8.001, 11.001]);

    // 8ths throughout: windows start on those bar lines, four bars long.
    let notes = (0..40)
        .map(|i| n(60 + (i % 5) as u8, f64::from(i) * 0.5, 0.5))
        .collect();
    let score = Score {
        notes,
        bpm: 100.0,
        meter,
    };
    let all = usable_windows(&score);
    let shape: Vec<(f64, f64, f64)> = all
        .iter()
        .map(|w| (w.start, w.prompt_beats, w.answer_beats))
        .collect();
    assert_eq!(shape, [(0.0, 8.0, 6.0), (4.0, 7.0, 6.0), (8.0, 6.0, 6.0)]);
    // The prompt's meter is the piece's, seen from the window's start.
    assert_eq!(all[0].prompt.meter, score.meter);
    assert_eq!(
        all[1].prompt.meter.changes(),
        [(0.0, TimeSig::COMMON), (4.0, THREE_FOUR)]
    );
    assert_eq!(all[1].truth.len(), 12);
    assert!(all[1].truth.iter().all(|n| (7.0..13.0).contains(&n.start)));

    // A waltz: bars of three beats from the start.
    let waltz = Score {
        notes: (0..24).map(|i| n(60, f64::from(i), 1.0)).collect(),
        bpm: 150.0,
        meter: Meter::constant(THREE_FOUR),
    };
    let starts: Vec<f64> = usable_windows(&waltz).iter().map(|w| w.start).collect();
    assert_eq!(starts, [0.0, 3.0, 6.0, 9.0, 12.0]);
    assert!(usable_windows(&waltz)
        .iter()
        .all(|w| w.prompt.meter == Meter::constant(THREE_FOUR) && w.answer_beats == 6.0));
}

#[test]
fn another_passage_is_clear_of_the_window_and_starts_with_the_answer() {
    let usable = usable_windows(&arpeggio_piece(12));
    let window = &usable[2]; // beats 16..32
    for seed in 0..20 {
        let other = baselines::other_passage(window, &usable, seed).unwrap();
        assert!(!other.is_empty());
        assert!(other
            .iter()
            .all(|n| window.answer_span().contains(&n.start)));
        assert_ne!(other, window.truth, "seed {seed}");
    }
    // In nine bars, the window from bar 3 overlaps every other.
    let short = usable_windows(&arpeggio_piece(9));
    assert!(short.len() > 1);
    assert!(baselines::other_passage(&short[1], &short, 1).is_none());
}

#[test]
fn answering_with_the_truth_scores_as_the_truth() {
    let options = CheckOptions::default();
    let report = run(&options, |w, _| Ok(w.truth.clone()));
    assert_same(&report.model, &report.truth);
    assert_eq!(report.pieces, 3);
    assert_eq!(report.pieces_without_windows, 1);
    assert_eq!(report.windows, 8);
    assert_eq!(report.answers, 24);
    assert_eq!(report.empty_answers, 0);
    assert_eq!(report.windows_without_other_passage, 0);
    let t = &report.truth;
    assert_eq!(t.pitch.pitch_class_similarity, Some(1.0));
    assert_eq!(t.pitch.register_gap, Some(0.0));
    assert_eq!(t.rhythm.density_gap, Some(0.0));
    assert_eq!(t.rhythm.onset_in_bar, Some(1.0));
    assert_eq!(t.texture.notes_per_onset_gap, Some(0.0));
    assert_eq!(t.melody.contour_similarity, Some(1.0));
    assert_eq!(t.motif.reuse_gap, Some(0.0));
    assert_eq!(t.pitch.in_scale, Some(1.0), "both fixtures stay in key");
    assert!(report.replay.pitch.pitch_class_similarity.unwrap() < 1.0);
    // The classifier cannot tell the truth from itself: whichever way it guesses, it is right
    // about one of each pair.
    let accuracy = report.classifier.model.unwrap();
    assert!((accuracy - 0.5).abs() < 1e-12, "{accuracy}");
    assert!(
        report.classifier.model_furthest.is_empty(),
        "no feature tells the truth from itself"
    );
}

#[test]
fn answering_with_a_replay_scores_as_the_replay() {
    let options = CheckOptions {
        windows: 2,
        seeds: 2,
        ..Default::default()
    };
    let report = run(&options, |w, _| {
        Ok(baselines::replay(&w.prompt.notes, w.prompt_beats))
    });
    assert_same(&report.model, &report.replay);
    let (model, replay) = (report.classifier.model, report.classifier.replay);
    assert!(
        (model.unwrap() - replay.unwrap()).abs() < 1e-9,
        "{model:?} {replay:?}"
    );
    assert_eq!(report.replay.motif.reuse, Some(1.0));
    // What gives a replay away, most telling first: it is its prompt again.
    let furthest = &report.classifier.model_furthest;
    assert!(!furthest.is_empty() && furthest.len() <= FURTHEST);
    assert!(furthest
        .windows(2)
        .all(|w| w[0].effect.abs() >= w[1].effect.abs()));
    let reuse = furthest
        .iter()
        .find(|d| d.feature == "reuse of the prompt's figures")
        .expect("reuse tells a replay");
    assert!(reuse.effect > 0.0 && reuse.answers == 1.0 && reuse.truth < 1.0);
    let table = report.to_string();
    assert!(table.contains("furthest from true"), "{table}");
    assert!(table.contains(&furthest[0].feature), "{table}");
    assert_eq!(report.windows, 4);
    assert_eq!(report.answers, 8);
}

#[test]
fn the_windows_told_most_surely_come_with_their_phrase_truth_and_answer() {
    let options = CheckOptions {
        windows: 3,
        seeds: 2,
        ..Default::default()
    };
    // A replay, an octave up on the arpeggio piece only: its windows are the easier to tell.
    let report = run(&options, |w, _| {
        let lift = if w.prompt.bpm == 90.0 { 12 } else { 0 };
        Ok(baselines::replay(&w.prompt.notes, w.prompt_beats)
            .into_iter()
            .map(|n| Note {
                pitch: n.pitch + lift,
                ..n
            })
            .collect())
    });
    let told = &report.classifier.model_most_told;
    assert_eq!(told.len(), report.windows.min(MOST_TOLD));
    assert!(told.windows(2).all(|w| w[0].answers >= w[1].answers));
    for t in told {
        assert!((0.0..=1.0).contains(&t.answers));
        assert!((0.0..=1.0).contains(&t.truth.unwrap()));
        assert!((1..=options.seeds).contains(&t.seed));
        let p = &t.passages;
        assert!(!p.phrase.notes.is_empty() && !p.truth.is_empty() && !p.answer.is_empty());
        assert!(p.answer.iter().all(|n| n.start >= p.phrase.notes[0].start));
        assert_eq!(p.bar_beats, 4.0);
    }
    assert_eq!(told[0].piece, "arpeggio", "{told:?}");
    let table = report.to_string();
    assert!(table.contains("most surely told"), "{table}");
    assert!(table.contains(&format!("{} from beat {}", told[0].piece, told[0].start)));

    let dir = std::env::temp_dir().join(format!("continuo-rolls-{}", std::process::id()));
    let written = rolls::write_rolls(told, &dir).unwrap();
    assert_eq!(written.len(), 3 * told.len());
    for path in &written {
        let bytes = std::fs::read(path).unwrap();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        assert!(
            name.starts_with(&format!(
                "0{}-",
                1 + written.iter().position(|p| p == path).unwrap() / 3
            )),
            "{name}"
        );
        if name.ends_with(".png") {
            assert!(bytes.starts_with(b"\x89PNG"), "{name}");
        } else {
            let score = continuo_core::midi::read_midi(&bytes).unwrap();
            assert!(!score.notes.is_empty(), "{name}");
        }
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn the_random_baseline_uses_the_answer_seed() {
    let report = run(&CheckOptions::default(), |w, seed| {
        let key = metrics::best_key(&w.prompt.notes).pitch_classes();
        Ok(baselines::random_in_scale(
            &w.prompt.notes,
            key,
            w.prompt_beats,
            w.answer_beats,
            seed,
        ))
    });
    assert_eq!(report.model, report.random);
    assert_eq!(report.classifier.model, report.classifier.random);
    assert_ne!(report.random, report.replay);
}

#[test]
fn empty_answers_are_counted_and_skipped() {
    let mut calls = 0;
    let report = run(&CheckOptions::default(), |w, _| {
        calls += 1;
        // Every other answer is empty; notes outside the answer's bars do not count.
        Ok(if calls % 2 == 0 {
            vec![n(60, 0.0, 1.0), n(60, 16.0, 1.0)]
        } else {
            w.truth.clone()
        })
    });
    assert_eq!(report.empty_answers, 12);
    // Only the true answers count, and they are perfect; the means of the other rows weigh
    // windows by how many true answers each had.
    for (row, value) in measures::ROWS.iter().zip(report.model.values()) {
        match row.mark {
            '↑' => assert_eq!(value, Some(1.0), "{}", row.label),
            '↓' => assert_eq!(value, Some(0.0), "{}", row.label),
            _ => assert!(value.is_some(), "{}", row.label),
        }
    }

    let report = run(&CheckOptions::default(), |_, _| Ok(Vec::new()));
    assert_eq!(report.empty_answers, report.answers);
    assert_eq!(report.model, Measures::default());
    assert!(
        report.classifier.model.unwrap() > 0.9,
        "silence gives itself away"
    );
    let table = report.to_string();
    assert!(table.contains("24 answers, 24 empty"), "{table}");
}

#[test]
fn the_same_inputs_give_the_same_report() {
    // An answer that depends on the seed: the random baseline an octave up.
    let answer = |w: &Window, seed: u64| {
        let mut notes =
            baselines::random_in_scale(&w.prompt.notes, 0xFFF, w.prompt_beats, 8.0, seed);
        notes.iter_mut().for_each(|n| n.pitch += 12);
        Ok(notes)
    };
    let options = CheckOptions::default();
    let first = run(&options, answer);
    assert_eq!(first, run(&options, answer));
    assert_eq!(first.to_json(), run(&options, answer).to_json());
    let more_seeds = CheckOptions {
        seeds: 4,
        ..Default::default()
    };
    assert_ne!(first.model, run(&more_seeds, answer).model);
}

#[test]
fn report_prints_grouped_rows_and_json() {
    let report = run(&CheckOptions::default(), |w, _| Ok(w.truth.clone()));
    let table = report.to_string();
    let lines: Vec<&str> = table.lines().collect();
    assert!(
        lines[0].ends_with("true   replay   random  passage    model"),
        "{table}"
    );
    assert_eq!(lines[1], "pitch", "{table}");
    assert!(
        lines[2].starts_with("  pitch-class similarity ↑")
            && lines[2].contains("    1.000")
            && lines[2].ends_with("1.000"),
        "{table}"
    );
    for group in ["rhythm", "texture", "melody", "motif"] {
        assert!(lines.contains(&group), "{table}");
    }
    assert!(
        lines.iter().any(|l| l.starts_with("classifier (5-fold")),
        "{table}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("  held-out accuracy ↓") && l.contains("        -")),
        "{table}"
    );
    assert!(
        table.contains(
            "3 pieces (1 without a usable window), 8 windows × 3 seeds = 24 answers, 0 empty"
        ),
        "{table}"
    );
    let json: serde_json::Value = serde_json::from_str(&report.to_json()).unwrap();
    assert_eq!(json["answers"], 24);
    assert_eq!(json["model"]["pitch"]["pitch_class_similarity"], 1.0);
    assert_eq!(json["truth"]["motif"]["reuse_gap"], 0.0);
    assert!(json["other_passage"]["rhythm"]["onset_in_beat"].is_number());
    assert!(json["classifier"]["replay"].is_number());
    assert_eq!(json["options"]["seeds"], 3);
}

#[test]
fn copying_shows_only_with_a_training_corpus() {
    let report = run(&CheckOptions::default(), |w, _| Ok(w.truth.clone()));
    assert_eq!(report.copying, None);
    assert!(!report.to_string().contains("copying"));
    assert!(!report.to_json().contains("copying"));

    // Trained on the arpeggio piece alone, answering with the truth: its windows' truths
    // are runs of it, the scale's are not.
    let pieces = fixture();
    let corpus = copying::Corpus::new([pieces[1].score.notes.as_slice()], []);
    let Ok(report) = check_against::<Infallible>(
        &pieces,
        &CheckOptions::default(),
        Some(&corpus),
        &ProgressBar::hidden(),
        |w, _| Ok(w.truth.clone()),
    );
    let c = report.copying.as_ref().unwrap();
    assert_eq!(c.truth.passages, report.windows);
    assert_eq!(c.model.passages, report.answers);
    assert_eq!(c.model.mean, c.truth.mean);
    assert_eq!(c.truth.max, Some(32.0), "two bars of 16ths");
    assert!(c.truth.median.unwrap() < 32.0);
    assert_eq!((c.pieces, c.notes, c.max_run), (1, 160, copying::MAX_RUN));
    let table = report.to_string();
    let lines: Vec<&str> = table.lines().collect();
    let at = lines
        .iter()
        .position(|l| *l == "copying (longest run of notes shared with a training piece)")
        .expect(&table);
    assert!(lines[at + 1].starts_with("  mean ≈"), "{table}");
    assert!(lines[at + 2].starts_with("  median ≈"), "{table}");
    assert!(lines[at + 3].starts_with("  max ≈") && lines[at + 3].ends_with("32.000"));
    assert!(lines[at + 4].starts_with("classifier"), "{table}");
    assert!(table.contains("copying: notes in a row"), "{table}");
    let json: serde_json::Value = serde_json::from_str(&report.to_json()).unwrap();
    assert_eq!(json["copying"]["truth"]["max"], 32.0);
    assert_eq!(json["copying"]["model"]["passages"], 24);
}
