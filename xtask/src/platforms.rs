//! `cargo xtask check-platforms`: what a Linux machine can check of Windows and macOS.
//!
//! Windows: the release bundles are cross-built with mingw and tested under wine, with
//! clap-validator (where it is found), the CLAP host test on the Windows `Continuo.clap`, and
//! the demo. macOS: both targets are compiled (`cargo check`); linking needs Apple's SDK, so
//! nothing for macOS runs here.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Instant;

use anyhow::{bail, Context, Result};

use crate::bundle::place_runtime;
use crate::ort::fetch_ort;
use crate::validate::validators_dir;
use crate::{cargo, moduleinfo, run, Platform};

const WINDOWS: &str = "x86_64-pc-windows-gnu";
const MACOS: [&str; 2] = ["aarch64-apple-darwin", "x86_64-apple-darwin"];
const MINGW_GCC: &str = "x86_64-w64-mingw32-gcc";
/// The Windows bundles, beside (not in) `target/bundled`, which holds this machine's.
const WINDOWS_BUNDLES: &str = "target/bundled-windows";
/// What wine runs: copies of the programs with the `bcryptprimitives.dll` stand-in beside
/// them, which must never reach a bundle.
const WINE_RUN: &str = "target/wine-run";

/// One check's outcome, for the summary at the end.
enum Outcome {
    Passed(String),
    Skipped(String),
    Failed(String),
}

pub fn check() -> Result<()> {
    let started = Instant::now();
    let mut outcomes = Vec::new();
    let mut note = |name: &str, outcome: Result<Outcome>| {
        let outcome = outcome.unwrap_or_else(|e| Outcome::Failed(format!("{e:#}")));
        outcomes.push((name.to_string(), outcome));
    };
    for target in MACOS {
        note(&format!("cargo check {target}"), check_macos(target));
    }
    note("macOS ONNX Runtime pin", macos_runtime());
    match windows_tools() {
        Err(e) => note("Windows", Ok(Outcome::Skipped(format!("{e:#}")))),
        Ok(()) => match windows_bundles(WINDOWS) {
            Err(e) => note("Windows bundles", Err(e)),
            Ok(bundles) => {
                note(
                    "Windows bundles",
                    Ok(Outcome::Passed(bundles.display().to_string())),
                );
                note("clap-validator under wine", clap_validator(&bundles));
                note("CLAP host test under wine", clap_host_test(&bundles));
                note("demo under wine", demo());
            }
        },
    }
    println!(
        "\ncheck-platforms ({:.0} s):",
        started.elapsed().as_secs_f64()
    );
    let mut failed = 0;
    for (name, outcome) in &outcomes {
        let (word, detail) = match outcome {
            Outcome::Passed(d) => ("passed", d),
            Outcome::Skipped(d) => ("skipped", d),
            Outcome::Failed(d) => {
                failed += 1;
                ("FAILED", d)
            }
        };
        println!("  {name}: {word}: {detail}");
    }
    if failed > 0 {
        bail!("{failed} platform check(s) failed");
    }
    Ok(())
}

fn check_macos(target: &str) -> Result<Outcome> {
    if let Err(e) = rustup_target(target) {
        return Ok(Outcome::Skipped(format!("{e:#}")));
    }
    // The plugin, the demo and the core with its ONNX Runtime code (CoreML included).
    let mut cmd = cargo();
    cmd.args([
        "check", "-p", "continuo", "--lib", "--bins", "--target", target,
    ]);
    run(cmd)?;
    Ok(Outcome::Passed(
        "compiles (not linked or run: that needs a Mac)".into(),
    ))
}

/// The pinned macOS wheel and dylib still download and match their checksums.
fn macos_runtime() -> Result<Outcome> {
    let lib = fetch_ort(&Platform::of_target(MACOS[0])?)?;
    Ok(Outcome::Passed(format!("{} verified", lib.display())))
}

/// The rustup target, mingw and wine, installed where this machine allows; an error says
/// what is missing.
fn windows_tools() -> Result<()> {
    rustup_target(WINDOWS)?;
    apt_tool(MINGW_GCC, &["gcc-mingw-w64-x86-64"])?;
    apt_tool("wine", &["wine", "wine64"])
}

fn rustup_target(target: &str) -> Result<()> {
    let installed = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output()
        .context("rustup not found (needed to add the cross-compilation target)")?;
    if String::from_utf8_lossy(&installed.stdout)
        .lines()
        .any(|l| l.trim() == target)
    {
        return Ok(());
    }
    let mut add = Command::new("rustup");
    add.args(["target", "add", target]);
    run(add).with_context(|| format!("could not add the Rust target {target}"))
}

fn found(program: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {program}")])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// `program`, installed with apt-get from `packages` when missing and this is a Debian or
/// Ubuntu machine run as root (as CI is).
fn apt_tool(program: &str, packages: &[&str]) -> Result<()> {
    if found(program) {
        return Ok(());
    }
    let root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0");
    if !(root && Path::new("/usr/bin/apt-get").exists()) {
        bail!(
            "{program} not found; install it (Debian/Ubuntu: sudo apt-get install {})",
            packages.join(" ")
        );
    }
    println!("installing {} with apt-get", packages.join(" "));
    let mut update = Command::new("apt-get");
    update.args(["-q", "update"]);
    let mut install = Command::new("apt-get");
    install
        .args(["-q", "install", "-y", "--no-install-recommends"])
        .args(packages)
        .env("DEBIAN_FRONTEND", "noninteractive");
    run(update).and_then(|_| run(install))?;
    if !found(program) {
        bail!(
            "{program} still not found after installing {}",
            packages.join(" ")
        );
    }
    Ok(())
}

fn windows_cargo() -> Command {
    let mut cmd = cargo();
    cmd.env("CARGO_TARGET_X86_64_PC_WINDOWS_GNU_LINKER", MINGW_GCC);
    cmd
}

/// Cross-builds the release plugin and demo for Windows and lays out the bundles as on
/// Windows (`Continuo.clap` with `continuo\onnxruntime.dll` beside it, and
/// `Continuo.vst3\Contents\x86_64-win\`). Returns their folder.
pub fn windows_bundles(target: &str) -> Result<PathBuf> {
    let platform = Platform::of_target(target)?;
    let lib = fetch_ort(&platform)?;
    let mut build = windows_cargo();
    build.args([
        "build",
        "--release",
        "-p",
        "continuo",
        "--lib",
        "--bin",
        "continuo-demo",
    ]);
    build.args(["--target", target]);
    run(build)?;
    let built = Path::new("target").join(target).join("release");
    let dir = PathBuf::from(WINDOWS_BUNDLES);
    if dir.exists() {
        std::fs::remove_dir_all(&dir)?;
    }
    let vst3_bin = dir.join("Continuo.vst3").join(platform.vst3_binary_dir());
    std::fs::create_dir_all(&vst3_bin)?;
    std::fs::copy(built.join("continuo.dll"), dir.join("Continuo.clap"))?;
    std::fs::copy(built.join("continuo.dll"), vst3_bin.join("Continuo.vst3"))?;
    place_runtime(&dir, &platform, &lib)?;
    moduleinfo::write(&dir.join("Continuo.vst3"))?;
    Ok(dir)
}

/// A folder under `target/wine-run` holding `bcryptprimitives.dll`, built from
/// `xtask/wine/bcp.c`, which wine 8.0 needs beside every Rust program.
fn wine_folder(name: &str) -> Result<PathBuf> {
    let dir = Path::new(WINE_RUN).join(name);
    std::fs::create_dir_all(&dir)?;
    let mut gcc = Command::new(MINGW_GCC);
    gcc.args(["-shared", "-o"])
        .arg(dir.join("bcryptprimitives.dll"))
        .arg("xtask/wine/bcp.c")
        .arg("-ladvapi32");
    run(gcc)?;
    Ok(dir)
}

/// The path wine's Windows programs see for a path on this machine (drive Z: is `/`).
fn windows_path(path: &Path) -> Result<String> {
    let abs = std::fs::canonicalize(path)
        .with_context(|| format!("{} does not exist", path.display()))?;
    Ok(format!("Z:{}", abs.display()).replace('/', "\\"))
}

/// Runs `exe` under wine in its own prefix, with no Mono or Gecko install prompts, and
/// without this machine's `ORT_DYLIB_PATH` (a Linux library), so that Windows programs find
/// their runtime as on Windows.
fn wine(exe: &Path, args: &[String], envs: &[(&str, String)]) -> Result<Output> {
    let prefix = Path::new("target/wine-prefix");
    std::fs::create_dir_all(prefix)?;
    let mut cmd = Command::new("wine");
    cmd.arg(exe)
        .args(args)
        .env("WINEPREFIX", std::fs::canonicalize(prefix)?)
        .env("WINEDEBUG", "-all")
        .env("WINEDLLOVERRIDES", "mscoree,mshtml=")
        .env_remove("ORT_DYLIB_PATH")
        .envs(envs.iter().map(|(k, v)| (k, v)));
    println!("wine {} {}", exe.display(), args.join(" "));
    let out = cmd.output().context("running wine")?;
    print!("{}", String::from_utf8_lossy(&out.stdout));
    eprint!("{}", String::from_utf8_lossy(&out.stderr));
    Ok(out)
}

fn clap_validator(bundles: &Path) -> Result<Outcome> {
    let Some(exe) = validators_dir()
        .map(|d| d.join("windows/clap-validator.exe"))
        .filter(|e| e.is_file())
    else {
        return Ok(Outcome::Skipped(
            "windows/clap-validator.exe not found (set CONTINUO_VALIDATORS)".into(),
        ));
    };
    let dir = wine_folder("clap-validator")?;
    let local = dir.join("clap-validator.exe");
    std::fs::copy(&exe, &local)?;
    let clap = windows_path(&bundles.join("Continuo.clap"))?;
    let mut out = wine(&local, &["validate".into(), clap.clone()], &[])?;
    // clap-validator runs each test in a child process; under load, wine 8.0 sometimes fails
    // to create one ("Internal error", 1359) and the validator gives up. That is wine's
    // failure, not the plugin's: run it once more.
    let said = |o: &Output| {
        [&o.stdout, &o.stderr]
            .iter()
            .any(|b| String::from_utf8_lossy(b).contains("Failed to spawn a child process"))
    };
    if said(&out) {
        println!("wine could not start a validator process; running the validator again");
        out = wine(&local, &["validate".into(), clap], &[])?;
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    let summary = stdout
        .lines()
        .rfind(|l| l.contains("tests run"))
        .unwrap_or("no summary")
        .trim()
        .to_string();
    if !out.status.success() || !summary.contains(" 0 failed") {
        bail!("{summary} ({})", out.status);
    }
    Ok(Outcome::Passed(summary))
}

/// The CLAP host test, cross-built for Windows, loading the Windows `Continuo.clap` (with
/// its runtime beside it) as a host does: the answer comes after the pause, in time, key and
/// range, with balanced note-ons and note-offs.
fn clap_host_test(bundles: &Path) -> Result<Outcome> {
    let mut build = windows_cargo();
    build.args([
        "test",
        "--release",
        "--no-run",
        "-p",
        "continuo",
        "--test",
        "clap_host",
    ]);
    build.args(["--target", WINDOWS, "--message-format=json"]);
    // Only stdout is read (for the executable's path); cargo's progress goes on showing.
    let out = build
        .stderr(Stdio::inherit())
        .output()
        .context("building the CLAP host test")?;
    if !out.status.success() {
        bail!("building the CLAP host test for Windows failed");
    }
    let json = String::from_utf8_lossy(&out.stdout);
    let built = json
        .lines()
        .filter(|l| l.contains("\"name\":\"clap_host\""))
        .find_map(|l| l.split("\"executable\":\"").nth(1)?.split('"').next())
        .context("cargo named no clap_host executable")?;
    let dir = wine_folder("clap-host")?;
    let exe = dir.join("clap_host.exe");
    std::fs::copy(built, &exe)?;
    let plugin = windows_path(&bundles.join("Continuo.clap"))?;
    let out = wine(
        &exe,
        &["--test-threads=1".into()],
        &[("CONTINUO_PLUGIN_LIB", plugin)],
    )?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let result = stdout
        .lines()
        .rfind(|l| l.starts_with("test result:"))
        .unwrap_or("no test result")
        .to_string();
    if !out.status.success() {
        bail!("{result} ({})", out.status);
    }
    Ok(Outcome::Passed(result))
}

/// The demo, cross-built for Windows: it must load the `onnxruntime.dll` beside itself (with
/// no `ORT_DYLIB_PATH`), and it fails on an empty or unbalanced answer.
fn demo() -> Result<Outcome> {
    let platform = Platform::of_target(WINDOWS)?;
    let dir = wine_folder("demo")?;
    let exe = dir.join("continuo-demo.exe");
    std::fs::copy(
        Path::new("target")
            .join(WINDOWS)
            .join("release/continuo-demo.exe"),
        &exe,
    )?;
    std::fs::copy(fetch_ort(&platform)?, dir.join(platform.library()))?;
    let out_dir = dir.join("out");
    std::fs::create_dir_all(&out_dir)?;
    let out = wine(&exe, &["--out".into(), windows_path(&out_dir)?], &[])?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        bail!("the demo failed ({})", out.status);
    }
    let beside = windows_path(&dir.join(platform.library()))?.to_lowercase();
    let runtime = stdout
        .lines()
        .find_map(|l| l.split("ONNX Runtime: ").nth(1)?.split(';').next())
        .unwrap_or("not named");
    if runtime.to_lowercase() != beside {
        bail!("the demo loaded ONNX Runtime from {runtime}, not from beside itself ({beside})");
    }
    let notes = stdout
        .lines()
        .find(|l| l.contains("generated notes"))
        .and_then(|l| l.split(" →").next())
        .context("the demo reported no notes")?;
    Ok(Outcome::Passed(format!(
        "{notes}, runtime from beside the .exe"
    )))
}
