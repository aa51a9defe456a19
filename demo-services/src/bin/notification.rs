//! The notification service: `FAULTLINE_LISTEN`, `FAULTLINE_DATA`.
use std::process::ExitCode;

use faultline_demo::services::notification;

fn main() -> ExitCode {
    faultline_demo::server::main(&notification::SPEC, "latest", notification::router)
}
