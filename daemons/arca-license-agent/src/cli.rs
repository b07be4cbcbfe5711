//! Command line of `arca-license-agent`: `[--home DIR] [check-config]`.

use std::process::ExitCode;

use arca_config::Home;
use arca_runtime::daemon::{Sidecar, sidecar_main};

pub fn main() -> ExitCode {
    sidecar_main(Sidecar {
        name: "arca-license-agent",
        thread_name: "arca-license",
        about: "arca license agent: claims this HA node's license from the cluster pool, swaps \
                it before it expires and returns it when stopped",
        check_config: |home: &std::path::Path| crate::app::check_config(&Home::new(home)),
        run: |home| crate::app::run(Home::new(home)),
    })
}
