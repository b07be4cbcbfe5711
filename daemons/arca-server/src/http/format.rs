//! JSON shapes and formats of the reference's REST API.

use time::OffsetDateTime;
use time::macros::format_description;
use warp::http::HeaderMap;

use arca_db::Item;

/// `yyyy-MM-dd'T'HH:mm:ss.SSSZ` in UTC (`2026-11-25T16:38:00.123Z`).
pub fn iso8601(ms: i64) -> String {
    Iso8601(ms).to_string()
}

/// [`iso8601`] printed where it goes, without a `String` of its own (a listing prints one per
/// entry); empty for a time `time` cannot represent.
#[derive(Debug, Clone, Copy)]
pub struct Iso8601(pub i64);

impl std::fmt::Display for Iso8601 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let Ok(t) = OffsetDateTime::from_unix_timestamp_nanos(i128::from(self.0) * 1_000_000)
        else {
            return Ok(());
        };
        if let Ok(year) = u32::try_from(t.year())
            && year <= 9999
        {
            // The common case written digit by digit: the format description's interpreter
            // cost more than the rest of a listing's entry.
            let mut text = *b"0000-00-00T00:00:00.000Z";
            let fields = [
                (0, 4, year),
                (5, 2, u32::from(u8::from(t.month()))),
                (8, 2, u32::from(t.day())),
                (11, 2, u32::from(t.hour())),
                (14, 2, u32::from(t.minute())),
                (17, 2, u32::from(t.second())),
                (20, 3, u32::from(t.millisecond())),
            ];
            for (at, width, mut value) in fields {
                for k in (at..at + width).rev() {
                    if let Some(digit) = text.get_mut(k) {
                        *digit = b'0' + (value % 10) as u8;
                    }
                    value /= 10;
                }
            }
            return f.write_str(std::str::from_utf8(&text).unwrap_or_default());
        }
        let fmt = format_description!(
            "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
        );
        f.write_str(&t.format(&fmt).unwrap_or_default())
    }
}

impl serde::Serialize for Iso8601 {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// RFC 7231 date for `Last-Modified`.
pub fn http_date(ms: i64) -> String {
    let secs = u64::try_from(ms / 1000).unwrap_or(0);
    httpdate::fmt_http_date(std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs))
}

/// The URL clients reach this server under, context path included: the
/// reference's override headers win, then `arca.url.base` (the load
/// balancer's URL, the HA guide's "Custom URL Base"), then
/// `X-Forwarded-Proto`/`Host`.
pub fn base_url(headers: &HeaderMap, context_path: &str, url_base: Option<&str>) -> String {
    for name in [
        "x-artifactory-override-base-url",
        "x-jfrog-override-base-url",
    ] {
        if let Some(v) = headers.get(name).and_then(|v| v.to_str().ok())
            && (v.starts_with("http://") || v.starts_with("https://"))
        {
            return v.trim_end_matches('/').to_string();
        }
    }
    if let Some(base) = url_base {
        return base.to_string();
    }
    let scheme = headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .filter(|s| *s == "https" || *s == "http")
        .unwrap_or("http");
    let host = headers
        .get(warp::http::header::HOST)
        .and_then(|v| v.to_str().ok())
        .filter(|h| !h.is_empty() && h.bytes().all(|b| b.is_ascii_graphic()))
        .unwrap_or("localhost");
    format!("{scheme}://{host}{context_path}")
}

/// Percent-encode a repository path for use in a URL (keeps `/`).
pub fn url_path(path: &str) -> String {
    UrlPath(path).to_string()
}

/// [`url_path`] printed where it goes.
pub struct UrlPath<'a>(pub &'a str);

impl std::fmt::Display for UrlPath<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        const SET: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
            .remove(b'/')
            .remove(b'-')
            .remove(b'_')
            .remove(b'.')
            .remove(b'~')
            .remove(b'+');
        std::fmt::Display::fmt(&percent_encoding::utf8_percent_encode(self.0, SET), f)
    }
}

/// `/a/b` form used in JSON `path` fields (root is `/`).
pub fn slash_path(path: &str) -> String {
    format!("/{path}")
}

pub fn repo_url(base: &str, repo: &str, path: &str) -> String {
    if path.is_empty() {
        format!("{base}/{repo}")
    } else {
        format!("{base}/{repo}/{}", url_path(path))
    }
}

pub fn download_uri(base: &str, repo: &str, path: &str) -> String {
    repo_url(base, repo, path)
}

pub fn storage_uri(base: &str, repo: &str, path: &str) -> String {
    repo_url(&format!("{base}/api/storage"), repo, path)
}

pub fn mime_type(name: &str) -> String {
    let lower = name.to_ascii_lowercase();
    let special = [
        (".pom", "application/x-maven-pom+xml"),
        (".jar", "application/java-archive"),
        (".war", "application/java-archive"),
        (".sha1", "text/plain"),
        (".sha256", "text/plain"),
        (".md5", "text/plain"),
        (".asc", "text/plain"),
        (".tgz", "application/x-gzip"),
        (".whl", "application/zip"),
        (".crate", "application/x-tar"),
    ];
    for (ext, mime) in special {
        if lower.ends_with(ext) {
            return mime.to_string();
        }
    }
    mime_guess::from_path(&lower)
        .first_raw()
        .unwrap_or("application/octet-stream")
        .to_string()
}

/// A size for people: `1.5 GiB`, `300 MiB`, `12 KiB`, `512 B`.
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{value:.1} {} ({n} bytes)", UNITS[unit])
    }
}

/// Types a browser would render or run on the server's origin (script, markup that can carry
/// script, plug-ins): downloaded as attachments unless the repository serves them inline.
pub fn is_active_content(mime: &str) -> bool {
    let essence = mime
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    matches!(
        essence.as_str(),
        "text/html"
            | "application/xhtml+xml"
            | "image/svg+xml"
            | "text/xml"
            | "application/xml"
            | "text/xsl"
            | "application/xslt+xml"
            | "text/javascript"
            | "application/javascript"
            | "application/ecmascript"
            | "text/ecmascript"
            | "application/x-shockwave-flash"
            | "text/vtt"
            | "multipart/x-mixed-replace"
    ) || (essence.ends_with("+xml") && essence != "application/x-maven-pom+xml")
}

/// `Content-Disposition: attachment` naming the file (RFC 6266: an ASCII fallback and the
/// UTF-8 name).
pub fn attachment(name: &str) -> String {
    let ascii: String = name
        .chars()
        .map(|c| {
            if (c.is_ascii_graphic() && !matches!(c, '"' | '\\' | '%')) || c == ' ' {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!(
        "attachment; filename=\"{ascii}\"; filename*=UTF-8''{}",
        percent_encoding::utf8_percent_encode(name, percent_encoding::NON_ALPHANUMERIC)
    )
}

/// `checksums` / `originalChecksums` objects.
fn checksums_json(item: &Item) -> (serde_json::Value, serde_json::Value) {
    let Some(b) = &item.binary else {
        return (serde_json::json!({}), serde_json::json!({}));
    };
    let actual = serde_json::json!({ "sha1": b.sha1, "md5": b.md5, "sha256": b.sha256 });
    // Originals are what the client declared; when it declared nothing, the
    // reference reports the actual values.
    let original = serde_json::json!({
        "sha1": item.sha1_original.as_deref().unwrap_or(&b.sha1),
        "md5": item.md5_original.as_deref().unwrap_or(&b.md5),
        "sha256": item.sha256_original.as_deref().unwrap_or(&b.sha256),
    });
    (actual, original)
}

/// FileInfo JSON (`GET /api/storage/{repo}/{file}`).
pub fn file_info(base: &str, item: &Item) -> serde_json::Value {
    let (checksums, original) = checksums_json(item);
    serde_json::json!({
        "repo": item.repo,
        "path": slash_path(&item.path),
        "created": iso8601(item.created),
        "createdBy": item.created_by,
        "lastModified": iso8601(item.modified),
        "modifiedBy": item.modified_by,
        "lastUpdated": iso8601(item.updated),
        "downloadUri": download_uri(base, &item.repo, &item.path),
        "mimeType": mime_type(&item.name),
        "size": item.size().to_string(),
        "checksums": checksums,
        "originalChecksums": original,
        "uri": storage_uri(base, &item.repo, &item.path),
    })
}

/// ItemCreated JSON of a deploy.
pub fn item_created(base: &str, item: &Item) -> serde_json::Value {
    let (checksums, original) = checksums_json(item);
    let mut v = serde_json::json!({
        "repo": item.repo,
        "path": slash_path(&item.path),
        "created": iso8601(item.created),
        "createdBy": item.created_by,
        "downloadUri": download_uri(base, &item.repo, &item.path),
        "uri": storage_uri(base, &item.repo, &item.path),
    });
    if !item.folder
        && let Some(obj) = v.as_object_mut()
    {
        obj.insert("mimeType".into(), mime_type(&item.name).into());
        obj.insert("size".into(), item.size().to_string().into());
        obj.insert("checksums".into(), checksums);
        obj.insert("originalChecksums".into(), original);
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso8601_prints_what_the_format_description_prints() {
        let fmt = format_description!(
            "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
        );
        let mut ms = -62_167_219_200_000_i64; // 0000-01-01T00:00:00.000Z
        while ms < 253_402_300_800_000 {
            // up to 9999-12-31
            let expected = OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
                .unwrap()
                .format(&fmt)
                .unwrap();
            assert_eq!(iso8601(ms), expected, "{ms}");
            ms += 77_777_777_777 + ms.rem_euclid(997);
        }
        assert_eq!(iso8601(1_764_088_680_123), "2025-11-25T16:38:00.123Z");
        assert_eq!(iso8601(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(iso8601(-1), "1969-12-31T23:59:59.999Z");
        assert_eq!(iso8601(i64::MAX), "", "out of range: empty, as before");
    }
}
