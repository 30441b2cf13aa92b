//! Continuo: a MIDI effect that listens to your phrase and answers it with a GRU.
//! [`ContinuoInstrument`] is the same plugin as an instrument with a silent audio output, for
//! hosts that route MIDI only from instruments (Ableton Live, FL Studio).
//!
//! The plugin shell here only translates between nice-plug and the [`engine::Engine`]
//! (audio thread) and [`worker::Worker`] (inference thread), which do the work.

use std::num::NonZeroU32;
use std::sync::Arc;
use std::thread::JoinHandle;

use continuo_core::constraints::Constraints;
use continuo_core::midi::{SUSTAIN_CC, SUSTAIN_DOWN};
use continuo_core::music::Scale;
use continuo_core::sampling::Sampling;
use nice_plug::midi::{Channel, Key, VoiceID};
use nice_plug::prelude::*;

pub mod editor;
pub mod engine;
pub mod history;
pub mod learning;
pub mod library;
pub mod location;
pub mod metadata;
pub mod params;
pub mod protocol;
pub mod sim;
pub mod timeline;
pub mod worker;

use engine::{Engine, EngineStats, OutEvent, Settings, Transport as EngineTransport};
use library::ModelSource;
use params::ContinuoParams;
use worker::{Shared, Worker, WorkerSettings};

/// The plugin; `INSTRUMENT` picks its layout ([`metadata::INSTRUMENT`] or
/// [`metadata::EFFECT`]), and nothing else.
pub struct Continuo<const INSTRUMENT: bool = false> {
    params: Arc<ContinuoParams>,
    shared: Arc<Shared>,
    engine: Engine,
    worker: Option<JoinHandle<()>>,
    /// Kept until `initialize` starts the thread.
    pending_worker: Option<Worker>,
    editor_state: Arc<nice_plug_egui::EguiEditorState>,
    /// Shared with the engine: the window asks it for *Again* through it.
    stats: Arc<EngineStats>,
    /// The host renders offline (bounce, export): the engine may wait for answers.
    offline: bool,
}

/// Continuo as an instrument with a silent stereo output.
pub type ContinuoInstrument = Continuo<true>;

impl<const INSTRUMENT: bool> Default for Continuo<INSTRUMENT> {
    fn default() -> Self {
        let (engine_end, worker_end, stats) = protocol::connect();
        let shared = Arc::new(Shared::default());
        let status_source = shared.clone();
        let mut params =
            ContinuoParams::new(Arc::new(move || status_source.status.lock().problem()));
        // One field: the parameters save and restore it, the inference thread learns into it.
        params.learned = shared.learned.clone();
        Self {
            params: Arc::new(params),
            engine: Engine::new(engine_end, stats.clone()),
            offline: false,
            pending_worker: Some(Worker::new(worker_end, shared.clone(), stats.clone())),
            shared,
            worker: None,
            editor_state: editor::default_state(),
            stats,
        }
    }
}

impl<const INSTRUMENT: bool> Continuo<INSTRUMENT> {
    const VARIANT: &'static metadata::Variant = if INSTRUMENT {
        &metadata::INSTRUMENT
    } else {
        &metadata::EFFECT
    };

    fn engine_settings(&self) -> Settings {
        let p = &self.params;
        let bypass = p.bypass.value();
        Settings {
            enabled: p.enabled.value() && !bypass,
            pass_through: p.pass_through.value() || bypass,
            silence_beats: f64::from(p.silence_beats.value()),
            length_bars: p.length_bars.value().max(1) as u32,
            quantize: p.start_at.value().into(),
            velocity_scale: p.velocity_scale.value(),
            channel: (p.channel.value().clamp(1, 16) - 1) as u8,
            offline: self.offline,
        }
    }

    /// Model status for people: which model runs, or why none does.
    pub fn status(&self) -> worker::Status {
        self.shared.status.lock().clone()
    }
}

/// The parameters the inference thread needs; it polls this itself (parameters are atomics),
/// so the audio thread never copies them.
fn worker_settings(p: &ContinuoParams) -> WorkerSettings {
    let path = p.model_path.lock().clone();
    let (lo, hi) = (
        p.lowest.value().clamp(0, 127) as u8,
        p.highest.value().clamp(0, 127) as u8,
    );
    let scale: Scale = p.scale.value().into();
    WorkerSettings {
        source: if path.trim().is_empty() {
            ModelSource::Embedded
        } else {
            ModelSource::Path(path.into())
        },
        provider: p.device.value().into(),
        sampling: Sampling {
            temperature: p.temperature.value(),
            min_p: p.min_p.value(),
            repeat_penalty: p.repeat_penalty.value(),
            follow: p.follow.value(),
            density: p.density.value(),
            polyphony: p.polyphony.value(),
            learn: p.learn.value(),
        },
        constraints: Constraints {
            pitch_lo: lo.min(hi),
            pitch_hi: hi.max(lo),
            pitch_classes: scale.pitch_classes(p.key.value() as u8),
            max_note_beats: p.max_note_beats(),
            ..Constraints::default()
        },
        seed: p.seed.value().max(0) as u64,
        keep_learned: p.keep_learned.value(),
        keep: p
            .keep_every
            .value()
            .then(|| history::clips_dir(&p.clips_dir.lock()))
            .flatten()
            .map(|dir| (dir, *p.clip_content.lock())),
    }
}

/// MIDI channel-mode messages that end every note.
const ALL_SOUND_OFF: u8 = 120;
const ALL_NOTES_OFF: u8 = 123;

fn send<P: Plugin>(context: &mut impl ProcessContext<P>, e: OutEvent) {
    let event = match e {
        OutEvent::On {
            timing,
            channel,
            pitch,
            velocity,
        } => NoteEvent::NoteOn {
            timing,
            voice_id: VoiceID::Wildcard,
            channel: Channel::Number(channel),
            key: Key::Number(pitch),
            velocity: f32::from(velocity) / 127.0,
        },
        OutEvent::Off {
            timing,
            channel,
            pitch,
        } => NoteEvent::NoteOff {
            timing,
            voice_id: VoiceID::Wildcard,
            channel: Channel::Number(channel),
            key: Key::Number(pitch),
            velocity: 0.0,
        },
    };
    // A full host event buffer can only drop; there is nothing better to do in real time.
    let _ = context.try_send_event(event);
}

/// The instrument's one layout: no input, a stereo output that stays silent.
const SILENT_STEREO_OUT: AudioIOLayout = AudioIOLayout {
    main_output_channels: NonZeroU32::new(2),
    ..AudioIOLayout::const_default()
};

impl<const INSTRUMENT: bool> Plugin for Continuo<INSTRUMENT> {
    const NAME: &'static str = Self::VARIANT.name;
    const VENDOR: &'static str = metadata::VENDOR;
    const URL: &'static str = metadata::URL;
    const EMAIL: &'static str = metadata::EMAIL;
    const VERSION: &'static str = metadata::VERSION;

    const AUDIO_IO_LAYOUTS: &'static [AudioIOLayout] = if Self::VARIANT.audio_out {
        &[SILENT_STEREO_OUT]
    } else {
        &[]
    };
    const MIDI_INPUT: MidiConfig = MidiConfig::MidiCCs;
    const MIDI_OUTPUT: MidiConfig = MidiConfig::MidiCCs;
    const SAMPLE_ACCURATE_AUTOMATION: bool = false;

    type Editor = editor::ContinuoEditor;
    type SysExMessage = ();
    type BackgroundTask = ();

    fn params(&self) -> Arc<dyn Params> {
        self.params.clone()
    }

    fn editor(&mut self, _async_executor: AsyncExecutor<Self>) -> Option<Self::Editor> {
        editor::create(
            self.editor_state.clone(),
            self.params.clone(),
            self.shared.clone(),
            self.stats.clone(),
        )
    }

    fn activate(
        &mut self,
        _audio_io_layout: &AudioIOLayout,
        buffer_config: &BufferConfig,
        _context: &mut impl ActivateContext<Self>,
    ) -> bool {
        // The first block may come before the wrapper has read one; `process` reads the mode
        // again each block.
        self.offline = buffer_config.process_mode == ProcessMode::Offline;
        // Runs after the host restored the project's state, so the saved model path is known.
        if let Some(worker) = self.pending_worker.take() {
            let params = self.params.clone();
            self.worker = Some(worker.spawn(Box::new(move || worker_settings(&params))));
        }
        true
    }

    fn reset(&mut self) {
        // No event context here: the engine sends the owed note-offs with the next block.
        self.engine.reset();
    }

    fn process(
        &mut self,
        buffer: &mut Buffer,
        _aux: &mut AuxiliaryBuffers,
        context: &mut impl ProcessContext<Self>,
    ) -> ProcessStatus {
        // The instrument's output is silence, whatever the host left in the buffer.
        for channel in buffer.as_slice() {
            channel.fill(0.0);
        }
        let t = context.transport();
        let transport = EngineTransport {
            playing: t.playing,
            tempo: t.tempo,
            pos_beats: t.pos_beats(),
            bar_start_beats: t.bar_start_pos_beats(),
            time_sig: timeline::TimeSig::from_host(t.time_sig_numerator, t.time_sig_denominator),
            sample_rate: f64::from(t.sample_rate),
        };
        let len = buffer.samples() as u32;
        // Read per block: some hosts announce an export only there (Ardour's VST3 host sets up
        // real-time processing, then passes offline blocks), so the mode at activation is not
        // enough.
        self.offline = context.process_mode() == ProcessMode::Offline;
        let settings = self.engine_settings();
        self.engine
            .begin_block(&transport, settings, len, &mut |e| send(context, e));
        while let Some(event) = context.next_event() {
            match event {
                NoteEvent::NoteOn {
                    timing,
                    channel,
                    key: Key::Number(key),
                    velocity,
                    ..
                } => {
                    let v = (velocity * 127.0).round().clamp(1.0, 127.0) as u8;
                    let ch = channel.number().unwrap_or(0);
                    self.engine
                        .input_note(timing, ch, key, v, &mut |e| send(context, e));
                }
                NoteEvent::NoteOff {
                    timing,
                    channel,
                    key: Key::Number(key),
                    ..
                } => {
                    let ch = channel.number().unwrap_or(0);
                    self.engine
                        .input_note(timing, ch, key, 0, &mut |e| send(context, e));
                }
                NoteEvent::NoteOff {
                    timing,
                    key: Key::Wildcard,
                    ..
                }
                | NoteEvent::Choke {
                    timing,
                    key: Key::Wildcard,
                    ..
                }
                | NoteEvent::MidiCC {
                    timing,
                    cc: ALL_NOTES_OFF | ALL_SOUND_OFF,
                    ..
                } => {
                    self.engine
                        .release_all_keys(timing, &mut |e| send(context, e));
                    if settings.pass_through {
                        let _ = context.try_send_event(event);
                    }
                }
                NoteEvent::Choke {
                    timing,
                    channel,
                    key: Key::Number(key),
                    ..
                } => {
                    let ch = channel.number().unwrap_or(0);
                    self.engine
                        .input_note(timing, ch, key, 0, &mut |e| send(context, e));
                }
                NoteEvent::MidiCC {
                    timing,
                    channel,
                    cc: SUSTAIN_CC,
                    value,
                } => {
                    let down = (value * 127.0).round() >= f32::from(SUSTAIN_DOWN);
                    self.engine
                        .input_pedal(timing, channel, down, &mut |e| send(context, e));
                    if settings.pass_through {
                        let _ = context.try_send_event(event);
                    }
                }
                other => {
                    self.engine
                        .host_event(other.timing(), &mut |e| send(context, e));
                    if settings.pass_through {
                        let _ = context.try_send_event(other);
                    }
                }
            }
        }
        self.engine.end_block(&mut |e| send(context, e));
        if self.engine.needs_processing() {
            ProcessStatus::KeepAlive
        } else {
            ProcessStatus::Normal
        }
    }

    fn deactivate(&mut self) {
        self.engine.reset();
    }
}

impl<const INSTRUMENT: bool> Drop for Continuo<INSTRUMENT> {
    fn drop(&mut self) {
        self.shared
            .stop
            .store(true, std::sync::atomic::Ordering::Relaxed);
        if let Some(handle) = self.worker.take() {
            let _ = handle.join();
        }
    }
}

impl<const INSTRUMENT: bool> ClapPlugin for Continuo<INSTRUMENT> {
    const CLAP_ID: &'static str = Self::VARIANT.clap_id;
    const CLAP_DESCRIPTION: Option<&'static str> =
        Some("Continues the phrase you play with a GRU network");
    const CLAP_MANUAL_URL: Option<&'static str> = None;
    const CLAP_SUPPORT_URL: Option<&'static str> = None;
    const CLAP_FEATURES: &'static [ClapFeature] = if Self::VARIANT.audio_out {
        &[
            ClapFeature::Instrument,
            ClapFeature::NoteEffect,
            ClapFeature::Utility,
        ]
    } else {
        &[ClapFeature::NoteEffect, ClapFeature::Utility]
    };
}

impl<const INSTRUMENT: bool> Vst3Plugin for Continuo<INSTRUMENT> {
    const VST3_CLASS_ID: [u8; 16] = Self::VARIANT.vst3_class_id;
    const VST3_SUBCATEGORIES: &'static [Vst3SubCategory] = if INSTRUMENT {
        &vst3_subcategories::<{ metadata::INSTRUMENT.vst3_subcategories.len() }>(
            metadata::INSTRUMENT.vst3_subcategories,
        )
    } else {
        &vst3_subcategories::<{ metadata::EFFECT.vst3_subcategories.len() }>(
            metadata::EFFECT.vst3_subcategories,
        )
    };
}

/// nice-plug's sub-categories for names spelled as VST3 spells them: it passes a `Custom` one
/// on as it is, so hosts see exactly the names `moduleinfo.json` gives.
const fn vst3_subcategories<const N: usize>(names: &[&'static str]) -> [Vst3SubCategory; N] {
    let mut out = [Vst3SubCategory::Fx; N];
    let mut i = 0;
    while i < N {
        out[i] = Vst3SubCategory::Custom(names[i]);
        i += 1;
    }
    out
}

nice_export_clap!(Continuo, ContinuoInstrument);
nice_export_vst3!(Continuo, ContinuoInstrument);
