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
use ark_ff::{AdditiveGroup, BigInt, PrimeField};
use ark_groth16::r1cs_to_qap::{LibsnarkReduction, R1CSToQAP};
use ark_poly::GeneralEvaluationDomain;
#[cfg(all(target_arch = "x86_64", not(zkcredits_portable_only)))]
use {
    ark_ff::{FftField, Field},
    ark_poly::{EvaluationDomain, Radix2EvaluationDomain},
    std::sync::{Arc, Mutex, OnceLock},
};

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

/// The quotient's scalars for the `H` query, as canonical integers. Refuses a witness that
/// breaks a constraint (see [`evaluate_rows`]).
pub(crate) fn quotient(
    reduction: Reduction,
    matrices: &Matrices,
    num_inputs: usize,
    num_constraints: usize,
    witness: &[Fr],
) -> Result<Vec<BigInt<4>>, ProverError> {
    // The constraint check; the IFMA transforms start from its rows, arkworks' evaluate them
    // again.
    let rows = evaluate_rows(matrices, num_constraints, witness)?;
    #[cfg(all(target_arch = "x86_64", not(zkcredits_portable_only)))]
    {
        let size = (num_constraints + num_inputs).next_power_of_two();
        if crate::ifma::available() && size >= crate::ifma::ntt::MIN_SIZE {
            return Ok(quotient_ifma(reduction, rows, &witness[..num_inputs], size));
        }
    }
    drop(rows);
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

/// Every constraint row at the witness, `[A·z, B·z, C·z]`, after checking `(A·z)(B·z) = C·z`
/// row by row (in parallel); the first row that breaks it, or a row naming a wire the witness
/// lacks, is refused by its number.
pub(crate) fn evaluate_rows(
    matrices: &Matrices,
    num_constraints: usize,
    witness: &[Fr],
) -> Result<[Vec<Fr>; 3], ProverError> {
    use rayon::prelude::*;
    let row = |terms: &Vec<(Fr, usize)>| {
        terms.iter().try_fold(Fr::ZERO, |sum, (coefficient, wire)| {
            witness.get(*wire).map(|value| sum + *coefficient * value)
        })
    };
    let refuse = |i: usize| {
        ProverError::Unsatisfied(format!("constraint {i} of {num_constraints} does not hold"))
    };
    let rows = |matrix: &Vec<Vec<(Fr, usize)>>| -> Result<Vec<Fr>, ProverError> {
        let rows: Vec<Fr> = (0..num_constraints)
            .into_par_iter()
            .map(|i| matrix.get(i).and_then(row).ok_or_else(|| refuse(i)))
            .collect::<Result<_, _>>()?;
        Ok(rows)
    };
    let (a, b, c) = (rows(&matrices[0])?, rows(&matrices[1])?, rows(&matrices[2])?);
    match (0..num_constraints).into_par_iter().find_first(|&i| a[i] * b[i] != c[i]) {
        Some(i) => Err(refuse(i)),
        None => Ok([a, b, c]),
    }
}

/// What a reduction needs for one domain size: its transforms, the factors applied between the
/// inverse and the forward transform, and (libsnark) after the last inverse transform.
#[cfg(all(target_arch = "x86_64", not(zkcredits_portable_only)))]
struct Tables {
    transforms: crate::ifma::ntt::Transforms,
    /// In bit-reversed order `r`: `s^rev(r)/n`, the shift `s` times the inverse's `1/n`.
    shift: crate::ifma::ntt::Poly,
    /// Libsnark: `s^−rev(r)/(n·Z(s))`, unshifting and dividing by the vanishing polynomial.
    unshift: Option<crate::ifma::ntt::Poly>,
}

#[cfg(all(target_arch = "x86_64", not(zkcredits_portable_only)))]
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
        let reversed = |r: usize| r.reverse_bits() >> (usize::BITS - bits);
        let size_inverse = domain(size).size_inv();
        // factor·base^rev(r) at position r: the powers in order, read bit-reversed.
        let powers = |base: Fr, factor: Fr| -> Vec<Fr> {
            let natural: Vec<Fr> =
                std::iter::successors(Some(factor), |p| Some(*p * base)).take(size).collect();
            (0..size).map(|r| natural[reversed(r)]).collect()
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

/// [`quotient`] with the transforms on IFMA lanes, from the checked rows. Circom's reduction
/// takes `(A·z)(B·z)` where arkworks' takes `C·z`: on checked rows they are equal.
#[cfg(all(target_arch = "x86_64", not(zkcredits_portable_only)))]
fn quotient_ifma(
    reduction: Reduction,
    [mut a, b, c]: [Vec<Fr>; 3],
    inputs: &[Fr],
    size: usize,
) -> Vec<BigInt<4>> {
    use crate::ifma::ntt::Poly;

    // The inputs' rows keep the public inputs independent of each other (libsnark, circom alike).
    a.extend_from_slice(inputs);
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
    use ark_ff::{Field, UniformRand};
    use rand::SeedableRng;
    use rand_chacha::ChaCha20Rng;

    /// Random sparse rows for `A` and `B`, and `C` made to hold (one term on the constant wire).
    fn satisfied_system(rng: &mut ChaCha20Rng) -> (Matrices, Vec<Fr>) {
        let (num_constraints, wires) = (200, 150);
        let witness: Vec<Fr> =
            std::iter::once(Fr::ONE).chain((1..wires).map(|_| Fr::rand(rng))).collect();
        let mut matrix = || -> Vec<Vec<(Fr, usize)>> {
            (0..num_constraints)
                .map(|i| {
                    (0..1 + i % 3).map(|k| (Fr::rand(rng), (i * 7 + k * 13) % wires)).collect()
                })
                .collect()
        };
        let (a, b) = (matrix(), matrix());
        let value = |row: &Vec<(Fr, usize)>| row.iter().map(|(c, w)| *c * witness[*w]).sum::<Fr>();
        let c = a.iter().zip(&b).map(|(a, b)| vec![(value(a) * value(b), 0)]).collect();
        ([a, b, c], witness)
    }

    #[test]
    fn both_paths_compute_the_same_quotient() {
        let mut rng = ChaCha20Rng::seed_from_u64(41);
        let (matrices, witness) = satisfied_system(&mut rng);
        let (num_inputs, num_constraints) = (3, 200);
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
                .expect("the system holds");
            assert_eq!(h, expected, "{reduction:?}");
        }
    }

    #[test]
    fn a_broken_row_or_a_missing_wire_is_refused_by_number() {
        let mut rng = ChaCha20Rng::seed_from_u64(42);
        let (mut matrices, witness) = satisfied_system(&mut rng);
        matrices[2][117][0].0 += Fr::ONE;
        let refused = quotient(Reduction::Libsnark, &matrices, 3, 200, &witness);
        assert!(
            matches!(&refused, Err(ProverError::Unsatisfied(m)) if m == "constraint 117 of 200 does not hold"),
            "{refused:?}"
        );
        matrices[2][117][0].0 -= Fr::ONE;
        matrices[0][5].push((Fr::ONE, witness.len()));
        assert!(matches!(
            evaluate_rows(&matrices, 200, &witness),
            Err(ProverError::Unsatisfied(_))
        ));
    }
}
