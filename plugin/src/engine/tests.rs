use super::*;
use crate::protocol::Meter;
use crossbeam_channel::bounded;

struct Rig {
    engine: Engine,
    worker_rx: Receiver<ToWorker>,
    worker_tx: Sender<FromWorker>,
}

fn rig() -> Rig {
    // Short queues, so a test can fill them.
    let (to_worker, worker_rx) = bounded(64);
    let (worker_tx, from_worker) = bounded(64);
    let end = EngineEnd {
        to_worker,
        from_worker,
    };
    Rig {
        engine: Engine::new(end, Arc::default()),
        worker_rx,
        worker_tx,
    }
}

fn playing(beat: f64) -> Transport {
    // 48 kHz, 120 bpm → 24000 samples per beat; blocks of 6000 samples = 1/4 beat.
    Transport::running(beat, 120.0, 48_000.0)
}

fn block(r: &mut Rig, beat: f64, f: impl FnOnce(&mut Engine, &mut Vec<OutEvent>)) -> Vec<OutEvent> {
    let mut out = Vec::new();
    let mut emit = |e| out.push(e);
    r.engine
        .begin_block(&playing(beat), Settings::default(), 6000, &mut emit);
    let mut extra = Vec::new();
    f(&mut r.engine, &mut extra);
    r.engine.end_block(&mut emit);
    extra.extend(out);
    extra
}

/// A note played at beat 0 and the blocks until beat 2, where its answer starts.
fn answering_rig() -> Rig {
    let mut r = rig();
    block(&mut r, 0.0, |e, out| {
        e.input_note(0, 0, 60, 100, &mut |ev| out.push(ev));
        e.input_note(10, 0, 60, 0, &mut |ev| out.push(ev));
    });
    for i in 1..8 {
        block(&mut r, i as f64 * 0.25, |_, _| {});
    }
    assert!(r.engine.is_answering());
    r
}

/// The inference thread's note for answer `id`.
fn generated(r: &Rig, id: u32, beat: f64, pitch: u8) {
    r.worker_tx
        .send(FromWorker::Note {
            id,
            beat,
            pitch,
            velocity: 90,
        })
        .unwrap();
}

#[test]
fn a_finished_answer_lets_the_host_sleep() {
    let mut r = answering_rig();
    let id = r.engine.playback.id();
    generated(&r, id, 2.0, 72);
    r.worker_tx
        .send(FromWorker::Note {
            id,
            beat: 2.5,
            pitch: 72,
            velocity: 0,
        })
        .unwrap();
    r.engine.stats.progress.publish(id, f64::INFINITY);
    for i in 8..10 {
        block(&mut r, i as f64 * 0.25, |_, _| {});
        assert!(r.engine.needs_processing(), "the note still sounds");
    }
    let out = block(&mut r, 2.5, |_, _| {});
    assert!(
        matches!(out[..], [OutEvent::Off { pitch: 72, .. }]),
        "{out:?}"
    );
    assert!(!r.engine.is_answering());
    assert!(!r.engine.needs_processing());
}

#[test]
fn late_notes_never_go_out_before_what_the_block_already_sent() {
    let mut r = answering_rig();
    let id = r.engine.playback.id();
    let tx = r.worker_tx.clone();
    let out = block(&mut r, 2.0, |e, out| {
        // The host's CC at 100 passed through; then a note for beat 1.9 (before this
        // block) reaches the engine, late.
        e.host_event(100, &mut |ev| out.push(ev));
        tx.send(FromWorker::Note {
            id,
            beat: 1.9,
            pitch: 72,
            velocity: 90,
        })
        .unwrap();
    });
    assert!(
        out.iter()
            .any(|e| matches!(*e, OutEvent::On { timing, pitch: 72, .. } if timing >= 100)),
        "{out:?}"
    );
}

/// Each generated note in `out` as (pitch, on sample, off sample).
fn note_spans(out: &[OutEvent]) -> Vec<(u8, u32, Option<u32>)> {
    let mut spans: Vec<(u8, u32, Option<u32>)> = Vec::new();
    for e in out {
        match *e {
            OutEvent::On { timing, pitch, .. } => spans.push((pitch, timing, None)),
            OutEvent::Off { timing, pitch, .. } => {
                if let Some(s) = spans.iter_mut().find(|s| s.0 == pitch && s.2.is_none()) {
                    s.2 = Some(timing);
                }
            }
        }
    }
    spans
}

#[test]
fn late_notes_and_their_ends_never_fall_on_one_sample() {
    // A whole late stretch of answer arrives in one block (a slow model, or a host that
    // renders without waiting): each note would start and end on the block's first sample.
    let mut r = answering_rig();
    let id = r.engine.playback.id();
    for (beat, pitch, velocity) in [(1.0, 72, 90), (1.1, 72, 0), (1.2, 74, 90), (1.3, 74, 90)] {
        r.worker_tx
            .send(FromWorker::Note {
                id,
                beat,
                pitch,
                velocity,
            })
            .unwrap();
    }
    let mut out = block(&mut r, 2.0, |_, _| {});
    // What is left ends in the next block, 6000 samples on.
    let next = block(&mut r, 2.25, |e, out| {
        e.stop_answer(0, &mut |ev| out.push(ev))
    });
    out.extend(next.into_iter().map(|e| match e {
        OutEvent::On {
            timing,
            channel,
            pitch,
            velocity,
        } => OutEvent::On {
            timing: timing + 6000,
            channel,
            pitch,
            velocity,
        },
        OutEvent::Off {
            timing,
            channel,
            pitch,
        } => OutEvent::Off {
            timing: timing + 6000,
            channel,
            pitch,
        },
    }));
    let spans = note_spans(&out);
    assert_eq!(spans.len(), 3, "{out:?}");
    for (pitch, on, off) in &spans {
        let off = off.unwrap_or_else(|| panic!("{pitch} never ends: {out:?}"));
        assert!(off > *on, "{pitch} has zero length: {out:?}");
    }
}

#[test]
fn an_answer_stopped_on_the_sample_a_late_note_began_ends_it_a_block_later() {
    let mut r = answering_rig();
    let id = r.engine.playback.id();
    generated(&r, id, 1.0, 72);
    // The late note goes out with the block's first host event, which stops the answer.
    let out = block(&mut r, 2.0, |e, out| {
        e.host_event(0, &mut |ev| out.push(ev));
        e.stop_answer(0, &mut |ev| out.push(ev));
    });
    assert!(
        matches!(
            out[..],
            [OutEvent::On {
                timing: 0,
                pitch: 72,
                ..
            }]
        ),
        "{out:?}"
    );
    let next = block(&mut r, 2.25, |_, _| {});
    assert!(
        matches!(
            next[..],
            [OutEvent::Off {
                timing: 0,
                pitch: 72,
                ..
            }]
        ),
        "{next:?}"
    );
}

#[test]
fn a_host_playing_without_a_position_still_gets_answers() {
    for pos in [None, Some(f64::NAN)] {
        let mut r = rig();
        let t = Transport {
            pos_beats: pos,
            bar_start_beats: None,
            tempo: Some(f64::NAN),
            ..playing(0.0)
        };
        let mut out = Vec::new();
        for i in 0..12 {
            r.engine
                .begin_block(&t, Settings::default(), 6000, &mut |e| out.push(e));
            if i == 0 {
                r.engine.input_note(0, 0, 60, 100, &mut |e| out.push(e));
                r.engine.input_note(10, 0, 60, 0, &mut |e| out.push(e));
            }
            r.engine.end_block(&mut |e| out.push(e));
        }
        assert!(
            r.engine.is_answering(),
            "position {pos:?}: own clock, 120 bpm"
        );
    }
}

#[test]
fn phrase_then_silence_asks_for_an_answer_on_the_next_beat() {
    let mut r = rig();
    let out = block(&mut r, 0.0, |e, out| {
        e.input_note(0, 0, 60, 100, &mut |ev| out.push(ev));
        e.input_note(3000, 0, 60, 0, &mut |ev| out.push(ev));
    });
    assert_eq!(out.len(), 2, "passed through");
    // The transport starting resets the worker; then the played notes follow.
    let played: Vec<_> = r
        .worker_rx
        .try_iter()
        .filter(|m| *m != ToWorker::Reset)
        .collect();
    assert_eq!(
        played[0],
        ToWorker::Played {
            pitch: 60,
            velocity: 100,
            beat: 0.0
        }
    );
    assert_eq!(
        played[1],
        ToWorker::Played {
            pitch: 60,
            velocity: 0,
            beat: 0.125
        }
    );
    // Released at 0.125; silence of 1 beat is reached at 1.125 → answer starts at beat 2.
    // Half-way there, the inference thread is told so, once.
    let mut beat = 0.25;
    while beat < 1.25 {
        block(&mut r, beat, |_, _| {});
        beat += 0.25;
    }
    let msgs: Vec<_> = r.worker_rx.try_iter().collect();
    assert_eq!(
        msgs,
        vec![
            ToWorker::Expect {
                start_beat: 2.0,
                length_beats: 8.0,
                meter: Meter::default(),
            },
            ToWorker::Answer {
                id: 1,
                start_beat: 2.0,
                length_beats: 8.0,
                prompt: Prompt::Phrase,
                meter: Meter::default(),
            }
        ]
    );
    assert!(r.engine.is_answering());
}

#[test]
fn the_answer_is_foretold_again_when_the_phrase_or_its_start_changes() {
    let mut r = rig();
    let expect = |start_beat| ToWorker::Expect {
        start_beat,
        length_beats: 8.0,
        meter: Meter::default(),
    };
    let foretold = |r: &Rig| -> Vec<ToWorker> {
        let sent = r.worker_rx.try_iter();
        sent.filter(|m| matches!(m, ToWorker::Expect { .. }))
            .collect()
    };
    block(&mut r, 0.0, |e, out| {
        e.input_note(0, 0, 60, 100, &mut |ev| out.push(ev));
        e.input_note(3000, 0, 60, 0, &mut |ev| out.push(ev));
    });
    block(&mut r, 0.25, |_, _| {});
    assert_eq!(foretold(&r), [], "a short rest in the phrase");
    block(&mut r, 0.5, |_, _| {});
    assert_eq!(foretold(&r), [expect(2.0)], "half the silence trigger");
    // A key struck and released: the same start, told again (the inference thread dropped
    // what it drew for the shorter phrase), once the new silence is half-way.
    block(&mut r, 0.75, |e, out| {
        e.input_note(0, 0, 62, 100, &mut |ev| out.push(ev));
        e.input_note(1000, 0, 62, 0, &mut |ev| out.push(ev));
    });
    block(&mut r, 1.0, |_, _| {});
    assert_eq!(foretold(&r), []);
    block(&mut r, 1.25, |_, _| {});
    assert_eq!(foretold(&r), [expect(2.0)]);
    // *Start on* the bar moves it.
    let mut out = Vec::new();
    let bar = Settings {
        quantize: StartQuantize::Bar,
        ..Settings::default()
    };
    r.engine
        .begin_block(&playing(1.5), bar, 6000, &mut |e| out.push(e));
    r.engine.end_block(&mut |e| out.push(e));
    assert_eq!(foretold(&r), [expect(4.0)]);
    r.engine
        .begin_block(&playing(1.75), bar, 6000, &mut |e| out.push(e));
    r.engine.end_block(&mut |e| out.push(e));
    assert_eq!(foretold(&r), [], "nothing changed");
}

#[test]
fn a_held_sustain_pedal_is_still_playing() {
    let mut r = rig();
    block(&mut r, 0.0, |e, out| {
        e.input_note(0, 0, 60, 100, &mut |ev| out.push(ev));
        e.input_pedal(5, 0, true, &mut |ev| out.push(ev));
        e.input_note(10, 0, 60, 0, &mut |ev| out.push(ev));
    });
    // Two beats of silence with the pedal down: no answer.
    for i in 1..8 {
        block(&mut r, i as f64 * 0.25, |_, _| {});
    }
    assert!(!r.engine.is_answering(), "the pedal still holds the phrase");
    // Pedal up at beat 2: silence counts from there (1 beat) → the answer at beat 3.
    block(&mut r, 2.0, |e, out| {
        e.input_pedal(0, 0, false, &mut |ev| out.push(ev))
    });
    for i in 9..11 {
        block(&mut r, i as f64 * 0.25, |_, _| {});
    }
    assert!(!r.engine.is_answering());
    block(&mut r, 2.75, |_, _| {}); // ends at beat 3: a beat after pedal-up

    assert!(r.engine.is_answering());
    let sent: Vec<ToWorker> = r.worker_rx.try_iter().collect();
    assert!(sent.contains(&ToWorker::Pedal {
        down: true,
        beat: 5.0 / 24_000.0
    }));
    assert!(sent.contains(&ToWorker::Pedal {
        down: false,
        beat: 2.0
    }));
    assert!(matches!(
        sent.last(),
        Some(ToWorker::Answer { start_beat, .. }) if *start_beat == 3.0
    ));
}

#[test]
fn generated_notes_play_at_sample_offsets_and_stop_ends_them() {
    let mut r = answering_rig();
    assert!(r.engine.is_answering());
    generated(&r, 1, 2.0, 64);
    generated(&r, 1, 2.1, 67);
    generated(&r, 0, 2.1, 30); // stale: an earlier answer's
    let out = block(&mut r, 2.0, |_, _| {});
    assert_eq!(
        out,
        vec![
            OutEvent::On {
                timing: 0,
                channel: 0,
                pitch: 64,
                velocity: 90
            },
            OutEvent::On {
                timing: 2400,
                channel: 0,
                pitch: 67,
                velocity: 90
            },
        ]
    );
    assert_eq!(r.engine.sounding_count(), 2);
    // Transport stops: both end at once.
    let mut out = Vec::new();
    let stopped = Transport {
        playing: false,
        ..playing(2.25)
    };
    r.engine
        .begin_block(&stopped, Settings::default(), 6000, &mut |e| out.push(e));
    r.engine.end_block(&mut |e| out.push(e));
    assert_eq!(out.len(), 2);
    assert!(out
        .iter()
        .all(|e| matches!(e, OutEvent::Off { timing: 0, .. })));
    assert_eq!(r.engine.sounding_count(), 0);
}

#[test]
fn notes_sounding_at_a_reset_end_first_thing_in_the_next_block() {
    let mut r = answering_rig();
    generated(&r, 1, 2.0, 64);
    block(&mut r, 2.0, |_, _| {});
    assert_eq!(r.engine.sounding_count(), 1);
    // The host deactivates (no event context), then processes again, from anywhere.
    r.engine.reset();
    assert!(r
        .worker_rx
        .try_iter()
        .any(|m| matches!(m, ToWorker::Cancel { .. })));
    assert_eq!(r.engine.sounding_count(), 1, "owed, not forgotten");
    let out = block(&mut r, 40.0, |_, _| {});
    assert_eq!(
        out,
        vec![OutEvent::Off {
            timing: 0,
            channel: 0,
            pitch: 64
        }]
    );
    assert_eq!(r.engine.sounding_count(), 0);
    assert!(block(&mut r, 40.25, |_, _| {}).is_empty(), "owed once");
}

/// One block at `beat` with `settings`.
fn block_with(
    r: &mut Rig,
    beat: f64,
    settings: Settings,
    f: impl FnOnce(&mut Engine, &mut Vec<OutEvent>),
) -> Vec<OutEvent> {
    let mut out = Vec::new();
    let mut emit = |e| out.push(e);
    r.engine
        .begin_block(&playing(beat), settings, 6000, &mut emit);
    let mut during = Vec::new();
    f(&mut r.engine, &mut during);
    r.engine.end_block(&mut emit);
    during.extend(out);
    during
}

#[test]
fn a_passed_note_on_gets_its_note_off_whatever_pass_through_says_then() {
    let mut r = rig();
    let on = Settings::default();
    let off = Settings {
        pass_through: false,
        ..on
    };
    let out = block_with(&mut r, 0.0, on, |e, out| {
        e.input_note(0, 2, 60, 100, &mut |ev| out.push(ev))
    });
    assert_eq!(out.len(), 1);
    // Pass-through switched off while the key is down: its note-off still goes out.
    let out = block_with(&mut r, 0.25, off, |e, out| {
        e.input_note(7, 2, 60, 0, &mut |ev| out.push(ev))
    });
    assert_eq!(
        out,
        [OutEvent::Off {
            timing: 7,
            channel: 2,
            pitch: 60
        }]
    );
    // And a note-on not passed sends no note-off once pass-through is back on.
    block_with(&mut r, 0.5, off, |e, out| {
        e.input_note(0, 2, 62, 100, &mut |ev| out.push(ev))
    });
    let out = block_with(&mut r, 0.75, on, |e, out| {
        e.input_note(0, 2, 62, 0, &mut |ev| out.push(ev))
    });
    assert!(out.is_empty(), "{out:?}");
}

#[test]
fn switching_answers_off_and_on_forgets_the_phrase() {
    let mut r = rig();
    let on = Settings::default();
    let off = Settings {
        enabled: false,
        ..on
    };
    block_with(&mut r, 0.0, on, |e, out| {
        e.input_note(0, 0, 60, 100, &mut |ev| out.push(ev));
        e.input_note(10, 0, 60, 0, &mut |ev| out.push(ev));
    });
    block_with(&mut r, 0.25, off, |_, _| {});
    // On again long after the phrase: no answer from the stale phrase, ever.
    for i in 2..16 {
        block_with(&mut r, i as f64 * 0.25, on, |_, _| {});
    }
    assert!(!r.engine.is_answering());
    assert!(r
        .worker_rx
        .try_iter()
        .all(|m| !matches!(m, ToWorker::Answer { .. })));
}

#[test]
fn all_notes_off_releases_keys_whose_note_off_was_lost() {
    let mut r = rig();
    block(&mut r, 0.0, |e, out| {
        e.input_note(0, 0, 60, 100, &mut |ev| out.push(ev));
        e.input_note(0, 0, 64, 100, &mut |ev| out.push(ev));
        e.input_note(10, 0, 64, 0, &mut |ev| out.push(ev));
        // 60's note-off never comes.
    });
    for i in 1..8 {
        block(&mut r, i as f64 * 0.25, |_, _| {});
    }
    assert!(!r.engine.is_answering(), "a key still counts as held");
    assert!(r.engine.needs_processing(), "a phrase is open");
    block(&mut r, 2.0, |e, out| {
        e.release_all_keys(0, &mut |ev| out.push(ev))
    });
    for i in 9..12 {
        block(&mut r, i as f64 * 0.25, |_, _| {});
    }
    assert!(
        r.engine.is_answering(),
        "the phrase ended at the all-notes-off"
    );
    assert!(r.engine.needs_processing(), "an answer plays");
    r.engine.reset();
    let out = block(&mut r, 3.0, |_, _| {});
    assert!(out.is_empty() || out.iter().all(|e| matches!(e, OutEvent::Off { .. })));
    assert!(
        !r.engine.needs_processing(),
        "nothing waits, plays or is owed"
    );
}

#[test]
fn playing_again_interrupts_the_answer() {
    let mut r = answering_rig();
    generated(&r, 1, 2.0, 64);
    block(&mut r, 2.0, |_, _| {});
    let out = block(&mut r, 2.25, |e, out| {
        e.input_note(100, 0, 72, 80, &mut |ev| out.push(ev))
    });
    assert_eq!(
        out[0],
        OutEvent::Off {
            timing: 100,
            channel: 0,
            pitch: 64
        }
    );
    assert_eq!(
        out[1],
        OutEvent::On {
            timing: 100,
            channel: 0,
            pitch: 72,
            velocity: 80
        }
    );
    assert!(!r.engine.is_answering());
    let heard_until = 2.25 + 100.0 / 24_000.0;
    assert!(r
        .worker_rx
        .try_iter()
        .any(|m| m == ToWorker::Cancel { beat: heard_until }));
}

#[test]
fn again_answers_the_last_phrase_anew_at_the_next_start_but_never_over_the_player() {
    let mut r = answering_rig();
    generated(&r, 1, 2.0, 64);
    block(&mut r, 2.0, |_, _| {});
    r.worker_rx.try_iter().for_each(drop);
    r.engine.stats.again.store(true, Ordering::Relaxed);
    let out = block(&mut r, 2.25, |_, _| {});
    assert!(
        out.contains(&OutEvent::Off {
            timing: 0,
            channel: 0,
            pitch: 64
        }),
        "the answer playing yields to its variation: {out:?}"
    );
    let sent: Vec<_> = r.worker_rx.try_iter().collect();
    assert!(matches!(sent[0], ToWorker::Cancel { .. }), "{sent:?}");
    assert!(
        matches!(
            sent[1],
            ToWorker::Answer {
                id: 2,
                start_beat: 3.0,
                prompt: Prompt::Again,
                ..
            }
        ),
        "{sent:?}"
    );
    assert!(r.engine.is_answering());

    // While a key is down the player's phrase comes first: the request is dropped.
    block(&mut r, 2.5, |e, out| {
        e.input_note(0, 0, 60, 90, &mut |ev| out.push(ev))
    });
    r.worker_rx.try_iter().for_each(drop);
    r.engine.stats.again.store(true, Ordering::Relaxed);
    block(&mut r, 2.75, |_, _| {});
    assert!(r
        .worker_rx
        .try_iter()
        .all(|m| !matches!(m, ToWorker::Answer { .. })));
    assert!(!r.engine.stats.again.load(Ordering::Relaxed));
}

#[test]
fn transport_jump_cancels_and_free_clock_runs_when_stopped() {
    let mut r = rig();
    block(&mut r, 0.0, |_, _| {});
    block(&mut r, 8.0, |_, _| {}); // loop/relocate
    assert!(r.worker_rx.try_iter().any(|m| m == ToWorker::Reset));
    // An answer cut by a jump was heard until the last block before it ended.
    let mut r = answering_rig();
    r.worker_rx.try_iter().for_each(drop);
    block(&mut r, 16.0, |_, _| {});
    let sent: Vec<_> = r.worker_rx.try_iter().collect();
    assert_eq!(sent[0], ToWorker::Cancel { beat: 2.0 }, "{sent:?}");
    let stopped = Transport {
        playing: false,
        pos_beats: Some(0.0),
        ..playing(0.0)
    };
    let mut sink = |_| {};
    r.engine
        .begin_block(&stopped, Settings::default(), 24_000, &mut sink);
    r.engine.end_block(&mut sink);
    let before = r.engine.clock.block().end_beat();
    r.engine
        .begin_block(&stopped, Settings::default(), 24_000, &mut sink);
    assert_eq!(
        r.engine.clock.block().start_beat,
        before,
        "own clock advances while stopped"
    );
}
