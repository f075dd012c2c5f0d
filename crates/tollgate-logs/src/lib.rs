//! Access-log parsing for `tollgate scan`.
//!
//! This crate turns web-server access logs into [`LogRecord`]s, the raw material `scan` converts
//! into request facts and replays through the classifier and policy.
//!
//! Supported inputs:
//!
//! * [`LogFormat::Combined`] and [`LogFormat::Common`]: the NCSA Common Log Format and the
//!   Combined Log Format as written by Apache httpd (`mod_log_config`, `LogFormat "%h %l %u %t
//!   \"%r\" %>s %b \"%{Referer}i\" \"%{User-agent}i\""`) and nginx (`ngx_http_log_module`'s
//!   predefined `combined`).
//! * [`LogFormat::JsonLines`]: one JSON object per line: Caddy's access log, Traefik's JSON access
//!   log, and nginx `log_format ... escape=json` logs keyed by nginx variable names.
//! * [`LogFormat::Nginx`]: any nginx `log_format` string, compiled with [`NginxFormat::compile`].
//!
//! Inputs are opened with [`open_input`] (plain or gzip by magic bytes, or `-` for stdin) and cut
//! into line-aligned [`Chunk`]s by [`ChunkReader`] for parallel parsing.
//!
//! # Quoted fields and escapes
//!
//! Inside `"…"` fields a backslash escapes the next byte, so `\"` (Apache) does not end the field;
//! nginx writes `"` as `\x22` and `\` as `\x5C`, which never ends a field either. Field values
//! are returned **raw, as logged** (escapes kept, no unescaping) so they borrow from the line;
//! call [`unescape`] when the decoded text is needed. Fields that are not valid UTF-8 are
//! converted lossily (U+FFFD) into [`Cow::Owned`] so a record is still produced.
//!
//! The parsers never panic, whatever the input bytes.

use std::borrow::Cow;

mod clf;
mod input;
mod json;
mod nginx;
mod request;
mod time;

pub use input::{
    open_input, open_input_with_progress, ByteCounter, Chunk, ChunkReader, CountingReader, Input,
    InputError, Lines, DEFAULT_CHUNK_SIZE, MAX_LINE_BYTES,
};
pub use nginx::{FormatError, NginxFormat};
pub use request::unescape;

/// One access-log record, borrowed from the line where possible.
///
/// Strings are returned as logged (see the crate docs for the escape rule); placeholders `-` are
/// mapped as documented per field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogRecord<'a> {
    /// Remote address field as logged (`66.249.66.1`, `2001:db8::1`); may be `-`. `-` as well
    /// when the format has no client field.
    pub client: &'a str,
    /// Request time as unix seconds UTC (the logged offset applied, fractions floored); `None` if
    /// the format has no time field.
    pub time: Option<i64>,
    /// Request method; `""` if the request line was unparsable or `-`.
    pub method: Cow<'a, str>,
    /// Request-target as logged (path and optional `?query`); the whole raw request line if it
    /// could not be split into method, target and protocol.
    pub target: Cow<'a, str>,
    /// Protocol (`HTTP/1.1`), or `""` when absent.
    pub protocol: Cow<'a, str>,
    /// Response status code; 0 if absent.
    pub status: u16,
    /// Response body bytes (`%b` / `$body_bytes_sent`); `-` maps to 0.
    pub bytes: u64,
    /// Referer header; `""` if `-` or absent.
    pub referer: Cow<'a, str>,
    /// User-Agent header; `""` if `-` or absent.
    pub user_agent: Cow<'a, str>,
    /// Virtual host, if the format logs one.
    pub host: Option<Cow<'a, str>>,
}

impl Default for LogRecord<'_> {
    fn default() -> Self {
        LogRecord {
            client: "-",
            time: None,
            method: Cow::Borrowed(""),
            target: Cow::Borrowed(""),
            protocol: Cow::Borrowed(""),
            status: 0,
            bytes: 0,
            referer: Cow::Borrowed(""),
            user_agent: Cow::Borrowed(""),
            host: None,
        }
    }
}

/// A line that does not match its format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("malformed log line at byte {offset}: {reason}")]
pub struct ParseError {
    /// Byte offset in the line where parsing failed.
    pub offset: usize,
    /// What was expected there.
    pub reason: &'static str,
}

impl ParseError {
    pub(crate) const fn new(offset: usize, reason: &'static str) -> Self {
        ParseError { offset, reason }
    }
}

/// An access-log format.
#[derive(Debug, Clone)]
pub enum LogFormat {
    /// NCSA Combined Log Format: Common plus `"referer" "user-agent"`. Further fields after the
    /// user agent (some servers append quoted fields or numbers) are ignored.
    Combined,
    /// NCSA Common Log Format: `host ident authuser [time] "request" status bytes`. Anything
    /// after the bytes field (separated by a space) is ignored, so combined lines parse too.
    Common,
    /// One JSON object per line: Caddy's access log, Traefik's JSON access log, and nginx
    /// `log_format … escape=json` logs keyed by variable names. Other keys are ignored.
    ///
    /// Recognised keys (first listed wins when several are present):
    ///
    /// | field | keys |
    /// |---|---|
    /// | client | Caddy `request.client_ip`, `client_ip`, `request.remote_ip`, `request.remote_addr`; Traefik `ClientHost`, `ClientAddr`; nginx `remote_addr`, `realip_remote_addr`, then `http_x_forwarded_for` (first entry); `remote_ip`, `ip` |
    /// | time | Caddy `ts` (float seconds); Traefik `StartUTC`, `StartLocal`; nginx `time_iso8601`, `time_local`, `msec`; `timestamp`, `@timestamp`, `time` (the last three only when date-shaped) |
    /// | method | `request.method`, `RequestMethod`, `request_method`, `method`, else from `request` |
    /// | target | `request.uri`, `RequestPath`, `request_uri`, `path`, else from `request`, else `uri` + `?args` / `query_string` |
    /// | protocol | `request.proto`, `RequestProtocol`, `server_protocol`, `protocol`, else from `request` |
    /// | status | `status`, `DownstreamStatus`, `status_code`, `OriginStatus` |
    /// | bytes | `size`, `DownstreamContentSize`, `body_bytes_sent`, `bytes`, `bytes_sent`, `OriginContentSize` |
    /// | referer | `request.headers.Referer[0]`, `request_Referer`, `http_referer`, `referer`, `referrer` |
    /// | user agent | `request.headers.User-Agent[0]`, `request_User-Agent`, `http_user_agent`, `user_agent` |
    /// | host | `request.host`, `RequestHost`, `host`, `http_host`, `server_name` |
    ///
    /// Numbers may be JSON numbers or strings (nginx writes `"status":"200"` when quoted in the
    /// `log_format`). A client written as `ip:port` or `[v6]:port` is cut to the address.
    ///
    /// Lines with invalid UTF-8 (nginx passes bytes >= 0x80 through `escape=json`) are parsed
    /// from a lossy copy, so their text fields are owned.
    JsonLines,
    /// A compiled nginx `log_format`.
    Nginx(NginxFormat),
}

impl LogFormat {
    /// Parses one line (without its line terminator; a trailing `\r` is tolerated).
    ///
    /// # Errors
    /// [`ParseError`] with the byte offset in `line` where the structure broke: truncated lines,
    /// missing brackets or quotes, a non-numeric status or size, an invalid time, JSON that is
    /// not an object, or a client address that is not UTF-8. For JSON lines, syntax errors carry
    /// serde_json's position; errors in values (a non-numeric status, an invalid time) have
    /// offset 0.
    pub fn parse_line<'a>(&self, line: &'a [u8]) -> Result<LogRecord<'a>, ParseError> {
        let line = match line {
            [rest @ .., b'\r'] => rest,
            _ => line,
        };
        match self {
            LogFormat::Combined => clf::parse(line, true),
            LogFormat::Common => clf::parse(line, false),
            LogFormat::JsonLines => json::parse(line),
            LogFormat::Nginx(f) => f.parse_line(line),
        }
    }

    /// A short name for messages: `combined`, `common`, `json`, or `nginx`.
    pub fn name(&self) -> &'static str {
        match self {
            LogFormat::Combined => "combined",
            LogFormat::Common => "common",
            LogFormat::JsonLines => "json",
            LogFormat::Nginx(_) => "nginx",
        }
    }
}

/// Auto-detects the format from sample lines (the first lines of an input; pass a hundred or so).
///
/// Empty and whitespace-only lines are skipped. Each of combined, common and JSON lines is tried
/// on every sample; the format that parses the most lines wins (ties: combined, then common,
/// then JSON), so a few garbage or stray lines at the top of a file do not decide the format.
/// `None` if no sample line parses in any format. nginx custom formats cannot be detected (they
/// need their `log_format`).
pub fn detect_format(sample_lines: &[&[u8]]) -> Option<LogFormat> {
    let lines: Vec<&[u8]> = sample_lines
        .iter()
        .map(|l| l.trim_ascii())
        .filter(|l| !l.is_empty())
        .collect();
    let mut best: Option<(usize, LogFormat)> = None;
    for f in [LogFormat::Combined, LogFormat::Common, LogFormat::JsonLines] {
        let ok = lines.iter().filter(|l| f.parse_line(l).is_ok()).count();
        if ok > 0 && best.as_ref().is_none_or(|(b, _)| ok > *b) {
            best = Some((ok, f));
        }
    }
    best.map(|(_, f)| f)
}

/// Borrowing view of a line: hands out `Cow<str>` fields, borrowed when the line is UTF-8.
#[derive(Clone, Copy)]
pub(crate) struct Src<'a> {
    pub(crate) bytes: &'a [u8],
    text: Option<&'a str>,
}

impl<'a> Src<'a> {
    pub(crate) fn new(bytes: &'a [u8]) -> Self {
        Src {
            bytes,
            text: std::str::from_utf8(bytes).ok(),
        }
    }

    /// The field `bytes[a..b]` as text, lossily converted if it is not UTF-8.
    #[inline]
    pub(crate) fn cow(&self, a: usize, b: usize) -> Cow<'a, str> {
        if let Some(s) = self.text.and_then(|t| t.get(a..b)) {
            return Cow::Borrowed(s);
        }
        match self.bytes.get(a..b) {
            Some(f) => String::from_utf8_lossy(f),
            None => Cow::Borrowed(""),
        }
    }

    /// Like [`Src::cow`] but `-` becomes `""` (referer, user agent).
    #[inline]
    pub(crate) fn cow_dash(&self, a: usize, b: usize) -> Cow<'a, str> {
        if self.bytes.get(a..b) == Some(b"-") {
            Cow::Borrowed("")
        } else {
            self.cow(a, b)
        }
    }

    /// The field as `&str`; an error at `a` if it is not UTF-8.
    #[inline]
    pub(crate) fn str(&self, a: usize, b: usize) -> Result<&'a str, ParseError> {
        if let Some(s) = self.text.and_then(|t| t.get(a..b)) {
            return Ok(s);
        }
        self.bytes
            .get(a..b)
            .and_then(|f| std::str::from_utf8(f).ok())
            .ok_or(ParseError::new(a, "field is not valid UTF-8"))
    }
}

/// Parses an unsigned decimal field (`status`, `bytes`); `None` if empty, non-digit or overflow.
#[inline]
pub(crate) fn parse_u64(s: &[u8]) -> Option<u64> {
    if s.is_empty() || s.len() > 20 {
        return None;
    }
    let mut v: u64 = 0;
    for &c in s {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v.checked_mul(10)?.checked_add(u64::from(c - b'0'))?;
    }
    Some(v)
}

/// Parses a status code field (1 to 3 digits in practice; anything that fits `u16`).
#[inline]
pub(crate) fn parse_status(s: &[u8]) -> Option<u16> {
    if s.len() > 5 {
        return None;
    }
    parse_u64(s).and_then(|v| u16::try_from(v).ok())
}

#[cfg(test)]
mod tests;
