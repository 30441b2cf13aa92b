//! `cargo xtask …`: setting up, bundling, installing and demoing Continuo.
//!
//! * `fetch-ort` — download the pinned ONNX Runtime library (PyPI wheel, checksum verified)
//! * `bundle …` — nice-plug's bundler (reads `bundler.toml`), plus ONNX Runtime in the bundles
//! * `install [--no-install]` — fetch-ort + release bundles, copied to ~/.clap and ~/.vst3
//! * `demo [--prompt in.mid] [--out DIR]` — continue a prompt through the plugin's engine
//! * `test` — fetch-ort + the whole test suite, then the plugin validators on the debug
//!   `assert_process_allocs` build where they are found (`$CONTINUO_VALIDATORS`, or
//!   `../shared/tools/plugin-validators`)
//! * `validate` — release bundles, then both validators on them (what `.ci/run` adds)

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};
use sha2::{Digest, Sha256};

const ORT_VERSION: &str = "1.31.1";
const ORT_LIB: &str = "libonnxruntime.so.1.31.1";
/// The wheel is fixed (platform and Python tag) so its checksum can be pinned.
const WHEEL: &str = "onnxruntime-1.31.1-cp311-cp311-manylinux_2_28_x86_64.whl";
const WHEEL_SHA256: &str = "5752bd508126ae7c49894d3b9d2e83f0c3d487319246d04c444b393308d7ad7f";
const LIB_SHA256: &str = "fc44112fbe06d7d689c57e11d3862031f64711007e4ee020f8eed5185fd2c1d3";

fn main() -> Result<()> {
    nice_plug_xtask::chdir_workspace_root()?;
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("fetch-ort") => fetch_ort().map(|_| ()),
        Some("bundle") => bundle(&args[1..]),
        Some("install") => install(args.iter().any(|a| a == "--no-install")),
        Some("demo") => demo(&args[1..]),
        Some("test") => test(&args[1..]),
        Some("validate") => validate_release(),
        _ => {
            eprintln!(
                "usage: cargo xtask <command>\n\n  fetch-ort              download ONNX Runtime {ORT_VERSION} into .cache/ort\n  \
                 bundle <pkg> [opts]    build CLAP + VST3 bundles into target/bundled\n  \
                 install [--no-install] release bundles with the default model and ONNX Runtime, installed for this user\n  \
                 demo [--prompt F] [--out D]  continue a MIDI prompt headlessly (writes .mid and .png)\n  \
                 test                   set up and run every test (and the validators, if found)\n  \
                 validate               release bundles through both plugin validators"
            );
            std::process::exit(2);
        }
    };
    if let Err(e) = result {
        eprintln!("\nerror: {e:#}");
        std::process::exit(1);
    }
    Ok(())
}

fn sha256(path: &Path) -> Result<String> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    Ok(Sha256::digest(&bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect())
}

/// Returns the path of the verified ONNX Runtime library, downloading it if needed.
fn fetch_ort() -> Result<PathBuf> {
    if let Some(p) = std::env::var_os("ORT_DYLIB_PATH") {
        let p = PathBuf::from(p);
        if !p.is_file() {
            bail!("ORT_DYLIB_PATH is set to {}, which does not exist. Unset it, or point it at libonnxruntime {ORT_VERSION}", p.display());
        }
        println!("using ONNX Runtime from ORT_DYLIB_PATH={}", p.display());
        return Ok(p);
    }
    if !(cfg!(target_os = "linux") && cfg!(target_arch = "x86_64")) {
        bail!(
            "automatic download is pinned for Linux x86-64 only. Download the onnxruntime {ORT_VERSION} wheel for this \
             platform (python3 -m pip download --no-deps onnxruntime=={ORT_VERSION}), unzip onnxruntime/capi/<library> \
             from it, and set ORT_DYLIB_PATH to that file"
        );
    }
    let dir = PathBuf::from(".cache/ort");
    let lib = dir.join(ORT_LIB);
    if lib.is_file() && sha256(&lib)? == LIB_SHA256 {
        println!("ONNX Runtime {ORT_VERSION} (verified) at {}", lib.display());
        return Ok(lib);
    }
    std::fs::create_dir_all(&dir)?;
    let wheel = dir.join(WHEEL);
    if !wheel.is_file() || sha256(&wheel)? != WHEEL_SHA256 {
        println!("downloading onnxruntime=={ORT_VERSION} from PyPI …");
        let python = which_python()?;
        let status = Command::new(&python)
            .args([
                "-m",
                "pip",
                "download",
                "--no-deps",
                "--only-binary=:all:",
                "--platform",
                "manylinux_2_28_x86_64",
            ])
            .args([
                "--python-version",
                "3.11",
                "--implementation",
                "cp",
                "--disable-pip-version-check",
            ])
            .arg(format!("onnxruntime=={ORT_VERSION}"))
            .arg("-d")
            .arg(&dir)
            .status()
            .with_context(|| format!("running {python} -m pip"))?;
        if !status.success() {
            bail!(
                "pip could not download onnxruntime=={ORT_VERSION} (no network, or no access to PyPI?). Either fix the \
                 connection and run again, or copy {WHEEL} into .cache/ort/ by hand, or set ORT_DYLIB_PATH to an \
                 existing libonnxruntime {ORT_VERSION}"
            );
        }
        let got = sha256(&wheel).with_context(|| format!("pip did not produce {WHEEL}"))?;
        if got != WHEEL_SHA256 {
            bail!("checksum mismatch for {}: expected {WHEEL_SHA256}, got {got}. Delete the file and retry", wheel.display());
        }
    }
    let python = which_python()?;
    let status = Command::new(&python)
        .args(["-c", "import sys, zipfile; open(sys.argv[3], 'wb').write(zipfile.ZipFile(sys.argv[1]).read(sys.argv[2]))"])
        .arg(&wheel)
        .arg(format!("onnxruntime/capi/{ORT_LIB}"))
        .arg(&lib)
        .status()?;
    if !status.success() || sha256(&lib)? != LIB_SHA256 {
        bail!(
            "could not extract a verified {ORT_LIB} from {}",
            wheel.display()
        );
    }
    println!("ONNX Runtime {ORT_VERSION} ready at {}", lib.display());
    Ok(lib)
}

fn which_python() -> Result<String> {
    let find = || {
        ["python3", "python"].into_iter().find(|p| {
            Command::new(p)
                .args(["-m", "pip", "--version"])
                .output()
                .is_ok_and(|o| o.status.success())
        })
    };
    if let Some(p) = find() {
        return Ok(p.into());
    }
    // A fresh Debian/Ubuntu machine or CI container, as root: install pip ourselves.
    let root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0");
    if root && Path::new("/usr/bin/apt-get").exists() {
        println!("installing python3-pip with apt-get (needed to fetch ONNX Runtime from PyPI)");
        let mut update = Command::new("apt-get");
        update.args(["-q", "update"]);
        let mut install = Command::new("apt-get");
        install
            .args([
                "-q",
                "install",
                "-y",
                "--no-install-recommends",
                "python3-pip",
            ])
            .env("DEBIAN_FRONTEND", "noninteractive");
        if run(update).and_then(|_| run(install)).is_ok() {
            if let Some(p) = find() {
                return Ok(p.into());
            }
        }
    }
    bail!(
        "python3 with pip is needed to fetch ONNX Runtime from PyPI. Install it (Debian/Ubuntu: sudo apt-get install \
         python3-pip), or set ORT_DYLIB_PATH to a libonnxruntime {ORT_VERSION}"
    )
}

fn cargo() -> Command {
    Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
}

fn run(mut cmd: Command) -> Result<()> {
    let status = cmd.status().with_context(|| format!("running {cmd:?}"))?;
    if !status.success() {
        bail!("{cmd:?} failed ({status})");
    }
    Ok(())
}

/// nice-plug's bundler, then ONNX Runtime placed where the plugin looks for it.
fn bundle(args: &[String]) -> Result<()> {
    let lib = fetch_ort()?;
    nice_plug_xtask::main_with_args(
        "cargo xtask",
        std::iter::once("bundle".to_string()).chain(args.iter().cloned()),
    )?;
    let bundled = PathBuf::from("target/bundled");
    // VST3: beside the binary inside the bundle. CLAP on Linux is a single file, so the
    // library goes into a `continuo/` folder beside it.
    let vst3_bin = bundled.join("Continuo.vst3/Contents/x86_64-linux");
    if vst3_bin.is_dir() {
        std::fs::copy(&lib, vst3_bin.join(ORT_LIB))?;
    }
    let clap_side = bundled.join("continuo");
    std::fs::create_dir_all(&clap_side)?;
    std::fs::copy(&lib, clap_side.join(ORT_LIB))?;
    module_info(&bundled.join("Continuo.vst3"))?;
    println!("bundles with ONNX Runtime in {}", bundled.display());
    Ok(())
}

/// Where Steinberg's and free-audio's validators (and `moduleinfotool`) are, if anywhere:
/// `$CONTINUO_VALIDATORS`, else the `shared/tools` folder beside this checkout.
fn validators_dir() -> Option<PathBuf> {
    std::env::var_os("CONTINUO_VALIDATORS")
        .map(PathBuf::from)
        .or_else(|| Some(PathBuf::from("../shared/tools/plugin-validators")))
        .filter(|d| d.join("validate").is_file())
}

/// `Contents/Resources/moduleinfo.json`, which lets VST3 hosts scan the bundle without
/// loading it, written by Steinberg's `moduleinfotool` where it is found.
fn module_info(vst3: &Path) -> Result<()> {
    let Some(tool) = validators_dir()
        .map(|d| d.join("moduleinfotool"))
        .filter(|t| t.is_file())
    else {
        println!("moduleinfo.json: skipped (moduleinfotool not found; set CONTINUO_VALIDATORS)");
        return Ok(());
    };
    if !vst3.is_dir() {
        return Ok(());
    }
    let resources = vst3.join("Contents/Resources");
    std::fs::create_dir_all(&resources)?;
    let mut cmd = Command::new(tool);
    cmd.args(["-create", "-version", env!("CARGO_PKG_VERSION"), "-path"])
        .arg(vst3)
        .arg("-output")
        .arg(resources.join("moduleinfo.json"));
    run(cmd)
}

/// Runs both validators on the bundles in `dir`.
fn validate(validators: &Path, dir: &Path) -> Result<()> {
    println!("validating {}", dir.display());
    let mut cmd = Command::new(validators.join("validate"));
    cmd.arg(dir);
    run(cmd)
}

/// Bundles the debug `assert_process_allocs` library the host tests built, so the validators
/// run against a build that aborts on any allocation on the audio thread.
fn debug_bundles(lib: &Path) -> Result<PathBuf> {
    let plugin = Path::new("target/plugin-under-test/debug/libcontinuo.so");
    if !plugin.is_file() {
        bail!("{} is missing: the host tests build it", plugin.display());
    }
    let dir = PathBuf::from("target/bundled-allocs");
    let vst3_bin = dir.join("Continuo.vst3/Contents/x86_64-linux");
    std::fs::create_dir_all(&vst3_bin)?;
    std::fs::create_dir_all(dir.join("continuo"))?;
    std::fs::copy(plugin, dir.join("Continuo.clap"))?;
    std::fs::copy(plugin, vst3_bin.join("Continuo.so"))?;
    std::fs::copy(lib, vst3_bin.join(ORT_LIB))?;
    std::fs::copy(lib, dir.join("continuo").join(ORT_LIB))?;
    Ok(dir)
}

fn home() -> Result<PathBuf> {
    std::env::var_os("HOME")
        .map(PathBuf::from)
        .context("HOME is not set")
}

fn copy_dir(from: &Path, to: &Path) -> Result<()> {
    if to.exists() {
        std::fs::remove_dir_all(to)?;
    }
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_dir(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), target)?;
        }
    }
    Ok(())
}

fn install(no_install: bool) -> Result<()> {
    bundle(&["continuo".into(), "--release".into()])?;
    if no_install {
        println!("bundles are in target/bundled (not installed: --no-install)");
        return Ok(());
    }
    let home = home()?;
    let (clap_dir, vst3_dir) = (home.join(".clap"), home.join(".vst3"));
    std::fs::create_dir_all(&clap_dir)?;
    std::fs::create_dir_all(&vst3_dir)?;
    std::fs::copy(
        "target/bundled/Continuo.clap",
        clap_dir.join("Continuo.clap"),
    )?;
    copy_dir(
        Path::new("target/bundled/continuo"),
        &clap_dir.join("continuo"),
    )?;
    copy_dir(
        Path::new("target/bundled/Continuo.vst3"),
        &vst3_dir.join("Continuo.vst3"),
    )?;
    let data = std::env::var_os("XDG_DATA_HOME")
        .map(PathBuf::from)
        .unwrap_or(home.join(".local/share"))
        .join("continuo");
    // The plugin window lists the models in this folder. The built-in model is inside the
    // plugin; the other shipped models are copied here so the window offers them too.
    std::fs::create_dir_all(data.join("models"))?;
    for entry in std::fs::read_dir("models")? {
        let path = entry?.path();
        let name = path.file_name().unwrap_or_default();
        if path.is_dir() && name != BUILT_IN_MODEL {
            copy_dir(&path, &data.join("models").join(name))?;
        }
    }
    std::fs::copy(fetch_ort()?, data.join(ORT_LIB))?;
    println!(
        "installed Continuo.clap into {} and Continuo.vst3 into {}; \
         models you train into {} show up in the plugin window",
        clap_dir.display(),
        vst3_dir.display(),
        data.join("models").display()
    );
    Ok(())
}

/// The folder under `models/` the plugin embeds (see `plugin/src/worker.rs`).
const BUILT_IN_MODEL: &str = "chopin";

fn demo(args: &[String]) -> Result<()> {
    let lib = fetch_ort()?;
    let mut cmd = cargo();
    cmd.args([
        "run",
        "--release",
        "-p",
        "continuo",
        "--bin",
        "continuo-demo",
        "--",
    ])
    .args(args);
    cmd.env("ORT_DYLIB_PATH", std::fs::canonicalize(lib)?);
    run(cmd)
}

fn test(args: &[String]) -> Result<()> {
    let lib = fetch_ort()?;
    let mut cmd = cargo();
    cmd.args(["test", "--workspace"]).args(args);
    cmd.env("ORT_DYLIB_PATH", std::fs::canonicalize(&lib)?);
    run(cmd)?;
    let Some(validators) = found_validators() else {
        return Ok(());
    };
    // A host aborts on any allocation on the audio thread in this build.
    validate(&validators, &debug_bundles(&lib)?)
}

/// The release bundles through both validators: a release build (minutes), so it is a step
/// of its own, which `.ci/run` runs after the tests.
fn validate_release() -> Result<()> {
    let Some(validators) = found_validators() else {
        return Ok(());
    };
    install(true)?;
    validate(&validators, Path::new("target/bundled"))
}

fn found_validators() -> Option<PathBuf> {
    let found = validators_dir();
    if found.is_none() {
        println!(
            "plugin validators: skipped (not found; set CONTINUO_VALIDATORS to the folder \
             holding clap-validator, validator and validate)"
        );
    }
    found
}
