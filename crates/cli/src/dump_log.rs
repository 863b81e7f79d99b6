//! `spool dump-log` / `kafka-dump-log`: print the batches and records of segment files
//! and the entries of their indexes, read straight from the data directory (Kafka's
//! `DumpLogSegments`). No broker is needed, and the files are only read.
//!
//! ```text
//! kafka-dump-log --files data/orders-0/00000000000000000000.log --print-data-log
//! Dumping data/orders-0/00000000000000000000.log
//! Log starting offset: 0
//! baseOffset: 0 lastOffset: 1 count: 2 baseSequence: -1 lastSequence: -1 producerId: -1 producerEpoch: -1 partitionLeaderEpoch: 0 isTransactional: false isControl: false deleteHorizonMs: OptionalLong.empty position: 0 CreateTime: 1700000000001 size: 82 magic: 2 compresscodec: none crc: 2558356412 isvalid: true
//! | offset: 0 CreateTime: 1700000000000 keySize: -1 valueSize: 1 sequence: -1 headerKeys: [] payload: a
//! ```
//!
//! The lines are Kafka's, so scripts that read them keep working. `.log` files list
//! their batches (with `--deep-iteration` or `--print-data-log`, every record; keys and
//! values printed as UTF-8), `.index` files their offset/position entries, checked
//! against the log beside them, `.timeindex` files their timestamp/offset entries.
//! Bytes after the last whole batch are reported, as is a batch whose CRC does not
//! match (`isvalid: false`).

use std::fs::File;
use std::io::{BufReader, ErrorKind, Read};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use clap::Parser;
use spool_protocol::batch::{compute_crc, BatchHeader, Codec, LOG_OVERHEAD};
use spool_protocol::record::{decompress_records, Records};

/// The batch attribute bit of a batch whose tombstones have a delete horizon (KIP-534).
const DELETE_HORIZON_FLAG: i16 = 0x40;
/// Bytes of an offset index entry (relative offset, position) and a time index entry
/// (timestamp, relative offset).
const OFFSET_ENTRY: usize = 8;
const TIME_ENTRY: usize = 12;

/// Print the contents of log segment and index files.
#[derive(Parser, Debug)]
#[command(name = "kafka-dump-log", version, about = "This tool helps to parse a log file and dump its contents to the console, useful for debugging a seemingly corrupt log segment.")]
pub(crate) struct DumpLogArgs {
    /// REQUIRED: the comma separated list of data and index log files to be dumped
    #[arg(long, value_name = "FILE,...", value_delimiter = ',', required = true)]
    files: Vec<PathBuf>,
    /// Print the records' keys and values (implies --deep-iteration)
    #[arg(long = "print-data-log")]
    print_data_log: bool,
    /// Print every record of each batch, not only the batches
    #[arg(long = "deep-iteration")]
    deep_iteration: bool,
    /// Leave out the records' metadata (offsets, timestamps, sizes) when printing them
    #[arg(long = "skip-record-metadata")]
    skip_record_metadata: bool,
    /// Read at most this many bytes of each log file
    #[arg(long = "max-bytes", value_name = "BYTES", default_value_t = i32::MAX as u64)]
    max_bytes: u64,
    /// Only check that the index entries point at batches ending at their offsets
    #[arg(long = "verify-index-only")]
    verify_index_only: bool,
}

/// Runs the tool; returns the process exit code.
pub(crate) fn run(args: DumpLogArgs) -> i32 {
    let mut failed = false;
    for file in &args.files {
        println!("Dumping {}", file.display());
        let dumped = match file.extension().and_then(|e| e.to_str()) {
            Some("log") => dump_log(file, &args),
            Some("index") => dump_index(file, args.verify_index_only),
            Some("timeindex") => dump_time_index(file),
            _ => {
                eprintln!("Ignoring unknown file {}", file.display());
                Ok(())
            }
        };
        if let Err(e) = dumped {
            eprintln!("Error occurred: {e:#}");
            failed = true;
        }
    }
    i32::from(failed)
}

/// The base offset a segment file's name gives (`00000000000000000042.log` → 42).
fn base_offset(file: &Path) -> Result<i64> {
    let stem = file.file_stem().and_then(|s| s.to_str()).unwrap_or_default();
    stem.parse().with_context(|| format!("{} is not named after a base offset (like 00000000000000000000.log)", file.display()))
}

fn dump_log(file: &Path, args: &DumpLogArgs) -> Result<()> {
    println!("Log starting offset: {}", base_offset(file)?);
    let opened = File::open(file).with_context(|| format!("cannot open {}", file.display()))?;
    let size = opened.metadata()?.len().min(args.max_bytes);
    let mut reader = BufReader::with_capacity(1 << 20, opened.take(size));
    let deep = args.deep_iteration || args.print_data_log;
    let mut position = 0u64;
    while let Some(batch) = next_batch(&mut reader, size - position)? {
        let Ok(header) = BatchHeader::parse(&batch) else { break };
        print_batch(&header, &batch, position);
        if deep {
            print_records(&header, &batch, args)?;
        }
        position += batch.len() as u64;
    }
    if position < size && args.max_bytes == i32::MAX as u64 {
        let name = file.file_name().unwrap_or_default().to_string_lossy();
        println!("Found {} invalid bytes at the end of {name}", size - position);
    }
    Ok(())
}

/// The next whole batch's bytes, or `None` at the end of what is readable: the input
/// ends, or the next length prefix is negative or runs past the `remaining` bytes.
fn next_batch(reader: &mut impl Read, remaining: u64) -> Result<Option<Vec<u8>>> {
    let mut prefix = [0u8; LOG_OVERHEAD];
    if !read_whole(reader, &mut prefix)? {
        return Ok(None);
    }
    let length = i32::from_be_bytes([prefix[8], prefix[9], prefix[10], prefix[11]]);
    let Ok(length) = usize::try_from(length) else { return Ok(None) };
    if (LOG_OVERHEAD + length) as u64 > remaining {
        return Ok(None);
    }
    let mut batch = prefix.to_vec();
    batch.resize(LOG_OVERHEAD + length, 0);
    Ok(read_whole(reader, &mut batch[LOG_OVERHEAD..])?.then_some(batch))
}

/// Fills `buf`; false when the input ends first.
fn read_whole(reader: &mut impl Read, buf: &mut [u8]) -> Result<bool> {
    match reader.read_exact(buf) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == ErrorKind::UnexpectedEof => Ok(false),
        Err(e) => Err(e.into()),
    }
}

fn timestamp_type(header: &BatchHeader) -> &'static str {
    if header.is_log_append_time() {
        "LogAppendTime"
    } else {
        "CreateTime"
    }
}

fn codec_name(header: &BatchHeader) -> String {
    match header.codec() {
        Codec::None => "none".into(),
        Codec::Gzip => "gzip".into(),
        Codec::Snappy => "snappy".into(),
        Codec::Lz4 => "lz4".into(),
        Codec::Zstd => "zstd".into(),
        Codec::Unknown(id) => format!("unknown({id})"),
    }
}

fn print_batch(header: &BatchHeader, batch: &[u8], position: u64) {
    let delete_horizon = if header.attributes & DELETE_HORIZON_FLAG != 0 {
        format!("OptionalLong[{}]", header.base_timestamp)
    } else {
        "OptionalLong.empty".to_string()
    };
    println!(
        "baseOffset: {} lastOffset: {} count: {} baseSequence: {} lastSequence: {} producerId: {} producerEpoch: {} \
         partitionLeaderEpoch: {} isTransactional: {} isControl: {} deleteHorizonMs: {delete_horizon} position: {position} \
         {}: {} size: {} magic: {} compresscodec: {} crc: {} isvalid: {}",
        header.base_offset,
        header.last_offset(),
        header.record_count,
        header.base_sequence,
        header.last_sequence(),
        header.producer_id,
        header.producer_epoch,
        header.partition_leader_epoch,
        header.is_transactional(),
        header.is_control(),
        timestamp_type(header),
        header.max_timestamp,
        batch.len(),
        header.magic,
        codec_name(header),
        header.crc,
        compute_crc(batch) == header.crc,
    );
}

fn print_records(header: &BatchHeader, batch: &[u8], args: &DumpLogArgs) -> Result<()> {
    let section = decompress_records(batch, header)
        .with_context(|| format!("the records of the batch at offset {} cannot be read", header.base_offset))?;
    for record in Records::new(&section, header.record_count) {
        let record = record.with_context(|| format!("a record of the batch at offset {} is malformed", header.base_offset))?;
        let mut line = String::from("|");
        if !args.skip_record_metadata {
            let timestamp =
                if header.is_log_append_time() { header.max_timestamp } else { header.base_timestamp + record.timestamp_delta };
            let sequence = header.sequence_at(record.offset_delta);
            let size = |bytes: Option<&[u8]>| bytes.map_or(-1, |b| b.len() as i64);
            let header_keys: Vec<String> =
                record.header_keys()?.iter().map(|k| k.map(String::from_utf8_lossy).unwrap_or_default().into_owned()).collect();
            line.push_str(&format!(
                " offset: {} {}: {timestamp} keySize: {} valueSize: {} sequence: {sequence} headerKeys: [{}]",
                header.base_offset + i64::from(record.offset_delta),
                timestamp_type(header),
                size(record.key),
                size(record.value),
                header_keys.join(","),
            ));
        }
        if args.print_data_log && !header.is_control() {
            if let Some(key) = record.key {
                line.push_str(&format!(" key: {}", String::from_utf8_lossy(key)));
            }
            if let Some(value) = record.value {
                line.push_str(&format!(" payload: {}", String::from_utf8_lossy(value)));
            }
        }
        println!("{line}");
    }
    Ok(())
}

/// The whole entries of an index file.
fn index_entries<const N: usize>(file: &Path) -> Result<Vec<[u8; N]>> {
    let bytes = std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
    if bytes.len() % N != 0 {
        println!("{} bytes at the end of {} are not a whole entry", bytes.len() % N, file.display());
    }
    Ok(bytes.chunks_exact(N).map(|c| c.try_into().expect("chunks of N bytes")).collect())
}

fn dump_index(file: &Path, verify_only: bool) -> Result<()> {
    let base = base_offset(file)?;
    let entries = index_entries::<OFFSET_ENTRY>(file)?;
    if entries.is_empty() {
        println!("{} is empty.", file.display());
        return Ok(());
    }
    let log_path = file.with_extension("log");
    let log = File::open(&log_path).with_context(|| format!("cannot open {}, the log of this index", log_path.display()))?;
    let mut mismatches = Vec::new();
    for (i, entry) in entries.iter().enumerate() {
        let relative = i32::from_be_bytes([entry[0], entry[1], entry[2], entry[3]]);
        let position = u32::from_be_bytes([entry[4], entry[5], entry[6], entry[7]]);
        let offset = base + i64::from(relative);
        // A zero entry after the first: the unused end of a preallocated index.
        if relative == 0 && i > 0 {
            break;
        }
        let mut header = [0u8; spool_protocol::batch::BATCH_HEADER_LEN];
        let found = match log.read_exact_at(&mut header, u64::from(position)) {
            Ok(()) => BatchHeader::parse(&header).map(|h| h.last_offset()).ok(),
            Err(_) => None,
        };
        if found != Some(offset) {
            mismatches.push((offset, found));
        }
        if !verify_only {
            println!("offset: {offset} position: {position}");
        }
    }
    if !mismatches.is_empty() {
        eprintln!("Mismatches in :{}", file.display());
        for (offset, found) in &mismatches {
            let found = found.map_or("no batch".to_string(), |o| o.to_string());
            eprintln!("  Index offset: {offset}, log offset: {found}");
        }
        bail!("{} index entries of {} do not point at a batch ending at their offset", mismatches.len(), file.display());
    }
    Ok(())
}

fn dump_time_index(file: &Path) -> Result<()> {
    let base = base_offset(file)?;
    let entries = index_entries::<TIME_ENTRY>(file)?;
    if entries.is_empty() {
        println!("{} is empty.", file.display());
        return Ok(());
    }
    for (i, entry) in entries.iter().enumerate() {
        let timestamp = i64::from_be_bytes(entry[..8].try_into().expect("8 bytes"));
        let relative = i32::from_be_bytes(entry[8..].try_into().expect("4 bytes"));
        if relative == 0 && timestamp == 0 && i > 0 {
            break;
        }
        println!("timestamp: {timestamp} offset: {}", base + i64::from(relative));
    }
    Ok(())
}
