//! Kafka's non-flexible binary primitives, as `__consumer_offsets` records and the
//! consumer protocol use them: big-endian integers, `int16`-length strings (`-1` for
//! null) and `int32`-length byte arrays and arrays; and the flexible-version ones the
//! KIP-848 records use (varint-length compact strings and arrays, UUIDs, tagged fields).
//!
//! The `kafka-protocol` crate generates codecs only for request and response messages;
//! the record schemas of `__consumer_offsets` (`OffsetCommitKey/Value`,
//! `GroupMetadataKey/Value`) are not among them, so these few primitives are written
//! here. Every length read from input is checked against the bytes that remain before
//! anything is allocated, so a hostile length cannot make the process allocate.

use crate::error::DecodeError;

/// Appends primitives to a buffer.
#[derive(Debug, Default)]
pub(crate) struct Writer {
    buf: Vec<u8>,
}

impl Writer {
    pub(crate) fn new() -> Self {
        Writer { buf: Vec::new() }
    }

    pub(crate) fn into_bytes(self) -> Vec<u8> {
        self.buf
    }

    pub(crate) fn i16(&mut self, v: i16) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }

    pub(crate) fn i32(&mut self, v: i32) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }

    pub(crate) fn i64(&mut self, v: i64) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }

    /// A non-null string. Strings longer than `i16::MAX` bytes cannot be encoded; callers
    /// bound their inputs (group ids, topic names, member ids) well below that.
    pub(crate) fn string(&mut self, s: &str) {
        let len = i16::try_from(s.len()).unwrap_or(i16::MAX);
        self.i16(len);
        self.buf.extend_from_slice(&s.as_bytes()[..len as usize]);
    }

    pub(crate) fn nullable_string(&mut self, s: Option<&str>) {
        match s {
            Some(s) => self.string(s),
            None => self.i16(-1),
        }
    }

    pub(crate) fn bytes(&mut self, b: &[u8]) {
        let len = i32::try_from(b.len()).unwrap_or(i32::MAX);
        self.i32(len);
        self.buf.extend_from_slice(&b[..len as usize]);
    }

    pub(crate) fn array_len(&mut self, n: usize) {
        self.i32(i32::try_from(n).unwrap_or(i32::MAX));
    }

    pub(crate) fn i8(&mut self, v: i8) {
        self.buf.push(v as u8);
    }

    /// An unsigned varint (flexible versions' lengths and tag counts).
    pub(crate) fn unsigned_varint(&mut self, mut v: u32) {
        while v >= 0x80 {
            self.buf.push((v as u8) | 0x80);
            v >>= 7;
        }
        self.buf.push(v as u8);
    }

    /// A compact (flexible-version) string: varint length + 1, then UTF-8.
    pub(crate) fn compact_string(&mut self, s: &str) {
        self.compact_nullable_string(Some(s));
    }

    pub(crate) fn compact_nullable_string(&mut self, s: Option<&str>) {
        match s {
            Some(s) => {
                let len = s.len().min(i16::MAX as usize);
                self.unsigned_varint(len as u32 + 1);
                self.buf.extend_from_slice(&s.as_bytes()[..len]);
            }
            None => self.unsigned_varint(0),
        }
    }

    /// A compact array length (varint length + 1).
    pub(crate) fn compact_array_len(&mut self, n: usize) {
        self.unsigned_varint(u32::try_from(n).unwrap_or(u32::MAX - 1) + 1);
    }

    pub(crate) fn uuid(&mut self, id: uuid::Uuid) {
        self.buf.extend_from_slice(id.as_bytes());
    }

    /// An empty tagged-field section.
    pub(crate) fn no_tagged_fields(&mut self) {
        self.unsigned_varint(0);
    }
}

/// Reads primitives from a byte slice, refusing anything that runs past its end.
#[derive(Debug)]
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }

    pub(crate) fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        if n > self.remaining() {
            return Err(DecodeError::Truncated { needed: n, remaining: self.remaining() });
        }
        let out = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(out)
    }

    pub(crate) fn i16(&mut self) -> Result<i16, DecodeError> {
        let b = self.take(2)?;
        Ok(i16::from_be_bytes([b[0], b[1]]))
    }

    pub(crate) fn i32(&mut self) -> Result<i32, DecodeError> {
        let b = self.take(4)?;
        Ok(i32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    pub(crate) fn i64(&mut self) -> Result<i64, DecodeError> {
        let b = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(i64::from_be_bytes(a))
    }

    pub(crate) fn nullable_string(&mut self) -> Result<Option<String>, DecodeError> {
        let len = self.i16()?;
        if len < 0 {
            return Ok(None);
        }
        let raw = self.take(len as usize)?;
        String::from_utf8(raw.to_vec()).map(Some).map_err(|_| DecodeError::InvalidUtf8)
    }

    pub(crate) fn string(&mut self) -> Result<String, DecodeError> {
        self.nullable_string()?.ok_or(DecodeError::UnexpectedNull)
    }

    pub(crate) fn bytes(&mut self) -> Result<&'a [u8], DecodeError> {
        let len = self.i32()?;
        if len < 0 {
            return Err(DecodeError::UnexpectedNull);
        }
        self.take(len as usize)
    }

    pub(crate) fn i8(&mut self) -> Result<i8, DecodeError> {
        Ok(self.take(1)?[0] as i8)
    }

    pub(crate) fn unsigned_varint(&mut self) -> Result<u32, DecodeError> {
        let mut value = 0u32;
        for shift in (0..35).step_by(7) {
            let b = self.take(1)?[0];
            value |= u32::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(DecodeError::InvalidVarint)
    }

    pub(crate) fn compact_nullable_string(&mut self) -> Result<Option<String>, DecodeError> {
        let len = self.unsigned_varint()?;
        if len == 0 {
            return Ok(None);
        }
        let raw = self.take(len as usize - 1)?;
        String::from_utf8(raw.to_vec()).map(Some).map_err(|_| DecodeError::InvalidUtf8)
    }

    pub(crate) fn compact_string(&mut self) -> Result<String, DecodeError> {
        self.compact_nullable_string()?.ok_or(DecodeError::UnexpectedNull)
    }

    /// A compact array length, checked against the bytes left like [`Self::array_len`].
    pub(crate) fn compact_array_len(&mut self, min_element_bytes: usize) -> Result<usize, DecodeError> {
        let len = self.unsigned_varint()?;
        if len == 0 {
            return Err(DecodeError::UnexpectedNull);
        }
        let len = len as usize - 1;
        if len.saturating_mul(min_element_bytes.max(1)) > self.remaining() {
            return Err(DecodeError::Truncated { needed: len * min_element_bytes.max(1), remaining: self.remaining() });
        }
        Ok(len)
    }

    pub(crate) fn uuid(&mut self) -> Result<uuid::Uuid, DecodeError> {
        let b = self.take(16)?;
        let mut a = [0u8; 16];
        a.copy_from_slice(b);
        Ok(uuid::Uuid::from_bytes(a))
    }

    /// Skips a tagged-field section (fields this reader does not know).
    pub(crate) fn skip_tagged_fields(&mut self) -> Result<(), DecodeError> {
        let count = self.unsigned_varint()?;
        for _ in 0..count {
            self.unsigned_varint()?;
            let size = self.unsigned_varint()?;
            self.take(size as usize)?;
        }
        Ok(())
    }

    /// An array length, checked against the bytes left given each element takes at
    /// least `min_element_bytes`.
    pub(crate) fn array_len(&mut self, min_element_bytes: usize) -> Result<usize, DecodeError> {
        let len = self.i32()?;
        if len < 0 {
            return Err(DecodeError::UnexpectedNull);
        }
        let len = len as usize;
        if len.saturating_mul(min_element_bytes.max(1)) > self.remaining() {
            return Err(DecodeError::Truncated { needed: len * min_element_bytes.max(1), remaining: self.remaining() });
        }
        Ok(len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn primitives_round_trip() {
        let mut w = Writer::new();
        w.i16(-2);
        w.i32(70_000);
        w.i64(-1);
        w.string("grp");
        w.nullable_string(None);
        w.bytes(b"\x00\x01");
        w.array_len(3);
        let bytes = w.into_bytes();
        let mut r = Reader::new(&bytes);
        assert_eq!(r.i16().unwrap(), -2);
        assert_eq!(r.i32().unwrap(), 70_000);
        assert_eq!(r.i64().unwrap(), -1);
        assert_eq!(r.string().unwrap(), "grp");
        assert_eq!(r.nullable_string().unwrap(), None);
        assert_eq!(r.bytes().unwrap(), b"\x00\x01");
        assert!(r.array_len(1).is_err(), "3 elements cannot fit in 0 remaining bytes");
    }

    #[test]
    fn hostile_lengths_are_refused_before_allocating() {
        // A string claiming 32767 bytes with 1 byte behind it.
        let mut r = Reader::new(&[0x7f, 0xff, b'a']);
        assert!(matches!(r.string(), Err(DecodeError::Truncated { .. })));
        // An array claiming 2^31-1 elements.
        let mut r = Reader::new(&[0x7f, 0xff, 0xff, 0xff]);
        assert!(r.array_len(2).is_err());
        // Negative byte-array length.
        let mut r = Reader::new(&[0xff, 0xff, 0xff, 0xfe]);
        assert!(r.bytes().is_err());
    }
}
