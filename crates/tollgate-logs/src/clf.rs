//! NCSA Common and Combined Log Format (Apache `mod_log_config` `common` / `combined`, nginx
//! `combined`):
//!
//! ```text
//! host ident authuser [dd/Mon/yyyy:HH:MM:SS +zzzz] "request" status bytes "referer" "user-agent"
//! ```

use std::borrow::Cow;

use memchr::{memchr, memchr_iter, memrchr};

use crate::request::{find_close_quote, split_request};
use crate::time::parse_clf_time;
use crate::{parse_status, parse_u64, LogRecord, ParseError, Src};

/// `"` at `q` followed by ` <digit>`: the end of the request field.
#[inline]
fn ends_request(line: &[u8], q: usize) -> bool {
    line.get(q + 1) == Some(&b' ') && line.get(q + 2).is_some_and(u8::is_ascii_digit)
}

/// `"` at `q` followed by ` "`: the end of the referer field.
#[inline]
fn ends_referer(line: &[u8], q: usize) -> bool {
    line.get(q + 1) == Some(&b' ') && line.get(q + 2) == Some(&b'"')
}

/// `"` at `q` followed by end of line or a space: the end of the user-agent field.
#[inline]
fn ends_last(line: &[u8], q: usize) -> bool {
    matches!(line.get(q + 1), None | Some(b' ' | b'\t'))
}

/// Finds the end quote of a quoted field starting at `from`: first with the escape rule, and if
/// what follows does not fit, the first plain `"` that fits (servers that do not escape quotes,
/// or a literal trailing backslash). `Err` carries the offset to report.
#[inline]
fn quoted_end(line: &[u8], from: usize, fits: fn(&[u8], usize) -> bool) -> Result<usize, usize> {
    let first = find_close_quote(line, from);
    if let Some(q) = first {
        if fits(line, q) {
            return Ok(q);
        }
    }
    let rest = line.get(from..).unwrap_or_default();
    for i in memchr_iter(b'"', rest) {
        if fits(line, from + i) {
            return Ok(from + i);
        }
    }
    Err(first.map_or(line.len(), |q| q + 1))
}

/// The next space-delimited token starting at `from`: returns its end (a space or end of line).
#[inline]
fn token_end(line: &[u8], from: usize) -> usize {
    line.get(from..)
        .and_then(|r| memchr(b' ', r))
        .map_or(line.len(), |i| from + i)
}

pub(crate) fn parse(line: &[u8], combined: bool) -> Result<LogRecord<'_>, ParseError> {
    let n = line.len();
    let src = Src::new(line);

    // host
    let c_end = memchr(b' ', line).ok_or(ParseError::new(
        n,
        "truncated line: expected ' ' after client address",
    ))?;
    if c_end == 0 {
        return Err(ParseError::new(0, "empty client address"));
    }
    let client = src.str(0, c_end)?;

    // ident authuser [
    let lb = memchr(b'[', &line[c_end + 1..])
        .map(|i| c_end + 1 + i)
        .ok_or(ParseError::new(n, "missing '[' before time"))?;
    let mid = &line[c_end + 1..lb];
    match mid {
        [ident @ .., b' '] if ident.len() >= 3 && memchr(b' ', &ident[1..]).is_some() => {}
        [.., b' '] => {
            return Err(ParseError::new(
                c_end + 1,
                "expected ident and authuser fields",
            ))
        }
        _ => return Err(ParseError::new(lb, "expected ' ' before '['")),
    }

    // [time]
    let rb = memchr(b']', &line[lb + 1..])
        .map(|i| lb + 1 + i)
        .ok_or(ParseError::new(n, "missing ']' after time"))?;
    let time =
        parse_clf_time(&line[lb + 1..rb]).map_err(|(o, r)| ParseError::new(lb + 1 + o, r))?;

    // "request"
    if line.get(rb + 1..rb + 3) != Some(b" \"") {
        return Err(ParseError::new(rb + 1, "expected ' \"' before request"));
    }
    let rq_start = rb + 3;
    let rq_end = quoted_end(line, rq_start, ends_request)
        .map_err(|o| ParseError::new(o, "expected '\"' and a numeric status after request"))?;
    let (method, target, protocol) = split_request(&src, rq_start, rq_end);

    // status
    let st_start = rq_end + 2;
    let st_end = token_end(line, st_start);
    let status = parse_status(&line[st_start..st_end])
        .ok_or(ParseError::new(st_start, "status is not a number"))?;
    if st_end == n {
        return Err(ParseError::new(
            n,
            "truncated line: expected bytes after status",
        ));
    }

    // bytes
    let by_start = st_end + 1;
    let by_end = token_end(line, by_start);
    let by = &line[by_start..by_end];
    let bytes = if by == b"-" {
        0
    } else {
        parse_u64(by).ok_or(ParseError::new(by_start, "bytes is not a number or '-'"))?
    };

    let mut rec = LogRecord {
        client,
        time: Some(time),
        method,
        target,
        protocol,
        status,
        bytes,
        referer: Cow::Borrowed(""),
        user_agent: Cow::Borrowed(""),
        host: None,
    };
    if !combined {
        return Ok(rec);
    }

    // "referer" "user-agent"
    if by_end == n {
        return Err(ParseError::new(n, "truncated line: expected referer"));
    }
    if line.get(by_end + 1) != Some(&b'"') {
        return Err(ParseError::new(by_end + 1, "expected '\"' before referer"));
    }
    let rf_start = by_end + 2;
    let rf_end = quoted_end(line, rf_start, ends_referer)
        .map_err(|o| ParseError::new(o, "expected '\" \"' between referer and user agent"))?;
    let ua_start = rf_end + 3;
    let ua_end = match find_close_quote(line, ua_start) {
        Some(q) if ends_last(line, q) => q,
        first => match memrchr(b'"', line) {
            Some(q) if q >= ua_start => q,
            _ => {
                return Err(ParseError::new(
                    first.map_or(n, |q| q + 1),
                    "unterminated user agent",
                ))
            }
        },
    };
    rec.referer = src.cow_dash(rf_start, rf_end);
    rec.user_agent = src.cow_dash(ua_start, ua_end);
    Ok(rec)
}
