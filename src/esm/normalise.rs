//! Turning a user's source into something the runtime can load as a module.

use std::sync::OnceLock;

use regex::Regex;

use crate::text::JS_SPACE_CLASS;

fn module_syntax() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        // ECMAScript `/^\s*(import\s|export\s)/m`: `^` holds at the start
        // of the text or after any JS line terminator, and `\s*` may cross
        // lines, so it is enough to find the keyword behind whitespace that
        // begins at the start or right after a terminator.
        Regex::new(&format!(
            r"(?:\A|[\n\r\x{{2028}}\x{{2029}}]){s}*(?:import|export){s}",
            s = JS_SPACE_CLASS
        ))
        .expect("static regex")
    })
}

/// True when the source already has a top-level `import` or `export`
/// statement at the start of some line, so it is loaded unchanged.
pub fn looks_like_module(source: &str) -> bool {
    module_syntax().is_match(source)
}

/// How many generated lines [`normalise_user_script`] puts before the
/// user's first line when it wraps a body.
pub const WRAPPER_LINES: u32 = 1;

/// Makes a user script loadable as an ES module: a source with module
/// syntax is returned as is, anything else (a legacy body that may
/// `return` a value, or side effects only) becomes the default export of an
/// awaited async function.
pub fn normalise_user_script(source: &str) -> String {
    if looks_like_module(source) {
        return source.to_owned();
    }
    // The closing brace goes on its own line so that a trailing `//`
    // comment in the user's last line cannot swallow it.
    let mut out = String::with_capacity(source.len() + 48);
    out.push_str("export default await (async () => {\n");
    out.push_str(source);
    out.push_str("\n})();\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wrapped(s: &str) -> String {
        format!("export default await (async () => {{\n{s}\n}})();\n")
    }

    #[test]
    fn modules_pass_through() {
        for src in [
            "export default 1;",
            "import x from 'y';\nexport default x;",
            "  \n\t export default 2",
            "const a = 1;\nexport const b = a;",
            "// c\r\nimport\t'x'",
            "x\u{2028}export default 1",
        ] {
            assert_eq!(normalise_user_script(src), src, "{src:?}");
        }
    }

    #[test]
    fn bodies_are_wrapped() {
        for src in [
            "return 42;",
            "",
            "console.log('side effect only')",
            "const exported = 1; return exported",
            "x export default 1",
            "exports.a = 1",
            "export",
            "importer()\nreturn 1 // trailing comment",
        ] {
            assert_eq!(normalise_user_script(src), wrapped(src), "{src:?}");
        }
    }

    #[test]
    fn wrapper_lines_is_the_prefix_line_count() {
        let out = normalise_user_script("USER");
        let line = out.lines().position(|l| l == "USER").unwrap();
        assert_eq!(line as u32, WRAPPER_LINES);
    }

    #[test]
    fn keyword_needs_following_whitespace() {
        assert!(!looks_like_module("import{a}from'b'"));
        assert!(looks_like_module("import {a} from 'b'"));
        assert!(looks_like_module("export\u{3000}default 1"));
        // U+0085 is not JavaScript whitespace.
        assert!(!looks_like_module("export\u{0085}default 1"));
    }
}
