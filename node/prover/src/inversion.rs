//! Modular inversion by Bernstein–Yang divsteps, in variable time.
//!
//! The witness calculator divides thousands of times per proof and arkworks' binary extended
//! Euclid takes about 7 µs per inverse here. Bernstein and Yang's divstep (eprint 2019/266)
//! needs only the low bits of its two numbers for many steps in a row: each batch decides 62
//! divsteps from the low 64 bits of `f` and `g`, records them as a 2×2 matrix scaled by `2^62`,
//! and applies that matrix once to the full-width numbers.
//!
//! Starting from `f = M`, `g = x`, `d = 0`, `e = 1`, every batch keeps `f ≡ d·x` and `g ≡ e·x`
//! (mod `M`). When `g` reaches zero, `f = ±gcd(M, x)`, so for `f = ±1` the inverse is `±d`.
//! Timing depends on `x`; the witness is the prover's own, computed on its own machine.

use crate::limbs;
use ark_ff::{BigInt, PrimeField};

/// Bits per limb of [`Signed`] and divsteps per batch.
const BATCH: u32 = 62;
const MASK: i64 = (1 << BATCH) - 1;
const LIMBS: usize = 5;
/// Far above the 741 divsteps that bound any 256-bit input (safegcd's bounds).
const MAX_BATCHES: usize = 20;

/// `Σ limbs[i]·2^(62i)`: limbs 0–3 in `[0, 2^62)`, the top limb signed.
type Signed = [i64; LIMBS];

/// Inverts modulo one odd modulus below `2^256`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Inverter {
    modulus: Signed,
    /// `M⁻¹ mod 2^62`.
    modulus_inverse: u64,
}

/// Inverts every nonzero element of `values` in place with one modular inversion (Montgomery's
/// trick: the running products, one inverse of the last, and a walk back that peels each
/// element's inverse off it); zeros stay zero, as circom's calculator divides by them.
/// `prefixes` is scratch space, for callers that invert often.
pub(crate) fn batch_invert<F: PrimeField<BigInt = BigInt<4>>>(
    values: &mut [F],
    prefixes: &mut Vec<F>,
) {
    prefixes.clear();
    let mut product = F::ONE;
    for value in values.iter() {
        prefixes.push(product);
        if !value.is_zero() {
            product *= value;
        }
    }
    let inverter = Inverter::new(F::MODULUS.0);
    let mut inverse = inverter
        .invert(product.into_bigint().0)
        .and_then(|words| F::from_bigint(BigInt(words)))
        .unwrap_or_default();
    for (value, prefix) in values.iter_mut().zip(prefixes.iter()).rev() {
        if !value.is_zero() {
            (*value, inverse) = (inverse * prefix, inverse * *value);
        }
    }
}

/// A batch of divsteps: `2^62·(f', g') = (u·f + v·g, q·f + r·g)`.
struct Transition {
    u: i64,
    v: i64,
    q: i64,
    r: i64,
}

impl Inverter {
    /// The inverter for an odd `modulus` (little-endian 64-bit words).
    pub(crate) const fn new(modulus: [u64; 4]) -> Self {
        let inverse = limbs::inverse_mod_word(modulus[0]);
        Self { modulus: to_signed(modulus), modulus_inverse: inverse & MASK as u64 }
    }

    /// `x⁻¹ mod M` for `x < M`; `None` when `x` has no inverse (zero, for a prime `M`).
    pub(crate) fn invert(&self, x: [u64; 4]) -> Option<[u64; 4]> {
        let (mut f, mut g) = (self.modulus, to_signed(x));
        let (mut d, mut e) = ([0; LIMBS], to_signed([1, 0, 0, 0]));
        let mut delta = 1i64;
        for _ in 0..MAX_BATCHES {
            if g == [0; LIMBS] {
                break;
            }
            let step;
            (delta, step) = divsteps(delta, f[0] as u64, g[0] as u64);
            (f, g) = (combine(&step, &f, &g, Row::F), combine(&step, &f, &g, Row::G));
            (d, e) =
                (self.combine_mod(&step, &d, &e, Row::F), self.combine_mod(&step, &d, &e, Row::G));
        }
        let one = to_signed([1, 0, 0, 0]);
        if g != [0; LIMBS] {
            None
        } else if f == one {
            Some(from_signed(&d))
        } else if negate(&f) == one {
            Some(from_signed(&self.reduce(negate(&d))))
        } else {
            None
        }
    }

    /// One row of `T·(d, e)/2^62 mod M`, in `[0, M)` for `d, e` in `[0, M)`. A multiple of `M`
    /// chosen from the low limbs makes the division exact.
    fn combine_mod(&self, step: &Transition, d: &Signed, e: &Signed, row: Row) -> Signed {
        let (a, b) = row.coefficients(step);
        let low =
            (a as u64).wrapping_mul(d[0] as u64).wrapping_add((b as u64).wrapping_mul(e[0] as u64));
        let m = (low.wrapping_mul(self.modulus_inverse).wrapping_neg() & MASK as u64) as i128;
        let term = |i: usize| {
            a as i128 * d[i] as i128 + b as i128 * e[i] as i128 + m * self.modulus[i] as i128
        };
        // |u|, |v| ≤ 2^62 and d, e, m < M: the sum lies in (−M, 2M) after the shift.
        self.reduce(shift_out(term))
    }

    /// `value mod M` for `value` in `(−M, 2M)`.
    fn reduce(&self, value: Signed) -> Signed {
        if value[LIMBS - 1] < 0 {
            return add(&value, &self.modulus);
        }
        let lowered = add(&value, &negate(&self.modulus));
        if lowered[LIMBS - 1] < 0 { value } else { lowered }
    }
}

#[derive(Clone, Copy)]
enum Row {
    F,
    G,
}

impl Row {
    fn coefficients(self, step: &Transition) -> (i64, i64) {
        match self {
            Self::F => (step.u, step.v),
            Self::G => (step.q, step.r),
        }
    }
}

/// 62 divsteps decided by the low 64 bits of `f` (odd) and `g`: `δ > 0` and `g` odd swaps
/// `(f, g) ← (g, (g − f)/2)` and negates `δ − 1`; otherwise `g ← (g + (g mod 2)·f)/2` and `δ`
/// grows by one. Step `k` reads bit 0 of numbers whose low `64 − k` bits are still exact.
fn divsteps(mut delta: i64, mut f: u64, mut g: u64) -> (i64, Transition) {
    let (mut u, mut v, mut q, mut r) = (1i64, 0i64, 0i64, 1i64);
    let mut remaining = BATCH;
    while remaining > 0 {
        if g & 1 == 0 {
            // A run of even steps at once: halve g, double f's row.
            let zeros = g.trailing_zeros().min(remaining);
            g >>= zeros;
            (u, v) = (u << zeros, v << zeros);
            delta += i64::from(zeros);
            remaining -= zeros;
            continue;
        }
        if delta > 0 {
            (f, g) = (g, g.wrapping_sub(f) >> 1);
            (u, v, q, r) = (q << 1, r << 1, q - u, r - v);
            delta = 1 - delta;
        } else {
            g = g.wrapping_add(f) >> 1;
            (u, v, q, r) = (u << 1, v << 1, q + u, r + v);
            delta += 1;
        }
        remaining -= 1;
    }
    (delta, Transition { u, v, q, r })
}

/// One row of `T·(f, g)/2^62`, exact by construction of `T`.
fn combine(step: &Transition, f: &Signed, g: &Signed, row: Row) -> Signed {
    let (a, b) = row.coefficients(step);
    shift_out(|i| a as i128 * f[i] as i128 + b as i128 * g[i] as i128)
}

/// `Σ term(i)·2^(62i) / 2^62` for terms whose sum is divisible by `2^62`.
fn shift_out(term: impl Fn(usize) -> i128) -> Signed {
    let mut out = [0; LIMBS];
    let mut carry = term(0) >> BATCH;
    for i in 1..LIMBS {
        carry += term(i);
        out[i - 1] = carry as i64 & MASK;
        carry >>= BATCH;
    }
    out[LIMBS - 1] = carry as i64;
    out
}

fn add(a: &Signed, b: &Signed) -> Signed {
    carried(std::array::from_fn(|i| a[i] + b[i]))
}

fn negate(a: &Signed) -> Signed {
    carried(a.map(|limb| -limb))
}

/// Moves each limb's bits above 62 into the next limb; the top limb keeps the sign.
fn carried(mut limbs: Signed) -> Signed {
    for i in 0..LIMBS - 1 {
        let carry = limbs[i] >> BATCH;
        limbs[i] &= MASK;
        limbs[i + 1] += carry;
    }
    limbs
}

const fn to_signed(words: [u64; 4]) -> Signed {
    let limbs = limbs::split(words, BATCH as usize);
    let mut out = [0; LIMBS];
    let mut i = 0;
    while i < LIMBS {
        out[i] = limbs[i] as i64;
        i += 1;
    }
    out
}

/// The words of a value in `[0, 2^256)`.
fn from_signed(limbs: &Signed) -> [u64; 4] {
    limbs::join(&limbs.map(|limb| limb as u64), BATCH as usize)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ark_ff::{AdditiveGroup, Field, UniformRand};
    use rand::SeedableRng;
    use rand_chacha::ChaCha20Rng;

    fn agrees_with_arkworks<F: PrimeField<BigInt = ark_ff::BigInt<4>>>() {
        let inverter = Inverter::new(F::MODULUS.0);
        let mut rng = ChaCha20Rng::seed_from_u64(21);
        let mut values = vec![F::ONE, -F::ONE, F::from(2u64), F::from(1u64 << 62), -F::from(3u64)];
        values.extend((0..2000).map(|_| F::rand(&mut rng)));
        let mut power = F::ONE;
        for _ in 0..256 {
            values.push(power);
            power.double_in_place();
        }
        for x in values {
            let expected = x.inverse().map(|inverse| inverse.into_bigint().0);
            assert_eq!(inverter.invert(x.into_bigint().0), expected, "x = {x}");
        }
        assert_eq!(inverter.invert([0; 4]), None);
    }

    #[test]
    fn inverts_like_arkworks_in_both_bn254_fields() {
        agrees_with_arkworks::<ark_bn254::Fr>();
        agrees_with_arkworks::<ark_bn254::Fq>();
    }

    #[test]
    fn batch_inversion_inverts_each_element_and_keeps_zeros() {
        let mut rng = ChaCha20Rng::seed_from_u64(5);
        let mut values: Vec<ark_bn254::Fr> =
            (0..40).map(|_| ark_bn254::Fr::rand(&mut rng)).collect();
        for zero in [0, 17, 39] {
            values[zero] = ark_bn254::Fr::ZERO;
        }
        let expected: Vec<_> = values.iter().map(|x| x.inverse().unwrap_or_default()).collect();
        batch_invert(&mut values, &mut Vec::new());
        assert_eq!(values, expected);
        let mut zeros = vec![ark_bn254::Fq::ZERO; 3];
        batch_invert(&mut zeros, &mut Vec::new());
        assert_eq!(zeros, vec![ark_bn254::Fq::ZERO; 3]);
        batch_invert::<ark_bn254::Fq>(&mut [], &mut Vec::new());
    }

    #[test]
    fn refuses_a_common_factor() {
        // 15 and 10 share 5.
        assert_eq!(Inverter::new([15, 0, 0, 0]).invert([10, 0, 0, 0]), None);
        assert_eq!(Inverter::new([15, 0, 0, 0]).invert([7, 0, 0, 0]), Some([13, 0, 0, 0]));
    }

    #[test]
    fn limbs_round_trip() {
        let words = ark_bn254::Fr::MODULUS.0;
        assert_eq!(from_signed(&to_signed(words)), words);
        assert_eq!(from_signed(&to_signed([u64::MAX; 4])), [u64::MAX; 4]);
    }
}
