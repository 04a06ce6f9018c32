//! One `Connection` owns the stream and its read buffer: it reads whole
//! messages (framed by [`Framer`]) and writes encoded ones. Nothing else
//! touches the socket.

use tokio::io::{AsyncReadExt, AsyncWriteExt};

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
    #[error("no message from peer for {0:?} after an inactivity probe")]
    ProbeTimeout(std::time::Duration),
}

pub struct Connection {
    stream: BoxStream,
    framer: Framer,
    read_buf: Box<[u8]>,
}

impl Connection {
    pub fn new(stream: BoxStream, max_frame: usize) -> Self {
        Connection { stream, framer: Framer::new(max_frame), read_buf: vec![0; 64 * 1024].into_boxed_slice() }
    }

    /// Reads the next whole message. Cancel-safe: bytes read are kept in the
    /// framer, so a dropped call loses nothing.
    pub async fn read_message(&mut self) -> Result<Message, ConnError> {
        loop {
            if let Some(frame) = self.framer.next_frame()? {
                return Ok(Message::parse(frame)?);
            }
            let n = self.stream.read(&mut self.read_buf).await?;
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

    pub async fn write_frame(&mut self, bytes: &[u8]) -> Result<(), ConnError> {
        self.stream.write_all(bytes).await?;
        Ok(())
    }

    pub async fn flush(&mut self) -> Result<(), ConnError> {
        self.stream.flush().await?;
        Ok(())
    }
}
