//! `trainer eval`: how well an exported model predicts a folder of MIDI files, measured with
//! ONNX Runtime — the same runtime the plugin uses.

use std::path::Path;

use anyhow::{Context, Result};
use continuo_core::grid::Position;
use continuo_core::runtime::{Model, RuntimeOptions};
use continuo_core::vocab::{Token, Vocab};

use crate::data;

#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct EvalReport {
    pub pieces: usize,
    pub tokens: usize,
    /// Mean negative log-likelihood per token, nats.
    pub nll: f64,
    pub top1: f64,
    pub top5: f64,
    /// The same NLL split by the kind of token predicted ([`KINDS`]): what the network
    /// predicts worst, the notes or the time between them.
    pub by_kind: [KindNll; KINDS.len()],
}

/// The kinds of token `trainer eval` reports apart, in [`EvalReport::by_kind`]'s order.
pub const KINDS: [&str; 4] = ["note-on", "note-off", "time shift", "velocity"];

/// Tokens of one kind and their mean negative log-likelihood (nats).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct KindNll {
    pub tokens: usize,
    pub nll: f64,
}

/// The index in [`KINDS`] of token `id`; `None` for `BOS` or an id outside `vocab`.
pub fn kind_of(id: usize, vocab: &Vocab) -> Option<usize> {
    match vocab.decode(id)? {
        Token::NoteOn(_) => Some(0),
        Token::NoteOff(_) => Some(1),
        Token::TimeShift(_) => Some(2),
        Token::Velocity(_) => Some(3),
        Token::Bos => None,
    }
}

/// Sums of NLL per kind, made means by [`Self::means`].
#[derive(Debug, Clone, Copy, Default)]
struct ByKind([(usize, f64); KINDS.len()]);

impl ByKind {
    fn add(&mut self, kind: Option<usize>, nll: f64) {
        if let Some(k) = kind {
            self.0[k].0 += 1;
            self.0[k].1 += nll;
        }
    }

    fn means(&self) -> [KindNll; KINDS.len()] {
        self.0.map(|(tokens, sum)| KindNll {
            tokens,
            nll: if tokens > 0 { sum / tokens as f64 } else { 0.0 },
        })
    }
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
    let mut by_kind = ByKind::default();
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
                let token_nll = log_z - f64::from(row[target]);
                nll += token_nll;
                by_kind.add(kind_of(target, &vocab), token_nll);
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
    report.by_kind = by_kind.means();
    Ok((report, skipped))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_kind_of_token_is_counted_apart() {
        let vocab = Vocab::default();
        let id = |t| vocab.encode(t);
        assert_eq!(kind_of(id(Token::NoteOn(60)), &vocab), Some(0));
        assert_eq!(kind_of(id(Token::NoteOff(60)), &vocab), Some(1));
        assert_eq!(kind_of(id(Token::TimeShift(6)), &vocab), Some(2));
        assert_eq!(kind_of(id(Token::Velocity(3)), &vocab), Some(3));
        assert_eq!(kind_of(id(Token::Bos), &vocab), None);
        assert_eq!(kind_of(vocab.size(), &vocab), None);
        let mut sums = ByKind::default();
        for (kind, nll) in [(Some(0), 1.0), (Some(0), 2.0), (Some(2), 0.5), (None, 9.0)] {
            sums.add(kind, nll);
        }
        let means = sums.means();
        assert_eq!(
            means[0],
            KindNll {
                tokens: 2,
                nll: 1.5
            }
        );
        assert_eq!(means[1], KindNll::default(), "none seen");
        assert_eq!(
            means[2],
            KindNll {
                tokens: 1,
                nll: 0.5
            }
        );
    }
}
