//! Baby Jubjub in circomlib's form: `168700·x² + y² = 1 + 168696·x²·y²` over BN254's `Fr`.
//!
//! Points are affine `(x, y)` at the API; arithmetic runs in projective coordinates with the
//! complete twisted Edwards addition law, so no input makes it divide by zero. Scalars of the
//! prime-order subgroup are [`Scalar`] (arkworks' `ed_on_bn254::Fr`, whose modulus is
//! circomlib's `subOrder`).

use crate::{Fr, PrimitivesError, field::sha256_to_fr, poseidon::poseidon_n};
use ark_ff::{AdditiveGroup, BigInteger, Field, MontFp, PrimeField};
use num_bigint::BigUint;
use std::sync::LazyLock;

/// Scalar field of the prime-order subgroup (modulus = circomlib `subOrder`).
pub type Scalar = ark_ed_on_bn254::Fr;

/// Curve coefficient `a`.
pub const COEFF_A: Fr = MontFp!("168700");
/// Curve coefficient `d`.
pub const COEFF_D: Fr = MontFp!("168696");
/// The cofactor of the curve.
pub const COFACTOR: u64 = 8;

/// circomlib's `Base8`: generator of the prime-order subgroup used by EdDSA.
pub const BASE8: Point = Point {
    x: MontFp!("5299619240641551281634865583518297030282874472190772894086521144482721001553"),
    y: MontFp!("16950150798460657717958625567821834550301663161624707787222815936182638968203"),
};

/// The neutral element `(0, 1)`.
pub const IDENTITY: Point = Point { x: Fr::ZERO, y: Fr::ONE };

/// An affine point on Baby Jubjub.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Point {
    /// x coordinate.
    pub x: Fr,
    /// y coordinate.
    pub y: Fr,
}

#[derive(Clone, Copy)]
struct Projective {
    x: Fr,
    y: Fr,
    z: Fr,
}

impl Projective {
    const IDENTITY: Self = Self { x: Fr::ZERO, y: Fr::ONE, z: Fr::ONE };

    fn from_affine(p: &Point) -> Self {
        Self { x: p.x, y: p.y, z: Fr::ONE }
    }

    /// Complete addition for twisted Edwards curves in projective coordinates ("add-2008-bbjlp").
    fn add(&self, o: &Self) -> Self {
        let a = self.z * o.z;
        let b = a.square();
        let c = self.x * o.x;
        let d = self.y * o.y;
        let e = COEFF_D * c * d;
        let f = b - e;
        let g = b + e;
        let x3 = a * f * ((self.x + self.y) * (o.x + o.y) - c - d);
        let y3 = a * g * (d - COEFF_A * c);
        Self { x: x3, y: y3, z: f * g }
    }

    fn to_affine(self) -> Point {
        // z is never zero: the complete law keeps f and g non-zero because `d` is a non-square.
        let zinv = self.z.inverse().unwrap_or(Fr::ZERO);
        Point { x: self.x * zinv, y: self.y * zinv }
    }
}

/// Multiples of one fixed point, precomputed so `e·P` costs one addition per 4 bits of `e` and
/// no doubling: `table[w][j] = j·16^w·P`. Signing (`Base8`) and settling (`G`) use it; results
/// equal [`Point::mul_biguint`]'s.
pub struct FixedBase {
    point: Point,
    table: Vec<[Projective; 16]>,
}

impl std::fmt::Debug for FixedBase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FixedBase")
            .field("point", &self.point)
            .field("bits", &(self.table.len() * 4))
            .finish()
    }
}

impl FixedBase {
    /// The table of `point` for scalars of up to `bits` bits.
    pub fn new(point: &Point, bits: u64) -> Self {
        let mut base = Projective::from_affine(point);
        let table = (0..bits.div_ceil(4))
            .map(|_| {
                let mut row = [Projective::IDENTITY; 16];
                for j in 1..16 {
                    row[j] = row[j - 1].add(&base);
                }
                base = row[15].add(&base);
                row
            })
            .collect();
        Self { point: *point, table }
    }

    /// `e·P`; scalars wider than the table fall back to double-and-add.
    pub fn mul(&self, e: &BigUint) -> Point {
        if e.bits() > self.table.len() as u64 * 4 {
            return self.point.mul_biguint(e);
        }
        let mut acc = Projective::IDENTITY;
        for (w, nibble) in e.to_bytes_le().iter().flat_map(|b| [b & 15, b >> 4]).enumerate() {
            if nibble != 0 {
                acc = acc.add(&self.table[w][usize::from(nibble)]);
            }
        }
        acc.to_affine()
    }

    /// The table of `Base8` for subgroup scalars and EdDSA secrets (256 bits).
    pub fn base8() -> &'static Self {
        static TABLE: std::sync::OnceLock<FixedBase> = std::sync::OnceLock::new();
        TABLE.get_or_init(|| Self::new(&BASE8, 256))
    }
}

impl Point {
    /// Builds a point, checking the curve equation.
    pub fn new(x: Fr, y: Fr) -> Result<Self, PrimitivesError> {
        let p = Self { x, y };
        if p.is_on_curve() { Ok(p) } else { Err(PrimitivesError::NotOnCurve { x, y }) }
    }

    /// Builds a point, checking the curve equation and membership of the prime-order subgroup.
    pub fn new_in_subgroup(x: Fr, y: Fr) -> Result<Self, PrimitivesError> {
        let p = Self::new(x, y)?;
        if p.is_in_subgroup() { Ok(p) } else { Err(PrimitivesError::NotInSubgroup { x, y }) }
    }

    /// Whether `a·x² + y² = 1 + d·x²·y²`.
    pub fn is_on_curve(&self) -> bool {
        let x2 = self.x.square();
        let y2 = self.y.square();
        COEFF_A * x2 + y2 == Fr::ONE + COEFF_D * x2 * y2
    }

    /// Whether `subOrder · P` is the identity.
    pub fn is_in_subgroup(&self) -> bool {
        self.is_on_curve() && self.mul_biguint(&Scalar::MODULUS.into()) == IDENTITY
    }

    /// Point addition.
    pub fn add(&self, other: &Self) -> Self {
        Projective::from_affine(self).add(&Projective::from_affine(other)).to_affine()
    }

    /// Point doubling.
    pub fn double(&self) -> Self {
        self.add(self)
    }

    /// `e · P` for an integer `e` of any size (double-and-add from the top bit).
    pub fn mul_biguint(&self, e: &BigUint) -> Self {
        let base = Projective::from_affine(self);
        let mut acc = Projective::IDENTITY;
        for i in (0..e.bits()).rev() {
            acc = acc.add(&acc);
            if e.bit(i) {
                acc = acc.add(&base);
            }
        }
        acc.to_affine()
    }

    /// `e · P` for a subgroup scalar.
    pub fn mul_scalar(&self, e: &Scalar) -> Self {
        self.mul_biguint(&e.into_bigint().into())
    }

    /// `e · P` for a small integer.
    pub fn mul_u128(&self, e: u128) -> Self {
        self.mul_biguint(&BigUint::from(e))
    }

    /// Hashes a domain string to a point of the prime-order subgroup.
    ///
    /// Try-and-increment: `d = SHA-256(domain) mod p`; for `c = 0, 1, …`: `y = Poseidon(d, c)`,
    /// `x² = (1 − y²)/(a − d·y²)`; when `x²` is a square take the root `x ≤ (p−1)/2`, and
    /// return `8·(x, y)` unless it is the identity. Nobody knows a discrete log between two
    /// points made this way. Spec: `spec/02-cryptography.md#generators`.
    pub fn hash_to_curve(domain: &str) -> HashToCurve {
        let d = sha256_to_fr(domain.as_bytes());
        let half = BigUint::from(Fr::MODULUS) >> 1;
        let mut counter = 0u64;
        loop {
            let y = poseidon_n([d, Fr::from(counter)]);
            let y2 = y.square();
            let denom = COEFF_A - COEFF_D * y2;
            let x2 = denom.inverse().map(|inv| (Fr::ONE - y2) * inv);
            if let Some(mut x) = x2.and_then(|x2| x2.sqrt()) {
                if BigUint::from(x.into_bigint()) > half {
                    x = -x;
                }
                let point = Self { x, y }.mul_u128(u128::from(COFACTOR));
                if point != IDENTITY {
                    return HashToCurve { point, counter };
                }
            }
            counter += 1;
        }
    }

    /// `packPoint` from circomlibjs: `y` little-endian with the sign of `x` in the top bit.
    pub fn compress(&self) -> [u8; 32] {
        let mut out = [0u8; 32];
        out.copy_from_slice(&self.y.into_bigint().to_bytes_le());
        if BigUint::from(self.x.into_bigint()) > (BigUint::from(Fr::MODULUS) >> 1) {
            out[31] |= 0x80;
        }
        out
    }
}

/// The result of [`Point::hash_to_curve`]: the point and the counter that produced it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HashToCurve {
    /// The generator (already multiplied by the cofactor).
    pub point: Point,
    /// The first counter value that gave a point.
    pub counter: u64,
}

/// The four fixed generators of state commitments, `A = R·G + n·N + t·T + ρ·H`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Generators {
    /// Multiplies the refunded total `R`.
    pub g: Point,
    /// Multiplies the ticket index `n`.
    pub n: Point,
    /// Multiplies the owner tag `t`.
    pub t: Point,
    /// Multiplies the blinding `ρ`.
    pub h: Point,
}

impl Generators {
    /// The domain strings the generators are hashed from, in the order `G, N, T, H`.
    pub const DOMAINS: [&'static str; 4] = [
        "zkcredits/v1/generator/G",
        "zkcredits/v1/generator/N",
        "zkcredits/v1/generator/T",
        "zkcredits/v1/generator/H",
    ];

    /// The generators, derived once per process.
    pub fn get() -> &'static Self {
        static GENERATORS: LazyLock<Generators> = LazyLock::new(|| {
            let [g, n, t, h] = Generators::DOMAINS.map(|d| Point::hash_to_curve(d).point);
            Generators { g, n, t, h }
        });
        &GENERATORS
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn fixed_base_tables_agree_with_double_and_add() {
        let table = FixedBase::new(&BASE8, 64);
        for e in [0u128, 1, 15, 16, 255, 0xdead_beef, u128::from(u64::MAX)] {
            let e = BigUint::from(e);
            assert_eq!(table.mul(&e), BASE8.mul_biguint(&e), "{e}");
        }
        let wide = BigUint::from(u128::MAX) * 12_345u32;
        assert_eq!(table.mul(&wide), BASE8.mul_biguint(&wide), "wider than the table");
        let order: BigUint = Scalar::MODULUS.into();
        assert_eq!(FixedBase::base8().mul(&order), IDENTITY);
        let big = &order - 1u32;
        assert_eq!(FixedBase::base8().mul(&big), BASE8.mul_biguint(&big));
    }

    use super::*;

    #[test]
    fn base8_is_in_the_subgroup() {
        assert!(BASE8.is_in_subgroup());
        assert!(!Point { x: Fr::ONE, y: Fr::ONE }.is_on_curve());
    }

    #[test]
    fn addition_matches_scalar_multiplication() {
        let p = BASE8.mul_u128(5);
        assert_eq!(p, BASE8.double().double().add(&BASE8));
        assert_eq!(BASE8.add(&IDENTITY), BASE8);
        let minus = Point { x: -BASE8.x, y: BASE8.y };
        assert_eq!(BASE8.add(&minus), IDENTITY);
    }

    #[test]
    fn generators_are_distinct_subgroup_points() {
        let g = Generators::get();
        let all = [g.g, g.n, g.t, g.h];
        for (i, p) in all.iter().enumerate() {
            assert!(p.is_in_subgroup());
            assert!(all[i + 1..].iter().all(|q| q != p));
        }
    }
}
