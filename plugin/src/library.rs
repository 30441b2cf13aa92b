//! The models a player can pick in the plugin window: those in the user's models folder, or
//! any path typed in. Only metadata is read here (cheap, on the GUI thread); the inference
//! thread loads the network itself once the path is chosen ([`load`]), from a path or from
//! the built-in model.

use std::path::{Path, PathBuf};

use continuo_core::contract::{model_files, ModelMeta};
use continuo_core::runtime::{init_runtime, Model, Provider, RuntimeError, RuntimeOptions};
use thiserror::Error;

/// Which model to run.
#[derive(Debug, Clone, PartialEq)]
pub enum ModelSource {
    /// The default model compiled into the plugin.
    Embedded,
    Path(PathBuf),
}

/// The built-in model, compiled into the plugin.
pub const DEFAULT_ONNX: &[u8] = include_bytes!("../../models/keyboard/model.onnx");
pub const DEFAULT_META: &str = include_str!("../../models/keyboard/model.json");

/// Where ONNX Runtime may be found besides `$ORT_DYLIB_PATH`: beside this plugin's binary,
/// in its bundle's resources, and in the user's Continuo data folder.
pub fn library_locations() -> Vec<PathBuf> {
    let lib = continuo_core::runtime::ORT_LIBRARY;
    let mut v = Vec::new();
    if let Some(dir) = crate::location::plugin_binary_dir() {
        v.push(dir.join(lib));
        v.push(dir.join("../Resources").join(lib));
        v.push(dir.join("continuo").join(lib));
    }
    if let Some(data) = crate::location::user_data_dir() {
        v.push(data.join(lib));
    }
    v
}

/// Why a model could not be loaded.
#[derive(Debug, Error)]
pub enum LoadError {
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
    #[error("the built-in model's metadata is not valid: {0}")]
    EmbeddedMeta(#[from] serde_json::Error),
}

/// Loads the model `source` names, for `provider`, loading ONNX Runtime first if need be.
pub fn load(source: &ModelSource, provider: Provider) -> Result<Model, LoadError> {
    init_runtime(&library_locations())?;
    let options = RuntimeOptions {
        provider,
        intra_threads: 1,
    };
    match source {
        ModelSource::Embedded => {
            let meta: ModelMeta = serde_json::from_str(DEFAULT_META)?;
            Ok(Model::from_memory(
                DEFAULT_ONNX,
                meta,
                PathBuf::from("<embedded default model>"),
                &options,
            )?)
        }
        ModelSource::Path(p) => Ok(Model::load(p, &options)?),
    }
}

/// The user's models folder: each model is a folder holding `model.onnx` and `model.json`
/// (what `trainer train --out` writes).
pub fn models_dir() -> Option<PathBuf> {
    crate::location::user_data_dir().map(|d| d.join("models"))
}

/// A model found on disk, or why it cannot be used.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub path: PathBuf,
    pub meta: Result<ModelMeta, String>,
}

impl Entry {
    pub fn name(&self) -> String {
        match &self.meta {
            Ok(meta) => meta.name.clone(),
            Err(_) => self
                .path
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default(),
        }
    }
}

/// Reads the metadata of the model at `path` (a model folder or its `.onnx` file) and checks
/// that both files are there, so a wrong choice is refused with a reason before it is used.
pub fn inspect(path: &Path) -> Entry {
    let (onnx, json) = model_files(path);
    let meta = if !onnx.is_file() {
        Err(format!("{} does not exist", onnx.display()))
    } else {
        ModelMeta::load(&json).map_err(|e| e.to_string())
    };
    Entry {
        path: path.to_path_buf(),
        meta,
    }
}

/// Every model folder (and loose `.onnx` file) directly inside `dir`, sorted by name. A
/// missing folder is an empty library, not an error.
pub fn scan(dir: &Path) -> Vec<Entry> {
    let Ok(read) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut entries: Vec<Entry> = read
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            (p.is_dir() && p.join("model.onnx").exists())
                || p.extension().is_some_and(|e| e == "onnx")
        })
        .map(|p| inspect(&p))
        .collect();
    entries.sort_by(|a, b| a.name().cmp(&b.name()).then(a.path.cmp(&b.path)));
    entries
}

/// One line about a model for people: its size and how well it learned.
pub fn describe(meta: &ModelMeta) -> String {
    let a = meta.architecture;
    let mut s = format!("{}×{} GRU", a.num_layers, a.hidden_dim);
    if let Some(t) = &meta.training {
        let plural = if t.epochs == 1 { "" } else { "s" };
        s.push_str(&format!(
            ", {} epoch{plural} on {}, validation loss {:.2}",
            t.epochs, t.dataset, t.val_nll
        ));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use continuo_core::contract::Architecture;
    use continuo_core::vocab::Vocab;

    fn temp_dir(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("continuo-library-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn write_model(dir: &Path, name: &str) {
        std::fs::create_dir_all(dir).unwrap();
        let meta = ModelMeta::new(
            name,
            Vocab::default(),
            Architecture {
                embed_dim: 8,
                hidden_dim: 16,
                num_layers: 1,
            },
        );
        std::fs::write(dir.join("model.json"), meta.to_json()).unwrap();
        std::fs::write(dir.join("model.onnx"), b"not read here").unwrap();
    }

    #[test]
    fn scan_lists_models_by_name_and_says_what_is_wrong_with_the_others() {
        let dir = temp_dir("scan");
        write_model(&dir.join("zeta"), "bach");
        write_model(&dir.join("alpha"), "satie");
        std::fs::create_dir_all(dir.join("broken")).unwrap();
        std::fs::write(dir.join("broken/model.onnx"), b"x").unwrap();
        std::fs::write(dir.join("broken/model.json"), b"{ not json").unwrap();
        std::fs::create_dir_all(dir.join("not-a-model")).unwrap();
        std::fs::write(dir.join("notes.txt"), b"hello").unwrap();

        let found = scan(&dir);
        let names: Vec<_> = found.iter().map(Entry::name).collect();
        assert_eq!(names, ["bach", "broken", "satie"]);
        assert!(found[0].meta.is_ok());
        let why = found[1].meta.as_ref().unwrap_err();
        assert!(why.contains("model.json"), "{why}");
        assert!(scan(&dir.join("missing")).is_empty());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn inspect_refuses_a_path_without_a_model() {
        let dir = temp_dir("inspect");
        let entry = inspect(&dir.join("nothing-here"));
        assert!(entry.meta.unwrap_err().contains("does not exist"));
        write_model(&dir.join("m"), "mine");
        let entry = inspect(&dir.join("m/model.onnx"));
        assert_eq!(entry.meta.unwrap().name, "mine");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn describes_the_shipped_model() {
        let meta: ModelMeta = serde_json::from_str(crate::library::DEFAULT_META).unwrap();
        let line = describe(&meta);
        assert!(
            line.starts_with("2×512 GRU, 14 epochs on 1151 pieces"),
            "{line}"
        );
    }
}
