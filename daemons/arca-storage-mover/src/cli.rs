//! Command line of `arca-storage-mover`: `[--home DIR] [check-config]`.

use std::process::ExitCode;

use arca_config::Home;
use arca_runtime::daemon::{Sidecar, sidecar_main};

pub fn main() -> ExitCode {
    sidecar_main(Sidecar {
        name: "arca-storage-mover",
        thread_name: "arca-mover",
        about: "arca storage mover: uploads the eventual queue to the object store and restores \
                the redundancy of a sharding-cluster",
        check_config: |home: &std::path::Path| crate::app::check_config(&Home::new(home)),
        run: |home| crate::app::run(Home::new(home)),
    })
}
