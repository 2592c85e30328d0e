//! Server-sent events, as the WHATWG HTML spec defines them: a line reader that accepts CRLF, LF
//! and lone CR, and a parser that turns lines into events. The parser does no I/O.

use std::io::{self, BufRead};

use crate::jsonrpc::find_line_break;

/// One dispatched event. `data` is the data lines joined with `\n`.
#[derive(Debug, PartialEq)]
pub struct Event {
    pub event: String,
    pub data: Vec<u8>,
}

/// What a line did.
#[derive(Debug, PartialEq)]
pub enum Step {
    Continue,
    Dispatch(Event),
    /// The server asked for this reconnection delay, in milliseconds.
    Retry(u64),
}

/// Event-stream parser state: the buffers of the event being built and the last event id.
#[derive(Debug, Default)]
pub struct Parser {
    data: Vec<u8>,
    has_data: bool,
    event: String,
    last_id: Option<String>,
}

impl Parser {
    /// The last event id the stream set (kept across events, as `Last-Event-ID` needs).
    pub fn last_id(&self) -> Option<&str> {
        self.last_id.as_deref().filter(|s| !s.is_empty())
    }

    /// [`Parser::line`], but a large first `data` line gives its buffer to the event instead
    /// of being copied: a 10 MiB message is then held once, not twice, and the buffer leaves
    /// with the event instead of staying with the reader at its largest size.
    pub fn take_line(&mut self, line: &mut Vec<u8>) -> Step {
        const TAKE_FROM: usize = 64 * 1024;
        if line.len() >= TAKE_FROM && !self.has_data && line.starts_with(b"data:") {
            let skip = if line.get(5) == Some(&b' ') { 6 } else { 5 };
            line.drain(..skip);
            // Without data so far, the event's buffer is empty: the line gets it back.
            std::mem::swap(&mut self.data, line);
            line.clear();
            self.has_data = true;
            return Step::Continue;
        }
        self.line(line)
    }

    /// Feeds one line without its terminator.
    pub fn line(&mut self, line: &[u8]) -> Step {
        if line.is_empty() {
            return self.dispatch();
        }
        if line[0] == b':' {
            return Step::Continue;
        }
        let (field, value) = match line.iter().position(|b| *b == b':') {
            Some(i) => {
                let v = &line[i + 1..];
                (&line[..i], v.strip_prefix(b" ").unwrap_or(v))
            }
            None => (line, &b""[..]),
        };
        match field {
            b"data" => {
                if self.has_data {
                    self.data.push(b'\n');
                }
                self.data.extend_from_slice(value);
                self.has_data = true;
            }
            b"event" => self.event = String::from_utf8_lossy(value).into_owned(),
            b"id" if !value.contains(&0) => {
                self.last_id = Some(String::from_utf8_lossy(value).into_owned())
            }
            b"retry" if !value.is_empty() && value.iter().all(u8::is_ascii_digit) => {
                if let Some(ms) = std::str::from_utf8(value).ok().and_then(|s| s.parse().ok()) {
                    return Step::Retry(ms);
                }
            }
            _ => {}
        }
        Step::Continue
    }

    /// End of an event. An event whose data is empty (a priming event) is not dispatched.
    fn dispatch(&mut self) -> Step {
        let event = std::mem::take(&mut self.event);
        let had = std::mem::replace(&mut self.has_data, false);
        let data = std::mem::take(&mut self.data);
        if !had || data.is_empty() {
            return Step::Continue;
        }
        Step::Dispatch(Event {
            event: if event.is_empty() {
                "message".into()
            } else {
                event
            },
            data,
        })
    }
}

/// Reads lines ending in CRLF, LF or CR, refusing lines longer than `max` bytes.
pub struct LineReader<R> {
    inner: R,
    skip_lf: bool,
    max: usize,
}

impl<R: BufRead> LineReader<R> {
    pub fn new(inner: R, max: usize) -> Self {
        LineReader {
            inner,
            skip_lf: false,
            max,
        }
    }

    /// Fills `line` with the next line (without its terminator). Returns false at end of stream;
    /// a last line without a terminator is returned first.
    pub fn next_line(&mut self, line: &mut Vec<u8>) -> io::Result<bool> {
        line.clear();
        loop {
            let buf = match self.inner.fill_buf() {
                Ok(b) => b,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if buf.is_empty() {
                return Ok(!line.is_empty());
            }
            let mut start = 0;
            if self.skip_lf {
                self.skip_lf = false;
                if buf[0] == b'\n' {
                    start = 1;
                }
            }
            match find_line_break(&buf[start..]) {
                Some(pos) => {
                    let end = start + pos;
                    line.extend_from_slice(&buf[start..end]);
                    let consumed = if buf[end] == b'\r' {
                        if buf.get(end + 1) == Some(&b'\n') {
                            end + 2
                        } else {
                            self.skip_lf = end + 1 == buf.len();
                            end + 1
                        }
                    } else {
                        end + 1
                    };
                    self.inner.consume(consumed);
                    return Ok(true);
                }
                None => {
                    line.extend_from_slice(&buf[start..]);
                    let n = buf.len();
                    self.inner.consume(n);
                    if line.len() > self.max {
                        return Err(io::Error::new(
                            io::ErrorKind::InvalidData,
                            format!("event stream line longer than {} bytes", self.max),
                        ));
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn events(text: &str) -> (Vec<Step>, Option<String>) {
        let mut p = Parser::default();
        let mut r = LineReader::new(text.as_bytes(), 1 << 20);
        let mut line = Vec::new();
        let mut out = Vec::new();
        while r.next_line(&mut line).unwrap() {
            match p.line(&line) {
                Step::Continue => {}
                s => out.push(s),
            }
        }
        (out, p.last_id().map(str::to_string))
    }

    fn data(s: &str) -> Step {
        Step::Dispatch(Event {
            event: "message".into(),
            data: s.as_bytes().to_vec(),
        })
    }

    #[test]
    fn simple_events() {
        let (ev, id) = events("data: {\"a\":1}\n\ndata:{\"b\":2}\n\n");
        assert_eq!(ev, vec![data("{\"a\":1}"), data("{\"b\":2}")]);
        assert_eq!(id, None);
    }

    #[test]
    fn a_large_data_line_is_taken_not_copied_and_reads_the_same() {
        let big = "x".repeat(100_000);
        let mut took = 0;
        for text in [
            format!("data: {big}\n\n"),
            format!("data:{big}\n\n"),
            format!("data: {big}\ndata: tail\n\n"),
            format!("data: head\ndata: {big}\n\n"),
            format!("id: 9\ndata:  {big}\n\n"),
        ] {
            let (want, want_id) = events(&text);
            let mut p = Parser::default();
            let mut r = LineReader::new(text.as_bytes(), 1 << 20);
            let mut line = Vec::new();
            let mut got = Vec::new();
            while r.next_line(&mut line).unwrap() {
                let before = line.as_ptr();
                match p.take_line(&mut line) {
                    Step::Continue => {}
                    step => got.push(step),
                }
                if line.is_empty() && before != line.as_ptr() {
                    // The buffer went to the event: the data is the very same allocation.
                    assert!(!p.data.is_empty() && p.data.as_ptr() == before);
                    took += 1;
                }
            }
            assert_eq!((got, p.last_id().map(str::to_string)), (want, want_id));
        }
        // Every text but the one whose large line is not the event's first data line.
        assert_eq!(took, 4);
    }

    #[test]
    fn multi_line_data_is_joined_with_newlines() {
        let (ev, _) = events("data: {\ndata:  \"a\": 1\ndata: }\n\n");
        assert_eq!(ev, vec![data("{\n \"a\": 1\n}")]);
    }

    #[test]
    fn priming_event_sets_id_but_is_not_dispatched() {
        let (ev, id) = events("id: ev-1\ndata: \n\n: keepalive\n\n");
        assert!(ev.is_empty());
        assert_eq!(id.as_deref(), Some("ev-1"));
        let (ev, id) = events("id: 7\ndata:\n\n");
        assert!(ev.is_empty());
        assert_eq!(id.as_deref(), Some("7"));
    }

    #[test]
    fn retry_and_event_types() {
        let (ev, id) =
            events("retry: 500\nid: 3\nevent: endpoint\ndata: /messages?s=1\n\nretry: x\n\n");
        assert_eq!(
            ev,
            vec![
                Step::Retry(500),
                Step::Dispatch(Event {
                    event: "endpoint".into(),
                    data: b"/messages?s=1".to_vec()
                })
            ]
        );
        assert_eq!(id.as_deref(), Some("3"));
    }

    #[test]
    fn crlf_and_lone_cr_line_endings() {
        let (ev, _) = events("data: a\r\n\r\ndata: b\r\rdata: c\n\n");
        assert_eq!(ev, vec![data("a"), data("b"), data("c")]);
    }

    #[test]
    fn cr_then_lf_split_across_reads() {
        // A reader that returns one byte per fill_buf exercises the skip_lf state.
        struct OneByte<'a>(&'a [u8]);
        impl io::Read for OneByte<'_> {
            fn read(&mut self, b: &mut [u8]) -> io::Result<usize> {
                if self.0.is_empty() || b.is_empty() {
                    return Ok(0);
                }
                b[0] = self.0[0];
                self.0 = &self.0[1..];
                Ok(1)
            }
        }
        let mut r = LineReader::new(
            io::BufReader::with_capacity(1, OneByte(b"data: x\r\n\r\n")),
            100,
        );
        let mut p = Parser::default();
        let mut line = Vec::new();
        let mut got = Vec::new();
        while r.next_line(&mut line).unwrap() {
            if let Step::Dispatch(e) = p.line(&line) {
                got.push(e.data);
            }
        }
        assert_eq!(got, vec![b"x".to_vec()]);
    }

    #[test]
    fn field_without_colon_and_unknown_fields() {
        let (ev, _) = events("data\n\nfoo: bar\ndata: z\n\n");
        assert_eq!(ev, vec![data("z")]);
    }

    #[test]
    fn id_with_nul_is_ignored() {
        let (_, id) = events("id: ok\n\nid: a\0b\n\n");
        assert_eq!(id.as_deref(), Some("ok"));
    }

    #[test]
    fn overlong_lines_are_refused() {
        let mut r = LineReader::new(&b"data: 0123456789abcdef"[..], 8);
        let mut line = Vec::new();
        assert!(r.next_line(&mut line).is_err());
    }

    #[test]
    fn unterminated_last_line_is_returned() {
        let mut r = LineReader::new(&b"a\nb"[..], 8);
        let mut line = Vec::new();
        assert!(r.next_line(&mut line).unwrap());
        assert!(r.next_line(&mut line).unwrap());
        assert_eq!(line, b"b");
        assert!(!r.next_line(&mut line).unwrap());
    }
}
