//! Opens the plugin window without a host, to work on how it looks:
//! `cargo run -p continuo --example editor` (add `-- --no-model` to see the error state).

use std::sync::Arc;

use continuo::editor::{self, Detached};
use continuo::params::ContinuoParams;
use continuo::worker::Shared;
use nice_plug::context::gui::GuiContext;
use nice_plug::editor::{Editor, EditorHandle};
use nice_plug_egui::EguiEditorHandle;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let shared = Arc::new(Shared::default());
    {
        let mut status = shared.status.lock();
        if std::env::args().any(|a| a == "--no-model") {
            status.message = Some(
                "no model, passing notes through: model file /home/me/models/gone/model.onnx \
                 does not exist"
                    .into(),
            );
        } else {
            status.model = Some("chopin".into());
            status.answers = 3;
        }
    }
    let status = shared.clone();
    let params = Arc::new(ContinuoParams::new(Arc::new(move || {
        status.status.lock().problem()
    })));
    let editor =
        editor::create(editor::default_state(), params, shared, Arc::default()).expect("an editor");
    // SAFETY: this process hosts nothing else and runs one baseview window.
    unsafe { editor.assume_standalone_in_process() };
    let spawned = editor.spawn(None, false, None, GuiContext::new(Arc::new(Detached)), None)?;
    EguiEditorHandle::run_until_closed(spawned.window)?;
    Ok(())
}
