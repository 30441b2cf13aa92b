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
use crate::history;
use crate::library::DEFAULT_META;
use crate::library::{self, Entry};
use crate::params::ContinuoParams;
use crate::worker::Shared;

mod exchanges;

pub type ContinuoEditor = EguiEditor<App>;

const GOOD: Color32 = Color32::from_rgb(60, 160, 90);
const BAD: Color32 = Color32::from_rgb(200, 70, 60);

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
        ui.horizontal(|ui| {
            let learned = status.learned;
            ui.label(format!(
                "Learned from you: {} phrases, {} notes (Learn from me mixes them in)",
                learned.phrases, learned.notes
            ));
            if ui
                .add_enabled(learned.notes > 0, egui::Button::new("Forget"))
                .clicked()
            {
                self.forget();
            }
        });
    }

    /// Has the inference thread forget what it learned of the player.
    pub fn forget(&self) {
        self.shared
            .forget
            .store(true, std::sync::atomic::Ordering::Relaxed);
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
mod tests;
