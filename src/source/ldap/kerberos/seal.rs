//! The Kerberos security layer of a sealed connection (plain `ldap://`, where the DCs that
//! require LDAP signing accept nothing less): what the wire applies to every buffer once the
//! bind negotiated confidentiality.

use libgssapi::context::{ClientCtx, SecurityContext as _};

/// Why a buffer could not be sealed or unsealed: the connection is then cut, and this is
/// the reason the search error gives.
#[derive(Debug, thiserror::Error)]
pub enum SealError {
    /// A request of ldap3's would not seal.
    #[error("cannot seal a request: {0}")]
    Seal(libgssapi::error::Error),
    /// A buffer from the server would not unseal: tampered with, or not from the server the
    /// bind authenticated.
    #[error("the server sent a sealed buffer that does not unseal: {0}")]
    Unseal(libgssapi::error::Error),
}

/// The Kerberos security layer of a connection on plain `ldap://`: each LDAP buffer goes
/// over the wire as a 4-byte length and its sealed (encrypted) token (RFC 4752 3.3).
pub struct Seal {
    ctx: ClientCtx,
    max_send: usize,
}

impl std::fmt::Debug for Seal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Seal")
            .field("max_send", &self.max_send)
            .finish()
    }
}

impl Seal {
    /// The layer of the bind's established context `ctx`, for a server that takes buffers of
    /// up to `max_send` bytes.
    pub(super) fn new(ctx: ClientCtx, max_send: usize) -> Self {
        Self { ctx, max_send }
    }

    /// `plain`, encrypted.
    pub fn wrap(&mut self, plain: &[u8]) -> Result<Vec<u8>, SealError> {
        self.ctx
            .wrap(true, plain)
            .map(|b| b.to_vec())
            .map_err(SealError::Seal)
    }

    /// A sealed token from the server, decrypted and checked.
    pub fn unwrap(&mut self, sealed: &[u8]) -> Result<Vec<u8>, SealError> {
        self.ctx
            .unwrap(sealed)
            .map(|b| b.to_vec())
            .map_err(SealError::Unseal)
    }

    /// The largest plaintext to seal in one buffer: what the server said it takes, less
    /// room for the token's own header and checksum.
    pub fn max_send(&self) -> usize {
        self.max_send.saturating_sub(1024).clamp(1024, 64 * 1024)
    }
}
