//! An inference device that cannot run falls back to the CPU with a reason, on every platform.
#![cfg(feature = "ort")]

use std::path::{Path, PathBuf};

use continuo_core::contract::ModelMeta;
use continuo_core::runtime::{Model, Provider, RuntimeOptions};

fn load(provider: Provider) -> Model {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/chopin");
    let onnx = std::fs::read(dir.join("model.onnx")).expect("the shipped model");
    let meta = ModelMeta::load(&dir.join("model.json")).expect("its metadata");
    let options = RuntimeOptions {
        provider,
        ..RuntimeOptions::default()
    };
    Model::from_memory(&onnx, meta, PathBuf::from("test.onnx"), &options)
        .expect("a model loads whatever the device")
}

#[test]
fn the_cpu_is_offered_everywhere_and_needs_no_note() {
    assert!(Provider::OFFERED.contains(&Provider::Cpu));
    assert_eq!(load(Provider::Cpu).provider_note(), None);
}

#[test]
fn a_device_that_cannot_run_falls_back_to_the_cpu_and_says_why() {
    for provider in [Provider::Cuda, Provider::CoreMl, Provider::DirectMl] {
        let model = load(provider);
        let offered = Provider::OFFERED.contains(&provider);
        match model.provider_note() {
            Some(note) => {
                assert!(note.starts_with(provider.name()), "{note}");
                assert!(note.contains("using CPU"), "{note}");
                if !offered {
                    assert!(note.contains("does not run on"), "{note}");
                }
            }
            // Only a provider this platform offers, in a runtime built with it, loads.
            None => assert!(
                offered,
                "{} loaded on {}",
                provider.name(),
                std::env::consts::OS
            ),
        }
    }
}
