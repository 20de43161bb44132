//! An INSECURE powers-of-tau file in snarkjs's format, prepared for phase 2, from a seed.
//!
//! The ceremony test imports keys that snarkjs's phase 2 (`groth16 setup`) makes. snarkjs's own
//! phase 1 spends most of its six minutes in `powersoftau prepare phase2`, which turns the
//! powers of tau into Lagrange bases by group FFTs in JavaScript. Knowing tau, we compute every
//! Lagrange value as a scalar and multiply the generators by tables instead: about two seconds.
//! The file holds what `groth16 setup` reads: the header, the powers of tau in G1 and G2, alpha
//! and beta times them, beta in G2, an empty list of contributions, and the Lagrange sections
//! (12 to 15) for every domain up to `2^power` (and `2^(power+1)` in G1, which the quotient's
//! points come from). Anyone who knows the seed can forge proofs under keys made from it.

use ark_bn254::{Fq, Fr, G1Affine, G1Projective, G2Affine, G2Projective};
use ark_ec::{AffineRepr, PrimeGroup, scalar_mul::ScalarMul};
use ark_ff::{BigInteger, FftField, Field, PrimeField, UniformRand, batch_inversion};
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;
use sha2::{Digest, Sha256};

/// The bytes of a prepared `.ptau` file of `2^power` powers, with tau, alpha and beta derived
/// from `seed` (INSECURE: for tests and benchmarks only).
pub fn insecure_prepared_ptau(power: u32, seed: &[u8]) -> Vec<u8> {
    let mut rng = ChaCha20Rng::from_seed(Sha256::digest(seed).into());
    let (tau, alpha, beta) = (Fr::rand(&mut rng), Fr::rand(&mut rng), Fr::rand(&mut rng));
    let n = 1usize << power;
    let powers = |count: usize| {
        std::iter::successors(Some(Fr::ONE), |p| Some(*p * tau)).take(count).collect::<Vec<_>>()
    };
    let times =
        |factor: Fr, scalars: &[Fr]| scalars.iter().map(|s| *s * factor).collect::<Vec<_>>();
    let tau_powers = powers(2 * n - 1);
    let lagrange: Vec<Vec<Fr>> = (0..=power).map(|p| lagrange_at(tau, p)).collect();
    // The G1 section goes one domain further, transforming the 2n - 1 powers and a zero point:
    // each value lacks the term of tau^(2n - 1), which is `tau^(2n-1) w^i / 2n`.
    let mut last = lagrange_at(tau, power + 1);
    let (size, root) = (2 * n, domain_root(power + 1));
    let missing = tau_powers[2 * n - 2] * tau;
    let correction = missing * Fr::from(size as u64).inverse().unwrap_or_default();
    let mut w_i = Fr::ONE;
    for value in &mut last {
        *value -= correction * w_i;
        w_i *= root;
    }
    let lagrange_g1: Vec<Fr> = lagrange.iter().flatten().chain(&last).copied().collect();
    let lagrange_all: Vec<Fr> = lagrange.iter().flatten().copied().collect();

    let g1 = |scalars: &[Fr]| -> Vec<u8> {
        G1Projective::generator().batch_mul(scalars).iter().flat_map(g1_bytes).collect()
    };
    let g2 = |scalars: &[Fr]| -> Vec<u8> {
        G2Projective::generator().batch_mul(scalars).iter().flat_map(g2_bytes).collect()
    };
    let mut header = Vec::new();
    header.extend_from_slice(&32u32.to_le_bytes());
    header.extend_from_slice(&<Fq as PrimeField>::MODULUS.to_bytes_le());
    header.extend_from_slice(&power.to_le_bytes());
    header.extend_from_slice(&power.to_le_bytes());
    let sections: [(u32, Vec<u8>); 11] = [
        (1, header),
        (2, g1(&tau_powers)),
        (3, g2(&tau_powers[..n])),
        (4, g1(&times(alpha, &tau_powers[..n]))),
        (5, g1(&times(beta, &tau_powers[..n]))),
        (6, g2(&[beta])),
        (7, 0u32.to_le_bytes().to_vec()),
        (12, g1(&lagrange_g1)),
        (13, g2(&lagrange_all)),
        (14, g1(&times(alpha, &lagrange_all))),
        (15, g1(&times(beta, &lagrange_all))),
    ];
    let mut file = b"ptau".to_vec();
    file.extend_from_slice(&1u32.to_le_bytes());
    file.extend_from_slice(&(sections.len() as u32).to_le_bytes());
    for (id, data) in sections {
        file.extend_from_slice(&id.to_le_bytes());
        file.extend_from_slice(&(data.len() as u64).to_le_bytes());
        file.extend_from_slice(&data);
    }
    file
}

/// The generator of the domain of `2^p` points, as snarkjs (ffjavascript) and arkworks both
/// choose it: `5^((r - 1) / 2^28)` squared down.
fn domain_root(p: u32) -> Fr {
    Fr::get_root_of_unity(1 << p).unwrap_or_else(|| unreachable!("2^{p} divides r - 1"))
}

/// `L_i(tau)` for the domain of `2^p` points: `(tau^n - 1) / (n (tau w^-i - 1))`.
fn lagrange_at(tau: Fr, p: u32) -> Vec<Fr> {
    let n = 1usize << p;
    let inverse_root = domain_root(p).inverse().unwrap_or_default();
    let mut denominators = Vec::with_capacity(n);
    let mut shifted = tau;
    for _ in 0..n {
        denominators.push(shifted - Fr::ONE);
        shifted *= inverse_root;
    }
    batch_inversion(&mut denominators);
    let numerator =
        (tau.pow([n as u64]) - Fr::ONE) * Fr::from(n as u64).inverse().unwrap_or_default();
    denominators.iter().map(|d| numerator * d).collect()
}

/// snarkjs's affine encoding: coordinates in Montgomery form, little-endian; zeros for infinity.
fn g1_bytes(point: &G1Affine) -> Vec<u8> {
    match point.xy() {
        Some((x, y)) => [x.0.to_bytes_le(), y.0.to_bytes_le()].concat(),
        None => vec![0; 64],
    }
}

fn g2_bytes(point: &G2Affine) -> Vec<u8> {
    match point.xy() {
        Some((x, y)) => {
            [x.c0.0.to_bytes_le(), x.c1.0.to_bytes_le(), y.c0.0.to_bytes_le(), y.c1.0.to_bytes_le()]
                .concat()
        }
        None => vec![0; 128],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ark_ff::AdditiveGroup;

    #[test]
    fn lagrange_values_interpolate_the_powers_of_tau() {
        let tau = Fr::from(12_345u64);
        for p in 0..5 {
            let values = lagrange_at(tau, p);
            let root = domain_root(p);
            // Σ L_i(tau) w^(ij) = tau^j for j < n.
            for j in 0..(1u64 << p) {
                let mut sum = Fr::ZERO;
                for (i, value) in values.iter().enumerate() {
                    sum += *value * root.pow([i as u64 * j]);
                }
                assert_eq!(sum, tau.pow([j]), "p = {p}, j = {j}");
            }
        }
    }
}
