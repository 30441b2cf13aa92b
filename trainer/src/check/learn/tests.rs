//! `check --learn` with answers that need no model.

use std::convert::Infallible;

use super::*;

fn options(players: u64) -> LearnOptions {
    LearnOptions {
        players,
        weights: vec![0.0, 1.0],
        ..Default::default()
    }
}

/// 8ths of a C-major scale over the answer's bars: nothing of any player's.
fn scale() -> Vec<Note> {
    (0..16)
        .map(|i| Note {
            pitch: [60, 62, 64, 65, 67, 69, 71, 72][i % 8],
            velocity: 70,
            start: PHRASE_BEATS + i as f64 * 0.5,
            end: PHRASE_BEATS + i as f64 * 0.5 + 0.4,
        })
        .collect()
}

/// At weight 0 a scale, above it the first learned phrase again, in the answer's bars; and a
/// note before the answer and one after it, which are no part of it.
fn parrot(exchange: &Exchange, weight: f32, _seed: u64) -> Result<Vec<Note>, Infallible> {
    let mut notes = if weight > 0.0 {
        in_answer_bars(&exchange.learned[0].notes)
    } else {
        scale()
    };
    let stray = notes[0];
    notes.push(stray.moved(-PHRASE_BEATS));
    notes.push(stray.moved(PHRASE_BEATS));
    Ok(notes)
}

#[test]
fn a_parrot_shares_every_figure_and_cannot_be_told_from_the_player() {
    let report = learn_check(&options(6), &ProgressBar::hidden(), parrot).unwrap();
    assert_eq!(report.styles.len(), Style::ALL.len());
    assert_eq!(report.all.players, 18);
    for style in report.styles.iter().chain([&report.all]) {
        let [next, scale, parrot] = &style.columns[..] else {
            panic!("{style}");
        };
        assert_eq!(
            (next.weight, scale.weight, parrot.weight),
            (None, Some(0.0), Some(1.0))
        );
        assert_eq!(parrot.passages, style.players);
        assert_eq!(parrot.empty, 0);
        let c = &parrot.closeness;
        assert_eq!(
            (c.interval_figures, c.rhythm_figures),
            (Some(1.0), Some(1.0))
        );
        assert_eq!(c.shapes, Some(1.0));
        assert_eq!(
            scale.closeness.notes,
            Some(16.0),
            "the stray notes are left out"
        );
        // A copy of a learned phrase copies all of it.
        assert_eq!(parrot.runs.mean, parrot.closeness.notes, "{style}");
        assert!(scale.runs.median.unwrap() < 8.0, "{style}");
        // The player's own next phrase keeps to its rhythms.
        assert!(next.closeness.rhythm_figures.unwrap() > 0.5, "{style}");
        // The scale gives itself away; the parrot is one of the learned phrases.
        assert!(scale.classifier.unwrap() > 0.9, "{style}");
        assert!(parrot.classifier.unwrap() < 0.7, "{style}");
        assert!(
            scale.closeness.interval_similarity < parrot.closeness.interval_similarity,
            "{style}"
        );
    }
    let text = report.to_string();
    assert!(text.contains("boogie bass (6 players)"), "{text}");
    assert!(!text.contains("w 0.25") && text.contains("w 1"), "{text}");
    assert!(!text.contains("Held-out windows"), "{text}");
}

#[test]
fn the_same_options_give_the_same_report_and_every_weight_the_same_seed() {
    let mut seeds = Vec::new();
    let mut answer = |exchange: &Exchange, weight: f32, seed: u64| {
        seeds.push((exchange.prompt.notes[0].pitch, weight, seed));
        parrot(exchange, weight, seed)
    };
    let first = learn_check(&options(3), &ProgressBar::hidden(), &mut answer).unwrap();
    assert_eq!(seeds.len(), 3 * 3 * 2);
    for pair in seeds.chunks(2) {
        assert_eq!(pair[0].2, pair[1].2, "one seed for both weights");
        assert_eq!(pair[0].0, pair[1].0, "the same prompt");
    }
    let again = learn_check(&options(3), &ProgressBar::hidden(), parrot).unwrap();
    assert_eq!(first, again);
    assert!(first.to_json().contains("\"interval_figures\""));
}
