//! Hand-written timestamp parsers: NCSA/Apache `%t` (`10/Oct/2000:13:55:36 -0700`),
//! ISO 8601 / RFC 3339 (`2000-10-10T13:55:36-07:00`, nginx `$time_iso8601`, Caddy, Traefik) and
//! `$msec`-style decimal seconds (`1706727608.123`).
//!
//! All parsers return unix seconds (UTC, offset applied); sub-second parts are truncated toward
//! negative infinity (floor). On failure they return the byte offset (relative to the input slice)
//! at which the text stopped matching, plus a reason.

/// A failed timestamp parse: offset relative to the parsed slice, and why.
pub(crate) type TimeError = (usize, &'static str);

/// Days since 1970-01-01 for a proleptic Gregorian date (H. Hinnant's `days_from_civil`).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400; // [0, 399]
    let m = i64::from(m);
    let d = i64::from(d);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1; // [0, 365]
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy; // [0, 146096]
    era * 146_097 + doe - 719_468
}

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ => {
            if is_leap(y) {
                29
            } else {
                28
            }
        }
    }
}

/// Reads exactly `n` ASCII digits at `s[at..]`.
#[inline]
fn digits(s: &[u8], at: usize, n: usize) -> Result<u32, TimeError> {
    let mut v: u32 = 0;
    for i in 0..n {
        match s.get(at + i) {
            Some(c @ b'0'..=b'9') => v = v * 10 + u32::from(c - b'0'),
            _ => return Err((at + i, "expected a digit in timestamp")),
        }
    }
    Ok(v)
}

#[inline]
fn expect(s: &[u8], at: usize, c: u8, reason: &'static str) -> Result<(), TimeError> {
    if s.get(at) == Some(&c) {
        Ok(())
    } else {
        Err((at, reason))
    }
}

/// Validates the calendar/clock fields and converts to unix seconds (before applying an offset).
fn to_unix(
    (year, month, day): (i64, u32, u32),
    (hour, min, sec): (u32, u32, u32),
    offs: [usize; 6],
) -> Result<i64, TimeError> {
    if !(1..=12).contains(&month) {
        return Err((offs[1], "month out of range"));
    }
    if day == 0 || day > days_in_month(year, month) {
        return Err((offs[2], "day out of range for month"));
    }
    if hour > 23 {
        return Err((offs[3], "hour out of range"));
    }
    if min > 59 {
        return Err((offs[4], "minute out of range"));
    }
    // 60 is a leap second; it folds into the next minute like POSIX time does.
    if sec > 60 {
        return Err((offs[5], "second out of range"));
    }
    Ok(days_from_civil(year, month, day) * 86_400
        + i64::from(hour) * 3600
        + i64::from(min) * 60
        + i64::from(sec))
}

fn month_from_abbrev(m: &[u8]) -> Option<u32> {
    // Apache and nginx always write the English abbreviation with this capitalisation.
    Some(match m {
        b"Jan" => 1,
        b"Feb" => 2,
        b"Mar" => 3,
        b"Apr" => 4,
        b"May" => 5,
        b"Jun" => 6,
        b"Jul" => 7,
        b"Aug" => 8,
        b"Sep" => 9,
        b"Oct" => 10,
        b"Nov" => 11,
        b"Dec" => 12,
        _ => return None,
    })
}

/// Skips an optional `.digits` fraction at `at`; returns the position after it.
fn skip_fraction(s: &[u8], mut at: usize) -> Result<usize, TimeError> {
    if s.get(at) == Some(&b'.') || s.get(at) == Some(&b',') {
        at += 1;
        let start = at;
        while s.get(at).is_some_and(u8::is_ascii_digit) {
            at += 1;
        }
        if at == start {
            return Err((at, "expected fraction digits"));
        }
    }
    Ok(at)
}

/// Parses `±HHMM` (or `±HH:MM` when `colon_ok`) at `at`; returns (offset seconds, end).
fn numeric_offset(s: &[u8], at: usize, colon_ok: bool) -> Result<(i64, usize), TimeError> {
    let sign = match s.get(at) {
        Some(b'+') => 1,
        Some(b'-') => -1,
        _ => return Err((at, "expected '+' or '-' in UTC offset")),
    };
    let hh = digits(s, at + 1, 2)?;
    let mut p = at + 3;
    if colon_ok && s.get(p) == Some(&b':') {
        p += 1;
    }
    let mm = digits(s, p, 2)?;
    if hh > 23 {
        return Err((at + 1, "UTC offset hours out of range"));
    }
    if mm > 59 {
        return Err((p, "UTC offset minutes out of range"));
    }
    Ok((sign * (i64::from(hh) * 3600 + i64::from(mm) * 60), p + 2))
}

/// Parses the NCSA/Apache `%t` time without brackets: `dd/Mon/yyyy:HH:MM:SS ±hhmm`
/// (an optional `.fraction` after the seconds is accepted and truncated). Returns unix seconds.
pub(crate) fn parse_clf_time(s: &[u8]) -> Result<i64, TimeError> {
    let day = digits(s, 0, 2)?;
    expect(s, 2, b'/', "expected '/' after day")?;
    let month = s
        .get(3..6)
        .and_then(month_from_abbrev)
        .ok_or((3, "unknown month name"))?;
    expect(s, 6, b'/', "expected '/' after month")?;
    let year = digits(s, 7, 4)?;
    expect(s, 11, b':', "expected ':' after year")?;
    let hour = digits(s, 12, 2)?;
    expect(s, 14, b':', "expected ':' after hour")?;
    let min = digits(s, 15, 2)?;
    expect(s, 17, b':', "expected ':' after minute")?;
    let sec = digits(s, 18, 2)?;
    let p = skip_fraction(s, 20)?;
    expect(s, p, b' ', "expected ' ' before UTC offset")?;
    let (off, end) = numeric_offset(s, p + 1, false)?;
    if end != s.len() {
        return Err((end, "unexpected text after timestamp"));
    }
    let t = to_unix(
        (i64::from(year), month, day),
        (hour, min, sec),
        [7, 3, 0, 12, 15, 18],
    )?;
    Ok(t - off)
}

/// Parses ISO 8601 / RFC 3339 date-time: `yyyy-mm-ddTHH:MM:SS[.frac](Z|±HH:MM|±HHMM)`.
/// A space or lowercase `t` may separate date and time; a missing offset is taken as UTC.
pub(crate) fn parse_iso8601(s: &[u8]) -> Result<i64, TimeError> {
    let year = digits(s, 0, 4)?;
    expect(s, 4, b'-', "expected '-' after year")?;
    let month = digits(s, 5, 2)?;
    expect(s, 7, b'-', "expected '-' after month")?;
    let day = digits(s, 8, 2)?;
    match s.get(10) {
        Some(b'T' | b't' | b' ') => {}
        _ => return Err((10, "expected 'T' between date and time")),
    }
    let hour = digits(s, 11, 2)?;
    expect(s, 13, b':', "expected ':' after hour")?;
    let min = digits(s, 14, 2)?;
    expect(s, 16, b':', "expected ':' after minute")?;
    let sec = digits(s, 17, 2)?;
    let p = skip_fraction(s, 19)?;
    let (off, end) = match s.get(p) {
        None => (0, p),
        Some(b'Z' | b'z') => (0, p + 1),
        Some(_) => numeric_offset(s, p, true)?,
    };
    if end != s.len() {
        return Err((end, "unexpected text after timestamp"));
    }
    let t = to_unix(
        (i64::from(year), month, day),
        (hour, min, sec),
        [0, 5, 8, 11, 14, 17],
    )?;
    Ok(t - off)
}

/// Parses decimal seconds since the epoch (`$msec`: `1706727608.123`); optional leading `-`.
pub(crate) fn parse_epoch_decimal(s: &[u8]) -> Result<i64, TimeError> {
    let (neg, start) = match s.first() {
        Some(b'-') => (true, 1),
        _ => (false, 0),
    };
    let mut v: i64 = 0;
    let mut p = start;
    while let Some(c @ b'0'..=b'9') = s.get(p) {
        v = v
            .checked_mul(10)
            .and_then(|v| v.checked_add(i64::from(c - b'0')))
            .ok_or((p, "epoch seconds overflow"))?;
        p += 1;
    }
    if p == start {
        return Err((p, "expected a digit in epoch seconds"));
    }
    let int_end = p;
    let end = skip_fraction(s, p)?;
    if end != s.len() {
        return Err((end, "unexpected text after epoch seconds"));
    }
    if neg {
        // floor: -1.5 => -2
        let has_nonzero_frac = s[int_end..end].iter().skip(1).any(|&c| c != b'0');
        Ok(-v - i64::from(has_nonzero_frac))
    } else {
        Ok(v)
    }
}

/// Converts float seconds (JSON `ts`) to whole unix seconds; `None` if not finite or out of range.
pub(crate) fn float_seconds(f: f64) -> Option<i64> {
    if f.is_finite() && f.abs() < 1e15 {
        #[allow(clippy::cast_possible_truncation)]
        Some(f.floor() as i64)
    } else {
        None
    }
}

/// Parses any of the supported textual time shapes, chosen by their shape.
pub(crate) fn parse_any(s: &[u8]) -> Result<i64, TimeError> {
    match (s.get(2), s.get(4)) {
        (Some(b'/'), _) => parse_clf_time(s),
        (_, Some(b'-')) => parse_iso8601(s),
        _ => parse_epoch_decimal(s),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clf_reference_example() {
        // The example from the Apache mod_log_config documentation.
        assert_eq!(
            parse_clf_time(b"10/Oct/2000:13:55:36 -0700"),
            Ok(971_211_336)
        );
        assert_eq!(parse_clf_time(b"01/Jan/1970:00:00:00 +0000"), Ok(0));
        assert_eq!(
            parse_clf_time(b"01/Feb/2024:00:00:08 +0500"),
            Ok(1_706_727_608)
        );
        assert_eq!(
            parse_clf_time(b"29/Feb/2024:23:59:59 +0000"),
            Ok(1_709_251_199)
        );
        assert_eq!(
            parse_clf_time(b"10/Oct/2000:13:55:36.250 -0700"),
            Ok(971_211_336)
        );
    }

    #[test]
    fn clf_rejects_bad_fields() {
        assert_eq!(
            parse_clf_time(b"10/Foo/2000:13:55:36 -0700").unwrap_err().0,
            3
        );
        assert_eq!(
            parse_clf_time(b"29/Feb/2023:00:00:00 +0000").unwrap_err().0,
            0
        );
        assert_eq!(
            parse_clf_time(b"00/Jan/2023:00:00:00 +0000").unwrap_err().0,
            0
        );
        assert_eq!(
            parse_clf_time(b"10/Oct/2000:24:55:36 -0700").unwrap_err().0,
            12
        );
        assert_eq!(
            parse_clf_time(b"10/Oct/2000:13:60:36 -0700").unwrap_err().0,
            15
        );
        assert_eq!(
            parse_clf_time(b"10/Oct/2000:13:55:61 -0700").unwrap_err().0,
            18
        );
        assert_eq!(
            parse_clf_time(b"10/Oct/2000:13:55:36 -07").unwrap_err().0,
            24
        );
        assert_eq!(
            parse_clf_time(b"10/Oct/2000:13:55:36 *0700").unwrap_err().0,
            21
        );
        assert_eq!(
            parse_clf_time(b"10/Oct/2000:13:55:36 -0700x")
                .unwrap_err()
                .0,
            26
        );
        assert_eq!(
            parse_clf_time(b"10/oct/2000:13:55:36 -0700").unwrap_err().0,
            3
        );
        assert!(parse_clf_time(b"").is_err());
    }

    #[test]
    fn iso8601() {
        assert_eq!(parse_iso8601(b"2000-10-10T13:55:36-07:00"), Ok(971_211_336));
        assert_eq!(parse_iso8601(b"2000-10-10T20:55:36Z"), Ok(971_211_336));
        assert_eq!(
            parse_iso8601(b"2000-10-10T20:55:36.123456789Z"),
            Ok(971_211_336)
        );
        assert_eq!(parse_iso8601(b"2000-10-10 20:55:36"), Ok(971_211_336));
        assert_eq!(parse_iso8601(b"2000-10-11T01:55:36+0500"), Ok(971_211_336));
        assert_eq!(parse_iso8601(b"2000-13-10T20:55:36Z").unwrap_err().0, 5);
        assert_eq!(parse_iso8601(b"2000-10-10T20:55:36Zx").unwrap_err().0, 20);
        assert_eq!(parse_iso8601(b"2000-10-10T20:55:36.Z").unwrap_err().0, 20);
    }

    #[test]
    fn epoch() {
        assert_eq!(parse_epoch_decimal(b"1706727608.123"), Ok(1_706_727_608));
        assert_eq!(parse_epoch_decimal(b"1706727608"), Ok(1_706_727_608));
        assert_eq!(parse_epoch_decimal(b"-1.5"), Ok(-2));
        assert_eq!(parse_epoch_decimal(b"-1.0"), Ok(-1));
        assert!(parse_epoch_decimal(b"").is_err());
        assert!(parse_epoch_decimal(b"99999999999999999999").is_err());
        assert_eq!(float_seconds(1_706_727_608.9), Some(1_706_727_608));
        assert_eq!(float_seconds(f64::NAN), None);
    }

    #[test]
    fn any_shape() {
        assert_eq!(parse_any(b"10/Oct/2000:13:55:36 -0700"), Ok(971_211_336));
        assert_eq!(parse_any(b"2000-10-10T20:55:36Z"), Ok(971_211_336));
        assert_eq!(parse_any(b"971211336.000"), Ok(971_211_336));
    }
}
