//! Headless demo: plays a prompt MIDI file into Continuo's audio-thread engine and
//! inference-thread worker (the code `process()` and the plugin's inference thread run) on
//! the virtual-clock host (`continuo::sim`, a 48 kHz transport), and writes what came out as
//! a MIDI file and a piano-roll PNG. The clock is virtual, so a seed gives the same answer on
//! any machine, as fast as it can go.
//!
//! `continuo-demo --help` lists its flags; each bounded one takes the range the plugin's
//! parameter does.

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use clap::Parser;

use continuo::engine::{ANSWER_BARS, SILENCE_BEATS};
use continuo::library::{library_locations, ModelSource};
use continuo::params::StartAt;
use continuo::sim::Sim;
use continuo::worker::WorkerSettings;
use continuo_core::answer::DEFAULT_SILENCE_BEATS;
use continuo_core::midi::{read_midi, sort_notes, write_midi, Note, Score};
use continuo_core::roll::{self, Part};
use continuo_core::runtime::init_runtime;
use continuo_core::sampling::{within, Sampling, SamplingArgs};

/// Continue a MIDI prompt through Continuo's engine, headlessly; writes the prompt and its
/// answer as continuation.mid and continuation.png.
#[derive(Parser)]
#[command(name = "continuo-demo")]
struct Args {
    /// The phrase to answer (a .mid file); a short phrase in C minor without it.
    #[arg(long)]
    prompt: Option<PathBuf>,
    /// Folder the .mid and .png are written to.
    #[arg(long, default_value = "out")]
    out: PathBuf,
    /// Answer length in bars, as the plugin's *Answer length*.
    #[arg(long, default_value_t = 4, value_parser = within(ANSWER_BARS))]
    bars: u32,
    /// *Silence trigger*: beats of silence after the phrase that ask for the answer.
    #[arg(long, default_value_t = DEFAULT_SILENCE_BEATS, value_parser = within(SILENCE_BEATS))]
    silence: f64,
    /// *Start on*: where the answer may start once asked for.
    #[arg(long, value_enum, default_value_t = StartAt::Beat)]
    start_on: StartAt,
    /// The prompt's first this many beats are played (the rest is left out).
    #[arg(long, default_value_t = 16.0, value_parser = within(PROMPT_BEATS))]
    prompt_beats: f64,
    /// A model folder or .onnx file instead of the built-in one.
    #[arg(long)]
    model: Option<PathBuf>,
    #[arg(long, default_value_t = 7)]
    seed: u64,
    /// How notes are drawn, as the plugin's parameters (the defaults are its own).
    #[command(flatten)]
    sampling: SamplingArgs,
}

/// The most of a prompt the demo plays, in beats: 16 bars of 4/4.
const PROMPT_BEATS: (f64, f64) = (1.0, 64.0);

/// A short phrase in C minor for when no prompt file is given.
fn builtin_prompt() -> Score {
    let line = [
        (60, 0.0, 0.5),
        (63, 0.5, 0.5),
        (67, 1.0, 0.5),
        (72, 1.5, 1.0),
        (70, 2.5, 0.5),
        (67, 3.0, 0.5),
        (68, 3.5, 0.5),
        (67, 4.0, 0.5),
        (65, 4.5, 0.5),
        (63, 5.0, 0.5),
        (62, 5.5, 0.5),
        (60, 6.0, 1.5),
    ];
    let mut notes: Vec<Note> = line
        .iter()
        .map(|&(p, s, d)| Note {
            pitch: p,
            velocity: 80,
            start: s,
            end: s + d * 0.95,
        })
        .collect();
    notes.extend(
        [
            (48, 0.0, 2.0),
            (51, 2.0, 2.0),
            (53, 4.0, 2.0),
            (43, 6.0, 1.5),
        ]
        .iter()
        .map(|&(p, s, d)| Note {
            pitch: p,
            velocity: 64,
            start: s,
            end: s + d * 0.95,
        }),
    );
    sort_notes(&mut notes);
    Score::new(notes, 100.0)
}

fn main() {
    if let Err(e) = run() {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}

fn run() -> Result<()> {
    let args = Args::parse();
    let mut prompt = match &args.prompt {
        Some(p) => {
            let bytes = std::fs::read(p).with_context(|| format!("reading {}", p.display()))?;
            read_midi(&bytes).with_context(|| p.display().to_string())?
        }
        None => builtin_prompt(),
    };
    // Start the prompt at beat 0 and keep its first `prompt_beats` beats.
    let first = prompt.first_start().unwrap_or(0.0);
    prompt.notes.retain(|n| n.start - first < args.prompt_beats);
    for n in &mut prompt.notes {
        n.start -= first;
        n.end = (n.end - first).min(args.prompt_beats);
    }

    let settings = WorkerSettings {
        source: args
            .model
            .clone()
            .map_or(ModelSource::Embedded, ModelSource::Path),
        sampling: Sampling::from(args.sampling),
        seed: args.seed,
        ..Default::default()
    };
    let mut sim = Sim::new(settings);
    let status = sim.shared.status.lock().clone();
    let Some(model) = status.model.clone() else {
        bail!(status
            .message
            .unwrap_or_else(|| "model did not load".into()));
    };
    // The worker loaded the runtime already; this returns the library it loaded.
    let runtime = init_runtime(&library_locations())?;
    println!(
        "model: {model}; ONNX Runtime: {}; prompt: {} notes at {:.0} bpm",
        runtime.display(),
        prompt.notes.len(),
        prompt.bpm
    );

    // The prompt as the player's key presses and releases.
    let input: Vec<(f64, u8, u8)> = prompt
        .notes
        .iter()
        .flat_map(|n| [(n.start, n.pitch, n.velocity.max(1)), (n.end, n.pitch, 0)])
        .collect();
    let phrase_end = prompt.notes.iter().map(|n| n.end).fold(0.0, f64::max);
    sim.tempo = prompt.bpm;
    // The prompt's first time signature is the host's.
    sim.time_sig = prompt.meter.sig_at(0.0);
    sim.settings.length_bars = args.bars;
    sim.settings.silence_beats = args.silence;
    sim.settings.quantize = args.start_on.into();
    let bar = sim.time_sig.beats_per_bar();
    let end_beat =
        phrase_end.ceil() + sim.settings.silence_beats + bar + f64::from(args.bars) * bar + 1.0;
    sim.play(&input, end_beat);
    sim.stop();

    // Generated notes are written with odd velocity so a viewer can tell them apart.
    let answer = sim.heard_in(f64::NEG_INFINITY, f64::INFINITY);
    if answer.is_empty() {
        bail!("the model produced no notes");
    }
    // A note-on without its note-off would hang in the instrument.
    if sim.unpaired() > 0 {
        bail!(
            "unbalanced answer: {} note-ons or note-offs without their partner",
            sim.unpaired()
        );
    }
    let mut notes: Vec<Note> = prompt
        .notes
        .iter()
        .map(|n| Note {
            velocity: (n.velocity & !1).max(2),
            ..*n
        })
        .chain(answer.iter().map(|n| Note {
            velocity: n.velocity | 1,
            ..*n
        }))
        .collect();
    sort_notes(&mut notes);
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;
    let score = Score {
        notes,
        ..prompt.clone()
    };
    let mid = args.out.join("continuation.mid");
    std::fs::write(&mid, write_midi(&score)?)
        .with_context(|| format!("writing {}", mid.display()))?;
    let png = args.out.join("continuation.png");
    let parts = vec![
        Part {
            notes: &prompt.notes,
            colour: roll::PHRASE,
        },
        Part {
            notes: &answer,
            colour: roll::ANSWER,
        },
    ];
    std::fs::File::create(&png)
        .map_err(anyhow::Error::from)
        .and_then(|f| Ok(roll::write_png(&[parts], bar, std::io::BufWriter::new(f))?))
        .with_context(|| format!("writing {}", png.display()))?;
    println!(
        "{} prompt notes + {} generated notes → {} and {}",
        prompt.notes.len(),
        answer.len(),
        mid.display(),
        png.display()
    );
    Ok(())
}
