//! Securing the connection before ldap3 sees it: TCP, then StartTLS (rcptsync's own request
//! and the server's answer) and the TLS handshake, verified with the source's rustls
//! configuration; and the channel binding of the TLS session, which a Kerberos bind sends so
//! that AD's strictest channel-binding policy accepts it.

use std::net::IpAddr;
use std::sync::Arc;

use ldap3::tokio;
use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt as _};
use tokio::net::TcpStream;

use super::super::frame::{self, Header, read_message};
use super::endpoint::{Endpoint, Security};

/// Why the connection to a server could not be made or secured; said with the server's
/// name where the admin has something to check there.
#[derive(Debug, thiserror::Error)]
pub(in crate::source::ldap) enum ConnectError {
    /// No TCP connection.
    #[error("cannot connect to {host}:{port}: {cause}")]
    Tcp {
        /// The host, as in the URL.
        host: String,
        /// The port.
        port: u16,
        /// Why.
        cause: std::io::Error,
    },
    /// The StartTLS request could not be sent.
    #[error("StartTLS: {0}")]
    StartTlsSend(std::io::Error),
    /// The answer to StartTLS could not be read.
    #[error(transparent)]
    StartTlsRead(#[from] frame::Error),
    /// The server answered StartTLS with result `code`.
    #[error(
        "the server refused StartTLS: {}; use an ldaps:// URL, or enable TLS on the server",
        super::super::describe_result(u32::from(*code), "")
    )]
    StartTlsRefused {
        /// The result code.
        code: u8,
    },
    /// The answer to StartTLS is not an ExtendedResponse.
    #[error("the server's answer to StartTLS is not an LDAP message")]
    StartTlsAnswer,
    /// The host name in the URL is not one a certificate can be checked against.
    #[error("{host:?} is not a host name TLS can verify: {cause}")]
    Name {
        /// The host, as in the URL.
        host: String,
        /// Why not.
        cause: rustls::pki_types::InvalidDnsNameError,
    },
    /// The TLS handshake failed (a refused certificate is explained with its fix).
    #[error(
        "{}",
        super::super::tls_advice(crate::tls::Refusal::of(.0), format!("TLS handshake failed: {}", .0))
    )]
    Handshake(std::io::Error),
}

/// A connected, secured stream to the server, whatever its kind.
pub(super) trait Wire: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Wire for T {}

/// TCP, then StartTLS and the TLS handshake as the endpoint asks; with TLS, also the channel
/// binding of the session (for a Kerberos bind).
pub(super) async fn establish(
    endpoint: &Endpoint,
    tls: Option<Arc<rustls::ClientConfig>>,
) -> Result<(Box<dyn Wire>, Option<Vec<u8>>), ConnectError> {
    let Endpoint {
        host,
        port,
        security,
    } = endpoint;
    let mut tcp = TcpStream::connect((host.as_str(), *port))
        .await
        .map_err(|cause| ConnectError::Tcp {
            host: host.clone(),
            port: *port,
            cause,
        })?;
    let _ = tcp.set_nodelay(true);
    keepalive(&tcp);
    if *security == Security::Plain {
        return Ok((Box::new(tcp), None));
    }
    // The caller loads the trust anchors for every endpoint that is not plain.
    let tls = tls.ok_or_else(|| {
        ConnectError::Handshake(std::io::Error::other("no TLS settings for this server"))
    })?;
    if *security == Security::StartTls {
        starttls(&mut tcp).await?;
    }
    let name = match host.parse::<IpAddr>() {
        Ok(ip) => ServerName::IpAddress(ip.into()),
        Err(_) => ServerName::try_from(host.clone()).map_err(|cause| ConnectError::Name {
            host: host.clone(),
            cause,
        })?,
    };
    let stream = tokio_rustls::TlsConnector::from(tls)
        .connect(name, tcp)
        .await
        .map_err(ConnectError::Handshake)?;
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
fn tls_server_end_point(der: &[u8]) -> Vec<u8> {
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
async fn starttls(tcp: &mut TcpStream) -> Result<(), ConnectError> {
    tcp.write_all(STARTTLS)
        .await
        .map_err(ConnectError::StartTlsSend)?;
    let answer = read_message(
        tcp,
        "StartTLS",
        "the server closed the connection when asked for StartTLS",
    )
    .await?;
    match starttls_result(&answer)? {
        Some(0) => Ok(()),
        Some(code) => Err(ConnectError::StartTlsRefused { code }),
        None => Err(ConnectError::StartTlsAnswer),
    }
}

/// The result code of a complete ExtendedResponse in `bytes`; None while incomplete.
fn starttls_result(bytes: &[u8]) -> Result<Option<u8>, ConnectError> {
    let bad = || ConnectError::StartTlsAnswer;
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

/// TCP keepalive after a minute of silence, then every 10 s, 6 times: a connection that a
/// firewall or NAT dropped without a word (watch's follow search is quiet for hours) ends in
/// about two minutes, and is made again, instead of waiting for ever. A socket that refuses
/// the options keeps the kernel's defaults.
fn keepalive(tcp: &TcpStream) {
    use rustix::net::sockopt;
    let _ = sockopt::set_socket_keepalive(tcp, true)
        .and_then(|()| sockopt::set_tcp_keepidle(tcp, std::time::Duration::from_secs(60)))
        .and_then(|()| sockopt::set_tcp_keepintvl(tcp, std::time::Duration::from_secs(10)))
        .and_then(|()| sockopt::set_tcp_keepcnt(tcp, 6));
}

#[cfg(test)]
mod tests {
    use super::*;

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
        assert!(matches!(
            starttls_result(&[0x30, 0x03, 0x02, 0x01, 0x01]),
            Err(ConnectError::StartTlsAnswer)
        ));
    }
}
