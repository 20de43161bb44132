//! Poseidon Merkle trees: the LeanIMT that mirrors `@zk-kit/lean-imt.sol` on chain, a bounded
//! root history, and the fixed-depth signer-set tree.
//!
//! LeanIMT rule: a node without a right sibling is lifted to the next level unchanged, and the
//! depth grows with the number of leaves. A removed leaf is set to zero and is hashed like any
//! other node. Spec: `spec/02-cryptography.md#identity-tree`.

use crate::{Fr, TreeError, poseidon::poseidon_n};
use ark_ff::AdditiveGroup;
use std::collections::VecDeque;

fn hash_pair(left: &Fr, right: &Fr) -> Fr {
    poseidon_n([*left, *right])
}

/// The largest depth the on-chain LeanIMT reaches.
pub const LEAN_IMT_MAX_DEPTH: usize = 32;

/// A LeanIMT holding every level in memory.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LeanImt {
    /// `levels[0]` are the leaves; the last level holds the root alone.
    levels: Vec<Vec<Fr>>,
}

/// A membership proof in LeanIMT form: only existing siblings, and `index` packs one direction
/// bit per sibling (bit `j` set: the path node is the right child at the `j`-th hashing).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeanImtProof {
    /// The proven leaf.
    pub leaf: Fr,
    /// Direction bits, one per sibling.
    pub index: u64,
    /// The siblings, bottom up.
    pub siblings: Vec<Fr>,
}

/// A proof padded to a circuit's fixed depth: `depth` real levels, then zeros.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CircuitPath {
    /// The number of real siblings.
    pub depth: usize,
    /// Direction bits padded with `false`.
    pub indices: Vec<bool>,
    /// Siblings padded with zero.
    pub siblings: Vec<Fr>,
}

impl LeanImt {
    /// An empty tree.
    pub fn new() -> Self {
        Self::default()
    }

    /// A tree of the given leaves, inserted in order; a zero leaf is one inserted and later
    /// removed (no zero leaf can be inserted), so the escrow's leaf list rebuilds its tree.
    pub fn from_leaves(leaves: &[Fr]) -> Result<Self, TreeError> {
        let mut tree = Self::new();
        tree.append(leaves)?;
        Ok(tree)
    }

    /// Appends leaves as [`LeanImt::from_leaves`] reads them (a zero leaf is one removed).
    pub fn append(&mut self, leaves: &[Fr]) -> Result<(), TreeError> {
        for leaf in leaves {
            if *leaf == Fr::ZERO {
                let index = self.insert(Fr::from(1u64))?;
                self.remove(index)?;
            } else {
                self.insert(*leaf)?;
            }
        }
        Ok(())
    }

    /// Number of leaves inserted (removed leaves still count).
    pub fn size(&self) -> usize {
        self.levels.first().map_or(0, Vec::len)
    }

    /// Current depth: 0 for zero or one leaf, else `ceil(log2(size))`.
    pub fn depth(&self) -> usize {
        self.levels.len().saturating_sub(1)
    }

    /// The root, or zero for an empty tree (as the contract reports it).
    pub fn root(&self) -> Fr {
        self.levels.last().and_then(|l| l.first()).copied().unwrap_or(Fr::ZERO)
    }

    /// The leaf at `index`.
    pub fn leaf(&self, index: usize) -> Result<Fr, TreeError> {
        self.levels
            .first()
            .and_then(|l| l.get(index))
            .copied()
            .ok_or_else(|| TreeError::IndexOutOfRange { index, size: self.size() })
    }

    /// Appends a non-zero leaf and returns its index.
    pub fn insert(&mut self, leaf: Fr) -> Result<usize, TreeError> {
        if leaf == Fr::ZERO {
            return Err(TreeError::ZeroLeaf);
        }
        let index = self.size();
        if index >= 1usize << LEAN_IMT_MAX_DEPTH {
            return Err(TreeError::Full {
                depth: LEAN_IMT_MAX_DEPTH,
                capacity: 1 << LEAN_IMT_MAX_DEPTH,
            });
        }
        if self.levels.is_empty() {
            self.levels.push(Vec::new());
        }
        self.levels[0].push(leaf);
        self.recompute_path(index);
        Ok(index)
    }

    /// Replaces the leaf at `index` (zero removes it).
    pub fn update(&mut self, index: usize, leaf: Fr) -> Result<(), TreeError> {
        let size = self.size();
        let slot = self
            .levels
            .first_mut()
            .and_then(|l| l.get_mut(index))
            .ok_or(TreeError::IndexOutOfRange { index, size })?;
        *slot = leaf;
        self.recompute_path(index);
        Ok(())
    }

    /// Removes the leaf at `index` by setting it to zero, as the escrow does on a slash.
    pub fn remove(&mut self, index: usize) -> Result<(), TreeError> {
        self.update(index, Fr::ZERO)
    }

    fn recompute_path(&mut self, mut index: usize) {
        let mut level = 0;
        while self.levels[level].len() > 1 {
            if self.levels.len() == level + 1 {
                self.levels.push(Vec::new());
            }
            let parent = index >> 1;
            let nodes = &self.levels[level];
            let left = nodes[parent << 1];
            let node = match nodes.get((parent << 1) + 1) {
                Some(right) => hash_pair(&left, right),
                None => left,
            };
            let up = &mut self.levels[level + 1];
            if parent == up.len() {
                up.push(node);
            } else {
                up[parent] = node;
            }
            index = parent;
            level += 1;
        }
    }

    /// The frontier the `batch_insert` circuit appends to, over `levels` levels: where bit `l`
    /// of the size is set, entry `l` is the complete subtree left of the next leaf's path at
    /// level `l` (node `(size >> l) − 1`); the other entries are 0.
    pub fn frontier(&self, levels: usize) -> Vec<Fr> {
        let size = self.size();
        (0..levels)
            .map(|l| match (size >> l) & 1 {
                1 => self.levels[l][(size >> l) - 1],
                _ => Fr::ZERO,
            })
            .collect()
    }

    /// The membership proof of the leaf at `index`.
    pub fn proof(&self, index: usize) -> Result<LeanImtProof, TreeError> {
        let leaf = self.leaf(index)?;
        let mut siblings = Vec::new();
        let mut bits = 0u64;
        for (level, nodes) in self.levels.iter().enumerate().take(self.depth()) {
            let position = index >> level;
            if let Some(sibling) = nodes.get(position ^ 1) {
                bits |= ((position & 1) as u64) << siblings.len();
                siblings.push(*sibling);
            }
        }
        Ok(LeanImtProof { leaf, index: bits, siblings })
    }
}

impl LeanImtProof {
    /// The root this proof leads to.
    pub fn root(&self) -> Fr {
        self.siblings.iter().enumerate().fold(self.leaf, |node, (j, sibling)| {
            if (self.index >> j) & 1 == 1 {
                hash_pair(sibling, &node)
            } else {
                hash_pair(&node, sibling)
            }
        })
    }

    /// Pads the proof to `max_depth` levels for a fixed-depth circuit.
    pub fn circuit_path(&self, max_depth: usize) -> Result<CircuitPath, TreeError> {
        let depth = self.siblings.len();
        if depth > max_depth {
            return Err(TreeError::TooDeep { depth, max: max_depth });
        }
        let indices = (0..max_depth).map(|j| j < depth && (self.index >> j) & 1 == 1).collect();
        let mut siblings = self.siblings.clone();
        siblings.resize(max_depth, Fr::ZERO);
        Ok(CircuitPath { depth, indices, siblings })
    }
}

/// The last `capacity` roots, newest last; nodes accept requests against any of them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RootHistory {
    capacity: usize,
    roots: VecDeque<Fr>,
}

impl RootHistory {
    /// An empty history keeping at most `capacity` roots (at least one).
    pub fn new(capacity: usize) -> Self {
        let capacity = capacity.max(1);
        Self { capacity, roots: VecDeque::with_capacity(capacity) }
    }

    /// Records a new root, dropping the oldest past capacity.
    pub fn push(&mut self, root: Fr) {
        if self.roots.len() == self.capacity {
            self.roots.pop_front();
        }
        self.roots.push_back(root);
    }

    /// Forgets every root older than the newest one: after a slash the roots that still
    /// contain the slashed leaf must stop being accepted at once.
    pub fn retain_latest_only(&mut self) {
        let keep = self.roots.len().saturating_sub(1);
        self.roots.drain(..keep);
    }

    /// Whether `root` is in the window.
    pub fn contains(&self, root: &Fr) -> bool {
        self.roots.contains(root)
    }

    /// The newest root.
    pub fn latest(&self) -> Option<Fr> {
        self.roots.back().copied()
    }

    /// The roots, oldest first.
    pub fn iter(&self) -> impl Iterator<Item = &Fr> {
        self.roots.iter()
    }
}

/// A complete binary tree of fixed depth with zero-padded leaves: the signer set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FixedMerkleTree {
    levels: Vec<Vec<Fr>>,
}

impl FixedMerkleTree {
    /// Builds a tree of `2^depth` leaves, the given ones first and zeros after.
    pub fn new(depth: usize, leaves: &[Fr]) -> Result<Self, TreeError> {
        let capacity = 1usize << depth;
        if leaves.len() > capacity {
            return Err(TreeError::Full { depth, capacity });
        }
        let mut level = leaves.to_vec();
        level.resize(capacity, Fr::ZERO);
        let mut levels = vec![level];
        for _ in 0..depth {
            let below = levels.last().map(Vec::as_slice).unwrap_or_default();
            let up = below.chunks_exact(2).map(|pair| hash_pair(&pair[0], &pair[1])).collect();
            levels.push(up);
        }
        Ok(Self { levels })
    }

    /// The root.
    pub fn root(&self) -> Fr {
        self.levels.last().and_then(|l| l.first()).copied().unwrap_or(Fr::ZERO)
    }

    /// Siblings bottom up and direction bits of the leaf at `index`.
    pub fn path(&self, index: usize) -> Result<(Vec<Fr>, Vec<bool>), TreeError> {
        let size = self.levels.first().map_or(0, Vec::len);
        if index >= size {
            return Err(TreeError::IndexOutOfRange { index, size });
        }
        let depth = self.levels.len() - 1;
        let siblings = (0..depth).map(|l| self.levels[l][(index >> l) ^ 1]).collect();
        let bits = (0..depth).map(|l| (index >> l) & 1 == 1).collect();
        Ok((siblings, bits))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leaves(n: u64) -> Vec<Fr> {
        (1..=n).map(Fr::from).collect()
    }

    #[test]
    fn small_trees_follow_the_lifting_rule() {
        let l = leaves(3);
        assert_eq!(LeanImt::from_leaves(&l[..1]).expect("ok").root(), l[0]);
        let three = LeanImt::from_leaves(&l).expect("ok");
        assert_eq!(three.root(), hash_pair(&hash_pair(&l[0], &l[1]), &l[2]));
        assert_eq!(three.depth(), 2);
        assert_eq!(LeanImt::new().root(), Fr::ZERO);
    }

    #[test]
    fn proofs_lead_to_the_root_for_every_leaf_and_size() {
        for n in 1..=9 {
            let mut tree = LeanImt::from_leaves(&leaves(n)).expect("ok");
            for i in 0..n as usize {
                assert_eq!(tree.proof(i).expect("in range").root(), tree.root(), "n={n} i={i}");
            }
            tree.remove(0).expect("in range");
            assert_eq!(tree.proof(n as usize - 1).expect("in range").root(), tree.root());
            let mut stored = leaves(n);
            stored[0] = Fr::ZERO;
            assert_eq!(
                LeanImt::from_leaves(&stored).expect("ok").root(),
                tree.root(),
                "a zero leaf rebuilds as removed"
            );
        }
    }

    #[test]
    fn the_frontier_folds_to_the_root() {
        for n in 0..=40 {
            let mut tree = LeanImt::from_leaves(&leaves(n)).expect("ok");
            if n > 2 {
                tree.remove(1).expect("in range");
            }
            let frontier = tree.frontier(7);
            let mut root = None;
            for (l, node) in frontier.iter().enumerate() {
                if (n >> l) & 1 == 1 {
                    root = Some(root.map_or(*node, |right| hash_pair(node, &right)));
                } else {
                    assert_eq!(*node, Fr::ZERO, "n={n} l={l}");
                }
            }
            assert_eq!(root.unwrap_or(Fr::ZERO), tree.root(), "n={n}");
        }
    }

    #[test]
    fn rejects_bad_input() {
        let mut tree = LeanImt::new();
        assert_eq!(tree.insert(Fr::ZERO), Err(TreeError::ZeroLeaf));
        assert!(matches!(tree.proof(0), Err(TreeError::IndexOutOfRange { .. })));
        assert!(FixedMerkleTree::new(1, &leaves(3)).is_err());
        let deep = LeanImt::from_leaves(&leaves(5)).expect("ok").proof(0).expect("ok");
        assert!(matches!(deep.circuit_path(2), Err(TreeError::TooDeep { .. })));
    }

    #[test]
    fn root_history_window() {
        let mut history = RootHistory::new(2);
        for r in leaves(3) {
            history.push(r);
        }
        assert!(!history.contains(&Fr::from(1u64)));
        assert!(history.contains(&Fr::from(2u64)));
        history.retain_latest_only();
        assert!(!history.contains(&Fr::from(2u64)));
        assert_eq!(history.latest(), Some(Fr::from(3u64)));
    }
}
