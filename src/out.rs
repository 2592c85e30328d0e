//! The one owner of stdout. Every message leaves as exactly one line: a server's pretty-printed
//! JSON is folded by dropping its CR and LF bytes, which valid JSON only has as whitespace.

use std::io::{self, Write};
use std::sync::Mutex;

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

    /// Writes one JSON message (already validated) as one line and flushes it.
    pub fn send(&self, json: &[u8]) -> io::Result<()> {
        let json = json.trim_ascii();
        let mut w = self.w.lock().unwrap_or_else(|p| p.into_inner());
        for (i, chunk) in json.split(|b| *b == b'\n' || *b == b'\r').enumerate() {
            if i > 0 && chunk.is_empty() {
                continue;
            }
            w.write_all(chunk)?;
        }
        w.write_all(b"\n")?;
        w.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex as StdMutex};

    #[derive(Clone, Default)]
    struct Buf(Arc<StdMutex<Vec<u8>>>);
    impl Write for Buf {
        fn write(&mut self, b: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
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
}
