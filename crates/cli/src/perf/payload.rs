//! Record values of the producer tool, chosen as Kafka's `ProducerPerformance` does:
//!
//! - `--record-size B`: one value of `B` random uppercase letters, sent every time;
//! - `--payload-file F`: the file split at `--payload-delimiter`, a random piece per record;
//! - `--payload-monotonic`: the record's number in decimal (`0`, `1`, …).

use std::path::Path;

use anyhow::{bail, Context, Result};

/// Largest `--record-size` accepted: librdkafka refuses larger messages anyway
/// (`message.max.bytes` is at most 1,000,000,000), and the value is allocated up front.
pub(crate) const RECORD_SIZE_MAX: usize = 1_000_000_000;

/// Where record values come from.
pub(crate) enum Payloads {
    Fixed(Vec<u8>),
    FromFile { pieces: Vec<Vec<u8>>, rng: SplitMix64, scratch: Vec<u8> },
    Monotonic(Vec<u8>),
}

impl Payloads {
    /// `size` random uppercase letters, the same for every record.
    ///
    /// # Errors
    /// When `size` is above [`RECORD_SIZE_MAX`].
    pub(crate) fn random_fixed(size: usize, seed: u64) -> Result<Self> {
        if size > RECORD_SIZE_MAX {
            bail!("--record-size {size} is above the limit of {RECORD_SIZE_MAX} bytes");
        }
        let mut rng = SplitMix64(seed);
        Ok(Payloads::Fixed((0..size).map(|_| b'A' + (rng.next() % 26) as u8).collect()))
    }

    /// The pieces of `path` between delimiters (Kafka prints what it read).
    ///
    /// # Errors
    /// When the file cannot be read or has no piece.
    pub(crate) fn from_file(path: &Path, delimiter: &str, seed: u64) -> Result<Self> {
        println!("Reading payloads from: {}", path.display());
        let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
        let pieces = split_payloads(&text, &unescape(delimiter));
        if pieces.is_empty() {
            bail!("File does not contain any payload");
        }
        println!("Number of messages read: {}", pieces.len());
        Ok(Payloads::FromFile { pieces, rng: SplitMix64(seed), scratch: Vec::new() })
    }

    pub(crate) fn monotonic() -> Self {
        Payloads::Monotonic(Vec::with_capacity(20))
    }

    /// The value of record number `index`.
    pub(crate) fn next(&mut self, index: u64) -> &[u8] {
        match self {
            Payloads::Fixed(value) => value,
            Payloads::FromFile { pieces, rng, scratch } => {
                let pick = (rng.next() % pieces.len() as u64) as usize;
                scratch.clear();
                scratch.extend_from_slice(&pieces[pick]);
                scratch
            }
            Payloads::Monotonic(buffer) => {
                use std::io::Write;
                buffer.clear();
                let _ = write!(buffer, "{index}");
                buffer
            }
        }
    }
}

/// Kafka splits the file with `String.split(delimiter)`: trailing empty pieces go.
fn split_payloads(text: &str, delimiter: &str) -> Vec<Vec<u8>> {
    let mut pieces: Vec<Vec<u8>> = if delimiter.is_empty() {
        vec![text.as_bytes().to_vec()]
    } else {
        text.split(delimiter).map(|p| p.as_bytes().to_vec()).collect()
    };
    while pieces.last().is_some_and(Vec::is_empty) {
        pieces.pop();
    }
    pieces
}

/// `\n`, `\r`, `\t` and `\\` as typed on a command line (Kafka's default delimiter is
/// the two characters `\n`, which its regex split reads as a newline).
fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some('t') => out.push('\t'),
            Some(other) => out.push(other),
            None => out.push('\\'),
        }
    }
    out
}

/// A small, fast pseudo-random generator (SplitMix64); payloads need no better.
pub(crate) struct SplitMix64(pub(crate) u64);

impl SplitMix64 {
    pub(crate) fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

/// A seed that differs from run to run.
pub(crate) fn time_seed() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0x5EED, |d| d.as_nanos() as u64)
        ^ u64::from(std::process::id())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_payloads_are_uppercase_letters_of_the_size() {
        let mut p = Payloads::random_fixed(100, 7).unwrap();
        let v = p.next(0).to_vec();
        assert_eq!(v.len(), 100);
        assert!(v.iter().all(u8::is_ascii_uppercase));
        assert_eq!(p.next(1), v.as_slice());
        assert!(Payloads::random_fixed(RECORD_SIZE_MAX + 1, 7).is_err());
    }

    #[test]
    fn monotonic_payloads_count() {
        let mut p = Payloads::monotonic();
        assert_eq!(p.next(0), b"0");
        assert_eq!(p.next(12345), b"12345");
    }

    #[test]
    fn files_split_like_java() {
        assert_eq!(split_payloads("a\nbb\n\n", "\n"), vec![b"a".to_vec(), b"bb".to_vec()]);
        assert_eq!(split_payloads("a,,b", ","), vec![b"a".to_vec(), vec![], b"b".to_vec()]);
        assert!(split_payloads("\n\n", "\n").is_empty());
        assert_eq!(unescape("\\n"), "\n");
        assert_eq!(unescape("|"), "|");
    }

    #[test]
    fn file_payloads_are_pieces_of_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("payloads.txt");
        std::fs::write(&path, "one\ntwo\nthree\n").unwrap();
        let mut p = Payloads::from_file(&path, "\\n", 1).unwrap();
        for i in 0..20 {
            let v = p.next(i).to_vec();
            assert!([&b"one"[..], b"two", b"three"].contains(&v.as_slice()), "{v:?}");
        }
        std::fs::write(&path, "").unwrap();
        assert!(Payloads::from_file(&path, "\\n", 1).is_err());
    }
}
