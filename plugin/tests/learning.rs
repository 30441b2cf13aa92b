//! *Learn from me* in the virtual-clock host (`continuo::sim`): the player's phrases are
//! learned as they are answered, and the answer takes up their figure as far as the
//! parameter says.

use continuo::sim::Sim;
use continuo::worker::WorkerSettings;
use continuo_core::memory::MemoryStats;
use continuo_core::midi::Note;
use continuo_core::sampling::Sampling;

/// A figure the built-in model would not play on its own: a tritone up, a fifth down, a
/// seventh up.
const FIGURE: [u8; 4] = [60, 66, 61, 71];

/// The figure twice in 8th notes from `at`: 4 beats of phrase, answered a beat later.
fn figure_phrase(at: f64) -> Vec<(f64, u8, u8)> {
    let mut input = Vec::new();
    for (i, &p) in FIGURE.iter().cycle().take(8).enumerate() {
        let beat = at + i as f64 * 0.5;
        input.push((beat, p, 90));
        input.push((beat + 0.4, p, 0));
    }
    input
}

/// Three phrases of the figure, 16 beats apart (each answered from a beat after it for two
/// bars), at *Learn from me* `learn` and answer seed `seed`; returns the answer to the third
/// and what the window shows as learned.
fn third_answer(learn: f32, seed: u64) -> (Vec<Note>, MemoryStats) {
    let mut sim = Sim::new(WorkerSettings {
        seed,
        sampling: Sampling {
            learn,
            ..Sampling::default()
        },
        ..Default::default()
    });
    assert!(sim.shared.status.lock().model.is_some());
    for k in 0..3 {
        let at = f64::from(k) * 16.0;
        sim.play(&figure_phrase(at), at + 16.0);
    }
    let learned = sim.shared.status.lock().learned;
    (sim.heard_in(36.0, 48.0), learned)
}

/// The share of the answer's successive onsets that step as the figure does.
fn figure_steps(answer: &[Note]) -> f64 {
    let mut onsets: Vec<&Note> = answer.iter().collect();
    onsets.sort_by(|a, b| a.start.total_cmp(&b.start));
    let follows = |a: u8, b: u8| {
        (0..FIGURE.len()).any(|i| FIGURE[i] == a && FIGURE[(i + 1) % FIGURE.len()] == b)
    };
    let pairs = onsets.windows(2).count().max(1);
    let hits = onsets
        .windows(2)
        .filter(|w| follows(w[0].pitch, w[1].pitch))
        .count();
    hits as f64 / pairs as f64
}

#[test]
fn the_answer_takes_up_the_players_figure_as_far_as_learn_from_me_says() {
    // One answer may wander off the figure early, after which the memory has no context to
    // match (with the built-in model, 3 seeds of 8 never take it up), so the claim is about
    // several answers.
    const SEEDS: u64 = 6;
    let (mut plain_steps, mut learning_steps) = (0.0, 0.0);
    for seed in 1..=SEEDS {
        let (plain, learned) = third_answer(0.0, seed);
        let (learning, _) = third_answer(1.0, seed);
        // The three phrases, and the two answers the player played on from.
        assert_eq!(learned.phrases, 5);
        assert!(learned.notes > 24, "{learned:?}");
        assert!(!plain.is_empty() && !learning.is_empty());
        plain_steps += figure_steps(&plain) / SEEDS as f64;
        learning_steps += figure_steps(&learning) / SEEDS as f64;
    }
    assert!(
        learning_steps > plain_steps + 0.15,
        "figure steps: {learning_steps:.2} learning, {plain_steps:.2} not"
    );
}

/// Eight 8th notes of C major from `at`.
fn scale_phrase(at: f64) -> Vec<(f64, u8, u8)> {
    let mut input = Vec::new();
    for (i, p) in [60u8, 62, 64, 65, 67, 69, 71, 72].into_iter().enumerate() {
        let beat = at + i as f64 * 0.5;
        input.push((beat, p, 90));
        input.push((beat + 0.4, p, 0));
    }
    input
}

/// What is learned from a phrase at beat 0 (answered from beat 5 to 13) and one at `next`.
fn learned_with_next_at(next: f64) -> u32 {
    let mut sim = Sim::new(WorkerSettings::default());
    let mut input = scale_phrase(0.0);
    input.extend(scale_phrase(next));
    sim.play(&input, next + 14.0);
    let learned = sim.shared.status.lock().learned;
    learned.phrases
}

#[test]
fn an_answer_the_player_plays_on_from_is_learned_too() {
    // The next phrase within the conversation: the answer heard before it is learned.
    assert_eq!(learned_with_next_at(16.0), 3);
    // After a long pause, a new conversation: the two phrases only.
    assert_eq!(learned_with_next_at(40.0), 2);
    // The player cut the answer short: not kept.
    assert_eq!(learned_with_next_at(7.0), 2);
}
