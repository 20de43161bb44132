//! Batch verification's per-proof work eight proofs at a time, one proof per lane: the weighted
//! `rᵢ·Aᵢ` ([`weigh`]) and the Miller loop of `(rᵢ·Aᵢ, Bᵢ)` ([`multi_miller_loop`]). Every lane
//! runs the same sequence of operations (the Miller loop's digits are the curve's; the weights'
//! bits only choose, lane by lane, whether an addition is kept), so eight proofs take one pass.
//!
//! The algorithm is arkworks' (ark-ec's `bn` model: the G2 point in homogeneous projective
//! coordinates, each line `c₀ + c₃w + c₄vw` multiplied in by `mul_by_034`), with the lines used
//! as they are computed instead of stored, so each lane's result is arkworks' Miller loop value
//! for its pair, element for element (tests). The extension fields are arkworks' tower:
//! `F_p² = F_p[u]/(u² + 1)`, `F_p⁶ = F_p²[v]/(v³ − ξ)` with `ξ = 9 + u`, `F_p¹² = F_p⁶[w]/(w² − v)`.

use super::{
    LANES, LIMBS, Vec52, add_base, limbs_of, load, mul_base, splat_limbs, store, sub_base,
};
use ark_bn254::{Fq, FqConfig, G1Affine, G1Projective, G2Affine};
use ark_ec::{AffineRepr, bn::BnConfig, pairing::Pairing, short_weierstrass::SWCurveConfig};
use ark_ff::{AdditiveGroup, Field, Zero};
use core::arch::x86_64::{__mmask8, _mm512_mask_blend_epi64, _mm512_setzero_si512};

type Config = ark_bn254::Config;

/// The fewest pairs worth a pass over the lanes: a pass costs what arkworks' loop takes for
/// about two pairs (0.59 ms against 0.29 ms per pair, measured), whatever the lanes in use.
const MIN_LANES_USED: usize = 3;

#[derive(Clone, Copy)]
struct Fq2x8 {
    c0: Vec52,
    c1: Vec52,
}

#[derive(Clone, Copy)]
struct Fq6x8 {
    c0: Fq2x8,
    c1: Fq2x8,
    c2: Fq2x8,
}

#[derive(Clone, Copy)]
struct Fq12x8 {
    c0: Fq6x8,
    c1: Fq6x8,
}

/// One value in every lane.
#[target_feature(enable = "avx512f,avx512ifma")]
fn splat(x: Fq) -> Vec52 {
    splat_limbs(&limbs_of(x))
}

#[target_feature(enable = "avx512f,avx512ifma")]
fn add(a: &Vec52, b: &Vec52) -> Vec52 {
    add_base::<FqConfig>(a, b)
}

#[target_feature(enable = "avx512f,avx512ifma")]
fn sub(a: &Vec52, b: &Vec52) -> Vec52 {
    sub_base::<FqConfig>(a, b)
}

#[target_feature(enable = "avx512f,avx512ifma")]
fn mul(a: &Vec52, b: &Vec52) -> Vec52 {
    mul_base::<FqConfig>(a, b)
}

impl Fq2x8 {
    #[target_feature(enable = "avx512f,avx512ifma")]
    fn splat(x: ark_bn254::Fq2) -> Self {
        Self { c0: splat(x.c0), c1: splat(x.c1) }
    }

    #[target_feature(enable = "avx512f,avx512ifma")]
    fn load(values: [ark_bn254::Fq2; LANES]) -> Self {
        Self { c0: load(values.map(|x| x.c0)), c1: load(values.map(|x| x.c1)) }
    }

    #[target_feature(enable = "avx512f,avx512ifma")]
    fn store(&self) -> [ark_bn254::Fq2; LANES] {
        let (c0, c1) = (store(&self.c0), store(&self.c1));
        std::array::from_fn(|lane| ark_bn254::Fq2::new(c0[lane], c1[lane]))
    }

    #[target_feature(enable = "avx512f,avx512ifma")]
    fn add(&self, other: &Self) -> Self {
        Self { c0: add(&self.c0, &other.c0), c1: add(&self.c1, &other.c1) }
    }

    #[target_feature(enable = "avx512f,avx512ifma")]
    fn sub(&self, other: &Self) -> Self {
        Self { c0: sub(&self.c0, &other.c0), c1: sub(&self.c1, &other.c1) }
    }

    #[target_feature(enable = "avx512f,avx512ifma")]
    fn double(&self) -> Self {
        self.add(self)
    }

    #[target_feature(enable = "avx512f,avx512ifma")]
    fn neg(&self) -> Self {
        let zero = [_mm512_setzero_si512(); LIMBS];
        Self { c0: sub(&zero, &self.c0), c1: sub(&zero, &self.c1) }
    }

    /// Karatsuba: three products.
    #[target_feature(enable = "avx512f,avx512ifma")]
    fn mul(&self, other: &Self) -> Self {
        let t0 = mul(&self.c0, &other.c0);
        let t1 = mul(&self.c1, &other.c1);
        let sums = mul(&add(&self.c0, &self.c1), &add(&other.c0, &other.c1));
        Self { c0: sub(&t0, &t1), c1: sub(&sub(&sums, &t0), &t1) }
    }

    /// `(a₀ + a₁u)² = (a₀ + a₁)(a₀ − a₁) + 2a₀a₁u`.
    #[target_feature(enable = "avx512f,avx512ifma")]
    fn square(&self) -> Self {
        let product = mul(&self.c0, &self.c1);
        Self {
            c0: mul(&add(&self.c0, &self.c1), &sub(&self.c0, &self.c1)),
            c1: add(&product, &product),
        }
    }

    #[target_feature(enable = "avx512f,avx512ifma")]
    fn mul_by_fq(&self, scalar: &Vec52) -> Self {
        Self { c0: mul(&self.c0, scalar), c1: mul(&self.c1, scalar) }
    }

    /// `ξ·a = (9 + u)(a₀ + a₁u) = 9a₀ − a₁ + (9a₁ + a₀)u`.
    #[target_feature(enable = "avx512f,avx512ifma")]
    fn mul_by_nonresidue(&self) -> Self {
        let nine = |x: &Vec52| {
            let eight = add(x, x);
            let eight = add(&eight, &eight);
            let eight = add(&eight, &eight);
            add(&eight, x)
        };
        Self { c0: sub(&nine(&self.c0), &self.c1), c1: add(&nine(&self.c1), &self.c0) }
    }

    /// The conjugate `a₀ − a₁u`: the Frobenius map `a ↦ a^p`.
    #[target_feature(enable = "avx512f,avx512ifma")]
    fn conjugate(&self) -> Self {
        let zero = [_mm512_setzero_si512(); LIMBS];
        Self { c0: self.c0, c1: sub(&zero, &self.c1) }
    }
}

impl Fq6x8 {
    #[target_feature(enable = "avx512f,avx512ifma")]
    fn add(&self, other: &Self) -> Self {
        Self { c0: self.c0.add(&other.c0), c1: self.c1.add(&other.c1), c2: self.c2.add(&other.c2) }
    }

    #[target_feature(enable = "avx512f,avx512ifma")]
    fn sub(&self, other: &Self) -> Self {
        Self { c0: self.c0.sub(&other.c0), c1: self.c1.sub(&other.c1), c2: self.c2.sub(&other.c2) }
    }

    /// `v·a = ξa₂ + a₀v + a₁v²`.
    #[target_feature(enable = "avx512f,avx512ifma")]
    fn mul_by_nonresidue(&self) -> Self {
        Self { c0: self.c2.mul_by_nonresidue(), c1: self.c0, c2: self.c1 }
    }

    /// Karatsuba over `F_p²`: six products.
    #[target_feature(enable = "avx512f,avx512ifma")]
    fn mul(&self, other: &Self) -> Self {
        let (a, b) = (self, other);
        let v0 = a.c0.mul(&b.c0);
        let v1 = a.c1.mul(&b.c1);
        let v2 = a.c2.mul(&b.c2);
        let c0 = a.c1.add(&a.c2).mul(&b.c1.add(&b.c2)).sub(&v1).sub(&v2);
        let c1 = a.c0.add(&a.c1).mul(&b.c0.add(&b.c1)).sub(&v0).sub(&v1);
        let c2 = a.c0.add(&a.c2).mul(&b.c0.add(&b.c2)).sub(&v0).sub(&v2);
        Self {
            c0: c0.mul_by_nonresidue().add(&v0),
            c1: c1.add(&v2.mul_by_nonresidue()),
            c2: c2.add(&v1),
        }
    }

    /// The product by `b₀ + b₁v`: five products.
    #[target_feature(enable = "avx512f,avx512ifma")]
    fn mul_by_01(&self, b0: &Fq2x8, b1: &Fq2x8) -> Self {
        let v0 = self.c0.mul(b0);
        let v1 = self.c1.mul(b1);
        let c0 = self.c1.add(&self.c2).mul(b1).sub(&v1).mul_by_nonresidue().add(&v0);
        let c1 = self.c0.add(&self.c1).mul(&b0.add(b1)).sub(&v0).sub(&v1);
        let c2 = self.c0.add(&self.c2).mul(b0).sub(&v0).add(&v1);
        Self { c0, c1, c2 }
    }

    #[target_feature(enable = "avx512f,avx512ifma")]
    fn mul_by_fq2(&self, scalar: &Fq2x8) -> Self {
        Self { c0: self.c0.mul(scalar), c1: self.c1.mul(scalar), c2: self.c2.mul(scalar) }
    }
}

impl Fq12x8 {
    #[target_feature(enable = "avx512f,avx512ifma")]
    fn one() -> Self {
        let zero = Fq2x8::splat(ark_bn254::Fq2::ZERO);
        let zero6 = Fq6x8 { c0: zero, c1: zero, c2: zero };
        Self { c0: Fq6x8 { c0: Fq2x8::splat(ark_bn254::Fq2::ONE), ..zero6 }, c1: zero6 }
    }

    /// `(a₀ + a₁w)² = (a₀ + a₁)(a₀ + v·a₁) − a₀a₁ − v·a₀a₁ + 2a₀a₁w`: two products.
    #[target_feature(enable = "avx512f,avx512ifma")]
    fn square(&self) -> Self {
        let product = self.c0.mul(&self.c1);
        let c0 = self
            .c0
            .add(&self.c1)
            .mul(&self.c0.add(&self.c1.mul_by_nonresidue()))
            .sub(&product)
            .sub(&product.mul_by_nonresidue());
        Self { c0, c1: product.add(&product) }
    }

    /// The product by a line `c₀ + c₃w + c₄vw` (arkworks' `mul_by_034`, for a D-type twist).
    #[target_feature(enable = "avx512f,avx512ifma")]
    fn mul_by_034(&mut self, c0: &Fq2x8, c3: &Fq2x8, c4: &Fq2x8) {
        let a = self.c0.mul_by_fq2(c0);
        let b = self.c1.mul_by_01(c3, c4);
        let e = self.c0.add(&self.c1).mul_by_01(&c0.add(c3), c4);
        self.c1 = e.sub(&a.add(&b));
        self.c0 = b.mul_by_nonresidue().add(&a);
    }

    /// The line through the G2 point, evaluated at the G1 point `(x, y)` and multiplied in.
    #[target_feature(enable = "avx512f,avx512ifma")]
    fn mul_by_line(&mut self, [c0, c3, c4]: [Fq2x8; 3], (x, y): &(Vec52, Vec52)) {
        self.mul_by_034(&c0.mul_by_fq(y), &c3.mul_by_fq(x), &c4);
    }

    #[target_feature(enable = "avx512f,avx512ifma")]
    fn store(&self) -> [ark_bn254::Fq12; LANES] {
        let fq6 = |x: &Fq6x8| {
            let (c0, c1, c2) = (x.c0.store(), x.c1.store(), x.c2.store());
            std::array::from_fn::<_, LANES, _>(|lane| {
                ark_bn254::Fq6::new(c0[lane], c1[lane], c2[lane])
            })
        };
        let (c0, c1) = (fq6(&self.c0), fq6(&self.c1));
        std::array::from_fn(|lane| ark_bn254::Fq12::new(c0[lane], c1[lane]))
    }
}

/// A G2 point `(x/z, y/z)` in homogeneous projective coordinates, in every lane.
struct Projective {
    x: Fq2x8,
    y: Fq2x8,
    z: Fq2x8,
}

impl Projective {
    /// Doubles the point; returns the tangent line's coefficients.
    #[target_feature(enable = "avx512f,avx512ifma")]
    fn double(&mut self, two_inverse: &Vec52, twist_b: &Fq2x8) -> [Fq2x8; 3] {
        let a = self.x.mul(&self.y).mul_by_fq(two_inverse);
        let b = self.y.square();
        let c = self.z.square();
        let e = twist_b.mul(&c.double().add(&c));
        let f = e.double().add(&e);
        let g = b.add(&f).mul_by_fq(two_inverse);
        let h = self.y.add(&self.z).square().sub(&b.add(&c));
        let i = e.sub(&b);
        let j = self.x.square();
        let e_square = e.square();
        self.x = a.mul(&b.sub(&f));
        self.y = g.square().sub(&e_square.double().add(&e_square));
        self.z = b.mul(&h);
        [h.neg(), j.double().add(&j), i]
    }

    /// Adds the affine point `(qx, qy)`; returns the chord's coefficients.
    #[target_feature(enable = "avx512f,avx512ifma")]
    fn add(&mut self, (qx, qy): &(Fq2x8, Fq2x8)) -> [Fq2x8; 3] {
        let theta = self.y.sub(&qy.mul(&self.z));
        let lambda = self.x.sub(&qx.mul(&self.z));
        let c = theta.square();
        let d = lambda.square();
        let e = lambda.mul(&d);
        let f = self.z.mul(&c);
        let g = self.x.mul(&d);
        let h = e.add(&f).sub(&g.double());
        self.x = lambda.mul(&h);
        self.y = theta.mul(&g.sub(&h)).sub(&e.mul(&self.y));
        self.z = self.z.mul(&e);
        let j = theta.mul(qx).sub(&lambda.mul(qy));
        [lambda, theta.neg(), j]
    }
}

/// `π(q)`, the Frobenius endomorphism through the twist.
#[target_feature(enable = "avx512f,avx512ifma")]
fn mul_by_characteristic((x, y): &(Fq2x8, Fq2x8)) -> (Fq2x8, Fq2x8) {
    (
        x.conjugate().mul(&Fq2x8::splat(<Config as BnConfig>::TWIST_MUL_BY_Q_X)),
        y.conjugate().mul(&Fq2x8::splat(<Config as BnConfig>::TWIST_MUL_BY_Q_Y)),
    )
}

/// Each lane's Miller loop `f_{6x+2,q}(p)` with the two Frobenius lines, for points other than
/// infinity.
#[target_feature(enable = "avx512f,avx512ifma")]
fn miller_loop_lanes(p: &(Vec52, Vec52), q: &(Fq2x8, Fq2x8)) -> Fq12x8 {
    let ate_loop_count = <Config as BnConfig>::ATE_LOOP_COUNT;
    let two_inverse = splat(Fq::ONE.double().inverse().expect("2 is invertible"));
    let twist_b = Fq2x8::splat(<ark_bn254::g2::Config as SWCurveConfig>::COEFF_B);
    let minus_q = (q.0, q.1.neg());
    let mut r = Projective { x: q.0, y: q.1, z: Fq2x8::splat(ark_bn254::Fq2::ONE) };
    let mut f = Fq12x8::one();
    for (i, digit) in ate_loop_count.iter().rev().skip(1).enumerate() {
        if i != 0 {
            f = f.square();
        }
        f.mul_by_line(r.double(&two_inverse, &twist_b), p);
        match digit {
            1 => f.mul_by_line(r.add(q), p),
            -1 => f.mul_by_line(r.add(&minus_q), p),
            _ => {}
        }
    }
    let q1 = mul_by_characteristic(q);
    let q2 = mul_by_characteristic(&q1);
    f.mul_by_line(r.add(&q1), p);
    f.mul_by_line(r.add(&(q2.0, q2.1.neg())), p);
    f
}

/// `Π f_{6x+2, qᵢ}(pᵢ)` with the Frobenius lines: the product of the pairs' Miller loops, before
/// the final exponentiation, equal to arkworks' `multi_miller_loop` of the same pairs. Pairs with
/// a point at infinity contribute 1, as in arkworks. Chunks of fewer than [`MIN_LANES_USED`] pairs
/// run on arkworks' loop.
///
/// # Panics
/// On a CPU without AVX-512F and IFMA (see [`super::available`]).
pub(crate) fn multi_miller_loop(pairs: &[(G1Affine, G2Affine)]) -> ark_bn254::Fq12 {
    assert!(super::available(), "AVX-512 IFMA is required");
    let finite: Vec<_> = pairs.iter().filter_map(|(p, q)| Some((p.xy()?, q.xy()?))).collect();
    let mut product = ark_bn254::Fq12::ONE;
    for chunk in finite.chunks(LANES) {
        if chunk.len() < MIN_LANES_USED {
            let (p, q): (Vec<G1Affine>, Vec<G2Affine>) = chunk
                .iter()
                .map(|&((px, py), (qx, qy))| {
                    (G1Affine::new_unchecked(px, py), G2Affine::new_unchecked(qx, qy))
                })
                .unzip();
            product *= ark_bn254::Bn254::multi_miller_loop(p, q).0;
            continue;
        }
        // Short chunks repeat their first pair in the spare lanes, whose results are dropped.
        let pair = |lane: usize| chunk.get(lane).unwrap_or(&chunk[0]);
        let px = std::array::from_fn(|lane| pair(lane).0.0);
        let py = std::array::from_fn(|lane| pair(lane).0.1);
        let qx = std::array::from_fn(|lane| pair(lane).1.0);
        let qy = std::array::from_fn(|lane| pair(lane).1.1);
        // SAFETY: the CPU has AVX-512F and IFMA (asserted above).
        let values = unsafe {
            let p = (load(px), load(py));
            let q = (Fq2x8::load(qx), Fq2x8::load(qy));
            miller_loop_lanes(&p, &q).store()
        };
        product = values[..chunk.len()].iter().fold(product, |product, value| product * value);
    }
    product
}

/// A G1 point in Jacobian coordinates `(x/z², y/z³)`, in every lane.
struct Jacobian {
    x: Vec52,
    y: Vec52,
    z: Vec52,
}

impl Jacobian {
    /// `2·self` (dbl-2009-l, for `y² = x³ + b`); BN254's G1 has no point of order two.
    #[target_feature(enable = "avx512f,avx512ifma")]
    fn double(&self) -> Self {
        let a = mul(&self.x, &self.x);
        let b = mul(&self.y, &self.y);
        let c = mul(&b, &b);
        let x_plus_b = add(&self.x, &b);
        let d = sub(&sub(&mul(&x_plus_b, &x_plus_b), &a), &c);
        let d = add(&d, &d);
        let e = add(&add(&a, &a), &a);
        let f = mul(&e, &e);
        let x = sub(&f, &add(&d, &d));
        let eight_c = add(&c, &c);
        let eight_c = add(&eight_c, &eight_c);
        let eight_c = add(&eight_c, &eight_c);
        let y = sub(&mul(&e, &sub(&d, &x)), &eight_c);
        let yz = mul(&self.y, &self.z);
        Self { x, y, z: add(&yz, &yz) }
    }

    /// `self + (px, py)` (madd-2007-bl) for `self ≠ ±p` and neither at infinity.
    #[target_feature(enable = "avx512f,avx512ifma")]
    fn add_affine(&self, (px, py): &(Vec52, Vec52)) -> Self {
        let z1z1 = mul(&self.z, &self.z);
        let u2 = mul(px, &z1z1);
        let s2 = mul(&mul(py, &self.z), &z1z1);
        let h = sub(&u2, &self.x);
        let hh = mul(&h, &h);
        let i = add(&hh, &hh);
        let i = add(&i, &i);
        let j = mul(&h, &i);
        let r = sub(&s2, &self.y);
        let r = add(&r, &r);
        let v = mul(&self.x, &i);
        let x = sub(&sub(&mul(&r, &r), &j), &add(&v, &v));
        let y_j = mul(&self.y, &j);
        let y = sub(&mul(&r, &sub(&v, &x)), &add(&y_j, &y_j));
        let z_plus_h = add(&self.z, &h);
        let z = sub(&sub(&mul(&z_plus_h, &z_plus_h), &z1z1), &hh);
        Self { x, y, z }
    }

    /// `other` in the lanes of `mask`, `self` in the rest.
    #[target_feature(enable = "avx512f,avx512ifma")]
    fn select(&self, other: &Self, mask: __mmask8) -> Self {
        let blend = |a: &Vec52, b: &Vec52| {
            std::array::from_fn(|l| _mm512_mask_blend_epi64(mask, a[l], b[l]))
        };
        Self {
            x: blend(&self.x, &other.x),
            y: blend(&self.y, &other.y),
            z: blend(&self.z, &other.z),
        }
    }
}

/// `rᵢ·pᵢ` for weights of exactly 128 bits (the top bit set), eight points at a time by
/// double-and-add: each lane starts at its point, then 127 doublings, each followed by an
/// addition kept where the lane's bit is set. The sums stay away from the formulas' exceptions
/// (infinity, adding `±p`): they are `kᵢ·pᵢ` with `2 ≤ kᵢ < 2^128`, far below the group's prime
/// order. That holds for points of the curve, which the proofs' decoding checks (an off-curve
/// point may have a small order). Points at infinity give infinity.
///
/// # Panics
/// On a CPU without AVX-512F and IFMA (see [`super::available`]), or for a weight without the top
/// bit.
pub(crate) fn weigh(points: &[G1Affine], weights: &[u128]) -> Vec<G1Projective> {
    assert!(super::available(), "AVX-512 IFMA is required");
    assert!(weights.iter().all(|r| r >> 127 == 1), "weights have their top bit set");
    debug_assert!(points.iter().all(|p| p.is_on_curve()), "points of the curve");
    let mut out = Vec::with_capacity(points.len());
    for (points, weights) in points.chunks(LANES).zip(weights.chunks(LANES)) {
        // Points at infinity (and spare lanes) compute with the generator; their results are dropped.
        let point = |lane: usize| {
            points
                .get(lane)
                .and_then(|p| p.xy())
                .unwrap_or_else(|| G1Affine::generator().xy().expect("the generator is finite"))
        };
        let weight = |lane: usize| weights.get(lane).copied().unwrap_or(1 << 127);
        // SAFETY: the CPU has AVX-512F and IFMA (asserted above).
        let (x, y, z) = unsafe {
            let p = (
                load(std::array::from_fn(|lane| point(lane).0)),
                load(std::array::from_fn(|lane| point(lane).1)),
            );
            let mut sum = Jacobian { x: p.0, y: p.1, z: splat(Fq::ONE) };
            for bit in (0..127).rev() {
                sum = sum.double();
                let mask = (0..LANES)
                    .fold(0, |mask, lane| mask | (((weight(lane) >> bit) & 1) as u8) << lane);
                sum = sum.select(&sum.add_affine(&p), mask);
            }
            (store(&sum.x), store(&sum.y), store(&sum.z))
        };
        out.extend(points.iter().enumerate().map(|(lane, p)| {
            if p.is_zero() {
                G1Projective::zero()
            } else {
                G1Projective::new_unchecked(x[lane], y[lane], z[lane])
            }
        }));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use ark_bn254::Bn254;
    use ark_ec::{CurveGroup, pairing::Pairing};
    use ark_ff::{One, UniformRand};
    use rand::SeedableRng;
    use rand_chacha::ChaCha20Rng;

    #[test]
    fn weighing_equals_arkworks_scalar_multiplication() {
        if !super::super::available() {
            eprintln!("skipped: this CPU has no AVX-512 IFMA");
            return;
        }
        let mut rng = ChaCha20Rng::seed_from_u64(13);
        for count in [1, 8, 11] {
            let mut points: Vec<G1Affine> = (0..count).map(|_| G1Affine::rand(&mut rng)).collect();
            points[0] = G1Affine::zero();
            let mut weights: Vec<u128> =
                (0..count).map(|_| u128::rand(&mut rng) | 1 << 127).collect();
            // the smallest and largest weights, all ones and all zeros below the top bit
            weights[count - 1] = 1 << 127;
            if count > 1 {
                weights[1] = u128::MAX;
            }
            let ours = weigh(&points, &weights);
            for ((p, r), ours) in points.iter().zip(&weights).zip(ours) {
                assert_eq!(ours, *p * ark_bn254::Fr::from(*r), "{count} points");
            }
        }
    }

    #[test]
    fn miller_loops_equal_arkworks_for_full_and_short_chunks_and_infinity() {
        if !super::super::available() {
            eprintln!("skipped: this CPU has no AVX-512 IFMA");
            return;
        }
        let mut rng = ChaCha20Rng::seed_from_u64(12);
        // One pair runs on arkworks' loop; three use the lanes, eleven a full chunk and three.
        for count in [1, 3, 8, 11] {
            let mut pairs: Vec<(G1Affine, G2Affine)> =
                (0..count).map(|_| (G1Affine::rand(&mut rng), G2Affine::rand(&mut rng))).collect();
            let expected = Bn254::multi_miller_loop(
                pairs.iter().map(|pair| pair.0),
                pairs.iter().map(|pair| pair.1),
            );
            assert_eq!(multi_miller_loop(&pairs), expected.0, "{count} pairs");
            // Pairs with a point at infinity change nothing.
            pairs.push((G1Affine::zero(), pairs[0].1));
            pairs.insert(1, (pairs[0].0, G2Affine::zero()));
            assert_eq!(multi_miller_loop(&pairs), expected.0, "{count} pairs and infinity");
        }
        assert_eq!(multi_miller_loop(&[]), ark_bn254::Fq12::ONE);
        // e(2p, q)·e(p, −2q) = 1
        let (p, q) = (G1Affine::rand(&mut rng), G2Affine::rand(&mut rng));
        let pairs = [((p + p).into_affine(), q), (p, (-(q + q)).into_affine())];
        let product = Bn254::final_exponentiation(ark_ec::pairing::MillerLoopOutput(
            multi_miller_loop(&pairs),
        ));
        assert!(product.is_some_and(|value| value.0.is_one()));
    }
}
