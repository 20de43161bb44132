//! Number-theoretic transforms over BN254's scalar field, eight butterflies at a time.
//!
//! Polynomials are held limb by limb (five arrays of `n` limbs), so eight consecutive elements
//! load as five registers. The inverse transform is decimation in frequency (natural order in,
//! bit-reversed out) and the forward one decimation in time (bit-reversed in, natural out): the
//! quotient's "inverse, scale, forward" chains need no reordering in between. The three
//! butterfly levels that pair elements less than eight apart run on 64 elements at a time,
//! gathered so that each lane holds one run of eight.

use super::{
    LANES, LIMBS, Modulus, Vec52, add_base, available, lanes, limbs_of, mul_base, splat, sub_base,
    subtract_if_above,
};
use crate::limbs::join;
use ark_bn254::{Fr, FrConfig};
use ark_ff::{BigInt, Field};
use core::arch::x86_64::{
    __m512i, _mm512_add_epi64, _mm512_i64gather_epi64, _mm512_i64scatter_epi64, _mm512_loadu_si512,
    _mm512_set_epi64, _mm512_setzero_si512, _mm512_storeu_si512,
};

/// The smallest domain handled here: one group of the three short levels.
pub(crate) const MIN_SIZE: usize = 64;

/// A polynomial (coefficients or evaluations) of `n` elements, limb by limb.
#[derive(Clone)]
pub(crate) struct Poly([Vec<u64>; LIMBS]);

impl Poly {
    /// `values` padded with zeros to `size` elements.
    pub(crate) fn from_values(values: &[Fr], size: usize) -> Self {
        let mut limbs: [Vec<u64>; LIMBS] = std::array::from_fn(|_| vec![0; size]);
        for (i, value) in values.iter().take(size).enumerate() {
            for (array, limb) in limbs.iter_mut().zip(limbs_of(*value)) {
                array[i] = limb;
            }
        }
        Self(limbs)
    }

    fn len(&self) -> usize {
        self.0[0].len()
    }

    /// Multiplies element by element: `self[i] ← self[i]·factors[i]`.
    pub(crate) fn scale(&mut self, factors: &Self) {
        assert!(available() && factors.len() == self.len() && self.len().is_multiple_of(LANES));
        // SAFETY: the CPU has the features and both have the length the kernel reads.
        unsafe { pointwise(self, factors, None) }
    }

    /// `self[i] ← self[i]·other[i] − minus[i]`.
    pub(crate) fn mul_sub(&mut self, other: &Self, minus: &Self) {
        let n = self.len();
        assert!(available() && other.len() == n && minus.len() == n && n.is_multiple_of(LANES));
        // SAFETY: as for `scale`.
        unsafe { pointwise(self, other, Some(minus)) }
    }

    /// Reorders the elements from bit-reversed to natural order (or back).
    pub(crate) fn bit_reverse(&mut self) {
        let n = self.len();
        let bits = n.trailing_zeros();
        for i in 0..n {
            let j = i.reverse_bits() >> (usize::BITS - bits);
            if i < j {
                for array in &mut self.0 {
                    array.swap(i, j);
                }
            }
        }
    }

    /// The elements as canonical integers, the form the MSM reads.
    pub(crate) fn to_bigints(&self) -> Vec<BigInt<4>> {
        assert!(available() && self.len().is_multiple_of(LANES));
        // SAFETY: as for `scale`.
        unsafe { canonical_integers(self) }
    }

    /// The elements (for tests).
    #[cfg(test)]
    fn elements(&self) -> Vec<Fr> {
        use ark_ff::PrimeField;
        self.to_bigints().into_iter().filter_map(Fr::from_bigint).collect()
    }
}

/// The twiddle factors of one domain and direction: level `k` pairs elements `h = 2^k` apart
/// and holds `ω_{2h}^j` for `j < h`.
pub(crate) struct Transforms {
    forward: Vec<Poly>,
    inverse: Vec<Poly>,
}

impl Transforms {
    /// The transforms of the domain of `size` (a power of two, at least [`MIN_SIZE`]) generated
    /// by `root`, a primitive `size`-th root of unity.
    pub(crate) fn new(size: usize, root: Fr) -> Self {
        assert!(size.is_power_of_two() && size >= MIN_SIZE);
        let levels = |root: Fr| {
            (0..size.trailing_zeros())
                .map(|k| {
                    let half = 1usize << k;
                    let step = root.pow([(size / (2 * half)) as u64]);
                    let powers: Vec<Fr> = std::iter::successors(Some(Fr::ONE), |w| Some(*w * step))
                        .take(half)
                        .collect();
                    Poly::from_values(&powers, half)
                })
                .collect()
        };
        let inverse_root = root.inverse().unwrap_or_else(|| unreachable!("a root of unity"));
        Self { forward: levels(root), inverse: levels(inverse_root) }
    }

    /// Natural order in, bit-reversed out: `n·IFFT` (the `1/n` is left to the caller).
    pub(crate) fn inverse_unscaled(&self, poly: &mut Poly) {
        assert!(available() && poly.len() == 1 << self.inverse.len());
        // SAFETY: the CPU has the features; the twiddles fit the polynomial's length.
        unsafe { decimate_in_frequency(poly, &self.inverse) }
    }

    /// Bit-reversed order in, natural out: the FFT.
    pub(crate) fn forward(&self, poly: &mut Poly) {
        assert!(available() && poly.len() == 1 << self.forward.len());
        // SAFETY: as above.
        unsafe { decimate_in_time(poly, &self.forward) }
    }
}

type Scalar = Modulus<FrConfig>;

#[target_feature(enable = "avx512f,avx512ifma")]
fn add(a: &Vec52, b: &Vec52) -> Vec52 {
    add_base::<FrConfig>(a, b)
}

#[target_feature(enable = "avx512f,avx512ifma")]
fn sub(a: &Vec52, b: &Vec52) -> Vec52 {
    sub_base::<FrConfig>(a, b)
}

#[target_feature(enable = "avx512f,avx512ifma")]
fn mul(a: &Vec52, b: &Vec52) -> Vec52 {
    mul_base::<FrConfig>(a, b)
}

/// Eight consecutive elements from `i`.
#[target_feature(enable = "avx512f,avx512ifma")]
fn load(poly: &Poly, i: usize) -> Vec52 {
    let mut out = [_mm512_setzero_si512(); LIMBS];
    for (limb, array) in out.iter_mut().zip(&poly.0) {
        let chunk = &array[i..i + LANES];
        // SAFETY: `chunk` is eight u64, the 64 bytes read.
        *limb = unsafe { _mm512_loadu_si512(chunk.as_ptr().cast()) };
    }
    out
}

#[target_feature(enable = "avx512f,avx512ifma")]
fn store(poly: &mut Poly, i: usize, value: &Vec52) {
    for (limb, array) in value.iter().zip(&mut poly.0) {
        let chunk = &mut array[i..i + LANES];
        // SAFETY: `chunk` is eight u64, the 64 bytes written.
        unsafe { _mm512_storeu_si512(chunk.as_mut_ptr().cast(), *limb) };
    }
}

/// Element `j` of a short twiddle table, in every lane.
#[target_feature(enable = "avx512f,avx512ifma")]
fn broadcast(table: &Poly, j: usize) -> Vec52 {
    let mut out = [_mm512_setzero_si512(); LIMBS];
    for (limb, array) in out.iter_mut().zip(&table.0) {
        *limb = splat(array[j]);
    }
    out
}

/// Lane `l` reads element `8l + e` of the 64 from `group` (one run of eight per lane).
#[target_feature(enable = "avx512f,avx512ifma")]
fn run_indices(group: usize, e: usize) -> __m512i {
    let base = _mm512_set_epi64(56, 48, 40, 32, 24, 16, 8, 0);
    _mm512_add_epi64(base, splat((group + e) as u64))
}

/// The 64 elements from `group` as eight registers, register `e` holding element `e` of each run.
///
/// # Safety
/// `group + 64` must not exceed the polynomial's length.
#[target_feature(enable = "avx512f,avx512ifma")]
unsafe fn gather_runs(poly: &Poly, group: usize) -> [Vec52; 8] {
    let mut out = [[_mm512_setzero_si512(); LIMBS]; 8];
    for (e, element) in out.iter_mut().enumerate() {
        let index = run_indices(group, e);
        for (limb, array) in element.iter_mut().zip(&poly.0) {
            // SAFETY: every index is below group + 64 ≤ len (the caller's contract).
            *limb = unsafe { _mm512_i64gather_epi64::<8>(index, array.as_ptr().cast()) };
        }
    }
    out
}

/// # Safety
/// As for [`gather_runs`].
#[target_feature(enable = "avx512f,avx512ifma")]
unsafe fn scatter_runs(poly: &mut Poly, group: usize, runs: &[Vec52; 8]) {
    for (e, element) in runs.iter().enumerate() {
        let index = run_indices(group, e);
        for (limb, array) in element.iter().zip(&mut poly.0) {
            // SAFETY: as for `gather_runs`.
            unsafe { _mm512_i64scatter_epi64::<8>(array.as_mut_ptr().cast(), index, *limb) };
        }
    }
}

/// Gentleman–Sande butterflies `(u, v) ← (u + v, (u − v)·w)`, the widest level first.
///
/// # Safety
/// The CPU must have AVX-512F and IFMA; `poly` has `2^levels.len()` elements, at least 64.
#[target_feature(enable = "avx512f,avx512ifma")]
unsafe fn decimate_in_frequency(poly: &mut Poly, levels: &[Poly]) {
    let n = poly.len();
    for k in (3..levels.len()).rev() {
        let half = 1usize << k;
        for block in (0..n).step_by(2 * half) {
            for j in (0..half).step_by(LANES) {
                let (u, v) = (load(poly, block + j), load(poly, block + j + half));
                store(poly, block + j, &add(&u, &v));
                store(poly, block + j + half, &mul(&sub(&u, &v), &load(&levels[k], j)));
            }
        }
    }
    for group in (0..n).step_by(64) {
        // SAFETY: n is a multiple of 64 above `group`.
        let mut runs = unsafe { gather_runs(poly, group) };
        for k in (0..3).rev() {
            let half = 1usize << k;
            for start in (0..8).step_by(2 * half) {
                for j in 0..half {
                    let (u, v) = (runs[start + j], runs[start + j + half]);
                    runs[start + j] = add(&u, &v);
                    let difference = sub(&u, &v);
                    runs[start + j + half] = if j == 0 {
                        difference
                    } else {
                        mul(&difference, &broadcast(&levels[k], j))
                    };
                }
            }
        }
        // SAFETY: as above.
        unsafe { scatter_runs(poly, group, &runs) };
    }
}

/// Cooley–Tukey butterflies `(u, v) ← (u + w·v, u − w·v)`, the narrowest level first.
///
/// # Safety
/// As for [`decimate_in_frequency`].
#[target_feature(enable = "avx512f,avx512ifma")]
unsafe fn decimate_in_time(poly: &mut Poly, levels: &[Poly]) {
    let n = poly.len();
    for group in (0..n).step_by(64) {
        // SAFETY: n is a multiple of 64 above `group`.
        let mut runs = unsafe { gather_runs(poly, group) };
        for (k, twiddles) in levels.iter().enumerate().take(3) {
            let half = 1usize << k;
            for start in (0..8).step_by(2 * half) {
                for j in 0..half {
                    let u = runs[start + j];
                    let v = runs[start + j + half];
                    let t = if j == 0 { v } else { mul(&v, &broadcast(twiddles, j)) };
                    runs[start + j] = add(&u, &t);
                    runs[start + j + half] = sub(&u, &t);
                }
            }
        }
        // SAFETY: as above.
        unsafe { scatter_runs(poly, group, &runs) };
    }
    for (k, twiddles) in levels.iter().enumerate().skip(3) {
        let half = 1usize << k;
        for block in (0..n).step_by(2 * half) {
            for j in (0..half).step_by(LANES) {
                let u = load(poly, block + j);
                let t = mul(&load(poly, block + j + half), &load(twiddles, j));
                store(poly, block + j, &add(&u, &t));
                store(poly, block + j + half, &sub(&u, &t));
            }
        }
    }
}

/// `poly[i] ← poly[i]·other[i] (− minus[i])`.
///
/// # Safety
/// The CPU must have AVX-512F and IFMA; all three have the same length, a multiple of eight.
#[target_feature(enable = "avx512f,avx512ifma")]
unsafe fn pointwise(poly: &mut Poly, other: &Poly, minus: Option<&Poly>) {
    for i in (0..poly.len()).step_by(LANES) {
        let product = mul(&load(poly, i), &load(other, i));
        let value = match minus {
            Some(minus) => sub(&product, &load(minus, i)),
            None => product,
        };
        store(poly, i, &value);
    }
}

/// # Safety
/// The CPU must have AVX-512F and IFMA; the length is a multiple of eight.
#[target_feature(enable = "avx512f,avx512ifma")]
unsafe fn canonical_integers(poly: &Poly) -> Vec<BigInt<4>> {
    // A Montgomery product with the integer 1 divides by R: the limbs' a·R becomes a.
    let mut one = [_mm512_setzero_si512(); LIMBS];
    one[0] = splat(1);
    let mut out = Vec::with_capacity(poly.len());
    for i in (0..poly.len()).step_by(LANES) {
        let value = subtract_if_above(&mul(&load(poly, i), &one), &Scalar::MODULUS);
        let per_limb = value.map(|limb| lanes(limb));
        out.extend((0..LANES).map(|lane| {
            let limbs: [u64; LIMBS] = std::array::from_fn(|l| per_limb[l][lane]);
            BigInt(join(&limbs, 52))
        }));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use ark_ff::{PrimeField, UniformRand};
    use ark_poly::{EvaluationDomain, Radix2EvaluationDomain};
    use rand::SeedableRng;
    use rand_chacha::ChaCha20Rng;

    #[test]
    fn transforms_agree_with_arkworks() {
        if !available() {
            return;
        }
        let mut rng = ChaCha20Rng::seed_from_u64(31);
        for size in [64usize, 256, 4096] {
            let domain = Radix2EvaluationDomain::<Fr>::new(size).expect("a radix-2 domain");
            let transforms = Transforms::new(size, domain.group_gen());
            let values: Vec<Fr> = (0..size).map(|_| Fr::rand(&mut rng)).collect();

            // inverse_unscaled: natural in, bit-reversed out, times n.
            let mut poly = Poly::from_values(&values, size);
            transforms.inverse_unscaled(&mut poly);
            poly.bit_reverse();
            let expected: Vec<Fr> =
                domain.ifft(&values).into_iter().map(|c| c * Fr::from(size as u64)).collect();
            assert_eq!(poly.elements(), expected, "inverse, size {size}");

            // forward: bit-reversed in, natural out.
            let mut poly = Poly::from_values(&values, size);
            poly.bit_reverse();
            transforms.forward(&mut poly);
            let expected = domain.fft(&values);
            assert_eq!(poly.elements(), expected, "forward, size {size}");

            let bigints = poly.to_bigints();
            assert!((0..size).all(|i| bigints[i] == expected[i].into_bigint()));
        }
    }

    #[test]
    fn pointwise_products() {
        if !available() {
            return;
        }
        let mut rng = ChaCha20Rng::seed_from_u64(32);
        let random = |rng: &mut ChaCha20Rng| (0..64).map(|_| Fr::rand(rng)).collect::<Vec<_>>();
        let (a, b, c) = (random(&mut rng), random(&mut rng), random(&mut rng));
        let mut poly = Poly::from_values(&a, 64);
        poly.mul_sub(&Poly::from_values(&b, 64), &Poly::from_values(&c, 64));
        let expected: Vec<Fr> = (0..64).map(|i| a[i] * b[i] - c[i]).collect();
        assert_eq!(poly.elements(), expected);
        poly.scale(&Poly::from_values(&b, 64));
        let expected: Vec<Fr> = (0..64).map(|i| (a[i] * b[i] - c[i]) * b[i]).collect();
        assert_eq!(poly.elements(), expected);
    }
}
