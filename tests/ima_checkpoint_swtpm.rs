//! Incremental verification under real swtpm quotes: an IMA list extended entry by entry into
//! PCR 10, quoted, checkpointed; more entries appended and quoted; the tail verifies from the
//! checkpoint to the same final values as a full replay. An edited entry in the verified prefix
//! is refused, and after a TPM reset (resetCount changes) the checkpoint is refused even though
//! the same list was extended again to the same values.
#![cfg(feature = "tpm-device")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod swtpm_ima;

use mr::core::log::ima::{
    self, resume, HistoryError, ImaInput, ImaOptions, ImaReplayConfig, ResumeFrom,
};
use mr::core::Error;
use mr::tpm::device::{AkKind, Tpm};
use mr::tpm::harness::Swtpm;
use swtpm_ima::{anchor, measure, power_cycle, Measured};

#[test]
fn tail_verifies_from_a_checkpoint_and_a_tpm_reset_or_an_edited_prefix_is_refused() {
    let swtpm = Swtpm::start().expect("swtpm (scripts/install-deps.sh installs it)");
    let mut tpm = Tpm::open(&swtpm.tcti()).unwrap();
    let mut m = Measured::new(&tpm);
    measure(&tpm, &mut m, 25);
    let ak = tpm.create_ak(AkKind::Rsa2048).unwrap();
    let first = anchor(&tpm, &ak, b"round 1");
    let cfg = ImaOptions::default();
    let v1 = resume(
        ImaInput::from_bytes(m.list.as_bytes()),
        ResumeFrom::Boot,
        &first,
        &cfg,
    )
    .unwrap();
    assert_eq!(v1.checkpoint.entries(), 26);
    let key = ima::CheckpointKey::from_bytes(&[5u8; 32]).unwrap();
    let cp_file = v1.checkpoint.seal(&key);

    measure(&tpm, &mut m, 17);
    let second = anchor(&tpm, &ak, b"round 2");
    let list = m.list.as_bytes().to_vec();
    let cp = ima::Checkpoint::open(cp_file.as_bytes(), &key).unwrap();
    let tail = &list[cp.offset() as usize..];
    let t = resume(
        ImaInput::from_bytes(tail),
        ResumeFrom::Tail(&cp),
        &second,
        &cfg,
    )
    .unwrap();
    let f = resume(
        ImaInput::from_bytes(&list),
        ResumeFrom::Full(&cp),
        &second,
        &cfg,
    )
    .unwrap();
    let whole = ima::replay(&list[..], &ImaReplayConfig::default(), second.registers()).unwrap();
    assert_eq!(t.report.entries, 17);
    assert_eq!(t.final_registers(), whole.outcome.registers.as_slice());
    assert_eq!(f.final_registers(), whole.outcome.registers.as_slice());
    assert_eq!(t.checkpoint.entries(), 43);

    // An entry of the verified prefix edited afterwards.
    let mut edited = list.clone();
    let at = edited.windows(9).position(|w| w == b"/usr/bin/").unwrap();
    edited[at + 5] = b'B';
    let e = resume(
        ImaInput::from_bytes(&edited),
        ResumeFrom::Full(&cp),
        &second,
        &cfg,
    )
    .unwrap_err();
    assert!(
        matches!(&e, Error::History(h) if matches!(**h, HistoryError::PrefixDiffers { .. })),
        "{e}"
    );

    // Reboot the TPM: resetCount changes. Extending the very same list again reaches the same
    // PCR values, but the checkpoint belongs to the previous boot.
    drop(ak);
    drop(tpm);
    power_cycle(&swtpm);
    tpm = Tpm::open(&swtpm.tcti()).unwrap();
    let mut again = Measured::new(&tpm);
    measure(&tpm, &mut again, 25 + 17);
    assert_eq!(again.list.as_bytes(), &list[..]);
    let ak = tpm.create_ak(AkKind::Rsa2048).unwrap();
    let third = anchor(&tpm, &ak, b"round 3");
    assert_eq!(
        third.registers().iter().count(),
        second.registers().iter().count()
    );
    for (a, b) in third.registers().iter().zip(second.registers().iter()) {
        assert_eq!(a, b, "the same list gives the same values");
    }
    for (input, from) in [
        (tail, ResumeFrom::Tail(&cp)),
        (&list[..], ResumeFrom::Full(&cp)),
    ] {
        let e = resume(ImaInput::from_bytes(input), from, &third, &cfg).unwrap_err();
        assert!(
            matches!(&e, Error::History(h) if matches!(**h, HistoryError::Rebooted { .. })),
            "{e}"
        );
        assert!(e.to_string().contains("resetCount"), "{e}");
    }
    // From boot, the new quote verifies the list as usual.
    resume(ImaInput::from_bytes(&list), ResumeFrom::Boot, &third, &cfg).unwrap();
}
