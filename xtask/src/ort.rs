//! ONNX Runtime for each platform Continuo ships on: the pinned wheels from PyPI, checked by
//! SHA-256 and cached under `.cache/ort/<os>-<arch>/`.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};
use sha2::{Digest, Sha256};

use crate::{run, Platform};

pub const ORT_VERSION: &str = "1.31.1";

/// ONNX Runtime for one platform, from the `onnxruntime` wheel on PyPI. The wheel is fixed
/// (platform and Python tag) so that its checksum, and the library's, can be pinned.
pub struct OrtBuild {
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

impl Platform {
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

fn sha256(path: &Path) -> Result<String> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    Ok(Sha256::digest(&bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect())
}

/// Returns the path of the verified ONNX Runtime library for `platform`, downloading it if
/// needed. `ORT_DYLIB_PATH` stands in for this machine's own.
pub fn fetch_ort(platform: &Platform) -> Result<PathBuf> {
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
