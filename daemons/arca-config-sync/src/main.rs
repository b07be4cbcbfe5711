fn main() -> std::process::ExitCode {
    arca_config_sync::cli::main()
}
