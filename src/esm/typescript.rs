//! TypeScript user scripts: deciding whether a source is JavaScript, and
//! erasing type syntax in place (types become whitespace, so every line and
//! column of the runtime code stays where it was in the TypeScript source).
//!
//! Stripping uses `swc_ts_fast_strip` in its strip-only mode. Constructs
//! that would need code generation (enums, namespaces with values,
//! parameter properties, `import x = require()`, `export =`, `<T>x`
//! assertions) are refused with an error naming the construct and where it
//! is; nothing is rewritten behind the user's back.
//!
//! The rule that decides between JavaScript and TypeScript under
//! [`Language::Auto`] is documented in `docs/typescript.md`.

use std::sync::{Arc, Mutex};

use swc_common::errors::{DiagnosticBuilder, Emitter, Handler};
use swc_common::sync::Lrc;
use swc_common::{BytePos, SourceMap, Span, Spanned};
use swc_ecma_ast::EsVersion;
use swc_ecma_parser::{lexer::Lexer, EsSyntax, Parser, StringInput, Syntax};

use super::normalise::{looks_like_module, normalise_user_script, WRAPPER_LINES};
use crate::error::Error;

/// The `language` option of an ESM run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Language {
    /// Always run the source as it is.
    Js,
    /// Always erase type syntax first.
    Ts,
    /// JavaScript when it parses as JavaScript, else TypeScript.
    #[default]
    Auto,
}

impl Language {
    /// Parses the option; `None` is the default, [`Language::Auto`].
    pub fn from_option(value: Option<&str>) -> Result<Self, Error> {
        match value {
            None | Some("auto") => Ok(Language::Auto),
            Some("js") => Ok(Language::Js),
            Some("ts") => Ok(Language::Ts),
            Some(other) => Err(Error::invalid(
                "language",
                format!("must be \"js\", \"ts\" or \"auto\", got {other:?}"),
            )),
        }
    }
}

/// A place in the user's source: 1-based line, 1-based column counted in
/// UTF-16 code units (the way V8 and JavaScriptCore count in stack frames).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Position {
    /// Line, from 1.
    pub line: u32,
    /// Column, from 1.
    pub column: u32,
}

/// One problem found by a parser or by the stripper.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Byte offset into the parsed text (orders problems and parsers).
    pub offset: usize,
    /// Where it is, in the parsed text.
    pub position: Position,
    /// What is wrong.
    pub message: String,
}

impl Problem {
    fn at(text: &str, offset: usize, message: String) -> Self {
        Problem {
            offset,
            position: position_of(text, offset),
            message,
        }
    }

    /// `message (line L, column C)`, with lines counted from the user's
    /// first line when the text had `lines_before` generated lines.
    fn describe(&self, lines_before: u32) -> String {
        let line = self.position.line.saturating_sub(lines_before).max(1);
        format!(
            "{} (line {line}, column {})",
            self.message, self.position.column
        )
    }
}

/// Why type stripping failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StripError {
    /// The TypeScript parser rejected the source (the earliest problem).
    Syntax(Problem),
    /// It parsed, but uses constructs that need code generation.
    Unsupported(Vec<Problem>),
}

/// The 1-based line and UTF-16 column of `offset` in `text` (JavaScript
/// line terminators: LF, CR, CRLF, U+2028, U+2029).
pub fn position_of(text: &str, offset: usize) -> Position {
    let offset = offset.min(text.len());
    let mut line = 1u32;
    let mut line_start = 0usize;
    let bytes = text.as_bytes();
    for (i, c) in text[..offset].char_indices() {
        match c {
            '\n' => {
                line += 1;
                line_start = i + 1;
            }
            // A CRLF pair ends its line at the LF.
            '\r' if bytes.get(i + 1) != Some(&b'\n') => {
                line += 1;
                line_start = i + 1;
            }
            '\u{2028}' | '\u{2029}' => {
                line += 1;
                line_start = i + c.len_utf8();
            }
            _ => {}
        }
    }
    let start = line_start.min(offset);
    let column = text[start..offset].encode_utf16().count() as u32 + 1;
    Position { line, column }
}

/// The earliest of the problems, when there is one.
fn earliest(mut problems: Vec<Problem>) -> Option<Problem> {
    problems.sort_by_key(|p| p.offset);
    problems.into_iter().next()
}

/// Checks that `source` parses as a JavaScript module (the syntax the
/// runtimes load `user.mjs` with; top-level `return` is not allowed, the
/// legacy form is wrapped before this is asked). Returns the earliest
/// syntax error otherwise.
pub fn check_javascript(source: &str) -> Result<(), Problem> {
    // Positions start at 1: swc reserves 0 for "no position".
    let start = BytePos(1);
    let end = BytePos(1 + source.len() as u32);
    let syntax = Syntax::Es(EsSyntax {
        import_attributes: true,
        explicit_resource_management: true,
        ..Default::default()
    });
    let lexer = Lexer::new(
        syntax,
        EsVersion::latest(),
        StringInput::new(source, start, end),
        None,
    );
    let mut parser = Parser::new_from(lexer);
    let fatal = parser.parse_module().err();
    let mut problems: Vec<Problem> = parser
        .take_errors()
        .into_iter()
        .chain(fatal)
        .map(|e| {
            let offset = (e.span().lo.0.max(1) - 1) as usize;
            Problem::at(source, offset, e.kind().msg().into_owned())
        })
        .collect();
    if problems.is_empty() {
        return Ok(());
    }
    problems.sort_by_key(|p| p.offset);
    Err(problems.swap_remove(0))
}

/// One diagnostic swc reported.
struct Reported {
    message: String,
    span: Option<Span>,
    /// A construct strip-only mode refuses (not a syntax error).
    unsupported: bool,
}

/// Collects what swc reports instead of printing it.
#[derive(Clone, Default)]
struct Collector(Arc<Mutex<Vec<Reported>>>);

impl Emitter for Collector {
    fn emit(&mut self, db: &mut DiagnosticBuilder<'_>) {
        let unsupported = matches!(
            &db.code,
            Some(swc_common::errors::DiagnosticId::Error(c)) if c == "UnsupportedSyntax"
        );
        let mut seen = self.0.lock().unwrap_or_else(|e| e.into_inner());
        seen.push(Reported {
            message: db.message(),
            span: db.span.primary_span(),
            unsupported,
        });
    }
}

/// The name of a construct strip-only mode refuses, from swc's message.
fn construct_name(swc_message: &str) -> Option<&'static str> {
    const NAMES: &[(&str, &str)] = &[
        ("enum", "enum declaration"),
        (
            "namespace declaration",
            "namespace with runtime code (namespace/module declaration)",
        ),
        (
            "import equals",
            "`import x = require(...)` (import equals declaration)",
        ),
        ("export assignment", "`export =` (export assignment)"),
        ("parameter property", "parameter property"),
        ("angle-bracket", "angle-bracket type assertion `<T>expr`"),
        (
            "left-hand side of `**`",
            "unparenthesized unary expression before `**`",
        ),
        ("`module` keyword", "`module` declaration"),
    ];
    let lower = swc_message.to_lowercase();
    NAMES
        .iter()
        .find(|(needle, _)| lower.contains(&needle.to_lowercase()))
        .map(|(_, name)| *name)
}

/// Erases TypeScript type syntax from a module, keeping every line and
/// column. Code that is already JavaScript comes back unchanged.
pub fn strip_types(source: &str) -> Result<String, StripError> {
    let cm: Lrc<SourceMap> = Default::default();
    let collector = Collector::default();
    let handler = Handler::with_emitter(true, false, Box::new(collector.clone()));
    let options = swc_ts_fast_strip::Options {
        module: Some(true),
        mode: swc_ts_fast_strip::Mode::StripOnly,
        parser: swc_ecma_parser::TsSyntax {
            decorators: true,
            ..Default::default()
        },
        ..Default::default()
    };
    let outcome = swc_ts_fast_strip::operate(&cm, &handler, source.to_owned(), options);
    let seen = std::mem::take(&mut *collector.0.lock().unwrap_or_else(|e| e.into_inner()));
    let outcome_error = match outcome {
        Ok(out) => return Ok(out.code),
        Err(e) => e,
    };
    let offset_of = |span: Option<Span>| -> usize {
        span.map(|s| cm.lookup_byte_offset(s.lo).pos.0 as usize)
            .unwrap_or(0)
    };
    let unsupported: Vec<Problem> = seen
        .iter()
        .filter(|r| r.unsupported)
        .map(|r| {
            let message = match construct_name(&r.message) {
                Some(name) => format!(
                    "TypeScript {name} is not supported: it needs code generation, and scripts are only type-stripped"
                ),
                None => r.message.clone(),
            };
            Problem::at(source, offset_of(r.span), message)
        })
        .collect();
    if !unsupported.is_empty() {
        let mut unsupported = unsupported;
        unsupported.sort_by_key(|p| p.offset);
        return Err(StripError::Unsupported(unsupported));
    }
    let syntax: Vec<Problem> = seen
        .iter()
        .map(|r| Problem::at(source, offset_of(r.span), r.message.clone()))
        .collect();
    Err(StripError::Syntax(earliest(syntax).unwrap_or_else(|| {
        Problem::at(source, 0, outcome_error.message.clone())
    })))
}

/// Turns a user's script into the module source to stage: normalised (the
/// legacy body form wrapped) and, as `language` says, type-stripped. An
/// `Err` is the run's error message: nothing is run. Recurses as deep as
/// the script nests: runs call it through [`prepare_module_source_guarded`].
pub fn prepare_module_source(script: &str, language: Language) -> Result<String, String> {
    let lines_before = if looks_like_module(script) {
        0
    } else {
        WRAPPER_LINES
    };
    let source = normalise_user_script(script);
    let stripped = match language {
        Language::Js => return Ok(source),
        Language::Ts => strip_types(&source),
        Language::Auto => match check_javascript(&source) {
            Ok(()) => return Ok(source),
            Err(js) => match strip_types(&source) {
                Ok(code) => Ok(code),
                // The TypeScript parser stopped no later than the JavaScript
                // one: this is broken JavaScript, not TypeScript. The runtime
                // reports its own syntax error, as it always has.
                Err(StripError::Syntax(ts)) if ts.offset <= js.offset => return Ok(source),
                Err(ts) => {
                    return Err(format!(
                        "SyntaxError: {}; as TypeScript: {}",
                        js.describe(lines_before),
                        describe_strip_error(&ts, lines_before)
                    ))
                }
            },
        },
    };
    stripped.map_err(|e| format!("TypeScript: {}", describe_strip_error(&e, lines_before)))
}

/// Stack reserved per byte of source for the parsers and the stripper,
/// which recurse once per nesting level. Measured: the worst constructs
/// tried (`-(-(…))`, `(((…)))`) take 1.3–1.7 KiB of stack per byte of
/// source in a release build; this leaves more than twice that. Unoptimised
/// builds (the unit tests) have far larger frames.
pub const STACK_PER_SOURCE_BYTE: usize = if cfg!(debug_assertions) {
    64 << 10
} else {
    4 << 10
};
const MIN_STACK: usize = 16 << 20;
const MAX_STACK: usize = 1 << 30;
/// Largest normalised source that is parsed or stripped (256 KiB): its
/// stack would exceed [`MAX_STACK`]. Larger scripts run as they are under
/// `"auto"` and are refused under `"ts"`.
pub const MAX_PREPARED_BYTES: usize = MAX_STACK / STACK_PER_SOURCE_BYTE;

/// [`prepare_module_source`] on a thread whose stack is sized for the
/// source, so that a deeply nested script cannot overflow the caller's
/// stack (the recursion depth of a parser is bounded only by the length of
/// its input). Blocks until it is done.
pub fn prepare_module_source_guarded(script: &str, language: Language) -> Result<String, String> {
    if language == Language::Js {
        return Ok(normalise_user_script(script));
    }
    let len = script.len() + 64;
    if len > MAX_PREPARED_BYTES {
        return match language {
            Language::Ts => Err(format!(
                "TypeScript: the script is {} bytes; scripts over {} bytes are not type-stripped",
                script.len(),
                MAX_PREPARED_BYTES - 64
            )),
            _ => Ok(normalise_user_script(script)),
        };
    }
    let stack = (len * STACK_PER_SOURCE_BYTE).clamp(MIN_STACK, MAX_STACK);
    std::thread::scope(|scope| {
        std::thread::Builder::new()
            .name("scriptcage-ts".into())
            .stack_size(stack)
            .spawn_scoped(scope, || prepare_module_source(script, language))
            .map_err(|e| format!("TypeScript: could not start the thread that strips types: {e}"))?
            .join()
            .unwrap_or_else(|_| Err("TypeScript: type stripping failed unexpectedly".into()))
    })
}

fn describe_strip_error(e: &StripError, lines_before: u32) -> String {
    match e {
        StripError::Syntax(p) => p.describe(lines_before),
        StripError::Unsupported(ps) => ps
            .iter()
            .map(|p| p.describe(lines_before))
            .collect::<Vec<_>>()
            .join("; "),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strip(src: &str) -> String {
        strip_types(src).unwrap_or_else(|e| panic!("{src:?}: {e:?}"))
    }

    /// Every line keeps its length in UTF-16 units and its place.
    fn assert_same_layout(a: &str, b: &str) {
        let la: Vec<&str> = a.split('\n').collect();
        let lb: Vec<&str> = b.split('\n').collect();
        assert_eq!(la.len(), lb.len(), "{a:?} vs {b:?}");
        for (x, y) in la.iter().zip(&lb) {
            assert_eq!(
                x.encode_utf16().count(),
                y.encode_utf16().count(),
                "{x:?} vs {y:?}"
            );
        }
    }

    #[test]
    fn language_option() {
        assert_eq!(Language::from_option(None).unwrap(), Language::Auto);
        assert_eq!(Language::from_option(Some("auto")).unwrap(), Language::Auto);
        assert_eq!(Language::from_option(Some("js")).unwrap(), Language::Js);
        assert_eq!(Language::from_option(Some("ts")).unwrap(), Language::Ts);
        for bad in ["", "TS", "typescript", "javascript"] {
            let e = Language::from_option(Some(bad)).unwrap_err().to_string();
            assert!(e.starts_with("language: "), "{e}");
        }
    }

    #[test]
    fn positions_count_lines_and_utf16_columns() {
        let t = "ab\ncd\r\nef\rg\u{2028}h😀x";
        assert_eq!(position_of(t, 0), Position { line: 1, column: 1 });
        assert_eq!(position_of(t, 4), Position { line: 2, column: 2 });
        assert_eq!(position_of(t, 7), Position { line: 3, column: 1 });
        assert_eq!(position_of(t, 8), Position { line: 3, column: 2 });
        assert_eq!(position_of(t, 10), Position { line: 4, column: 1 });
        let x = t.find('x').unwrap();
        assert_eq!(position_of(t, x), Position { line: 5, column: 4 });
    }

    #[test]
    fn types_become_whitespace() {
        let src = "interface A { x: number }\n\
                   type B<T> = T[];\n\
                   function f<T extends object>(a: T, b?: string): T { return a as T; }\n\
                   const c = [1, 2] as const;\n\
                   const d = { n: 1 } satisfies { n: number };\n\
                   let e!: string;\n\
                   class K<T> implements A { x!: number; private y: T | undefined; declare z: 1; }\n\
                   export default f<object>({ c, d, e });\n";
        let out = strip(src);
        assert_same_layout(src, &out);
        for gone in [
            "interface",
            "type B",
            ": number",
            "as const",
            "satisfies",
            "!:",
        ] {
            assert!(!out.contains(gone), "{gone} left in {out}");
        }
        assert!(out.contains("function f"));
        assert!(out.contains("export default f"));
        assert!(check_javascript(&out).is_ok(), "{out}");
    }

    #[test]
    fn javascript_is_unchanged() {
        for src in [
            "export default 1;",
            "const a = 1, b = 2;\nexport default [a < b, a > b];",
            "import x from 'y';\nexport default x;",
        ] {
            assert_eq!(strip(src), src);
        }
    }

    #[test]
    fn type_only_imports_disappear() {
        let src = "import type { Ctx } from \"@checkstack/healthcheck\";\n\
                   import { type Other, defineHealthCheck } from \"@checkstack/healthcheck\";\n\
                   export default defineHealthCheck((c: Ctx) => c);\n";
        let out = strip(src);
        assert_same_layout(src, &out);
        assert!(!out.contains("Ctx }"));
        assert!(!out.contains("Other"));
        assert!(out.contains("defineHealthCheck } from \"@checkstack/healthcheck\""));
        let first = out.lines().next().unwrap();
        assert!(!first.contains("import"), "{first:?}");
    }

    #[test]
    fn every_unsupported_construct_is_named_with_its_place() {
        for (src, name, line, column) in [
            ("const a = 1;\nenum E { A }\n", "enum", 2, 1),
            ("namespace N { export const x = 1; }", "namespace", 1, 1),
            (
                "class C {\n  constructor(private x: number) {}\n}",
                "parameter property",
                2,
                23,
            ),
            ("import fs = require('fs');", "import x = require", 1, 1),
            ("export = 1;", "export =", 1, 1),
            ("const n = <number>1;", "angle-bracket", 1, 11),
        ] {
            match strip_types(src) {
                Err(StripError::Unsupported(ps)) => {
                    let p = &ps[0];
                    assert!(p.message.contains(name), "{src:?}: {}", p.message);
                    assert_eq!(p.position, Position { line, column }, "{src:?}");
                }
                other => panic!("{src:?}: {other:?}"),
            }
        }
    }

    #[test]
    fn type_only_namespaces_are_erased() {
        let src = "namespace T { export type X = 1; }\ndeclare namespace D { const y: 2; }\nexport default 1;";
        assert_same_layout(src, &strip(src));
    }

    #[test]
    fn syntax_errors_have_a_position() {
        match strip_types("const x: number = ;") {
            Err(StripError::Syntax(p)) => {
                assert_eq!(p.position.line, 1);
                assert!(p.position.column > 10, "{p:?}");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn javascript_check() {
        assert!(check_javascript("export default await Promise.resolve(1);").is_ok());
        assert!(check_javascript("import j from './x.json' with { type: 'json' };").is_ok());
        assert!(
            check_javascript("const a = 1, b = 2, c = 3;\nexport default a < b > (c);").is_ok()
        );
        let e = check_javascript("let x: number = 1;").unwrap_err();
        assert_eq!(e.position, Position { line: 1, column: 6 });
        assert!(check_javascript("enum E { A }").is_err());
        assert!(check_javascript("return 1;").is_err());
    }

    #[test]
    fn auto_keeps_javascript_meaning() {
        let src = "const a = 1, b = 2, c = 3;\nexport default a < b > (c);";
        assert_eq!(prepare_module_source(src, Language::Auto).unwrap(), src);
        // As TypeScript the same text is a generic call.
        let ts = prepare_module_source(src, Language::Ts).unwrap();
        assert_ne!(ts, src);
    }

    #[test]
    fn auto_strips_typescript_and_wraps_legacy_bodies() {
        let out =
            prepare_module_source("const n: number = 2;\nreturn n * 2;", Language::Auto).unwrap();
        assert_eq!(
            out,
            normalise_user_script(
                &"const n: number = 2;\nreturn n * 2;".replace(": number", "        ")
            )
        );
        let js = "return 1 as number;";
        assert_eq!(
            prepare_module_source(js, Language::Js).unwrap(),
            normalise_user_script(js)
        );
    }

    #[test]
    fn broken_javascript_is_left_to_the_runtime() {
        for src in ["export default 1 +", "return {;"] {
            assert_eq!(
                prepare_module_source(src, Language::Auto).unwrap(),
                normalise_user_script(src),
                "{src:?}"
            );
        }
    }

    #[test]
    fn auto_reports_both_errors_when_typescript_gets_further() {
        let e = prepare_module_source(
            "const a: number = 1;\nenum E { A }\nexport default a;",
            Language::Auto,
        )
        .unwrap_err();
        assert!(e.starts_with("SyntaxError: "), "{e}");
        assert!(e.contains("(line 1, column "), "{e}");
        assert!(
            e.contains("as TypeScript: TypeScript enum declaration"),
            "{e}"
        );
        assert!(e.contains("(line 2, column 1)"), "{e}");
        // Legacy bodies are reported in the user's own line numbers.
        let e = prepare_module_source(
            "const a: number = 1;\nenum E { A }\nreturn a;",
            Language::Auto,
        )
        .unwrap_err();
        assert!(e.contains("(line 2, column 1)"), "{e}");
    }

    #[test]
    fn deep_nesting_does_not_overflow_the_stack() {
        // Far deeper than an 8 MiB stack survives (about 2,500 levels).
        let depth = (MAX_PREPARED_BYTES - 200) / 2;
        let deep = format!(
            "export default {}1{};",
            "(".repeat(depth),
            ")".repeat(depth)
        );
        assert_eq!(
            prepare_module_source_guarded(&deep, Language::Auto).unwrap(),
            deep
        );
        let typed = format!(
            "const n: number = {}1{};\nexport default n;",
            "-(".repeat(depth / 2),
            ")".repeat(depth / 2)
        );
        let out = prepare_module_source_guarded(&typed, Language::Ts).unwrap();
        assert_eq!(out.len(), typed.len());
    }

    #[test]
    fn oversized_scripts_are_not_parsed() {
        let big = format!("export default 1;{}", " ".repeat(MAX_PREPARED_BYTES));
        assert_eq!(
            prepare_module_source_guarded(&big, Language::Auto).unwrap(),
            big
        );
        let e = prepare_module_source_guarded(&big, Language::Ts).unwrap_err();
        assert!(e.contains("not type-stripped"), "{e}");
        assert_eq!(
            prepare_module_source_guarded("return 1", Language::Js).unwrap(),
            normalise_user_script("return 1")
        );
    }

    #[test]
    fn ts_reports_syntax_errors() {
        let e = prepare_module_source("export default 1 +", Language::Ts).unwrap_err();
        assert!(e.starts_with("TypeScript: "), "{e}");
        assert!(e.contains("(line 1, column"), "{e}");
    }
}
