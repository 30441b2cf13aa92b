//! Continuo as an application: nice-plug's standalone wrapper (JACK, else ALSA) around
//! [`ContinuoInstrument`], with its window and parameters, and a state file that keeps the
//! parameters and the persisted fields (model path, clips folder) from one run to the next.
//!
//! `continuo-standalone [--state PATH] [--headless] [nice-plug's options…]`; `--help` lists
//! the wrapper's options (backend, ports to connect, tempo).
//!
//! The wrapper ends its audio callback at once when asked to quit, so a note of the answer
//! would hang on the synth. Here a quit (window closed, SIGINT, SIGTERM) first lets one more
//! block through that ends every note, then saves the state.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use continuo::ContinuoInstrument;
use nice_plug::context::gui::GuiContext;
use nice_plug::context::process::SendEventError;
use nice_plug::editor::dpi::NativeSize;
use nice_plug::editor::{EditorHandle, HostMethods, ParentWindowHandle, ResizeHint, SpawnedEditor};
use nice_plug::plugin::{TaskExecutor, TrackInfo};
use nice_plug::prelude::*;
use serde::{Deserialize, Serialize};

/// Set when the application should stop; the audio thread answers with [`SILENT`].
static STOP: AtomicBool = AtomicBool::new(false);
/// Set by the audio thread once the block that ends every note has gone out to the backend.
static SILENT: AtomicBool = AtomicBool::new(false);
static HEADLESS: AtomicBool = AtomicBool::new(false);
static STATE_PATH: OnceLock<PathBuf> = OnceLock::new();
/// The wrapper makes the plugin itself; this is how its parameters reach the state file.
static PARAMS: OnceLock<Arc<dyn Params>> = OnceLock::new();

/// How long a quit waits for the audio thread to end the notes (it may not be running).
const SILENCE_DEADLINE: Duration = Duration::from_secs(2);
const ALL_NOTES_OFF: u8 = 123;

fn main() -> Result<()> {
    let mut wrapper_args = vec![std::env::args().next().unwrap_or_default()];
    let mut state = None;
    let mut headless = false;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--state" => state = Some(PathBuf::from(args.next().context("--state needs a path")?)),
            "--headless" => headless = true,
            "-h" | "--help" => {
                println!(
                    "Continuo's own options:\n  --state <PATH>  parameters and settings, restored at start and \
                     saved on quit\n                  [default: $XDG_CONFIG_HOME/continuo/standalone.json]\n  \
                     --headless      no window (also without DISPLAY or WAYLAND_DISPLAY); quit with SIGINT or \
                     SIGTERM\n"
                );
                wrapper_args.push(a);
            }
            _ => match a.strip_prefix("--state=") {
                Some(p) => state = Some(PathBuf::from(p)),
                None => wrapper_args.push(a),
            },
        }
    }
    let state = match state {
        Some(p) => p,
        None => default_state_path()
            .context("no --state given, and neither XDG_CONFIG_HOME nor HOME is set")?,
    };
    STATE_PATH.set(state).expect("set once");
    let no_display =
        std::env::var_os("DISPLAY").is_none() && std::env::var_os("WAYLAND_DISPLAY").is_none();
    if !headless && no_display && cfg!(all(unix, not(target_os = "macos"))) {
        eprintln!("continuo: no DISPLAY or WAYLAND_DISPLAY, running without a window");
        headless = true;
    }
    HEADLESS.store(headless, Ordering::Relaxed);
    // Before any thread starts, so every thread (JACK's and the wrapper's among them) inherits
    // the mask and the two signals reach only `watch_signals`; otherwise the wrapper's own
    // SIGINT handler would stop the audio mid-note.
    let signals = block_quit_signals();
    std::thread::spawn(move || watch_signals(signals));

    let ran = nice_plug::wrapper::standalone::nice_export_standalone_with_args::<Standalone, _>(
        wrapper_args,
    );
    if !ran {
        // The state is left as it was: the application never ran.
        std::process::exit(1);
    }
    save_state()
}

fn default_state_path() -> Option<PathBuf> {
    std::env::var_os("XDG_CONFIG_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))
        .map(|d| d.join("continuo").join("standalone.json"))
}

fn block_quit_signals() -> libc::sigset_t {
    // SAFETY: plain libc calls on a local signal set.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGINT);
        libc::sigaddset(&mut set, libc::SIGTERM);
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
        set
    }
}

fn watch_signals(set: libc::sigset_t) {
    let mut signal = 0;
    // SAFETY: `set` holds signals this thread has blocked, as `sigwait` requires.
    while unsafe { libc::sigwait(&set, &mut signal) } != 0 {}
    quit();
}

/// Ends every note, saves the state and ends the process. Not the wrapper's way out: it has
/// its JACK callback return `Quit` and deactivates the client at the same time, and the two
/// requests can deadlock inside libjack; JACK drops a client whose process ends.
fn quit() -> ! {
    silence();
    let code = match save_state() {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("continuo: {e:#}");
            1
        }
    };
    std::process::exit(code);
}

/// Asks the audio thread to end every note and waits until it has (or for the deadline, in
/// case no audio runs).
fn silence() {
    STOP.store(true, Ordering::Release);
    let deadline = Instant::now() + SILENCE_DEADLINE;
    while !SILENT.load(Ordering::Acquire) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// The state file: plain parameter values by id (readable, and stable if a range changes)
/// and the persisted fields as the plugin serializes them.
#[derive(Serialize, Deserialize, Default)]
struct State {
    params: BTreeMap<String, f32>,
    fields: BTreeMap<String, String>,
}

fn save_state() -> Result<()> {
    let (Some(path), Some(params)) = (STATE_PATH.get(), PARAMS.get()) else {
        return Ok(());
    };
    let state = State {
        params: params
            .param_map()
            .into_iter()
            // SAFETY: the pointers come from the plugin's own parameters, which live in `PARAMS`.
            .map(|(id, ptr, _)| (id, unsafe { ptr.unmodulated_plain_value() }))
            .collect(),
        fields: params.serialize_fields(),
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    // Written aside and renamed, so a quit cut short never leaves half a file.
    let tmp = path.with_extension("json.tmp");
    std::fs::write(&tmp, serde_json::to_vec_pretty(&state)?)
        .with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("writing {}", path.display()))
}

fn restore_state(path: &Path, params: &dyn Params) -> Result<()> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    };
    let state: State =
        serde_json::from_slice(&bytes).with_context(|| format!("reading {}", path.display()))?;
    for (id, ptr, _) in params.param_map() {
        if let Some(&plain) = state.params.get(&id) {
            // SAFETY: as in `save_state`; nothing processes yet.
            unsafe { ptr._internal_set_normalized_value(ptr.preview_normalized(plain)) };
        }
    }
    params.deserialize_fields(&state.fields);
    Ok(())
}

/// [`ContinuoInstrument`] (a silent stereo output, which keeps the ALSA backend's audio
/// callback, and so MIDI, running) with the quit handling and the state file.
struct Standalone {
    inner: ContinuoInstrument,
    silenced: bool,
}

impl Default for Standalone {
    fn default() -> Self {
        let inner = ContinuoInstrument::default();
        let params = inner.params();
        // Before activation, which starts the inference thread with the saved model path.
        if let Some(path) = STATE_PATH.get() {
            if let Err(e) = restore_state(path, &*params) {
                eprintln!("continuo: {e:#}; starting with the defaults");
            }
        }
        let _ = PARAMS.set(params);
        Self {
            inner,
            silenced: false,
        }
    }
}

impl Plugin for Standalone {
    // The JACK client's name, without the layout's suffix.
    const NAME: &'static str = "Continuo";
    const VENDOR: &'static str = ContinuoInstrument::VENDOR;
    const URL: &'static str = ContinuoInstrument::URL;
    const EMAIL: &'static str = ContinuoInstrument::EMAIL;
    const VERSION: &'static str = ContinuoInstrument::VERSION;
    const AUDIO_IO_LAYOUTS: &'static [AudioIOLayout] = ContinuoInstrument::AUDIO_IO_LAYOUTS;
    const MIDI_INPUT: MidiConfig = ContinuoInstrument::MIDI_INPUT;
    const MIDI_OUTPUT: MidiConfig = ContinuoInstrument::MIDI_OUTPUT;
    const SAMPLE_ACCURATE_AUTOMATION: bool = ContinuoInstrument::SAMPLE_ACCURATE_AUTOMATION;

    type Editor = QuietEditor<<ContinuoInstrument as Plugin>::Editor>;
    type SysExMessage = ();
    type BackgroundTask = ();

    fn task_executor(&mut self) -> TaskExecutor<Self> {
        self.inner.task_executor()
    }

    fn params(&self) -> Arc<dyn Params> {
        self.inner.params()
    }

    fn editor(&mut self, executor: AsyncExecutor<Self>) -> Option<Self::Editor> {
        if HEADLESS.load(Ordering::Relaxed) {
            return None;
        }
        let executor = Arc::new(executor);
        let gui = executor.clone();
        let inner = AsyncExecutor::new(
            Arc::new(move |task| executor.execute_background(task)),
            Arc::new(move |task| gui.execute_gui(task)),
        );
        self.inner.editor(inner).map(QuietEditor)
    }

    fn activate(
        &mut self,
        layout: &AudioIOLayout,
        config: &BufferConfig,
        context: &mut impl ActivateContext<Self>,
    ) -> bool {
        self.inner.activate(layout, config, &mut Activate(context))
    }

    fn reset(&mut self) {
        self.inner.reset();
    }

    fn process(
        &mut self,
        buffer: &mut Buffer,
        aux: &mut AuxiliaryBuffers,
        context: &mut impl ProcessContext<Self>,
    ) -> ProcessStatus {
        if self.silenced {
            // Only now: the backend writes a block's MIDI after `process` returns, so a quit
            // on seeing the flag from the last block could cut those messages short.
            SILENT.store(true, Ordering::Release);
            for channel in buffer.as_slice() {
                channel.fill(0.0);
            }
            return ProcessStatus::Normal;
        }
        if !STOP.load(Ordering::Acquire) {
            return self
                .inner
                .process(buffer, aux, &mut Process(&mut *context, true));
        }
        // The engine owes a note-off for each generated note after a reset and sends them with
        // this block; what the player still holds passed through, so All Notes Off ends that.
        self.inner.reset();
        self.inner
            .process(buffer, aux, &mut Process(&mut *context, false));
        let last = buffer.samples().saturating_sub(1) as u32;
        for channel in 0..16 {
            let _ = context.try_send_event(NoteEvent::MidiCC {
                timing: last,
                channel,
                cc: ALL_NOTES_OFF,
                value: 0.0,
            });
        }
        self.silenced = true;
        ProcessStatus::Normal
    }

    fn deactivate(&mut self) {
        self.inner.deactivate();
    }
}

/// The wrapper's process context as the inner plugin's; with `false`, the input is dropped.
struct Process<'a, C>(&'a mut C, bool);

impl<C: ProcessContext<Standalone>> ProcessContext<ContinuoInstrument> for Process<'_, C> {
    fn plugin_api(&self) -> PluginApi {
        self.0.plugin_api()
    }
    fn execute_background(&self, task: ()) {
        self.0.execute_background(task)
    }
    fn execute_gui(&self, task: ()) {
        self.0.execute_gui(task)
    }
    fn transport(&self) -> &Transport {
        self.0.transport()
    }
    fn process_mode(&self) -> ProcessMode {
        self.0.process_mode()
    }
    fn next_event(&mut self) -> Option<NoteEvent<()>> {
        if self.1 {
            self.0.next_event()
        } else {
            None
        }
    }
    fn try_send_event(
        &mut self,
        event: NoteEvent<()>,
    ) -> Result<(), (NoteEvent<()>, SendEventError)> {
        self.0.try_send_event(event)
    }
    fn set_latency_samples(&self, samples: u32) {
        self.0.set_latency_samples(samples)
    }
    fn request_restart(&self) {
        self.0.request_restart()
    }
    fn set_current_voice_capacity(&self, capacity: u32) {
        self.0.set_current_voice_capacity(capacity)
    }
}

struct Activate<'a, C>(&'a mut C);

impl<C: ActivateContext<Standalone>> ActivateContext<ContinuoInstrument> for Activate<'_, C> {
    fn plugin_api(&self) -> PluginApi {
        self.0.plugin_api()
    }
    fn execute(&self, task: ()) {
        self.0.execute(task)
    }
    fn set_latency_samples(&self, samples: u32) {
        self.0.set_latency_samples(samples)
    }
    fn set_current_voice_capacity(&self, capacity: u32) {
        self.0.set_current_voice_capacity(capacity)
    }
}

/// The plugin's window; when it closes, the notes end before the wrapper stops the audio.
struct QuietEditor<E>(E);

impl<E: Editor> Editor for QuietEditor<E> {
    type Handle = QuietHandle<E::Handle>;

    fn spawn(
        &self,
        parent: Option<ParentWindowHandle>,
        wait_for_parent: bool,
        fallback_scale_factor: Option<f64>,
        gui_context: GuiContext,
        host: Option<HostMethods>,
    ) -> Result<SpawnedEditor<Self::Handle>, Box<dyn std::error::Error>> {
        let SpawnedEditor { handle, window } = self.0.spawn(
            parent,
            wait_for_parent,
            fallback_scale_factor,
            gui_context,
            host,
        )?;
        Ok(SpawnedEditor {
            handle: QuietHandle(handle),
            window,
        })
    }

    fn size(&self) -> NativeSize<u32> {
        self.0.size()
    }

    fn resize_hint(&self) -> ResizeHint {
        self.0.resize_hint()
    }

    fn track_info_updated(&self, info: TrackInfo) {
        self.0.track_info_updated(info)
    }

    unsafe fn assume_standalone_in_process(&self) {
        // SAFETY: the caller's promise is passed on unchanged.
        unsafe { self.0.assume_standalone_in_process() }
    }
}

struct QuietHandle<H>(H);

impl<H: EditorHandle> EditorHandle for QuietHandle<H> {
    type Window = H::Window;
    type Error = H::Error;

    fn run_until_closed(window: Self::Window) -> Result<(), Self::Error> {
        let closed = H::run_until_closed(window);
        if closed.is_ok() {
            quit();
        }
        silence();
        closed
    }
    fn set_parent(&self, parent: ParentWindowHandle, window: &H::Window) -> Result<(), H::Error> {
        self.0.set_parent(parent, window)
    }
    fn show(&self, window: &H::Window) -> Result<(), H::Error> {
        self.0.show(window)
    }
    fn hide(&self, window: &H::Window) -> Result<(), H::Error> {
        self.0.hide(window)
    }
    fn set_size(&self, size: NativeSize<u32>, window: &H::Window) -> Result<(), H::Error> {
        self.0.set_size(size, window)
    }
    fn host_main_thread_callback(&self, window: &H::Window) {
        self.0.host_main_thread_callback(window)
    }
    fn adjust_size(&self, size: NativeSize<u32>, window: &H::Window) -> Option<NativeSize<u32>> {
        self.0.adjust_size(size, window)
    }
    fn set_fallback_scale_factor(&self, factor: f64, window: &H::Window) -> Result<(), H::Error> {
        self.0.set_fallback_scale_factor(factor, window)
    }
    fn state_changed(&self) {
        self.0.state_changed()
    }
    fn param_value_changed(&self, id: &str, normalized_value: f32) {
        self.0.param_value_changed(id, normalized_value)
    }
    fn param_modulation_changed(&self, id: &str, offset: f32) {
        self.0.param_modulation_changed(id, offset)
    }
}
