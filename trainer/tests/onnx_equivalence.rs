//! The exported ONNX model must compute what the framework computes: same logits and same
//! carried state, step after step.

use burn::prelude::*;
use burn::tensor::TensorData;
use continuo_core::contract::{Architecture, ModelMeta};
use continuo_core::runtime::{Model, RuntimeOptions};
use continuo_core::vocab::Vocab;
use continuo_trainer::model::ContinuoNet;
use continuo_trainer::train::write_model;

fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

/// burn works in [batch, time, ..], the ONNX contract in [time, batch, ..].
fn batch_major_to_time_major(x: &[f32], batch: usize, time: usize, width: usize) -> Vec<f32> {
    let mut out = vec![0.0; x.len()];
    for b in 0..batch {
        for t in 0..time {
            let src = (b * time + t) * width;
            let dst = (t * batch + b) * width;
            out[dst..dst + width].copy_from_slice(&x[src..src + width]);
        }
    }
    out
}

#[test]
fn onnx_logits_match_framework_over_steps_with_carried_state() {
    let device = Device::flex();
    device.seed(3);
    let vocab = Vocab::default();
    let arch = Architecture {
        embed_dim: 12,
        hidden_dim: 20,
        num_layers: 2,
    };
    let net = ContinuoNet::new(vocab.size(), arch, 0.0, &device);

    let dir = std::env::temp_dir().join(format!("continuo-equiv-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    write_model(&dir, &net, &ModelMeta::new("equivalence", vocab, arch)).unwrap();
    let mut model = Model::load(&dir, &RuntimeOptions::default())
        .expect("ONNX Runtime loads the exported model");

    let (batch, v, state_len) = (2usize, vocab.size(), arch.num_layers * arch.hidden_dim);
    // Two chunks of a sequence: the second starts from the state the first ended with.
    let chunks: [&[i64]; 2] = [&[0, 5, 200, 17, 300, 320, 1, 129], &[44, 260, 60, 190, 2]];
    let mut burn_state: Option<Tensor<3>> = None;
    let mut ort_state = vec![0.0f32; state_len * batch];
    let mut worst = 0.0f32;
    for chunk in chunks {
        let time = chunk.len();
        // Row b of the batch is the chunk shifted by b, so the rows differ.
        let rows: Vec<i64> = (0..batch)
            .flat_map(|b| chunk.iter().map(move |&t| (t + b as i64 * 7) % v as i64))
            .collect();
        let tokens =
            Tensor::<2, Int>::from_data(TensorData::new(rows.clone(), [batch, time]), &device);
        let (logits, state) = net.forward(tokens, burn_state.take());
        let expected = batch_major_to_time_major(
            &logits.into_data().try_to_vec::<f32>().unwrap(),
            batch,
            time,
            v,
        );

        let time_major: Vec<i64> = (0..time)
            .flat_map(|t| (0..batch).map(move |b| (t, b)))
            .map(|(t, b)| rows[b * time + t])
            .collect();
        let (got, hn) = model.forward(&time_major, batch, &ort_state).unwrap();
        worst = worst.max(max_abs_diff(&expected, &got));
        let expected_state = state.clone().into_data().try_to_vec::<f32>().unwrap();
        assert!(
            max_abs_diff(&expected_state, &hn) <= 1e-4,
            "carried state differs"
        );
        ort_state = hn;
        burn_state = Some(state);
    }
    assert!(worst <= 1e-4, "max |logit difference| {worst} > 1e-4");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn one_token_at_a_time_equals_whole_sequence() {
    let device = Device::flex();
    device.seed(5);
    let vocab = Vocab::default();
    let arch = Architecture {
        embed_dim: 8,
        hidden_dim: 16,
        num_layers: 3,
    };
    let net = ContinuoNet::new(vocab.size(), arch, 0.0, &device);
    let dir = std::env::temp_dir().join(format!("continuo-step-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    write_model(&dir, &net, &ModelMeta::new("steps", vocab, arch)).unwrap();
    let mut model = Model::load(&dir, &RuntimeOptions::default()).unwrap();

    let seq: Vec<u32> = vec![0, 3, 130, 260, 310, 9, 140];
    let whole = model.run(&seq).unwrap().to_vec();
    model.reset();
    let mut last = Vec::new();
    for &t in &seq {
        last = model.run(&[t]).unwrap().to_vec();
    }
    assert!(max_abs_diff(&whole, &last) <= 1e-5);
    std::fs::remove_dir_all(&dir).ok();
}
