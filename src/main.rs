//! The `emporium` binary: see `emporium --help`.

use clap::Parser;

/// mimalloc: a request makes a few dozen small, short-lived allocations, and
/// glibc's malloc spent about a fifth of a warm read's CPU on them
/// (`malloc`, `_int_free`, `malloc_consolidate`; measured with `perf`, see
/// docs/performance.md). mimalloc's per-thread free lists make that cheap.
/// Two settings keep its memory as small as glibc's: see
/// [`give_memory_back_at_once`].
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    give_memory_back_at_once();
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

/// mimalloc keeps freed memory for a second (ten for whole arenas) before
/// giving it back, and lets the kernel back its arenas with 2 MiB pages.
/// A password hash takes 12 MiB (19 MiB before session 25), so after a burst of sign-ins the process
/// kept 70-84 MiB resident that way (glibc: 47-56). Purging at once, with
/// transparent huge pages off for this process (the crate's `no_thp` stops
/// mimalloc asking for them; `prctl` stops a kernel set to `always`), brings
/// it to 43-55 MiB right after a sign-in case and 16-17 MiB idle.
fn give_memory_back_at_once() {
    /// `mi_option_purge_delay` (milliseconds) in mimalloc's `mi_option_t`,
    /// which `libmimalloc-sys` does not name.
    const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;
    // SAFETY: mi_option_set only stores an option's value.
    unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, 0) };
    #[cfg(target_os = "linux")]
    // SAFETY: PR_SET_THP_DISABLE only sets a flag of this process.
    unsafe {
        libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0);
    }
}
