//! The MSM's bucket additions over BN254's base field (`Fq` for G1, `Fq2` for G2), eight at a
//! time: only the rounds of pairwise additions run here, which is where an MSM spends its time;
//! bases come in and window sums go out as arkworks points.

use super::{
    LANES, LIMBS, Modulus, Vec52, add_base, available, element_of, limbs_of, load, mul_base,
    negate, splat_limbs, store, sub_base, subtract_if_above,
};
use crate::inversion::batch_invert;
use ark_bn254::{Fq, Fq2, FqConfig};
use ark_ec::{
    AffineRepr, CurveGroup,
    short_weierstrass::{Affine, Projective, SWCurveConfig},
};
use ark_ff::{AdditiveGroup, Field, Zero};
use core::arch::x86_64::{
    __m512i, _mm512_i64gather_epi64, _mm512_i64scatter_epi64, _mm512_set_epi64,
    _mm512_setzero_si512,
};

/// Eight elements of the degree-`D` extension (`D` = 1 for G1's `Fq`, 2 for G2's `Fq2`).
type Fe<const D: usize> = [Vec52; D];
type Base = Modulus<FqConfig>;

/// The bases of one MSM in limb form, each point as `x` then `y` (`D` components each), with
/// every `−y` beside them for the windows' negative digits.
pub(crate) struct Bases<const D: usize> {
    coords: Vec<u64>,
    negated_y: Vec<u64>,
    zero: Vec<bool>,
}

impl<const D: usize> Bases<D> {
    const STRIDE: usize = 2 * D * LIMBS;
    const COORDINATE: usize = D * LIMBS;

    pub(crate) fn new<P>(bases: &[Affine<P>]) -> Self
    where
        P: SWCurveConfig<BaseField: Field<BasePrimeField = Fq>>,
    {
        let mut coords = vec![0; bases.len() * Self::STRIDE];
        let mut negated_y = vec![0; bases.len() * Self::COORDINATE];
        let mut zero = vec![false; bases.len()];
        for (((base, slot), negated), is_zero) in bases
            .iter()
            .zip(coords.chunks_exact_mut(Self::STRIDE))
            .zip(negated_y.chunks_exact_mut(Self::COORDINATE))
            .zip(&mut zero)
        {
            match base.xy() {
                Some((x, y)) => {
                    write_point::<P, D>(&x, &y, slot);
                    for (out, limbs) in negated
                        .chunks_exact_mut(LIMBS)
                        .zip(slot[Self::COORDINATE..].chunks_exact(LIMBS))
                    {
                        negate::<FqConfig>(limbs, out);
                    }
                }
                None => *is_zero = true,
            }
        }
        Self { coords, negated_y, zero }
    }
}

/// `Σ_b b·(bucket b)` for one window, where base `i` goes into bucket `|digits[i]|` (negated
/// for a negative digit) and `b` runs over `1..=buckets`.
///
/// The bases are counting-sorted by bucket and each bucket summed pairwise, all buckets a round
/// at a time. The weights are applied the same way instead of by a running sum of one addition
/// at a time: `Σ_b b·S_b = Σ_j 2^j·(Σ_{b with bit j} S_b)`, so the bucket sums are regrouped by
/// the bits of their index, each group summed pairwise, and the few group sums combined by
/// doubling.
///
/// # Panics
/// On a CPU without AVX-512F and IFMA (see [`available`]).
pub(crate) fn window_sum<P, const D: usize>(
    bases: &Bases<D>,
    digits: &[i32],
    buckets: usize,
) -> Projective<P>
where
    P: SWCurveConfig<BaseField: Field<BasePrimeField = Fq>>,
{
    assert!(available(), "IFMA bucket additions on a CPU without AVX-512 IFMA");
    let stride = Bases::<D>::STRIDE;
    let half = D * LIMBS;
    let bucket_of = |digit: i32| digit.unsigned_abs() as usize - 1;
    let mut sizes = vec![0; buckets];
    for (&digit, &is_zero) in digits.iter().zip(&bases.zero) {
        if digit != 0 && !is_zero {
            sizes[bucket_of(digit)] += 1;
        }
    }
    let (mut by_bucket, mut next) = Groups::<D>::with_sizes(&sizes);
    for (i, &digit) in digits.iter().enumerate() {
        if digit == 0 || bases.zero[i] {
            continue;
        }
        let slot = &mut next[bucket_of(digit)];
        let point = &mut by_bucket.points[*slot * stride..(*slot + 1) * stride];
        let base = &bases.coords[i * stride..(i + 1) * stride];
        point[..half].copy_from_slice(&base[..half]);
        point[half..].copy_from_slice(if digit > 0 {
            &base[half..]
        } else {
            &bases.negated_y[i * half..(i + 1) * half]
        });
        *slot += 1;
    }
    by_bucket.sum_pairwise::<P>();

    let bits = (usize::BITS - buckets.leading_zeros()) as usize;
    let has_bit = |b: usize, j: usize| (b + 1) >> j & 1 == 1;
    let mut sizes = vec![0; bits];
    for b in (0..buckets).filter(|&b| by_bucket.holds_point(b)) {
        for (j, size) in sizes.iter_mut().enumerate() {
            *size += usize::from(has_bit(b, j));
        }
    }
    let (mut by_bit, mut next) = Groups::<D>::with_sizes(&sizes);
    for b in (0..buckets).filter(|&b| by_bucket.holds_point(b)) {
        let from = by_bucket.starts[b] * stride;
        for (j, slot) in next.iter_mut().enumerate() {
            if has_bit(b, j) {
                by_bit.points[*slot * stride..(*slot + 1) * stride]
                    .copy_from_slice(&by_bucket.points[from..from + stride]);
                *slot += 1;
            }
        }
    }
    by_bit.sum_pairwise::<P>();
    (0..bits).rev().fold(Projective::zero(), |acc, j| acc.double() + by_bit.sum::<P>(j))
}

/// Points in consecutive groups, each group summed to one point by [`Groups::sum_pairwise`].
struct Groups<const D: usize> {
    /// Point `i` at `[i·STRIDE..(i + 1)·STRIDE]`.
    points: Vec<u64>,
    zero: Vec<bool>,
    /// Group `g` holds points `starts[g]..starts[g] + lens[g]`.
    starts: Vec<usize>,
    lens: Vec<usize>,
}

impl<const D: usize> Groups<D> {
    /// Room for `sizes[g]` points in group `g`, with the first free slot of each group.
    fn with_sizes(sizes: &[usize]) -> (Self, Vec<usize>) {
        let starts: Vec<usize> = sizes
            .iter()
            .scan(0, |next, &size| {
                let start = *next;
                *next += size;
                Some(start)
            })
            .collect();
        let total = sizes.iter().sum::<usize>();
        let groups = Self {
            points: vec![0; total * Bases::<D>::STRIDE],
            zero: vec![false; total],
            starts: starts.clone(),
            lens: sizes.to_vec(),
        };
        (groups, starts)
    }

    /// Whether group `g` is one point other than infinity (after [`Self::sum_pairwise`]).
    fn holds_point(&self, g: usize) -> bool {
        self.lens[g] == 1 && !self.zero[self.starts[g]]
    }

    /// The sum of group `g` (after [`Self::sum_pairwise`]).
    fn sum<P>(&self, g: usize) -> Affine<P>
    where
        P: SWCurveConfig<BaseField: Field<BasePrimeField = Fq>>,
    {
        match self.lens[g] {
            1 => point_of::<P, D>(&self.points, self.zero[self.starts[g]], self.starts[g]),
            _ => Affine::identity(),
        }
    }

    /// Adds the points of every group pairwise, round after round, until each group holds at
    /// most one point; a round's results go to a second buffer, then the buffers swap.
    fn sum_pairwise<P>(&mut self)
    where
        P: SWCurveConfig<BaseField: Field<BasePrimeField = Fq>>,
    {
        let stride = Bases::<D>::STRIDE;
        let half = D * LIMBS;
        let total = self.zero.len();
        let mut sums = vec![0u64; self.points.len()];
        let mut sums_zero = vec![false; total];
        let mut pairs: Vec<[usize; 3]> = Vec::new();
        loop {
            pairs.clear();
            let mut any = false;
            let (points, zero) = (&self.points, &self.zero);
            for (&start, len) in self.starts.iter().zip(self.lens.iter_mut()) {
                if *len % 2 == 1 {
                    let (from, to) = (start + *len - 1, start + *len / 2);
                    sums[to * stride..(to + 1) * stride]
                        .copy_from_slice(&points[from * stride..(from + 1) * stride]);
                    sums_zero[to] = zero[from];
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
                        let sum = (point_of::<P, D>(points, zero[p], p)
                            + point_of::<P, D>(points, zero[q], q))
                        .into_affine();
                        sums_zero[to] = match sum.xy() {
                            Some((x, y)) => {
                                let slot = &mut sums[to * stride..(to + 1) * stride];
                                write_point::<P, D>(&x, &y, slot);
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
                return;
            }
            if !pairs.is_empty() {
                assert!(pairs.iter().flatten().all(|&i| i < total), "pair index out of range");
                // SAFETY: `window_sum` asserted that the CPU has AVX-512F and IFMA, and every
                // index is below `total`, the number of points in both buffers (asserted above),
                // as `add_pairs` requires.
                unsafe { add_pairs::<D>(&self.points, &mut sums, &pairs) };
            }
            std::mem::swap(&mut self.points, &mut sums);
            std::mem::swap(&mut self.zero, &mut sums_zero);
        }
    }
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
        P::BaseField::from_base_prime_field_elems(
            limbs.chunks_exact(LIMBS).map(element_of::<FqConfig>),
        )
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
fn one<const D: usize>() -> Fe<D> {
    let mut out = [[_mm512_setzero_si512(); LIMBS]; D];
    out[0] = splat_limbs(&limbs_of(Fq::ONE));
    out
}

/// Inverts each lane (one arkworks batch inversion for the eight).
#[target_feature(enable = "avx512f,avx512ifma")]
fn invert_lanes<const D: usize>(value: &Fe<D>) -> Fe<D> {
    let stored: [[Fq; LANES]; D] = std::array::from_fn(|c| store::<FqConfig>(&value[c]));
    let mut components = [[Fq::ZERO; LANES]; D];
    if D == 1 {
        let mut values = stored[0];
        batch_invert(&mut values, &mut Vec::new());
        components[0] = values;
    } else {
        // (c₀ + c₁u)⁻¹ = (c₀ − c₁u)/(c₀² + c₁²) since u² = −1.
        let values: [Fq2; LANES] =
            std::array::from_fn(|lane| Fq2::new(stored[0][lane], stored[1][lane]));
        let mut norms = values.map(|v| v.c0.square() + v.c1.square());
        batch_invert(&mut norms, &mut Vec::new());
        components[0] = std::array::from_fn(|lane| values[lane].c0 * norms[lane]);
        components[1] = std::array::from_fn(|lane| -values[lane].c1 * norms[lane]);
    }
    std::array::from_fn(|c| load(components[c]))
}

#[target_feature(enable = "avx512f,avx512ifma")]
fn canonical<const D: usize>(a: &Fe<D>) -> Fe<D> {
    let mut out = *a;
    for component in &mut out {
        *component = subtract_if_above(component, &Base::MODULUS);
    }
    out
}

#[target_feature(enable = "avx512f,avx512ifma")]
fn sub<const D: usize>(a: &Fe<D>, b: &Fe<D>) -> Fe<D> {
    let mut out = *a;
    for (component, other) in out.iter_mut().zip(b) {
        *component = sub_base::<FqConfig>(component, other);
    }
    out
}

/// Products in `Fq` or in `Fq2 = Fq[u]/(u² + 1)` (Karatsuba: three base multiplications).
#[target_feature(enable = "avx512f,avx512ifma")]
fn mul<const D: usize>(a: &Fe<D>, b: &Fe<D>) -> Fe<D> {
    let mut out = *a;
    if D == 1 {
        out[0] = mul_base::<FqConfig>(&a[0], &b[0]);
    } else {
        let (real, imaginary) =
            (mul_base::<FqConfig>(&a[0], &b[0]), mul_base::<FqConfig>(&a[1], &b[1]));
        let mixed = mul_base::<FqConfig>(
            &add_base::<FqConfig>(&a[0], &a[1]),
            &add_base::<FqConfig>(&b[0], &b[1]),
        );
        out[0] = sub_base::<FqConfig>(&real, &imaginary);
        out[1] = sub_base::<FqConfig>(&sub_base::<FqConfig>(&mixed, &real), &imaginary);
    }
    out
}

#[target_feature(enable = "avx512f,avx512ifma")]
fn square<const D: usize>(a: &Fe<D>) -> Fe<D> {
    let mut out = *a;
    if D == 1 {
        out[0] = mul_base::<FqConfig>(&a[0], &a[0]);
    } else {
        // (a₀ + a₁u)² = (a₀ + a₁)(a₀ − a₁) + 2a₀a₁u
        out[0] = mul_base::<FqConfig>(
            &add_base::<FqConfig>(&a[0], &a[1]),
            &sub_base::<FqConfig>(&a[0], &a[1]),
        );
        let cross = mul_base::<FqConfig>(&a[0], &a[1]);
        out[1] = add_base::<FqConfig>(&cross, &cross);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ifma::lanes;
    use ark_ff::UniformRand;
    use rand::SeedableRng;
    use rand_chacha::ChaCha20Rng;

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
        let (mut a, b) = (load(a), load(b));
        // Inside a round values are below 2p, not canonical: a + p is the same element.
        let modulus = splat_limbs(&Base::MODULUS);
        a = a.map(|component| add_base::<FqConfig>(&component, &modulus));
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
            let component = |c: usize| {
                element_of::<FqConfig>(&std::array::from_fn::<u64, LIMBS, _>(|l| limbs[c][l][lane]))
            };
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
