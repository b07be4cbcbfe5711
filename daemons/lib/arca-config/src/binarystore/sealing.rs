//! Sealing the plaintext `identity` / `credential` values of `binarystore.xml` in place, every
//! other byte of the file kept.

use std::collections::BTreeMap;
use std::path::Path;

use roxmltree::{Document, Node};

use super::model::{BinaryStoreConfig, ChainSpec, ProviderNode};
use super::parameters::SEALED_PARAMS;
use crate::db::ENCRYPTED_PREFIX;
use crate::error::ConfigError;
use crate::props::read_text;

/// One `identity` / `credential` value in the text of `binarystore.xml`.
struct SecretSite {
    /// Bytes of the raw value in the file (element text without surrounding whitespace, or
    /// the attribute value between its quotes).
    range: std::ops::Range<usize>,
    /// The value as the parser reads it (entities resolved, trimmed).
    value: String,
    in_attribute: bool,
}

fn is_provider_element(node: Node<'_, '_>) -> bool {
    node.is_element()
        && matches!(
            node.tag_name().name(),
            "provider" | "sub-provider" | "dynamic-provider"
        )
}

/// Every sealable secret parameter of the document, in document order.
fn secret_sites(doc: &Document<'_>, text: &str) -> Vec<SecretSite> {
    let mut sites = Vec::new();
    for node in doc.descendants().filter(Node::is_element) {
        if !node.parent().is_some_and(is_provider_element) {
            continue;
        }
        let name = node.tag_name().name();
        if name == "property" {
            let (Some(n), Some(attr)) = (
                node.attribute("name"),
                node.attributes().find(|a| a.name() == "value"),
            ) else {
                continue;
            };
            if SEALED_PARAMS.contains(&n.trim()) {
                sites.push(SecretSite {
                    range: attr.range_value(),
                    value: attr.value().trim().to_string(),
                    in_attribute: true,
                });
            }
        } else if SEALED_PARAMS.contains(&name) {
            // Content = between the end of the start tag and the start of the end tag; a
            // self-closing element has none.
            let whole = node.range();
            let Some(element) = text.get(whole.clone()) else {
                continue;
            };
            let (Some(open_end), Some(close_start)) = (start_tag_end(element), element.rfind("</"))
            else {
                continue;
            };
            if open_end > close_start {
                continue;
            }
            let content = &element[open_end..close_start];
            let lead = content.len() - content.trim_start().len();
            let trail = content.len() - content.trim_end().len();
            if lead == content.len() {
                continue;
            }
            let value: String = node
                .descendants()
                .filter(|c| c.is_text())
                .filter_map(|c| c.text())
                .collect();
            sites.push(SecretSite {
                range: whole.start + open_end + lead..whole.start + close_start - trail,
                value: value.trim().to_string(),
                in_attribute: false,
            });
        }
    }
    sites
}

/// Offset just past the `>` that closes the start tag of `element` (quotes respected).
fn start_tag_end(element: &str) -> Option<usize> {
    let mut quote: Option<char> = None;
    for (i, c) in element.char_indices() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '"' | '\'') => quote = Some(c),
            (None, '>') => return Some(i + 1),
            _ => {}
        }
    }
    None
}

fn xml_escape(s: &str, in_attribute: bool) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' if in_attribute => out.push_str("&quot;"),
            '\'' if in_attribute => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

/// `config` with the sealed parameters' values blanked (what must stay equal when sealing).
fn without_sealed_values(mut config: BinaryStoreConfig) -> BinaryStoreConfig {
    fn blank(params: &mut BTreeMap<String, String>) {
        for key in SEALED_PARAMS {
            if let Some(v) = params.get_mut(key) {
                v.clear();
            }
        }
    }
    fn blank_tree(node: &mut ProviderNode) {
        blank(&mut node.params);
        for n in node
            .children
            .iter_mut()
            .chain(&mut node.sub_providers)
            .chain(&mut node.dynamic_providers)
        {
            blank_tree(n);
        }
    }
    if let ChainSpec::Explicit(top) = &mut config.chain {
        blank_tree(top);
    }
    for b in &mut config.providers {
        blank(&mut b.params);
    }
    config
}

/// Seal the plaintext `identity` / `credential` values of `binarystore.xml` at `path` (element
/// text or `<property name="identity" value="…"/>`): each value that does not start with
/// [`crate::db::ENCRYPTED_PREFIX`] is replaced by `seal(plaintext)`, which must return such a
/// token. Every other byte of the file stays as it is (comments, whitespace, attribute order).
///
/// The file must parse; the rewritten text is parsed again and must give the same config except
/// for those values before the file is replaced atomically (mode and owner kept; a symlink is
/// followed). Returns how many values were sealed (0: the file is not touched; an absent file
/// has nothing to seal).
pub fn seal_secrets(path: &Path, seal: &dyn Fn(&str) -> String) -> Result<usize, ConfigError> {
    // Rewrite the target, not the link: renaming over a symlink would replace it by a file.
    let real = match std::fs::canonicalize(path) {
        Ok(p) => p,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(ConfigError::io(path, "resolve path", &e)),
    };
    let Some(text) = read_text(&real)? else {
        return Ok(0);
    };
    let before = BinaryStoreConfig::parse(&text, path)?;
    let doc = Document::parse(&text).map_err(|e| {
        ConfigError::new(path, format!("malformed XML: {e}")).at_line(e.pos().row as usize)
    })?;
    let sites = secret_sites(&doc, &text);
    let mut expected: Vec<String> = Vec::with_capacity(sites.len());
    let mut new_text = String::with_capacity(text.len() + 64 * sites.len());
    let mut copied = 0;
    let mut sealed = 0;
    for site in &sites {
        if site.value.is_empty() || site.value.starts_with(ENCRYPTED_PREFIX) {
            expected.push(site.value.clone());
            continue;
        }
        let token = seal(&site.value);
        // A token that does not read back as sealed would be sealed again at every start; one
        // with whitespace would be trimmed or move lines.
        if !token.starts_with(ENCRYPTED_PREFIX)
            || token.chars().any(|c| c.is_whitespace() || c.is_control())
        {
            return Err(ConfigError::new(
                path,
                format!("internal error: the sealed value is not an {ENCRYPTED_PREFIX}… token"),
            ));
        }
        new_text.push_str(&text[copied..site.range.start]);
        new_text.push_str(&xml_escape(&token, site.in_attribute));
        copied = site.range.end;
        expected.push(token);
        sealed += 1;
    }
    if sealed == 0 {
        return Ok(0);
    }
    new_text.push_str(&text[copied..]);

    // Guard against a range or escaping mistake before the file is touched.
    let internal = |what: &str| {
        ConfigError::new(
            path,
            format!("internal error: the file with sealed values would not read back ({what})"),
        )
    };
    let after = BinaryStoreConfig::parse(&new_text, path).map_err(|e| internal(&e.message))?;
    if without_sealed_values(before) != without_sealed_values(after) {
        return Err(internal("configuration changed"));
    }
    let new_doc = Document::parse(&new_text).map_err(|e| internal(&e.to_string()))?;
    let got: Vec<String> = secret_sites(&new_doc, &new_text)
        .into_iter()
        .map(|s| s.value)
        .collect();
    if got != expected {
        return Err(internal("secret values"));
    }
    crate::atomic::replace_file(&real, new_text.as_bytes())?;
    Ok(sealed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::home::Home;

    const SECRET_XML: &str = "<?xml version=\"1.0\"?>\n\
<!-- credentials for the lab's S3 -->\n\
<config version=\"2\">\n\
  <chain template=\"s3-storage-v3-direct\"/>\n\
  <provider type=\"s3-storage-v3\"   id=\"s3-storage-v3\">\n\
    <bucketName>arca</bucketName>\n\
    <identity>\n      AKIA&amp;1 </identity>  <!-- keep me -->\n\
    <property value='p&quot;w&amp;d'  name=\"credential\"/>\n\
  </provider>\n\
</config>\n";

    fn fake_seal(plain: &str) -> String {
        // base64url-like and unique per value, like the real tokens
        let hex: String = plain.bytes().map(|b| format!("{b:02x}")).collect();
        format!("enc:v1:{hex}")
    }

    #[test]
    fn seal_secrets_rewrites_only_the_values() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("binarystore.xml");
        std::fs::write(&path, SECRET_XML).unwrap();
        let seen = std::cell::RefCell::new(Vec::new());
        let seal = |p: &str| {
            seen.borrow_mut().push(p.to_string());
            fake_seal(p)
        };
        assert_eq!(seal_secrets(&path, &seal).unwrap(), 2);
        // The sealer got the values as the parser reads them (entities resolved, trimmed).
        assert_eq!(*seen.borrow(), vec!["AKIA&1", "p\"w&d"]);
        let text = std::fs::read_to_string(&path).unwrap();
        let expected = SECRET_XML
            .replace("AKIA&amp;1", &fake_seal("AKIA&1"))
            .replace("p&quot;w&amp;d", &fake_seal("p\"w&d"));
        assert_eq!(text, expected);

        let c = BinaryStoreConfig::parse(&text, &path).unwrap();
        let home = Home::new("/h");
        let plan = c
            .plan(&home, &crate::storage_plan::DataRoots::new(&home, None))
            .unwrap();
        let crate::storage_plan::BackendSpec::ObjectStore(os) = plan.backend else {
            panic!()
        };
        use crate::storage_plan::SecretValue;
        assert_eq!(
            os.s3.identity,
            Some(SecretValue::Sealed(fake_seal("AKIA&1")))
        );
        assert_eq!(
            os.s3.credential,
            Some(SecretValue::Sealed(fake_seal("p\"w&d")))
        );

        // Sealed values stay as they are: nothing left to do.
        let never = |_: &str| -> String { panic!("nothing to seal") };
        assert_eq!(seal_secrets(&path, &never).unwrap(), 0);
        assert_eq!(std::fs::read_to_string(&path).unwrap(), expected);
    }

    #[test]
    fn seal_secrets_refusals() {
        let dir = tempfile::tempdir().unwrap();
        // Absent file: nothing to seal.
        let absent = dir.path().join("absent.xml");
        assert_eq!(seal_secrets(&absent, &fake_seal).unwrap(), 0);

        let path = dir.path().join("binarystore.xml");
        std::fs::write(&path, SECRET_XML).unwrap();
        // A sealer that does not produce a token: refused, file untouched.
        let e = seal_secrets(&path, &|p: &str| p.to_uppercase()).unwrap_err();
        assert!(e.message.contains("not an enc:v1:… token"), "{e}");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), SECRET_XML);

        // An invalid file is not rewritten.
        let bad = SECRET_XML.replace("<bucketName>arca</bucketName>", "");
        std::fs::write(&path, &bad).unwrap();
        let e = seal_secrets(&path, &fake_seal).unwrap_err();
        assert_eq!(e.key.as_deref(), Some("bucketName"));
        assert_eq!(std::fs::read_to_string(&path).unwrap(), bad);
    }

    #[test]
    fn seal_secrets_follows_a_symlink() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("real.xml");
        let link = dir.path().join("binarystore.xml");
        std::fs::write(&target, SECRET_XML).unwrap();
        std::os::unix::fs::symlink(&target, &link).unwrap();
        assert_eq!(seal_secrets(&link, &fake_seal).unwrap(), 2);
        assert!(
            std::fs::symlink_metadata(&link)
                .unwrap()
                .file_type()
                .is_symlink()
        );
        assert!(
            std::fs::read_to_string(&target)
                .unwrap()
                .contains(&fake_seal("AKIA&1"))
        );
    }
}
