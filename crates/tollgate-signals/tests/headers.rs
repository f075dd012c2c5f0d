//! Header values and documents: exact output, and the RSL document is well-formed XML.
#![allow(clippy::unwrap_used)] // test helpers: a failed unwrap is a failed test

use quick_xml::events::Event;
use quick_xml::Reader;
use tollgate_agents::Catalogue;
use tollgate_policy::Policy;
use tollgate_signals::{
    content_usage_header, license_link_header, parse_content_usage, rsl_document, tdm_headers,
    tdmrep_json, Preference, SignalsConfig,
};

const POLICY: &str = r#"
[policy]
license_path = "/license.xml"
[[rule]]
name = "deny-spoofed"
when = { verification = "spoofed" }
action = "deny"
[[rule]]
name = "private"
when = { path = ["/private", "/private/**"] }
action = "deny"
[[rule]]
name = "no-ai-training"
when = { class = "ai-training" }
action = "deny"
[[rule]]
name = "charge-ai-search"
when = { class = ["ai-search", "ai-user"] }
action = "charge"
price = "USD 0.002"
"#;

fn policy() -> Policy {
    Policy::parse("tollgate.toml", POLICY, &Catalogue::embedded().unwrap()).unwrap()
}

fn cfg(extra: &str) -> SignalsConfig {
    SignalsConfig::parse(
        "tollgate.toml",
        &format!("[signals]\nsite_url = \"https://example.org\"\n{extra}"),
    )
    .unwrap()
    .unwrap()
}

/// Every element name and the text, in document order; panics if not well-formed.
fn xml_events(doc: &str) -> Vec<String> {
    let mut r = Reader::from_str(doc);
    r.config_mut().check_end_names = true;
    let mut out = Vec::new();
    let mut text = String::new();
    let flush = |text: &mut String, out: &mut Vec<String>| {
        let t = text.trim().to_string();
        if !t.is_empty() {
            out.push(format!("text:{t}"));
        }
        text.clear();
    };
    loop {
        match r.read_event().unwrap() {
            Event::Start(e) | Event::Empty(e) => {
                flush(&mut text, &mut out);
                out.push(String::from_utf8(e.name().as_ref().to_vec()).unwrap())
            }
            Event::Text(t) => text.push_str(&t.decode().unwrap()),
            Event::GeneralRef(r) => {
                let name = r.decode().unwrap();
                text.push_str(quick_xml::escape::resolve_predefined_entity(&name).unwrap());
            }
            Event::End(_) => flush(&mut text, &mut out),
            Event::Eof => break,
            _ => {}
        }
    }
    out
}

#[test]
fn content_usage_header_is_canonical_and_round_trips() {
    let c = cfg("content_usage = \"train-ai=n,ai-use=y\"\n");
    assert_eq!(content_usage_header(&c), "train-ai=n, ai-use=y");
    let u = parse_content_usage(&content_usage_header(&c));
    assert_eq!(u.train_ai, Preference::Disallow);
    assert_eq!(u.ai_use, Preference::Allow);
    assert_eq!(u.search, Preference::Unknown);
    let d = cfg("");
    assert_eq!(content_usage_header(&d), "train-ai=n, ai-use=n, search=y");
}

#[test]
fn tdm_and_link_headers() {
    let c = cfg("tdm_policy = \"https://example.org/tdm.json\"\n");
    assert_eq!(
        tdm_headers(&c),
        vec![
            ("tdm-reservation", "1".to_string()),
            ("tdm-policy", "https://example.org/tdm.json".to_string())
        ]
    );
    assert_eq!(
        tdmrep_json(&c),
        "[{\"location\": \"/*\", \"tdm-reservation\": 1, \"tdm-policy\": \"https://example.org/tdm.json\"}]\n"
    );
    let v: serde_json::Value = serde_json::from_str(&tdmrep_json(&c)).unwrap();
    assert_eq!(v[0]["tdm-reservation"], 1);
    assert_eq!(
        license_link_header(&c),
        "<https://example.org/license.xml>; rel=\"license\"; type=\"application/rsl+xml\""
    );
}

#[test]
fn rsl_document_from_policy_price() {
    let doc = rsl_document(&cfg(""), &policy());
    let want = r#"<?xml version="1.0" encoding="UTF-8"?>
<rsl xmlns="https://rslstandard.org/rsl">
  <content url="/">
    <license>
      <prohibits type="usage">ai-train</prohibits>
      <payment type="crawl">
        <amount currency="USD">0.002</amount>
      </payment>
    </license>
  </content>
  <content url="/private">
    <license>
      <prohibits type="usage">all</prohibits>
    </license>
  </content>
</rsl>
"#;
    assert_eq!(doc, want, "\n{doc}");
    assert_eq!(
        xml_events(&doc),
        [
            "rsl",
            "content",
            "license",
            "prohibits",
            "text:ai-train",
            "payment",
            "amount",
            "text:0.002",
            "content",
            "license",
            "prohibits",
            "text:all"
        ]
    );
}

#[test]
fn rsl_document_fully_configured_and_escaped() {
    let c = cfg(
        "[signals.license]\npath = \"/rsl.xml\"\nterms_url = \"https://example.org/terms?a=1&b=2\"\n\
         contact = \"Licensing <licensing@example.org>\"\npayment = \"subscription\"\n\
         price = \"EUR 12.5\"\npermits = [\"search\", \"ai-input\"]\nprohibits = [\"ai-train\", \"ai-index\"]\n",
    );
    let doc = rsl_document(&c, &policy());
    let want = r#"<?xml version="1.0" encoding="UTF-8"?>
<rsl xmlns="https://rslstandard.org/rsl">
  <content url="/">
    <license>
      <permits type="usage">ai-input search</permits>
      <prohibits type="usage">ai-train ai-index</prohibits>
      <payment type="subscription">
        <amount currency="EUR">12.5</amount>
      </payment>
      <legal type="contact">Licensing &lt;licensing@example.org&gt;</legal>
    </license>
    <terms>https://example.org/terms?a=1&amp;b=2</terms>
  </content>
  <content url="/private">
    <license>
      <prohibits type="usage">all</prohibits>
    </license>
  </content>
</rsl>
"#;
    assert_eq!(doc, want, "\n{doc}");
    let ev = xml_events(&doc);
    assert!(ev.contains(&"text:Licensing <licensing@example.org>".to_string()));
    assert!(ev.contains(&"text:https://example.org/terms?a=1&b=2".to_string()));
    assert_eq!(
        license_link_header(&c),
        "<https://example.org/rsl.xml>; rel=\"license\"; type=\"application/rsl+xml\""
    );
}

#[test]
fn rsl_free_licence_without_charges() {
    let cat = Catalogue::embedded().unwrap();
    let p = Policy::parse("tollgate.toml", "[policy]\n", &cat).unwrap();
    let doc = rsl_document(&cfg(""), &p);
    assert!(doc.contains("      <payment type=\"free\"/>\n"), "{doc}");
    xml_events(&doc);
}
