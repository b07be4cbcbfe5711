//! Byte-level mutations of a generated input: what turns a valid request or file into the
//! almost-valid ones parsers get wrong.

use rand::Rng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;

/// Bytes that sit on parser boundaries (separators, escapes, line ends, UTF-8 lead bytes).
const INTERESTING_BYTES: &[u8] =
    b"\x00\x01\x7f\x80\xc0\xc3\xe2\xf0\xf4\xff\r\n\t =:;,/\\%?#&+\"'<>[]{}*.-~|!@";

/// Up to `max_rounds` random mutations of `data`, tokens taken from `dictionary`, a splice
/// partner from `other`. The result is at most `max_len` bytes.
pub fn mutate(
    rng: &mut StdRng,
    data: &mut Vec<u8>,
    dictionary: &[&str],
    other: &[u8],
    max_rounds: usize,
    max_len: usize,
) {
    let rounds = rng.gen_range(1..=max_rounds.max(1));
    for _ in 0..rounds {
        mutate_once(rng, data, dictionary, other);
        if data.len() > max_len {
            data.truncate(max_len);
        }
    }
}

fn position(rng: &mut StdRng, data: &[u8]) -> usize {
    rng.gen_range(0..=data.len())
}

/// A random range `start..end` inside `data` of at most `max` bytes.
fn range(rng: &mut StdRng, data: &[u8], max: usize) -> (usize, usize) {
    let start = rng.gen_range(0..=data.len());
    let len = rng.gen_range(0..=max.min(data.len() - start));
    (start, start + len)
}

fn mutate_once(rng: &mut StdRng, data: &mut Vec<u8>, dictionary: &[&str], other: &[u8]) {
    match rng.gen_range(0..11) {
        // flip one bit
        0 if !data.is_empty() => {
            let i = rng.gen_range(0..data.len());
            data[i] ^= 1 << rng.gen_range(0..8);
        }
        // overwrite a byte with a boundary byte
        1 if !data.is_empty() => {
            let i = rng.gen_range(0..data.len());
            data[i] = INTERESTING_BYTES[rng.gen_range(0..INTERESTING_BYTES.len())];
        }
        // insert a boundary byte
        2 => {
            let i = position(rng, data);
            data.insert(
                i,
                INTERESTING_BYTES[rng.gen_range(0..INTERESTING_BYTES.len())],
            );
        }
        // insert a dictionary token
        3 | 4 if !dictionary.is_empty() => {
            let token = dictionary.choose(rng).copied().unwrap_or_default();
            let i = position(rng, data);
            data.splice(i..i, token.bytes());
        }
        // replace a range with a dictionary token
        5 if !dictionary.is_empty() => {
            let token = dictionary.choose(rng).copied().unwrap_or_default();
            let (start, end) = range(rng, data, 16);
            data.splice(start..end, token.bytes());
        }
        // delete a range
        6 => {
            let (start, end) = range(rng, data, 32);
            data.drain(start..end);
        }
        // duplicate a range, sometimes many times (long segments, repeated headers)
        7 => {
            let (start, end) = range(rng, data, 64);
            let piece = data[start..end].to_vec();
            let times = if rng.gen_bool(0.1) {
                rng.gen_range(2..200)
            } else {
                1
            };
            let at = position(rng, data);
            data.splice(
                at..at,
                piece.iter().copied().cycle().take(piece.len() * times),
            );
        }
        // truncate
        8 => {
            let at = position(rng, data);
            data.truncate(at);
        }
        // splice: our prefix, the other input's suffix
        9 if !other.is_empty() => {
            let at = position(rng, data);
            let from = rng.gen_range(0..=other.len());
            data.truncate(at);
            data.extend_from_slice(&other[from..]);
        }
        // random bytes
        _ => {
            let at = position(rng, data);
            let n = rng.gen_range(1..8);
            let bytes: Vec<u8> = (0..n).map(|_| rng.r#gen()).collect();
            data.splice(at..at, bytes);
        }
    }
}

/// Uppercase hex of a few bytes, for dictionary-driven escapes (`%C0%AF`).
pub fn percent_escape(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("%{b:02X}")).collect()
}

/// `input` printable for a report: escaped text (non-ASCII and control bytes as `\xNN`).
pub fn escaped(input: &[u8]) -> String {
    input.escape_ascii().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn mutations_stay_within_the_length_limit_and_change_the_input() {
        let mut rng = StdRng::seed_from_u64(7);
        let mut changed = 0;
        for _ in 0..2000 {
            let original = b"GET /artifactory/libs/a.jar HTTP/1.1\r\n\r\n".to_vec();
            let mut data = original.clone();
            mutate(&mut rng, &mut data, &["%00", ".."], b"PUT /x", 4, 100);
            assert!(data.len() <= 100);
            changed += usize::from(data != original);
        }
        assert!(changed > 1500, "only {changed} of 2000 mutated");
    }

    #[test]
    fn escaping_shows_control_and_non_ascii_bytes() {
        assert_eq!(escaped(b"a\r\n\xc0"), "a\\r\\n\\xc0");
        assert_eq!(percent_escape(&[0xc0, 0xaf]), "%C0%AF");
    }
}
