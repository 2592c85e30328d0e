//! The one owner of stdout. Every message leaves as exactly one line: a server's pretty-printed
//! JSON is folded by dropping its CR and LF bytes, which valid JSON only has as whitespace.

use std::io::{self, IoSlice, Write};
use std::sync::Mutex;

use crate::jsonrpc::find_line_break;

/// A mutex-guarded line writer shared by every thread that delivers messages.
pub struct Out {
    w: Mutex<Box<dyn Write + Send>>,
}

impl Out {
    pub fn new(w: Box<dyn Write + Send>) -> Out {
        Out { w: Mutex::new(w) }
    }

    pub fn stdout() -> Out {
        Out::new(Box::new(io::stdout()))
    }

    /// Writes one JSON message (already validated) as one line and flushes it. The message and
    /// its newline go in one vectored write: std's line-buffered stdout then looks for a newline
    /// only in the second part, where a plain write would search the whole message once more.
    pub fn send(&self, json: &[u8]) -> io::Result<()> {
        let json = json.trim_ascii();
        let folded: Vec<u8>;
        let line = match find_line_break(json) {
            None => json,
            Some(_) => {
                folded = json
                    .iter()
                    .copied()
                    .filter(|b| !matches!(b, b'\n' | b'\r'))
                    .collect();
                &folded
            }
        };
        let mut w = self.w.lock().unwrap_or_else(|p| p.into_inner());
        let mut parts = [IoSlice::new(line), IoSlice::new(b"\n")];
        let mut parts = &mut parts[..];
        while !parts.is_empty() {
            match w.write_vectored(parts) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => IoSlice::advance_slices(&mut parts, n),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        w.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex as StdMutex};

    /// Takes at most `.1` bytes a call (0: no limit), as a pipe that is nearly full does.
    #[derive(Clone, Default)]
    struct Buf(Arc<StdMutex<Vec<u8>>>, usize);
    impl Write for Buf {
        fn write(&mut self, b: &[u8]) -> io::Result<usize> {
            let n = if self.1 == 0 {
                b.len()
            } else {
                b.len().min(self.1)
            };
            self.0.lock().unwrap().extend_from_slice(&b[..n]);
            Ok(n)
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn folds_pretty_json_into_one_line() {
        let buf = Buf::default();
        let out = Out::new(Box::new(buf.clone()));
        out.send(b"{\r\n  \"id\": 1,\n  \"result\": {\"text\": \"a\\nb\"}\n}\n")
            .unwrap();
        out.send(br#"{"id":2}"#).unwrap();
        let text = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
        assert_eq!(
            text,
            "{  \"id\": 1,  \"result\": {\"text\": \"a\\nb\"}}\n{\"id\":2}\n"
        );
        for line in text.lines() {
            serde_json::from_str::<serde_json::Value>(line).unwrap();
        }
    }

    #[test]
    fn folds_line_breaks_past_the_first_words() {
        let buf = Buf::default();
        let out = Out::new(Box::new(buf.clone()));
        let body = format!("{{\"a\":\"{}\",\r\n\"b\":\n1}}\n\n", "x".repeat(37));
        out.send(body.as_bytes()).unwrap();
        let text = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
        assert_eq!(text, format!("{{\"a\":\"{}\",\"b\":1}}\n", "x".repeat(37)));
    }

    #[test]
    fn short_writes_still_give_whole_lines() {
        let buf = Buf(Arc::default(), 3);
        let out = Out::new(Box::new(buf.clone()));
        out.send(br#"{"id":1,"result":"abcdefgh"}"#).unwrap();
        out.send(b"{\"id\":2}").unwrap();
        let text = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
        assert_eq!(text, "{\"id\":1,\"result\":\"abcdefgh\"}\n{\"id\":2}\n");
    }
}
