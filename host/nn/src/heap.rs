//! How much of the C heap the process holds, to weigh what a model load kept. Every backend allocates its
//! weights through `malloc` (tract as Rust's global allocator, ONNX Runtime and OpenVINO as C++), so the
//! heap in use after a load, less before it, is the model's size in memory. A model's file is a poor
//! guess of that: a 256-byte ONNX file can fold into a gigabyte constant at load.

/// Bytes the C heap holds now (allocated and not freed, mapped chunks included), where the C library can
/// say: glibc on Linux. Other threads' allocations count too, so a difference across a load is an estimate.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)]
pub(crate) fn in_use() -> Option<u64> {
    // SAFETY: `mallinfo2` takes no arguments and only reads the allocator's counters, under its own locks.
    let info = unsafe { libc::mallinfo2() };
    Some((info.uordblks + info.hblkhd) as u64)
}

/// Bytes the C heap holds now: not known on this platform.
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub(crate) fn in_use() -> Option<u64> {
    None
}

#[cfg(test)]
mod tests {
    #[test]
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    fn a_held_allocation_shows_in_the_heap_in_use() {
        // Zeroed, so mapped but never touched: it costs no resident memory. Large, so that other tests'
        // frees in between cannot hide it.
        let before = super::in_use().unwrap();
        let held = vec![0u8; 512 << 20];
        let after = super::in_use().unwrap();
        assert!(after >= before + (448 << 20), "512 MiB held: {before} -> {after}");
        drop(held);
    }
}
