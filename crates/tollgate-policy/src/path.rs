//! Request-path normalisation, so that spelling tricks meet the same rule as the plain path.
//!
//! `/Private`, `/%70rivate`, `//private`, `/private/.` and `/./private` all normalise to a path that
//! a rule for `/private` matches (rules compare paths ASCII case-insensitively, see
//! [`crate::rules`]). Steps, in order:
//! 1. the query and fragment are cut off;
//! 2. percent-encoded octets are decoded, except `%25` (`%`), kept upper-cased so nothing is
//!    decoded twice. `%2F` decodes to `/` and so do `\` and `%5C`: origins (nginx, Python,
//!    tollgate's own `dir:`) resolve an encoded slash as a separator, so the policy must see the
//!    same segments — `/.well-known/..%2Fpage` is `/page`, not a protected path (a bypass found
//!    by testing);
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

/// Decodes `%XX` except `%25`; `%2F`, `%5C` and `\` all become `/`.
fn decode(path: &str) -> Vec<u8> {
    let b = path.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            if let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2])) {
                let v = h * 16 + l;
                if v == b'%' {
                    out.extend_from_slice(b"%25");
                } else if v == b'\\' {
                    out.push(b'/');
                } else {
                    out.push(v);
                }
                i += 3;
                continue;
            }
        }
        out.push(if b[i] == b'\\' { b'/' } else { b[i] });
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
        && !path.contains('\\')
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
    fn encoded_slashes_are_separators_so_they_cannot_leave_a_protected_prefix() {
        assert_eq!(normalize("/a%2fb"), "/a/b");
        assert_eq!(normalize("/articles%2F42.html"), "/articles/42.html");
        assert_eq!(normalize("/.well-known/..%2Fpage.html"), "/page.html");
        assert_eq!(normalize("/.well-known/%2e%2e%2fpage.html"), "/page.html");
        assert_eq!(
            normalize("/.well-known/x/..%2F..%2Fpage.html"),
            "/page.html"
        );
        assert_eq!(normalize("/x/..%2Farticles/42.html"), "/articles/42.html");
        assert_eq!(normalize("/.well-known/..%5Cpage.html"), "/page.html");
        assert_eq!(normalize("/.well-known/..\\page.html"), "/page.html");
        assert_eq!(
            normalize("/.well-known/tdmrep.json"),
            "/.well-known/tdmrep.json"
        );
    }

    #[test]
    fn encoded_percent_is_kept() {
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
