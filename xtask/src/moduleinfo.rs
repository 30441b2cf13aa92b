//! A VST3 bundle's `Contents/Resources/moduleinfo.json`: the plugin's class as a host scanning
//! the bundle reads it, without loading the plugin. Steinberg's `moduleinfotool` writes it by
//! loading the built plugin, which only works for this machine's platform and where the tool
//! is installed; written here from the plugin's own metadata, every bundle has one.

use std::path::Path;

use anyhow::{Context, Result};
use serde::Serialize;

// The CLAP ids and layouts are the plugin's business; moduleinfo.json needs the rest.
#[allow(dead_code)]
#[path = "../../plugin/src/metadata.rs"]
mod metadata;

/// What nice-plug's VST3 factory reports for every plugin (`wrapper/vst3/factory.rs`).
const SDK_VERSION: &str = "VST 3.6.14";
const CATEGORY: &str = "Audio Module Class";
/// `kSimpleModeSupported`.
const CLASS_FLAGS: u32 = 1 << 1;
/// `kManyInstances`.
const CARDINALITY: i32 = 0x7FFF_FFFF;

/// The file's keys, spelled and ordered as the SDK's `moduleinfotool` writes them.
#[derive(Debug, Serialize)]
struct ModuleInfo {
    #[serde(rename = "Name")]
    name: String,
    #[serde(rename = "Version")]
    version: &'static str,
    #[serde(rename = "Factory Info")]
    factory: FactoryInfo,
    #[serde(rename = "Classes")]
    classes: Vec<ClassInfo>,
}

#[derive(Debug, Serialize)]
struct FactoryInfo {
    #[serde(rename = "Vendor")]
    vendor: &'static str,
    #[serde(rename = "URL")]
    url: &'static str,
    #[serde(rename = "E-Mail")]
    email: &'static str,
    #[serde(rename = "Flags")]
    flags: FactoryFlags,
}

#[derive(Debug, Serialize)]
struct FactoryFlags {
    #[serde(rename = "Unicode")]
    unicode: bool,
    #[serde(rename = "Classes Discardable")]
    classes_discardable: bool,
    #[serde(rename = "Component Non Discardable")]
    component_non_discardable: bool,
}

#[derive(Debug, Serialize)]
struct ClassInfo {
    #[serde(rename = "CID")]
    cid: String,
    #[serde(rename = "Category")]
    category: &'static str,
    #[serde(rename = "Name")]
    name: &'static str,
    #[serde(rename = "Vendor")]
    vendor: &'static str,
    #[serde(rename = "Version")]
    version: &'static str,
    #[serde(rename = "SDKVersion")]
    sdk_version: &'static str,
    #[serde(rename = "Sub Categories")]
    sub_categories: &'static [&'static str],
    #[serde(rename = "Class Flags")]
    class_flags: u32,
    #[serde(rename = "Cardinality")]
    cardinality: i32,
    /// Pictures of the plugin's window for a host's browser, per scale factor: none.
    #[serde(rename = "Snapshots")]
    snapshots: [(); 0],
}

/// The module info of a bundle named `module` (the bundle's name without `.vst3`).
fn module_info(module: &str) -> ModuleInfo {
    ModuleInfo {
        name: module.to_string(),
        version: metadata::VERSION,
        factory: FactoryInfo {
            vendor: metadata::VENDOR,
            url: metadata::URL,
            email: metadata::EMAIL,
            flags: FactoryFlags {
                unicode: true,
                classes_discardable: false,
                component_non_discardable: false,
            },
        },
        classes: metadata::VARIANTS
            .iter()
            .map(|v| ClassInfo {
                // The canonical spelling of a VST3 UID on every platform, whatever byte order
                // Windows keeps it in.
                cid: v.vst3_class_id.iter().map(|b| format!("{b:02X}")).collect(),
                category: CATEGORY,
                name: v.name,
                vendor: metadata::VENDOR,
                version: metadata::VERSION,
                sdk_version: SDK_VERSION,
                sub_categories: v.vst3_subcategories,
                class_flags: CLASS_FLAGS,
                cardinality: CARDINALITY,
                snapshots: [],
            })
            .collect(),
    }
}

/// The JSON for the bundle at `vst3`.
fn json(vst3: &Path) -> Result<String> {
    let module = vst3
        .file_stem()
        .and_then(|s| s.to_str())
        .with_context(|| format!("{} has no bundle name", vst3.display()))?;
    Ok(serde_json::to_string_pretty(&module_info(module))?)
}

/// Writes `Contents/Resources/moduleinfo.json` into the VST3 bundle at `vst3`, if it exists.
pub fn write(vst3: &Path) -> Result<()> {
    if !vst3.is_dir() {
        return Ok(());
    }
    let resources = vst3.join("Contents/Resources");
    std::fs::create_dir_all(&resources)?;
    let path = resources.join("moduleinfo.json");
    std::fs::write(&path, json(vst3)? + "\n").with_context(|| format!("writing {}", path.display()))
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;
    use std::process::Command;

    use super::*;
    use crate::validate::validators_dir_beside;
    use crate::Platform;

    /// The tool's JSON5, as JSON: it ends every member of an object or array with a comma.
    fn without_trailing_commas(text: &str) -> String {
        let chars: Vec<char> = text.chars().collect();
        let mut out = String::with_capacity(text.len());
        let (mut in_string, mut escaped) = (false, false);
        for (i, &c) in chars.iter().enumerate() {
            if in_string {
                in_string = escaped || c != '"';
                escaped = !escaped && c == '\\';
            } else if c == '"' {
                in_string = true;
            } else if c == ',' {
                let next = chars[i + 1..].iter().find(|c| !c.is_whitespace());
                if matches!(next, Some('}' | ']')) {
                    continue;
                }
            }
            out.push(c);
        }
        out
    }

    #[test]
    fn trailing_commas_go_but_commas_in_strings_stay() {
        let text = "{\"a\": [1, 2,\n],\n \"b,]\": \"x\\\",}\",\n}";
        let value: serde_json::Value =
            serde_json::from_str(&without_trailing_commas(text)).unwrap();
        assert_eq!(value, serde_json::json!({"a": [1, 2], "b,]": "x\",}"}));
    }

    /// The plugin library the host tests load (`cargo xtask test` builds it and names it);
    /// a plain `cargo test` has none, and this test does not start a build of its own.
    fn plugin_library() -> Option<PathBuf> {
        std::env::var_os("CONTINUO_PLUGIN_LIB").map(PathBuf::from)
    }

    #[test]
    fn matches_what_moduleinfotool_writes() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
        let Some(tool) = validators_dir_beside(root)
            .map(|d| d.join("moduleinfotool"))
            .filter(|t| t.is_file())
        else {
            println!("skipped: moduleinfotool not found (set CONTINUO_VALIDATORS to its folder)");
            return;
        };
        let platform = Platform::host();
        if platform.os() != "linux" {
            println!("skipped: the tool in the validators' folder runs on Linux");
            return;
        }
        let Some(library) = plugin_library() else {
            println!("skipped: no plugin library (`cargo xtask test` builds one and sets CONTINUO_PLUGIN_LIB)");
            return;
        };
        let dir = std::env::temp_dir().join(format!("continuo-moduleinfo-{}", std::process::id()));
        let vst3 = dir.join("Continuo.vst3");
        let bin = vst3.join(platform.vst3_binary_dir());
        std::fs::create_dir_all(&bin).unwrap();
        std::fs::copy(library, bin.join("Continuo.so")).unwrap();

        let out = Command::new(&tool)
            .args(["-create", "-version", metadata::VERSION, "-path"])
            .arg(&vst3)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let theirs = without_trailing_commas(&String::from_utf8(out.stdout).unwrap());
        let theirs: serde_json::Value = serde_json::from_str(&theirs).unwrap();
        let ours: serde_json::Value = serde_json::from_str(&json(&vst3).unwrap()).unwrap();

        // And the tool, which checks a bundle's file against the plugin, accepts ours.
        write(&vst3).unwrap();
        let check = Command::new(&tool)
            .args(["-validate", "-path"])
            .arg(&vst3)
            .output()
            .unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(ours, theirs);
        assert!(
            check.status.success(),
            "{}{}",
            String::from_utf8_lossy(&check.stdout),
            String::from_utf8_lossy(&check.stderr)
        );
    }
}
