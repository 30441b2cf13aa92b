//! Reading and writing Standard MIDI Files.

use midly::{Format, Header, MetaMessage, MidiMessage, Smf, Timing, TrackEvent, TrackEventKind};

use super::{sort_notes, Keyboard, MidiError, Note, Score, SUSTAIN_CC, SUSTAIN_DOWN, WRITE_PPQ};
use crate::grid::{Meter, TimeSig};

const DEFAULT_US_PER_BEAT: u32 = 500_000;

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
