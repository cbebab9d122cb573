//! Linux IMA measurement lists (binary and ASCII). See SPECS §1-4.
