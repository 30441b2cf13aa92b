//! The weights of a model this trainer exported, read back in the training layout, so a
//! shipped model (the built-in one included) can be fine-tuned without its run's checkpoint.

use continuo_core::grid::BAR_BEATS;
use prost::Message;

use super::proto::{ModelProto, TensorProto, FLOAT};
use super::transpose;
use crate::fused::params::Layout;

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("not an ONNX model: {0}")]
    Decode(#[from] prost::DecodeError),
    #[error("the ONNX model holds no graph")]
    NoGraph,
    #[error("the ONNX model has no weight {0:?}: it was not exported by Continuo's trainer")]
    Missing(String),
    #[error("weight {name:?} is {found:?}, the network needs {expected:?}")]
    Shape {
        name: String,
        found: Vec<i64>,
        expected: Vec<usize>,
    },
    #[error("weight {0:?} is not stored as raw 32-bit floats")]
    Encoding(String),
}

/// Every weight of `bytes` (an exported `model.onnx`) in `layout`'s order: the inverse of
/// [`super::export`], which writes the GRU's matrices transposed (`[3·hidden, input]`) and
/// its two biases as one.
pub fn weights(bytes: &[u8], layout: &Layout) -> Result<Vec<f32>, ImportError> {
    let graph = ModelProto::decode(bytes)?
        .graph
        .ok_or(ImportError::NoGraph)?;
    let find = |name: &str, expected: &[usize]| -> Result<Vec<f32>, ImportError> {
        let t = graph
            .initializer
            .iter()
            .find(|t| t.name == name)
            .ok_or_else(|| ImportError::Missing(name.into()))?;
        floats(t, expected)
    };
    let mut params = Vec::with_capacity(layout.len);
    let (v, p, e) = (layout.vocab, layout.phases, layout.arch.embed_dim);
    let h = layout.arch.hidden_dim;
    params.extend(find("embedding", &[v, e])?);
    params.extend(find("phase_embedding", &[p, e])?);
    params.extend(find("bar_beat_embedding", &[BAR_BEATS, e])?);
    for l in 0..layout.arch.num_layers {
        let d = layout.layer(l).d_input;
        let w = find(&format!("W{l}"), &[1, 3 * h, d])?;
        let r = find(&format!("R{l}"), &[1, 3 * h, h])?;
        let b = find(&format!("B{l}"), &[1, 6 * h])?;
        params.extend(transpose(&w, 3 * h, d));
        params.extend_from_slice(&b[..3 * h]);
        params.extend(transpose(&r, 3 * h, h));
        params.extend_from_slice(&b[3 * h..]);
    }
    params.extend(find("out_w", &[h, v])?);
    params.extend(find("out_b", &[v])?);
    debug_assert_eq!(params.len(), layout.len);
    Ok(params)
}

fn floats(t: &TensorProto, expected: &[usize]) -> Result<Vec<f32>, ImportError> {
    if !t
        .dims
        .iter()
        .map(|&d| d as usize)
        .eq(expected.iter().copied())
    {
        return Err(ImportError::Shape {
            name: t.name.clone(),
            found: t.dims.clone(),
            expected: expected.to_vec(),
        });
    }
    let n: usize = expected.iter().product();
    if t.data_type != FLOAT || t.raw_data.len() != 4 * n {
        return Err(ImportError::Encoding(t.name.clone()));
    }
    Ok(t.raw_data
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes(c.try_into().expect("4 bytes")))
        .collect())
}

#[cfg(test)]
mod tests {
    use burn::prelude::*;
    use continuo_core::contract::{Architecture, ModelMeta};
    use continuo_core::vocab::Vocab;

    use super::*;
    use crate::model::ContinuoNet;

    fn exported() -> (ContinuoNet, Vec<u8>) {
        let vocab = Vocab::default();
        let arch = Architecture {
            embed_dim: 8,
            hidden_dim: 12,
            num_layers: 2,
        };
        let net = ContinuoNet::new(&vocab, arch, 0.0, &Device::flex());
        let bytes = super::super::export(&net, &ModelMeta::new("t", vocab, arch));
        (net, bytes)
    }

    #[test]
    fn an_exported_model_reads_back_as_the_weights_it_was_written_from() {
        let (net, bytes) = exported();
        let layout = Layout::of(&net);
        assert_eq!(weights(&bytes, &layout).unwrap(), layout.read(&net));
    }

    #[test]
    fn another_shape_or_not_a_model_is_refused_by_name() {
        let (net, bytes) = exported();
        let mut arch = net.architecture();
        arch.hidden_dim = 16;
        let wider = Layout::with_tables(Layout::of(&net).vocab, net.phases(), arch);
        let err = weights(&bytes, &wider).unwrap_err().to_string();
        assert!(err.starts_with("weight \"W0\" is [1, 36, 8]"), "{err}");
        assert!(weights(b"not onnx at all", &wider).is_err());
    }
}
