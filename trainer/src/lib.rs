//! Continuo's trainer: MIDI folder → GRU (burn) → ONNX model the plugin plays.

pub mod base;
pub mod check;
pub mod cli;
pub mod config;
pub mod data;
pub mod eval;
pub mod fused;
pub mod generate;
pub mod learner;
pub mod model;
pub mod onnx;
pub mod train;

use anyhow::{bail, Result};
use burn::tensor::Device;

#[allow(dead_code)] // unused when built with every backend
fn without_backend(name: &str) -> String {
    format!("this trainer was built without the `{name}` backend; rebuild with `--features {name}`")
}

/// The training device named on the command line.
pub fn device(name: &str) -> Result<Device> {
    match name {
        "cpu" | "flex" => Ok(Device::flex()),
        #[cfg(feature = "cuda")]
        "cuda" => Ok(Device::cuda(0)),
        #[cfg(feature = "wgpu")]
        "wgpu" => Ok(Device::wgpu(burn::tensor::DeviceKind::DefaultDevice)),
        #[cfg(not(feature = "cuda"))]
        "cuda" => bail!(without_backend("cuda")),
        #[cfg(not(feature = "wgpu"))]
        "wgpu" => bail!(without_backend("wgpu")),
        other => bail!("unknown device {other:?} (expected cpu, flex, cuda or wgpu)"),
    }
}
