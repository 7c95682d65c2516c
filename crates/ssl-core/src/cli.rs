//! What every command line of the toolkit shares.
use std::process::ExitCode;

/// Reports a command's outcome the same way in every CLI: success, or `error: ...` with
/// the whole chain of causes on stderr and a non-zero exit code.
pub fn exit_code(result: anyhow::Result<()>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Set beside `OMP_WAIT_POLICY` when [`passive_openmp_waits`] chose it (not the user).
const PASSIVE_BY_US: &str = "SSL_OMP_WAIT_POLICY_DEFAULTED";

/// A command for a reference program (a Python baseline) with the environment the user
/// gave this process: the wait policy [`passive_openmp_waits`] chose for us is removed, so
/// that a reference runs as a user would run it.
pub fn reference_command(program: impl AsRef<std::ffi::OsStr>) -> std::process::Command {
    let mut cmd = std::process::Command::new(program);
    if std::env::var_os(PASSIVE_BY_US).is_some() {
        cmd.env_remove("OMP_WAIT_POLICY").env_remove(PASSIVE_BY_US);
    }
    cmd
}

/// Makes OpenMP worker threads (libtorch's intra-op pool) sleep instead of spinning while
/// they wait, unless the user chose a policy: spinning threads keep a core busy and, when
/// another process shares the machine, slow a run down severalfold (measured in
/// `docs/benchmarks.md`). OpenMP reads the policy once, when libtorch is loaded, so the
/// process starts itself again with `OMP_WAIT_POLICY=PASSIVE` (same pid, same arguments).
/// Call it first thing in `main`; it returns when the policy is in place or cannot be set.
pub fn passive_openmp_waits() {
    #[cfg(unix)]
    {
        use std::os::unix::process::CommandExt;
        if std::env::var_os("OMP_WAIT_POLICY").is_some() {
            return;
        }
        let Ok(exe) = std::env::current_exe() else { return };
        let err = std::process::Command::new(exe).args(std::env::args_os().skip(1)).env("OMP_WAIT_POLICY", "PASSIVE").env(PASSIVE_BY_US, "1").exec();
        eprintln!("note: could not restart with OMP_WAIT_POLICY=PASSIVE ({err}); OpenMP threads will spin while waiting");
    }
}

/// Runs a reference script (`python script args...`) as a user would run it and returns
/// the JSON object it prints on its last line of output.
pub fn run_reference(python: &std::path::Path, script: &std::path::Path, args: &[String]) -> anyhow::Result<serde_json::Value> {
    use anyhow::Context;
    let out = reference_command(python)
        .arg(script)
        .args(args)
        .output()
        .with_context(|| format!("cannot run {} {} (scripts/bench.sh installs the reference packages)", python.display(), script.display()))?;
    if !out.status.success() {
        anyhow::bail!("{} failed: {}", script.display(), String::from_utf8_lossy(&out.stderr).trim());
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text.lines().last().with_context(|| format!("{} printed nothing", script.display()))?;
    serde_json::from_str(line).with_context(|| format!("{}: output is not JSON: {line}", script.display()))
}
