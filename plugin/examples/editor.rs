//! Opens the plugin window without a host, to work on how it looks:
//! `cargo run -p continuo --example editor` (add `-- --no-model` to see the error state).
//! Its history holds real exchanges: three phrases answered by the built-in model and one
//! *Again*, played on the virtual-clock host before the window opens.

use std::sync::Arc;

use continuo::editor::{self, Detached};
use continuo::engine::EngineStats;
use continuo::params::ContinuoParams;
use continuo::sim::Sim;
use continuo::worker::{Shared, WorkerSettings};
use nice_plug::context::gui::GuiContext;
use nice_plug::editor::{Editor, EditorHandle};
use nice_plug_egui::EguiEditorHandle;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let shared = Arc::new(Shared::default());
    let stats = Arc::default();
    if std::env::args().any(|a| a == "--no-model") {
        shared.status.lock().message = Some(
            "no model, passing notes through: model file /home/me/models/gone/model.onnx does \
             not exist"
                .into(),
        );
    } else {
        play_some_exchanges(shared.clone(), Arc::clone(&stats));
    }
    let status = shared.clone();
    let params = Arc::new(ContinuoParams::new(Arc::new(move || {
        status.status.lock().problem()
    })));
    let editor = editor::create(editor::default_state(), params, shared, stats).expect("an editor");
    // SAFETY: this process hosts nothing else and runs one baseview window.
    unsafe { editor.assume_standalone_in_process() };
    let spawned = editor.spawn(None, false, None, GuiContext::new(Arc::new(Detached)), None)?;
    EguiEditorHandle::run_until_closed(spawned.window)?;
    Ok(())
}

/// Three phrases, each answered, then *Again* on the last.
fn play_some_exchanges(shared: Arc<Shared>, stats: Arc<EngineStats>) {
    let mut sim = Sim::with_shared(WorkerSettings::default(), shared, stats);
    let phrases: [&[u8]; 3] = [
        &[60, 64, 67, 72, 67, 64, 62, 60],
        &[62, 65, 69, 67, 65, 64, 62, 61],
        &[67, 69, 71, 72, 74, 72, 71, 69],
    ];
    for pitches in phrases {
        let at = (sim.beat() / 4.0).ceil() * 4.0;
        let input: Vec<(f64, u8, u8)> = pitches
            .iter()
            .enumerate()
            .flat_map(|(i, &p)| {
                let beat = at + i as f64 * 0.5;
                [(beat, p, 90), (beat + 0.4, p, 0)]
            })
            .collect();
        // Phrase (4 beats), a beat's pause, the 2-bar answer, a beat to spare.
        sim.play(&input, at + 14.0);
    }
    sim.stats
        .again
        .store(true, std::sync::atomic::Ordering::Relaxed);
    let end = sim.beat() + 10.0;
    sim.play(&[], end);
}
