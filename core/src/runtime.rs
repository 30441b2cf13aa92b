//! Running a contract-following model with ONNX Runtime (feature `ort`).
//!
//! ONNX Runtime is loaded dynamically, so Continuo ships (or is pointed at) a
//! `libonnxruntime` instead of linking one: [`init_runtime`] finds it once per process.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use ort::environment::Environment;
use ort::session::Session;
use ort::value::TensorRef;
use thiserror::Error;

use crate::contract::{
    model_files, ContractError, ModelMeta, INPUT_STATE, INPUT_TOKENS, OUTPUT_LOGITS, OUTPUT_STATE,
};
use crate::sampling::{sample, Constraints, Density, Guide, Onsets, Repeats, Rng, Sampling};
use crate::tokens::{Decoder, NoteEvent};
use crate::vocab::Token;

/// The ONNX Runtime version Continuo is built and tested against.
pub const ORT_VERSION: &str = "1.31.1";
/// File name of the runtime library on this platform.
pub const ORT_LIBRARY: &str = if cfg!(target_os = "windows") {
    "onnxruntime.dll"
} else if cfg!(target_os = "macos") {
    "libonnxruntime.1.31.1.dylib"
} else {
    "libonnxruntime.so.1.31.1"
};
/// Environment variable that overrides where the runtime library is loaded from.
pub const ORT_PATH_ENV: &str = "ORT_DYLIB_PATH";

#[derive(Debug, Error)]
pub enum RuntimeError {
    #[error(
        "ONNX Runtime library not found (looked in: {0}). Run `cargo xtask fetch-ort`, or set \
         {ORT_PATH_ENV} to a libonnxruntime {ORT_VERSION}"
    )]
    LibraryNotFound(String),
    #[error("could not load ONNX Runtime from {path}: {message}")]
    LibraryLoad { path: PathBuf, message: String },
    #[error("model file {0} does not exist")]
    MissingModel(PathBuf),
    #[error(transparent)]
    Meta(#[from] ContractError),
    #[error("ONNX Runtime: {0}")]
    Ort(String),
    #[error("model {path} does not follow the Continuo contract: {message}")]
    Contract { path: PathBuf, message: String },
}

impl<T> From<ort::Error<T>> for RuntimeError {
    fn from(e: ort::Error<T>) -> Self {
        RuntimeError::Ort(e.to_string())
    }
}

/// Execution provider preference. Anything but CPU falls back to CPU when unavailable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Provider {
    #[default]
    Cpu,
    Cuda,
    CoreMl,
    DirectMl,
}

impl Provider {
    /// The providers that can load on this operating system, given a GPU and an ONNX Runtime
    /// built with them (the shipped runtime has CoreML on macOS and only the CPU elsewhere).
    /// A choice list offers these; any other choice falls back to CPU with a reason.
    pub const OFFERED: &'static [Provider] = if cfg!(target_os = "macos") {
        &[Provider::Cpu, Provider::CoreMl]
    } else if cfg!(windows) {
        &[Provider::Cpu, Provider::Cuda, Provider::DirectMl]
    } else {
        &[Provider::Cpu, Provider::Cuda]
    };

    /// A stable name for saved settings.
    pub fn id(self) -> &'static str {
        match self {
            Provider::Cpu => "cpu",
            Provider::Cuda => "cuda",
            Provider::CoreMl => "coreml",
            Provider::DirectMl => "directml",
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Provider::Cpu => "CPU",
            Provider::Cuda => "CUDA",
            Provider::CoreMl => "CoreML",
            Provider::DirectMl => "DirectML",
        }
    }
}

#[derive(Debug, Clone)]
pub struct RuntimeOptions {
    pub provider: Provider,
    pub intra_threads: usize,
}

impl Default for RuntimeOptions {
    fn default() -> Self {
        Self {
            provider: Provider::Cpu,
            intra_threads: 1,
        }
    }
}

/// Where to look for the runtime library: `$ORT_DYLIB_PATH`, then `extra` (e.g. beside the
/// plugin binary), then this repository's cache (for `cargo test` and `cargo run`).
pub fn library_candidates(extra: &[PathBuf]) -> Vec<PathBuf> {
    let mut c = Vec::new();
    if let Some(p) = std::env::var_os(ORT_PATH_ENV) {
        c.push(PathBuf::from(p));
    }
    c.extend(extra.iter().cloned());
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap_or(Path::new("."));
    // `cargo xtask fetch-ort` keeps one runtime per platform, named as Rust's consts name it.
    let platform = format!("{}-{}", std::env::consts::OS, std::env::consts::ARCH);
    c.push(repo.join(".cache/ort").join(platform).join(ORT_LIBRARY));
    c
}

static RUNTIME: OnceLock<Result<(PathBuf, Environment), String>> = OnceLock::new();

/// Loads ONNX Runtime once per process from the first existing candidate and returns the
/// library's path. Later calls return the first call's outcome.
pub fn init_runtime(extra: &[PathBuf]) -> Result<PathBuf, RuntimeError> {
    runtime(extra).map(|(p, _)| p)
}

fn runtime(extra: &[PathBuf]) -> Result<(PathBuf, Environment), RuntimeError> {
    let outcome = RUNTIME.get_or_init(|| {
        let candidates = library_candidates(extra);
        let Some(path) = candidates.iter().find(|p| p.is_file()).cloned() else {
            let list: Vec<_> = candidates.iter().map(|p| p.display().to_string()).collect();
            return Err(RuntimeError::LibraryNotFound(list.join(", ")).to_string());
        };
        disable_telemetry();
        let loaded = ort::init_from(&path)
            .map_err(|e| e.to_string())
            .and_then(|b| {
                b.with_name("continuo")
                    .with_telemetry(false)
                    .build()
                    .map_err(|e| e.to_string())
            });
        match loaded {
            Ok(env) => Ok((path, env)),
            Err(message) => Err(RuntimeError::LibraryLoad { path, message }.to_string()),
        }
    });
    outcome.clone().map_err(RuntimeError::Ort)
}

/// ONNX Runtime's telemetry keeps a device id and a database under `~/.cache/Microsoft`
/// from the moment the library loads, and Continuo writes nothing where the user did not
/// ask. Turning telemetry events off on the environment does not stop that file; the
/// library's own switch, an environment variable it reads at load, does. A user's own
/// setting wins.
fn disable_telemetry() {
    const SWITCH: &str = "ORT_DISABLE_TELEMETRY";
    if std::env::var_os(SWITCH).is_none() {
        // Runs once per process, before the library loads. glibc's setenv never frees the
        // environment a concurrent getenv (a host's thread) may be reading.
        unsafe { std::env::set_var(SWITCH, "1") };
    }
}

/// A loaded model with its recurrent state, run one or more tokens at a time (batch 1).
pub struct Model {
    session: Session,
    meta: ModelMeta,
    onnx_path: PathBuf,
    state: Vec<f32>,
    logits: Vec<f32>,
    provider_note: Option<String>,
}

impl Model {
    /// Loads `path` (a model directory, `.onnx` or `.json`) and checks it against its metadata
    /// by running one step, so a wrong model fails here rather than mid-performance.
    pub fn load(path: &Path, options: &RuntimeOptions) -> Result<Self, RuntimeError> {
        let (onnx, json) = model_files(path);
        for p in [&onnx, &json] {
            if !p.is_file() {
                return Err(RuntimeError::MissingModel(p.clone()));
            }
        }
        let meta = ModelMeta::load(&json)?;
        let bytes = std::fs::read(&onnx)
            .map_err(|e| RuntimeError::Ort(format!("reading {}: {e}", onnx.display())))?;
        Self::from_memory(&bytes, meta, onnx, options)
    }

    /// Loads a model held in memory (the plugin's embedded default); `origin` names it in
    /// errors.
    pub fn from_memory(
        onnx: &[u8],
        meta: ModelMeta,
        origin: PathBuf,
        options: &RuntimeOptions,
    ) -> Result<Self, RuntimeError> {
        let (_, env) = runtime(&[])?;
        meta.validate().map_err(|message| RuntimeError::Contract {
            path: origin.clone(),
            message,
        })?;
        let mut builder =
            Session::builder(&env)?.with_intra_threads(options.intra_threads.max(1))?;
        let mut provider_note = None;
        let provider = options.provider;
        let ep = match provider {
            Provider::Cpu => None,
            _ if !Provider::OFFERED.contains(&provider) => {
                provider_note = Some(format!(
                    "{} does not run on {}, using CPU",
                    provider.name(),
                    std::env::consts::OS
                ));
                None
            }
            Provider::Cuda => Some(ort::ep::CUDA::default().build()),
            Provider::CoreMl => Some(ort::ep::CoreML::default().build()),
            Provider::DirectMl => Some(ort::ep::DirectML::default().build()),
        };
        if let Some(ep) = ep {
            match builder.with_execution_providers([ep.error_on_failure()]) {
                Ok(b) => builder = b,
                Err(e) => {
                    provider_note =
                        Some(format!("{} unavailable, using CPU: {e}", provider.name()));
                    builder = e.recover();
                }
            }
        }
        let session = builder.commit_from_memory(onnx)?;
        let a = meta.architecture;
        let mut model = Self {
            session,
            onnx_path: origin,
            state: vec![0.0; a.num_layers * a.hidden_dim],
            logits: vec![0.0; meta.vocab.size()],
            meta,
            provider_note,
        };
        model.check_contract()?;
        Ok(model)
    }

    fn check_contract(&mut self) -> Result<(), RuntimeError> {
        let path = self.onnx_path.clone();
        let contract = |message: String| RuntimeError::Contract {
            path: path.clone(),
            message,
        };
        let inputs: Vec<String> = self
            .session
            .inputs()
            .iter()
            .map(|i| i.name().to_string())
            .collect();
        let outputs: Vec<String> = self
            .session
            .outputs()
            .iter()
            .map(|o| o.name().to_string())
            .collect();
        for name in [INPUT_TOKENS, INPUT_STATE] {
            if !inputs.iter().any(|i| i == name) {
                return Err(contract(format!(
                    "no input named {name:?} (inputs: {inputs:?})"
                )));
            }
        }
        for name in [OUTPUT_LOGITS, OUTPUT_STATE] {
            if !outputs.iter().any(|o| o == name) {
                return Err(contract(format!(
                    "no output named {name:?} (outputs: {outputs:?})"
                )));
            }
        }
        let vocab = self.meta.vocab.size();
        let state = self.state.len();
        let (logits, hn) = self
            .forward(&[0], 1, &vec![0.0; state])
            .map_err(|e| contract(e.to_string()))?;
        if logits.len() != vocab || hn.len() != state {
            return Err(contract(format!(
                "one step gave {} logits and {} state values; the metadata promises {vocab} and {state}",
                logits.len(),
                hn.len()
            )));
        }
        Ok(())
    }

    pub fn meta(&self) -> &ModelMeta {
        &self.meta
    }

    /// Why a requested execution provider was not used, if it was not.
    pub fn provider_note(&self) -> Option<&str> {
        self.provider_note.as_deref()
    }

    /// Forgets all context.
    pub fn reset(&mut self) {
        self.state.fill(0.0);
    }

    /// Runs `tokens` (one sequence) from the carried state; returns the logits after the last
    /// token. The state carries on.
    pub fn run(&mut self, tokens: &[u32]) -> Result<&mut [f32], RuntimeError> {
        if tokens.is_empty() {
            return Ok(&mut self.logits);
        }
        let ids: Vec<i64> = tokens.iter().map(|&t| i64::from(t)).collect();
        let (logits, hn) = self.forward(&ids, 1, &self.state.clone())?;
        let v = self.logits.len();
        self.logits.copy_from_slice(&logits[logits.len() - v..]);
        self.state.copy_from_slice(&hn);
        Ok(&mut self.logits)
    }

    /// The raw contract: `tokens` is `[seq, batch]` row-major, `state` is
    /// `[layers, batch, hidden]`. Returns all logits `[seq, batch, vocab]` and the new state.
    pub fn forward(
        &mut self,
        tokens: &[i64],
        batch: usize,
        state: &[f32],
    ) -> Result<(Vec<f32>, Vec<f32>), RuntimeError> {
        let a = self.meta.architecture;
        let seq = tokens.len() / batch.max(1);
        let t = TensorRef::from_array_view(([seq, batch], tokens))?;
        let h = TensorRef::from_array_view(([a.num_layers, batch, a.hidden_dim], state))?;
        let out = self
            .session
            .run(ort::inputs![INPUT_TOKENS => t, INPUT_STATE => h])?;
        let (_, logits) = out[OUTPUT_LOGITS].try_extract_tensor::<f32>()?;
        let (_, hn) = out[OUTPUT_STATE].try_extract_tensor::<f32>()?;
        Ok((logits.to_vec(), hn.to_vec()))
    }
}

/// The model's state and logits after reading `ids` from a fresh state.
struct Prepared {
    ids: Vec<u32>,
    state: Vec<f32>,
    logits: Vec<f32>,
}

/// Continues a token stream with a model: the loop shared by `trainer generate`, the plugin's
/// inference thread and the benchmarks.
pub struct Generator {
    model: Model,
    decoder: Decoder,
    rng: Rng,
    /// Token fed last; its logits are in the model's buffer.
    primed: bool,
    /// A context read ahead of time ([`Self::prepare`]).
    prepared: Option<Prepared>,
    onsets: Onsets,
    guide: Guide,
    density: Density,
    repeats: Repeats,
}

impl Generator {
    pub fn new(model: Model, seed: u64) -> Self {
        let decoder = Decoder::new(model.meta().vocab);
        Self {
            model,
            decoder,
            rng: Rng::new(seed),
            primed: false,
            prepared: None,
            onsets: Onsets::default(),
            guide: Guide::default(),
            density: Density::default(),
            repeats: Repeats::default(),
        }
    }

    pub fn model(&self) -> &Model {
        &self.model
    }

    pub fn reseed(&mut self, seed: u64) {
        self.rng = Rng::new(seed);
    }

    /// Starts a new continuation: forgets state, then reads `BOS` and `context`.
    /// Decoded time restarts at step 0 after the context.
    pub fn prime(&mut self, context: &[Token]) -> Result<(), RuntimeError> {
        self.prime_after(context, &[])
    }

    /// Reads `BOS` and `context` now, ahead of an answer whose context will start with it, so
    /// that [`Self::prime_after`] then reads only what follows. The plugin does this while
    /// the player's phrase falls silent, which takes the phrase off the time between the
    /// phrase's end and the answer's first note.
    pub fn prepare(&mut self, context: &[Token]) -> Result<(), RuntimeError> {
        let ids = self.ids(context);
        if self.prepared.as_ref().is_some_and(|p| p.ids == ids) {
            return Ok(());
        }
        self.prepared = None;
        // The model's state is the continuation's no more.
        self.primed = false;
        self.model.reset();
        self.model.run(&ids)?;
        self.prepared = Some(Prepared {
            ids,
            state: self.model.state.clone(),
            logits: self.model.logits.clone(),
        });
        Ok(())
    }

    /// [`Self::prime`] with the context in two parts: `context`, which may have been
    /// [prepared](Self::prepare), and `then` (the rest before the answer). The model reads
    /// the two parts in two runs whether or not the first was prepared, so the answer is the
    /// same either way.
    pub fn prime_after(&mut self, context: &[Token], then: &[Token]) -> Result<(), RuntimeError> {
        let vocab = self.model.meta().vocab;
        let ids = self.ids(context);
        match self.prepared.take() {
            Some(p) if p.ids == ids => {
                self.model.state.copy_from_slice(&p.state);
                self.model.logits.copy_from_slice(&p.logits);
            }
            _ => {
                self.model.reset();
                self.model.run(&ids)?;
            }
        }
        let then_ids: Vec<u32> = then.iter().map(|&t| vocab.encode(t) as u32).collect();
        self.model.run(&then_ids)?;
        self.decoder = Decoder::new(vocab);
        self.onsets = Onsets::default();
        // The context's note-ons as (grid step, pitch).
        let mut notes = Vec::new();
        for &t in context.iter().chain(then) {
            if let Token::NoteOn(p) = t {
                self.onsets.strike(p, self.decoder.step());
                notes.push((self.decoder.step(), p));
            }
            self.decoder.feed(t, |_| {});
        }
        let pitches: Vec<u8> = notes.iter().map(|&(_, p)| p).collect();
        let steps: Vec<u64> = notes.iter().map(|&(s, _)| s).collect();
        self.guide = Guide::from_pitches(&pitches);
        self.density = Density::from_onsets(&steps, self.decoder.step(), vocab.steps_per_beat);
        self.repeats = Repeats::from_notes(&notes);
        // Context time is over; what follows counts from zero. The context's last onset
        // stays "previous" for the first generated one.
        self.decoder = rebased(&self.decoder);
        self.onsets = self.onsets.rebased();
        self.primed = true;
        Ok(())
    }

    /// `BOS` and `context` as model input ids.
    fn ids(&self, context: &[Token]) -> Vec<u32> {
        let vocab = self.model.meta().vocab;
        std::iter::once(Token::Bos)
            .chain(context.iter().copied())
            .map(|t| vocab.encode(t) as u32)
            .collect()
    }

    /// Samples one token under `constraints`, advances the model, and reports the note events
    /// it causes. Returns the token (None if the constraints allow nothing). A note held as
    /// long as the constraints allow is ended instead, with a `NOTE_OFF` the model reads.
    pub fn step(
        &mut self,
        constraints: &Constraints,
        sampling: &Sampling,
        emit: impl FnMut(NoteEvent),
    ) -> Result<Option<Token>, RuntimeError> {
        if !self.primed {
            self.prime(&[])?;
        }
        let vocab = self.model.meta().vocab;
        if let Some(pitch) = constraints.overdue(&self.decoder) {
            // The model held this note too long: end it, and let the model hear that it did.
            let token = Token::NoteOff(pitch);
            self.decoder.feed(token, emit);
            self.model.run(&[vocab.encode(token) as u32])?;
            return Ok(Some(token));
        }
        let decoder = &self.decoder;
        let logits = &mut self.model.logits;
        if sampling.repeat_penalty > 0.0 || sampling.follow > 0.0 {
            let step = decoder.step();
            let repeats = self.onsets.previous_at(step);
            let pace = self.density.note_on_bias(step);
            let habit = self.repeats.bias(step);
            let on = vocab.note_on_range();
            for (p, l) in logits[on].iter_mut().enumerate() {
                if repeats & (1 << p) != 0 {
                    *l += sampling.follow * habit - sampling.repeat_penalty;
                }
                *l += sampling.follow * (self.guide.bias(p as u8) + pace);
            }
            for id in vocab.time_shift_range() {
                if let Some(Token::TimeShift(steps)) = vocab.decode(id) {
                    logits[id] += sampling.follow * self.density.shift_bias(step, u64::from(steps));
                }
            }
        }
        let Some(id) = sample(logits, sampling, &mut self.rng, |i| {
            constraints.allows_id(&vocab, i, decoder)
        }) else {
            return Ok(None);
        };
        let token = vocab.decode(id).expect("sampled id is in the vocabulary");
        if let Token::NoteOn(p) = token {
            let step = self.decoder.step();
            self.repeats
                .strike(step, self.onsets.previous_at(step) & (1 << p) != 0);
            self.onsets.strike(p, step);
            self.density.note();
            self.guide.strike(p);
        }
        self.decoder.feed(token, emit);
        self.model.run(&[id as u32])?;
        Ok(Some(token))
    }

    /// Time generated so far, in grid steps.
    pub fn step_count(&self) -> u64 {
        self.decoder.step()
    }

    /// Ends all generated notes still sounding.
    pub fn release_all(&mut self, emit: impl FnMut(NoteEvent)) {
        self.decoder.release_all(emit);
    }
}

/// A decoder with the same sounding notes but time reset to 0.
fn rebased(d: &Decoder) -> Decoder {
    let mut fresh = Decoder::new(*d.vocab());
    for p in 0..128u8 {
        if d.is_sounding(p) {
            fresh.feed(Token::NoteOn(p), |_| {});
        }
    }
    fresh
}
