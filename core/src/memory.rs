//! Learning the player: a bounded memory of the phrases played to the model, and a
//! variable-order Markov model over it (in the manner of the Continuator) whose
//! predictions are mixed into the network's before each draw.
//!
//! The memory matches the music, not the exact token stream a performance happens to give:
//!
//! * it keeps note-ons and the waits between onsets, and leaves note-offs and velocities to
//!   the network. A phrase played again legato instead of detached, or a little louder,
//!   interleaves its note-offs and velocity tokens differently; with them in the match the
//!   same figure would rarely be recognised twice.
//! * a wait is matched by its length to within an octave of durations (a 16th played a step
//!   early is still a 16th) and waits shorter than a 32nd note are not waits at all but the
//!   spread of a chord struck by hand. What the memory predicts is still the wait the player
//!   actually played.
//! * pitches are matched as played, not as intervals: a figure learned in C is recalled in C.
//!   Interval matching would need the previous pitch in every key and mixes badly with
//!   chords; the network and *Follow phrase* already carry a phrase into its own key.
//!
//! Everything here is sized once in [`Memory::new`]: learning and prediction never allocate,
//! and the memory never grows however long it plays.

use crate::vocab::{Token, Vocab};

/// Entries (note-ons and waits, about two per note) the memory holds; the oldest make way
/// for the newest. Some 4000 notes, minutes of a player's phrases, is enough to recall
/// their figures, and a full scan of it stays a small fraction of a network step. A power
/// of two, so that ring positions wrap with a mask.
pub const CAPACITY: usize = 8192;
/// The longest context matched, in entries: about four notes with their rhythm, a figure.
/// Longer contexts only repeat what a match of eight already found.
pub const MAX_ORDER: usize = 8;
/// The shortest context matched: one note and its rhythm, or two notes. A single entry
/// would turn the memory into a table of what ever followed a pitch, which pulls against
/// the network everywhere without knowing where in a figure it is.
pub const MIN_ORDER: usize = 2;

const MASK: usize = CAPACITY - 1;
/// Ends each learned phrase; no context holds it, so no match runs across two phrases.
const SEPARATOR: u16 = u16::MAX;
/// Wait keys are this plus the wait's duration class, apart from every token id.
const WAIT_KEY: u16 = 0x8000;
/// Above every id of a vocabulary [`Vocab::validate`] accepts (at most 4480).
const ID_LIMIT: usize = 1 << 13;
/// The most of the network's share a memory may take: what it never saw stays possible.
const MAX_SHARE: f32 = 0.95;
/// Occurrences a match needs to count for half its weight: one occurrence is a hint, a
/// figure played four times is a habit.
const SUPPORT: f32 = 1.0;

/// The memory's weight for a *Learn from me* setting ([`crate::sampling::Sampling::learn`]).
/// An answer feeds what it took from the memory back into its own context, so the memory's
/// pull compounds: a weight of 0.25 already plays a learned figure over and over in the
/// plugin's conversation. Squared, the lower half of the knob hints at a figure and varies
/// it, and the top takes it up whole.
pub fn weight(learn: f32) -> f32 {
    let learn = if learn.is_nan() {
        0.0
    } else {
        learn.clamp(0.0, 1.0)
    };
    learn * learn
}

/// What the memory holds now, not all it ever learned: the oldest phrases make way for new
/// ones, and a player sees what it can still recall.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MemoryStats {
    /// Phrases with at least part of them still in memory.
    pub phrases: u32,
    /// Note-ons still in memory.
    pub notes: u32,
}

/// Turns tokens into memory entries: `(key, id)`, the key matched and the token id the entry
/// predicts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Keyer {
    /// Grid steps since the latest note-on.
    pending: u32,
}

impl Keyer {
    fn feed(&mut self, token: Token, vocab: &Vocab, mut emit: impl FnMut(u16, u16)) {
        match token {
            Token::NoteOn(_) => {
                if let Some((key, id)) = self.wait(vocab) {
                    emit(key, id);
                }
                self.pending = 0;
                emit(vocab.encode(token) as u16, vocab.encode(token) as u16);
            }
            Token::TimeShift(n) => self.pending = self.pending.saturating_add(u32::from(n)),
            Token::Bos => self.pending = 0,
            Token::NoteOff(_) | Token::Velocity(_) => {}
        }
    }

    /// The wait since the latest note-on as an entry, if it is one.
    fn wait(&self, vocab: &Vocab) -> Option<(u16, u16)> {
        let spb = vocab.steps_per_beat.max(1);
        if self.pending.saturating_mul(8) < spb {
            return None;
        }
        // Octave classes centred on the beat's binary divisions (3, 6, 12, 24, 48 steps at 24
        // per beat): a 16th played a step early or late stays a 16th. Triplet values sit
        // near a class's edge and match less surely; a finer class would split the binary
        // ones by a hand's timing instead.
        let class = (self.pending as f32 / spb as f32).log2().round() as i32;
        let key = WAIT_KEY + (class + 16).clamp(0, 63) as u16;
        let steps = self.pending.min(vocab.max_shift_steps).max(1);
        Some((key, vocab.encode(Token::TimeShift(steps as u16)) as u16))
    }
}

/// The latest memory keys of a token stream: what [`Memory::apply`] matches. A fixed-size
/// window, so that keeping it up to date costs nothing per token.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct History {
    keys: [u16; MAX_ORDER],
    len: usize,
    keyer: Keyer,
}

impl History {
    pub fn clear(&mut self) {
        *self = Self::default();
    }

    /// The stream went on with token `id`. `BOS` starts a new stream.
    pub fn push(&mut self, id: u32, vocab: &Vocab) {
        let Some(token) = vocab.decode(id as usize) else {
            return;
        };
        if token == Token::Bos {
            self.clear();
            return;
        }
        let Self { keys, len, keyer } = self;
        keyer.feed(token, vocab, |key, _| {
            if *len == MAX_ORDER {
                keys.copy_within(1.., 0);
                *len -= 1;
            }
            keys[*len] = key;
            *len += 1;
        });
    }

    /// The latest keys into `out` (the wait running now left out); returns how many.
    fn suffix(&self, out: &mut [u16; MAX_ORDER]) -> usize {
        out[..self.len].copy_from_slice(&self.keys[..self.len]);
        self.len
    }

    /// Grid steps waited since the latest note-on, when that is a wait and not the spread of
    /// a chord (0).
    fn waited(&self, vocab: &Vocab) -> u32 {
        if self.keyer.wait(vocab).is_some() {
            self.keyer.pending
        } else {
            0
        }
    }
}

/// The player's phrases, learned as they are played, and what followed each context in them.
#[derive(Debug, Clone)]
pub struct Memory {
    /// A ring of entries in the order learned; each phrase ends with [`SEPARATOR`], and
    /// slots never written hold it too, so the oldest entry follows a separator.
    keys: Box<[u16]>,
    /// The token id each entry predicts.
    ids: Box<[u16]>,
    /// Where the next entry goes.
    head: usize,
    len: usize,
    stats: MemoryStats,
    /// Scratch: the entries that went on after the longest matches.
    hits: Vec<u16>,
    /// Scratch: occurrences per token id; all zero between predictions.
    counts: Box<[f32]>,
}

impl Default for Memory {
    fn default() -> Self {
        Self::new()
    }
}

impl Memory {
    pub fn new() -> Self {
        Self {
            keys: vec![SEPARATOR; CAPACITY].into_boxed_slice(),
            ids: vec![0; CAPACITY].into_boxed_slice(),
            head: 0,
            len: 0,
            stats: MemoryStats::default(),
            hits: Vec::with_capacity(CAPACITY),
            counts: vec![0.0; ID_LIMIT].into_boxed_slice(),
        }
    }

    pub fn stats(&self) -> MemoryStats {
        self.stats
    }

    /// Entries held, at most [`CAPACITY`].
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Forgets everything learned.
    pub fn forget(&mut self) {
        self.keys.fill(SEPARATOR);
        self.head = 0;
        self.len = 0;
        self.stats = MemoryStats::default();
    }

    /// Learns one phrase, `tokens` as [`crate::tokens::encode`] gives them. A phrase without
    /// a note-on teaches nothing.
    pub fn learn(&mut self, tokens: &[Token], vocab: &Vocab) {
        let mut keyer = Keyer::default();
        let mut wrote = false;
        for &token in tokens {
            keyer.feed(token, vocab, |key, id| {
                self.write(key, id);
                wrote = true;
            });
        }
        // The time after the last note-on is that note's length, not a wait before another:
        // the phrase ends there.
        if wrote {
            self.write(SEPARATOR, 0);
            self.stats.phrases += 1;
        }
    }

    fn write(&mut self, key: u16, id: u16) {
        debug_assert!(usize::from(id) < ID_LIMIT);
        if self.len == CAPACITY {
            match self.keys[self.head] {
                // A phrase's separator is its last entry: all of it is gone now.
                SEPARATOR => self.stats.phrases -= 1,
                old if old < WAIT_KEY => self.stats.notes -= 1,
                _ => {}
            }
        } else {
            self.len += 1;
        }
        self.keys[self.head] = key;
        self.ids[self.head] = id;
        self.head = (self.head + 1) & MASK;
        if key < WAIT_KEY {
            self.stats.notes += 1;
        }
    }

    /// Collects in `hits` where each occurrence of the longest suffix of `context` (at least
    /// [`MIN_ORDER`] keys, counting a wait in progress) found in memory goes on; returns its
    /// length, 0 when none matched. With `waited` steps of a wait in progress, a match must go
    /// on with a wait at least that long (a step's slack), and the hit is that wait: a
    /// learned wait is matched by how long it lasted, so a wait still running never recalls
    /// the note after a longer one early.
    fn find(&mut self, context: &[u16], waited: u32, vocab: &Vocab) -> usize {
        self.hits.clear();
        let n = context.len() + usize::from(waited > 0);
        if n < MIN_ORDER {
            return 0;
        }
        let mut best = 0;
        // Before the ring is full its entries are 0..len, and the slots behind them hold
        // separators; once full, every slot is an entry.
        for j in 0..self.len {
            if self.keys[j] == SEPARATOR {
                continue;
            }
            let mut order = 0;
            if waited > 0 {
                if self.keys[j] < WAIT_KEY || self.wait_steps(j, vocab) + 1 < waited {
                    continue;
                }
                order = 1;
            }
            let before = |k: usize| self.keys[(j + CAPACITY - k) & MASK];
            let skip = order;
            while order < n && before(order + 1 - skip) == context[n - 1 - order] {
                order += 1;
            }
            if order < MIN_ORDER || order < best {
                continue;
            }
            if order > best {
                best = order;
                self.hits.clear();
            }
            self.hits.push(j as u16);
        }
        best
    }

    /// The grid steps of the learned wait at entry `j`.
    fn wait_steps(&self, j: usize, vocab: &Vocab) -> u32 {
        match vocab.decode(usize::from(self.ids[j])) {
            Some(Token::TimeShift(steps)) => u32::from(steps),
            _ => 0,
        }
    }

    /// The token id the occurrence going on at entry `j` predicts, `waited` steps into a wait
    /// (see [`Self::find`]): the rest of a learned wait still longer, else what came after it.
    fn predicted(&self, j: usize, waited: u32, vocab: &Vocab) -> Option<usize> {
        if waited == 0 {
            return Some(usize::from(self.ids[j]));
        }
        let learned = self.wait_steps(j, vocab);
        if learned > waited + 1 {
            let rest = (learned - waited).min(vocab.max_shift_steps);
            return Some(vocab.encode(Token::TimeShift(rest as u16)));
        }
        let next = (j + 1) & MASK;
        (self.keys[next] < WAIT_KEY).then(|| usize::from(self.ids[next]))
    }

    /// Mixes the memory's prediction after `history` into `logits` (a model's, over `vocab`'s
    /// ids), `weight` (0..1) of the way at most, and returns the share it took (0: `logits`
    /// untouched, bit for bit). The mix is in probability,
    /// `p = (1 − w)·p_model + w·p_memory`, written back as log-probabilities, among the
    /// note-ons and time shifts: the memory predicts those alone, so the network's
    /// probability of a note-off or a velocity change stays as it was. A logit of −∞ stays
    /// −∞, so a ban made before stays made.
    pub fn apply(
        &mut self,
        logits: &mut [f32],
        history: &History,
        vocab: &Vocab,
        weight: f32,
    ) -> f32 {
        if weight.is_nan() || weight <= 0.0 || self.is_empty() {
            return 0.0;
        }
        let mut context = [0u16; MAX_ORDER];
        let n = history.suffix(&mut context);
        let waited = history.waited(vocab);
        let order = self.find(&context[..n], waited, vocab);
        if order == 0 {
            return 0.0;
        }
        let predictable =
            |i: usize| vocab.note_on_range().contains(&i) || vocab.time_shift_range().contains(&i);
        let usable =
            |i: usize| i < logits.len() && i < ID_LIMIT && logits[i].is_finite() && predictable(i);
        let mut occurrences = 0u32;
        for k in 0..self.hits.len() {
            let Some(i) = self.predicted(usize::from(self.hits[k]), waited, vocab) else {
                continue;
            };
            if usable(i) {
                self.counts[i] += 1.0;
                occurrences += 1;
            }
        }
        let share = self.mix(logits, vocab, order, occurrences, weight);
        for k in 0..self.hits.len() {
            if let Some(i) = self.predicted(usize::from(self.hits[k]), waited, vocab) {
                if let Some(count) = self.counts.get_mut(i) {
                    *count = 0.0;
                }
            }
        }
        share
    }

    fn mix(
        &self,
        logits: &mut [f32],
        vocab: &Vocab,
        order: usize,
        occurrences: u32,
        weight: f32,
    ) -> f32 {
        if occurrences == 0 {
            return 0.0;
        }
        // Trust grows with the length of the context matched (a figure recognised, not a
        // note that happens to recur) and with how often it was played; it never reaches
        // the whole, so what the player never played stays possible.
        let by_order = (order - MIN_ORDER + 1) as f32 / (MAX_ORDER - MIN_ORDER + 1) as f32;
        let occurrences = occurrences as f32;
        let by_support = occurrences / (occurrences + SUPPORT);
        let share = (weight.min(1.0) * by_order * by_support).min(MAX_SHARE);
        let max = logits
            .iter()
            .copied()
            .filter(|l| l.is_finite())
            .fold(f32::NEG_INFINITY, f32::max);
        let total: f32 = logits
            .iter()
            .filter(|l| l.is_finite())
            .map(|&l| (l - max).exp())
            .sum();
        let ranges = [vocab.note_on_range(), vocab.time_shift_range()];
        let in_class: f32 = ranges
            .iter()
            .flat_map(|r| logits[r.start.min(logits.len())..r.end.min(logits.len())].iter())
            .filter(|l| l.is_finite())
            .map(|&l| (l - max).exp())
            .sum::<f32>()
            / total;
        if in_class.is_nan() || in_class <= 0.0 {
            return 0.0;
        }
        let lse = max + total.ln();
        let keep = (1.0 - share).ln();
        let recalled = share * in_class / occurrences;
        for r in ranges {
            let end = r.end.min(logits.len());
            let start = r.start.min(end);
            for (i, l) in (start..end).zip(&mut logits[start..end]) {
                let count = self.counts.get(i).copied().unwrap_or(0.0);
                *l = if count > 0.0 {
                    lse + ((1.0 - share) * (*l - lse).exp() + recalled * count).ln()
                } else {
                    *l + keep
                };
            }
        }
        share
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::midi::Note;
    use crate::sampling::Rng;
    use crate::tokens::encode;

    /// `pitches` as 16ths from `start` (beats), each held `held` of its step, at `velocity`.
    fn run(pitches: &[u8], start: f64, held: f64, velocity: u8) -> Vec<Note> {
        pitches
            .iter()
            .enumerate()
            .map(|(i, &pitch)| Note {
                pitch,
                velocity,
                start: start + i as f64 * 0.25,
                end: start + (i as f64 + held) * 0.25,
            })
            .collect()
    }

    fn tokens(pitches: &[u8]) -> Vec<Token> {
        encode(&run(pitches, 0.0, 0.8, 80), &Vocab::default())
    }

    /// The history after `BOS` and `tokens`.
    fn history(tokens: &[Token]) -> History {
        let vocab = Vocab::default();
        let mut h = History::default();
        h.push(vocab.encode(Token::Bos) as u32, &vocab);
        for &t in tokens {
            h.push(vocab.encode(t) as u32, &vocab);
        }
        h
    }

    fn softmax(logits: &[f32]) -> Vec<f32> {
        let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let e: Vec<f32> = logits.iter().map(|l| (l - max).exp()).collect();
        let total: f32 = e.iter().sum();
        e.iter().map(|x| x / total).collect()
    }

    fn bits(logits: &[f32]) -> Vec<u32> {
        logits.iter().map(|l| l.to_bits()).collect()
    }

    /// Logits a network might give: distinct, none dominant.
    fn logits() -> Vec<f32> {
        let size = Vocab::default().size();
        (0..size).map(|i| ((i * 37) % 11) as f32 * 0.1).collect()
    }

    fn on(pitch: u8) -> usize {
        Vocab::default().encode(Token::NoteOn(pitch))
    }

    const FIGURE: [u8; 4] = [60, 62, 64, 67];

    fn figure_memory() -> Memory {
        let vocab = Vocab::default();
        let mut memory = Memory::new();
        for _ in 0..2 {
            let phrase: Vec<u8> = FIGURE.iter().copied().cycle().take(16).collect();
            memory.learn(&tokens(&phrase), &vocab);
        }
        memory
    }

    #[test]
    fn a_learned_figure_is_recalled_from_its_beginning() {
        let vocab = Vocab::default();
        let mut memory = figure_memory();
        assert_eq!(
            memory.stats(),
            MemoryStats {
                phrases: 2,
                notes: 32
            }
        );
        // The figure's first three notes, played legato and louder than they were learned.
        let prefix = encode(&run(&FIGURE[..3], 10.0, 1.0, 110), &vocab);
        let mut l = logits();
        let share = memory.apply(&mut l, &history(&prefix), &vocab, 1.0);
        assert!(share > 0.5, "{share}");
        let p = softmax(&l);
        let g = on(67);
        let best = (0..p.len()).max_by(|&a, &b| p[a].total_cmp(&p[b])).unwrap();
        assert_eq!(best, g);
        let note_ons: f32 = p[vocab.note_on_range()].iter().sum();
        let shifts: f32 = p[vocab.time_shift_range()].iter().sum();
        assert!(p[g] > 0.5 * (note_ons + shifts), "{}", p[g]);
        // The network's share of note-offs and velocities is its own.
        let before = softmax(&logits());
        let kept: f32 = before[vocab.note_off_range()].iter().sum();
        let now: f32 = p[vocab.note_off_range()].iter().sum();
        assert!((kept - now).abs() < 1e-4, "{kept} {now}");

        // Right after the third note the memory expects the wait before the fourth.
        let mut l = logits();
        let h = history(&[Token::NoteOn(60), Token::TimeShift(6), Token::NoteOn(62)]);
        memory.apply(&mut l, &h, &vocab, 1.0);
        let p = softmax(&l);
        let wait = vocab.encode(Token::TimeShift(6));
        let best = (0..p.len()).max_by(|&a, &b| p[a].total_cmp(&p[b])).unwrap();
        assert_eq!(best, wait);
    }

    #[test]
    fn a_wait_in_progress_recalls_the_next_note_only_once_it_is_as_long_as_learned() {
        // A swung figure: a long wait (16 steps), then a short one (8).
        let vocab = Vocab::default();
        let swung: Vec<Note> = [
            (48, 0.0),
            (52, 16.0 / 24.0),
            (55, 1.0),
            (57, 1.0 + 16.0 / 24.0),
        ]
        .iter()
        .map(|&(pitch, start)| Note {
            pitch,
            velocity: 80,
            start,
            end: start + 0.3,
        })
        .collect();
        let mut memory = Memory::new();
        for _ in 0..3 {
            memory.learn(&encode(&swung, &vocab), &vocab);
        }
        let mut after = |waited: u16| {
            let h = history(&[Token::NoteOn(48), Token::TimeShift(waited)]);
            let mut l = vec![0.0; vocab.size()];
            memory.apply(&mut l, &h, &vocab, 1.0);
            l
        };
        // Nine steps into the long wait: the rest of it, not the next note.
        let early = after(9);
        assert_eq!(early[on(52)], early[on(53)], "the next note not yet");
        let rest = vocab.encode(Token::TimeShift(7));
        assert!(early[rest] > early[on(52)] + 1.0);
        // The wait as long as learned: now the next note.
        let due = after(16);
        assert!(due[on(52)] > due[on(53)] + 1.0);
    }

    #[test]
    fn the_longest_context_decides() {
        let vocab = Vocab::default();
        let mut memory = Memory::new();
        memory.learn(&tokens(&[50, 60, 62, 64]), &vocab);
        memory.learn(&tokens(&[55, 60, 62, 65]), &vocab);
        let predicted = |memory: &mut Memory, first: u8| {
            let h = history(&encode(&run(&[first, 60, 62], 0.0, 0.8, 80), &vocab));
            let mut l = vec![0.0; vocab.size()];
            memory.apply(&mut l, &h, &vocab, 1.0);
            (l[on(64)], l[on(65)])
        };
        let (e, f) = predicted(&mut memory, 50);
        assert!(e > f + 1.0, "{e} {f}");
        let (e, f) = predicted(&mut memory, 55);
        assert!(f > e + 1.0, "{e} {f}");
        // A context heard in neither: both continuations, alike.
        let (e, f) = predicted(&mut memory, 40);
        assert_eq!(e, f);
        assert!(e > 0.0);
    }

    #[test]
    fn nothing_changes_without_weight_memory_or_match() {
        let vocab = Vocab::default();
        let prefix = history(&tokens(&FIGURE[..3]));
        let mut memory = figure_memory();
        for weight in [0.0, -1.0, f32::NAN] {
            let mut l = logits();
            assert_eq!(memory.apply(&mut l, &prefix, &vocab, weight), 0.0);
            assert_eq!(bits(&l), bits(&logits()));
        }
        let mut l = logits();
        assert_eq!(Memory::new().apply(&mut l, &prefix, &vocab, 1.0), 0.0);
        assert_eq!(bits(&l), bits(&logits()));
        // Notes never learned.
        let mut l = logits();
        let h = history(&tokens(&[30, 31, 32]));
        assert_eq!(memory.apply(&mut l, &h, &vocab, 1.0), 0.0);
        assert_eq!(bits(&l), bits(&logits()));
        // Too little context to match.
        let mut l = logits();
        assert_eq!(memory.apply(&mut l, &History::default(), &vocab, 1.0), 0.0);
        assert_eq!(bits(&l), bits(&logits()));
    }

    #[test]
    fn a_ban_stays_a_ban() {
        let vocab = Vocab::default();
        let mut memory = figure_memory();
        let prefix = history(&tokens(&FIGURE[..3]));
        // The only continuation banned: nothing to mix in.
        let mut l = logits();
        l[on(67)] = f32::NEG_INFINITY;
        let banned = l.clone();
        assert_eq!(memory.apply(&mut l, &prefix, &vocab, 1.0), 0.0);
        assert_eq!(bits(&l), bits(&banned));
        // Another ban survives the mix.
        let mut l = logits();
        l[on(61)] = f32::NEG_INFINITY;
        assert!(memory.apply(&mut l, &prefix, &vocab, 1.0) > 0.0);
        assert_eq!(l[on(61)], f32::NEG_INFINITY);
        assert!(l
            .iter()
            .enumerate()
            .all(|(i, x)| i == on(61) || x.is_finite()));
    }

    #[test]
    fn an_hour_of_playing_stays_within_capacity() {
        let vocab = Vocab::default();
        let mut memory = Memory::new();
        let mut rng = Rng::new(7);
        let hits_capacity = memory.hits.capacity();
        // 120 BPM for an hour: a phrase of 4 beats of 16ths every 8 beats.
        let mut learned = 0u32;
        for phrase in 0..(3600 * 2 / 8) {
            let pitches: Vec<u8> = (0..16).map(|_| 48 + rng.below(24) as u8).collect();
            memory.learn(&tokens(&pitches), &vocab);
            learned += 1;
            assert!(memory.len() <= CAPACITY);
            let held = &memory.keys[..memory.len()];
            let stats = memory.stats();
            let separators = held.iter().filter(|&&k| k == SEPARATOR).count();
            let notes = held.iter().filter(|&&k| k < WAIT_KEY).count();
            assert_eq!(stats.notes as usize, notes, "phrase {phrase}");
            assert_eq!(stats.phrases as usize, separators, "phrase {phrase}");
            assert!(stats.phrases <= learned);
        }
        assert_eq!(memory.len(), CAPACITY);
        assert_eq!(memory.keys.len(), CAPACITY);
        assert_eq!(memory.hits.capacity(), hits_capacity);
        let stats = memory.stats();
        assert!(stats.phrases < learned && stats.phrases > 100, "{stats:?}");
        // The newest phrase is recalled; the oldest is gone.
        let pitches: Vec<u8> = (0..16).map(|_| 48 + rng.below(24) as u8).collect();
        memory.learn(&tokens(&pitches), &vocab);
        let mut l = logits();
        let h = history(&tokens(&pitches[..8]));
        assert!(memory.apply(&mut l, &h, &vocab, 1.0) > 0.0);
        assert!(memory.counts.iter().all(|&c| c == 0.0));
    }

    #[test]
    fn forget_clears() {
        let vocab = Vocab::default();
        let mut memory = figure_memory();
        memory.forget();
        assert!(memory.is_empty());
        assert_eq!(memory.stats(), MemoryStats::default());
        let mut l = logits();
        let prefix = history(&tokens(&FIGURE[..3]));
        assert_eq!(memory.apply(&mut l, &prefix, &vocab, 1.0), 0.0);
        assert_eq!(bits(&l), bits(&logits()));
        // It learns again as new.
        memory.learn(&tokens(&FIGURE), &vocab);
        assert_eq!(
            memory.stats(),
            MemoryStats {
                phrases: 1,
                notes: 4
            }
        );
    }

    #[test]
    fn matches_never_cross_phrases() {
        let vocab = Vocab::default();
        let mut memory = Memory::new();
        memory.learn(&tokens(&[60, 62, 64]), &vocab);
        memory.learn(&tokens(&[72, 74]), &vocab);
        // After the first phrase's end, played on: nothing learned follows it.
        let h = history(&tokens(&[60, 62, 64, 65]));
        let mut l = logits();
        let played = encode(&run(&[60, 62, 64], 0.0, 0.8, 80), &vocab);
        let mut h2 = history(&played);
        h2.push(vocab.encode(Token::TimeShift(2)) as u32, &vocab);
        for h in [h, h2] {
            assert_eq!(memory.apply(&mut l, &h, &vocab, 1.0), 0.0);
            assert_eq!(bits(&l), bits(&logits()));
        }
        // The end of a phrase and the start of the next, played as one: no match spans them.
        let h = history(&[
            Token::NoteOn(62),
            Token::TimeShift(6),
            Token::NoteOn(64),
            Token::TimeShift(6),
            Token::NoteOn(72),
        ]);
        assert_eq!(memory.apply(&mut l, &h, &vocab, 1.0), 0.0);
        // Within the second phrase the same notes are recalled.
        let h = history(&[Token::NoteOn(72), Token::TimeShift(6)]);
        assert!(memory.apply(&mut l, &h, &vocab, 1.0) > 0.0);
        // A phrase without notes teaches nothing.
        memory.learn(&[Token::TimeShift(4)], &vocab);
        assert_eq!(memory.stats().phrases, 2);
    }

    #[test]
    fn every_vocabulary_fits_the_scratch() {
        let largest = Vocab {
            steps_per_beat: 960,
            max_shift_steps: 4096,
            velocity_bins: 127,
            ..Vocab::default()
        };
        assert!(largest.validate().is_ok());
        assert!(largest.size() <= ID_LIMIT);
    }
}
