//! Every weight of the network in one flat `f32` buffer, laid out as burn's modules store
//! them (`Linear` weights `[d_input, d_output]`), so gradients, Adam moments and checkpoints
//! are plain slices of the same shape, and conversion to [`ContinuoNet`] is a copy.

use std::ops::Range;

use burn::module::Param;
use burn::prelude::*;
use burn::tensor::TensorData;
use continuo_core::contract::Architecture;
use continuo_core::grid::BAR_BEATS;
use continuo_core::vocab::Vocab;

use crate::model::ContinuoNet;

/// One parameter tensor's place in the flat buffer.
#[derive(Debug, Clone)]
pub struct Slot {
    pub name: String,
    pub shape: Vec<usize>,
    pub range: Range<usize>,
}

/// The ranges of one GRU layer's tensors.
#[derive(Debug, Clone)]
pub struct LayerSlots {
    /// Input projection `[d_input, 3·hidden]`, gates `z, r, h`.
    pub w: Range<usize>,
    pub wb: Range<usize>,
    /// Recurrent projection `[hidden, 3·hidden]`.
    pub r: Range<usize>,
    pub rb: Range<usize>,
    pub d_input: usize,
}

#[derive(Debug, Clone)]
pub struct Layout {
    /// Token ids: rows of the token embedding and width of the logits.
    pub vocab: usize,
    /// Rows of the phase embedding: grid steps per beat.
    pub phases: usize,
    pub arch: Architecture,
    pub slots: Vec<Slot>,
    pub len: usize,
}

/// Slots before the first GRU layer's: the token, phase and bar-beat embeddings.
const TABLES: usize = 3;

impl Layout {
    pub fn new(vocab: &Vocab, arch: Architecture) -> Self {
        Self::with_tables(vocab.size(), vocab.steps_per_beat as usize, arch)
    }

    /// The layout of a [`ContinuoNet::with_tables`] network.
    pub fn with_tables(vocab: usize, phases: usize, arch: Architecture) -> Self {
        let mut slots = Vec::new();
        let mut len = 0;
        let mut add = |name: String, shape: Vec<usize>| {
            let n: usize = shape.iter().product();
            slots.push(Slot {
                name,
                shape,
                range: len..len + n,
            });
            len += n;
        };
        let (e, h) = (arch.embed_dim, arch.hidden_dim);
        add("embedding.weight".into(), vec![vocab, e]);
        add("phase.weight".into(), vec![phases, e]);
        add("bar_beat.weight".into(), vec![BAR_BEATS, e]);
        for l in 0..arch.num_layers {
            let d = if l == 0 { e } else { h };
            add(format!("layers.{l}.input.weight"), vec![d, 3 * h]);
            add(format!("layers.{l}.input.bias"), vec![3 * h]);
            add(format!("layers.{l}.recurrent.weight"), vec![h, 3 * h]);
            add(format!("layers.{l}.recurrent.bias"), vec![3 * h]);
        }
        add("output.weight".into(), vec![h, vocab]);
        add("output.bias".into(), vec![vocab]);
        Self {
            vocab,
            phases,
            arch,
            slots,
            len,
        }
    }

    /// The layout of `net`'s weights.
    pub fn of(net: &ContinuoNet) -> Self {
        Self::with_tables(
            net.embedding.weight.dims()[0],
            net.phases(),
            net.architecture(),
        )
    }

    /// Token embedding `[vocab, embed]`.
    pub fn embedding(&self) -> Range<usize> {
        self.slots[0].range.clone()
    }

    /// Phase embedding `[phases, embed]`.
    pub fn phase(&self) -> Range<usize> {
        self.slots[1].range.clone()
    }

    /// Bar-beat embedding `[BAR_BEATS, embed]`.
    pub fn bar_beat(&self) -> Range<usize> {
        self.slots[2].range.clone()
    }

    pub fn layer(&self, l: usize) -> LayerSlots {
        let s = &self.slots[TABLES + 4 * l..TABLES + 4 + 4 * l];
        LayerSlots {
            w: s[0].range.clone(),
            wb: s[1].range.clone(),
            r: s[2].range.clone(),
            rb: s[3].range.clone(),
            d_input: s[0].shape[0],
        }
    }

    /// Output weight `[hidden, vocab]` and bias.
    pub fn output(&self) -> (Range<usize>, Range<usize>) {
        let n = self.slots.len();
        (
            self.slots[n - 2].range.clone(),
            self.slots[n - 1].range.clone(),
        )
    }

    /// Copies the weights of `net` out, in this layout.
    pub fn read(&self, net: &ContinuoNet) -> Vec<f32> {
        let mut tensors = vec![
            flat(net.embedding.weight.val()),
            flat(net.phase.weight.val()),
            flat(net.bar_beat.weight.val()),
        ];
        for layer in &net.layers {
            tensors.push(flat(layer.input.weight.val()));
            tensors.push(flat(bias(&layer.input)));
            tensors.push(flat(layer.recurrent.weight.val()));
            tensors.push(flat(bias(&layer.recurrent)));
        }
        tensors.push(flat(net.output.weight.val()));
        tensors.push(flat(bias(&net.output)));
        let mut out = Vec::with_capacity(self.len);
        for (slot, t) in self.slots.iter().zip(tensors) {
            assert_eq!(t.len(), slot.range.len(), "{}", slot.name);
            out.extend(t);
        }
        out
    }

    /// A [`ContinuoNet`] on `device` holding `params`.
    pub fn write(&self, params: &[f32], dropout: f64, device: &Device) -> ContinuoNet {
        assert_eq!(params.len(), self.len);
        let mut net = {
            let _guard = crate::model::burn_rng();
            ContinuoNet::with_tables(self.vocab, self.phases, self.arch, dropout, device)
        };
        let matrix = |i: usize| -> Param<Tensor<2>> {
            let s = &self.slots[i];
            Param::from_tensor(Tensor::from_data(
                TensorData::new(params[s.range.clone()].to_vec(), [s.shape[0], s.shape[1]]),
                device,
            ))
        };
        let vector = |i: usize| -> Option<Param<Tensor<1>>> {
            let s = &self.slots[i];
            Some(Param::from_tensor(Tensor::from_data(
                TensorData::new(params[s.range.clone()].to_vec(), [s.shape[0]]),
                device,
            )))
        };
        net.embedding.weight = matrix(0);
        net.phase.weight = matrix(1);
        net.bar_beat.weight = matrix(2);
        for (l, layer) in net.layers.iter_mut().enumerate() {
            let i = TABLES + 4 * l;
            layer.input.weight = matrix(i);
            layer.input.bias = vector(i + 1);
            layer.recurrent.weight = matrix(i + 2);
            layer.recurrent.bias = vector(i + 3);
        }
        let n = self.slots.len();
        net.output.weight = matrix(n - 2);
        net.output.bias = vector(n - 1);
        net
    }
}

fn bias(linear: &burn::nn::Linear) -> Tensor<1> {
    linear.bias.as_ref().expect("layers have biases").val()
}

fn flat<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data().try_to_vec::<f32>().expect("float weights")
}
