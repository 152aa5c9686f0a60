//! The executor's protocol: one `SOCK_SEQPACKET` message a request or a reply, JSON, with
//! the fds a spawn needs attached (`SCM_RIGHTS`).

use std::io::{IoSlice, IoSliceMut};
use std::mem::MaybeUninit;
use std::os::fd::{BorrowedFd, OwnedFd};

use rustix::net::{
    RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags, SendAncillaryBuffer,
    SendAncillaryMessage, SendFlags,
};
use serde::{Deserialize, Serialize};

/// The largest message: a step's script travels in its spawn request.
pub(super) const MAX_MESSAGE: usize = 192 * 1024;

/// A runner's request.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub(super) enum Request {
    /// Start `program` with the three fds attached to this message as stdin, stdout, stderr.
    Spawn {
        id: u64,
        program: Vec<u8>,
        args: Vec<Vec<u8>>,
        env: Vec<(String, String)>,
        cwd: Option<Vec<u8>>,
        umask: u32,
    },
    /// Send `signal` to the process group of step `id`.
    Signal { id: u64, signal: i32 },
    /// Step `id`'s process group is of no more interest.
    Release { id: u64 },
    /// Write `bytes` to `path` (0600, parents created 0700) in the work dir.
    Write {
        id: u64,
        path: Vec<u8>,
        bytes: Vec<u8>,
    },
    /// Remove `path` (a dir of the work dir) and what it holds.
    Remove { id: u64, path: Vec<u8> },
}

/// The executor's answer.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub(super) enum Reply {
    /// Sent once, first: where the executor keeps its files (0700, its own).
    Hello {
        work_dir: Vec<u8>,
        user: String,
    },
    Spawned {
        id: u64,
        pid: u32,
    },
    Failed {
        id: u64,
        error: String,
    },
    Exited {
        id: u64,
        code: Option<i32>,
        signal: Option<i32>,
    },
    Done {
        id: u64,
        error: Option<String>,
    },
}

pub(super) fn send_message(
    sock: BorrowedFd<'_>,
    bytes: &[u8],
    fds: &[BorrowedFd<'_>],
) -> std::io::Result<()> {
    if bytes.len() > MAX_MESSAGE {
        return Err(std::io::Error::other(format!(
            "a request of {} bytes is more than the executor takes ({MAX_MESSAGE})",
            bytes.len()
        )));
    }
    let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(3))];
    let mut control = SendAncillaryBuffer::new(&mut space);
    if !fds.is_empty() {
        control.push(SendAncillaryMessage::ScmRights(fds));
    }
    rustix::net::sendmsg(
        sock,
        &[IoSlice::new(bytes)],
        &mut control,
        SendFlags::NOSIGNAL,
    )?;
    Ok(())
}

/// One message and the fds that came with it; `None` at the end (the other side closed).
pub(super) fn recv_message(
    sock: BorrowedFd<'_>,
) -> std::io::Result<Option<(Vec<u8>, Vec<OwnedFd>)>> {
    // One buffer per thread, kept: a message is a few hundred bytes, the buffer the largest
    // one allowed, and zeroing that for every step would cost more than the step's message.
    thread_local! {
        static BUF: std::cell::RefCell<Vec<u8>> = std::cell::RefCell::new(vec![0u8; MAX_MESSAGE]);
    }
    let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(3))];
    let mut control = RecvAncillaryBuffer::new(&mut space);
    let (got, bytes) = BUF.with_borrow_mut(|buf| {
        rustix::net::recvmsg(
            sock,
            &mut [IoSliceMut::new(buf)],
            &mut control,
            RecvFlags::CMSG_CLOEXEC,
        )
        .map(|got| {
            let n = got.bytes.min(buf.len());
            (got, buf[..n].to_vec())
        })
    })?;
    let mut fds = Vec::new();
    for m in control.drain() {
        if let RecvAncillaryMessage::ScmRights(received) = m {
            fds.extend(received);
        }
    }
    if got.bytes == 0 && fds.is_empty() {
        return Ok(None);
    }
    Ok(Some((bytes, fds)))
}
