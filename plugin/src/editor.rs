//! The plugin window: what model runs (or why none does), the history of exchanges (saved as
//! clips, or answered again), choosing a model, and the parameters. It runs on the host's GUI
//! thread and only touches the parameters, the shared status and history, and the *Again*
//! flag — never the audio thread's state.

use std::path::PathBuf;
use std::sync::Arc;

use continuo_core::contract::ModelMeta;
use egui::{Color32, RichText, Ui};
use nice_plug::context::gui::GuiContext;
use nice_plug::params::internals::ParamPtr;
use nice_plug::plugin::PluginState;
use nice_plug::prelude::*;
use nice_plug_egui::widgets::generic_ui::{GenericSlider, ParamWidget};
use nice_plug_egui::{
    create_egui_editor, EguiEditor, EguiEditorState, EguiNiceSettings, Frame, NiceEguiApp,
    RepaintNotifier,
};

use crate::engine::EngineStats;
use crate::history::{self, ClipContent, Exchange};
use crate::library::DEFAULT_META;
use crate::library::{self, Entry};
use crate::params::ContinuoParams;
use crate::protocol::Prompt;
use crate::worker::Shared;

pub type ContinuoEditor = EguiEditor<App>;

const GOOD: Color32 = Color32::from_rgb(60, 160, 90);
const BAD: Color32 = Color32::from_rgb(200, 70, 60);
/// The two voices of a piano roll: the player's phrase and Continuo's answer.
const PHRASE: Color32 = Color32::from_rgb(120, 150, 200);
const ANSWER: Color32 = Color32::from_rgb(230, 160, 60);
const ROLL_SIZE: egui::Vec2 = egui::vec2(200.0, 34.0);

pub fn default_state() -> Arc<EguiEditorState> {
    EguiEditorState::from_size(nice_plug::editor::dpi::LogicalSize::new(600.0, 820.0), 1.0)
}

pub fn create(
    state: Arc<EguiEditorState>,
    params: Arc<ContinuoParams>,
    shared: Arc<Shared>,
    stats: Arc<EngineStats>,
) -> Option<ContinuoEditor> {
    // Status changes come from the inference thread; a slow poll keeps them on screen.
    let settings = EguiNiceSettings::new()
        .with_tile("Continuo")
        .with_repaint_poll_interval(std::time::Duration::from_millis(100));
    create_egui_editor(
        state,
        RepaintNotifier::new(),
        settings,
        App::new(params, shared, stats, library::models_dir()),
    )
}

pub struct App {
    params: Arc<ContinuoParams>,
    shared: Arc<Shared>,
    stats: Arc<EngineStats>,
    gui: Option<GuiContext>,
    models_dir: Option<PathBuf>,
    found: Vec<Entry>,
    typed: String,
    typed_error: Option<String>,
    builtin: String,
    /// The clips folder as typed, until *Use* takes it.
    typed_clips: String,
}

impl App {
    pub fn new(
        params: Arc<ContinuoParams>,
        shared: Arc<Shared>,
        stats: Arc<EngineStats>,
        models_dir: Option<PathBuf>,
    ) -> Self {
        let builtin = serde_json::from_str::<ModelMeta>(DEFAULT_META)
            .map(|m| format!("Built-in: {} ({})", m.name, library::describe(&m)))
            .unwrap_or_else(|_| "Built-in model".into());
        let typed_clips = params.clips_dir.lock().clone();
        let mut app = Self {
            params,
            shared,
            stats,
            gui: None,
            models_dir,
            found: Vec::new(),
            typed: String::new(),
            typed_error: None,
            builtin,
            typed_clips,
        };
        app.rescan();
        app
    }

    pub fn rescan(&mut self) {
        self.found = self
            .models_dir
            .as_deref()
            .map(library::scan)
            .unwrap_or_default();
    }

    /// The model path this instance uses (saved with the project); empty = built-in.
    pub fn chosen(&self) -> String {
        self.params.model_path.lock().clone()
    }

    /// Picks a model; the inference thread loads it within its settings poll.
    pub fn choose(&mut self, path: Option<&std::path::Path>) {
        *self.params.model_path.lock() = path
            .map(|p| p.to_string_lossy().into_owned())
            .unwrap_or_default();
    }

    /// Uses the typed path if it holds a model, else says why not.
    pub fn choose_typed(&mut self) {
        let path = PathBuf::from(self.typed.trim());
        match library::inspect(&path).meta {
            Ok(_) => {
                self.typed_error = None;
                self.choose(Some(&path));
            }
            Err(why) => self.typed_error = Some(why),
        }
    }

    pub fn set_typed(&mut self, text: &str) {
        self.typed = text.to_string();
    }

    pub fn typed_error(&self) -> Option<&str> {
        self.typed_error.as_deref()
    }

    /// Saves exchange `serial` of the history as a clip, as the window's settings say; the
    /// status tells where it went or why it could not.
    pub fn save(&mut self, serial: u64) {
        let Some(exchange) = self.shared.history.lock().get(serial).cloned() else {
            return;
        };
        let content = *self.params.clip_content.lock();
        let result = history::clips_dir(&self.params.clips_dir.lock())
            .ok_or(history::ClipError::NoFolder)
            .and_then(|dir| history::save_clip(&exchange, content, &dir))
            .map_err(|e| e.to_string());
        self.shared.status.lock().clip = Some(result);
    }

    /// Asks for another answer to the last phrase, at the next start point.
    pub fn again(&self) {
        self.stats
            .again
            .store(true, std::sync::atomic::Ordering::Relaxed);
    }

    /// Where clips go from now on (blank: the default folder); saved with the project.
    pub fn set_clips_dir(&mut self, dir: &str) {
        self.typed_clips = dir.trim().to_string();
        *self.params.clips_dir.lock() = self.typed_clips.clone();
    }

    /// Draws the window's contents; `setter` is absent only in tests without a host.
    pub fn draw(&mut self, ui: &mut Ui, setter: Option<&ParamSetter>) {
        ui.heading("Continuo");
        self.draw_status(ui);
        ui.separator();
        self.draw_history(ui);
        ui.separator();
        self.draw_models(ui);
        ui.separator();
        ui.label(RichText::new("Parameters").strong());
        if let Some(setter) = setter {
            self.draw_params(ui, setter);
        }
    }

    fn draw_params(&self, ui: &mut Ui, setter: &ParamSetter) {
        egui::ScrollArea::vertical()
            .auto_shrink([false, false])
            .show(ui, |ui| {
                egui::Grid::new("params")
                    .num_columns(2)
                    .spacing([16.0, 6.0])
                    .show(ui, |ui| {
                        for (_, param, _) in self.params.param_map() {
                            // SAFETY: the pointers point into `self.params`, alive here.
                            unsafe {
                                ui.label(param.name());
                                GenericSlider.add_widget_raw(ui, &param, setter);
                            }
                            ui.end_row();
                        }
                    });
            });
    }

    fn draw_status(&self, ui: &mut Ui) {
        let status = self.shared.status.lock().clone();
        match (&status.model, status.problem()) {
            (Some(name), _) => {
                ui.colored_label(GOOD, format!("Answering with {name}"));
                if let Some(note) = &status.message {
                    ui.label(note);
                }
            }
            (None, why) => {
                ui.colored_label(BAD, "No model: notes pass through");
                ui.label(why.unwrap_or_default());
            }
        }
        match status.last_seed {
            Some(seed) => ui.label(format!(
                "Answers so far: {} (the last with seed {seed}: type it into Seed to hear it again)",
                status.answers
            )),
            None => ui.label(format!("Answers so far: {}", status.answers)),
        };
    }

    fn draw_history(&mut self, ui: &mut Ui) {
        ui.horizontal(|ui| {
            ui.label(RichText::new("History").strong());
            if ui
                .button("Again")
                .on_hover_text("Answer the last phrase once more, with a new seed")
                .clicked()
            {
                self.again();
            }
        });
        let rows: Vec<Exchange> = self.shared.history.lock().newest_first().cloned().collect();
        let mut save = None;
        if rows.is_empty() {
            ui.small("Play a phrase: each exchange appears here, to save or vary.");
        }
        egui::ScrollArea::vertical()
            .id_salt("history")
            .max_height(190.0)
            .show(ui, |ui| {
                for row in &rows {
                    ui.horizontal(|ui| {
                        piano_roll(ui, row);
                        ui.vertical(|ui| {
                            let when: chrono::DateTime<chrono::Local> = row.made.into();
                            let again = match row.prompt {
                                Prompt::Phrase => "",
                                Prompt::Again => " · again",
                            };
                            ui.label(format!(
                                "{} · {} · seed {}{again}",
                                when.format("%H:%M:%S"),
                                row.model,
                                row.seed
                            ));
                            ui.horizontal(|ui| {
                                ui.small(format!(
                                    "{} + {} notes",
                                    row.phrase.len(),
                                    row.answer.len()
                                ));
                                if ui.small_button("Save MIDI").clicked() {
                                    save = Some(row.serial);
                                }
                            });
                        });
                    });
                }
            });
        if let Some(serial) = save {
            self.save(serial);
        }
        ui.horizontal(|ui| {
            ui.label("Clips:");
            let mut content = *self.params.clip_content.lock();
            ui.radio_value(
                &mut content,
                ClipContent::PhraseAndAnswer,
                "phrase + answer",
            );
            ui.radio_value(&mut content, ClipContent::AnswerOnly, "answer only");
            *self.params.clip_content.lock() = content;
        });
        ui.horizontal(|ui| {
            ui.label("Folder:");
            let default = history::default_clips_dir()
                .map(|d| d.display().to_string())
                .unwrap_or_default();
            let edit = egui::TextEdit::singleline(&mut self.typed_clips).hint_text(default);
            let edit = ui.add(edit);
            let enter = edit.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter));
            if ui.button("Use").clicked() || enter {
                let typed = self.typed_clips.clone();
                self.set_clips_dir(&typed);
            }
        });
        match &self.shared.status.lock().clip {
            Some(Ok(path)) => {
                ui.colored_label(GOOD, format!("Saved {}", path.display()));
            }
            Some(Err(why)) => {
                ui.colored_label(BAD, format!("Not saved: {why}"));
            }
            None => {}
        }
    }

    fn draw_models(&mut self, ui: &mut Ui) {
        ui.label(RichText::new("Model").strong());
        let chosen = self.chosen();
        // The same test as the inference thread's: a blank path is the built-in model.
        let builtin = chosen.trim().is_empty();
        let mut pick: Option<Option<PathBuf>> = None;
        if ui.radio(builtin, self.builtin.as_str()).clicked() {
            pick = Some(None);
        }
        let mut listed = false;
        for entry in &self.found {
            let selected = !builtin && entry.path.as_path() == std::path::Path::new(&chosen);
            listed |= selected;
            match &entry.meta {
                Ok(meta) => {
                    let text = format!("{} ({})", meta.name, library::describe(meta));
                    if ui.radio(selected, text).clicked() {
                        pick = Some(Some(entry.path.clone()));
                    }
                }
                Err(why) => {
                    ui.add_enabled(false, egui::RadioButton::new(false, entry.name()))
                        .on_disabled_hover_text(why);
                }
            }
        }
        if !builtin && !listed {
            // Chosen by typed path, the project or CONTINUO_MODEL: shown, already selected.
            let _ = ui.radio(true, format!("File: {chosen}"));
        }
        ui.horizontal(|ui| {
            match &self.models_dir {
                Some(dir) => ui.small(format!("Models folder: {}", dir.display())),
                None => ui.small("No models folder (HOME is not set)"),
            };
            if ui.small_button("Rescan").clicked() {
                self.rescan();
            }
        });
        if let (true, Some(dir)) = (self.found.is_empty(), &self.models_dir) {
            ui.small(format!(
                "Empty. Models you train with `trainer train --out {}` appear here.",
                dir.join("NAME").display()
            ));
        }
        ui.horizontal(|ui| {
            ui.label("Path:");
            let edit = ui.text_edit_singleline(&mut self.typed);
            let enter = edit.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter));
            if ui.button("Use").clicked() || enter {
                self.choose_typed();
            }
        });
        if let Some(why) = &self.typed_error {
            ui.colored_label(BAD, why);
        }
        if let Some(path) = pick {
            self.choose(path.as_deref());
        }
    }
}

/// A small piano roll of an exchange: the phrase and the answer in their two colours.
fn piano_roll(ui: &mut Ui, exchange: &Exchange) {
    let (rect, _) = ui.allocate_exact_size(ROLL_SIZE, egui::Sense::hover());
    let painter = ui.painter_at(rect);
    painter.rect_filled(rect, 2.0, ui.visuals().extreme_bg_color);
    let notes = || {
        let phrase = exchange.phrase.iter().map(|n| (n, PHRASE));
        phrase.chain(exchange.answer.iter().map(|n| (n, ANSWER)))
    };
    let (mut lo, mut hi, mut first, mut last) = (127u8, 0u8, f64::INFINITY, f64::NEG_INFINITY);
    for (n, _) in notes() {
        lo = lo.min(n.pitch);
        hi = hi.max(n.pitch);
        first = first.min(n.start);
        last = last.max(n.end);
    }
    last = last.max(exchange.answer_end);
    if !first.is_finite() || last <= first {
        return;
    }
    let (lo, hi) = (f32::from(lo) - 1.0, f32::from(hi) + 1.0);
    let x = |beat: f64| rect.left() + rect.width() * ((beat - first) / (last - first)) as f32;
    let row = rect.height() / (hi - lo + 1.0);
    for (n, colour) in notes() {
        let y = rect.bottom() - (f32::from(n.pitch) - lo + 1.0) * row;
        let r = egui::Rect::from_min_max(
            egui::pos2(x(n.start), y),
            egui::pos2(x(n.end).max(x(n.start) + 1.5), y + row.max(1.5)),
        );
        painter.rect_filled(r, 0.0, colour);
    }
}

impl NiceEguiApp for App {
    fn build(
        &mut self,
        _egui_ctx: egui::Context,
        gui: GuiContext,
        _frame: &mut Frame,
    ) -> Result<(), nice_plug_egui::baseview::HandlerError> {
        self.gui = Some(gui);
        self.rescan();
        Ok(())
    }

    fn ui(&mut self, ui: &mut Ui, _frame: &mut Frame) {
        let gui = self.gui.clone();
        let setter = gui.as_ref().map(GuiContext::param_setter);
        egui::Frame::central_panel(ui.style())
            .inner_margin(12.0)
            .show(ui, |ui| self.draw(ui, setter.as_ref()));
    }

    fn editor_closed(&mut self) {
        self.gui = None;
    }
}

/// The window's context when no host runs it (tests, the `editor` example): parameter
/// changes apply directly, with no automation to record.
pub struct Detached;

impl GuiContextInner for Detached {
    fn plugin_api(&self) -> PluginApi {
        PluginApi::Standalone
    }
    unsafe fn raw_begin_set_parameter(&self, _param: ParamPtr) {}
    unsafe fn raw_set_parameter_normalized(&self, param: ParamPtr, normalized: f32) {
        // SAFETY: the pointer comes from the parameters this window draws, which it keeps
        // alive.
        unsafe { param._internal_set_normalized_value(normalized) };
    }
    unsafe fn raw_end_set_parameter(&self, _param: ParamPtr) {}
    fn get_state(&self) -> PluginState {
        PluginState {
            version: String::new(),
            params: Default::default(),
            fields: Default::default(),
        }
    }
    fn set_state(&self, _state: PluginState) {}
    fn request_restart(&self) {}
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let file =
            std::env::temp_dir().join(format!("continuo-window-file-{}", std::process::id()));
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
        assert!(text.contains("Built-in: chopin"), "{text}");
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
        assert!(frame(&mut app).contains("chopin (2×256 GRU"));

        app.choose(None);
        assert_eq!(app.chosen(), "", "back to the built-in model");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
