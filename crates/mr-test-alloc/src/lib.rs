//! A counting global allocator for mr's hostile-input tests.
//!
//! Install it in a test binary and wrap the code under test in [`measure`]:
//!
//! ```ignore
//! #[global_allocator]
//! static ALLOC: mr_test_alloc::CountingAlloc = mr_test_alloc::CountingAlloc;
//!
//! let (result, stats) = mr_test_alloc::measure(|| parse(&input));
//! stats.assert_within(4, input.len(), "parse"); // at most max(64 KiB, 4 × input)
//! ```
//!
//! Counters are per thread (the test harness runs tests on several threads at once), kept in
//! const-initialised thread-locals that never allocate. A block freed on another thread than the
//! one that allocated it is counted where it is freed; the parsers under test are
//! single-threaded.
#![deny(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

/// The system allocator, counting every allocation of the calling thread.
#[derive(Clone, Copy, Debug, Default)]
pub struct CountingAlloc;

thread_local! {
    static ACTIVE: Cell<bool> = const { Cell::new(false) };
    static LARGEST: Cell<usize> = const { Cell::new(0) };
    static LIVE: Cell<isize> = const { Cell::new(0) };
    static PEAK: Cell<isize> = const { Cell::new(0) };
    static COUNT: Cell<u64> = const { Cell::new(0) };
}

fn on_alloc(size: usize) {
    // `try_with`: the allocator may run while this thread's locals are being torn down.
    let _ = ACTIVE.try_with(|active| {
        if !active.get() {
            return;
        }
        let _ = LARGEST.try_with(|l| l.set(l.get().max(size)));
        let _ = COUNT.try_with(|c| c.set(c.get() + 1));
        let _ = LIVE.try_with(|live| {
            let now = live.get().saturating_add(size as isize);
            live.set(now);
            let _ = PEAK.try_with(|p| p.set(p.get().max(now)));
        });
    });
}

fn on_free(size: usize) {
    let _ = ACTIVE.try_with(|active| {
        if active.get() {
            let _ = LIVE.try_with(|live| live.set(live.get().saturating_sub(size as isize)));
        }
    });
}

// SAFETY: every method forwards to `System` with the caller's arguments unchanged, so the
// GlobalAlloc contract is exactly System's; the bookkeeping touches only const-initialised
// thread-locals (no allocation, no re-entrancy).
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        on_alloc(layout.size());
        // SAFETY: forwarded unchanged (see the impl comment).
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        on_alloc(layout.size());
        // SAFETY: forwarded unchanged.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        on_free(layout.size());
        // SAFETY: forwarded unchanged.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // A reallocation is a new block of new_size (the old one is freed).
        on_free(layout.size());
        on_alloc(new_size);
        // SAFETY: forwarded unchanged.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

/// What [`measure`] saw on the calling thread.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AllocStats {
    /// The largest single allocation (or reallocation target size), bytes.
    pub largest: usize,
    /// The peak of bytes allocated and not yet freed during the call, relative to its start.
    pub peak_live: usize,
    /// Number of allocations (including reallocations).
    pub count: u64,
}

/// The least every allocation cap allows: 64 KiB (buffers, tables and error messages of a
/// parser's fixed size, whatever the input length).
pub const CAP_FLOOR: usize = 64 << 10;

impl AllocStats {
    /// The allocation cap on hostile input: asserts that no single allocation was larger than
    /// `max(CAP_FLOOR, k × input_len)` (`k` is the parser's allowed multiple of its input).
    /// `what` names the call in the failure message.
    #[track_caller]
    pub fn assert_within(&self, k: usize, input_len: usize, what: &str) {
        let cap = CAP_FLOOR.max(k.saturating_mul(input_len));
        assert!(
            self.largest <= cap,
            "{what}: allocation of {} bytes for {input_len} bytes of input (cap {cap})",
            self.largest
        );
    }
}

/// Run `f` with counting on for this thread; return its result and what it allocated.
///
/// Only meaningful in a binary whose `#[global_allocator]` is [`CountingAlloc`]; elsewhere the
/// stats are all zero. Calls do not nest (the inner call resets the counters).
pub fn measure<R>(f: impl FnOnce() -> R) -> (R, AllocStats) {
    LARGEST.with(|c| c.set(0));
    LIVE.with(|c| c.set(0));
    PEAK.with(|c| c.set(0));
    COUNT.with(|c| c.set(0));
    ACTIVE.with(|a| a.set(true));
    let r = f();
    ACTIVE.with(|a| a.set(false));
    let stats = AllocStats {
        largest: LARGEST.with(Cell::get),
        peak_live: PEAK.with(Cell::get).max(0) as usize,
        count: COUNT.with(Cell::get),
    };
    (r, stats)
}

/// True when the running binary counts allocations (its global allocator is [`CountingAlloc`]).
pub fn is_installed() -> bool {
    measure(|| std::hint::black_box(vec![0u8; 1])).1.largest >= 1
}

/// One edit of [`apply_edits`]: `(op, position, value)`.
pub type Edit = (u8, u16, u8);

/// Apply `edits` to a copy of `base` (the mutations the fuzz targets' edits.rs applies): op % 5 =
/// 0 XOR the byte at the position with the value (0 becomes 1), 1 truncate there, 2 insert the
/// value there, 3 write an interesting u32 (0, 1, 0x7f, 0xff, 0xffff, 0x7fffffff, 0xffffffff,
/// the length; chosen by the value) little endian there, 4 delete the byte there; for op 3 also
/// big endian when the value is odd. Positions wrap modulo the current length plus one.
pub fn apply_edits(base: &[u8], edits: &[Edit]) -> Vec<u8> {
    let mut out = base.to_vec();
    for &(op, pos, val) in edits {
        let len = out.len();
        let pos = usize::from(pos) % (len + 1);
        match op % 5 {
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
                let v = interesting[usize::from(val / 2) % interesting.len()];
                let bytes = if val % 2 == 0 {
                    v.to_le_bytes()
                } else {
                    v.to_be_bytes()
                };
                for (i, b) in bytes.iter().enumerate() {
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
