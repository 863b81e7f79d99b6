//! Response frames whose record sets go from segment files to the socket by `sendfile`
//! (on plain connections; TLS must encrypt them, so it reads them).
//!
//! A fetch of many bytes is answered as Kafka does (`FileRecords.writeTo`): the records
//! never pass through the broker's memory. kafka-protocol encodes the response with a
//! 16-byte marker in place of each such record set; [`splice`] then cuts the encoded
//! frame at the markers and puts the file slices there, with the length prefix the real
//! record set needs. The marker starts with 12 bytes drawn at random when the process
//! starts, so no client-chosen bytes (a topic name) can pose as one; its last four
//! bytes say which record set it stands for.

use std::io;
use std::os::unix::fs::FileExt;
use std::sync::LazyLock;

use bytes::{Bytes, BytesMut};
use spool_storage::{FileSlice, LogSlices};
use tokio::io::{AsyncWriteExt, Interest};
use tokio::net::TcpStream;

use crate::tls::ClientStream;

/// How much of a spliced record set a TLS connection reads into memory at a time.
const TLS_READ_CHUNK_BYTES: usize = 256 * 1024;

/// Record sets at least this large are spliced; smaller ones are read and encoded
/// inline, which costs less than the extra system calls.
pub(crate) const SPLICE_MIN_BYTES: usize = 64 * 1024;

const MARKER_LEN: usize = 16;
const NONCE_LEN: usize = 12;

static NONCE: LazyLock<[u8; NONCE_LEN]> = LazyLock::new(|| {
    let mut nonce = [0u8; NONCE_LEN];
    nonce.copy_from_slice(&uuid::Uuid::new_v4().as_bytes()[..NONCE_LEN]);
    nonce
});

/// The bytes that stand for record set `index` of a response until [`splice`].
pub(crate) fn marker(index: usize) -> Bytes {
    let mut marker = BytesMut::with_capacity(MARKER_LEN);
    marker.extend_from_slice(&NONCE[..]);
    marker.extend_from_slice(&(index as u32).to_be_bytes());
    marker.freeze()
}

/// One piece of a response frame, written in order.
#[derive(Debug)]
pub(crate) enum Part {
    Bytes(Bytes),
    File(FileSlice),
}

/// A response ready to be written: one encoded frame, or a frame spliced with files.
pub(crate) enum Response {
    Frame(BytesMut),
    Parts(Vec<Part>),
}

impl Response {
    /// Writes the response: file slices by `sendfile` on a plain connection; through TLS,
    /// which must encrypt them, read from the page cache a chunk at a time.
    pub(crate) async fn write_to(&self, stream: &mut ClientStream) -> io::Result<()> {
        match stream {
            ClientStream::Plain(stream) => self.write_to_tcp(stream).await,
            ClientStream::Tls(stream) => {
                let stream = stream.as_mut();
                match self {
                    Response::Frame(frame) => stream.write_all(frame).await?,
                    Response::Parts(parts) => {
                        let mut chunk = Vec::new();
                        for part in parts {
                            match part {
                                Part::Bytes(bytes) => stream.write_all(bytes).await?,
                                Part::File(slice) => {
                                    let mut position = slice.position();
                                    let end = position + slice.len() as u64;
                                    while position < end {
                                        let len = (end - position).min(TLS_READ_CHUNK_BYTES as u64) as usize;
                                        chunk.resize(len, 0);
                                        // A truncated segment ends the read early: the frame
                                        // cannot be completed, so the connection closes.
                                        slice.file().read_exact_at(&mut chunk, position)?;
                                        stream.write_all(&chunk).await?;
                                        position += len as u64;
                                    }
                                }
                            }
                        }
                    }
                }
                // rustls holds encrypted records until flushed.
                stream.flush().await
            }
        }
    }

    async fn write_to_tcp(&self, stream: &mut TcpStream) -> io::Result<()> {
        match self {
            Response::Frame(frame) => stream.write_all(frame).await,
            Response::Parts(parts) => {
                // Corked while the parts go out: with TCP_NODELAY every write is pushed
                // at once, so the frame's head, each slice's tail and the frame's last
                // bytes would each leave in a small segment of their own, and wake the
                // receiver for it. Corked, they leave in full segments; uncorking sends
                // the rest. (Measured, 10 M records read by librdkafka's C consumer in
                // 1 MiB fetches: broker CPU about 0.2 s instead of 0.45 s.) A failed
                // setsockopt only costs that saving.
                let _ = rustix::net::sockopt::set_tcp_cork(&*stream, true);
                let mut result = Ok(());
                for part in parts {
                    result = match part {
                        Part::Bytes(bytes) => stream.write_all(bytes).await,
                        Part::File(slice) => send_file(stream, slice).await,
                    };
                    if result.is_err() {
                        break;
                    }
                }
                let _ = rustix::net::sockopt::set_tcp_cork(&*stream, false);
                result
            }
        }
    }
}

/// `sendfile` of the whole slice, waiting for the socket as needed.
async fn send_file(stream: &TcpStream, slice: &FileSlice) -> io::Result<()> {
    let mut offset = slice.position();
    let end = offset + slice.len() as u64;
    while offset < end {
        stream.writable().await?;
        let count = (end - offset) as usize;
        let sent = stream.try_io(Interest::WRITABLE, || {
            rustix::fs::sendfile(stream, slice.file(), Some(&mut offset), count).map_err(io::Error::from)
        });
        match sent {
            // The segment was truncated under the slice (a follower cut its tail): the
            // frame cannot be completed, so the connection must close.
            Ok(0) => {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    format!("segment file ended at {offset}, before the fetched records' end at {end}"),
                ))
            }
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Cuts the encoded response `frame` (length prefix first) at the markers of `records`
/// and puts each record set's file slices in its marker's place. `flexible`: the
/// response version encodes byte fields with a varint length (compact), else with an
/// `int32` one.
///
/// # Errors
/// A marker is missing, repeated or not where a record set's bytes belong: the
/// response cannot be sent.
pub(crate) fn splice(frame: BytesMut, records: &[LogSlices], flexible: bool) -> Result<Vec<Part>, String> {
    let frame = frame.freeze();
    let placeholder_prefix: &[u8] = if flexible { &[MARKER_LEN as u8 + 1] } else { &[0, 0, 0, MARKER_LEN as u8] };
    let mut parts = Vec::with_capacity(records.len() * 3 + 1);
    let mut seen = vec![false; records.len()];
    let mut cursor = 0;
    let mut size = frame.len() - 4;
    for at in memchr::memmem::find_iter(&frame, &NONCE[..]) {
        let index = frame
            .get(at + NONCE_LEN..at + MARKER_LEN)
            .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize)
            .filter(|&i| i < records.len() && !seen[i])
            .ok_or_else(|| format!("fetch response has a stray record-set marker at byte {at}"))?;
        seen[index] = true;
        let prefix_start = at
            .checked_sub(placeholder_prefix.len())
            .filter(|&p| p >= cursor && &frame[p..at] == placeholder_prefix)
            .ok_or_else(|| format!("record-set marker {index} at byte {at} lacks its length prefix"))?;
        let len = records[index].len();
        let mut prefix = BytesMut::with_capacity(5);
        if flexible {
            put_unsigned_varint(&mut prefix, len as u32 + 1);
        } else {
            prefix.extend_from_slice(&(len as i32).to_be_bytes());
        }
        size = size - placeholder_prefix.len() - MARKER_LEN + prefix.len() + len;
        parts.push(Part::Bytes(frame.slice(cursor..prefix_start)));
        parts.push(Part::Bytes(prefix.freeze()));
        parts.extend(records[index].slices().iter().cloned().map(Part::File));
        cursor = at + MARKER_LEN;
    }
    if let Some(missing) = seen.iter().position(|s| !s) {
        return Err(format!("fetch response lost the marker of record set {missing}"));
    }
    parts.push(Part::Bytes(frame.slice(cursor..)));
    let size = i32::try_from(size).map_err(|_| format!("fetch response of {size} bytes is too large to frame"))?;
    // The frame's length prefix counts the spliced bytes, not the markers.
    match parts.first_mut() {
        Some(Part::Bytes(head)) if head.len() >= 4 => {
            let mut fixed = BytesMut::from(&head[..]);
            fixed[..4].copy_from_slice(&size.to_be_bytes());
            *head = fixed.freeze();
        }
        _ => return Err("fetch response frame shorter than its length prefix".to_string()),
    }
    Ok(parts)
}

fn put_unsigned_varint(out: &mut BytesMut, mut value: u32) {
    while value >= 0x80 {
        out.extend_from_slice(&[(value as u8 & 0x7f) | 0x80]);
        value >>= 7;
    }
    out.extend_from_slice(&[value as u8]);
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_protocol::messages::fetch_response::{FetchableTopicResponse, PartitionData};
    use kafka_protocol::messages::{ApiKey, FetchResponse, TopicName};
    use kafka_protocol::protocol::{Decodable, StrBytes};
    use spool_protocol::header::encode_response;
    use spool_storage::{Log, LogConfig};

    /// A log of `batches` batches of 100 records of `value_len` bytes each, in segments
    /// of about `segment_bytes`.
    fn log(dir: &std::path::Path, batches: usize, value_len: usize, segment_bytes: u64) -> Log {
        let mut log = Log::open(dir, LogConfig { segment_bytes, ..LogConfig::default() }, 0).unwrap();
        for b in 0..batches {
            let values = (0..100).map(|i| (None, Some(Bytes::from(vec![(b * 100 + i) as u8; value_len]))));
            let buf = crate::group_coordinator::encode_plain_batch(values, 0).unwrap();
            log.append_as_leader(&buf, 0, 0).unwrap();
        }
        log
    }

    fn response(records: Vec<Option<Bytes>>) -> FetchResponse {
        let partitions = records
            .into_iter()
            .enumerate()
            .map(|(i, records)| {
                let mut data = PartitionData::default();
                data.partition_index = i as i32;
                data.high_watermark = 7;
                data.records = records;
                data
            })
            .collect();
        let mut topic = FetchableTopicResponse::default();
        topic.topic = TopicName(StrBytes::from_static_str("spliced"));
        topic.partitions = partitions;
        let mut response = FetchResponse::default();
        response.responses = vec![topic];
        response
    }

    /// The bytes the parts put on the wire.
    fn assemble(parts: &[Part]) -> BytesMut {
        let mut out = BytesMut::new();
        for part in parts {
            match part {
                Part::Bytes(bytes) => out.extend_from_slice(bytes),
                Part::File(slice) => slice.read_into(&mut out).unwrap(),
            }
        }
        out
    }

    #[test]
    fn spliced_frames_are_the_frames_with_the_records_inline() {
        let dirs = [tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap()];
        // One record set within a segment, one spanning several segments.
        let logs = [log(dirs[0].path(), 3, 300, 1 << 30), log(dirs[1].path(), 12, 200, 50_000)];
        let slices: Vec<LogSlices> = logs.iter().map(|log| log.read_slices(0, usize::MAX, i64::MAX, true).unwrap()).collect();
        assert_eq!(slices[0].slices().len(), 1);
        assert!(slices[1].slices().len() > 1, "the second read spans segments");
        let inline: Vec<Option<Bytes>> = slices.iter().map(|s| Some(s.to_bytes().unwrap())).collect();
        for version in [4, 11, 12, 16] {
            // A record set kept inline between the spliced ones, as small ones are.
            let small = Some(Bytes::from_static(b"small"));
            let expected_body = response(vec![inline[0].clone(), small.clone(), inline[1].clone()]);
            let mut expected = BytesMut::new();
            encode_response(&mut expected, ApiKey::Fetch, version, 42, &expected_body).unwrap();

            let mut frame = BytesMut::new();
            encode_response(&mut frame, ApiKey::Fetch, version, 42, &response(vec![Some(marker(0)), small, Some(marker(1))])).unwrap();
            let parts = splice(frame, &slices, version >= 12).unwrap();
            let wire = assemble(&parts);
            assert_eq!(&wire[..], &expected[..], "v{version}: the spliced frame is byte for byte the inline one");

            // And a client decodes it.
            let mut body = wire.freeze().slice(4..);
            let _header = kafka_protocol::messages::ResponseHeader::decode(&mut body, ApiKey::Fetch.response_header_version(version)).unwrap();
            let decoded = FetchResponse::decode(&mut body, version).unwrap();
            assert_eq!(decoded.responses[0].partitions[2].records, inline[1]);
        }
    }

    #[test]
    fn a_frame_without_its_markers_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let slices = vec![log(dir.path(), 1, 10, 1 << 30).read_slices(0, usize::MAX, i64::MAX, true).unwrap()];
        let mut frame = BytesMut::new();
        encode_response(&mut frame, ApiKey::Fetch, 12, 1, &response(vec![Some(Bytes::from_static(b"no marker"))])).unwrap();
        assert!(splice(frame, &slices, true).unwrap_err().contains("lost the marker"));
        // A marker whose index names no record set.
        let mut frame = BytesMut::new();
        encode_response(&mut frame, ApiKey::Fetch, 12, 1, &response(vec![Some(marker(5))])).unwrap();
        assert!(splice(frame, &slices, true).unwrap_err().contains("stray"));
    }

    #[test]
    fn varints_encode_as_kafka_does() {
        for (value, bytes) in [(0u32, vec![0u8]), (127, vec![0x7f]), (128, vec![0x80, 0x01]), (300, vec![0xac, 0x02])] {
            let mut out = BytesMut::new();
            put_unsigned_varint(&mut out, value);
            assert_eq!(&out[..], &bytes[..], "{value}");
        }
    }
}
