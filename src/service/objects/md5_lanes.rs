//! MD5 for many uploads at once, in SIMD lanes.
//!
//! S3's ETag is the MD5 of the bytes, so every byte PUT is hashed, and MD5 cannot be split
//! within one stream: each 64-byte block depends on the last, so one core hashes about 600 MB/s
//! whatever its width. On a small host that, not the disk, bounds a large upload. But an upload
//! of any size comes as parts sent side by side (boto3, the AWS CLI and the SDKs send 8 to 10 at
//! a time), and independent streams can share the vector unit: lane `l` of every register
//! belongs to stream `l`, and one pass of the 64 MD5 steps over 16-wide registers advances 16
//! streams by a block each, for about the cost of advancing one.
//!
//! One thread ([`Md5Lanes`]) takes runs of whole blocks from the streams (a [`StreamMd5`] each,
//! which keeps its partial block and does the final padding itself), hashes the runs of
//! different streams side by side, and hands each stream its new state after each piece.
//! Alone, a run is hashed by the scalar MD5 of the `md-5` crate. Debug builds hash every run
//! that way (their unoptimised lane code would be slower than one lane).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use bytes::Bytes;

/// Streams hashed side by side at most (16 x 32-bit lanes fill a 512-bit register); passes of
/// up to 8 runs use 8-lane (256-bit) registers, so a pass costs what its runs need.
const LANES: usize = 16;
const HALF: usize = 8;
/// Blocks per lane per pass, between looks at the queue.
const PASS_BLOCKS: usize = 64;
/// Bytes a lone run is hashed in at a time, between looks at the queue.
const ALONE_BYTES: usize = 16 << 10;
/// How long a run waits for others to fill a pass, unless its stream waits for it.
const GATHER: Duration = Duration::from_millis(4);
/// Pieces a stream may have in the lanes and not yet answered: while they wait, the stream
/// goes on receiving, and its run stays in its lane from one piece to the next.
const CHAIN: usize = 4;

mod kernel;
use kernel::{INIT, Kernel};

/// A run of whole blocks of one stream, to hash from `state`: its piece `data`, then the
/// pieces its stream adds to its `chain` before it ends.
struct Run {
    state: [u32; 4],
    data: Bytes,
    done: usize,
    arrived: Instant,
    /// Set when its stream waits for an answer: hash it now, even in a half-empty pass.
    urgent: Arc<AtomicBool>,
    /// Where the state after `data` goes.
    answer: tokio::sync::oneshot::Sender<[u32; 4]>,
    chain: Arc<Mutex<Chain>>,
}

/// The pieces a stream sent after the one its run is hashing, shared by the two: the run takes
/// the next one when it ends a piece, and closes the chain when there is none; the stream adds
/// pieces while it is open, and starts a new run once it is closed. Both look under its lock,
/// so a piece is either taken by the run or seen to be too late by its stream, never lost.
#[derive(Default)]
struct Chain {
    pieces: VecDeque<Piece>,
    closed: bool,
}

/// Whole blocks of a stream that follow its run's piece: `head` (the block its last partial
/// block and the start of `data` made) and then `data`.
struct Piece {
    head: Option<[u8; 64]>,
    data: Bytes,
    answer: tokio::sync::oneshot::Sender<[u32; 4]>,
}

fn locked(chain: &Mutex<Chain>) -> MutexGuard<'_, Chain> {
    // Nothing panics while holding it; a poisoned lock still holds a whole queue.
    chain
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Run {
    /// Hands over the state after its piece, then moves on to the next piece of its chain;
    /// false (and the chain closed) when there is none.
    fn next_piece(&mut self) -> bool {
        let next = {
            let mut chain = locked(&self.chain);
            let next = chain.pieces.pop_front();
            chain.closed = next.is_none();
            next
        };
        let Some(piece) = next else {
            return false;
        };
        let answer = std::mem::replace(&mut self.answer, piece.answer);
        // The hasher that asked may have been dropped (a failed upload): nobody to answer.
        answer.send(self.state).ok();
        if let Some(head) = &piece.head {
            md5::block_api::compress(&mut self.state, std::slice::from_ref(head));
        }
        self.data = piece.data;
        self.done = 0;
        true
    }
}

enum Msg {
    Run(Run),
    /// A stream started waiting for its run (see `Run::urgent`).
    Hurry,
}

/// The hashing thread's handle.
#[derive(Clone)]
pub struct Md5Lanes {
    tx: std::sync::mpsc::Sender<Msg>,
}

impl Md5Lanes {
    pub fn start() -> Md5Lanes {
        Md5Lanes::with_kernel(Kernel::detect())
    }

    fn with_kernel(kernel: Kernel) -> Md5Lanes {
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::Builder::new()
            .name("sagebox-md5".into())
            .spawn(move || serve(rx, kernel))
            .expect("start the MD5 thread");
        Md5Lanes { tx }
    }
}

fn as_blocks(data: &[u8]) -> &[[u8; 64]] {
    let (blocks, rest) = data.as_chunks::<64>();
    debug_assert!(rest.is_empty());
    blocks
}

fn word(block: &[u8], w: usize) -> u32 {
    u32::from_le_bytes(block[w * 4..w * 4 + 4].try_into().expect("4 bytes"))
}

/// The hashing thread. Runs wait (up to `GATHER`) for others to share a pass with, unless
/// their stream is already waiting for them; then up to `LANES` runs advance together,
/// `PASS_BLOCKS` blocks per pass, and a run alone goes by the scalar MD5. A stream adds its
/// next pieces to its run while the run is out (up to `CHAIN` pieces), so an upload goes on
/// receiving while its pieces wait here for company, and its run keeps its lane from one piece
/// to the next rather than leaving the lane empty until the stream's next piece comes.
fn serve(rx: std::sync::mpsc::Receiver<Msg>, kernel: Kernel) {
    let mut lanes: Vec<Option<Run>> = (0..LANES).map(|_| None).collect();
    let mut queued: std::collections::VecDeque<Run> = Default::default();
    let mut words = vec![[[0u32; LANES]; 16]; PASS_BLOCKS];
    let mut half = vec![[[0u32; HALF]; 16]; PASS_BLOCKS];
    fn take(msg: Msg, queued: &mut std::collections::VecDeque<Run>) {
        if let Msg::Run(run) = msg {
            queued.push_back(run);
        }
    }
    loop {
        if queued.is_empty() && lanes.iter().all(Option::is_none) {
            match rx.recv() {
                Ok(msg) => take(msg, &mut queued),
                Err(_) => return,
            }
        }
        while let Ok(msg) = rx.try_recv() {
            take(msg, &mut queued);
        }
        for slot in lanes.iter_mut().filter(|l| l.is_none()) {
            match queued.pop_front() {
                Some(run) => *slot = Some(run),
                None => break,
            }
        }
        let runs = || lanes.iter().flatten();
        let busy = runs().count();
        if busy == 0 {
            continue;
        }
        let started = runs().any(|r| r.done > 0);
        let urgent = runs().any(|r| r.urgent.load(Ordering::Acquire));
        let oldest = runs().map(|r| r.arrived).min().expect("busy");
        let gather = kernel != Kernel::Scalar && busy < LANES && !started && !urgent;
        if gather && let Some(left) = GATHER.checked_sub(oldest.elapsed()) {
            match rx.recv_timeout(left) {
                Ok(msg) => take(msg, &mut queued),
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
                Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => return,
            }
            continue;
        }
        if busy == 1 || kernel == Kernel::Scalar {
            for run in lanes.iter_mut().flatten() {
                let end = (run.done + ALONE_BYTES).min(run.data.len());
                md5::block_api::compress(&mut run.state, as_blocks(&run.data[run.done..end]));
                run.done = end;
            }
        } else {
            let mut runs: Vec<&mut Run> = lanes.iter_mut().flatten().collect();
            if runs.len() <= HALF {
                pass(&mut runs, &mut half, kernel);
            } else {
                pass(&mut runs, &mut words, kernel);
            }
        }
        for slot in lanes.iter_mut() {
            while slot.as_ref().is_some_and(|r| r.done == r.data.len()) {
                let run = slot.as_mut().expect("checked");
                if !run.next_piece() {
                    let run = slot.take().expect("checked");
                    // As in `next_piece`.
                    run.answer.send(run.state).ok();
                }
            }
        }
    }
}

/// Advances every run (at most `N`) by as many blocks as the shortest has left (at most
/// `words.len()`), side by side: run `l` in lane `l`.
fn pass<const N: usize>(runs: &mut [&mut Run], words: &mut [[[u32; N]; 16]], kernel: Kernel) {
    let blocks = runs
        .iter()
        .map(|r| (r.data.len() - r.done) / 64)
        .min()
        .unwrap_or(0)
        .min(words.len());
    let mut state = [[0u32; N]; 4];
    for (l, run) in runs.iter().enumerate() {
        for (lanes, value) in state.iter_mut().zip(run.state) {
            lanes[l] = value;
        }
    }
    let rows: Vec<&[u8]> = runs
        .iter()
        .map(|r| &r.data[r.done..r.done + blocks * 64])
        .collect();
    kernel.compress_rows(&mut state, &rows, blocks, words);
    for (l, run) in runs.iter_mut().enumerate() {
        for (value, lanes) in run.state.iter_mut().zip(&state) {
            *value = lanes[l];
        }
        run.done += blocks * 64;
    }
}

/// Lays the runs' blocks out across the lanes: `words[b][w][l]` becomes word `w` of block `b` of
/// `rows[l]` (each row holds `words.len()` blocks; lanes past the last row are left as they
/// were). Only the portable kernel needs it: the AVX2 and AVX-512 kernels turn each block's
/// words into lanes in registers, beside their steps (`Kernel::compress_rows`).
fn spread<const N: usize>(rows: &[&[u8]], words: &mut [[[u32; N]; 16]]) {
    debug_assert!(rows.len() <= N && rows.iter().all(|r| r.len() == words.len() * 64));
    for (l, row) in rows.iter().enumerate() {
        for (m, block) in words.iter_mut().zip(row.as_chunks::<64>().0) {
            for (w, lane_words) in m.iter_mut().enumerate() {
                lane_words[l] = word(block, w);
            }
        }
    }
}

/// A run sent and the pieces of it not yet answered, oldest first.
struct Pending {
    answered: VecDeque<tokio::sync::oneshot::Receiver<[u32; 4]>>,
    urgent: Arc<AtomicBool>,
    chain: Arc<Mutex<Chain>>,
    lanes: Md5Lanes,
}

impl Pending {
    /// Waits for the oldest piece's answer, as soon as the thread can give it.
    async fn oldest(&mut self) -> Option<[u32; 4]> {
        let answered = self.answered.pop_front()?;
        self.urgent.store(true, Ordering::Release);
        // Only a hint: the thread answers every run with or without it.
        self.lanes.tx.send(Msg::Hurry).ok();
        let state = answered.await.expect("the MD5 thread answers every piece");
        self.urgent.store(false, Ordering::Release);
        Some(state)
    }
}

/// One stream's MD5: whole blocks go to the lanes in runs, the partial block stays here.
pub struct StreamMd5 {
    state: [u32; 4],
    partial: Vec<u8>,
    len: u64,
    pending: Option<Pending>,
}

impl Default for StreamMd5 {
    fn default() -> Self {
        StreamMd5 {
            state: INIT,
            partial: Vec::with_capacity(64),
            len: 0,
            pending: None,
        }
    }
}

impl StreamMd5 {
    /// Hashes `data` here (small pieces, where a trip to the lanes costs more than it saves).
    /// Only while no run is out (`settle` first).
    pub fn update(&mut self, mut data: &[u8]) {
        debug_assert!(self.pending.is_none());
        self.len += data.len() as u64;
        if !self.partial.is_empty() {
            let take = (64 - self.partial.len()).min(data.len());
            self.partial.extend_from_slice(&data[..take]);
            data = &data[take..];
            if self.partial.len() < 64 {
                return;
            }
            md5::block_api::compress(&mut self.state, as_blocks(&self.partial));
            self.partial.clear();
        }
        let whole = data.len() / 64 * 64;
        md5::block_api::compress(&mut self.state, as_blocks(&data[..whole]));
        self.partial.extend_from_slice(&data[whole..]);
    }

    /// Sends `data` to the lanes, to hash beside other streams. Returns once it is queued
    /// there, behind at most `CHAIN` - 1 earlier pieces of this stream not yet hashed: the
    /// caller goes on while they wait their turn.
    pub async fn update_in(&mut self, lanes: &Md5Lanes, mut data: Bytes) {
        let mut head = None;
        if !self.partial.is_empty() {
            let take = (64 - self.partial.len()).min(data.len());
            self.partial.extend_from_slice(&data[..take]);
            self.len += take as u64;
            data = data.slice(take..);
            if self.partial.len() < 64 {
                return;
            }
            head = Some(self.partial[..].try_into().expect("one block"));
            self.partial.clear();
        }
        let whole = data.len() / 64 * 64;
        if head.is_some() || whole > 0 {
            self.send(lanes, head, data.slice(..whole)).await;
            self.len += whole as u64;
        }
        self.partial.extend_from_slice(&data[whole..]);
        self.len += (data.len() - whole) as u64;
    }

    /// Adds `head` and then `data` (whole blocks) to this stream's run in the lanes, or starts
    /// one.
    async fn send(&mut self, lanes: &Md5Lanes, head: Option<[u8; 64]>, data: Bytes) {
        let (answer, answered) = tokio::sync::oneshot::channel();
        let piece = Piece { head, data, answer };
        if let Some(p) = &mut self.pending {
            while p.answered.len() >= CHAIN {
                self.state = p.oldest().await.expect("CHAIN pieces out");
            }
            let mut chain = locked(&p.chain);
            if !chain.closed {
                chain.pieces.push_back(piece);
                drop(chain);
                p.answered.push_back(answered);
                return;
            }
        }
        // The run ended (or none is out): a new one from the stream's state.
        self.settle().await;
        let Piece { head, data, answer } = piece;
        if let Some(head) = &head {
            md5::block_api::compress(&mut self.state, std::slice::from_ref(head));
        }
        if data.is_empty() {
            return;
        }
        let urgent = Arc::new(AtomicBool::new(false));
        let chain = Arc::new(Mutex::new(Chain::default()));
        let run = Run {
            state: self.state,
            data,
            done: 0,
            arrived: Instant::now(),
            urgent: urgent.clone(),
            answer,
            chain: chain.clone(),
        };
        match lanes.tx.send(Msg::Run(run)) {
            Ok(()) => {
                self.pending = Some(Pending {
                    answered: VecDeque::from([answered]),
                    urgent,
                    chain,
                    lanes: lanes.clone(),
                })
            }
            // The thread is gone (it never stops while a handle lives): hash here.
            Err(unsent) => {
                if let Msg::Run(run) = unsent.0 {
                    md5::block_api::compress(&mut self.state, as_blocks(&run.data));
                }
            }
        }
    }

    /// Waits for the pieces that are out, if any.
    pub async fn settle(&mut self) {
        if let Some(mut p) = self.pending.take() {
            while let Some(state) = p.oldest().await {
                self.state = state;
            }
        }
    }

    /// The digest. Only once settled.
    pub fn finalize(mut self) -> [u8; 16] {
        debug_assert!(self.pending.is_none());
        let bits = self.len.wrapping_mul(8);
        let mut tail = std::mem::take(&mut self.partial);
        tail.push(0x80);
        while tail.len() % 64 != 56 {
            tail.push(0);
        }
        tail.extend_from_slice(&bits.to_le_bytes());
        md5::block_api::compress(&mut self.state, as_blocks(&tail));
        let mut out = [0u8; 16];
        for (i, w) in self.state.iter().enumerate() {
            out[i * 4..i * 4 + 4].copy_from_slice(&w.to_le_bytes());
        }
        out
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use md5::Digest;

    fn reference(data: &[u8]) -> [u8; 16] {
        md5::Md5::digest(data).into()
    }

    pub(in crate::service::objects) fn noise(len: usize, seed: u32) -> Vec<u8> {
        let mut x = seed.wrapping_mul(2_654_435_761).max(1);
        (0..len)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                x as u8
            })
            .collect()
    }

    #[test]
    fn streams_hashed_here_match_md5() {
        for len in [0, 1, 55, 56, 63, 64, 65, 119, 120, 1000, 4096 + 7] {
            let data = noise(len, len as u32);
            let mut h = StreamMd5::default();
            for piece in data.chunks(37) {
                h.update(piece);
            }
            assert_eq!(h.finalize(), reference(&data), "length {len}");
        }
    }

    pub(super) fn kernels() -> Vec<Kernel> {
        let mut kernels = vec![Kernel::Portable];
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("avx2") {
                kernels.push(Kernel::Avx2);
            }
            if std::arch::is_x86_feature_detected!("avx512f")
                && std::arch::is_x86_feature_detected!("avx512vl")
                && std::arch::is_x86_feature_detected!("avx2")
            {
                kernels.push(Kernel::Avx512);
            }
        }
        kernels
    }

    /// Three blocks on each of `N` lanes, through `kernel`, against the scalar MD5.
    fn check_lanes<const N: usize>(kernel: Kernel) {
        let data: Vec<Vec<u8>> = (0..N).map(|l| noise(64 * 3, l as u32 + 1)).collect();
        let mut want = vec![INIT; N];
        for (l, d) in data.iter().enumerate() {
            md5::block_api::compress(&mut want[l], as_blocks(d));
        }
        let mut state = [[0u32; N]; 4];
        for (w, lanes) in state.iter_mut().enumerate() {
            *lanes = [INIT[w]; N];
        }
        let blocks: Vec<[[u32; N]; 16]> = (0..3)
            .map(|b| {
                let mut m = [[0u32; N]; 16];
                for (w, lanes) in m.iter_mut().enumerate() {
                    for (l, d) in data.iter().enumerate() {
                        lanes[l] = word(&d[b * 64..], w);
                    }
                }
                m
            })
            .collect();
        kernel.compress(&mut state, &blocks);
        for (l, want) in want.iter().enumerate() {
            let got = [state[0][l], state[1][l], state[2][l], state[3][l]];
            assert_eq!(&got, want, "{kernel:?} {N} lanes, lane {l}");
        }
    }

    /// Every count of rows, from unaligned starts, through the portable kernel's layout,
    /// against picking each word by hand; lanes past the rows keep what they held.
    fn check_spread<const N: usize>() {
        let blocks = 5;
        let data: Vec<Vec<u8>> = (0..N)
            .map(|l| noise(64 * blocks + 3, l as u32 + 7))
            .collect();
        for count in 1..=N {
            let rows: Vec<&[u8]> = data
                .iter()
                .take(count)
                .enumerate()
                .map(|(l, d)| &d[l % 4..l % 4 + 64 * blocks])
                .collect();
            let mut words = vec![[[0xdead_beef_u32; N]; 16]; blocks];
            spread(&rows, &mut words);
            for (b, m) in words.iter().enumerate() {
                for (w, lanes) in m.iter().enumerate() {
                    for (l, got) in lanes.iter().enumerate() {
                        let want = match rows.get(l) {
                            Some(row) => word(&row[b * 64..], w),
                            None => 0xdead_beef,
                        };
                        assert_eq!(
                            *got, want,
                            "{N} lanes, {count} rows: block {b} word {w} lane {l}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn words_are_laid_out_as_picking_them_does() {
        check_spread::<LANES>();
        check_spread::<HALF>();
    }

    #[test]
    fn every_kernel_hashes_lanes_as_scalar_md5_does() {
        for kernel in kernels() {
            check_lanes::<LANES>(kernel);
            check_lanes::<HALF>(kernel);
        }
    }

    /// Passes of every count of runs of different lengths, from unaligned starts and mid-run
    /// states, through `pass`
    /// (so through each kernel's own way of reading the rows), against the scalar MD5.
    fn check_passes<const N: usize>(kernel: Kernel) {
        let mut words = vec![[[0u32; N]; 16]; PASS_BLOCKS];
        for count in 1..=N {
            let mut runs: Vec<Run> = (0..count)
                .map(|l| {
                    // Run l: (l % 3) blocks already done, then 20 + l blocks to go.
                    let len = 64 * (l % 3 + 20 + l);
                    let data = Bytes::from(noise(len + 3, (N * 31 + l) as u32));
                    let (answer, _) = tokio::sync::oneshot::channel();
                    Run {
                        state: [l as u32, 7, 8, 9],
                        data: data.slice(l % 4..l % 4 + len),
                        done: 64 * (l % 3),
                        arrived: Instant::now(),
                        urgent: Default::default(),
                        answer,
                        chain: Default::default(),
                    }
                })
                .collect();
            let mut want: Vec<[u32; 4]> = runs.iter().map(|r| r.state).collect();
            let before: Vec<usize> = runs.iter().map(|r| r.done).collect();
            pass(&mut runs.iter_mut().collect::<Vec<_>>(), &mut words, kernel);
            for (l, run) in runs.iter().enumerate() {
                let hashed = &run.data[before[l]..run.done];
                // As far as the shortest run goes.
                assert_eq!(hashed.len(), 64 * 20, "{kernel:?} {N} lanes, {count} runs");
                md5::block_api::compress(&mut want[l], as_blocks(hashed));
                assert_eq!(
                    run.state, want[l],
                    "{kernel:?} {N} lanes, {count} runs, run {l}"
                );
            }
        }
    }

    #[test]
    fn every_kernel_passes_runs_as_scalar_md5_does() {
        for kernel in kernels() {
            check_passes::<LANES>(kernel);
            check_passes::<HALF>(kernel);
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn streams_chaining_many_pieces_match_md5() {
        // Each stream sends its pieces without waiting (so its run takes them from its chain,
        // and the stream waits once CHAIN are out), pieces of every alignment, some shorter
        // than a block; the thread is kept busy by 12 streams at once.
        for kernel in kernels() {
            let lanes = Md5Lanes::with_kernel(kernel);
            let streams: Vec<Vec<u8>> = (0..12)
                .map(|i| noise(40_000 + i * 1_511, i as u32 + 100))
                .collect();
            let tasks: Vec<_> = streams
                .iter()
                .cloned()
                .enumerate()
                .map(|(i, data)| {
                    let lanes = lanes.clone();
                    tokio::spawn(async move {
                        let mut h = StreamMd5::default();
                        let data = Bytes::from(data);
                        let mut at = 0;
                        let mut step = 1 + i * 37;
                        while at < data.len() {
                            let end = (at + step).min(data.len());
                            h.update_in(&lanes, data.slice(at..end)).await;
                            at = end;
                            step = step * 7 % 4_099 + 1;
                        }
                        h.settle().await;
                        h.finalize()
                    })
                })
                .collect();
            for (task, data) in tasks.into_iter().zip(&streams) {
                assert_eq!(task.await.unwrap(), reference(data), "{kernel:?}");
            }
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn streams_side_by_side_match_md5() {
        // Lanes even in a debug build, through every kernel: the scheduling and the layout of
        // runs of different lengths are what is under test here.
        for kernel in kernels() {
            let lanes = Md5Lanes::with_kernel(kernel);
            let streams: Vec<Vec<u8>> = (0..20).map(|i| noise(1000 + i * 977, i as u32)).collect();
            let tasks: Vec<_> = streams
                .iter()
                .cloned()
                .map(|data| {
                    let lanes = lanes.clone();
                    tokio::spawn(async move {
                        let mut h = StreamMd5::default();
                        h.update(&data[..10]);
                        let rest = Bytes::from(data[10..].to_vec());
                        let mut at = 0;
                        while at < rest.len() {
                            let end = (at + 700).min(rest.len());
                            h.update_in(&lanes, rest.slice(at..end)).await;
                            at = end;
                        }
                        h.settle().await;
                        h.finalize()
                    })
                })
                .collect();
            for (task, data) in tasks.into_iter().zip(&streams) {
                assert_eq!(task.await.unwrap(), reference(data), "{kernel:?}");
            }
        }
    }
}

#[cfg(test)]
mod speed {
    use super::*;

    /// `cargo test --release --lib md5_lanes::speed -- --ignored --nocapture`
    #[test]
    #[ignore]
    fn throughput() {
        let blocks = vec![[[7u32; LANES]; 16]; 4096];
        for kernel in tests::kernels() {
            let mut state = [[1u32; LANES]; 4];
            let t = Instant::now();
            kernel.compress(&mut state, &blocks);
            let s = t.elapsed().as_secs_f64();
            println!(
                "{kernel:?}: {:.0} MB/s over {LANES} lanes ({})",
                (4096 * 64 * LANES) as f64 / s / 1e6,
                state[0][0]
            );
        }
        let data = Bytes::from(vec![5u8; 64 << 20]);
        let mut st = INIT;
        let t = Instant::now();
        md5::block_api::compress(&mut st, as_blocks(&data));
        println!(
            "scalar: {:.0} MB/s",
            data.len() as f64 / t.elapsed().as_secs_f64() / 1e6
        );
        let mut lanes: Vec<Run> = (0..LANES)
            .map(|_| {
                let (answer, _) = tokio::sync::oneshot::channel();
                Run {
                    state: INIT,
                    data: data.slice(..4 << 20),
                    done: 0,
                    arrived: Instant::now(),
                    urgent: Default::default(),
                    answer,
                    chain: Default::default(),
                }
            })
            .collect();
        let mut words = vec![[[0u32; LANES]; 16]; PASS_BLOCKS];
        let mut half = vec![[[0u32; HALF]; 16]; PASS_BLOCKS];
        let t = Instant::now();
        while lanes[0].done < 4 << 20 {
            let mut runs: Vec<&mut Run> = lanes.iter_mut().collect();
            pass(&mut runs, &mut words, Kernel::detect());
        }
        println!(
            "passes, 16 lanes full: {:.0} MB/s",
            (16 * (4 << 20)) as f64 / t.elapsed().as_secs_f64() / 1e6
        );
        for r in lanes.iter_mut() {
            r.done = 0;
        }
        let t = Instant::now();
        while lanes[0].done < 4 << 20 {
            let mut runs: Vec<&mut Run> = lanes.iter_mut().take(HALF).collect();
            pass(&mut runs, &mut half, Kernel::detect());
        }
        println!(
            "passes, 8 lanes full: {:.0} MB/s",
            (8 * (4 << 20)) as f64 / t.elapsed().as_secs_f64() / 1e6
        );
    }
}
