//! The connection to the directory server under ldap3, kept by rcptsync itself so that what
//! the server sends is bounded before ldap3 buffers it.
//!
//! ldap3 buffers each LDAP message whole before decoding it, so a server announcing a
//! message of gigabytes would have it held in memory until the timeout. Instead rcptsync opens
//! the TCP connection, does StartTLS and the TLS handshake itself (verified with the same
//! [`crate::tls`] configuration), and relays the plaintext to ldap3 over a private socket
//! pair, reading each message's BER header as it passes: a message longer than
//! `max_message_bytes`, or more than `max_read_bytes` in all, ends the connection at once, and
//! the reason is kept in a [`Tripwire`] so that the search error names the bound and its key
//! rather than a closed connection.

use std::net::IpAddr;
use std::os::unix::net::UnixStream;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ldap3::tokio;
use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _};
use tokio::net::TcpStream;
use tokio::runtime::Runtime;

use super::frame::{Header, MAX_RECEIVE, read_message};
use super::kerberos::{Login, Seal};

/// What the server may send on one connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Bytes of one LDAP message (`max_message_bytes`).
    pub message_bytes: u64,
    /// Bytes of everything the server sends on the connection (`max_read_bytes`).
    pub read_bytes: u64,
}

/// Where to connect and how to secure it, from an `ldap://` or `ldaps://` URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Endpoint {
    host: String,
    port: u16,
    security: Security,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Security {
    Plain,
    StartTls,
    Tls,
}

impl Endpoint {
    /// The endpoint of `url`; `starttls` applies to `ldap://` URLs only.
    pub(super) fn parse(url: &str, starttls: bool) -> Result<Self, String> {
        let parsed = url::Url::parse(url).map_err(|e| format!("{url:?} is not a URL: {e}"))?;
        let (default_port, security) = match parsed.scheme() {
            "ldap" if starttls => (389, Security::StartTls),
            "ldap" => (389, Security::Plain),
            "ldaps" => (636, Security::Tls),
            other => return Err(format!("{other}:// is not ldap:// or ldaps://")),
        };
        let host = match parsed.host() {
            Some(url::Host::Domain(name)) => name.to_owned(),
            Some(url::Host::Ipv4(ip)) => ip.to_string(),
            Some(url::Host::Ipv6(ip)) => ip.to_string(),
            None => return Err(format!("{url:?} names no host")),
        };
        Ok(Self {
            host,
            port: parsed.port().unwrap_or(default_port),
            security,
        })
    }
}

/// Why the relay ended a connection on purpose (a bound reached, a server that does not
/// speak LDAP, a failed TLS session), for the error ldap3 reports as a closed connection.
#[derive(Debug, Clone, Default)]
pub struct Tripwire(Arc<Mutex<Option<String>>>);

impl Tripwire {
    fn trip(&self, reason: String) {
        if let Ok(mut slot) = self.0.lock() {
            slot.get_or_insert(reason);
        }
    }

    /// The reason the connection was ended, if the relay ended it.
    pub fn reason(&self) -> Option<String> {
        self.0.lock().ok().and_then(|slot| slot.clone())
    }
}

/// A connected, secured stream to the server, whatever its kind.
trait Wire: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Wire for T {}

/// Connects to `endpoint` (TCP, then StartTLS and TLS as the URL asks, all within `timeout`)
/// and returns ldap3's end of the relay. The relay is a task on `rt`, ldap3's own runtime:
/// both run on the caller's thread, so passing a message on costs no thread wakeup, and the
/// relay ends with the runtime.
///
/// With a Kerberos `login` the bind is made here, before ldap3 sees the connection
/// ([`Login::bind`]), within the same `timeout` (except while krb5 itself asks the KDC for the
/// service ticket, which its own timeouts bound); on plain `ldap://` the relay then seals and
/// unseals everything.
pub(super) fn open(
    rt: &Runtime,
    endpoint: Endpoint,
    tls: Arc<rustls::ClientConfig>,
    timeout: Duration,
    limits: Limits,
    login: Option<&Login>,
) -> Result<(UnixStream, Tripwire), String> {
    let setup = async {
        let (mut server, binding) = establish(&endpoint, tls).await?;
        let seal = match login {
            Some(login) => {
                login
                    .bind(&mut server, &endpoint.host, binding.as_deref())
                    .await?
            }
            None => None,
        };
        Ok::<_, String>((server, seal))
    };
    let (server, seal) = rt
        .block_on(async { tokio::time::timeout(timeout, setup).await })
        .map_err(|_| {
            format!(
                "timed out after {} connecting to {}:{}",
                humantime::format_duration(timeout),
                endpoint.host,
                endpoint.port
            )
        })??;
    let setup = |e: std::io::Error| format!("cannot set up the LDAP client: {e}");
    let (ours, theirs) = UnixStream::pair().map_err(setup)?;
    ours.set_nonblocking(true).map_err(setup)?;
    theirs.set_nonblocking(true).map_err(setup)?;
    let ours = {
        let _runtime = rt.enter();
        tokio::net::UnixStream::from_std(ours).map_err(setup)?
    };
    let tripwire = Tripwire::default();
    let tripped = tripwire.clone();
    rt.spawn(async move {
        match seal {
            None => relay(server, ours, limits, &tripped).await,
            Some(seal) => relay_sealed(server, ours, limits, seal, &tripped).await,
        }
    });
    Ok((theirs, tripwire))
}

/// TCP, then StartTLS and the TLS handshake as the endpoint asks; with TLS, also the channel
/// binding of the session (for a Kerberos bind).
async fn establish(
    endpoint: &Endpoint,
    tls: Arc<rustls::ClientConfig>,
) -> Result<(Box<dyn Wire>, Option<Vec<u8>>), String> {
    let Endpoint {
        host,
        port,
        security,
    } = endpoint;
    let mut tcp = TcpStream::connect((host.as_str(), *port))
        .await
        .map_err(|e| format!("cannot connect to {host}:{port}: {e}"))?;
    let _ = tcp.set_nodelay(true);
    if *security == Security::Plain {
        return Ok((Box::new(tcp), None));
    }
    if *security == Security::StartTls {
        starttls(&mut tcp).await?;
    }
    let name = match host.parse::<IpAddr>() {
        Ok(ip) => ServerName::IpAddress(ip.into()),
        Err(_) => ServerName::try_from(host.clone())
            .map_err(|e| format!("{host:?} is not a host name TLS can verify: {e}"))?,
    };
    let stream = tokio_rustls::TlsConnector::from(tls)
        .connect(name, tcp)
        .await
        .map_err(|e| {
            super::tls_advice(
                crate::tls::Refusal::of(&e),
                format!("TLS handshake failed: {e}"),
            )
        })?;
    let binding = stream
        .get_ref()
        .1
        .peer_certificates()
        .and_then(|chain| chain.first())
        .map(|leaf| tls_server_end_point(leaf.as_ref()));
    Ok((Box::new(stream), binding))
}

/// The tls-server-end-point channel binding of a server certificate (RFC 5929 4.1): the
/// certificate hashed with its signature's hash (for RSASSA-PSS, the hash its parameters
/// name), SHA-256 for MD5 and SHA-1.
pub(super) fn tls_server_end_point(der: &[u8]) -> Vec<u8> {
    use sha2::Digest as _;
    use x509_parser::prelude::FromDer as _;
    let hash = x509_parser::certificate::X509Certificate::from_der(der)
        .ok()
        .map(|(_, cert)| {
            let algorithm = &cert.signature_algorithm;
            let pss = x509_parser::signature_algorithm::SignatureAlgorithm::try_from(algorithm)
                .ok()
                .and_then(|parsed| match parsed {
                    x509_parser::signature_algorithm::SignatureAlgorithm::RSASSA_PSS(params) => {
                        Some(params.hash_algorithm_oid().to_id_string())
                    }
                    _ => None,
                });
            pss.unwrap_or_else(|| algorithm.algorithm.to_id_string())
        })
        .unwrap_or_default();
    let hash = match hash.as_str() {
        // sha384WithRSAEncryption, ecdsa-with-SHA384, id-sha384 (PSS); then SHA-512's.
        "1.2.840.113549.1.1.12" | "1.2.840.10045.4.3.3" | "2.16.840.1.101.3.4.2.2" => {
            sha2::Sha384::digest(der).to_vec()
        }
        "1.2.840.113549.1.1.13" | "1.2.840.10045.4.3.4" | "2.16.840.1.101.3.4.2.3" => {
            sha2::Sha512::digest(der).to_vec()
        }
        _ => sha2::Sha256::digest(der).to_vec(),
    };
    let mut binding = b"tls-server-end-point:".to_vec();
    binding.extend(hash);
    binding
}

/// The StartTLS extended request (RFC 4511 4.14.1) with message ID 1: ldap3 begins its own
/// numbering afresh once TLS is up, which LDAP allows (no request is outstanding).
const STARTTLS: &[u8] = b"\x30\x1d\x02\x01\x01\x77\x18\x80\x161.3.6.1.4.1.1466.20037";

/// Asks for StartTLS and reads the server's answer (one small message).
async fn starttls(tcp: &mut TcpStream) -> Result<(), String> {
    tcp.write_all(STARTTLS)
        .await
        .map_err(|e| format!("StartTLS: {e}"))?;
    let answer = read_message(
        tcp,
        "StartTLS",
        "the server closed the connection when asked for StartTLS",
    )
    .await?;
    match starttls_result(&answer)? {
        Some(0) => Ok(()),
        Some(code) => Err(format!(
            "the server refused StartTLS: {}; use an ldaps:// URL, or enable TLS on the server",
            super::describe_result(u32::from(code), "")
        )),
        None => Err("the server's answer to StartTLS is not an LDAP message".into()),
    }
}

/// The result code of a complete ExtendedResponse in `bytes`; None while incomplete.
fn starttls_result(bytes: &[u8]) -> Result<Option<u8>, String> {
    let bad = || "the server's answer to StartTLS is not an LDAP message".to_owned();
    let Some(head) = Header::parse(bytes).map_err(|_| bad())? else {
        return Ok(None);
    };
    let Some(message) = usize::try_from(head.length)
        .ok()
        .and_then(|len| bytes.get(head.size..head.size.checked_add(len)?))
    else {
        return Ok(None);
    };
    // messageID INTEGER, then [APPLICATION 24] ExtendedResponse { resultCode ENUMERATED ... }.
    let id_len = usize::from(*message.get(1).ok_or_else(bad)?);
    let op = message.get(2 + id_len..).ok_or_else(bad)?;
    match op {
        [0x78, len, 0x0a, 0x01, code, ..] if *len < 0x80 => Ok(Some(*code)),
        [0x78, 0x81..=0x84, ..] => {
            let skip = 2 + usize::from(op[1] & 0x7f);
            match op.get(skip..) {
                Some([0x0a, 0x01, code, ..]) => Ok(Some(*code)),
                _ => Err(bad()),
            }
        }
        _ => Err(bad()),
    }
}

/// Follows the message boundaries of a byte stream split anywhere, checking each header
/// against the limits before its content is passed on.
#[derive(Debug)]
struct Framer {
    limits: Limits,
    /// Bytes of the current message's content still to come.
    content_left: u64,
    /// The current header's bytes so far (at most 10).
    header: Vec<u8>,
    /// Bytes seen in all.
    total: u64,
}

impl Framer {
    fn new(limits: Limits) -> Self {
        Self {
            limits,
            content_left: 0,
            header: Vec::with_capacity(10),
            total: 0,
        }
    }

    /// Checks the next chunk of the stream; an error names the bound and its key.
    fn check(&mut self, mut chunk: &[u8]) -> Result<(), String> {
        self.total = self.total.saturating_add(chunk.len() as u64);
        if self.total > self.limits.read_bytes {
            return Err(format!(
                "the server sent more than {} bytes on one connection (max_read_bytes)",
                self.limits.read_bytes
            ));
        }
        while !chunk.is_empty() {
            if self.content_left > 0 {
                let skip = usize::try_from(self.content_left)
                    .unwrap_or(usize::MAX)
                    .min(chunk.len());
                chunk = &chunk[skip..];
                self.content_left -= skip as u64;
                continue;
            }
            self.header.push(chunk[0]);
            chunk = &chunk[1..];
            if let Some(header) = Header::parse(&self.header)? {
                let size = header.length.saturating_add(header.size as u64);
                if size > self.limits.message_bytes {
                    return Err(format!(
                        "the server announced an LDAP message of {size} bytes, more than \
                         max_message_bytes = {}; refused before reading it",
                        self.limits.message_bytes
                    ));
                }
                self.content_left = header.length;
                self.header.clear();
            }
        }
        Ok(())
    }
}

/// Passes bytes both ways until either side closes, checking what the server sends.
async fn relay(
    server: Box<dyn Wire>,
    ours: tokio::net::UnixStream,
    limits: Limits,
    tripwire: &Tripwire,
) {
    let (mut server_read, mut server_write) = tokio::io::split(server);
    let (mut ours_read, mut ours_write) = ours.into_split();
    let up = async {
        let _ = tokio::io::copy(&mut ours_read, &mut server_write).await;
        // A server that reads nothing must not keep the thread for ever.
        let _ = tokio::time::timeout(Duration::from_secs(5), server_write.shutdown()).await;
    };
    let down = async {
        let mut framer = Framer::new(limits);
        let mut buffer = vec![0u8; 64 * 1024];
        let mut ended = false;
        while !ended {
            let mut n = match server_read.read(&mut buffer).await {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) => {
                    tripwire.trip(format!("the connection to the server failed: {e}"));
                    break;
                }
            };
            // Whatever else has already arrived goes along in the same write: a server sends
            // an entry at a time, and one write per entry would cost ldap3 a wakeup each.
            while n < buffer.len() {
                match read_now(&mut server_read, &mut buffer[n..]).await {
                    Some(Ok(0)) => {
                        ended = true;
                        break;
                    }
                    Some(Ok(more)) => n += more,
                    Some(Err(e)) => {
                        tripwire.trip(format!("the connection to the server failed: {e}"));
                        ended = true;
                        break;
                    }
                    None => break,
                }
            }
            if let Err(why) = framer.check(&buffer[..n]) {
                tripwire.trip(why);
                break;
            }
            if ours_write.write_all(&buffer[..n]).await.is_err() {
                break;
            }
        }
    };
    // Whichever ends first ends both: ldap3 then sees the connection closed.
    tokio::select! {
        () = up => {}
        () = down => {}
    }
}

/// [`relay`] under a Kerberos security layer: each buffer ldap3 writes goes to the server
/// sealed, with its 4-byte length; each sealed buffer from the server is bounded by what
/// rcptsync said it takes, unsealed, and checked as plaintext is. A buffer that does not
/// unseal (tampered with, or not from the server the bind authenticated) ends the connection.
async fn relay_sealed(
    server: Box<dyn Wire>,
    ours: tokio::net::UnixStream,
    limits: Limits,
    seal: Seal,
    tripwire: &Tripwire,
) {
    let seal = std::sync::Mutex::new(seal);
    let (mut server_read, mut server_write) = tokio::io::split(server);
    let (mut ours_read, mut ours_write) = ours.into_split();
    let up = async {
        let size = seal.lock().map(|s| s.max_send()).unwrap_or(1024);
        let mut buffer = vec![0u8; size];
        loop {
            let n = match ours_read.read(&mut buffer).await {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            let sealed = match seal.lock() {
                Ok(mut seal) => seal.wrap(&buffer[..n]),
                Err(_) => break,
            };
            let sealed = match sealed {
                Ok(sealed) => sealed,
                Err(why) => {
                    tripwire.trip(why);
                    break;
                }
            };
            let Ok(len) = u32::try_from(sealed.len()) else {
                break;
            };
            let mut frame = len.to_be_bytes().to_vec();
            frame.extend(sealed);
            if server_write.write_all(&frame).await.is_err() {
                break;
            }
        }
        let _ = tokio::time::timeout(Duration::from_secs(5), server_write.shutdown()).await;
    };
    let down = async {
        let mut framer = Framer::new(limits);
        let mut total = 0u64;
        let mut buffer = Vec::new();
        loop {
            let mut len = [0u8; 4];
            match server_read.read_exact(&mut len).await {
                Ok(_) => {}
                // The server closed the connection between buffers.
                Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => break,
                Err(e) => {
                    tripwire.trip(format!("the connection to the server failed: {e}"));
                    break;
                }
            }
            let len = u32::from_be_bytes(len);
            if len == 0 || len > MAX_RECEIVE {
                tripwire.trip(format!(
                    "the server sent a sealed buffer of {len} bytes; rcptsync takes 1 to {}",
                    MAX_RECEIVE
                ));
                break;
            }
            total = total.saturating_add(4 + u64::from(len));
            if total > limits.read_bytes {
                tripwire.trip(format!(
                    "the server sent more than {} bytes on one connection (max_read_bytes)",
                    limits.read_bytes
                ));
                break;
            }
            buffer.resize(len as usize, 0);
            if let Err(e) = server_read.read_exact(&mut buffer).await {
                tripwire.trip(format!("the connection to the server failed: {e}"));
                break;
            }
            let plain = match seal.lock() {
                Ok(mut seal) => seal.unwrap(&buffer),
                Err(_) => break,
            };
            let plain = match plain {
                Ok(plain) => plain,
                Err(why) => {
                    tripwire.trip(why);
                    break;
                }
            };
            if let Err(why) = framer.check(&plain) {
                tripwire.trip(why);
                break;
            }
            if ours_write.write_all(&plain).await.is_err() {
                break;
            }
        }
    };
    tokio::select! {
        () = up => {}
        () = down => {}
    }
}

/// Reads what is available now, without waiting: None when nothing is.
async fn read_now(
    from: &mut (impl AsyncRead + Unpin),
    buffer: &mut [u8],
) -> Option<std::io::Result<usize>> {
    std::future::poll_fn(|cx| {
        let mut read = tokio::io::ReadBuf::new(buffer);
        match std::pin::Pin::new(&mut *from).poll_read(cx, &mut read) {
            std::task::Poll::Ready(Ok(())) => std::task::Poll::Ready(Some(Ok(read.filled().len()))),
            std::task::Poll::Ready(Err(e)) => std::task::Poll::Ready(Some(Err(e))),
            std::task::Poll::Pending => std::task::Poll::Ready(None),
        }
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: Limits = Limits {
        message_bytes: 300,
        read_bytes: 1000,
    };

    /// A self-signed ECDSA P-384 certificate signed with SHA-384 (openssl req -x509 -sha384),
    /// and its SHA-384 digest as `openssl dgst -sha384` prints it.
    const P384_CERT: &str = "MIIByDCCAU6gAwIBAgIUdUYaQ2AACLTCQ+jurSq/YGNOh9UwCgYIKoZIzj0EAwMwGzEZMBcGA1UEAwwQZGMxLmV4YW1wbGUudGVzdDAeFw0yNjEyMDExMzExMTJaFw0zNjExMjgxMzExMTJaMBsxGTAXBgNVBAMMEGRjMS5leGFtcGxlLnRlc3QwdjAQBgcqhkjOPQIBBgUrgQQAIgNiAAQ0GiSxexFhyu9gOXBZGMvBt59XTESby0/hX40PujtWIr6kxHoohkqN52evMiq4TaiiD4cfW86hcBjw8hclNkNJdpeaWHWa7oNoGmWDCddgnqSopVLecCVJrH8gJYAQrOejUzBRMB0GA1UdDgQWBBTNJlQhu2t6f5NPUBqHeUET2duj7zAfBgNVHSMEGDAWgBTNJlQhu2t6f5NPUBqHeUET2duj7zAPBgNVHRMBAf8EBTADAQH/MAoGCCqGSM49BAMDA2gAMGUCMC0wDCr6b7dKVLzd5OH46cEBUELWoJdFbQEGbSLjQYrtOQcomVaO2jGYmOHFYJ1vbQIxAOa3pAyLQ2IsKUsatc7oSRs2W2h86MQqpCuJNqUTRmLApiQ4ytZYaddI/EomsqSfDg==";
    /// An RSASSA-PSS certificate whose parameters name SHA-384 (openssl req -x509 -sha384
    /// -sigopt rsa_padding_mode:pss), and its SHA-384 digest.
    const PSS_CERT: &str = "MIIDfzCCAjOgAwIBAgIUeir5UlXtHMrGbK3gUd1zUwnTLMgwQQYJKoZIhvcNAQEKMDSgDzANBglghkgBZQMEAgIFAKEcMBoGCSqGSIb3DQEBCDANBglghkgBZQMEAgIFAKIDAgEwMBsxGTAXBgNVBAMMEGRjMS5leGFtcGxlLnRlc3QwHhcNMjYxMjAxMTM1OTMwWhcNMzYxMTI4MTM1OTMwWjAbMRkwFwYDVQQDDBBkYzEuZXhhbXBsZS50ZXN0MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAsiXKf4O4BLIl9dg3CliiXhV+Q0gPg2vazAOhePW/KuAIC2XnciVOOTgjSMW9rIc+Xl0cHqUwQpDlZQTOlnymS7bgjMxk/pcCKhh5ao4MmSMCzwQHSQs3UOHUSYzQyA8SvFIP4xciZrMxqASGRix1Jf9SshvtMlRD03c4c5NalvuPSPdxI0VoQvKjxka8lxHt3WeSoO97QeavmwKO87xhpZ3qMtxkKyVsKnomW7X2BFoQJVmkOqhZ9E/U3q0+G0rwvjVCoD5LVfeD1wXAi4Q2vyUDpDGebgiFHlPpm//8Kab4aejv4aFTX3itovhOP3zxnwQYhsKjswCCXh4KUkY9AwIDAQABo1MwUTAdBgNVHQ4EFgQURFM3wqXt0E1ygnVZPWJSp3UCJbQwHwYDVR0jBBgwFoAURFM3wqXt0E1ygnVZPWJSp3UCJbQwDwYDVR0TAQH/BAUwAwEB/zBBBgkqhkiG9w0BAQowNKAPMA0GCWCGSAFlAwQCAgUAoRwwGgYJKoZIhvcNAQEIMA0GCWCGSAFlAwQCAgUAogMCATADggEBABNtvmwSzdRNlsyNVtHzC4dmdbSRXj1qPmjBFcHJvrKUsyJMIUeilBggNwZahguMrc7iMzMPBHr1vlvo37Nkf/b1AXqun+ErkgYOZVzFNSn+/XzKfz32TcldD9AUQEKETMtRmnI4aEdUsR6cZeYLOD5fXKcCTJJ0IT9xs2sMsUUkpwpx+Cxa2RYOjMPC/jf3kobQX28RtDleuSU11AtbgLB4X6Vy4uhaqKmE+ZeGg4aIAD+6fe4XQ7rqgrdGbj97aq6VppzR7UjFum15luywY33d6jiHtwennWvz2zSf5rIDxhkTPl7pPiOoKd/JHRySeA+qiWnYQm/gugFy37BmOgI=";
    const PSS_CERT_SHA384: &str = "c1851cf44dc18f12e530504049d4fdb1d8be761a631c61a4f698238ff407456bf423b831ac846a5100cc372ae973f8fe";
    const P384_CERT_SHA384: &str = "ee2a86ec6dc6b69f1e732bf3cfcbfa015fc7048ce3f544b174dfdc9c2d4f515ece8afdfafaafb17a3fbf86c51b4d925c";

    #[test]
    fn channel_binding_hashes_with_the_signature_hash() {
        use base64::Engine as _;
        let der = base64::engine::general_purpose::STANDARD
            .decode(P384_CERT)
            .unwrap();
        let binding = tls_server_end_point(&der);
        let (prefix, hash) = binding.split_at(21);
        assert_eq!(prefix, b"tls-server-end-point:");
        let hex: String = hash.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(hex, P384_CERT_SHA384);
        let der = base64::engine::general_purpose::STANDARD
            .decode(PSS_CERT)
            .unwrap();
        let hex: String = tls_server_end_point(&der)[21..]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(hex, PSS_CERT_SHA384);
        // What cannot be parsed gets SHA-256, the hash of the common case (and of MD5 and SHA-1).
        assert_eq!(tls_server_end_point(b"junk").len(), 21 + 32);
    }

    #[test]
    fn endpoints_come_from_urls() {
        assert_eq!(
            Endpoint::parse("ldaps://dc1.example.com", false).unwrap(),
            Endpoint {
                host: "dc1.example.com".into(),
                port: 636,
                security: Security::Tls
            }
        );
        let e = Endpoint::parse("ldap://[::1]:3389", true).unwrap();
        assert_eq!((e.host.as_str(), e.port), ("::1", 3389));
        assert_eq!(e.security, Security::StartTls);
        assert_eq!(
            Endpoint::parse("ldap://127.0.0.1", false).unwrap().security,
            Security::Plain
        );
        assert!(Endpoint::parse("http://x", false).is_err());
    }

    #[test]
    fn messages_are_followed_across_chunks_and_bounded() {
        let mut framer = Framer::new(LIMITS);
        // Two messages of 3 and 200 content bytes, split at awkward places.
        let mut stream = vec![0x30, 0x03, 1, 2, 3, 0x30, 0x81, 200];
        stream.extend([7u8; 200]);
        for piece in stream.chunks(3) {
            framer.check(piece).unwrap();
        }
        assert_eq!((framer.content_left, framer.header.len()), (0, 0));
        // A header announcing more than the limit is refused before its content.
        let err = framer
            .check(&[0x30, 0x84, 0x7f, 0xff, 0xff, 0xff])
            .unwrap_err();
        assert!(err.contains("max_message_bytes = 300"), "{err}");
        // The total is bounded too.
        let mut framer = Framer::new(LIMITS);
        let small = [0x30, 0x02, 0, 0];
        let err = (0..300).find_map(|_| framer.check(&small).err()).unwrap();
        assert!(err.contains("max_read_bytes"), "{err}");
    }

    #[test]
    fn the_starttls_request_is_well_formed_and_answers_are_read() {
        let head = Header::parse(STARTTLS).unwrap().unwrap();
        assert_eq!(head.size as u64 + head.length, STARTTLS.len() as u64);
        // ExtendedResponse, success; then protocolError; then incomplete.
        let ok = [
            0x30, 0x0c, 0x02, 0x01, 0x01, 0x78, 0x07, 0x0a, 0x01, 0x00, 0x04, 0x00, 0x04, 0x00,
        ];
        assert_eq!(starttls_result(&ok).unwrap(), Some(0));
        let mut refused = ok;
        refused[9] = 2;
        assert_eq!(starttls_result(&refused).unwrap(), Some(2));
        assert_eq!(starttls_result(&ok[..6]).unwrap(), None);
        assert!(starttls_result(&[0x30, 0x03, 0x02, 0x01, 0x01]).is_err());
    }
}
