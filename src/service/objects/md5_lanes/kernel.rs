//! The MD5 compression function over lanes: the 64 steps written once for `N` lanes, and the
//! kernels (scalar, portable, AVX2, AVX-512) that run them, chosen once per process.

pub(super) const INIT: [u32; 4] = [0x6745_2301, 0xefcd_ab89, 0x98ba_dcfe, 0x1032_5476];

const K: [u32; 64] = [
    0xd76a_a478,
    0xe8c7_b756,
    0x2420_70db,
    0xc1bd_ceee,
    0xf57c_0faf,
    0x4787_c62a,
    0xa830_4613,
    0xfd46_9501,
    0x6980_98d8,
    0x8b44_f7af,
    0xffff_5bb1,
    0x895c_d7be,
    0x6b90_1122,
    0xfd98_7193,
    0xa679_438e,
    0x49b4_0821,
    0xf61e_2562,
    0xc040_b340,
    0x265e_5a51,
    0xe9b6_c7aa,
    0xd62f_105d,
    0x0244_1453,
    0xd8a1_e681,
    0xe7d3_fbc8,
    0x21e1_cde6,
    0xc337_07d6,
    0xf4d5_0d87,
    0x455a_14ed,
    0xa9e3_e905,
    0xfcef_a3f8,
    0x676f_02d9,
    0x8d2a_4c8a,
    0xfffa_3942,
    0x8771_f681,
    0x6d9d_6122,
    0xfde5_380c,
    0xa4be_ea44,
    0x4bde_cfa9,
    0xf6bb_4b60,
    0xbebf_bc70,
    0x289b_7ec6,
    0xeaa1_27fa,
    0xd4ef_3085,
    0x0488_1d05,
    0xd9d4_d039,
    0xe6db_99e5,
    0x1fa2_7cf8,
    0xc4ac_5665,
    0xf429_2244,
    0x432a_ff97,
    0xab94_23a7,
    0xfc93_a039,
    0x655b_59c3,
    0x8f0c_cc92,
    0xffef_f47d,
    0x8584_5dd1,
    0x6fa8_7e4f,
    0xfe2c_e6e0,
    0xa301_4314,
    0x4e08_11a1,
    0xf753_7e82,
    0xbd3a_f235,
    0x2ad7_d2bb,
    0xeb86_d391,
];

const S: [u32; 16] = [7, 12, 17, 22, 5, 9, 14, 20, 4, 11, 16, 23, 6, 10, 15, 21];

/// Each step's rotation, in step order.
const SHIFT: [u32; 64] = {
    let mut s = [0u32; 64];
    let mut i = 0;
    while i < 64 {
        s[i] = S[(i / 16) * 4 + i % 4];
        i += 1;
    }
    s
};

/// The word of the block each step adds, in step order.
const WORD: [usize; 64] = {
    let mut g = [0usize; 64];
    let mut i = 0;
    while i < 64 {
        g[i] = match i / 16 {
            0 => i,
            1 => (5 * i + 1) % 16,
            2 => (3 * i + 5) % 16,
            _ => (7 * i) % 16,
        };
        i += 1;
    }
    g
};

/// MD5 step `I` on every lane. The four state words take turns as `a`, so step `I` updates
/// word `(64 - I) % 4` from the three after it.
#[inline(always)]
fn step<const I: usize, const N: usize>(st: &mut [[u32; N]; 4], m: &[[u32; N]; 16]) {
    let a = (64 - I) % 4;
    let (b, c, d) = ((a + 1) % 4, (a + 2) % 4, (a + 3) % 4);
    let (g, s) = match I / 16 {
        0 => (I, S[I % 4]),
        1 => ((5 * I + 1) % 16, S[4 + I % 4]),
        2 => ((3 * I + 5) % 16, S[8 + I % 4]),
        _ => ((7 * I) % 16, S[12 + I % 4]),
    };
    for l in 0..N {
        let (x, y, z) = (st[b][l], st[c][l], st[d][l]);
        let f = match I / 16 {
            0 => z ^ (x & (y ^ z)),
            1 => y ^ (z & (x ^ y)),
            2 => x ^ y ^ z,
            _ => y ^ (x | !z),
        };
        // What does not depend on the previous step first: only `f` waits for it.
        let ahead = st[a][l].wrapping_add(K[I]).wrapping_add(m[g][l]);
        st[a][l] = x.wrapping_add(ahead.wrapping_add(f).rotate_left(s));
    }
}

macro_rules! steps {
    ($st:ident, $m:ident; $($i:literal)*) => { $( step::<$i, N>(&mut $st, $m); )* };
}

/// One block on every lane: `m[w][l]` is word `w` of lane `l`'s block.
#[inline(always)]
fn compress_lanes<const N: usize>(state: &mut [[u32; N]; 4], m: &[[u32; N]; 16]) {
    let mut st = *state;
    steps!(st, m;
        0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15
        16 17 18 19 20 21 22 23 24 25 26 27 28 29 30 31
        32 33 34 35 36 37 38 39 40 41 42 43 44 45 46 47
        48 49 50 51 52 53 54 55 56 57 58 59 60 61 62 63);
    for (w, words) in state.iter_mut().enumerate() {
        for l in 0..N {
            words[l] = words[l].wrapping_add(st[w][l]);
        }
    }
}

fn compress_portable<const N: usize>(state: &mut [[u32; N]; 4], blocks: &[[[u32; N]; 16]]) {
    for m in blocks {
        compress_lanes(state, m);
    }
}

/// How runs of different streams are hashed side by side.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Kernel {
    /// One after another, each by the scalar MD5.
    Scalar,
    /// Lanes in whatever the compiler makes of plain code (the tests' kernel off x86-64).
    #[cfg_attr(not(test), allow(dead_code))]
    Portable,
    #[cfg(target_arch = "x86_64")]
    Avx2,
    /// Only where AVX2 is present too (the 8 x 8 squares of words are turned with it).
    #[cfg(target_arch = "x86_64")]
    Avx512,
}

impl Kernel {
    pub(super) fn detect() -> Kernel {
        if cfg!(debug_assertions) {
            return Kernel::Scalar;
        }
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("avx512f")
                && std::arch::is_x86_feature_detected!("avx512vl")
                && std::arch::is_x86_feature_detected!("avx2")
            {
                return Kernel::Avx512;
            }
            if std::arch::is_x86_feature_detected!("avx2") {
                return Kernel::Avx2;
            }
        }
        // Without wide registers and a rotate, lanes cost more than they save.
        Kernel::Scalar
    }

    pub(super) fn compress<const N: usize>(
        self,
        state: &mut [[u32; N]; 4],
        blocks: &[[[u32; N]; 16]],
    ) {
        match self {
            Kernel::Scalar | Kernel::Portable => compress_portable(state, blocks),
            // SAFETY: `detect` chose these only where the CPU has the feature.
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx2 => unsafe { avx2::compress(state, blocks) },
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx512 => {
                let words = |b: usize| &blocks[b];
                // SAFETY: `detect` chose this only where the CPU has AVX-512F and VL.
                unsafe { avx512::compress(state, blocks.len(), words) }
            }
        }
    }

    /// Advances `N` lanes by `blocks` blocks of `rows` (lane `l` takes `rows[l]`; lanes past the
    /// last row repeat it, and their state is left meaningless). The AVX2 and AVX-512 kernels turn
    /// each block's words into lanes in registers, beside the steps; the portable one lays them
    /// out in `words` first (at least `blocks` long).
    pub(super) fn compress_rows<const N: usize>(
        self,
        state: &mut [[u32; N]; 4],
        rows: &[&[u8]],
        blocks: usize,
        words: &mut [[[u32; N]; 16]],
    ) {
        debug_assert!(!rows.is_empty() && rows.len() <= N);
        debug_assert!(rows.iter().all(|r| r.len() >= blocks * 64));
        #[cfg(target_arch = "x86_64")]
        if self == Kernel::Avx512 {
            // SAFETY: `detect` chose this only where the CPU has AVX-512F and VL, and AVX2.
            unsafe { avx512::compress_rows(state, rows, blocks) };
            return;
        }
        #[cfg(target_arch = "x86_64")]
        if self == Kernel::Avx2 {
            // SAFETY: `detect` chose this only where the CPU has AVX2.
            unsafe { avx2::compress_rows(state, rows, blocks) };
            return;
        }
        super::spread(rows, &mut words[..blocks]);
        self.compress(state, &words[..blocks]);
    }
}

/// The 64-byte block at `at` of each of 8 rows, lane-wise: word `w` of row `l` in lane `l`
/// of register `w` (two 8 x 8 squares of words turned).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
#[inline]
pub(super) fn turn8(rows: &[&[u8]; 8], at: usize) -> [std::arch::x86_64::__m256i; 16] {
    use std::arch::x86_64::*;
    let mut out = [_mm256_setzero_si256(); 16];
    for (half, out) in out.chunks_exact_mut(8).enumerate() {
        let r: [__m256i; 8] = std::array::from_fn(|l| {
            let from = at + half * 32;
            let bytes: &[u8; 32] = rows[l][from..from + 32].try_into().expect("32 bytes");
            // SAFETY: reads the 32 bytes of `bytes`, unaligned.
            unsafe { _mm256_loadu_si256(bytes.as_ptr().cast()) }
        });
        let t: [__m256i; 8] = std::array::from_fn(|i| {
            let (a, b) = (r[i & !1], r[i | 1]);
            if i % 2 == 0 {
                _mm256_unpacklo_epi32(a, b)
            } else {
                _mm256_unpackhi_epi32(a, b)
            }
        });
        // u[k]: words k and k + 4 of rows 0-3 (k < 4) or 4-7, one per 128-bit half.
        let u = [
            _mm256_unpacklo_epi64(t[0], t[2]),
            _mm256_unpackhi_epi64(t[0], t[2]),
            _mm256_unpacklo_epi64(t[1], t[3]),
            _mm256_unpackhi_epi64(t[1], t[3]),
            _mm256_unpacklo_epi64(t[4], t[6]),
            _mm256_unpackhi_epi64(t[4], t[6]),
            _mm256_unpacklo_epi64(t[5], t[7]),
            _mm256_unpackhi_epi64(t[5], t[7]),
        ];
        for k in 0..4 {
            out[k] = _mm256_permute2x128_si256::<0x20>(u[k], u[k + 4]);
            out[k + 4] = _mm256_permute2x128_si256::<0x31>(u[k], u[k + 4]);
        }
    }
    out
}

/// The AVX-512 kernel, written out: the compiler, left to vectorise `compress_lanes`, put each
/// step's constant after its round function, one more add on the chain from step to step, and
/// moved the 8-lane state through memory; here each step waits only on its round function, the
/// add, the rotate and the add of `b` (on the bench's host, the kernel alone: 16 lanes 7.2 → 10
/// GB/s, 8 lanes 4.4 → 5.6 GB/s; `speed`'s full passes, rows turned in: 8 lanes 3.1 → 5.4 GB/s).
#[cfg(target_arch = "x86_64")]
mod avx512 {
    use std::arch::x86_64::*;

    use super::{K, SHIFT, WORD, turn8};

    /// The 64 steps over `blocks` blocks, whose words `words(b)` gives lane-wise, for one
    /// register width.
    macro_rules! kernel {
        ($name:ident, $n:literal, $vec:ty, $reg:ident, $load:ident, $store:ident, $set1:ident,
         $add:ident, $tern:ident, $rol:ident, $feature:literal) => {
            #[target_feature(enable = $feature)]
            #[inline]
            fn $name(
                state: &mut [[u32; $n]; 4],
                blocks: usize,
                words: impl Fn(usize) -> [$vec; 16],
            ) {
                // SAFETY: reads the $n words of `row`, unaligned.
                let load = |row: &[u32; $n]| unsafe { $load(row.as_ptr().cast()) };
                let mut st: [$vec; 4] = std::array::from_fn(|w| load(&state[w]));
                for b in 0..blocks {
                    let m = words(b);
                    let mut x = st;
                    macro_rules! step {
                        ($i:literal) => {{
                            const I: usize = $i;
                            let a = (64 - I) % 4;
                            let (b, c, d) = ((a + 1) % 4, (a + 2) % 4, (a + 3) % 4);
                            let ahead = $add($add(x[a], $set1(K[I] as i32)), m[WORD[I]]);
                            let f = match I / 16 {
                                0 => $tern::<0xca>(x[b], x[c], x[d]),
                                1 => $tern::<0xca>(x[d], x[b], x[c]),
                                2 => $tern::<0x96>(x[b], x[c], x[d]),
                                _ => $tern::<0x39>(x[b], x[c], x[d]),
                            };
                            let sum: $vec;
                            // SAFETY: one add, on registers. Written as an instruction so that the
                            // compiler cannot fold the constant and the word in after `f`.
                            unsafe {
                                std::arch::asm!(
                                    "vpaddd {s}, {x}, {y}",
                                    s = lateout($reg) sum,
                                    x = in($reg) ahead,
                                    y = in($reg) f,
                                    options(pure, nomem, nostack, preserves_flags),
                                );
                            }
                            x[a] = $add($rol::<{ SHIFT[I] as i32 }>(sum), x[b]);
                        }};
                    }
                    step!(0); step!(1); step!(2); step!(3); step!(4); step!(5); step!(6); step!(7);
                    step!(8); step!(9); step!(10); step!(11); step!(12); step!(13); step!(14); step!(15);
                    step!(16); step!(17); step!(18); step!(19); step!(20); step!(21); step!(22); step!(23);
                    step!(24); step!(25); step!(26); step!(27); step!(28); step!(29); step!(30); step!(31);
                    step!(32); step!(33); step!(34); step!(35); step!(36); step!(37); step!(38); step!(39);
                    step!(40); step!(41); step!(42); step!(43); step!(44); step!(45); step!(46); step!(47);
                    step!(48); step!(49); step!(50); step!(51); step!(52); step!(53); step!(54); step!(55);
                    step!(56); step!(57); step!(58); step!(59); step!(60); step!(61); step!(62); step!(63);
                    for (s, x) in st.iter_mut().zip(x) {
                        *s = $add(*s, x);
                    }
                }
                for (row, v) in state.iter_mut().zip(st) {
                    // SAFETY: writes the $n words of `row`, unaligned.
                    unsafe { $store(row.as_mut_ptr().cast(), v) };
                }
            }
        };
    }

    kernel!(
        lanes8,
        8,
        __m256i,
        ymm_reg,
        _mm256_loadu_si256,
        _mm256_storeu_si256,
        _mm256_set1_epi32,
        _mm256_add_epi32,
        _mm256_ternarylogic_epi32,
        _mm256_rol_epi32,
        "avx512f,avx512vl"
    );
    kernel!(
        lanes16,
        16,
        __m512i,
        zmm_reg,
        _mm512_loadu_si512,
        _mm512_storeu_si512,
        _mm512_set1_epi32,
        _mm512_add_epi32,
        _mm512_ternarylogic_epi32,
        _mm512_rol_epi32,
        "avx512f"
    );

    /// `state` as the 8- or 16-lane state it is (the only widths the lanes use).
    fn width<const N: usize, T: 'static>(state: &mut [[u32; N]; 4]) -> Option<&mut T> {
        (state as &mut dyn std::any::Any).downcast_mut::<T>()
    }

    /// The kernel over words already laid out lane-wise.
    #[target_feature(enable = "avx512f,avx512vl")]
    pub(super) fn compress<'a, const N: usize>(
        state: &mut [[u32; N]; 4],
        blocks: usize,
        words: impl Fn(usize) -> &'a [[u32; N]; 16],
    ) {
        // SAFETY (both): reads the N words of one row of a block, unaligned.
        if let Some(st) = width::<N, [[u32; 8]; 4]>(state) {
            lanes8(st, blocks, |b| {
                std::array::from_fn(|w| unsafe { _mm256_loadu_si256(words(b)[w].as_ptr().cast()) })
            });
        } else if let Some(st) = width::<N, [[u32; 16]; 4]>(state) {
            lanes16(st, blocks, |b| {
                std::array::from_fn(|w| unsafe { _mm512_loadu_si512(words(b)[w].as_ptr().cast()) })
            });
        } else {
            unreachable!("lanes are 8 or 16 wide");
        }
    }

    /// The kernel over the rows themselves, each block's words turned into lanes in registers.
    #[target_feature(enable = "avx512f,avx512vl,avx2")]
    pub(super) fn compress_rows<const N: usize>(
        state: &mut [[u32; N]; 4],
        rows: &[&[u8]],
        blocks: usize,
    ) {
        if let Some(st) = width::<N, [[u32; 8]; 4]>(state) {
            let rows: [&[u8]; 8] = std::array::from_fn(|l| rows[l.min(rows.len() - 1)]);
            lanes8(st, blocks, |b| turn8(&rows, b * 64));
        } else if let Some(st) = width::<N, [[u32; 16]; 4]>(state) {
            let rows: [&[u8]; 16] = std::array::from_fn(|l| rows[l.min(rows.len() - 1)]);
            lanes16(st, blocks, |b| turn16(&rows, b * 64));
        } else {
            unreachable!("lanes are 8 or 16 wide");
        }
    }

    /// As `turn8`, for 16 rows: one 16 x 16 square.
    #[target_feature(enable = "avx512f")]
    #[inline]
    fn turn16(rows: &[&[u8]; 16], at: usize) -> [__m512i; 16] {
        let r: [__m512i; 16] = std::array::from_fn(|l| {
            let bytes: &[u8; 64] = rows[l][at..at + 64].try_into().expect("64 bytes");
            // SAFETY: reads the 64 bytes of `bytes`, unaligned.
            unsafe { _mm512_loadu_si512(bytes.as_ptr().cast()) }
        });
        let t: [__m512i; 16] = std::array::from_fn(|i| {
            let (a, b) = (r[i & !1], r[i | 1]);
            if i % 2 == 0 {
                _mm512_unpacklo_epi32(a, b)
            } else {
                _mm512_unpackhi_epi32(a, b)
            }
        });
        // v[g][c]: 128-bit chunk j holds word 4j + c of rows 4g .. 4g + 4.
        let v: [[__m512i; 4]; 4] = std::array::from_fn(|g| {
            let t = &t[4 * g..4 * g + 4];
            [
                _mm512_unpacklo_epi64(t[0], t[2]),
                _mm512_unpackhi_epi64(t[0], t[2]),
                _mm512_unpacklo_epi64(t[1], t[3]),
                _mm512_unpackhi_epi64(t[1], t[3]),
            ]
        });
        let mut out = [_mm512_setzero_si512(); 16];
        for c in 0..4 {
            // Chunks j of v[0..4][c] side by side make word 4j + c of all 16 rows.
            let p0 = _mm512_shuffle_i32x4::<0x44>(v[0][c], v[1][c]);
            let p1 = _mm512_shuffle_i32x4::<0xee>(v[0][c], v[1][c]);
            let p2 = _mm512_shuffle_i32x4::<0x44>(v[2][c], v[3][c]);
            let p3 = _mm512_shuffle_i32x4::<0xee>(v[2][c], v[3][c]);
            out[c] = _mm512_shuffle_i32x4::<0x88>(p0, p2);
            out[4 + c] = _mm512_shuffle_i32x4::<0xdd>(p0, p2);
            out[8 + c] = _mm512_shuffle_i32x4::<0x88>(p1, p3);
            out[12 + c] = _mm512_shuffle_i32x4::<0xdd>(p1, p3);
        }
        out
    }
}

/// The AVX2 kernel, written out as the AVX-512 one is, for hosts without AVX-512 (no ternary
/// logic, no rotate). Each step's round function is split so that what depends only on the
/// older state words (`c ^ d`, `c & !d`, `!d`) and on the block (`a + K + word`) is ready
/// before the newest word `b` is; the chain from step to step is then the round function's
/// one or two ops on `b`, the add, the two-op rotate and the add of `b`. Sixteen lanes are two
/// groups of 8 stepped side by side, whose chains overlap.
#[cfg(target_arch = "x86_64")]
mod avx2 {
    use std::arch::x86_64::*;

    use super::{K, SHIFT, WORD, turn8};

    /// `x + y` as one instruction: the compiler cannot fold the step's constant and word in
    /// after the round function (one more add on the chain).
    #[target_feature(enable = "avx2")]
    #[inline]
    fn join(x: __m256i, y: __m256i) -> __m256i {
        let sum: __m256i;
        // SAFETY: one add, on registers.
        unsafe {
            std::arch::asm!(
                "vpaddd {s}, {x}, {y}",
                s = lateout(ymm_reg) sum,
                x = in(ymm_reg) x,
                y = in(ymm_reg) y,
                options(pure, nomem, nostack, preserves_flags),
            );
        }
        sum
    }

    /// The 64 steps over `blocks` blocks on `G` groups of 8 lanes, whose words `words(b)` gives
    /// lane-wise (`[group][word]`).
    #[target_feature(enable = "avx2")]
    #[inline]
    fn lanes<const G: usize>(
        st: &mut [[__m256i; 4]; G],
        blocks: usize,
        words: impl Fn(usize) -> [[__m256i; 16]; G],
    ) {
        let ones = _mm256_set1_epi32(-1);
        for blk in 0..blocks {
            let m = words(blk);
            let mut x = *st;
            macro_rules! step {
                ($i:literal) => {{
                    const I: usize = $i;
                    let a = (64 - I) % 4;
                    let (b, c, d) = ((a + 1) % 4, (a + 2) % 4, (a + 3) % 4);
                    for (x, m) in x.iter_mut().zip(&m) {
                        let ahead = _mm256_add_epi32(
                            _mm256_add_epi32(x[a], _mm256_set1_epi32(K[I] as i32)),
                            m[WORD[I]],
                        );
                        let (ahead, f) = match I / 16 {
                            // d ^ (b & (c ^ d))
                            0 => {
                                let cd = _mm256_xor_si256(x[c], x[d]);
                                (ahead, _mm256_xor_si256(_mm256_and_si256(x[b], cd), x[d]))
                            }
                            // (b & d) | (c & !d): the halves share no bit, so they add.
                            1 => (
                                _mm256_add_epi32(ahead, _mm256_andnot_si256(x[d], x[c])),
                                _mm256_and_si256(x[b], x[d]),
                            ),
                            // b ^ c ^ d
                            2 => (ahead, _mm256_xor_si256(x[b], _mm256_xor_si256(x[c], x[d]))),
                            // c ^ (b | !d)
                            _ => {
                                let nd = _mm256_xor_si256(x[d], ones);
                                (ahead, _mm256_xor_si256(_mm256_or_si256(x[b], nd), x[c]))
                            }
                        };
                        let sum = join(ahead, f);
                        let turned = _mm256_or_si256(
                            _mm256_slli_epi32::<{ SHIFT[I] as i32 }>(sum),
                            _mm256_srli_epi32::<{ 32 - SHIFT[I] as i32 }>(sum),
                        );
                        x[a] = _mm256_add_epi32(turned, x[b]);
                    }
                }};
            }
            step!(0);
            step!(1);
            step!(2);
            step!(3);
            step!(4);
            step!(5);
            step!(6);
            step!(7);
            step!(8);
            step!(9);
            step!(10);
            step!(11);
            step!(12);
            step!(13);
            step!(14);
            step!(15);
            step!(16);
            step!(17);
            step!(18);
            step!(19);
            step!(20);
            step!(21);
            step!(22);
            step!(23);
            step!(24);
            step!(25);
            step!(26);
            step!(27);
            step!(28);
            step!(29);
            step!(30);
            step!(31);
            step!(32);
            step!(33);
            step!(34);
            step!(35);
            step!(36);
            step!(37);
            step!(38);
            step!(39);
            step!(40);
            step!(41);
            step!(42);
            step!(43);
            step!(44);
            step!(45);
            step!(46);
            step!(47);
            step!(48);
            step!(49);
            step!(50);
            step!(51);
            step!(52);
            step!(53);
            step!(54);
            step!(55);
            step!(56);
            step!(57);
            step!(58);
            step!(59);
            step!(60);
            step!(61);
            step!(62);
            step!(63);
            for (s, x) in st.iter_mut().zip(x) {
                for (s, x) in s.iter_mut().zip(x) {
                    *s = _mm256_add_epi32(*s, x);
                }
            }
        }
    }

    /// Runs the kernel on `state` (8 or 16 lanes) as `G` groups of 8.
    #[target_feature(enable = "avx2")]
    #[inline]
    fn grouped<const N: usize, const G: usize>(
        state: &mut [[u32; N]; 4],
        blocks: usize,
        words: impl Fn(usize) -> [[__m256i; 16]; G],
    ) {
        debug_assert_eq!(N, 8 * G);
        // SAFETY: reads the 8 words of lanes 8g .. 8g + 8 of one state row, unaligned.
        let load = |row: &[u32; N], g: usize| unsafe {
            _mm256_loadu_si256(row[8 * g..8 * g + 8].as_ptr().cast())
        };
        let mut st: [[__m256i; 4]; G] =
            std::array::from_fn(|g| std::array::from_fn(|w| load(&state[w], g)));
        lanes(&mut st, blocks, words);
        for (g, st) in st.iter().enumerate() {
            for (row, v) in state.iter_mut().zip(st) {
                let dst = &mut row[8 * g..8 * g + 8];
                // SAFETY: writes the 8 words of `dst`, unaligned.
                unsafe { _mm256_storeu_si256(dst.as_mut_ptr().cast(), *v) };
            }
        }
    }

    /// The kernel over words already laid out lane-wise.
    #[target_feature(enable = "avx2")]
    pub(super) fn compress<const N: usize>(state: &mut [[u32; N]; 4], blocks: &[[[u32; N]; 16]]) {
        // SAFETY (both): reads the 8 words of lanes 8g .. 8g + 8 of one word of a block.
        let load = |w: &[u32; N], g: usize| unsafe {
            _mm256_loadu_si256(w[8 * g..8 * g + 8].as_ptr().cast())
        };
        match N {
            8 => grouped::<N, 1>(state, blocks.len(), |b| {
                [std::array::from_fn(|w| load(&blocks[b][w], 0))]
            }),
            16 => grouped::<N, 2>(state, blocks.len(), |b| {
                std::array::from_fn(|g| std::array::from_fn(|w| load(&blocks[b][w], g)))
            }),
            _ => unreachable!("lanes are 8 or 16 wide"),
        }
    }

    /// The kernel over the rows themselves, each block's words turned into lanes in registers.
    #[target_feature(enable = "avx2")]
    pub(super) fn compress_rows<const N: usize>(
        state: &mut [[u32; N]; 4],
        rows: &[&[u8]],
        blocks: usize,
    ) {
        let rows: [&[u8]; 16] = std::array::from_fn(|l| rows[l.min(rows.len() - 1)]);
        let (low, high): ([&[u8]; 8], [&[u8]; 8]) = (
            std::array::from_fn(|l| rows[l]),
            std::array::from_fn(|l| rows[8 + l]),
        );
        match N {
            8 => grouped::<N, 1>(state, blocks, |b| [turn8(&low, b * 64)]),
            16 => grouped::<N, 2>(state, blocks, |b| {
                [turn8(&low, b * 64), turn8(&high, b * 64)]
            }),
            _ => unreachable!("lanes are 8 or 16 wide"),
        }
    }
}
