//! Short prompts in familiar keyboard styles, written in code: two bars each, in their own
//! meter, starting at beat 0. They are what a player might loop into the plugin, and a
//! model's answers to them can be rendered and measured the same way for every model.

use continuo_core::grid::{Meter, TimeSig};
use continuo_core::midi::{sort_notes, Note, Score};
use continuo_core::sampling::Rng;

const CHORD_VELOCITY: u8 = 72;
const BASS_VELOCITY: u8 = 80;

/// A note of `len` beats from `start`.
pub(crate) fn note(pitch: u8, start: f64, len: f64, velocity: u8) -> Note {
    Note {
        pitch,
        velocity,
        start,
        end: start + len,
    }
}

fn chord(pitches: &[u8], start: f64, len: f64) -> impl Iterator<Item = Note> + '_ {
    pitches
        .iter()
        .map(move |&p| note(p, start, len, CHORD_VELOCITY))
}

/// A melody of (pitch, start, written length) in beats, each note held nearly its length.
fn legato(melody: &[(u8, f64, f64)]) -> Vec<Note> {
    melody
        .iter()
        .map(|&(p, at, len)| note(p, at, len * 0.95, BASS_VELOCITY))
        .collect()
}

fn score(mut notes: Vec<Note>, bpm: f64, numerator: u8, denominator: u8) -> Score {
    sort_notes(&mut notes);
    Score {
        notes,
        bpm,
        meter: Meter::constant(TimeSig {
            numerator,
            denominator,
        }),
    }
}

/// Quarter-note block chords over a bass, I–IV–V7–I in C major, in 4/4.
pub fn block_chords() -> Score {
    let bars: [(u8, [u8; 3]); 4] = [
        (48, [64, 67, 72]), // C: E G C
        (53, [65, 69, 72]), // F: F A C
        (43, [65, 71, 74]), // G7: F B D
        (48, [64, 67, 72]),
    ];
    let mut notes = Vec::new();
    for (half, (bass, upper)) in bars.iter().enumerate() {
        let at = half as f64 * 2.0;
        notes.push(note(*bass, at, 2.0, BASS_VELOCITY));
        for beat in 0..2 {
            notes.extend(chord(upper, at + f64::from(beat), 0.9));
        }
    }
    score(notes, 100.0, 4, 4)
}

/// A waltz accompaniment in 3/4: the bass on the downbeat, the chord on beats two and three,
/// C major then G7.
pub fn waltz() -> Score {
    let bars: [(u8, [u8; 3]); 2] = [(48, [64, 67, 72]), (43, [65, 67, 71])];
    let mut notes = Vec::new();
    for (bar, (bass, upper)) in bars.iter().enumerate() {
        let at = bar as f64 * 3.0;
        notes.push(note(*bass, at, 1.0, BASS_VELOCITY));
        for beat in 1..3 {
            notes.extend(chord(upper, at + f64::from(beat), 0.8));
        }
    }
    score(notes, 150.0, 3, 4)
}

/// An Alberti bass in 16ths (lowest, highest, middle, highest), C major for a bar, then G7
/// and C for half a bar each, in 4/4.
pub fn alberti() -> Score {
    let figures: [[u8; 4]; 4] = [
        [48, 55, 52, 55], // C G E G
        [48, 55, 52, 55],
        [50, 55, 53, 55], // D G F G
        [48, 55, 52, 55],
    ];
    let notes = figures
        .iter()
        .enumerate()
        .flat_map(|(half, figure)| {
            (0..8).map(move |i| {
                let start = half as f64 * 2.0 + f64::from(i) * 0.25;
                note(figure[i as usize % 4], start, 0.25, BASS_VELOCITY)
            })
        })
        .collect();
    score(notes, 110.0, 4, 4)
}

/// The `i`th of a run of swung 8ths from beat 0, as (start, length) in beats: the first of
/// each pair on the beat for two thirds of it, the second on its last third.
fn swung_eighth(i: usize) -> (f64, f64) {
    let beat = (i / 2) as f64;
    if i.is_multiple_of(2) {
        (beat, 2.0 / 3.0)
    } else {
        (beat + 2.0 / 3.0, 1.0 / 3.0)
    }
}

/// A boogie-woogie bass in swung 8ths (the second of each pair on the last third of the
/// beat), up and down a C6 arpeggio with the flat seventh, then the same on F, in 4/4.
pub fn boogie() -> Score {
    const LINE: [u8; 8] = [0, 4, 7, 9, 10, 9, 7, 4];
    let notes = [36u8, 41]
        .iter()
        .enumerate()
        .flat_map(|(bar, &root)| {
            LINE.iter().enumerate().map(move |(i, &step)| {
                let (start, len) = swung_eighth(i);
                note(
                    root + step,
                    (bar * 4) as f64 + start,
                    len * 0.95,
                    BASS_VELOCITY,
                )
            })
        })
        .collect();
    score(notes, 132.0, 4, 4)
}

/// ii–V–I in C: Dm9 and G13 for two beats each, then Cmaj9, in rootless voicings comped on
/// the beat and the "and" of two, over a walking bass, in 4/4.
pub fn jazz_ii_v_i() -> Score {
    let dm9: &[u8] = &[53, 57, 60, 64]; // F A C E
    let g13: &[u8] = &[53, 57, 59, 64]; // F A B E
    let cmaj9: &[u8] = &[52, 55, 59, 62]; // E G B D
    let walk = [38u8, 45, 43, 35, 36, 40, 43, 45]; // D A G B, C E G A
    let mut notes: Vec<Note> = walk
        .iter()
        .enumerate()
        .map(|(beat, &p)| note(p, beat as f64, 0.9, BASS_VELOCITY))
        .collect();
    for (voicing, at, len) in [
        (dm9, 0.0, 1.0),
        (dm9, 1.5, 0.5),
        (g13, 2.0, 1.0),
        (g13, 3.5, 0.5),
        (cmaj9, 4.0, 1.5),
        (cmaj9, 5.5, 2.0),
    ] {
        notes.extend(chord(voicing, at, len));
    }
    score(notes, 140.0, 4, 4)
}

/// I–V–vi–IV in C, two chords a bar: a bass note held for each chord under close triads on
/// every beat, in 4/4.
pub fn pop() -> Score {
    let chords: [(u8, [u8; 3]); 4] = [
        (48, [64, 67, 72]), // C: E G C
        (43, [62, 67, 71]), // G: D G B
        (45, [64, 69, 72]), // Am: E A C
        (41, [65, 69, 72]), // F: F A C
    ];
    let mut notes = Vec::new();
    for (half, (bass, upper)) in chords.iter().enumerate() {
        let at = half as f64 * 2.0;
        notes.push(note(*bass, at, 2.0, BASS_VELOCITY));
        notes.extend((0..2).flat_map(|beat| chord(upper, at + f64::from(beat), 1.0)));
    }
    score(notes, 96.0, 4, 4)
}

/// 16th-note chords of two and three notes, a broken I–vi–IV–V in G, in 4/4: the texture a
/// stream of single 32nd notes does not answer.
pub fn sixteenth_chords() -> Score {
    let shapes: [[&[u8]; 4]; 4] = [
        [&[55, 59], &[62, 67], &[59, 62, 67], &[62, 67]],
        [&[52, 59], &[64, 67], &[59, 64, 67], &[64, 67]],
        [&[48, 60], &[64, 67], &[60, 64, 67], &[64, 67]],
        [&[50, 57], &[62, 66], &[57, 62, 66], &[62, 66]],
    ];
    let mut notes = Vec::new();
    for (half, shape) in shapes.iter().enumerate() {
        for i in 0..8 {
            let at = half as f64 * 2.0 + i as f64 * 0.25;
            notes.extend(chord(shape[i % 4], at, 0.22));
        }
    }
    score(notes, 88.0, 4, 4)
}

/// Eighth-note triplets of a rising and falling arpeggio over half-note bass octaves,
/// i–iv–V–i in A minor, in 4/4: a grid of thirds of a beat.
pub fn triplets() -> Score {
    let bars: [(u8, [u8; 3]); 4] = [
        (45, [57, 60, 64]),
        (50, [57, 62, 65]),
        (52, [56, 59, 64]),
        (45, [57, 60, 64]),
    ];
    let mut notes = Vec::new();
    for (half, (bass, arp)) in bars.iter().enumerate() {
        let at = half as f64 * 2.0;
        notes.push(note(*bass, at, 1.9, BASS_VELOCITY));
        notes.push(note(*bass - 12, at, 1.9, BASS_VELOCITY));
        let line = [arp[0], arp[1], arp[2], arp[1] + 12, arp[2], arp[1]];
        for (i, &p) in line.iter().enumerate() {
            notes.push(note(p, at + i as f64 / 3.0, 0.3, CHORD_VELOCITY));
        }
    }
    score(notes, 80.0, 4, 4)
}

/// A barcarolle in 6/8: in each dotted quarter the bass, then two 8ths of the chord above
/// it, under a long-short melody (a quarter and an 8th), C major then G7. Its pulse is the
/// dotted quarter, two to the bar: the grid a 3/4 answer would break.
pub fn barcarolle() -> Score {
    let bars: [[u8; 3]; 2] = [[48, 55, 64], [43, 53, 59]];
    let melody: [(u8, f64, f64); 8] = [
        (76, 0.0, 1.0),
        (74, 1.0, 0.5),
        (72, 1.5, 1.0),
        (76, 2.5, 0.5),
        (74, 3.0, 1.0),
        (71, 4.0, 0.5),
        (67, 4.5, 1.0),
        (74, 5.5, 0.5),
    ];
    let mut notes = legato(&melody);
    for (bar, [bass, mid, top]) in bars.iter().enumerate() {
        for group in 0..2 {
            let at = bar as f64 * 3.0 + group as f64 * 1.5;
            notes.push(note(*bass, at, 1.4, BASS_VELOCITY));
            notes.push(note(*mid, at + 0.5, 0.45, CHORD_VELOCITY));
            notes.push(note(*top, at + 1.0, 0.45, CHORD_VELOCITY));
        }
    }
    score(notes, 90.0, 6, 8)
}

/// A swung 8th-note line (the second of each pair on the last third of the beat) over shell
/// voicings (root, third, seventh) on beats one and three, F7 then B♭7, in 4/4: swing in
/// the melody rather than the bass.
pub fn swing() -> Score {
    const LINE: [u8; 16] = [
        69, 72, 74, 77, 75, 74, 72, 69, // F7: A C D F E♭ D C A
        70, 74, 77, 80, 79, 77, 74, 70, // B♭7: B♭ D F A♭ G F D B♭
    ];
    let mut notes: Vec<Note> = LINE
        .iter()
        .enumerate()
        .map(|(i, &p)| {
            let (start, len) = swung_eighth(i);
            note(p, start, len * 0.9, BASS_VELOCITY)
        })
        .collect();
    for (bar, shell) in [[53u8, 57, 63], [46, 56, 62]].iter().enumerate() {
        for beat in [0.0, 2.0] {
            notes.extend(chord(shell, bar as f64 * 4.0 + beat, 1.5));
        }
    }
    score(notes, 144.0, 4, 4)
}

/// A blues shuffle in 12/8, F7 then B♭7: in the left hand the root, fifth, sixth and fifth,
/// each a quarter and an 8th (long–short) in one dotted-quarter beat, and a shell struck on
/// the second 8th of every beat above it. Four beats a bar of a dotted quarter each.
pub fn shuffle() -> Score {
    const WALK: [u8; 4] = [0, 7, 9, 7];
    let mut notes = Vec::new();
    for (bar, (root, shell)) in [(41u8, [63u8, 69]), (46, [68, 74])].iter().enumerate() {
        for (beat, &step) in WALK.iter().enumerate() {
            let at = bar as f64 * 6.0 + beat as f64 * 1.5;
            notes.push(note(root + step, at, 0.95, BASS_VELOCITY));
            notes.push(note(root + step, at + 1.0, 0.45, BASS_VELOCITY));
            notes.extend(chord(shell, at + 0.5, 0.45));
        }
    }
    score(notes, 84.0, 12, 8)
}

/// A chorale in four voices, a chord every beat ending on a half cadence held two beats
/// less a breath: I–IV–V–I, vi–ii–V in C, in 4/4.
pub fn chorale() -> Score {
    let chords: [([u8; 4], f64); 7] = [
        ([48, 64, 67, 72], 1.0), // C
        ([53, 65, 69, 72], 1.0), // F
        ([55, 62, 67, 71], 1.0), // G
        ([48, 64, 67, 72], 1.0), // C
        ([45, 64, 69, 72], 1.0), // Am
        ([50, 65, 69, 74], 1.0), // Dm
        ([43, 62, 67, 71], 2.0), // G
    ];
    let mut notes = Vec::new();
    let mut at = 0.0;
    for (voices, len) in chords {
        let held = if len > 1.0 { len - 0.5 } else { len * 0.95 };
        notes.extend(voices.map(|p| note(p, at, held, CHORD_VELOCITY)));
        at += len;
    }
    score(notes, 76.0, 4, 4)
}

/// A nocturne: a melody in long notes over a left hand broken in 8ths across two octaves
/// (root, fifth, octave, tenth and back), C major then F, in 4/4.
pub fn nocturne() -> Score {
    const BROKEN: [u8; 8] = [0, 7, 12, 16, 19, 16, 12, 7];
    let melody: [(u8, f64, f64); 7] = [
        (76, 0.0, 1.5),
        (74, 1.5, 0.5),
        (72, 2.0, 2.0),
        (77, 4.0, 1.0),
        (76, 5.0, 0.5),
        (74, 5.5, 0.5),
        (72, 6.0, 2.0),
    ];
    let mut notes = legato(&melody);
    for (bar, root) in [36u8, 41].iter().enumerate() {
        for (i, step) in BROKEN.iter().enumerate() {
            let at = bar as f64 * 4.0 + i as f64 * 0.5;
            notes.push(note(root + step, at, 0.5, CHORD_VELOCITY));
        }
    }
    score(notes, 66.0, 4, 4)
}

/// A melody doubled in octaves over a bass held two beats at a time, C major, in 4/4.
pub fn octaves() -> Score {
    let melody: [(u8, f64, f64); 8] = [
        (72, 0.0, 1.0),
        (71, 1.0, 0.5),
        (69, 1.5, 0.5),
        (67, 2.0, 1.0),
        (64, 3.0, 1.0),
        (65, 4.0, 1.5),
        (67, 5.5, 0.5),
        (69, 6.0, 2.0),
    ];
    let mut notes = Vec::new();
    for (p, at, len) in melody {
        notes.extend(legato(&[(p, at, len), (p + 12, at, len)]));
    }
    for (half, bass) in [48u8, 43, 41, 43].iter().enumerate() {
        notes.push(note(*bass, half as f64 * 2.0, 1.9, CHORD_VELOCITY));
    }
    score(notes, 96.0, 4, 4)
}

/// A habanera: in the left hand a dotted 8th, a 16th and two 8ths every half bar (the root,
/// its octave, the fifth, the octave), under a melody that leans on the half bar, D minor
/// and A7, in 4/4.
pub fn habanera() -> Score {
    const FIGURE: [(u8, f64, f64); 4] = [
        (0, 0.0, 0.7),
        (12, 0.75, 0.2),
        (7, 1.0, 0.45),
        (12, 1.5, 0.45),
    ];
    let melody: [(u8, f64, f64); 8] = [
        (74, 0.0, 1.5),
        (73, 1.5, 0.5),
        (74, 2.0, 0.5),
        (77, 2.5, 0.5),
        (76, 3.0, 1.0),
        (74, 4.0, 1.5),
        (73, 5.5, 0.5),
        (69, 6.0, 2.0),
    ];
    let mut notes = legato(&melody);
    for (half, root) in [38u8, 33, 38, 33].iter().enumerate() {
        for (step, at, len) in FIGURE {
            notes.push(note(
                root + step,
                half as f64 * 2.0 + at,
                len,
                CHORD_VELOCITY,
            ));
        }
    }
    score(notes, 80.0, 4, 4)
}

/// `prompt` as a player's hands play it: each note's onset off its written time by a normal
/// draw of `jitter` beats (a chord's notes each on its own, as hands strike them), and its
/// length off by 2.5 times as much of itself; the same draws for the same `seed`.
pub fn played_by_hand(prompt: &Score, jitter: f64, seed: u64) -> Score {
    let mut rng = Rng::new(seed);
    let mut normal = || {
        // Box–Muller.
        let (u, v) = (rng.next_f64().max(1e-12), rng.next_f64());
        (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
    };
    let mut played = prompt.clone();
    for n in &mut played.notes {
        let length = (n.end - n.start) * (1.0 + 2.5 * jitter * normal()).max(0.1);
        n.start = (n.start + jitter * normal()).max(0.0);
        n.end = n.start + length;
    }
    sort_notes(&mut played.notes);
    played
}

/// Every style, by name.
pub fn all() -> Vec<(&'static str, Score)> {
    vec![
        ("block chords", block_chords()),
        ("waltz", waltz()),
        ("alberti", alberti()),
        ("boogie", boogie()),
        ("jazz ii-V-I", jazz_ii_v_i()),
        ("pop I-V-vi-IV", pop()),
        ("16th chords", sixteenth_chords()),
        ("triplets", triplets()),
        ("barcarolle", barcarolle()),
        ("swing", swing()),
        ("shuffle", shuffle()),
        ("chorale", chorale()),
        ("nocturne", nocturne()),
        ("octaves", octaves()),
        ("habanera", habanera()),
    ]
}
