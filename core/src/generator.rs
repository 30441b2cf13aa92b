//! Continuing a token stream with a model, one token at a time, on the grid.

use crate::constraints::Constraints;
use crate::follow::Follow;
use crate::grid::{Meter, Position, Tracker};
use crate::memory::{History, Memory};
use crate::runtime::{Model, RuntimeError};
use crate::sampling::{sample, Rng, Sampling};
use crate::tokens::{push_time_shift, to_ids, Decoder, NoteEvent};
use crate::vocab::Token;

/// What the model read ahead of time ([`Generator::prepare`]), and its state and logits after.
struct Prepared {
    ids: Vec<u32>,
    start: i64,
    meter: Meter,
    grid: Tracker,
    history: History,
    state: Vec<f32>,
    logits: Vec<f32>,
}

/// A model, the answer's decoded notes, its random draws and what it follows of the phrase:
/// what [`crate::answer::Continuation`] steps token by token.
pub struct Generator {
    model: Model,
    decoder: Decoder,
    rng: Rng,
    /// Token fed last; its logits are in the model's buffer.
    primed: bool,
    /// A context read ahead of time ([`Self::prepare`]).
    prepared: Option<Prepared>,
    follow: Follow,
    /// The meter the stream is played in, and where the stream is on it.
    meter: Meter,
    grid: Tracker,
    /// The latest of what the model read, as a [`Memory`] matches it.
    history: History,
}

impl Generator {
    pub fn new(model: Model, seed: u64) -> Self {
        let decoder = Decoder::new(model.meta().vocab);
        Self {
            model,
            decoder,
            rng: Rng::new(seed),
            primed: false,
            prepared: None,
            follow: Follow::default(),
            meter: Meter::default(),
            grid: Tracker::default(),
            history: History::default(),
        }
    }

    pub fn model(&self) -> &Model {
        &self.model
    }

    pub fn reseed(&mut self, seed: u64) {
        self.rng = Rng::new(seed);
    }

    /// Starts a new continuation: forgets state, then reads `BOS` and `context`, which starts
    /// at grid step `start` of `meter`. Decoded time restarts at step 0 after the context.
    pub fn prime(
        &mut self,
        context: &[Token],
        start: i64,
        meter: &Meter,
    ) -> Result<(), RuntimeError> {
        self.prime_after(context, &[], start, meter)
    }

    /// Reads `BOS` and `context` now, ahead of an answer whose context will start with it, so
    /// that [`Self::prime_after`] then reads only what follows. The plugin does this while
    /// the player's phrase falls silent, which takes the phrase off the time between the
    /// phrase's end and the answer's first note.
    pub fn prepare(
        &mut self,
        context: &[Token],
        start: i64,
        meter: &Meter,
    ) -> Result<(), RuntimeError> {
        let ids = self.ids(context);
        if self
            .prepared
            .as_ref()
            .is_some_and(|p| p.ids == ids && p.start == start && p.meter == *meter)
        {
            return Ok(());
        }
        self.prepared = None;
        // The model's state is the continuation's no more.
        self.primed = false;
        self.read_from_bos(&ids, start, meter)?;
        let (state, logits) = self.model.snapshot();
        self.prepared = Some(Prepared {
            ids,
            start,
            meter: meter.clone(),
            grid: self.grid,
            history: self.history,
            state,
            logits,
        });
        Ok(())
    }

    /// [`Self::prime`] with the context in two parts: `context`, which may have been
    /// [prepared](Self::prepare), and `then` (the rest before the answer). The model reads
    /// the two parts in two runs whether or not the first was prepared, so the answer is the
    /// same either way.
    pub fn prime_after(
        &mut self,
        context: &[Token],
        then: &[Token],
        start: i64,
        meter: &Meter,
    ) -> Result<(), RuntimeError> {
        let vocab = self.model.meta().vocab;
        let ids = self.ids(context);
        // The prepared context stays: an answer drawn ahead and then not asked for (the
        // player played on) is drawn again from it.
        match &self.prepared {
            Some(p) if p.ids == ids && p.start == start && p.meter == *meter => {
                self.model.restore(&p.state, &p.logits);
                self.meter = p.meter.clone();
                self.grid = p.grid;
                self.history = p.history;
            }
            _ => self.read_from_bos(&ids, start, meter)?,
        }
        self.read(&to_ids(then, &vocab))?;
        let mut decoder = Decoder::new(vocab);
        // The context's note-ons as (grid step, pitch), and its notes' lengths.
        let mut notes = Vec::new();
        let mut lengths = Vec::new();
        let mut began = [None; 128];
        let mut phrase_end = 0;
        for (i, &t) in context.iter().chain(then).enumerate() {
            if i == context.len() {
                phrase_end = decoder.step();
            }
            if let Token::NoteOn(p) = t {
                notes.push((decoder.step(), p));
            }
            decoder.feed(t, |ev| match ev {
                NoteEvent::On { pitch, step, .. } => began[usize::from(pitch & 127)] = Some(step),
                NoteEvent::Off { pitch, step } => {
                    if let Some(on) = began[usize::from(pitch & 127)].take() {
                        lengths.push(step.saturating_sub(on));
                    }
                }
            });
        }
        if then.is_empty() {
            phrase_end = decoder.step();
        }
        self.follow = Follow::from_context(
            &notes,
            phrase_end,
            decoder.step(),
            start,
            vocab.steps_per_beat,
            self.meter
                .bar_at(start + decoder.step() as i64, vocab.steps_per_beat),
        )
        .with_lengths(&lengths);
        // Context time is over; what follows counts from zero.
        self.decoder = decoder.rebased();
        self.primed = true;
        Ok(())
    }

    /// Forgets the state and reads `ids` (which start with `BOS`) from grid step `start`.
    fn read_from_bos(
        &mut self,
        ids: &[u32],
        start: i64,
        meter: &Meter,
    ) -> Result<(), RuntimeError> {
        self.model.reset();
        self.history.clear();
        self.meter = meter.clone();
        self.grid = Tracker::new(start);
        self.read(ids)
    }

    /// Has the model read `ids`, each at the grid position it leaves the stream at.
    fn read(&mut self, ids: &[u32]) -> Result<(), RuntimeError> {
        let vocab = self.model.meta().vocab;
        let grid: Vec<Position> = ids
            .iter()
            .map(|&id| {
                let token = vocab.decode(id as usize).unwrap_or(Token::Bos);
                self.history.push(id, &vocab);
                self.grid.advance(token, &self.meter, &vocab)
            })
            .collect();
        self.model.run(ids, &grid)?;
        Ok(())
    }

    /// `BOS` and `context` as model input ids.
    fn ids(&self, context: &[Token]) -> Vec<u32> {
        let vocab = self.model.meta().vocab;
        std::iter::once(Token::Bos)
            .chain(context.iter().copied())
            .map(|t| vocab.encode(t) as u32)
            .collect()
    }

    /// Samples one token under `constraints`, advances the model, and reports the note events
    /// it causes. Returns the token (None if the constraints allow nothing). A note held as
    /// long as the constraints allow is ended instead, with a `NOTE_OFF` the model reads.
    pub fn step(
        &mut self,
        constraints: &Constraints,
        sampling: &Sampling,
        emit: impl FnMut(NoteEvent),
    ) -> Result<Option<Token>, RuntimeError> {
        self.step_recalling(constraints, sampling, None, emit)
    }

    /// [`Self::step`] with `memory`'s prediction mixed into the model's, `weight` (0..1) of
    /// the way at most ([`Memory::apply`]); at weight 0 the token is the one
    /// [`Self::step`] draws.
    pub fn step_with_memory(
        &mut self,
        constraints: &Constraints,
        sampling: &Sampling,
        memory: &mut Memory,
        weight: f32,
        emit: impl FnMut(NoteEvent),
    ) -> Result<Option<Token>, RuntimeError> {
        self.step_recalling(constraints, sampling, Some((memory, weight)), emit)
    }

    fn step_recalling(
        &mut self,
        constraints: &Constraints,
        sampling: &Sampling,
        memory: Option<(&mut Memory, f32)>,
        emit: impl FnMut(NoteEvent),
    ) -> Result<Option<Token>, RuntimeError> {
        if !self.primed {
            self.prime(&[], 0, &Meter::default())?;
        }
        let vocab = self.model.meta().vocab;
        if let Some(pitch) = constraints.overdue(&self.decoder) {
            // The model held this note too long: end it, and let the model hear that it did.
            let token = Token::NoteOff(pitch);
            self.follow.end(pitch, self.decoder.step());
            self.decoder.feed(token, emit);
            self.read(&[vocab.encode(token) as u32])?;
            return Ok(Some(token));
        }
        let step = self.decoder.step();
        let logits = self.model.logits_mut();
        // The memory is a second model of what comes next; steering toward the phrase then
        // applies to what the two predict together.
        if let Some((memory, weight)) = memory {
            memory.apply(logits, &self.history, &vocab, weight);
        }
        self.follow.apply(logits, &vocab, step, sampling);
        let decoder = &self.decoder;
        let Some(id) = sample(logits, sampling, &mut self.rng, |i| {
            constraints.allows_id(&vocab, i, decoder)
        }) else {
            return Ok(None);
        };
        let token = vocab.decode(id).expect("sampled id is in the vocabulary");
        match token {
            Token::NoteOn(p) => self.follow.strike(p, step),
            Token::NoteOff(p) => self.follow.end(p, step),
            _ => {}
        }
        self.decoder.feed(token, emit);
        self.read(&[id as u32])?;
        Ok(Some(token))
    }

    /// Time passes to grid step `step` in silence, without a draw: the model reads the rest
    /// as played. Nothing if `step` is not ahead.
    pub fn rest_until(&mut self, step: u64) -> Result<(), RuntimeError> {
        let vocab = self.model.meta().vocab;
        let mut rest = Vec::new();
        push_time_shift(&mut rest, step.saturating_sub(self.decoder.step()), &vocab);
        for &t in &rest {
            self.decoder.feed(t, |_| {});
        }
        self.read(&to_ids(&rest, &vocab))
    }

    /// Time generated so far, in grid steps.
    pub fn step_count(&self) -> u64 {
        self.decoder.step()
    }

    /// Ends all generated notes still sounding.
    pub fn release_all(&mut self, emit: impl FnMut(NoteEvent)) {
        self.decoder.release_all(emit);
    }
}
