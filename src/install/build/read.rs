//! The reading side of the pass: the input cut into blocks of whole lines, over-long lines
//! marked and skipped, handed alternately to the two validating threads.

use std::io::BufRead;

use super::{Error, MAX_LINE, Pass};

/// Whole lines handed from the reading thread to a validating one.
#[derive(Debug)]
pub(super) struct Block {
    /// The lines, each with its line end (the last line of the file may lack it).
    pub text: Vec<u8>,
    /// Where each line ends in `text`, and whether it was longer than [`MAX_LINE`] (its
    /// bytes were then skipped, not kept).
    pub lines: Vec<(usize, bool)>,
    /// The line number in the file of the first line.
    pub first_line: usize,
}

/// Input bytes per block (skipped bytes of over-long lines included): large enough that
/// handing one over costs nothing, small enough to stay in the caches.
pub(super) const BLOCK: usize = 1 << 17;

/// Lines per block at most, so that a block of blank or skipped lines stays as small.
pub(super) const BLOCK_LINES: usize = BLOCK / 16;

/// Reads `input` a buffer at a time and hands its lines out in blocks, alternately to each
/// validating thread. A line longer than [`MAX_LINE`] is not kept: it is marked and its
/// bytes are skipped up to its end. Stops early when a validating thread has gone (the
/// writer stopped on an error of its own, which it reports, or a thread failed, which
/// [`super::run`] reports).
pub(super) fn read_blocks(
    pass: &Pass<'_>,
    input: &mut impl BufRead,
    workers: &[std::sync::mpsc::SyncSender<Block>; 2],
) -> Result<(), Error> {
    let fresh = |first_line| Block {
        text: Vec::with_capacity(BLOCK + MAX_LINE + 1),
        lines: Vec::with_capacity(BLOCK_LINES),
        first_line,
    };
    let mut number = pass.line_offset;
    let mut block = fresh(number + 1);
    // Where the line being read starts in the block; its bytes so far once it is known to
    // be too long (they are dropped); the bytes of the block's skipped lines.
    let mut line_start = 0;
    let mut skipping: Option<usize> = None;
    let mut skipped = 0;
    let mut sent = 0;
    loop {
        let buffer = match input.fill_buf() {
            Ok(buffer) => buffer,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(cause) => {
                return Err(Error::Read {
                    path: pass.source.to_owned(),
                    cause,
                });
            }
        };
        if buffer.is_empty() {
            break;
        }
        let all = buffer.len();
        let mut rest = buffer;
        while !rest.is_empty() {
            let end = memchr::memchr(b'\n', rest);
            let taken = end.map_or(rest.len(), |end| end + 1);
            match &mut skipping {
                Some(bytes) => *bytes += taken,
                None => {
                    let have = block.text.len() - line_start;
                    if have + taken > MAX_LINE {
                        skipping = Some(have + taken);
                        block.text.truncate(line_start);
                    } else {
                        block.text.extend_from_slice(&rest[..taken]);
                    }
                }
            }
            rest = &rest[taken..];
            if end.is_none() {
                break;
            }
            // A whole line.
            number += 1;
            let too_long = skipping.take().inspect(|bytes| skipped += bytes).is_some();
            block.lines.push((block.text.len(), too_long));
            line_start = block.text.len();
            if block.text.len() + skipped >= BLOCK || block.lines.len() == BLOCK_LINES {
                let full = std::mem::replace(&mut block, fresh(number + 1));
                (line_start, skipped) = (0, 0);
                if workers[sent % 2].send(full).is_err() {
                    return Ok(());
                }
                sent += 1;
            }
        }
        input.consume(all);
    }
    // The last line may lack its line end.
    if skipping.is_some() || block.text.len() > line_start {
        block.lines.push((block.text.len(), skipping.is_some()));
    }
    if !block.lines.is_empty() {
        let _ = workers[sent % 2].send(block);
    }
    Ok(())
}
