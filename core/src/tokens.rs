//! Notes ↔ tokens.
//!
//! Encoding quantizes note times to the vocabulary's grid. Decoding is incremental
//! ([`Decoder`]) so the plugin can turn each generated token into note events as it arrives,
//! without allocating.

use crate::midi::{sort_notes, Note};
use crate::vocab::{Token, Vocab};

/// Encodes notes (any order) into tokens, without a leading `BOS`.
///
/// Every note starts on the nearest grid step and lasts at least one step. If quantization
/// makes two notes of one pitch overlap, the earlier one is cut where the later one starts,
/// which is what a keyboard would do.
pub fn encode(notes: &[Note], vocab: &Vocab) -> Vec<Token> {
    let spb = f64::from(vocab.steps_per_beat);
    // Signed: a phrase may begin before beat 0 (a count-in, pre-roll); only differences count.
    let q = |beat: f64| (beat * spb).round() as i64;

    // (step, is_on, pitch, velocity, note index); offs first at equal steps.
    let mut events = Vec::with_capacity(notes.len() * 2);
    for (i, n) in notes.iter().enumerate() {
        let on = q(n.start);
        let off = q(n.end).max(on + 1);
        let p = n.pitch & 127;
        events.push((on, true, p, n.velocity, i));
        events.push((off, false, p, 0, i));
    }
    events.sort_by_key(|&(step, is_on, pitch, _, i)| (step, is_on, pitch, i));

    let mut tokens = Vec::with_capacity(events.len() * 2);
    let mut owner: [Option<usize>; 128] = [None; 128];
    let mut now = events.first().map_or(0, |e| e.0);
    let mut velocity_bin = None;
    for (step, is_on, pitch, velocity, i) in events {
        let p = pitch as usize;
        if !is_on && owner[p] != Some(i) {
            continue; // already cut short by a re-strike
        }
        push_time_shift(&mut tokens, (step - now) as u64, vocab);
        now = step;
        if is_on {
            if owner[p].is_some() {
                tokens.push(Token::NoteOff(pitch));
            }
            let bin = vocab.velocity_bin(velocity);
            if velocity_bin != Some(bin) {
                tokens.push(Token::Velocity(bin));
                velocity_bin = Some(bin);
            }
            tokens.push(Token::NoteOn(pitch));
            owner[p] = Some(i);
        } else {
            tokens.push(Token::NoteOff(pitch));
            owner[p] = None;
        }
    }
    tokens
}

/// Appends `TIME_SHIFT` tokens that advance `steps` grid steps in total.
pub fn push_time_shift(tokens: &mut Vec<Token>, mut steps: u64, vocab: &Vocab) {
    let max = u64::from(vocab.max_shift_steps);
    while steps > 0 {
        let s = steps.min(max);
        tokens.push(Token::TimeShift(s as u16));
        steps -= s;
    }
}

/// A note event produced by the [`Decoder`], timed in grid steps from the decoder's origin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoteEvent {
    On { pitch: u8, velocity: u8, step: u64 },
    Off { pitch: u8, step: u64 },
}

/// Pairs each note-on with its note-off into a [`Note`]. Event times are integer ticks of the
/// caller's choosing (grid steps, samples); `to_beat` maps them to beats.
#[derive(Debug, Clone)]
pub struct NoteCollector {
    open: [Option<(u64, u8)>; 128],
}

impl Default for NoteCollector {
    fn default() -> Self {
        Self { open: [None; 128] }
    }
}

impl NoteCollector {
    /// The note `event` ends, if it ends one.
    pub fn push(&mut self, event: NoteEvent, to_beat: impl Fn(u64) -> f64) -> Option<Note> {
        match event {
            NoteEvent::On {
                pitch,
                velocity,
                step,
            } => {
                self.open[usize::from(pitch & 127)] = Some((step, velocity));
                None
            }
            NoteEvent::Off { pitch, step } => {
                let (start, velocity) = self.open[usize::from(pitch & 127)].take()?;
                Some(Note {
                    pitch,
                    velocity,
                    start: to_beat(start),
                    end: to_beat(step),
                })
            }
        }
    }

    /// The notes still open, ended at `end` (beats): the answer stopped while they sounded.
    pub fn close_all(&mut self, end: f64, to_beat: impl Fn(u64) -> f64) -> Vec<Note> {
        let mut notes = Vec::new();
        for (pitch, open) in self.open.iter_mut().enumerate() {
            if let Some((start, velocity)) = open.take() {
                notes.push(Note {
                    pitch: pitch as u8,
                    velocity,
                    start: to_beat(start),
                    end,
                });
            }
        }
        notes
    }
}

/// Incremental token → note-event decoder. Fixed size, never allocates.
#[derive(Debug, Clone)]
pub struct Decoder {
    vocab: Vocab,
    step: u64,
    velocity: u8,
    sounding: [bool; 128],
    /// Step each sounding note started on.
    started: [u64; 128],
    /// The sounding note that started first (lowest pitch among equals), kept up to date so
    /// generation can ask for it once per candidate token at no cost.
    oldest: Option<u8>,
    num_sounding: u32,
    /// Tokens since time last advanced; lets generation bound chords.
    events_at_step: u32,
    /// The last token fed set the velocity: another one now would change nothing.
    velocity_last: bool,
}

impl Decoder {
    pub fn new(vocab: Vocab) -> Self {
        Self {
            vocab,
            step: 0,
            velocity: vocab.bin_velocity(vocab.velocity_bins as u8 / 2),
            sounding: [false; 128],
            started: [0; 128],
            oldest: None,
            num_sounding: 0,
            events_at_step: 0,
            velocity_last: false,
        }
    }

    pub fn vocab(&self) -> &Vocab {
        &self.vocab
    }

    /// Current time in grid steps.
    pub fn step(&self) -> u64 {
        self.step
    }

    pub fn is_sounding(&self, pitch: u8) -> bool {
        self.sounding[pitch as usize & 127]
    }

    pub fn num_sounding(&self) -> u32 {
        self.num_sounding
    }

    pub fn events_at_step(&self) -> u32 {
        self.events_at_step
    }

    /// How many steps `pitch` has sounded, if it sounds.
    pub fn held(&self, pitch: u8) -> Option<u64> {
        let p = usize::from(pitch & 127);
        self.sounding[p].then(|| self.step - self.started[p])
    }

    /// The sounding note held longest, with how many steps it has sounded.
    pub fn longest_held(&self) -> Option<(u8, u64)> {
        self.oldest
            .map(|p| (p, self.step - self.started[usize::from(p)]))
    }

    fn find_oldest(&mut self) {
        self.oldest = (0..128u8)
            .filter(|&p| self.sounding[usize::from(p)])
            .min_by_key(|&p| self.started[usize::from(p)]);
    }

    /// Whether the last token fed set the velocity.
    pub fn velocity_last(&self) -> bool {
        self.velocity_last
    }

    /// The same sounding notes at the same velocity, with time reset to 0: where an answer
    /// starts after its context. The velocity carries over because a stream states it only
    /// when it changes: a phrase played loud throughout was answered at the middle velocity
    /// unless the model happened to state it again.
    pub fn rebased(&self) -> Self {
        let mut fresh = Self::new(self.vocab);
        for p in 0..128u8 {
            if self.is_sounding(p) {
                fresh.feed(Token::NoteOn(p), |_| {});
            }
        }
        fresh.velocity = self.velocity;
        fresh
    }

    /// Feeds one token; calls `emit` for each resulting note event (at most two).
    pub fn feed(&mut self, token: Token, mut emit: impl FnMut(NoteEvent)) {
        self.velocity_last = matches!(token, Token::Velocity(_));
        match token {
            Token::Bos => {}
            Token::TimeShift(n) => {
                self.step += u64::from(n);
                self.events_at_step = 0;
            }
            Token::Velocity(b) => self.velocity = self.vocab.bin_velocity(b),
            Token::NoteOn(pitch) => {
                let p = pitch as usize & 127;
                if self.sounding[p] {
                    emit(NoteEvent::Off {
                        pitch,
                        step: self.step,
                    });
                } else {
                    self.sounding[p] = true;
                    self.num_sounding += 1;
                }
                self.started[p] = self.step;
                self.find_oldest();
                self.events_at_step += 1;
                emit(NoteEvent::On {
                    pitch,
                    velocity: self.velocity,
                    step: self.step,
                });
            }
            Token::NoteOff(pitch) => {
                let p = pitch as usize & 127;
                if self.sounding[p] {
                    self.sounding[p] = false;
                    self.num_sounding -= 1;
                    self.find_oldest();
                    self.events_at_step += 1;
                    emit(NoteEvent::Off {
                        pitch,
                        step: self.step,
                    });
                }
            }
        }
    }

    /// Ends every sounding note at the current step.
    pub fn release_all(&mut self, mut emit: impl FnMut(NoteEvent)) {
        for p in 0..128u8 {
            if self.sounding[p as usize] {
                self.sounding[p as usize] = false;
                emit(NoteEvent::Off {
                    pitch: p,
                    step: self.step,
                });
            }
        }
        self.num_sounding = 0;
        self.oldest = None;
    }
}

/// Decodes a whole token sequence into notes; the first token is at beat `origin`.
/// Notes still sounding at the end are closed there.
pub fn decode(tokens: &[Token], vocab: &Vocab, origin: f64) -> Vec<Note> {
    let mut decoder = Decoder::new(*vocab);
    let mut collector = NoteCollector::default();
    let mut notes = Vec::new();
    let beat = |step: u64| origin + step as f64 * vocab.step_beats();
    for &t in tokens {
        decoder.feed(t, |ev| notes.extend(collector.push(ev, beat)));
    }
    decoder.release_all(|ev| notes.extend(collector.push(ev, beat)));
    sort_notes(&mut notes);
    notes
}

/// Token ids of a sequence, for feeding a model.
pub fn to_ids(tokens: &[Token], vocab: &Vocab) -> Vec<u32> {
    tokens.iter().map(|&t| vocab.encode(t) as u32).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::midi::{read_midi, write_midi, Score};

    #[test]
    fn a_rebased_decoder_keeps_the_sounding_notes_and_the_velocity() {
        let vocab = Vocab::default();
        let mut d = Decoder::new(vocab);
        for t in [
            Token::Velocity(14),
            Token::NoteOn(60),
            Token::TimeShift(12),
            Token::NoteOn(64),
        ] {
            d.feed(t, |_| {});
        }
        let mut fresh = d.rebased();
        assert_eq!(fresh.step(), 0);
        assert!(fresh.is_sounding(60) && fresh.is_sounding(64));
        let mut events = Vec::new();
        fresh.feed(Token::NoteOn(67), |e| events.push(e));
        assert_eq!(
            events,
            [NoteEvent::On {
                pitch: 67,
                velocity: vocab.bin_velocity(14),
                step: 0
            }],
            "a phrase played loud is answered loud"
        );
    }

    /// Small deterministic generator so the test needs no dependency.
    struct Lcg(u64);
    impl Lcg {
        fn next(&mut self) -> u64 {
            self.0 = self
                .0
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            self.0 >> 33
        }
    }

    #[test]
    fn midi_tokens_midi_keeps_every_note_within_one_step() {
        let vocab = Vocab::default();
        let step = vocab.step_beats();
        let mut rng = Lcg(7);
        // Off-grid times from a 480-PPQ performance, no same-pitch overlaps, chords included.
        let mut notes = Vec::new();
        let mut free_at = [0u64; 128];
        let mut tick = 0u64;
        for _ in 0..400 {
            tick += rng.next() % 300;
            let pitch = 36 + (rng.next() % 60) as u8;
            if free_at[pitch as usize] > tick {
                continue;
            }
            let len = 20 + rng.next() % 1500; // ≥ one step (20 ticks at 480 PPQ)
            free_at[pitch as usize] = tick + len + 20;
            let velocity = 1 + (rng.next() % 127) as u8;
            notes.push(Note {
                pitch,
                velocity,
                start: tick as f64 / 480.0,
                end: (tick + len) as f64 / 480.0,
            });
        }
        sort_notes(&mut notes);
        let bytes = write_midi(&Score::new(notes.clone(), 100.0)).unwrap();
        let read = read_midi(&bytes).unwrap();

        let tokens = encode(&read.notes, &vocab);
        let origin = (notes[0].start / step).round() * step;
        let back = decode(&tokens, &vocab, origin);
        let back = read_midi(&write_midi(&Score::new(back, 100.0)).unwrap()).unwrap();

        assert_eq!(back.notes.len(), notes.len());
        let mut unmatched = back.notes.clone();
        for n in &notes {
            let i = unmatched
                .iter()
                .position(|b| {
                    b.pitch == n.pitch
                        && (b.start - n.start).abs() <= step + 1e-9
                        && (b.end - n.end).abs() <= step + 1e-9
                        && vocab.velocity_bin(b.velocity) == vocab.velocity_bin(n.velocity)
                })
                .unwrap_or_else(|| panic!("note {n:?} lost or moved more than one step"));
            unmatched.swap_remove(i);
        }
    }

    #[test]
    fn a_phrase_before_beat_zero_keeps_its_rhythm() {
        let v = Vocab::default();
        let notes = |offset: f64| -> Vec<Note> {
            (0..4)
                .map(|i| Note {
                    pitch: 60 + i,
                    velocity: 80,
                    start: offset + f64::from(i) * 0.5,
                    end: offset + f64::from(i) * 0.5 + 0.25,
                })
                .collect()
        };
        // A count-in phrase at beats -4..-2 encodes as the same phrase at 0..2.
        assert_eq!(encode(&notes(-4.0), &v), encode(&notes(0.0), &v));
    }

    #[test]
    fn chord_is_one_instant_and_velocity_is_shared() {
        let vocab = Vocab::default();
        let n = |pitch, start, end| Note {
            pitch,
            velocity: 100,
            start,
            end,
        };
        let tokens = encode(&[n(60, 0.0, 1.0), n(64, 0.0, 1.0), n(67, 0.0, 2.0)], &vocab);
        let b = vocab.velocity_bin(100);
        assert_eq!(
            tokens,
            vec![
                Token::Velocity(b),
                Token::NoteOn(60),
                Token::NoteOn(64),
                Token::NoteOn(67),
                Token::TimeShift(24),
                Token::NoteOff(60),
                Token::NoteOff(64),
                Token::TimeShift(24),
                Token::NoteOff(67),
            ]
        );
    }

    #[test]
    fn long_rests_split_into_max_shifts_and_tiny_notes_last_one_step() {
        let vocab = Vocab::default();
        let n = |start, end| Note {
            pitch: 60,
            velocity: 64,
            start,
            end,
        };
        let tokens = encode(&[n(0.0, 0.001), n(5.0, 5.5)], &vocab);
        let shifts: Vec<_> = tokens
            .iter()
            .filter(|t| matches!(t, Token::TimeShift(_)))
            .collect();
        // 1 step for the tiny note, then 119 steps = 48 + 48 + 23, then 12 steps.
        assert_eq!(
            shifts,
            vec![
                &Token::TimeShift(1),
                &Token::TimeShift(48),
                &Token::TimeShift(48),
                &Token::TimeShift(23),
                &Token::TimeShift(12)
            ]
        );
    }

    #[test]
    fn overlapping_same_pitch_is_cut_at_restrike() {
        let vocab = Vocab::default();
        let n = |start, end| Note {
            pitch: 60,
            velocity: 64,
            start,
            end,
        };
        let back = decode(&encode(&[n(0.0, 2.0), n(1.0, 1.5)], &vocab), &vocab, 0.0);
        assert_eq!(back.len(), 2);
        assert_eq!((back[0].start, back[0].end), (0.0, 1.0));
        assert_eq!((back[1].start, back[1].end), (1.0, 1.5));
    }

    #[test]
    fn decoder_ignores_offs_of_silent_pitches() {
        let vocab = Vocab::default();
        let mut d = Decoder::new(vocab);
        let mut evs = Vec::new();
        d.feed(Token::NoteOff(60), |e| evs.push(e));
        assert!(evs.is_empty());
        d.feed(Token::NoteOn(60), |e| evs.push(e));
        d.feed(Token::NoteOn(60), |e| evs.push(e));
        assert_eq!(evs.len(), 3);
        assert_eq!(d.num_sounding(), 1);
    }
}
