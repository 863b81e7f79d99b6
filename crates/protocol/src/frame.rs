//! Length-prefixed frames.
//!
//! Every Kafka request and response is `i32 size` followed by `size` bytes. The size is
//! checked against a limit (`socket.request.max.bytes`, 100 MiB by default) before the
//! body is buffered, so a hostile length prefix cannot make the broker allocate.

use bytes::{Buf, BytesMut};

/// Kafka's default `socket.request.max.bytes`.
pub const DEFAULT_MAX_FRAME_BYTES: usize = 100 * 1024 * 1024;

/// Why a frame could not be taken from the buffer.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FrameError {
    #[error("frame of {size} bytes is larger than the limit of {max} bytes (socket.request.max.bytes)")]
    TooLarge { size: usize, max: usize },
    #[error("frame has a negative length prefix ({0})")]
    NegativeLength(i32),
}

/// Reads the length prefix at the front of `buf`, if all four bytes are there.
///
/// # Errors
/// [`FrameError`] when the prefix is negative or above `max_bytes`.
pub fn peek_frame_len(buf: &[u8], max_bytes: usize) -> Result<Option<usize>, FrameError> {
    if buf.len() < 4 {
        return Ok(None);
    }
    let size = i32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]);
    if size < 0 {
        return Err(FrameError::NegativeLength(size));
    }
    let size = size as usize;
    if size > max_bytes {
        return Err(FrameError::TooLarge { size, max: max_bytes });
    }
    Ok(Some(size))
}

/// Splits one complete frame body off the front of `buf`.
///
/// Returns `Ok(None)` while the frame is incomplete; the caller reads more bytes and
/// calls again. The returned body excludes the length prefix.
///
/// # Errors
/// [`FrameError`] when the length prefix is negative or above `max_bytes`; the
/// connection should then be closed, since the stream cannot be resynchronised.
pub fn take_frame(buf: &mut BytesMut, max_bytes: usize) -> Result<Option<BytesMut>, FrameError> {
    let Some(size) = peek_frame_len(buf, max_bytes)? else {
        return Ok(None);
    };
    if buf.len() < 4 + size {
        buf.reserve(4 + size - buf.len());
        return Ok(None);
    }
    buf.advance(4);
    Ok(Some(buf.split_to(size)))
}

/// Appends `body` to `out` behind its length prefix.
pub fn put_frame(out: &mut BytesMut, body: &[u8]) {
    out.reserve(4 + body.len());
    out.extend_from_slice(&(body.len() as i32).to_be_bytes());
    out.extend_from_slice(body);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_for_complete_frame() {
        let mut buf = BytesMut::from(&[0u8, 0, 0, 3, 1, 2][..]);
        assert_eq!(take_frame(&mut buf, 10), Ok(None));
        buf.extend_from_slice(&[3, 9]);
        let frame = take_frame(&mut buf, 10).unwrap().unwrap();
        assert_eq!(&frame[..], &[1, 2, 3]);
        assert_eq!(&buf[..], &[9]);
    }

    #[test]
    fn rejects_oversized_and_negative_prefix() {
        let mut buf = BytesMut::from(&[0u8, 0, 1, 0][..]);
        assert_eq!(take_frame(&mut buf, 255), Err(FrameError::TooLarge { size: 256, max: 255 }));
        let mut buf = BytesMut::from(&[0xffu8, 0xff, 0xff, 0xff][..]);
        assert_eq!(take_frame(&mut buf, 255), Err(FrameError::NegativeLength(-1)));
    }

    #[test]
    fn put_then_take_round_trips() {
        let mut out = BytesMut::new();
        put_frame(&mut out, b"hello");
        assert_eq!(&out[..4], &[0, 0, 0, 5]);
        assert_eq!(&take_frame(&mut out, 100).unwrap().unwrap()[..], b"hello");
    }
}
