//! HTTP/2 framing as `h2guard` follows it: frame boundaries in a byte stream (9-byte frame
//! headers, header blocks that CONTINUATION frames must finish uninterrupted) and the GOAWAY
//! frame it writes itself. Only frame headers are read; payloads are skipped.

pub(crate) const PREFACE_LEN: usize = 24;
pub(crate) const RST_STREAM: u8 = 0x3;
pub(crate) const HEADERS: u8 = 0x1;
pub(crate) const SETTINGS: u8 = 0x4;
pub(crate) const PUSH_PROMISE: u8 = 0x5;
pub(crate) const CONTINUATION: u8 = 0x9;
pub(crate) const END_HEADERS: u8 = 0x4;
pub(crate) const NO_ERROR: u32 = 0x0;
pub(crate) const ENHANCE_YOUR_CALM: u32 = 0xb;

/// Frame boundaries in one direction of the connection.
#[derive(Debug, Default)]
pub(crate) struct Frames {
    head: [u8; 9],
    head_len: usize,
    payload_left: usize,
    /// Inside a header block: a HEADERS or PUSH_PROMISE without END_HEADERS, until the
    /// CONTINUATION that ends it (nothing may come between them).
    in_block: bool,
}

impl Frames {
    /// Follow `bytes`; call `on_head` with each complete frame header.
    pub(crate) fn follow(&mut self, mut bytes: &[u8], mut on_head: impl FnMut(&[u8; 9])) {
        while !bytes.is_empty() {
            if self.payload_left > 0 {
                let n = self.payload_left.min(bytes.len());
                self.payload_left -= n;
                bytes = &bytes[n..];
                continue;
            }
            let n = (9 - self.head_len).min(bytes.len());
            self.head[self.head_len..self.head_len + n].copy_from_slice(&bytes[..n]);
            self.head_len += n;
            bytes = &bytes[n..];
            if self.head_len == 9 {
                self.head_len = 0;
                self.payload_left = usize::from(self.head[0]) << 16
                    | usize::from(self.head[1]) << 8
                    | usize::from(self.head[2]);
                let end_headers = self.head[4] & END_HEADERS != 0;
                match self.head[3] {
                    HEADERS | PUSH_PROMISE | CONTINUATION => self.in_block = !end_headers,
                    _ => {}
                }
                on_head(&self.head);
            }
        }
    }

    /// Between two frames, and not inside a header block: a frame may be put here.
    pub(crate) fn at_boundary(&self) -> bool {
        self.head_len == 0 && self.payload_left == 0 && !self.in_block
    }
}

/// GOAWAY with `code`, naming `last` as the last stream processed.
pub(crate) fn goaway(last: u32, code: u32) -> [u8; 17] {
    let mut f = [0u8; 17];
    f[2] = 8;
    f[3] = 0x7;
    f[9..13].copy_from_slice(&(last & 0x7fff_ffff).to_be_bytes());
    f[13..17].copy_from_slice(&code.to_be_bytes());
    f
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_heads_split_across_reads() {
        let mut f = Frames::default();
        let mut heads = Vec::new();
        // SETTINGS (6 bytes of payload), then RST_STREAM on stream 3, cut at odd places.
        let mut bytes = vec![0, 0, 6, SETTINGS, 0, 0, 0, 0, 0, 1, 2, 3, 4, 5, 6];
        bytes.extend([0, 0, 4, RST_STREAM, 0, 0, 0, 0, 3, 0, 0, 0, 8]);
        for chunk in [&bytes[..4], &bytes[4..11], &bytes[11..20], &bytes[20..]] {
            f.follow(chunk, |h| heads.push((h[3], h[8])));
        }
        assert_eq!(heads, vec![(SETTINGS, 0), (RST_STREAM, 3)]);
        assert!(f.at_boundary());
    }

    #[test]
    fn no_boundary_inside_a_header_block() {
        let mut f = Frames::default();
        // HEADERS without END_HEADERS (2 bytes of block), then CONTINUATION with it.
        f.follow(&[0, 0, 2, HEADERS, 0, 0, 0, 0, 1, 0xaa, 0xbb], |_| {});
        assert!(!f.at_boundary(), "a CONTINUATION must follow");
        f.follow(
            &[0, 0, 1, CONTINUATION, END_HEADERS, 0, 0, 0, 1, 0xcc],
            |_| {},
        );
        assert!(f.at_boundary());
        f.follow(&[0, 0, 0, HEADERS, END_HEADERS, 0, 0, 0, 3], |_| {});
        assert!(f.at_boundary());
    }

    #[test]
    fn goaway_frame() {
        let f = goaway(7, ENHANCE_YOUR_CALM);
        assert_eq!(&f[..9], &[0, 0, 8, 7, 0, 0, 0, 0, 0]);
        assert_eq!(&f[9..13], &[0, 0, 0, 7]);
        assert_eq!(&f[13..], &[0, 0, 0, 0xb]);
    }
}
