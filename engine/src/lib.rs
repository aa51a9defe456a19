//! Faultline engine (in progress).
