//! Records a [`WitnessGraph`] by running the instrumented calculator on one valid statement.
//!
//! The host keeps a shadow of the calculator's memory: which graph value each field element
//! address holds. An operation's operands are read through it (an address nobody traced wrote
//! is a constant of the program, or one of the main component's inputs), its result is
//! recorded as a node and written to it. Before tracing, one run with large input values finds
//! the address of every input (the calculator stores small ones without a traced copy).

use super::{Guard, Node, Op, WitnessGraph, instrument};
use crate::native_inverse;
use ark_bn254::Fr;
use ark_ff::{BigInteger, Field, PrimeField, Zero};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use wasmer::{
    Function, FunctionEnv, FunctionEnvMut, Instance, Memory, Module, RuntimeError, Store,
    TypedFunction, imports,
};

/// Bytes of one element in the calculator's memory: a 32-bit short value, 32 bits of type
/// flags, then the 256-bit long value.
const ELEMENT: usize = 40;
const LONG: u32 = 0x8000_0000;
const MONTGOMERY: u32 = 0x4000_0000;

/// Traces the witness computation of `wasm` (circom's calculator) on `inputs`, which must be a
/// statement satisfying the circuit: `(FNV-1a hash of the signal name, its values)`.
pub fn trace(wasm: &[u8], inputs: &[(u64, Vec<Fr>)]) -> Result<WitnessGraph, String> {
    let instrumented = instrument::instrument(wasm)?;
    let mut store = Store::default();
    let module = Module::new(&store, &instrumented.wasm).map_err(|e| e.to_string())?;
    let operations = instrumented.operations.iter().map(|name| Operation::of(name)).collect();
    let env = FunctionEnv::new(&mut store, Tracer::new(operations, instrumented.operations));
    let memory_env = FunctionEnv::new(&mut store, None::<Memory>);
    let trap = |code: i32| -> Result<(), RuntimeError> {
        Err(RuntimeError::new(format!("the calculator stopped (circom exception code {code})")))
    };
    let imports = imports! {
        "runtime" => {
            "exceptionHandler" => Function::new_typed(&mut store, trap),
            "printErrorMessage" => Function::new_typed(&mut store, || {}),
            "writeBufferMessage" => Function::new_typed(&mut store, || {}),
            "showSharedRWMemory" => Function::new_typed(&mut store, || {}),
        },
        instrument::MODULE => {
            "pre" => Function::new_typed_with_env(&mut store, &env, pre),
            "post" => Function::new_typed_with_env(&mut store, &env, post),
            "branchBegin" => Function::new_typed_with_env(&mut store, &env, branch_begin),
            "branchElse" => Function::new_typed_with_env(&mut store, &env, branch_else),
            "branchEnd" => Function::new_typed_with_env(&mut store, &env, branch_end),
            "inverseModPrime" => Function::new_typed_with_env(
                &mut store, &memory_env, native_inverse::inverse_mod_prime
            ),
        }
    };
    let instance = Instance::new(&mut store, &module, &imports).map_err(|e| e.to_string())?;
    let exports = &instance.exports;
    let memory = exports.get_memory("memory").map_err(|e| e.to_string())?.clone();
    *memory_env.as_mut(&mut store) = Some(memory.clone());
    env.as_mut(&mut store).memory = Some(memory);
    macro_rules! export {
        ($name:literal) => {
            exports.get_typed_function(&store, $name).map_err(|e| format!("{}: {e}", $name))?
        };
    }
    let init: TypedFunction<i32, ()> = export!("init");
    let set_input: TypedFunction<(i32, i32, i32), ()> = export!("setInputSignal");
    let get_witness: TypedFunction<i32, ()> = export!("getWitness");
    let shared_start: TypedFunction<(), i32> = export!("getSharedRWMemoryStart");
    let input_size: TypedFunction<(), i32> = export!("getInputSize");
    let witness_size: TypedFunction<(), i32> = export!("getWitnessSize");
    let call = |e: RuntimeError| e.message();
    // The element the host reads and writes: its value starts at the shared area.
    let shared = (shared_start.call(&mut store).map_err(call)? as u32) - 8;
    env.as_mut(&mut store).shared = shared;
    let slots: Vec<(u64, u32, Fr)> = inputs
        .iter()
        .flat_map(|(hash, values)| values.iter().enumerate().map(|(i, v)| (*hash, i as u32, *v)))
        .collect();
    if slots.len() != input_size.call(&mut store).map_err(call)? as usize {
        return Err("the statement does not give every input of the circuit".to_owned());
    }
    let set = |store: &mut Store, slot: usize, value: Fr| -> Result<(), RuntimeError> {
        let (hash, position, _) = slots[slot];
        env.as_mut(store).current_slot = Some(slot as u32);
        let view = env.as_ref(store).memory().view(store);
        view.write(u64::from(shared) + 8, &value.into_bigint().to_bytes_le())
            .map_err(|e| RuntimeError::new(e.to_string()))?;
        set_input.call(store, (hash >> 32) as u32 as i32, hash as u32 as i32, position as i32)
    };

    // Find where each input lives: large values take the calculator's traced copy.
    env.as_mut(&mut store).discovering = true;
    init.call(&mut store, 1).map_err(call)?;
    for slot in 0..slots.len() {
        let large = Fr::from(2u64).pow([200]) + Fr::from(slot as u64);
        if let Err(e) = set(&mut store, slot, large) {
            let tracer = env.as_ref(&store);
            if tracer.input_address.len() < slots.len() {
                return Err(format!("cannot find the inputs' addresses: {}", e.message()));
            }
        }
    }

    // Trace the statement.
    let tracer = env.as_mut(&mut store);
    tracer.discovering = false;
    tracer.current_slot = None;
    for &(_, _, value) in &slots {
        tracer.kinds.push(Kind::Input);
        tracer.values.push(value);
    }
    init.call(&mut store, 1).map_err(call)?;
    for (slot, &(_, _, value)) in slots.iter().enumerate() {
        set(&mut store, slot, value).map_err(|e| {
            env.as_ref(&store).failure.clone().unwrap_or_else(|| {
                format!("the statement does not satisfy the circuit: {}", e.message())
            })
        })?;
    }
    let wires = witness_size.call(&mut store).map_err(call)?;
    let mut outputs = Vec::with_capacity(wires as usize);
    for wire in 0..wires {
        get_witness.call(&mut store, wire).map_err(call)?;
        let mut env = env.clone().into_mut(&mut store);
        let (tracer, store) = env.data_and_store_mut();
        outputs.push(tracer.resolve(&store, shared).map_err(|e| e.message())?);
    }
    let tracer = env.as_ref(&store);
    if let Some(failure) = &tracer.failure {
        return Err(failure.clone());
    }
    if !tracer.branches.is_empty() {
        return Err("a traced branch did not end".to_owned());
    }
    Ok(tracer.finish(
        Sha256::digest(wasm).into(),
        slots.iter().map(|&(hash, position, _)| (hash, position)).collect(),
        &outputs,
    ))
}

/// What a wrapped calculator function does, as the tracer sees it.
#[derive(Debug, Clone, Copy)]
enum Operation {
    /// `(r, a)`: `r = a`.
    Copy,
    /// `(r, a, n)`: `n` elements.
    CopyN,
    /// `(r, a[, b])`: `r = op(a, b)`.
    Compute(Op),
    /// `(r)`: the representation of `r` changes, not its value.
    InPlace,
    /// `(a) -> i32`: whether `a` is not zero.
    Truth,
    /// `(a) -> i32`: `a` as a machine integer.
    ToInt,
    /// Used only on the calculator's own bookkeeping (setting inputs): must not touch traced
    /// values.
    Other,
}

impl Operation {
    fn of(name: &str) -> Self {
        match name {
            "Fr_copy" => Self::Copy,
            "Fr_copyn" => Self::CopyN,
            "Fr_toLongNormal" | "Fr_toNormal" | "Fr_toMontgomery" => Self::InPlace,
            "Fr_isTrue" => Self::Truth,
            "Fr_toInt" => Self::ToInt,
            _ => Op::of_function(name).map_or(Self::Other, Operation::Compute),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    Input,
    Constant,
    Node(Node),
}

type Element = [u8; ELEMENT];

/// An address's state before a branch arm wrote it.
#[derive(Clone, Copy)]
struct Before {
    bytes: Element,
    value: Option<u32>,
}

struct Branch {
    condition: u32,
    taken: bool,
    /// State before the arm now running wrote each address.
    journal: HashMap<u32, Before>,
    /// The first arm's journal and what it left at each address.
    first: Option<(HashMap<u32, Before>, Left)>,
}

/// What an arm left at each address it wrote: the value and the memory.
type Left = HashMap<u32, (u32, Element)>;

struct Pending {
    result: u32,
    before: Vec<Element>,
    operands: Vec<u32>,
}

struct Tracer {
    memory: Option<Memory>,
    operations: Vec<Operation>,
    names: Vec<String>,
    shared: u32,
    discovering: bool,
    current_slot: Option<u32>,
    /// Address of each input value → its slot.
    input_address: HashMap<u32, u32>,
    shadow: HashMap<u32, u32>,
    kinds: Vec<Kind>,
    values: Vec<Fr>,
    constants: HashMap<Fr, u32>,
    pending: Option<Pending>,
    branches: Vec<Branch>,
    guards: Vec<Guard>,
    failure: Option<String>,
    /// `2^-256`: undoes the Montgomery form of a long element.
    r_inverse: Fr,
}

impl Tracer {
    fn new(operations: Vec<Operation>, names: Vec<String>) -> Self {
        Self {
            memory: None,
            operations,
            names,
            shared: 0,
            discovering: false,
            current_slot: None,
            input_address: HashMap::new(),
            shadow: HashMap::new(),
            kinds: Vec::new(),
            values: Vec::new(),
            constants: HashMap::new(),
            pending: None,
            branches: Vec::new(),
            guards: Vec::new(),
            failure: None,
            r_inverse: Fr::from(2u64).pow([256]).inverse().unwrap_or_default(),
        }
    }

    fn memory(&self) -> &Memory {
        self.memory.as_ref().unwrap_or_else(|| unreachable!("bound before the first call"))
    }

    fn read(&self, store: &impl wasmer::AsStoreRef, address: u32) -> Result<Element, RuntimeError> {
        let mut bytes = [0u8; ELEMENT];
        self.memory()
            .view(store)
            .read(u64::from(address), &mut bytes)
            .map_err(|e| RuntimeError::new(e.to_string()))?;
        Ok(bytes)
    }

    fn write(
        &self,
        store: &impl wasmer::AsStoreRef,
        address: u32,
        bytes: &Element,
    ) -> Result<(), RuntimeError> {
        self.memory()
            .view(store)
            .write(u64::from(address), bytes)
            .map_err(|e| RuntimeError::new(e.to_string()))
    }

    fn decode(&self, bytes: &Element) -> Fr {
        let short = i32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
        let flags = u32::from_le_bytes([bytes[4], bytes[5], bytes[6], bytes[7]]);
        if flags & LONG == 0 {
            return Fr::from(i64::from(short));
        }
        let value = Fr::from_le_bytes_mod_order(&bytes[8..]);
        if flags & MONTGOMERY != 0 { value * self.r_inverse } else { value }
    }

    fn constant(&mut self, value: Fr) -> u32 {
        if let Some(&id) = self.constants.get(&value) {
            return id;
        }
        let id = self.push(Kind::Constant, value);
        self.constants.insert(value, id);
        id
    }

    fn push(&mut self, kind: Kind, value: Fr) -> u32 {
        self.kinds.push(kind);
        self.values.push(value);
        (self.kinds.len() - 1) as u32
    }

    fn is_constant(&self, id: u32) -> bool {
        self.kinds[id as usize] == Kind::Constant
    }

    /// The value an address holds: an input, what a traced operation wrote there (if the
    /// memory still holds it), or else a constant.
    fn resolve(
        &mut self,
        store: &impl wasmer::AsStoreRef,
        address: u32,
    ) -> Result<u32, RuntimeError> {
        if let Some(&slot) = self.input_address.get(&address) {
            return Ok(slot);
        }
        let value = self.decode(&self.read(store, address)?);
        match self.shadow.get(&address) {
            Some(&id) if self.values[id as usize] == value => Ok(id),
            _ => Ok(self.constant(value)),
        }
    }

    /// Records that `address` now holds value `id` (its memory was `before`).
    fn assign(&mut self, address: u32, id: u32, before: Element) {
        if self.input_address.contains_key(&address) {
            return;
        }
        let previous = self.shadow.insert(address, id);
        if let Some(branch) = self.branches.last_mut() {
            branch.journal.entry(address).or_insert(Before { bytes: before, value: previous });
        }
    }

    fn fail(&mut self, message: String) -> RuntimeError {
        let error = RuntimeError::new(message.clone());
        self.failure.get_or_insert(message);
        error
    }

    /// The graph of everything the outputs and guards depend on, renumbered: inputs, then
    /// constants, then nodes.
    fn finish(
        &self,
        wasm_sha256: [u8; 32],
        inputs: Vec<(u64, u32)>,
        outputs: &[u32],
    ) -> WitnessGraph {
        let mut live = vec![false; self.kinds.len()];
        for &id in outputs {
            live[id as usize] = true;
        }
        for guard in &self.guards {
            match *guard {
                Guard::Truth { value, .. } => live[value as usize] = true,
                Guard::Equal { value, constant } => {
                    live[value as usize] = true;
                    live[constant as usize] = true;
                }
            }
        }
        for id in (0..self.kinds.len()).rev() {
            if let (true, Kind::Node(node)) = (live[id], self.kinds[id]) {
                live[node.a as usize] = true;
                if !node.op.is_unary() {
                    live[node.b as usize] = true;
                }
                if node.op == Op::Select {
                    live[node.c as usize] = true;
                }
            }
        }
        let mut renumbered = vec![u32::MAX; self.kinds.len()];
        let mut next = 0u32;
        let mut number = |pass: &dyn Fn(&Kind) -> bool| {
            for (id, kind) in self.kinds.iter().enumerate() {
                if pass(kind) && (live[id] || *kind == Kind::Input) {
                    renumbered[id] = next;
                    next += 1;
                }
            }
        };
        number(&|k| *k == Kind::Input);
        number(&|k| *k == Kind::Constant);
        number(&|k| matches!(k, Kind::Node(_)));
        let map = |id: u32| renumbered[id as usize];
        let constants_start = inputs.len() as u32;
        let mut constants = Vec::new();
        let mut nodes = Vec::new();
        for (id, kind) in self.kinds.iter().enumerate() {
            if renumbered[id] == u32::MAX {
                continue;
            }
            match kind {
                Kind::Input => {}
                Kind::Constant => constants.push(self.values[id]),
                Kind::Node(node) => nodes.push(Node {
                    op: node.op,
                    a: map(node.a),
                    b: if node.op.is_unary() { 0 } else { map(node.b) },
                    c: if node.op == Op::Select { map(node.c) } else { 0 },
                }),
            }
        }
        let guards = self
            .guards
            .iter()
            .map(|guard| match *guard {
                Guard::Truth { value, truth } => Guard::Truth { value: map(value), truth },
                Guard::Equal { value, constant } => {
                    Guard::Equal { value: map(value), constant: map(constant) - constants_start }
                }
            })
            .collect();
        let outputs = outputs.iter().map(|&id| map(id)).collect();
        WitnessGraph::new(wasm_sha256, inputs, constants, nodes, outputs, guards)
    }
}

fn address(p: i32) -> u32 {
    p as u32
}

fn pre(
    mut env: FunctionEnvMut<'_, Tracer>,
    op: i32,
    p0: i32,
    p1: i32,
    p2: i32,
) -> Result<(), RuntimeError> {
    let (tracer, store) = env.data_and_store_mut();
    let operation = tracer.operations[op as usize];
    if tracer.discovering {
        if let Some(slot) = tracer.current_slot {
            if tracer.input_address.values().any(|&s| s == slot) {
                return Err(RuntimeError::new("inputs found"));
            }
            if matches!(operation, Operation::Copy) && address(p1) == tracer.shared {
                tracer.input_address.insert(address(p0), slot);
            }
        }
        return Ok(());
    }
    let (result, sources): (u32, Vec<u32>) = match operation {
        Operation::Copy => (address(p0), vec![address(p1)]),
        Operation::CopyN => {
            let n = p2.max(0) as u32;
            (address(p0), (0..n).map(|i| address(p1) + i * ELEMENT as u32).collect())
        }
        Operation::Compute(op) if op.is_unary() => (address(p0), vec![address(p1)]),
        Operation::Compute(_) => (address(p0), vec![address(p1), address(p2)]),
        Operation::Truth | Operation::ToInt => (u32::MAX, vec![address(p0)]),
        Operation::InPlace => return Ok(()),
        Operation::Other => {
            // Only `setInputSignal` calls these (on the input it sets, to choose how to store
            // it); anywhere else they would read a value the graph does not see.
            let touched = [p0, p1, p2].iter().any(|&p| {
                tracer.shadow.get(&address(p)).is_some_and(|&id| !tracer.is_constant(id))
                    || tracer
                        .input_address
                        .get(&address(p))
                        .is_some_and(|&slot| Some(slot) != tracer.current_slot)
            });
            if touched {
                let name = tracer.names[op as usize].clone();
                return Err(tracer.fail(format!("{name} reads a traced value: cannot trace it")));
            }
            return Ok(());
        }
    };
    let mut operands = Vec::with_capacity(sources.len());
    for source in sources {
        operands.push(tracer.resolve(&store, source)?);
    }
    let count = if matches!(operation, Operation::CopyN) { operands.len() } else { 1 };
    let mut before = Vec::with_capacity(count);
    if result != u32::MAX {
        for i in 0..count as u32 {
            before.push(tracer.read(&store, result + i * ELEMENT as u32)?);
        }
    }
    tracer.pending = Some(Pending { result, before, operands });
    Ok(())
}

fn post(
    mut env: FunctionEnvMut<'_, Tracer>,
    op: i32,
    _p0: i32,
    _p1: i32,
    _p2: i32,
    returned: i32,
) -> Result<(), RuntimeError> {
    let (tracer, store) = env.data_and_store_mut();
    if tracer.discovering {
        return Ok(());
    }
    let operation = tracer.operations[op as usize];
    let Some(pending) = tracer.pending.take() else { return Ok(()) };
    let name = || tracer.names[op as usize].clone();
    match operation {
        Operation::Copy | Operation::CopyN => {
            for (i, (&id, before)) in pending.operands.iter().zip(&pending.before).enumerate() {
                tracer.assign(pending.result + (i * ELEMENT) as u32, id, *before);
            }
        }
        Operation::Compute(op) => {
            let value = tracer.decode(&tracer.read(&store, pending.result)?);
            let get = |k: usize| pending.operands.get(k).copied().unwrap_or(0);
            let (a, b) = (get(0), if op.is_unary() { 0 } else { get(1) });
            let id = if pending.operands.iter().all(|&id| tracer.is_constant(id)) {
                tracer.constant(value)
            } else {
                let native =
                    op.apply(tracer.values[a as usize], tracer.values[b as usize], Fr::zero());
                if native != value {
                    let name = name();
                    return Err(tracer.fail(format!(
                        "{name}: circom computed {value}, the graph computes {native}"
                    )));
                }
                tracer.push(Kind::Node(Node { op, a, b, c: 0 }), value)
            };
            tracer.assign(pending.result, id, pending.before[0]);
        }
        Operation::Truth | Operation::ToInt => {
            let id = pending.operands[0];
            if tracer.is_constant(id) {
                return Ok(());
            }
            let value = tracer.values[id as usize];
            let guard = if matches!(operation, Operation::Truth) {
                if value.is_zero() == (returned != 0) {
                    return Err(tracer.fail(format!("{}: the graph disagrees", name())));
                }
                Guard::Truth { value: id, truth: returned != 0 }
            } else {
                Guard::Equal { value: id, constant: tracer.constant(value) }
            };
            tracer.guards.push(guard);
        }
        Operation::InPlace | Operation::Other => {}
    }
    Ok(())
}

fn branch_begin(mut env: FunctionEnvMut<'_, Tracer>, condition: i32) -> Result<(), RuntimeError> {
    let (tracer, store) = env.data_and_store_mut();
    if tracer.discovering {
        return Ok(());
    }
    let condition = tracer.resolve(&store, address(condition))?;
    let taken = !tracer.values[condition as usize].is_zero();
    tracer.branches.push(Branch { condition, taken, journal: HashMap::new(), first: None });
    Ok(())
}

/// Keeps what the first arm wrote and restores the memory it found.
fn branch_else(mut env: FunctionEnvMut<'_, Tracer>) -> Result<(), RuntimeError> {
    let (tracer, store) = env.data_and_store_mut();
    if tracer.discovering {
        return Ok(());
    }
    let Some(mut branch) = tracer.branches.pop() else {
        return Err(tracer.fail("a branch arm ended outside a branch".to_owned()));
    };
    let journal = std::mem::take(&mut branch.journal);
    let mut left = HashMap::with_capacity(journal.len());
    for (&address, before) in &journal {
        let id = tracer.shadow[&address];
        left.insert(address, (id, tracer.read(&store, address)?));
        tracer.write(&store, address, &before.bytes)?;
        match before.value {
            Some(id) => tracer.shadow.insert(address, id),
            None => tracer.shadow.remove(&address),
        };
    }
    branch.first = Some((journal, left));
    tracer.branches.push(branch);
    Ok(())
}

/// Each address either arm wrote holds `select(condition, first arm's, second arm's)`, and the
/// memory the arm the condition takes.
fn branch_end(mut env: FunctionEnvMut<'_, Tracer>) -> Result<(), RuntimeError> {
    let (tracer, store) = env.data_and_store_mut();
    if tracer.discovering {
        return Ok(());
    }
    let Some(Branch { condition, taken, journal, first: Some((first_journal, first)) }) =
        tracer.branches.pop()
    else {
        return Err(tracer.fail("a branch ended without its two arms".to_owned()));
    };
    let mut second = HashMap::with_capacity(journal.len());
    for &address in journal.keys() {
        second.insert(address, (tracer.shadow[&address], tracer.read(&store, address)?));
    }
    let mut addresses: Vec<u32> = first_journal.keys().chain(journal.keys()).copied().collect();
    addresses.sort_unstable();
    addresses.dedup();
    for address in addresses {
        let before = first_journal.get(&address).or_else(|| journal.get(&address)).copied();
        let Some(before) = before else { continue };
        let before_id = match before.value {
            Some(id) if tracer.values[id as usize] == tracer.decode(&before.bytes) => id,
            _ => tracer.constant(tracer.decode(&before.bytes)),
        };
        let (a, a_bytes) = first.get(&address).copied().unwrap_or((before_id, before.bytes));
        let (b, b_bytes) = second.get(&address).copied().unwrap_or((before_id, before.bytes));
        let id = if tracer.is_constant(condition) || a == b {
            if taken { a } else { b }
        } else {
            let value = tracer.values[if taken { a } else { b } as usize];
            tracer.push(Kind::Node(Node { op: Op::Select, a: condition, b: a, c: b }), value)
        };
        tracer.write(&store, address, if taken { &a_bytes } else { &b_bytes })?;
        tracer.assign(address, id, before.bytes);
    }
    Ok(())
}
