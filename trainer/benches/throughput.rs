//! Training throughput (tokens/s, one Adam step) and single-token ONNX Runtime latency
//! (1 intra-op thread) for the default architecture.

use burn::nn::loss::CrossEntropyLossConfig;
use burn::optim::{AdamConfig, GradientsParams};
use burn::prelude::*;
use burn::tensor::TensorData;
use continuo_core::contract::{Architecture, ModelMeta};
use continuo_core::runtime::{Model, RuntimeOptions};
use continuo_core::vocab::Vocab;
use continuo_trainer::config::TrainConfig;
use continuo_trainer::model::ContinuoNet;
use continuo_trainer::train::write_model;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};

fn arch() -> Architecture {
    let c = TrainConfig::default();
    Architecture {
        embed_dim: c.embed_dim,
        hidden_dim: c.hidden_dim,
        num_layers: c.num_layers,
    }
}

fn training_step(c: &mut Criterion) {
    let cfg = TrainConfig::default();
    let (b, t) = (cfg.batch_size, cfg.seq_len);
    let device = Device::flex().autodiff();
    let vocab = Vocab::default();
    let mut net = ContinuoNet::new(vocab.size(), arch(), cfg.dropout, &device);
    let mut optim = AdamConfig::new().init();
    let loss_fn = CrossEntropyLossConfig::new().init(&device);
    let ids: Vec<i64> = (0..b * t)
        .map(|i| ((i * 7919) % vocab.size()) as i64)
        .collect();
    let mut group = c.benchmark_group("train");
    group.sample_size(10);
    group.throughput(Throughput::Elements((b * t) as u64));
    group.bench_function(format!("adam_step_{b}x{t}"), |bench| {
        bench.iter(|| {
            let x = Tensor::<2, Int>::from_data(TensorData::new(ids.clone(), [b, t]), &device);
            let y = Tensor::<1, Int>::from_data(TensorData::new(ids.clone(), [b * t]), &device);
            let (logits, _) = net.forward(x, None);
            let loss = loss_fn.forward(logits.reshape([b * t, vocab.size()]), y);
            let grads = GradientsParams::from_grads(loss.backward(), &net);
            net = optim.step(1e-3, net.clone(), grads);
        })
    });
    group.finish();
}

fn inference_step(c: &mut Criterion) {
    let device = Device::flex();
    let vocab = Vocab::default();
    let net = ContinuoNet::new(vocab.size(), arch(), 0.0, &device);
    let dir = std::env::temp_dir().join(format!("continuo-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    write_model(&dir, &net, &ModelMeta::new("bench", vocab, arch())).unwrap();
    let mut model = Model::load(
        &dir,
        &RuntimeOptions {
            intra_threads: 1,
            ..Default::default()
        },
    )
    .unwrap();
    let mut tok = 0u32;
    c.bench_function("ort_single_step_1_thread", |bench| {
        bench.iter(|| {
            tok = (tok + 37) % vocab.size() as u32;
            model.run(&[tok]).unwrap()[0]
        })
    });
    std::fs::remove_dir_all(&dir).ok();
}

criterion_group!(benches, training_step, inference_step);
criterion_main!(benches);
