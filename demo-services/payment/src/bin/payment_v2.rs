//! The payment service as shipped in the `v2-fixed` image.
//! Same library code as `payment`; only the build constant differs.
use std::process::ExitCode;

use faultline_payment::{self as payment, PaymentBuild};

const BUILD: PaymentBuild = PaymentBuild::V2Fixed;

fn main() -> ExitCode {
    faultline_demo::server::main(&payment::SPEC, BUILD.tag(), |ledger| payment::router(ledger, BUILD))
}
