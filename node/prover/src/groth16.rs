//! Groth16 over BN254 for the zkcredits circuits: key generation, proving, verification and
//! batch verification.
//!
//! Keys made by [`insecure_dev_setup`] come from a seed: whoever knows the seed can forge proofs.
//! They exist for tests and local devnets only; production keys come from a ceremony.

use crate::msm::{FixedBaseTables, msm};
use crate::qap::{Reduction, quotient};
use crate::{ProverError, WitnessCircuit};
use ark_bn254::{Bn254, Fr, G1Affine, G1Projective, G2Projective};
use ark_circom::{CircomCircuit, read_zkey};
use ark_ec::{
    CurveGroup, VariableBaseMSM,
    pairing::{Pairing, PairingOutput},
    short_weierstrass::{Affine, Projective, SWCurveConfig},
};
use ark_ff::{Field, One, PrimeField, UniformRand, Zero};
use ark_groth16::{Groth16, PreparedVerifyingKey, Proof, ProvingKey, VerifyingKey};
use ark_serialize::CanonicalDeserialize;
use ark_snark::SNARK;
use num_bigint::BigInt;
use rand::{CryptoRng, RngCore, SeedableRng};
use rand_chacha::ChaCha20Rng;
use rayon::prelude::*;
use sha2::{Digest, Sha256};
use std::{fs::File, io::BufReader, path::Path};
use zeroize::Zeroize;

/// Domain of the seed expansion for development keys.
const DEV_SETUP_DOMAIN: &[u8] = b"zkcredits/v1/INSECURE-dev-setup/";

/// INSECURE: deterministic Groth16 keys for `circuit` from `seed`.
///
/// The toxic waste is a function of the seed and the circuit name, so anyone who knows the seed
/// can prove false statements. Use only for tests and local devnets.
pub fn insecure_dev_setup(
    circuit: &WitnessCircuit,
    seed: &[u8],
) -> Result<ProvingKey<Bn254>, ProverError> {
    let digest = Sha256::new()
        .chain_update(DEV_SETUP_DOMAIN)
        .chain_update(circuit.name())
        .chain_update(b"/")
        .chain_update(seed)
        .finalize();
    let mut rng = ChaCha20Rng::from_seed(digest.into());
    let shape = CircomCircuit { r1cs: circuit.r1cs(), witness: None };
    Groth16::<Bn254>::generate_random_parameters_with_reduction(shape, &mut rng)
        .map_err(|e| ProverError::Setup(e.to_string()))
}

/// Reads the proving key of a snarkjs `.zkey` (a key from a real ceremony). Proofs under it
/// must be made with [`prove_with_zkey_key`]: snarkjs keys use circom's QAP reduction.
pub fn import_zkey(path: &Path) -> Result<ProvingKey<Bn254>, ProverError> {
    let file = File::open(path)
        .map_err(|source| ProverError::Artifact { path: path.to_owned(), source })?;
    let (key, _matrices) = read_zkey(&mut BufReader::new(file))
        .map_err(|e| ProverError::Malformed { path: path.to_owned(), reason: e.to_string() })?;
    Ok(key)
}

/// Computes the witness for `inputs` and proves it under a key from [`insecure_dev_setup`].
/// Returns the proof and the public signals (circom order: outputs, then public inputs).
pub fn prove<R: RngCore + CryptoRng>(
    key: &ProvingKey<Bn254>,
    circuit: &mut WitnessCircuit,
    inputs: Vec<(String, Vec<BigInt>)>,
    rng: &mut R,
) -> Result<(Proof<Bn254>, Vec<Fr>), ProverError> {
    prove_with(Reduction::Libsnark, key, circuit, inputs, rng, None)
}

/// As [`prove`], for a key imported from a snarkjs `.zkey` by [`import_zkey`].
pub fn prove_with_zkey_key<R: RngCore + CryptoRng>(
    key: &ProvingKey<Bn254>,
    circuit: &mut WitnessCircuit,
    inputs: Vec<(String, Vec<BigInt>)>,
    rng: &mut R,
) -> Result<(Proof<Bn254>, Vec<Fr>), ProverError> {
    prove_with(Reduction::Circom, key, circuit, inputs, rng, None)
}

fn prove_with<R: RngCore + CryptoRng>(
    reduction: Reduction,
    key: &ProvingKey<Bn254>,
    circuit: &mut WitnessCircuit,
    inputs: Vec<(String, Vec<BigInt>)>,
    rng: &mut R,
    cache: Option<&mut ProofCache>,
) -> Result<(Proof<Bn254>, Vec<Fr>), ProverError> {
    // The quotient checks the constraints (it evaluates every row anyway).
    let witness = circuit.calculate_unchecked(inputs)?;
    let public_count = circuit.public_count();
    let (r, s) = (Fr::rand(rng), Fr::rand(rng));
    let proof = create_proof(reduction, key, circuit, &witness, r, s, cache)?;
    Ok((proof, witness[1..=public_count].to_vec()))
}

/// Groth16's prover on a full witness (wire 0 is the constant 1), with our MSM:
/// `A = α + Σwᵢaᵢ + rδ`, `B = β + Σwᵢbᵢ + sδ`, `C = Σ_aux wᵢlᵢ + ΣhⱼHⱼ + sA + rB₁ − rsδ`.
/// The constraint matrices were read once at load: no constraint system is synthesised.
/// With a `cache` of an earlier proof by the same key, the sums linear in the witness are
/// updated over the wires that changed instead of computed again.
fn create_proof(
    reduction: Reduction,
    key: &ProvingKey<Bn254>,
    circuit: &WitnessCircuit,
    witness: &[Fr],
    r: Fr,
    s: Fr,
    cache: Option<&mut ProofCache>,
) -> Result<Proof<Bn254>, ProverError> {
    let num_inputs = circuit.public_count() + 1;
    check_key_fits(key, circuit)?;
    let wires: Vec<_> = witness[1..].par_iter().map(|v| v.into_bigint()).collect();
    let earlier = cache.as_ref().and_then(|cache| cache.earlier(key, &wires));
    let changed = earlier.as_ref().map(|earlier| earlier.changed.len());
    // The quotient (constraint rows, transforms, then its MSM) runs beside the sums over the
    // witness; a broken constraint is reported once they are done.
    let (h_sum, sums) = rayon::join(
        || {
            quotient(reduction, circuit.matrices(), num_inputs, circuit.num_constraints(), witness)
                .map(|h| msm(&key.h_query, &h))
        },
        || match earlier {
            Some(earlier) => earlier.updated(key, &wires, num_inputs - 1),
            None => WitnessSums::new(key, &wires, num_inputs - 1),
        },
    );
    let h_sum = h_sum?;
    let vk = &key.vk;
    let a = vk.alpha_g1 + sums.a + key.delta_g1 * r;
    let b1 = key.beta_g1 + sums.b_g1 + key.delta_g1 * s;
    let b2 = vk.beta_g2 + sums.b_g2 + vk.delta_g2 * s;
    let c = sums.l + h_sum + a * s + b1 * r - key.delta_g1 * (r * s);
    if let Some(cache) = cache {
        cache.keep(key, wires, sums, changed);
    }
    Ok(Proof { a: a.into_affine(), b: b2.into_affine(), c: c.into_affine() })
}

/// A wire value as the MSMs read it.
type Wire = <Fr as PrimeField>::BigInt;

/// The sums of a proof that are linear in the witness: `Σwᵢaᵢ`, `Σwᵢbᵢ` in G1 and in G2 (each
/// with the constant wire's entry), and `Σ_aux wᵢlᵢ`.
#[derive(Debug, Clone, Copy)]
struct WitnessSums {
    a: G1Projective,
    b_g1: G1Projective,
    b_g2: G2Projective,
    l: G1Projective,
}

impl WitnessSums {
    /// The sums over every wire (`wires` from wire 1 on; the private ones from `aux_start`).
    fn new(key: &ProvingKey<Bn254>, wires: &[Wire], aux_start: usize) -> Self {
        let query_sum = |query: &[G1Affine]| query[0] + msm(&query[1..], wires);
        let (a, (b_g1, (b_g2, l))) = rayon::join(
            || query_sum(&key.a_query),
            || {
                rayon::join(
                    || query_sum(&key.b_g1_query),
                    || {
                        rayon::join(
                            || key.b_g2_query[0] + msm(&key.b_g2_query[1..], wires),
                            || msm(&key.l_query, &wires[aux_start..]),
                        )
                    },
                )
            },
        );
        Self { a, b_g1, b_g2, l }
    }

    /// These sums, for `earlier` wires, moved to `wires`: `Σ_changed (newᵢ·Pᵢ − oldᵢ·Pᵢ)` added,
    /// as one MSM of twice as many points as wires changed, over the scalars as they are (a bit
    /// stays a bit, where its difference would be a full-size scalar).
    fn moved(
        self,
        key: &ProvingKey<Bn254>,
        earlier: &[Wire],
        wires: &[Wire],
        changed: &[usize],
        aux_start: usize,
    ) -> Self {
        let aux: Vec<usize> = changed.iter().filter_map(|&i| i.checked_sub(aux_start)).collect();
        let (a, (b_g1, (b_g2, l))) = rayon::join(
            || change(&key.a_query[1..], changed, earlier, wires),
            || {
                rayon::join(
                    || change(&key.b_g1_query[1..], changed, earlier, wires),
                    || {
                        rayon::join(
                            || change(&key.b_g2_query[1..], changed, earlier, wires),
                            || {
                                change(
                                    &key.l_query,
                                    &aux,
                                    &earlier[aux_start..],
                                    &wires[aux_start..],
                                )
                            },
                        )
                    },
                )
            },
        );
        Self { a: self.a + a, b_g1: self.b_g1 + b_g1, b_g2: self.b_g2 + b_g2, l: self.l + l }
    }
}

/// `Σ_{i ∈ changed} (newᵢ − oldᵢ)·bases[i]`.
fn change<P>(bases: &[Affine<P>], changed: &[usize], old: &[Wire], new: &[Wire]) -> Projective<P>
where
    P: SWCurveConfig<ScalarField = Fr, BaseField: Field<BasePrimeField = ark_bn254::Fq>>,
{
    let (points, scalars): (Vec<_>, Vec<_>) =
        changed.iter().flat_map(|&i| [(bases[i], new[i]), (-bases[i], old[i])]).unzip();
    msm(&points, &scalars)
}

/// What the last proof by a key computed that the next one can reuse: its witness and the
/// sums linear in it (`Σwᵢaᵢ`, `Σwᵢbᵢ` in G1 and G2, `Σ_aux wᵢlᵢ`). A statement that shares most
/// wires with the last (the same note, tree path and signer: another request) sums only over
/// the wires that changed, which gives the same points, so the same proof for the same
/// randomness. The quotient depends on the whole witness and is computed in full.
///
/// It holds a witness, the secret among its wires: keep it where the secret is kept (it is
/// zeroed when dropped). A cache belongs to one key: the same key in memory, with the same
/// verifying key (a key's queries are not compared, and a key read again or moved is taken
/// as another); used with another it is replaced.
#[derive(Default)]
pub struct ProofCache {
    last: Option<Kept>,
}

impl std::fmt::Debug for ProofCache {
    // The kept witness holds the secret: never printed.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProofCache").field("last_summed", &self.last_summed()).finish()
    }
}

struct Kept {
    /// The verifying key of the proving key the sums were computed with, and where that key
    /// was in memory.
    key: VerifyingKey<Bn254>,
    key_address: usize,
    wires: Vec<Wire>,
    sums: WitnessSums,
    /// How many wires changed since the proof before, when the sums were moved.
    changed: Option<usize>,
}

/// The kept sums that a new witness can start from.
struct Earlier<'a> {
    kept: &'a Kept,
    changed: Vec<usize>,
}

impl ProofCache {
    /// A cache with nothing kept yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// How many wires the last proof summed over: all of them when it reused nothing (the
    /// first proof, another key, or more than half the wires changed), else those that
    /// changed. 0 before the first proof.
    pub fn last_summed(&self) -> usize {
        self.last.as_ref().map_or(0, |kept| kept.changed.unwrap_or(kept.wires.len()))
    }

    /// The kept sums, when they are for `key` and fewer than half the wires changed (beyond,
    /// twice as many points as changed cost more than the full sums).
    fn earlier(&self, key: &ProvingKey<Bn254>, wires: &[Wire]) -> Option<Earlier<'_>> {
        let kept = self.last.as_ref()?;
        if kept.wires.len() != wires.len()
            || kept.key_address != address_of(key)
            || kept.key != key.vk
        {
            return None;
        }
        let changed: Vec<usize> = (0..wires.len()).filter(|&i| kept.wires[i] != wires[i]).collect();
        (2 * changed.len() < wires.len()).then_some(Earlier { kept, changed })
    }

    fn keep(
        &mut self,
        key: &ProvingKey<Bn254>,
        wires: Vec<Wire>,
        sums: WitnessSums,
        changed: Option<usize>,
    ) {
        // The kept witness it replaces is zeroed as it drops.
        let key_address = address_of(key);
        self.last = Some(Kept { key: key.vk.clone(), key_address, wires, sums, changed });
    }
}

fn address_of(key: &ProvingKey<Bn254>) -> usize {
    std::ptr::from_ref(key) as usize
}

impl Earlier<'_> {
    fn updated(self, key: &ProvingKey<Bn254>, wires: &[Wire], aux_start: usize) -> WitnessSums {
        self.kept.sums.moved(key, &self.kept.wires, wires, &self.changed, aux_start)
    }
}

impl Drop for Kept {
    fn drop(&mut self) {
        self.wires.zeroize();
    }
}

/// Refuses a key whose queries do not have one entry per wire of `circuit`.
fn check_key_fits(key: &ProvingKey<Bn254>, circuit: &WitnessCircuit) -> Result<(), ProverError> {
    let (key_wires, key_public) = (key.a_query.len(), key.vk.gamma_abc_g1.len().saturating_sub(1));
    let (circuit_wires, circuit_public) = (circuit.num_wires(), circuit.public_count());
    let fits = key_wires == circuit_wires
        && key.b_g1_query.len() == circuit_wires
        && key.b_g2_query.len() == circuit_wires
        && key_public == circuit_public
        && key.l_query.len() + circuit_public + 1 == circuit_wires;
    if fits {
        Ok(())
    } else {
        Err(ProverError::KeyMismatch { key_wires, key_public, circuit_wires, circuit_public })
    }
}

/// Loads `circuit`'s witness calculator from `build_dir` and its proving key from `key_path`
/// (a ceremony's `.zkey`, else a dev key `zkcredits circuits setup` wrote), both checked
/// against the artifact `manifest`: a key or circuit of another build is refused here rather
/// than making proofs nobody accepts.
pub fn load_checked_prover(
    build_dir: &Path,
    circuit: &str,
    key_path: &Path,
    manifest: &crate::Manifest,
) -> Result<(WitnessCircuit, KeyFile), ProverError> {
    let calculator = WitnessCircuit::load_checked(build_dir, circuit, manifest)?;
    let key = if key_path.extension().is_some_and(|e| e == "zkey") {
        KeyFile::import_zkey(key_path)?
    } else {
        KeyFile::read_dev(key_path)?
    };
    manifest.check_verifying_key(circuit, key_path, &key.proving_key().vk)?;
    Ok((calculator, key))
}

/// A proving key with the QAP reduction it pairs with: our dev keys use arkworks' own,
/// snarkjs `.zkey` keys circom's. Mixing them yields proofs that never verify.
#[derive(Debug, Clone)]
pub enum KeyFile {
    /// A key written by `zkcredits circuits setup` (arkworks, uncompressed).
    Dev(ProvingKey<Bn254>),
    /// A key imported from a ceremony's `.zkey`.
    Zkey(ProvingKey<Bn254>),
}

impl KeyFile {
    /// Reads a key `zkcredits circuits setup` wrote (`<circuit>.pk.bin`).
    pub fn read_dev(path: &Path) -> Result<Self, ProverError> {
        let bytes = std::fs::read(path)
            .map_err(|source| ProverError::Artifact { path: path.to_owned(), source })?;
        // Our own key file, written uncompressed: skip the point checks, which take seconds.
        let key = ProvingKey::deserialize_uncompressed_unchecked(bytes.as_slice())
            .map_err(|e| ProverError::Malformed { path: path.to_owned(), reason: e.to_string() })?;
        Ok(Self::Dev(key))
    }

    /// Imports a ceremony's `.zkey`.
    pub fn import_zkey(path: &Path) -> Result<Self, ProverError> {
        import_zkey(path).map(Self::Zkey)
    }

    /// The proving key (its verifying key is `.vk`).
    pub fn proving_key(&self) -> &ProvingKey<Bn254> {
        match self {
            Self::Dev(key) | Self::Zkey(key) => key,
        }
    }

    /// Computes the witness and proves with the key's reduction.
    pub fn prove<R: RngCore + CryptoRng>(
        &self,
        circuit: &mut WitnessCircuit,
        inputs: Vec<(String, Vec<BigInt>)>,
        rng: &mut R,
    ) -> Result<(Proof<Bn254>, Vec<Fr>), ProverError> {
        match self {
            Self::Dev(key) => prove(key, circuit, inputs, rng),
            Self::Zkey(key) => prove_with_zkey_key(key, circuit, inputs, rng),
        }
    }

    /// As [`KeyFile::prove`], reusing what `cache` kept of the last proof by this key (see
    /// [`ProofCache`]) and keeping this one's: the same proof, sooner when most wires repeat.
    pub fn prove_cached<R: RngCore + CryptoRng>(
        &self,
        circuit: &mut WitnessCircuit,
        inputs: Vec<(String, Vec<BigInt>)>,
        rng: &mut R,
        cache: &mut ProofCache,
    ) -> Result<(Proof<Bn254>, Vec<Fr>), ProverError> {
        let (reduction, key) = match self {
            Self::Dev(key) => (Reduction::Libsnark, key),
            Self::Zkey(key) => (Reduction::Circom, key),
        };
        prove_with(reduction, key, circuit, inputs, rng, Some(cache))
    }
}

/// A verifying key prepared once for many verifications: its pairing inputs (`−β`, `−γ`, `−δ`
/// as line coefficients, `e(α, β)`), and tables of the public-input bases (folding ten inputs
/// costs 0.1 ms instead of 0.7 ms).
#[derive(Debug, Clone)]
pub struct Verifier {
    prepared: PreparedVerifyingKey<Bn254>,
    beta_neg: G2Prepared,
    inputs: FixedBaseTables<ark_bn254::g1::Config>,
}

/// A G2 point as the Miller loop reads it: its line coefficients.
type G2Prepared = <Bn254 as Pairing>::G2Prepared;

impl Verifier {
    /// Prepares a verifying key.
    pub fn new(key: &VerifyingKey<Bn254>) -> Self {
        Self {
            prepared: Groth16::<Bn254>::process_vk(key)
                .unwrap_or_else(|_| unreachable!("processing a key cannot fail")),
            beta_neg: (-key.beta_g2).into(),
            inputs: FixedBaseTables::new(key.gamma_abc_g1.get(1..).unwrap_or_default()),
        }
    }

    /// `IC₀`, the base of the constant wire.
    fn constant_base(&self) -> G1Affine {
        self.prepared.vk.gamma_abc_g1.first().copied().unwrap_or_default()
    }

    /// `IC₀ + Σ xᵢ·ICᵢ`: the public signals folded into the key.
    fn fold_inputs(&self, public: &[Fr]) -> G1Projective {
        self.inputs.msm(public) + self.constant_base()
    }

    /// The verifying key.
    pub fn key(&self) -> &VerifyingKey<Bn254> {
        &self.prepared.vk
    }

    /// Number of public signals the key expects.
    pub fn public_count(&self) -> usize {
        self.prepared.vk.gamma_abc_g1.len().saturating_sub(1)
    }

    fn check_count(&self, public: &[Fr]) -> Result<(), ProverError> {
        let expected = self.public_count();
        if public.len() == expected {
            Ok(())
        } else {
            Err(ProverError::PublicInputCount { expected, got: public.len() })
        }
    }

    /// Verifies one proof: `e(A, B)·e(L, −γ)·e(C, −δ) = e(α, β)`, where `L` folds the public
    /// signals; one Miller loop over the three pairs, one final exponentiation. (Running the
    /// proof's pair and the key's on two threads measured slower: 1.9 ms against 1.5 ms.)
    pub fn verify(&self, public: &[Fr], proof: &Proof<Bn254>) -> Result<(), ProverError> {
        self.check_count(public)?;
        let inputs = self.fold_inputs(public);
        match Groth16::<Bn254>::verify_proof_with_prepared_inputs(&self.prepared, proof, &inputs) {
            Ok(true) => Ok(()),
            _ => Err(ProverError::InvalidProof),
        }
    }

    /// Verifies many proofs at once with a random linear combination: with random `r_i`,
    /// `Π e(r_i·A_i, B_i) · e(Σr_i·α, −β) · e(Σr_i·L_i, −γ) · e(Σr_i·C_i, −δ) = 1` where `L_i`
    /// folds the public inputs. One multi-pairing of `n + 3` pairs instead of `n` full
    /// verifications. The weights have 128 bits, the top one set and the others random: a batch
    /// containing an invalid proof passes with probability about `2^-127`, and each `r_i·A_i`
    /// costs half a full scalar multiplication.
    /// The proofs' terms are computed in parallel: `r_i·A_i`, and where the CPU has AVX-512 IFMA
    /// the pairs' Miller loops eight at a time, one pair per lane (elsewhere `B_i`'s line
    /// coefficients, then one multi-Miller loop).
    pub fn verify_batch<R: RngCore>(
        &self,
        batch: &[(Vec<Fr>, Proof<Bn254>)],
        rng: &mut R,
    ) -> Result<(), ProverError> {
        self.verify_batch_with(batch, rng, crate::msm::simd_available())
    }

    /// [`Self::verify_batch`], the proofs' Miller loops on the IFMA lanes or on arkworks' pairing.
    fn verify_batch_with<R: RngCore>(
        &self,
        batch: &[(Vec<Fr>, Proof<Bn254>)],
        rng: &mut R,
        on_lanes: bool,
    ) -> Result<(), ProverError> {
        if batch.is_empty() {
            return Ok(());
        }
        let pvk = &self.prepared;
        let mut weights = Vec::with_capacity(batch.len());
        let mut input_terms = vec![Fr::zero(); pvk.vk.gamma_abc_g1.len()];
        for (public, _) in batch {
            self.check_count(public)?;
            let r = u128::from(rng.next_u64()) << 64 | u128::from(rng.next_u64()) | 1 << 127;
            weights.push(r);
            let r = Fr::from(r);
            input_terms[0] += r;
            for (term, x) in input_terms[1..].iter_mut().zip(public) {
                *term += r * x;
            }
        }
        // The key's three G1 terms, computed beside the proofs' terms.
        let key_g1 = || {
            let cs: Vec<G1Affine> = batch.iter().map(|(_, proof)| proof.c).collect();
            let scalars: Vec<_> = weights.iter().map(|&r| Fr::from(r).into_bigint()).collect();
            let c_sum = G1Projective::msm_bigint(&cs, &scalars);
            // Σ rᵢ·(IC₀ + Σ xᵢⱼ·ICⱼ) = (Σ rᵢ)·IC₀ + Σⱼ (Σᵢ rᵢ·xᵢⱼ)·ICⱼ
            let inputs = self.inputs.msm(&input_terms[1..]) + self.constant_base() * input_terms[0];
            [pvk.vk.alpha_g1 * input_terms[0], inputs, c_sum]
        };
        let key_lines =
            [self.beta_neg.clone(), pvk.gamma_g2_neg_pc.clone(), pvk.delta_g2_neg_pc.clone()];
        #[cfg(not(all(target_arch = "x86_64", not(zkcredits_portable_only))))]
        let _ = on_lanes; // no lanes here: `simd_available` is false
        #[cfg(all(target_arch = "x86_64", not(zkcredits_portable_only)))]
        if on_lanes {
            // The proofs' terms eight at a time on the IFMA lanes, the key's three pairs beside.
            let (proofs, key) = rayon::join(
                || {
                    let a: Vec<G1Affine> = batch.iter().map(|(_, proof)| proof.a).collect();
                    let weighted_a: Vec<G1Projective> = a
                        .par_chunks(crate::ifma::LANES)
                        .zip(weights.par_chunks(crate::ifma::LANES))
                        .flat_map_iter(|(a, r)| crate::ifma::pairing::weigh(a, r))
                        .collect();
                    let a = G1Projective::normalize_batch(&weighted_a);
                    let b = batch.iter().map(|(_, proof)| proof.b);
                    let pairs: Vec<_> = a.into_iter().zip(b).collect();
                    pairs
                        .par_chunks(crate::ifma::LANES)
                        .map(crate::ifma::pairing::multi_miller_loop)
                        .product::<ark_bn254::Fq12>()
                },
                || Bn254::multi_miller_loop(G1Projective::normalize_batch(&key_g1()), key_lines),
            );
            let product = ark_ec::pairing::MillerLoopOutput(proofs * key.0);
            return accept(Bn254::final_exponentiation(product));
        }
        let ((mut g1, mut lines), key_g1): ((Vec<G1Projective>, Vec<G2Prepared>), _) = rayon::join(
            || {
                batch
                    .par_iter()
                    .zip(&weights)
                    .map(|((_, proof), &r)| (proof.a * Fr::from(r), proof.b.into()))
                    .unzip()
            },
            key_g1,
        );
        lines.extend(key_lines);
        g1.extend(key_g1);
        accept(Bn254::final_exponentiation(Bn254::multi_miller_loop(
            G1Projective::normalize_batch(&g1),
            lines,
        )))
    }
}

/// `Ok` when a pairing check's product is one.
fn accept(product: Option<PairingOutput<Bn254>>) -> Result<(), ProverError> {
    match product {
        Some(value) if value.0.is_one() => Ok(()),
        _ => Err(ProverError::InvalidProof),
    }
}

/// A field element as a circom input value.
pub fn fr_to_input(x: &Fr) -> BigInt {
    BigInt::from(num_bigint::BigUint::from(x.into_bigint()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ark_ec::{AffineRepr, PrimeGroup};

    type Batch = Vec<(Vec<Fr>, Proof<Bn254>)>;

    /// A verifying key made from known scalars, and proofs made with them: with the setup's
    /// trapdoor, `c = (ab − αβ − lγ)/δ` completes any `A = a·G₁`, `B = b·G₂` into a valid proof.
    /// Both batch paths can then be run on any number of proofs without a circuit.
    fn trapdoor_batch(count: usize) -> (Verifier, Batch) {
        let mut rng = ChaCha20Rng::seed_from_u64(21);
        let [alpha, beta, gamma, delta] = std::array::from_fn(|_| Fr::rand(&mut rng));
        let input_scalars: [Fr; 3] = std::array::from_fn(|_| Fr::rand(&mut rng));
        let (g1, g2) = (G1Projective::generator(), G2Projective::generator());
        let vk = VerifyingKey::<Bn254> {
            alpha_g1: (g1 * alpha).into(),
            beta_g2: (g2 * beta).into(),
            gamma_g2: (g2 * gamma).into(),
            delta_g2: (g2 * delta).into(),
            gamma_abc_g1: input_scalars.iter().map(|k| (g1 * k).into()).collect(),
        };
        let batch = (0..count)
            .map(|_| {
                let public = vec![Fr::rand(&mut rng), Fr::rand(&mut rng)];
                let l =
                    input_scalars[0] + public[0] * input_scalars[1] + public[1] * input_scalars[2];
                let (a, b) = (Fr::rand(&mut rng), Fr::rand(&mut rng));
                let c = (a * b - alpha * beta - l * gamma) / delta;
                let proof = Proof { a: (g1 * a).into(), b: (g2 * b).into(), c: (g1 * c).into() };
                (public, proof)
            })
            .collect();
        (Verifier::new(&vk), batch)
    }

    #[test]
    fn batches_on_the_lanes_and_on_arkworks_pairing_decide_alike() {
        // Nine proofs: a full chunk of eight lanes and a short one.
        let (verifier, batch) = trapdoor_batch(9);
        let mut rng = ChaCha20Rng::seed_from_u64(22);
        for (public, proof) in &batch {
            verifier.verify(public, proof).expect("valid proof");
        }
        for on_lanes in [false, crate::msm::simd_available()] {
            verifier.verify_batch_with(&batch, &mut rng, on_lanes).expect("valid batch");
            for tampered in [0, 8] {
                let mut bad = batch.clone();
                bad[tampered].0[1] += Fr::one();
                let result = verifier.verify_batch_with(&bad, &mut rng, on_lanes);
                assert!(matches!(result, Err(ProverError::InvalidProof)), "lanes: {on_lanes}");
            }
            // A at infinity drops the pair from the product: the check must fail, not skip it.
            let mut bad = batch.clone();
            bad[3].1.a = G1Affine::zero();
            let result = verifier.verify_batch_with(&bad, &mut rng, on_lanes);
            assert!(matches!(result, Err(ProverError::InvalidProof)), "lanes: {on_lanes}");
        }
    }
}
