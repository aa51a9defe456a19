//! Demo services (in progress).
