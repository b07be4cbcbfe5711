//! `arcactl node …`: drain and undrain this node.

use std::io::Write;

use anyhow::{Context as _, bail};
use arca_config::{HaNodeProperties, Home};
use reqwest::StatusCode;

use crate::cli::{NodeArgs, NodeCommand};
use crate::commands::http;
use crate::exit;

/// The readiness probe a load balancer polls (answers 503 while the node is drained).
const READINESS: &str = "/api/v1/system/readiness";

pub fn run(cmd: NodeCommand, out: &mut dyn Write, err: &mut dyn Write) -> anyhow::Result<u8> {
    match cmd {
        NodeCommand::Drain(args) => drain(&args, out, err),
        NodeCommand::Undrain(args) => undrain(&args, out, err),
    }
}

fn existing_home(args: &NodeArgs) -> anyhow::Result<Home> {
    let home = Home::new(&args.home.home);
    if !home.root().is_dir() {
        bail!("{}: home directory does not exist", home.root().display());
    }
    Ok(home)
}

/// `arcactl node drain`: create the flag, then confirm with the running node when its URL
/// is known.
pub fn drain(args: &NodeArgs, out: &mut dyn Write, err: &mut dyn Write) -> anyhow::Result<u8> {
    let home = existing_home(args)?;
    let flag = home.drain_flag();
    if flag.exists() {
        writeln!(out, "already drained: {} exists", flag.display()).context("writing to stdout")?;
    } else {
        let run = home.run_dir();
        std::fs::create_dir_all(&run).with_context(|| format!("creating {}", run.display()))?;
        std::fs::write(&flag, "drained by arcactl node drain\n")
            .with_context(|| format!("creating {}", flag.display()))?;
        writeln!(
            out,
            "drained: created {}; the node answers 503 on /api/system/ping and {READINESS} \
             so the load balancer stops routing to it, while in-flight and new requests \
             still complete",
            flag.display()
        )
        .context("writing to stdout")?;
    }
    writeln!(
        out,
        "to serve again: arcactl node undrain --home {} (a restart of arca-server also \
         clears the flag)",
        home.root().display()
    )
    .context("writing to stdout")?;
    confirm(&home, args, StatusCode::SERVICE_UNAVAILABLE, out, err)
}

/// `arcactl node undrain`: remove the flag (absent is fine), then confirm.
pub fn undrain(args: &NodeArgs, out: &mut dyn Write, err: &mut dyn Write) -> anyhow::Result<u8> {
    let home = existing_home(args)?;
    let flag = home.drain_flag();
    match std::fs::remove_file(&flag) {
        Ok(()) => writeln!(
            out,
            "undrained: removed {}; the node answers health checks normally again",
            flag.display()
        ),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            writeln!(out, "not drained: {} does not exist", flag.display())
        }
        Err(e) => return Err(e).with_context(|| format!("removing {}", flag.display())),
    }
    .context("writing to stdout")?;
    confirm(&home, args, StatusCode::OK, out, err)
}

/// Ask the node's readiness probe whether it sees the flag as expected. Unreachable is only
/// a warning (the flag takes effect once the node runs); a different answer is a failure.
fn confirm(
    home: &Home,
    args: &NodeArgs,
    expected: StatusCode,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> anyhow::Result<u8> {
    let base = match &args.url {
        Some(url) => Some(url.clone()),
        None => match HaNodeProperties::load(home) {
            Ok(ha) => ha.and_then(|(ha, _)| ha.context.map(|c| c.configured)),
            Err(e) => {
                writeln!(err, "warning: {e}").context("writing to stderr")?;
                None
            }
        },
    };
    let Some(base) = base else {
        writeln!(
            out,
            "not confirmed with the running node: no --url given and no context.url in {}",
            home.ha_node_properties().display()
        )
        .context("writing to stdout")?;
        return Ok(exit::OK);
    };
    let url = http::join(&base, READINESS);
    let resp = match http::client()?.get(&url).send() {
        Ok(resp) => resp,
        Err(e) => {
            let effect = if expected == StatusCode::OK {
                "the flag is removed; the node serves once it runs"
            } else {
                "the flag is in place and takes effect as soon as the node runs"
            };
            writeln!(
                err,
                "warning: could not confirm: GET {url}: {}; {effect}",
                http::describe(&e.without_url())
            )
            .context("writing to stderr")?;
            return Ok(exit::OK);
        }
    };
    let status = resp.status();
    let message = http::body_message(resp);
    if status == expected {
        let detail = if message.is_empty() || status == StatusCode::OK {
            String::new()
        } else {
            format!(": {message}")
        };
        writeln!(out, "confirmed: GET {url} answers {status}{detail}")
            .context("writing to stdout")?;
        return Ok(exit::OK);
    }
    let hint = if expected == StatusCode::SERVICE_UNAVAILABLE && status == StatusCode::OK {
        format!(
            "the server at that URL does not see {}: is it running with --home {}?",
            home.drain_flag().display(),
            home.root().display()
        )
    } else if message.contains("arcactl node drain") {
        format!(
            "the server at that URL is drained by another flag: is it running with a home \
             other than {}?",
            home.root().display()
        )
    } else {
        "the node is not ready for the reason above; see its log".to_string()
    };
    writeln!(
        err,
        "warning: GET {url} answers {status}, expected {expected}: {message}; {hint}"
    )
    .context("writing to stderr")?;
    Ok(exit::FAILURE)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::HomeArgs;

    fn args(home: &std::path::Path, url: Option<&str>) -> NodeArgs {
        NodeArgs {
            home: HomeArgs {
                home: home.to_path_buf(),
            },
            url: url.map(str::to_string),
        }
    }

    fn run_fn(
        f: fn(&NodeArgs, &mut dyn Write, &mut dyn Write) -> anyhow::Result<u8>,
        a: &NodeArgs,
    ) -> (u8, String, String) {
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let code = f(a, &mut out, &mut err).unwrap();
        (
            code,
            String::from_utf8(out).unwrap(),
            String::from_utf8(err).unwrap(),
        )
    }

    #[test]
    fn drain_and_undrain_toggle_the_flag_without_url() {
        let dir = tempfile::tempdir().unwrap();
        let a = args(dir.path(), None);
        let flag = Home::new(dir.path()).drain_flag();

        let (code, out, err) = run_fn(drain, &a);
        assert_eq!(code, exit::OK);
        assert!(flag.exists());
        assert!(out.starts_with("drained: created "), "{out}");
        assert!(out.contains("arcactl node undrain"), "{out}");
        assert!(out.contains("not confirmed with the running node"), "{out}");
        assert_eq!(err, "");

        let (code, out, _) = run_fn(drain, &a);
        assert_eq!(code, exit::OK);
        assert!(out.starts_with("already drained: "), "{out}");

        let (code, out, _) = run_fn(undrain, &a);
        assert_eq!(code, exit::OK);
        assert!(out.starts_with("undrained: removed "), "{out}");
        assert!(!flag.exists());

        let (code, out, _) = run_fn(undrain, &a);
        assert_eq!(code, exit::OK);
        assert!(out.starts_with("not drained: "), "{out}");
    }

    #[test]
    fn unreachable_node_is_a_warning_only() {
        let dir = tempfile::tempdir().unwrap();
        // A port nobody listens on: bind, note, close.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let url = format!("http://127.0.0.1:{port}/artifactory");
        let (code, out, err) = run_fn(drain, &args(dir.path(), Some(&url)));
        assert_eq!(code, exit::OK);
        assert!(out.starts_with("drained: "), "{out}");
        assert!(
            err.starts_with(&format!(
                "warning: could not confirm: GET {url}{READINESS}: "
            )),
            "{err}"
        );
        assert!(Home::new(dir.path()).drain_flag().exists());
    }

    #[test]
    fn missing_home_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let a = args(&dir.path().join("missing"), None);
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let e = drain(&a, &mut out, &mut err).unwrap_err().to_string();
        assert!(e.contains("home directory does not exist"), "{e}");
    }
}
