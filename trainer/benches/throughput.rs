//! Training throughput (tokens/s, one Adam step, fused CPU engine and burn reference) and single-token ONNX Runtime latency
//! (1 intra-op thread) for each model size the README compares.

use burn::prelude::*;
use continuo_core::contract::{Architecture, ModelMeta};
use continuo_core::runtime::{Model, RuntimeOptions};
use continuo_core::vocab::Vocab;
use continuo_trainer::config::TrainConfig;
use continuo_trainer::data::Batch;
use continuo_trainer::learner::new_learner;
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

/// One Adam step on a 32×128 batch, through the engine `device` selects (`cpu`: the fused
/// engine on every core; `flex`: burn's autodiff, the reference).
fn training_step(c: &mut Criterion) {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut group = c.benchmark_group("train");
    group.sample_size(10);
    for (device, hidden) in [("cpu", 256), ("cpu", 512), ("flex", 256)] {
        let cfg = TrainConfig {
            hidden_dim: hidden,
            ..Default::default()
        };
        let (b, t) = (cfg.batch_size, cfg.seq_len);
        let vocab = Vocab::default();
        let mut learner = new_learner(&cfg, &vocab, device, threads).unwrap();
        let batch = Batch {
            inputs: (0..b * t)
                .map(|i| ((i * 7919) % vocab.size()) as i64)
                .collect(),
            targets: (0..b * t)
                .map(|i| ((i * 104_729) % vocab.size()) as i64)
                .collect(),
            phase: (0..b * t).map(|i| (i % 24) as i64).collect(),
            bar_beat: (0..b * t).map(|i| (i / 24 % 4) as i64).collect(),
            batch: b,
            seq_len: t,
        };
        group.throughput(Throughput::Elements((b * t) as u64));
        let mut step = 0;
        let name = format!("{device}_2x{hidden}_adam_step_{b}x{t}_{threads}_threads");
        group.bench_function(name, |bench| {
            bench.iter(|| {
                step += 1;
                learner.step(&batch, 1e-3, step)
            })
        });
    }
    group.finish();
}

/// One token through ONNX Runtime on one thread, for each model size in the README's table:
/// the plugin's per-token cost (weights are random; the cost does not depend on them).
fn inference_step(c: &mut Criterion) {
    let device = Device::flex();
    let vocab = Vocab::default();
    let mut group = c.benchmark_group("ort_single_step_1_thread");
    for (layers, hidden) in [(2, 256), (2, 512), (3, 512)] {
        let arch = Architecture {
            hidden_dim: hidden,
            num_layers: layers,
            ..arch()
        };
        let net = ContinuoNet::new(&vocab, arch, 0.0, &device);
        let dir = std::env::temp_dir().join(format!(
            "continuo-bench-{}-{layers}x{hidden}",
            std::process::id()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        write_model(&dir, &net, &ModelMeta::new("bench", vocab, arch)).unwrap();
        let mut model = Model::load(
            &dir,
            &RuntimeOptions {
                intra_threads: 1,
                ..Default::default()
            },
        )
        .unwrap();
        let mut tok = 0u32;
        group.bench_function(format!("{layers}x{hidden}"), |bench| {
            bench.iter(|| {
                tok = (tok + 37) % vocab.size() as u32;
                let at = continuo_core::grid::Position {
                    phase: (tok % 24) as u16,
                    bar_beat: (tok % 4) as u8,
                };
                model.run(&[tok], &[at]).unwrap()[0]
            })
        });
        std::fs::remove_dir_all(&dir).ok();
    }
    group.finish();
}

criterion_group!(benches, training_step, inference_step);
criterion_main!(benches);
