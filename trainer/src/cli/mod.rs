//! The `trainer` commands' flags and what the commands do with them, in the library so that
//! they can be tested; `main.rs` parses the command line and dispatches.

pub mod check;
pub mod generate;
pub mod train;

pub use continuo_core::sampling::within;
use continuo_core::sampling::Sampling;

/// How notes are drawn; the defaults are the plugin's.
#[derive(clap::Args)]
pub struct SamplingArgs {
    #[arg(long, default_value_t = Sampling::DEFAULT_TEMPERATURE, value_parser = within(Sampling::TEMPERATURE))]
    temperature: f32,
    /// Never draw a token less likely than this share of the likeliest one (0: off).
    #[arg(long, default_value_t = Sampling::DEFAULT_MIN_P, value_parser = within(Sampling::MIN_P))]
    min_p: f32,
    /// Logit penalty on striking the previous onset's pitch again (0: off).
    #[arg(long, default_value_t = Sampling::DEFAULT_REPEAT_PENALTY, value_parser = within(Sampling::REPEAT_PENALTY))]
    repeat_penalty: f32,
    /// Pull toward the prompt's pitch classes, register, pace, chords, grid and repeats (0: off).
    #[arg(long, default_value_t = Sampling::DEFAULT_FOLLOW, value_parser = within(Sampling::FOLLOW))]
    follow: f32,
    /// Onsets per beat against the prompt's, in octaves (-1: half, 1: twice), under --follow.
    #[arg(long, default_value_t = 0.0, value_parser = within(Sampling::DENSITY), allow_hyphen_values = true)]
    density: f32,
    /// Notes per onset against the prompt's, in octaves (-1: half, 1: twice), under --follow.
    #[arg(long, default_value_t = 0.0, value_parser = within(Sampling::POLYPHONY), allow_hyphen_values = true)]
    polyphony: f32,
    /// Learn from me: how far the answer draws on the phrase it answers, through the memory
    /// the plugin learns the player's phrases into (0: the network and the steering alone).
    #[arg(long, default_value_t = Sampling::DEFAULT_LEARN, value_parser = within(Sampling::LEARN))]
    learn_from_me: f32,
}

impl From<SamplingArgs> for Sampling {
    fn from(a: SamplingArgs) -> Self {
        Sampling {
            temperature: a.temperature,
            min_p: a.min_p,
            repeat_penalty: a.repeat_penalty,
            follow: a.follow,
            density: a.density,
            polyphony: a.polyphony,
            learn: a.learn_from_me,
        }
    }
}
