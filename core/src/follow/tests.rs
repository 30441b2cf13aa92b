use super::*;

/// The bars of 4/4 from beat 0, at 24 grid steps a beat.
const COMMON_BAR: Bar = Bar {
    origin: 0,
    steps: 96,
};

#[test]
fn density_steers_back_to_its_pace_without_overshooting() {
    let none = Density::from_onsets(&[], 10, 24);
    assert_eq!(
        (none.note_on_bias(5, 1.0), none.shift_bias(5, 24, 1.0, 1.0)),
        (0.0, 0.0)
    );
    // A note a beat (24 steps).
    let mut d = Density {
        rate: 1.0 / 24.0,
        ..Density::default()
    };
    // No notes after two beats: play on, and do not wait any longer.
    assert!(d.note_on_bias(48, 1.0) > 0.0);
    assert!(d.shift_bias(48, 24, 1.0, 1.0) < 0.0);
    for s in 0..3 {
        d.strike(s);
    }
    let chord = d;
    d.strike(2);
    assert_eq!(d, chord, "a chord's notes are one onset");
    // Three onsets when a beat and a half (and the half onset due at the start) are due:
    // one ahead, so no more notes now; a beat's wait brings it back to the pace, two
    // beats put it as far behind, three further.
    assert!(d.note_on_bias(36, 1.0) < 0.0);
    let wait = |beats: u64| d.shift_bias(36, beats * 24, 1.0, 1.0);
    assert!(wait(1) > 0.0);
    assert!(
        wait(2).abs() < 1e-6 && wait(3) < 0.0,
        "overshooting is worse"
    );
    let one_ahead = d.note_on_bias(36, 1.0);
    for s in 3..13 {
        d.strike(s);
    }
    assert!(
        d.note_on_bias(36, 1.0) < one_ahead,
        "further ahead, a stronger pull"
    );
    assert_eq!(
        d.note_on_bias(36, 1.0),
        -Density::PULL * Density::MAX_ONSETS,
        "bounded"
    );
    assert_eq!(
        d.shift_bias(36, 8 * 24, 1.0, 1.0),
        Density::MAX_SHIFT_BIAS,
        "bounded"
    );
}

#[test]
fn the_pace_leans_from_the_phrases_toward_the_typical_one() {
    let per_beat = |steps: &[u64], end| Density::from_onsets(steps, end, 24).rate * 24.0;
    let typical = Density::TYPICAL_PER_BEAT;
    // A note a beat: a little faster, far from typical.
    let slow = per_beat(&[0, 24, 48, 72], 96);
    assert!(slow > 1.0 && slow < 1.5, "{slow}");
    // Twelve a beat: a little slower.
    let busy: Vec<u64> = (0..48).map(|i| i * 2).collect();
    let fast = per_beat(&busy, 96);
    assert!(fast < 12.0 && fast > 9.0, "{fast}");
    // Only the last Guide::NOTES notes count, from the first of them to the context's end.
    let long: Vec<u64> = (0..100).map(|i| i * 24).collect();
    let recent = per_beat(&long, 100 * 24);
    assert!((recent - slow).abs() < 1e-4, "{recent} {slow}");
    assert!(typical > 2.0);
}

#[test]
fn repeats_follow_the_phrases_habit_of_striking_again() {
    assert_eq!(
        Repeats::from_notes(&[(0, 60), (24, 60)]).bias(48),
        0.0,
        "too few onsets"
    );
    // C C E E G G ...: every second onset repeats the one before (3 of 5).
    let phrase = [(0, 60), (24, 60), (48, 64), (72, 64), (96, 67), (120, 67)];
    let mut r = Repeats::from_notes(&phrase);
    assert_eq!(r.rate, Some(0.6));
    // The answer's first onset: owed 0.6 of a repeat, so a repeat is welcome.
    assert!(r.bias(0) > 0.0);
    r.strike(0, true);
    // At the next onset it is 0.2 behind; a repeat would put it 0.8 ahead.
    assert!(r.bias(24) < 0.0);
    // A chord note at an onset that already repeats changes nothing.
    assert_eq!(r.bias(0), 0.0);
    r.strike(24, false);
    r.strike(48, false);
    r.strike(72, false);
    // Four onsets, one repeat, owed 2.4 (and 3 with the next): pulled hard toward one.
    let owed = r.bias(96);
    assert!(owed > Repeats::PULL, "{owed}");
    // A phrase that never repeats pushes repeats away.
    let mut never = Repeats::from_notes(&[(0, 60), (24, 62), (48, 64), (72, 65)]);
    assert!(never.bias(0) < 0.0);
    never.strike(0, true);
    assert!(
        never.bias(24) < never.bias(0),
        "further ahead, a stronger push"
    );
}

#[test]
fn the_guide_steers_the_answers_mix_of_pitch_classes_toward_the_phrases() {
    // The phrase: C and G equally often.
    let mut g = Guide::from_pitches(&[60, 67, 60, 67, 60, 67]);
    let (c, g_) = (g.bias(60), g.bias(67));
    assert!((c - g_).abs() < 1.0);
    // The answer struck C three times: G is owed, C is not.
    for s in 0..3 {
        g.strike(60, s);
    }
    g.strike(64, 3);
    // Owed as of the latest onset: a chord's notes are owed alike.
    let (c3, g3) = (g.bias(60), g.bias(67));
    g.strike(67, 3);
    assert_eq!((g.bias(60), g.bias(67)), (c3, g3));
    assert!(g.bias(67) > g_ && g.bias(60) < c);
    assert!(g.bias(67) > g.bias(60) + 0.5);
}

#[test]
fn the_guide_pulls_toward_the_phrases_key_and_register() {
    assert_eq!(Guide::from_pitches(&[]), Guide::default());
    // C major around middle C.
    let g = Guide::from_pitches(&[60, 62, 64, 65, 67, 69, 71, 72, 67, 64]);
    assert!(g.bias(64) > g.bias(63), "E over E flat");
    assert!(g.bias(67) > g.bias(66), "G over F sharp");
    assert!(
        g.bias(64) > g.bias(88),
        "near the phrase over two octaves up"
    );
    assert!(g.bias(64) > g.bias(40), "and two octaves down");
    assert!(g.bias(64) > g.bias(61) + 1.0);
    // Only the latest notes count.
    let mut long = vec![30u8; 200];
    long.extend([60, 64, 67].repeat(30));
    let g = Guide::from_pitches(&long);
    assert!(g.bias(64) > g.bias(30));
}

#[test]
fn onsets_remember_the_previous_chord() {
    let mut o = Onsets::default();
    assert_eq!(o.previous_at(0), 0);
    o.strike(60, 0);
    o.strike(64, 0);
    assert_eq!(o.previous_at(0), 0, "a chord's own notes are not repeats");
    let chord = 1u128 << 60 | 1u128 << 64;
    assert_eq!(o.previous_at(5), chord);
    o.strike(62, 5);
    assert_eq!(o.previous_at(5), chord, "later notes of the same onset");
    assert_eq!(o.previous_at(9), 1u128 << 62);
}

#[test]
fn chords_are_answered_with_chords_of_the_phrases_size() {
    // Triads on every beat.
    let steps: Vec<u64> = (0..4).flat_map(|b| [b * 24; 3]).collect();
    let mut t = Texture::from_onsets(&steps);
    assert_eq!(t.per_onset, Some(3.0));
    assert!(!t.joins(0));
    assert_eq!(t.bias(0, 1.0), 0.0, "a new onset is the pace's business");
    t.strike(0);
    assert!(t.bias(0, 1.0) > 0.0, "a second note is welcome");
    t.strike(0);
    assert!(t.bias(0, 1.0) > 0.0, "and a third");
    t.strike(0);
    assert!(t.bias(0, 1.0) < 0.0, "a fourth is not");
    // A melody of single notes holds chords back.
    let mut line = Texture::from_onsets(&[0, 12, 24, 36]);
    line.strike(0);
    assert!(line.bias(0, 1.0) < 0.0);
    assert_eq!(
        Texture::from_onsets(&[0, 0, 12]).per_onset,
        None,
        "too few onsets"
    );
}

#[test]
fn onsets_keep_to_the_phrases_grid() {
    // 16ths from beat 0: steps 0, 6, 12, 18 of each beat.
    let steps: Vec<u64> = (0..16).map(|i| i * 6).collect();
    let p = Phases::from_onsets(&steps, 0, 24, 96);
    assert_eq!(p.bias(0, 1.0), 0.0);
    assert!(p.bias(6, 1.0) > -0.1 && p.bias(18, 1.0) > -0.1);
    assert_eq!(
        p.bias(3, 1.0),
        (Phases::SHARPNESS * (0.5f32 / 4.5).ln()).max(-Phases::MAX_PENALTY)
    );
    // Triplets: 0, 8, 16; the answer starting one step later than the context's grid
    // is told where the triplets fall.
    let triplets: Vec<u64> = (0..9).map(|i| i * 8).collect();
    let t = Phases::from_onsets(&triplets, 0, 24, 1);
    assert_eq!(t.bias(7, 1.0), 0.0, "grid step 8");
    assert!(t.bias(8, 1.0) < -5.0, "grid step 9");
    // The context itself may start off the beat.
    let shifted = Phases::from_onsets(&[0, 12], 6, 24, 0);
    assert_eq!(shifted.bias(6, 1.0), 0.0);
    assert_eq!(Phases::default().bias(5, 1.0), 0.0);
}

#[test]
fn a_denser_answer_subdivides_the_phrases_grid() {
    // Quarter notes: twice as dense, 8ths between them, but no 16ths.
    let quarters: Vec<u64> = (0..8).map(|i| i * 24).collect();
    let q = Phases::from_onsets(&quarters, 0, 24, 0);
    assert!(
        q.bias(12, 1.0) < -10.0,
        "at the phrase's pace, the 8th is off its grid"
    );
    assert!(q.bias(12, 2.0) > -0.1, "twice as dense, on it");
    assert!(q.bias(12, 2.0) > q.bias(12, 1.5) && q.bias(12, 1.5) > q.bias(12, 1.0));
    assert_eq!(q.bias(6, 2.0), q.bias(6, 1.0));
    assert_eq!(
        q.bias(12, 0.5),
        q.bias(12, 1.0),
        "a sparser answer keeps the grid"
    );
    // Swung 8ths (the long and the short of a triplet): triplets, not straight 8ths.
    let swung: Vec<u64> = (0..8).flat_map(|b| [b * 24, b * 24 + 16]).collect();
    let s = Phases::from_onsets(&swung, 0, 24, 0);
    assert!(s.bias(8, 2.0) > -0.1);
    assert_eq!(s.bias(12, 2.0), s.bias(12, 1.0));
    assert_eq!(s.bias(20, 2.0), s.bias(20, 1.0));
    // A grid finer than 32nds is not subdivided.
    let odd: Vec<u64> = [0, 5, 7, 24, 29, 31].to_vec();
    let o = Phases::from_onsets(&odd, 0, 24, 0);
    assert_eq!(o.bias(1, 2.0), o.bias(1, 1.0));
}

#[test]
fn a_wait_that_catches_up_is_favoured_only_where_the_phrase_strikes() {
    // 8ths from beat 0 (steps 0 and 12 of each beat); the answer, an onset ahead at step 6,
    // is to wait, but the wait favoured is the one to the 8th at step 12.
    let steps: Vec<u64> = (0..16).map(|i| i * 12).collect();
    let phases = Phases::from_onsets(&steps, 0, 24, 0);
    assert_eq!(phases.share(12, 1.0), 1.0);
    assert!(phases.share(9, 1.0) < 0.1);
    let mut d = Density {
        rate: 1.0 / 12.0,
        ..Density::default()
    };
    d.strike(0);
    d.strike(3);
    let wait = |to: u64| d.shift_bias(6, to - 6, 1.0, phases.share(to, 1.0));
    assert!(wait(12) > 0.0);
    assert!(
        wait(9) < wait(12) * 1e-3,
        "a wait to a place the phrase never strikes"
    );
    // Overshooting is held back wherever it lands.
    assert!(d.shift_bias(6, 96, 1.0, phases.share(96, 1.0)) < 0.0);
    assert_eq!(Phases::default().share(5, 1.0), 1.0, "no phrase, no grid");
}

#[test]
fn density_and_polyphony_scale_what_is_followed() {
    // Single notes, one a beat; the answer has struck one note at step 0.
    let steps = [0, 24, 48, 72];
    let mut f = Follow::from_context(&steps.map(|s| (s, 60)), 96, 96, 0, 24, COMMON_BAR);
    f.strike(64, 0);
    let vocab = Vocab::default();
    let on = vocab.encode(Token::NoteOn(67));
    let at = |density: f32, polyphony: f32, step: u64| {
        let mut logits = vec![0.0; vocab.size()];
        let sampling = Sampling {
            density,
            polyphony,
            ..Sampling::default()
        };
        f.apply(&mut logits, &vocab, step, &sampling);
        logits[on]
    };
    // A beat and a half on: twice the density wants the next onset more, half holds back.
    assert!(at(1.0, 0.0, 36) > at(0.0, 0.0, 36));
    assert!(at(-1.0, 0.0, 36) < at(0.0, 0.0, 36));
    // At the same step (a chord): twice the polyphony welcomes a second note.
    assert!(at(0.0, 1.0, 0) > at(0.0, 0.0, 0));
    assert!(at(0.0, 1.0, 0) > 0.0);
    // Half of one note is still one note: no thinner than single notes.
    assert_eq!(at(0.0, -1.0, 0), at(0.0, 0.0, 0));
}

#[test]
fn a_bass_and_a_melody_are_two_registers_not_one_between_them() {
    // Left hand around C2–G2, right hand around C5–G5: the middle is where neither plays.
    let g = Guide::from_pitches(&[36, 43, 36, 43, 72, 76, 79, 72, 76, 79]);
    assert!(
        g.bias(76) > g.bias(57) + 1.0,
        "the melody's register over the middle"
    );
    assert!(g.bias(40) > g.bias(57) + 1.0, "and the bass's");
    assert!(g.in_register(40) && g.in_register(76) && !g.in_register(57) && !g.in_register(100));
}

#[test]
fn the_pitch_guide_chooses_which_note_not_when() {
    // A phrase in C major; the answer has struck nothing yet.
    let steps: Vec<(u64, u8)> = [60u8, 64, 67, 72, 67, 64, 62, 60]
        .iter()
        .enumerate()
        .map(|(i, &p)| (i as u64 * 12, p))
        .collect();
    let f = Follow::from_context(&steps, 96, 96, 0, 24, COMMON_BAR);
    let vocab = Vocab::default();
    let mut logits = vec![0.0f32; vocab.size()];
    let (on, shift) = (vocab.note_on_range(), vocab.encode(Token::TimeShift(12)));
    let guided = Sampling {
        density: 0.0,
        ..Sampling::default()
    };
    // Only the guide: no pace, grid or chord pull on this step's note-ons.
    let mut just_guide = f;
    just_guide.density = Density::default();
    just_guide.phases = Phases::default();
    just_guide.apply(&mut logits, &vocab, 0, &guided);
    let mass = log_sum_exp(&logits[on.clone()]);
    assert!((mass - (128f32).ln()).abs() < 1e-3, "{mass}");
    assert!(
        logits[on.start + 64] > logits[on.start + 63],
        "E over E flat"
    );
    assert_eq!(logits[shift], 0.0, "no pace pull without a pace");
}

#[test]
fn figures_go_on_as_the_phrase_went_on() {
    // C E G, then D F A: up a third, up a third. After E G the phrase went up to C.
    let f = Figures::from_pitches(&[60, 64, 67, 72, 62, 65, 69]);
    let mut logits = [0.0f32; 128];
    f.apply(&mut logits, 1.0, |_| true);
    // The latest two, F A, go up four as C E did, and C E went on up three to G: after A, C.
    assert_eq!(logits[72], 1.0, "A then up three");
    assert_eq!(logits.iter().filter(|&&l| l > 0.0).count(), 1);
    let mut g = f;
    g.strike(71);
    g.strike(74);
    // B D: up three, as E G and F A went; after E G the phrase went up five.
    let mut logits = [0.0f32; 128];
    g.apply(&mut logits, 1.0, |_| true);
    assert_eq!(logits[79], 1.0, "D then up five");
    assert_eq!(Figures::from_pitches(&[60, 62]).len, 2);
    let mut none = [0.0f32; 128];
    Figures::from_pitches(&[60, 62]).apply(&mut none, 1.0, |_| true);
    let mut away = [0.0f32; 128];
    f.apply(&mut away, 1.0, |p| p < 70);
    assert!(
        away.iter().all(|&l| l == 0.0),
        "out of the phrase's register"
    );
    assert!(none.iter().all(|&l| l == 0.0), "too short a phrase");
}

#[test]
fn waits_are_shared_out_toward_where_the_phrase_strikes() {
    // Quarter notes: of the waits from the beat, the one to the next beat gains on the one
    // to the 8th between, while waiting as a whole stays as likely as the model made it.
    let steps: Vec<u64> = (0..8).map(|i| i * 24).collect();
    let phases = Phases::from_onsets(&steps, 0, 24, 0);
    let mut shifts = vec![0.0f32; 48];
    let before = log_sum_exp(&shifts);
    phases.share_out_waits(&mut shifts, 0, 0.5, 1.0);
    assert!((log_sum_exp(&shifts) - before).abs() < 1e-4);
    assert!(
        shifts[23] > shifts[11] + 1.0,
        "a beat's wait against an 8th's"
    );
    assert!(
        (shifts[23] - shifts[47]).abs() < 1e-6,
        "one beat or two alike"
    );
    // No phrase, or Follow phrase at 0: nothing moves.
    for (phases, weight) in [(Phases::default(), 0.5), (phases, 0.0)] {
        let mut flat = vec![0.0f32; 48];
        phases.share_out_waits(&mut flat, 0, weight, 1.0);
        assert!(flat.iter().all(|&x| x == 0.0));
    }
}
