//! The crate's one error type. Messages are short and lowercase; only `main` prints them and
//! picks the exit code (`Usage` exits 2, everything else 1).

use std::fmt;
use std::io;

/// Everything that can go wrong, with the data a user needs to act on it.
#[derive(Debug)]
pub enum Error {
    /// A bad command line: the message names the flag.
    Usage(String),
    /// Reading or writing a local file or stream.
    Io(io::Error),
    /// The HTTP request never got an answer (DNS, TCP, TLS, timeout).
    Transport(String),
    /// The server answered with a status we cannot use.
    Status { status: u16, detail: String },
    /// The server answered something that is not valid MCP over HTTP.
    Protocol(String),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Usage(m) => write!(f, "{m}"),
            Error::Io(e) => write!(f, "io: {e}"),
            Error::Transport(m) => write!(f, "{m}"),
            Error::Status { status, detail } if detail.is_empty() => {
                write!(f, "server answered HTTP {status}")
            }
            Error::Status { status, detail } => {
                write!(f, "server answered HTTP {status}: {detail}")
            }
            Error::Protocol(m) => write!(f, "{m}"),
        }
    }
}

impl std::error::Error for Error {}

impl From<io::Error> for Error {
    fn from(e: io::Error) -> Self {
        Error::Io(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_stays_small() {
        assert!(std::mem::size_of::<Error>() <= 48);
    }

    #[test]
    fn status_messages_read_well() {
        let e = Error::Status {
            status: 503,
            detail: "overloaded".into(),
        };
        assert_eq!(e.to_string(), "server answered HTTP 503: overloaded");
        let e = Error::Status {
            status: 500,
            detail: String::new(),
        };
        assert_eq!(e.to_string(), "server answered HTTP 500");
    }
}
