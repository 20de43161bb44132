//! Bucket additions eight at a time with AVX-512 IFMA.
//!
//! IFMA multiplies the low 52 bits of 64-bit lanes (`vpmadd52luq`/`vpmadd52huq`), so base-field
//! elements are held as five 52-bit limbs in Montgomery form with `R = 2^260`, one element per
//! lane: five registers hold eight elements and one Montgomery multiplication serves eight
//! additions. Only the rounds of pairwise bucket additions run here, which is where an MSM
//! spends its time; bases come in and bucket sums go out as arkworks points.
//!
//! Stored limbs are canonical (below `p`), so equal coordinates have equal limbs. Inside a
//! round every value stays below `2p`; since `4p < 2^260` the Montgomery product of two such
//! values is again below `2p`.
#![allow(unsafe_code)]

use ark_bn254::{Fq, Fq2};
use ark_ec::{
    AffineRepr, CurveGroup,
    short_weierstrass::{Affine, SWCurveConfig},
};
use ark_ff::{AdditiveGroup, BigInt, Field, PrimeField};
use core::arch::x86_64::{
    __m512i, _mm512_add_epi64, _mm512_and_si512, _mm512_cmplt_epi64_mask, _mm512_i64gather_epi64,
    _mm512_i64scatter_epi64, _mm512_madd52hi_epu64, _mm512_madd52lo_epu64, _mm512_mask_blend_epi64,
    _mm512_set_epi64, _mm512_set1_epi64, _mm512_setzero_si512, _mm512_srai_epi64,
    _mm512_srli_epi64, _mm512_storeu_si512, _mm512_sub_epi64,
};
use std::sync::LazyLock;

const LIMBS: usize = 5;
const LANES: usize = 8;
const MASK: u64 = (1 << 52) - 1;

type Limbs = [u64; LIMBS];
/// Eight field elements, limb by limb.
type Vec52 = [__m512i; LIMBS];
/// Eight elements of the degree-`D` extension (`D` = 1 for G1's `Fq`, 2 for G2's `Fq2`).
type Fe<const D: usize> = [Vec52; D];

const MODULUS: Limbs = split(<Fq as PrimeField>::MODULUS.0);
const TWICE_MODULUS: Limbs = split(double(<Fq as PrimeField>::MODULUS.0));
/// `-p⁻¹ mod 2^52`, the Montgomery reduction factor.
const MONTGOMERY_FACTOR: u64 = negated_inverse(<Fq as PrimeField>::MODULUS.0[0]);

/// `1/16`: arkworks keeps `a·2^256`, these limbs `a·2^260`.
static INV_SIXTEEN: LazyLock<Fq> = LazyLock::new(|| {
    Fq::from(16u64).inverse().unwrap_or_else(|| unreachable!("16 is invertible mod p"))
});

/// Whether this CPU runs this module's instructions.
pub(super) fn available() -> bool {
    std::is_x86_feature_detected!("avx512f") && std::is_x86_feature_detected!("avx512ifma")
}

/// The bases of one MSM in limb form, each point as `x` then `y` (`D` components each).
pub(super) struct Bases<const D: usize> {
    coords: Vec<u64>,
    zero: Vec<bool>,
}

impl<const D: usize> Bases<D> {
    const STRIDE: usize = 2 * D * LIMBS;

    pub(super) fn new<P>(bases: &[Affine<P>]) -> Self
    where
        P: SWCurveConfig<BaseField: Field<BasePrimeField = Fq>>,
    {
        let mut coords = vec![0; bases.len() * Self::STRIDE];
        let mut zero = vec![false; bases.len()];
        for ((base, slot), is_zero) in
            bases.iter().zip(coords.chunks_exact_mut(Self::STRIDE)).zip(&mut zero)
        {
            match base.xy() {
                Some((x, y)) => write_point::<P, D>(&x, &y, slot),
                None => *is_zero = true,
            }
        }
        Self { coords, zero }
    }
}

/// The sums of buckets `1..=buckets` of one window, where base `i` goes into bucket `|digits[i]|`
/// (negated for a negative digit). The points are counting-sorted by bucket, then each round
/// adds the points of every bucket pairwise until one point per bucket is left.
pub(super) fn bucket_sums<P, const D: usize>(
    bases: &Bases<D>,
    digits: &[i32],
    buckets: usize,
) -> Vec<Affine<P>>
where
    P: SWCurveConfig<BaseField: Field<BasePrimeField = Fq>>,
{
    let stride = Bases::<D>::STRIDE;
    let half = D * LIMBS;
    let mut starts = vec![0usize; buckets + 1];
    for (&digit, &is_zero) in digits.iter().zip(&bases.zero) {
        if digit != 0 && !is_zero {
            starts[digit.unsigned_abs() as usize] += 1;
        }
    }
    for b in 1..=buckets {
        starts[b] += starts[b - 1];
    }
    let total = starts[buckets];
    let mut points = vec![0u64; total * stride];
    let mut zero = vec![false; total];
    let mut next = starts.clone();
    for (i, &digit) in digits.iter().enumerate() {
        if digit == 0 || bases.zero[i] {
            continue;
        }
        let slot = &mut next[digit.unsigned_abs() as usize - 1];
        let point = &mut points[*slot * stride..(*slot + 1) * stride];
        let base = &bases.coords[i * stride..(i + 1) * stride];
        point[..half].copy_from_slice(&base[..half]);
        if digit > 0 {
            point[half..].copy_from_slice(&base[half..]);
        } else {
            for (out, limbs) in
                point[half..].chunks_exact_mut(LIMBS).zip(base[half..].chunks_exact(LIMBS))
            {
                negate(limbs, out);
            }
        }
        *slot += 1;
    }

    let mut lens: Vec<usize> = starts.windows(2).map(|w| w[1] - w[0]).collect();
    let mut sums = vec![0u64; total * stride];
    let mut sums_zero = vec![false; total];
    let mut pairs: Vec<[usize; 3]> = Vec::new();
    loop {
        pairs.clear();
        let mut any = false;
        for (&start, len) in starts.iter().zip(lens.iter_mut()) {
            let copy = |from: usize, to: usize, sums: &mut [u64], sums_zero: &mut [bool]| {
                sums[to * stride..(to + 1) * stride]
                    .copy_from_slice(&points[from * stride..(from + 1) * stride]);
                sums_zero[to] = zero[from];
            };
            if *len % 2 == 1 {
                copy(start + *len - 1, start + *len / 2, &mut sums, &mut sums_zero);
            }
            for k in 0..*len / 2 {
                any = true;
                let (p, q, to) = (start + 2 * k, start + 2 * k + 1, start + k);
                let (px, qx) = (
                    &points[p * stride..p * stride + half],
                    &points[q * stride..q * stride + half],
                );
                if zero[p] || zero[q] || (px[0] == qx[0] && px == qx) {
                    // Doubling, cancelling or infinity: rare, left to arkworks.
                    let sum = (point_of::<P, D>(&points, zero[p], p)
                        + point_of::<P, D>(&points, zero[q], q))
                    .into_affine();
                    sums_zero[to] = match sum.xy() {
                        Some((x, y)) => {
                            write_point::<P, D>(&x, &y, &mut sums[to * stride..(to + 1) * stride]);
                            false
                        }
                        None => true,
                    };
                } else {
                    sums_zero[to] = false;
                    pairs.push([p, q, to]);
                }
            }
            *len = len.div_ceil(2);
        }
        if !any {
            break;
        }
        if !pairs.is_empty() {
            assert!(pairs.iter().flatten().all(|&i| i < total), "pair index out of range");
            // SAFETY: `bucket_sums` runs only when `available()` said the CPU has AVX-512F and
            // IFMA (`super::msm` checks it), and every index is below `total`, the number of
            // points in both `points` and `sums` (asserted above), as `add_pairs` requires.
            unsafe { add_pairs::<D>(&points, &mut sums, &pairs) };
        }
        std::mem::swap(&mut points, &mut sums);
        std::mem::swap(&mut zero, &mut sums_zero);
    }
    (0..buckets)
        .map(|b| {
            if lens[b] == 1 {
                point_of::<P, D>(&points, zero[starts[b]], starts[b])
            } else {
                Affine::identity()
            }
        })
        .collect()
}

/// Point `i` of a limb array, as an arkworks point.
fn point_of<P, const D: usize>(points: &[u64], is_zero: bool, i: usize) -> Affine<P>
where
    P: SWCurveConfig<BaseField: Field<BasePrimeField = Fq>>,
{
    if is_zero {
        return Affine::identity();
    }
    let stride = Bases::<D>::STRIDE;
    let point = &points[i * stride..(i + 1) * stride];
    let coordinate = |limbs: &[u64]| {
        P::BaseField::from_base_prime_field_elems(limbs.chunks_exact(LIMBS).map(fq_of))
            .unwrap_or_else(|| unreachable!("D components make one base-field element"))
    };
    Affine::new_unchecked(coordinate(&point[..D * LIMBS]), coordinate(&point[D * LIMBS..]))
}

fn write_point<P, const D: usize>(x: &P::BaseField, y: &P::BaseField, slot: &mut [u64])
where
    P: SWCurveConfig<BaseField: Field<BasePrimeField = Fq>>,
{
    for (component, out) in x
        .to_base_prime_field_elements()
        .chain(y.to_base_prime_field_elements())
        .zip(slot.chunks_exact_mut(LIMBS))
    {
        out.copy_from_slice(&limbs_of(component));
    }
}

/// `a·2^260 mod p`, canonical: sixteen times arkworks' internal `a·2^256`.
fn limbs_of(a: Fq) -> Limbs {
    let mut x = a;
    for _ in 0..4 {
        x.double_in_place();
    }
    split(x.0.0)
}

/// The element whose canonical limbs these are.
fn fq_of(limbs: &[u64]) -> Fq {
    Fq::new_unchecked(BigInt(pack(limbs))) * *INV_SIXTEEN
}

/// `p − y` for canonical `y` (zero stays zero).
fn negate(y: &[u64], out: &mut [u64]) {
    if y.iter().all(|&limb| limb == 0) {
        out.fill(0);
        return;
    }
    let mut borrow = 0i64;
    for ((out, &limb), &m) in out.iter_mut().zip(y).zip(&MODULUS) {
        let digit = m as i64 - limb as i64 + borrow;
        *out = digit as u64 & MASK;
        borrow = digit >> 52;
    }
}

/// 52-bit limbs of a 256-bit little-endian integer below `2^260`.
const fn split(words: [u64; 4]) -> Limbs {
    let mut limbs = [0; LIMBS];
    let mut i = 0;
    while i < LIMBS {
        let (word, shift) = (52 * i / 64, 52 * i % 64);
        let mut limb = words[word] >> shift;
        if shift > 12 && word + 1 < 4 {
            limb |= words[word + 1] << (64 - shift);
        }
        limbs[i] = limb & MASK;
        i += 1;
    }
    limbs
}

/// The 256-bit integer of canonical limbs.
fn pack(limbs: &[u64]) -> [u64; 4] {
    let mut words = [0; 4];
    for (i, &limb) in limbs.iter().enumerate() {
        let (word, shift) = (52 * i / 64, 52 * i % 64);
        words[word] |= limb << shift;
        if shift > 12 && word + 1 < 4 {
            words[word + 1] |= limb >> (64 - shift);
        }
    }
    words
}

const fn double(words: [u64; 4]) -> [u64; 4] {
    [
        words[0] << 1,
        words[1] << 1 | words[0] >> 63,
        words[2] << 1 | words[1] >> 63,
        words[3] << 1 | words[2] >> 63,
    ]
}

const fn negated_inverse(low: u64) -> u64 {
    // Newton's iteration doubles the correct low bits: 1, 2, 4, …, 64.
    let mut inverse = 1u64;
    let mut i = 0;
    while i < 6 {
        inverse = inverse.wrapping_mul(2u64.wrapping_sub(low.wrapping_mul(inverse)));
        i += 1;
    }
    inverse.wrapping_neg() & MASK
}

/// Adds the pairs `(p, q)` of `points` into `sums[to]`, for pairs with `p ≠ ±q`, neither at
/// infinity: the slopes' denominators are inverted together (Montgomery's trick, one lane per
/// chain), then `λ = (y_q − y_p)/(x_q − x_p)`, `x = λ² − x_p − x_q`, `y = λ(x_p − x) − y_p`.
///
/// # Safety
/// The CPU must support AVX-512F and IFMA, and every index must be below the number of points
/// in `points` and in `sums`.
#[target_feature(enable = "avx512f,avx512ifma")]
unsafe fn add_pairs<const D: usize>(points: &[u64], sums: &mut [u64], pairs: &[[usize; 3]]) {
    let stride = Bases::<D>::STRIDE;
    let y = D * LIMBS;
    let batches = pairs.len().div_ceil(LANES);
    // Lanes past the end repeat the last pair: same inputs, same output, a nonzero denominator.
    let indices = |batch: usize, which: usize| {
        let lane =
            |l: usize| (pairs[(batch * LANES + l).min(pairs.len() - 1)][which] * stride) as i64;
        _mm512_set_epi64(lane(7), lane(6), lane(5), lane(4), lane(3), lane(2), lane(1), lane(0))
    };
    let mut prefixes: Vec<Fe<D>> = Vec::with_capacity(batches);
    let mut denominators: Vec<Fe<D>> = Vec::with_capacity(batches);
    let mut product = one::<D>();
    for batch in 0..batches {
        let (p, q) = (indices(batch, 0), indices(batch, 1));
        // SAFETY: indices below the point count (the caller's contract), offsets within a point.
        let (px, qx) = unsafe { (gather::<D>(points, p, 0), gather::<D>(points, q, 0)) };
        let denominator = sub::<D>(&qx, &px);
        prefixes.push(product);
        product = mul::<D>(&product, &denominator);
        denominators.push(denominator);
    }
    let mut inverse = invert_lanes::<D>(&product);
    for batch in (0..batches).rev() {
        let batch_inverse = mul::<D>(&prefixes[batch], &inverse);
        inverse = mul::<D>(&inverse, &denominators[batch]);
        let (p, q, to) = (indices(batch, 0), indices(batch, 1), indices(batch, 2));
        // SAFETY: as above.
        let (px, py, qx, qy) = unsafe {
            (
                gather::<D>(points, p, 0),
                gather::<D>(points, p, y),
                gather::<D>(points, q, 0),
                gather::<D>(points, q, y),
            )
        };
        let lambda = mul::<D>(&sub::<D>(&qy, &py), &batch_inverse);
        let x = sub::<D>(&sub::<D>(&square::<D>(&lambda), &px), &qx);
        let y_sum = sub::<D>(&mul::<D>(&lambda, &sub::<D>(&px, &x)), &py);
        // SAFETY: as above, for `sums`.
        unsafe {
            scatter::<D>(sums, to, 0, &canonical::<D>(&x));
            scatter::<D>(sums, to, y, &canonical::<D>(&y_sum));
        }
    }
}

/// Loads one coordinate of eight points.
///
/// # Safety
/// Every lane of `index` must be `i·stride` for a point `i` of `data`, and `offset` the
/// coordinate's offset within a point.
#[target_feature(enable = "avx512f,avx512ifma")]
unsafe fn gather<const D: usize>(data: &[u64], index: __m512i, offset: usize) -> Fe<D> {
    let mut out = [[_mm512_setzero_si512(); LIMBS]; D];
    for (c, component) in out.iter_mut().enumerate() {
        for (l, limb) in component.iter_mut().enumerate() {
            let base = data[offset + c * LIMBS + l..].as_ptr();
            // SAFETY: base + 8·lane stays inside `data` by the caller's contract.
            *limb = unsafe { _mm512_i64gather_epi64::<8>(index, base.cast()) };
        }
    }
    out
}

/// Stores one coordinate of eight points.
///
/// # Safety
/// As for [`gather`].
#[target_feature(enable = "avx512f,avx512ifma")]
unsafe fn scatter<const D: usize>(data: &mut [u64], index: __m512i, offset: usize, value: &Fe<D>) {
    for (c, component) in value.iter().enumerate() {
        for (l, limb) in component.iter().enumerate() {
            let base = data[offset + c * LIMBS + l..].as_mut_ptr();
            // SAFETY: base + 8·lane stays inside `data` by the caller's contract.
            unsafe { _mm512_i64scatter_epi64::<8>(base.cast(), index, *limb) };
        }
    }
}

#[target_feature(enable = "avx512f,avx512ifma")]
fn splat(value: u64) -> __m512i {
    _mm512_set1_epi64(value as i64)
}

#[target_feature(enable = "avx512f,avx512ifma")]
fn splat_limbs(limbs: &Limbs) -> Vec52 {
    [splat(limbs[0]), splat(limbs[1]), splat(limbs[2]), splat(limbs[3]), splat(limbs[4])]
}

#[target_feature(enable = "avx512f,avx512ifma")]
fn one<const D: usize>() -> Fe<D> {
    let mut out = [[_mm512_setzero_si512(); LIMBS]; D];
    out[0] = splat_limbs(&limbs_of(Fq::ONE));
    out
}

/// The eight lanes of a register.
#[target_feature(enable = "avx512f,avx512ifma")]
fn lanes(value: __m512i) -> [u64; LANES] {
    let mut out = [0u64; LANES];
    // SAFETY: `out` has room for the register's 64 bytes.
    unsafe { _mm512_storeu_si512(out.as_mut_ptr().cast(), value) };
    out
}

/// Inverts each lane (one arkworks batch inversion for the eight).
#[target_feature(enable = "avx512f,avx512ifma")]
fn invert_lanes<const D: usize>(value: &Fe<D>) -> Fe<D> {
    let mut limbs = [[[0u64; LANES]; LIMBS]; D];
    for (c, component) in value.iter().enumerate() {
        for (l, limb) in component.iter().enumerate() {
            limbs[c][l] = lanes(*limb);
        }
    }
    let element = |c: usize, lane: usize| {
        let lane_limbs: Limbs = std::array::from_fn(|l| limbs[c][l][lane]);
        fq_of(&lane_limbs)
    };
    let mut components = [[Fq::ZERO; LANES]; D];
    if D == 1 {
        let mut values: [Fq; LANES] = std::array::from_fn(|lane| element(0, lane));
        ark_ff::batch_inversion(&mut values);
        components[0] = values;
    } else {
        let mut values: [Fq2; LANES] =
            std::array::from_fn(|lane| Fq2::new(element(0, lane), element(1, lane)));
        ark_ff::batch_inversion(&mut values);
        components[0] = values.map(|v| v.c0);
        components[1] = values.map(|v| v.c1);
    }
    let mut out = [[_mm512_setzero_si512(); LIMBS]; D];
    for (c, component) in out.iter_mut().enumerate() {
        let per_lane = components[c].map(limbs_of);
        for (l, limb) in component.iter_mut().enumerate() {
            let v = |lane: usize| per_lane[lane][l] as i64;
            *limb = _mm512_set_epi64(v(7), v(6), v(5), v(4), v(3), v(2), v(1), v(0));
        }
    }
    out
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
fn add_base(a: &Vec52, b: &Vec52) -> Vec52 {
    let mut sum = *a;
    for (limb, &other) in sum.iter_mut().zip(b) {
        *limb = _mm512_add_epi64(*limb, other);
    }
    carry(&mut sum);
    subtract_if_above(&sum, &TWICE_MODULUS)
}

/// `a − b` below `2p` for `a, b` below `2p`.
#[target_feature(enable = "avx512f,avx512ifma")]
fn sub_base(a: &Vec52, b: &Vec52) -> Vec52 {
    let mut difference = *a;
    for (limb, &other) in difference.iter_mut().zip(b) {
        *limb = _mm512_sub_epi64(*limb, other);
    }
    carry(&mut difference);
    let negative = _mm512_cmplt_epi64_mask(difference[LIMBS - 1], _mm512_setzero_si512());
    let mut wrapped = difference;
    for (limb, &m) in wrapped.iter_mut().zip(&TWICE_MODULUS) {
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
fn mul_base(a: &Vec52, b: &Vec52) -> Vec52 {
    let zero = _mm512_setzero_si512();
    let mut t = [zero; 2 * LIMBS];
    for i in 0..LIMBS {
        for j in 0..LIMBS {
            t[i + j] = _mm512_madd52lo_epu64(t[i + j], a[i], b[j]);
            t[i + j + 1] = _mm512_madd52hi_epu64(t[i + j + 1], a[i], b[j]);
        }
    }
    let factor = splat(MONTGOMERY_FACTOR);
    let modulus = splat_limbs(&MODULUS);
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

#[target_feature(enable = "avx512f,avx512ifma")]
fn canonical<const D: usize>(a: &Fe<D>) -> Fe<D> {
    let mut out = *a;
    for component in &mut out {
        *component = subtract_if_above(component, &MODULUS);
    }
    out
}

#[target_feature(enable = "avx512f,avx512ifma")]
fn sub<const D: usize>(a: &Fe<D>, b: &Fe<D>) -> Fe<D> {
    let mut out = *a;
    for (component, other) in out.iter_mut().zip(b) {
        *component = sub_base(component, other);
    }
    out
}

/// Products in `Fq` or in `Fq2 = Fq[u]/(u² + 1)` (Karatsuba: three base multiplications).
#[target_feature(enable = "avx512f,avx512ifma")]
fn mul<const D: usize>(a: &Fe<D>, b: &Fe<D>) -> Fe<D> {
    let mut out = *a;
    if D == 1 {
        out[0] = mul_base(&a[0], &b[0]);
    } else {
        let (real, imaginary) = (mul_base(&a[0], &b[0]), mul_base(&a[1], &b[1]));
        let mixed = mul_base(&add_base(&a[0], &a[1]), &add_base(&b[0], &b[1]));
        out[0] = sub_base(&real, &imaginary);
        out[1] = sub_base(&sub_base(&mixed, &real), &imaginary);
    }
    out
}

#[target_feature(enable = "avx512f,avx512ifma")]
fn square<const D: usize>(a: &Fe<D>) -> Fe<D> {
    let mut out = *a;
    if D == 1 {
        out[0] = mul_base(&a[0], &a[0]);
    } else {
        // (a₀ + a₁u)² = (a₀ + a₁)(a₀ − a₁) + 2a₀a₁u
        out[0] = mul_base(&add_base(&a[0], &a[1]), &sub_base(&a[0], &a[1]));
        let cross = mul_base(&a[0], &a[1]);
        out[1] = add_base(&cross, &cross);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use ark_ff::UniformRand;
    use rand::SeedableRng;
    use rand_chacha::ChaCha20Rng;

    #[test]
    fn limbs_round_trip_and_constants() {
        let mut rng = ChaCha20Rng::seed_from_u64(11);
        for a in
            [Fq::ZERO, Fq::ONE, -Fq::ONE].into_iter().chain((0..100).map(|_| Fq::rand(&mut rng)))
        {
            assert_eq!(fq_of(&limbs_of(a)), a);
        }
        assert_eq!(pack(&MODULUS), <Fq as PrimeField>::MODULUS.0);
        assert_eq!(MODULUS[0].wrapping_mul(MONTGOMERY_FACTOR) & MASK, MASK, "p·(−p⁻¹) ≡ −1");
    }

    /// Applies a lane operation to eight arkworks pairs and returns the eight results.
    fn lanewise(a: [Fq2; 8], b: [Fq2; 8], op: &str) -> [Fq2; 8] {
        assert!(available(), "run on a CPU with AVX-512 IFMA");
        // SAFETY: checked above.
        unsafe { lanewise_ifma(a, b, op) }
    }

    #[target_feature(enable = "avx512f,avx512ifma")]
    fn lanewise_ifma(a: [Fq2; 8], b: [Fq2; 8], op: &str) -> [Fq2; 8] {
        let load = |values: [Fq2; 8]| -> Fe<2> {
            let limbs = values.map(|v| [limbs_of(v.c0), limbs_of(v.c1)]);
            std::array::from_fn(|c| {
                std::array::from_fn(|l| {
                    let v = |lane: usize| limbs[lane][c][l] as i64;
                    _mm512_set_epi64(v(7), v(6), v(5), v(4), v(3), v(2), v(1), v(0))
                })
            })
        };
        let (a, b) = (load(a), load(b));
        let result = match op {
            "mul" => mul::<2>(&a, &b),
            "square" => square::<2>(&a),
            "sub" => sub::<2>(&a, &b),
            "invert" => invert_lanes::<2>(&a),
            _ => unreachable!(),
        };
        let result = canonical::<2>(&result);
        let limbs: [[[u64; 8]; LIMBS]; 2] = result.map(|c| c.map(|v| lanes(v)));
        std::array::from_fn(|lane| {
            let component =
                |c: usize| fq_of(&std::array::from_fn::<u64, LIMBS, _>(|l| limbs[c][l][lane]));
            Fq2::new(component(0), component(1))
        })
    }

    #[test]
    fn lanes_agree_with_arkworks() {
        if !available() {
            return;
        }
        let mut rng = ChaCha20Rng::seed_from_u64(12);
        let edge = [Fq2::ZERO, Fq2::ONE, -Fq2::ONE, Fq2::new(-Fq::ONE, Fq::ZERO)];
        for round in 0..50 {
            let a: [Fq2; 8] = std::array::from_fn(|i| {
                if round == 0 && i < 4 { edge[i] } else { Fq2::rand(&mut rng) }
            });
            let b: [Fq2; 8] = std::array::from_fn(|i| {
                if round == 0 && i >= 4 { edge[i - 4] } else { Fq2::rand(&mut rng) }
            });
            assert_eq!(lanewise(a, b, "mul"), std::array::from_fn(|i| a[i] * b[i]));
            assert_eq!(lanewise(a, b, "square"), std::array::from_fn(|i| a[i].square()));
            assert_eq!(lanewise(a, b, "sub"), std::array::from_fn(|i| a[i] - b[i]));
            if round > 0 {
                assert_eq!(
                    lanewise(a, b, "invert"),
                    std::array::from_fn(|i| a[i].inverse().unwrap_or_default())
                );
            }
        }
    }
}
