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
//! * `ardour [--bundle DIR]` — the VST3 bundle in Ardour 7, headless: recorded in real time,
//!   saved and reopened, exported at two buffer sizes (see `ardour.rs`)

#[cfg(unix)]
mod ardour;
mod bundle;
mod moduleinfo;
mod ort;
mod platforms;
mod validate;

use std::process::Command;

use anyhow::{bail, Context, Result};

use ort::{fetch_ort, ORT_VERSION};

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
        Some("bundle") => bundle::bundle(&args[1..]),
        Some("install") => target_arg(&args[1..])
            .and_then(|t| bundle::install(args.iter().any(|a| a == "--no-install"), t.as_deref())),
        Some("demo") => demo(&args[1..]),
        Some("test") => validate::test(&args[1..]),
        Some("validate") => validate::validate_release(),
        Some("check-platforms") => platforms::check(),
        #[cfg(unix)]
        Some("ardour") => ardour::check(&args[1..]),
        #[cfg(not(unix))]
        Some("ardour") => {
            println!("Ardour check: skipped (it drives Ardour's Linux build)");
            Ok(())
        }
        _ => {
            eprintln!(
                "usage: cargo xtask <command>\n\n  fetch-ort [--target T] download ONNX Runtime {ORT_VERSION} into .cache/ort/<os>-<arch>\n  \
                 bundle <pkg> [opts]    build CLAP + VST3 bundles into target/bundled\n  \
                 install [--no-install] [--target T]\n                         release bundles with the default model and ONNX Runtime, installed for this user\n                         (--target x86_64-pc-windows-gnu --no-install: Windows bundles into target/bundled-windows)\n  \
                 demo [--prompt F] [--out D]  continue a MIDI prompt headlessly (writes .mid and .png; --help: its flags)\n  \
                 test                   set up and run every test (and the validators, if found)\n  \
                 validate               release bundles through both plugin validators\n  \
                 check-platforms        Windows bundles tested under wine; macOS targets compiled\n  \
                 ardour [--bundle D]    the VST3 bundle in Ardour 7 (headless): real time, reopened, exported"
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
