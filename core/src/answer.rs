//! One answer to a phrase: what the model reads, where the answer starts, and the notes it
//! plays, in beats. The plugin's inference thread, the demo, `trainer generate` and
//! `trainer check` all answer through [`Continuation`], so the check measures exactly what a
//! player hears.

use crate::constraints::Constraints;
use crate::generator::Generator;
use crate::grid::{read_on_grid, step_of, Meter};
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
/// How long a pause (all keys up) ends a phrase unless the player sets another: the plugin's
/// *Silence trigger*. Its answer then starts on the next beat.
pub const DEFAULT_SILENCE_BEATS: f64 = 1.0;
/// Of the pause before an answer, the model plays at least this much in its head, unheard:
/// the answer then enters as the phrase would have gone on, not after a rest. The pause is
/// the plugin's silence trigger, not music, but a model that reads it as a rest hears the
/// phrase end: answers to a boogie bass broke into chords in mid-register, and an Alberti
/// bass lost its figure. The lead-in begins on a count (see [`lead_in_steps`]): a rest is
/// read as ending where the music goes on, so one that ended off the beat (an answer
/// starting on a 16th) had the model strike a chord there and carry on a 16th late (block
/// chords' onsets in the beat 0.99 to 0.71).
pub const LEAD_IN_BEATS: f64 = 1.0;
/// The most of a long pause the model plays in its head: a bar of 4/4. Before that, a longer
/// pause is read as the rest it is.
pub const LEAD_IN_MAX_BEATS: f64 = 4.0;
/// The most tokens the lead-in may draw for each beat it lasts; one that would draw more
/// rests from there to the answer's start. Each is drawn before the answer's first note is
/// heard (about 0.3 ms a token for the built-in model on one thread), so this bounds what the
/// lead-in adds to the first note's latency whatever the model does: with the default
/// silence trigger, a beat's worth. A beat of 16th-note chords takes about 25; a beat of
/// 8ths, about 8 (2 ms in the latency bench). A cap of 8 cut the Alberti bass's and the
/// triplets' lead-ins short, and their answers lost their figures; 32 for the whole of a
/// longer lead-in, the 16th chords' and the Alberti bass's, and their notes were held
/// through the rest that followed (note lengths 0.93 to 0.44 two beats late).
pub const LEAD_IN_TOKENS: u32 = 32;
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
        let mut phrase: Vec<Note> = phrase.into_iter().collect();
        read_on_grid(&mut phrase);
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
    lead_in: LeadIn,
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

    /// Primes `generator` with `context`, on `meter`'s grid, for an answer `length_beats` long
    /// heard from `start_beat` (`None`: right after the context's last event). Of the pause
    /// between the two, the last [`LEAD_IN_BEATS`] are played in the model's head and the
    /// rest is read as a rest. The answer's first step lands on `start_beat`, so it keeps the
    /// phrase's grid phase.
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
        let start = step_of(start_beat, &vocab);
        let gap = (start - c.end).max(0) as u64;
        let (lead_in, to_count) = lead_in_steps(c.end, start, meter, &vocab);
        let mut rest = Vec::new();
        push_time_shift(&mut rest, gap - lead_in, &vocab);
        generator.prime_after(&c.tokens, &rest, c.first, meter)?;
        Ok(Self {
            start_beat,
            lead_in: LeadIn::new(lead_in, lead_in + to_count, vocab.steps_per_beat),
            length_steps: lead_in + (length_beats / step_beats).round().max(0.0) as u64,
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
        self.beat(self.length_steps)
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
        self.clock()(step)
    }

    /// The beat of each grid step the generator counts: from the lead-in's first, so the
    /// answer's start is `lead_in` steps in.
    fn clock(&self) -> impl Fn(u64) -> f64 + Copy {
        let (start, lead_in, step_beats) = (self.start_beat, self.lead_in.steps, self.step_beats);
        move |step| start + (step as f64 - lead_in as f64) * step_beats
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
        let to_beat = self.clock();
        let end = self.length_steps;
        let collector = &mut self.collector;
        let mut heard = |ev: NoteEvent| {
            let (pitch, velocity, step, ev) = match ev {
                NoteEvent::On {
                    pitch,
                    velocity,
                    step,
                } => (pitch, velocity, step, ev),
                // A time shift past the end ends the answer's notes on it.
                NoteEvent::Off { pitch, step } => {
                    let step = step.min(end);
                    (pitch, 0, step, NoteEvent::Off { pitch, step })
                }
            };
            emit(AnswerEvent {
                beat: to_beat(step),
                pitch,
                velocity,
                ended: collector.push(ev, to_beat),
            });
        };
        let lead = &mut self.lead_in;
        let mut worked = false;
        let mut outcome = Ok(());
        let mut tokens = 0;
        while to_beat(generator.step_count()) < horizon && tokens < max_tokens {
            worked = true;
            tokens += 1;
            // As soon as time has passed the start, not when the next event comes: a note held
            // from the lead-in must be sent before the playhead reaches it.
            lead.carry(generator.step_count(), &mut heard);
            if lead.spent(generator.step_count()) {
                if let Err(e) = generator.rest_until(lead.steps) {
                    outcome = Err(e);
                    self.finished = true;
                    break;
                }
                continue;
            }
            if generator.step_count() >= self.length_steps {
                self.finished = true;
                break;
            }
            let stepped = match &mut memory {
                Some((memory, weight)) => {
                    let send = |ev| lead.hear(ev, &mut heard);
                    generator.step_with_memory(&constraints, sampling, memory, *weight, send)
                }
                None => generator.step(&constraints, sampling, |ev| lead.hear(ev, &mut heard)),
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
        lead.carry(generator.step_count(), &mut heard);
        if self.finished {
            // The answer is complete: end what still sounds at its last step.
            generator.release_all(|ev| lead.hear(ev, &mut heard));
        }
        outcome.map(|()| worked)
    }

    /// The answer stops at `beat`: the notes sounding then, ended there. A note that would
    /// have begun at `beat` itself was never heard (the player's note at that sample stops
    /// the answer first), so it is not among them.
    pub fn cancel(&mut self, beat: f64) -> Vec<Note> {
        self.finished = true;
        let to_beat = self.clock();
        let mut notes = self.collector.close_all(beat, to_beat);
        notes.retain(|n| began_before(n, beat));
        notes
    }
}

/// The lead-in of an answer starting at grid step `start` after a context ending at step
/// `end`: the steps from where it begins to the start, and from the start to the count the
/// notes it holds over the start are struck on (the first at or after the start). It begins
/// on the last count at least [`LEAD_IN_BEATS`] before the start, or earlier where the rest
/// before it would last a beat or more: a rest that long reads as the phrase's end (a boogie
/// bass answered two beats after its last note broke into chords), a shorter one as a rest
/// in it. Never before `end` (a pause of up to a beat is played in the head whole), nor
/// more than [`LEAD_IN_MAX_BEATS`] before the start.
fn lead_in_steps(end: i64, start: i64, meter: &Meter, vocab: &Vocab) -> (u64, u64) {
    let count_at_or_before = |step: i64| step - since_count(step, meter, vocab).0;
    let count_at_or_after = |step: i64| {
        let (since, count) = since_count(step, meter, vocab);
        step + (count - since) % count
    };
    let last = count_at_or_before(start - step_of(LEAD_IN_BEATS, vocab));
    let within_a_beat = count_at_or_before(end + i64::from(vocab.steps_per_beat) - 1);
    let earliest = count_at_or_after(start - step_of(LEAD_IN_MAX_BEATS, vocab));
    let from = last.min(within_a_beat.max(earliest)).max(end);
    (
        (start - from).max(0) as u64,
        (count_at_or_after(start) - start) as u64,
    )
}

/// Grid steps at `step` since the last count, and the steps a count lasts there. A count is a
/// beat, or an 8th in a meter counted in 8ths (6/8, 3/8): an answer on the pulse keeps a
/// lead-in of one beat.
fn since_count(step: i64, meter: &Meter, vocab: &Vocab) -> (i64, i64) {
    let spb = vocab.steps_per_beat;
    let sig = meter.sig_at(step as f64 / f64::from(spb));
    let count = f64::from(spb) * (4.0 / f64::from(sig.denominator.max(1))).min(1.0);
    let count = (count.round() as i64).max(1);
    let at = meter.position(step, spb);
    let in_bar = i64::from(at.bar_beat) * i64::from(spb) + i64::from(at.phase);
    (in_bar % count, count)
}

/// The part of an answer the model plays before it is heard (see [`LEAD_IN_BEATS`]), and what
/// of it sounds on into the answer.
#[derive(Debug, Clone)]
struct LeadIn {
    /// Grid steps before the answer's start.
    steps: u64,
    /// The grid step its notes sounding on into the answer are struck on: the answer's first
    /// count, so that an answer starting off the beat does not begin with a chord there.
    strike: u64,
    /// The velocity of each note begun in the lead-in and sounding still (0: none).
    unheard: [u8; 128],
    /// Notes heard and not yet ended.
    heard: u128,
    /// The lead-in's notes sounding at the start have been struck there.
    carried: bool,
    /// Tokens drawn in the lead-in so far.
    drawn: u32,
    /// The most it may draw: [`LEAD_IN_TOKENS`] for each beat (begun) it lasts.
    budget: u32,
}

impl LeadIn {
    fn new(steps: u64, strike: u64, steps_per_beat: u32) -> Self {
        let beats = steps.div_ceil(u64::from(steps_per_beat.max(1))).max(1);
        Self {
            budget: LEAD_IN_TOKENS.saturating_mul(beats.min(u64::from(u32::MAX)) as u32),
            steps,
            strike: strike.max(steps),
            unheard: [0; 128],
            heard: 0,
            carried: false,
            drawn: 0,
        }
    }

    /// Whether the lead-in, at grid step `now`, has drawn its last token; counts the token
    /// about to be drawn otherwise.
    fn spent(&mut self, now: u64) -> bool {
        if now >= self.steps {
            return false;
        }
        self.drawn += 1;
        self.drawn > self.budget
    }

    /// Passes `event` on to `out` if it is heard: a note begun in the lead-in is not, nor its
    /// end.
    fn hear(&mut self, event: NoteEvent, mut out: impl FnMut(NoteEvent)) {
        let (pitch, step) = match event {
            NoteEvent::On { pitch, step, .. } => {
                // A note begun at the start comes after the start's note-offs.
                self.carry(step + 1, &mut out);
                (pitch, step)
            }
            NoteEvent::Off { pitch, step } => {
                self.carry(step, &mut out);
                (pitch, step)
            }
        };
        let (i, bit) = (usize::from(pitch & 127), 1u128 << (pitch & 127));
        match event {
            NoteEvent::On { velocity, .. } if step < self.steps => self.unheard[i] = velocity,
            NoteEvent::On { .. } => {
                // Struck again before its count, the lead-in's note is heard from there.
                self.unheard[i] = 0;
                self.heard |= bit;
                out(event);
            }
            NoteEvent::Off { .. } if self.heard & bit != 0 => {
                self.heard &= !bit;
                out(event);
            }
            NoteEvent::Off { .. } => self.unheard[i] = 0,
        }
    }

    /// Once time has passed the answer's first count (`now`, in steps), so that every note
    /// ending there has ended: the notes the lead-in began and still holds are struck there,
    /// so that a chord tied over the start, or struck just before it, is not lost.
    fn carry(&mut self, now: u64, mut out: impl FnMut(NoteEvent)) {
        if self.carried || now <= self.strike {
            return;
        }
        self.carried = true;
        for (pitch, velocity) in (0u8..).zip(&mut self.unheard) {
            if *velocity > 0 {
                self.heard |= 1 << pitch;
                out(NoteEvent::On {
                    pitch,
                    velocity: std::mem::take(velocity),
                    step: self.strike,
                });
            }
        }
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
    // As the plugin does, the memory learns the phrase it answers, before answering it, and
    // as the model reads it.
    let mut memory = Memory::new();
    if sampling.learn > 0.0 {
        let mut phrase = prompt.notes.clone();
        read_on_grid(&mut phrase);
        memory.learn(&encode(&from_its_first_note(&phrase), &vocab), &vocab);
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
    use crate::grid::TimeSig;

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

    fn on(pitch: u8, step: u64) -> NoteEvent {
        NoteEvent::On {
            pitch,
            velocity: 70,
            step,
        }
    }

    fn off(pitch: u8, step: u64) -> NoteEvent {
        NoteEvent::Off { pitch, step }
    }

    /// What a lead-in of 24 steps lets through of `events`, with time passing `now` after
    /// each (`None`: no time passes).
    fn heard_of(events: &[(NoteEvent, Option<u64>)]) -> Vec<NoteEvent> {
        heard_of_striking(24, events)
    }

    /// [`heard_of`], the held notes struck at step `strike`.
    fn heard_of_striking(strike: u64, events: &[(NoteEvent, Option<u64>)]) -> Vec<NoteEvent> {
        let mut lead = LeadIn::new(24, strike, 24);
        let mut out = Vec::new();
        for &(event, now) in events {
            lead.hear(event, |e| out.push(e));
            if let Some(now) = now {
                lead.carry(now, |e| out.push(e));
            }
        }
        out
    }

    #[test]
    fn the_lead_in_is_not_heard() {
        let events = [
            (on(60, 0), None),
            (off(60, 12), Some(12)),
            (on(62, 12), None),
            (off(62, 24), None),
            (on(64, 24), Some(36)),
            (off(64, 36), None),
        ];
        assert_eq!(
            heard_of(&events),
            [on(64, 24), off(64, 36)],
            "a note ended at the start is not struck there"
        );
    }

    #[test]
    fn the_lead_in_draws_at_most_its_tokens() {
        let mut lead = LeadIn::new(24, 24, 24);
        let drawn = (0..100).take_while(|_| !lead.spent(10)).count();
        assert_eq!(drawn, LEAD_IN_TOKENS as usize);
        assert!(!lead.spent(24), "the answer itself is not counted");
        // A lead-in of a beat and a half may draw two beats' worth.
        let mut lead = LeadIn::new(36, 36, 24);
        let drawn = (0..100).take_while(|_| !lead.spent(10)).count();
        assert_eq!(drawn, 2 * LEAD_IN_TOKENS as usize);
    }

    #[test]
    fn the_lead_in_begins_on_a_count() {
        let vocab = Vocab::default();
        let common = Meter::default();
        // The phrase ends at step 190, a 12th before beat 8: a beat's lead-in to beat 9.
        assert_eq!(lead_in_steps(190, 9 * 24, &common, &vocab), (24, 0));
        // Starting a 16th after a beat or before one, the rest before it ends on a beat, and
        // what the lead-in holds over the start is struck on the next.
        assert_eq!(lead_in_steps(190, 9 * 24 + 6, &common, &vocab), (30, 18));
        assert_eq!(lead_in_steps(190, 9 * 24 + 18, &common, &vocab), (42, 6));
        // A longer pause is played from its first beat; one shorter than a beat, whole.
        assert_eq!(lead_in_steps(192, 11 * 24, &common, &vocab), (72, 0));
        assert_eq!(lead_in_steps(190, 11 * 24, &common, &vocab), (72, 0));
        assert_eq!(lead_in_steps(205, 9 * 24, &common, &vocab), (11, 0));
        // A pause longer than a bar is played in the head for a bar.
        assert_eq!(lead_in_steps(190, 20 * 24, &common, &vocab), (96, 0));
        // The host's beats, where its bars run through the middle of beat 0's.
        let shifted = Meter::through(TimeSig::COMMON, 0.5);
        assert_eq!(lead_in_steps(190, 9 * 24 + 12, &shifted, &vocab), (24, 0));
        // In 6/8, counted in 8ths: on the pulse a beat's lead-in, a 16th off it an 8th more.
        let compound = Meter::constant(TimeSig {
            numerator: 6,
            denominator: 8,
        });
        assert_eq!(lead_in_steps(150, 7 * 24 + 12, &compound, &vocab), (24, 0));
        assert_eq!(lead_in_steps(150, 7 * 24 + 18, &compound, &vocab), (30, 6));
    }

    #[test]
    fn an_answer_off_the_beat_strikes_what_the_lead_in_holds_on_its_first_beat() {
        // The answer starts at step 24, its first beat is at 30.
        let events = [
            (on(48, 6), None),
            (on(60, 6), None),
            (on(64, 6), Some(24)),
            (off(64, 27), Some(27)),
            (on(60, 28), None),
            (off(60, 36), Some(36)),
            (off(48, 48), None),
        ];
        assert_eq!(
            heard_of_striking(30, &events),
            [on(60, 28), on(48, 30), off(60, 36), off(48, 48)],
            "one ended before the beat is not struck, one struck again is struck once"
        );
    }

    #[test]
    fn a_note_held_over_the_start_is_struck_there() {
        let events = [
            (on(48, 6), None),
            (on(60, 20), Some(24)),
            (off(48, 24), None),
            (on(67, 24), None),
            (off(60, 30), Some(48)),
            (off(67, 48), None),
        ];
        assert_eq!(
            heard_of(&events),
            [on(60, 24), on(67, 24), off(60, 30), off(67, 48)]
        );
        // Held on while time moves past the start: struck as soon as it has.
        let held = [(on(60, 20), Some(24)), (on(62, 22), Some(30))];
        assert_eq!(heard_of(&held), [on(60, 24), on(62, 24)]);
    }

    #[test]
    fn the_context_ends_on_its_last_event() {
        let vocab = Vocab::default();
        let c = Context::of(&[note(60, 1.0, 1.5), note(64, 1.25, 3.0)], &vocab);
        assert_eq!((c.first, c.end), (24, 72));
    }
}
