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

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512vl")]
fn compress_avx512<const N: usize>(state: &mut [[u32; N]; 4], blocks: &[[[u32; N]; 16]]) {
    for m in blocks {
        compress_lanes(state, m);
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn compress_avx2<const N: usize>(state: &mut [[u32; N]; 4], blocks: &[[[u32; N]; 16]]) {
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
    /// Only where AVX2 is present too: the words are laid out with it (`spread`).
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
            Kernel::Avx2 => unsafe { compress_avx2(state, blocks) },
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx512 => unsafe { compress_avx512(state, blocks) },
        }
    }
}
