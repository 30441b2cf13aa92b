//! The ONNX model contract shared by trainer and plugin.
//!
//! A model is a pair of files: `NAME.onnx` and `NAME.json` (its [`ModelMeta`]). The graph is
//! embedding → stacked ONNX `GRU` layers (`linear_before_reset = 1`) → dense logits, and the
//! hidden state is an explicit input and output so a caller can run one token at a time:
//!
//! | name       | type    | shape                          |
//! |------------|---------|--------------------------------|
//! | `tokens`   | int64   | `[seq, batch]`                 |
//! | `phase`    | int64   | `[seq, batch]` (version 2)     |
//! | `bar_beat` | int64   | `[seq, batch]` (version 2)     |
//! | `h0`       | float32 | `[num_layers, batch, hidden]`  |
//! | `logits`   | float32 | `[seq, batch, vocab]`          |
//! | `hn`       | float32 | `[num_layers, batch, hidden]`  |
//!
//! Version 2 adds the grid ([`crate::grid`]): beside each token, the position it leaves the
//! stream at, as the step within the beat (`phase`, `0..steps_per_beat`) and the whole beats
//! since the bar began (`bar_beat`, `0..BAR_BEATS`). Each has an embedding table added to the
//! token's. Version 1 models have neither input; they still play, without hearing the meter.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::vocab::{Vocab, VocabError};

/// Bumped when tensor names, shapes or semantics change; what the trainer writes.
pub const CONTRACT_VERSION: u32 = 2;
/// The versions this build reads.
pub const CONTRACT_VERSIONS: std::ops::RangeInclusive<u32> = 1..=CONTRACT_VERSION;
pub const FORMAT: &str = "continuo-gru";

pub const INPUT_TOKENS: &str = "tokens";
pub const INPUT_STATE: &str = "h0";
pub const INPUT_PHASE: &str = "phase";
pub const INPUT_BAR_BEAT: &str = "bar_beat";
pub const OUTPUT_LOGITS: &str = "logits";
pub const OUTPUT_STATE: &str = "hn";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Architecture {
    pub embed_dim: usize,
    pub hidden_dim: usize,
    pub num_layers: usize,
}

/// Where a model came from and how well it learned; informational.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct TrainingInfo {
    pub dataset: String,
    pub attribution: String,
    pub pieces_train: usize,
    pub pieces_val: usize,
    pub tokens_train: usize,
    pub tokens_val: usize,
    pub epochs: usize,
    pub steps: usize,
    /// Mean negative log-likelihood per token (nats) on the training and validation pieces.
    pub train_nll: f64,
    pub val_nll: f64,
    pub seed: u64,
    #[serde(default)]
    pub notes: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelMeta {
    pub format: String,
    pub contract_version: u32,
    pub name: String,
    pub vocab: Vocab,
    pub architecture: Architecture,
    #[serde(default)]
    pub training: Option<TrainingInfo>,
}

#[derive(Debug, Error)]
pub enum ContractError {
    #[error("cannot read model metadata {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("model metadata {} is not valid JSON: {source}", path.display())]
    Json {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error("model metadata {} does not fit this build: {source}", path.display())]
    Invalid { path: PathBuf, source: MetaError },
}

/// Why metadata does not describe a model this build can run.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum MetaError {
    #[error("format is {0:?}, expected {FORMAT:?}")]
    Format(String),
    #[error(
        "contract version {0} is not supported (this build reads versions 1 to {CONTRACT_VERSION})"
    )]
    ContractVersion(u32),
    #[error(transparent)]
    Vocab(#[from] VocabError),
    #[error("architecture has a zero dimension")]
    ZeroDimension,
}

impl ModelMeta {
    pub fn new(name: impl Into<String>, vocab: Vocab, architecture: Architecture) -> Self {
        Self {
            format: FORMAT.into(),
            contract_version: CONTRACT_VERSION,
            name: name.into(),
            vocab,
            architecture,
            training: None,
        }
    }

    pub fn validate(&self) -> Result<(), MetaError> {
        if self.format != FORMAT {
            return Err(MetaError::Format(self.format.clone()));
        }
        if !CONTRACT_VERSIONS.contains(&self.contract_version) {
            return Err(MetaError::ContractVersion(self.contract_version));
        }
        self.vocab.validate()?;
        let a = self.architecture;
        if a.embed_dim == 0 || a.hidden_dim == 0 || a.num_layers == 0 {
            return Err(MetaError::ZeroDimension);
        }
        Ok(())
    }

    /// Whether the model reads the grid inputs (contract 2 on).
    pub fn hears_grid(&self) -> bool {
        self.contract_version >= 2
    }

    /// Reads and validates the metadata file.
    pub fn load(path: &Path) -> Result<Self, ContractError> {
        let text = std::fs::read_to_string(path).map_err(|source| ContractError::Io {
            path: path.into(),
            source,
        })?;
        let meta: Self = serde_json::from_str(&text).map_err(|source| ContractError::Json {
            path: path.into(),
            source,
        })?;
        meta.validate().map_err(|source| ContractError::Invalid {
            path: path.into(),
            source,
        })?;
        Ok(meta)
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("metadata serializes")
    }
}

/// The `.onnx` and `.json` files of a model given either file or a directory holding
/// `model.onnx`.
pub fn model_files(path: &Path) -> (PathBuf, PathBuf) {
    let onnx = if path.is_dir() {
        path.join("model.onnx")
    } else {
        path.with_extension("onnx")
    };
    let json = onnx.with_extension("json");
    (onnx, json)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_round_trips_and_rejects_wrong_versions() {
        let arch = Architecture {
            embed_dim: 8,
            hidden_dim: 16,
            num_layers: 2,
        };
        let meta = ModelMeta::new("t", Vocab::default(), arch);
        let back: ModelMeta = serde_json::from_str(&meta.to_json()).unwrap();
        assert_eq!(back, meta);
        assert!(meta.validate().is_ok());

        let mut bad = meta.clone();
        bad.contract_version = 99;
        assert_eq!(bad.validate(), Err(MetaError::ContractVersion(99)));
        assert!(bad
            .validate()
            .unwrap_err()
            .to_string()
            .contains("contract version 99"));
        let mut bad = meta;
        bad.vocab.version = 0;
        assert!(matches!(
            bad.validate(),
            Err(MetaError::Vocab(VocabError::Version(0)))
        ));
        assert!(bad
            .validate()
            .unwrap_err()
            .to_string()
            .contains("vocabulary version"));
    }

    #[test]
    fn model_files_accepts_dir_or_file() {
        let (o, j) = model_files(Path::new("/nonexistent/m.onnx"));
        assert_eq!(o, Path::new("/nonexistent/m.onnx"));
        assert_eq!(j, Path::new("/nonexistent/m.json"));
    }
}
