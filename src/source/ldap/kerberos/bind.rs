//! The SASL GSSAPI bind (RFC 4752) on rcptsync's own wire, before ldap3 sees the connection:
//! the context exchange (mutual authentication, with the TLS channel binding when there is
//! TLS), then the security-layer negotiation, whose outcome says whether the wire must seal.

use ldap3::tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt as _};
use libgssapi::context::{ClientCtx, CtxFlags, SecurityContext as _};
use libgssapi::name::Name;
use libgssapi::oid::GSS_NT_KRB5_PRINCIPAL;

use super::super::frame::{self, MAX_RECEIVE};
use super::credential::Login;
use super::failure::Failure;
use super::seal::Seal;

/// RFC 4752 security layers.
const LAYER_NONE: u8 = 1;
const LAYER_CONFIDENTIALITY: u8 = 4;

/// The most BindRequests one bind may take: a Kerberos exchange takes two or three.
const MAX_ROUNDS: u8 = 8;

/// Why a Kerberos bind failed: a sentence for the admin, with the fix where there is one
/// (the connection is then given up, and the next server tried).
#[derive(Debug, thiserror::Error)]
pub(in crate::source::ldap) enum BindError {
    /// GSSAPI refused a step of the context exchange (the service ticket, the server's
    /// mutual authentication).
    #[error(transparent)]
    Gss(#[from] Failure),
    /// The service principal's name is not one GSSAPI takes.
    #[error("cannot name the service {service}: {cause}")]
    ServiceName {
        /// `ldap/host@REALM`.
        service: String,
        /// GSSAPI's reason.
        cause: libgssapi::error::Error,
    },
    /// The server kept asking for more rounds.
    #[error("the Kerberos bind does not end (more than {MAX_ROUNDS} rounds)")]
    Endless,
    /// A BindRequest could not be sent.
    #[error("Kerberos bind: {0}")]
    Send(std::io::Error),
    /// The server's answer was not an LDAP message rcptsync could read.
    #[error(transparent)]
    Frame(#[from] frame::Error),
    /// The server answered with something else than the BindResponse to the request.
    #[error("the server's answer to the Kerberos bind is not the BindResponse to it")]
    NotBindResponse,
    /// The server said success before the security layer was negotiated.
    #[error("the server ended the Kerberos bind before negotiating its security layer")]
    EndedEarly,
    /// The server refused the bind of `principal` with result `rc` and its `text`.
    #[error("{}", refusal(principal, *rc, text))]
    Refused {
        /// The principal bound as.
        principal: String,
        /// The LDAP result code.
        rc: u32,
        /// The server's diagnostic text.
        text: String,
    },
    /// The server's security-layer offer does not unwrap.
    #[error("cannot read the server's Kerberos security-layer offer: {0}")]
    Offer(libgssapi::error::Error),
    /// The offer is not the 4 bytes RFC 4752 says.
    #[error("the server's Kerberos security-layer offer is malformed")]
    MalformedOffer,
    /// On plain `ldap://` the server does not offer to seal.
    #[error(
        "the server offers no Kerberos confidentiality on ldap://; use an ldaps:// URL or starttls = true"
    )]
    NoConfidentiality,
    /// Under TLS the server does not offer to go without a layer.
    #[error("the server insists on a Kerberos security layer under TLS")]
    LayerUnderTls,
    /// The answer to the offer does not wrap.
    #[error("cannot answer the server's security-layer offer: {0}")]
    Answer(libgssapi::error::Error),
    /// The server asked for more after the answer to its offer.
    #[error("the server did not end the Kerberos bind")]
    NotEnded,
}

impl Login {
    /// The SASL GSSAPI bind on `wire` to `host` (the service principal is `ldap/host`):
    /// with the channel `binding` (tls-server-end-point) on TLS, and no security layer;
    /// without TLS (`binding` None) with Kerberos confidentiality, whose [`Seal`] the
    /// wire must then apply to everything. The error is a sentence for the admin.
    pub(in crate::source::ldap) async fn bind<W: AsyncRead + AsyncWrite + Unpin>(
        &self,
        wire: &mut W,
        host: &str,
        binding: Option<&[u8]>,
    ) -> Result<Option<Seal>, BindError> {
        let sealed = binding.is_none();
        let mut ctx = self.context(host, sealed)?;
        let (offer, id) = self.authenticate(&mut ctx, wire, host, binding).await?;
        let (choice, max_send) = choose_layer(&mut ctx, &offer, sealed)?;
        self.answer(&mut ctx, wire, id + 1, choice).await?;
        if !sealed {
            return Ok(None);
        }
        Ok(Some(Seal::new(
            ctx,
            if max_send == 0 { MAX_RECEIVE } else { max_send } as usize,
        )))
    }

    /// The security context for `ldap/host`, asking for confidentiality when `sealed`.
    fn context(&self, host: &str, sealed: bool) -> Result<ClientCtx, BindError> {
        // The service principal exactly as named, in the login's realm: a host-based name
        // would let krb5 rewrite the host through DNS (forward and reverse, both
        // unauthenticated), and then any account with some ldap/ SPN could pass mutual
        // authentication for the DC, the only authentication of a plain ldap:// server.
        let realm = self
            .principal
            .rsplit_once('@')
            .map_or("", |(_, realm)| realm);
        let service = format!("ldap/{host}@{realm}");
        let target =
            Name::new(service.as_bytes(), Some(GSS_NT_KRB5_PRINCIPAL)).map_err(|cause| {
                BindError::ServiceName {
                    service: service.clone(),
                    cause,
                }
            })?;
        let mut flags = CtxFlags::GSS_C_MUTUAL_FLAG;
        if sealed {
            flags |= CtxFlags::GSS_C_INTEG_FLAG
                | CtxFlags::GSS_C_CONF_FLAG
                | CtxFlags::GSS_C_SEQUENCE_FLAG
                | CtxFlags::GSS_C_REPLAY_FLAG;
        }
        Ok(ClientCtx::new(Some(self.cred.clone()), target, flags, None))
    }

    /// The context exchange: the AP-REQ, the server's AP-REP (mutual authentication), then
    /// an empty response, answered by the server's security-layer offer. Returns the offer
    /// (still wrapped) and the message ID of the last request.
    async fn authenticate<W: AsyncRead + AsyncWrite + Unpin>(
        &self,
        ctx: &mut ClientCtx,
        wire: &mut W,
        host: &str,
        binding: Option<&[u8]>,
    ) -> Result<(Vec<u8>, u8), BindError> {
        let mut token = ctx
            .step(None, binding)
            .map_err(|e| Failure::new(&self.principal, &self.keytab, host, e))?;
        let mut id = 0u8;
        loop {
            id += 1;
            if id > MAX_ROUNDS {
                return Err(BindError::Endless);
            }
            let sent = token.take();
            let server = match exchange(wire, id, sent.as_deref()).await? {
                Answer::InProgress(server) => server,
                Answer::Done(rc, text) => return Err(self.refused(rc, text)),
            };
            if ctx.is_complete() {
                return Ok((server, id));
            }
            token = ctx
                .step(Some(&server), binding)
                .map_err(|e| Failure::new(&self.principal, &self.keytab, host, e))?;
        }
    }

    /// Tells the server the layer `choice` (with the largest buffer rcptsync takes, when
    /// sealed) in request `id`, which must end the bind with success.
    async fn answer<W: AsyncRead + AsyncWrite + Unpin>(
        &self,
        ctx: &mut ClientCtx,
        wire: &mut W,
        id: u8,
        choice: u8,
    ) -> Result<(), BindError> {
        let receive = if choice == LAYER_CONFIDENTIALITY {
            MAX_RECEIVE
        } else {
            0
        }
        .to_be_bytes();
        let reply = ctx
            .wrap(false, &[choice, receive[1], receive[2], receive[3]])
            .map_err(BindError::Answer)?;
        match exchange(wire, id, Some(&reply)).await? {
            Answer::Done(0, _) => Ok(()),
            Answer::Done(rc, text) => Err(self.refused(rc, text)),
            Answer::InProgress(_) => Err(BindError::NotEnded),
        }
    }

    /// A bind the server ended with result `rc` and `text` before it was complete.
    fn refused(&self, rc: u32, text: String) -> BindError {
        if rc == 0 {
            return BindError::EndedEarly;
        }
        BindError::Refused {
            principal: self.principal.clone(),
            rc,
            text,
        }
    }
}

/// Reads the server's security-layer `offer` and picks the layer: confidentiality when
/// `sealed` (plain `ldap://`), none under TLS. Returns the choice and the largest buffer the
/// server takes (0: it did not say).
fn choose_layer(ctx: &mut ClientCtx, offer: &[u8], sealed: bool) -> Result<(u8, u32), BindError> {
    let offer = ctx.unwrap(offer).map_err(BindError::Offer)?;
    let [layers, size0, size1, size2] = offer[..] else {
        return Err(BindError::MalformedOffer);
    };
    let choice = if sealed {
        if layers & LAYER_CONFIDENTIALITY == 0 {
            return Err(BindError::NoConfidentiality);
        }
        LAYER_CONFIDENTIALITY
    } else {
        if layers & LAYER_NONE == 0 {
            return Err(BindError::LayerUnderTls);
        }
        LAYER_NONE
    };
    Ok((choice, u32::from_be_bytes([0, size0, size1, size2])))
}

/// The server's answer to one SASL bind request.
enum Answer {
    /// saslBindInProgress (14) with the server's token.
    InProgress(Vec<u8>),
    /// Any other result code, and the server's text.
    Done(u32, String),
}

/// Sends BindRequest `id` (SASL GSSAPI with `credentials`) and reads its BindResponse.
async fn exchange<W: AsyncRead + AsyncWrite + Unpin>(
    wire: &mut W,
    id: u8,
    credentials: Option<&[u8]>,
) -> Result<Answer, BindError> {
    let request = crate::source::ber::bind_request(id, credentials);
    wire.write_all(&request).await.map_err(BindError::Send)?;
    let response = frame::read_message(
        wire,
        "the Kerberos bind",
        "the server closed the connection during the Kerberos bind",
    )
    .await?;
    let (rc, text, token) =
        crate::source::ber::bind_response(&response, id).ok_or(BindError::NotBindResponse)?;
    match (rc, token) {
        (14, Some(token)) => Ok(Answer::InProgress(token.to_vec())),
        (14, None) => Ok(Answer::InProgress(Vec::new())),
        (rc, _) => Ok(Answer::Done(rc, String::from_utf8_lossy(text).into_owned())),
    }
}

/// The sentence for a bind refused with result `rc` (never 0: see [`BindError::EndedEarly`])
/// and the server's `text`, with the fix for the Samba that takes Kerberos only sealed.
fn refusal(principal: &str, rc: u32, text: &str) -> String {
    let refusal = format!(
        "the server refused the Kerberos bind as {principal}: {}",
        super::super::describe_result(rc, text)
    );
    if rc == 8 && text.contains("Sign or Seal are required") {
        // Samba before 4.20, "ldap server require strong auth = yes": under TLS it
        // refuses a bind without a security layer and one with it alike.
        format!(
            "{refusal}; this Samba DC takes Kerberos only on plain ldap:// (sealed), so use an \
             ldap:// URL without starttls, or set `ldap server require strong auth = \
             allow_sasl_over_tls` in its smb.conf (Samba 4.20 and later accept it under TLS)"
        )
    } else {
        refusal
    }
}
