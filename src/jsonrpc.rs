//! JSON-RPC framing without copying: a message is validated once, then its top-level fields are
//! located as byte ranges so that large results pass through untouched. Also builds the error
//! responses mcp-remote sends on its own. Pure, no I/O.

use std::ops::Range;

use serde_json::value::RawValue;
use serde_json::Value;

/// Error code for failures of mcp-remote itself or of the connection (the npm package uses it too).
pub const PROXY_ERROR: i64 = -32001;
pub const PARSE_ERROR: i64 = -32700;
pub const INVALID_REQUEST: i64 = -32600;
pub const INTERNAL_ERROR: i64 = -32603;

/// A request id in canonical JSON text, so `1` and `"1"` stay distinct and escapes compare equal.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Id(String);

impl Id {
    pub fn from_value(v: &Value) -> Id {
        Id(v.to_string())
    }
    pub fn string(s: &str) -> Id {
        Id(Value::from(s).to_string())
    }
    pub fn is_null(&self) -> bool {
        self.0 == "null"
    }
    pub fn json(&self) -> &str {
        &self.0
    }
    pub fn to_value(&self) -> Value {
        serde_json::from_str(&self.0).unwrap_or(Value::Null)
    }
}

/// What a message is, by the JSON-RPC rules.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Kind {
    Request,
    Notification,
    Response,
    Invalid,
}

/// One message's top-level fields, as ranges into the buffer it was parsed from.
#[derive(Clone, Debug, Default)]
pub struct Msg {
    pub range: Range<usize>,
    pub id: Option<Id>,
    pub method: Option<String>,
    pub params: Option<Range<usize>>,
    pub result: Option<Range<usize>>,
    pub error: Option<Range<usize>>,
    pub jsonrpc_2: bool,
    pub is_object: bool,
}

impl Msg {
    pub fn kind(&self) -> Kind {
        if !self.is_object {
            return Kind::Invalid;
        }
        match (&self.method, &self.id) {
            (Some(_), Some(id)) if !id.is_null() => Kind::Request,
            (Some(_), None) => Kind::Notification,
            (None, Some(_)) if self.result.is_some() != self.error.is_some() => Kind::Response,
            _ => Kind::Invalid,
        }
    }
}

/// A single message or a batch (JSON array).
#[derive(Debug)]
pub enum Shape {
    Single(Msg),
    Batch(Vec<Msg>),
}

impl Shape {
    pub fn msgs(&self) -> &[Msg] {
        match self {
            Shape::Single(m) => std::slice::from_ref(m),
            Shape::Batch(v) => v,
        }
    }
}

/// Validates `buf` as JSON and locates each message's fields. serde_json checks every byte and
/// copies nothing; the walk that then finds the top-level fields skips through strings sixteen
/// bytes at a time, so a large result costs one validation and one quick skim.
pub fn parse(buf: &[u8]) -> Result<Shape, String> {
    serde_json::from_slice::<&RawValue>(buf).map_err(|e| e.to_string())?;
    let start = skip_ws(buf, 0);
    if buf.get(start) != Some(&b'[') {
        return Ok(Shape::Single(scan_msg(buf, start)));
    }
    let mut msgs = Vec::new();
    let mut i = skip_ws(buf, start + 1);
    if buf.get(i) == Some(&b']') {
        return Err("empty batch".into());
    }
    loop {
        let m = scan_msg(buf, i);
        i = skip_ws(buf, m.range.end);
        msgs.push(m);
        match buf.get(i) {
            Some(b',') => i = skip_ws(buf, i + 1),
            _ => break,
        }
    }
    Ok(Shape::Batch(msgs))
}

/// The message whose value starts at `start`.
fn scan_msg(buf: &[u8], start: usize) -> Msg {
    let Some((fields, end)) = members(buf, start) else {
        return Msg {
            range: start..skip_value(buf, start),
            ..Msg::default()
        };
    };
    let mut m = Msg {
        range: start..end,
        is_object: true,
        ..Msg::default()
    };
    for (key, val) in fields {
        let raw = &buf[val.clone()];
        match key.as_str() {
            "jsonrpc" => m.jsonrpc_2 = raw == b"\"2.0\"",
            "id" => {
                if let Ok(v) = serde_json::from_slice::<Value>(raw) {
                    if v.is_string() || v.is_number() || v.is_null() {
                        m.id = Some(Id::from_value(&v));
                    }
                }
            }
            "method" => m.method = serde_json::from_slice::<String>(raw).ok(),
            "params" => m.params = Some(val),
            "result" => m.result = Some(val),
            "error" => m.error = Some(val),
            _ => {}
        }
    }
    m
}

/// An object's (key, value range) pairs, in order.
type Members = Vec<(String, Range<usize>)>;

/// The members of the JSON object that starts at `start`, and the index just past it; None if it
/// is not an object. `buf` must already be valid JSON.
fn members(buf: &[u8], start: usize) -> Option<(Members, usize)> {
    if buf.get(start) != Some(&b'{') {
        return None;
    }
    let mut out = Vec::new();
    let mut i = skip_ws(buf, start + 1);
    while buf.get(i) == Some(&b'"') {
        let key_end = skip_string(buf, i);
        let raw_key = buf.get(i + 1..key_end - 1)?;
        let key = if raw_key.contains(&b'\\') {
            serde_json::from_slice::<String>(&buf[i..key_end]).ok()?
        } else {
            String::from_utf8_lossy(raw_key).into_owned()
        };
        i = skip_ws(buf, key_end);
        if buf.get(i) != Some(&b':') {
            return None;
        }
        let v_start = skip_ws(buf, i + 1);
        let v_end = skip_value(buf, v_start);
        out.push((key, v_start..v_end));
        i = skip_ws(buf, v_end);
        if buf.get(i) == Some(&b',') {
            i = skip_ws(buf, i + 1);
        }
    }
    Some((out, (i + 1).min(buf.len())))
}

/// The range of `key`'s value inside the object at `range`.
pub fn field(buf: &[u8], range: Range<usize>, key: &str) -> Option<Range<usize>> {
    let (fields, _) = members(buf.get(..range.end)?, range.start)?;
    fields.into_iter().find(|(k, _)| k == key).map(|(_, r)| r)
}

/// The string value of `key` inside the object at `range`.
pub fn str_field(buf: &[u8], range: Range<usize>, key: &str) -> Option<String> {
    let r = field(buf, range, key)?;
    serde_json::from_slice::<String>(&buf[r]).ok()
}

fn skip_ws(buf: &[u8], mut i: usize) -> usize {
    while i < buf.len() && matches!(buf[i], b' ' | b'\t' | b'\r' | b'\n') {
        i += 1;
    }
    i
}

/// `i` is at an opening quote; returns the index just past the closing one.
fn skip_string(buf: &[u8], i: usize) -> usize {
    let mut j = i + 1;
    while let Some(at) = buf.get(j..).and_then(find_quote) {
        j += at;
        // In valid JSON a quote is escaped exactly when an odd run of backslashes precedes it.
        let backslashes = buf[i + 1..j].iter().rev().take_while(|b| **b == b'\\');
        j += 1;
        if backslashes.count() % 2 == 0 {
            return j;
        }
    }
    buf.len()
}

/// `i` is at the first byte of a value; returns the index just past it.
fn skip_value(buf: &[u8], i: usize) -> usize {
    match buf.get(i) {
        Some(b'"') => skip_string(buf, i),
        Some(b'{') | Some(b'[') => {
            let mut depth = 0usize;
            let mut j = i;
            while j < buf.len() {
                match buf[j] {
                    b'"' => {
                        j = skip_string(buf, j);
                        continue;
                    }
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        depth -= 1;
                        if depth == 0 {
                            return j + 1;
                        }
                    }
                    _ => {}
                }
                j += 1;
            }
            buf.len()
        }
        _ => {
            let mut j = i;
            while j < buf.len()
                && !matches!(buf[j], b',' | b'}' | b']' | b' ' | b'\t' | b'\r' | b'\n')
            {
                j += 1;
            }
            j
        }
    }
}

/// The index of the first CR or LF in `s`.
pub fn find_line_break(s: &[u8]) -> Option<usize> {
    // Valid JSON has no other byte below 0x0E than tab, CR and LF, so the word test rarely
    // stops where there is no line break.
    find_by(s, |x| has_below(x, 0x0e), |b| matches!(b, b'\n' | b'\r'))
}

fn find_quote(s: &[u8]) -> Option<usize> {
    find_by(
        s,
        |x| has_below(x ^ (ONES * b'"' as u128), 1),
        |b| *b == b'"',
    )
}

const ONES: u128 = u128::from_ne_bytes([1; 16]);

/// True exactly when some byte of `x` is below `n` (at most 0x80): the has-less-than word test.
fn has_below(x: u128, n: u8) -> bool {
    x.wrapping_sub(ONES * n as u128) & !x & (ONES << 7) != 0
}

/// The index of the first byte of `s` that `hit` accepts. Reads sixteen bytes at a time as a
/// word, and looks at them one by one only where `maybe` finds the word may hold one: messages
/// are searched for quotes and line breaks that most of a large value lacks, and a byte loop
/// costs several times more (the release profile optimizes for size, so the compiler does not
/// vectorize one).
fn find_by(s: &[u8], maybe: impl Fn(u128) -> bool, hit: impl Fn(&u8) -> bool) -> Option<usize> {
    let (blocks, tail) = s.as_chunks::<16>();
    for (i, block) in blocks.iter().enumerate() {
        if maybe(u128::from_ne_bytes(*block)) {
            if let Some(j) = block.iter().position(&hit) {
                return Some(i * 16 + j);
            }
        }
    }
    let at = tail.iter().position(hit);
    at.map(|j| blocks.len() * 16 + j)
}

/// A JSON-RPC error response.
pub fn error_response(id: &Id, code: i64, message: &str) -> Vec<u8> {
    let v = serde_json::json!({
        "jsonrpc": "2.0",
        "id": id.to_value(),
        "error": { "code": code, "message": message },
    });
    v.to_string().into_bytes()
}

/// The response in `buf` re-addressed to `id`, its `result` or `error` kept byte for byte (a
/// large or unusual value is not read back into a `Value`, which refuses numbers like `1e400`
/// and deep nesting that `parse` accepts). None if `buf` is not a single response.
pub fn with_id(buf: &[u8], id: &Id) -> Option<Vec<u8>> {
    let Ok(Shape::Single(m)) = parse(buf) else {
        return None;
    };
    if m.kind() != Kind::Response {
        return None;
    }
    let (key, range) = match (m.result, m.error) {
        (Some(r), None) => ("result", r),
        (None, Some(e)) => ("error", e),
        _ => return None,
    };
    let mut out = format!(r#"{{"jsonrpc":"2.0","id":{},"{key}":"#, id.json()).into_bytes();
    out.extend_from_slice(&buf[range]);
    out.push(b'}');
    Some(out)
}

/// The `code` and `message` of a JSON-RPC error object, if `buf` holds one (as a response body).
pub fn error_of(buf: &[u8]) -> Option<(i64, String)> {
    let v: Value = serde_json::from_slice(buf).ok()?;
    let e = v.get("error")?;
    Some((
        e.get("code")?.as_i64()?,
        e.get("message")?.as_str()?.to_string(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn single(text: &str) -> Msg {
        match parse(text.as_bytes()).unwrap() {
            Shape::Single(m) => m,
            Shape::Batch(_) => panic!("batch"),
        }
    }

    #[test]
    fn classifies_messages() {
        let m = single(r#"{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{}}"#);
        assert_eq!(
            (m.kind(), m.method.as_deref(), m.id.as_ref().map(Id::json)),
            (Kind::Request, Some("tools/list"), Some("1"))
        );
        assert!(m.jsonrpc_2);
        assert_eq!(
            single(r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#).kind(),
            Kind::Notification
        );
        assert_eq!(
            single(r#"{"jsonrpc":"2.0","id":"a","result":{}}"#).kind(),
            Kind::Response
        );
        assert_eq!(
            single(r#"{"jsonrpc":"2.0","id":null,"error":{"code":1,"message":"x"}}"#).kind(),
            Kind::Response
        );
        assert_eq!(
            single(r#"{"jsonrpc":"2.0","id":null,"method":"x"}"#).kind(),
            Kind::Invalid
        );
        assert_eq!(
            single(r#"{"jsonrpc":"2.0","result":{}}"#).kind(),
            Kind::Invalid
        );
        assert_eq!(
            single(r#"{"jsonrpc":"2.0","id":{},"method":"x"}"#).kind(),
            Kind::Notification
        );
        assert_eq!(
            single(r#"[1]"#.trim_matches(['[', ']'])).kind(),
            Kind::Invalid
        );
        assert_eq!(single(r#""hello""#).kind(), Kind::Invalid);
    }

    #[test]
    fn ids_keep_their_type_and_compare_canonically() {
        let a = single(r#"{"id":"1","result":1}"#).id.unwrap();
        let b = single(r#"{"id":1,"result":1}"#).id.unwrap();
        let c = single(r#"{"id":"\u0031","result":1}"#).id.unwrap();
        assert_ne!(a, b);
        assert_eq!(a, c);
    }

    #[test]
    fn finds_fields_in_pretty_printed_json() {
        let text = "{\n  \"result\" : {\"a\": \"}\\\"{\"},\n  \"id\" : 7 ,\"jsonrpc\":\"2.0\"\n}\n";
        let m = single(text);
        assert_eq!(m.kind(), Kind::Response);
        assert_eq!(&text[m.result.clone().unwrap()], "{\"a\": \"}\\\"{\"}");
        assert_eq!(m.id.unwrap().json(), "7");
    }

    #[test]
    fn escaped_keys_are_decoded() {
        let m = single(r#"{"\u0069d":5,"method":"m"}"#);
        assert_eq!(m.kind(), Kind::Request);
    }

    #[test]
    fn batches() {
        let text =
            r#" [ {"jsonrpc":"2.0","id":1,"method":"a"} , {"jsonrpc":"2.0","method":"b"} ] "#;
        match parse(text.as_bytes()).unwrap() {
            Shape::Batch(v) => {
                assert_eq!(v.len(), 2);
                assert_eq!(v[0].kind(), Kind::Request);
                assert_eq!(v[1].kind(), Kind::Notification);
                assert_eq!(
                    &text[v[1].range.clone()],
                    r#"{"jsonrpc":"2.0","method":"b"}"#
                );
            }
            Shape::Single(_) => panic!("single"),
        }
        assert_eq!(parse(b"[]").unwrap_err(), "empty batch");
    }

    #[test]
    fn rejects_invalid_json() {
        assert!(parse(b"{\"id\":1,").is_err());
        assert!(parse(b"not json").is_err());
        assert!(parse(b"").is_err());
    }

    #[test]
    fn invalid_json_anywhere_is_refused() {
        // Inside a value whose range is all parse hands back, and after the message.
        assert!(parse(br#"{"id":1,"result":{"a":[1,]}}"#).is_err());
        assert!(parse(b"{\"id\":1,\"result\":\"a\nb\"}").is_err());
        assert!(parse(b"{\"id\":1,\"result\":\"\xff\"}").is_err());
        assert!(parse(br#"{"id":1,"result":{}} {}"#).is_err());
        assert!(parse(br#"[{"id":1,"result":{}},{"id":2,"result":tru}]"#).is_err());
        assert!(parse(br#""a"x"#).is_err());
    }

    #[test]
    fn ranges_exclude_surrounding_whitespace() {
        let text = " \r\n{\"id\":1, \"result\" :\t[1, 2] }\n ";
        let m = single(text);
        assert_eq!(&text[m.range.clone()], "{\"id\":1, \"result\" :\t[1, 2] }");
        assert_eq!(&text[m.result.unwrap()], "[1, 2]");
        let m = single(" \"hi\" ");
        assert_eq!((m.kind(), m.range), (Kind::Invalid, 1..5));
    }

    #[test]
    fn a_repeated_member_keeps_its_last_value() {
        let m = single(r#"{"id":1,"method":"a","method":"b","id":2}"#);
        assert_eq!(m.method.as_deref(), Some("b"));
        assert_eq!(m.id.unwrap().json(), "2");
    }

    #[test]
    fn batch_elements_that_are_not_objects_are_invalid() {
        let text = r#"[7, {"jsonrpc":"2.0","method":"b"}]"#;
        let Shape::Batch(v) = parse(text.as_bytes()).unwrap() else {
            panic!("single")
        };
        assert_eq!(
            (v[0].kind(), &text[v[0].range.clone()]),
            (Kind::Invalid, "7")
        );
        assert_eq!(v[1].kind(), Kind::Notification);
    }

    #[test]
    fn finds_line_breaks_and_quotes_at_every_position() {
        // Bytes one bit away from the ones looked for, bytes below 0x0E, and high-bit twins the
        // word test must not take for them.
        let filler = [
            b'x', 0x0b, 0x0c, 0x09, 0x8a, 0x8d, 0xff, 0x00, 0x0e, 0x23, 0x20, 0xa2, 0x02, 0x5c,
        ];
        type Finder = fn(&[u8]) -> Option<usize>;
        let finders: [(Finder, &[u8]); 2] = [(find_line_break, b"\n\r"), (find_quote, b"\"")];
        for (find, wanted) in finders {
            let naive = |s: &[u8]| s.iter().position(|c| wanted.contains(c));
            for len in 0..70 {
                for at in 0..=len {
                    for hit in wanted {
                        let mut s: Vec<u8> = (0..len).map(|i| filler[i % filler.len()]).collect();
                        if at < len {
                            s[at] = *hit;
                            s.push(wanted[at % wanted.len()]);
                        }
                        assert_eq!(find(&s), naive(&s), "{s:?}");
                    }
                }
            }
        }
    }

    #[test]
    fn long_strings_with_escapes_are_skipped_whole() {
        for pad in 0..40 {
            let x = "x".repeat(pad);
            let text = format!(
                r#"{{"result":"{x}\"{x}\\\\\"}}{x}\u0022","error":{{"a":"]"}},"id":"{x}\\"}}"#
            );
            let m = single(&text);
            assert_eq!(m.kind(), Kind::Invalid, "{text}");
            let result = &text[m.result.unwrap()];
            assert!(result.ends_with(r#"\u0022""#), "{result}");
            assert_eq!(&text[m.error.unwrap()], r#"{"a":"]"}"#);
            assert_eq!(m.id.unwrap().json(), format!(r#""{x}\\""#));
        }
    }

    #[test]
    fn nested_field_lookup() {
        let text =
            r#"{"method":"tools/call","params":{"arguments":{"name":"inner"},"name":"outer"}}"#;
        let m = single(text);
        assert_eq!(
            str_field(text.as_bytes(), m.params.unwrap(), "name").as_deref(),
            Some("outer")
        );
    }

    #[test]
    fn responses_are_readdressed_byte_for_byte() {
        let deep = format!("{}{}", "[".repeat(200), "]".repeat(200));
        let text = format!(r#"{{"id":null,"result":{{"n":1e400,"d":{deep}}}}}"#);
        let moved = with_id(text.as_bytes(), &Id::string("h")).unwrap();
        assert_eq!(
            String::from_utf8(moved).unwrap(),
            format!(r#"{{"jsonrpc":"2.0","id":"h","result":{{"n":1e400,"d":{deep}}}}}"#)
        );
        let e = br#"{"jsonrpc":"2.0","error":{"code":-32022,"data":{"supported":["x"]},"message":"m"},"id":3}"#;
        assert_eq!(
            with_id(e, &Id::string("h")).unwrap(),
            br#"{"jsonrpc":"2.0","id":"h","error":{"code":-32022,"data":{"supported":["x"]},"message":"m"}}"#
        );
        assert_eq!(with_id(br#"{"id":1,"method":"x"}"#, &Id::string("h")), None);
        assert_eq!(
            with_id(br#"[{"id":1,"result":{}}]"#, &Id::string("h")),
            None
        );
    }

    #[test]
    fn error_responses() {
        let e = error_response(&Id::string("x"), PROXY_ERROR, "mcp-remote: boom");
        assert_eq!(
            String::from_utf8(e).unwrap(),
            r#"{"error":{"code":-32001,"message":"mcp-remote: boom"},"id":"x","jsonrpc":"2.0"}"#
        );
        assert_eq!(
            error_of(br#"{"error":{"code":-32600,"message":"Session not found"}}"#),
            Some((-32600, "Session not found".into()))
        );
    }
}
