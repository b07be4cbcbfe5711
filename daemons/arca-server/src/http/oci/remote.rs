//! Remote docker repositories (`docs/formats/oci.md`, "Remote repositories"): the upstream
//! registry's manifests, blobs and tags through the remote machinery of every format
//! (`crate::remote`), asked for with the manifest media types and verified against their digests.

use warp::http::{Method, StatusCode};
use warp::reply::Response;

use arca_db::{Item, NewFile, Repo, items, oci as db};

use super::{Fail, OciResult, caller, manifest_row};
use crate::formats::oci::{self, Digest, Reference};
use crate::http::error::ApiError;
use crate::http::{Request, stored};

/// Every manifest media type, as registry clients ask for them: the upstream answers in the
/// type it stores (a Docker registry converts a schema 2 manifest to schema 1 for a client that
/// does not name schema 2).
const MANIFEST_ACCEPT: &str = "application/vnd.oci.image.manifest.v1+json, \
     application/vnd.oci.image.index.v1+json, \
     application/vnd.docker.distribution.manifest.v2+json, \
     application/vnd.docker.distribution.manifest.list.v2+json";

/// The upstream URL of `{image}/{kind}/{reference}` of remote repository `repo` (its URL is
/// the registry's, with or without `/v2`).
fn upstream_v2_url(repo: &Repo, image: &str, kind: &str, reference: &str) -> String {
    let base = repo.settings.url.trim_end_matches('/');
    let base = base.strip_suffix("/v2").unwrap_or(base);
    format!("{base}/v2/{image}/{kind}/{reference}")
}

/// A remote repository's manifest `reference` of `image`, cached at `path` (a tag is asked for
/// again after `retrievalCachePeriodSecs`, a digest never), with its row (recorded from the
/// cached bytes). `None`: the upstream does not have it.
pub(super) async fn manifest(
    req: &Request,
    repo: &Repo,
    image: &str,
    reference: &Reference,
    path: &str,
    cached: Option<Item>,
) -> OciResult<Option<Item>> {
    let (_, authz) = caller(req).await?;
    let origin = crate::remote::Origin {
        url: Some(upstream_v2_url(
            repo,
            image,
            "manifests",
            &reference.to_string(),
        )),
        sha256: match reference {
            Reference::Digest(d) => Some(d.hex().to_string()),
            Reference::Tag(_) => None,
        },
        accept: Some(MANIFEST_ACCEPT.to_string()),
    };
    let obtained = crate::remote::obtain_from(req, &authz, repo, path, cached, true, &origin).await;
    let item = match obtained {
        Ok(crate::remote::Obtained::Stored(item)) => *item,
        Ok(crate::remote::Obtained::Streaming(_)) => {
            return Err(Fail::Api(ApiError::internal(
                "remote manifest",
                "streamed although asked whole",
            )));
        }
        Err(e) if e.status == StatusCode::NOT_FOUND => return Ok(None),
        Err(e) => return Err(Fail::Api(e)),
    };
    record_manifest(req, repo, image, &item).await?;
    Ok(Some(item))
}

/// The row of a manifest a remote repository cached at `item` (and, for a tag, its item by
/// digest), unless recorded already.
async fn record_manifest(req: &Request, repo: &Repo, image: &str, item: &Item) -> OciResult<()> {
    let Some(binary) = item.binary.clone() else {
        return Ok(());
    };
    let digest = format!("sha256:{}", binary.sha256);
    let (key, img, d) = (repo.key.clone(), image.to_string(), digest.clone());
    if req
        .app
        .db
        .read(move |c| db::manifest(c, &key, &img, &d))
        .await?
        .is_some()
    {
        return Ok(());
    }
    let bytes = stored::read_item(req, item).await?;
    // the upstream's Content-Type is gone once cached: the document names its type, or its
    // shape does
    let document = serde_json::from_slice::<serde_json::Value>(&bytes).ok();
    let sniffed = match document {
        Some(d) if d.get("mediaType").is_some() => None,
        Some(d) if d.get("manifests").is_some() => Some(oci::OCI_INDEX),
        _ => Some(oci::OCI_MANIFEST),
    };
    let manifest = oci::parse_manifest(&bytes, sniffed).map_err(|e| {
        Fail::Api(ApiError::new(
            StatusCode::BAD_GATEWAY,
            format!(
                "The upstream of remote repository '{}' sent a manifest arca cannot serve: {e}",
                repo.key
            ),
        ))
    })?;
    let Ok(parsed) = Digest::parse(&digest) else {
        return Ok(());
    };
    let (row, references) = manifest_row(
        repo,
        image,
        &parsed,
        &manifest,
        bytes.len(),
        req.app.now_ms(),
    );
    let manifest_path = oci::manifest_path(image, &parsed);
    let (key, user, now) = (repo.key.clone(), item.modified_by.clone(), req.app.now_ms());
    req.app
        .db
        .write(move |tx| {
            let at = match items::get(tx, &key, &manifest_path)? {
                Some(existing) => existing,
                None => {
                    items::put_file(tx, &key, &manifest_path, &NewFile::new(binary, &user, now))?
                }
            };
            db::insert_manifest(
                tx,
                &db::Manifest {
                    item_id: at.id,
                    ..row
                },
                &references,
            )?;
            Ok::<_, ApiError>(())
        })
        .await?;
    Ok(())
}

/// A remote repository's blob from its upstream (verified against the digest; streamed to the
/// client while it is cached, fetched once for the cluster). `None`: the upstream does not have
/// it.
pub(super) async fn blob(
    req: &Request,
    repo: &Repo,
    image: &str,
    digest: &Digest,
) -> OciResult<Option<Response>> {
    let (_, authz) = caller(req).await?;
    let origin = crate::remote::Origin {
        url: Some(upstream_v2_url(repo, image, "blobs", &digest.to_string())),
        sha256: Some(digest.hex().to_string()),
        accept: None,
    };
    let path = oci::blob_path(image, digest);
    let whole = req.method == Method::HEAD;
    match crate::remote::obtain_from(req, &authz, repo, &path, None, whole, &origin).await {
        Ok(crate::remote::Obtained::Stored(item)) => {
            Ok(Some(stored::serve_file(req, repo, &item).await?))
        }
        Ok(crate::remote::Obtained::Streaming(resp)) => Ok(Some(resp)),
        Err(e) if e.status == StatusCode::NOT_FOUND => Ok(None),
        Err(e) => Err(Fail::Api(e)),
    }
}

/// The tags a remote repository's upstream lists for `image` (`None`: it could not be asked;
/// the caller lists what is cached).
pub(super) async fn tags(
    req: &Request,
    repo: &Repo,
    image: &str,
) -> OciResult<Option<Vec<String>>> {
    let upstream = req.app.remotes.upstream(&req.app.secrets, repo)?;
    let url = upstream_v2_url(repo, image, "tags", "list");
    let crate::remote::upstream::Answer::Found(response) =
        upstream.get_accepting(&url, Some("application/json")).await
    else {
        return Ok(None);
    };
    let Ok(body) = response.bytes().await else {
        return Ok(None);
    };
    let listed: Option<Vec<String>> = serde_json::from_slice::<serde_json::Value>(&body)
        .ok()
        .and_then(|v| v.get("tags").cloned())
        .and_then(|t| serde_json::from_value(t).ok());
    Ok(listed.map(|tags| {
        tags.into_iter()
            .filter(|t| oci::validate_tag(t).is_ok())
            .collect()
    }))
}
