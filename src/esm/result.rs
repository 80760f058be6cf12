//! Extracting the runner's report from the captured stderr.

use super::runner_source::Markers;
use crate::text::js_trim;

/// What the parent learns from stderr.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Extracted {
    /// stderr with the report removed and trimmed; the raw stderr when no
    /// report was found.
    pub stderr: String,
    /// The JSON text between the markers, still to be parsed by the host's
    /// JavaScript engine (so that numbers, lone surrogates and `__proto__`
    /// keys come out exactly as `JSON.parse` makes them).
    pub payload_json: Option<String>,
}

/// Finds the *last* report of this run in `stderr`. Reports with other
/// markers (forged, or from another run) are ordinary text.
pub fn extract_report(stderr: &str, markers: &Markers) -> Extracted {
    let (Some(start), Some(end)) = (stderr.rfind(&markers.start), stderr.rfind(&markers.end))
    else {
        return Extracted {
            stderr: stderr.to_owned(),
            payload_json: None,
        };
    };
    if end <= start {
        return Extracted {
            stderr: stderr.to_owned(),
            payload_json: None,
        };
    }
    let payload = &stderr[start + markers.start.len()..end];
    let mut rest = String::with_capacity(stderr.len() - (end - start));
    rest.push_str(&stderr[..start]);
    rest.push_str(&stderr[end + markers.end.len()..]);
    Extracted {
        stderr: js_trim(&rest).to_owned(),
        payload_json: Some(payload.to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m() -> Markers {
        Markers {
            start: "<S>".into(),
            end: "<E>".into(),
        }
    }

    #[test]
    fn takes_the_last_report() {
        let x = extract_report("noise\n<S>{\"ok\":1}<E>\nmore<S>{\"ok\":2}<E>\n", &m());
        assert_eq!(x.payload_json.as_deref(), Some("{\"ok\":2}"));
        assert_eq!(x.stderr, "noise\n<S>{\"ok\":1}<E>\nmore");
    }

    #[test]
    fn no_report_keeps_raw_stderr() {
        let x = extract_report("  boom\n", &m());
        assert_eq!(
            x,
            Extracted {
                stderr: "  boom\n".into(),
                payload_json: None
            }
        );
        let y = extract_report("<E> then <S>", &m());
        assert_eq!(y.payload_json, None);
        assert_eq!(y.stderr, "<E> then <S>");
    }

    #[test]
    fn forged_markers_are_plain_text() {
        let x = extract_report("<S-other>{}<E-other>\n", &m());
        assert_eq!(x.payload_json, None);
    }

    #[test]
    fn empty_payload_is_reported() {
        let x = extract_report("<S><E>\n", &m());
        assert_eq!(x.payload_json.as_deref(), Some(""));
        assert_eq!(x.stderr, "");
    }
}
