//! Sends a payload to one gateway with the system `ssh` client.
//!
//! The connection is made with `BatchMode=yes` (never a prompt: cron has nobody to answer it)
//! and `StrictHostKeyChecking=yes` (an unknown or changed host key is an error, never silently
//! accepted), against the gateway's `known_hosts` file when one is configured. The remote side
//! is the forced command `rcptsync receive` from the gateway user's authorized_keys; the
//! command ssh asks for (`receive`) is only a label that the receiver checks.
//!
//! Failures are turned into what the admin has to do: add the host key, install the public key.

use std::io::{Read, Write as _};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::map::payload::REMOTE_COMMAND;

/// One gateway to push to, as `[[gateway]]` describes it (checked: host and user cannot be
/// read by ssh as options).
#[derive(Debug, Clone)]
pub struct Gateway {
    /// Label for reports and the push record.
    pub name: String,
    /// Host name or address for ssh.
    pub host: String,
    /// SSH port.
    pub port: u16,
    /// The gateway's receiving account.
    pub user: String,
    /// Private key; None leaves the choice to ssh's own configuration.
    pub identity_file: Option<PathBuf>,
    /// Known-hosts file; None means ssh's default. Host keys are checked either way.
    pub known_hosts: Option<PathBuf>,
    /// The longest one push to it may take, from connecting to the receiver's answer.
    pub timeout: Duration,
    /// How long after its last acknowledgement it is sent a confirmation that its map is
    /// still current (by `sync` and `watch`).
    pub confirm_every: Duration,
}

impl Gateway {
    /// Where the gateway is (`user@host:port`): a gateway moved elsewhere is another
    /// destination and gets the map again.
    pub fn destination(&self) -> String {
        format!("{}@{}:{}", self.user, self.host, self.port)
    }
}

/// How long the TCP connection and the SSH handshake may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);

/// Why a push to one gateway failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No ssh client.
    #[error("ssh not found in PATH; install OpenSSH's client (apt-get install openssh-client)")]
    NoSsh,
    /// ssh could not be run or fed.
    #[error("run ssh: {0}")]
    Io(#[from] std::io::Error),
    /// The host key is not in known_hosts.
    #[error(
        "the host key of {name} is not known; check its fingerprint on the gateway \
         (ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub) and add it with: \
         ssh-keyscan -p {port} {host} >> {known_hosts}"
    )]
    UnknownHostKey {
        /// The gateway as known_hosts names it (`host`, or `[host]:port`).
        name: String,
        /// The gateway's host, for ssh-keyscan.
        host: String,
        /// Its port.
        port: u16,
        /// The known_hosts file to add it to.
        known_hosts: String,
    },
    /// The host key differs from the one in known_hosts.
    #[error(
        "the host key of {name} has CHANGED since it was recorded in {known_hosts}: either the \
         gateway was reinstalled or someone is intercepting the connection; verify the new key \
         before replacing the old one (ssh-keygen -R '{name}' -f {known_hosts})"
    )]
    ChangedHostKey {
        /// The gateway as known_hosts names it (`host`, or `[host]:port`).
        name: String,
        /// The known_hosts file.
        known_hosts: String,
    },
    /// The gateway did not accept our key.
    #[error(
        "{user}@{host} refused the key{key}; add its public key to ~{user}/.ssh/authorized_keys \
         on the gateway with the forced command (see contrib/authorized_keys)"
    )]
    Refused {
        /// The gateway.
        host: String,
        /// The account.
        user: String,
        /// " path" of the identity file, if configured.
        key: String,
    },
    /// The session did not end in time; ssh was stopped.
    #[error(
        "no answer within {} ([[gateway]] timeout); ssh was stopped and the gateway keeps its map",
        humantime::format_duration(*.0)
    )]
    TimedOut(Duration),
    /// Anything else ssh or the receiver said.
    #[error("{0}")]
    Failed(String),
}

/// How ssh names a host in known_hosts (and how `ssh-keygen -R` must be given it): the bare
/// host on port 22, `[host]:port` on any other port.
pub fn known_hosts_name(host: &str, port: u16) -> String {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    if port == 22 {
        bare.to_owned()
    } else {
        format!("[{bare}]:{port}")
    }
}

/// Why a gateway's identity_file cannot work: a mistake on this host, found before ssh runs.
#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    /// It does not exist.
    #[error(
        "identity_file {} of gateway {gateway} does not exist; create the key with \
         ssh-keygen -t ed25519 -N '' -f {}",
        path.display(),
        path.display()
    )]
    Missing {
        /// The gateway.
        gateway: String,
        /// The file.
        path: PathBuf,
    },
    /// It cannot be read by the account that pushes.
    #[error(
        "identity_file {} of gateway {gateway} cannot be read ({cause}); it must belong to the \
         account that runs push: chown that account {} && chmod 600 {}",
        path.display(),
        path.display(),
        path.display()
    )]
    Unreadable {
        /// The gateway.
        gateway: String,
        /// The file.
        path: PathBuf,
        /// Why: "permission denied", "not a regular file"...
        cause: String,
    },
    /// Group or others may read or write it: ssh ignores such a key.
    #[error(
        "identity_file {} of gateway {gateway} is accessible by group or others (mode {mode:04o}); \
         ssh refuses such a private key: chmod 600 {}",
        path.display(),
        path.display()
    )]
    TooOpen {
        /// The gateway.
        gateway: String,
        /// The file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
}

/// Checks `gateway`'s identity_file as ssh would before it uses it (readable, a regular
/// file, and, when it is the running user's own, no access for group and others: ssh's
/// rule), so that a local mistake is reported as one with its fix, instead of as a refusal
/// by the gateway. Opened without blocking, so that a FIFO in its place cannot hang push.
pub fn check_identity(gateway: &Gateway) -> Result<(), IdentityError> {
    use std::os::unix::fs::PermissionsExt as _;
    let Some(path) = &gateway.identity_file else {
        return Ok(());
    };
    let unreadable = |cause: String| IdentityError::Unreadable {
        gateway: gateway.name.clone(),
        path: path.clone(),
        cause,
    };
    use std::os::unix::fs::MetadataExt as _;
    let file = match crate::fs::OpenOptions::new()
        .read(true)
        .custom_flags(rustix::fs::OFlags::NONBLOCK.bits() as i32)
        .open(path)
    {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(IdentityError::Missing {
                gateway: gateway.name.clone(),
                path: path.clone(),
            });
        }
        Err(e) => return Err(unreadable(e.kind().to_string())),
    };
    let meta = file
        .metadata()
        .map_err(|e| unreadable(e.kind().to_string()))?;
    if !meta.is_file() {
        return Err(unreadable("not a regular file".to_owned()));
    }
    let mode = meta.permissions().mode() & 0o7777;
    if meta.uid() == rustix::process::geteuid().as_raw() && mode & 0o077 != 0 {
        return Err(IdentityError::TooOpen {
            gateway: gateway.name.clone(),
            path: path.clone(),
            mode,
        });
    }
    Ok(())
}

fn find_ssh() -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/bin")])
        .map(|dir| dir.join("ssh"))
        .find(|p| p.is_file())
}

/// The ssh command line for `gateway` (without the payload).
pub fn command(gateway: &Gateway) -> Result<Command, Error> {
    let mut cmd = Command::new(find_ssh().ok_or(Error::NoSsh)?);
    // systemd's notify socket is watch's to use: ssh (or a ProxyCommand) must not be able
    // to tell systemd that the service is ready or alive.
    for systemd in ["NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID"] {
        cmd.env_remove(systemd);
    }
    cmd.arg("-T")
        .args(["-o", "BatchMode=yes"])
        .args(["-o", "StrictHostKeyChecking=yes"])
        // A shared master connection from the user's ssh config would outlive the session
        // and keep its pipes open past the gateway's timeout.
        .args(["-o", "ControlMaster=no", "-o", "ControlPath=none"])
        .arg("-o")
        .arg(format!("ConnectTimeout={}", CONNECT_TIMEOUT.as_secs()))
        .args([
            "-o",
            "ServerAliveInterval=15",
            "-o",
            "ServerAliveCountMax=4",
        ]);
    if let Some(known_hosts) = &gateway.known_hosts {
        cmd.arg("-o")
            .arg(format!("UserKnownHostsFile={}", known_hosts.display()));
    }
    if let Some(identity) = &gateway.identity_file {
        cmd.arg("-i")
            .arg(identity)
            .args(["-o", "IdentitiesOnly=yes"]);
    }
    cmd.arg("-p")
        .arg(gateway.port.to_string())
        .arg("-l")
        .arg(&gateway.user)
        .arg(&gateway.host)
        .arg(REMOTE_COMMAND);
    Ok(cmd)
}

/// Most of ssh's output kept for the report (stdout is one line, stderr a few).
const MAX_OUTPUT: u64 = 64 << 10;

/// Sends the payload (`header` and a blank line, then the map text of `body`, streamed from
/// its start, then `trailer`: the parts the header announces) to `gateway`; returns
/// the receiver's reply (`OK ...`). The whole session is bounded by the gateway's timeout.
pub fn send(
    gateway: &Gateway,
    header: &str,
    body: impl std::io::Read + Send,
    trailer: &[u8],
) -> Result<String, Error> {
    let output = session(gateway, header, body, trailer)?;
    answer(gateway, &output)
}

/// Opens an ssh session to `gateway` (its host key checked, its key accepted) and asks its
/// `receive` for nothing but an answer (`check --connect`); the reply is `OK CHECK`.
pub fn check(gateway: &Gateway) -> Result<String, Error> {
    send(gateway, crate::map::confirm::CHECK, std::io::empty(), b"")
}

/// Runs ssh to `gateway` with the payload on its stdin, within the gateway's timeout; its
/// exit status and (bounded) output.
fn session(
    gateway: &Gateway,
    header: &str,
    mut file: impl std::io::Read + Send,
    trailer: &[u8],
) -> Result<std::process::Output, Error> {
    let mut child = command(gateway)?
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    let (Some(mut stdin), Some(stdout), Some(stderr)) =
        (child.stdin.take(), child.stdout.take(), child.stderr.take())
    else {
        let _ = child.kill();
        let _ = child.wait();
        return Err(Error::Failed("ssh was started without its pipes".into()));
    };
    let deadline = Instant::now() + gateway.timeout;
    // Writer and readers in threads: ssh may stop reading, and its output must still be
    // collected; the main thread only watches the clock.
    let (status, stdout, stderr) = std::thread::scope(|scope| {
        scope.spawn(move || {
            let written = stdin
                .write_all(header.as_bytes())
                .and_then(|()| stdin.write_all(b"\n"))
                .and_then(|()| std::io::copy(&mut file, &mut stdin).map(drop))
                .and_then(|()| stdin.write_all(trailer));
            drop(stdin);
            written
        });
        let collect = |mut pipe: Box<dyn Read + Send>| {
            scope.spawn(move || {
                let mut text = Vec::new();
                let _ = (&mut pipe).take(MAX_OUTPUT).read_to_end(&mut text);
                // Drain the rest so that ssh never blocks on a full pipe.
                let _ = std::io::copy(&mut pipe, &mut std::io::sink());
                text
            })
        };
        let stdout = collect(Box::new(stdout));
        let stderr = collect(Box::new(stderr));
        let status = loop {
            match child.try_wait() {
                Ok(Some(status)) => break Ok(status),
                Ok(None) if Instant::now() >= deadline => {
                    let _ = child.kill();
                    let _ = child.wait();
                    break Err(Error::TimedOut(gateway.timeout));
                }
                Ok(None) => std::thread::sleep(Duration::from_millis(20)),
                Err(e) => break Err(Error::Io(e)),
            }
        };
        (
            status,
            stdout.join().unwrap_or_default(),
            stderr.join().unwrap_or_default(),
        )
    });
    Ok(std::process::Output {
        status: status?,
        stdout,
        stderr,
    })
}

/// What ssh's run means: the receiver's `OK` line, or why the map did not arrive, with the
/// fix where ssh's words name one (an unknown or changed host key, a refused key).
fn answer(gateway: &Gateway, output: &std::process::Output) -> Result<String, Error> {
    let stdout = String::from_utf8_lossy(&output.stdout).trim().to_owned();
    let stderr = String::from_utf8_lossy(&output.stderr).trim().to_owned();
    if output.status.success() && stdout.starts_with("OK ") {
        return Ok(stdout);
    }
    // The receiver's own answer first: its stderr (a spool it cannot write, say) also comes
    // back through ssh and must not be mistaken for ssh's complaints.
    if let Some(reason) = stdout.lines().find_map(|l| l.strip_prefix("ERROR ")) {
        return Err(Error::Failed(format!(
            "the gateway's rcptsync receive refused the map: {reason}"
        )));
    }
    let known_hosts = gateway.known_hosts.as_ref().map_or_else(
        || "~/.ssh/known_hosts".to_owned(),
        |p| p.display().to_string(),
    );
    if stderr.contains("REMOTE HOST IDENTIFICATION HAS CHANGED") {
        return Err(Error::ChangedHostKey {
            name: known_hosts_name(&gateway.host, gateway.port),
            known_hosts,
        });
    }
    if stderr.contains("Host key verification failed") {
        return Err(Error::UnknownHostKey {
            name: known_hosts_name(&gateway.host, gateway.port),
            host: gateway.host.clone(),
            port: gateway.port,
            known_hosts,
        });
    }
    if stderr.contains("Permission denied (publickey") {
        return Err(Error::Refused {
            host: gateway.host.clone(),
            user: gateway.user.clone(),
            key: gateway
                .identity_file
                .as_ref()
                .map(|p| format!(" {}", p.display()))
                .unwrap_or_default(),
        });
    }
    let said = [stdout.as_str(), stderr.as_str()]
        .iter()
        .filter(|s| !s.is_empty())
        .map(|s| s.replace('\n', "; "))
        .collect::<Vec<_>>()
        .join("; ");
    Err(Error::Failed(format!(
        "ssh {}@{}:{} ended with {}: {}",
        gateway.user,
        gateway.host,
        gateway.port,
        output.status,
        if said.is_empty() { "no output" } else { &said }
    )))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt as _;

    #[test]
    fn known_hosts_names_a_host_off_port_22_with_brackets() {
        assert_eq!(known_hosts_name("mx1.example.com", 22), "mx1.example.com");
        assert_eq!(
            known_hosts_name("mx1.example.com", 2222),
            "[mx1.example.com]:2222"
        );
        assert_eq!(
            known_hosts_name("[2001:db8::1]", 2222),
            "[2001:db8::1]:2222"
        );
        assert_eq!(known_hosts_name("2001:db8::1", 22), "2001:db8::1");
    }

    #[test]
    fn ssh_never_gets_systemds_notify_socket() {
        let gateway = Gateway {
            name: "mx1".into(),
            host: "mx1.example.com".into(),
            port: 22,
            user: "postrelay".into(),
            identity_file: None,
            known_hosts: None,
            timeout: Duration::from_secs(600),
            confirm_every: Duration::from_secs(3600),
        };
        let Ok(cmd) = command(&gateway) else {
            return; // no ssh on this machine: nothing is started either
        };
        let removed: Vec<_> = cmd
            .get_envs()
            .filter(|(_, value)| value.is_none())
            .map(|(name, _)| name.to_string_lossy().into_owned())
            .collect();
        for name in ["NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID"] {
            assert!(removed.iter().any(|r| r == name), "{name}: {removed:?}");
        }
    }

    #[test]
    fn an_identity_file_must_exist_and_be_private() {
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("id_ed25519");
        let gateway = Gateway {
            name: "mx1".into(),
            host: "mx1.example.com".into(),
            port: 22,
            user: "postrelay".into(),
            identity_file: Some(key.clone()),
            known_hosts: None,
            timeout: Duration::from_secs(600),
            confirm_every: Duration::from_secs(3600),
        };
        let e = check_identity(&gateway).unwrap_err().to_string();
        assert!(
            e.contains("does not exist; create the key with ssh-keygen"),
            "{e}"
        );
        fs_err::write(&key, "key").unwrap();
        fs_err::set_permissions(&key, std::fs::Permissions::from_mode(0o640)).unwrap();
        let e = check_identity(&gateway).unwrap_err().to_string();
        assert!(
            e.contains("(mode 0640)") && e.ends_with(&format!("chmod 600 {}", key.display())),
            "{e}"
        );
        fs_err::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
        check_identity(&gateway).unwrap();
        // ssh's rule: the mode matters only for the running user's own key (a root-owned key
        // shared through a group is fine). Only root can give the file away to test it.
        if rustix::process::geteuid().is_root() {
            fs_err::set_permissions(&key, std::fs::Permissions::from_mode(0o640)).unwrap();
            rustix::fs::chown(&key, Some(rustix::fs::Uid::from_raw(65534)), None).unwrap();
            check_identity(&gateway).unwrap();
        }
        let fifo = dir.path().join("fifo");
        rustix::fs::mknodat(
            rustix::fs::CWD,
            &fifo,
            rustix::fs::FileType::Fifo,
            rustix::fs::Mode::from_raw_mode(0o600),
            0,
        )
        .unwrap();
        let fifo_as_key = Gateway {
            identity_file: Some(fifo),
            ..gateway.clone()
        };
        let e = check_identity(&fifo_as_key).unwrap_err().to_string();
        assert!(e.contains("not a regular file"), "{e}");
        let dir_as_key = Gateway {
            identity_file: Some(dir.path().to_owned()),
            ..gateway
        };
        let e = check_identity(&dir_as_key).unwrap_err().to_string();
        assert!(e.contains("cannot be read (not a regular file)"), "{e}");
    }
}
