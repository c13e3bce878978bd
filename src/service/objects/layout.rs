//! Parts written in place, so that completing an upload moves no bytes.
//!
//! Clients split an object into parts of one size (boto3, the AWS CLI and the SDKs all do; only
//! the last part is shorter), so part N's bytes belong at (N-1) × that size in the finished
//! object. The first part of an upload to arrive with a known length of at least 5 MiB fixes
//! that size, the stride, and opens a shared file for the upload; every later part whose length
//! is known and fits a stride is written straight into that file at its place (a "slot"). When
//! CompleteMultipartUpload names parts that lie end to end from the start of one file, that
//! file, cut to the object's length, is the object: completing a 5 GB upload costs a truncate
//! and an fsync instead of a 5 GB copy, and every byte reaches the disk once.
//!
//! Everything else takes a blob of its own, and completing copies as before: a part longer than
//! the stride, a part number uploaded again (its slot is never rewritten, so a stored part can
//! never be torn by a retry), and UploadPartCopy. Layouts live only in memory: an upload whose
//! server restarted keeps its stored parts (their place is in the store) but completes by copy.
//!
//! A slot counts as being written from its claim until its part is committed or dropped.
//! Completion closes the upload's layout first and uses the file in place only when that call
//! closed it and no slot was being written, so nothing writes into the file once it is an
//! object, and two completions of one upload never both take it.

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use super::MIN_PART_SIZE;

/// At most this many uploads keep a layout (an abandoned upload's stays until it is aborted);
/// past it, parts take blobs of their own.
const MAX_OPEN: usize = 4096;

/// No slot ends past this offset (ext4 files stop at 16 TiB; 10,000 parts of 5 GiB would not).
const MAX_END: u64 = 1 << 40;

#[derive(Default)]
pub(super) struct Layouts {
    open: Mutex<HashMap<String, Arc<Layout>>>,
}

/// One upload's shared file.
pub(super) struct Layout {
    /// The blob id of the shared file.
    pub blob: String,
    stride: u64,
    state: Mutex<State>,
    /// Whether the file's directory entry has been made durable.
    dir_synced: AtomicBool,
}

#[derive(Default)]
struct State {
    /// Part numbers whose slot is being written or holds a stored part.
    taken: BTreeSet<i64>,
    /// Slots claimed and neither committed nor dropped.
    writing: usize,
    closed: bool,
}

/// A claimed slot: part `number` goes at `offset` in `layout.blob`, and may not be longer than
/// `cap`. Dropped without [`Slot::keep`], it frees the slot again.
pub struct Slot {
    layout: Arc<Layout>,
    number: i64,
    pub offset: u64,
    pub cap: u64,
    kept: AtomicBool,
}

impl std::fmt::Debug for Slot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Slot")
            .field("blob", &self.layout.blob)
            .field("number", &self.number)
            .field("offset", &self.offset)
            .finish()
    }
}

impl Slot {
    pub fn blob(&self) -> &str {
        &self.layout.blob
    }

    /// The part is committed: its slot stays taken.
    pub fn keep(&self) {
        self.kept.store(true, Ordering::Release);
    }

    /// Whether the file's directory entry still has to be made durable (true once per file).
    pub fn needs_dir_sync(&self) -> bool {
        !self.layout.dir_synced.load(Ordering::Acquire)
    }

    pub fn dir_synced(&self) {
        self.layout.dir_synced.store(true, Ordering::Release);
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut st = self.layout.state.lock().unwrap_or_else(|e| e.into_inner());
        st.writing -= 1;
        if !self.kept.load(Ordering::Acquire) {
            st.taken.remove(&self.number);
        }
    }
}

impl Layouts {
    /// A slot for part `number` of `upload_id`, `len` bytes long, when it can have one.
    pub fn claim(
        &self,
        upload_id: &str,
        number: i64,
        len: Option<u64>,
        new_blob: impl FnOnce() -> String,
    ) -> Option<Slot> {
        let len = len.filter(|l| *l > 0)?;
        let layout = {
            let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
            match open.get(upload_id) {
                Some(l) => l.clone(),
                None if len >= MIN_PART_SIZE && open.len() < MAX_OPEN => {
                    let l = Arc::new(Layout {
                        blob: new_blob(),
                        stride: len,
                        state: Mutex::default(),
                        dir_synced: AtomicBool::new(false),
                    });
                    open.insert(upload_id.to_string(), l.clone());
                    l
                }
                None => return None,
            }
        };
        let offset = u64::try_from(number - 1).ok()?.checked_mul(layout.stride)?;
        if len > layout.stride || offset + layout.stride > MAX_END {
            return None;
        }
        {
            let mut st = layout.state.lock().unwrap_or_else(|e| e.into_inner());
            if st.closed || !st.taken.insert(number) {
                return None;
            }
            st.writing += 1;
        }
        Some(Slot {
            cap: layout.stride,
            layout,
            number,
            offset,
            kept: AtomicBool::new(false),
        })
    }

    /// Ends an upload's layout (completion or abort). Returns its file's blob when this call
    /// closed it and no slot was being written: only then may the file become the object.
    pub fn close(&self, upload_id: &str) -> Option<String> {
        let layout = self
            .open
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(upload_id)?;
        let mut st = layout.state.lock().unwrap_or_else(|e| e.into_inner());
        st.closed = true;
        (st.writing == 0).then(|| layout.blob.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: u64 = 1 << 20;

    fn layouts() -> Layouts {
        Layouts::default()
    }

    #[test]
    fn the_first_large_part_fixes_the_stride() {
        let l = layouts();
        // Too small to fix a stride: no layout, no slot.
        assert!(l.claim("u", 3, Some(MIB), || "b".into()).is_none());
        let s2 = l.claim("u", 2, Some(8 * MIB), || "b".into()).unwrap();
        assert_eq!((s2.offset, s2.cap, s2.blob()), (8 * MIB, 8 * MIB, "b"));
        // A shorter part (the last) fits its slot; a longer one does not.
        let s3 = l.claim("u", 3, Some(MIB), || unreachable!()).unwrap();
        assert_eq!(s3.offset, 16 * MIB);
        assert!(l.claim("u", 4, Some(9 * MIB), || unreachable!()).is_none());
        assert!(l.claim("u", 1, None, || unreachable!()).is_none());
    }

    #[test]
    fn a_slot_is_claimed_once_and_freed_unless_kept() {
        let l = layouts();
        let s = l.claim("u", 1, Some(5 * MIB), || "b".into()).unwrap();
        assert!(l.claim("u", 1, Some(5 * MIB), || unreachable!()).is_none());
        drop(s);
        let s = l.claim("u", 1, Some(5 * MIB), || unreachable!()).unwrap();
        s.keep();
        drop(s);
        // Stored: a second upload of part 1 takes a blob of its own.
        assert!(l.claim("u", 1, Some(5 * MIB), || unreachable!()).is_none());
    }

    #[test]
    fn closing_reports_slots_still_being_written() {
        let l = layouts();
        let s = l.claim("u", 1, Some(5 * MIB), || "b".into()).unwrap();
        assert_eq!(l.close("u"), None);
        drop(s);
        let s = l.claim("v", 1, Some(5 * MIB), || "c".into()).unwrap();
        s.keep();
        drop(s);
        assert_eq!(l.close("v").as_deref(), Some("c"));
        // Closed once: a second completion copies.
        assert_eq!(l.close("v"), None);
        assert_eq!(l.close("never-opened"), None);
    }

    #[test]
    fn no_slot_ends_past_the_largest_file() {
        let l = layouts();
        let _s = l.claim("u", 1, Some(5 * (1 << 30)), || "b".into()).unwrap();
        assert!(
            l.claim("u", 10_000, Some(5 * (1 << 30)), || unreachable!())
                .is_none()
        );
    }
}
