//! One `Connection` owns the stream and its read buffer. It splits into a
//! [`Reader`] that yields whole messages (framed by [`Framer`]) and a
//! [`Writer`] that writes encoded frames, so that reading never waits on a
//! write: ovsdb-server stops reading from a client whose replies it cannot
//! send, and a client that stops reading while it writes would deadlock.

use tokio::io::{AsyncReadExt, AsyncWriteExt, ReadHalf, WriteHalf};

use super::framing::{FrameError, Framer};
use super::jsonrpc::{Message, MessageError};
use super::remote::BoxStream;

#[derive(Debug, thiserror::Error)]
pub enum ConnError {
    #[error("connection I/O: {0}")]
    Io(#[from] std::io::Error),
    #[error("protocol error from peer: {0}")]
    Frame(#[from] FrameError),
    #[error("protocol error from peer: {0}")]
    Message(#[from] MessageError),
    #[error("peer closed the connection in the middle of a message ({0} bytes buffered)")]
    Truncated(usize),
    #[error("peer closed the connection")]
    Closed,
    #[error("client shut down")]
    Shutdown,
    #[error("no message from peer for {0:?} after an inactivity probe")]
    ProbeTimeout(std::time::Duration),
}

pub struct Connection {
    stream: BoxStream,
    max_frame: usize,
}

impl Connection {
    pub fn new(stream: BoxStream, max_frame: usize) -> Self {
        Connection { stream, max_frame }
    }

    pub fn split(self) -> (Reader, Writer) {
        let (r, w) = tokio::io::split(self.stream);
        (
            Reader { half: r, framer: Framer::new(self.max_frame), read_buf: vec![0; 64 * 1024].into_boxed_slice() },
            Writer { half: w },
        )
    }
}

pub struct Reader {
    half: ReadHalf<BoxStream>,
    framer: Framer,
    read_buf: Box<[u8]>,
}

impl Reader {
    /// Reads the next whole message. Cancel-safe: bytes read are kept in the
    /// framer, so a dropped call loses nothing.
    pub async fn read_message(&mut self) -> Result<Message, ConnError> {
        loop {
            if let Some(frame) = self.framer.next_frame()? {
                return Ok(Message::parse(frame)?);
            }
            let n = self.half.read(&mut self.read_buf).await?;
            if n == 0 {
                return Err(if self.framer.in_frame() {
                    ConnError::Truncated(self.framer.pending())
                } else {
                    ConnError::Closed
                });
            }
            self.framer.extend(&self.read_buf[..n]);
        }
    }
}

pub struct Writer {
    half: WriteHalf<BoxStream>,
}

impl Writer {
    pub async fn write_frame(&mut self, bytes: &[u8]) -> Result<(), ConnError> {
        self.half.write_all(bytes).await?;
        Ok(())
    }
}
