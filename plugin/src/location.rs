//! Where this plugin lives on disk, so it can find the ONNX Runtime library shipped beside it.

use std::path::PathBuf;

/// Folder of the shared library (or, in the demo, the executable) this code was loaded from.
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

/// Folder of the DLL (or, in the demo, the .exe) this code was loaded from.
#[cfg(windows)]
pub fn plugin_binary_dir() -> Option<PathBuf> {
    use std::ffi::{c_void, OsString};
    use std::os::windows::ffi::OsStringExt;
    // kernel32 is linked into every Windows program; declaring the two calls here spares a
    // bindings crate.
    #[link(name = "kernel32")]
    extern "system" {
        fn GetModuleHandleExW(flags: u32, address: *const u16, module: *mut *mut c_void) -> i32;
        fn GetModuleFileNameW(module: *mut c_void, name: *mut u16, size: u32) -> u32;
    }
    const FROM_ADDRESS: u32 = 0x4;
    // The DLL is not unloaded while its own code runs, so no reference needs to be held.
    const UNCHANGED_REFCOUNT: u32 = 0x2;
    let mut module = std::ptr::null_mut();
    let addr = plugin_binary_dir as *const u16;
    // SAFETY: the address is a function in this module; `module` receives its handle, which
    // GetModuleFileNameW only reads.
    unsafe {
        if GetModuleHandleExW(FROM_ADDRESS | UNCHANGED_REFCOUNT, addr, &mut module) == 0 {
            return None;
        }
        // Long paths (\\?\ prefixed) may exceed MAX_PATH.
        let mut buf = vec![0u16; 32_768];
        let len = GetModuleFileNameW(module, buf.as_mut_ptr(), buf.len() as u32) as usize;
        if len == 0 || len >= buf.len() {
            return None;
        }
        let path = PathBuf::from(OsString::from_wide(&buf[..len]));
        path.parent().map(PathBuf::from)
    }
}

#[cfg(not(any(unix, windows)))]
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
