//! Command line of `arca-config-sync`: `[--home DIR] [check-config]`.

use std::process::ExitCode;

use arca_config::Home;
use arca_runtime::daemon::{Sidecar, sidecar_main};

pub fn main() -> ExitCode {
    sidecar_main(Sidecar {
        name: "arca-config-sync",
        thread_name: "arca-config",
        about: "arca config sync: mirrors binarystore.xml, system.properties and cluster.license \
                from the config owner to every node of the cluster through the database",
        check_config: |home: &std::path::Path| crate::app::check_config(&Home::new(home)),
        run: |home| crate::app::run(Home::new(home)),
    })
}
