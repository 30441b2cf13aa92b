//! The player's side of the conversation: which keys are down, whether the sustain pedal is,
//! and when the phrase fell silent. Pure state, driven by the engine with beats.

/// Keys, pedal and silence of the phrase being played.
#[derive(Debug, Clone)]
pub struct Phrase {
    /// Keys the player holds: per pitch, the channels (bits) it is down on. A key is down or
    /// up, never twice down: a note-on for a key already down (its note-off was lost)
    /// re-strikes it, and its next note-off lets it go, so a lost note-off cannot hold the
    /// phrase open past the key's next press.
    held: [u16; 128],
    held_total: u32,
    /// Channels whose sustain pedal is down: a held pedal is still playing, so the silence
    /// that ends a phrase starts at pedal-up.
    pedals: u16,
    /// Beat at which the last key (or the pedal) came up, while the phrase waits.
    silent_since: Option<f64>,
    /// Notes were played since the last answer was asked for.
    has_notes: bool,
}

impl Default for Phrase {
    fn default() -> Self {
        Self {
            held: [0; 128],
            held_total: 0,
            pedals: 0,
            silent_since: None,
            has_notes: false,
        }
    }
}

impl Phrase {
    pub fn key_down(&mut self, pitch: u8, channel: u8) {
        let (p, bit) = (usize::from(pitch & 127), 1u16 << (channel & 15));
        if self.held[p] & bit == 0 {
            self.held[p] |= bit;
            self.held_total += 1;
        }
        self.has_notes = true;
        self.silent_since = None;
    }

    /// A key came up at `beat`. Returns whether it was down (a duplicated note-off is not).
    pub fn key_up(&mut self, pitch: u8, channel: u8, beat: f64) -> bool {
        let (p, bit) = (usize::from(pitch & 127), 1u16 << (channel & 15));
        if self.held[p] & bit == 0 {
            return false;
        }
        self.held[p] &= !bit;
        self.held_total -= 1;
        self.fall_silent(beat);
        true
    }

    /// The pedal on `channel` moved at `beat`. Returns the new overall state (any channel
    /// down) when it changed.
    pub fn pedal(&mut self, channel: u8, down: bool, beat: f64) -> Option<bool> {
        let was_down = self.pedals != 0;
        let bit = 1u16 << (channel & 15);
        if down {
            self.pedals |= bit;
            self.silent_since = None;
        } else {
            self.pedals &= !bit;
            self.fall_silent(beat);
        }
        let down = self.pedals != 0;
        (down != was_down).then_some(down)
    }

    /// Every key up at `beat` (All Notes Off, a wildcard note-off): returns the pitches that
    /// were down, as bits.
    pub fn release_all(&mut self, beat: f64) -> u128 {
        let mut released = 0u128;
        for (p, channels) in self.held.iter_mut().enumerate() {
            if *channels != 0 {
                released |= 1 << p;
                *channels = 0;
            }
        }
        if released != 0 {
            self.held_total = 0;
            self.fall_silent(beat);
        }
        released
    }

    fn fall_silent(&mut self, beat: f64) {
        if self.held_total == 0 && self.pedals == 0 && self.has_notes {
            self.silent_since = Some(beat);
        }
    }

    /// The beat at which the phrase will have been silent for `silence` beats, if it is
    /// silent now.
    pub fn ends_at(&self, silence: f64) -> Option<f64> {
        self.silent_since
            .filter(|_| self.has_notes && self.held_total == 0 && self.pedals == 0)
            .map(|since| since + silence)
    }

    /// The answer was asked for, or the phrase went stale: what was played is forgotten (keys
    /// still down stay down).
    pub fn forget(&mut self) {
        self.silent_since = None;
        self.has_notes = false;
    }

    /// Whether a phrase is being played or waits for its answer.
    pub fn is_open(&self) -> bool {
        self.has_notes || self.held_total > 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn silence_starts_when_the_last_key_and_the_pedal_are_up() {
        let mut p = Phrase::default();
        assert_eq!(p.ends_at(1.0), None, "nothing played");
        p.key_down(60, 0);
        p.key_down(64, 0);
        assert!(p.key_up(60, 0, 1.0));
        assert_eq!(p.ends_at(1.0), None, "E is still down");
        assert_eq!(p.pedal(0, true, 1.5), Some(true));
        assert!(p.key_up(64, 0, 2.0));
        assert_eq!(p.ends_at(1.0), None, "the pedal is down");
        assert!(!p.key_up(64, 0, 2.1), "a duplicated note-off");
        assert_eq!(p.pedal(0, false, 3.0), Some(false));
        assert_eq!(p.ends_at(1.0), Some(4.0));
        p.forget();
        assert_eq!(p.ends_at(1.0), None);
        assert!(!p.is_open());
    }

    #[test]
    fn all_notes_off_releases_what_was_held() {
        let mut p = Phrase::default();
        p.key_down(60, 0);
        p.key_down(72, 3);
        assert_eq!(p.release_all(2.0), 1 << 60 | 1 << 72);
        assert_eq!(p.ends_at(0.5), Some(2.5));
        assert_eq!(p.release_all(3.0), 0, "nothing left");
    }
}

#[cfg(test)]
mod lost_note_offs {
    use super::*;

    #[test]
    fn a_lost_note_off_lets_go_at_the_keys_next_release() {
        let mut p = Phrase::default();
        p.key_down(60, 0); // its note-off never comes
        p.key_down(60, 0); // the player strikes it again
        assert!(p.key_up(60, 0, 2.0));
        assert_eq!(p.ends_at(1.0), Some(3.0), "nothing holds the phrase open");
        // The same pitch on two channels is two keys.
        p.key_down(62, 0);
        p.key_down(62, 1);
        assert!(p.key_up(62, 0, 4.0));
        assert_eq!(p.ends_at(1.0), None);
        assert!(p.key_up(62, 1, 4.5));
        assert_eq!(p.ends_at(1.0), Some(5.5));
    }
}
