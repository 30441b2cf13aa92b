//! Piano rolls as PNG images: the demo's answer, and the continuation check's windows.
//!
//! A roll is one or more panels stacked top to bottom over the same pitches and beats, each
//! holding parts (notes in one colour): the phrase in blue over an answer in orange, and
//! above it the same phrase over the music's own continuation in green, so that the eye can
//! compare them bar by bar.

use std::io::Write;

use crate::midi::Note;

/// An RGB colour.
pub type Colour = [u8; 3];

/// The phrase a roll answers.
pub const PHRASE: Colour = [40, 90, 200];
/// Generated notes.
pub const ANSWER: Colour = [230, 120, 20];
/// The music's own continuation.
pub const TRUTH: Colour = [30, 150, 60];

/// Notes drawn in one colour.
#[derive(Debug, Clone, Copy)]
pub struct Part<'a> {
    pub notes: &'a [Note],
    pub colour: Colour,
}

const PX_PER_BEAT: f64 = 48.0;
const ROW: usize = 6;
/// The dark rule between two panels, in pixels.
const RULE: usize = 4;

/// Writes `panels` (each a list of parts) as one PNG to `out`, with a line every beat and a
/// darker one every `beats_per_bar` beats from beat 0 (none darker at 0).
pub fn write_png(
    panels: &[Vec<Part<'_>>],
    beats_per_bar: f64,
    out: impl Write,
) -> Result<(), png::EncodingError> {
    let notes = || panels.iter().flatten().flat_map(|part| part.notes.iter());
    let lo = notes()
        .map(|n| n.pitch)
        .min()
        .unwrap_or(48)
        .saturating_sub(2);
    let hi = notes()
        .map(|n| n.pitch)
        .max()
        .unwrap_or(72)
        .saturating_add(2)
        .min(127);
    let beats = notes().map(|n| n.end).fold(0.0, f64::max).ceil() + 1.0;
    let w = (beats * PX_PER_BEAT) as usize;
    let panel_h = (usize::from(hi - lo) + 1) * ROW;
    let panels_n = panels.len().max(1);
    let h = panels_n * panel_h + (panels_n - 1) * RULE;
    let mut img = vec![255u8; w * h * 3];
    let mut fill = |x0: usize, x1: usize, y0: usize, y1: usize, c: Colour| {
        for y in y0..y1.min(h) {
            for x in x0..x1.min(w) {
                img[(y * w + x) * 3..(y * w + x) * 3 + 3].copy_from_slice(&c);
            }
        }
    };
    for (i, parts) in panels.iter().enumerate() {
        let top = i * (panel_h + RULE);
        if i > 0 {
            fill(0, w, top - RULE, top, [40; 3]);
        }
        for p in lo..=hi {
            if [1, 3, 6, 8, 10].contains(&(p % 12)) {
                let y = top + usize::from(hi - p) * ROW;
                fill(0, w, y, y + ROW, [238, 238, 238]);
            }
        }
        for b in 0..beats as usize {
            let on_bar = beats_per_bar > 0.0 && (b as f64 / beats_per_bar).fract().abs() < 1e-9;
            let shade = if on_bar { 150 } else { 210 };
            let x = (b as f64 * PX_PER_BEAT) as usize;
            fill(x, x + 1, top, top + panel_h, [shade; 3]);
        }
        for part in parts {
            for n in part.notes {
                let y = top + usize::from(hi - n.pitch) * ROW;
                // Two pixels short of its end, so that a note struck again where it ends (a
                // chord repeated beat by beat) is drawn as two, not as one held note.
                let x0 = (n.start.max(0.0) * PX_PER_BEAT) as usize;
                let x1 = ((n.end * PX_PER_BEAT) as usize)
                    .saturating_sub(2)
                    .max(x0 + 2);
                fill(x0, x1, y + 1, y + ROW - 1, part.colour);
            }
        }
    }
    let mut enc = png::Encoder::new(out, w as u32, h as u32);
    enc.set_color(png::ColorType::Rgb);
    enc.set_depth(png::BitDepth::Eight);
    enc.write_header()?.write_image_data(&img)
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

    /// The decoded image's size and the colour at pixel (x, y).
    fn decode(bytes: &[u8]) -> (u32, u32, impl Fn(usize, usize) -> Colour) {
        let mut reader = png::Decoder::new(std::io::Cursor::new(bytes))
            .read_info()
            .unwrap();
        let mut buf = vec![0; reader.output_buffer_size()];
        let info = reader.next_frame(&mut buf).unwrap();
        let w = info.width as usize;
        (info.width, info.height, move |x: usize, y: usize| {
            let i = (y * w + x) * 3;
            [buf[i], buf[i + 1], buf[i + 2]]
        })
    }

    #[test]
    fn panels_share_pitches_and_beats_and_draw_each_part_in_its_colour() {
        let phrase = [note(60, 0.0, 1.0)];
        let answer = [note(64, 1.0, 2.0)];
        let truth = [note(62, 1.0, 2.0)];
        let mut bytes = Vec::new();
        write_png(
            &[
                vec![
                    Part {
                        notes: &phrase,
                        colour: PHRASE,
                    },
                    Part {
                        notes: &truth,
                        colour: TRUTH,
                    },
                ],
                vec![
                    Part {
                        notes: &phrase,
                        colour: PHRASE,
                    },
                    Part {
                        notes: &answer,
                        colour: ANSWER,
                    },
                ],
            ],
            4.0,
            &mut bytes,
        )
        .unwrap();
        let (w, h, at) = decode(&bytes);
        // Pitches 58..=66 (two either side), 3 beats (the last note ends on beat 2, + 1).
        let panel = 9 * ROW;
        assert_eq!((w, h), (3 * 48, (2 * panel + RULE) as u32));
        let row = |panel_top: usize, pitch: usize| panel_top + (66 - pitch) * ROW + ROW / 2;
        assert_eq!(at(20, row(0, 60)), PHRASE);
        assert_eq!(at(70, row(0, 62)), TRUTH);
        let second = panel + RULE;
        assert_eq!(at(20, row(second, 60)), PHRASE);
        assert_eq!(at(70, row(second, 64)), ANSWER);
        assert_ne!(
            at(70, row(0, 64)),
            ANSWER,
            "the answer only in its own panel"
        );
    }
}
