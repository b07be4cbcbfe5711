//! Target `maven`: what a remote upstream or a deploying client sends that the Maven format
//! parses — `maven-metadata.xml` (cached from upstreams, merged by virtual repositories), POMs
//! (the consistency check of a deploy), layout paths and snapshot file names, version strings.
//! Properties: no panic; metadata that parses writes XML that parses again, and a merge of it
//! does too; the version order is antisymmetric.

use std::cmp::Ordering;

use arca_server::formats::maven_layout::{
    coordinates, non_unique_file, pom_coordinates, snapshot_file, snapshot_metadata,
};
use arca_server::formats::maven_metadata::{Metadata, compare_versions};
use rand::Rng;
use rand::rngs::StdRng;

use super::pick;
use crate::mutate::mutate;
use crate::runner::Target;

const TOKENS: &[&str] = &[
    "<metadata>",
    "</metadata>",
    "<versioning>",
    "</versioning>",
    "<versions>",
    "</versions>",
    "<version>",
    "</version>",
    "<latest>1.0</latest>",
    "<release>",
    "<snapshot><timestamp>20261207.101112</timestamp><buildNumber>3</buildNumber></snapshot>",
    "<buildNumber>99999999999999999999</buildNumber>",
    "<snapshotVersions><snapshotVersion><extension>jar</extension><value>1.0-20261207.101112-3</value></snapshotVersion></snapshotVersions>",
    "<plugins><plugin><prefix>x</prefix></plugin></plugins>",
    "<lastUpdated>20261207101112</lastUpdated>",
    "<project>",
    "</project>",
    "<parent><groupId>p</groupId><version>1</version></parent>",
    "<groupId>org.ex</groupId>",
    "<artifactId>a</artifactId>",
    "<![CDATA[x]]>",
    "&amp;",
    "&#0;",
    "&bogus;",
    "<!DOCTYPE x [<!ENTITY e \"e\">]>",
    "<?xml version=\"1.0\"?>",
    "1.0",
    "1.0-SNAPSHOT",
    "1.0-rc1",
    "2.0.0-alpha-1",
    "1..0",
    "-",
    ".",
    "é",
    "/",
    "org/ex/a/1.0-SNAPSHOT/a-1.0-20261207.101112-3-sources.jar",
    "org/ex/a/1.0/a-1.0.pom",
];

const SEEDS: &[&str] = &[
    "<?xml version=\"1.0\"?><metadata><groupId>g</groupId><artifactId>a</artifactId><versioning><latest>1.1</latest><release>1.1</release><versions><version>1.0</version><version>1.1</version></versions><lastUpdated>20260101000000</lastUpdated></versioning></metadata>",
    "<metadata modelVersion=\"1.1.0\"><version>1.0-SNAPSHOT</version><versioning><snapshot><timestamp>20261207.101112</timestamp><buildNumber>3</buildNumber></snapshot><snapshotVersions><snapshotVersion><classifier>sources</classifier><extension>jar</extension><value>1.0-20261207.101112-3</value><updated>20261207101112</updated></snapshotVersion></snapshotVersions></versioning></metadata>",
    "<project xmlns=\"http://maven.apache.org/POM/4.0.0\"><modelVersion>4.0.0</modelVersion><parent><groupId>org.p</groupId><artifactId>p</artifactId><version>3</version></parent><artifactId>child</artifactId></project>",
    "org/ex/a/1.0-SNAPSHOT/a-1.0-20261207.101112-3.jar",
    "1.0.0-rc-2.final",
];

pub struct Maven;

impl Target for Maven {
    fn name(&self) -> &'static str {
        "maven"
    }

    fn generate(&mut self, rng: &mut StdRng) -> Vec<u8> {
        let mut data = pick(rng, SEEDS).as_bytes().to_vec();
        let rounds = rng.gen_range(0..6);
        if rounds > 0 {
            let other = pick(rng, SEEDS).as_bytes();
            mutate(rng, &mut data, TOKENS, other, rounds, 64 * 1024);
        }
        data
    }

    fn check(&mut self, input: &[u8]) -> Result<(), String> {
        if let Ok(metadata) = Metadata::parse(input) {
            let xml = metadata
                .to_xml()
                .map_err(|e| format!("parsed metadata does not write: {e}"))?;
            Metadata::parse(xml.as_bytes())
                .map_err(|e| format!("written metadata does not parse again: {e}\n{xml}"))?;
            let merged = Metadata::merge(&[metadata.clone(), metadata]);
            let xml = merged
                .to_xml()
                .map_err(|e| format!("merged metadata does not write: {e}"))?;
            Metadata::parse(xml.as_bytes())
                .map_err(|e| format!("merged metadata does not parse again: {e}\n{xml}"))?;
        }
        let _ = pom_coordinates(input);
        let text = String::from_utf8_lossy(input);
        if let Some(c) = coordinates(&text) {
            let _ = snapshot_file(c.artifact_id, c.version, c.file);
            let _ = non_unique_file(c.artifact_id, c.version, c.file);
            let names = vec![c.file.to_string()];
            let xml = snapshot_metadata("g", c.artifact_id, c.version, &names, "20261207000000")
                .to_xml()
                .map_err(|e| format!("snapshot metadata does not write: {e}"))?;
            Metadata::parse(xml.as_bytes())
                .map_err(|e| format!("snapshot metadata does not parse: {e}\n{xml}"))?;
        }
        let (a, b) = text.split_at(text.floor_char_boundary(text.len() / 2));
        let forward = compare_versions(a, b);
        if forward != compare_versions(b, a).reverse() {
            return Err(format!(
                "version order is not antisymmetric for {a:?} and {b:?}"
            ));
        }
        if compare_versions(a, a) != Ordering::Equal {
            return Err(format!("{a:?} is not equal to itself"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runner::iteration_rng;

    #[test]
    fn generated_inputs_include_valid_metadata() {
        let mut parsed = 0;
        for i in 0..500 {
            let input = Maven.generate(&mut iteration_rng(1, "maven", i));
            if Metadata::parse(&input).is_ok() {
                parsed += 1;
            }
            Maven.check(&input).expect("property");
        }
        assert!(parsed > 50, "only {parsed} of 500 inputs parse as metadata");
    }
}
