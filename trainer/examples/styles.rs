//! Writes the style prompts of `trainer check` (`check::styles`) as MIDI files, one per
//! style, so they can be played into the plugin or its demo:
//! `cargo run --release -p continuo-trainer --example styles -- DIR`.

use std::path::PathBuf;

use anyhow::{Context, Result};
use continuo_core::midi::write_midi;
use continuo_trainer::check::styles;

fn main() -> Result<()> {
    let dir = PathBuf::from(std::env::args().nth(1).context("usage: styles DIR")?);
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    for (name, score) in styles::all() {
        let path = dir.join(format!("{}.mid", name.replace(' ', "-")));
        std::fs::write(&path, write_midi(&score)?)
            .with_context(|| format!("writing {}", path.display()))?;
        println!("{}", path.display());
    }
    Ok(())
}
