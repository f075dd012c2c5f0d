//! nginx `log_format` strings (`ngx_http_log_module`), compiled into literal and variable
//! segments and matched against lines.

use std::borrow::Cow;

use memchr::memmem::Finder;

use crate::request::{find_close_quote, split_request};
use crate::time::{parse_clf_time, parse_epoch_decimal, parse_iso8601};
use crate::{parse_status, parse_u64, LogRecord, ParseError, Src};

/// nginx's predefined `combined` format (also Apache's `combined` minus the ident field).
const COMBINED: &str = r#"$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent""#;
/// The NCSA common format written with nginx variables.
const COMMON: &str =
    r#"$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent"#;

/// An nginx `log_format` that cannot be compiled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("invalid log_format at byte {offset}: {reason}")]
pub struct FormatError {
    /// Byte offset in the spec string given to [`NginxFormat::compile`].
    pub offset: usize,
    /// What is wrong there.
    pub reason: &'static str,
}

/// The nginx variables that map to [`LogRecord`] fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Var {
    RemoteAddr,
    RealipRemoteAddr,
    XForwardedFor,
    TimeLocal,
    TimeIso8601,
    Msec,
    Request,
    RequestMethod,
    RequestUri,
    Uri,
    Args,
    ServerProtocol,
    Status,
    BodyBytesSent,
    BytesSent,
    HttpReferer,
    HttpUserAgent,
    Host,
    HttpHost,
    ServerName,
    /// Any other variable: matched, value ignored.
    Other,
}

impl Var {
    fn from_name(name: &[u8]) -> Var {
        match name {
            b"remote_addr" => Var::RemoteAddr,
            b"realip_remote_addr" => Var::RealipRemoteAddr,
            b"http_x_forwarded_for" => Var::XForwardedFor,
            b"time_local" => Var::TimeLocal,
            b"time_iso8601" => Var::TimeIso8601,
            b"msec" => Var::Msec,
            b"request" => Var::Request,
            b"request_method" => Var::RequestMethod,
            b"request_uri" => Var::RequestUri,
            b"uri" | b"document_uri" => Var::Uri,
            b"args" | b"query_string" => Var::Args,
            b"server_protocol" => Var::ServerProtocol,
            b"status" => Var::Status,
            b"body_bytes_sent" => Var::BodyBytesSent,
            b"bytes_sent" => Var::BytesSent,
            b"http_referer" => Var::HttpReferer,
            b"http_user_agent" => Var::HttpUserAgent,
            b"host" => Var::Host,
            b"http_host" => Var::HttpHost,
            b"server_name" => Var::ServerName,
            _ => Var::Other,
        }
    }
}

#[derive(Clone)]
enum Seg {
    /// Text that must appear verbatim.
    Lit(Box<[u8]>),
    /// A variable; its value runs until the next literal (`next`), or to the end of the line.
    Var {
        var: Var,
        /// Between `"…"`: the closing quote is found with the backslash escape rule.
        quoted: bool,
        next: Option<Box<Finder<'static>>>,
    },
}

impl std::fmt::Debug for Seg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Seg::Lit(l) => write!(f, "Lit({:?})", String::from_utf8_lossy(l)),
            Seg::Var { var, quoted, .. } => write!(f, "Var({var:?}, quoted: {quoted})"),
        }
    }
}

/// A compiled nginx `log_format` (see `ngx_http_log_module`).
///
/// A line is parsed by matching the literal text of the format in order; a variable's value runs
/// until the next literal (or to the end of the line for a trailing variable). Variables between
/// `"…"` follow the quoted-field escape rule (nginx writes `"` as `\x22`, or `\"` with
/// `escape=json`). Text after the last segment is ignored.
///
/// Variables mapped to [`LogRecord`] fields (others are matched and skipped):
///
/// | field | variables (first wins) |
/// |---|---|
/// | client | `$remote_addr`, `$realip_remote_addr`, `$http_x_forwarded_for` (first entry) |
/// | time | `$time_local`, `$time_iso8601`, `$msec` |
/// | method / target / protocol | `$request_method`, `$request_uri`, `$server_protocol`, else from `$request`, else target `$uri` + `?$args` / `$query_string` |
/// | status, bytes | `$status`; `$body_bytes_sent`, else `$bytes_sent` |
/// | referer, user agent | `$http_referer`, `$http_user_agent` |
/// | host | `$host`, `$http_host`, `$server_name` |
#[derive(Debug, Clone)]
pub struct NginxFormat {
    segs: Vec<Seg>,
}

/// The spec text after removing nginx config syntax, with each byte's offset in the original.
struct Spec {
    text: Vec<u8>,
    orig: Vec<usize>,
}

impl Spec {
    fn at(&self, i: usize) -> usize {
        self.orig
            .get(i)
            .copied()
            .unwrap_or_else(|| self.orig.last().map_or(0, |&o| o + 1))
    }
}

/// Reads nginx config quoted strings (`'…' '…'`, concatenated) starting at `from`; `None` if the
/// rest of `s` is not exactly a sequence of quoted strings.
fn unquote_config(s: &[u8], from: usize) -> Option<Spec> {
    let mut text = Vec::new();
    let mut orig = Vec::new();
    let mut i = from;
    loop {
        while s.get(i).is_some_and(u8::is_ascii_whitespace) {
            i += 1;
        }
        let Some(&q) = s.get(i) else { break };
        if q != b'\'' && q != b'"' {
            return None;
        }
        i += 1;
        loop {
            let c = *s.get(i)?;
            if c == q {
                i += 1;
                break;
            }
            if c == b'\\' {
                let (out, n) = match s.get(i + 1) {
                    Some(b'"') => (b'"', 2),
                    Some(b'\'') => (b'\'', 2),
                    Some(b'\\') => (b'\\', 2),
                    Some(b't') => (b'\t', 2),
                    Some(b'r') => (b'\r', 2),
                    Some(b'n') => (b'\n', 2),
                    _ => (b'\\', 1),
                };
                text.push(out);
                orig.push(i);
                i += n;
                continue;
            }
            text.push(c);
            orig.push(i);
            i += 1;
        }
    }
    Some(Spec { text, orig })
}

/// Strips `log_format NAME`, `escape=…` and a trailing `;`, then unquotes config strings.
fn preprocess(spec: &str) -> Spec {
    let s = spec.as_bytes();
    let mut end = s.len();
    while end > 0 && s[end - 1].is_ascii_whitespace() {
        end -= 1;
    }
    if end > 0 && s[end - 1] == b';' {
        end -= 1;
    }
    let s = &s[..end];
    let mut i = 0;
    let skip_ws = |i: &mut usize| {
        while s.get(*i).is_some_and(u8::is_ascii_whitespace) {
            *i += 1;
        }
    };
    let skip_word = |i: &mut usize| {
        while s.get(*i).is_some_and(|c| !c.is_ascii_whitespace()) {
            *i += 1;
        }
    };
    skip_ws(&mut i);
    if s[i..].starts_with(b"log_format") && s.get(i + 10).is_some_and(u8::is_ascii_whitespace) {
        i += 10;
        skip_ws(&mut i);
        skip_word(&mut i); // the format's name
        skip_ws(&mut i);
    }
    if s[i..].starts_with(b"escape=") {
        skip_word(&mut i);
        skip_ws(&mut i);
    }
    if matches!(s.get(i), Some(b'\'' | b'"')) {
        if let Some(spec) = unquote_config(s, i) {
            return spec;
        }
    }
    Spec {
        text: s[i..].to_vec(),
        orig: (i..s.len()).collect(),
    }
}

fn is_name_byte(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_'
}

impl NginxFormat {
    /// Compiles an nginx `log_format` string.
    ///
    /// `spec` is either the format text itself (`$remote_addr - $remote_user [$time_local] …`),
    /// the quoted strings as written in `nginx.conf` (`'$remote_addr - ' '"$request"'`,
    /// concatenated, optionally preceded by `log_format NAME` and `escape=…`, and followed by
    /// `;`), or one of the names `combined` (nginx's predefined format) and `common`.
    /// Variables are `$name` or `${name}`.
    ///
    /// # Errors
    /// [`FormatError`] with the byte offset in `spec` of: an empty format, a `$` not followed by a
    /// variable name, an unclosed `${`, or two variables with no literal text between them (the
    /// boundary between their values could not be found in a line).
    pub fn compile(spec: &str) -> Result<NginxFormat, FormatError> {
        let spec = match spec.trim() {
            "combined" => COMBINED,
            "common" => COMMON,
            _ => spec,
        };
        let pre = preprocess(spec);
        let t = &pre.text;
        if t.is_empty() {
            return Err(FormatError {
                offset: pre.at(0),
                reason: "empty log format",
            });
        }
        let err = |i: usize, reason| FormatError {
            offset: pre.at(i),
            reason,
        };

        // (literal | variable) tokens; each variable keeps its start for error messages.
        let mut raw: Vec<Result<Vec<u8>, (Var, usize)>> = Vec::new();
        let mut lit = Vec::new();
        let mut i = 0;
        while i < t.len() {
            if t[i] != b'$' {
                lit.push(t[i]);
                i += 1;
                continue;
            }
            let start = i;
            let (name, next) = if t.get(i + 1) == Some(&b'{') {
                let close = t[i + 2..]
                    .iter()
                    .position(|&c| c == b'}')
                    .ok_or(err(start, "unclosed '${'"))?;
                let name = &t[i + 2..i + 2 + close];
                if name.is_empty() || !name.iter().all(|&c| is_name_byte(c)) {
                    return Err(err(i + 2, "expected a variable name inside '${…}'"));
                }
                (name, i + 3 + close)
            } else {
                let n = t[i + 1..].iter().take_while(|&&c| is_name_byte(c)).count();
                if n == 0 {
                    return Err(err(i + 1, "expected a variable name after '$'"));
                }
                (&t[i + 1..i + 1 + n], i + 1 + n)
            };
            if !lit.is_empty() {
                raw.push(Ok(std::mem::take(&mut lit)));
            } else if matches!(raw.last(), Some(Err(_))) {
                return Err(err(
                    start,
                    "two variables with no literal text between them",
                ));
            }
            raw.push(Err((Var::from_name(name), start)));
            i = next;
        }
        if !lit.is_empty() {
            raw.push(Ok(lit));
        }

        let mut segs = Vec::with_capacity(raw.len());
        for (k, tok) in raw.iter().enumerate() {
            match tok {
                Ok(l) => segs.push(Seg::Lit(l.clone().into_boxed_slice())),
                Err((var, _)) => {
                    let prev_quote = k > 0 && matches!(&raw[k - 1], Ok(l) if l.ends_with(b"\""));
                    let next_lit = match raw.get(k + 1) {
                        Some(Ok(l)) => Some(l),
                        _ => None,
                    };
                    segs.push(Seg::Var {
                        var: *var,
                        quoted: prev_quote && next_lit.is_some_and(|l| l.starts_with(b"\"")),
                        next: next_lit.map(|l| Box::new(Finder::new(l).into_owned())),
                    });
                }
            }
        }
        Ok(NginxFormat { segs })
    }

    /// Parses one line of this format.
    ///
    /// # Errors
    /// [`ParseError`] where a literal of the format is not found, or a mapped variable has an
    /// invalid value (non-numeric `$status`, a bad time, a non-UTF-8 client address).
    pub fn parse_line<'a>(&self, line: &'a [u8]) -> Result<LogRecord<'a>, ParseError> {
        let src = Src::new(line);
        let mut st = State::default();
        let mut pos = 0;
        for seg in &self.segs {
            match seg {
                Seg::Lit(l) => {
                    if !line[pos..].starts_with(l) {
                        return Err(ParseError::new(
                            pos,
                            "line does not match the log_format text",
                        ));
                    }
                    pos += l.len();
                }
                Seg::Var { var, quoted, next } => {
                    let end = match next {
                        None => line.len(),
                        Some(f) => value_end(line, pos, *quoted, f).ok_or(ParseError::new(
                            pos,
                            "text after a variable not found (line shorter than the log_format)",
                        ))?,
                    };
                    st.set(&src, *var, pos, end)?;
                    pos = end;
                }
            }
        }
        Ok(st.finish(&src))
    }
}

/// End of a variable's value starting at `pos`: the start of the next literal.
#[inline]
fn value_end(line: &[u8], pos: usize, quoted: bool, next: &Finder<'_>) -> Option<usize> {
    let lit = next.needle();
    if quoted {
        if let Some(q) = find_close_quote(line, pos) {
            if line[q..].starts_with(lit) {
                return Some(q);
            }
        }
    }
    next.find(line.get(pos..)?).map(|i| pos + i)
}

/// Field values seen so far, each with the priority of the variable that set it (lower wins).
#[derive(Default)]
struct State {
    client: Option<(u8, usize, usize)>,
    time: Option<i64>,
    request: Option<(usize, usize)>,
    method: Option<(usize, usize)>,
    request_uri: Option<(usize, usize)>,
    uri: Option<(usize, usize)>,
    args: Option<(usize, usize)>,
    protocol: Option<(usize, usize)>,
    status: u16,
    bytes: Option<(u8, u64)>,
    referer: Option<(usize, usize)>,
    user_agent: Option<(usize, usize)>,
    host: Option<(u8, usize, usize)>,
}

fn better<T>(cur: &Option<(u8, T, T)>, prio: u8) -> bool {
    cur.as_ref().is_none_or(|(p, _, _)| prio < *p)
}

impl State {
    fn set(&mut self, src: &Src<'_>, var: Var, a: usize, b: usize) -> Result<(), ParseError> {
        let v = &src.bytes[a..b];
        let time =
            |r: Result<i64, (usize, &'static str)>| r.map_err(|(o, m)| ParseError::new(a + o, m));
        match var {
            Var::RemoteAddr | Var::RealipRemoteAddr | Var::XForwardedFor => {
                let prio = var as u8;
                if better(&self.client, prio) {
                    let (mut s, mut e) = (a, b);
                    if var == Var::XForwardedFor {
                        // the first entry of `client, proxy1, proxy2`
                        e = memchr::memchr(b',', v).map_or(b, |i| a + i);
                        while s < e && src.bytes[s] == b' ' {
                            s += 1;
                        }
                    }
                    src.str(s, e)?;
                    self.client = Some((prio, s, e));
                }
            }
            Var::TimeLocal if self.time.is_none() => self.time = Some(time(parse_clf_time(v))?),
            Var::TimeIso8601 if self.time.is_none() => self.time = Some(time(parse_iso8601(v))?),
            Var::Msec if self.time.is_none() => self.time = Some(time(parse_epoch_decimal(v))?),
            Var::Request => self.request = Some((a, b)),
            Var::RequestMethod => self.method = Some((a, b)),
            Var::RequestUri => self.request_uri = Some((a, b)),
            Var::Uri => self.uri = Some((a, b)),
            Var::Args => self.args = Some((a, b)),
            Var::ServerProtocol => self.protocol = Some((a, b)),
            Var::Status => {
                self.status = if v == b"-" {
                    0
                } else {
                    parse_status(v).ok_or(ParseError::new(a, "status is not a number"))?
                };
            }
            Var::BodyBytesSent | Var::BytesSent => {
                let prio = u8::from(var == Var::BytesSent);
                if self.bytes.as_ref().is_none_or(|(p, _)| prio < *p) {
                    let n = if v == b"-" {
                        0
                    } else {
                        parse_u64(v).ok_or(ParseError::new(a, "bytes is not a number or '-'"))?
                    };
                    self.bytes = Some((prio, n));
                }
            }
            Var::HttpReferer => self.referer = Some((a, b)),
            Var::HttpUserAgent => self.user_agent = Some((a, b)),
            Var::Host | Var::HttpHost | Var::ServerName => {
                let prio = var as u8;
                if better(&self.host, prio) {
                    self.host = Some((prio, a, b));
                }
            }
            Var::TimeLocal | Var::TimeIso8601 | Var::Msec | Var::Other => {}
        }
        Ok(())
    }

    fn finish<'a>(self, src: &Src<'a>) -> LogRecord<'a> {
        let field = |r: Option<(usize, usize)>| r.map(|(a, b)| src.cow(a, b));
        let (mut method, mut target, mut protocol) = (
            field(self.method),
            field(self.request_uri),
            field(self.protocol),
        );
        if let Some((a, b)) = self.request {
            let (m, t, p) = split_request(src, a, b);
            let has_method = !m.is_empty();
            if method.is_none() && has_method {
                method = Some(m);
            }
            if protocol.is_none() && has_method {
                protocol = Some(p);
            }
            if target.is_none() {
                target = Some(t);
            }
        }
        if target.is_none() {
            if let Some((a, b)) = self.uri {
                target = Some(match self.args {
                    Some((c, d)) if d > c && &src.bytes[c..d] != b"-" => {
                        Cow::Owned(format!("{}?{}", src.cow(a, b), src.cow(c, d)))
                    }
                    _ => src.cow(a, b),
                });
            }
        }
        let client = self
            .client
            .and_then(|(_, a, b)| src.str(a, b).ok())
            .filter(|c| !c.is_empty())
            .unwrap_or("-");
        LogRecord {
            client,
            time: self.time,
            method: method.unwrap_or(Cow::Borrowed("")),
            target: target.unwrap_or(Cow::Borrowed("")),
            protocol: protocol.unwrap_or(Cow::Borrowed("")),
            status: self.status,
            bytes: self.bytes.map_or(0, |(_, n)| n),
            referer: self
                .referer
                .map_or(Cow::Borrowed(""), |(a, b)| src.cow_dash(a, b)),
            user_agent: self
                .user_agent
                .map_or(Cow::Borrowed(""), |(a, b)| src.cow_dash(a, b)),
            host: self
                .host
                .filter(|&(_, a, b)| b > a && &src.bytes[a..b] != b"-")
                .map(|(_, a, b)| src.cow(a, b)),
        }
    }
}
