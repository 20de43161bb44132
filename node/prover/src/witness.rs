//! Witness computation through circom's wasm witness calculator, run on wasmer.
//!
//! We drive the calculator ourselves rather than through ark-circom's wrapper: its exports are
//! resolved once into typed functions and the witness is read straight out of the module's memory,
//! which takes the per-proof overhead from about 60 ms to well under one (the wasm's own field
//! arithmetic is what remains). Loading compiles the wasm once (about half a second); keep a
//! [`WitnessCircuit`] per process and reuse it. Every witness is checked against the circuit's
//! R1CS: the calculator checks only the assertions it was compiled with, and a witness that
//! does not satisfy the constraints would otherwise surface as a proof that does not verify.

use crate::{
    ProverError,
    graph::{Miss, WitnessGraph},
    manifest::{Manifest, sha256_hex},
    native_inverse,
};
use ark_bn254::Fr;
use ark_circom::circom::{R1CS, R1CSFile};
use ark_ff::{BigInteger, PrimeField};
use num_bigint::{BigInt, Sign};
use sha2::{Digest, Sha256};
use std::{
    collections::{HashMap, HashSet},
    path::{Path, PathBuf},
    sync::Arc,
};
use wasmer::{
    Function, FunctionEnv, Instance, Memory, Module, RuntimeError, Store, TypedFunction, imports,
};

/// Bytes of one field element in the calculator's shared memory (eight little-endian u32 words).
const ELEMENT_BYTES: usize = 32;

/// The exports of circom's witness calculator that we call, resolved once.
struct Calculator {
    memory: Memory,
    shared: u64,
    init: TypedFunction<i32, ()>,
    set_input_signal: TypedFunction<(i32, i32, i32), ()>,
    get_witness: TypedFunction<i32, ()>,
    get_message_char: TypedFunction<(), i32>,
    input_size: usize,
    witness_size: usize,
}

impl Calculator {
    fn new(store: &mut Store, module: &Module) -> Result<Self, String> {
        let trap = |what: &'static str| {
            move |code: i32| -> Result<(), RuntimeError> {
                Err(RuntimeError::new(format!("{what} (circom exception code {code})")))
            }
        };
        let ignore = || {};
        let memory_env = FunctionEnv::new(store, None);
        let imports = imports! {
            "runtime" => {
                "exceptionHandler" => Function::new_typed(store, trap("the calculator stopped")),
                "printErrorMessage" => Function::new_typed(store, ignore),
                "writeBufferMessage" => Function::new_typed(store, ignore),
                "showSharedRWMemory" => Function::new_typed(store, ignore),
            },
            native_inverse::HOST_MODULE => {
                native_inverse::HOST_INVERSE => Function::new_typed_with_env(
                    store, &memory_env, native_inverse::inverse_mod_prime
                ),
            }
        };
        let instance = Instance::new(store, module, &imports).map_err(|e| e.to_string())?;
        let exports = &instance.exports;
        let memory = exports.get_memory("memory").map_err(|e| e.to_string())?.clone();
        *memory_env.as_mut(store) = Some(memory.clone());
        macro_rules! export {
            ($name:literal) => {
                exports.get_typed_function(store, $name).map_err(|e| format!("{}: {e}", $name))?
            };
        }
        let n32: TypedFunction<(), i32> = export!("getFieldNumLen32");
        let raw_prime: TypedFunction<(), ()> = export!("getRawPrime");
        let shared_start: TypedFunction<(), i32> = export!("getSharedRWMemoryStart");
        let input_size: TypedFunction<(), i32> = export!("getInputSize");
        let witness_size: TypedFunction<(), i32> = export!("getWitnessSize");
        let call = |e: RuntimeError| e.to_string();
        let calculator = Self {
            memory,
            shared: u64::try_from(shared_start.call(store).map_err(call)?)
                .map_err(|_| "negative shared memory address".to_owned())?,
            init: export!("init"),
            set_input_signal: export!("setInputSignal"),
            get_witness: export!("getWitness"),
            get_message_char: export!("getMessageChar"),
            input_size: usize::try_from(input_size.call(store).map_err(call)?).unwrap_or(0),
            witness_size: usize::try_from(witness_size.call(store).map_err(call)?).unwrap_or(0),
        };
        if n32.call(store).map_err(call)? != 8 {
            return Err("the circuit was not compiled for a 254-bit field".to_owned());
        }
        raw_prime.call(store).map_err(call)?;
        let prime = calculator.read_element(store)?;
        if prime != <Fr as PrimeField>::MODULUS.to_bytes_le() {
            return Err("the circuit was compiled for another prime than BN254's scalar field \
                        (compile with circom's default `--prime bn128`)"
                .to_owned());
        }
        Ok(calculator)
    }

    /// The little-endian bytes in the shared read/write area.
    fn read_element(&self, store: &Store) -> Result<Vec<u8>, String> {
        let mut bytes = vec![0; ELEMENT_BYTES];
        self.memory.view(store).read(self.shared, &mut bytes).map_err(|e| e.to_string())?;
        Ok(bytes)
    }

    fn run(&self, store: &mut Store, inputs: &[(u64, Vec<Fr>)]) -> Result<Vec<Fr>, String> {
        self.init.call(store, 1).map_err(|e| e.to_string())?;
        let mut set = 0;
        for (hash, values) in inputs {
            // circom addresses an input by the FNV-1a hash of its name, split in two words.
            let (msb, lsb) = ((hash >> 32) as u32 as i32, *hash as u32 as i32);
            for (position, value) in values.iter().enumerate() {
                self.memory
                    .view(store)
                    .write(self.shared, &value.into_bigint().to_bytes_le())
                    .map_err(|e| e.to_string())?;
                let position = i32::try_from(position).map_err(|_| "input array too long")?;
                self.set_input_signal
                    .call(store, msb, lsb, position)
                    .map_err(|e| self.explain(store, e))?;
                set += 1;
            }
        }
        if set < self.input_size {
            return Err(format!(
                "{} of the circuit's {} input values are missing",
                self.input_size - set,
                self.input_size
            ));
        }
        let mut witness = Vec::with_capacity(self.witness_size);
        let mut bytes = [0u8; ELEMENT_BYTES];
        for i in 0..self.witness_size {
            self.get_witness.call(store, i as i32).map_err(|e| e.to_string())?;
            self.memory.view(store).read(self.shared, &mut bytes).map_err(|e| e.to_string())?;
            witness.push(Fr::from_le_bytes_mod_order(&bytes));
        }
        Ok(witness)
    }

    /// A trap's message with what the calculator left in its message buffer (a failed
    /// assertion names its template and line there).
    fn explain(&self, store: &mut Store, error: RuntimeError) -> String {
        let mut message = Vec::new();
        while let Ok(c) = self.get_message_char.call(store) {
            match u8::try_from(c) {
                Ok(0) | Err(_) => break,
                Ok(_) if message.len() >= 512 => break,
                Ok(c) => message.push(c),
            }
        }
        let message = String::from_utf8_lossy(&message);
        let message = message.trim();
        if message.is_empty() { error.message() } else { format!("{}: {message}", error.message()) }
    }
}

/// FNV-1a, 64 bits: how circom's calculator names input signals.
fn fnv1a(name: &str) -> u64 {
    name.bytes().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// A compiled witness calculator and the signal names of its circuit.
pub struct WitnessCircuit {
    store: Store,
    calculator: Calculator,
    signals: Arc<HashMap<String, usize>>,
    /// Names of the main component's own signals (`x` for `main.x` and `main.x[3]`).
    top_level: HashSet<String>,
    /// Wires of the constant 1 and the public signals.
    num_inputs: usize,
    num_wires: usize,
    /// The constraints as the prover reads them: rows of `(coefficient, wire)` for A, B and C.
    matrices: [Vec<Vec<(Fr, usize)>>; 3],
    name: String,
    native_inverse: bool,
    wasm_path: PathBuf,
    wasm_sha256: [u8; 32],
    /// The native witness computation, when loaded (see [`crate::graph`]).
    graph: Option<WitnessGraph>,
}

impl std::fmt::Debug for WitnessCircuit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WitnessCircuit")
            .field("signals", &self.signals.len())
            .finish_non_exhaustive()
    }
}

/// A computed witness with access by signal name.
#[derive(Debug, Clone)]
pub struct Witness {
    values: Vec<Fr>,
    signals: Arc<HashMap<String, usize>>,
}

impl WitnessCircuit {
    /// Loads circuit `name` from a circom output directory: `<name>_js/<name>.wasm`,
    /// `<name>.sym` and `<name>.r1cs`.
    /// A `<name>.graph` beside them computes the witnesses natively (see [`crate::graph`]).
    pub fn load(dir: &Path, name: &str) -> Result<Self, ProverError> {
        Self::load_inner(dir, name, None, true)
    }

    /// The wasm calculator alone, ignoring any graph file: what a graph is traced from.
    pub fn load_reference(dir: &Path, name: &str) -> Result<Self, ProverError> {
        Self::load_inner(dir, name, None, false)
    }

    /// As [`WitnessCircuit::load`], refusing a wasm, r1cs or graph whose sha256 is not the
    /// manifest's.
    pub fn load_checked(dir: &Path, name: &str, manifest: &Manifest) -> Result<Self, ProverError> {
        Self::load_inner(dir, name, Some(manifest), true)
    }

    fn load_inner(
        dir: &Path,
        name: &str,
        manifest: Option<&Manifest>,
        with_graph: bool,
    ) -> Result<Self, ProverError> {
        let expected = manifest.map(|m| m.entry(name)).transpose()?;
        let wasm = dir.join(format!("{name}_js/{name}.wasm"));
        let mut store = Store::default();
        let wasm = wasm.as_path();
        let bytes = std::fs::read(wasm)
            .map_err(|source| ProverError::Artifact { path: wasm.to_owned(), source })?;
        let r1cs_path = dir.join(format!("{name}.r1cs"));
        let r1cs_bytes = std::fs::read(&r1cs_path)
            .map_err(|source| ProverError::Artifact { path: r1cs_path.clone(), source })?;
        if let (Some(manifest), Some(expected)) = (manifest, &expected) {
            manifest.check(wasm, &expected.wasm_sha256, &sha256_hex(&bytes))?;
            manifest.check(&r1cs_path, &expected.r1cs_sha256, &sha256_hex(&r1cs_bytes))?;
        }
        let wasm_sha256: [u8; 32] = Sha256::digest(&bytes).into();
        let wasm_error = |reason: String| ProverError::Wasm { path: wasm.to_owned(), reason };
        let patched = native_inverse::patch(&bytes).map_err(wasm_error)?;
        let native_inverse = patched.is_some();
        let module = wasmer::Module::new(&store, patched.unwrap_or(bytes))
            .map_err(|e| wasm_error(e.to_string()))?;
        let calculator = Calculator::new(&mut store, &module).map_err(wasm_error)?;
        let signals = read_symbols(&dir.join(format!("{name}.sym")))?;
        let r1cs = read_r1cs(r1cs_path, &r1cs_bytes)?;
        let (num_inputs, num_wires) = (r1cs.num_inputs, r1cs.num_inputs + r1cs.num_aux);
        if calculator.witness_size != num_wires {
            return Err(ProverError::Malformed {
                path: wasm.to_owned(),
                reason: format!(
                    "the calculator computes {} wires, {name}.r1cs has {num_wires}: they come \
                     from different builds",
                    calculator.witness_size,
                ),
            });
        }
        let top_level = signals
            .keys()
            .filter_map(|s| s.strip_prefix("main."))
            .filter(|s| !s.contains('.'))
            .map(|s| s.split('[').next().unwrap_or(s).to_owned())
            .collect();
        let mut matrices: [Vec<Vec<(Fr, usize)>>; 3] = Default::default();
        for (a, b, c) in r1cs.constraints {
            for (matrix, lc) in matrices.iter_mut().zip([a, b, c]) {
                matrix.push(lc.into_iter().map(|(wire, coeff)| (coeff, wire)).collect());
            }
        }
        Ok(Self {
            store,
            calculator,
            signals: Arc::new(signals),
            top_level,
            num_inputs,
            num_wires,
            matrices,
            name: name.to_owned(),
            native_inverse,
            wasm_path: wasm.to_owned(),
            wasm_sha256,
            graph: None,
        })
        .and_then(|mut circuit| {
            // Under a manifest that records no graph, a graph file is not trusted: the wasm
            // computes every witness.
            let graph_sha256 = expected.as_ref().map(|e| e.graph_sha256.as_deref());
            if with_graph && graph_sha256 != Some(None) {
                circuit.load_graph(dir, graph_sha256.flatten(), manifest)?;
            }
            Ok(circuit)
        })
    }

    /// Reads `<dir>/<name>.graph` when it exists: a graph of another wasm, or (with a manifest
    /// that records one) another graph than the manifest's, is refused.
    fn load_graph(
        &mut self,
        dir: &Path,
        expected: Option<&str>,
        manifest: Option<&Manifest>,
    ) -> Result<(), ProverError> {
        let path = dir.join(format!("{}.graph", self.name));
        let bytes = match std::fs::read(&path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(source) => return Err(ProverError::Artifact { path, source }),
        };
        if let (Some(manifest), Some(expected)) = (manifest, expected) {
            manifest.check(&path, expected, &sha256_hex(&bytes))?;
        }
        let graph = WitnessGraph::from_bytes(&bytes)
            .map_err(|reason| ProverError::Malformed { path: path.clone(), reason })?;
        self.use_graph(graph).map_err(|_| ProverError::Malformed {
            path,
            reason: "traced from another wasm calculator: rebuild it with `make keys`".to_owned(),
        })
    }

    /// Computes witnesses with `graph` from now on (the wasm still computes any statement the
    /// graph misses). Refuses a graph traced from another calculator.
    pub fn use_graph(&mut self, graph: WitnessGraph) -> Result<(), ProverError> {
        if graph.wasm_sha256() != self.wasm_sha256 || graph.outputs.len() != self.num_wires {
            return Err(ProverError::Malformed {
                path: self.wasm_path.clone(),
                reason: "the witness graph was traced from another calculator".to_owned(),
            });
        }
        self.graph = Some(graph);
        Ok(())
    }

    /// Whether witnesses are computed natively by a graph.
    pub fn has_graph(&self) -> bool {
        self.graph.is_some()
    }

    /// Traces the calculator on a valid statement into a [`WitnessGraph`] (see
    /// [`crate::graph`]); it is checked on the same statement against the wasm.
    pub fn trace(
        &mut self,
        inputs: Vec<(String, Vec<BigInt>)>,
    ) -> Result<WitnessGraph, ProverError> {
        let inputs = self.hashed_inputs(inputs)?;
        let wasm = std::fs::read(&self.wasm_path)
            .map_err(|source| ProverError::Artifact { path: self.wasm_path.clone(), source })?;
        let path = self.wasm_path.clone();
        let wasm_error = |reason: String| ProverError::Wasm { path: path.clone(), reason };
        let graph = crate::graph::trace(&wasm, &inputs).map_err(wasm_error)?;
        let expected = self.run_wasm(&inputs)?;
        if graph.evaluate(&inputs).ok() != Some(expected) {
            return Err(wasm_error("the traced graph computes another witness".to_owned()));
        }
        Ok(graph)
    }

    /// Computes the witness for named inputs (arrays flattened in row-major order) and checks
    /// every constraint on it.
    pub fn calculate(
        &mut self,
        inputs: Vec<(String, Vec<BigInt>)>,
    ) -> Result<Witness, ProverError> {
        let values = self.calculate_unchecked(inputs)?;
        crate::qap::evaluate_rows(&self.matrices, self.num_constraints(), &values)?;
        Ok(Witness { values, signals: Arc::clone(&self.signals) })
    }

    /// The full witness without the constraint check: the prover's quotient evaluates every
    /// constraint row anyway and checks them there.
    pub(crate) fn calculate_unchecked(
        &mut self,
        inputs: Vec<(String, Vec<BigInt>)>,
    ) -> Result<Vec<Fr>, ProverError> {
        let inputs = self.hashed_inputs(inputs)?;
        if let Some(graph) = &self.graph
            && let Ok(witness) = graph.evaluate(&inputs)
        {
            return Ok(witness);
        }
        self.run_wasm(&inputs)
    }

    /// The witness computed by the loaded graph alone: `Ok(Err(miss))` when there is none or the
    /// statement is not one it computes (tests and benchmarks use it to see which path ran).
    pub fn calculate_in_graph(
        &self,
        inputs: Vec<(String, Vec<BigInt>)>,
    ) -> Result<Result<Vec<Fr>, Miss>, ProverError> {
        let inputs = self.hashed_inputs(inputs)?;
        Ok(self.graph.as_ref().map_or(Err(Miss::Absent), |graph| graph.evaluate(&inputs)))
    }

    /// The witness computed by the wasm calculator, whether or not a graph is loaded (the
    /// reference the graph is tested against).
    pub fn calculate_in_wasm(
        &mut self,
        inputs: Vec<(String, Vec<BigInt>)>,
    ) -> Result<Vec<Fr>, ProverError> {
        let inputs = self.hashed_inputs(inputs)?;
        self.run_wasm(&inputs)
    }

    fn run_wasm(&mut self, inputs: &[(u64, Vec<Fr>)]) -> Result<Vec<Fr>, ProverError> {
        self.calculator
            .run(&mut self.store, inputs)
            .map_err(|e| ProverError::Unsatisfied(first_line(&e)))
    }

    /// Inputs by the hash circom names them with, values reduced into the field.
    fn hashed_inputs(
        &self,
        inputs: Vec<(String, Vec<BigInt>)>,
    ) -> Result<Vec<(u64, Vec<Fr>)>, ProverError> {
        // The wasm ignores inputs it does not know; a misspelt name must not pass unnoticed.
        if let Some((unknown, _)) = inputs.iter().find(|(name, _)| !self.top_level.contains(name)) {
            return Err(ProverError::UnknownSignal(unknown.clone()));
        }
        Ok(inputs
            .into_iter()
            .map(|(name, values)| (fnv1a(&name), values.iter().map(input_to_fr).collect()))
            .collect())
    }

    /// Whether the calculator's field inversions run natively (see [`crate::native_inverse`]).
    pub fn native_inverse(&self) -> bool {
        self.native_inverse
    }

    /// The circuit's name (its file stem).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The constraint system in ark-circom's form, with wires in witness order (for key
    /// generation; proving reads [`WitnessCircuit::matrices`]).
    pub fn r1cs(&self) -> R1CS<Fr> {
        let [a, b, c] = &self.matrices;
        let lc = |row: &[(Fr, usize)]| row.iter().map(|&(coeff, wire)| (wire, coeff)).collect();
        R1CS {
            num_inputs: self.num_inputs,
            num_aux: self.num_wires - self.num_inputs,
            num_variables: self.num_wires,
            constraints: a.iter().zip(b).zip(c).map(|((a, b), c)| (lc(a), lc(b), lc(c))).collect(),
            wire_mapping: None,
        }
    }

    /// The A, B and C matrices, rows of `(coefficient, wire)`.
    pub fn matrices(&self) -> &[Vec<Vec<(Fr, usize)>>; 3] {
        &self.matrices
    }

    /// Number of wires: the constant 1, the public signals, then the private ones.
    pub fn num_wires(&self) -> usize {
        self.num_wires
    }

    /// Number of constraints.
    pub fn num_constraints(&self) -> usize {
        self.matrices[0].len()
    }

    /// Number of public signals (outputs, then public inputs).
    pub fn public_count(&self) -> usize {
        self.num_inputs - 1
    }
}

fn read_r1cs(path: PathBuf, bytes: &[u8]) -> Result<R1CS<Fr>, ProverError> {
    let r1cs = R1CSFile::<Fr>::new(std::io::Cursor::new(bytes))
        .map_err(|e| ProverError::Malformed { path, reason: e.to_string() })?;
    let mut r1cs = R1CS::from(r1cs);
    // circom's wasm writes the witness in wire order already.
    r1cs.wire_mapping = None;
    Ok(r1cs)
}

/// An input value reduced into the field, as circom's calculator reads negative numbers.
fn input_to_fr(value: &BigInt) -> Fr {
    let (sign, bytes) = value.to_bytes_le();
    let magnitude = Fr::from_le_bytes_mod_order(&bytes);
    if sign == Sign::Minus { -magnitude } else { magnitude }
}

fn first_line(s: &str) -> String {
    s.lines().next().unwrap_or_default().to_owned()
}

/// Reads circom's `.sym`: `label,witness index,component,name`; index -1 marks a removed signal.
fn read_symbols(path: &Path) -> Result<HashMap<String, usize>, ProverError> {
    let text = std::fs::read_to_string(path)
        .map_err(|source| ProverError::Artifact { path: path.to_owned(), source })?;
    let mut signals = HashMap::new();
    for (i, line) in text.lines().enumerate() {
        let malformed = || ProverError::Symbols { path: path.to_owned(), line: i + 1 };
        let mut fields = line.splitn(4, ',');
        let (_label, index, _component, name) =
            (fields.next(), fields.next(), fields.next(), fields.next());
        let index: i64 = index.and_then(|s| s.parse().ok()).ok_or_else(malformed)?;
        let name = name.ok_or_else(malformed)?;
        if let Ok(index) = usize::try_from(index) {
            signals.insert(name.to_owned(), index);
        }
    }
    Ok(signals)
}

impl Witness {
    /// The value of a signal, named as in circom (`main.out[0]`; the `main.` prefix is optional).
    pub fn get(&self, name: &str) -> Result<Fr, ProverError> {
        let full = if name.starts_with("main.") { name.to_owned() } else { format!("main.{name}") };
        self.signals
            .get(&full)
            .and_then(|&i| self.values.get(i))
            .copied()
            .ok_or_else(|| ProverError::UnknownSignal(name.to_owned()))
    }

    /// Every witness value in wire order (wire 0 is the constant 1).
    pub fn values(&self) -> &[Fr] {
        &self.values
    }

    /// The witness values, consumed.
    pub fn into_values(self) -> Vec<Fr> {
        self.values
    }
}
