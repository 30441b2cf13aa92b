//! How much of an answer the training set already holds: the longest run of notes an answer
//! shares with any piece the model was trained on, beside the same for the true
//! continuation, which real music shares with other music anyway.
//!
//! A passage is read as the model hears it: its notes on the grid of [`onsets`], in time
//! order and upward within an onset. Runs are compared on the pitch intervals between
//! successive notes, so that a transposed copy counts in full: the trainer transposes pieces
//! by a few semitones. The training pieces' intervals go into a suffix array, sorted on
//! their first [`MAX_RUN`] − 1 intervals only, so a passage's longest shared run is found
//! exactly, with no hash to collide, by a binary search from each of its notes; a run
//! longer than [`MAX_RUN`] notes is plain copying and counts as [`MAX_RUN`].

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use continuo_core::midi::{read_midi, Note};
use indicatif::ProgressBar;
use serde::Serialize;

use super::onsets::onsets;
use super::{CheckError, Piece};
use crate::data::{midi_files, Skipped};

/// The longest run counted, in notes.
pub const MAX_RUN: usize = 64;
const MAX_INTERVALS: usize = MAX_RUN - 1;
/// Ends each piece in the corpus; no interval is stored as it, so no run crosses it.
const END: u8 = 0;

/// `notes`' pitches in the order the tokenizer plays them: by grid step, then upward, a key
/// struck twice in one step once.
pub fn pitches(notes: &[Note]) -> Vec<u8> {
    onsets(notes).into_iter().flat_map(|o| o.pitches).collect()
}

/// The intervals between successive `pitches`, as bytes 1..=255 (0 is [`END`]).
fn intervals(pitches: &[u8]) -> Vec<u8> {
    pitches
        .windows(2)
        .map(|w| (i16::from(w[1]) - i16::from(w[0]) + 128) as u8)
        .collect()
}

fn common_prefix(a: &[u8], b: &[u8]) -> usize {
    a.iter().zip(b).take_while(|(x, y)| x == y).count()
}

/// The training pieces' intervals, searchable for the longest run a passage shares.
#[derive(Debug, Clone)]
pub struct Corpus {
    folders: Vec<PathBuf>,
    /// Every piece's intervals, each followed by [`END`].
    text: Vec<u8>,
    /// The positions in `text` of every interval, sorted by the [`MAX_INTERVALS`] bytes
    /// from there.
    sorted: Vec<u32>,
    pieces: usize,
    notes: usize,
    left_out: usize,
}

/// Gathers pieces for a [`Corpus`], leaving out those that are held-out pieces.
struct Builder {
    /// The held-out pieces' intervals: a training folder often holds the held-out pieces
    /// too (the trainer leaves them out by name), and a piece shares everything with itself.
    held_out: HashSet<Vec<u8>>,
    text: Vec<u8>,
    pieces: usize,
    notes: usize,
    left_out: usize,
}

impl Builder {
    fn new<'a>(held_out: impl IntoIterator<Item = &'a [Note]>) -> Self {
        Self {
            held_out: held_out
                .into_iter()
                .map(|notes| intervals(&pitches(notes)))
                .filter(|i| !i.is_empty())
                .collect(),
            text: Vec::new(),
            pieces: 0,
            notes: 0,
            left_out: 0,
        }
    }

    fn add(&mut self, notes: &[Note]) {
        let pitches = pitches(notes);
        let intervals = intervals(&pitches);
        if self.held_out.contains(&intervals) {
            self.left_out += 1;
            return;
        }
        self.pieces += 1;
        self.notes += pitches.len();
        if !intervals.is_empty() {
            self.text.extend(intervals);
            self.text.push(END);
        }
    }

    fn build(self, folders: Vec<PathBuf>) -> Corpus {
        assert!(
            u32::try_from(self.text.len()).is_ok(),
            "a corpus of over 4 G notes"
        );
        let text = self.text;
        let key = |i: u32| &text[i as usize..(i as usize + MAX_INTERVALS).min(text.len())];
        let mut sorted: Vec<u32> = (0..text.len() as u32)
            .filter(|&i| text[i as usize] != END)
            .collect();
        sorted.sort_unstable_by(|&a, &b| key(a).cmp(key(b)));
        Corpus {
            folders,
            text,
            sorted,
            pieces: self.pieces,
            notes: self.notes,
            left_out: self.left_out,
        }
    }
}

impl Corpus {
    /// The corpus of `pieces`' notes, less any with the same intervals as one of `held_out`.
    pub fn new<'a>(
        pieces: impl IntoIterator<Item = &'a [Note]>,
        held_out: impl IntoIterator<Item = &'a [Note]>,
    ) -> Self {
        let mut builder = Builder::new(held_out);
        for notes in pieces {
            builder.add(notes);
        }
        builder.build(Vec::new())
    }

    /// Every MIDI file under `folders`, less the `held_out` pieces, counting files on
    /// `progress`; unreadable files are returned with the reason.
    pub fn read(
        folders: &[PathBuf],
        held_out: &[Piece],
        progress: &ProgressBar,
    ) -> Result<(Self, Vec<Skipped>), CheckError> {
        let files = folders
            .iter()
            .map(|dir| {
                midi_files(dir).map_err(|source| CheckError::Read {
                    path: dir.clone(),
                    source,
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        progress.set_length(files.iter().map(Vec::len).sum::<usize>() as u64);
        let mut builder = Builder::new(held_out.iter().map(|p| p.score.notes.as_slice()));
        let mut skipped = Vec::new();
        for path in files.into_iter().flatten() {
            progress.set_message(file_name(&path));
            let read = std::fs::read(&path)
                .map_err(|e| e.to_string())
                .and_then(|bytes| read_midi(&bytes).map_err(|e| e.to_string()));
            match read {
                Ok(score) => builder.add(&score.notes),
                Err(reason) => skipped.push(Skipped { path, reason }),
            }
            progress.inc(1);
        }
        progress.set_message(format!("indexing {} notes", builder.notes));
        Ok((builder.build(folders.to_vec()), skipped))
    }

    /// Training pieces searched.
    pub fn pieces(&self) -> usize {
        self.pieces
    }

    /// Their notes.
    pub fn notes(&self) -> usize {
        self.notes
    }

    /// The bytes from `text[i]` that it is sorted by.
    fn key(&self, i: u32) -> &[u8] {
        let i = i as usize;
        &self.text[i..(i + MAX_INTERVALS).min(self.text.len())]
    }

    /// How many of `query`'s first intervals some training piece holds in a row.
    fn shared_prefix(&self, query: &[u8]) -> usize {
        // In a sorted list, the entries nearest to where `query` would go share the most
        // with it.
        let at = self.sorted.partition_point(|&i| self.key(i) < query);
        [at.checked_sub(1), Some(at)]
            .into_iter()
            .flatten()
            .filter_map(|k| self.sorted.get(k))
            .map(|&i| common_prefix(self.key(i), query))
            .max()
            .unwrap_or(0)
    }

    /// The longest run of `notes`, in notes, that a training piece holds in some
    /// transposition, up to [`MAX_RUN`]; 0 for fewer than two notes (or no corpus).
    pub fn longest_run(&self, notes: &[Note]) -> usize {
        let pitches = pitches(notes);
        if pitches.len() < 2 || self.sorted.is_empty() {
            return 0;
        }
        let query = intervals(&pitches);
        let mut best = 0;
        for from in 0..query.len() {
            let rest = &query[from..(from + MAX_INTERVALS).min(query.len())];
            // Later starts leave no longer a rest.
            if rest.len() <= best {
                break;
            }
            best = best.max(self.shared_prefix(rest));
        }
        best + 1
    }
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map_or_else(String::new, |n| n.to_string_lossy().into_owned())
}

/// Longest shared runs over one column's passages, in notes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Runs {
    pub passages: usize,
    pub mean: Option<f64>,
    pub median: Option<f64>,
    pub max: Option<f64>,
}

impl Runs {
    pub const LABELS: [&'static str; 3] = ["mean", "median", "max"];

    pub fn of(runs: &[usize]) -> Self {
        let mut sorted = runs.to_vec();
        sorted.sort_unstable();
        let n = sorted.len();
        let at = |k: usize| sorted[k] as f64;
        Self {
            passages: n,
            mean: (n > 0).then(|| sorted.iter().sum::<usize>() as f64 / n as f64),
            median: (n > 0).then(|| (at((n - 1) / 2) + at(n / 2)) / 2.0),
            max: sorted.last().map(|&m| m as f64),
        }
    }

    /// In the order of [`Runs::LABELS`].
    pub fn values(&self) -> [Option<f64>; 3] {
        [self.mean, self.median, self.max]
    }
}

/// The longest runs each column shares with the training pieces.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Copying {
    /// The folders searched.
    pub folders: Vec<PathBuf>,
    /// Their pieces, and those pieces' notes.
    pub pieces: usize,
    pub notes: usize,
    /// Pieces of the folders with the notes of a held-out piece, left out.
    pub held_out_left_out: usize,
    /// Runs longer than this count as this, in notes.
    pub max_run: usize,
    pub truth: Runs,
    pub replay: Runs,
    pub random: Runs,
    pub other_passage: Runs,
    pub model: Runs,
}

impl Copying {
    /// `corpus` with each column's runs, in the report's column order.
    pub fn new(
        corpus: &Corpus,
        [truth, replay, random, other_passage, model]: [&[usize]; 5],
    ) -> Self {
        Self {
            folders: corpus.folders.clone(),
            pieces: corpus.pieces,
            notes: corpus.notes,
            held_out_left_out: corpus.left_out,
            max_run: MAX_RUN,
            truth: Runs::of(truth),
            replay: Runs::of(replay),
            random: Runs::of(random),
            other_passage: Runs::of(other_passage),
            model: Runs::of(model),
        }
    }

    /// The columns, in the report's order.
    pub fn columns(&self) -> [&Runs; 5] {
        [
            &self.truth,
            &self.replay,
            &self.random,
            &self.other_passage,
            &self.model,
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use continuo_core::midi::{write_midi, Score};

    fn line(pitches: &[u8], from: f64) -> Vec<Note> {
        pitches
            .iter()
            .enumerate()
            .map(|(i, &pitch)| Note {
                pitch,
                velocity: 80,
                start: from + i as f64 * 0.5,
                end: from + i as f64 * 0.5 + 0.5,
            })
            .collect()
    }

    /// A melody that never repeats a stretch of itself: steps and leaps from a small
    /// generator.
    fn melody(len: usize, seed: u64) -> Vec<u8> {
        let mut rng = continuo_core::sampling::Rng::new(seed);
        let mut pitch = 60i64;
        (0..len)
            .map(|_| {
                pitch += rng.below(15) as i64 - 7;
                pitch = pitch.clamp(30, 100);
                pitch as u8
            })
            .collect()
    }

    fn corpus(pieces: &[Vec<Note>]) -> Corpus {
        Corpus::new(pieces.iter().map(Vec::as_slice), [])
    }

    #[test]
    fn a_transposed_excerpt_shares_its_whole_length() {
        let pieces = [line(&melody(200, 1), 0.0), line(&melody(300, 2), 0.0)];
        let corpus = corpus(&pieces);
        assert_eq!(corpus.pieces(), 2);
        assert_eq!(corpus.notes(), 500);
        let excerpt: Vec<u8> = melody(300, 2)[120..145].iter().map(|p| p - 3).collect();
        assert_eq!(corpus.longest_run(&line(&excerpt, 8.0)), 25);
        let up: Vec<u8> = melody(200, 1)[0..10].iter().map(|p| p + 5).collect();
        assert_eq!(corpus.longest_run(&line(&up, 0.0)), 10);
        // The excerpt with a wrong note in its middle: the longer half.
        let mut wrong = excerpt.clone();
        wrong[15] += 1;
        assert_eq!(corpus.longest_run(&line(&wrong, 0.0)), 15);
    }

    #[test]
    fn an_unrelated_passage_shares_a_short_run() {
        let pieces = [line(&melody(400, 3), 0.0), line(&melody(400, 4), 0.0)];
        let corpus = corpus(&pieces);
        let other = line(&melody(40, 5), 0.0);
        let run = corpus.longest_run(&other);
        assert!((1..=6).contains(&run), "{run}");
        // Leaps the corpus never makes.
        let leaps = line(&[40, 60, 41, 61, 42, 62], 0.0);
        assert_eq!(corpus.longest_run(&leaps), 1);
    }

    /// The longest run by trying every start in the passage against every start in every
    /// piece.
    fn brute_force(pieces: &[Vec<u8>], passage: &[u8]) -> usize {
        let q = intervals(passage);
        let mut best = 0;
        for piece in pieces {
            let t = intervals(piece);
            for i in 0..q.len() {
                for j in 0..t.len() {
                    best = best.max(common_prefix(&q[i..], &t[j..]).min(MAX_INTERVALS));
                }
            }
        }
        best + 1
    }

    #[test]
    fn runs_agree_with_a_brute_force_search_on_repetitive_music() {
        // Steps of at most a tone: runs of all lengths recur everywhere.
        let mut rng = continuo_core::sampling::Rng::new(12);
        let mut walk = |len: usize| {
            let mut pitch = 60i64;
            (0..len)
                .map(|_| {
                    pitch = (pitch + rng.below(5) as i64 - 2).clamp(40, 80);
                    pitch as u8
                })
                .collect::<Vec<u8>>()
        };
        let pieces: Vec<Vec<u8>> = (0..4).map(|_| walk(300)).collect();
        let notes: Vec<Vec<Note>> = pieces.iter().map(|p| line(p, 0.0)).collect();
        let corpus = corpus(&notes);
        for k in 0..40 {
            let passage = if k % 4 == 0 {
                // Mostly a copy, with a slip.
                let mut p = pieces[k % 3][k..k + 90].to_vec();
                p[k + 5] = p[k + 5].wrapping_add(1);
                p
            } else {
                walk(10 + k)
            };
            assert_eq!(
                corpus.longest_run(&line(&passage, 0.0)),
                brute_force(&pieces, &passage),
                "{passage:?}"
            );
        }
    }

    #[test]
    fn short_passages_count_zero_and_long_copies_count_max_run() {
        let tune = melody(150, 6);
        let corpus = corpus(&[line(&tune, 0.0)]);
        assert_eq!(corpus.longest_run(&[]), 0);
        assert_eq!(corpus.longest_run(&line(&tune[..1], 0.0)), 0);
        assert_eq!(corpus.longest_run(&line(&tune[..2], 0.0)), 2);
        assert_eq!(corpus.longest_run(&line(&tune[10..110], 0.0)), MAX_RUN);
        assert_eq!(Corpus::new([], []).longest_run(&line(&tune, 0.0)), 0);
    }

    #[test]
    fn runs_do_not_cross_from_one_piece_into_the_next() {
        let (a, b) = (melody(50, 7), melody(50, 8));
        let corpus = corpus(&[line(&a, 0.0), line(&b, 0.0)]);
        // The last 10 notes of one piece, then the first 20 of the next.
        let joined: Vec<u8> = a[40..].iter().chain(&b[..20]).copied().collect();
        assert_eq!(corpus.longest_run(&line(&joined, 0.0)), 20);
    }

    #[test]
    fn chords_read_upward_on_the_grid_whatever_their_order() {
        let note = |pitch, start| Note {
            pitch,
            velocity: 80,
            start,
            end: start + 1.0,
        };
        // C–E–G struck together, then D; in the training piece the chord is spread over a
        // tick and listed from the top.
        let passage = [note(60, 0.0), note(64, 0.0), note(67, 0.0), note(62, 1.0)];
        let piece = [
            note(50, 0.0),
            note(79, 4.001),
            note(76, 4.0),
            note(72, 4.0),
            note(74, 5.0),
        ];
        assert_eq!(pitches(&piece), [50, 72, 76, 79, 74]);
        let corpus = Corpus::new([piece.as_slice()], []);
        assert_eq!(corpus.longest_run(&passage), 4);
    }

    #[test]
    fn held_out_pieces_in_the_training_folders_are_left_out() {
        let (a, b) = (line(&melody(100, 9), 0.0), line(&melody(100, 10), 0.0));
        // The held-out piece is `b`, transposed: the same piece in another file.
        let held: Vec<Note> = b
            .iter()
            .map(|n| Note {
                pitch: n.pitch + 2,
                ..*n
            })
            .collect();
        let corpus = Corpus::new([a.as_slice(), b.as_slice()], [held.as_slice()]);
        assert_eq!((corpus.pieces(), corpus.left_out), (1, 1));
        assert!(corpus.longest_run(&b[20..60]) < 10);
        assert_eq!(corpus.longest_run(&a[20..60]), 40);
    }

    #[test]
    fn training_folders_are_read_recursively_skipping_unreadable_files() {
        let root = std::env::temp_dir().join(format!("continuo-copying-{}", std::process::id()));
        let sub = root.join("one").join("deeper");
        std::fs::create_dir_all(&sub).unwrap();
        let other = root.join("two");
        std::fs::create_dir_all(&other).unwrap();
        let write = |path: PathBuf, notes: &[Note]| {
            let score = Score::new(notes.to_vec(), 120.0);
            std::fs::write(path, write_midi(&score).unwrap()).unwrap();
        };
        let tunes: Vec<Vec<Note>> = (11..14).map(|s| line(&melody(80, s), 0.0)).collect();
        write(sub.join("a.mid"), &tunes[0]);
        write(root.join("one").join("b.MIDI"), &tunes[1]);
        write(other.join("c.mid"), &tunes[2]);
        std::fs::write(other.join("broken.mid"), b"not midi").unwrap();
        std::fs::write(other.join("notes.txt"), b"ignored").unwrap();
        let held_out = [Piece {
            name: "c.mid".into(),
            score: Score::new(tunes[2].clone(), 100.0),
        }];
        let folders = [root.join("one"), other];
        let (corpus, skipped) = Corpus::read(&folders, &held_out, &ProgressBar::hidden()).unwrap();
        std::fs::remove_dir_all(&root).unwrap();
        assert_eq!(
            (corpus.pieces(), corpus.notes(), corpus.left_out),
            (2, 160, 1)
        );
        assert_eq!(skipped.len(), 1);
        assert!(skipped[0].path.ends_with("broken.mid"));
        assert_eq!(corpus.longest_run(&tunes[1][5..35]), 30);
        let copying = Copying::new(&corpus, [&[30, 2], &[], &[1], &[2, 3, 4], &[64]]);
        assert_eq!(copying.folders, folders);
        assert_eq!(copying.held_out_left_out, 1);
        assert_eq!(copying.truth.median, Some(16.0));
        assert_eq!(copying.replay, Runs::default());
    }

    #[test]
    fn runs_summarize_as_mean_median_and_max() {
        let r = Runs::of(&[5, 1, 3, 20]);
        assert_eq!(r.passages, 4);
        assert_eq!(r.values(), [Some(7.25), Some(4.0), Some(20.0)]);
        assert_eq!(Runs::of(&[2, 9, 4]).median, Some(4.0));
        assert_eq!(Runs::of(&[]).values(), [None, None, None]);
    }
}
