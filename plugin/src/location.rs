//! Where this plugin lives on disk, so it can find the ONNX Runtime library shipped beside it.

use std::path::PathBuf;

/// Folder of the shared library this code was loaded from.
#[cfg(unix)]
pub fn plugin_binary_dir() -> Option<PathBuf> {
    use std::ffi::CStr;
    // SAFETY: dladdr only reads the loader's tables; the address is a function in this library.
    unsafe {
        let mut info: libc::Dl_info = std::mem::zeroed();
        let addr = plugin_binary_dir as *const libc::c_void;
        if libc::dladdr(addr, &mut info) == 0 || info.dli_fname.is_null() {
            return None;
        }
        let path = PathBuf::from(
            CStr::from_ptr(info.dli_fname)
                .to_string_lossy()
                .into_owned(),
        );
        let path = std::fs::canonicalize(&path).unwrap_or(path);
        path.parent().map(PathBuf::from)
    }
}

#[cfg(not(unix))]
pub fn plugin_binary_dir() -> Option<PathBuf> {
    None
}

/// Per-user data folder where `cargo xtask install` puts ONNX Runtime and user models.
pub fn user_data_dir() -> Option<PathBuf> {
    if cfg!(target_os = "macos") {
        std::env::var_os("HOME")
            .map(|h| PathBuf::from(h).join("Library/Application Support/Continuo"))
    } else if cfg!(windows) {
        std::env::var_os("APPDATA").map(|a| PathBuf::from(a).join("Continuo"))
    } else {
        std::env::var_os("XDG_DATA_HOME")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/share")))
            .map(|d| d.join("continuo"))
    }
}
