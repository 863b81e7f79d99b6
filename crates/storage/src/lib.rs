//! The partition log on disk (being written).
