//! Faultline SDK (in progress).
