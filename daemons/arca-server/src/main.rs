fn main() -> std::process::ExitCode {
    arca_server::cli::main()
}
