//! Checksum side files, as the reference serves them for every package type: `x.jar.sha1`,
//! `.sha256` and `.md5` of a stored `x.jar` are generated from its recorded checksums on
//! download, and a deployed one is checked against them instead of being stored.

use warp::http::StatusCode;
use warp::reply::Response;

use arca_db::items::ChecksumKind;
use arca_db::permissions::Action;
use arca_db::{Binary, Repo};

use crate::http::authz::Authz;
use crate::http::error::{ApiError, ApiResult, empty_response, text_response};
use crate::http::{Request, read_small_body};
use crate::paths::RepoPath;

const CHECKSUM_SUFFIXES: [(&str, ChecksumKind); 3] = [
    (".sha1", ChecksumKind::Sha1),
    (".sha256", ChecksumKind::Sha256),
    (".md5", ChecksumKind::Md5),
];

/// The base file and checksum of a side file's path (`a/b.jar.sha1` → `a/b.jar`, SHA-1).
pub fn side_file(path: &str) -> Option<(&str, ChecksumKind)> {
    CHECKSUM_SUFFIXES
        .iter()
        .find_map(|(suffix, kind)| path.strip_suffix(suffix).map(|base| (base, *kind)))
        .filter(|(base, _)| !base.is_empty() && !base.ends_with('/'))
}

fn checksum_of(b: &Binary, kind: ChecksumKind) -> &str {
    match kind {
        ChecksumKind::Sha1 => &b.sha1,
        ChecksumKind::Sha256 => &b.sha256,
        ChecksumKind::Md5 => &b.md5,
    }
}

/// `x.jar.sha1` for a stored `x.jar`: generated from the stored checksum, as the reference does.
/// A side file is the base file's: the caller must be allowed to read the base file too (a
/// permission target that excludes `x.jar` hides its checksums as well).
pub async fn serve_side_file(
    req: &Request,
    authz: &Authz,
    repo: &Repo,
    target: &RepoPath,
) -> ApiResult<Response> {
    let not_found = || ApiError::not_found("Could not find resource");
    let Some((base, kind)) = side_file(&target.path) else {
        return Err(not_found());
    };
    authz.require(repo, base, Action::Read)?;
    // the base file is usually hot (just downloaded): from the metadata cache
    let item = req.app.meta.item(&repo.key, base)?;
    match item.and_then(|i| i.binary) {
        Some(b) => Ok(text_response(
            StatusCode::OK,
            checksum_of(&b, kind).to_string(),
        )),
        None => Err(not_found()),
    }
}

/// `checksumPolicyType: server-generated-checksums`: what clients state about checksums is
/// ignored (the default, `client-checksums`, refuses a deploy whose checksums disagree).
pub fn server_generates_checksums(repo: &Repo) -> bool {
    repo.settings.checksum_policy_type == "server-generated-checksums"
}

/// Maven (and other clients) upload `x.jar.sha1` / `.md5` after `x.jar`: check them against the
/// stored binary instead of storing them. `None` when the path is not such a
/// side file of a stored file (it is then stored like any other file). The comparison needs
/// read access to the base file (it would otherwise tell a deployer its checksum), and a
/// mismatch names no stored checksum.
pub async fn accept_side_file(
    req: &mut Request,
    authz: &Authz,
    repo: &Repo,
    target: &RepoPath,
) -> ApiResult<Option<Response>> {
    let Some((base, kind)) = side_file(&target.path) else {
        return Ok(None);
    };
    let base_item = req.app.meta.item(&repo.key, base)?;
    let Some(binary) = base_item.and_then(|i| i.binary) else {
        return Ok(None);
    };
    authz.require(repo, base, Action::Read)?;
    let mut body = req.take_body();
    let content = read_small_body(&mut body, 1024).await?;
    if server_generates_checksums(repo) {
        // the client's checksums are not the reference: the server's own are served
        return Ok(Some(empty_response(StatusCode::CREATED)));
    }
    let text = String::from_utf8_lossy(&content);
    let sent = text
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_ascii_lowercase();
    if sent != checksum_of(&binary, kind) {
        return Err(ApiError::conflict(format!(
            "Checksum conflict: {}/{} ({}) does not match the stored {}/{base}",
            repo.key,
            target.path,
            sent.escape_debug(),
            repo.key
        )));
    }
    Ok(Some(empty_response(StatusCode::CREATED)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn side_files() {
        assert_eq!(
            side_file("a/b.jar.sha1"),
            Some(("a/b.jar", ChecksumKind::Sha1))
        );
        assert_eq!(side_file(".sha1"), None);
        assert_eq!(side_file("a/b.jar"), None);
    }
}
