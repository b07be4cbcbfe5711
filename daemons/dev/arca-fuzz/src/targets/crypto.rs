//! Targets `node-signature` (the `X-Arca-Node-Signature` header any client can send to the
//! node-to-node endpoints) and `secrets` (sealed `enc:v1:` values of the configuration files).
//!
//! `node-signature` inputs are lines: method, path and query, the `X-Arca-Content-SHA256`
//! value (`-` for none), then one signature header value per line. Generated from requests
//! signed with the test master key (v1 and v2, fresh or stale), then mutated. Properties: no
//! panic; an accepted signature names a well-formed node and lies within the skew window, and
//! the replay guard refuses it the second time.
//!
//! `secrets` inputs are tokens sealed with the test key (and `master.key` files), mutated,
//! given to `SecretBox::open` and `MasterKey::parse`. Property: no panic.

use arca_crypto::{NodeRequest, ReceivedRequest, ReplayGuard, RequestSigner, SecretBox};
use rand::Rng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;

use crate::mutate::mutate;
use crate::runner::Target;
use crate::targets::pick;

const MASTER_KEY: [u8; 16] = [3; 16];
const THIS_NODE: &str = "art1";
/// The receiver's clock (ms since the epoch).
const NOW_MS: i64 = 1_780_000_000_000;
const MAX_SKEW_MS: i64 = 60_000;
const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

const DICTIONARY: &[&str] = &[
    " ",
    "  ",
    "v1",
    "v2",
    "v3",
    "node=",
    "to=",
    "ts=",
    "nonce=",
    "sig=",
    "=",
    "\n",
    "-",
    "0",
    "9223372036854775807",
    "9223372036854775808",
    "-1",
    "art1",
    "art2",
    "é",
    "\u{7f}",
    "ff",
    "FF",
];

/// `len` random lowercase hex digits (also used by the license target).
pub(super) fn hex_chars(rng: &mut StdRng, len: usize) -> String {
    (0..len)
        .map(|_| char::from(b"0123456789abcdef"[rng.gen_range(0..16)]))
        .collect()
}

pub struct NodeSignature {
    signer: RequestSigner,
    compat: RequestSigner,
}

impl NodeSignature {
    pub fn new() -> Self {
        let signer = RequestSigner::new(&MASTER_KEY);
        NodeSignature {
            compat: signer.clone().with_v1_compat(true),
            signer,
        }
    }
}

impl Default for NodeSignature {
    fn default() -> Self {
        Self::new()
    }
}

/// The parts of a `node-signature` input.
fn split_input(text: &str) -> (ReceivedRequest<'_>, Vec<&str>) {
    let mut lines = text.split('\n');
    let method = lines.next().unwrap_or_default();
    let path_and_query = lines.next().unwrap_or_default();
    let content_sha256 = lines.next().filter(|s| *s != "-");
    let received = ReceivedRequest {
        method,
        path_and_query,
        this_node: THIS_NODE,
        content_sha256,
    };
    (received, lines.collect())
}

impl Target for NodeSignature {
    fn name(&self) -> &'static str {
        "node-signature"
    }

    fn generate(&mut self, rng: &mut StdRng) -> Vec<u8> {
        // A good request, then none (half of the time), one or two of its parts broken.
        let mut method = pick(rng, &["GET", "PUT", "POST", "DELETE"]);
        let mut path = "/artifactory/api/arca/peer/binaries/ab";
        let mut sha = EMPTY_SHA256.to_string();
        let mut target = THIS_NODE;
        let mut caller = "art2";
        let mut ts = NOW_MS;
        let mut nonce = hex_chars(rng, 32);
        let broken = *[0, 0, 0, 1, 1, 2].choose(rng).unwrap_or(&0);
        for _ in 0..broken {
            match rng.gen_range(0..7) {
                0 => method = pick(rng, &["get", "", "G ET"]),
                1 => {
                    path = pick(
                        rng,
                        &[
                            "/",
                            "",
                            "/a b",
                            "/artifactory/api/arca/peer/binaries/ab?x=1",
                        ],
                    )
                }
                2 => sha = hex_chars(rng, 64),
                3 => target = pick(rng, &["art2", "", "a b", "é"]),
                4 => caller = pick(rng, &["art1", "", "é", "a b"]),
                5 => {
                    ts = match rng.gen_range(0..5) {
                        0 => NOW_MS + MAX_SKEW_MS,
                        1 => NOW_MS - MAX_SKEW_MS - 1,
                        2 => NOW_MS + MAX_SKEW_MS + 1,
                        3 => -1,
                        _ => rng.r#gen::<i64>(),
                    }
                }
                _ => {
                    let len = *[15, 16, 64, 65].choose(rng).unwrap_or(&16);
                    nonce = hex_chars(rng, len);
                }
            }
        }
        let request = NodeRequest {
            method,
            path_and_query: path,
            target_node: target,
            content_sha256: &sha,
        };
        let mut headers = Vec::new();
        if rng.gen_bool(0.3) {
            headers.push(self.signer.sign_v1(method, path, caller, ts, &nonce));
        }
        if rng.gen_bool(0.9) {
            headers.push(self.signer.sign_v2(&request, caller, ts, &nonce));
        }
        if rng.gen_bool(0.05) {
            headers.push(pick(rng, &["", "v2", "v1 node=a", "x"]).to_string());
        }
        let sha_line = if rng.gen_bool(0.95) {
            sha.as_str()
        } else {
            "-"
        };
        let mut data = format!("{method}\n{path}\n{sha_line}\n{}", headers.join("\n")).into_bytes();
        if rng.gen_bool(0.3) {
            let other = self.signer.sign_v2(&request, caller, ts, &nonce);
            mutate(rng, &mut data, DICTIONARY, other.as_bytes(), 4, 4096);
        }
        data
    }

    fn check(&mut self, input: &[u8]) -> Result<(), String> {
        let text = String::from_utf8_lossy(input);
        let (received, signatures) = split_input(&text);
        for signer in [&self.signer, &self.compat] {
            let Ok(signed) =
                signer.verify_request(signatures.iter().copied(), &received, NOW_MS, MAX_SKEW_MS)
            else {
                continue;
            };
            if signed.node_id.is_empty() || !signed.node_id.bytes().all(|b| b.is_ascii_graphic()) {
                return Err(format!("accepted a signature of node {:?}", signed.node_id));
            }
            if NOW_MS.abs_diff(signed.timestamp_ms) > MAX_SKEW_MS as u64 {
                return Err(format!(
                    "accepted a timestamp {} outside the window",
                    signed.timestamp_ms
                ));
            }
            let guard = ReplayGuard::new(MAX_SKEW_MS, 16);
            let first = guard.check_and_remember(
                &signed.node_id,
                &signed.nonce,
                signed.timestamp_ms,
                NOW_MS,
            );
            let again = guard.check_and_remember(
                &signed.node_id,
                &signed.nonce,
                signed.timestamp_ms,
                NOW_MS,
            );
            if !first || again {
                return Err(format!("replay guard: first {first}, replay {again}"));
            }
        }
        Ok(())
    }
}

pub struct Secrets {
    sealed: SecretBox,
}

impl Secrets {
    pub fn new() -> Self {
        Secrets {
            sealed: SecretBox::new(&MASTER_KEY),
        }
    }
}

impl Default for Secrets {
    fn default() -> Self {
        Self::new()
    }
}

const CONTEXTS: [&[u8]; 2] = [b"db.properties:password", b""];

impl Target for Secrets {
    fn name(&self) -> &'static str {
        "secrets"
    }

    fn generate(&mut self, rng: &mut StdRng) -> Vec<u8> {
        let len = rng.gen_range(0..64);
        let plaintext: Vec<u8> = (0..len).map(|_| rng.r#gen()).collect();
        let context = CONTEXTS.choose(rng).copied().unwrap_or_default();
        let mut data = self.sealed.seal(&plaintext, context).into_bytes();
        if rng.gen_bool(0.1) {
            // a master.key file
            data = format!("{}\n", arca_crypto::generate_master_key_hex()).into_bytes();
        } else if rng.gen_bool(0.1) {
            data = pick(
                rng,
                &[
                    "",
                    "enc:v1:",
                    "enc:v1:=",
                    "enc:v2:AAAA",
                    "enc:v1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
                ],
            )
            .as_bytes()
            .to_vec();
        }
        if rng.gen_bool(0.6) {
            mutate(
                rng,
                &mut data,
                &["enc:v1:", "=", "+", "/", "-", "_", "A", "\n", " "],
                b"enc:v1:",
                4,
                4096,
            );
        }
        data
    }

    fn check(&mut self, input: &[u8]) -> Result<(), String> {
        let text = String::from_utf8_lossy(input);
        for context in CONTEXTS {
            let _ = self.sealed.open(&text, context);
        }
        let _ = arca_crypto::is_sealed(&text);
        let _ = arca_config::MasterKey::parse(
            &text,
            std::path::Path::new("/h/etc/security/master.key"),
        );
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runner::iteration_rng;

    #[test]
    fn generated_signatures_reach_both_acceptance_and_refusal() {
        let mut target = NodeSignature::new();
        let (mut accepted, mut refused) = (0, 0);
        for i in 0..2000 {
            let input = target.generate(&mut iteration_rng(1, "node-signature", i));
            let text = String::from_utf8_lossy(&input).into_owned();
            let (received, signatures) = split_input(&text);
            match target
                .signer
                .verify_request(signatures, &received, NOW_MS, MAX_SKEW_MS)
            {
                Ok(_) => accepted += 1,
                Err(_) => refused += 1,
            }
        }
        assert!(
            accepted > 100 && refused > 100,
            "{accepted} accepted, {refused} refused"
        );
    }
}
