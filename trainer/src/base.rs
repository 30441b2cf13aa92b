//! Where a fine-tune starts (`--init-from`): the checkpoint of a trainer run, or a model it
//! exported, such as the built-in one, whose run's checkpoint a user does not have.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use continuo_core::contract::{model_files, Architecture, ModelMeta};
use continuo_core::vocab::Vocab;

use crate::fused::params::Layout;
use crate::learner::Learner;
use crate::onnx::import;
use crate::train::{checkpoint_dir, saved_config};

pub enum Base {
    /// A trainer output folder holding `checkpoint/`.
    Run(PathBuf),
    /// An exported `model.onnx` and its `model.json`.
    Model { onnx: PathBuf, meta: Box<ModelMeta> },
}

impl Base {
    pub fn open(path: &Path) -> Result<Self> {
        if checkpoint_dir(path).is_dir() {
            return Ok(Self::Run(path.into()));
        }
        let (onnx, json) = model_files(path);
        if !onnx.is_file() {
            bail!(
                "{} is neither a trainer output folder (with checkpoint/) nor an exported model (model.onnx and model.json)",
                path.display()
            );
        }
        let meta = Box::new(ModelMeta::load(&json)?);
        Ok(Self::Model { onnx, meta })
    }

    /// The network's shape, which the fine-tune keeps.
    pub fn architecture(&self) -> Result<Architecture> {
        Ok(match self {
            Self::Run(dir) => saved_config(dir)?.architecture(),
            Self::Model { meta, .. } => meta.architecture,
        })
    }

    /// Gives `learner` the base's weights (not its optimizer state: a fine-tune starts its
    /// own schedule).
    pub fn load_into(&self, learner: &mut dyn Learner, vocab: &Vocab) -> Result<()> {
        match self {
            Self::Run(dir) => learner.load_weights(&checkpoint_dir(dir)),
            Self::Model { onnx, meta } => {
                if !meta.hears_grid() {
                    bail!(
                        "{} is a model of contract {}, which does not hear the grid; this trainer can only fine-tune models of contract 2 on",
                        onnx.display(),
                        meta.contract_version
                    );
                }
                if meta.vocab != *vocab {
                    bail!(
                        "{} has another vocabulary than this trainer's; it cannot be fine-tuned here",
                        onnx.display()
                    );
                }
                let bytes =
                    std::fs::read(onnx).with_context(|| format!("reading {}", onnx.display()))?;
                let params = import::weights(&bytes, &Layout::new(vocab, meta.architecture))
                    .with_context(|| format!("reading the weights of {}", onnx.display()))?;
                learner.set_weights(&params);
                Ok(())
            }
        }
    }
}
