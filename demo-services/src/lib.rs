//! Faultline's demo microservices and the order workflow they serve.
//!
//! Layout:
//! - [`server`]: what every binary shares: env configuration, logging, `/healthz`, the
//!   `healthcheck` subcommand, clean shutdown on SIGTERM.
//! - [`ledger`]: the durable SQLite ledger of side effects keyed by idempotency key.
//! - [`error`]: the services' error type and its JSON answer.
//! - [`money`]: exact decimal amounts and currencies.
//! - [`api`]: request/response bodies and paths of the four services.
//! - [`client`]: a typed HTTP client of the services (activities, audits, tests).
//! - [`services`]: inventory, shipping, notification, and the handler helpers every
//!   service shares. Payment, with the workshop bug in its v1 build, is the crate
//!   `faultline-payment` (demo-services/payment/), so fixing it recompiles only that crate.
//! - [`order`]: the Order and Shipment workflows, their activities, inputs and outputs, and
//!   a product catalog for generating realistic orders.
//!
//! Binaries (`src/bin/`): `inventory`, `shipping`, `notification`, `order-worker`; each is
//! a few lines over this library. `payment` (v1-bugged) and `payment-v2` (v2-fixed) are
//! faultline-payment's.

pub mod api;
pub mod client;
pub mod error;
pub mod ledger;
pub mod money;
pub mod order;
pub mod server;
pub mod services;
