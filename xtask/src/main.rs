//! `cargo xtask …`: setting up, bundling, installing and demoing Continuo.
//!
//! * `fetch-ort [--target T]` — download the pinned ONNX Runtime library (PyPI wheel, checksum
//!   verified) for this machine or for target T
//! * `bundle …` — nice-plug's bundler (reads `bundler.toml`), plus ONNX Runtime in the bundles
//! * `install [--no-install] [--target T]` — fetch-ort + release bundles, copied to the user's
//!   plugin folders; `--target x86_64-pc-windows-gnu` cross-builds the Windows bundles into
//!   `target/bundled-windows` instead
//! * `demo [--prompt in.mid] [--out DIR]` — continue a prompt through the plugin's engine
//! * `test` — fetch-ort + the whole test suite, then the plugin validators on the debug
//!   `assert_process_allocs` build where they are found (`$CONTINUO_VALIDATORS`, or
//!   `../shared/tools/plugin-validators`)
//! * `validate` — release bundles, then both validators on them (what `.ci/run` adds)
//! * `check-platforms` — Windows bundles tested under wine, macOS compiled (see `platforms.rs`)

mod platforms;

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};
use sha2::{Digest, Sha256};

const ORT_VERSION: &str = "1.31.1";

/// ONNX Runtime for one platform, from the `onnxruntime` wheel on PyPI. The wheel is fixed
/// (platform and Python tag) so that its checksum, and the library's, can be pinned.
struct OrtBuild {
    /// `<os>-<arch>` as Rust's `std::env::consts` spell them; also the folder under `.cache/ort`.
    platform: &'static str,
    pip_platform: &'static str,
    wheel: &'static str,
    wheel_sha256: &'static str,
    /// Of the wheel's `onnxruntime/capi/<Platform::library>`.
    library_sha256: &'static str,
}

/// PyPI has no 1.31.1 wheel for Intel Macs (its last is 1.23.2), so there is none here.
const ORT_BUILDS: &[OrtBuild] = &[
    OrtBuild {
        platform: "linux-x86_64",
        pip_platform: "manylinux_2_28_x86_64",
        wheel: "onnxruntime-1.31.1-cp311-cp311-manylinux_2_28_x86_64.whl",
        wheel_sha256: "5752bd508126ae7c49894d3b9d2e83f0c3d487319246d04c444b393308d7ad7f",
        library_sha256: "fc44112fbe06d7d689c57e11d3862031f64711007e4ee020f8eed5185fd2c1d3",
    },
    OrtBuild {
        platform: "windows-x86_64",
        pip_platform: "win_amd64",
        wheel: "onnxruntime-1.31.1-cp311-cp311-win_amd64.whl",
        wheel_sha256: "c3d91b5de31e2fc82d71bd65b2b22bddee8b49057a3a36338e9a868e0ea90c05",
        library_sha256: "8482d2ee174e28504f99730fb01d6861575870283de4ed3a897ad39170d9a9b9",
    },
    OrtBuild {
        platform: "macos-aarch64",
        pip_platform: "macosx_14_0_arm64",
        wheel: "onnxruntime-1.31.1-cp311-cp311-macosx_14_0_arm64.whl",
        wheel_sha256: "60b6b69bfe580eab576cacc5d132a0e9cf2a37fcfd18d46dd191042b1d1ed0d7",
        library_sha256: "f8b06155feece624e55e49124340eea279da812529ae6fbc46a9f2be9c9cad2e",
    },
];

/// A platform as `<os>-<arch>` (`linux-x86_64`, `windows-x86_64`, `macos-aarch64`): the host's,
/// or a Rust target triple's.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Platform(String);

impl Platform {
    fn host() -> Self {
        Platform(format!(
            "{}-{}",
            std::env::consts::OS,
            std::env::consts::ARCH
        ))
    }

    fn of_target(triple: &str) -> Result<Self> {
        let arch = triple.split('-').next().unwrap_or_default();
        let os = if triple.contains("-windows") {
            "windows"
        } else if triple.contains("-apple-darwin") {
            "macos"
        } else if triple.contains("-linux") {
            "linux"
        } else {
            bail!("unknown target {triple}: expected a Linux, Windows or macOS triple");
        };
        Ok(Platform(format!("{os}-{arch}")))
    }

    fn os(&self) -> &str {
        self.0.split('-').next().unwrap_or_default()
    }

    /// The runtime library's file name, as in the wheel and as the plugin looks for it
    /// (`ORT_LIBRARY` in `core/src/runtime.rs`, for the platform it is built for).
    fn library(&self) -> String {
        match self.os() {
            "windows" => "onnxruntime.dll".into(),
            "macos" => format!("libonnxruntime.{ORT_VERSION}.dylib"),
            _ => format!("libonnxruntime.so.{ORT_VERSION}"),
        }
    }

    /// The plugin's shared library, as cargo names it for this platform.
    fn plugin_library_name(&self) -> &'static str {
        match self.os() {
            "windows" => "continuo.dll",
            "macos" => "libcontinuo.dylib",
            _ => "libcontinuo.so",
        }
    }

    /// The folder of a VST3 bundle that holds the plugin binary.
    fn vst3_binary_dir(&self) -> String {
        let arch = self.0.split('-').nth(1).unwrap_or_default();
        match self.os() {
            "macos" => "Contents/MacOS".into(),
            "windows" => format!("Contents/{arch}-win"),
            os => format!("Contents/{arch}-{os}"),
        }
    }

    fn is_host(&self) -> bool {
        *self == Self::host()
    }

    fn ort(&self) -> Result<&'static OrtBuild> {
        ORT_BUILDS.iter().find(|b| b.platform == self.0).with_context(|| {
            let pinned: Vec<_> = ORT_BUILDS.iter().map(|b| b.platform).collect();
            format!(
                "no ONNX Runtime {ORT_VERSION} is pinned for {} (pinned: {}; PyPI has no {ORT_VERSION} wheel for \
                 Intel Macs). Build or download libonnxruntime {ORT_VERSION} for it and set ORT_DYLIB_PATH",
                self.0,
                pinned.join(", ")
            )
        })
    }
}

/// The value of `--target` among `args`, if given.
fn target_arg(args: &[String]) -> Result<Option<String>> {
    let mut it = args.iter();
    while let Some(a) = it.next() {
        if let Some(t) = a.strip_prefix("--target=") {
            return Ok(Some(t.into()));
        }
        if a == "--target" {
            return it
                .next()
                .cloned()
                .map(Some)
                .context("--target needs a value");
        }
    }
    Ok(None)
}

fn platform_arg(args: &[String]) -> Result<Platform> {
    target_arg(args)?.map_or(Ok(Platform::host()), |t| Platform::of_target(&t))
}

fn main() -> Result<()> {
    nice_plug_xtask::chdir_workspace_root()?;
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("fetch-ort") => platform_arg(&args[1..]).and_then(|p| fetch_ort(&p).map(|_| ())),
        Some("bundle") => bundle(&args[1..]),
        Some("install") => target_arg(&args[1..])
            .and_then(|t| install(args.iter().any(|a| a == "--no-install"), t.as_deref())),
        Some("demo") => demo(&args[1..]),
        Some("test") => test(&args[1..]),
        Some("validate") => validate_release(),
        Some("check-platforms") => platforms::check(),
        _ => {
            eprintln!(
                "usage: cargo xtask <command>\n\n  fetch-ort [--target T] download ONNX Runtime {ORT_VERSION} into .cache/ort/<os>-<arch>\n  \
                 bundle <pkg> [opts]    build CLAP + VST3 bundles into target/bundled\n  \
                 install [--no-install] [--target T]\n                         release bundles with the default model and ONNX Runtime, installed for this user\n                         (--target x86_64-pc-windows-gnu --no-install: Windows bundles into target/bundled-windows)\n  \
                 demo [--prompt F] [--out D]  continue a MIDI prompt headlessly (writes .mid and .png)\n  \
                 test                   set up and run every test (and the validators, if found)\n  \
                 validate               release bundles through both plugin validators\n  \
                 check-platforms        Windows bundles tested under wine; macOS targets compiled"
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

/// Returns the path of the verified ONNX Runtime library for `platform`, downloading it if
/// needed. `ORT_DYLIB_PATH` stands in for this machine's own.
fn fetch_ort(platform: &Platform) -> Result<PathBuf> {
    if let Some(p) = std::env::var_os("ORT_DYLIB_PATH").filter(|_| platform.is_host()) {
        let p = PathBuf::from(p);
        if !p.is_file() {
            bail!("ORT_DYLIB_PATH is set to {}, which does not exist. Unset it, or point it at libonnxruntime {ORT_VERSION}", p.display());
        }
        println!("using ONNX Runtime from ORT_DYLIB_PATH={}", p.display());
        return Ok(p);
    }
    let build = platform.ort()?;
    let dir = Path::new(".cache/ort").join(build.platform);
    let name = platform.library();
    let lib = dir.join(&name);
    if lib.is_file() && sha256(&lib)? == build.library_sha256 {
        println!(
            "ONNX Runtime {ORT_VERSION} for {} (verified) at {}",
            build.platform,
            lib.display()
        );
        return Ok(lib);
    }
    std::fs::create_dir_all(&dir)?;
    let wheel = dir.join(build.wheel);
    if !wheel.is_file() || sha256(&wheel)? != build.wheel_sha256 {
        println!(
            "downloading onnxruntime=={ORT_VERSION} for {} from PyPI …",
            build.platform
        );
        let python = which_python()?;
        let status = Command::new(&python)
            .args(["-m", "pip", "download", "--no-deps", "--only-binary=:all:"])
            .args(["--platform", build.pip_platform])
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
                 connection and run again, or copy {} into {}/ by hand, or set ORT_DYLIB_PATH to an \
                 existing libonnxruntime {ORT_VERSION}",
                build.wheel,
                dir.display()
            );
        }
        let got = sha256(&wheel).with_context(|| format!("pip did not produce {}", build.wheel))?;
        if got != build.wheel_sha256 {
            bail!(
                "checksum mismatch for {}: expected {}, got {got}. Delete the file and retry",
                wheel.display(),
                build.wheel_sha256
            );
        }
    }
    let python = which_python()?;
    let status = Command::new(&python)
        .args(["-c", "import sys, zipfile; open(sys.argv[3], 'wb').write(zipfile.ZipFile(sys.argv[1]).read(sys.argv[2]))"])
        .arg(&wheel)
        .arg(format!("onnxruntime/capi/{name}"))
        .arg(&lib)
        .status()?;
    if !status.success() || sha256(&lib)? != build.library_sha256 {
        bail!(
            "could not extract a verified {name} from {}",
            wheel.display()
        );
    }
    println!(
        "ONNX Runtime {ORT_VERSION} for {} ready at {}",
        build.platform,
        lib.display()
    );
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
    let platform = platform_arg(args)?;
    if !platform.is_host() {
        bail!("bundle builds for this machine; for Windows bundles from Linux, run `cargo xtask install --target x86_64-pc-windows-gnu --no-install`");
    }
    let lib = fetch_ort(&platform)?;
    nice_plug_xtask::main_with_args(
        "cargo xtask",
        std::iter::once("bundle".to_string()).chain(args.iter().cloned()),
    )?;
    let bundled = PathBuf::from("target/bundled");
    place_runtime(&bundled, &platform, &lib)?;
    module_info(&bundled.join("Continuo.vst3"))?;
    println!("bundles with ONNX Runtime in {}", bundled.display());
    Ok(())
}

/// Copies ONNX Runtime into the bundles under `dir`, beside the plugin binary, where the plugin
/// looks first (`library_locations` in `plugin/src/library.rs`).
fn place_runtime(dir: &Path, platform: &Platform, lib: &Path) -> Result<()> {
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

/// Where the host tests' plugin library is kept: the debug build with
/// `assert_process_allocs`, which aborts on any allocation on the audio thread.
fn plugin_under_test_path() -> PathBuf {
    Path::new("target/plugin-under-test/debug").join(Platform::host().plugin_library_name())
}

/// Bundles the debug `assert_process_allocs` library the host tests built, so the validators
/// run against a build that aborts on any allocation on the audio thread.
fn debug_bundles(lib: &Path) -> Result<PathBuf> {
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

fn install(no_install: bool, target: Option<&str>) -> Result<()> {
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
        let from = Path::new("target/bundled").join(name);
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
const BUILT_IN_MODEL: &str = "chopin";

fn demo(args: &[String]) -> Result<()> {
    let lib = fetch_ort(&Platform::host())?;
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
    let lib = fetch_ort(&Platform::host())?;
    // The host tests load the plugin library built here, with `assert_process_allocs` on
    // for the whole workspace, so that the test build that follows reuses every dependency
    // (a build of the library alone resolves features differently and compiles many of them
    // again; `cargo test` itself does not write the library).
    let features = ["--features", "continuo/assert_process_allocs"];
    let mut build = cargo();
    build.args([
        "build",
        "--workspace",
        "--lib",
        "--bins",
        "--tests",
        "--examples",
    ]);
    build.args(features);
    run(build)?;
    let built = Path::new("target/debug").join(Platform::host().plugin_library_name());
    let kept = plugin_under_test_path();
    std::fs::create_dir_all(kept.parent().expect("a folder"))?;
    std::fs::copy(&built, &kept)
        .with_context(|| format!("copying {} to {}", built.display(), kept.display()))?;
    let mut cmd = cargo();
    cmd.args(["test", "--workspace"]).args(features).args(args);
    cmd.env("ORT_DYLIB_PATH", std::fs::canonicalize(&lib)?);
    // A later build of the plugin overwrites `built`; the copy is what the tests load.
    cmd.env("CONTINUO_PLUGIN_LIB", std::fs::canonicalize(&kept)?);
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
    install(true, None)?;
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
