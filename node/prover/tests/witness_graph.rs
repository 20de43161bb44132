//! The native witness graph computes exactly the wasm calculator's witness, wire for wire, for
//! the example statements and for other valid ones (other trees and depths, genesis states,
//! other users and amounts); a statement it does not compute falls back to the wasm.

mod common;

use ark_bn254::Fr;
use zkcredits_primitives::{
    constants::{SIGNER_TREE_DEPTH, TREE_DEPTH},
    identity::leaf,
    merkle::LeanImt,
};
use zkcredits_prover::{
    ProverError, WitnessCircuit, fixtures,
    fixtures::RequestScenario,
    graph::{Miss, WitnessGraph},
    inputs::CircomInputs,
    manifest::Manifest,
};

/// A circuit computing witnesses with the graph traced from its example statement.
fn traced(name: &str) -> (WitnessCircuit, WitnessGraph) {
    let mut circuit = common::main_circuit(name);
    let (inputs, _) = fixtures::example(name).expect("example");
    let graph = circuit.trace(inputs).unwrap_or_else(|e| panic!("{name}: {e}"));
    circuit.use_graph(graph.clone()).expect("traced from this wasm");
    (circuit, graph)
}

/// The graph computes the statement by itself, and exactly the wasm's witness.
fn assert_graph_computes(circuit: &mut WitnessCircuit, inputs: CircomInputs, what: &str) {
    let native = circuit.calculate_in_graph(inputs.clone()).expect("known inputs");
    let native = native.unwrap_or_else(|miss| panic!("{what}: the graph missed ({miss:?})"));
    let wasm = circuit.calculate_in_wasm(inputs).expect("a valid statement");
    assert!(native == wasm, "{what}: the graph's witness differs from the wasm's");
}

/// The default request scenario in a tree of `size` leaves with the spender's leaf at `at`.
fn request_in_tree(scenario: &RequestScenario, size: u64, at: u64) -> CircomInputs {
    let mut inputs = scenario.inputs();
    let mut tree = LeanImt::new();
    let mut own = 0;
    for i in 0..size {
        let value = if i == at {
            leaf(scenario.secret.commitment(), scenario.deposit, inputs.expiry)
        } else {
            Fr::from(1_000 + i)
        };
        let index = tree.insert(value).expect("fits");
        if i == at {
            own = index;
        }
    }
    inputs.root = tree.root();
    inputs.path = tree.proof(own).expect("in tree").circuit_path(TREE_DEPTH).expect("fits");
    inputs.circom_inputs(SIGNER_TREE_DEPTH)
}

#[test]
fn the_graph_computes_the_wasm_witness_of_every_valid_request() {
    let (mut circuit, graph) = traced("request");
    assert!(!graph.is_empty());
    let signed = RequestScenario::default();
    let genesis = RequestScenario { genesis: true, refunded: 0, index: 0, ..signed };
    let other = RequestScenario {
        deposit: 123_456_789,
        refunded: 0,
        index: 0,
        c_max: 1,
        secret: fixtures::escrow_user(2).0,
        state_owner: fixtures::escrow_user(2).0,
        ..RequestScenario::default()
    };
    for (scenario, what) in [(&signed, "signed"), (&genesis, "genesis"), (&other, "other amounts")]
    {
        for (size, at) in [(1, 0), (2, 1), (3, 0), (7, 5), (64, 63), (65, 17), (1_000, 999)] {
            let inputs = request_in_tree(scenario, size, at);
            assert_graph_computes(&mut circuit, inputs, &format!("{what}, leaf {at} of {size}"));
        }
    }
}

#[test]
fn the_graph_computes_the_wasm_witness_of_exits_and_slashes() {
    let (mut exit, _) = traced("exit");
    for unsettled in [false, true] {
        for user in 0..3 {
            let (secret, deposit) = fixtures::escrow_user(user);
            let scope = zkcredits_primitives::rln::scope(fixtures::EXAMPLE_CHAIN_ID, &[user; 20]);
            let inputs = fixtures::exit_of(secret, deposit, unsettled, scope);
            let inputs = inputs.circom_inputs(SIGNER_TREE_DEPTH).expect("a positive amount");
            assert_graph_computes(&mut exit, inputs, &format!("exit of user {user}"));
        }
    }
    let (mut slash, _) = traced("slash");
    for receiver in [0u64, 1, u64::MAX] {
        let inputs = fixtures::slash(Fr::from(receiver)).circom_inputs();
        assert_graph_computes(&mut slash, inputs, &format!("slash to {receiver}"));
    }
}

#[test]
fn the_graph_computes_the_wasm_witness_of_batches_of_every_shape() {
    let (mut batch, _) = traced("batch_insert");
    for (before, count, remove) in
        [(0, 1, None), (0, 64, None), (1, 0, Some(0)), (63, 2, Some(64)), (1_000, 37, Some(3))]
    {
        let inputs = fixtures::batch_insert(before, count, remove).circom_inputs().expect("valid");
        assert_graph_computes(
            &mut batch,
            inputs,
            &format!("{before} + {count}, removing {remove:?}"),
        );
    }
}

#[test]
fn a_statement_off_the_traced_path_falls_back_to_the_wasm_and_is_refused_as_before() {
    let (mut circuit, _) = traced("request");
    // Signed by a key outside the signer set: the calculator's assertion fails.
    let outsider = RequestScenario { signed_by: 7, ..RequestScenario::default() };
    let inputs = outsider.inputs().circom_inputs(SIGNER_TREE_DEPTH);
    assert_eq!(circuit.calculate_in_graph(inputs.clone()).expect("known inputs"), Err(Miss::Path));
    let refused = circuit.calculate(inputs.clone()).expect_err("not a valid statement");
    let without_graph = common::main_circuit("request").calculate(inputs).expect_err("invalid");
    assert!(matches!(refused, ProverError::Unsatisfied(_)), "{refused}");
    assert_eq!(refused.to_string(), without_graph.to_string());
    // A missing input: the wasm names what is missing.
    let (mut inputs, _) = fixtures::example("request").expect("example");
    inputs.pop();
    assert_eq!(circuit.calculate_in_graph(inputs.clone()).expect("known"), Err(Miss::Inputs));
    assert!(circuit.calculate(inputs).is_err());
}

#[test]
fn a_graph_file_of_another_calculator_is_refused() {
    let (_, graph) = traced("slash");
    let mut exit = common::main_circuit("exit");
    assert!(exit.use_graph(graph.clone()).is_err());
    let bytes = graph.to_bytes();
    assert_eq!(WitnessGraph::from_bytes(&bytes).expect("reads"), graph);
}

#[test]
fn under_a_manifest_the_graph_file_must_be_the_recorded_one() {
    let build = common::build_dir().join("circuits/main");
    let dir = std::env::temp_dir().join(format!("zkcredits-graph-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("slash_js")).expect("temp dir");
    for file in ["slash.r1cs", "slash.sym", "slash_js/slash.wasm"] {
        std::fs::copy(build.join(file), dir.join(file)).expect("make circuits first");
    }
    let (_, graph) = traced("slash");
    std::fs::write(dir.join("slash.graph"), graph.to_bytes()).expect("writable");
    let committed = common::workspace().join("circuits/artifacts/manifest.json");
    let mut json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(committed).expect("manifest")).expect("JSON");
    let load = |json: &serde_json::Value| {
        let path = dir.join("manifest.json");
        std::fs::write(&path, json.to_string()).expect("writable");
        let manifest = Manifest::read(&path).expect("reads");
        WitnessCircuit::load_checked(&dir, "slash", &manifest)
    };
    assert!(load(&json).expect("the recorded graph").has_graph());
    json["slash"]["graph_sha256"] = serde_json::json!("00".repeat(32));
    assert!(load(&json).is_err(), "another graph than the manifest's is refused");
    json["slash"].as_object_mut().expect("entry").remove("graph_sha256");
    assert!(!load(&json).expect("wasm only").has_graph(), "no recorded graph, none used");
    std::fs::remove_dir_all(&dir).ok();
}
