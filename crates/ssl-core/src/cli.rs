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
