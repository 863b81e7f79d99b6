//! The broker (being written).
