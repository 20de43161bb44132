//! alloy bindings of `CreditEscrow`, generated from the ABI forge exports.
#![allow(missing_docs, clippy::too_many_arguments)]

alloy::sol!(
    #[sol(rpc)]
    #[derive(Debug, PartialEq, Eq)]
    CreditEscrow,
    "abi/CreditEscrow.json"
);
