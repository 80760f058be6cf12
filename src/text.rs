//! Text helpers that reproduce JavaScript string semantics in Rust.
//!
//! The runners promise results that match the TypeScript original bit for
//! bit, so whitespace and decoding follow ECMAScript and WHATWG rules, not
//! Rust's (`str::trim` differs from `String.prototype.trim` on U+0085 and
//! U+FEFF).

/// True for the characters ECMAScript's `WhiteSpace` and `LineTerminator`
/// productions accept (the set `String.prototype.trim` and the regex class
/// `\s` use).
pub fn is_js_whitespace(c: char) -> bool {
    matches!(
        c,
        '\u{0009}'
            | '\u{000A}'
            | '\u{000B}'
            | '\u{000C}'
            | '\u{000D}'
            | '\u{0020}'
            | '\u{00A0}'
            | '\u{1680}'
            | '\u{2000}'
            ..='\u{200A}'
                | '\u{2028}'
                | '\u{2029}'
                | '\u{202F}'
                | '\u{205F}'
                | '\u{3000}'
                | '\u{FEFF}'
    )
}

/// True for ECMAScript line terminators (what `^` matches after in
/// multiline mode).
pub fn is_js_line_terminator(c: char) -> bool {
    matches!(c, '\n' | '\r' | '\u{2028}' | '\u{2029}')
}

/// `String.prototype.trim`.
pub fn js_trim(s: &str) -> &str {
    s.trim_matches(is_js_whitespace)
}

/// The character class `\s` of ECMAScript regular expressions, written for
/// the `regex` crate.
pub const JS_SPACE_CLASS: &str = r"[\t\n\x0B\x0C\r \x{A0}\x{1680}\x{2000}-\x{200A}\x{2028}\x{2029}\x{202F}\x{205F}\x{3000}\x{FEFF}]";

/// Decodes captured bytes the way `new Response(stream).text()` does:
/// UTF-8 with replacement characters for invalid sequences and a leading
/// byte-order mark removed.
pub fn decode_output(bytes: &[u8]) -> String {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    String::from_utf8_lossy(bytes).into_owned()
}

/// The longest prefix of `bytes` no longer than `max` that does not end in
/// the middle of a UTF-8 encoded character.
pub fn utf8_safe_prefix_len(bytes: &[u8], max: usize) -> usize {
    if bytes.len() <= max {
        return bytes.len();
    }
    let mut end = max;
    // Step back over continuation bytes (10xxxxxx) to the start of the
    // character that straddles the cut, then drop that character if it is
    // incomplete.
    let mut back = 0;
    while end > 0 && back < 4 && (bytes[end - 1] & 0xC0) == 0x80 {
        end -= 1;
        back += 1;
    }
    if end == 0 {
        return max.min(bytes.len());
    }
    let lead = bytes[end - 1];
    let width = if lead < 0x80 {
        1
    } else if lead >> 5 == 0b110 {
        2
    } else if lead >> 4 == 0b1110 {
        3
    } else if lead >> 3 == 0b11110 {
        4
    } else {
        1
    };
    if back + 1 >= width {
        // The character before the cut is complete.
        end + back
    } else {
        end - 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trim_follows_ecmascript() {
        assert_eq!(js_trim("\u{FEFF} a \u{3000}\n"), "a");
        // U+0085 is whitespace to Rust but not to JavaScript.
        assert_eq!(js_trim("\u{0085}a\u{0085}"), "\u{0085}a\u{0085}");
    }

    #[test]
    fn decode_strips_bom_and_replaces_invalid_bytes() {
        assert_eq!(decode_output(b"\xEF\xBB\xBFhi"), "hi");
        assert_eq!(decode_output(b"a\xFFb"), "a\u{FFFD}b");
    }

    #[test]
    fn safe_prefix_never_splits_a_character() {
        let s = "aé€😀".as_bytes(); // 1 + 2 + 3 + 4 bytes
        let cuts: Vec<usize> = (0..=s.len()).map(|m| utf8_safe_prefix_len(s, m)).collect();
        assert_eq!(cuts, vec![0, 1, 1, 3, 3, 3, 6, 6, 6, 6, 10]);
        for m in 0..=s.len() {
            assert!(std::str::from_utf8(&s[..utf8_safe_prefix_len(s, m)]).is_ok());
        }
        // Invalid input is cut where asked.
        assert_eq!(utf8_safe_prefix_len(b"\xFF\xFF\xFF", 2), 2);
    }
}

/// Lossless passage of JavaScript strings (UTF-16, possibly with lone
/// surrogates) through Rust `String`s, for the pure transforms, whose
/// results must keep every code unit of the input as the original's did.
///
/// A lone surrogate `0xD800 + k` becomes [`ESCAPE`] followed by
/// `U+F0000 + k`; a literal [`ESCAPE`] is doubled. Neither escape character
/// is whitespace or part of any pattern the transforms look for.
pub mod js_string {
    /// The escape character (a noncharacter).
    pub const ESCAPE: char = '\u{FFFF}';
    const BASE: u32 = 0xF0000;

    /// UTF-16 code units to an escaped `String`.
    pub fn from_utf16(units: &[u16]) -> String {
        let mut out = String::with_capacity(units.len());
        for r in char::decode_utf16(units.iter().copied()) {
            match r {
                Ok(ESCAPE) => {
                    out.push(ESCAPE);
                    out.push(ESCAPE);
                }
                Ok(c) => out.push(c),
                Err(e) => {
                    out.push(ESCAPE);
                    out.push(
                        char::from_u32(BASE + (e.unpaired_surrogate() as u32 - 0xD800))
                            .expect("in range"),
                    );
                }
            }
        }
        out
    }

    /// An escaped `String` back to UTF-16 code units.
    pub fn to_utf16(s: &str) -> Vec<u16> {
        let mut out = Vec::with_capacity(s.len());
        let mut chars = s.chars();
        while let Some(c) = chars.next() {
            if c == ESCAPE {
                match chars.next() {
                    Some(ESCAPE) | None => out.push(0xFFFF),
                    Some(n) => out.push((0xD800 + (n as u32 - BASE)) as u16),
                }
            } else {
                let mut buf = [0u16; 2];
                out.extend_from_slice(c.encode_utf16(&mut buf));
            }
        }
        out
    }

    /// Rewrites escaped lone surrogates inside JSON text as `\uXXXX`
    /// escapes, as `JSON.stringify` writes them.
    pub fn json_escapes(json: &str) -> String {
        if !json.contains(ESCAPE) {
            return json.to_owned();
        }
        let mut out = String::with_capacity(json.len());
        let mut chars = json.chars();
        while let Some(c) = chars.next() {
            if c == ESCAPE {
                match chars.next() {
                    Some(ESCAPE) | None => {
                        out.push(ESCAPE);
                        out.push(ESCAPE);
                    }
                    Some(n) => out.push_str(&format!("\\u{:04x}", 0xD800 + (n as u32 - BASE))),
                }
            } else {
                out.push(c);
            }
        }
        out
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn round_trip_keeps_every_code_unit() {
            let units: Vec<u16> = vec![0x61, 0xD800, 0x62, 0xFFFF, 0xDC00, 0xD83D, 0xDE00, 0xDBFF];
            let s = from_utf16(&units);
            assert_eq!(to_utf16(&s), units);
            assert_eq!(
                json_escapes(&from_utf16(&[0x22, 0xD800, 0x22])),
                "\"\\ud800\""
            );
        }
    }
}
