// Shared by the verification targets: apply the fuzz input as a list of edits to a valid base
// (a signed TPM quote, a signed TD quote), so that coverage-guided mutation explores evidence
// one or a few bytes away from valid, where acceptance bugs live, not just random bytes that
// fail the first length check. The input is independent of the (fixed or per-process) keys,
// so a crash input reproduces against a fresh base.

/// Apply `ops` to a copy of `base`. Each edit is 4 bytes `[op, pos_hi, pos_lo, val]`:
/// op % 5 = 0 XOR the byte at pos with val (val 0 becomes 1), 1 truncate at pos, 2 insert val
/// at pos, 3 write the u32 LE `val`-th interesting value at pos, 4 delete the byte at pos.
/// Positions wrap modulo the current length. At most 32 edits.
pub fn apply(base: &[u8], ops: &[u8]) -> Vec<u8> {
    let mut out = base.to_vec();
    for op in ops.chunks_exact(4).take(32) {
        let len = out.len();
        let pos = (usize::from(op[1]) << 8 | usize::from(op[2])) % (len + 1);
        let val = op[3];
        match op[0] % 5 {
            0 if pos < len => out[pos] ^= val.max(1),
            1 => out.truncate(pos),
            2 => out.insert(pos, val),
            3 => {
                let interesting: [u32; 8] = [
                    0,
                    1,
                    0x7f,
                    0xff,
                    0xffff,
                    0x7fff_ffff,
                    0xffff_ffff,
                    len as u32,
                ];
                let v = interesting[usize::from(val) % interesting.len()].to_le_bytes();
                for (i, b) in v.iter().enumerate() {
                    if let Some(slot) = out.get_mut(pos + i) {
                        *slot = *b;
                    }
                }
            }
            4 if pos < len => {
                out.remove(pos);
            }
            _ => {}
        }
    }
    out
}
