//! The quotient `h` of Groth16's QAP: the polynomial the prover commits to with the `H` query.
//!
//! Two reductions are in use: arkworks' (libsnark's), for the keys our dev setup makes, and
//! circom's, for keys from a snarkjs ceremony. Both evaluate the constraint rows at the
//! witness, interpolate, and re-evaluate on a shifted domain; they differ in the shift and in
//! what they return. Where the CPU has AVX-512 IFMA the transforms run in [`crate::ifma::ntt`]
//! (the results are the same field elements); elsewhere arkworks and ark-circom compute them.

use crate::ProverError;
use ark_bn254::Fr;
use ark_circom::CircomReduction;
use ark_ff::{BigInt, FftField, Field, PrimeField};
use ark_groth16::r1cs_to_qap::{LibsnarkReduction, R1CSToQAP};
use ark_poly::{EvaluationDomain, GeneralEvaluationDomain, Radix2EvaluationDomain};
#[cfg(target_arch = "x86_64")]
use std::sync::{Arc, Mutex, OnceLock};

/// Which R1CS-to-QAP reduction a proving key was made for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Reduction {
    /// arkworks' (libsnark's): `h` in coefficients, from evaluations on the coset `g·H`.
    Libsnark,
    /// circom's (snarkjs keys): `h` as evaluations on the odd powers of `ω_{2n}`.
    Circom,
}

/// Constraint matrices as rows of `(coefficient, wire)`.
type Matrices = [Vec<Vec<(Fr, usize)>>; 3];

/// The quotient's scalars for the `H` query, as canonical integers.
pub(crate) fn quotient(
    reduction: Reduction,
    matrices: &Matrices,
    num_inputs: usize,
    num_constraints: usize,
    witness: &[Fr],
) -> Result<Vec<BigInt<4>>, ProverError> {
    #[cfg(target_arch = "x86_64")]
    {
        let size = (num_constraints + num_inputs).next_power_of_two();
        if crate::ifma::available() && size >= crate::ifma::ntt::MIN_SIZE {
            return Ok(quotient_ifma(reduction, matrices, num_inputs, num_constraints, witness));
        }
    }
    let h = match reduction {
        Reduction::Libsnark => LibsnarkReduction::witness_map_from_matrices::<
            Fr,
            GeneralEvaluationDomain<Fr>,
        >(matrices, num_inputs, num_constraints, witness),
        Reduction::Circom => CircomReduction::witness_map_from_matrices::<
            Fr,
            GeneralEvaluationDomain<Fr>,
        >(matrices, num_inputs, num_constraints, witness),
    }
    .map_err(|e| ProverError::Prove(e.to_string()))?;
    Ok(h.iter().map(|h| h.into_bigint()).collect())
}

/// What a reduction needs for one domain size: its transforms, the factors applied between the
/// inverse and the forward transform, and (libsnark) after the last inverse transform.
#[cfg(target_arch = "x86_64")]
struct Tables {
    transforms: crate::ifma::ntt::Transforms,
    /// In bit-reversed order `r`: `s^rev(r)/n`, the shift `s` times the inverse's `1/n`.
    shift: crate::ifma::ntt::Poly,
    /// Libsnark: `s^−rev(r)/(n·Z(s))`, unshifting and dividing by the vanishing polynomial.
    unshift: Option<crate::ifma::ntt::Poly>,
}

#[cfg(target_arch = "x86_64")]
impl Tables {
    /// The tables of `reduction` for domains of `size`, built once per process.
    fn cached(reduction: Reduction, size: usize) -> Arc<Self> {
        type Cache = Mutex<Vec<((Reduction, usize), Arc<Tables>)>>;
        static CACHE: OnceLock<Cache> = OnceLock::new();
        let mut cache =
            CACHE.get_or_init(Default::default).lock().unwrap_or_else(|e| e.into_inner());
        if let Some((_, tables)) = cache.iter().find(|(key, _)| *key == (reduction, size)) {
            return Arc::clone(tables);
        }
        let tables = Arc::new(Self::new(reduction, size));
        cache.push(((reduction, size), Arc::clone(&tables)));
        tables
    }

    fn new(reduction: Reduction, size: usize) -> Self {
        use crate::ifma::ntt::{Poly, Transforms};
        let domain = |size: usize| {
            Radix2EvaluationDomain::<Fr>::new(size)
                .unwrap_or_else(|| unreachable!("BN254's scalar field has 2^28-th roots of unity"))
        };
        let shift = match reduction {
            Reduction::Libsnark => Fr::GENERATOR,
            Reduction::Circom => domain(2 * size).group_gen(),
        };
        let bits = size.trailing_zeros();
        let reversed = |r: usize| (r.reverse_bits() >> (usize::BITS - bits)) as u64;
        let size_inverse = domain(size).size_inv();
        let powers = |base: Fr, factor: Fr| -> Vec<Fr> {
            (0..size).map(|r| factor * base.pow([reversed(r)])).collect()
        };
        let unshift = (reduction == Reduction::Libsnark).then(|| {
            let vanishing = domain(size).evaluate_vanishing_polynomial(shift);
            let factor = size_inverse
                * vanishing.inverse().unwrap_or_else(|| unreachable!("g is outside the domain"));
            let shift_inverse = shift.inverse().unwrap_or_else(|| unreachable!("g is nonzero"));
            Poly::from_values(&powers(shift_inverse, factor), size)
        });
        Self {
            transforms: Transforms::new(size, domain(size).group_gen()),
            shift: Poly::from_values(&powers(shift, size_inverse), size),
            unshift,
        }
    }
}

/// [`quotient`] with the transforms on IFMA lanes.
#[cfg(target_arch = "x86_64")]
fn quotient_ifma(
    reduction: Reduction,
    matrices: &Matrices,
    num_inputs: usize,
    num_constraints: usize,
    witness: &[Fr],
) -> Vec<BigInt<4>> {
    use crate::ifma::ntt::Poly;
    use rayon::prelude::*;

    let size = (num_constraints + num_inputs).next_power_of_two();
    let row = |terms: &Vec<(Fr, usize)>| -> Fr {
        terms.iter().map(|(coefficient, wire)| *coefficient * witness[*wire]).sum()
    };
    let rows = |matrix: &Vec<Vec<(Fr, usize)>>| -> Vec<Fr> {
        matrix.par_iter().take(num_constraints).map(row).collect()
    };
    let mut a = rows(&matrices[0]);
    // The inputs' rows keep the public inputs independent of each other (libsnark, circom alike).
    a.extend_from_slice(&witness[..num_inputs]);
    let b = rows(&matrices[1]);
    let c = match reduction {
        Reduction::Libsnark => rows(&matrices[2]),
        Reduction::Circom => a.iter().zip(&b).map(|(a, b)| *a * b).collect(),
    };
    let tables = Tables::cached(reduction, size);
    // Coefficients (inverse transform), shifted, evaluated on the shifted domain.
    let shifted = |values: &[Fr]| {
        let mut poly = Poly::from_values(values, size);
        tables.transforms.inverse_unscaled(&mut poly);
        poly.scale(&tables.shift);
        tables.transforms.forward(&mut poly);
        poly
    };
    let (mut h, (b, c)) =
        rayon::join(|| shifted(&a), || rayon::join(|| shifted(&b), || shifted(&c)));
    h.mul_sub(&b, &c);
    if let Some(unshift) = &tables.unshift {
        tables.transforms.inverse_unscaled(&mut h);
        h.scale(unshift);
        h.bit_reverse();
    }
    h.to_bigints()
}

#[cfg(test)]
mod tests {
    use super::*;
    use ark_ff::UniformRand;
    use rand::SeedableRng;
    use rand_chacha::ChaCha20Rng;

    /// Random sparse rows: the quotient is a function of any matrices and assignment, so both
    /// paths must agree on these as on a real circuit's.
    #[test]
    fn both_paths_compute_the_same_quotient() {
        let mut rng = ChaCha20Rng::seed_from_u64(41);
        let (num_inputs, num_constraints, wires) = (3, 200, 150);
        let witness: Vec<Fr> =
            std::iter::once(Fr::ONE).chain((1..wires).map(|_| Fr::rand(&mut rng))).collect();
        let matrix = |rng: &mut ChaCha20Rng| -> Vec<Vec<(Fr, usize)>> {
            (0..num_constraints)
                .map(|i| {
                    (0..1 + i % 3).map(|k| (Fr::rand(rng), (i * 7 + k * 13) % wires)).collect()
                })
                .collect()
        };
        let matrices = [matrix(&mut rng), matrix(&mut rng), matrix(&mut rng)];
        for reduction in [Reduction::Libsnark, Reduction::Circom] {
            let expected: Vec<BigInt<4>> = match reduction {
                Reduction::Libsnark => LibsnarkReduction::witness_map_from_matrices::<
                    Fr,
                    GeneralEvaluationDomain<Fr>,
                >(
                    &matrices, num_inputs, num_constraints, &witness
                ),
                Reduction::Circom => CircomReduction::witness_map_from_matrices::<
                    Fr,
                    GeneralEvaluationDomain<Fr>,
                >(
                    &matrices, num_inputs, num_constraints, &witness
                ),
            }
            .expect("a domain of 256")
            .iter()
            .map(|h| h.into_bigint())
            .collect();
            let h = quotient(reduction, &matrices, num_inputs, num_constraints, &witness)
                .expect("a domain of 256");
            assert_eq!(h, expected, "{reduction:?}");
        }
    }
}
