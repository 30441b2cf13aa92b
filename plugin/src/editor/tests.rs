use super::*;
use crate::history::Exchange;
use crate::protocol::Prompt;

fn app(models_dir: Option<PathBuf>) -> App {
    let shared = Arc::new(Shared::default());
    let status = shared.clone();
    let params = Arc::new(ContinuoParams::new(Arc::new(move || {
        status.status.lock().problem()
    })));
    App::new(params, shared, Arc::default(), models_dir)
}

/// Runs one frame headless with `events` as its input; returns each text it drew, with
/// where it was drawn.
fn frame_with(
    app: &mut App,
    ctx: &egui::Context,
    events: Vec<egui::Event>,
) -> Vec<(String, egui::Rect)> {
    let setter = ParamSetter::new(&Detached);
    let input = egui::RawInput {
        events,
        ..Default::default()
    };
    let mut out = ctx.run_ui(input, |ui| app.draw(ui, Some(&setter)));
    // No renderer here to upload the font atlas to.
    out.textures_delta.clear();
    out.shapes
        .into_iter()
        .filter_map(|shape| match shape.shape {
            egui::epaint::Shape::Text(t) => Some((
                t.galley.text().to_string(),
                t.galley.rect.translate(t.pos.to_vec2()),
            )),
            _ => None,
        })
        .collect()
}

/// Runs one frame headless and returns the text it drew.
fn frame(app: &mut App) -> String {
    frame_with(app, &egui::Context::default(), Vec::new())
        .into_iter()
        .map(|(text, _)| text + "\n")
        .collect()
}

/// Clicks the first widget labelled `label`, as a mouse would over two frames.
fn click(app: &mut App, ctx: &egui::Context, label: &str) {
    let drawn = frame_with(app, ctx, Vec::new());
    let (_, rect) = drawn
        .iter()
        .find(|(text, _)| text == label)
        .unwrap_or_else(|| panic!("no {label:?} in {drawn:?}"));
    let pos = rect.center();
    let button = |pressed| egui::Event::PointerButton {
        pos,
        button: egui::PointerButton::Primary,
        pressed,
        modifiers: Default::default(),
    };
    frame_with(app, ctx, vec![egui::Event::PointerMoved(pos), button(true)]);
    frame_with(app, ctx, vec![button(false)]);
}

fn exchange(seed: u64) -> Exchange {
    let note = |pitch, start, end| continuo_core::midi::Note {
        pitch,
        velocity: 80,
        start,
        end,
    };
    Exchange {
        serial: 0,
        made: std::time::SystemTime::now(),
        model: "chopin".into(),
        seed,
        meter: Default::default(),
        prompt: Prompt::Phrase,
        phrase: vec![note(60, 0.0, 0.5), note(64, 0.5, 1.0)],
        answer: vec![note(67, 2.0, 3.0)],
        answer_start: 2.0,
        answer_end: 10.0,
    }
}

#[test]
fn the_history_saves_a_clip_and_asks_for_another_answer() {
    let mut app = app(None);
    let dir = std::env::temp_dir().join(format!("continuo-window-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    app.set_clips_dir(dir.to_str().unwrap());
    assert_eq!(*app.params.clips_dir.lock(), dir.to_str().unwrap());
    for seed in [11, 22] {
        app.shared.history.lock().push(exchange(seed));
    }
    let ctx = egui::Context::default();
    let text: String = frame_with(&mut app, &ctx, Vec::new())
        .into_iter()
        .map(|(t, _)| t + "\n")
        .collect();
    assert!(
        text.contains("seed 22") && text.contains("seed 11"),
        "{text}"
    );
    assert!(
        text.find("seed 22") < text.find("seed 11"),
        "newest first: {text}"
    );

    click(&mut app, &ctx, "Save MIDI");
    let files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(files.len(), 1);
    let name = files[0].file_name().unwrap().to_string_lossy().into_owned();
    assert!(
        name.ends_with("chopin seed 22.mid"),
        "the newest row: {name}"
    );
    let shown = frame(&mut app);
    assert!(
        shown.contains(&format!("Saved {}", files[0].display())),
        "{shown}"
    );

    assert!(!app.stats.again.load(std::sync::atomic::Ordering::Relaxed));
    click(&mut app, &ctx, "Again");
    assert!(app.stats.again.load(std::sync::atomic::Ordering::Relaxed));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_clip_that_cannot_be_written_says_why() {
    let mut app = app(None);
    let file = std::env::temp_dir().join(format!("continuo-window-file-{}", std::process::id()));
    std::fs::write(&file, b"not a folder").unwrap();
    app.set_clips_dir(file.to_str().unwrap());
    let serial = app.shared.history.lock().push(exchange(5));
    app.save(serial);
    let shown = frame(&mut app);
    assert!(
        shown.contains("Not saved: could not create the clips folder"),
        "{shown}"
    );
    assert_eq!(
        app.shared.history.lock().len(),
        1,
        "the exchange stays to retry"
    );
    std::fs::remove_file(&file).unwrap();
}

#[test]
fn shows_why_no_model_runs_and_lists_the_parameters() {
    let mut app = app(None);
    {
        let mut status = app.shared.status.lock();
        status.message =
            Some("no model, passing notes through: model file x does not exist".into());
    }
    let text = frame(&mut app);
    assert!(text.contains("No model: notes pass through"), "{text}");
    assert!(text.contains("model file x does not exist"), "{text}");
    assert!(text.contains("Built-in: keyboard"), "{text}");
    for name in ["Temperature", "Answer length", "Scale lock", "Seed"] {
        assert!(text.contains(name), "parameter {name} missing: {text}");
    }
    app.shared.status.lock().model = Some("chopin".into());
    assert!(frame(&mut app).contains("Answering with chopin"));
}

#[test]
fn a_typed_path_is_used_only_if_it_holds_a_model() {
    let dir = std::env::temp_dir().join(format!("continuo-editor-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let model = dir.join("mine");
    std::fs::create_dir_all(&model).unwrap();
    std::fs::write(model.join("model.json"), DEFAULT_META).unwrap();
    std::fs::write(model.join("model.onnx"), b"read by the inference thread").unwrap();

    let mut app = app(Some(dir.clone()));
    assert_eq!(app.found.len(), 1, "the models folder is listed");
    app.set_typed(dir.join("elsewhere").to_str().unwrap());
    app.choose_typed();
    assert!(app.typed_error().unwrap().contains("does not exist"));
    assert_eq!(app.chosen(), "", "a bad path leaves the model as it was");

    app.set_typed(model.to_str().unwrap());
    app.choose_typed();
    assert_eq!(app.typed_error(), None);
    assert_eq!(app.chosen(), model.to_str().unwrap());
    assert!(frame(&mut app).contains("keyboard (2×512 GRU"));

    app.choose(None);
    assert_eq!(app.chosen(), "", "back to the built-in model");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn shows_what_it_learned_and_forgets_it_on_request() {
    let mut app = app(None);
    app.shared.status.lock().learned = continuo_core::memory::MemoryStats {
        phrases: 3,
        notes: 24,
    };
    assert!(frame(&mut app).contains("Learned from you: 3 phrases, 24 notes"));
    click(&mut app, &egui::Context::default(), "Forget");
    assert!(app.shared.forget.load(std::sync::atomic::Ordering::Relaxed));
}
