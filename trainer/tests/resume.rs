//! A stopped run resumes as itself: same batches, same weights, same history.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use continuo_core::midi::{write_midi, Note, Score};
use continuo_trainer::config::TrainConfig;
use continuo_trainer::train::{train, Ending, Outcome, Start, TrainArgs};

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("continuo-{name}-{}", std::process::id()));
    if dir.exists() {
        std::fs::remove_dir_all(&dir).unwrap();
    }
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// `pieces` small MIDI files of `notes` notes each: a walking line with a chord now and then.
fn fixtures(name: &str, pieces: usize, notes: usize) -> PathBuf {
    let dir = temp_dir(name);
    for p in 0..pieces {
        let notes = (0..notes)
            .map(|i| {
                let step = (i * 7 + p * 3) % 12;
                Note {
                    pitch: 48 + step as u8 + if i % 5 == 0 { 12 } else { 0 },
                    velocity: 50 + ((i * 13) % 60) as u8,
                    start: i as f64 * 0.5 - if i % 3 == 0 { 0.0 } else { 0.25 },
                    end: i as f64 * 0.5 + 0.4,
                }
            })
            .map(|mut n| {
                n.start = n.start.max(0.0);
                n
            })
            .collect();
        let bytes = write_midi(&Score::new(notes, 100.0)).unwrap();
        std::fs::write(dir.join(format!("piece{p}.mid")), bytes).unwrap();
    }
    dir
}

fn tiny_config() -> TrainConfig {
    TrainConfig {
        embed_dim: 8,
        hidden_dim: 16,
        num_layers: 2,
        seq_len: 16,
        batch_size: 4,
        epochs: 3,
        warmup_steps: 3,
        val_fraction: 0.25,
        checkpoint_every: 5,
        ..Default::default()
    }
}

fn args(data: &Path, out: &Path, max_steps: Option<usize>) -> TrainArgs {
    TrainArgs {
        data: vec![data.into()],
        out: out.into(),
        name: "resume-test".into(),
        device: "cpu".into(),
        threads: 2,
        attribution: "generated".into(),
        max_steps,
        stop: None,
        quiet: true,
    }
}

fn checkpoint_file(out: &Path) -> PathBuf {
    out.join("checkpoint").join("fused.bin")
}

fn checkpoint_weights(out: &Path) -> Vec<u8> {
    std::fs::read(checkpoint_file(out)).unwrap()
}

fn history(o: &Outcome) -> Vec<(usize, f64, f64)> {
    o.state
        .history
        .iter()
        .map(|r| (r.epoch, r.train_nll, r.val_nll))
        .collect()
}

#[test]
fn a_run_stopped_after_an_epoch_and_resumed_equals_an_uninterrupted_run() {
    let data = fixtures("resume-data", 4, 120);
    let straight = temp_dir("resume-straight");
    let whole = train(Start::Fresh(tiny_config()), &args(&data, &straight, None)).unwrap();
    assert_eq!(whole.ending, Ending::Finished);
    let per_epoch = whole.state.global_step / 3;
    assert!(per_epoch > 5, "the fixture gives several steps per epoch");

    let split = temp_dir("resume-split");
    let first = train(
        Start::Fresh(tiny_config()),
        &args(&data, &split, Some(per_epoch)),
    )
    .unwrap();
    assert_eq!(first.ending, Ending::StepLimit);
    assert_eq!((first.state.epoch, first.state.batch), (1, 0));
    let rest = train(Start::Resume { epochs: None }, &args(&data, &split, None)).unwrap();
    assert_eq!(rest.ending, Ending::Finished);

    // The fused engine is deterministic for a thread count: bit-identical weights and moments.
    assert!(checkpoint_weights(&straight) == checkpoint_weights(&split));
    assert_eq!(history(&whole), history(&rest));
    assert_eq!(rest.config, whole.config);
    for dir in [data, straight, split] {
        std::fs::remove_dir_all(dir).ok();
    }
}

#[test]
fn resume_may_extend_the_epochs_but_not_shorten_them() {
    let data = fixtures("extend-data", 3, 80);
    let out = temp_dir("extend-run");
    let config = TrainConfig {
        epochs: 1,
        ..tiny_config()
    };
    train(Start::Fresh(config), &args(&data, &out, None)).unwrap();
    let err = train(Start::Resume { epochs: Some(0) }, &args(&data, &out, None))
        .err()
        .expect("shortening is refused")
        .to_string();
    assert!(err.contains("--epochs 0"), "{err}");
    let longer = train(Start::Resume { epochs: Some(2) }, &args(&data, &out, None)).unwrap();
    assert_eq!(longer.state.history.len(), 2);
    assert_eq!(longer.config.epochs, 2);
    for dir in [data, out] {
        std::fs::remove_dir_all(dir).ok();
    }
}

fn trainer() -> Command {
    Command::new(env!("CARGO_BIN_EXE_trainer"))
}

#[test]
fn resume_refuses_flags_that_would_change_the_run() {
    let out = temp_dir("refuse-run");
    let output = trainer()
        .args([
            "train", "--data", "unused", "--resume", "--hidden", "32", "--lr", "0.1",
        ])
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("--hidden, --lr cannot change with --resume"),
        "{stderr}"
    );
    std::fs::remove_dir_all(out).ok();
}

#[cfg(unix)]
#[test]
fn sigterm_mid_run_checkpoints_and_resume_completes() {
    let data = fixtures("sigterm-data", 6, 1500);
    let out = temp_dir("sigterm-run");
    let tiny = [
        "--embed",
        "8",
        "--hidden",
        "16",
        "--layers",
        "1",
        "--seq-len",
        "16",
        "--batch-size",
        "4",
    ];
    let mut child = trainer()
        .args(["train", "--epochs", "3"])
        .args(tiny)
        .arg("--data")
        .arg(&data)
        .arg("--out")
        .arg(&out)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The trainer names its data set once the signal handler is in place and just before
    // the first step: stop it there.
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    while stderr.read_line(&mut line).unwrap() > 0 && !line.contains("train pieces") {
        line.clear();
    }
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let output = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}");
    assert!(
        stdout.contains("stopped at epoch") && stdout.contains("continue with --resume"),
        "the run was not stopped mid-way: {stdout}"
    );
    assert!(out.join("checkpoint").join("state.json").is_file());

    let resumed = trainer()
        .args(["train", "--resume"])
        .arg("--data")
        .arg(&data)
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&resumed.stdout);
    assert!(resumed.status.success(), "{stdout}");
    assert!(stdout.contains("best validation NLL"), "{stdout}");
    assert!(out.join("model.onnx").is_file());
    for dir in [data, out] {
        std::fs::remove_dir_all(dir).ok();
    }
}

#[test]
fn fine_tuning_starts_from_the_given_run_or_its_exported_model_and_leaves_out_excluded_files() {
    let data = fixtures("finetune-data", 4, 80);
    let base = temp_dir("finetune-base");
    train(Start::Fresh(tiny_config()), &args(&data, &base, None)).unwrap();
    let tuned = temp_dir("finetune-tuned");
    let config = TrainConfig {
        init_from: Some(base.clone()),
        exclude: vec!["piece3.mid".into()],
        seed: 99,
        ..tiny_config()
    };
    // Zero steps: the checkpoint holds the starting weights.
    let start = train(Start::Fresh(config), &args(&data, &tuned, Some(0))).unwrap();
    let weights = |dir: &Path| {
        let bytes = checkpoint_weights(dir);
        // magic + step count, then weights, then Adam's two moments of the same length
        let n = (bytes.len() - 16) / 12;
        bytes[16..16 + 4 * n].to_vec()
    };
    assert!(weights(&base) == weights(&tuned));
    let names: Vec<&String> = start
        .state
        .train_pieces
        .iter()
        .chain(&start.state.val_pieces)
        .collect();
    assert_eq!(names.len(), 3);
    assert!(!names.iter().any(|n| n.ends_with("piece3.mid")));

    // An exported model (its model.onnx and model.json alone, as models/ ships them) starts
    // a fine-tune with the same weights as its run's checkpoint.
    let exported = temp_dir("finetune-exported");
    for file in ["model.onnx", "model.json"] {
        std::fs::copy(base.join(file), exported.join(file)).unwrap();
    }
    let from_model = temp_dir("finetune-from-model");
    let config = TrainConfig {
        init_from: Some(exported.clone()),
        ..tiny_config()
    };
    train(
        Start::Fresh(config.clone()),
        &args(&data, &from_model, Some(0)),
    )
    .unwrap();
    assert!(weights(&base) == weights(&from_model));
    // A model of the contract before the grid has no grid tables to start from.
    let json = exported.join("model.json");
    let meta = std::fs::read_to_string(&json).unwrap();
    let old = meta.replacen("\"contract_version\": 2", "\"contract_version\": 1", 1);
    assert_ne!(old, meta);
    std::fs::write(&json, old).unwrap();
    let err = train(Start::Fresh(config), &args(&data, &from_model, Some(0)))
        .err()
        .expect("a contract 1 model is refused");
    assert!(
        format!("{err:#}").contains("does not hear the grid"),
        "{err:#}"
    );
    for dir in [data, base, tuned, exported, from_model] {
        std::fs::remove_dir_all(dir).ok();
    }
}

#[test]
fn a_checkpoint_from_before_the_grid_is_refused_by_name() {
    let data = fixtures("old-format-data", 3, 80);
    let out = temp_dir("old-format-run");
    let config = TrainConfig {
        epochs: 2,
        ..tiny_config()
    };
    train(Start::Fresh(config), &args(&data, &out, Some(2))).unwrap();
    // What the trainer wrote before the grid tables: its magic, then token embedding, GRU
    // and output weights and their moments.
    let mut bytes = checkpoint_weights(&out);
    bytes[..8].copy_from_slice(b"CNTFUSE1");
    bytes.truncate(16 + 12 * 1000);
    std::fs::write(checkpoint_file(&out), bytes).unwrap();
    let err = train(Start::Resume { epochs: None }, &args(&data, &out, None))
        .err()
        .expect("the old checkpoint is refused");
    let message = format!("{err:#}");
    assert!(
        message.contains("earlier trainer") && message.contains("start a new run"),
        "{message}"
    );
    let tuned = temp_dir("old-format-tuned");
    let config = TrainConfig {
        init_from: Some(out.clone()),
        ..tiny_config()
    };
    let err = train(Start::Fresh(config), &args(&data, &tuned, Some(0)))
        .err()
        .expect("fine-tuning from the old checkpoint is refused");
    assert!(format!("{err:#}").contains("earlier trainer"), "{err:#}");
    for dir in [data, out, tuned] {
        std::fs::remove_dir_all(dir).ok();
    }
}

#[test]
fn two_data_folders_train_together_and_resume() {
    let one = fixtures("folder-one", 2, 80);
    let two = fixtures("folder-two", 2, 80);
    let out = temp_dir("two-folders-run");
    let both = |max_steps| TrainArgs {
        data: vec![one.clone(), two.clone()],
        ..args(&one, &out, max_steps)
    };
    let first = train(Start::Fresh(tiny_config()), &both(Some(3))).unwrap();
    let mut names: Vec<String> = first
        .state
        .train_pieces
        .iter()
        .chain(&first.state.val_pieces)
        .cloned()
        .collect();
    names.sort();
    let folder = |d: &Path| d.file_name().unwrap().to_string_lossy().into_owned();
    let expected: Vec<String> = [&one, &two]
        .iter()
        .flat_map(|d| (0..2).map(move |p| format!("{}/piece{p}.mid", folder(d))))
        .collect();
    assert_eq!(names, expected);
    let rest = train(Start::Resume { epochs: None }, &both(None)).unwrap();
    assert_eq!(rest.ending, Ending::Finished);
    for dir in [one, two, out] {
        std::fs::remove_dir_all(dir).ok();
    }
}
