fn main() -> std::process::ExitCode {
    arca_storage_mover::cli::main()
}
