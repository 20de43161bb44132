//! Multi-scalar multiplication with buckets summed in affine coordinates.
//!
//! Pippenger's method splits each scalar into signed `c`-bit digits; in every window, base `i`
//! goes into bucket `|digit|` (negated for a negative digit), the buckets are summed, and each
//! bucket `b` is weighted by `b`. The work is in summing buckets. We sort each window's points
//! by bucket and add them pairwise, all buckets at once: every round halves each bucket's list
//! and needs one field inversion for the whole round (Montgomery's batch trick), so an addition
//! costs about six multiplications instead of the ten or more of a projective addition.
//! Buckets that many points share (circom witnesses are full of ones) take a logarithmic number
//! of rounds instead of a sequential chain.
//!
//! Where the CPU has AVX-512 IFMA the rounds run eight additions at a time
//! (`crate::ifma::buckets`, which also applies the weights by pairwise sums); elsewhere they run
//! here with arkworks' arithmetic and a running sum applies the weights.

use ark_ec::{
    AffineRepr, CurveGroup, VariableBaseMSM,
    short_weierstrass::{Affine, Projective, SWCurveConfig},
};
use ark_ff::{AdditiveGroup, Field, PrimeField, Zero};
use rayon::prelude::*;

#[cfg(all(target_arch = "x86_64", not(zkcredits_portable_only)))]
use crate::ifma;

/// Below this many bases the bucket sorting does not pay off; arkworks' MSM is used.
const SMALL_MSM: usize = 1 << 10;

/// A scalar field element as the MSM reads it (canonical, not Montgomery, form).
pub type ScalarBigInt<P> = <<P as ark_ec::CurveConfig>::ScalarField as PrimeField>::BigInt;

/// `Σ scalars[i]·bases[i]` over the shorter of the two slices (BN254's G1 or G2).
pub fn msm<P>(bases: &[Affine<P>], scalars: &[ScalarBigInt<P>]) -> Projective<P>
where
    P: SWCurveConfig<BaseField: Field<BasePrimeField = ark_bn254::Fq>>,
{
    msm_with(bases, scalars, Arithmetic::Fastest)
}

/// How bucket additions are computed.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Arithmetic {
    /// Eight at a time with AVX-512 IFMA where the CPU has it, else one at a time.
    Fastest,
    /// One at a time with arkworks' field arithmetic, on any CPU (what other CPUs run).
    #[cfg(test)]
    Portable,
}

fn msm_with<P>(
    bases: &[Affine<P>],
    scalars: &[ScalarBigInt<P>],
    arithmetic: Arithmetic,
) -> Projective<P>
where
    P: SWCurveConfig<BaseField: Field<BasePrimeField = ark_bn254::Fq>>,
{
    let n = bases.len().min(scalars.len());
    let (bases, scalars) = (&bases[..n], &scalars[..n]);
    if n < SMALL_MSM {
        return Projective::<P>::msm_bigint(bases, scalars);
    }
    let c = window_bits(n, arithmetic);
    let windows = signed_digits::<P>(scalars, c);
    let buckets = 1usize << (c - 1);
    let sums = window_sums(bases, &windows, buckets, arithmetic);
    sums.into_iter()
        .rev()
        .fold(Projective::zero(), |acc, sum| (0..c).fold(acc, |acc, _| acc.double()) + sum)
}

/// `Σ_b b·(bucket b)` of every window, the windows in parallel.
fn window_sums<P>(
    bases: &[Affine<P>],
    windows: &[Vec<i32>],
    buckets: usize,
    #[cfg_attr(
        not(all(target_arch = "x86_64", not(zkcredits_portable_only))),
        expect(unused_variables, reason = "only the IFMA path is chosen by it")
    )]
    arithmetic: Arithmetic,
) -> Vec<Projective<P>>
where
    P: SWCurveConfig<BaseField: Field<BasePrimeField = ark_bn254::Fq>>,
{
    #[cfg(all(target_arch = "x86_64", not(zkcredits_portable_only)))]
    if arithmetic == Arithmetic::Fastest && simd_available() {
        fn with_degree<P, const D: usize>(
            bases: &[Affine<P>],
            windows: &[Vec<i32>],
            buckets: usize,
        ) -> Vec<Projective<P>>
        where
            P: SWCurveConfig<BaseField: Field<BasePrimeField = ark_bn254::Fq>>,
        {
            let bases = ifma::buckets::Bases::<D>::new(bases);
            windows
                .par_iter()
                .map(|digits| ifma::buckets::window_sum::<P, D>(&bases, digits, buckets))
                .collect()
        }
        match P::BaseField::extension_degree() {
            1 => return with_degree::<P, 1>(bases, windows, buckets),
            2 => return with_degree::<P, 2>(bases, windows, buckets),
            _ => {}
        }
    }
    windows.par_iter().map(|digits| weighted_sum(&bucket_sums(bases, digits, buckets))).collect()
}

/// Whether this CPU runs the eight-lane arithmetic (`crate::ifma`) and it is not ruled out.
pub(crate) fn simd_available() -> bool {
    #[cfg(all(target_arch = "x86_64", not(zkcredits_portable_only)))]
    return ifma::available();
    #[cfg(not(all(target_arch = "x86_64", not(zkcredits_portable_only))))]
    false
}

/// `Σ_b b·buckets[b − 1]` by a running sum from the top bucket down.
fn weighted_sum<P: SWCurveConfig>(buckets: &[Affine<P>]) -> Projective<P> {
    let mut running = Projective::<P>::zero();
    let mut sum = Projective::<P>::zero();
    for bucket in buckets.iter().rev() {
        running += bucket;
        sum += running;
    }
    sum
}

/// Bits per window: fewer windows against more buckets to reduce. The reduction adds one
/// bucket at a time while the buckets fill eight additions at a time where IFMA is available,
/// so windows are one bit narrower there: 9 bits for the 16k-point queries of `request`
/// (8 to 10 measured within noise of each other), 10 without IFMA (10 to 12 measured flat).
fn window_bits(n: usize, arithmetic: Arithmetic) -> usize {
    let log = (usize::BITS - n.leading_zeros()) as usize;
    let narrower = usize::from(arithmetic == Arithmetic::Fastest && simd_available());
    log.saturating_sub(4 + narrower).clamp(4, 16)
}

/// Digits in `(-2^(c-1), 2^(c-1)]`, one vector per window; enough windows that the last carry
/// is absorbed for scalars below the modulus.
fn signed_digits<P: SWCurveConfig>(scalars: &[ScalarBigInt<P>], c: usize) -> Vec<Vec<i32>> {
    let count = window_count::<P>(c);
    let mut windows = vec![vec![0i32; scalars.len()]; count];
    for (i, scalar) in scalars.iter().enumerate() {
        for (w, digit) in digits_of(scalar.as_ref(), c, count).enumerate() {
            windows[w][i] = digit;
        }
    }
    windows
}

/// The `count` signed `c`-bit digits of one scalar, least significant first.
fn digits_of(limbs: &[u64], c: usize, count: usize) -> impl Iterator<Item = i32> + '_ {
    let half = 1i64 << (c - 1);
    let mut carry = 0i64;
    (0..count).map(move |w| {
        let digit = bits_at(limbs, w * c, c) as i64 + carry;
        carry = i64::from(digit > half);
        (digit - (carry << c)) as i32
    })
}

/// Windows needed for `c`-bit signed digits of scalars below the modulus of `P`'s scalar field.
fn window_count<P: SWCurveConfig>(c: usize) -> usize {
    (P::ScalarField::MODULUS_BIT_SIZE as usize + 1).div_ceil(c)
}

/// Multiples of a few fixed bases, so that `Σ sᵢ·Bᵢ` costs one mixed addition per base and
/// 8-bit digit: what the verifier uses to fold public inputs into the verifying key.
#[derive(Clone)]
pub struct FixedBaseTables<P: SWCurveConfig> {
    /// For base `i`, window `w` and digit magnitude `d` in `1..=128`, at
    /// `[(i·windows + w)·128 + d − 1]`: `d·2^(8w)·Bᵢ`.
    multiples: Vec<Affine<P>>,
    windows: usize,
}

impl<P: SWCurveConfig> std::fmt::Debug for FixedBaseTables<P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FixedBaseTables").field("multiples", &self.multiples.len()).finish()
    }
}

impl<P: SWCurveConfig> FixedBaseTables<P> {
    const DIGIT_BITS: usize = 8;
    const ENTRIES: usize = 1 << (Self::DIGIT_BITS - 1);

    /// Precomputes the tables of `bases` (about 4,000 additions per base).
    pub fn new(bases: &[Affine<P>]) -> Self {
        let windows = window_count::<P>(Self::DIGIT_BITS);
        let mut multiples = Vec::with_capacity(bases.len() * windows * Self::ENTRIES);
        for base in bases {
            let mut window_base = base.into_group();
            for _ in 0..windows {
                let mut multiple = window_base;
                for _ in 0..Self::ENTRIES {
                    multiples.push(multiple);
                    multiple += window_base;
                }
                // After ENTRIES = 2^7 steps `multiple` is 2^7 + 1 times the window's base.
                window_base = multiple - window_base;
                window_base.double_in_place();
            }
        }
        Self { multiples: Projective::normalize_batch(&multiples), windows }
    }

    /// `Σ scalars[i]·bases[i]` over the shorter of the two.
    pub fn msm(&self, scalars: &[P::ScalarField]) -> Projective<P> {
        let mut sum = Projective::<P>::zero();
        let per_base = self.windows * Self::ENTRIES;
        for (scalar, table) in scalars.iter().zip(self.multiples.chunks_exact(per_base)) {
            let bigint = scalar.into_bigint();
            for (w, digit) in digits_of(bigint.as_ref(), Self::DIGIT_BITS, self.windows).enumerate()
            {
                let magnitude = digit.unsigned_abs() as usize;
                if magnitude == 0 {
                    continue;
                }
                let multiple = table[w * Self::ENTRIES + magnitude - 1];
                if digit > 0 {
                    sum += multiple;
                } else {
                    sum -= multiple;
                }
            }
        }
        sum
    }
}

/// `len` bits of the little-endian limbs from bit `offset` (zero past the end).
fn bits_at(limbs: &[u64], offset: usize, len: usize) -> u64 {
    let (limb, shift) = (offset / 64, offset % 64);
    let low = limbs.get(limb).map_or(0, |l| l >> shift);
    let high = match (shift, limbs.get(limb + 1)) {
        (0, _) | (_, None) => 0,
        (_, Some(l)) => l << (64 - shift),
    };
    (low | high) & ((1u64 << len) - 1)
}

/// An affine point during bucket summation; `zero` marks the point at infinity.
#[derive(Clone, Copy)]
struct Point<F> {
    x: F,
    y: F,
    zero: bool,
}

/// The sums of buckets `1..=buckets` of one window, one addition at a time (see [`sum_buckets`]).
fn bucket_sums<P: SWCurveConfig>(
    bases: &[Affine<P>],
    digits: &[i32],
    buckets: usize,
) -> Vec<Affine<P>> {
    // Counting sort of the window's points by bucket.
    let mut starts = vec![0usize; buckets + 1];
    for (&digit, base) in digits.iter().zip(bases) {
        if digit != 0 && !base.is_zero() {
            starts[digit.unsigned_abs() as usize] += 1;
        }
    }
    for b in 1..=buckets {
        starts[b] += starts[b - 1];
    }
    let total = starts[buckets];
    let mut points =
        vec![Point { x: P::BaseField::ZERO, y: P::BaseField::ZERO, zero: true }; total];
    let mut next = starts.clone();
    for (&digit, base) in digits.iter().zip(bases) {
        if let (true, Some((x, y))) = (digit != 0, base.xy()) {
            let slot = &mut next[digit.unsigned_abs() as usize - 1];
            points[*slot] = Point { x, y: if digit < 0 { -y } else { y }, zero: false };
            *slot += 1;
        }
    }
    // Bucket b (1-based) holds points[starts[b-1]..starts[b-1] + lens[b-1]].
    let mut lens: Vec<usize> = starts.windows(2).map(|w| w[1] - w[0]).collect();
    sum_buckets::<P>(&mut points, &starts[..buckets], &mut lens);
    (0..buckets)
        .map(|b| match (lens[b], points.get(starts[b])) {
            (1, Some(p)) if !p.zero => Affine::<P>::new_unchecked(p.x, p.y),
            _ => Affine::identity(),
        })
        .collect()
}

/// Adds each bucket's points pairwise, round after round, until every bucket holds one point.
fn sum_buckets<P: SWCurveConfig>(
    points: &mut [Point<P::BaseField>],
    starts: &[usize],
    lens: &mut [usize],
) {
    let mut denominators = Vec::new();
    loop {
        denominators.clear();
        for (&start, &len) in starts.iter().zip(lens.iter()) {
            for k in 0..len / 2 {
                denominators
                    .push(denominator::<P>(&points[start + 2 * k], &points[start + 2 * k + 1]));
            }
        }
        if denominators.is_empty() {
            return;
        }
        ark_ff::batch_inversion(&mut denominators);
        let mut inverses = denominators.iter();
        for (&start, len) in starts.iter().zip(lens.iter_mut()) {
            // Results go to the front of the bucket's range; pair k is read before slot k is
            // written and slot k < 2k for k > 0, so nothing is overwritten before it is read.
            for k in 0..*len / 2 {
                let (p, q) = (points[start + 2 * k], points[start + 2 * k + 1]);
                let inverse = inverses.next().copied().unwrap_or(P::BaseField::ZERO);
                points[start + k] = add::<P>(p, q, inverse);
            }
            if *len % 2 == 1 {
                points[start + *len / 2] = points[start + *len - 1];
            }
            *len = len.div_ceil(2);
        }
    }
}

/// What the addition of `p` and `q` divides by: `x_q - x_p`, or `2y` when doubling; one when
/// no division is needed (a point at infinity, or `p = -q`).
fn denominator<P: SWCurveConfig>(p: &Point<P::BaseField>, q: &Point<P::BaseField>) -> P::BaseField {
    if p.zero || q.zero {
        P::BaseField::ONE
    } else if p.x != q.x {
        q.x - p.x
    } else if p.y == q.y && !p.y.is_zero() {
        p.y.double()
    } else {
        P::BaseField::ONE
    }
}

/// `p + q` given the inverse of their [`denominator`].
fn add<P: SWCurveConfig>(
    p: Point<P::BaseField>,
    q: Point<P::BaseField>,
    inverse: P::BaseField,
) -> Point<P::BaseField> {
    if p.zero {
        return q;
    }
    if q.zero {
        return p;
    }
    let lambda = if p.x != q.x {
        (q.y - p.y) * inverse
    } else if p.y == q.y && !p.y.is_zero() {
        let x2 = p.x.square();
        (x2.double() + x2 + P::mul_by_a(P::BaseField::ONE)) * inverse
    } else {
        return Point { x: P::BaseField::ZERO, y: P::BaseField::ZERO, zero: true };
    };
    let x = lambda.square() - p.x - q.x;
    let y = lambda * (p.x - x) - p.y;
    Point { x, y, zero: false }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ark_bn254::{Fr, G1Affine, G1Projective, G2Affine, G2Projective};
    use ark_ff::UniformRand;
    use rand::SeedableRng;
    use rand_chacha::ChaCha20Rng;

    /// Scalars the way circom witnesses look: zeros, ones, minus ones, small values, full ones.
    fn scalars(n: usize, rng: &mut ChaCha20Rng) -> Vec<Fr> {
        (0..n)
            .map(|i| match i % 7 {
                0 => Fr::ZERO,
                1 | 2 => Fr::ONE,
                3 => -Fr::ONE,
                4 => Fr::from((i % 300) as u64),
                _ => Fr::rand(rng),
            })
            .collect()
    }

    /// Both arithmetics against arkworks' MSM.
    fn check<P>(bases: Vec<Affine<P>>, scalars: Vec<Fr>)
    where
        P: SWCurveConfig<ScalarField = Fr, BaseField: Field<BasePrimeField = ark_bn254::Fq>>,
    {
        let bigints: Vec<_> = scalars.iter().map(|s| s.into_bigint()).collect();
        let expected = Projective::<P>::msm_bigint(&bases, &bigints);
        assert_eq!(msm_with(&bases, &bigints, Arithmetic::Fastest), expected);
        assert_eq!(msm_with(&bases, &bigints, Arithmetic::Portable), expected);
    }

    #[test]
    fn agrees_with_arkworks_on_g1_and_g2() {
        let mut rng = ChaCha20Rng::seed_from_u64(1);
        let n = 3000;
        let g1: Vec<G1Affine> =
            (0..n).map(|_| G1Projective::rand(&mut rng).into_affine()).collect();
        check(g1, scalars(n, &mut rng));
        let g2: Vec<G2Affine> =
            (0..n).map(|_| G2Projective::rand(&mut rng).into_affine()).collect();
        check(g2, scalars(n, &mut rng));
    }

    #[test]
    fn handles_repeated_bases_their_negations_and_infinity() {
        let mut rng = ChaCha20Rng::seed_from_u64(2);
        let p = G1Projective::rand(&mut rng).into_affine();
        let q = G1Projective::rand(&mut rng).into_affine();
        // Equal points meeting in a bucket double; a point and its negation cancel.
        let bases: Vec<G1Affine> = (0..2048)
            .map(|i| match i % 4 {
                0 => p,
                1 => -p,
                2 => G1Affine::zero(),
                _ => q,
            })
            .collect();
        let all_ones = vec![Fr::ONE; bases.len()];
        check(bases.clone(), all_ones);
        check(bases.clone(), scalars(bases.len(), &mut rng));
        check(bases, vec![Fr::from(5u64); 2048]);
    }

    #[test]
    fn digits_recompose_every_scalar() {
        let mut rng = ChaCha20Rng::seed_from_u64(3);
        let mut values = scalars(500, &mut rng);
        values.push(-Fr::ONE);
        let bigints: Vec<_> = values.iter().map(|s| s.into_bigint()).collect();
        for c in [4, 11, 12, 13, 16] {
            let windows = signed_digits::<ark_bn254::g1::Config>(&bigints, c);
            for (i, value) in values.iter().enumerate() {
                let recomposed = windows
                    .iter()
                    .rev()
                    .fold(Fr::ZERO, |acc, w| acc * Fr::from(1u64 << c) + Fr::from(i64::from(w[i])));
                assert_eq!(recomposed, *value, "c = {c}");
            }
        }
    }

    #[test]
    fn fixed_base_tables_agree_with_arkworks() {
        let mut rng = ChaCha20Rng::seed_from_u64(5);
        let bases: Vec<G1Affine> =
            (0..10).map(|_| G1Projective::rand(&mut rng).into_affine()).collect();
        let tables = FixedBaseTables::new(&bases);
        for values in [scalars(10, &mut rng), vec![-Fr::ONE; 10], vec![Fr::ZERO; 10]] {
            let bigints: Vec<_> = values.iter().map(|s| s.into_bigint()).collect();
            assert_eq!(tables.msm(&values), G1Projective::msm_bigint(&bases, &bigints));
        }
    }

    #[test]
    fn bit_extraction_crosses_limbs() {
        let limbs = [u64::MAX, 0b1011, 0, 1 << 63];
        assert_eq!(bits_at(&limbs, 60, 8), 0b1011_1111);
        assert_eq!(bits_at(&limbs, 255, 4), 1);
        assert_eq!(bits_at(&limbs, 256, 4), 0);
    }

    #[test]
    fn zero_scalars_and_empty_inputs() {
        let mut rng = ChaCha20Rng::seed_from_u64(4);
        let bases: Vec<G1Affine> =
            (0..1500).map(|_| G1Projective::rand(&mut rng).into_affine()).collect();
        check(bases, vec![Fr::ZERO; 1500]);
        assert_eq!(msm::<ark_bn254::g1::Config>(&[], &[]), G1Projective::zero());
    }
}
