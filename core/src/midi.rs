//! Standard MIDI Files as beat-timed notes.
//!
//! Reading merges every track and channel, converts ticks to beats through the header's PPQ
//! (or, for SMPTE-timed files, through the tempo map), and applies the sustain pedal to note
//! lengths, because a pianist's "held" note is what the listener hears, not the key release.

use midly::{Format, Header, MetaMessage, MidiMessage, Smf, Timing, TrackEvent, TrackEventKind};
use thiserror::Error;

use crate::grid::{Meter, TimeSig};

/// A sounding note, timed in beats (quarter notes) from the start of the piece.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Note {
    pub pitch: u8,
    pub velocity: u8,
    pub start: f64,
    pub end: f64,
}

impl Note {
    /// The same note `by` beats later (earlier if negative).
    pub fn moved(self, by: f64) -> Self {
        Self {
            start: self.start + by,
            end: self.end + by,
            ..self
        }
    }
}

/// The notes of a piece plus the little we need to write it back.
#[derive(Debug, Clone, PartialEq)]
pub struct Score {
    /// Sorted by start, then pitch.
    pub notes: Vec<Note>,
    /// Tempo at the start of the piece; used when writing, not for timing notes.
    pub bpm: f64,
    /// Its time signatures (4/4 from beat 0 where the file states none).
    pub meter: Meter,
}

#[derive(Debug, Error)]
pub enum MidiError {
    #[error("not a valid MIDI file: {0}")]
    Parse(#[from] midly::Error),
    #[error("the file contains no notes")]
    NoNotes,
    #[error("unusable timing in header: {0}")]
    Timing(String),
    #[error("could not write MIDI: {0}")]
    Write(String),
}

/// The sustain pedal's controller number.
pub const SUSTAIN_CC: u8 = 64;
const DEFAULT_US_PER_BEAT: u32 = 500_000;
/// PPQ used when writing; divisible by 24 (our grid) and by 5 and 7 for odd tuplets.
pub const WRITE_PPQ: u16 = 840;

/// Pedal positions at or above this value hold the dampers up (the MIDI convention).
pub const SUSTAIN_DOWN: u8 = 64;

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

/// Converts absolute ticks to beats.
enum Clock {
    Metrical {
        ppq: f64,
    },
    /// Ticks are seconds / `tick_seconds`; beats need the tempo map: (tick, µs per beat) sorted.
    Timecode {
        tick_seconds: f64,
        tempi: Vec<(u64, u32)>,
    },
}

impl Clock {
    fn beats(&self, tick: u64) -> f64 {
        match self {
            Clock::Metrical { ppq } => tick as f64 / ppq,
            Clock::Timecode {
                tick_seconds,
                tempi,
            } => {
                let mut beats = 0.0;
                let mut last_tick = 0u64;
                let mut us = DEFAULT_US_PER_BEAT;
                for &(t, next_us) in tempi.iter().take_while(|(t, _)| *t <= tick) {
                    beats += (t - last_tick) as f64 * tick_seconds * 1e6 / f64::from(us);
                    last_tick = t;
                    us = next_us;
                }
                beats + (tick - last_tick) as f64 * tick_seconds * 1e6 / f64::from(us)
            }
        }
    }
}

/// Parses a Standard MIDI File into a [`Score`].
pub fn read_midi(bytes: &[u8]) -> Result<Score, MidiError> {
    let smf = Smf::parse(bytes)?;

    // All tracks merged onto one absolute-tick timeline. Format 2 files hold independent
    // sequences; playing them one after another would be as wrong as merging, so merge.
    let mut events: Vec<(u64, usize, TrackEventKind)> = Vec::new();
    for track in &smf.tracks {
        let mut tick = 0u64;
        for (i, ev) in track.iter().enumerate() {
            tick += u64::from(ev.delta.as_int());
            events.push((tick, i, ev.kind));
        }
    }
    // Stable order: by tick, then by position in its track (keeps on/off order of each track).
    events.sort_by_key(|(tick, i, _)| (*tick, *i));

    let mut tempi: Vec<(u64, u32)> = events
        .iter()
        .filter_map(|(t, _, k)| match k {
            TrackEventKind::Meta(MetaMessage::Tempo(us)) if us.as_int() > 0 => {
                Some((*t, us.as_int()))
            }
            _ => None,
        })
        .collect();
    tempi.dedup_by_key(|(t, _)| *t);
    let first_us = tempi
        .first()
        .filter(|(t, _)| *t == 0)
        .map_or(DEFAULT_US_PER_BEAT, |x| x.1);
    let clock = match smf.header.timing {
        Timing::Metrical(ppq) if ppq.as_int() > 0 => Clock::Metrical {
            ppq: f64::from(ppq.as_int()),
        },
        Timing::Metrical(_) => return Err(MidiError::Timing("PPQ of 0".into())),
        Timing::Timecode(fps, sub) if sub > 0 => Clock::Timecode {
            tick_seconds: 1.0 / (f64::from(fps.as_f32()) * f64::from(sub)),
            tempi,
        },
        Timing::Timecode(..) => return Err(MidiError::Timing("0 subframes per frame".into())),
    };

    let meter = Meter::from_changes(events.iter().filter_map(|(tick, _, kind)| match kind {
        TrackEventKind::Meta(MetaMessage::TimeSignature(num, den_pow, ..))
            if *num > 0 && *den_pow <= 7 =>
        {
            let sig = TimeSig {
                numerator: *num,
                denominator: 1 << den_pow,
            };
            Some((clock.beats(*tick), sig))
        }
        _ => None,
    }));

    let mut keyboards: [Keyboard; 16] = std::array::from_fn(|_| Keyboard::default());
    let mut notes = Vec::new();
    let mut out = |n: Note| notes.push(n);
    let mut last_beat = 0.0f64;

    for (tick, _, kind) in events {
        let TrackEventKind::Midi { channel, message } = kind else {
            continue;
        };
        let keyboard = &mut keyboards[channel.as_int() as usize];
        let beat = clock.beats(tick);
        last_beat = last_beat.max(beat);
        match message {
            MidiMessage::NoteOn { key, vel } if vel.as_int() > 0 => {
                keyboard.key_down(key.as_int(), vel.as_int(), beat, &mut out);
            }
            MidiMessage::NoteOn { key, .. } | MidiMessage::NoteOff { key, .. } => {
                keyboard.key_up(key.as_int(), beat, &mut out);
            }
            MidiMessage::Controller { controller, value } if controller.as_int() == SUSTAIN_CC => {
                keyboard.pedal(value.as_int() >= SUSTAIN_DOWN, beat, &mut out);
            }
            _ => {}
        }
    }
    // Notes never released (truncated files) end with the last event.
    for keyboard in &mut keyboards {
        keyboard.release_all(last_beat, &mut out);
    }
    if notes.is_empty() {
        return Err(MidiError::NoNotes);
    }
    sort_notes(&mut notes);
    Ok(Score {
        notes,
        bpm: 60e6 / f64::from(first_us),
        meter,
    })
}

impl Score {
    /// Notes at `bpm` in 4/4.
    pub fn new(notes: Vec<Note>, bpm: f64) -> Self {
        Self {
            notes,
            bpm,
            meter: Meter::default(),
        }
    }

    /// When the earliest note starts, if there is one.
    pub fn first_start(&self) -> Option<f64> {
        self.notes.iter().map(|n| n.start).min_by(f64::total_cmp)
    }
}

/// Sorts notes into the canonical order: by start, then pitch.
pub fn sort_notes(notes: &mut [Note]) {
    notes.sort_by(|a, b| a.start.total_cmp(&b.start).then(a.pitch.cmp(&b.pitch)));
}

/// Writes a single-track (format 0) Standard MIDI File on channel 1.
/// Its time signatures go with it where it has any but 4/4 from the start.
pub fn write_midi(score: &Score) -> Result<Vec<u8>, MidiError> {
    let mut track = vec![tempo_event(score.bpm)];
    let sigs: &[(f64, TimeSig)] = if score.meter == Meter::default() {
        &[]
    } else {
        score.meter.changes()
    };
    let sigs = sigs.iter().map(|&(beat, sig)| {
        (
            to_tick(beat),
            time_sig_event(sig.numerator, sig.denominator),
        )
    });
    track.extend(delta_timed(sigs.chain(note_events(&score.notes)))?);
    finish(Format::SingleTrack, vec![track])
}

fn to_tick(beat: f64) -> u64 {
    (beat.max(0.0) * f64::from(WRITE_PPQ)).round() as u64
}

/// A time signature; a denominator that is not a power of two is written as 4.
fn time_sig_event(num: u8, den: u8) -> TrackEventKind<'static> {
    let den_pow = if den.is_power_of_two() {
        den.trailing_zeros() as u8
    } else {
        2
    };
    // 24 MIDI clocks per metronome click and 8 32nds per quarter: the standard values.
    TrackEventKind::Meta(MetaMessage::TimeSignature(num.max(1), den_pow, 24, 8))
}

/// Notes and the tempo and time signature they were played in, as several named tracks:
/// what the plugin saves when a player keeps a clip.
#[derive(Debug, Clone, PartialEq)]
pub struct Clip<'a> {
    pub bpm: f64,
    /// Numerator and denominator; a denominator that is not a power of two is written as 4.
    pub time_sig: (u8, u8),
    /// Track name and its notes, each written on channel 1.
    pub tracks: Vec<(&'a str, &'a [Note])>,
}

/// Writes a [`Clip`] as a multi-track (format 1) Standard MIDI File: a first track with the
/// tempo and time signature (as DAWs expect), then one track per part.
pub fn write_clip(clip: &Clip) -> Result<Vec<u8>, MidiError> {
    let (num, den) = clip.time_sig;
    let conductor = vec![
        tempo_event(clip.bpm),
        TrackEvent {
            delta: 0.into(),
            kind: time_sig_event(num, den),
        },
    ];
    let mut tracks = vec![conductor];
    for (name, notes) in &clip.tracks {
        let mut track = vec![TrackEvent {
            delta: 0.into(),
            kind: TrackEventKind::Meta(MetaMessage::TrackName(name.as_bytes())),
        }];
        track.extend(delta_timed(note_events(notes))?);
        tracks.push(track);
    }
    finish(Format::Parallel, tracks)
}

fn tempo_event(bpm: f64) -> TrackEvent<'static> {
    let us = (60e6 / bpm.clamp(1.0, 1000.0)).round() as u32;
    TrackEvent {
        delta: 0.into(),
        kind: TrackEventKind::Meta(MetaMessage::Tempo(us.min(0xFF_FFFF).into())),
    }
}

/// Note-ons and note-offs of `notes` on channel 1 at their ticks.
fn note_events(notes: &[Note]) -> Vec<(u64, TrackEventKind<'static>)> {
    // (tick, is_on, pitch, velocity): offs sort before ons at the same tick so a repeated
    // pitch is released before it is struck again.
    let mut evs: Vec<(u64, bool, u8, u8)> = Vec::with_capacity(notes.len() * 2);
    for n in notes {
        let on = to_tick(n.start);
        let off = to_tick(n.end).max(on + 1);
        evs.push((on, true, n.pitch & 127, n.velocity.clamp(1, 127)));
        evs.push((off, false, n.pitch & 127, 0));
    }
    evs.sort_by_key(|&(t, on, p, _)| (t, on, p));
    evs.into_iter()
        .map(|(tick, on, pitch, vel)| {
            let message = if on {
                MidiMessage::NoteOn {
                    key: pitch.into(),
                    vel: vel.into(),
                }
            } else {
                MidiMessage::NoteOff {
                    key: pitch.into(),
                    vel: 64.into(),
                }
            };
            let kind = TrackEventKind::Midi {
                channel: 0.into(),
                message,
            };
            (tick, kind)
        })
        .collect()
}

/// Events at ticks (in order, except that a stable sort puts each at its tick) as
/// delta-timed track events from tick 0.
fn delta_timed<'a>(
    events: impl IntoIterator<Item = (u64, TrackEventKind<'a>)>,
) -> Result<Vec<TrackEvent<'a>>, MidiError> {
    let mut events: Vec<_> = events.into_iter().collect();
    events.sort_by_key(|(tick, _)| *tick);
    let mut track = Vec::with_capacity(events.len());
    let mut last = 0u64;
    for (tick, kind) in events {
        let delta =
            u32::try_from(tick - last).map_err(|_| MidiError::Write("note too late".into()))?;
        if delta > 0x0FFF_FFFF {
            return Err(MidiError::Write("gap between notes too long".into()));
        }
        last = tick;
        track.push(TrackEvent {
            delta: delta.into(),
            kind,
        });
    }
    Ok(track)
}

/// Ends each track and serializes the file.
fn finish(format: Format, mut tracks: Vec<Vec<TrackEvent>>) -> Result<Vec<u8>, MidiError> {
    for track in &mut tracks {
        track.push(TrackEvent {
            delta: 0.into(),
            kind: TrackEventKind::Meta(MetaMessage::EndOfTrack),
        });
    }
    let smf = Smf {
        header: Header::new(format, Timing::Metrical(WRITE_PPQ.into())),
        tracks,
    };
    let mut out = Vec::new();
    smf.write_std(&mut out)
        .map_err(|e| MidiError::Write(e.to_string()))?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use midly::num::u28;

    fn ev(delta: u32, ch: u8, message: MidiMessage) -> TrackEvent<'static> {
        TrackEvent {
            delta: u28::new(delta),
            kind: TrackEventKind::Midi {
                channel: ch.into(),
                message,
            },
        }
    }
    fn on(key: u8, vel: u8) -> MidiMessage {
        MidiMessage::NoteOn {
            key: key.into(),
            vel: vel.into(),
        }
    }
    fn off(key: u8) -> MidiMessage {
        MidiMessage::NoteOff {
            key: key.into(),
            vel: 0.into(),
        }
    }
    fn cc(c: u8, v: u8) -> MidiMessage {
        MidiMessage::Controller {
            controller: c.into(),
            value: v.into(),
        }
    }
    fn smf(timing: Timing, tracks: Vec<Vec<TrackEvent<'static>>>) -> Vec<u8> {
        let smf = Smf {
            header: Header::new(Format::Parallel, timing),
            tracks,
        };
        let mut out = Vec::new();
        smf.write_std(&mut out).unwrap();
        out
    }

    #[test]
    fn merges_tracks_and_honours_ppq_not_tempo() {
        let tempo = TrackEvent {
            delta: 0.into(),
            kind: TrackEventKind::Meta(MetaMessage::Tempo(250_000.into())),
        };
        let t1 = vec![tempo, ev(0, 0, on(60, 100)), ev(96, 0, off(60))];
        let t2 = vec![ev(48, 3, on(64, 50)), ev(96, 3, on(64, 0))];
        let score = read_midi(&smf(Timing::Metrical(96.into()), vec![t1, t2])).unwrap();
        assert_eq!(score.bpm, 240.0);
        assert_eq!(
            score.notes,
            vec![
                Note {
                    pitch: 60,
                    velocity: 100,
                    start: 0.0,
                    end: 1.0
                },
                Note {
                    pitch: 64,
                    velocity: 50,
                    start: 0.5,
                    end: 1.5
                },
            ]
        );
    }

    #[test]
    fn sustain_pedal_extends_released_notes_until_pedal_up() {
        let t = vec![
            ev(0, 0, cc(64, 127)),
            ev(0, 0, on(60, 80)),
            ev(100, 0, off(60)),
            ev(0, 0, on(64, 80)),
            ev(300, 0, cc(64, 0)),
            ev(100, 0, off(64)),
        ];
        let score = read_midi(&smf(Timing::Metrical(100.into()), vec![t])).unwrap();
        assert_eq!(
            score.notes[0],
            Note {
                pitch: 60,
                velocity: 80,
                start: 0.0,
                end: 4.0
            }
        );
        assert_eq!(
            score.notes[1],
            Note {
                pitch: 64,
                velocity: 80,
                start: 1.0,
                end: 5.0
            }
        );
    }

    #[test]
    fn restrike_under_pedal_ends_previous_note() {
        let t = vec![
            ev(0, 0, cc(64, 127)),
            ev(0, 0, on(60, 80)),
            ev(50, 0, off(60)),
            ev(50, 0, on(60, 90)),
            ev(100, 0, off(60)),
            ev(0, 0, cc(64, 0)),
        ];
        let score = read_midi(&smf(Timing::Metrical(100.into()), vec![t])).unwrap();
        assert_eq!(score.notes.len(), 2);
        assert_eq!(score.notes[0].end, 1.0);
        assert_eq!(score.notes[1].end, 2.0);
    }

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

    #[test]
    fn timecode_files_use_the_tempo_map() {
        // 25 fps × 40 subframes = 1000 ticks per second; 120 bpm for 1 s, then 60 bpm.
        let tempo = |d: u32, us: u32| TrackEvent {
            delta: d.into(),
            kind: TrackEventKind::Meta(MetaMessage::Tempo(us.into())),
        };
        let t = vec![
            tempo(0, 500_000),
            ev(0, 0, on(60, 80)),
            tempo(1000, 1_000_000),
            ev(1000, 0, off(60)),
        ];
        let score = read_midi(&smf(Timing::Timecode(midly::Fps::Fps25, 40), vec![t])).unwrap();
        assert!((score.notes[0].end - 3.0).abs() < 1e-9, "{:?}", score.notes);
    }

    #[test]
    fn corrupt_and_empty_files_are_errors() {
        assert!(matches!(
            read_midi(b"MThd garbage"),
            Err(MidiError::Parse(_))
        ));
        let empty = smf(Timing::Metrical(96.into()), vec![vec![]]);
        assert!(matches!(read_midi(&empty), Err(MidiError::NoNotes)));
    }

    #[test]
    fn write_then_read_is_identity_on_grid() {
        let score = Score {
            notes: vec![
                Note {
                    pitch: 60,
                    velocity: 90,
                    start: 0.0,
                    end: 0.5,
                },
                Note {
                    pitch: 60,
                    velocity: 70,
                    start: 0.5,
                    end: 1.0,
                },
                Note {
                    pitch: 67,
                    velocity: 70,
                    start: 0.25,
                    end: 3.0,
                },
            ],
            bpm: 90.0,
            meter: Meter::from_changes([(
                1.0,
                TimeSig {
                    numerator: 6,
                    denominator: 8,
                },
            )]),
        };
        let back = read_midi(&write_midi(&score).unwrap()).unwrap();
        assert_eq!(
            back.meter, score.meter,
            "time signatures survive the round trip"
        );
        assert!((back.bpm - 90.0).abs() < 1e-3);
        let mut expected = score.notes.clone();
        sort_notes(&mut expected);
        assert_eq!(back.notes, expected);
    }

    #[test]
    fn a_clip_is_a_format_1_file_with_tempo_time_signature_and_named_tracks() {
        let n = |pitch, start, end| Note {
            pitch,
            velocity: 80,
            start,
            end,
        };
        let phrase = [n(60, 0.0, 0.5), n(64, 0.5, 1.0)];
        let answer = [n(67, 2.0, 2.25)];
        let clip = Clip {
            bpm: 137.0,
            time_sig: (3, 4),
            tracks: vec![("phrase", &phrase), ("answer", &answer)],
        };
        let bytes = write_clip(&clip).unwrap();
        let smf = Smf::parse(&bytes).unwrap();
        assert_eq!(smf.header.format, Format::Parallel);
        assert_eq!(smf.tracks.len(), 3);
        assert!(smf.tracks[0].iter().any(|e| matches!(
            e.kind,
            TrackEventKind::Meta(MetaMessage::TimeSignature(3, 2, 24, 8))
        )));
        assert!(smf.tracks[2].iter().any(|e| matches!(
            e.kind,
            TrackEventKind::Meta(MetaMessage::TrackName(b"answer"))
        )));
        let back = read_midi(&bytes).unwrap();
        assert!((back.bpm - 137.0).abs() < 1e-2, "{}", back.bpm);
        assert_eq!(back.notes, [phrase[0], phrase[1], answer[0]]);
    }
}
