//! The phrase's figures, taken up again by the answer.

use super::Guide;

/// The phrase's figures: the pitch that would go on as the phrase went on after the same two
/// intervals. Real continuations take up the phrase's three-note shapes (about one in five
/// of their top line's), a model on its own hardly ever (one in twenty-five): the figure is
/// what makes an answer an answer. Intervals, not pitches, so a figure moved to another
/// step of the scale still counts; chords count too, as the phrase strikes them upward.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Figures {
    /// The phrase's note-ons in order (a chord's upward), the latest [`Guide::NOTES`].
    phrase: [u8; Guide::NOTES],
    pub(super) len: usize,
    /// The two latest pitches struck, the phrase's until the answer has its own.
    last: [u8; 2],
}

impl Default for Figures {
    fn default() -> Self {
        Self {
            phrase: [0; Guide::NOTES],
            len: 0,
            last: [0; 2],
        }
    }
}

impl Figures {
    /// Nats on a pitch that goes on as a figure of the phrase went on. Weaker pulls (1.5–4)
    /// hardly moved how often answers take up the phrase's figures.
    pub(super) const PULL: f32 = 6.0;

    /// From the pitches of the context's note-ons, oldest first.
    pub fn from_pitches(pitches: &[u8]) -> Self {
        let recent = &pitches[pitches.len().saturating_sub(Guide::NOTES)..];
        let mut f = Self::default();
        f.phrase[..recent.len()].copy_from_slice(recent);
        f.len = recent.len();
        if let [.., a, b] = recent {
            f.last = [*a, *b];
        }
        f
    }

    /// Adds `pull` to the note-on logits (indexed by pitch) of every pitch that continues a
    /// figure of the phrase after the two latest pitches, where `in_register` allows: a
    /// rising sequence taken up again and again would climb out of the phrase's hands.
    pub(super) fn apply(&self, note_ons: &mut [f32], pull: f32, in_register: impl Fn(u8) -> bool) {
        if self.len < 4 || pull == 0.0 {
            return;
        }
        let [a, b] = self.last.map(i32::from);
        let mut seen = 0u128;
        for w in self.phrase[..self.len].windows(3) {
            let [x, y, z] = [w[0], w[1], w[2]].map(i32::from);
            let next = b + z - y;
            if y - x == b - a
                && (0..128).contains(&next)
                && seen & (1 << next) == 0
                && in_register(next as u8)
            {
                seen |= 1 << next;
                note_ons[next as usize] += pull;
            }
        }
    }

    /// The answer struck `pitch`.
    pub fn strike(&mut self, pitch: u8) {
        self.last = [self.last[1], pitch];
    }
}
