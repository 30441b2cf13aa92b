//! The exported ONNX model must compute what the framework computes: same logits and same
//! carried state, step after step, with the grid inputs beside the tokens.

use burn::module::Param;
use burn::prelude::*;
use burn::tensor::{Distribution, TensorData};
use continuo_core::contract::{Architecture, ModelMeta, CONTRACT_VERSION};
use continuo_core::grid::{Position, BAR_BEATS};
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

/// The grid tables start at zero; random ones make the test see what they do.
fn with_random_grid(mut net: ContinuoNet, device: &Device) -> ContinuoNet {
    for table in [&mut net.phase, &mut net.bar_beat] {
        let dims = table.weight.dims();
        table.weight =
            Param::from_tensor(Tensor::random(dims, Distribution::Normal(0.0, 1.0), device));
    }
    net
}

/// `[batch, time]` values → `[time, batch]`.
fn to_time_major<T: Copy>(x: &[T], batch: usize, time: usize) -> Vec<T> {
    (0..time)
        .flat_map(|t| (0..batch).map(move |b| x[b * time + t]))
        .collect()
}

fn export(name: &str, arch: Architecture, seed: u64) -> (ContinuoNet, std::path::PathBuf, Model) {
    let device = Device::flex();
    device.seed(seed);
    let vocab = Vocab::default();
    let net = with_random_grid(ContinuoNet::new(&vocab, arch, 0.0, &device), &device);
    let dir = std::env::temp_dir().join(format!("continuo-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    write_model(&dir, &net, &ModelMeta::new(name, vocab, arch)).unwrap();
    let model = Model::load(&dir, &RuntimeOptions::default())
        .expect("ONNX Runtime loads the exported model");
    (net, dir, model)
}

/// `[batch, time]` values as burn input.
fn int_tensor(rows: &[i64], batch: usize, time: usize) -> Tensor<2, Int> {
    Tensor::from_data(
        TensorData::new(rows.to_vec(), [batch, time]),
        &Device::flex(),
    )
}

#[test]
fn onnx_logits_match_framework_over_steps_with_carried_state() {
    let vocab = Vocab::default();
    let arch = Architecture {
        embed_dim: 12,
        hidden_dim: 20,
        num_layers: 2,
    };
    let (net, dir, mut model) = export("equivalence", arch, 3);
    let meta = model.meta().clone();
    assert_eq!(meta.contract_version, CONTRACT_VERSION);
    assert!(meta.hears_grid());

    let (batch, v, state_len) = (2usize, vocab.size(), arch.num_layers * arch.hidden_dim);
    let spb = vocab.steps_per_beat as i64;
    // Three chunks of a sequence: each starts from the state the one before ended with.
    let chunks: [&[i64]; 3] = [
        &[0, 5, 200, 17, 300, 320, 1, 129],
        &[44, 260, 60, 190, 2],
        &[7, 280, 33],
    ];
    let mut burn_state: Option<Tensor<3>> = None;
    let mut ort_state = vec![0.0f32; state_len * batch];
    let mut worst = 0.0f32;
    let mut k = 0i64;
    for chunk in chunks {
        let time = chunk.len();
        // Row b of the batch is the chunk shifted by b, so the rows differ; the positions
        // change from token to token and from chunk to chunk.
        let rows: Vec<i64> = (0..batch)
            .flat_map(|b| chunk.iter().map(move |&t| (t + b as i64 * 7) % v as i64))
            .collect();
        let phase: Vec<i64> = (0..(batch * time) as i64)
            .map(|i| (k + i * 5) % spb)
            .collect();
        let bar_beat: Vec<i64> = (0..(batch * time) as i64)
            .map(|i| (k + i * 3) % BAR_BEATS as i64)
            .collect();
        k += 11;
        let (logits, state) = net.forward(
            int_tensor(&rows, batch, time),
            int_tensor(&phase, batch, time),
            int_tensor(&bar_beat, batch, time),
            burn_state.take(),
        );
        let expected = batch_major_to_time_major(
            &logits.into_data().try_to_vec::<f32>().unwrap(),
            batch,
            time,
            v,
        );

        let grid: Vec<Position> = to_time_major(&phase, batch, time)
            .into_iter()
            .zip(to_time_major(&bar_beat, batch, time))
            .map(|(p, b)| Position {
                phase: p as u16,
                bar_beat: b as u8,
            })
            .collect();
        let (got, hn) = model
            .forward(&to_time_major(&rows, batch, time), &grid, batch, &ort_state)
            .unwrap();
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
fn the_grid_inputs_reach_the_logits() {
    let arch = Architecture {
        embed_dim: 8,
        hidden_dim: 16,
        num_layers: 2,
    };
    let (_, dir, mut model) = export("grid-wired", arch, 9);
    let state = vec![0.0f32; arch.num_layers * arch.hidden_dim];
    let tokens = [0i64, 140, 40];
    let run = |model: &mut Model, phase: u16, bar_beat: u8| {
        let grid = [Position { phase, bar_beat }; 3];
        model.forward(&tokens, &grid, 1, &state).unwrap()
    };
    let (base, base_state) = run(&mut model, 0, 0);
    let (phase, phase_state) = run(&mut model, 12, 0);
    let (bar, _) = run(&mut model, 0, 2);
    assert!(
        max_abs_diff(&base, &phase) > 1e-4,
        "changing the phase changes the logits"
    );
    assert!(max_abs_diff(&base_state, &phase_state) > 1e-4);
    assert!(
        max_abs_diff(&base, &bar) > 1e-4,
        "changing the bar beat changes the logits"
    );
    let (again, _) = run(&mut model, 0, 0);
    assert_eq!(base, again);
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn one_token_at_a_time_equals_whole_sequence() {
    let arch = Architecture {
        embed_dim: 8,
        hidden_dim: 16,
        num_layers: 3,
    };
    let (_, dir, mut model) = export("steps", arch, 5);

    let seq: Vec<u32> = vec![0, 3, 130, 260, 310, 9, 140];
    let grid: Vec<Position> = (0..seq.len())
        .map(|i| Position {
            phase: (i * 7 % 24) as u16,
            bar_beat: (i % 4) as u8,
        })
        .collect();
    let whole = model.run(&seq, &grid).unwrap().to_vec();
    model.reset();
    let mut last = Vec::new();
    for (t, p) in seq.iter().zip(&grid) {
        last = model.run(&[*t], &[*p]).unwrap().to_vec();
    }
    assert!(max_abs_diff(&whole, &last) <= 1e-5);
    std::fs::remove_dir_all(&dir).ok();
}
