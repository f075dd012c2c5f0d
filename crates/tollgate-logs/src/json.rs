//! JSON-lines access logs: one object per line, keys looked up by alias.
//!
//! See [`crate::LogFormat::JsonLines`] for the keys recognised.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};

use crate::request::split_request;
use crate::time::{float_seconds, parse_any, parse_clf_time, parse_epoch_decimal, parse_iso8601};
use crate::{parse_status, parse_u64, LogRecord, ParseError, Src};

/// A JSON scalar, or the first element of an array (Caddy header values are arrays).
enum Scalar<'de> {
    Str(Cow<'de, str>),
    U(u64),
    I(i64),
    F(f64),
    Other,
}

impl Scalar<'_> {
    fn text(self) -> Option<Cow<'static, str>> {
        match self {
            Scalar::Str(_) | Scalar::Other => None,
            Scalar::U(n) => Some(Cow::Owned(n.to_string())),
            Scalar::I(n) => Some(Cow::Owned(n.to_string())),
            Scalar::F(f) => Some(Cow::Owned(f.to_string())),
        }
    }
}

struct ScalarVisitor;

impl<'de> Visitor<'de> for ScalarVisitor {
    type Value = Scalar<'de>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Scalar::Str(Cow::Borrowed(v)))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Scalar::Str(Cow::Owned(v.to_owned())))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
        Ok(Scalar::Str(Cow::Owned(v)))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        Ok(Scalar::U(v))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
        Ok(Scalar::I(v))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
        Ok(Scalar::F(v))
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
        Ok(Scalar::Other)
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Scalar::Other)
    }
    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Scalar::Other)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let first = seq.next_element_seed(ScalarSeed)?.unwrap_or(Scalar::Other);
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(first)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Scalar::Other)
    }
}

struct ScalarSeed;

impl<'de> DeserializeSeed<'de> for ScalarSeed {
    type Value = Scalar<'de>;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(ScalarVisitor)
    }
}

/// A map key, borrowed when it has no escapes.
struct Key<'de>(Cow<'de, str>);

impl<'de> de::Deserialize<'de> for Key<'de> {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string key")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Key(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Key(Cow::Owned(v.to_owned())))
            }
        }
        d.deserialize_str(KeyVisitor)
    }
}

/// A candidate value with a priority (lower wins).
struct Slot<T>(Option<(u8, T)>);

impl<T> Default for Slot<T> {
    fn default() -> Self {
        Slot(None)
    }
}

impl<T> Slot<T> {
    fn set(&mut self, prio: u8, v: T) {
        if self.0.as_ref().is_none_or(|(p, _)| prio < *p) {
            self.0 = Some((prio, v));
        }
    }
    fn get(self) -> Option<T> {
        self.0.map(|(_, v)| v)
    }
}

#[derive(Default)]
struct Fields<'de> {
    client: Slot<Cow<'de, str>>,
    time: Slot<i64>,
    time_invalid: bool,
    method: Slot<Cow<'de, str>>,
    target: Slot<Cow<'de, str>>,
    request: Option<Cow<'de, str>>,
    uri: Option<Cow<'de, str>>,
    args: Option<Cow<'de, str>>,
    protocol: Slot<Cow<'de, str>>,
    status: Slot<u16>,
    bytes: Slot<u64>,
    referer: Slot<Cow<'de, str>>,
    user_agent: Slot<Cow<'de, str>>,
    host: Slot<Cow<'de, str>>,
    error: Option<&'static str>,
}

#[derive(Clone, Copy)]
enum TimeKind {
    /// Float seconds or a number-like string.
    Epoch,
    Iso,
    Clf,
    /// Only date-shaped strings (generic `time` keys that may hold durations elsewhere).
    DateShaped,
}

impl<'de> Fields<'de> {
    fn text(v: Scalar<'de>) -> Option<Cow<'de, str>> {
        match v {
            Scalar::Str(s) => Some(s),
            other => other.text(),
        }
    }

    fn set_text(slot: &mut Slot<Cow<'de, str>>, prio: u8, v: Scalar<'de>) {
        if let Some(s) = Self::text(v) {
            slot.set(prio, s);
        }
    }

    fn set_client(&mut self, prio: u8, v: Scalar<'de>, forwarded: bool) {
        let Scalar::Str(s) = v else { return };
        let s = if forwarded {
            // X-Forwarded-For: the first entry is the original client.
            match s {
                Cow::Borrowed(b) => Cow::Borrowed(b.split(',').next().unwrap_or(b).trim()),
                Cow::Owned(o) => Cow::Owned(o.split(',').next().unwrap_or(&o).trim().to_owned()),
            }
        } else {
            s
        };
        if s.is_empty() {
            return;
        }
        let s = match s {
            Cow::Borrowed(b) => Cow::Borrowed(strip_port(b)),
            Cow::Owned(o) => Cow::Owned(strip_port(&o).to_owned()),
        };
        self.client.set(prio, s);
    }

    fn set_time(&mut self, prio: u8, v: Scalar<'de>, kind: TimeKind) {
        let parsed = match (v, kind) {
            (Scalar::F(f), TimeKind::Epoch) => float_seconds(f).ok_or(()),
            (Scalar::U(n), TimeKind::Epoch) => i64::try_from(n).map_err(|_| ()),
            (Scalar::I(n), TimeKind::Epoch) => Ok(n),
            (Scalar::Str(s), kind) => {
                let b = s.as_bytes();
                if b.is_empty() || b == b"-" {
                    return;
                }
                match kind {
                    TimeKind::Epoch => parse_epoch_decimal(b),
                    TimeKind::Iso => parse_iso8601(b),
                    TimeKind::Clf => parse_clf_time(b),
                    TimeKind::DateShaped => {
                        if b.get(2) == Some(&b'/') || b.get(4) == Some(&b'-') {
                            parse_any(b)
                        } else {
                            return;
                        }
                    }
                }
                .map_err(|_| ())
            }
            _ => return,
        };
        match parsed {
            Ok(t) => self.time.set(prio, t),
            Err(()) => self.time_invalid = true,
        }
    }

    fn set_status(&mut self, prio: u8, v: Scalar<'de>) {
        let st = match v {
            Scalar::U(n) => u16::try_from(n).ok(),
            Scalar::Str(s) if s.is_empty() || s == "-" => Some(0),
            Scalar::Str(s) => parse_status(s.as_bytes()),
            Scalar::Other => return,
            Scalar::I(_) | Scalar::F(_) => None,
        };
        match st {
            Some(st) => self.status.set(prio, st),
            None => self.error = Some("status is not a number"),
        }
    }

    fn set_bytes(&mut self, prio: u8, v: Scalar<'de>) {
        let n = match v {
            Scalar::U(n) => Some(n),
            Scalar::Str(s) if s.is_empty() || s == "-" => Some(0),
            Scalar::Str(s) => parse_u64(s.as_bytes()),
            Scalar::Other => return,
            Scalar::I(_) | Scalar::F(_) => None,
        };
        match n {
            Some(n) => self.bytes.set(prio, n),
            None => self.error = Some("size is not a number"),
        }
    }

    /// Handles one top-level key.
    fn top<A: MapAccess<'de>>(&mut self, key: &str, map: &mut A) -> Result<(), A::Error> {
        if key == "request" {
            return map.next_value_seed(RequestSeed(self));
        }
        macro_rules! val {
            () => {
                map.next_value_seed(ScalarSeed)?
            };
        }
        match key {
            // client
            "client_ip" => self.set_client(0, val!(), false),
            "ClientHost" => self.set_client(1, val!(), false),
            "remote_addr" => self.set_client(2, val!(), false),
            "ClientAddr" => self.set_client(3, val!(), false),
            "realip_remote_addr" => self.set_client(4, val!(), false),
            "remote_ip" => self.set_client(5, val!(), false),
            "ip" => self.set_client(6, val!(), false),
            "http_x_forwarded_for" => self.set_client(9, val!(), true),
            // time
            "ts" => self.set_time(0, val!(), TimeKind::Epoch),
            "StartUTC" => self.set_time(0, val!(), TimeKind::Iso),
            "StartLocal" => self.set_time(1, val!(), TimeKind::Iso),
            "time_iso8601" => self.set_time(0, val!(), TimeKind::Iso),
            "time_local" => self.set_time(0, val!(), TimeKind::Clf),
            "msec" => self.set_time(0, val!(), TimeKind::Epoch),
            "timestamp" | "@timestamp" | "time" => self.set_time(5, val!(), TimeKind::DateShaped),
            // request
            "RequestMethod" | "request_method" => Self::set_text(&mut self.method, 1, val!()),
            "method" => Self::set_text(&mut self.method, 2, val!()),
            "RequestPath" | "request_uri" => Self::set_text(&mut self.target, 1, val!()),
            "path" => Self::set_text(&mut self.target, 5, val!()),
            "uri" => self.uri = Self::text(val!()),
            "args" | "query_string" => self.args = Self::text(val!()),
            "RequestProtocol" | "server_protocol" => Self::set_text(&mut self.protocol, 1, val!()),
            "protocol" => Self::set_text(&mut self.protocol, 2, val!()),
            // response
            "status" | "DownstreamStatus" => self.set_status(0, val!()),
            "status_code" => self.set_status(1, val!()),
            "OriginStatus" => self.set_status(2, val!()),
            "size" | "DownstreamContentSize" | "body_bytes_sent" => self.set_bytes(0, val!()),
            "bytes" => self.set_bytes(1, val!()),
            "bytes_sent" => self.set_bytes(2, val!()),
            "OriginContentSize" => self.set_bytes(3, val!()),
            // headers
            "request_Referer" | "http_referer" => Self::set_text(&mut self.referer, 1, val!()),
            "referer" | "referrer" => Self::set_text(&mut self.referer, 2, val!()),
            "request_User-Agent" | "http_user_agent" => {
                Self::set_text(&mut self.user_agent, 1, val!());
            }
            "user_agent" => Self::set_text(&mut self.user_agent, 2, val!()),
            // host
            "RequestHost" | "host" => Self::set_text(&mut self.host, 1, val!()),
            "http_host" => Self::set_text(&mut self.host, 2, val!()),
            "server_name" => Self::set_text(&mut self.host, 3, val!()),
            _ => {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(())
    }
}

/// Cuts `ip:port` and `[v6]:port` to the address; bare IPv6 is left alone.
fn strip_port(s: &str) -> &str {
    if let Some(rest) = s.strip_prefix('[') {
        if let Some(end) = rest.find(']') {
            return &rest[..end];
        }
        return s;
    }
    match s.split_once(':') {
        Some((a, p))
            if !p.contains(':') && !p.is_empty() && p.bytes().all(|c| c.is_ascii_digit()) =>
        {
            a
        }
        _ => s,
    }
}

/// The whole line: a JSON object.
struct TopSeed<'f, 'de>(&'f mut Fields<'de>);

impl<'de> Visitor<'de> for TopSeed<'_, 'de> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key::<Key<'de>>()? {
            self.0.top(&key.0, &mut map)?;
        }
        Ok(())
    }
}

/// `request`: Caddy's nested request object, or nginx's `$request` line.
struct RequestSeed<'f, 'de>(&'f mut Fields<'de>);

impl<'de> DeserializeSeed<'de> for RequestSeed<'_, 'de> {
    type Value = ();
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for RequestSeed<'_, 'de> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a request object or request line")
    }
    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<(), E> {
        self.0.request = Some(Cow::Borrowed(v));
        Ok(())
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<(), E> {
        self.0.request = Some(Cow::Owned(v.to_owned()));
        Ok(())
    }
    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(())
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let f = self.0;
        while let Some(key) = map.next_key::<Key<'de>>()? {
            match &*key.0 {
                "client_ip" => f.set_client(0, map.next_value_seed(ScalarSeed)?, false),
                "remote_ip" => f.set_client(1, map.next_value_seed(ScalarSeed)?, false),
                "remote_addr" => f.set_client(2, map.next_value_seed(ScalarSeed)?, false),
                "method" => Fields::set_text(&mut f.method, 0, map.next_value_seed(ScalarSeed)?),
                "uri" => Fields::set_text(&mut f.target, 0, map.next_value_seed(ScalarSeed)?),
                "proto" => Fields::set_text(&mut f.protocol, 0, map.next_value_seed(ScalarSeed)?),
                "host" => Fields::set_text(&mut f.host, 0, map.next_value_seed(ScalarSeed)?),
                "headers" => map.next_value_seed(HeadersSeed(f))?,
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(())
    }
}

/// Caddy `request.headers`: `{"User-Agent": ["…"], "Referer": ["…"]}` (names matched
/// case-insensitively).
struct HeadersSeed<'f, 'de>(&'f mut Fields<'de>);

impl<'de> DeserializeSeed<'de> for HeadersSeed<'_, 'de> {
    type Value = ();
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for HeadersSeed<'_, 'de> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a headers object")
    }
    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key::<Key<'de>>()? {
            if key.0.eq_ignore_ascii_case("user-agent") {
                Fields::set_text(&mut self.0.user_agent, 0, map.next_value_seed(ScalarSeed)?);
            } else if key.0.eq_ignore_ascii_case("referer") {
                Fields::set_text(&mut self.0.referer, 0, map.next_value_seed(ScalarSeed)?);
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(())
    }
}

fn json_error(e: &serde_json::Error) -> ParseError {
    let reason = match e.classify() {
        serde_json::error::Category::Eof => "truncated JSON",
        serde_json::error::Category::Syntax => "invalid JSON",
        serde_json::error::Category::Data => "expected a JSON object",
        serde_json::error::Category::Io => "I/O error",
    };
    // serde_json counts columns in bytes, 1-based; the line is a single line.
    ParseError::new(e.column().saturating_sub(1), reason)
}

fn collect(text: &str) -> Result<Fields<'_>, ParseError> {
    let mut fields = Fields::default();
    let mut de = serde_json::Deserializer::from_str(text);
    de::Deserializer::deserialize_map(&mut de, TopSeed(&mut fields)).map_err(|e| json_error(&e))?;
    de.end().map_err(|e| json_error(&e))?;
    if let Some(reason) = fields.error {
        return Err(ParseError::new(0, reason));
    }
    Ok(fields)
}

fn dash_empty(c: Option<Cow<'_, str>>) -> Cow<'_, str> {
    match c {
        Some(c) if c != "-" => c,
        _ => Cow::Borrowed(""),
    }
}

/// Builds the record; the client is returned separately (it must borrow from the line).
fn build(f: Fields<'_>) -> Result<(Option<Cow<'_, str>>, LogRecord<'_>), ParseError> {
    if f.time_invalid && f.time.0.is_none() {
        return Err(ParseError::new(0, "invalid time"));
    }
    let (mut method, mut target, mut protocol) = (f.method.get(), f.target.get(), f.protocol.get());
    if let Some(req) = f.request {
        if method.is_none() || target.is_none() || protocol.is_none() {
            let (m, t, p) = {
                let src = Src::new(req.as_bytes());
                let (m, t, p) = split_request(&src, 0, req.len());
                (m.into_owned(), t.into_owned(), p.into_owned())
            };
            let has_method = !m.is_empty();
            if method.is_none() && has_method {
                method = Some(Cow::Owned(m));
            }
            if protocol.is_none() && has_method {
                protocol = Some(Cow::Owned(p));
            }
            if target.is_none() {
                target = Some(if has_method { Cow::Owned(t) } else { req });
            }
        }
    }
    if target.is_none() {
        if let Some(uri) = f.uri {
            target = Some(match f.args {
                Some(a) if !a.is_empty() && a != "-" => Cow::Owned(format!("{uri}?{a}")),
                _ => uri,
            });
        }
    }
    // An object with neither a request nor a status is not an access-log record (Caddy's other
    // loggers, application logs interleaved in the same file).
    let status = f.status.get();
    if method.is_none() && target.is_none() && status.is_none() {
        return Err(ParseError::new(
            0,
            "JSON object has no request fields (method, uri/request, status)",
        ));
    }
    let rec = LogRecord {
        client: "-",
        time: f.time.get(),
        method: method.unwrap_or(Cow::Borrowed("")),
        target: target.unwrap_or(Cow::Borrowed("")),
        protocol: protocol.unwrap_or(Cow::Borrowed("")),
        status: status.unwrap_or(0),
        bytes: f.bytes.get().unwrap_or(0),
        referer: dash_empty(f.referer.get()),
        user_agent: dash_empty(f.user_agent.get()),
        host: f.host.get().filter(|h| !h.is_empty() && h != "-"),
    };
    Ok((f.client.get(), rec))
}

fn owned(c: Cow<'_, str>) -> Cow<'static, str> {
    Cow::Owned(c.into_owned())
}

pub(crate) fn parse(line: &[u8]) -> Result<LogRecord<'_>, ParseError> {
    parse_inner(line).map_err(|e| ParseError::new(e.offset.min(line.len()), e.reason))
}

fn parse_inner(line: &[u8]) -> Result<LogRecord<'_>, ParseError> {
    if let Ok(text) = std::str::from_utf8(line) {
        let (client, mut rec) = build(collect(text)?)?;
        rec.client = match client {
            None => "-",
            Some(Cow::Borrowed(c)) => c,
            Some(Cow::Owned(_)) => {
                return Err(ParseError::new(0, "client address contains JSON escapes"))
            }
        };
        return Ok(rec);
    }
    // nginx `escape=json` passes bytes >= 0x80 through unchanged, so a line may hold invalid
    // UTF-8 (in a user agent, say). Keep the record: parse a lossy copy, own every field, and
    // find the (ASCII) client address again in the original line. (Error offsets are then
    // approximate: they count in the lossy copy.)
    let copy = String::from_utf8_lossy(line);
    let (client, rec) = build(collect(&copy)?)?;
    let client = match client {
        None => "-",
        Some(c) => memchr::memmem::find(line, c.as_bytes())
            .and_then(|i| std::str::from_utf8(&line[i..i + c.len()]).ok())
            .ok_or(ParseError::new(0, "client address is not valid UTF-8"))?,
    };
    Ok(LogRecord {
        client,
        time: rec.time,
        method: owned(rec.method),
        target: owned(rec.target),
        protocol: owned(rec.protocol),
        status: rec.status,
        bytes: rec.bytes,
        referer: owned(rec.referer),
        user_agent: owned(rec.user_agent),
        host: rec.host.map(owned),
    })
}
