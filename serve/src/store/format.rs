//! The bytes on disk: checksummed log lines and the checksummed snapshot.
//!
//! A log line is the record's JSON with its CRC-32 (IEEE, of the JSON
//! without the `crc` member) as a last member:
//! `{"k":"reward",…,"t":1764590000000,"crc":"1c291ca3"}`. The snapshot is
//! `{"format":"umpire.serve-state","format_version":2,"crc32":"…","state":{…}}`,
//! the CRC taken over the bytes of `state`. Both stay JSON, so `jq` reads
//! them, and a checksum tells a damaged record from one a crash cut short
//! (which has no newline). State format 1 (no checksums) is refused, not
//! read: its records cannot be told from damaged ones.
//!
//! Also how a snapshot gets onto the disk ([`write_snapshot_file`]), which
//! both a start ([`super::recovery`]) and a rotation ([`super::writer`]) do.

use std::fs::{self, File};
use std::io::{BufRead, BufReader, Write as _};
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::{LogRecord, Master, StoreError, io};
use crate::runtime::Pending;

pub const STATE_FORMAT: &str = "umpire.serve-state";
pub const STATE_FORMAT_VERSION: u32 = 2;

/// What precedes a log line's checksum digits.
const CRC_MEMBER: &[u8] = b",\"crc\":\"";
/// `,"crc":"` + 8 hex digits + `"}`.
const CRC_SUFFIX_LEN: usize = CRC_MEMBER.len() + 8 + 2;

/// Append one record as a checksummed line, newline included.
pub fn encode_record(rec: &LogRecord, buf: &mut Vec<u8>) -> Result<(), StoreError> {
    let start = buf.len();
    serde_json::to_writer(&mut *buf, rec)?;
    let crc = crc32fast::hash(&buf[start..]);
    // The record is a JSON object: its closing brace comes back after the checksum.
    buf.pop();
    // Writing to a Vec cannot fail.
    let _ = writeln!(buf, ",\"crc\":\"{crc:08x}\"}}");
    Ok(())
}

/// Why a log line is not a record this server wrote.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum RecordError {
    /// A JSON object without a `crc` member: state format 1.
    #[error("record without a checksum (state format 1, written by an older umpire, is not read)")]
    Format1,
    /// The line does not end in a `crc` member.
    #[error("not a checksummed log record")]
    NoChecksum,
    /// The `crc` member is not 8 hex digits.
    #[error("the checksum is not 8 hex digits")]
    ChecksumDigits,
    /// The bytes do not hash to the stored checksum.
    #[error(
        "checksum mismatch (stored {stored:08x}, computed {computed:08x}): the record is damaged"
    )]
    Mismatch {
        /// The CRC-32 the line carries.
        stored: u32,
        /// The CRC-32 of the line's bytes.
        computed: u32,
    },
    /// The checksum holds but the JSON is not a log record (a newer format).
    #[error("not a log record: {0}")]
    Json(String),
}

/// Read one log line (without its newline). `scratch` is reused between lines.
pub fn decode_record(line: &[u8], scratch: &mut Vec<u8>) -> Result<LogRecord, RecordError> {
    let n = line.len();
    let member = n.checked_sub(CRC_SUFFIX_LEN).map(|at| &line[at..]);
    let Some(suffix) = member.filter(|s| s.starts_with(CRC_MEMBER) && s.ends_with(b"\"}")) else {
        return Err(
            if line.first() == Some(&b'{') && !line.windows(6).any(|w| w == b"\"crc\":") {
                RecordError::Format1
            } else {
                RecordError::NoChecksum
            },
        );
    };
    let digits = &suffix[CRC_MEMBER.len()..CRC_MEMBER.len() + 8];
    let stored = std::str::from_utf8(digits)
        .ok()
        .filter(|d| d.bytes().all(|b| b.is_ascii_hexdigit()))
        .and_then(|d| u32::from_str_radix(d, 16).ok())
        .ok_or(RecordError::ChecksumDigits)?;
    scratch.clear();
    scratch.extend_from_slice(&line[..n - CRC_SUFFIX_LEN]);
    scratch.push(b'}');
    let computed = crc32fast::hash(scratch);
    if computed != stored {
        return Err(RecordError::Mismatch { stored, computed });
    }
    serde_json::from_slice(scratch).map_err(|e| RecordError::Json(e.to_string()))
}

/// How a read of a log ended.
pub struct LogRead {
    /// The bytes of its well-formed lines.
    pub good: u64,
    /// Whether it ended in a line without a newline: a write cut short (or
    /// being made), never acknowledged, and not read.
    pub torn: bool,
}

/// Read the log `file` (at `path`) record by record, handing each to
/// `each`. A last line without a newline ends the read; any other damage,
/// or an error `each` returns, is `StoreError::Corrupt` naming the line.
pub fn read_log(
    file: File,
    path: &Path,
    mut each: impl FnMut(LogRecord) -> Result<(), String>,
) -> Result<LogRead, StoreError> {
    let mut reader = BufReader::new(file);
    let (mut line, mut scratch) = (Vec::new(), Vec::new());
    let (mut good, mut number) = (0u64, 0usize);
    loop {
        line.clear();
        let n = reader.read_until(b'\n', &mut line).map_err(io(path))?;
        if n == 0 {
            return Ok(LogRead { good, torn: false });
        }
        number += 1;
        let Some(body) = line.strip_suffix(b"\n") else {
            return Ok(LogRead { good, torn: true });
        };
        let corrupt = |message: String| StoreError::Corrupt {
            path: path.to_owned(),
            line: number,
            message,
        };
        let rec = decode_record(body, &mut scratch).map_err(|e| corrupt(e.to_string()))?;
        each(rec).map_err(corrupt)?;
        good += n as u64;
    }
}

/// What a snapshot holds.
#[derive(Serialize, Deserialize)]
pub struct SnapshotState {
    /// The live log that follows this snapshot.
    pub next_log: u64,
    pub bandits: Vec<Master>,
    /// Per bandit, its pending decisions.
    pub pending: Vec<Vec<(u64, Pending)>>,
}

fn snapshot_prefix() -> String {
    format!(
        "{{\"format\":\"{STATE_FORMAT}\",\"format_version\":{STATE_FORMAT_VERSION},\"crc32\":\""
    )
}

const STATE_MEMBER: &[u8] = b"\",\"state\":";

pub fn encode_snapshot(state: &SnapshotState) -> Result<Vec<u8>, StoreError> {
    let body = serde_json::to_vec(state)?;
    let crc = crc32fast::hash(&body);
    let mut out = Vec::with_capacity(body.len() + 96);
    out.extend_from_slice(snapshot_prefix().as_bytes());
    // Writing to a Vec cannot fail.
    let _ = write!(out, "{crc:08x}");
    out.extend_from_slice(STATE_MEMBER);
    out.extend_from_slice(&body);
    out.extend_from_slice(b"}\n");
    Ok(out)
}

/// Why a snapshot write did not end well.
#[derive(Debug)]
pub enum SnapshotFailure {
    /// The snapshot was not put in place: the previous one stands.
    NotWritten(StoreError),
    /// The snapshot was renamed into place, so it is the one a start reads,
    /// but the directory fsync failed ([`StoreError::DirSync`]): the rename
    /// (and the creation of the log it names) may not survive a crash.
    Unsynced(StoreError),
}

impl SnapshotFailure {
    pub fn into_error(self) -> StoreError {
        match self {
            SnapshotFailure::NotWritten(e) | SnapshotFailure::Unsynced(e) => e,
        }
    }
}

/// Write a snapshot atomically: a temporary file, fsynced and renamed, then
/// the directory fsynced. The temporary is removed on failure, so that a
/// full disk is not made fuller by every retry. The directory is opened
/// before the rename, so that running out of descriptors cannot fail the
/// fsync after the snapshot is already in place; a failed directory fsync
/// is retried once.
pub fn write_snapshot_file(dir: &Path, state: &SnapshotState) -> Result<(), SnapshotFailure> {
    let bytes = encode_snapshot(state).map_err(SnapshotFailure::NotWritten)?;
    let tmp = dir.join("snapshot.json.tmp");
    let target = dir.join("snapshot.json");
    let put = || -> std::io::Result<File> {
        let dir_handle = File::open(dir)?;
        let mut f = File::create(&tmp)?;
        f.write_all(&bytes)?;
        f.sync_all()?;
        fs::rename(&tmp, &target)?;
        Ok(dir_handle)
    };
    let dir_handle = put().map_err(|e| {
        let _ = fs::remove_file(&tmp);
        SnapshotFailure::NotWritten(StoreError::Io {
            path: target.clone(),
            source: e,
        })
    })?;
    dir_handle
        .sync_all()
        .or_else(|_| dir_handle.sync_all())
        .map_err(|source| {
            SnapshotFailure::Unsynced(StoreError::DirSync {
                path: target.clone(),
                source,
            })
        })
}

/// Why a snapshot cannot be used: the line and the problem.
pub type SnapshotProblem = (usize, String);

pub fn decode_snapshot(bytes: &[u8]) -> Result<SnapshotState, SnapshotProblem> {
    #[derive(Deserialize)]
    struct Header {
        format: String,
        format_version: u32,
    }
    let header: Header = serde_json::from_slice(bytes)
        .map_err(|e| (e.line(), format!("not a readable state snapshot: {e}")))?;
    if header.format != STATE_FORMAT {
        return Err((
            1,
            format!("not an umpire state snapshot ({})", header.format),
        ));
    }
    if header.format_version != STATE_FORMAT_VERSION {
        return Err((
            1,
            format!(
                "state format {} was written by another umpire version; this one reads format \
                 {STATE_FORMAT_VERSION} (checksummed); finish serving it with the version that wrote it, \
                 or start with a fresh --state directory",
                header.format_version
            ),
        ));
    }
    let layout = || {
        (
            1,
            "the snapshot is not laid out as umpire writes it, so its checksum cannot be checked"
                .to_owned(),
        )
    };
    let prefix = snapshot_prefix();
    let rest = bytes.strip_prefix(prefix.as_bytes()).ok_or_else(layout)?;
    let (digits, rest) = rest.split_at_checked(8).ok_or_else(layout)?;
    let body = rest
        .strip_prefix(STATE_MEMBER)
        .and_then(|b| b.trim_ascii_end().strip_suffix(b"}"))
        .ok_or_else(layout)?;
    let want = std::str::from_utf8(digits)
        .ok()
        .and_then(|d| u32::from_str_radix(d, 16).ok())
        .ok_or_else(layout)?;
    let got = crc32fast::hash(body);
    if got != want {
        return Err((
            1,
            format!(
                "checksum mismatch (stored {want:08x}, computed {got:08x}): the snapshot is damaged"
            ),
        ));
    }
    serde_json::from_slice(body).map_err(|e| (e.line(), format!("unreadable state: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_round_trips_and_any_flipped_byte_is_caught() {
        let rec = LogRecord::Reward {
            b: 1,
            id: 42,
            arm: 2,
            ctx: 0,
            r: 0.25,
            issued: 7,
            t: 9,
        };
        let mut buf = Vec::new();
        encode_record(&rec, &mut buf).expect("encode");
        assert_eq!(buf.last(), Some(&b'\n'));
        let line = &buf[..buf.len() - 1];
        let mut scratch = Vec::new();
        assert_eq!(decode_record(line, &mut scratch), Ok(rec));
        for i in 0..line.len() {
            let mut bad = line.to_vec();
            bad[i] ^= 0x01;
            assert!(
                decode_record(&bad, &mut scratch).is_err(),
                "byte {i} flipped"
            );
        }
    }

    #[test]
    fn an_old_format_record_is_named_as_such() {
        let e = decode_record(br#"{"k":"apply","b":0}"#, &mut Vec::new()).expect_err("old");
        assert_eq!(e, RecordError::Format1);
        assert!(e.to_string().contains("state format 1"), "{e}");
    }
}
