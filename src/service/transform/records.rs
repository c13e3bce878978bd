//! The data plane of a batch transform, with no I/O: split an input object into records
//! (SplitType), group records into request payloads (BatchStrategy, MaxPayloadInMB) and put
//! responses back together (AssembleWith). SageMaker's DataProcessing (InputFilter, JoinSource,
//! OutputFilter) on one record lives in `processing`.

mod processing;
pub use processing::{apply_filter, join_input};

/// The request's enums, as the model spells them: how an input object is cut into records
/// (`TransformInput.SplitType`), how many records go into one request (`BatchStrategy`) and how
/// responses are joined into the output object (`TransformOutput.AssembleWith`).
pub use crate::aws::model::typed::sagemaker::{
    AssemblyType as AssembleWith, BatchStrategy, SplitType,
};

/// An absent SplitType means `None`, as in SageMaker.
pub fn split_type(member: Option<SplitType>) -> SplitType {
    member.unwrap_or(SplitType::None)
}

/// An absent BatchStrategy means `SingleRecord`.
pub fn batch_strategy(member: Option<BatchStrategy>) -> BatchStrategy {
    member.unwrap_or(BatchStrategy::SingleRecord)
}

/// An absent AssembleWith means `None`.
pub fn assemble_with(member: Option<AssembleWith>) -> AssembleWith {
    member.unwrap_or(AssembleWith::None)
}

const RECORDIO_MAGIC: u32 = 0xced7_230a;
const RECORDIO_LEN_MASK: u32 = (1 << 29) - 1;
const MIB: f64 = 1024.0 * 1024.0;

/// Splits one input object into records, borrowing from `data`.
///
/// - `None`: the whole object is one record.
/// - `Line`: one record per line; a final `\r` is stripped and empty lines are skipped.
/// - `RecordIO`: MXNet RecordIO. Each record is returned with its framing (magic, length word,
///   data, padding to 4 bytes) because containers expect `application/x-recordio-protobuf` frames;
///   a multi-part record (continuation flags 1, 2…, 3) comes back as one record.
/// - `TFRecord`: u64 length, masked CRC, data, masked CRC, returned framed; CRCs are not checked.
pub fn split(data: &[u8], split: SplitType) -> Result<Vec<&[u8]>, String> {
    match split {
        SplitType::None => Ok(vec![data]),
        SplitType::Line => Ok(data
            .split(|&b| b == b'\n')
            .map(|line| line.strip_suffix(b"\r").unwrap_or(line))
            .filter(|line| !line.is_empty())
            .collect()),
        SplitType::RecordIO => split_recordio(data),
        SplitType::TFRecord => split_tfrecord(data),
    }
}

fn le_u32(b: &[u8]) -> u32 {
    u32::from_le_bytes([b[0], b[1], b[2], b[3]])
}

fn split_recordio(data: &[u8]) -> Result<Vec<&[u8]>, String> {
    let mut records = Vec::new();
    let mut multipart_start = None;
    let mut off = 0;
    while off < data.len() {
        let header = data.get(off..off + 8).ok_or_else(|| {
            format!(
                "RecordIO: truncated header at offset {off}: expected 8 bytes, found {}",
                data.len() - off
            )
        })?;
        let magic = le_u32(&header[..4]);
        if magic != RECORDIO_MAGIC {
            return Err(format!(
                "RecordIO: bad magic {magic:#010x} at offset {off}, expected {RECORDIO_MAGIC:#010x}"
            ));
        }
        let lrecord = le_u32(&header[4..]);
        let (cflag, len) = (lrecord >> 29, (lrecord & RECORDIO_LEN_MASK) as usize);
        if off + 8 + len > data.len() {
            return Err(format!(
                "RecordIO: record at offset {off} declares {len} data bytes but only {} remain",
                data.len() - off - 8
            ));
        }
        // Writers always pad, but a missing pad at the very end of the object loses nothing.
        let next = (off + 8 + len.next_multiple_of(4)).min(data.len());
        match (cflag, multipart_start) {
            (0, None) => records.push(&data[off..next]),
            (1, None) => multipart_start = Some(off),
            (2, Some(_)) => {}
            (3, Some(start)) => {
                records.push(&data[start..next]);
                multipart_start = None;
            }
            (flag, open) => {
                let place = if open.is_some() { "inside" } else { "outside" };
                return Err(format!(
                    "RecordIO: unexpected continuation flag {flag} at offset {off} {place} a multi-part record"
                ));
            }
        }
        off = next;
    }
    match multipart_start {
        Some(start) => Err(format!(
            "RecordIO: multi-part record starting at offset {start} has no final part (flag 3)"
        )),
        None => Ok(records),
    }
}

fn split_tfrecord(data: &[u8]) -> Result<Vec<&[u8]>, String> {
    let mut records = Vec::new();
    let mut off = 0;
    while off < data.len() {
        let header = data.get(off..off + 12).ok_or_else(|| {
            format!(
                "TFRecord: truncated header at offset {off}: expected 12 bytes, found {}",
                data.len() - off
            )
        })?;
        let mut len = [0; 8];
        len.copy_from_slice(&header[..8]);
        let len = u64::from_le_bytes(len);
        let end = usize::try_from(len)
            .ok()
            .and_then(|l| l.checked_add(off + 16))
            .filter(|&end| end <= data.len())
            .ok_or_else(|| {
                format!(
                    "TFRecord: record at offset {off} declares {len} data bytes (plus 16 of framing) but only {} remain",
                    data.len() - off
                )
            })?;
        records.push(&data[off..end]);
        off = end;
    }
    Ok(records)
}

/// One request payload: records `first .. first + count` of the object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Batch {
    pub first: usize,
    pub count: usize,
    pub payload: Vec<u8>,
}

/// Groups records into request payloads. `SingleRecord` sends one record per request;
/// `MultiRecord` packs consecutive records while the payload stays within `max_payload` bytes
/// (0 means no limit). `Line` records are each followed by `\n`; other records are concatenated.
pub fn batches(
    records: &[&[u8]],
    split: SplitType,
    strategy: BatchStrategy,
    max_payload: usize,
) -> Result<Vec<Batch>, String> {
    let newline: &[u8] = if split == SplitType::Line { b"\n" } else { b"" };
    let mut out: Vec<Batch> = Vec::new();
    for (i, record) in records.iter().enumerate() {
        let cost = record.len() + newline.len();
        if max_payload > 0 && cost > max_payload {
            return Err(format!(
                "record {} is {cost} bytes, more than MaxPayloadInMB ({} MB) allows; \
                 raise MaxPayloadInMB or split the input into smaller records",
                i + 1,
                max_payload as f64 / MIB
            ));
        }
        if strategy == BatchStrategy::MultiRecord
            && let Some(batch) = out.last_mut()
            && (max_payload == 0 || batch.payload.len() + cost <= max_payload)
        {
            batch.count += 1;
            batch.payload.extend_from_slice(record);
            batch.payload.extend_from_slice(newline);
            continue;
        }
        out.push(Batch {
            first: i,
            count: 1,
            payload: [*record, newline].concat(),
        });
    }
    Ok(out)
}

/// Joins the responses for one object's batches into its output object. `Line` ends each
/// non-empty response with `\n` unless it already has one; `None` concatenates them as is.
pub fn assemble(responses: &[Vec<u8>], with: AssembleWith) -> Vec<u8> {
    let mut out = Vec::with_capacity(responses.iter().map(|r| r.len() + 1).sum());
    for response in responses {
        out.extend_from_slice(response);
        if with == AssembleWith::Line && !response.is_empty() && !response.ends_with(b"\n") {
            out.push(b'\n');
        }
    }
    out
}

/// Splits the response to a `MultiRecord` `Line` batch into one output per record, so that each
/// can be joined with its input. A trailing newline does not make an extra (empty) output.
pub fn split_response_lines(response: &[u8], expected: usize) -> Result<Vec<Vec<u8>>, String> {
    let mut lines: Vec<Vec<u8>> = response
        .split(|&b| b == b'\n')
        .map(|line| line.strip_suffix(b"\r").unwrap_or(line).to_vec())
        .collect();
    if lines.last().is_some_and(|l| l.is_empty()) {
        lines.pop();
    }
    if lines.len() != expected {
        return Err(format!(
            "the response holds {} lines but the batch sent {expected} records; \
             with JoinSource Input and MultiRecord the model must answer one line per record",
            lines.len()
        ));
    }
    Ok(lines)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn recordio(cflag: u32, data: &[u8]) -> Vec<u8> {
        let mut f = RECORDIO_MAGIC.to_le_bytes().to_vec();
        f.extend((cflag << 29 | data.len() as u32).to_le_bytes());
        f.extend(data);
        f.resize(f.len().next_multiple_of(4), 0);
        f
    }

    fn tfrecord(data: &[u8]) -> Vec<u8> {
        [
            &(data.len() as u64).to_le_bytes()[..],
            &[0; 4],
            data,
            &[0; 4],
        ]
        .concat()
    }

    #[test]
    fn parse_defaults_match_sagemaker() {
        assert_eq!(split_type(None), SplitType::None);
        assert_eq!(split_type("TFRecord".parse().ok()), SplitType::TFRecord);
        assert_eq!(batch_strategy(None), BatchStrategy::SingleRecord);
        assert_eq!(
            batch_strategy("MultiRecord".parse().ok()),
            BatchStrategy::MultiRecord
        );
        assert_eq!(assemble_with(None), AssembleWith::None);
        assert_eq!(assemble_with("Line".parse().ok()), AssembleWith::Line);
    }

    #[test]
    fn line_split_strips_cr_and_skips_empty_lines() {
        let recs = split(b"a,1\r\n\nb,2\n\r\nc,3\n", SplitType::Line).unwrap();
        assert_eq!(recs, [&b"a,1"[..], b"b,2", b"c,3"]);
        assert_eq!(
            split(b"whole\nobject", SplitType::None).unwrap(),
            [b"whole\nobject"]
        );
    }

    #[test]
    fn recordio_split_round_trips_framed_records_and_keeps_multipart_together() {
        let (a, b) = (recordio(0, b"hello"), recordio(0, b"four"));
        let multi = [recordio(1, b"x"), recordio(2, b"yy"), recordio(3, b"zzz")].concat();
        let data = [a.clone(), multi.clone(), b.clone()].concat();
        let recs = split(&data, SplitType::RecordIO).unwrap();
        assert_eq!(recs, [&a[..], &multi[..], &b[..]]);
        let batch = batches(&recs, SplitType::RecordIO, BatchStrategy::MultiRecord, 0).unwrap();
        assert_eq!(batch[0].payload, data);
    }

    #[test]
    fn malformed_recordio_is_rejected_with_offsets() {
        let good = recordio(0, b"ok");
        let bad_magic = [&good[..], &[1, 2, 3, 4, 5, 6, 7, 8]].concat();
        let cases: [(&[u8], &str); 5] = [
            (&bad_magic, "bad magic 0x04030201 at offset 12"),
            (&good[..9], "offset 0 declares 2 data bytes"),
            (&good[..5], "truncated header at offset 0"),
            (&recordio(1, b"a"), "no final part"),
            (&recordio(3, b"a"), "flag 3 at offset 0 outside"),
        ];
        for (data, want) in cases {
            let err = split(data, SplitType::RecordIO).unwrap_err();
            assert!(err.contains(want), "{err}");
        }
    }

    #[test]
    fn tfrecord_split_returns_framed_records_and_rejects_truncation() {
        let (a, b) = (tfrecord(b"abc"), tfrecord(b""));
        let data = [a.clone(), b.clone()].concat();
        assert_eq!(split(&data, SplitType::TFRecord).unwrap(), [&a[..], &b[..]]);
        let err = split(&data[..10], SplitType::TFRecord).unwrap_err();
        assert!(err.contains("truncated header"), "{err}");
        let err = split(&a[..a.len() - 1], SplitType::TFRecord).unwrap_err();
        assert!(err.contains("declares 3 data bytes"), "{err}");
    }

    #[test]
    fn batches_respect_strategy_and_max_payload() {
        let recs: Vec<&[u8]> = vec![b"aaa", b"bbb", b"ccc", b"d"];
        let single = batches(&recs, SplitType::Line, BatchStrategy::SingleRecord, 100).unwrap();
        assert_eq!(
            single[1],
            Batch {
                first: 1,
                count: 1,
                payload: b"bbb\n".to_vec()
            }
        );
        // A line costs its length plus a newline: two fit in 9 bytes, a third does not.
        let multi = batches(&recs, SplitType::Line, BatchStrategy::MultiRecord, 9).unwrap();
        let want = [(0, 2, &b"aaa\nbbb\n"[..]), (2, 2, b"ccc\nd\n")];
        let got: Vec<_> = multi
            .iter()
            .map(|b| (b.first, b.count, &b.payload[..]))
            .collect();
        assert_eq!(got, want);
        let raw = batches(&recs, SplitType::None, BatchStrategy::MultiRecord, 6).unwrap();
        assert_eq!((raw.len(), &raw[0].payload[..]), (2, &b"aaabbb"[..]));
        let unlimited = batches(&recs, SplitType::Line, BatchStrategy::MultiRecord, 0).unwrap();
        assert_eq!((unlimited.len(), unlimited[0].count), (1, 4));
    }

    #[test]
    fn record_larger_than_max_payload_is_an_error() {
        let big = vec![b'x'; 2 * 1024 * 1024];
        let recs: Vec<&[u8]> = vec![b"small", &big];
        let err = batches(&recs, SplitType::None, BatchStrategy::SingleRecord, 1 << 20);
        let err = err.unwrap_err();
        assert!(
            err.contains("record 2 is 2097152 bytes") && err.contains("(1 MB)"),
            "{err}"
        );
    }

    #[test]
    fn assemble_line_adds_newlines_only_where_missing() {
        let responses = [b"a\n".to_vec(), b"b".to_vec(), Vec::new(), b"c\nd".to_vec()];
        assert_eq!(assemble(&responses, AssembleWith::Line), b"a\nb\nc\nd\n");
        assert_eq!(assemble(&responses, AssembleWith::None), b"a\nbc\nd");
    }

    #[test]
    fn split_response_lines_matches_records_or_reports_both_counts() {
        let lines = split_response_lines(b"0.1\r\n0.2\n", 2).unwrap();
        assert_eq!(lines, [b"0.1", b"0.2"]);
        let err = split_response_lines(b"0.1\n0.2\n0.3", 2).unwrap_err();
        assert!(
            err.contains("3 lines") && err.contains("2 records"),
            "{err}"
        );
    }
}
