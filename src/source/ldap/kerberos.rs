//! Kerberos (SASL GSSAPI, RFC 4752) binds from a keytab: for sites that hand service accounts
//! keytabs instead of passwords, and for DCs that require LDAP signing or channel binding.
//!
//! rcptsync gets its own credentials: the keytab is opened and checked like the bind password
//! ([`super::secret`]: a regular file, owned by the user or root, not group/other accessible),
//! the principal is looked up in it, and MIT krb5's GSSAPI is given that open file
//! (`/proc/self/fd/N`, so what was checked is what is used) as the client keytab and a
//! private in-memory credential cache: no kinit, no shared cache, no cron wrapper. Realm and
//! KDC come from `/etc/krb5.conf` or `KRB5_CONFIG`, as for every Kerberos program.
//!
//! The bind happens on rcptsync's own wire (`wire.rs`), before ldap3 is handed the
//! connection: on TLS (`ldaps://`, StartTLS) it sends the tls-server-end-point channel
//! binding token (RFC 5929), which AD's strictest channel-binding policy requires, and no
//! security layer (AD and Samba refuse sign or seal under TLS); on plain `ldap://` it
//! negotiates Kerberos confidentiality, and the wire then seals and unseals every message
//! ([`Seal`]), which DCs that require LDAP signing accept. Each failure is explained with its
//! fix (unknown principal, clock skew, unreachable KDC, no service principal for the name).
//!
//! Without the `kerberos` cargo feature (it needs libkrb5-dev and clang to build; the Debian
//! package has it) the config check refuses `keytab`, and the types here are empty.

use std::path::PathBuf;

/// `keytab` and `principal` of a `[[source]]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Keytab {
    /// The keytab file (from `ktpass`, `samba-tool domain exportkeytab`, `msktutil`).
    pub path: PathBuf,
    /// The principal to authenticate as, `svc-rcptsync@EXAMPLE.COM`.
    pub principal: String,
}

/// Why no Kerberos credential could be had from the keytab; the admin's to fix (exit 2).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The file failed the checks of a secret (or could not be read).
    #[error(transparent)]
    File(#[from] crate::secret::Error),
    /// Not a keytab this rcptsync can read.
    #[error(
        "{} is not a keytab: {reason}; export one with `ktpass`, `samba-tool domain exportkeytab` or `msktutil`",
        path.display()
    )]
    Format {
        /// The keytab.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The principal has no key in the keytab.
    #[error("{} has no key for {principal} (it has: {}); set principal to one of those, or export a keytab for {principal}", path.display(), if .found.is_empty() { "no keys".to_owned() } else { .found.join(", ") })]
    NoSuchPrincipal {
        /// The keytab.
        path: PathBuf,
        /// The principal asked for.
        principal: String,
        /// The principals it has keys for.
        found: Vec<String>,
    },
    /// This build has no Kerberos.
    #[error(
        "this rcptsync was built without Kerberos support; install the Debian package, or build with `cargo build --release --features kerberos`"
    )]
    NotBuilt,
}

/// The principals a keytab has keys for, in file order, once each (the MIT/Heimdal format,
/// version 0x0502, that every current tool writes).
pub fn principals(bytes: &[u8]) -> Result<Vec<String>, String> {
    match bytes {
        [0x05, 0x02, ..] => {}
        [0x05, 0x01, ..] => {
            return Err(
                "version 0x0501 (native byte order) is not supported; export it again".into(),
            );
        }
        _ => return Err("it does not start with a keytab version (0x0502)".into()),
    }
    let mut rest = &bytes[2..];
    let mut found: Vec<String> = Vec::new();
    while rest.len() >= 4 {
        let size = i32::from_be_bytes([rest[0], rest[1], rest[2], rest[3]]);
        rest = &rest[4..];
        let len = usize::try_from(size.unsigned_abs()).map_err(|_| "entry too long")?;
        if size == 0 {
            break;
        }
        let entry = rest
            .get(..len)
            .ok_or("an entry runs past the end of the file")?;
        rest = &rest[len..];
        if size < 0 {
            // A hole left by a deleted entry.
            continue;
        }
        let principal = entry_principal(entry).ok_or("an entry is malformed")?;
        if !found.contains(&principal) {
            found.push(principal);
        }
    }
    Ok(found)
}

/// `component/component@REALM` of one keytab entry.
fn entry_principal(entry: &[u8]) -> Option<String> {
    let mut at = 0usize;
    let u16_at = |at: &mut usize| -> Option<usize> {
        let b = entry.get(*at..*at + 2)?;
        *at += 2;
        Some(usize::from(u16::from_be_bytes([b[0], b[1]])))
    };
    let components = u16_at(&mut at)?;
    let counted = |at: &mut usize| -> Option<String> {
        let len = u16_at(at)?;
        let text = entry.get(*at..*at + len)?;
        *at += len;
        String::from_utf8(text.to_vec()).ok()
    };
    let realm = counted(&mut at)?;
    let mut names = Vec::with_capacity(components);
    for _ in 0..components {
        names.push(counted(&mut at)?);
    }
    Some(format!("{}@{realm}", names.join("/")))
}

#[cfg(feature = "kerberos")]
pub use enabled::{Credential, Login, Seal};

#[cfg(not(feature = "kerberos"))]
pub use disabled::{Credential, Login, Seal};

#[cfg(not(feature = "kerberos"))]
mod disabled {
    use super::{Error, Keytab};

    /// A Kerberos credential; none can exist in this build.
    #[derive(Debug)]
    pub enum Credential {}

    impl Credential {
        /// Always refused: this build has no Kerberos.
        pub fn open(_keytab: &Keytab) -> Result<Self, Error> {
            Err(Error::NotBuilt)
        }

        /// Never called: no credential exists.
        pub fn login(&self) -> Result<Login, String> {
            match *self {}
        }
    }

    /// A Kerberos login; none can exist in this build.
    #[derive(Debug)]
    pub enum Login {}

    impl Login {
        /// Never called: no login exists.
        pub async fn bind<W>(
            &self,
            _wire: &mut W,
            _host: &str,
            _binding: Option<&[u8]>,
        ) -> Result<Option<Seal>, String> {
            match *self {}
        }
    }

    /// The sealing of a connection; none can exist in this build.
    #[derive(Debug)]
    pub enum Seal {}

    impl Seal {
        /// Never called.
        pub fn wrap(&mut self, _plain: &[u8]) -> Result<Vec<u8>, String> {
            match *self {}
        }

        /// Never called.
        pub fn unwrap(&mut self, _sealed: &[u8]) -> Result<Vec<u8>, String> {
            match *self {}
        }

        /// Never called.
        pub fn max_send(&self) -> usize {
            match *self {}
        }
    }
}

#[cfg(feature = "kerberos")]
mod enabled {
    use std::io::Read as _;
    use std::os::fd::AsRawFd as _;

    use ldap3::tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt as _};
    use libgssapi::context::{ClientCtx, CtxFlags, SecurityContext as _};
    use libgssapi::credential::Cred;
    use libgssapi::name::Name;
    use libgssapi::oid::GSS_NT_KRB5_PRINCIPAL;

    use super::super::frame::MAX_RECEIVE;
    use super::{Error, Keytab, principals};

    /// A keytab is small (a few keys per principal); anything larger is not one.
    const MAX_KEYTAB_BYTES: u64 = 1024 * 1024;

    /// The checked keytab, kept open for as long as the credential lives: GSSAPI reads it
    /// through this process's handle, so what was checked is what is used.
    pub struct Credential {
        principal: String,
        keytab: std::path::PathBuf,
        file: fs_err::File,
    }

    impl std::fmt::Debug for Credential {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.debug_struct("Credential")
                .field("principal", &self.principal)
                .finish()
        }
    }

    impl Credential {
        /// Opens and checks the keytab and finds the principal in it; nothing is asked of
        /// the KDC yet ([`Credential::login`]).
        pub fn open(keytab: &Keytab) -> Result<Self, Error> {
            let path = &keytab.path;
            let file = crate::secret::open_private(path, "keytab")?;
            let mut bytes = Vec::new();
            (&file)
                .take(MAX_KEYTAB_BYTES + 1)
                .read_to_end(&mut bytes)
                .map_err(|e| Error::File(e.into()))?;
            if bytes.len() as u64 > MAX_KEYTAB_BYTES {
                return Err(Error::Format {
                    path: path.clone(),
                    reason: format!("it is larger than {MAX_KEYTAB_BYTES} bytes"),
                });
            }
            let found = principals(&bytes).map_err(|reason| Error::Format {
                path: path.clone(),
                reason,
            })?;
            if !found.contains(&keytab.principal) {
                return Err(Error::NoSuchPrincipal {
                    path: path.clone(),
                    principal: keytab.principal.clone(),
                    found,
                });
            }
            Ok(Self {
                principal: keytab.principal.clone(),
                keytab: path.clone(),
                file,
            })
        }

        /// Logs in with the keytab's key (the AS exchange with the KDC) into a private
        /// in-memory credential cache; the error is a sentence for the admin.
        pub fn login(&self) -> Result<Login, String> {
            let store = [
                (
                    "client_keytab".to_owned(),
                    format!("FILE:/proc/self/fd/{}", self.file.as_raw_fd()),
                ),
                // Private to this process, gone when it exits: nothing on disk to steal. One
                // per login: MIT keeps one principal per cache, and sources may differ.
                (
                    "ccache".to_owned(),
                    format!("MEMORY:rcptsync-{}", next_cache()),
                ),
            ];
            let cred = ffi::acquire(&self.principal, &store)
                .map_err(|e| explain(&self.principal, &self.keytab, "", &e))?;
            Ok(Login {
                cred,
                principal: self.principal.clone(),
                keytab: self.keytab.clone(),
            })
        }
    }

    /// The credential of a logged-in principal, ready to bind.
    pub struct Login {
        cred: Cred,
        principal: String,
        keytab: std::path::PathBuf,
    }

    impl std::fmt::Debug for Login {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.debug_struct("Login")
                .field("principal", &self.principal)
                .finish()
        }
    }

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
            let mut ctx = ClientCtx::new(Some(self.cred.clone()), target, flags, None);
            // The context exchange: the AP-REQ, the server's AP-REP (mutual authentication),
            // then an empty response, answered by the server's security-layer offer.
            let mut token = ctx
                .step(None, binding)
                .map_err(|e| explain(&self.principal, &self.keytab, host, &e))?;
            let mut id = 0u8;
            let offer = loop {
                id += 1;
                if id > 8 {
                    return Err("the Kerberos bind does not end (more than 8 rounds)".into());
                }
                let sent = token.take();
                let answer = exchange(wire, id, sent.as_deref()).await?;
                let server = match answer {
                    Answer::InProgress(server) => server,
                    Answer::Done(rc, text) => return Err(self.refused(rc, &text)),
                };
                if ctx.is_complete() {
                    break server;
                }
                token = ctx
                    .step(Some(&server), binding)
                    .map_err(|e| explain(&self.principal, &self.keytab, host, &e))?;
            };
            let offer = ctx.unwrap(&offer).map_err(|e| {
                format!("cannot read the server's Kerberos security-layer offer: {e}")
            })?;
            let [layers, size0, size1, size2] = offer[..] else {
                return Err("the server's Kerberos security-layer offer is malformed".into());
            };
            let (choice, receive) = if sealed {
                if layers & LAYER_CONFIDENTIALITY == 0 {
                    return Err(
                        "the server offers no Kerberos confidentiality on ldap://; use an ldaps:// URL or starttls = true".into(),
                    );
                }
                (LAYER_CONFIDENTIALITY, MAX_RECEIVE)
            } else {
                if layers & LAYER_NONE == 0 {
                    return Err("the server insists on a Kerberos security layer under TLS".into());
                }
                (LAYER_NONE, 0)
            };
            let receive = receive.to_be_bytes();
            let reply = ctx
                .wrap(false, &[choice, receive[1], receive[2], receive[3]])
                .map_err(|e| format!("cannot answer the server's security-layer offer: {e}"))?;
            id += 1;
            match exchange(wire, id, Some(&reply)).await? {
                Answer::Done(0, _) => {}
                Answer::Done(rc, text) => return Err(self.refused(rc, &text)),
                Answer::InProgress(_) => {
                    return Err("the server did not end the Kerberos bind".into());
                }
            }
            if !sealed {
                return Ok(None);
            }
            let max_send = u32::from_be_bytes([0, size0, size1, size2]);
            Ok(Some(Seal {
                ctx,
                max_send: if max_send == 0 { MAX_RECEIVE } else { max_send } as usize,
            }))
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

    /// A GSSAPI failure of `principal` (logging in, or binding to `host`), with the fix for
    /// the ones admins meet.
    fn explain(
        principal: &str,
        keytab: &std::path::Path,
        host: &str,
        error: &libgssapi::error::Error,
    ) -> String {
        let keytab = keytab.display();
        let advice = match error.minor as i32 {
            KRB5KRB_AP_ERR_SKEW => {
                "this machine's clock and the KDC's differ by more than Kerberos \
                allows (5 minutes by default); synchronise the clock (chrony or systemd-timesyncd \
                against the DCs)"
                    .to_owned()
            }
            KRB5_KDC_UNREACH => format!(
                "no KDC of {principal}'s realm answered; check the realm's kdc lines in /etc/krb5.conf \
                 (or KRB5_CONFIG), DNS SRV _kerberos._udp, and that port 88 is open"
            ),
            KRB5_REALM_UNKNOWN | KRB5_REALM_CANT_RESOLVE => format!(
                "the realm of {principal} is not known; add it with its KDCs under [realms] in \
                 /etc/krb5.conf (or KRB5_CONFIG), or enable dns_lookup_kdc"
            ),
            KRB5KDC_ERR_S_PRINCIPAL_UNKNOWN => format!(
                "the KDC knows no service principal ldap/{host} in the realm of {principal}; use the DC's \
                 own DNS name in the URL (the name its SPN ldap/... is registered for, see `setspn -L DC`), \
                 not an IP address or an alias: the name is used as written"
            ),
            KRB5KDC_ERR_C_PRINCIPAL_UNKNOWN => format!(
                "the KDC does not know {principal}; check the principal's spelling and realm (the realm is \
                 in capitals)"
            ),
            KRB5KDC_ERR_PREAUTH_FAILED | KRB5KRB_AP_ERR_BAD_INTEGRITY | KRB5_KT_KVNONOTFOUND => {
                format!(
                    "the KDC refused the key in {keytab}: the account's password (and so its keys) changed \
                 since the keytab was exported; export a new keytab"
                )
            }
            KRB5KDC_ERR_CLIENT_REVOKED => format!(
                "the KDC refuses {principal}: the account is disabled, locked out or expired"
            ),
            KRB5KDC_ERR_KEY_EXP => format!(
                "the password of {principal} has expired; set a new one and export a new keytab"
            ),
            KRB5KDC_ERR_ETYPE_NOSUPP => format!(
                "the KDC and {keytab} have no encryption type in common; export the keytab with AES keys"
            ),
            _ => String::new(),
        };
        if advice.is_empty() {
            format!("Kerberos login or bind as {principal} failed: {error}")
        } else {
            format!("Kerberos login or bind as {principal} failed: {advice} [{error}]")
        }
    }

    /// A number for each login's private credential cache.
    fn next_cache() -> usize {
        static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    }

    /// RFC 4752 security layers.
    const LAYER_NONE: u8 = 1;
    const LAYER_CONFIDENTIALITY: u8 = 4;

    // krb5 error codes (com_err table of krb5.h) as GSSAPI's minor status.
    const KRB5KDC_ERR_C_PRINCIPAL_UNKNOWN: i32 = -1_765_328_378;
    const KRB5KDC_ERR_S_PRINCIPAL_UNKNOWN: i32 = -1_765_328_377;
    const KRB5KDC_ERR_ETYPE_NOSUPP: i32 = -1_765_328_370;
    const KRB5KDC_ERR_CLIENT_REVOKED: i32 = -1_765_328_366;
    const KRB5KDC_ERR_KEY_EXP: i32 = -1_765_328_361;
    const KRB5KDC_ERR_PREAUTH_FAILED: i32 = -1_765_328_360;
    const KRB5KRB_AP_ERR_BAD_INTEGRITY: i32 = -1_765_328_353;
    const KRB5KRB_AP_ERR_SKEW: i32 = -1_765_328_347;
    const KRB5_REALM_UNKNOWN: i32 = -1_765_328_230;
    const KRB5_KDC_UNREACH: i32 = -1_765_328_228;
    const KRB5_REALM_CANT_RESOLVE: i32 = -1_765_328_164;
    const KRB5_KT_KVNONOTFOUND: i32 = -1_765_328_154;

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
        /// `plain`, encrypted.
        pub fn wrap(&mut self, plain: &[u8]) -> Result<Vec<u8>, String> {
            self.ctx
                .wrap(true, plain)
                .map(|b| b.to_vec())
                .map_err(|e| format!("cannot seal a request: {e}"))
        }

        /// A sealed token from the server, decrypted and checked.
        pub fn unwrap(&mut self, sealed: &[u8]) -> Result<Vec<u8>, String> {
            self.ctx
                .unwrap(sealed)
                .map(|b| b.to_vec())
                .map_err(|e| format!("the server sent a sealed buffer that does not unseal: {e}"))
        }

        /// The largest plaintext to seal in one buffer: what the server said it takes, less
        /// room for the token's own header and checksum.
        pub fn max_send(&self) -> usize {
            self.max_send.saturating_sub(1024).clamp(1024, 64 * 1024)
        }
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
        let response = super::super::frame::read_message(
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

    /// The one call libgssapi does not wrap: `gss_acquire_cred_from` (MIT's credential store
    /// extension), which takes the client keytab and the cache to use.
    mod ffi {
        #![allow(unsafe_code)]

        use std::ffi::CString;
        use std::ptr;

        use libgssapi::credential::Cred;
        use libgssapi::error::{Error, MajorFlags};
        use libgssapi_sys as sys;

        /// RFC 1964's krb5 principal name type, 1.2.840.113554.1.2.2.1.
        const KRB5_PRINCIPAL_NAME: &[u8] = b"\x2a\x86\x48\x86\xf7\x12\x01\x02\x02\x01";

        /// An initiator credential for `principal` from the credential `store` (key, value).
        pub fn acquire(principal: &str, store: &[(String, String)]) -> Result<Cred, Error> {
            let fail = |major: u32, minor: u32| Error {
                major: MajorFlags::from_bits_retain(major),
                minor,
            };
            let strings: Vec<(CString, CString)> = store
                .iter()
                .map(|(k, v)| Ok((CString::new(k.as_str())?, CString::new(v.as_str())?)))
                .collect::<Result<_, std::ffi::NulError>>()
                .map_err(|_| fail(sys::_GSS_S_FAILURE, 0))?;
            let mut elements: Vec<sys::gss_key_value_element_desc> = strings
                .iter()
                .map(|(k, v)| sys::gss_key_value_element_desc {
                    key: k.as_ptr(),
                    value: v.as_ptr(),
                })
                .collect();
            let set = sys::gss_key_value_set_desc {
                count: elements.len() as u32,
                elements: elements.as_mut_ptr(),
            };
            let mut oid = sys::gss_OID_desc {
                length: KRB5_PRINCIPAL_NAME.len() as u32,
                elements: KRB5_PRINCIPAL_NAME.as_ptr() as *mut _,
            };
            let mut text = principal.as_bytes().to_vec();
            let mut buffer = sys::gss_buffer_desc {
                length: text.len(),
                value: text.as_mut_ptr().cast(),
            };
            let mut minor = 0u32;
            let mut name: sys::gss_name_t = ptr::null_mut();
            // SAFETY: every pointer passed points into locals that outlive the calls (the
            // buffer, the OID, the key-value strings and their array); GSSAPI copies what it
            // keeps. The name it returns is released below, once, on every path; the
            // credential it returns is owned by nothing else and handed to `Cred`, which
            // releases it once.
            unsafe {
                let major = sys::gss_import_name(&mut minor, &mut buffer, &mut oid, &mut name);
                if major != sys::GSS_S_COMPLETE {
                    return Err(fail(major, minor));
                }
                let mut cred: sys::gss_cred_id_t = ptr::null_mut();
                let major = sys::gss_acquire_cred_from(
                    &mut minor,
                    name,
                    sys::_GSS_C_INDEFINITE,
                    ptr::null_mut(),
                    sys::GSS_C_INITIATE as sys::gss_cred_usage_t,
                    &set,
                    &mut cred,
                    ptr::null_mut(),
                    ptr::null_mut(),
                );
                let mut ignored = 0u32;
                sys::gss_release_name(&mut ignored, &mut name);
                if major != sys::GSS_S_COMPLETE {
                    return Err(fail(major, minor));
                }
                Ok(Cred::from_c(cred))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A keytab entry for `components@realm` (one key), as `ktutil` writes it.
    fn entry(components: &[&str], realm: &str) -> Vec<u8> {
        let counted = |s: &str| {
            let mut v = (s.len() as u16).to_be_bytes().to_vec();
            v.extend_from_slice(s.as_bytes());
            v
        };
        let mut e = (components.len() as u16).to_be_bytes().to_vec();
        e.extend(counted(realm));
        for c in components {
            e.extend(counted(c));
        }
        e.extend(1u32.to_be_bytes()); // name type KRB5_NT_PRINCIPAL
        e.extend(0u32.to_be_bytes()); // timestamp
        e.push(2); // kvno
        e.extend(18u16.to_be_bytes()); // aes256-cts
        e.extend(counted("0123456789abcdef0123456789abcdef"));
        e.extend(2u32.to_be_bytes());
        let mut out = (e.len() as i32).to_be_bytes().to_vec();
        out.extend(e);
        out
    }

    #[test]
    fn keytab_principals_are_listed_once_holes_skipped() {
        let mut kt = vec![0x05, 0x02];
        kt.extend(entry(&["svc-rcptsync"], "EXAMPLE.TEST"));
        kt.extend(entry(&["svc-rcptsync"], "EXAMPLE.TEST"));
        kt.extend((-6i32).to_be_bytes());
        kt.extend([0u8; 6]);
        kt.extend(entry(&["ldap", "dc1.example.test"], "EXAMPLE.TEST"));
        assert_eq!(
            principals(&kt).unwrap(),
            [
                "svc-rcptsync@EXAMPLE.TEST",
                "ldap/dc1.example.test@EXAMPLE.TEST"
            ]
        );
    }

    #[test]
    fn things_that_are_not_keytabs_are_refused() {
        assert!(principals(b"").is_err());
        assert!(principals(b"secret\n").is_err());
        assert!(
            principals(&[0x05, 0x01, 0, 0])
                .unwrap_err()
                .contains("0x0501")
        );
        let mut truncated = vec![0x05, 0x02];
        truncated.extend(entry(&["svc"], "EXAMPLE.TEST"));
        truncated.truncate(truncated.len() - 10);
        assert!(principals(&truncated).unwrap_err().contains("past the end"));
        let mut short = vec![0x05, 0x02];
        short.extend(5i32.to_be_bytes());
        short.extend([0, 9, 0, 0, 0]);
        assert!(principals(&short).unwrap_err().contains("malformed"));
        assert_eq!(principals(&[0x05, 0x02]).unwrap(), Vec::<String>::new());
    }
}
