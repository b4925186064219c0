//! salve
