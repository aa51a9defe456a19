//! The payment service as shipped in the `v1-bugged` image.
//! `payment-v2` is the same service built with `PaymentBuild::V2Fixed`.
use std::process::ExitCode;

use faultline_payment::{self as payment, PaymentBuild};

const BUILD: PaymentBuild = PaymentBuild::V1Bugged;

fn main() -> ExitCode {
    faultline_demo::server::main(&payment::SPEC, BUILD.tag(), |ledger| payment::router(ledger, BUILD))
}
