//! The history panel: each exchange as a small piano roll, saved as a clip or answered again.

use egui::{Color32, RichText, Ui};

use super::{App, BAD, GOOD};
use crate::history::{self, ClipContent, Exchange};
use crate::protocol::Prompt;

/// The two voices of a piano roll: the player's phrase and Continuo's answer.
const PHRASE: Color32 = Color32::from_rgb(120, 150, 200);
const ANSWER: Color32 = Color32::from_rgb(230, 160, 60);
const ROLL_SIZE: egui::Vec2 = egui::vec2(200.0, 34.0);

impl App {
    /// The last exchanges, newest first, the *Again* button and where clips are saved.
    pub(super) fn draw_history(&mut self, ui: &mut Ui) {
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
            // A pixel short of its end: a note struck again where it ends shows as two.
            egui::pos2((x(n.end) - 1.0).max(x(n.start) + 1.5), y + row.max(1.5)),
        );
        painter.rect_filled(r, 0.0, colour);
    }
}
