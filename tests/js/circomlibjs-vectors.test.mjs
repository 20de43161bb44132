// Independent check of spec/vectors/ with circomlibjs: Poseidon, Baby Jubjub (generators, add,
// mul), EdDSA-Poseidon (keys and signatures), state commitments, the deposit queue's
// accumulator, LeanIMT and RLN algebra are recomputed from the vectors' inputs and compared with
// the recorded outputs.
// Run: node --test tests/js/
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { createHash } from "node:crypto";
import { buildPoseidon, buildBabyjub, buildEddsa } from "circomlibjs";

const dir = new URL("../../spec/vectors/", import.meta.url);
const load = (name) => JSON.parse(readFileSync(new URL(name, dir), "utf8"));

const poseidonJs = await buildPoseidon();
const babyjub = await buildBabyjub();
const eddsa = await buildEddsa();
const F = babyjub.F;
const P = BigInt("21888242871839275222246405745257275088548364400416034343698204186575808495617");
const SUB_ORDER = BigInt("2736030358979909402780800718157159386076813972158567259200215660948447373041");

const hash = (inputs) => F.toObject(poseidonJs(inputs.map(BigInt))).toString();
const pt = (p) => [F.e(BigInt(p.x)), F.e(BigInt(p.y))];
const ptDec = (p) => ({ x: F.toObject(p[0]).toString(), y: F.toObject(p[1]).toString() });
const mul = (p, e) => babyjub.mulPointEscalar(p, BigInt(e));
const mod = (a, m) => ((a % m) + m) % m;
const sha256Fr = (bytes) => mod(BigInt("0x" + createHash("sha256").update(bytes).digest("hex")), P);
const hexBytes = (h) => Buffer.from(h.slice(2), "hex");
const inv = (a) => {
  // Fermat inversion in Fr.
  let result = 1n, base = mod(a, P), e = P - 2n;
  while (e > 0n) {
    if (e & 1n) result = (result * base) % P;
    base = (base * base) % P;
    e >>= 1n;
  }
  return result;
};

test("poseidon: every case and tag", () => {
  const v = load("poseidon.json");
  for (const c of v.cases) assert.equal(hash(c.inputs), c.output, c.name);
  for (const t of v.tags) {
    const name = t.name.replace("TAG_", "zkcredits.").toLowerCase();
    assert.equal(BigInt("0x" + Buffer.from(name).toString("hex")).toString(), t.value, t.name);
  }
});

test("babyjubjub: generators are hashed to the curve as specified", () => {
  const v = load("babyjubjub.json");
  assert.deepEqual(ptDec(babyjub.Base8), v.base8);
  assert.equal(babyjub.subOrder.toString(), v.sub_order);
  const half = (P - 1n) / 2n;
  for (const g of v.generators) {
    const d = sha256Fr(Buffer.from(g.domain));
    let counter = 0;
    for (;; counter++) {
      const y = F.e(BigInt(hash([d, counter])));
      const y2 = F.square(y);
      const x2 = F.div(F.sub(F.one, y2), F.sub(babyjub.A, F.mul(babyjub.D, y2)));
      // ffjavascript's sqrt loops forever on a non-residue: test with Euler's criterion first.
      if (!F.isZero(x2) && !F.eq(F.exp(x2, F.half), F.one)) continue;
      let x = F.sqrt(x2);
      if (F.toObject(x) > half) x = F.neg(x);
      const p = mul([x, y], 8);
      if (F.isZero(p[0]) && F.eq(p[1], F.one)) continue;
      assert.equal(counter, g.counter, g.name);
      assert.deepEqual(ptDec(p), g.point, g.name);
      assert.ok(babyjub.inSubgroup(p), g.name);
      break;
    }
  }
});

test("babyjubjub: additions and scalar multiplications", () => {
  const v = load("babyjubjub.json");
  for (const c of v.add) assert.deepEqual(ptDec(babyjub.addPoint(pt(c.p), pt(c.q))), c.sum);
  for (const c of v.mul) assert.deepEqual(ptDec(mul(pt(c.point), c.scalar)), c.product);
});

test("eddsa-poseidon: keys and signatures equal circomlibjs signPoseidon", () => {
  for (const c of load("eddsa.json").cases) {
    const prv = hexBytes(c.private_key);
    const pub = eddsa.prv2pub(prv);
    assert.deepEqual(ptDec(pub), c.public_key);
    assert.equal(hash([c.public_key.x, c.public_key.y]), c.signer_leaf);
    const sig = eddsa.signPoseidon(prv, F.e(BigInt(c.message)));
    assert.deepEqual(ptDec(sig.R8), c.signature.r8);
    assert.equal(sig.S.toString(), c.signature.s);
    assert.ok(eddsa.verifyPoseidon(F.e(BigInt(c.message)), { R8: pt(c.signature.r8), S: BigInt(c.signature.s) }, pub));
  }
});

test("state commitments, rerandomization, settlement and signature", () => {
  const v = load("state.json");
  const gens = Object.fromEntries(load("babyjubjub.json").generators.map((g) => [g.name, pt(g.point)]));
  const add = (...ps) => ps.reduce((a, b) => babyjub.addPoint(a, b));
  for (const c of v.cases) {
    const t = BigInt(hash([c.secret, "0x" + Buffer.from("zkcredits.state").toString("hex")])) & ((1n << 248n) - 1n);
    assert.equal(t.toString(), c.owner_tag);
    const commitOf = (o) => add(mul(gens.G, o.refunded), mul(gens.N, o.index), mul(gens.T, t), mul(gens.H, o.blinding));
    assert.deepEqual(ptDec(commitOf(c.opening)), c.commitment);
    const anon = babyjub.addPoint(pt(c.commitment), mul(gens.H, c.eta));
    assert.deepEqual(ptDec(anon), c.rerandomized);
    const settled = add(anon, mul(gens.G, c.refund), gens.N);
    assert.deepEqual(ptDec(settled), c.settled);
    assert.deepEqual(ptDec(commitOf(c.settled_opening)), c.settled);
    assert.equal(BigInt(c.settled_opening.blinding), mod(BigInt(c.opening.blinding) + BigInt(c.eta), SUB_ORDER));
    const m = hash([c.settled.x, c.settled.y, c.scope]);
    assert.equal(m, c.settled_message);
    const sig = { R8: pt(c.settled_signature.r8), S: BigInt(c.settled_signature.s) };
    assert.ok(eddsa.verifyPoseidon(F.e(BigInt(m)), sig, pt(v.signer_public_key)));
  }
});

test("rln: identity, leaf, scope, shares, recovery and exit point", () => {
  for (const c of load("rln.json").cases) {
    assert.equal(hash([c.secret]), c.identity);
    assert.equal(hash([c.identity, c.deposit, c.expiry]), c.leaf);
    assert.equal(hash([c.chain_id, BigInt(c.escrow)]), c.scope);
    assert.equal(hash([c.secret, c.scope, c.index]), c.slope);
    assert.equal(hash([c.slope, "0x" + Buffer.from("zkcredits.ticket").toString("hex")]), c.nullifier);
    for (const r of c.requests) {
      assert.equal(sha256Fr(hexBytes(r.payload_hex)).toString(), r.payload_digest);
      assert.equal(hash([c.provider_id, r.payload_digest, c.nonce]), r.x);
      assert.equal(mod(BigInt(c.secret) + BigInt(c.slope) * BigInt(r.x), P).toString(), r.y);
    }
    const [a, b] = c.requests.map((r) => [BigInt(r.x), BigInt(r.y)]);
    const k = mod((a[1] * b[0] - b[1] * a[0]) * inv(b[0] - a[0]), P);
    assert.equal(k.toString(), c.recovered_secret);
    assert.equal(k.toString(), c.secret);
    const tagExit = "0x" + Buffer.from("zkcredits.exit").toString("hex");
    assert.equal(hash([tagExit, BigInt(c.exit.recipient), c.exit.amount]), c.exit.x);
  }
});

test("deposit queue: the accumulator Poseidon(acc + D·2^40 + E, ID) and the leaves", () => {
  for (const c of load("deposit_queue.json").cases) {
    const term = (BigInt(c.deposit) << 40n) + BigInt(c.expiry);
    assert.equal(term.toString(), c.amount_expiry);
    assert.equal(hash([mod(BigInt(c.acc_before) + term, P), c.identity]), c.acc_after);
    assert.equal(hash([c.identity, c.deposit, c.expiry]), c.leaf);
  }
});

test("lean imt: roots with the lifting rule, proofs and removal by zeroing", () => {
  const v = load("lean_imt.json");
  const rootOf = (leaves) => {
    let level = leaves.map(BigInt);
    while (level.length > 1) {
      const up = [];
      for (let i = 0; i < level.length; i += 2) up.push(i + 1 < level.length ? BigInt(hash([level[i], level[i + 1]])) : level[i]);
      level = up;
    }
    return (level[0] ?? 0n).toString();
  };
  for (const c of v.cases) {
    assert.equal(rootOf(c.leaves), c.root);
    for (const p of c.proofs) {
      const root = p.siblings.reduce(
        (node, s, j) => ((BigInt(p.path_index) >> BigInt(j)) & 1n ? hash([s, node]) : hash([node, s])),
        p.leaf,
      );
      assert.equal(root, c.root, `leaf ${p.leaf_index}`);
    }
    const removed = c.leaves.map((l, i) => (i === c.removal.leaf_index ? "0" : l));
    assert.equal(rootOf(removed), c.removal.root_after);
  }
  const signers = [...v.signer_tree.leaves, ...Array(16 - v.signer_tree.leaves.length).fill("0")];
  assert.equal(rootOf(signers), v.signer_tree.root);
});

test("request flow: payload digests, x, the envelope encoding and a settlement", () => {
  const v = load("request-flow.json");
  for (const r of v.requests) {
    const bytes = Buffer.concat([Buffer.from(`${r.method} ${r.path_and_query}\n`), hexBytes(r.body_hex)]);
    assert.equal(sha256Fr(bytes).toString(), r.payload_digest);
    assert.equal(hash([v.provider_id, r.payload_digest, v.nonce]), r.x);
  }
  const envelope = JSON.parse(Buffer.from(v.envelope.header, "base64url").toString("utf8"));
  assert.deepEqual(envelope, v.envelope.json);

  const s = v.settlement;
  assert.deepEqual(JSON.parse(Buffer.from(s.header, "base64url").toString("utf8")), s.json);
  assert.equal(BigInt(s.json.charge) + BigInt(s.json.refund), BigInt(s.c_max));
  const gens = Object.fromEntries(load("babyjubjub.json").generators.map((g) => [g.name, pt(g.point)]));
  const next = [pt(s.anon), mul(gens.G, s.json.refund), gens.N].reduce((a, b) => babyjub.addPoint(a, b));
  assert.deepEqual(ptDec(next), s.json.next);
  const pub = eddsa.prv2pub(hexBytes(s.signer_private_key));
  assert.deepEqual(ptDec(pub), s.json.signer);
  const sig = { R8: pt(s.json.signature.r8), S: BigInt(s.json.signature.s) };
  assert.ok(eddsa.verifyPoseidon(F.e(BigInt(hash([s.json.next.x, s.json.next.y, s.scope]))), sig, pub));
});
