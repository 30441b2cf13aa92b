//! The data set: a folder of MIDI files as token sequences, split by piece, served as
//! windows.

use std::path::{Path, PathBuf};

use continuo_core::midi::{read_midi, Score};
use continuo_core::sampling::Rng;
use continuo_core::tokens::encode;
use continuo_core::vocab::{Token, Vocab};

/// One piece as token ids, starting with `BOS`.
#[derive(Debug, Clone)]
pub struct Piece {
    pub name: String,
    pub ids: Vec<u16>,
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
        .map(|NamedScore { name, score }| {
            let mut ids = vec![vocab.encode(Token::Bos) as u16];
            ids.extend(
                encode(&score.notes, vocab)
                    .into_iter()
                    .map(|t| vocab.encode(t) as u16),
            );
            Piece { name, ids }
        })
        .collect();
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

/// A batch of windows: `inputs` and `targets` are `[batch, seq_len]`, row-major.
#[derive(Debug, Clone, PartialEq)]
pub struct Batch {
    pub inputs: Vec<i64>,
    pub targets: Vec<i64>,
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
        }
        Batch {
            inputs,
            targets,
            batch: b,
            seq_len: t,
        }
    }
}

/// Validation batches: consecutive, non-overlapping windows covering every validation
/// token once, no augmentation. The last batch may hold fewer rows.
pub fn validation_batches(pieces: &[Piece], seq_len: usize, batch_size: usize) -> Vec<Batch> {
    let mut rows: Vec<(Vec<i64>, Vec<i64>)> = Vec::new();
    for p in pieces {
        let mut start = 0;
        while start + 1 < p.ids.len() {
            let end = (start + seq_len).min(p.ids.len() - 1);
            let len = end - start;
            if len == seq_len {
                let input = p.ids[start..end].iter().map(|&x| i64::from(x)).collect();
                let target = p.ids[start + 1..end + 1]
                    .iter()
                    .map(|&x| i64::from(x))
                    .collect();
                rows.push((input, target));
            }
            start = end;
        }
    }
    rows.chunks(batch_size)
        .map(|chunk| Batch {
            inputs: chunk.iter().flat_map(|r| r.0.iter().copied()).collect(),
            targets: chunk.iter().flat_map(|r| r.1.iter().copied()).collect(),
            batch: chunk.len(),
            seq_len,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn piece(name: &str, len: usize) -> Piece {
        Piece {
            name: name.into(),
            ids: (0..len).map(|i| (1 + i % 100) as u16).collect(),
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
