//! LDAP message framing, shared by the wire (the relay to ldap3, StartTLS) and the Kerberos
//! bind, so that neither imports the other: a message's BER header, one whole small message
//! read from a stream, and the largest SASL buffer rcptsync takes.

use ldap3::tokio;
use tokio::io::{AsyncRead, AsyncReadExt as _};

/// The largest sealed buffer rcptsync accepts (the most the three bytes of the SASL
/// negotiation can say): the message bounds of the wire apply to what it unseals.
pub const MAX_RECEIVE: u32 = 0x00ff_ffff;

/// Why a message could not be framed: part of the wire's and the Kerberos bind's own errors,
/// whichever was reading.
#[derive(Debug, thiserror::Error)]
pub(super) enum Error {
    /// The first byte is not a SEQUENCE's.
    #[error("the server sent something that is not an LDAP message (tag 0x{0:02x})")]
    NotLdap(u8),
    /// An indefinite or over-long length.
    #[error("the server sent an LDAP message with an invalid length")]
    BadLength,
    /// More than 64 KiB where a small answer was due (`during` names the exchange).
    #[error("the server's answer to {during} is too long")]
    TooLong {
        /// The exchange.
        during: String,
    },
    /// Reading failed.
    #[error("{during}: {cause}")]
    Read {
        /// The exchange.
        during: String,
        /// The failure.
        cause: std::io::Error,
    },
    /// The server closed the connection in the middle (what that means, for this exchange).
    #[error("{0}")]
    Closed(String),
}

/// One LDAP message's BER header: the SEQUENCE tag and its definite length.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Header {
    /// Bytes of the header itself.
    pub size: usize,
    /// Bytes of the content that follows.
    pub length: u64,
}

impl Header {
    /// Reads the header at the start of `bytes`; None while it is incomplete; an error when
    /// it is not an LDAP message's (RFC 4511 5.1: definite lengths only).
    pub fn parse(bytes: &[u8]) -> Result<Option<Self>, Error> {
        let Some(&tag) = bytes.first() else {
            return Ok(None);
        };
        if tag != 0x30 {
            return Err(Error::NotLdap(tag));
        }
        let Some(&first) = bytes.get(1) else {
            return Ok(None);
        };
        if first < 0x80 {
            return Ok(Some(Self {
                size: 2,
                length: u64::from(first),
            }));
        }
        let count = usize::from(first & 0x7f);
        if count == 0 || count > 8 {
            return Err(Error::BadLength);
        }
        let Some(digits) = bytes.get(2..2 + count) else {
            return Ok(None);
        };
        let length = digits.iter().fold(0u64, |n, &b| (n << 8) | u64::from(b));
        Ok(Some(Self {
            size: 2 + count,
            length,
        }))
    }
}

/// One whole LDAP message from `wire`, of at most 64 KiB: the answers rcptsync reads itself
/// (to StartTLS, to a Kerberos bind) are small. `during` names the exchange for the errors;
/// `closed` says what a connection closed in the middle means.
pub(super) async fn read_message(
    wire: &mut (impl AsyncRead + Unpin),
    during: &str,
    closed: &str,
) -> Result<Vec<u8>, Error> {
    let mut message = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(head) = Header::parse(&message)? {
            let len = usize::try_from(head.length)
                .unwrap_or(usize::MAX)
                .saturating_add(head.size);
            if message.len() >= len {
                message.truncate(len);
                return Ok(message);
            }
        }
        if message.len() > 64 * 1024 {
            return Err(Error::TooLong {
                during: during.to_owned(),
            });
        }
        let n = wire.read(&mut chunk).await.map_err(|cause| Error::Read {
            during: during.to_owned(),
            cause,
        })?;
        if n == 0 {
            return Err(Error::Closed(closed.to_owned()));
        }
        message.extend_from_slice(&chunk[..n]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_are_read_in_short_and_long_form() {
        assert_eq!(Header::parse(&[]).unwrap(), None);
        assert_eq!(Header::parse(&[0x30]).unwrap(), None);
        assert_eq!(
            Header::parse(&[0x30, 0x05]).unwrap(),
            Some(Header { size: 2, length: 5 })
        );
        assert_eq!(Header::parse(&[0x30, 0x82, 0x01]).unwrap(), None);
        assert_eq!(
            Header::parse(&[0x30, 0x82, 0x01, 0x00]).unwrap(),
            Some(Header {
                size: 4,
                length: 256
            })
        );
        assert!(matches!(
            Header::parse(&[0x04, 0x01]),
            Err(Error::NotLdap(0x04))
        ));
        assert!(matches!(
            Header::parse(&[0x30, 0x80]),
            Err(Error::BadLength)
        ));
        assert!(matches!(
            Header::parse(&[0x30, 0x89]),
            Err(Error::BadLength)
        ));
    }
}
