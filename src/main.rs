//! The `rcptsync` binary: everything lives in the library; see `rcptsync::cli`.

fn main() -> std::process::ExitCode {
    rcptsync::cli::main()
}
