//! The shipping service: `FAULTLINE_LISTEN`, `FAULTLINE_DATA`.
use std::process::ExitCode;

use faultline_demo::services::shipping;

fn main() -> ExitCode {
    faultline_demo::server::main(&shipping::SPEC, "latest", shipping::router)
}
