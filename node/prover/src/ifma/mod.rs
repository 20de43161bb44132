//! Field arithmetic eight elements at a time with AVX-512 IFMA, for the prover's two hot loops:
//! the MSM's bucket additions over BN254's base field ([`buckets`]) and the quotient's number-
//! theoretic transforms over its scalar field ([`ntt`]); and for the verifier's batches, eight
//! proofs' weighted `A` and Miller loops at once ([`pairing`]).
//!
//! IFMA multiplies the low 52 bits of 64-bit lanes (`vpmadd52luq`/`vpmadd52huq`), so elements
//! are held as five 52-bit limbs in Montgomery form with `R = 2^260`, one element per lane: five
//! registers hold eight elements and one Montgomery multiplication serves eight operations,
//! about four times faster here than arkworks' one-at-a-time multiplication.
//!
//! Values stay below `2p` between operations; since `4p < 2^260` the Montgomery product of two
//! such values is again below `2p`. Limbs stored for comparison are canonical (below `p`).
//!
//! This is the crate's only unsafe code: calling `#[target_feature]` functions once the CPU is
//! known to have the features, and loads, stores, gathers and scatters through raw pointers.
#![allow(unsafe_code)]

pub(crate) mod buckets;
pub(crate) mod ntt;
pub(crate) mod pairing;

use crate::limbs::{inverse_mod_word, join, split};
use ark_ff::{AdditiveGroup, BigInt, Fp, MontBackend, MontConfig};
use core::arch::x86_64::{
    __m512i, _mm512_add_epi64, _mm512_and_si512, _mm512_cmplt_epi64_mask, _mm512_madd52hi_epu64,
    _mm512_madd52lo_epu64, _mm512_mask_blend_epi64, _mm512_set_epi64, _mm512_set1_epi64,
    _mm512_setzero_si512, _mm512_srai_epi64, _mm512_srli_epi64, _mm512_storeu_si512,
    _mm512_sub_epi64,
};
use std::{marker::PhantomData, sync::OnceLock};

const LIMBS: usize = 5;
/// Elements per register.
pub(crate) const LANES: usize = 8;
const MASK: u64 = (1 << 52) - 1;

type Limbs = [u64; LIMBS];
/// Eight field elements, limb by limb.
type Vec52 = [__m512i; LIMBS];

/// A 4-word Montgomery field of arkworks (BN254's `Fq` and `Fr`).
type Field4<T> = Fp<MontBackend<T, 4>, 4>;

/// The constants of one prime field in limb form.
pub(crate) struct Modulus<T>(PhantomData<T>);

impl<T: MontConfig<4>> Modulus<T> {
    const MODULUS: Limbs = split(T::MODULUS.0, 52);
    const TWICE: Limbs = split(double(T::MODULUS.0), 52);
    /// `-p⁻¹ mod 2^52`, the Montgomery reduction factor.
    const FACTOR: u64 = inverse_mod_word(T::MODULUS.0[0]).wrapping_neg() & MASK;
}

/// Set (to anything) to use arkworks' arithmetic even where this module could run: to compare
/// the two, or to rule this module out when something looks wrong.
pub(crate) const PORTABLE_ARITHMETIC_ENV: &str = "ZKCREDITS_PORTABLE_ARITHMETIC";

/// Whether this CPU runs this module's instructions and [`PORTABLE_ARITHMETIC_ENV`] is unset
/// (read once per process).
pub(crate) fn available() -> bool {
    static AVAILABLE: OnceLock<bool> = OnceLock::new();
    *AVAILABLE.get_or_init(|| {
        std::env::var_os(PORTABLE_ARITHMETIC_ENV).is_none()
            && std::is_x86_feature_detected!("avx512f")
            && std::is_x86_feature_detected!("avx512ifma")
    })
}

/// `a·2^260 mod p`, canonical: sixteen times arkworks' internal `a·2^256`.
fn limbs_of<T: MontConfig<4>>(a: Field4<T>) -> Limbs {
    let mut x = a;
    for _ in 0..4 {
        x.double_in_place();
    }
    split(x.0.0, 52)
}

/// The element whose canonical limbs these are: arkworks' `a·2^256` is the limbs' `a·2^260`
/// halved four times modulo `p`.
fn element_of<T: MontConfig<4>>(limbs: &[u64]) -> Field4<T> {
    let mut words = join(limbs, 52);
    for _ in 0..4 {
        if words[0] & 1 == 1 {
            // Adding odd p makes it even; p < 2^254, so the sum does not leave 256 bits.
            let mut carry = false;
            for (word, &m) in words.iter_mut().zip(&T::MODULUS.0) {
                let (sum, overflow1) = word.overflowing_add(m);
                let (sum, overflow2) = sum.overflowing_add(u64::from(carry));
                (*word, carry) = (sum, overflow1 || overflow2);
            }
        }
        for i in 0..4 {
            words[i] = words[i] >> 1 | words.get(i + 1).map_or(0, |next| next << 63);
        }
    }
    Fp::new_unchecked(BigInt(words))
}

/// `p − y` for canonical `y` (zero stays zero).
fn negate<T: MontConfig<4>>(y: &[u64], out: &mut [u64]) {
    if y.iter().all(|&limb| limb == 0) {
        out.fill(0);
        return;
    }
    let mut borrow = 0i64;
    for ((out, &limb), &m) in out.iter_mut().zip(y).zip(&Modulus::<T>::MODULUS) {
        let digit = m as i64 - limb as i64 + borrow;
        *out = digit as u64 & MASK;
        borrow = digit >> 52;
    }
}

const fn double(words: [u64; 4]) -> [u64; 4] {
    [
        words[0] << 1,
        words[1] << 1 | words[0] >> 63,
        words[2] << 1 | words[1] >> 63,
        words[3] << 1 | words[2] >> 63,
    ]
}

#[target_feature(enable = "avx512f,avx512ifma")]
fn splat(value: u64) -> __m512i {
    _mm512_set1_epi64(value as i64)
}

#[target_feature(enable = "avx512f,avx512ifma")]
fn splat_limbs(limbs: &Limbs) -> Vec52 {
    [splat(limbs[0]), splat(limbs[1]), splat(limbs[2]), splat(limbs[3]), splat(limbs[4])]
}

/// The eight lanes of a register.
#[target_feature(enable = "avx512f,avx512ifma")]
fn lanes(value: __m512i) -> [u64; LANES] {
    let mut out = [0u64; LANES];
    // SAFETY: `out` has room for the register's 64 bytes.
    unsafe { _mm512_storeu_si512(out.as_mut_ptr().cast(), value) };
    out
}

/// Lane `i` holds `values[i]`.
#[target_feature(enable = "avx512f,avx512ifma")]
fn load<T: MontConfig<4>>(values: [Field4<T>; LANES]) -> Vec52 {
    let per_lane = values.map(limbs_of);
    std::array::from_fn(|l| {
        let v = |lane: usize| per_lane[lane][l] as i64;
        _mm512_set_epi64(v(7), v(6), v(5), v(4), v(3), v(2), v(1), v(0))
    })
}

/// The eight lanes' values, for values below `2p`.
#[target_feature(enable = "avx512f,avx512ifma")]
fn store<T: MontConfig<4>>(value: &Vec52) -> [Field4<T>; LANES] {
    // Arkworks elements are built from canonical limbs only.
    let per_limb = subtract_if_above(value, &Modulus::<T>::MODULUS).map(|limb| lanes(limb));
    std::array::from_fn(|lane| {
        let limbs: Limbs = std::array::from_fn(|l| per_limb[l][lane]);
        element_of(&limbs)
    })
}

/// Propagates carries so that limbs 0–3 are below `2^52`; limb 4 keeps the sign.
#[target_feature(enable = "avx512f,avx512ifma")]
fn carry(limbs: &mut Vec52) {
    let mask = splat(MASK);
    for i in 0..LIMBS - 1 {
        limbs[i + 1] = _mm512_add_epi64(limbs[i + 1], _mm512_srai_epi64::<52>(limbs[i]));
        limbs[i] = _mm512_and_si512(limbs[i], mask);
    }
}

/// `value − modulus` where that is not negative, else `value`.
#[target_feature(enable = "avx512f,avx512ifma")]
fn subtract_if_above(value: &Vec52, modulus: &Limbs) -> Vec52 {
    let mut reduced = *value;
    for (limb, &m) in reduced.iter_mut().zip(modulus) {
        *limb = _mm512_sub_epi64(*limb, splat(m));
    }
    carry(&mut reduced);
    let negative = _mm512_cmplt_epi64_mask(reduced[LIMBS - 1], _mm512_setzero_si512());
    let mut out = reduced;
    for i in 0..LIMBS {
        out[i] = _mm512_mask_blend_epi64(negative, reduced[i], value[i]);
    }
    out
}

/// `a + b` below `2p` for `a, b` below `2p`.
#[target_feature(enable = "avx512f,avx512ifma")]
fn add_base<T: MontConfig<4>>(a: &Vec52, b: &Vec52) -> Vec52 {
    let mut sum = *a;
    for (limb, &other) in sum.iter_mut().zip(b) {
        *limb = _mm512_add_epi64(*limb, other);
    }
    carry(&mut sum);
    subtract_if_above(&sum, &Modulus::<T>::TWICE)
}

/// `a − b` below `2p` for `a, b` below `2p`.
#[target_feature(enable = "avx512f,avx512ifma")]
fn sub_base<T: MontConfig<4>>(a: &Vec52, b: &Vec52) -> Vec52 {
    let mut difference = *a;
    for (limb, &other) in difference.iter_mut().zip(b) {
        *limb = _mm512_sub_epi64(*limb, other);
    }
    carry(&mut difference);
    let negative = _mm512_cmplt_epi64_mask(difference[LIMBS - 1], _mm512_setzero_si512());
    let mut wrapped = difference;
    for (limb, &m) in wrapped.iter_mut().zip(&Modulus::<T>::TWICE) {
        *limb = _mm512_add_epi64(*limb, splat(m));
    }
    carry(&mut wrapped);
    let mut out = difference;
    for i in 0..LIMBS {
        out[i] = _mm512_mask_blend_epi64(negative, difference[i], wrapped[i]);
    }
    out
}

/// Montgomery product `a·b/2^260 mod p`, below `2p` for `a, b` below `2p`: schoolbook product
/// into ten accumulators, then five word-wise reduction steps.
#[target_feature(enable = "avx512f,avx512ifma")]
fn mul_base<T: MontConfig<4>>(a: &Vec52, b: &Vec52) -> Vec52 {
    let zero = _mm512_setzero_si512();
    let mut t = [zero; 2 * LIMBS];
    for i in 0..LIMBS {
        for j in 0..LIMBS {
            t[i + j] = _mm512_madd52lo_epu64(t[i + j], a[i], b[j]);
            t[i + j + 1] = _mm512_madd52hi_epu64(t[i + j + 1], a[i], b[j]);
        }
    }
    let factor = splat(Modulus::<T>::FACTOR);
    let modulus = splat_limbs(&Modulus::<T>::MODULUS);
    for i in 0..LIMBS {
        let m = _mm512_madd52lo_epu64(zero, t[i], factor);
        for j in 0..LIMBS {
            t[i + j] = _mm512_madd52lo_epu64(t[i + j], m, modulus[j]);
            t[i + j + 1] = _mm512_madd52hi_epu64(t[i + j + 1], m, modulus[j]);
        }
        // The low 52 bits of t[i] are now zero.
        t[i + 1] = _mm512_add_epi64(t[i + 1], _mm512_srli_epi64::<52>(t[i]));
    }
    let mut out = [t[5], t[6], t[7], t[8], t[9]];
    carry(&mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use ark_ff::{Field, UniformRand};
    use rand::SeedableRng;
    use rand_chacha::ChaCha20Rng;

    fn round_trip<T: MontConfig<4>>() {
        let mut rng = ChaCha20Rng::seed_from_u64(11);
        let edges = [Field4::<T>::ZERO, Field4::<T>::ONE, -Field4::<T>::ONE];
        for a in edges.into_iter().chain((0..100).map(|_| Field4::<T>::rand(&mut rng))) {
            assert_eq!(element_of::<T>(&limbs_of(a)), a);
        }
        assert_eq!(join(&Modulus::<T>::MODULUS, 52), T::MODULUS.0);
        let product = Modulus::<T>::MODULUS[0].wrapping_mul(Modulus::<T>::FACTOR) & MASK;
        assert_eq!(product, MASK, "p·(−p⁻¹) ≡ −1 mod 2^52");
    }

    #[test]
    fn limbs_round_trip_in_both_bn254_fields() {
        round_trip::<ark_bn254::FqConfig>();
        round_trip::<ark_bn254::FrConfig>();
    }
}
