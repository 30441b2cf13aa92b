//! `trainer check --styles`: the model answers each of the [`styles`] prompts, and every
//! answer is measured against the style played on (its prompt again, and again), so
//! that "chords are answered with chords, the figure and the bass go on, the grid and the
//! meter hold" read as numbers beside the piano rolls.
//!
//! The answers start as the plugin's do with its default settings: on the next beat of the
//! meter's pulse once the prompt has been silent for the *Silence trigger*
//! ([`DEFAULT_SILENCE_BEATS`]). So they show what a player hears, the pause included.
//!
//! A style prompt is a vamp: the truth it is measured against is the one continuation that
//! keeps everything, so the numbers say how much of the style an answer keeps, not whether
//! it is good music (an answer that only repeated the vamp would score best).

use std::fmt;
use std::path::Path;

use continuo_core::answer::DEFAULT_SILENCE_BEATS;
use continuo_core::generator::Generator;
use continuo_core::midi::Score;
use serde::Serialize;

use super::baselines::replay;
use super::measures::{Context, MeanMeasures, Measures};
use super::onsets::{mean, onsets, Onset};
use super::report::SamplingLine;
use super::texture;
use super::{load_model, model_answer, styles, CheckError, CheckOptions, Window};
use crate::generate::start_after;

/// One style's answers, measured.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StyleRow {
    pub name: &'static str,
    /// The style played on, against itself: what an answer that keeps everything scores.
    pub style: Measures,
    /// The answers' means.
    pub answers: Measures,
    /// Share of the prompt's onsets that reach its bass; `None` for a one-hand prompt.
    pub style_bass: Option<f64>,
    /// The same share of the answers' onsets (mean over answers with onsets).
    pub answers_bass: Option<f64>,
    /// Answers without a note.
    pub empty: usize,
}

/// What `trainer check --styles` reports.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StylesReport {
    pub options: CheckOptions,
    pub rows: Vec<StyleRow>,
}

impl StylesReport {
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a report is plain data")
    }
}

/// Share of `onsets` with a note below `split`; `None` without onsets.
fn bass_share(onsets: &[Onset], split: u8) -> Option<f64> {
    if onsets.is_empty() {
        return None;
    }
    let reaching = onsets
        .iter()
        .filter(|o| texture::reaches_bass(o, split))
        .count();
    Some(reaching as f64 / onsets.len() as f64)
}

/// Where the plugin, with its default settings, starts its answer to `prompt`.
fn plugin_start(prompt: &Score) -> f64 {
    start_after(prompt, DEFAULT_SILENCE_BEATS)
}

/// The model at `model_path` answers every style prompt with seeds 1..=`options.seeds`.
pub fn check_styles(model_path: &Path, options: &CheckOptions) -> Result<StylesReport, CheckError> {
    let mut generator = Generator::new(load_model(model_path)?, 0);
    let mut rows = Vec::new();
    for (name, written) in styles::all() {
        let bars = super::PROMPT_BARS as f64 * written.meter.sig_at(0.0).beats_per_bar();
        // Played by hand, the prompt is what the model reads; the style played on is the
        // written one, so the measures say how much of the style came through.
        let prompt = if options.jitter > 0.0 {
            styles::played_by_hand(&written, options.jitter, 1)
        } else {
            written.clone()
        };
        // The answer's bars start where the plugin's answer would; the style goes on under
        // the pause, in phase with the prompt.
        let mut window = Window {
            start: 0.0,
            prompt_beats: plugin_start(&prompt) + options.start_late,
            answer_beats: bars,
            truth: Vec::new(),
            prompt,
        };
        let played_on = [1.0, 2.0].map(|times| replay(&written.notes, times * bars));
        window.truth = window.in_answer(played_on.concat());
        let context = Context::new(&written, bars, bars);
        let split = context.bass_split;
        let mut answers = MeanMeasures::default();
        let (mut bass, mut empty) = (Vec::new(), 0);
        for seed in 1..=options.seeds {
            let answer = window.in_answer(model_answer(&mut generator, &window, seed, options)?);
            empty += usize::from(answer.is_empty());
            answers.add(&Measures::measure(&answer, &window.truth, &context));
            bass.extend(split.and_then(|s| bass_share(&onsets(&answer), s)));
        }
        rows.push(StyleRow {
            name,
            style: Measures::measure(&window.truth, &window.truth, &context),
            answers: answers.mean(),
            style_bass: split.and_then(|s| bass_share(&context.prompt_onsets, s)),
            answers_bass: mean(bass),
            empty,
        });
    }
    Ok(StylesReport {
        options: options.clone(),
        rows,
    })
}

fn value(v: Option<f64>) -> String {
    v.map_or_else(|| "-".into(), |v| format!("{v:.2}"))
}

impl fmt::Display for StylesReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{:16}{:>14}{:>14}{:>12}{:>8}{:>8}{:>8}{:>8}{:>8}{:>10}",
            "style",
            "notes/onset",
            "bass onsets",
            "bass in bar",
            "beat",
            "bar",
            "ioi",
            "length",
            "reuse",
            "density"
        )?;
        for r in &self.rows {
            let (a, s) = (&r.answers, &r.style);
            writeln!(
                f,
                "{:16}{:>14}{:>14}{:>12}{:>8}{:>8}{:>8}{:>8}{:>8}{:>10}",
                r.name,
                format!(
                    "{} ({})",
                    value(a.texture.notes_per_onset),
                    value(s.texture.notes_per_onset)
                ),
                format!("{} ({})", value(r.answers_bass), value(r.style_bass)),
                value(a.texture.bass_in_bar),
                value(a.rhythm.onset_in_beat),
                value(a.rhythm.onset_in_bar),
                value(a.rhythm.inter_onset),
                value(a.rhythm.note_length),
                value(a.motif.reuse),
                value(a.rhythm.density_gap),
            )?;
            if r.empty > 0 {
                writeln!(f, "  {} of the answers empty", r.empty)?;
            }
        }
        writeln!(f)?;
        writeln!(
            f,
            "each style's answers (seeds 1 to {}, starting where the plugin's do: the next beat a beat after the prompt ends) against the style played on, its prompt again: notes per onset and the share of onsets reaching the prompt's bass (the style's in brackets); similarity of the places in the bar where they reach it; similarity of onsets in the beat and the bar, of inter-onset intervals and note lengths; reuse of the prompt's figures; density |log2 ratio|",
            self.options.seeds
        )?;
        if self.options.start_late > 0.0 {
            writeln!(
                f,
                "the answers starting {} beats later than that",
                self.options.start_late
            )?;
        }
        if self.options.jitter > 0.0 {
            writeln!(
                f,
                "the prompts played by hand: each onset off its written time by a normal draw of {} beats",
                self.options.jitter
            )?;
        }
        writeln!(f, "{}", SamplingLine(&self.options.sampling))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::metrics::note;

    #[test]
    fn the_bass_is_the_lowest_third_of_a_wide_prompt() {
        let wide = [note(36, 0.0), note(72, 0.0), note(60, 1.0)];
        // 36 semitones wide: the bass lies below 36 + ceil(12.6) = 49.
        assert_eq!(texture::bass_split(&wide), Some(49));
        assert_eq!(bass_share(&onsets(&wide), 49), Some(0.5));
        assert_eq!(bass_share(&[], 49), None);
    }
}
