//! The bundles: nice-plug's bundler, ONNX Runtime and `moduleinfo.json` put in, and
//! installing them for this user.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};

use crate::ort::fetch_ort;
use crate::validate::plugin_under_test_path;
use crate::{moduleinfo, platform_arg, platforms, run, Platform};

/// Where `cargo xtask bundle` (nice-plug's bundler) puts the release bundles.
pub const BUNDLED: &str = "target/bundled";

/// nice-plug's bundler, then ONNX Runtime placed where the plugin looks for it.
pub fn bundle(args: &[String]) -> Result<()> {
    let platform = platform_arg(args)?;
    if !platform.is_host() {
        bail!("bundle builds for this machine; for Windows bundles from Linux, run `cargo xtask install --target x86_64-pc-windows-gnu --no-install`");
    }
    let lib = fetch_ort(&platform)?;
    nice_plug_xtask::main_with_args(
        "cargo xtask",
        std::iter::once("bundle".to_string()).chain(args.iter().cloned()),
    )?;
    let bundled = PathBuf::from(BUNDLED);
    place_runtime(&bundled, &platform, &lib)?;
    moduleinfo::write(&bundled.join("Continuo.vst3"))?;
    println!("bundles with ONNX Runtime in {}", bundled.display());
    Ok(())
}

/// Copies ONNX Runtime into the bundles under `dir`, beside the plugin binary, where the plugin
/// looks first (`library_locations` in `plugin/src/library.rs`).
pub fn place_runtime(dir: &Path, platform: &Platform, lib: &Path) -> Result<()> {
    let name = platform.library();
    let vst3 = dir.join("Continuo.vst3");
    let vst3_bin = vst3.join(platform.vst3_binary_dir());
    if vst3_bin.is_dir() {
        std::fs::copy(lib, vst3_bin.join(&name))?;
    }
    let clap = dir.join("Continuo.clap");
    if platform.os() == "macos" {
        // CLAP on macOS is a bundle like VST3; adding a file breaks the bundle's ad-hoc
        // signature, which Apple silicon needs, so both are signed again.
        let clap_bin = clap.join("Contents/MacOS");
        if clap_bin.is_dir() {
            std::fs::copy(lib, clap_bin.join(&name))?;
        }
        for bundle in [&clap, &vst3].into_iter().filter(|b| b.is_dir()) {
            let mut sign = Command::new("codesign");
            sign.args(["--force", "--deep", "--sign", "-"]).arg(bundle);
            if let Err(e) = run(sign) {
                println!(
                    "warning: could not sign {} again ({e:#}); a host may refuse it",
                    bundle.display()
                );
            }
        }
    } else {
        // CLAP on Linux and Windows is a single file, so the library goes into a `continuo/`
        // folder beside it, where it cannot clash with another plugin's copy.
        let side = dir.join("continuo");
        std::fs::create_dir_all(&side)?;
        std::fs::copy(lib, side.join(&name))?;
    }
    Ok(())
}

/// Bundles the debug `assert_process_allocs` library the host tests built, so the validators
/// run against a build that aborts on any allocation on the audio thread.
pub fn debug_bundles(lib: &Path) -> Result<PathBuf> {
    let plugin = &plugin_under_test_path();
    if !plugin.is_file() {
        bail!("{} is missing: the host tests build it", plugin.display());
    }
    let dir = PathBuf::from("target/bundled-allocs");
    let platform = Platform::host();
    let vst3_bin = dir.join("Continuo.vst3").join(platform.vst3_binary_dir());
    std::fs::create_dir_all(&vst3_bin)?;
    std::fs::copy(plugin, dir.join("Continuo.clap"))?;
    std::fs::copy(plugin, vst3_bin.join("Continuo.so"))?;
    place_runtime(&dir, &platform, lib)?;
    moduleinfo::write(&dir.join("Continuo.vst3"))?;
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

pub fn install(no_install: bool, target: Option<&str>) -> Result<()> {
    let platform = target.map_or(Ok(Platform::host()), Platform::of_target)?;
    if !platform.is_host() {
        if platform.os() != "windows" || !no_install {
            bail!(
                "from this machine, install cross-builds only Windows bundles, and cannot install them: \
                 cargo xtask install --target x86_64-pc-windows-gnu --no-install"
            );
        }
        let dir = platforms::windows_bundles(target.unwrap_or_default())?;
        println!(
            "Windows bundles are in {} (not installed: --no-install)",
            dir.display()
        );
        return Ok(());
    }
    bundle(&["continuo".into(), "--release".into()])?;
    if no_install {
        println!("bundles are in target/bundled (not installed: --no-install)");
        return Ok(());
    }
    let (clap_dir, vst3_dir) = plugin_dirs(&platform)?;
    std::fs::create_dir_all(&clap_dir)?;
    std::fs::create_dir_all(&vst3_dir)?;
    // `continuo/` holds the CLAP plugin's runtime where CLAP is a single file.
    for (name, to) in [
        ("Continuo.clap", &clap_dir),
        ("continuo", &clap_dir),
        ("Continuo.vst3", &vst3_dir),
    ] {
        let from = Path::new(BUNDLED).join(name);
        if from.is_dir() {
            copy_dir(&from, &to.join(name))?;
        } else if from.is_file() {
            std::fs::copy(&from, to.join(name))?;
        }
    }
    let data = user_data_dir(&platform)?;
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
    std::fs::copy(fetch_ort(&platform)?, data.join(platform.library()))?;
    println!(
        "installed Continuo.clap into {} and Continuo.vst3 into {}; \
         models you train into {} show up in the plugin window",
        clap_dir.display(),
        vst3_dir.display(),
        data.join("models").display()
    );
    Ok(())
}

/// The folders hosts scan for CLAP and VST3 plugins. On Windows these are system-wide, as
/// the CLAP and VST3 specifications name them, so installing there needs an administrator.
fn plugin_dirs(platform: &Platform) -> Result<(PathBuf, PathBuf)> {
    Ok(match platform.os() {
        "windows" => {
            let common = std::env::var_os("COMMONPROGRAMFILES")
                .map(PathBuf::from)
                .context("COMMONPROGRAMFILES is not set")?;
            (common.join("CLAP"), common.join("VST3"))
        }
        "macos" => {
            let plug_ins = home()?.join("Library/Audio/Plug-Ins");
            (plug_ins.join("CLAP"), plug_ins.join("VST3"))
        }
        _ => (home()?.join(".clap"), home()?.join(".vst3")),
    })
}

/// The plugin's per-user data folder (`user_data_dir` in `plugin/src/location.rs`).
fn user_data_dir(platform: &Platform) -> Result<PathBuf> {
    Ok(match platform.os() {
        "windows" => std::env::var_os("APPDATA")
            .map(PathBuf::from)
            .context("APPDATA is not set")?
            .join("Continuo"),
        "macos" => home()?.join("Library/Application Support/Continuo"),
        _ => std::env::var_os("XDG_DATA_HOME")
            .map(PathBuf::from)
            .unwrap_or(home()?.join(".local/share"))
            .join("continuo"),
    })
}

/// The folder under `models/` the plugin embeds (see `plugin/src/library.rs`).
const BUILT_IN_MODEL: &str = "keyboard";
