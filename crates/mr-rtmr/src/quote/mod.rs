//! TD quotes (DCAP v4 and v5): parse and verify (SPECS §8.3).
