//! Request-line splitting and the quoted-field escape rule shared by all text formats.

use std::borrow::Cow;

use crate::Src;

/// RFC 9110 `tchar`: the bytes allowed in a method token.
#[inline]
fn is_tchar(c: u8) -> bool {
    c.is_ascii_alphanumeric()
        || matches!(
            c,
            b'!' | b'#'
                | b'$'
                | b'%'
                | b'&'
                | b'\''
                | b'*'
                | b'+'
                | b'-'
                | b'.'
                | b'^'
                | b'_'
                | b'`'
                | b'|'
                | b'~'
        )
}

/// Method, target and protocol of a request line.
pub(crate) type RequestParts<'a> = (Cow<'a, str>, Cow<'a, str>, Cow<'a, str>);

/// Splits the request line `src.bytes[a..b]` (`%r` / `$request`) into method, target, protocol.
///
/// `METHOD SP target [SP HTTP/x]`: the method must be an RFC 9110 token, the protocol is the last
/// space-separated word if it starts with `HTTP/` (so a target may contain spaces), and a line
/// with no protocol (`GET /`, HTTP/0.9 style) keeps protocol `""`. Anything else (`-`, TLS
/// handshake bytes such as `\x16\x03\x01…`, JSON, a lone word) gives method `""` and the raw line
/// as target.
pub(crate) fn split_request<'a>(src: &Src<'a>, a: usize, b: usize) -> RequestParts<'a> {
    let raw = src.bytes.get(a..b).unwrap_or_default();
    let unsplit = || (Cow::Borrowed(""), src.cow(a, b), Cow::Borrowed(""));
    let Some(sp1) = memchr::memchr(b' ', raw) else {
        return unsplit();
    };
    if sp1 == 0 || !raw[..sp1].iter().all(|&c| is_tchar(c)) {
        return unsplit();
    }
    let method = src.cow(a, a + sp1);
    let rest_start = sp1 + 1;
    let rest = &raw[rest_start..];
    if let Some(sp2) = memchr::memrchr(b' ', rest) {
        if rest[sp2 + 1..].starts_with(b"HTTP/") {
            return (
                method,
                src.cow(a + rest_start, a + rest_start + sp2),
                src.cow(a + rest_start + sp2 + 1, b),
            );
        }
    }
    (method, src.cow(a + rest_start, b), Cow::Borrowed(""))
}

/// Finds the closing `"` of a quoted field whose content starts at `from`, honouring the
/// backslash escape rule (a `\` escapes the following byte). Returns its index.
#[inline]
pub(crate) fn find_close_quote(s: &[u8], mut from: usize) -> Option<usize> {
    loop {
        let i = from + memchr::memchr2(b'"', b'\\', s.get(from..)?)?;
        if s[i] == b'"' {
            return Some(i);
        }
        from = i + 2;
    }
}

fn hex(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// Decodes the escapes web servers write inside quoted log fields.
///
/// Handles nginx's `\xHH` (used for `"`, `\` and bytes outside printable ASCII), and Apache's
/// `\"`, `\\`, `\n`, `\r`, `\t` and `\xhh`. Unknown escapes are kept verbatim. Decoded bytes that
/// are not UTF-8 become U+FFFD. Returns the input borrowed when it contains no backslash.
///
/// ```
/// assert_eq!(tollgate_logs::unescape(r#"a\x22b\"c\\d"#), r#"a"b"c\d"#);
/// ```
pub fn unescape(s: &str) -> Cow<'_, str> {
    if !s.as_bytes().contains(&b'\\') {
        return Cow::Borrowed(s);
    }
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c != b'\\' || i + 1 >= b.len() {
            out.push(c);
            i += 1;
            continue;
        }
        match b[i + 1] {
            b'"' => out.push(b'"'),
            b'\\' => out.push(b'\\'),
            b'n' => out.push(b'\n'),
            b'r' => out.push(b'\r'),
            b't' => out.push(b'\t'),
            b'x' | b'X' => {
                if let (Some(h), Some(l)) = (
                    b.get(i + 2).copied().and_then(hex),
                    b.get(i + 3).copied().and_then(hex),
                ) {
                    out.push(h << 4 | l);
                    i += 4;
                    continue;
                }
                out.extend_from_slice(&b[i..i + 2]);
            }
            other => {
                out.push(b'\\');
                out.push(other);
            }
        }
        i += 2;
    }
    Cow::Owned(match String::from_utf8(out) {
        Ok(s) => s,
        Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(s: &str) -> (String, String, String) {
        let src = Src::new(s.as_bytes());
        let (m, t, p) = split_request(&src, 0, s.len());
        (m.into_owned(), t.into_owned(), p.into_owned())
    }

    fn t(m: &str, t: &str, p: &str) -> (String, String, String) {
        (m.to_owned(), t.to_owned(), p.to_owned())
    }

    #[test]
    fn request_lines() {
        assert_eq!(split("GET / HTTP/1.1"), t("GET", "/", "HTTP/1.1"));
        assert_eq!(split("GET /a?b=c HTTP/2.0"), t("GET", "/a?b=c", "HTTP/2.0"));
        assert_eq!(split("GET /"), t("GET", "/", ""));
        assert_eq!(split("GET /a b HTTP/1.1"), t("GET", "/a b", "HTTP/1.1"));
        assert_eq!(split("GET /a b"), t("GET", "/a b", ""));
        assert_eq!(split("-"), t("", "-", ""));
        assert_eq!(split(""), t("", "", ""));
        assert_eq!(split("GET"), t("", "GET", ""));
        assert_eq!(split(r"\x16\x03\x01"), t("", r"\x16\x03\x01", ""));
        assert_eq!(
            split(r"\x16\x03\x01\x00{ \x22 HTTP/1.1"),
            t("", r"\x16\x03\x01\x00{ \x22 HTTP/1.1", "")
        );
        assert_eq!(split(" / HTTP/1.1"), t("", " / HTTP/1.1", ""));
    }

    #[test]
    fn lossy_target() {
        let line = b"GET /\xff HTTP/1.1";
        let src = Src::new(line);
        let (m, t, p) = split_request(&src, 0, line.len());
        assert!(matches!(m, Cow::Borrowed("GET")));
        assert_eq!(t, "/\u{fffd}");
        assert_eq!(p, "HTTP/1.1");
    }

    #[test]
    fn close_quote() {
        assert_eq!(find_close_quote(br#"ab"c"#, 0), Some(2));
        assert_eq!(find_close_quote(br#"a\"b"c"#, 0), Some(4));
        assert_eq!(find_close_quote(br#"a\\"b"#, 0), Some(3));
        assert_eq!(find_close_quote(br"a\", 0), None);
        assert_eq!(find_close_quote(b"abc", 0), None);
        assert_eq!(find_close_quote(b"abc", 9), None);
    }

    #[test]
    fn unescaping() {
        assert_eq!(unescape("plain"), "plain");
        assert_eq!(
            unescape(r#"{\x22os\x22:\x22Android\x22}"#),
            r#"{"os":"Android"}"#
        );
        assert_eq!(unescape(r"\xC3\xA9"), "é");
        assert_eq!(unescape(r"\xFF"), "\u{fffd}");
        assert_eq!(unescape(r"a\q\x2"), r"a\q\x2");
        assert_eq!(unescape("tail\\"), "tail\\");
        assert_eq!(unescape(r"\n\t"), "\n\t");
    }
}
