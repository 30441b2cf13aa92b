//! The data set: a folder of MIDI files as token sequences, split by piece, served as
//! windows.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use continuo_core::grid::{self, Position};
use continuo_core::midi::{read_midi, Score};
use continuo_core::sampling::Rng;
use continuo_core::tokens::encode;
use continuo_core::vocab::{Token, Vocab};

/// One piece as token ids, starting with `BOS`, and the grid position after each.
#[derive(Debug, Clone)]
pub struct Piece {
    pub name: String,
    pub ids: Vec<u16>,
    /// Grid step within the beat after each token, parallel to `ids`.
    pub phase: Vec<u16>,
    /// Whole beats since the bar began after each token, parallel to `ids`.
    pub bar_beat: Vec<u8>,
}

impl Piece {
    /// `score` as tokens from `BOS` on, placed on its own meter.
    pub fn from_score(name: String, score: &Score, vocab: &Vocab) -> Self {
        let mut tokens = vec![Token::Bos];
        tokens.extend(encode(&score.notes, vocab));
        // `encode` starts the stream at the first note's grid step; BOS sits there too.
        let first = score
            .first_start()
            .map_or(0, |beat| grid::step_of(beat, vocab));
        let positions = score.meter.positions(&tokens, first, vocab);
        Self {
            name,
            ids: tokens.iter().map(|&t| vocab.encode(t) as u16).collect(),
            phase: positions.iter().map(|p| p.phase).collect(),
            bar_beat: positions.iter().map(|p| p.bar_beat).collect(),
        }
    }

    /// The grid position after token `k`.
    pub fn position(&self, k: usize) -> Position {
        Position {
            phase: self.phase[k],
            bar_beat: self.bar_beat[k],
        }
    }
}

/// A file that could not be used, and why.
#[derive(Debug, Clone)]
pub struct Skipped {
    pub path: PathBuf,
    pub reason: String,
}

/// All `.mid`/`.midi` files under `dir` (recursively), sorted for reproducibility.
pub fn midi_files(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d)? {
            let path = entry?.path();
            if path.is_dir() {
                stack.push(path);
            } else if path
                .extension()
                .and_then(|e| e.to_str())
                .is_some_and(|e| e.eq_ignore_ascii_case("mid") || e.eq_ignore_ascii_case("midi"))
            {
                files.push(path);
            }
        }
    }
    files.sort();
    Ok(files)
}

/// Reads and tokenizes every MIDI file under `dir`. Unreadable files are returned in the
/// second list with the reason, never fatal.
pub fn load_pieces(dir: &Path, vocab: &Vocab) -> std::io::Result<(Vec<Piece>, Vec<Skipped>)> {
    let (scores, skipped) = read_scores(dir)?;
    let pieces = scores
        .into_iter()
        .map(|NamedScore { name, score }| Piece::from_score(name, &score, vocab))
        .collect();
    Ok((pieces, skipped))
}

/// [`load_pieces`] over several folders. With more than one, each piece's name starts with
/// its folder's name, so that pieces of the same path in two folders stay apart (a resumed
/// run finds its split by name).
pub fn load_folders(dirs: &[PathBuf], vocab: &Vocab) -> anyhow::Result<(Vec<Piece>, Vec<Skipped>)> {
    let mut pieces = Vec::new();
    let mut skipped = Vec::new();
    for dir in dirs {
        let (mut p, s) = load_pieces(dir, vocab)
            .with_context(|| format!("reading MIDI folder {}", dir.display()))?;
        if dirs.len() > 1 {
            let prefix = dir.file_name().unwrap_or(dir.as_os_str()).to_string_lossy();
            for piece in &mut p {
                piece.name = format!("{prefix}/{}", piece.name);
            }
        }
        pieces.extend(p);
        skipped.extend(s);
    }
    let mut names: Vec<&str> = pieces.iter().map(|p| p.name.as_str()).collect();
    names.sort_unstable();
    if let Some(w) = names.windows(2).find(|w| w[0] == w[1]) {
        bail!(
            "two data files are both named {:?}; give --data folders with different names",
            w[0]
        );
    }
    Ok((pieces, skipped))
}

/// A MIDI file read as notes, named by its path under the folder it was found in.
#[derive(Debug, Clone)]
pub struct NamedScore {
    pub name: String,
    pub score: Score,
}

/// Every MIDI file under `dir`, sorted by path, read as notes; unreadable ones are returned
/// with the reason.
pub fn read_scores(dir: &Path) -> std::io::Result<(Vec<NamedScore>, Vec<Skipped>)> {
    let mut scores = Vec::new();
    let mut skipped = Vec::new();
    for path in midi_files(dir)? {
        let result = std::fs::read(&path)
            .map_err(|e| e.to_string())
            .and_then(|bytes| read_midi(&bytes).map_err(|e| e.to_string()));
        match result {
            Ok(score) => {
                let name = path
                    .strip_prefix(dir)
                    .unwrap_or(&path)
                    .display()
                    .to_string();
                scores.push(NamedScore { name, score });
            }
            Err(reason) => skipped.push(Skipped { path, reason }),
        }
    }
    Ok((scores, skipped))
}

/// Splits whole pieces (never windows of one piece) into train and validation sets,
/// reproducibly for a seed. At least one piece goes to each side when there are two or more.
pub fn split_pieces(
    mut pieces: Vec<Piece>,
    val_fraction: f64,
    seed: u64,
) -> (Vec<Piece>, Vec<Piece>) {
    let mut rng = Rng::new(seed);
    for i in (1..pieces.len()).rev() {
        let j = rng.below(i as u64 + 1) as usize;
        pieces.swap(i, j);
    }
    let n = pieces.len();
    let mut n_val = (n as f64 * val_fraction).round() as usize;
    if n >= 2 {
        n_val = n_val.clamp(1, n - 1);
    } else {
        n_val = 0;
    }
    let val = pieces.split_off(n - n_val);
    (pieces, val)
}

/// A batch of windows: `inputs` and `targets` are `[batch, seq_len]`, row-major, and so are
/// `phase` and `bar_beat`, the grid position after each input token.
#[derive(Debug, Clone, PartialEq)]
pub struct Batch {
    pub inputs: Vec<i64>,
    pub targets: Vec<i64>,
    pub phase: Vec<i64>,
    pub bar_beat: Vec<i64>,
    pub batch: usize,
    pub seq_len: usize,
}

/// Transposes pitch tokens of `ids` by `semitones` in place. Returns false (and leaves `ids`
/// untouched) if a pitch would leave the MIDI range.
pub fn transpose(ids: &mut [u16], semitones: i32, vocab: &Vocab) -> bool {
    if semitones == 0 {
        return true;
    }
    let on = vocab.note_on_range();
    let off = vocab.note_off_range();
    let fits = ids.iter().all(|&id| {
        let id = id as usize;
        let base = if on.contains(&id) {
            on.start
        } else if off.contains(&id) {
            off.start
        } else {
            return true;
        };
        (0..128).contains(&(id as i32 - base as i32 + semitones))
    });
    if fits {
        for id in ids.iter_mut() {
            let i = *id as usize;
            if on.contains(&i) || off.contains(&i) {
                *id = (i as i32 + semitones) as u16;
            }
        }
    }
    fits
}

/// Training windows drawn at random positions of random pieces (weighted by length), with
/// random transposition. Batch `index` of `epoch` depends only on the seed, so a resumed run
/// sees exactly the batches the stopped one would have.
pub struct TrainSampler<'a> {
    pieces: &'a [Piece],
    /// Cumulative count of window start positions, for length-weighted choice.
    cumulative: Vec<usize>,
    vocab: Vocab,
    pub seq_len: usize,
    pub batch_size: usize,
    pub transpose: i32,
    pub seed: u64,
}

impl<'a> TrainSampler<'a> {
    pub fn new(
        pieces: &'a [Piece],
        vocab: Vocab,
        seq_len: usize,
        batch_size: usize,
        transpose: i32,
        seed: u64,
    ) -> Self {
        let mut total = 0;
        let cumulative = pieces
            .iter()
            .map(|p| {
                total += p.ids.len().saturating_sub(1).max(1);
                total
            })
            .collect();
        Self {
            pieces,
            cumulative,
            vocab,
            seq_len,
            batch_size,
            transpose,
            seed,
        }
    }

    /// Number of tokens that can be predicted in the training pieces.
    pub fn tokens(&self) -> usize {
        self.cumulative.last().copied().unwrap_or(0)
    }

    /// Batches per epoch: one pass over the tokens on average.
    pub fn batches_per_epoch(&self) -> usize {
        self.tokens()
            .div_ceil(self.seq_len * self.batch_size)
            .max(1)
    }

    pub fn batch(&self, epoch: usize, index: usize) -> Batch {
        let mut rng = Rng::new(
            self.seed ^ ((epoch as u64) << 32 | index as u64).wrapping_mul(0x2545_F491_4F6C_DD1D),
        );
        let (t, b) = (self.seq_len, self.batch_size);
        let mut inputs = Vec::with_capacity(b * t);
        let mut targets = Vec::with_capacity(b * t);
        let mut phase = Vec::with_capacity(b * t);
        let mut bar_beat = Vec::with_capacity(b * t);
        let mut window = vec![0u16; t + 1];
        for _ in 0..b {
            let pick = rng.below(self.tokens() as u64) as usize;
            let piece = &self.pieces[self.cumulative.partition_point(|&c| c <= pick)];
            let ids = &piece.ids;
            // Windows may run past a short piece's end; pad by repeating its start so every
            // row is a real token stream (a piece followed by itself from BOS).
            let start = if ids.len() > t + 1 {
                rng.below((ids.len() - t) as u64) as usize
            } else {
                0
            };
            for (k, w) in window.iter_mut().enumerate() {
                *w = ids[(start + k) % ids.len()];
            }
            if self.transpose > 0 {
                let shift = rng.below(2 * self.transpose as u64 + 1) as i32 - self.transpose;
                transpose(&mut window, shift, &self.vocab);
            }
            inputs.extend(window[..t].iter().map(|&x| i64::from(x)));
            targets.extend(window[1..].iter().map(|&x| i64::from(x)));
            // Transposition moves pitches, never time: the positions are the piece's own.
            for k in 0..t {
                let at = (start + k) % ids.len();
                phase.push(i64::from(piece.phase[at]));
                bar_beat.push(i64::from(piece.bar_beat[at]));
            }
        }
        Batch {
            inputs,
            targets,
            phase,
            bar_beat,
            batch: b,
            seq_len: t,
        }
    }
}

/// Validation batches: consecutive, non-overlapping windows covering every validation
/// token once, no augmentation. The last batch may hold fewer rows.
pub fn validation_batches(pieces: &[Piece], seq_len: usize, batch_size: usize) -> Vec<Batch> {
    // (piece, first input token) of each full window.
    let mut rows: Vec<(&Piece, usize)> = Vec::new();
    for p in pieces {
        let mut start = 0;
        while start + 1 < p.ids.len() {
            let end = (start + seq_len).min(p.ids.len() - 1);
            if end - start == seq_len {
                rows.push((p, start));
            }
            start = end;
        }
    }
    let column = |chunk: &[(&Piece, usize)], shift: usize, value: &dyn Fn(&Piece, usize) -> i64| {
        chunk
            .iter()
            .flat_map(|&(p, start)| {
                (start + shift..start + shift + seq_len).map(move |k| value(p, k))
            })
            .collect::<Vec<i64>>()
    };
    rows.chunks(batch_size)
        .map(|chunk| Batch {
            inputs: column(chunk, 0, &|p, k| i64::from(p.ids[k])),
            targets: column(chunk, 1, &|p, k| i64::from(p.ids[k])),
            phase: column(chunk, 0, &|p, k| i64::from(p.phase[k])),
            bar_beat: column(chunk, 0, &|p, k| i64::from(p.bar_beat[k])),
            batch: chunk.len(),
            seq_len,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use continuo_core::grid::{Meter, TimeSig};
    use continuo_core::midi::Note;

    fn piece(name: &str, len: usize) -> Piece {
        Piece {
            name: name.into(),
            ids: (0..len).map(|i| (1 + i % 100) as u16).collect(),
            phase: (0..len).map(|i| (i % 24) as u16).collect(),
            bar_beat: (0..len).map(|i| (i / 24 % 4) as u8).collect(),
        }
    }

    #[test]
    fn split_is_by_piece_and_seeded() {
        let pieces: Vec<_> = (0..10).map(|i| piece(&format!("p{i}"), 50)).collect();
        let (train, val) = split_pieces(pieces.clone(), 0.2, 1);
        assert_eq!((train.len(), val.len()), (8, 2));
        for v in &val {
            assert!(train.iter().all(|t| t.name != v.name));
        }
        let (_, val2) = split_pieces(pieces.clone(), 0.2, 1);
        assert_eq!(
            val.iter().map(|p| &p.name).collect::<Vec<_>>(),
            val2.iter().map(|p| &p.name).collect::<Vec<_>>()
        );
        let (train, val) = split_pieces(pieces[..2].to_vec(), 0.01, 1);
        assert_eq!((train.len(), val.len()), (1, 1));
    }

    #[test]
    fn batches_are_reproducible_and_targets_shift_inputs() {
        let pieces = vec![piece("a", 300), piece("b", 40)];
        let s = TrainSampler::new(&pieces, Vocab::default(), 16, 4, 0, 9);
        let b = s.batch(2, 5);
        assert_eq!(b, s.batch(2, 5));
        assert_ne!(b, s.batch(2, 6));
        for row in 0..4 {
            let i = &b.inputs[row * 16..(row + 1) * 16];
            let t = &b.targets[row * 16..(row + 1) * 16];
            assert_eq!(&i[1..], &t[..15]);
        }
    }

    /// Whether each row of `b` is a window of one of `pieces`, positions and all.
    fn rows_are_windows(b: &Batch, pieces: &[Piece]) -> bool {
        let t = b.seq_len;
        (0..b.batch).all(|row| {
            let r = row * t..(row + 1) * t;
            let (i, ph, bb) = (&b.inputs[r.clone()], &b.phase[r.clone()], &b.bar_beat[r]);
            pieces.iter().any(|p| {
                (0..p.ids.len()).any(|s| {
                    (0..t).all(|k| {
                        let at = (s + k) % p.ids.len();
                        i[k] == i64::from(p.ids[at])
                            && ph[k] == i64::from(p.phase[at])
                            && bb[k] == i64::from(p.bar_beat[at])
                    })
                })
            })
        })
    }

    #[test]
    fn batches_carry_the_positions_of_their_tokens() {
        let pieces = vec![piece("a", 300), piece("b", 40)];
        let s = TrainSampler::new(&pieces, Vocab::default(), 16, 6, 0, 3);
        for index in 0..4 {
            let b = s.batch(0, index);
            assert_eq!((b.phase.len(), b.bar_beat.len()), (6 * 16, 6 * 16));
            assert!(rows_are_windows(&b, &pieces));
        }
        for b in validation_batches(&pieces, 8, 3) {
            assert!(rows_are_windows(&b, &pieces));
        }
    }

    fn note(pitch: u8, start: f64, end: f64) -> Note {
        Note {
            pitch,
            velocity: 80,
            start,
            end,
        }
    }

    #[test]
    fn a_piece_in_three_four_counts_three_beats_a_bar() {
        let v = Vocab::default();
        let notes = (0..7)
            .map(|b| note(60 + b as u8, f64::from(b), f64::from(b) + 0.5))
            .collect();
        let score = Score {
            meter: Meter::constant(TimeSig {
                numerator: 3,
                denominator: 4,
            }),
            ..Score::new(notes, 100.0)
        };
        let p = Piece::from_score("waltz".into(), &score, &v);
        assert_eq!(
            (p.phase.len(), p.bar_beat.len()),
            (p.ids.len(), p.ids.len())
        );
        let onsets: Vec<Position> = (0..p.ids.len())
            .filter(|&k| matches!(v.decode(p.ids[k] as usize), Some(Token::NoteOn(_))))
            .map(|k| p.position(k))
            .collect();
        let beats: Vec<u8> = onsets.iter().map(|q| q.bar_beat).collect();
        assert_eq!(beats, [0, 1, 2, 0, 1, 2, 0]);
        assert!(onsets.iter().all(|q| q.phase == 0));
        // Each note-off comes half a beat after its onset.
        let offs: Vec<Position> = (0..p.ids.len())
            .filter(|&k| matches!(v.decode(p.ids[k] as usize), Some(Token::NoteOff(_))))
            .map(|k| p.position(k))
            .collect();
        assert!(offs.iter().all(|q| q.phase == 12));
    }

    #[test]
    fn a_piece_starts_where_its_first_note_does_and_transposition_keeps_time() {
        let v = Vocab::default();
        // Common time; the first note on the second half of beat 2 of bar 2.
        let score = Score::new(vec![note(64, 5.5, 6.0), note(67, 6.0, 8.0)], 90.0);
        let p = Piece::from_score("late".into(), &score, &v);
        let start = Position {
            phase: 12,
            bar_beat: 1,
        };
        assert_eq!(v.decode(p.ids[0] as usize), Some(Token::Bos));
        assert_eq!(p.position(0), start);
        assert_eq!(p.position(1), start);
        let last = p.ids.len() - 1;
        assert_eq!(
            p.position(last),
            Position::default(),
            "the last off is at beat 8"
        );

        // A window as long as the piece starts at its start, whatever the transposition.
        let t = p.ids.len();
        let pieces = [p];
        let s = TrainSampler::new(&pieces, v, t, 8, 5, 1);
        let b = s.batch(0, 0);
        let positions: Vec<(i64, i64)> = (0..t)
            .map(|k| {
                (
                    i64::from(pieces[0].phase[k]),
                    i64::from(pieces[0].bar_beat[k]),
                )
            })
            .collect();
        let mut transposed = 0;
        for row in 0..8 {
            let r = row * t..(row + 1) * t;
            let got: Vec<(i64, i64)> = r.clone().map(|k| (b.phase[k], b.bar_beat[k])).collect();
            assert_eq!(got, positions);
            let ids: Vec<i64> = pieces[0].ids.iter().map(|&x| i64::from(x)).collect();
            transposed += usize::from(b.inputs[r] != ids[..]);
        }
        assert!(transposed > 0, "some rows were transposed");
    }

    #[test]
    fn several_folders_keep_pieces_of_the_same_name_apart() {
        let v = Vocab::default();
        let root = std::env::temp_dir().join(format!("continuo-folders-{}", std::process::id()));
        let (a, b) = (root.join("one"), root.join("two"));
        let bytes =
            continuo_core::midi::write_midi(&Score::new(vec![note(60, 0.0, 1.0)], 120.0)).unwrap();
        for dir in [&a, &b] {
            std::fs::create_dir_all(dir).unwrap();
            std::fs::write(dir.join("same.mid"), &bytes).unwrap();
        }
        let (pieces, skipped) = load_folders(&[a.clone(), b.clone()], &v).unwrap();
        assert!(skipped.is_empty());
        let names: Vec<&str> = pieces.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["one/same.mid", "two/same.mid"]);
        let (pieces, _) = load_folders(std::slice::from_ref(&a), &v).unwrap();
        assert_eq!(
            pieces[0].name, "same.mid",
            "one folder names pieces as before"
        );
        let err = load_folders(&[a.clone(), a], &v).unwrap_err().to_string();
        assert!(err.contains("one/same.mid"), "{err}");
        std::fs::remove_dir_all(root).ok();
    }

    #[test]
    fn transposition_moves_pitches_only_and_refuses_out_of_range() {
        let v = Vocab::default();
        let mut ids: Vec<u16> = [
            Token::Bos,
            Token::NoteOn(60),
            Token::TimeShift(3),
            Token::NoteOff(60),
        ]
        .iter()
        .map(|&t| v.encode(t) as u16)
        .collect();
        assert!(transpose(&mut ids, 2, &v));
        let back: Vec<_> = ids.iter().map(|&i| v.decode(i as usize).unwrap()).collect();
        assert_eq!(
            back,
            [
                Token::Bos,
                Token::NoteOn(62),
                Token::TimeShift(3),
                Token::NoteOff(62)
            ]
        );
        let mut high = vec![v.encode(Token::NoteOn(126)) as u16];
        assert!(!transpose(&mut high, 5, &v));
        assert_eq!(v.decode(high[0] as usize), Some(Token::NoteOn(126)));
    }

    #[test]
    fn validation_covers_windows_once() {
        let pieces = vec![piece("a", 33), piece("b", 17)];
        let batches = validation_batches(&pieces, 8, 3);
        let rows: usize = batches.iter().map(|b| b.batch).sum();
        assert_eq!(rows, 4 + 2);
    }
}
