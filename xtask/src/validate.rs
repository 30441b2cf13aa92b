//! `test` and `validate`: the test suite on the build the host tests load, and both plugin
//! validators on the bundles.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result};

use crate::bundle::{debug_bundles, install};
use crate::ort::fetch_ort;
use crate::{cargo, run, Platform};

/// Where Steinberg's and free-audio's validators (and `moduleinfotool`) are, if anywhere:
/// `$CONTINUO_VALIDATORS`, else the `shared/tools` folder beside this checkout.
pub fn validators_dir() -> Option<PathBuf> {
    validators_dir_beside(Path::new(""))
}

/// [`validators_dir`] for the checkout at `root`.
pub fn validators_dir_beside(root: &Path) -> Option<PathBuf> {
    std::env::var_os("CONTINUO_VALIDATORS")
        .map(PathBuf::from)
        .or_else(|| Some(root.join("../shared/tools/plugin-validators")))
        .filter(|d| d.join("validate").is_file())
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
pub fn plugin_under_test_path() -> PathBuf {
    Path::new("target/plugin-under-test/debug").join(Platform::host().plugin_library_name())
}

pub fn test(args: &[String]) -> Result<()> {
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
pub fn validate_release() -> Result<()> {
    let Some(validators) = found_validators() else {
        return Ok(());
    };
    install(true, None)?;
    validate(&validators, Path::new(crate::bundle::BUNDLED))
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
