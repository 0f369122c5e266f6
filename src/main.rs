//! The `emporium` binary: see `emporium --help`.

use clap::Parser;

fn main() -> std::process::ExitCode {
    release_large_allocations();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("emporium: cannot start the async runtime: {error}");
            return std::process::ExitCode::FAILURE;
        }
    };
    runtime.block_on(run())
}

async fn run() -> std::process::ExitCode {
    let cli = emporium::cli::Cli::parse();
    match emporium::cli::run(cli).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("emporium: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// Makes glibc serve every allocation of 1 MiB or more with its own mapping,
/// returned to the system when freed.
///
/// By default glibc raises this threshold to the size of the largest block
/// freed so far; after the first password hash (argon2id takes 19 MiB) every
/// later one is carved from a per-thread heap that keeps the memory, and with
/// a blocking thread per concurrent hash, a burst of sign-ins left the
/// process at 600 MB for good. Setting the threshold turns that adjustment
/// off. (Other allocators need nothing: this is glibc's behaviour.)
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn release_large_allocations() {
    const ONE_MIB: libc::c_int = 1024 * 1024;
    // SAFETY: mallopt only changes allocator parameters; it is called before
    // any other thread exists.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, ONE_MIB);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn release_large_allocations() {}
