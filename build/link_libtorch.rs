//! Build script shared by every crate that produces binaries or test executables.
//!
//! torch-sys links libtorch but does not make *dependents'* executables find it at run
//! time, and a dependent links only `libtorch_cpu`, so CUDA would silently be missing.
//! This script embeds an rpath to `$LIBTORCH/lib` and, where `libtorch_cuda.so` exists,
//! forces `libtorch` itself to be linked so that CUDA kernels are registered.
//! (Canonical paths matter: `LIBTORCH` is usually a link into the virtual environment.)
use std::path::PathBuf;

fn main() {
    println!("cargo:rerun-if-env-changed=LIBTORCH");
    let Some(link) = std::env::var_os("LIBTORCH").map(PathBuf::from) else {
        println!("cargo:warning=LIBTORCH is not set: run scripts/setup-libtorch.sh (executables will need LD_LIBRARY_PATH)");
        return;
    };
    let root = link.canonicalize().unwrap_or_else(|_| link.clone());
    let lib = link.join("lib");
    println!("cargo:rerun-if-changed={}", lib.display());
    println!("cargo:rustc-link-arg=-Wl,-rpath,{}", lib.display());
    // The wheel always ships libtorch_cuda.so, but on the CPU-only route its CUDA
    // dependencies (cuDNN, cuBLAS, ...) are absent: link it only where they are present.
    let cuda_deps = root.parent().map(|site| site.join("nvidia").join("cudnn").exists()).unwrap_or(false);
    if lib.join("libtorch_cuda.so").exists() && cuda_deps {
        println!("cargo:rustc-link-arg=-Wl,--push-state,--no-as-needed,-ltorch,--pop-state");
    }
}
