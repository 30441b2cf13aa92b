//! What Continuo played: the last exchanges (the player's phrase and the answer as it was
//! heard), kept so that a good answer can be saved as a MIDI clip or asked for again. Plain
//! data and file writing; the inference thread records, the window reads and saves.

use std::collections::VecDeque;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use continuo_core::midi::{write_clip, Clip, MidiError, Note};
use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::protocol::{Meter, Prompt};

/// Exchanges the history keeps; older ones make room for new ones.
pub const HISTORY_LEN: usize = 16;

/// One phrase and its answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Exchange {
    /// Unique within an instance: rows are found by it, not by position, which changes.
    pub serial: u64,
    pub made: SystemTime,
    pub model: String,
    /// Typed into *Seed*, it plays this answer again for the same phrase.
    pub seed: u64,
    pub meter: Meter,
    pub prompt: Prompt,
    /// Beats on the host's timeline.
    pub phrase: Vec<Note>,
    /// The answer as it was heard: what an interruption cut off is not in it.
    pub answer: Vec<Note>,
    pub answer_start: f64,
    /// Where the answer ends if nothing cuts it.
    pub answer_end: f64,
}

impl Exchange {
    /// The answer was heard until `beat`.
    pub fn cut(&mut self, beat: f64) {
        self.answer
            .retain(|n| continuo_core::answer::began_before(n, beat));
        for n in &mut self.answer {
            n.end = n.end.min(beat);
        }
        self.answer_end = self.answer_end.min(beat.max(self.answer_start));
    }

    /// The notes a clip of this exchange holds: (phrase, answer), moved so that the clip
    /// starts on the bar its first note falls in (the host's bars, through its bar line).
    pub fn clip_notes(&self, content: ClipContent) -> (Vec<Note>, Vec<Note>) {
        let phrase: &[Note] = match content {
            ClipContent::PhraseAndAnswer => &self.phrase,
            ClipContent::AnswerOnly => &[],
        };
        let first = phrase
            .iter()
            .chain(&self.answer)
            .map(|n| n.start)
            .fold(f64::INFINITY, f64::min);
        let bar = self.meter.time_sig.beats_per_bar();
        let through = self.meter.bar_origin;
        let origin = if first.is_finite() {
            through + ((first - through) / bar).floor() * bar
        } else {
            0.0
        };
        let moved =
            |notes: &[Note]| -> Vec<Note> { notes.iter().map(|n| n.moved(-origin)).collect() };
        (moved(phrase), moved(&self.answer))
    }
}

/// The last [`HISTORY_LEN`] exchanges.
#[derive(Debug, Default)]
pub struct History {
    rows: VecDeque<Exchange>,
    next_serial: u64,
}

impl History {
    /// Adds `exchange` as the newest, under a fresh serial, which it returns.
    pub fn push(&mut self, mut exchange: Exchange) -> u64 {
        self.next_serial += 1;
        exchange.serial = self.next_serial;
        if self.rows.len() == HISTORY_LEN {
            self.rows.pop_back();
        }
        self.rows.push_front(exchange);
        self.next_serial
    }

    pub fn get(&self, serial: u64) -> Option<&Exchange> {
        self.rows.iter().find(|e| e.serial == serial)
    }

    pub fn get_mut(&mut self, serial: u64) -> Option<&mut Exchange> {
        self.rows.iter_mut().find(|e| e.serial == serial)
    }

    pub fn newest_first(&self) -> impl Iterator<Item = &Exchange> {
        self.rows.iter()
    }

    pub fn len(&self) -> usize {
        self.rows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }
}

/// What a saved clip holds; saved with the project.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum ClipContent {
    /// The phrase and the answer, as two tracks.
    #[default]
    PhraseAndAnswer,
    AnswerOnly,
}

#[derive(Debug, Error)]
pub enum ClipError {
    #[error("nothing to save: the answer has no notes")]
    Empty,
    #[error("no clips folder (HOME is not set): choose one in the window")]
    NoFolder,
    #[error("could not create the clips folder {dir}: {source}")]
    Folder {
        dir: PathBuf,
        source: std::io::Error,
    },
    #[error("could not write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Midi(#[from] MidiError),
}

/// Where clips go unless the player chose a folder: `clips` in Continuo's data folder.
pub fn default_clips_dir() -> Option<PathBuf> {
    crate::location::user_data_dir().map(|d| d.join("clips"))
}

/// The clips folder for a saved setting (blank = the default).
pub fn clips_dir(setting: &str) -> Option<PathBuf> {
    match setting.trim() {
        "" => default_clips_dir(),
        dir => Some(PathBuf::from(dir)),
    }
}

/// A file name that says when, with what and with which seed the answer was made; no
/// characters any file system refuses.
pub fn file_name(exchange: &Exchange) -> String {
    let when: chrono::DateTime<chrono::Local> = exchange.made.into();
    let model: String = exchange
        .model
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!(
        "{} {} seed {}",
        when.format("%Y-%m-%d %H.%M.%S"),
        model,
        exchange.seed
    )
}

/// Writes `exchange` as a format-1 MIDI file into `dir` (created if needed) and returns its
/// path. Never overwrites: a name already taken gets a number.
pub fn save_clip(
    exchange: &Exchange,
    content: ClipContent,
    dir: &Path,
) -> Result<PathBuf, ClipError> {
    let (phrase, answer) = exchange.clip_notes(content);
    if answer.is_empty() {
        return Err(ClipError::Empty);
    }
    let mut tracks = Vec::new();
    if !phrase.is_empty() {
        tracks.push(("Phrase", phrase.as_slice()));
    }
    tracks.push(("Continuo", answer.as_slice()));
    let bytes = write_clip(&Clip {
        bpm: exchange.meter.bpm,
        time_sig: (
            exchange.meter.time_sig.numerator,
            exchange.meter.time_sig.denominator,
        ),
        tracks,
    })?;
    std::fs::create_dir_all(dir).map_err(|source| ClipError::Folder {
        dir: dir.to_path_buf(),
        source,
    })?;
    let stem = file_name(exchange);
    for n in 1.. {
        let path = match n {
            1 => dir.join(format!("{stem}.mid")),
            n => dir.join(format!("{stem} ({n}).mid")),
        };
        let file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path);
        let mut file = match file {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(source) => return Err(ClipError::Write { path, source }),
        };
        return match file.write_all(&bytes).and_then(|()| file.sync_all()) {
            Ok(()) => Ok(path),
            Err(source) => {
                // Half a file is worse than none: the exchange stays in the history to retry.
                let _ = std::fs::remove_file(&path);
                Err(ClipError::Write { path, source })
            }
        };
    }
    unreachable!("the numbered names never run out")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::timeline::TimeSig;
    use continuo_core::midi::read_midi;

    fn note(pitch: u8, start: f64, end: f64) -> Note {
        Note {
            pitch,
            velocity: 80,
            start,
            end,
        }
    }

    fn exchange() -> Exchange {
        Exchange {
            serial: 0,
            made: SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_790_000_000),
            model: "chopin v2".into(),
            seed: 42,
            meter: Meter {
                bpm: 90.0,
                time_sig: TimeSig {
                    numerator: 3,
                    denominator: 4,
                },
                bar_origin: 0.0,
            },
            prompt: Prompt::Phrase,
            phrase: vec![note(60, 13.0, 13.5), note(64, 13.5, 14.0)],
            answer: vec![note(67, 15.0, 16.0), note(72, 16.0, 18.0)],
            answer_start: 15.0,
            answer_end: 21.0,
        }
    }

    #[test]
    fn the_history_keeps_the_newest_within_its_bound() {
        let mut h = History::default();
        let serials: Vec<u64> = (0..HISTORY_LEN + 5).map(|_| h.push(exchange())).collect();
        assert_eq!(h.len(), HISTORY_LEN);
        let newest: Vec<u64> = h.newest_first().map(|e| e.serial).collect();
        let expected: Vec<u64> = serials.iter().rev().take(HISTORY_LEN).copied().collect();
        assert_eq!(newest, expected);
        assert!(h.get(serials[0]).is_none(), "the oldest made room");
    }

    #[test]
    fn an_interrupted_answer_keeps_what_was_heard() {
        let mut e = exchange();
        e.cut(17.0);
        assert_eq!(e.answer, [note(67, 15.0, 16.0), note(72, 16.0, 17.0)]);
        e.cut(15.0);
        assert!(e.answer.is_empty());
        assert_eq!(e.answer_end, 15.0);
    }

    #[test]
    fn a_clip_starts_on_the_bar_of_its_first_note_and_reads_back() {
        let e = exchange();
        let dir = std::env::temp_dir().join(format!("continuo-clips-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let path = save_clip(&e, ClipContent::PhraseAndAnswer, &dir).unwrap();
        let name = path.file_name().unwrap().to_str().unwrap();
        assert!(
            name.ends_with("chopin_v2 seed 42.mid") && name.starts_with("2026-"),
            "{name}"
        );
        // 3/4: the phrase at beat 13 lies in the bar from beat 12.
        let back = read_midi(&std::fs::read(&path).unwrap()).unwrap();
        assert!((back.bpm - 90.0).abs() < 1e-2);
        let starts: Vec<f64> = back.notes.iter().map(|n| n.start).collect();
        assert_eq!(starts, [1.0, 1.5, 3.0, 4.0]);

        // The same exchange again: a second file, nothing overwritten.
        let again = save_clip(&e, ClipContent::AnswerOnly, &dir).unwrap();
        assert_ne!(again, path);
        let back = read_midi(&std::fs::read(&again).unwrap()).unwrap();
        let starts: Vec<f64> = back.notes.iter().map(|n| n.start).collect();
        assert_eq!(
            starts,
            [0.0, 1.0],
            "the answer alone, from its own bar (15 → 15)"
        );
        std::fs::remove_dir_all(&dir).unwrap();

        // After a change of meter the host's 3/4 bars run through beat 16: the phrase at
        // beat 13 lies in the bar from beat 13.
        let changed = Exchange {
            meter: Meter {
                bar_origin: 16.0,
                ..e.meter
            },
            ..e
        };
        let (phrase, _) = changed.clip_notes(ClipContent::PhraseAndAnswer);
        assert_eq!(phrase[0].start, 0.0);
    }

    #[test]
    fn a_failed_save_says_why_and_keeps_the_exchange() {
        let e = exchange();
        let file = std::env::temp_dir().join(format!("continuo-not-a-dir-{}", std::process::id()));
        std::fs::write(&file, b"a file where the folder should be").unwrap();
        let err = save_clip(&e, ClipContent::PhraseAndAnswer, &file).unwrap_err();
        assert!(
            err.to_string()
                .contains("could not create the clips folder"),
            "{err}"
        );
        std::fs::remove_file(&file).unwrap();
        let mut silent = e.clone();
        silent.cut(0.0);
        assert!(matches!(
            save_clip(&silent, ClipContent::PhraseAndAnswer, &std::env::temp_dir()),
            Err(ClipError::Empty)
        ));
    }
}
