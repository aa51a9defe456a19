//! The inventory service: `FAULTLINE_LISTEN`, `FAULTLINE_DATA`, `FAULTLINE_INITIAL_STOCK`.
use std::process::ExitCode;

use faultline_demo::services::inventory;

fn main() -> ExitCode {
    let stock = inventory::initial_stock_from_env();
    faultline_demo::server::main(&inventory::SPEC, "latest", |ledger| inventory::router(ledger, stock))
}
