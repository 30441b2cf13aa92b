//! `trainer eval`: how well an exported model predicts a folder of MIDI files, measured with
//! ONNX Runtime — the same runtime the plugin uses.

use std::path::Path;

use anyhow::{Context, Result};
use continuo_core::grid::Position;
use continuo_core::runtime::{Model, RuntimeOptions};

use crate::data;

#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct EvalReport {
    pub pieces: usize,
    pub tokens: usize,
    /// Mean negative log-likelihood per token, nats.
    pub nll: f64,
    pub top1: f64,
    pub top5: f64,
}

/// Tokens per ONNX Runtime call; state carries between chunks, so context is the whole piece.
const CHUNK: usize = 256;

pub fn evaluate(model_path: &Path, data_dir: &Path) -> Result<(EvalReport, Vec<data::Skipped>)> {
    let mut model = Model::load(model_path, &RuntimeOptions::default())
        .with_context(|| format!("loading model {}", model_path.display()))?;
    let vocab = model.meta().vocab;
    let (pieces, skipped) = data::load_pieces(data_dir, &vocab)?;
    let state_len = model.meta().architecture.num_layers * model.meta().architecture.hidden_dim;
    let v = vocab.size();
    let mut report = EvalReport {
        pieces: pieces.len(),
        ..Default::default()
    };
    let (mut nll, mut top1, mut top5) = (0.0f64, 0usize, 0usize);
    for piece in &pieces {
        let mut state = vec![0.0f32; state_len];
        let ids: Vec<i64> = piece.ids.iter().map(|&x| i64::from(x)).collect();
        let grid: Vec<Position> = (0..ids.len()).map(|k| piece.position(k)).collect();
        for start in (0..ids.len().saturating_sub(1)).step_by(CHUNK) {
            let end = (start + CHUNK).min(ids.len() - 1);
            let (logits, hn) = model.forward(&ids[start..end], &grid[start..end], 1, &state)?;
            state = hn;
            for (k, row) in logits.chunks_exact(v).enumerate() {
                let target = ids[start + k + 1] as usize;
                let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
                let log_z = f64::from(max)
                    + row
                        .iter()
                        .map(|&l| f64::from(l - max).exp())
                        .sum::<f64>()
                        .ln();
                nll += log_z - f64::from(row[target]);
                let rank = row.iter().filter(|&&l| l > row[target]).count();
                top1 += usize::from(rank < 1);
                top5 += usize::from(rank < 5);
                report.tokens += 1;
            }
        }
    }
    let n = report.tokens.max(1) as f64;
    report.nll = nll / n;
    report.top1 = top1 as f64 / n;
    report.top5 = top5 as f64 / n;
    Ok((report, skipped))
}
