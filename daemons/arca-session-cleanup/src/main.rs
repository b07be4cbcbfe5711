fn main() -> std::process::ExitCode {
    arca_session_cleanup::cli::main()
}
