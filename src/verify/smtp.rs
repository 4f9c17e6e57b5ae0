//! A minimal SMTP client for probing a gateway: greeting, EHLO, optional STARTTLS, MAIL, RCPT,
//! RSET, QUIT. It never sends DATA, so a probe can never deliver a message.
//!
//! STARTTLS verifies the server's certificate (system trust store or a CA file) for the host
//! name the probe connected to; there is no way to turn that off.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A probe that could not be carried out (as opposed to an answer that was unexpected).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No connection.
    #[error("cannot connect to {address}: {cause}")]
    Connect {
        /// HOST:PORT.
        address: String,
        /// Why.
        cause: std::io::Error,
    },
    /// The conversation broke off.
    #[error("SMTP conversation with {address} failed: {reason}")]
    Protocol {
        /// HOST:PORT.
        address: String,
        /// What happened.
        reason: String,
    },
    /// The server's reply is not one rcptsync reads.
    #[error("SMTP conversation with {address} failed: {cause}")]
    Reply {
        /// HOST:PORT.
        address: String,
        /// What is wrong with the reply.
        cause: ReplyError,
    },
    /// TLS could not be set up or the certificate was not trusted.
    #[error("STARTTLS with {address} failed: {reason}")]
    Tls {
        /// HOST:PORT.
        address: String,
        /// Why.
        reason: String,
    },
}

/// Longest reply line accepted (RFC 5321 allows 512 octets; servers stay well below this).
pub const MAX_LINE: usize = 1000;

/// Most lines in one reply (an EHLO reply lists a dozen extensions or so).
pub const MAX_LINES: usize = 100;

/// Why a reply is refused: the line it is in (quoted, cut short), so that the admin sees
/// what the server sent, and the session gives up on a server that does not speak SMTP or
/// would make the probe hold more than a bounded reply.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReplyError {
    /// A line longer than [`MAX_LINE`].
    #[error("a reply line is longer than {MAX_LINE} bytes: {0:?}...")]
    LineTooLong(String),
    /// More lines than [`MAX_LINES`].
    #[error("a reply has more than {MAX_LINES} lines")]
    TooManyLines,
    /// Not `CODE`, `CODE text` or `CODE-text` with a code in 200..=599.
    #[error("not an SMTP reply: {0:?}")]
    NotSmtp(String),
    /// A continuation line with another code than the reply's first line.
    #[error("a reply changes its code in the middle: {0:?}")]
    CodeChanged(String),
}

/// Reads a reply line by line: `CODE-text` continues it, `CODE text` (or a bare code) ends
/// it; every line must carry the same code.
#[derive(Debug, Default)]
pub struct ReplyParser {
    code: Option<u16>,
    text: Vec<String>,
}

impl ReplyParser {
    /// Takes the next line (with or without its line end); the reply once it is complete.
    pub fn line(&mut self, line: &[u8]) -> Result<Option<Reply>, ReplyError> {
        // The line as the error shows it: its first 80 characters.
        let shown = || {
            String::from_utf8_lossy(line)
                .chars()
                .take(80)
                .collect::<String>()
        };
        if line.len() > MAX_LINE {
            return Err(ReplyError::LineTooLong(shown()));
        }
        if self.text.len() >= MAX_LINES {
            return Err(ReplyError::TooManyLines);
        }
        let line = line.strip_suffix(b"\n").unwrap_or(line);
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let line = std::str::from_utf8(line).map_err(|_| ReplyError::NotSmtp(shown()))?;
        let code = line
            .get(..3)
            .filter(|c| c.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|c| c.parse::<u16>().ok())
            .filter(|c| (200..600).contains(c))
            .ok_or_else(|| ReplyError::NotSmtp(shown()))?;
        if self.code.is_some_and(|first| first != code) {
            return Err(ReplyError::CodeChanged(shown()));
        }
        self.code = Some(code);
        self.text.push(line.get(4..).unwrap_or_default().to_owned());
        match line.as_bytes().get(3) {
            Some(b'-') => Ok(None),
            None | Some(b' ') => Ok(Some(Reply {
                code,
                text: std::mem::take(&mut self.text).join(" "),
            })),
            Some(_) => Err(ReplyError::NotSmtp(shown())),
        }
    }
}

/// One server reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// The three-digit code.
    pub code: u16,
    /// The text, continuation lines joined with spaces.
    pub text: String,
}

impl std::fmt::Display for Reply {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.code, self.text)
    }
}

enum Stream {
    Plain(TcpStream),
    Tls(Box<rustls::StreamOwned<rustls::ClientConnection, TcpStream>>),
    /// While the connection is being handed from plain to TLS (and if that fails).
    Closed,
}

fn closed() -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::NotConnected, "the connection is closed")
}

impl Stream {
    /// How long one read may wait.
    fn set_read_timeout(&self, timeout: Duration) -> std::io::Result<()> {
        match self {
            Self::Plain(s) => s.set_read_timeout(Some(timeout)),
            Self::Tls(s) => s.sock.set_read_timeout(Some(timeout)),
            Self::Closed => Err(closed()),
        }
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Self::Plain(s) => s.read(buf),
            Self::Tls(s) => s.read(buf),
            Self::Closed => Err(closed()),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            Self::Plain(s) => s.write(buf),
            Self::Tls(s) => s.write(buf),
            Self::Closed => Err(closed()),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Self::Plain(s) => s.flush(),
            Self::Tls(s) => s.flush(),
            Self::Closed => Err(closed()),
        }
    }
}

/// The port `verify --smtp HOST` probes: where the gateway takes mail from the Internet.
pub const DEFAULT_PORT: u16 = 25;

/// `address` with `port` added when it names none, so that `--smtp mx1.example.com` means
/// what an admin expects: a host name, an IPv4 address, a bracketed `[IPv6]` or a bare IPv6
/// address (which is bracketed) gets `:port`; `HOST:PORT` and `[IPv6]:PORT` stay as they are.
pub fn with_default_port(address: &str, port: u16) -> String {
    let colons = address.matches(':').count();
    if address.starts_with('[') {
        if address.contains("]:") {
            address.to_owned()
        } else {
            format!("{address}:{port}")
        }
    } else if colons == 0 {
        format!("{address}:{port}")
    } else if colons > 1 {
        format!("[{address}]:{port}")
    } else {
        address.to_owned()
    }
}

/// An SMTP session.
pub struct Session {
    stream: BufReader<Stream>,
    address: String,
    host: String,
    timeout: Duration,
}

impl Session {
    /// Connects to `address` (HOST:PORT) and reads the greeting, which must be 220.
    pub fn connect(address: &str, timeout: Duration) -> Result<Self, Error> {
        let connect_error = |cause| Error::Connect {
            address: address.to_owned(),
            cause,
        };
        // Every address the name resolves to, in order (localhost may be ::1 first).
        let mut last = std::io::Error::other("the name resolves to no address");
        let mut connected = None;
        for target in address.to_socket_addrs().map_err(connect_error)? {
            match TcpStream::connect_timeout(&target, timeout) {
                Ok(tcp) => {
                    connected = Some(tcp);
                    break;
                }
                Err(e) => last = e,
            }
        }
        let tcp = connected.ok_or_else(|| connect_error(last))?;
        tcp.set_read_timeout(Some(timeout)).map_err(connect_error)?;
        tcp.set_write_timeout(Some(timeout))
            .map_err(connect_error)?;
        let host = address
            .rsplit_once(':')
            .map_or(address, |(h, _)| h)
            .trim_matches(['[', ']'])
            .to_owned();
        let mut session = Self {
            stream: BufReader::new(Stream::Plain(tcp)),
            address: address.to_owned(),
            host,
            timeout,
        };
        let greeting = session.reply()?;
        if greeting.code != 220 {
            return Err(session.protocol(format!("greeting was {greeting}")));
        }
        Ok(session)
    }

    fn protocol(&self, reason: String) -> Error {
        Error::Protocol {
            address: self.address.clone(),
            reason,
        }
    }

    /// Reads one reply, bounded in line length, line count and time (the whole reply must
    /// arrive within the session's timeout), so that a hostile server cannot make the probe
    /// hold more than a few hundred kilobytes or wait forever.
    fn reply(&mut self) -> Result<Reply, Error> {
        let deadline = Instant::now() + self.timeout;
        let mut parser = ReplyParser::default();
        let mut line = Vec::with_capacity(128);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(self.protocol(format!(
                    "no complete reply within {}",
                    humantime::format_duration(self.timeout)
                )));
            }
            // Each read waits only for what is left of the reply's time, so a peer that
            // trickles a byte at a time cannot stretch it.
            self.stream
                .get_ref()
                .set_read_timeout(left)
                .map_err(|e| self.protocol(e.to_string()))?;
            line.clear();
            let read = self
                .stream
                .by_ref()
                .take(MAX_LINE as u64 + 1)
                .read_until(b'\n', &mut line)
                .map_err(|e| self.protocol(e.to_string()))?;
            if read == 0 {
                return Err(self.protocol("the server closed the connection".into()));
            }
            match parser.line(&line) {
                Ok(Some(reply)) => return Ok(reply),
                Ok(None) => {}
                Err(cause) => {
                    return Err(Error::Reply {
                        address: self.address.clone(),
                        cause,
                    });
                }
            }
        }
    }

    /// Sends one command line and returns the reply.
    pub fn command(&mut self, line: &str) -> Result<Reply, Error> {
        let stream = self.stream.get_mut();
        stream
            .write_all(format!("{line}\r\n").as_bytes())
            .and_then(|()| stream.flush())
            .map_err(|e| self.protocol(e.to_string()))?;
        self.reply()
    }

    /// EHLO; returns the reply (its text lists the extensions).
    pub fn ehlo(&mut self, name: &str) -> Result<Reply, Error> {
        let reply = self.command(&format!("EHLO {name}"))?;
        if reply.code != 250 {
            return Err(self.protocol(format!("EHLO was answered {reply}")));
        }
        Ok(reply)
    }

    /// STARTTLS, verifying the certificate for the host name connected to against `config`.
    pub fn starttls(&mut self, config: Arc<rustls::ClientConfig>) -> Result<(), Error> {
        let address = self.address.clone();
        let tls_error = |reason: String| Error::Tls {
            address: address.clone(),
            reason,
        };
        let reply = self.command("STARTTLS")?;
        if reply.code != 220 {
            return Err(tls_error(format!("the server answered {reply}")));
        }
        let name = rustls::pki_types::ServerName::try_from(self.host.clone())
            .map_err(|e| tls_error(e.to_string()))?;
        let connection =
            rustls::ClientConnection::new(config, name).map_err(|e| tls_error(e.to_string()))?;
        // Nothing may be buffered: the client sends nothing after STARTTLS before the
        // handshake, and a server that did would be injecting plaintext into the TLS session.
        if !self.stream.buffer().is_empty() {
            return Err(tls_error(
                "the server sent data after its STARTTLS reply".into(),
            ));
        }
        let Stream::Plain(tcp) =
            std::mem::replace(&mut self.stream, BufReader::new(Stream::Closed)).into_inner()
        else {
            return Err(tls_error("the session is already encrypted".into()));
        };
        let mut tls = rustls::StreamOwned::new(connection, tcp);
        // Complete the handshake now, so that a certificate problem is reported as such.
        while tls.conn.is_handshaking() {
            tls.conn
                .complete_io(&mut tls.sock)
                .map_err(|e| tls_error(e.to_string()))?;
        }
        self.stream = BufReader::new(Stream::Tls(Box::new(tls)));
        Ok(())
    }

    /// Ends the session politely.
    pub fn quit(mut self) {
        let _ = self.command("QUIT");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_host_without_a_port_gets_port_25() {
        for (given, expected) in [
            ("mx1.example.com", "mx1.example.com:25"),
            ("192.0.2.1", "192.0.2.1:25"),
            ("[2001:db8::1]", "[2001:db8::1]:25"),
            ("2001:db8::1", "[2001:db8::1]:25"),
            ("mx1.example.com:2525", "mx1.example.com:2525"),
            ("[2001:db8::1]:2525", "[2001:db8::1]:2525"),
        ] {
            assert_eq!(with_default_port(given, DEFAULT_PORT), expected, "{given}");
        }
    }

    fn parse(lines: &[&[u8]]) -> Result<Option<Reply>, ReplyError> {
        let mut parser = ReplyParser::default();
        let mut last = Ok(None);
        for line in lines {
            last = parser.line(line);
            if last.is_err() {
                break;
            }
        }
        last
    }

    #[test]
    fn multi_line_replies_are_joined() {
        let reply = parse(&[
            b"250-mx.example\r\n",
            b"250-PIPELINING\r\n",
            b"250 STARTTLS\r\n",
        ])
        .unwrap()
        .unwrap();
        assert_eq!(reply.code, 250);
        assert_eq!(reply.text, "mx.example PIPELINING STARTTLS");
        assert_eq!(parse(&[b"220\r\n"]).unwrap().unwrap().code, 220);
    }

    #[test]
    fn malformed_and_endless_replies_are_refused() {
        let hello = parse(&[b"hello\r\n"]).unwrap_err();
        assert_eq!(hello, ReplyError::NotSmtp("hello\r\n".into()));
        assert_eq!(hello.to_string(), r#"not an SMTP reply: "hello\r\n""#);
        let changed = parse(&[b"250-a\r\n", b"251 b\r\n"]).unwrap_err();
        assert_eq!(changed, ReplyError::CodeChanged("251 b\r\n".into()));
        assert!(changed.to_string().contains("changes its code"));
        for not_smtp in [b"25x ok\r\n", b"999 ok\r\n", b"250xok\r\n"] {
            assert!(matches!(parse(&[not_smtp]), Err(ReplyError::NotSmtp(_))));
        }
        let long = [b"250 ".as_slice(), &[b'x'; 2000]].concat();
        let too_long = parse(&[&long]).unwrap_err();
        assert!(matches!(&too_long, ReplyError::LineTooLong(shown) if shown.len() == 80));
        assert!(too_long.to_string().contains("longer than"));
        let endless: Vec<&[u8]> = std::iter::repeat_n(b"220-more\r\n".as_slice(), 200).collect();
        let endless = parse(&endless).unwrap_err();
        assert_eq!(endless, ReplyError::TooManyLines);
        assert!(endless.to_string().contains("more than 100 lines"));
    }
}
