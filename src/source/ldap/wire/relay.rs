//! The relay between the server and ldap3: plaintext (or, under a Kerberos security layer,
//! sealed buffers) passed both ways over a private socket pair, with each message's BER
//! header read as it passes, so that what the server sends is bounded before ldap3 buffers
//! it, and the reason for cutting the connection is kept for the error.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use ldap3::tokio;
use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _};
use tokio::runtime::Runtime;

use super::super::frame::{self, Header, MAX_RECEIVE};
use super::super::kerberos::{Seal, SealError};
use super::tls::Wire;

/// What the server may send on one connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Bytes of one LDAP message (`max_message_bytes`).
    pub message_bytes: u64,
    /// Bytes of everything the server sends on the connection (`max_read_bytes`).
    pub read_bytes: u64,
}

/// Why the relay cut the connection: what the admin reads instead of ldap3's closed
/// connection, naming the bound and its key where one was reached.
#[derive(Debug, thiserror::Error)]
pub(in crate::source::ldap) enum Cut {
    /// More than `max_read_bytes` on the connection.
    #[error("the server sent more than {limit} bytes on one connection (max_read_bytes)")]
    ReadBytes {
        /// `max_read_bytes`.
        limit: u64,
    },
    /// A message header announced more than `max_message_bytes`.
    #[error(
        "the server announced an LDAP message of {size} bytes, more than \
         max_message_bytes = {limit}; refused before reading it"
    )]
    MessageBytes {
        /// The message's size, header included.
        size: u64,
        /// `max_message_bytes`.
        limit: u64,
    },
    /// What the server sent is not LDAP messages.
    #[error(transparent)]
    Frame(#[from] frame::Error),
    /// Reading from the server failed.
    #[error("the connection to the server failed: {0}")]
    Read(std::io::Error),
    /// A sealed buffer's length is 0 or more than rcptsync said it takes.
    #[error("the server sent a sealed buffer of {len} bytes; rcptsync takes 1 to {MAX_RECEIVE}")]
    SealedLength {
        /// The length the server gave.
        len: u32,
    },
    /// A buffer did not seal or unseal.
    #[error(transparent)]
    Seal(#[from] SealError),
}

/// The most bytes of whole messages the relay passes to ldap3 ahead of what a streaming
/// read has taken. ldap3 parses whatever arrives into a channel without a bound, so a server
/// that streams faster than rcptsync handles entries would otherwise fill memory; held to
/// this, the rest waits in the kernel's socket buffers and the server's.
const AHEAD: u64 = 4 << 20;

/// What the connection knows of its relay: why it ended the connection on purpose (a bound
/// reached, a server that does not speak LDAP, a failed TLS session), for the error ldap3
/// reports as a closed connection; and, during a streaming read, how much the relay has
/// passed on that the read has not taken yet.
#[derive(Debug, Clone, Default)]
pub struct Tripwire {
    cut: Arc<Mutex<Option<Arc<Cut>>>>,
    backlog: Arc<Backlog>,
}

/// The messages passed to ldap3 during a streaming read and not taken by it yet.
#[derive(Debug, Default)]
struct Backlog {
    flight: Mutex<Flight>,
    /// Woken when the read takes a message, or stops counting.
    room: tokio::sync::Notify,
}

#[derive(Debug, Default)]
struct Flight {
    /// A streaming read is counting.
    counting: bool,
    /// The sizes of the whole messages passed on and not taken, oldest first.
    sizes: std::collections::VecDeque<u64>,
    /// Their sum.
    bytes: u64,
}

impl Tripwire {
    fn trip(&self, reason: Cut) {
        if let Ok(mut slot) = self.cut.lock() {
            slot.get_or_insert(Arc::new(reason));
        }
    }

    /// The reason the connection was ended, if the relay ended it.
    pub(in crate::source::ldap) fn reason(&self) -> Option<Arc<Cut>> {
        self.cut.lock().ok().and_then(|slot| slot.clone())
    }

    /// Starts counting what a streaming read has not taken yet (call it before the request
    /// goes out, when nothing is in flight); counting stops when the guard goes.
    pub(in crate::source::ldap) fn streaming(&self) -> Streaming {
        self.backlog.reset(true);
        Streaming(self.backlog.clone())
    }

    /// One whole message of `size` bytes passed on to ldap3.
    fn passed(&self, size: u64) {
        if let Ok(mut flight) = self.backlog.flight.lock()
            && flight.counting
        {
            flight.sizes.push_back(size);
            flight.bytes = flight.bytes.saturating_add(size);
        }
    }

    /// Waits while the read is more than [`AHEAD`] bytes of whole messages behind.
    async fn room(&self) {
        loop {
            let woken = self.backlog.room.notified();
            let behind = self
                .backlog
                .flight
                .lock()
                .is_ok_and(|f| f.counting && f.bytes > AHEAD);
            if !behind {
                return;
            }
            woken.await;
        }
    }
}

impl Backlog {
    fn reset(&self, counting: bool) {
        if let Ok(mut flight) = self.flight.lock() {
            *flight = Flight {
                counting,
                ..Flight::default()
            };
        }
        self.room.notify_waiters();
    }
}

/// A streaming read in progress ([`Tripwire::streaming`]): it says when it has taken a
/// message, so that the relay passes on more.
#[derive(Debug)]
pub(in crate::source::ldap) struct Streaming(Arc<Backlog>);

impl Streaming {
    /// The read took the oldest message passed on (an entry, a reference, an intermediate
    /// message or the result).
    pub(in crate::source::ldap) fn took(&self) {
        if let Ok(mut flight) = self.0.flight.lock()
            && let Some(size) = flight.sizes.pop_front()
        {
            flight.bytes -= size;
        }
        self.0.room.notify_waiters();
    }
}

impl Drop for Streaming {
    fn drop(&mut self) {
        self.0.reset(false);
    }
}

/// Starts the relay between `server` and `ours` (ldap3's end is the other socket of the
/// pair) as a task on `rt`, sealing and unsealing with `seal` when the bind negotiated it;
/// the tripwire says why the relay ended the connection, if it did.
pub(super) fn start(
    rt: &Runtime,
    server: Box<dyn Wire>,
    ours: tokio::net::UnixStream,
    limits: Limits,
    seal: Option<Seal>,
) -> Tripwire {
    let tripwire = Tripwire::default();
    let tripped = tripwire.clone();
    rt.spawn(async move {
        match seal {
            None => relay(server, ours, limits, &tripped).await,
            Some(seal) => relay_sealed(server, ours, limits, seal, &tripped).await,
        }
    });
    tripwire
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
    /// The current message's size, header included.
    size: u64,
    /// Bytes seen in all.
    total: u64,
}

impl Framer {
    fn new(limits: Limits) -> Self {
        Self {
            limits,
            content_left: 0,
            header: Vec::with_capacity(10),
            size: 0,
            total: 0,
        }
    }

    /// Checks the next chunk of the stream, calling `whole` with the size of each message
    /// it completes; an error names the bound and its key.
    fn check(&mut self, mut chunk: &[u8], mut whole: impl FnMut(u64)) -> Result<(), Cut> {
        self.total = self.total.saturating_add(chunk.len() as u64);
        if self.total > self.limits.read_bytes {
            return Err(Cut::ReadBytes {
                limit: self.limits.read_bytes,
            });
        }
        while !chunk.is_empty() {
            if self.content_left > 0 {
                let skip = usize::try_from(self.content_left)
                    .unwrap_or(usize::MAX)
                    .min(chunk.len());
                chunk = &chunk[skip..];
                self.content_left -= skip as u64;
                if self.content_left == 0 {
                    whole(self.size);
                }
                continue;
            }
            self.header.push(chunk[0]);
            chunk = &chunk[1..];
            if let Some(header) = Header::parse(&self.header)? {
                let size = header.length.saturating_add(header.size as u64);
                if size > self.limits.message_bytes {
                    return Err(Cut::MessageBytes {
                        size,
                        limit: self.limits.message_bytes,
                    });
                }
                self.content_left = header.length;
                self.size = size;
                self.header.clear();
                if self.content_left == 0 {
                    whole(size);
                }
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
            tripwire.room().await;
            let mut n = match server_read.read(&mut buffer).await {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) => {
                    tripwire.trip(Cut::Read(e));
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
                        tripwire.trip(Cut::Read(e));
                        ended = true;
                        break;
                    }
                    None => break,
                }
            }
            if let Err(why) = framer.check(&buffer[..n], |size| tripwire.passed(size)) {
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
    let seal = Mutex::new(seal);
    let (server_read, server_write) = tokio::io::split(server);
    let (ours_read, ours_write) = ours.into_split();
    tokio::select! {
        () = seal_up(ours_read, server_write, &seal, tripwire) => {}
        () = unseal_down(server_read, ours_write, limits, &seal, tripwire) => {}
    }
}

/// What ldap3 writes, sealed buffer by buffer (each at most what the server takes), to the
/// server, until either side closes or a buffer does not seal.
async fn seal_up(
    mut ours_read: impl AsyncRead + Unpin,
    mut server_write: impl AsyncWrite + Unpin,
    seal: &Mutex<Seal>,
    tripwire: &Tripwire,
) {
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
                tripwire.trip(why.into());
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
    // A server that reads nothing must not keep the thread for ever.
    let _ = tokio::time::timeout(Duration::from_secs(5), server_write.shutdown()).await;
}

/// The server's sealed buffers, each bounded, unsealed and checked as plaintext is, to
/// ldap3, until either side closes or a bound is reached.
async fn unseal_down(
    mut server_read: impl AsyncRead + Unpin,
    mut ours_write: impl AsyncWrite + Unpin,
    limits: Limits,
    seal: &Mutex<Seal>,
    tripwire: &Tripwire,
) {
    let mut framer = Framer::new(limits);
    let mut total = 0u64;
    let mut buffer = Vec::new();
    loop {
        tripwire.room().await;
        let mut len = [0u8; 4];
        match server_read.read_exact(&mut len).await {
            Ok(_) => {}
            // The server closed the connection between buffers.
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => break,
            Err(e) => {
                tripwire.trip(Cut::Read(e));
                break;
            }
        }
        let len = u32::from_be_bytes(len);
        if len == 0 || len > MAX_RECEIVE {
            tripwire.trip(Cut::SealedLength { len });
            break;
        }
        total = total.saturating_add(4 + u64::from(len));
        if total > limits.read_bytes {
            tripwire.trip(Cut::ReadBytes {
                limit: limits.read_bytes,
            });
            break;
        }
        buffer.resize(len as usize, 0);
        if let Err(e) = server_read.read_exact(&mut buffer).await {
            tripwire.trip(Cut::Read(e));
            break;
        }
        let plain = match seal.lock() {
            Ok(mut seal) => seal.unwrap(&buffer),
            Err(_) => break,
        };
        let plain = match plain {
            Ok(plain) => plain,
            Err(why) => {
                tripwire.trip(why.into());
                break;
            }
        };
        if let Err(why) = framer.check(&plain, |size| tripwire.passed(size)) {
            tripwire.trip(why);
            break;
        }
        if ours_write.write_all(&plain).await.is_err() {
            break;
        }
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

    #[test]
    fn messages_are_followed_across_chunks_and_bounded() {
        let mut framer = Framer::new(LIMITS);
        // Two messages of 3 and 200 content bytes, split at awkward places.
        let mut stream = vec![0x30, 0x03, 1, 2, 3, 0x30, 0x81, 200];
        stream.extend([7u8; 200]);
        let mut whole = Vec::new();
        for piece in stream.chunks(3) {
            framer.check(piece, |size| whole.push(size)).unwrap();
        }
        assert_eq!((framer.content_left, framer.header.len()), (0, 0));
        assert_eq!(whole, [5, 203]);
        // A header announcing more than the limit is refused before its content.
        let err = framer
            .check(&[0x30, 0x84, 0x7f, 0xff, 0xff, 0xff], |_| {})
            .unwrap_err();
        assert!(
            matches!(
                err,
                Cut::MessageBytes {
                    size: 0x8000_0005,
                    limit: 300
                }
            ),
            "{err}"
        );
        assert!(err.to_string().contains("max_message_bytes = 300"), "{err}");
        // The total is bounded too.
        let mut framer = Framer::new(LIMITS);
        let small = [0x30, 0x02, 0, 0];
        let err = (0..300)
            .find_map(|_| framer.check(&small, |_| {}).err())
            .unwrap();
        assert!(matches!(err, Cut::ReadBytes { limit: 1000 }), "{err}");
        assert!(err.to_string().contains("max_read_bytes"), "{err}");
    }
}
