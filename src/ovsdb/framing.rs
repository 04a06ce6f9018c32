//! Resumable framing of a byte stream of concatenated JSON values.
//!
//! Two phases, as in mini-redis: [`Framer::next_frame`] first scans forward
//! from where the previous call stopped until a whole top-level value is
//! buffered (tracking only nesting depth and string/escape state), and only then
//! hands the complete frame to the JSON parser, exactly once. Every byte is
//! scanned once, so framing is O(n) however the stream is split into reads.

/// What the framer refuses.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FrameError {
    #[error("message exceeds the {limit}-byte limit (at least {size} bytes buffered)")]
    TooLarge { size: usize, limit: usize },
    #[error("unexpected byte {byte:?} between messages at stream offset {offset} (expected '{{')")]
    Garbage { byte: char, offset: u64 },
    #[error("JSON nested deeper than {0} levels")]
    TooDeep(usize),
}

/// Default largest accepted message: big enough for a 100k-row monitor reply.
pub const DEFAULT_MAX_FRAME: usize = 512 * 1024 * 1024;
const MAX_DEPTH: usize = 64;

#[derive(Debug)]
pub struct Framer {
    buf: Vec<u8>,
    /// Bytes before this are handed out already and can be dropped.
    consumed: usize,
    /// Bytes before this are scanned.
    scanned: usize,
    depth: usize,
    in_string: bool,
    escaped: bool,
    /// Stream offset of `buf[0]`, for error messages.
    base_offset: u64,
    max_frame: usize,
}

impl Default for Framer {
    fn default() -> Self {
        Self::new(DEFAULT_MAX_FRAME)
    }
}

impl Framer {
    pub fn new(max_frame: usize) -> Self {
        Framer {
            buf: Vec::with_capacity(8192),
            consumed: 0,
            scanned: 0,
            depth: 0,
            in_string: false,
            escaped: false,
            base_offset: 0,
            max_frame,
        }
    }

    /// Appends bytes read from the stream.
    pub fn extend(&mut self, data: &[u8]) {
        self.compact();
        self.buf.extend_from_slice(data);
    }

    /// Bytes buffered but not yet returned as frames.
    pub fn pending(&self) -> usize {
        self.buf.len() - self.consumed
    }

    /// True when a value has started but is not complete (a truncated stream).
    pub fn in_frame(&self) -> bool {
        self.depth > 0 || self.buf[self.consumed..].iter().any(|b| !b.is_ascii_whitespace())
    }

    fn compact(&mut self) {
        if self.consumed > 0 {
            self.buf.drain(..self.consumed);
            self.scanned -= self.consumed;
            self.base_offset += self.consumed as u64;
            self.consumed = 0;
        }
    }

    /// Returns the next complete top-level JSON value, if one is buffered.
    pub fn next_frame(&mut self) -> Result<Option<&[u8]>, FrameError> {
        // Skip whitespace between messages.
        if self.depth == 0 {
            while self.consumed < self.buf.len() && self.buf[self.consumed].is_ascii_whitespace() {
                self.consumed += 1;
            }
            if self.scanned < self.consumed {
                self.scanned = self.consumed;
            }
        }
        let mut i = self.scanned;
        while i < self.buf.len() {
            let b = self.buf[i];
            if self.in_string {
                if self.escaped {
                    self.escaped = false;
                } else if b == b'\\' {
                    self.escaped = true;
                } else if b == b'"' {
                    self.in_string = false;
                }
            } else {
                match b {
                    b'"' => self.in_string = true,
                    b'{' | b'[' => {
                        self.depth += 1;
                        if self.depth > MAX_DEPTH {
                            return Err(FrameError::TooDeep(MAX_DEPTH));
                        }
                    }
                    b'}' | b']' => {
                        if self.depth == 0 {
                            return Err(self.garbage(i));
                        }
                        self.depth -= 1;
                        if self.depth == 0 {
                            let start = self.consumed;
                            self.consumed = i + 1;
                            self.scanned = i + 1;
                            return Ok(Some(&self.buf[start..i + 1]));
                        }
                    }
                    _ if self.depth == 0 && !b.is_ascii_whitespace() => return Err(self.garbage(i)),
                    _ => {}
                }
            }
            i += 1;
        }
        self.scanned = i;
        let size = self.buf.len() - self.consumed;
        if size > self.max_frame {
            return Err(FrameError::TooLarge { size, limit: self.max_frame });
        }
        Ok(None)
    }

    fn garbage(&self, i: usize) -> FrameError {
        FrameError::Garbage { byte: self.buf[i] as char, offset: self.base_offset + i as u64 }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frames(f: &mut Framer) -> Vec<String> {
        let mut out = vec![];
        while let Some(fr) = f.next_frame().unwrap() {
            out.push(String::from_utf8(fr.to_vec()).unwrap());
        }
        out
    }

    #[test]
    fn splits_concatenated_values_at_every_split_point() {
        let stream =
            br#"{"id":1,"result":["a}\"]",{"x":[1,{}]}],"error":null}  {"id":"echo","method":"echo","params":[]}
[1,2]"#;
        let want = vec![
            r#"{"id":1,"result":["a}\"]",{"x":[1,{}]}],"error":null}"#.to_string(),
            r#"{"id":"echo","method":"echo","params":[]}"#.to_string(),
            "[1,2]".to_string(),
        ];
        for split in 0..stream.len() {
            let mut f = Framer::default();
            f.extend(&stream[..split]);
            let mut got = frames(&mut f);
            f.extend(&stream[split..]);
            got.extend(frames(&mut f));
            assert_eq!(got, want, "split at {split}");
            assert!(!f.in_frame());
        }
        // Byte by byte.
        let mut f = Framer::default();
        let mut got = vec![];
        for b in stream.iter() {
            f.extend(std::slice::from_ref(b));
            got.extend(frames(&mut f));
        }
        assert_eq!(got, want);
    }

    #[test]
    fn truncated_value_is_pending_not_a_frame() {
        let mut f = Framer::default();
        f.extend(br#"{"id":1,"result":"#);
        assert_eq!(f.next_frame().unwrap(), None);
        assert!(f.in_frame());
    }

    #[test]
    fn garbage_between_messages_is_an_error() {
        let mut f = Framer::default();
        f.extend(b"{}x");
        assert!(f.next_frame().unwrap().is_some());
        assert_eq!(f.next_frame(), Err(FrameError::Garbage { byte: 'x', offset: 2 }));
        let mut f = Framer::default();
        f.extend(b"]");
        assert!(matches!(f.next_frame(), Err(FrameError::Garbage { .. })));
    }

    #[test]
    fn oversized_and_deep_values_are_errors() {
        let mut f = Framer::new(16);
        f.extend(br#"{"a":"0123456789abcdef"#);
        assert!(matches!(f.next_frame(), Err(FrameError::TooLarge { limit: 16, .. })));
        let mut f = Framer::default();
        f.extend(&[b'['; 100]);
        assert_eq!(f.next_frame(), Err(FrameError::TooDeep(MAX_DEPTH)));
    }

    #[test]
    fn framing_is_linear() {
        // 2 MB value fed in 1-byte reads would be quadratic if rescanned.
        let big = format!("{{\"s\":\"{}\"}}", "x".repeat(2_000_000));
        let mut f = Framer::default();
        let mut n = 0;
        for chunk in big.as_bytes().chunks(1) {
            f.extend(chunk);
            if f.next_frame().unwrap().is_some() {
                n += 1;
            }
        }
        assert_eq!(n, 1);
    }
}
