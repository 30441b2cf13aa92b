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
pub fn write_rolls<'a>(told: &'a [Told], dir: &Path) -> Result<Vec<PathBuf>, CheckError> {
    let write = |path: PathBuf, bytes: Vec<u8>| {
        std::fs::write(&path, bytes)
            .map(|()| path.clone())
            .map_err(|source| CheckError::Write { path, source })
    };
    std::fs::create_dir_all(dir).map_err(|source| CheckError::Write {
        path: dir.to_path_buf(),
        source,
    })?;
    let mut written = Vec::new();
    for (rank, t) in told.iter().enumerate() {
        let t: &'a Told = t;
        let stem = Path::new(&t.piece)
            .file_stem()
            .map_or_else(|| t.piece.clone(), |s| s.to_string_lossy().into_owned());
        let name = format!("{:02}-{stem}-beat{}", rank + 1, t.start);
        let p = &t.passages;
        let panel = |after: &'a [Note], colour| -> Vec<Part<'a>> {
            vec![
                Part {
                    notes: &p.phrase.notes,
                    colour: roll::PHRASE,
                },
                Part {
                    notes: after,
                    colour,
                },
            ]
        };
        let mut png = Vec::new();
        let path = dir.join(format!("{name}.png"));
        roll::write_png(
            &[panel(&p.truth, roll::TRUTH), panel(&p.answer, roll::ANSWER)],
            p.bar_beats,
            &mut png,
        )
        .map_err(|e| CheckError::Write {
            path: path.clone(),
            source: std::io::Error::other(e),
        })?;
        written.push(write(path, png)?);
        for (kind, after) in [("truth", &p.truth), ("answer", &p.answer)] {
            let mut notes: Vec<Note> = p.phrase.notes.iter().chain(after.iter()).copied().collect();
            sort_notes(&mut notes);
            let score = Score {
                notes,
                ..p.phrase.clone()
            };
            let path = dir.join(format!("{name}-{kind}.mid"));
            let bytes = write_midi(&score).map_err(|e| CheckError::Write {
                path: path.clone(),
                source: std::io::Error::other(e),
            })?;
            written.push(write(path, bytes)?);
        }
    }
    Ok(written)
}
