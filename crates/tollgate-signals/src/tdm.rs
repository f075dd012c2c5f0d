//! TDMRep, the TDM Reservation Protocol (W3C Community Group Final Report, May 2024;
//! standards.md §6.1): HTTP headers (§3.3, "currently the preferred technique") and the
//! `/.well-known/tdmrep.json` file (§3.2).

use crate::config::SignalsConfig;

/// Path of the TDMRep well-known file (TDMRep §3.2).
pub const TDMREP_PATH: &str = "/.well-known/tdmrep.json";

/// The TDMRep response headers (TDMRep §3.3): `("tdm-reservation", "1")` (or `"0"`), then
/// `("tdm-policy", url)` when a policy is configured and rights are reserved (a policy is ignored
/// with reservation 0, so it is not sent).
pub fn tdm_headers(cfg: &SignalsConfig) -> Vec<(&'static str, String)> {
    let mut h = vec![(
        "tdm-reservation",
        if cfg.tdm_reservation { "1" } else { "0" }.to_string(),
    )];
    if let (true, Some(p)) = (cfg.tdm_reservation, &cfg.tdm_policy) {
        h.push(("tdm-policy", p.clone()));
    }
    h
}

/// The body of `/.well-known/tdmrep.json` (TDMRep §3.2; media type `application/json`): a JSON
/// array with one rule for the whole site, `location` `/*`, e.g.
/// `[{"location": "/*", "tdm-reservation": 1, "tdm-policy": "https://…"}]`, ending in a newline.
pub fn tdmrep_json(cfg: &SignalsConfig) -> String {
    let mut rule = format!(
        "{{\"location\": \"/*\", \"tdm-reservation\": {}",
        u8::from(cfg.tdm_reservation)
    );
    if let (true, Some(p)) = (cfg.tdm_reservation, &cfg.tdm_policy) {
        rule.push_str(&format!(", \"tdm-policy\": {}", json_string(p)));
    }
    format!("[{rule}}}]\n")
}

fn json_string(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_and_file() {
        let mut cfg = SignalsConfig::for_site("https://example.org").unwrap();
        assert_eq!(
            tdm_headers(&cfg),
            vec![("tdm-reservation", "1".to_string())]
        );
        assert_eq!(
            tdmrep_json(&cfg),
            "[{\"location\": \"/*\", \"tdm-reservation\": 1}]\n"
        );
        cfg.tdm_policy = Some("https://example.org/tdm \"p\".json".into());
        assert_eq!(
            tdm_headers(&cfg),
            vec![
                ("tdm-reservation", "1".to_string()),
                (
                    "tdm-policy",
                    "https://example.org/tdm \"p\".json".to_string()
                )
            ]
        );
        assert_eq!(
            tdmrep_json(&cfg),
            "[{\"location\": \"/*\", \"tdm-reservation\": 1, \"tdm-policy\": \"https://example.org/tdm \\\"p\\\".json\"}]\n"
        );
        cfg.tdm_reservation = false;
        assert_eq!(
            tdm_headers(&cfg),
            vec![("tdm-reservation", "0".to_string())]
        );
        assert_eq!(
            tdmrep_json(&cfg),
            "[{\"location\": \"/*\", \"tdm-reservation\": 0}]\n"
        );
    }
}
