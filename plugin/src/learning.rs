//! What Continuo learns of the player (*Learn from me*): the phrases played, bounded, and the
//! core [`Memory`] built from them for the model that runs. The phrases, not the memory, are
//! what is kept: a model with another vocabulary rebuilds its memory from them, and they are
//! what a project saves.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use continuo_core::memory::{Memory, MemoryStats};
use continuo_core::midi::Note;
use continuo_core::tokens::encode;
use continuo_core::Vocab;
use nice_plug::params::persist::PersistentField;
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

/// The most notes kept. A memory holds about two entries per note, so this fills most of
/// [`continuo_core::memory::CAPACITY`] (8192 entries): minutes of a player's phrases, which
/// is what the memory recalls figures from, and bounded however long a session runs.
pub const MAX_NOTES: usize = 3000;

/// Ticks per beat of a saved note: whole numbers read back exactly, and the model's grid
/// (24 steps a beat) divides it.
pub const TICKS_PER_BEAT: f64 = 960.0;

/// One learned note, as a project saves it (ticks from the phrase's first note).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SavedNote {
    pub start: i64,
    pub end: i64,
    pub pitch: u8,
    pub velocity: u8,
}

/// The learned phrases, oldest first: what a project keeps when *Keep with project* is on.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Learned {
    phrases: VecDeque<Vec<SavedNote>>,
    #[serde(skip)]
    notes: usize,
}

impl Learned {
    /// Adds a phrase (its notes moved to start at 0), and lets the oldest go while more
    /// than [`MAX_NOTES`] are kept. Returns the phrase as kept, or None for an empty one.
    pub fn push(&mut self, phrase: &[Note]) -> Option<&[SavedNote]> {
        let mut notes = phrase.to_vec();
        notes.sort_by(|a, b| a.start.total_cmp(&b.start));
        // A phrase longer than the bound keeps its end, which the answer follows.
        let tail = &notes[notes.len().saturating_sub(MAX_NOTES)..];
        let first = tail.first()?.start;
        let kept: Vec<SavedNote> = tail
            .iter()
            .map(|n| SavedNote {
                start: ((n.start - first) * TICKS_PER_BEAT).round() as i64,
                end: ((n.end - first) * TICKS_PER_BEAT).round() as i64,
                pitch: n.pitch,
                velocity: n.velocity,
            })
            .collect();
        self.notes += kept.len();
        self.phrases.push_back(kept);
        while self.notes > MAX_NOTES {
            let oldest = self.phrases.pop_front().expect("notes are in phrases");
            self.notes -= oldest.len();
        }
        self.phrases.back().map(Vec::as_slice)
    }

    pub fn clear(&mut self) {
        self.phrases.clear();
        self.notes = 0;
    }

    pub fn phrases(&self) -> impl Iterator<Item = &[SavedNote]> {
        self.phrases.iter().map(Vec::as_slice)
    }

    pub fn notes(&self) -> usize {
        self.notes
    }

    /// As read back from a project: counted again, and trimmed to the bound in case the
    /// file was made by hand.
    pub fn restored(mut self) -> Self {
        self.notes = self.phrases.iter().map(Vec::len).sum();
        while self.notes > MAX_NOTES {
            let oldest = self.phrases.pop_front().expect("notes are in phrases");
            self.notes -= oldest.len();
        }
        self
    }
}

/// The learned phrases and the memory of them for one vocabulary.
#[derive(Debug, Clone, Default)]
pub struct Learning {
    learned: Learned,
    memory: Memory,
    /// The vocabulary the memory was built for (None: not built yet).
    vocab: Option<Vocab>,
}

impl Learning {
    /// Learns a phrase the player played; `vocab` is the running model's.
    pub fn learn(&mut self, phrase: &[Note], vocab: &Vocab) {
        self.memory_for(vocab);
        let before = self.learned.phrases.len();
        let Some(kept) = self.learned.push(phrase) else {
            return;
        };
        let tokens = encode(&to_notes(kept), vocab);
        self.memory.learn(&tokens, vocab);
        // The memory lets its oldest entries go by its own bound; when the phrases let theirs
        // go first, the two would disagree about what is learned, so the memory follows.
        if self.learned.phrases.len() < before + 1 {
            self.rebuild(vocab);
        }
    }

    /// Forgets everything learned.
    pub fn forget(&mut self) {
        self.learned.clear();
        self.memory.forget();
    }

    /// Replaces what is learned with `learned` (a project's).
    pub fn restore(&mut self, learned: Learned) {
        self.learned = learned.restored();
        self.vocab = None;
    }

    pub fn learned(&self) -> &Learned {
        &self.learned
    }

    /// Phrases and notes learned, as the window shows them.
    pub fn stats(&self) -> MemoryStats {
        MemoryStats {
            phrases: self.learned.phrases.len() as u32,
            notes: self.learned.notes as u32,
        }
    }

    /// The memory, built for `vocab` (rebuilt from the phrases when the model's vocabulary
    /// is not the one it was built for).
    pub fn memory_for(&mut self, vocab: &Vocab) -> &mut Memory {
        if self.vocab.as_ref() != Some(vocab) {
            self.rebuild(vocab);
        }
        &mut self.memory
    }

    fn rebuild(&mut self, vocab: &Vocab) {
        self.memory.forget();
        for phrase in self.learned.phrases() {
            self.memory.learn(&encode(&to_notes(phrase), vocab), vocab);
        }
        self.vocab = Some(*vocab);
    }
}

/// What a project saves of the learning, shared by the parameters (which save and restore
/// it) and the inference thread (which learns). The thread publishes its phrases here, or
/// nothing when *Keep with project* is off; a restore raises a flag the thread takes them
/// back by.
#[derive(Debug, Default)]
pub struct LearnedField {
    saved: Mutex<Learned>,
    restored: AtomicBool,
}

impl LearnedField {
    /// What a project will save from now on.
    pub fn publish(&self, learned: Option<&Learned>) {
        let mut saved = self.saved.lock();
        match learned {
            Some(l) if *l != *saved => *saved = l.clone(),
            Some(_) => {}
            None => saved.clear(),
        }
    }

    /// What a project restored, once.
    pub fn take_restored(&self) -> Option<Learned> {
        self.restored
            .swap(false, Ordering::AcqRel)
            .then(|| self.saved.lock().clone())
    }
}

impl<'a> PersistentField<'a, Learned> for Arc<LearnedField> {
    fn set(&self, restored: Learned) {
        *self.saved.lock() = restored.restored();
        self.restored.store(true, Ordering::Release);
    }

    fn map<F, R>(&self, f: F) -> R
    where
        F: Fn(&Learned) -> R,
    {
        f(&self.saved.lock())
    }
}

fn to_notes(saved: &[SavedNote]) -> Vec<Note> {
    saved
        .iter()
        .map(|n| Note {
            pitch: n.pitch,
            velocity: n.velocity,
            start: n.start as f64 / TICKS_PER_BEAT,
            end: n.end as f64 / TICKS_PER_BEAT,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use continuo_core::memory::CAPACITY;

    /// A phrase of `n` 8th notes from `beat`, rising from `pitch`.
    fn phrase(beat: f64, pitch: u8, n: usize) -> Vec<Note> {
        (0..n)
            .map(|i| Note {
                pitch: pitch + (i % 12) as u8,
                velocity: 80,
                start: beat + i as f64 * 0.5,
                end: beat + i as f64 * 0.5 + 0.4,
            })
            .collect()
    }

    #[test]
    fn an_hour_of_playing_stays_within_its_bounds() {
        // Phrases of 8 notes with a bar's pause, at 120 bpm, for an hour on a virtual clock.
        let vocab = Vocab::default();
        let mut learning = Learning::default();
        let beats_per_hour = 120.0 * 60.0;
        let mut beat = 0.0;
        let mut phrases = 0;
        while beat < beats_per_hour {
            learning.learn(&phrase(beat, 48 + (phrases % 24) as u8, 8), &vocab);
            phrases += 1;
            beat += 8.0;
            assert!(learning.learned().notes() <= MAX_NOTES);
            assert!(learning.memory_for(&vocab).len() <= CAPACITY);
        }
        assert_eq!(phrases, 900);
        let stats = learning.stats();
        assert_eq!(stats.notes as usize, learning.learned().notes());
        assert_eq!(stats.phrases as usize * 8, MAX_NOTES / 8 * 8);
        // What the memory holds is what the kept phrases hold.
        assert_eq!(learning.memory_for(&vocab).stats().phrases, stats.phrases);
    }

    #[test]
    fn phrases_are_kept_from_their_first_note_and_forgotten_on_request() {
        let vocab = Vocab::default();
        let mut learning = Learning::default();
        learning.learn(&phrase(100.25, 60, 4), &vocab);
        learning.learn(&[], &vocab);
        assert_eq!(
            learning.stats(),
            MemoryStats {
                phrases: 1,
                notes: 4
            }
        );
        let first = learning.learned().phrases().next().unwrap()[0];
        assert_eq!((first.start, first.end, first.pitch), (0, 384, 60));
        learning.forget();
        assert_eq!(learning.stats(), MemoryStats::default());
        assert!(learning.memory_for(&vocab).is_empty());
    }

    #[test]
    fn a_project_restores_what_was_learned_and_rebuilds_the_memory() {
        let vocab = Vocab::default();
        let mut learning = Learning::default();
        learning.learn(&phrase(0.0, 60, 6), &vocab);
        learning.learn(&phrase(8.0, 62, 6), &vocab);
        let saved = serde_json::to_string(learning.learned()).unwrap();
        let mut reopened = Learning::default();
        reopened.restore(serde_json::from_str(&saved).unwrap());
        assert_eq!(reopened.learned(), learning.learned());
        assert_eq!(reopened.stats(), learning.stats());
        assert_eq!(
            reopened.memory_for(&vocab).stats(),
            learning.memory_for(&vocab).stats()
        );
    }

    #[test]
    fn a_project_saves_what_is_published_and_hands_back_what_it_restores() {
        let field = Arc::new(LearnedField::default());
        let mut learned = Learned::default();
        learned.push(&phrase(0.0, 60, 3));
        field.publish(Some(&learned));
        let saved = field.map(|l| serde_json::to_string(l).unwrap());
        assert_eq!(field.take_restored(), None, "publishing is no restore");
        field.publish(None);
        assert_eq!(field.map(Learned::notes), 0, "kept out of the project");
        field.set(serde_json::from_str(&saved).unwrap());
        assert_eq!(field.take_restored(), Some(learned));
        assert_eq!(field.take_restored(), None, "handed back once");
    }

    #[test]
    fn a_phrase_longer_than_the_bound_keeps_its_end() {
        let mut learned = Learned::default();
        let kept = learned.push(&phrase(0.0, 40, MAX_NOTES + 10)).unwrap();
        assert_eq!(kept.len(), MAX_NOTES);
        assert_eq!(kept[0].start, 0);
        assert_eq!(learned.notes(), MAX_NOTES);
    }
}
