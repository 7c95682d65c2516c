//! # ssl-link
//!
//! Lets the executables of a crate that links libtorch through `tch` find libtorch at
//! run time, without `LD_LIBRARY_PATH`. Call [`libtorch`] from the crate's `build.rs`:
//!
//! ```no_run
//! // build.rs: fn main() { ... }
//! ssl_link::libtorch();
//! ```
//!
//! Why a build script: `torch-sys` links libtorch for every dependent, but an rpath is
//! a link argument, and cargo passes a build script's link arguments only to the
//! package's own executables. So each package that builds executables (yours, and
//! every crate of this toolkit for its tests) asks for the rpath itself.
//!
//! libtorch is looked up like `torch-sys` does: `LIBTORCH_LIB`, else `LIBTORCH`, else
//! (with `LIBTORCH_USE_PYTORCH` set) the PyTorch of the active Python.
use std::path::{Path, PathBuf};
use std::process::Command;

/// Where libtorch's shared libraries are, and whether its CUDA libraries are there too.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Libtorch {
    /// The folder holding `libtorch_cpu.so` (as given, not canonicalised, so that a
    /// link to a libtorch can later point elsewhere without a rebuild).
    pub lib: PathBuf,
    /// Whether `libtorch_cuda.so` is there and its CUDA dependencies (cuDNN) with it.
    pub cuda: bool,
}

/// Finds libtorch and prints the cargo instructions that embed an rpath to it in this
/// package's executables and, where CUDA is available, link `libtorch` in full.
/// Returns what was found; prints a cargo warning (the build goes on) when nothing is.
pub fn libtorch() -> Option<Libtorch> {
    for var in ["LIBTORCH", "LIBTORCH_LIB", "LIBTORCH_USE_PYTORCH", "VIRTUAL_ENV"] {
        println!("cargo:rerun-if-env-changed={var}");
    }
    match find() {
        Ok(found) => {
            emit(&found);
            Some(found)
        }
        Err(why) => {
            println!("cargo:warning=ssl-link: {why}; executables will need LD_LIBRARY_PATH to find libtorch");
            None
        }
    }
}

/// Locates libtorch from the environment, like `torch-sys` does, without printing
/// anything.
pub fn find() -> Result<Libtorch, String> {
    let lib = if let Some(lib) = std::env::var_os("LIBTORCH_LIB") {
        PathBuf::from(lib).join("lib")
    } else if let Some(root) = std::env::var_os("LIBTORCH") {
        PathBuf::from(root).join("lib")
    } else if std::env::var_os("LIBTORCH_USE_PYTORCH").is_some() {
        pytorch_lib()?
    } else {
        return Err("neither LIBTORCH, LIBTORCH_LIB nor LIBTORCH_USE_PYTORCH is set".into());
    };
    if !lib.exists() {
        return Err(format!("{} does not exist", lib.display()));
    }
    let cuda = lib.join("libtorch_cuda.so").exists() && has_cuda_dependencies(&lib);
    Ok(Libtorch { lib, cuda })
}

/// The cargo instructions for a found libtorch.
fn emit(found: &Libtorch) {
    println!("cargo:rerun-if-changed={}", found.lib.display());
    let target = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    if target == "linux" || target == "macos" {
        println!("cargo:rustc-link-arg=-Wl,-rpath,{}", found.lib.display());
    }
    if found.cuda && target == "linux" {
        // A dependent links only the libtorch_* libraries it uses symbols of, and no
        // symbol of libtorch_cuda is used directly: without this the CUDA backend is
        // never loaded.
        println!("cargo:rustc-link-arg=-Wl,--push-state,--no-as-needed,-ltorch,--pop-state");
    }
}

/// The PyPI wheel always ships `libtorch_cuda.so`, but a CPU-only install of it may lack
/// the CUDA libraries it needs; linking it then would fail at start. cuDNN stands for
/// them: in the libtorch archive it sits in `lib/`, in the wheel beside `torch/`.
fn has_cuda_dependencies(lib: &Path) -> bool {
    let canonical = lib.canonicalize().unwrap_or_else(|_| lib.to_path_buf());
    let in_lib = std::fs::read_dir(&canonical).map(|dir| dir.flatten().any(|e| e.file_name().to_string_lossy().starts_with("libcudnn"))).unwrap_or(false);
    let beside = canonical.parent().and_then(Path::parent).map(|site| site.join("nvidia").join("cudnn").exists());
    in_lib || beside.unwrap_or(false)
}

/// The `lib` folder of the active Python's PyTorch (`LIBTORCH_USE_PYTORCH`).
fn pytorch_lib() -> Result<PathBuf, String> {
    let python = if std::env::var_os("VIRTUAL_ENV").is_some() { "python" } else { "python3" };
    let out = Command::new(python)
        .args(["-c", "import os, torch; print(os.path.join(os.path.dirname(torch.__file__), 'lib'))"])
        .output()
        .map_err(|e| format!("LIBTORCH_USE_PYTORCH is set but {python} could not be run: {e}"))?;
    if !out.status.success() {
        return Err(format!("LIBTORCH_USE_PYTORCH is set but {python} could not import torch"));
    }
    Ok(PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cuda_needs_cudnn_beside_or_inside() {
        let root = std::env::temp_dir().join(format!("ssl-link-test-{}", std::process::id()));
        let lib = root.join("site").join("torch").join("lib");
        std::fs::create_dir_all(&lib).unwrap();
        assert!(!has_cuda_dependencies(&lib), "an empty lib folder has no CUDA libraries");
        std::fs::create_dir_all(root.join("site").join("nvidia").join("cudnn")).unwrap();
        assert!(has_cuda_dependencies(&lib), "the wheel layout: nvidia/cudnn beside torch/");
        std::fs::remove_dir_all(root.join("site").join("nvidia")).unwrap();
        std::fs::write(lib.join("libcudnn.so.9"), b"").unwrap();
        assert!(has_cuda_dependencies(&lib), "the archive layout: libcudnn in lib/");
        std::fs::remove_dir_all(&root).unwrap();
    }
}
