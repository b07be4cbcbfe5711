//! The parameter catalogue of `binarystore.xml`: the templates and provider types this build
//! knows, the parameters each type accepts, the form each value must have, the secret ones,
//! and the ones accepted for compatibility that change nothing in arca.

/// Built-in chain templates this build knows (validates).
pub const KNOWN_TEMPLATES: [&str; 11] = [
    "file-system",
    "cache-fs",
    "full-db",
    "full-db-direct",
    "cluster-file-system",
    "s3-storage-v3",
    "s3-storage-v3-direct",
    "cluster-s3-storage-v3",
    "google-storage-v2",
    "google-storage-v2-direct",
    "cluster-google-storage-v2",
];

/// Provider types this build knows (validates).
pub const KNOWN_PROVIDER_TYPES: [&str; 11] = [
    "file-system",
    "cache-fs",
    "eventual",
    "eventual-cluster",
    "retry",
    "s3-storage-v3",
    "sharding",
    "sharding-cluster",
    "state-aware",
    "remote",
    "google-storage-v2",
];

const SHARDING_PARAMS: [&str; 11] = [
    "redundancy",
    "lenientLimit",
    "readBehavior",
    "writeBehavior",
    "zone",
    "concurrentStreamWaitTimeout",
    "concurrentStreamBufferKb",
    "maxBalancingRunTime",
    "freeSpaceSampleInterval",
    "minSpareUploaderExecutor",
    "uploaderCleanupIdleTime",
];

/// Parameters (child elements) a provider type accepts. `<property name= value=>` elements are
/// free-form pass-through settings and are not checked against this list.
pub fn known_parameters(provider_type: &str) -> Option<Vec<&'static str>> {
    let list: Vec<&'static str> = match provider_type {
        "file-system" => vec!["baseDataDir", "fileStoreDir", "tempDir"],
        "cache-fs" => vec![
            "maxCacheSize",
            "cacheProviderDir",
            "maxFileSizeLimit",
            "skipDuringUpload",
            // legacy / internal tunables of the reference
            "cacheSynchQuietPeriod",
            "parallelDownloadWindowInMillis",
            "multiReadEnabled",
            "validateChecksum",
            "binaryProviderInfoEvictionTime",
        ],
        "state-aware" => vec!["checkPeriod", "writeEnabled", "zone", "fileStoreDir"],
        "sharding" => SHARDING_PARAMS.to_vec(),
        "sharding-cluster" => {
            let mut v = SHARDING_PARAMS.to_vec();
            v.push("zones");
            v
        }
        "remote" => vec![
            "connectionTimeout",
            "socketTimeout",
            "maxConnections",
            "connectionRetry",
            "checkPeriod",
            "zone",
            "timeout",
            "serviceId",
        ],
        "eventual" => vec![
            "numberOfThreads",
            "timeout",
            "dispatcherInterval",
            "hazelcastWaitingTime",
            "queueSize",
        ],
        "eventual-cluster" => vec![
            "addStalePeriod",
            "maxWorkers",
            "dispatcherInterval",
            "checkPeriod",
            "zone",
        ],
        "retry" => vec!["interval", "maxTrys"],
        "s3-storage-v3" => vec![
            "bucketName",
            "region",
            "endpoint",
            "path",
            "rootFoldersNameLength",
            "identity",
            "credential",
            "useInstanceCredentials",
            "testConnection",
            "port",
            "useHttp",
            "enablePathStyleAccess",
            "maxConnections",
            "connectionTimeout",
            "socketTimeout",
            "connectionAcquisitionTimeout",
            "usePresigning",
            "signatureExpirySeconds",
            "signedUrlExpirySeconds",
            "enableSignedUrlRedirect",
            "cloudFrontDomainName",
            "cloudFrontKeyPairId",
            "cloudFrontPrivateKey",
            "multiPartLimit",
            "multipartElementSize",
            "kmsServerSideEncryptionKeyId",
            "kmsKeyRegion",
            "kmsCryptoMode",
            "kmsClientSideEncryptionKeyId",
            "server-side-encryption-aws-kms",
            "encryptionFormat",
            "proxyHost",
            "proxyPort",
            "nonProxyHost",
            "proxyIdentity",
            "proxyCredential",
            "awsSdkV2",
            "disableChecksumValidation",
            "disableChunkedEncoding",
            "crtTargetThroughputInGbps",
            "crtEnableConnectionHealth",
            "crtMinimumThroughputTimeoutSeconds",
            "crtMinimumThroughputInBps",
        ],
        "google-storage-v2" => vec![
            "useInstanceCredentials",
            "enableSignedUrlRedirect",
            "signedUrlExpirySeconds",
            "bucketName",
            "path",
            "endpoint",
            "httpsOnly",
            "bucketExists",
            "port",
            "httpsPort",
            "identity",
            "credential",
            "providerId",
            "testConnection",
            "multiPartLimit",
            "rootFoldersNameLength",
            "proxyHost",
            "proxyPort",
            "proxyIdentity",
            "proxyCredential",
        ],
        _ => return None,
    };
    Some(list)
}

/// Parameters whose values are secrets: `canonical()` masks them.
const SECRET_PARAMS: [&str; 5] = [
    "identity",
    "credential",
    "proxyIdentity",
    "proxyCredential",
    "cloudFrontPrivateKey",
];

/// Secret parameters arca uses, which `seal_secrets` seals with the master key.
pub const SEALED_PARAMS: [&str; 2] = ["identity", "credential"];

/// S3's smallest multipart part (5 MiB); smaller parts are refused by the service.
pub const MIN_MULTIPART_ELEMENT_SIZE: u64 = 5_242_880;

pub(super) fn canonical_value<'v>(key: &str, value: &'v str) -> &'v str {
    // Sealed values differ on every node (random nonce) and must not end up in a digest anyway.
    if SECRET_PARAMS.contains(&key) {
        "<secret>"
    } else {
        value
    }
}

/// The form a parameter's value must have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// A directory: absolute, or relative as the parameter documents; not empty.
    Dir,
    /// Bytes, as a whole number.
    Size { min: u64 },
    /// Milliseconds, as a whole number.
    Millis { min: u64 },
    /// `true` / `false`, in any case.
    Bool,
    /// 1..=65535.
    Port,
    /// A whole number that fits in a u32.
    Count { min: u64 },
    /// `rootFoldersNameLength`: 0..=5.
    FolderLen,
    /// `path`: key prefix inside a bucket.
    KeyPrefix,
    /// `bucketName`.
    Bucket { gcs: bool },
    /// `endpoint`: host[:port] or http(s) URL.
    Endpoint,
    /// `readBehavior` / `writeBehavior`.
    Behavior,
    /// `zones`: comma-separated `local` / `remote`.
    Zones,
    /// Any non-empty text.
    Text,
    /// Not checked (pass-through `<property>` settings, free-form names).
    Free,
}

const BEHAVIORS: [&str; 4] = [
    "roundRobin",
    "freeSpace",
    "percentageFreeSpace",
    "crossNetworkStrategy",
];

/// The value form of parameter `name`. The same name means the same thing for every provider
/// type that has it, so only the bucket name rules depend on the type.
pub(crate) fn param_kind(provider_type: &str, name: &str) -> Kind {
    use Kind::*;
    match name {
        "baseDataDir" | "fileStoreDir" | "tempDir" | "cacheProviderDir" => Dir,
        "multipartElementSize" => Size {
            min: MIN_MULTIPART_ELEMENT_SIZE,
        },
        "maxCacheSize" | "maxFileSizeLimit" | "multiPartLimit" => Size { min: 0 },
        // 0 would make the dispatcher spin.
        "dispatcherInterval" => Millis { min: 1 },
        "cacheSynchQuietPeriod"
        | "parallelDownloadWindowInMillis"
        | "binaryProviderInfoEvictionTime"
        | "checkPeriod"
        | "timeout"
        | "hazelcastWaitingTime"
        | "addStalePeriod"
        | "interval"
        | "connectionTimeout"
        | "socketTimeout"
        | "connectionAcquisitionTimeout"
        | "concurrentStreamWaitTimeout"
        | "maxBalancingRunTime"
        | "freeSpaceSampleInterval"
        | "uploaderCleanupIdleTime" => Millis { min: 0 },
        "skipDuringUpload"
        | "multiReadEnabled"
        | "validateChecksum"
        | "writeEnabled"
        | "useInstanceCredentials"
        | "testConnection"
        | "useHttp"
        | "enablePathStyleAccess"
        | "usePresigning"
        | "enableSignedUrlRedirect"
        | "awsSdkV2"
        | "disableChecksumValidation"
        | "disableChunkedEncoding"
        | "crtEnableConnectionHealth"
        | "httpsOnly"
        | "bucketExists" => Bool,
        "port" | "httpsPort" | "proxyPort" => Port,
        "numberOfThreads" | "maxWorkers" | "maxConnections" | "redundancy" | "lenientLimit"
        | "maxTrys" | "queueSize" => Count { min: 1 },
        "connectionRetry"
        | "minSpareUploaderExecutor"
        | "concurrentStreamBufferKb"
        | "signatureExpirySeconds"
        | "signedUrlExpirySeconds" => Count { min: 0 },
        "rootFoldersNameLength" => FolderLen,
        "path" => KeyPrefix,
        "bucketName" => Bucket {
            gcs: provider_type == "google-storage-v2",
        },
        "endpoint" => Endpoint,
        "readBehavior" | "writeBehavior" => Behavior,
        "zones" => Zones,
        "region" | "identity" | "credential" | "zone" => Text,
        _ => Free,
    }
}

/// How the message describes a valid value.
pub(crate) fn expected_form(kind: Kind) -> String {
    match kind {
        Kind::Dir => "a directory path".into(),
        Kind::Size { min: 0 } => "a size in bytes (e.g. 5000000000)".into(),
        Kind::Size { min } => format!("a size in bytes of at least {min} (e.g. 16777216)"),
        Kind::Millis { min: 0 } => "a duration in milliseconds (e.g. 15000)".into(),
        Kind::Millis { min } => {
            format!("a duration in milliseconds of at least {min} (e.g. 1000)")
        }
        Kind::Bool => "true or false".into(),
        Kind::Port => "a port number from 1 to 65535".into(),
        Kind::Count { min: 0 } => "a whole number (e.g. 2)".into(),
        Kind::Count { min } => format!("a whole number of at least {min}"),
        Kind::FolderLen => "a whole number from 0 to 5".into(),
        Kind::KeyPrefix => {
            "a key prefix inside the bucket, without '.', '..' or empty segments (e.g. filestore)"
                .into()
        }
        Kind::Bucket { gcs: false } => "an S3 bucket name: 3 to 63 lowercase letters, digits, \
             dots and hyphens, starting and ending with a letter or digit (e.g. arca-binaries)"
            .into(),
        Kind::Bucket { gcs: true } => "a bucket name: 3 to 63 lowercase letters, digits, dots, \
             hyphens and underscores, starting and ending with a letter or digit (e.g. arca-binaries)"
            .into(),
        Kind::Endpoint => "a host[:port] or an http(s):// URL without a path \
             (e.g. s3.example.internal:9000 or https://s3.example.internal)"
            .into(),
        Kind::Behavior => format!("one of {}", BEHAVIORS.join(", ")),
        Kind::Zones => "a comma-separated list of the zones local and remote (e.g. local,remote)"
            .into(),
        Kind::Text => "a non-empty value".into(),
        Kind::Free => "any value".into(),
    }
}

/// A whole decimal number (digits only: no sign, no unit).
pub(crate) fn parse_number(v: &str) -> Option<u64> {
    if v.is_empty() || !v.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    v.parse().ok()
}

/// `true` / `false`, in any case.
pub(crate) fn parse_bool(v: &str) -> Option<bool> {
    if v.eq_ignore_ascii_case("true") {
        Some(true)
    } else if v.eq_ignore_ascii_case("false") {
        Some(false)
    } else {
        None
    }
}

pub(crate) fn parse_port(v: &str) -> Option<u16> {
    parse_number(v)
        .and_then(|n| u16::try_from(n).ok())
        .filter(|p| *p > 0)
}

/// `path` without slashes at the ends; `None` when a segment is empty, `.` or `..`.
pub(crate) fn parse_key_prefix(v: &str) -> Option<String> {
    let p = v.trim_matches('/');
    if p.is_empty() {
        // `/` (or an empty element): objects directly under the bucket's root.
        return Some(String::new());
    }
    let ok = p.split('/').all(|seg| !matches!(seg, "" | "." | ".."))
        && !p.chars().any(|c| c.is_control() || c == '\\');
    ok.then(|| p.to_string())
}

fn valid_bucket(v: &str, gcs: bool) -> bool {
    let b = v.as_bytes();
    let (Some(first), Some(last)) = (b.first(), b.last()) else {
        return false;
    };
    let char_ok = |c: u8| {
        c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'.' || c == b'-' || (gcs && c == b'_')
    };
    let looks_like_ip = v.parse::<std::net::Ipv4Addr>().is_ok();
    (3..=63).contains(&b.len())
        && b.iter().all(|c| char_ok(*c))
        && first.is_ascii_alphanumeric()
        && last.is_ascii_alphanumeric()
        && !v.contains("..")
        && !looks_like_ip
        // Reserved by AWS for access points and other internal names.
        && !(v.starts_with("xn--") || v.ends_with("-s3alias") || v.ends_with("--ol-s3"))
        && !(gcs && v.starts_with("goog"))
}

/// The scheme of an `endpoint` URL: `Some(true)` for http, `Some(false)` for https, `None` for a
/// bare host[:port].
pub(crate) fn endpoint_is_http(v: &str) -> Option<bool> {
    let (scheme, _) = v.split_once("://")?;
    Some(scheme.eq_ignore_ascii_case("http"))
}

fn valid_endpoint(v: &str) -> bool {
    let rest = match v.split_once("://") {
        Some((scheme, rest)) => {
            if !(scheme.eq_ignore_ascii_case("http") || scheme.eq_ignore_ascii_case("https")) {
                return false;
            }
            rest.strip_suffix('/').unwrap_or(rest)
        }
        None => v,
    };
    // S3 clients address buckets under the endpoint themselves: no path, query or user info.
    if rest.is_empty() || rest.contains(['/', '?', '#', '@']) {
        return false;
    }
    let (host, port) = if let Some(r) = rest.strip_prefix('[') {
        let Some((h, after)) = r.split_once(']') else {
            return false;
        };
        if h.parse::<std::net::Ipv6Addr>().is_err() {
            return false;
        }
        match after {
            "" => return true,
            a => match a.strip_prefix(':') {
                Some(p) => return parse_port(p).is_some(),
                None => return false,
            },
        }
    } else {
        match rest.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (rest, None),
        }
    };
    if port.is_some_and(|p| parse_port(p).is_none()) {
        return false;
    }
    !host.is_empty()
        && host.len() <= 253
        && host.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .bytes()
                    .all(|c| c.is_ascii_alphanumeric() || c == b'-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        })
}

/// Whether `value` has the form `kind` asks for.
pub(crate) fn valid_value(kind: Kind, v: &str) -> bool {
    match kind {
        Kind::Dir | Kind::Text => !v.is_empty(),
        Kind::Size { min } | Kind::Millis { min } => parse_number(v).is_some_and(|n| n >= min),
        Kind::Count { min } => {
            parse_number(v).is_some_and(|n| n >= min && n <= u64::from(u32::MAX))
        }
        Kind::Bool => parse_bool(v).is_some(),
        Kind::Port => parse_port(v).is_some(),
        Kind::FolderLen => parse_number(v).is_some_and(|n| n <= 5),
        Kind::KeyPrefix => parse_key_prefix(v).is_some(),
        Kind::Bucket { gcs } => valid_bucket(v, gcs),
        Kind::Endpoint => valid_endpoint(v),
        Kind::Behavior => BEHAVIORS.contains(&v),
        Kind::Zones => v.split(',').all(|z| matches!(z.trim(), "local" | "remote")),
        Kind::Free => true,
    }
}

/// Why a parameter is accepted (a reference file keeps working) but changes nothing in arca.
pub(super) fn no_effect(provider_type: &str, name: &str) -> Option<&'static str> {
    const DOWNLOADS: &str = "downloads are always served by arca, never redirected";
    const SDK: &str = "a tuning option of the reference's AWS SDK client";
    const SHARDING: &str = "a tuning option of the reference's sharding implementation";
    const INTERNAL: &str = "an internal tunable of the reference's implementation";
    Some(match name {
        n if n.starts_with("kms")
            || n == "server-side-encryption-aws-kms"
            || n == "encryptionFormat" =>
        {
            "KMS encryption is not implemented; use the bucket's default encryption"
        }
        n if n.starts_with("cloudFront") => DOWNLOADS,
        "usePresigning"
        | "signatureExpirySeconds"
        | "signedUrlExpirySeconds"
        | "enableSignedUrlRedirect" => DOWNLOADS,
        n if n.starts_with("proxy") || n == "nonProxyHost" => {
            "arca connects to the object store directly, without a proxy"
        }
        n if n.starts_with("crt") => SDK,
        "awsSdkV2" | "disableChunkedEncoding" | "connectionAcquisitionTimeout" => SDK,
        "disableChecksumValidation" => "arca always verifies checksums",
        n if n.starts_with("concurrentStream") => SHARDING,
        "maxBalancingRunTime"
        | "freeSpaceSampleInterval"
        | "minSpareUploaderExecutor"
        | "uploaderCleanupIdleTime" => SHARDING,
        "cacheSynchQuietPeriod"
        | "parallelDownloadWindowInMillis"
        | "multiReadEnabled"
        | "binaryProviderInfoEvictionTime"
        | "hazelcastWaitingTime"
        | "queueSize" => INTERNAL,
        "checkPeriod" if provider_type == "eventual-cluster" => INTERNAL,
        "timeout" | "serviceId" if provider_type == "remote" => INTERNAL,
        "bucketExists" | "providerId" if provider_type == "google-storage-v2" => INTERNAL,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    // The whole-file checks (line, key, provider and message of each bad value) are tested in
    // `analysis`; these check the value forms themselves.
    #[test]
    fn value_forms() {
        let s3 = |name: &str, v: &str| valid_value(param_kind("s3-storage-v3", name), v);
        assert!(s3("endpoint", "[2001:db8::1]:9000"));
        assert!(!s3("endpoint", "https://s3.example/bucket"));
        assert!(s3("bucketName", "a.b-c"));
        assert!(!s3("bucketName", "192.168.1.1"));
        assert!(!s3("bucketName", "my_bucket"));
        assert!(valid_value(
            param_kind("google-storage-v2", "bucketName"),
            "my_bucket"
        ));
        assert!(s3("multipartElementSize", "5242880"));
        assert!(!s3("multipartElementSize", "5242879"));
        assert_eq!(parse_key_prefix("/arca/store/"), Some("arca/store".into()));
        assert_eq!(parse_key_prefix("a/../b"), None);
        assert_eq!(endpoint_is_http("HTTP://h"), Some(true));
        assert_eq!(endpoint_is_http("h:9000"), None);
        assert!(no_effect("remote", "serviceId").is_some());
        assert!(no_effect("s3-storage-v3", "serviceId").is_none());
    }
}
