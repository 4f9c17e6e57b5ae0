//! The SASL GSSAPI bind (RFC 4752) on rcptsync's own wire, before ldap3 sees the connection:
//! the context exchange (mutual authentication, with the TLS channel binding when there is
//! TLS), then the security-layer negotiation, whose outcome says whether the wire must seal.

use ldap3::tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt as _};
use libgssapi::context::{ClientCtx, CtxFlags, SecurityContext as _};
use libgssapi::name::Name;
use libgssapi::oid::GSS_NT_KRB5_PRINCIPAL;

use super::super::frame::{self, MAX_RECEIVE};
use super::credential::Login;
use super::failure::explain;
use super::seal::Seal;

/// RFC 4752 security layers.
const LAYER_NONE: u8 = 1;
const LAYER_CONFIDENTIALITY: u8 = 4;

/// The most BindRequests one bind may take: a Kerberos exchange takes two or three.
const MAX_ROUNDS: u8 = 8;

impl Login {
    /// The SASL GSSAPI bind on `wire` to `host` (the service principal is `ldap/host`):
    /// with the channel `binding` (tls-server-end-point) on TLS, and no security layer;
    /// without TLS (`binding` None) with Kerberos confidentiality, whose [`Seal`] the
    /// wire must then apply to everything. The error is a sentence for the admin.
    pub async fn bind<W: AsyncRead + AsyncWrite + Unpin>(
        &self,
        wire: &mut W,
        host: &str,
        binding: Option<&[u8]>,
    ) -> Result<Option<Seal>, String> {
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
    fn context(&self, host: &str, sealed: bool) -> Result<ClientCtx, String> {
        // The service principal exactly as named, in the login's realm: a host-based name
        // would let krb5 rewrite the host through DNS (forward and reverse, both
        // unauthenticated), and then any account with some ldap/ SPN could pass mutual
        // authentication for the DC, the only authentication of a plain ldap:// server.
        let realm = self
            .principal
            .rsplit_once('@')
            .map_or("", |(_, realm)| realm);
        let service = format!("ldap/{host}@{realm}");
        let target = Name::new(service.as_bytes(), Some(GSS_NT_KRB5_PRINCIPAL))
            .map_err(|e| format!("cannot name the service {service}: {e}"))?;
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
    ) -> Result<(Vec<u8>, u8), String> {
        let mut token = ctx
            .step(None, binding)
            .map_err(|e| explain(&self.principal, &self.keytab, host, &e))?;
        let mut id = 0u8;
        loop {
            id += 1;
            if id > MAX_ROUNDS {
                return Err("the Kerberos bind does not end (more than 8 rounds)".into());
            }
            let sent = token.take();
            let server = match exchange(wire, id, sent.as_deref()).await? {
                Answer::InProgress(server) => server,
                Answer::Done(rc, text) => return Err(self.refused(rc, &text)),
            };
            if ctx.is_complete() {
                return Ok((server, id));
            }
            token = ctx
                .step(Some(&server), binding)
                .map_err(|e| explain(&self.principal, &self.keytab, host, &e))?;
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
    ) -> Result<(), String> {
        let receive = if choice == LAYER_CONFIDENTIALITY {
            MAX_RECEIVE
        } else {
            0
        }
        .to_be_bytes();
        let reply = ctx
            .wrap(false, &[choice, receive[1], receive[2], receive[3]])
            .map_err(|e| format!("cannot answer the server's security-layer offer: {e}"))?;
        match exchange(wire, id, Some(&reply)).await? {
            Answer::Done(0, _) => Ok(()),
            Answer::Done(rc, text) => Err(self.refused(rc, &text)),
            Answer::InProgress(_) => Err("the server did not end the Kerberos bind".into()),
        }
    }

    /// A bind the server refused with result `rc`.
    fn refused(&self, rc: u32, text: &str) -> String {
        if rc == 0 {
            return "the server ended the Kerberos bind before negotiating its security layer"
                .into();
        }
        let refusal = format!(
            "the server refused the Kerberos bind as {}: {}",
            self.principal,
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
}

/// Reads the server's security-layer `offer` and picks the layer: confidentiality when
/// `sealed` (plain `ldap://`), none under TLS. Returns the choice and the largest buffer the
/// server takes (0: it did not say).
fn choose_layer(ctx: &mut ClientCtx, offer: &[u8], sealed: bool) -> Result<(u8, u32), String> {
    let offer = ctx
        .unwrap(offer)
        .map_err(|e| format!("cannot read the server's Kerberos security-layer offer: {e}"))?;
    let [layers, size0, size1, size2] = offer[..] else {
        return Err("the server's Kerberos security-layer offer is malformed".into());
    };
    let choice = if sealed {
        if layers & LAYER_CONFIDENTIALITY == 0 {
            return Err(
                "the server offers no Kerberos confidentiality on ldap://; use an ldaps:// URL or starttls = true".into(),
            );
        }
        LAYER_CONFIDENTIALITY
    } else {
        if layers & LAYER_NONE == 0 {
            return Err("the server insists on a Kerberos security layer under TLS".into());
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
) -> Result<Answer, String> {
    let request = crate::source::ber::bind_request(id, credentials);
    wire.write_all(&request)
        .await
        .map_err(|e| format!("Kerberos bind: {e}"))?;
    let response = frame::read_message(
        wire,
        "the Kerberos bind",
        "the server closed the connection during the Kerberos bind",
    )
    .await?;
    let (rc, text, token) = crate::source::ber::bind_response(&response, id)
        .ok_or("the server's answer to the Kerberos bind is not the BindResponse to it")?;
    match (rc, token) {
        (14, Some(token)) => Ok(Answer::InProgress(token.to_vec())),
        (14, None) => Ok(Answer::InProgress(Vec::new())),
        (rc, _) => Ok(Answer::Done(rc, String::from_utf8_lossy(text).into_owned())),
    }
}
