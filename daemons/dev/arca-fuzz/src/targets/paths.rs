//! Target `paths`: repository paths, matrix parameters and the property syntax
//! (`arca_server::paths`), the context strip, artifact targets and query strings.
//!
//! Properties: no panic; errors are client errors; a path `parse_repo_path` accepts has a
//! valid repository key, no empty, `.` or `..` segment, no NUL, control character,
//! backslash or Unicode noncharacter, and is within the length limit.

use arca_server::front::{artifact_target, strip_context};
use arca_server::paths::{
    RepoPath, parse_matrix, parse_properties, parse_repo_path, validate_property_key,
    validate_repo_key,
};
use rand::Rng;
use rand::rngs::StdRng;

use crate::targets::pick;
use warp::http::Method;

use crate::mutate::mutate;
use crate::runner::Target;
use crate::targets::front::{DICTIONARY, generate_path};

const PROPERTY_PIECES: &[&str] = &[
    "a=1",
    "a=1,2",
    "b=x\\,y",
    "c",
    "k=v1,v2",
    "=v",
    "k=",
    "k==",
    "bad key=1",
    "k\\;x=1",
    "k=a\\|b",
    "k=\\",
    "\\",
    "k=é",
    "k\u{10FFFF}=1",
    "k=%ff",
    "k=%00",
    "k=%2C",
    "(k)=1",
    "±=1",
    "k=\t",
    "build.name=ci%20job",
];

/// What an accepted path must look like.
fn check_accepted(raw: &str, max: usize, p: &RepoPath) -> Result<(), String> {
    let bad = |why: &str| {
        Err(format!(
            "parse_repo_path({raw:?}, {max}) accepted {p:?}: {why}"
        ))
    };
    if validate_repo_key(&p.repo).is_err() {
        return bad("invalid repository key");
    }
    if p.path.len() > max {
        return bad("longer than the limit");
    }
    if !p.path.is_empty()
        && p.path
            .split('/')
            .any(|s| s.is_empty() || s == "." || s == "..")
    {
        return bad("an empty, '.' or '..' segment");
    }
    if p.path.chars().any(|c| c == '\\' || c.is_control()) {
        return bad("a backslash or control character");
    }
    // U+10FFFF and the other noncharacters hid names from listings (issue 14).
    let noncharacter =
        |c: char| (0xFDD0..=0xFDEF).contains(&u32::from(c)) || u32::from(c) & 0xFFFE == 0xFFFE;
    if p.path.chars().any(noncharacter) {
        return bad("a Unicode noncharacter");
    }
    Ok(())
}

pub struct Paths;

impl Target for Paths {
    fn name(&self) -> &'static str {
        "paths"
    }

    fn generate(&mut self, rng: &mut StdRng) -> Vec<u8> {
        let text = match rng.gen_range(0..4) {
            0 | 1 => {
                let path = generate_path(rng);
                // without the context path, as handlers see it
                path.trim_start_matches("/artifactory")
                    .trim_start_matches('/')
                    .to_string()
            }
            2 => {
                let n = rng.gen_range(1..5);
                (0..n)
                    .map(|_| pick(rng, PROPERTY_PIECES))
                    .collect::<Vec<_>>()
                    .join(pick(rng, &[";", "|", ";;", "\\;"]))
            }
            _ => generate_path(rng),
        };
        let mut data = text.into_bytes();
        if rng.gen_bool(0.5) {
            let other = generate_path(rng);
            mutate(rng, &mut data, DICTIONARY, other.as_bytes(), 6, 16 * 1024);
        }
        data
    }

    fn check(&mut self, input: &[u8]) -> Result<(), String> {
        let text = String::from_utf8_lossy(input);
        let client_error = |what: &str, status: warp::http::StatusCode| {
            if status.is_client_error() {
                Ok(())
            } else {
                Err(format!("{what}({text:?}) answered {status}"))
            }
        };
        for max in [0, 5, 1024, usize::MAX] {
            match parse_repo_path(&text, max) {
                Ok(p) => check_accepted(&text, max, &p)?,
                Err(e) => client_error("parse_repo_path", e.status)?,
            }
        }
        for result in [
            parse_properties(&text).map(|_| ()),
            parse_matrix(&text).map(|_| ()),
            validate_property_key(&text),
            validate_repo_key(&text),
            artifact_target(&Method::PUT, &text, 1024).map(|_| ()),
            artifact_target(&Method::GET, &text, 1024).map(|_| ()),
            strip_context("/artifactory", &text).map(|_| ()),
            strip_context("", &text).map(|_| ()),
        ] {
            if let Err(e) = result {
                client_error("a path parser", e.status)?;
            }
        }
        let _ = arca_server::http::parse_query(&text);
        Ok(())
    }
}
