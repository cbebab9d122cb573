// Shared by the verification targets: apply the fuzz input as a list of edits to a valid base
// (a signed TPM quote, a signed TD quote), so that coverage-guided mutation explores evidence
// one or a few bytes away from valid, where acceptance bugs live, not just random bytes that
// fail the first length check. The input is independent of the (fixed or per-process) keys,
// so a crash input reproduces against a fresh base.

/// Apply `ops` to a copy of `base`: each 4 bytes `[op, pos_hi, pos_lo, val]` are one edit of
/// `mr_test_alloc::apply_edits` (the mutations of the hostile-input tests: XOR, truncate,
/// insert, interesting u32, delete; positions wrap). At most 32 edits.
pub fn apply(base: &[u8], ops: &[u8]) -> Vec<u8> {
    let edits: Vec<mr_test_alloc::Edit> = ops
        .chunks_exact(4)
        .take(32)
        .map(|op| (op[0], u16::from_be_bytes([op[1], op[2]]), op[3]))
        .collect();
    mr_test_alloc::apply_edits(base, &edits)
}
