fn main() -> std::process::ExitCode {
    arca_license_agent::cli::main()
}
