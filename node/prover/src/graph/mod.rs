//! Native witness generation: a circuit's witness computation as a graph of field operations,
//! recorded once by tracing circom's wasm calculator and then evaluated with arkworks'
//! arithmetic, about ten times faster than the wasm.
//!
//! ## Why a trace is the whole computation
//!
//! circom's calculator touches field elements only through its `Fr_*` functions; the template
//! code around them moves pointers and counts loops. Control flow and addresses can depend on
//! signal values only through the two functions that turn an element into a machine integer,
//! `Fr_isTrue` and `Fr_toInt`. A trace records every `Fr_*` call with the operations whose
//! operands are all constants folded away, so it is a straight-line program that is exact for
//! every statement reaching the same results of those two functions. The trace makes that a
//! checked condition:
//!
//! - a branch on a signal whose two arms only compute (circomlib's `IsZero`:
//!   `in != 0 ? 1/in : 0`) runs both arms while tracing and becomes a `select` node, so it holds
//!   for every value;
//! - any other use of a signal as an integer (the calculator's own assertions of `===`, an
//!   index) becomes a guard: evaluation checks it and, when a statement takes another path,
//!   reports a [`Miss`] so that the caller computes that witness in wasm.
//!
//! Every non-constant operation is evaluated natively while tracing and compared with what the
//! wasm computed, so the graph's semantics of circom's operators are checked on real values;
//! the tests compare whole witnesses on random statements, and every witness is still checked
//! against the R1CS.

mod instrument;
mod trace;

pub use trace::trace;

use crate::inversion::{Inverter, batch_invert};
use ark_bn254::Fr;
use ark_ff::{AdditiveGroup, BigInt, BigInteger, Field, PrimeField, Zero};
use std::collections::HashMap;

/// The graph file's first bytes (format version 1).
const MAGIC: &[u8; 8] = b"zkcwgrf1";

/// What a node computes from its operands `a`, `b` (and `c` for [`Op::Select`]), with circom's
/// semantics of its operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum Op {
    Add,
    Sub,
    Mul,
    Div,
    Neg,
    Inv,
    Eq,
    Neq,
    Lt,
    Gt,
    Leq,
    Geq,
    Land,
    Lor,
    Lnot,
    Shr,
    Shl,
    Band,
    Bor,
    Bxor,
    Bnot,
    Idiv,
    Mod,
    Pow,
    /// `a != 0 ? b : c`.
    Select,
}

impl Op {
    const ALL: [Self; 25] = [
        Self::Add,
        Self::Sub,
        Self::Mul,
        Self::Div,
        Self::Neg,
        Self::Inv,
        Self::Eq,
        Self::Neq,
        Self::Lt,
        Self::Gt,
        Self::Leq,
        Self::Geq,
        Self::Land,
        Self::Lor,
        Self::Lnot,
        Self::Shr,
        Self::Shl,
        Self::Band,
        Self::Bor,
        Self::Bxor,
        Self::Bnot,
        Self::Idiv,
        Self::Mod,
        Self::Pow,
        Self::Select,
    ];

    fn from_u8(byte: u8) -> Option<Self> {
        Self::ALL.get(usize::from(byte)).copied()
    }

    /// The operation a calculator function performs, by the function's name.
    pub(crate) fn of_function(name: &str) -> Option<Self> {
        Some(match name {
            "Fr_add" => Self::Add,
            "Fr_sub" => Self::Sub,
            "Fr_mul" => Self::Mul,
            "Fr_div" => Self::Div,
            "Fr_neg" => Self::Neg,
            "Fr_inv" => Self::Inv,
            "Fr_eq" => Self::Eq,
            "Fr_neq" => Self::Neq,
            "Fr_lt" => Self::Lt,
            "Fr_gt" => Self::Gt,
            "Fr_leq" => Self::Leq,
            "Fr_geq" => Self::Geq,
            "Fr_land" => Self::Land,
            "Fr_lor" => Self::Lor,
            "Fr_lnot" => Self::Lnot,
            "Fr_shr" => Self::Shr,
            "Fr_shl" => Self::Shl,
            "Fr_band" => Self::Band,
            "Fr_bor" => Self::Bor,
            "Fr_bxor" => Self::Bxor,
            "Fr_bnot" => Self::Bnot,
            "Fr_idiv" => Self::Idiv,
            "Fr_mod" => Self::Mod,
            "Fr_pow" => Self::Pow,
            _ => return None,
        })
    }

    /// Whether the node inverts (see [`Schedule`]).
    fn divides(self) -> bool {
        matches!(self, Self::Div | Self::Inv)
    }

    pub(crate) fn is_unary(self) -> bool {
        matches!(self, Self::Neg | Self::Inv | Self::Lnot | Self::Bnot)
    }

    /// The result for operand values `a`, `b`, `c` (unused operands are ignored).
    #[inline]
    pub(crate) fn apply(self, a: Fr, b: Fr, c: Fr) -> Fr {
        let bit = |b: bool| if b { Fr::ONE } else { Fr::ZERO };
        match self {
            Self::Add => a + b,
            Self::Sub => a - b,
            Self::Mul => a * b,
            Self::Div => a * inverse(b),
            Self::Neg => -a,
            Self::Inv => inverse(a),
            Self::Eq => bit(a == b),
            Self::Neq => bit(a != b),
            Self::Lt => bit(signed_lt(a, b)),
            Self::Gt => bit(signed_lt(b, a)),
            Self::Leq => bit(!signed_lt(b, a)),
            Self::Geq => bit(!signed_lt(a, b)),
            Self::Land => bit(!a.is_zero() && !b.is_zero()),
            Self::Lor => bit(!a.is_zero() || !b.is_zero()),
            Self::Lnot => bit(a.is_zero()),
            Self::Shr => shift(a, b, false),
            Self::Shl => shift(a, b, true),
            Self::Band => bitwise(a, b, |x, y| x & y),
            Self::Bor => bitwise(a, b, |x, y| x | y),
            Self::Bxor => bitwise(a, b, |x, y| x ^ y),
            Self::Bnot => bitwise(a, Fr::ZERO, |x, _| !x),
            Self::Idiv | Self::Mod => {
                let (x, y) = (big(a), big(b));
                if y.is_zero() {
                    return Fr::ZERO;
                }
                Fr::from(if self == Self::Idiv { x / y } else { x % y })
            }
            Self::Pow => a.pow(b.into_bigint()),
            Self::Select => {
                if a.is_zero() {
                    c
                } else {
                    b
                }
            }
        }
    }
}

/// `x⁻¹`, zero for zero (circom's calculator divides by zero only in the arm of a branch it
/// does not take). The divsteps inverter takes about half of arkworks' time; a request witness
/// still inverts 268 times after batching (see [`Schedule`]).
fn inverse(x: Fr) -> Fr {
    const INVERTER: Inverter = Inverter::new(<Fr as PrimeField>::MODULUS.0);
    INVERTER
        .invert(x.into_bigint().0)
        .and_then(|words| Fr::from_bigint(BigInt(words)))
        .unwrap_or_default()
}

fn big(x: Fr) -> num_bigint::BigUint {
    x.into_bigint().into()
}

/// `(p - 1) / 2`: circom reads larger values as negative in comparisons and shift amounts.
const HALF: BigInt<4> = <Fr as PrimeField>::MODULUS_MINUS_ONE_DIV_TWO;

/// circom's `<`: both sides as integers in `(-p/2, p/2]`.
fn signed_lt(a: Fr, b: Fr) -> bool {
    let (x, y) = (a.into_bigint(), b.into_bigint());
    match (x > HALF, y > HALF) {
        (true, false) => true,
        (false, true) => false,
        _ => x < y,
    }
}

/// Bits of circom's bitwise results: they are taken modulo `2^254`, then reduced modulo `p`.
const BITS: u32 = 254;

/// circom's shifts: `a >> k` is `a / 2^k` for `k <= p/2` and `a << (p - k)` above; `a << k`
/// keeps the low 254 bits, reduced modulo `p`.
fn shift(a: Fr, k: Fr, left: bool) -> Fr {
    let amount = k.into_bigint();
    let (left, amount) = if amount > HALF { (!left, (-k).into_bigint()) } else { (left, amount) };
    if amount.0[1..].iter().any(|&w| w != 0) || amount.0[0] >= u64::from(BITS) {
        return Fr::ZERO;
    }
    let amount = amount.0[0] as u32;
    let mut x = a.into_bigint();
    if left {
        x <<= amount;
        x.0[3] &= (1 << (BITS - 192)) - 1;
        reduce(x)
    } else {
        x >>= amount;
        reduce(x)
    }
}

fn bitwise(a: Fr, b: Fr, f: impl Fn(u64, u64) -> u64) -> Fr {
    let (x, y) = (a.into_bigint(), b.into_bigint());
    let mut r = BigInt::<4>::zero();
    for i in 0..4 {
        r.0[i] = f(x.0[i], y.0[i]);
    }
    r.0[3] &= (1 << (BITS - 192)) - 1;
    reduce(r)
}

/// An integer below `2^254` modulo `p`.
fn reduce(x: BigInt<4>) -> Fr {
    Fr::from_bigint(x).unwrap_or_else(|| {
        let mut bytes = [0u8; 32];
        for (chunk, word) in bytes.chunks_exact_mut(8).zip(x.0) {
            chunk.copy_from_slice(&word.to_le_bytes());
        }
        Fr::from_le_bytes_mod_order(&bytes)
    })
}

/// One operation: its operands are indices into the graph's values (inputs, then constants,
/// then the nodes before it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Node {
    pub op: Op,
    pub a: u32,
    pub b: u32,
    pub c: u32,
}

/// A condition on a value under which the trace is exact.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Guard {
    /// `Fr_isTrue(value)` was this.
    Truth { value: u32, truth: bool },
    /// `Fr_toInt(value)` read this value (index of a constant).
    Equal { value: u32, constant: u32 },
}

/// Why a statement is not computed by the graph; the wasm calculator computes it instead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Miss {
    /// No graph is loaded.
    Absent,
    /// An input the graph needs was not given (or an unknown one was).
    Inputs,
    /// The statement takes a path through the calculator that the trace did not.
    Path,
}

/// A circuit's witness computation as a graph; see the module docs.
#[derive(Debug, Clone, PartialEq)]
pub struct WitnessGraph {
    /// sha256 of the wasm calculator it was traced from.
    pub(crate) wasm_sha256: [u8; 32],
    /// Each input value: the FNV-1a hash of its signal's name and its position in the signal.
    pub(crate) inputs: Vec<(u64, u32)>,
    pub(crate) constants: Vec<Fr>,
    pub(crate) nodes: Vec<Node>,
    /// The value of each wire, in witness order.
    pub(crate) outputs: Vec<u32>,
    pub(crate) guards: Vec<Guard>,
    /// The order of evaluation, derived from `nodes`.
    schedule: Schedule,
}

/// The nodes in phases of evaluation: phase `L` holds the divisions with `L` divisions on their
/// longest path from the inputs (their own included), then the other nodes at that depth in
/// graph order. A phase's divisions depend only on earlier phases, so they share one inversion
/// (Montgomery's trick): a request witness divides 1,002 times in 268 phases.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
struct Schedule {
    /// Node indices, phase after phase.
    order: Vec<u32>,
    /// Per phase: where its divisions end and where it ends, in `order`.
    phases: Vec<(u32, u32)>,
}

/// Buffers a witness evaluation reuses across its phases of divisions.
#[derive(Default)]
struct Scratch {
    /// A phase's divisors, then their inverses.
    inverses: Vec<Fr>,
    /// The running products of [`batch_invert`].
    prefixes: Vec<Fr>,
}

impl Schedule {
    fn of(leaves: usize, nodes: &[Node]) -> Self {
        let mut depth = vec![0u32; leaves + nodes.len()];
        for (i, node) in nodes.iter().enumerate() {
            let operands =
                depth[node.a as usize].max(depth[node.b as usize]).max(depth[node.c as usize]);
            depth[leaves + i] = operands + u32::from(node.op.divides());
        }
        let depths = &depth[leaves..];
        let phases = depths.iter().max().map_or(0, |&max| max as usize + 1);
        // Counting sort by (depth, not a division), stable in graph order.
        let key = |i: usize| 2 * depths[i] as usize + usize::from(!nodes[i].op.divides());
        let mut starts = vec![0u32; 2 * phases + 1];
        for i in 0..nodes.len() {
            starts[key(i) + 1] += 1;
        }
        for k in 1..starts.len() {
            starts[k] += starts[k - 1];
        }
        let bounds = (0..phases).map(|l| (starts[2 * l + 1], starts[2 * l + 2])).collect();
        let mut order = vec![0u32; nodes.len()];
        for i in 0..nodes.len() {
            let slot = &mut starts[key(i)];
            order[*slot as usize] = i as u32;
            *slot += 1;
        }
        Self { order, phases: bounds }
    }
}

impl WitnessGraph {
    pub(crate) fn new(
        wasm_sha256: [u8; 32],
        inputs: Vec<(u64, u32)>,
        constants: Vec<Fr>,
        nodes: Vec<Node>,
        outputs: Vec<u32>,
        guards: Vec<Guard>,
    ) -> Self {
        let schedule = Schedule::of(inputs.len() + constants.len(), &nodes);
        Self { wasm_sha256, inputs, constants, nodes, outputs, guards, schedule }
    }

    /// The wires for input values given as `(FNV-1a hash of the signal name, values)`.
    pub fn evaluate(&self, inputs: &[(u64, Vec<Fr>)]) -> Result<Vec<Fr>, Miss> {
        let given: usize = inputs.iter().map(|(_, v)| v.len()).sum();
        if given != self.inputs.len() {
            return Err(Miss::Inputs);
        }
        let by_signal: HashMap<u64, &[Fr]> =
            inputs.iter().map(|(hash, values)| (*hash, values.as_slice())).collect();
        let leaves = self.inputs.len() + self.constants.len();
        let mut values = vec![Fr::ZERO; leaves + self.nodes.len()];
        for (slot, &(hash, position)) in values.iter_mut().zip(&self.inputs) {
            let value = by_signal.get(&hash).and_then(|v| v.get(position as usize));
            *slot = *value.ok_or(Miss::Inputs)?;
        }
        values[self.inputs.len()..leaves].copy_from_slice(&self.constants);
        let mut scratch = Scratch::default();
        let mut start = 0;
        for &(divisions_end, end) in &self.schedule.phases {
            let divisions = &self.schedule.order[start as usize..divisions_end as usize];
            self.divide(divisions, leaves, &mut values, &mut scratch);
            for &i in &self.schedule.order[divisions_end as usize..end as usize] {
                let node = self.nodes[i as usize];
                let get = |i: u32| values[i as usize];
                values[leaves + i as usize] = match node.op {
                    Op::Add => get(node.a) + get(node.b),
                    Op::Mul => get(node.a) * get(node.b),
                    Op::Sub => get(node.a) - get(node.b),
                    op => op.apply(get(node.a), get(node.b), get(node.c)),
                };
            }
            start = end;
        }
        let constant_base = self.inputs.len();
        for guard in &self.guards {
            let holds = match *guard {
                Guard::Truth { value, truth } => values[value as usize].is_zero() != truth,
                Guard::Equal { value, constant } => {
                    values[value as usize] == values[constant_base + constant as usize]
                }
            };
            if !holds {
                return Err(Miss::Path);
            }
        }
        Ok(self.outputs.iter().map(|&i| values[i as usize]).collect())
    }

    /// Evaluates the division nodes `divisions` (whose operands are all computed) with one
    /// inversion of all their divisors; a zero divisor gives zero, as [`Op::apply`] does.
    fn divide(&self, divisions: &[u32], leaves: usize, values: &mut [Fr], scratch: &mut Scratch) {
        if divisions.is_empty() {
            return;
        }
        let divisor = |node: Node| if node.op == Op::Inv { node.a } else { node.b };
        scratch.inverses.clear();
        scratch
            .inverses
            .extend(divisions.iter().map(|&i| values[divisor(self.nodes[i as usize]) as usize]));
        batch_invert(&mut scratch.inverses, &mut scratch.prefixes);
        for (&i, inverse) in divisions.iter().zip(&scratch.inverses) {
            let node = self.nodes[i as usize];
            values[leaves + i as usize] =
                if node.op == Op::Inv { *inverse } else { values[node.a as usize] * inverse };
        }
    }

    /// Number of operations evaluated per witness.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Whether the graph computes nothing (a circuit of inputs and constants only).
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// The file format: magic, wasm hash, then counted sections of little-endian records.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(16 * self.nodes.len() + 32 * self.constants.len());
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&self.wasm_sha256);
        let count = |out: &mut Vec<u8>, n: usize| out.extend_from_slice(&(n as u32).to_le_bytes());
        count(&mut out, self.inputs.len());
        for &(hash, position) in &self.inputs {
            out.extend_from_slice(&hash.to_le_bytes());
            out.extend_from_slice(&position.to_le_bytes());
        }
        count(&mut out, self.constants.len());
        for constant in &self.constants {
            out.extend_from_slice(&constant.into_bigint().to_bytes_le());
        }
        count(&mut out, self.nodes.len());
        for node in &self.nodes {
            out.push(node.op as u8);
            for operand in [node.a, node.b, node.c] {
                out.extend_from_slice(&operand.to_le_bytes());
            }
        }
        count(&mut out, self.outputs.len());
        for output in &self.outputs {
            out.extend_from_slice(&output.to_le_bytes());
        }
        count(&mut out, self.guards.len());
        for guard in &self.guards {
            let (kind, value, operand) = match *guard {
                Guard::Truth { value, truth } => (u8::from(truth), value, 0),
                Guard::Equal { value, constant } => (2, value, constant),
            };
            out.push(kind);
            out.extend_from_slice(&value.to_le_bytes());
            out.extend_from_slice(&operand.to_le_bytes());
        }
        out
    }

    /// Reads a graph file, checking that every index points backwards into its values.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, String> {
        let mut reader = Reader { bytes, at: 0 };
        if reader.take(8)? != MAGIC {
            return Err("not a zkcredits witness graph (version 1)".to_owned());
        }
        let wasm_sha256 = reader.take(32)?.try_into().unwrap_or_default();
        let inputs = (0..reader.u32()?)
            .map(|_| Ok((reader.u64()?, reader.u32()?)))
            .collect::<Result<Vec<_>, String>>()?;
        let constants = (0..reader.u32()?)
            .map(|_| {
                let bytes = reader.take(32)?;
                let value = Fr::from_le_bytes_mod_order(bytes);
                if value.into_bigint().to_bytes_le() != bytes {
                    return Err("a constant is not reduced".to_owned());
                }
                Ok(value)
            })
            .collect::<Result<Vec<_>, String>>()?;
        let leaves = inputs.len() + constants.len();
        let node_count = reader.u32()? as usize;
        let mut nodes = Vec::with_capacity(node_count.min(bytes.len() / 13));
        for i in 0..node_count {
            let op = Op::from_u8(reader.take(1)?[0]).ok_or("unknown operation")?;
            let (a, b, c) = (reader.u32()?, reader.u32()?, reader.u32()?);
            // Evaluation reads all three operands of every node.
            let defined = (leaves + i) as u64;
            if [a, b, c].iter().any(|&operand| u64::from(operand) >= defined) {
                return Err(format!("node {i} reads a value defined after it"));
            }
            nodes.push(Node { op, a, b, c });
        }
        let values = (leaves + nodes.len()) as u64;
        let index = |reader: &mut Reader<'_>| {
            let i = reader.u32()?;
            if u64::from(i) < values { Ok(i) } else { Err("an index past the values".to_owned()) }
        };
        let outputs =
            (0..reader.u32()?).map(|_| index(&mut reader)).collect::<Result<Vec<_>, _>>()?;
        let guards = (0..reader.u32()?)
            .map(|_| {
                let kind = reader.take(1)?[0];
                let value = index(&mut reader)?;
                let operand = reader.u32()?;
                match kind {
                    0 | 1 => Ok(Guard::Truth { value, truth: kind == 1 }),
                    2 if (operand as usize) < constants.len() => {
                        Ok(Guard::Equal { value, constant: operand })
                    }
                    _ => Err("malformed guard".to_owned()),
                }
            })
            .collect::<Result<Vec<_>, String>>()?;
        if reader.at != bytes.len() {
            return Err("trailing bytes".to_owned());
        }
        Ok(Self::new(wasm_sha256, inputs, constants, nodes, outputs, guards))
    }

    /// sha256 of the wasm calculator the graph was traced from.
    pub fn wasm_sha256(&self) -> [u8; 32] {
        self.wasm_sha256
    }
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        let end = self.at.checked_add(n).filter(|&end| end <= self.bytes.len());
        let end = end.ok_or("the graph file is truncated")?;
        let slice = &self.bytes[self.at..end];
        self.at = end;
        Ok(slice)
    }

    fn u32(&mut self) -> Result<u32, String> {
        Ok(u32::from_le_bytes(self.take(4)?.try_into().unwrap_or_default()))
    }

    fn u64(&mut self) -> Result<u64, String> {
        Ok(u64::from_le_bytes(self.take(8)?.try_into().unwrap_or_default()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fr(x: i64) -> Fr {
        Fr::from(x)
    }

    #[test]
    fn comparisons_read_the_upper_half_as_negative() {
        assert_eq!(Op::Lt.apply(fr(-1), fr(0), Fr::ZERO), Fr::ONE);
        assert_eq!(Op::Lt.apply(fr(3), fr(5), Fr::ZERO), Fr::ONE);
        assert_eq!(Op::Gt.apply(fr(-3), fr(-5), Fr::ZERO), Fr::ONE);
        assert_eq!(Op::Leq.apply(fr(5), fr(5), Fr::ZERO), Fr::ONE);
        assert_eq!(Op::Geq.apply(fr(-5), fr(5), Fr::ZERO), Fr::ZERO);
    }

    #[test]
    fn shifts_and_bit_operations_follow_circom() {
        assert_eq!(Op::Shr.apply(fr(0b1011), fr(1), Fr::ZERO), fr(0b101));
        assert_eq!(Op::Shr.apply(fr(5), fr(-1), Fr::ZERO), fr(10), "a negative shift turns");
        assert_eq!(Op::Shl.apply(fr(5), fr(2), Fr::ZERO), fr(20));
        assert_eq!(Op::Shr.apply(fr(5), fr(300), Fr::ZERO), Fr::ZERO);
        assert_eq!(Op::Band.apply(fr(0b1011), fr(1), Fr::ZERO), Fr::ONE);
        assert_eq!(Op::Bxor.apply(fr(0b1010), fr(0b0110), Fr::ZERO), fr(0b1100));
        assert_eq!(Op::Idiv.apply(fr(17), fr(5), Fr::ZERO), fr(3));
        assert_eq!(Op::Mod.apply(fr(17), fr(5), Fr::ZERO), fr(2));
        assert_eq!(Op::Select.apply(Fr::ZERO, fr(1), fr(2)), fr(2));
        assert_eq!(Op::Inv.apply(Fr::ZERO, Fr::ZERO, Fr::ZERO), Fr::ZERO);
    }

    /// Asserts that the phased evaluation of `nodes` over inputs `0..4` and constants `7, -2`
    /// gives every value that evaluating them one by one in graph order gives.
    fn assert_evaluates_in_graph_order(nodes: Vec<Node>) -> WitnessGraph {
        let values = 6 + nodes.len() as u32;
        let inputs: Vec<_> = (0..4).map(|p| (1, p)).collect();
        let graph = WitnessGraph::new(
            [0; 32],
            inputs,
            vec![fr(7), fr(-2)],
            nodes,
            (0..values).collect(),
            vec![],
        );
        let given = vec![fr(3), fr(11), fr(-5), Fr::ZERO];
        let mut expected = given.clone();
        expected.extend([fr(7), fr(-2)]);
        for node in &graph.nodes {
            let get = |i: u32| expected[i as usize];
            let value = node.op.apply(get(node.a), get(node.b), get(node.c));
            expected.push(value);
        }
        assert_eq!(graph.evaluate(&[(1, given)]), Ok(expected));
        graph
    }

    #[test]
    fn batched_divisions_give_what_dividing_in_graph_order_gives() {
        // Chains of divisions through products, sums and selects, with zero divisors (input 3
        // is zero, as in an `IsZero` arm) and inversions.
        let mut nodes = Vec::new();
        let mut rng = 0x2545_f491_4f6c_dd1du64;
        for i in 0..400u32 {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            let pick = |shift: u32| (rng >> shift) as u32 % (6 + i);
            let op = [Op::Div, Op::Inv, Op::Mul, Op::Add, Op::Select, Op::Div][(rng % 6) as usize];
            nodes.push(Node { op, a: pick(8), b: pick(24), c: pick(40) });
        }
        let graph = assert_evaluates_in_graph_order(nodes);
        assert!(graph.schedule.phases.len() > 10, "divisions in many phases");
        // A phase whose divisors are all zero, and one that starts with a zero divisor.
        let div = |op, a, b| Node { op, a, b, c: 0 };
        assert_evaluates_in_graph_order(vec![div(Op::Div, 0, 3), div(Op::Inv, 3, 0)]);
        assert_evaluates_in_graph_order(vec![
            div(Op::Inv, 3, 0),
            div(Op::Div, 1, 2),
            div(Op::Inv, 4, 0),
            div(Op::Div, 3, 5),
        ]);
    }

    #[test]
    fn a_graph_round_trips_and_refuses_forward_references() {
        let graph = WitnessGraph::new(
            [7; 32],
            vec![(42, 0), (42, 1)],
            vec![fr(3)],
            vec![Node { op: Op::Mul, a: 0, b: 2, c: 0 }, Node { op: Op::Add, a: 3, b: 1, c: 0 }],
            vec![2, 0, 4],
            vec![Guard::Truth { value: 4, truth: true }],
        );
        let bytes = graph.to_bytes();
        assert_eq!(WitnessGraph::from_bytes(&bytes).expect("reads"), graph);
        assert_eq!(graph.evaluate(&[(42, vec![fr(2), fr(5)])]), Ok(vec![fr(3), fr(2), fr(11)]));
        assert_eq!(graph.evaluate(&[(42, vec![fr(2)])]), Err(Miss::Inputs));
        assert_eq!(graph.evaluate(&[(42, vec![fr(0), fr(0)])]), Err(Miss::Path));
        let mut forward = graph.clone();
        forward.nodes[0].b = 4;
        assert!(WitnessGraph::from_bytes(&forward.to_bytes()).is_err());
        // Evaluation reads every operand, used or not.
        let mut unused = graph;
        unused.nodes[0] = Node { op: Op::Neg, a: 0, b: 0, c: 99 };
        assert!(WitnessGraph::from_bytes(&unused.to_bytes()).is_err());
        assert!(WitnessGraph::from_bytes(&bytes[..bytes.len() - 1]).is_err());
    }
}
