//! The windows the classifier tells most surely, written out to be looked at and heard: a
//! piano roll of the phrase over its true continuation and over the answer told most
//! surely, and each as a MIDI file.

use std::path::{Path, PathBuf};

use continuo_core::midi::{sort_notes, write_midi};
use continuo_core::roll::{self, Part};
use continuo_core::{Note, Score};

use super::{CheckError, Told};

/// Writes, for each of `told` (surest first), `NN-PIECE-beatSTART.png` (the phrase over
/// its truth above, over the answer below), `…-truth.mid` and `…-answer.mid` into `dir`,
/// which it creates. Returns the paths written.
pub fn write_rolls(told: &[Told], dir: &Path) -> Result<Vec<PathBuf>, CheckError> {
    std::fs::create_dir_all(dir).map_err(|source| CheckError::Write {
        path: dir.to_path_buf(),
        source,
    })?;
    let mut written = Vec::new();
    for (rank, t) in told.iter().enumerate() {
        let stem = Path::new(&t.piece)
            .file_stem()
            .map_or_else(|| t.piece.clone(), |s| s.to_string_lossy().into_owned());
        let name = format!("{:02}-{stem}-beat{}", rank + 1, t.start);
        let p = &t.passages;
        let phrase = &p.phrase.notes;
        let mut png = Vec::new();
        let drawn = roll::write_png(
            &[
                panel(phrase, &p.truth, roll::TRUTH),
                panel(phrase, &p.answer, roll::ANSWER),
            ],
            p.bar_beats,
            &mut png,
        );
        written.push(write(dir.join(format!("{name}.png")), drawn.map(|()| png))?);
        for (kind, after) in [("truth", &p.truth), ("answer", &p.answer)] {
            let mut notes: Vec<Note> = phrase.iter().chain(after).copied().collect();
            sort_notes(&mut notes);
            let score = Score {
                notes,
                ..p.phrase.clone()
            };
            let path = dir.join(format!("{name}-{kind}.mid"));
            written.push(write(path, write_midi(&score))?);
        }
    }
    Ok(written)
}

/// The phrase in its colour, then `after` in `colour`.
fn panel<'a>(phrase: &'a [Note], after: &'a [Note], colour: roll::Colour) -> Vec<Part<'a>> {
    vec![
        Part {
            notes: phrase,
            colour: roll::PHRASE,
        },
        Part {
            notes: after,
            colour,
        },
    ]
}

/// Writes `encoded` to `path` and returns the path; failing to encode counts as failing to
/// write.
fn write<E>(path: PathBuf, encoded: Result<Vec<u8>, E>) -> Result<PathBuf, CheckError>
where
    E: std::error::Error + Send + Sync + 'static,
{
    match encoded
        .map_err(std::io::Error::other)
        .and_then(|bytes| std::fs::write(&path, bytes))
    {
        Ok(()) => Ok(path),
        Err(source) => Err(CheckError::Write { path, source }),
    }
}
