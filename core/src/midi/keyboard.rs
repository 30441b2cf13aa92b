//! The keyboard a phrase is played on: keys and the sustain pedal in, sounding notes out.

use super::Note;

#[derive(Debug, Clone, Copy)]
struct Sounding {
    velocity: u8,
    start: f64,
    /// Key released while the pedal was down: the note rings until pedal-up.
    held_by_pedal: bool,
}

/// Turns key and sustain-pedal events into sounding notes, as a piano does: a key released
/// while the pedal is down rings on until the pedal comes up or the key is struck again.
/// The MIDI file reader (one per channel) and the plugin's live input share it, so a phrase
/// played live becomes the same notes the model was trained on from files.
#[derive(Debug, Clone)]
pub struct Keyboard {
    sounding: [Option<Sounding>; 128],
    pedal: bool,
}

impl Default for Keyboard {
    fn default() -> Self {
        Self {
            sounding: [None; 128],
            pedal: false,
        }
    }
}

impl Keyboard {
    /// A key pressed at `beat`. Re-striking a ringing key ends its previous sound.
    pub fn key_down(&mut self, pitch: u8, velocity: u8, beat: f64, out: &mut impl FnMut(Note)) {
        let p = usize::from(pitch & 127);
        if let Some(s) = self.sounding[p].take() {
            out(finished(p as u8, s, beat));
        }
        self.sounding[p] = Some(Sounding {
            velocity,
            start: beat,
            held_by_pedal: false,
        });
    }

    /// A key released at `beat`: the note ends now, or at pedal-up if the pedal is down.
    pub fn key_up(&mut self, pitch: u8, beat: f64, out: &mut impl FnMut(Note)) {
        let p = usize::from(pitch & 127);
        if self.pedal {
            if let Some(s) = self.sounding[p].as_mut() {
                s.held_by_pedal = true;
            }
        } else if let Some(s) = self.sounding[p].take() {
            out(finished(p as u8, s, beat));
        }
    }

    /// The sustain pedal moved to `down` at `beat`; lifting it ends the notes it held.
    pub fn pedal(&mut self, down: bool, beat: f64, out: &mut impl FnMut(Note)) {
        if self.pedal && !down {
            for (p, slot) in self.sounding.iter_mut().enumerate() {
                if let Some(s) = slot.take_if(|s| s.held_by_pedal) {
                    out(finished(p as u8, s, beat));
                }
            }
        }
        self.pedal = down;
    }

    pub fn pedal_down(&self) -> bool {
        self.pedal
    }

    /// Whether a key or the pedal still holds a note: its end is not known yet.
    pub fn sounding(&self) -> bool {
        self.sounding.iter().any(Option::is_some)
    }

    /// Ends everything still sounding at `beat` (a truncated file, a forgotten phrase).
    pub fn release_all(&mut self, beat: f64, out: &mut impl FnMut(Note)) {
        for (p, slot) in self.sounding.iter_mut().enumerate() {
            if let Some(s) = slot.take() {
                out(finished(p as u8, s, beat));
            }
        }
        self.pedal = false;
    }
}

fn finished(pitch: u8, s: Sounding, end: f64) -> Note {
    Note {
        pitch,
        velocity: s.velocity,
        start: s.start,
        end: end.max(s.start),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keyboard_plays_live_input_as_the_file_reader_does() {
        let mut k = Keyboard::default();
        let mut notes = Vec::new();
        let mut out = |n: Note| notes.push(n);
        k.key_down(60, 90, 0.0, &mut out);
        k.pedal(true, 0.5, &mut out);
        k.key_up(60, 1.0, &mut out);
        assert!(k.sounding(), "the pedal holds 60");
        k.key_down(64, 80, 1.0, &mut out);
        k.key_up(64, 1.5, &mut out);
        assert!(k.pedal_down());
        k.key_down(64, 70, 2.0, &mut out); // re-struck under the pedal
        k.pedal(false, 3.0, &mut out);
        k.key_up(64, 3.5, &mut out);
        k.key_down(67, 60, 4.0, &mut out);
        k.release_all(5.0, &mut out);
        assert!(!k.sounding());
        let got: Vec<_> = notes.iter().map(|n| (n.pitch, n.start, n.end)).collect();
        assert_eq!(
            got,
            [
                (64, 1.0, 2.0),
                (60, 0.0, 3.0),
                (64, 2.0, 3.5),
                (67, 4.0, 5.0)
            ]
        );
        assert!(!k.pedal_down());
    }
}
