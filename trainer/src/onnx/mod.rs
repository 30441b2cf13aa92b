//! ONNX export of [`ContinuoNet`](crate::model::ContinuoNet) following the contract in
//! [`continuo_core::contract`].

pub mod import;
pub mod proto;

use continuo_core::contract::{
    ModelMeta, INPUT_BAR_BEAT, INPUT_PHASE, INPUT_STATE, INPUT_TOKENS, OUTPUT_LOGITS, OUTPUT_STATE,
};
use prost::Message;
use proto::*;

use crate::model::ContinuoNet;

const OPSET: i64 = 17;
const IR_VERSION: i64 = 8;

/// A float tensor read out of the framework: row-major values and their shape.
pub struct Weights {
    pub dims: Vec<usize>,
    pub values: Vec<f32>,
}

fn weights<const D: usize>(t: burn::tensor::Tensor<D>) -> Weights {
    let dims = t.dims().to_vec();
    Weights {
        dims,
        values: t.into_data().try_to_vec::<f32>().expect("float weights"),
    }
}

/// Transposes a `[rows, cols]` matrix.
fn transposed(w: &Weights) -> Weights {
    let (r, c) = (w.dims[0], w.dims[1]);
    Weights {
        dims: vec![c, r],
        values: transpose(&w.values, r, c),
    }
}

/// A row-major `[rows, cols]` matrix as `[cols, rows]`.
fn transpose(m: &[f32], rows: usize, cols: usize) -> Vec<f32> {
    let mut out = vec![0.0; m.len()];
    for i in 0..rows {
        for j in 0..cols {
            out[j * rows + i] = m[i * cols + j];
        }
    }
    out
}

fn float_init(name: &str, dims: &[usize], values: &[f32]) -> TensorProto {
    assert_eq!(dims.iter().product::<usize>(), values.len(), "{name}");
    TensorProto {
        dims: dims.iter().map(|&d| d as i64).collect(),
        data_type: FLOAT,
        name: name.into(),
        raw_data: values.iter().flat_map(|v| v.to_le_bytes()).collect(),
    }
}

fn int_init(name: &str, values: &[i64]) -> TensorProto {
    TensorProto {
        dims: vec![values.len() as i64],
        data_type: INT64,
        name: name.into(),
        raw_data: values.iter().flat_map(|v| v.to_le_bytes()).collect(),
    }
}

fn node(
    op: &str,
    name: &str,
    inputs: &[&str],
    outputs: &[&str],
    attribute: Vec<AttributeProto>,
) -> NodeProto {
    NodeProto {
        input: inputs.iter().map(|s| s.to_string()).collect(),
        output: outputs.iter().map(|s| s.to_string()).collect(),
        name: name.into(),
        op_type: op.into(),
        attribute,
    }
}

fn int_attr(name: &str, i: i64) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        i,
        r#type: ATTR_INT,
        ..Default::default()
    }
}

fn value_info(name: &str, elem_type: i32, dims: &[Result<i64, &str>]) -> ValueInfoProto {
    let dim = dims
        .iter()
        .map(|d| match d {
            Ok(v) => Dimension {
                dim_value: Some(*v),
                dim_param: None,
            },
            Err(p) => Dimension {
                dim_value: None,
                dim_param: Some(p.to_string()),
            },
        })
        .collect();
    ValueInfoProto {
        name: name.into(),
        r#type: Some(TypeProto {
            tensor_type: Some(TensorTypeProto {
                elem_type,
                shape: Some(TensorShapeProto { dim }),
            }),
        }),
    }
}

/// Serializes `net` as an ONNX model; `meta` is embedded as metadata for tools like Netron.
pub fn export(net: &ContinuoNet, meta: &ModelMeta) -> Vec<u8> {
    let a = net.architecture();
    let (h, layers) = (a.hidden_dim, a.num_layers);
    let vocab = meta.vocab.size();
    assert_eq!(
        net.phases(),
        meta.vocab.steps_per_beat as usize,
        "the phase table has a row per grid step of the metadata's vocabulary"
    );
    let mut init = Vec::new();
    let mut nodes = Vec::new();

    // x0 = E_tok[tokens] + E_phase[phase] + E_bar[bar_beat]
    for (table, weight, input) in [
        ("embedding", &net.embedding, INPUT_TOKENS),
        ("phase_embedding", &net.phase, INPUT_PHASE),
        ("bar_beat_embedding", &net.bar_beat, INPUT_BAR_BEAT),
    ] {
        let w = weights(weight.weight.val());
        init.push(float_init(table, &w.dims, &w.values));
        nodes.push(node(
            "Gather",
            &format!("{table}_gather"),
            &[table, input],
            &[&format!("{input}_embedded")],
            vec![int_attr("axis", 0)],
        ));
    }
    let tokens_and_phase = "tokens_and_phase";
    nodes.push(node(
        "Add",
        "add_phase",
        &[
            &format!("{INPUT_TOKENS}_embedded"),
            &format!("{INPUT_PHASE}_embedded"),
        ],
        &[tokens_and_phase],
        vec![],
    ));
    nodes.push(node(
        "Add",
        "add_bar_beat",
        &[tokens_and_phase, &format!("{INPUT_BAR_BEAT}_embedded")],
        &["x0"],
        vec![],
    ));

    let mut layer_states = Vec::new();
    for (l, layer) in net.layers.iter().enumerate() {
        // burn's Linear holds [in, out]; ONNX wants W [1, 3h, in] and R [1, 3h, h].
        let w = transposed(&weights(layer.input.weight.val()));
        let r = transposed(&weights(layer.recurrent.weight.val()));
        let wb = weights(layer.input.bias.as_ref().expect("bias").val());
        let rb = weights(layer.recurrent.bias.as_ref().expect("bias").val());
        let b: Vec<f32> = wb.values.iter().chain(&rb.values).copied().collect();
        let (wn, rn, bn) = (format!("W{l}"), format!("R{l}"), format!("B{l}"));
        init.push(float_init(&wn, &[1, w.dims[0], w.dims[1]], &w.values));
        init.push(float_init(&rn, &[1, r.dims[0], r.dims[1]], &r.values));
        init.push(float_init(&bn, &[1, 6 * h], &b));
        init.push(int_init(&format!("start{l}"), &[l as i64]));
        init.push(int_init(&format!("end{l}"), &[l as i64 + 1]));

        let h0 = format!("h0_{l}");
        let (x_in, y, yh, x_out) = (
            format!("x{l}"),
            format!("y{l}"),
            format!("hn{l}"),
            format!("x{}", l + 1),
        );
        nodes.push(node(
            "Slice",
            &format!("state{l}"),
            &[
                INPUT_STATE,
                &format!("start{l}"),
                &format!("end{l}"),
                "axis0",
            ],
            &[&h0],
            vec![],
        ));
        nodes.push(node(
            "GRU",
            &format!("gru{l}"),
            &[&x_in, &wn, &rn, &bn, "", &h0],
            &[&y, &yh],
            vec![
                int_attr("hidden_size", h as i64),
                int_attr("linear_before_reset", 1),
            ],
        ));
        // Y is [seq, num_directions = 1, batch, hidden].
        nodes.push(node(
            "Squeeze",
            &format!("squeeze{l}"),
            &[&y, "axis1"],
            &[&x_out],
            vec![],
        ));
        layer_states.push(yh);
    }
    init.push(int_init("axis0", &[0]));
    init.push(int_init("axis1", &[1]));
    let states: Vec<&str> = layer_states.iter().map(String::as_str).collect();
    nodes.push(node(
        "Concat",
        "state_out",
        &states,
        &[OUTPUT_STATE],
        vec![int_attr("axis", 0)],
    ));

    let out_w = weights(net.output.weight.val());
    let out_b = weights(net.output.bias.as_ref().expect("bias").val());
    init.push(float_init("out_w", &out_w.dims, &out_w.values));
    init.push(float_init("out_b", &out_b.dims, &out_b.values));
    let last = format!("x{layers}");
    nodes.push(node(
        "MatMul",
        "project",
        &[&last, "out_w"],
        &["projected"],
        vec![],
    ));
    nodes.push(node(
        "Add",
        "bias",
        &["projected", "out_b"],
        &[OUTPUT_LOGITS],
        vec![],
    ));

    let (l, hd, v) = (layers as i64, h as i64, vocab as i64);
    let graph = GraphProto {
        node: nodes,
        name: "continuo".into(),
        initializer: init,
        input: vec![
            value_info(INPUT_TOKENS, INT64, &[Err("seq"), Err("batch")]),
            value_info(INPUT_PHASE, INT64, &[Err("seq"), Err("batch")]),
            value_info(INPUT_BAR_BEAT, INT64, &[Err("seq"), Err("batch")]),
            value_info(INPUT_STATE, FLOAT, &[Ok(l), Err("batch"), Ok(hd)]),
        ],
        output: vec![
            value_info(OUTPUT_LOGITS, FLOAT, &[Err("seq"), Err("batch"), Ok(v)]),
            value_info(OUTPUT_STATE, FLOAT, &[Ok(l), Err("batch"), Ok(hd)]),
        ],
    };
    ModelProto {
        ir_version: IR_VERSION,
        producer_name: "continuo-trainer".into(),
        producer_version: env!("CARGO_PKG_VERSION").into(),
        doc_string: format!("Continuo GRU model {:?}", meta.name),
        graph: Some(graph),
        opset_import: vec![OperatorSetIdProto {
            domain: String::new(),
            version: OPSET,
        }],
        metadata_props: vec![StringStringEntryProto {
            key: "continuo".into(),
            value: meta.to_json(),
        }],
    }
    .encode_to_vec()
}
