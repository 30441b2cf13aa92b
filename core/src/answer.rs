//! One answer to a phrase: what the model reads, where the answer starts, and the notes it
//! plays, in beats. The plugin's inference thread, the demo, `trainer generate` and
//! `trainer check` all answer through [`Continuation`], so the check measures exactly what a
//! player hears.

use crate::constraints::Constraints;
use crate::generator::Generator;
use crate::grid::{step_of, Meter};
use crate::memory::Memory;
use crate::midi::{sort_notes, Note, Score};
use crate::runtime::RuntimeError;
use crate::sampling::Sampling;
use crate::tokens::{encode, push_time_shift, NoteCollector, NoteEvent};
use crate::vocab::{Token, Vocab};

/// Tokens of context the model reads before answering: the phrase and, before it, as much of
/// the recent exchange (earlier phrases and answers) as fits. Bounded so that priming stays
/// well inside the time between a phrase's end and its answer.
pub const MAX_CONTEXT_TOKENS: usize = 512;
/// A pause this long between an answer and the next phrase starts a new conversation.
pub const CONVERSATION_GAP_BEATS: f64 = 8.0;

/// The exchange so far (phrases and answers as heard, in beats, oldest first): the context of
/// the next answer.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Conversation {
    notes: Vec<Note>,
}

impl Conversation {
    pub fn notes(&self) -> &[Note] {
        &self.notes
    }

    pub fn clear(&mut self) {
        self.notes.clear();
    }

    /// The player's `phrase` joins the conversation — or starts a new one after a long pause —
    /// and the oldest notes go where the whole would not fit [`MAX_CONTEXT_TOKENS`]. Returns
    /// the context of the phrase's answer.
    pub fn add_phrase(&mut self, phrase: impl IntoIterator<Item = Note>, vocab: &Vocab) -> &[Note] {
        let phrase: Vec<Note> = phrase.into_iter().collect();
        let last_end = self.notes.iter().map(|n| n.end).fold(f64::MIN, f64::max);
        let first_start = phrase.iter().map(|n| n.start).fold(f64::MAX, f64::min);
        if first_start - last_end > CONVERSATION_GAP_BEATS {
            self.notes.clear();
        }
        self.notes.extend(phrase);
        sort_notes(&mut self.notes);
        // The fewest oldest notes to drop, found by bisection: the token count falls as notes go.
        let notes = &self.notes;
        let fits = |k: usize| encode(&notes[k..], vocab).len() <= MAX_CONTEXT_TOKENS;
        let (mut lo, mut hi) = (0, notes.len().saturating_sub(1));
        if !fits(lo) {
            while hi - lo > 1 {
                let mid = (lo + hi) / 2;
                if fits(mid) {
                    hi = mid;
                } else {
                    lo = mid;
                }
            }
            self.notes.drain(..hi);
        }
        &self.notes
    }

    /// A note of the answer, heard to its end.
    pub fn heard(&mut self, note: Note) {
        self.notes.push(note);
    }

    /// Nothing from `beat` on was heard (the player took over, or the transport moved).
    pub fn cut(&mut self, beat: f64) {
        self.notes.retain(|n| began_before(n, beat));
        for n in &mut self.notes {
            n.end = n.end.min(beat);
        }
    }
}

/// Whether `note` began before `beat`, where an answer was cut. A cut falls on a sample, and
/// beats from samples carry rounding (far below a grid step): a note due at the cut's own
/// beat was never heard, since the event that cuts the answer stops it first.
pub fn began_before(note: &Note, beat: f64) -> bool {
    note.start < beat - 1e-6
}

/// A note event of an answer, in beats on the context's timeline.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AnswerEvent {
    pub beat: f64,
    pub pitch: u8,
    /// 0 ends the note.
    pub velocity: u8,
    /// The note this event ends, if it ends one.
    pub ended: Option<Note>,
}

/// Context notes as tokens, and the grid steps the tokens start and end on.
struct Context {
    tokens: Vec<Token>,
    first: i64,
    end: i64,
}

impl Context {
    fn of(notes: &[Note], vocab: &Vocab) -> Self {
        let tokens = encode(notes, vocab);
        let first = notes
            .iter()
            .map(|n| step_of(n.start, vocab))
            .min()
            .unwrap_or(0);
        let steps: u64 = tokens
            .iter()
            .map(|t| match t {
                Token::TimeShift(n) => u64::from(*n),
                _ => 0,
            })
            .sum();
        Self {
            tokens,
            first,
            end: first + steps as i64,
        }
    }
}

/// An answer being generated: where it starts, how long it is, and the notes it has begun.
#[derive(Debug, Clone)]
pub struct Continuation {
    start_beat: f64,
    length_steps: u64,
    step_beats: f64,
    collector: NoteCollector,
    finished: bool,
}

impl Continuation {
    /// Has the model read `context` now, ahead of an answer to it (see
    /// [`Generator::prepare`]); the answer then reads only the rest before its start.
    pub fn prepare(
        generator: &mut Generator,
        context: &[Note],
        meter: &Meter,
    ) -> Result<(), RuntimeError> {
        let vocab = generator.model().meta().vocab;
        let c = Context::of(context, &vocab);
        generator.prepare(&c.tokens, c.first, meter)
    }

    /// Primes `generator` with `context` and the rest from its last event to `start_beat`
    /// (`None`: right after that event), on `meter`'s grid, for an answer `length_beats` long.
    /// The answer's first step lands on `start_beat`, so it keeps the phrase's grid phase.
    pub fn start(
        generator: &mut Generator,
        context: &[Note],
        meter: &Meter,
        start_beat: Option<f64>,
        length_beats: f64,
    ) -> Result<Self, RuntimeError> {
        let vocab = generator.model().meta().vocab;
        let c = Context::of(context, &vocab);
        let step_beats = vocab.step_beats();
        let start_beat = start_beat.unwrap_or(c.end as f64 * step_beats);
        let mut rest = Vec::new();
        let gap = (step_of(start_beat, &vocab) - c.end).max(0);
        push_time_shift(&mut rest, gap as u64, &vocab);
        generator.prime_after(&c.tokens, &rest, c.first, meter)?;
        Ok(Self {
            start_beat,
            length_steps: (length_beats / step_beats).round().max(0.0) as u64,
            step_beats,
            collector: NoteCollector::default(),
            finished: false,
        })
    }

    /// Where the answer starts, on the grid.
    pub fn start_beat(&self) -> f64 {
        self.start_beat
    }

    pub fn end_beat(&self) -> f64 {
        self.start_beat + self.length_steps as f64 * self.step_beats
    }

    /// The answer is complete and every note it began has ended.
    pub fn is_finished(&self) -> bool {
        self.finished
    }

    /// The beat generation has reached.
    pub fn generated_through(&self, generator: &Generator) -> f64 {
        if self.finished {
            return f64::INFINITY;
        }
        self.beat(generator.step_count())
    }

    fn beat(&self, step: u64) -> f64 {
        self.start_beat + step as f64 * self.step_beats
    }

    /// Generates until `horizon` (beats) or the answer's end, at most `max_tokens` tokens,
    /// and reports each note event. Returns whether it generated anything. When the answer
    /// ends (its length reached, nothing allowed, or the model failed) the notes still
    /// sounding end on its last step; a failure is returned after that.
    #[allow(clippy::too_many_arguments)]
    pub fn generate(
        &mut self,
        generator: &mut Generator,
        horizon: f64,
        max_tokens: usize,
        constraints: &Constraints,
        sampling: &Sampling,
        emit: impl FnMut(AnswerEvent),
    ) -> Result<bool, RuntimeError> {
        let limits = (horizon, max_tokens);
        self.generate_recalling(generator, limits, constraints, sampling, None, emit)
    }

    /// [`Self::generate`] with `memory`'s predictions mixed into the model's, `weight`
    /// (0..1) of the way at most (see [`Generator::step_with_memory`]).
    #[allow(clippy::too_many_arguments)]
    pub fn generate_with_memory(
        &mut self,
        generator: &mut Generator,
        horizon: f64,
        max_tokens: usize,
        constraints: &Constraints,
        sampling: &Sampling,
        memory: &mut Memory,
        weight: f32,
        emit: impl FnMut(AnswerEvent),
    ) -> Result<bool, RuntimeError> {
        let limits = (horizon, max_tokens);
        let memory = Some((memory, weight));
        self.generate_recalling(generator, limits, constraints, sampling, memory, emit)
    }

    /// Generates until `limits`: (horizon in beats, most tokens).
    fn generate_recalling(
        &mut self,
        generator: &mut Generator,
        (horizon, max_tokens): (f64, usize),
        constraints: &Constraints,
        sampling: &Sampling,
        mut memory: Option<(&mut Memory, f32)>,
        mut emit: impl FnMut(AnswerEvent),
    ) -> Result<bool, RuntimeError> {
        if self.finished {
            return Ok(false);
        }
        let constraints = Constraints {
            end_step: Some(self.length_steps),
            ..*constraints
        };
        let (start, step_beats) = (self.start_beat, self.step_beats);
        let collector = &mut self.collector;
        let mut send = |ev: NoteEvent| {
            let to_beat = |step: u64| start + step as f64 * step_beats;
            let (pitch, velocity, step) = match ev {
                NoteEvent::On {
                    pitch,
                    velocity,
                    step,
                } => (pitch, velocity, step),
                NoteEvent::Off { pitch, step } => (pitch, 0, step),
            };
            emit(AnswerEvent {
                beat: to_beat(step),
                pitch,
                velocity,
                ended: collector.push(ev, to_beat),
            });
        };
        let mut worked = false;
        let mut outcome = Ok(());
        let mut tokens = 0;
        while start + generator.step_count() as f64 * step_beats < horizon && tokens < max_tokens {
            worked = true;
            tokens += 1;
            if generator.step_count() >= self.length_steps {
                self.finished = true;
                break;
            }
            let stepped = match &mut memory {
                Some((memory, weight)) => {
                    generator.step_with_memory(&constraints, sampling, memory, *weight, &mut send)
                }
                None => generator.step(&constraints, sampling, &mut send),
            };
            match stepped {
                Ok(Some(_)) => {}
                Ok(None) => {
                    self.finished = true;
                    break;
                }
                Err(e) => {
                    outcome = Err(e);
                    self.finished = true;
                    break;
                }
            }
        }
        if self.finished {
            // The answer is complete: end what still sounds at its last step.
            generator.release_all(&mut send);
        }
        outcome.map(|()| worked)
    }

    /// The answer stops at `beat`: the notes sounding then, ended there. A note that would
    /// have begun at `beat` itself was never heard (the player's note at that sample stops
    /// the answer first), so it is not among them.
    pub fn cancel(&mut self, beat: f64) -> Vec<Note> {
        self.finished = true;
        let (start, step) = (self.start_beat, self.step_beats);
        let mut notes = self.collector.close_all(beat, |s| start + s as f64 * step);
        notes.retain(|n| began_before(n, beat));
        notes
    }
}

/// Continues `prompt` for `beats` beats from `from` (its time base; `None`: right after its
/// last event), as the plugin answers a phrase: the prompt is the conversation, bounded as
/// the plugin bounds it. Returns the answer's notes, sorted.
pub fn continue_score(
    generator: &mut Generator,
    prompt: &Score,
    from: Option<f64>,
    beats: f64,
    constraints: &Constraints,
    sampling: &Sampling,
) -> Result<Vec<Note>, RuntimeError> {
    let vocab = generator.model().meta().vocab;
    // As the plugin does, the memory learns the phrase it answers, before answering it.
    let mut memory = Memory::new();
    if sampling.learn > 0.0 {
        memory.learn(&encode(&from_its_first_note(&prompt.notes), &vocab), &vocab);
    }
    let weight = crate::memory::weight(sampling.learn);
    continue_score_with_memory(
        generator,
        prompt,
        from,
        beats,
        constraints,
        sampling,
        &mut memory,
        weight,
    )
}

/// [`continue_score`] with `memory` (what the plugin has learned of a player) mixed into the
/// model's predictions at `weight` (0..1, [`crate::memory::weight`] of *Learn from me*),
/// in place of the memory of the prompt alone: the answer the plugin plays for the same
/// phrase once it has learned what `memory` holds. With an empty memory, or at weight 0, the
/// network and the steering alone answer.
#[allow(clippy::too_many_arguments)]
pub fn continue_score_with_memory(
    generator: &mut Generator,
    prompt: &Score,
    from: Option<f64>,
    beats: f64,
    constraints: &Constraints,
    sampling: &Sampling,
    memory: &mut Memory,
    weight: f32,
) -> Result<Vec<Note>, RuntimeError> {
    let vocab = generator.model().meta().vocab;
    let mut conversation = Conversation::default();
    let context = conversation.add_phrase(prompt.notes.iter().copied(), &vocab);
    let mut answer = Continuation::start(generator, context, &prompt.meter, from, beats)?;
    let mut notes = Vec::new();
    // Each token either advances time or is bounded per instant by the constraints, so this
    // ends; the token cap guards against a degenerate model.
    let max_tokens = answer.length_steps as usize * 8 + 1024;
    answer.generate_with_memory(
        generator,
        f64::INFINITY,
        max_tokens,
        constraints,
        sampling,
        memory,
        weight,
        |ev| notes.extend(ev.ended),
    )?;
    if !answer.is_finished() {
        notes.extend(answer.cancel(answer.generated_through(generator)));
    }
    sort_notes(&mut notes);
    Ok(notes)
}

/// `notes`, sorted, moved so that the first starts at beat 0: a phrase as the memory learns
/// it (its place in the timeline means nothing to it).
pub fn from_its_first_note(notes: &[Note]) -> Vec<Note> {
    let mut notes = notes.to_vec();
    sort_notes(&mut notes);
    let first = notes.first().map_or(0.0, |n| n.start);
    notes.into_iter().map(|n| n.moved(-first)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn note(pitch: u8, start: f64, end: f64) -> Note {
        Note {
            pitch,
            velocity: 80,
            start,
            end,
        }
    }

    #[test]
    fn the_context_is_the_recent_exchange_within_its_bound() {
        let vocab = Vocab::default();
        let mut conversation = Conversation::default();
        let phrase1: Vec<Note> = (0..4)
            .map(|i| note(60 + i, i as f64, i as f64 + 0.5))
            .collect();
        let c = conversation.add_phrase(phrase1.clone(), &vocab).to_vec();
        assert_eq!(c, phrase1);
        // The answer joins, then the next phrase: all three are the context, in time order.
        conversation.heard(note(72, 5.0, 6.0));
        let c = conversation
            .add_phrase([note(65, 8.0, 9.0)], &vocab)
            .to_vec();
        assert_eq!(c.len(), 6);
        assert_eq!((c[4].pitch, c[5].pitch), (72, 65));

        // A long pause starts a new conversation.
        let phrase3 = vec![note(50, 30.0, 31.0)];
        let c = conversation.add_phrase(phrase3.clone(), &vocab).to_vec();
        assert_eq!(c, phrase3);

        // However long the exchange, the context keeps its most recent part within the bound.
        let long: Vec<Note> = (0..2000)
            .map(|i| note(40 + (i % 40) as u8, i as f64 * 0.25, i as f64 * 0.25 + 0.2))
            .collect();
        let c = conversation.add_phrase(long.clone(), &vocab).to_vec();
        let tokens = encode(&c, &vocab).len();
        assert!(tokens <= MAX_CONTEXT_TOKENS, "{tokens}");
        assert!(
            tokens > MAX_CONTEXT_TOKENS / 2,
            "{tokens}: dropped too much"
        );
        assert_eq!(c.last(), long.last(), "the newest note stays");
    }

    #[test]
    fn a_cut_forgets_what_was_not_heard() {
        let mut conversation = Conversation::default();
        conversation.heard(note(60, 0.0, 2.0));
        conversation.heard(note(62, 1.0, 1.5));
        conversation.heard(note(64, 3.0, 4.0));
        conversation.cut(1.25);
        assert_eq!(
            conversation.notes(),
            &[note(60, 0.0, 1.25), note(62, 1.0, 1.25)]
        );
    }

    #[test]
    fn the_context_ends_on_its_last_event() {
        let vocab = Vocab::default();
        let c = Context::of(&[note(60, 1.0, 1.5), note(64, 1.25, 3.0)], &vocab);
        assert_eq!((c.first, c.end), (24, 72));
    }
}
