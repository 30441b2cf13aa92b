//! Loading ONNX Runtime and running a model writes nothing into the user's home: ORT's
//! telemetry (which keeps a device id under `~/.cache/Microsoft`) is off. Its own test binary,
//! because the runtime loads once per process and reads `HOME` then.
#![cfg(feature = "ort")]

use std::path::Path;

use continuo_core::constraints::Constraints;
use continuo_core::generator::Generator;
use continuo_core::runtime::{Model, RuntimeOptions};
use continuo_core::sampling::Sampling;

#[test]
fn running_a_model_writes_nothing_into_home() {
    let home = std::env::temp_dir().join(format!("continuo-home-{}", std::process::id()));
    std::fs::create_dir_all(&home).unwrap();
    // SAFETY: set before any thread of this test binary reads the environment.
    unsafe { std::env::set_var("HOME", &home) };
    unsafe { std::env::remove_var("XDG_CACHE_HOME") };

    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/chopin");
    let model = Model::load(&dir, &RuntimeOptions::default()).expect("the shipped model");
    let mut generator = Generator::new(model, 1);
    for _ in 0..32 {
        generator
            .step(&Constraints::default(), &Sampling::default(), |_| {})
            .unwrap();
    }
    drop(generator);

    let written: Vec<_> = walk(&home);
    let _ = std::fs::remove_dir_all(&home);
    assert!(written.is_empty(), "written into HOME: {written:?}");
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            found.extend(walk(&path));
        }
        found.push(path);
    }
    found
}
