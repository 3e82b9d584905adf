//! Shared by the fuzz targets.
//!
//! Without a sanitizer, libFuzzer's `-malloc_limit_mb` does nothing (it needs
//! the sanitizer's malloc hooks), and with Linux's overcommit a reader that
//! trusts a length field and reserves 16 GiB for a 76-byte file "works" on a
//! big machine, then aborts the whole host on a smaller one. [`LimitedAlloc`]
//! makes such a request a crash the fuzzer reports and keeps: any single
//! allocation above [`LIMIT`] prints its size and a backtrace, then aborts.

use std::alloc::{GlobalAlloc, Layout, System};
use std::io::Write as _;

/// The largest single allocation a fuzz input may cause: 2 GiB, libFuzzer's
/// default `-rss_limit_mb` (and so its default `-malloc_limit_mb`).
pub const LIMIT: usize = 2048 << 20;

/// The system allocator, with an abort on any single allocation above
/// [`LIMIT`]. Install it in a fuzz target with
/// `#[global_allocator] static ALLOC: emoflow_fuzz::LimitedAlloc = emoflow_fuzz::LimitedAlloc;`.
pub struct LimitedAlloc;

#[cold]
fn too_large(size: usize) -> ! {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    let mut n = size;
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    let mut err = std::io::stderr();
    let _ = err.write_all(b"==emoflow-fuzz== ERROR: out-of-memory: one allocation of ");
    let _ = err.write_all(&digits[i..]);
    let _ = err.write_all(b" bytes (limit 2147483648, see fuzz/src/lib.rs)\n");
    // Small allocations (the backtrace's own) pass the check again.
    let _ = writeln!(err, "{}", std::backtrace::Backtrace::force_capture());
    std::process::abort()
}

// SAFETY: every call is forwarded to `System` unchanged; the only addition is
// a size check that aborts before forwarding.
unsafe impl GlobalAlloc for LimitedAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if layout.size() > LIMIT {
            too_large(layout.size());
        }
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if layout.size() > LIMIT {
            too_large(layout.size());
        }
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if new_size > LIMIT {
            too_large(new_size);
        }
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}
