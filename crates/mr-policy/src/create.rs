//! Writing a runtime policy (placeholder, filled below).
