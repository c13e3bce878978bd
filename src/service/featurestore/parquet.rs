//! A small Parquet writer for flat tables: what the offline store needs, and no more. One row
//! group, one uncompressed PLAIN-encoded data page (v1) per column, every column OPTIONAL (a
//! deleted record's marker row has nulls), and the footer's FileMetaData in Thrift's compact
//! protocol. Written by hand because the `parquet`/`arrow` crates would add far more to the
//! build than these few hundred lines (see the Parquet format spec, parquet.thrift).
//!
//! Layout: `PAR1`, then per column a PageHeader and its page (definition levels as an RLE/
//! bit-packed hybrid run with a 4-byte length, then the non-null values), then the FileMetaData,
//! its 4-byte little-endian length, and `PAR1` again.

/// A column's type as the file declares it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ColumnType {
    /// BYTE_ARRAY, annotated as a UTF-8 string.
    Utf8,
    Int64,
    Double,
    Boolean,
    /// INT64 milliseconds since the epoch, UTC (TIMESTAMP(MILLIS, true)).
    TimestampMillis,
}

/// One value of a column; `Null` where the row has none.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    Null,
    Utf8(String),
    Int64(i64),
    Double(f64),
    Boolean(bool),
    TimestampMillis(i64),
}

/// A column: its name, type and one cell per row.
#[derive(Debug, Clone)]
pub struct Column {
    pub name: String,
    pub kind: ColumnType,
    pub cells: Vec<Cell>,
}

// parquet.thrift's enum values.
const TYPE_BOOLEAN: i32 = 0;
const TYPE_INT64: i32 = 2;
const TYPE_DOUBLE: i32 = 5;
const TYPE_BYTE_ARRAY: i32 = 6;
const REPETITION_OPTIONAL: i32 = 1;
const CONVERTED_UTF8: i32 = 0;
const CONVERTED_TIMESTAMP_MILLIS: i32 = 9;
const ENCODING_PLAIN: i32 = 0;
const ENCODING_RLE: i32 = 3;
const CODEC_UNCOMPRESSED: i32 = 0;
const PAGE_DATA: i32 = 0;

const MAGIC: &[u8] = b"PAR1";

/// The whole file for `columns`, which must all hold the same number of rows.
pub fn write(columns: &[Column]) -> Result<Vec<u8>, String> {
    let rows = columns.first().map_or(0, |c| c.cells.len());
    if let Some(c) = columns.iter().find(|c| c.cells.len() != rows) {
        return Err(format!(
            "column {} has {} cells, not {rows}",
            c.name,
            c.cells.len()
        ));
    }
    let mut out = MAGIC.to_vec();
    let mut chunks = Vec::with_capacity(columns.len());
    for column in columns {
        let offset = out.len() as i64;
        let page = page_body(column)?;
        let header = page_header(rows, page.len());
        out.extend_from_slice(&header);
        out.extend_from_slice(&page);
        chunks.push((offset, (header.len() + page.len()) as i64));
    }
    let meta = file_metadata(columns, rows, &chunks);
    out.extend_from_slice(&meta);
    out.extend_from_slice(&(meta.len() as u32).to_le_bytes());
    out.extend_from_slice(MAGIC);
    Ok(out)
}

/// Definition levels (1 = present) then the present values, PLAIN-encoded.
fn page_body(column: &Column) -> Result<Vec<u8>, String> {
    let present: Vec<bool> = column.cells.iter().map(|c| *c != Cell::Null).collect();
    let levels = bit_packed_run(&present);
    let mut body = Vec::new();
    body.extend_from_slice(&(levels.len() as u32).to_le_bytes());
    body.extend_from_slice(&levels);
    let mut bools = Vec::new();
    for cell in &column.cells {
        match (column.kind, cell) {
            (_, Cell::Null) => {}
            (ColumnType::Utf8, Cell::Utf8(s)) => {
                body.extend_from_slice(&(s.len() as u32).to_le_bytes());
                body.extend_from_slice(s.as_bytes());
            }
            (ColumnType::Int64, Cell::Int64(v))
            | (ColumnType::TimestampMillis, Cell::TimestampMillis(v)) => {
                body.extend_from_slice(&v.to_le_bytes())
            }
            (ColumnType::Double, Cell::Double(v)) => body.extend_from_slice(&v.to_le_bytes()),
            (ColumnType::Boolean, Cell::Boolean(b)) => bools.push(*b),
            (kind, cell) => {
                return Err(format!(
                    "column {} is {kind:?} but holds {cell:?}",
                    column.name
                ));
            }
        }
    }
    if column.kind == ColumnType::Boolean {
        body.extend_from_slice(&pack_bits(&bools));
    }
    Ok(body)
}

/// The RLE/bit-packed hybrid encoding of 1-bit values as one bit-packed run: a varint header of
/// (groups of 8) << 1 | 1, then the bits, least significant first.
fn bit_packed_run(bits: &[bool]) -> Vec<u8> {
    let groups = bits.len().div_ceil(8);
    let mut out = Vec::new();
    varint(&mut out, ((groups as u64) << 1) | 1);
    let mut packed = pack_bits(bits);
    packed.resize(groups, 0);
    out.extend_from_slice(&packed);
    out
}

fn pack_bits(bits: &[bool]) -> Vec<u8> {
    let mut out = vec![0u8; bits.len().div_ceil(8)];
    for (i, _) in bits.iter().enumerate().filter(|(_, b)| **b) {
        out[i / 8] |= 1 << (i % 8);
    }
    out
}

fn page_header(rows: usize, size: usize) -> Vec<u8> {
    let mut t = Compact::default();
    t.i32(1, PAGE_DATA);
    t.i32(2, size as i32);
    t.i32(3, size as i32);
    t.begin_struct(5); // DataPageHeader
    t.i32(1, rows as i32);
    t.i32(2, ENCODING_PLAIN);
    t.i32(3, ENCODING_RLE);
    t.i32(4, ENCODING_RLE);
    t.end_struct();
    t.finish()
}

fn physical(kind: ColumnType) -> i32 {
    match kind {
        ColumnType::Utf8 => TYPE_BYTE_ARRAY,
        ColumnType::Int64 | ColumnType::TimestampMillis => TYPE_INT64,
        ColumnType::Double => TYPE_DOUBLE,
        ColumnType::Boolean => TYPE_BOOLEAN,
    }
}

fn file_metadata(columns: &[Column], rows: usize, chunks: &[(i64, i64)]) -> Vec<u8> {
    let mut t = Compact::default();
    t.i32(1, 1); // version
    t.begin_list(2, columns.len() + 1);
    // the root of the schema: a group of every column
    t.list_struct_begin();
    t.binary(4, b"schema");
    t.i32(5, columns.len() as i32);
    t.end_struct();
    for c in columns {
        t.list_struct_begin();
        t.i32(1, physical(c.kind));
        t.i32(3, REPETITION_OPTIONAL);
        t.binary(4, c.name.as_bytes());
        match c.kind {
            ColumnType::Utf8 => {
                t.i32(6, CONVERTED_UTF8);
                t.begin_struct(10); // LogicalType
                t.begin_struct(1); // STRING
                t.end_struct();
                t.end_struct();
            }
            ColumnType::TimestampMillis => {
                t.i32(6, CONVERTED_TIMESTAMP_MILLIS);
                t.begin_struct(10); // LogicalType
                t.begin_struct(8); // TIMESTAMP
                t.bool(1, true); // isAdjustedToUTC
                t.begin_struct(2); // unit
                t.begin_struct(1); // MILLIS
                t.end_struct();
                t.end_struct();
                t.end_struct();
                t.end_struct();
            }
            _ => {}
        }
        t.end_struct();
    }
    t.i64(3, rows as i64);
    t.begin_list(4, 1);
    t.list_struct_begin(); // RowGroup
    t.begin_list(1, columns.len());
    for (c, (offset, size)) in columns.iter().zip(chunks) {
        t.list_struct_begin(); // ColumnChunk
        t.i64(2, *offset);
        t.begin_struct(3); // ColumnMetaData
        t.i32(1, physical(c.kind));
        t.begin_list_of(2, 2, Compact::I32);
        t.list_i32(ENCODING_PLAIN);
        t.list_i32(ENCODING_RLE);
        t.begin_list_of(3, 1, Compact::BINARY);
        t.list_binary(c.name.as_bytes());
        t.i32(4, CODEC_UNCOMPRESSED);
        t.i64(5, rows as i64);
        t.i64(6, *size);
        t.i64(7, *size);
        t.i64(9, *offset);
        t.end_struct();
        t.end_struct();
    }
    let total: i64 = chunks.iter().map(|(_, s)| s).sum();
    t.i64(2, total);
    t.i64(3, rows as i64);
    t.end_struct();
    t.binary(6, b"sagebox");
    t.finish()
}

fn varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Thrift's compact protocol, the parts the footer uses. Field ids are written as deltas from
/// the previous field of the same struct, so each open struct keeps its last id.
#[derive(Default)]
struct Compact {
    out: Vec<u8>,
    last: Vec<i16>,
    current: i16,
}

impl Compact {
    const TRUE: u8 = 1;
    const FALSE: u8 = 2;
    const I32: u8 = 5;
    const I64: u8 = 6;
    const BINARY: u8 = 8;
    const LIST: u8 = 9;
    const STRUCT: u8 = 12;

    fn field(&mut self, id: i16, kind: u8) {
        let delta = id - self.current;
        if (1..=15).contains(&delta) {
            self.out.push(((delta as u8) << 4) | kind);
        } else {
            self.out.push(kind);
            varint(&mut self.out, zigzag(i64::from(id)));
        }
        self.current = id;
    }

    fn i32(&mut self, id: i16, v: i32) {
        self.field(id, Self::I32);
        varint(&mut self.out, zigzag(i64::from(v)));
    }

    fn i64(&mut self, id: i16, v: i64) {
        self.field(id, Self::I64);
        varint(&mut self.out, zigzag(v));
    }

    fn bool(&mut self, id: i16, v: bool) {
        self.field(id, if v { Self::TRUE } else { Self::FALSE });
    }

    fn binary(&mut self, id: i16, v: &[u8]) {
        self.field(id, Self::BINARY);
        self.list_binary(v);
    }

    fn begin_struct(&mut self, id: i16) {
        self.field(id, Self::STRUCT);
        self.list_struct_begin();
    }

    /// A struct as a list element (no field header), or the body of one after its header.
    fn list_struct_begin(&mut self) {
        self.last.push(self.current);
        self.current = 0;
    }

    fn end_struct(&mut self) {
        self.out.push(0);
        self.current = self.last.pop().unwrap_or(0);
    }

    fn begin_list(&mut self, id: i16, len: usize) {
        self.begin_list_of(id, len, Self::STRUCT);
    }

    fn begin_list_of(&mut self, id: i16, len: usize, kind: u8) {
        self.field(id, Self::LIST);
        if len < 15 {
            self.out.push(((len as u8) << 4) | kind);
        } else {
            self.out.push(0xF0 | kind);
            varint(&mut self.out, len as u64);
        }
    }

    fn list_i32(&mut self, v: i32) {
        varint(&mut self.out, zigzag(i64::from(v)));
    }

    fn list_binary(&mut self, v: &[u8]) {
        varint(&mut self.out, v.len() as u64);
        self.out.extend_from_slice(v);
    }

    fn finish(mut self) -> Vec<u8> {
        self.out.push(0);
        self.out
    }
}

fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Vec<Column> {
        vec![
            Column {
                name: "id".into(),
                kind: ColumnType::Utf8,
                cells: vec![Cell::Utf8("a".into()), Cell::Utf8("bé".into())],
            },
            Column {
                name: "n".into(),
                kind: ColumnType::Int64,
                cells: vec![Cell::Int64(-3), Cell::Null],
            },
            Column {
                name: "x".into(),
                kind: ColumnType::Double,
                cells: vec![Cell::Null, Cell::Double(1.5)],
            },
            Column {
                name: "is_deleted".into(),
                kind: ColumnType::Boolean,
                cells: vec![Cell::Boolean(false), Cell::Boolean(true)],
            },
            Column {
                name: "write_time".into(),
                kind: ColumnType::TimestampMillis,
                cells: vec![
                    Cell::TimestampMillis(1_700_000_000_123),
                    Cell::TimestampMillis(0),
                ],
            },
        ]
    }

    #[test]
    fn files_open_and_close_with_the_magic_and_a_footer_length() {
        let bytes = write(&sample()).unwrap();
        assert_eq!(&bytes[..4], b"PAR1");
        assert_eq!(&bytes[bytes.len() - 4..], b"PAR1");
        let len = u32::from_le_bytes(bytes[bytes.len() - 8..bytes.len() - 4].try_into().unwrap());
        let footer = &bytes[bytes.len() - 8 - len as usize..bytes.len() - 8];
        // FileMetaData starts with version 1 (field 1, i32, zigzag 2) and names its writer
        assert_eq!(&footer[..2], &[0x15, 0x02]);
        assert!(footer.windows(7).any(|w| w == b"sagebox"));
        assert!(footer.windows(10).any(|w| w == b"write_time"));
    }

    #[test]
    fn pages_hold_levels_then_present_values() {
        let col = &sample()[1];
        let body = page_body(col).unwrap();
        // levels: length 2, run header (1 group << 1 | 1), bits 0b01; then one INT64
        assert_eq!(&body[..6], &[2, 0, 0, 0, 3, 0b01]);
        assert_eq!(&body[6..], &(-3i64).to_le_bytes());
        let strings = page_body(&sample()[0]).unwrap();
        assert_eq!(&strings[6..11], &[1, 0, 0, 0, b'a']);
        let bools = page_body(&sample()[3]).unwrap();
        assert_eq!(&bools[6..], &[0b10]);
    }

    #[test]
    fn compact_fields_use_deltas_and_long_forms() {
        let mut t = Compact::default();
        t.i32(1, 1);
        t.i64(20, -1);
        t.bool(21, false);
        assert_eq!(t.finish(), vec![0x15, 0x02, 0x06, 40, 0x01, 0x12, 0]);
        let mut out = Vec::new();
        varint(&mut out, 300);
        assert_eq!(out, vec![0xAC, 0x02]);
        assert_eq!(zigzag(-1), 1);
        assert_eq!(zigzag(1), 2);
    }

    #[test]
    fn mismatched_columns_are_refused() {
        let mut cols = sample();
        cols[0].cells.pop();
        assert!(write(&cols).is_err());
        cols[0].cells.push(Cell::Int64(1));
        assert!(write(&cols).is_err());
    }
}
