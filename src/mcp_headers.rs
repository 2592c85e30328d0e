//! The request metadata headers of MCP 2026-07-28 (Streamable HTTP "Request Metadata"):
//! `Mcp-Method`, `Mcp-Name`, `MCP-Protocol-Version` derived from the body, and `Mcp-Param-*`
//! mirrored from tool arguments that the tool's `inputSchema` annotates with `x-mcp-header`.
//! Values that are not plain visible ASCII go as `=?base64?…?=`. Pure, no I/O.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde_json::Value;

use crate::jsonrpc::{self, Msg};

/// The protocol revision from which requests carry their version in `_meta`.
pub const MODERN: &str = "2026-07-28";
const VERSION_KEY: &str = "io.modelcontextprotocol/protocolVersion";
/// The integers the spec allows in `Mcp-Param-*` headers: ±(2^53−1).
const MAX_SAFE_INTEGER: f64 = 9_007_199_254_740_991.0;

/// A header value as the spec wants it: plain when it is visible ASCII without leading or
/// trailing white space (and does not look like the sentinel), else Base64 in the sentinel.
pub fn encode_value(v: &str) -> String {
    let visible = v.bytes().all(|b| (0x21..=0x7e).contains(&b) || b == b' ');
    let padded = v.starts_with(' ') || v.ends_with(' ');
    let sentinel = v.starts_with("=?base64?") && v.ends_with("?=");
    let plain = !v.is_empty() && visible && !padded && !sentinel;
    if plain {
        v.to_string()
    } else {
        format!("=?base64?{}?=", STANDARD.encode(v.as_bytes()))
    }
}

/// The protocol version a request names in `_meta`, if it names one.
pub fn meta_version(buf: &[u8], m: &Msg) -> Option<String> {
    let params = m.params.clone()?;
    let meta = jsonrpc::field(buf, params, "_meta")?;
    jsonrpc::str_field(buf, meta, VERSION_KEY)
}

/// Whether a version string is of the 2026-07-28 era or later (dates compare as strings).
pub fn is_modern(version: &str) -> bool {
    version >= MODERN && version.len() == MODERN.len()
}

/// `Mcp-Method` and, for the methods that have one, `Mcp-Name`.
pub fn method_headers(buf: &[u8], m: &Msg) -> Vec<(&'static str, String)> {
    let Some(method) = &m.method else {
        return Vec::new();
    };
    let mut out = vec![("Mcp-Method", encode_value(method))];
    let key = match method.as_str() {
        "tools/call" | "prompts/get" => "name",
        "resources/read" => "uri",
        _ => return out,
    };
    if let Some(v) = m
        .params
        .clone()
        .and_then(|p| jsonrpc::str_field(buf, p, key))
    {
        out.push(("Mcp-Name", encode_value(&v)));
    }
    out
}

/// One `x-mcp-header` annotation: the header suffix and the property path to read.
#[derive(Debug, Clone, PartialEq)]
pub struct ParamHeader {
    pub name: String,
    pub path: Vec<String>,
}

/// The annotations of a tool's `inputSchema`, or why the tool must be rejected.
pub fn param_headers(schema: &Value) -> Result<Vec<ParamHeader>, String> {
    let mut out: Vec<ParamHeader> = Vec::new();
    walk(schema, &mut Vec::new(), true, &mut out)?;
    let mut seen: Vec<String> = Vec::new();
    for h in &out {
        let lower = h.name.to_ascii_lowercase();
        if seen.contains(&lower) {
            return Err(format!("x-mcp-header {:?} is declared twice", h.name));
        }
        seen.push(lower);
    }
    Ok(out)
}

fn walk(
    node: &Value,
    path: &mut Vec<String>,
    reachable: bool,
    out: &mut Vec<ParamHeader>,
) -> Result<(), String> {
    let Some(obj) = node.as_object() else {
        return Ok(());
    };
    if let Some(h) = obj.get("x-mcp-header") {
        let name = h.as_str().ok_or("x-mcp-header is not a string")?;
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c))
        {
            return Err(format!("x-mcp-header {name:?} is not an HTTP token"));
        }
        if !reachable || path.is_empty() {
            return Err(format!(
                "x-mcp-header {name:?} is not on a property reached through `properties` alone"
            ));
        }
        match obj.get("type").and_then(Value::as_str) {
            Some("string" | "integer" | "boolean") => {}
            other => {
                return Err(format!(
                    "x-mcp-header {name:?} is on a property of type {}",
                    other.unwrap_or("(none)")
                ))
            }
        }
        out.push(ParamHeader {
            name: name.to_string(),
            path: path.clone(),
        });
    }
    for (k, v) in obj {
        match k.as_str() {
            "properties" => {
                if let Some(props) = v.as_object() {
                    for (name, sub) in props {
                        path.push(name.clone());
                        walk(sub, path, reachable, out)?;
                        path.pop();
                    }
                }
            }
            // Annotations anywhere else are unreachable by the rule; find them to reject them.
            "items" | "additionalProperties" | "not" | "if" | "then" | "else" => {
                walk(v, path, false, out)?
            }
            // These map names to schemas (an annotation there is reached through `$ref`, or
            // by pattern): walked as one schema, the annotations in them went unseen and the
            // tool was kept.
            "$defs" | "definitions" | "patternProperties" | "dependentSchemas" => {
                for sub in v.as_object().into_iter().flat_map(|m| m.values()) {
                    walk(sub, path, false, out)?;
                }
            }
            "oneOf" | "anyOf" | "allOf" | "prefixItems" => {
                for sub in v.as_array().into_iter().flatten() {
                    walk(sub, path, false, out)?;
                }
            }
            _ => {}
        }
    }
    Ok(())
}

/// The `Mcp-Param-*` headers for a call's arguments: absent or null values are left out.
pub fn param_values(decls: &[ParamHeader], args: &Value) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for d in decls {
        let mut v = args;
        let mut found = true;
        for key in &d.path {
            match v.get(key) {
                Some(next) => v = next,
                None => {
                    found = false;
                    break;
                }
            }
        }
        if !found {
            continue;
        }
        let text = match v {
            Value::String(s) => s.clone(),
            Value::Bool(b) => b.to_string(),
            Value::Number(n) if n.is_i64() || n.is_u64() => n.to_string(),
            // JSON Schema's `integer` takes 3.0 too; left out, the header a strict server
            // requires for a value present in the body would be missing (-32020).
            Value::Number(n) => match n.as_f64() {
                Some(f) if f.fract() == 0.0 && f.abs() <= MAX_SAFE_INTEGER => {
                    format!("{}", f as i64)
                }
                _ => continue,
            },
            _ => continue,
        };
        out.push((format!("Mcp-Param-{}", d.name), encode_value(&text)));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn encoding_follows_the_spec_examples() {
        assert_eq!(encode_value("tools/call"), "tools/call");
        assert_eq!(
            encode_value("Hello, 世界"),
            "=?base64?SGVsbG8sIOS4lueVjA==?="
        );
        assert_eq!(encode_value(" padded "), "=?base64?IHBhZGRlZCA=?=");
        assert_eq!(encode_value("line1\nline2"), "=?base64?bGluZTEKbGluZTI=?=");
        assert_eq!(
            encode_value("=?base64?literal?="),
            "=?base64?PT9iYXNlNjQ/bGl0ZXJhbD89?="
        );
        assert_eq!(encode_value(""), "=?base64??=");
        assert_eq!(encode_value("\tindented"), "=?base64?CWluZGVudGVk?=");
        assert_eq!(encode_value("a b"), "a b");
        assert_eq!(encode_value("a\tb"), "=?base64?YQli?=");
    }

    fn msg(text: &str) -> (Vec<u8>, Msg) {
        let buf = text.as_bytes().to_vec();
        let m = match jsonrpc::parse(&buf).unwrap() {
            jsonrpc::Shape::Single(m) => m,
            _ => panic!(),
        };
        (buf, m)
    }

    #[test]
    fn method_and_name_headers() {
        let (b, m) = msg(
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"wetter größe","arguments":{}}}"#,
        );
        let h = method_headers(&b, &m);
        assert_eq!(h[0], ("Mcp-Method", "tools/call".into()));
        assert_eq!(h[1].0, "Mcp-Name");
        assert!(h[1].1.starts_with("=?base64?"));
        let (b, m) = msg(
            r#"{"jsonrpc":"2.0","id":1,"method":"resources/read","params":{"uri":"file:///a b"}}"#,
        );
        assert_eq!(
            method_headers(&b, &m)[1],
            ("Mcp-Name", "file:///a b".into())
        );
        let (b, m) = msg(r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#);
        assert_eq!(method_headers(&b, &m).len(), 1);
    }

    #[test]
    fn era_from_meta() {
        let (b, m) = msg(
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28"}}}"#,
        );
        assert_eq!(meta_version(&b, &m).as_deref(), Some("2026-07-28"));
        assert!(is_modern("2026-07-28") && is_modern("2027-01-01"));
        assert!(!is_modern("2025-11-25") && !is_modern("DRAFT-2026-v1"));
    }

    #[test]
    fn annotations_are_found_and_checked() {
        let schema = json!({"type":"object","properties":{
            "city":{"type":"string","x-mcp-header":"City"},
            "days":{"type":"integer","x-mcp-header":"Days"},
            "opts":{"type":"object","properties":{"fast":{"type":"boolean","x-mcp-header":"Fast"}}}}});
        let d = param_headers(&schema).unwrap();
        assert_eq!(d.len(), 3);
        let args = json!({"city":"Zürich","days":3,"opts":{"fast":true}});
        let mut v = param_values(&d, &args);
        v.sort();
        assert_eq!(
            v,
            vec![
                (
                    "Mcp-Param-City".to_string(),
                    "=?base64?WsO8cmljaA==?=".to_string()
                ),
                ("Mcp-Param-Days".to_string(), "3".to_string()),
                ("Mcp-Param-Fast".to_string(), "true".to_string()),
            ]
        );
        assert!(param_values(&d, &json!({"city":null})).is_empty());
        let days = |v: Value| param_values(&d, &json!({ "days": v }));
        assert_eq!(days(json!(3.0)), [("Mcp-Param-Days".into(), "3".into())]);
        assert_eq!(days(json!(-0.0)), [("Mcp-Param-Days".into(), "0".into())]);
        assert!(days(json!(3.5)).is_empty() && days(json!(1e300)).is_empty());
    }

    #[test]
    fn invalid_annotations_reject_the_tool() {
        let bad = [
            json!({"properties":{"x":{"type":"number","x-mcp-header":"X"}}}),
            json!({"properties":{"x":{"type":"string","x-mcp-header":"Bad Name"}}}),
            json!({"properties":{"x":{"type":"string","x-mcp-header":""}}}),
            json!({"properties":{"a":{"type":"string","x-mcp-header":"A"},"b":{"type":"string","x-mcp-header":"a"}}}),
            json!({"properties":{"l":{"type":"array","items":{"type":"string","x-mcp-header":"L"}}}}),
            json!({"properties":{"o":{"anyOf":[{"type":"string","x-mcp-header":"O"}]}}}),
            json!({"properties":{"r":{"$ref":"#/$defs/r"}},"$defs":{"r":{"type":"string","x-mcp-header":"R"}}}),
            json!({"patternProperties":{"^p":{"type":"string","x-mcp-header":"P"}}}),
        ];
        for s in bad {
            assert!(param_headers(&s).is_err(), "{s}");
        }
        assert_eq!(
            param_headers(&json!({"properties":{"x":{"type":"string"}}})).unwrap(),
            vec![]
        );
    }
}
