//! Large reads served from a memory map of the blob's file.
//!
//! A GET of a large object used to read each MiB into a buffer on the blocking pool, copy it into
//! the body stream and then into the socket: three copies and a thread hand-off per MiB. Mapped,
//! the body is slices of the file's pages and the socket write is the only copy, straight from
//! the page cache, which is what an in-memory server does too.
//!
//! Mapping is safe here because a blob's file never changes once an object references it: ids
//! are never reused, parts are never written into a file that has become an object (see
//! `layout`), and an overwritten or deleted object's file is unlinked, which leaves a mapping
//! whole. (A file cut short by hand under the data directory would fault the reader.)
//!
//! Each piece asks the kernel to read the next one ahead, and gives its pages back to the page
//! cache once the socket has taken it, so a 5 GB GET does not show as 5 GB of resident memory.

use std::ops::Range;
use std::path::PathBuf;
use std::sync::Arc;

use bytes::Bytes;
use futures_util::Stream;
use memmap2::{Advice, Mmap, MmapOptions, UncheckedAdvice};

/// A mapped body goes out in pieces of this size.
const PIECE: usize = 4 << 20;

/// `len` (> 0) bytes of the file at `path` from `start`, as pieces of a read-only mapping.
pub(super) async fn read_mapped(
    path: PathBuf,
    start: u64,
    len: u64,
) -> std::io::Result<impl Stream<Item = std::io::Result<Bytes>> + Send + 'static> {
    let map = tokio::task::spawn_blocking(move || -> std::io::Result<Mmap> {
        let file = std::fs::File::open(&path)?;
        let size = file.metadata()?.len();
        if len == 0 || start.checked_add(len).is_none_or(|end| end > size) {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                format!(
                    "blob {} holds {size} bytes, not {len} from {start}",
                    path.display()
                ),
            ));
        }
        let len = usize::try_from(len).map_err(std::io::Error::other)?;
        // SAFETY: the file is an immutable blob (see the module's comment).
        let map = unsafe { MmapOptions::new().offset(start).len(len).map(&file)? };
        map.advise(Advice::Sequential).ok();
        map.advise_range(Advice::WillNeed, 0, len.min(PIECE)).ok();
        Ok(map)
    })
    .await
    .map_err(std::io::Error::other)??;
    let map = Arc::new(map);
    let total = map.len();
    Ok(futures_util::stream::iter((0..total).step_by(PIECE).map(
        move |from| {
            let to = (from + PIECE).min(total);
            if to < total {
                map.advise_range(Advice::WillNeed, to, PIECE.min(total - to))
                    .ok();
            }
            Ok(Bytes::from_owner(Piece {
                map: map.clone(),
                range: from..to,
            }))
        },
    )))
}

/// One piece of a mapped body.
struct Piece {
    map: Arc<Mmap>,
    range: Range<usize>,
}

impl AsRef<[u8]> for Piece {
    fn as_ref(&self) -> &[u8] {
        &self.map[self.range.clone()]
    }
}

impl Drop for Piece {
    fn drop(&mut self) {
        // SAFETY: the mapping is a read-only, shared map of a file: dropping its pages from this
        // process only means a later touch reads them again from the page cache (the piece
        // beside this one, if it shares the boundary page, reads the same bytes).
        unsafe {
            self.map
                .unchecked_advise_range(
                    UncheckedAdvice::DontNeed,
                    self.range.start,
                    self.range.len(),
                )
                .ok();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::StreamExt;

    #[tokio::test]
    async fn a_mapped_range_is_the_files_bytes_in_pieces_and_a_short_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("blob");
        let bytes: Vec<u8> = (0..(PIECE * 2 + 12_345)).map(|i| (i % 251) as u8).collect();
        std::fs::write(&path, &bytes).unwrap();
        // From an offset that is no page boundary, across two piece boundaries, to the end.
        let start = 4_097;
        let pieces: Vec<Bytes> =
            read_mapped(path.clone(), start as u64, (bytes.len() - start) as u64)
                .await
                .unwrap()
                .map(|p| p.unwrap())
                .collect()
                .await;
        assert_eq!(
            pieces.iter().map(Bytes::len).collect::<Vec<_>>(),
            [PIECE, PIECE, bytes.len() - start - 2 * PIECE]
        );
        assert_eq!(pieces.concat(), bytes[start..]);
        // A file shorter than the row says (or an empty range) is an error, not a fault.
        let short = read_mapped(path.clone(), 10, bytes.len() as u64).await;
        assert_eq!(
            short.err().map(|e| e.kind()),
            Some(std::io::ErrorKind::UnexpectedEof)
        );
        assert!(read_mapped(path, 0, 0).await.is_err());
    }
}
