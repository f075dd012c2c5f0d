//! Request-path normalisation, so that spelling tricks meet the same rule as the plain path.
//!
//! `/Private`, `/%70rivate`, `//private`, `/private/.` and `/./private` all normalise to a path that
//! a rule for `/private` matches (rules compare paths ASCII case-insensitively, see
//! [`crate::rules`]). Steps, in order:
//! 1. the query and fragment are cut off;
//! 2. percent-encoded octets are decoded, except `%2F` (`/`) and `%25` (`%`), which would change
//!    the path's structure or allow double decoding — they are kept, upper-cased;
//! 3. runs of `/` collapse to one;
//! 4. dot segments are removed (RFC 3986 §5.2.4), never climbing above the root;
//! 5. a trailing `/.` or `/..` leaves a trailing `/`, as RFC 3986 does.
//!
//! Invalid UTF-8 after decoding is replaced with U+FFFD; the result always starts with `/`.

use std::borrow::Cow;

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Decodes `%XX` except `%2F` and `%25`.
fn decode(path: &str) -> Vec<u8> {
    let b = path.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            if let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2])) {
                let v = h * 16 + l;
                if v == b'/' || v == b'%' {
                    out.extend_from_slice(&[
                        b'%',
                        b[i + 1].to_ascii_uppercase(),
                        b[i + 2].to_ascii_uppercase(),
                    ]);
                } else {
                    out.push(v);
                }
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    out
}

/// Normalises a request target (path with optional `?query`/`#fragment`) for rule matching.
pub fn normalize(target: &str) -> Cow<'_, str> {
    let path = match target.find(['?', '#']) {
        Some(i) => &target[..i],
        None => target,
    };
    let simple = path.starts_with('/')
        && !path.contains('%')
        && !path.contains("//")
        && !path.split('/').any(|s| s == "." || s == "..");
    if simple {
        return Cow::Borrowed(path);
    }
    let decoded = decode(path);
    let text = String::from_utf8_lossy(&decoded);
    let mut segments: Vec<&str> = Vec::new();
    let mut trailing_slash = false;
    for seg in text.split('/') {
        trailing_slash = false;
        match seg {
            "" => trailing_slash = true,
            "." => trailing_slash = true,
            ".." => {
                segments.pop();
                trailing_slash = true;
            }
            s => segments.push(s),
        }
    }
    let mut out = String::with_capacity(text.len() + 1);
    for s in &segments {
        out.push('/');
        out.push_str(s);
    }
    if trailing_slash || segments.is_empty() {
        out.push('/');
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spelling_tricks_normalise_to_the_plain_path() {
        assert_eq!(normalize("/private"), "/private");
        assert_eq!(normalize("/%70rivate"), "/private");
        assert_eq!(normalize("//private"), "/private");
        assert_eq!(normalize("/./private"), "/private");
        assert_eq!(normalize("/a/../private"), "/private");
        assert_eq!(normalize("/../../private"), "/private");
        assert_eq!(normalize("/private?x=1"), "/private");
        assert_eq!(normalize("/private#frag"), "/private");
    }

    #[test]
    fn trailing_dot_segments_leave_a_trailing_slash() {
        assert_eq!(normalize("/private/."), "/private/");
        assert_eq!(normalize("/private/x/.."), "/private/");
        assert_eq!(normalize("/private/"), "/private/");
        assert_eq!(normalize(""), "/");
        assert_eq!(normalize("/"), "/");
    }

    #[test]
    fn encoded_slash_and_percent_are_kept() {
        assert_eq!(normalize("/a%2fb"), "/a%2Fb");
        assert_eq!(normalize("/a%252e"), "/a%252e");
        assert_eq!(normalize("/%2e%2e/private"), "/private");
        assert_eq!(normalize("/a%"), "/a%");
        assert_eq!(normalize("/a%4"), "/a%4");
        assert_eq!(normalize("/a%zz"), "/a%zz");
    }

    #[test]
    fn invalid_utf8_after_decoding_is_replaced() {
        assert_eq!(normalize("/%ff"), "/\u{fffd}");
    }
}
