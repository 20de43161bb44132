//! The node decodes and checks `spec/vectors/request-flow.json` (which circomlibjs checks too).

use serde_json::Value;
use zkcredits_node::{
    envelope::{PaymentEnvelope, request_digest},
    settlement::Settlement,
};
use zkcredits_primitives::{
    babyjubjub::Point,
    field::{fr_from_dec, fr_to_dec},
    rln::request_x,
};

fn field(v: &Value) -> zkcredits_primitives::Fr {
    fr_from_dec(v.as_str().expect("decimal string")).expect("field element")
}

#[test]
fn request_flow_vectors_decode_and_check() {
    let v: Value = serde_json::from_str(include_str!("../../../spec/vectors/request-flow.json"))
        .expect("vector JSON");
    for r in v["requests"].as_array().expect("requests") {
        let body = alloy::hex::decode(r["body_hex"].as_str().expect("hex")).expect("hex");
        let digest = request_digest(
            r["method"].as_str().expect("method"),
            r["path_and_query"].as_str().expect("path"),
            &body,
        );
        assert_eq!(fr_to_dec(&digest), r["payload_digest"]);
        assert_eq!(
            fr_to_dec(&request_x(&field(&v["provider_id"]), &digest, &field(&v["nonce"]))),
            r["x"]
        );
    }

    let header = v["envelope"]["header"].as_str().expect("header");
    let envelope = PaymentEnvelope::decode(header.as_bytes(), 4096).expect("decodes");
    let json = &v["envelope"]["json"];
    assert_eq!(fr_to_dec(&envelope.statement.root), json["root"]);
    assert_eq!(fr_to_dec(&envelope.statement.nullifier), json["nullifier"]);
    assert_eq!(envelope.statement.now.to_string(), json["now"]);
    assert_eq!(envelope.encode(), header, "encoding is canonical");

    let s = &v["settlement"];
    let settlement = Settlement::from_json(&s["json"]).expect("settlement");
    let anon = Point::new(field(&s["anon"]["x"]), field(&s["anon"]["y"])).expect("point");
    let c_max: u64 = s["c_max"].as_str().expect("decimal").parse().expect("u64");
    let scope = field(&s["scope"]);
    assert_eq!(scope, envelope.statement.scope);
    settlement
        .verify(&envelope.statement.nullifier, &anon, &scope, c_max)
        .expect("valid settlement");
    assert_eq!(settlement.to_json(), s["json"]);
}
