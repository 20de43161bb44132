//! Witness computation through circom's wasm witness calculator (ark-circom on wasmer).
//!
//! Loading compiles the wasm once (about half a second); keep a [`WitnessCircuit`] per process
//! and reuse it. Every witness is checked against the circuit's R1CS: ark-circom ignores the
//! wasm's failed assertions, so without this check an unsatisfying witness would only surface as
//! a proof that does not verify.

use crate::ProverError;
use ark_bn254::Fr;
use ark_circom::{
    WitnessCalculator,
    circom::{R1CS, R1CSFile},
};
use ark_ff::AdditiveGroup;
use num_bigint::BigInt;
use std::{
    collections::{HashMap, HashSet},
    io::BufReader,
    path::{Path, PathBuf},
    sync::Arc,
};
use wasmer::Store;

/// A compiled witness calculator and the signal names of its circuit.
pub struct WitnessCircuit {
    store: Store,
    calculator: WitnessCalculator,
    signals: Arc<HashMap<String, usize>>,
    /// Names of the main component's own signals (`x` for `main.x` and `main.x[3]`).
    top_level: HashSet<String>,
    r1cs: R1CS<Fr>,
    name: String,
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
    pub fn load(dir: &Path, name: &str) -> Result<Self, ProverError> {
        let wasm = dir.join(format!("{name}_js/{name}.wasm"));
        let mut store = Store::default();
        let wasm = wasm.as_path();
        let bytes = std::fs::read(wasm)
            .map_err(|source| ProverError::Artifact { path: wasm.to_owned(), source })?;
        let module = wasmer::Module::new(&store, bytes)
            .map_err(|e| ProverError::Wasm { path: wasm.to_owned(), reason: e.to_string() })?;
        let calculator = WitnessCalculator::from_module(&mut store, module)
            .map_err(|e| ProverError::Wasm { path: wasm.to_owned(), reason: e.to_string() })?;
        let signals = read_symbols(&dir.join(format!("{name}.sym")))?;
        let r1cs = read_r1cs(dir.join(format!("{name}.r1cs")))?;
        let top_level = signals
            .keys()
            .filter_map(|s| s.strip_prefix("main."))
            .filter(|s| !s.contains('.'))
            .map(|s| s.split('[').next().unwrap_or(s).to_owned())
            .collect();
        Ok(Self {
            store,
            calculator,
            signals: Arc::new(signals),
            top_level,
            r1cs,
            name: name.to_owned(),
        })
    }

    /// Computes the witness for named inputs (arrays flattened in row-major order).
    pub fn calculate(
        &mut self,
        inputs: Vec<(String, Vec<BigInt>)>,
    ) -> Result<Witness, ProverError> {
        // The wasm ignores inputs it does not know; a misspelt name must not pass unnoticed.
        if let Some((unknown, _)) = inputs.iter().find(|(name, _)| !self.top_level.contains(name)) {
            return Err(ProverError::UnknownSignal(unknown.clone()));
        }
        let values = self
            .calculator
            .calculate_witness_element::<Fr, _>(&mut self.store, inputs, true)
            .map_err(|e| ProverError::Unsatisfied(first_line(&e.to_string())))?;
        self.check(&values)?;
        Ok(Witness { values, signals: Arc::clone(&self.signals) })
    }

    /// Checks every constraint on a full witness.
    fn check(&self, values: &[Fr]) -> Result<(), ProverError> {
        let eval = |terms: &[(usize, Fr)]| {
            terms.iter().try_fold(Fr::ZERO, |acc, (wire, coeff)| {
                values.get(*wire).map(|v| acc + *coeff * v)
            })
        };
        let constraints = &self.r1cs.constraints;
        for (i, (a, b, c)) in constraints.iter().enumerate() {
            let holds = match (eval(a), eval(b), eval(c)) {
                (Some(a), Some(b), Some(c)) => a * b == c,
                _ => false,
            };
            if !holds {
                return Err(ProverError::Unsatisfied(format!(
                    "constraint {i} of {} does not hold",
                    constraints.len()
                )));
            }
        }
        Ok(())
    }

    /// The circuit's name (its file stem).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The constraint system, with wires in witness order.
    pub fn r1cs(&self) -> &R1CS<Fr> {
        &self.r1cs
    }

    /// Number of public signals (outputs, then public inputs).
    pub fn public_count(&self) -> usize {
        self.r1cs.num_inputs - 1
    }
}

fn read_r1cs(path: PathBuf) -> Result<R1CS<Fr>, ProverError> {
    let file = std::fs::File::open(&path)
        .map_err(|source| ProverError::Artifact { path: path.clone(), source })?;
    let r1cs = R1CSFile::<Fr>::new(BufReader::new(file))
        .map_err(|e| ProverError::Malformed { path, reason: e.to_string() })?;
    let mut r1cs = R1CS::from(r1cs);
    // circom's wasm writes the witness in wire order already.
    r1cs.wire_mapping = None;
    Ok(r1cs)
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
