//! Correlation ids: the acceptance rule for an incoming id and the minting
//! of fresh ones.
//!
//! This module is the single source of truth for both. The JavaScript layer
//! never restates the rule: it compiles the regular-expression source that
//! [`acceptance_pattern`] builds from the same constants [`is_acceptable`]
//! uses, and it takes freshly minted ids from buffers that [`mint_into`]
//! fills. See `docs/correlation.md` for why the boundary is crossed this way.

use uuid::Uuid;

/// The longest acceptable incoming id, in characters.
pub const MAX_LEN: usize = 255;

/// The punctuation an acceptable id may contain besides ASCII letters and
/// digits. Enough for UUIDs, ULIDs, W3C `traceparent` values and base64 /
/// base64url ids; it leaves out whitespace, quotes, control characters
/// (CR/LF log forging) and everything outside ASCII.
pub const PUNCTUATION: &str = "._~:=+/-";

/// Length of a minted id: a canonical, hyphenated UUID.
pub const ID_LEN: usize = uuid::fmt::Hyphenated::LENGTH;

/// Which kind of UUID to mint.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Version {
    /// Random (RFC 9562 version 4), the default.
    V4,
    /// Unix-time ordered (RFC 9562 version 7): ids minted later in this
    /// process sort after ids minted earlier.
    V7,
}

impl Version {
    /// The version for its number (`4` or `7`); `None` for any other number.
    pub fn from_number(number: u32) -> Option<Version> {
        match number {
            4 => Some(Version::V4),
            7 => Some(Version::V7),
            _ => None,
        }
    }
}

/// True when `c` may appear in an acceptable id.
pub fn is_acceptable_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || PUNCTUATION.contains(c)
}

/// True when `id` is kept as the correlation id: 1 to [`MAX_LEN`]
/// characters, each an ASCII letter, an ASCII digit or one of
/// [`PUNCTUATION`].
pub fn is_acceptable(id: &str) -> bool {
    // Every acceptable character is ASCII, so bytes and characters agree
    // whenever the answer is `true`; a non-ASCII byte fails the check anyway.
    (1..=MAX_LEN).contains(&id.len()) && id.chars().all(is_acceptable_char)
}

/// True when `id` is kept under the given validation mode: with
/// `validate` the rule of [`is_acceptable`], without it any non-empty string
/// (the rule of the original middleware).
pub fn is_kept(id: &str, validate: bool) -> bool {
    if validate {
        is_acceptable(id)
    } else {
        !id.is_empty()
    }
}

/// The source of a regular expression that matches exactly the ids
/// [`is_kept`] keeps under `validate`, written in the common subset of
/// JavaScript (with or without the `u` flag) and Rust `regex` syntax.
///
/// The JavaScript layer compiles this once at load, so the rule is written
/// only here; unit tests check the pattern against [`is_kept`].
pub fn acceptance_pattern(validate: bool) -> String {
    if !validate {
        // At least one character, whatever it is.
        return String::from(r"^[\s\S]");
    }
    let mut class = String::from("A-Za-z0-9");
    for c in PUNCTUATION.chars() {
        // Characters with a meaning inside a character class are escaped;
        // these escapes are valid in both regex dialects.
        if matches!(c, '\\' | ']' | '[' | '^' | '-') {
            class.push('\\');
        }
        class.push(c);
    }
    format!("^[{class}]{{1,{MAX_LEN}}}$")
}

/// Mints one id: a lower-case, canonical (8-4-4-4-12) UUID of `version`.
pub fn mint(version: Version) -> String {
    let mut buffer = [0u8; ID_LEN];
    mint_into(version, &mut buffer, 1);
    // The hyphenated encoding only writes ASCII hex digits and '-'.
    String::from_utf8(buffer.to_vec()).expect("a hyphenated UUID is ASCII")
}

/// Mints up to `count` ids into `target`, back to back with no separator,
/// each exactly [`ID_LEN`] bytes, as many as fit, and returns how many it
/// wrote. Bytes past the last id are left untouched.
///
/// Version 7 ids come from the process-wide monotonic context of the `uuid`
/// crate: every id sorts after every id minted before it in this process,
/// whether in the same batch or an earlier one.
pub fn mint_into(version: Version, target: &mut [u8], count: usize) -> usize {
    let mut written = 0;
    for slot in target.chunks_exact_mut(ID_LEN).take(count) {
        let id = match version {
            Version::V4 => Uuid::new_v4(),
            Version::V7 => Uuid::now_v7(),
        };
        id.hyphenated().encode_lower(slot);
        written += 1;
    }
    written
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn accepts_common_id_shapes() {
        for id in [
            "0b7c9f6e-3c5d-4e8f-9a1b-2c3d4e5f6a7b",
            "01ARZ3NDEKTSV4RRFFQ69G5FAV",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "dGhpcyBpcyBiYXNlNjQ=",
            "a_b-c~d:e.f+g/h",
            "x",
        ] {
            assert!(is_acceptable(id), "{id}");
        }
    }

    #[test]
    fn length_boundaries() {
        assert!(!is_acceptable(""));
        assert!(is_acceptable(&"a".repeat(MAX_LEN)));
        assert!(!is_acceptable(&"a".repeat(MAX_LEN + 1)));
    }

    #[test]
    fn rejects_forging_and_non_ascii() {
        for id in [
            "a b",
            "a\rb",
            "a\nb",
            "a\tb",
            "a\"b",
            "a'b",
            "a\0b",
            "a\u{7f}b",
            "é",
            "a\u{2028}b",
            "<script>",
            "a;b",
            "a,b",
        ] {
            assert!(!is_acceptable(id), "{id:?}");
        }
    }

    #[test]
    fn every_listed_punctuation_is_accepted() {
        for c in PUNCTUATION.chars() {
            assert!(is_acceptable(&c.to_string()), "{c}");
        }
    }

    #[test]
    fn lax_mode_keeps_any_non_empty_string() {
        assert!(!is_kept("", false));
        assert!(is_kept("a b\r\n\"é", false));
        assert!(is_kept(&"a".repeat(10_000), false));
        assert!(!is_kept("a b", true));
    }

    #[test]
    fn version_numbers() {
        assert_eq!(Version::from_number(4), Some(Version::V4));
        assert_eq!(Version::from_number(7), Some(Version::V7));
        for n in [0, 1, 3, 5, 6, 8, 40] {
            assert_eq!(Version::from_number(n), None);
        }
    }

    /// The pattern handed to JavaScript must decide exactly like `is_kept`,
    /// for every single character and at the length boundaries.
    #[test]
    fn pattern_agrees_with_the_rule() {
        for validate in [true, false] {
            let re = regex::Regex::new(&acceptance_pattern(validate)).unwrap();
            let decide = |s: &str| {
                assert_eq!(
                    re.is_match(s),
                    is_kept(s, validate),
                    "{s:?} validate={validate}"
                );
            };
            decide("");
            for c in (0..=0x10FFFFu32).filter_map(char::from_u32) {
                decide(&c.to_string());
                if c.is_ascii() {
                    decide(&format!("a{c}b"));
                }
            }
            decide(&"a".repeat(MAX_LEN));
            decide(&"a".repeat(MAX_LEN + 1));
            decide(&"a".repeat(MAX_LEN * 4));
        }
    }

    #[test]
    fn pattern_text_is_stable() {
        assert_eq!(acceptance_pattern(true), r"^[A-Za-z0-9._~:=+/\-]{1,255}$");
        assert_eq!(acceptance_pattern(false), r"^[\s\S]");
    }

    /// Mints `count` ids through [`mint_into`] and splits them.
    fn mint_many(version: Version, count: usize) -> Vec<String> {
        let mut buffer = vec![0u8; count * ID_LEN];
        assert_eq!(mint_into(version, &mut buffer, count), count);
        buffer
            .chunks(ID_LEN)
            .map(|c| String::from_utf8(c.to_vec()).unwrap())
            .collect()
    }

    fn assert_canonical(id: &str, version: char) {
        assert_eq!(id.len(), ID_LEN, "{id}");
        for (i, c) in id.chars().enumerate() {
            if [8, 13, 18, 23].contains(&i) {
                assert_eq!(c, '-', "{id}");
            } else {
                assert!(c.is_ascii_digit() || ('a'..='f').contains(&c), "{id}");
            }
        }
        assert_eq!(id.as_bytes()[14] as char, version, "{id}");
        assert!("89ab".contains(id.as_bytes()[19] as char), "{id}");
        let parsed = Uuid::parse_str(id).unwrap();
        assert_eq!(parsed.hyphenated().to_string(), id);
    }

    #[test]
    fn minted_ids_are_canonical() {
        assert_canonical(&mint(Version::V4), '4');
        assert_canonical(&mint(Version::V7), '7');
        for id in mint_many(Version::V4, 64) {
            assert_canonical(&id, '4');
        }
    }

    #[test]
    fn mint_into_writes_only_whole_ids_up_to_count() {
        let mut buffer = vec![b'#'; 3 * ID_LEN + 10];
        assert_eq!(mint_into(Version::V4, &mut buffer, 2), 2);
        assert!(buffer[2 * ID_LEN..].iter().all(|b| *b == b'#'));
        assert_eq!(mint_into(Version::V7, &mut buffer, 100), 3);
        assert!(buffer[3 * ID_LEN..].iter().all(|b| *b == b'#'));
        assert_eq!(mint_into(Version::V4, &mut buffer, 0), 0);
        assert_eq!(mint_into(Version::V4, &mut [0u8; ID_LEN - 1], 1), 0);
    }

    #[test]
    fn v4_ids_do_not_repeat() {
        let ids = mint_many(Version::V4, 100_000);
        let unique: HashSet<&String> = ids.iter().collect();
        assert_eq!(unique.len(), ids.len());
    }

    #[test]
    fn v7_ids_sort_in_mint_order_across_batches() {
        let mut all = Vec::new();
        for _ in 0..5 {
            all.extend(mint_many(Version::V7, 300));
            std::thread::sleep(std::time::Duration::from_millis(2));
        }
        for pair in all.windows(2) {
            assert!(pair[0] < pair[1], "{} !< {}", pair[0], pair[1]);
        }
        for id in &all {
            assert_canonical(id, '7');
        }
    }

    #[test]
    fn v7_timestamp_is_the_mint_time() {
        let now_ms = || {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_millis() as u64
        };
        let before = now_ms();
        let id = mint(Version::V7);
        let after = now_ms();
        let hex: String = id.chars().filter(|c| *c != '-').take(12).collect();
        let ms = u64::from_str_radix(&hex, 16).unwrap();
        assert!(before <= ms && ms <= after, "{before} <= {ms} <= {after}");
    }
}
