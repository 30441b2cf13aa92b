//! A wrong model is refused with a reason that names what is wrong, never a crash: the plugin
//! shows that reason and passes notes through, the trainer's `eval`/`generate` print it.
#![cfg(feature = "ort")]

use std::path::{Path, PathBuf};

use continuo_core::contract::ModelMeta;
use continuo_core::runtime::{Model, RuntimeError, RuntimeOptions};

fn shipped() -> (Vec<u8>, ModelMeta) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/chopin");
    let onnx = std::fs::read(dir.join("model.onnx")).expect("the shipped model");
    let meta = ModelMeta::load(&dir.join("model.json")).expect("its metadata");
    (onnx, meta)
}

fn load(onnx: &[u8], meta: ModelMeta) -> Result<Model, RuntimeError> {
    Model::from_memory(
        onnx,
        meta,
        PathBuf::from("test.onnx"),
        &RuntimeOptions::default(),
    )
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("continuo-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn the_shipped_model_loads() {
    let (onnx, meta) = shipped();
    assert!(load(&onnx, meta).is_ok());
}

#[test]
fn a_missing_model_is_named() {
    let dir = temp_dir("missing");
    let err = Model::load(&dir.join("gone"), &RuntimeOptions::default())
        .err()
        .expect("refused");
    assert!(matches!(err, RuntimeError::MissingModel(_)), "{err}");
    assert!(err.to_string().contains("gone"), "{err}");
}

#[test]
fn bytes_that_are_not_onnx_are_refused() {
    let (_, meta) = shipped();
    let err = load(b"this is not a protobuf", meta)
        .err()
        .expect("refused");
    assert!(err.to_string().starts_with("ONNX Runtime"), "{err}");
}

#[test]
fn metadata_that_does_not_match_the_network_is_refused() {
    let (onnx, mut meta) = shipped();
    meta.architecture.hidden_dim /= 2;
    let err = load(&onnx, meta).err().expect("refused");
    assert!(
        matches!(err, RuntimeError::Contract { .. }),
        "a contract error, not a crash: {err}"
    );
    assert!(err.to_string().contains("test.onnx"), "{err}");

    let (onnx, mut meta) = shipped();
    meta.vocab.velocity_bins = 8;
    let err = load(&onnx, meta).err().expect("refused");
    assert!(err.to_string().contains("logits"), "{err}");
}

#[test]
fn unreadable_metadata_is_reported_with_its_path() {
    let dir = temp_dir("bad-meta");
    let (onnx, _) = shipped();
    std::fs::write(dir.join("model.onnx"), onnx).unwrap();
    std::fs::write(dir.join("model.json"), "{ \"format\": ").unwrap();
    let err = Model::load(&dir, &RuntimeOptions::default())
        .err()
        .expect("refused");
    assert!(err.to_string().contains("model.json"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}
