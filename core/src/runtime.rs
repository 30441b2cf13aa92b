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
    model_files, ContractError, MetaError, ModelMeta, INPUT_BAR_BEAT, INPUT_PHASE, INPUT_STATE,
    INPUT_TOKENS, OUTPUT_LOGITS, OUTPUT_STATE,
};
use crate::grid::Position;

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

/// Why ONNX Runtime could not be loaded. Kept for the process: every later model load
/// reports the same reason.
#[derive(Debug, Clone, Error)]
pub enum InitError {
    #[error(
        "ONNX Runtime library not found (looked in: {0}). Run `cargo xtask fetch-ort`, or set \
         {ORT_PATH_ENV} to a libonnxruntime {ORT_VERSION}"
    )]
    LibraryNotFound(String),
    #[error("could not load ONNX Runtime from {}: {message}", path.display())]
    LibraryLoad { path: PathBuf, message: String },
}

#[derive(Debug, Error)]
pub enum RuntimeError {
    #[error(transparent)]
    Init(#[from] InitError),
    #[error("model file {} does not exist", .0.display())]
    MissingModel(PathBuf),
    #[error("reading model {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Meta(#[from] ContractError),
    #[error("ONNX Runtime: {0}")]
    Ort(String),
    #[error("model {} does not follow the Continuo contract: {source}", path.display())]
    Contract {
        path: PathBuf,
        source: ContractBreach,
    },
}

/// How a model's graph or metadata breaks the contract.
#[derive(Debug, Error)]
pub enum ContractBreach {
    #[error(transparent)]
    Meta(#[from] MetaError),
    #[error("no input named {name:?} (inputs: {found:?})")]
    MissingInput {
        name: &'static str,
        found: Vec<String>,
    },
    #[error("no output named {name:?} (outputs: {found:?})")]
    MissingOutput {
        name: &'static str,
        found: Vec<String>,
    },
    #[error("one step failed: {0}")]
    Step(String),
    #[error("one step gave {logits} logits and {state} state values; the metadata promises {vocab} and {expected_state}")]
    Shape {
        logits: usize,
        state: usize,
        vocab: usize,
        expected_state: usize,
    },
    #[error("{tokens} tokens but {grid} grid positions")]
    Grid { tokens: usize, grid: usize },
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

static RUNTIME: OnceLock<Result<(PathBuf, Environment), InitError>> = OnceLock::new();

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
            return Err(InitError::LibraryNotFound(list.join(", ")));
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
            Err(message) => Err(InitError::LibraryLoad { path, message }),
        }
    });
    Ok(outcome.clone()?)
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
        let bytes = std::fs::read(&onnx).map_err(|source| RuntimeError::Read {
            path: onnx.clone(),
            source,
        })?;
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
        meta.validate().map_err(|e| RuntimeError::Contract {
            path: origin.clone(),
            source: e.into(),
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
        let contract = |source: ContractBreach| RuntimeError::Contract {
            path: path.clone(),
            source,
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
        let grid: &[&str] = if self.meta.hears_grid() {
            &[INPUT_PHASE, INPUT_BAR_BEAT]
        } else {
            &[]
        };
        for &name in [INPUT_TOKENS, INPUT_STATE].iter().chain(grid) {
            if !inputs.iter().any(|i| i == name) {
                return Err(contract(ContractBreach::MissingInput {
                    name,
                    found: inputs,
                }));
            }
        }
        for name in [OUTPUT_LOGITS, OUTPUT_STATE] {
            if !outputs.iter().any(|o| o == name) {
                return Err(contract(ContractBreach::MissingOutput {
                    name,
                    found: outputs,
                }));
            }
        }
        let vocab = self.meta.vocab.size();
        let state = self.state.len();
        let (logits, hn) = self
            .forward(&[0], &[Position::default()], 1, &vec![0.0; state])
            .map_err(|e| contract(ContractBreach::Step(e.to_string())))?;
        if logits.len() != vocab || hn.len() != state {
            return Err(contract(ContractBreach::Shape {
                logits: logits.len(),
                state: hn.len(),
                vocab,
                expected_state: state,
            }));
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

    /// The carried state and the logits after the last token read.
    pub(crate) fn snapshot(&self) -> (Vec<f32>, Vec<f32>) {
        (self.state.clone(), self.logits.clone())
    }

    /// Goes back to a [`Self::snapshot`].
    pub(crate) fn restore(&mut self, state: &[f32], logits: &[f32]) {
        self.state.copy_from_slice(state);
        self.logits.copy_from_slice(logits);
    }

    /// The logits after the last token read, to bias and draw from.
    pub(crate) fn logits_mut(&mut self) -> &mut [f32] {
        &mut self.logits
    }

    /// Runs `tokens` (one sequence), each at its `grid` position, from the carried state;
    /// returns the logits after the last token. The state carries on.
    pub fn run(&mut self, tokens: &[u32], grid: &[Position]) -> Result<&mut [f32], RuntimeError> {
        if tokens.is_empty() {
            return Ok(&mut self.logits);
        }
        let ids: Vec<i64> = tokens.iter().map(|&t| i64::from(t)).collect();
        let (logits, hn) = self.forward(&ids, grid, 1, &self.state.clone())?;
        let v = self.logits.len();
        self.logits.copy_from_slice(&logits[logits.len() - v..]);
        self.state.copy_from_slice(&hn);
        Ok(&mut self.logits)
    }

    /// The raw contract: `tokens` and `grid` are `[seq, batch]` row-major, `state` is
    /// `[layers, batch, hidden]`. Returns all logits `[seq, batch, vocab]` and the new state.
    /// A model of contract 1 does not read `grid`.
    pub fn forward(
        &mut self,
        tokens: &[i64],
        grid: &[Position],
        batch: usize,
        state: &[f32],
    ) -> Result<(Vec<f32>, Vec<f32>), RuntimeError> {
        let a = self.meta.architecture;
        let seq = tokens.len() / batch.max(1);
        let t = TensorRef::from_array_view(([seq, batch], tokens))?;
        let h = TensorRef::from_array_view(([a.num_layers, batch, a.hidden_dim], state))?;
        let out = if self.meta.hears_grid() {
            if grid.len() != tokens.len() {
                return Err(RuntimeError::Contract {
                    path: self.onnx_path.clone(),
                    source: ContractBreach::Grid {
                        tokens: tokens.len(),
                        grid: grid.len(),
                    },
                });
            }
            let phase: Vec<i64> = grid.iter().map(|p| i64::from(p.phase)).collect();
            let bar: Vec<i64> = grid.iter().map(|p| i64::from(p.bar_beat)).collect();
            let phase = TensorRef::from_array_view(([seq, batch], phase.as_slice()))?;
            let bar = TensorRef::from_array_view(([seq, batch], bar.as_slice()))?;
            self.session.run(ort::inputs![
                INPUT_TOKENS => t,
                INPUT_PHASE => phase,
                INPUT_BAR_BEAT => bar,
                INPUT_STATE => h
            ])?
        } else {
            self.session
                .run(ort::inputs![INPUT_TOKENS => t, INPUT_STATE => h])?
        };
        let (_, logits) = out[OUTPUT_LOGITS].try_extract_tensor::<f32>()?;
        let (_, hn) = out[OUTPUT_STATE].try_extract_tensor::<f32>()?;
        Ok((logits.to_vec(), hn.to_vec()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_runtime_reads_as_one_line_and_can_be_matched() {
        let e = RuntimeError::from(InitError::LibraryNotFound("/x/libonnxruntime.so".into()));
        let line = e.to_string();
        assert!(
            line.starts_with("ONNX Runtime library not found (looked in: /x/"),
            "{line}"
        );
        assert!(!line.contains('\n'));
        assert!(matches!(
            e,
            RuntimeError::Init(InitError::LibraryNotFound(_))
        ));
    }
}
