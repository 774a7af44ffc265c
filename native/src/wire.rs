//! Big-endian readers over byte slices. Callers check bounds first; these helpers only exist so
//! the codec files read like the wire grammar they implement.

#[inline(always)]
pub fn i16_at(b: &[u8], p: usize) -> i16 {
    i16::from_be_bytes([b[p], b[p + 1]])
}

#[inline(always)]
pub fn i32_at(b: &[u8], p: usize) -> i32 {
    i32::from_be_bytes([b[p], b[p + 1], b[p + 2], b[p + 3]])
}

#[inline(always)]
pub fn u32_at(b: &[u8], p: usize) -> u32 {
    u32::from_be_bytes([b[p], b[p + 1], b[p + 2], b[p + 3]])
}

#[inline(always)]
pub fn i64_at(b: &[u8], p: usize) -> i64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[p..p + 8]);
    i64::from_be_bytes(a)
}

/// # Safety
/// `p` must be valid for 4 bytes.
#[inline(always)]
pub unsafe fn read_be_i32(p: *const u8) -> i32 {
    i32::from_be((p as *const i32).read_unaligned())
}

/// Copies one fixed-width value, byte-swapping numbers (big-endian wire <-> little-endian batch).
///
/// # Safety
/// `src` and `dst` must be valid for `width` bytes.
#[inline(always)]
pub unsafe fn copy_fixed_raw(src: *const u8, dst: *mut u8, width: usize, swap: bool) {
    match (width, swap) {
        (1, _) => *dst = *src,
        (2, true) => (dst as *mut u16).write_unaligned((src as *const u16).read_unaligned().swap_bytes()),
        (4, true) => (dst as *mut u32).write_unaligned((src as *const u32).read_unaligned().swap_bytes()),
        (8, true) => (dst as *mut u64).write_unaligned((src as *const u64).read_unaligned().swap_bytes()),
        (16, true) => (dst as *mut u128).write_unaligned((src as *const u128).read_unaligned().swap_bytes()),
        (w, _) => std::ptr::copy_nonoverlapping(src, dst, w),
    }
}

/// Copies a var value. Short values (most text and numeric columns) use two overlapping
/// fixed-size moves instead of a memcpy call: e.g. 11 bytes = bytes 0..8 and 3..11.
///
/// # Safety
/// `src` and `dst` must be valid for `n` bytes and must not overlap.
#[inline(always)]
pub unsafe fn copy_var_raw(src: *const u8, dst: *mut u8, n: usize) {
    match n {
        0 => {}
        1..=3 => {
            *dst = *src;
            *dst.add(n / 2) = *src.add(n / 2);
            *dst.add(n - 1) = *src.add(n - 1);
        }
        4..=7 => {
            (dst as *mut u32).write_unaligned((src as *const u32).read_unaligned());
            (dst.add(n - 4) as *mut u32).write_unaligned((src.add(n - 4) as *const u32).read_unaligned());
        }
        8..=16 => {
            (dst as *mut u64).write_unaligned((src as *const u64).read_unaligned());
            (dst.add(n - 8) as *mut u64).write_unaligned((src.add(n - 8) as *const u64).read_unaligned());
        }
        17..=32 => {
            (dst as *mut u128).write_unaligned((src as *const u128).read_unaligned());
            (dst.add(n - 16) as *mut u128).write_unaligned((src.add(n - 16) as *const u128).read_unaligned());
        }
        _ => std::ptr::copy_nonoverlapping(src, dst, n),
    }
}

/// Zeroes one fixed-width slot (a NULL's value) without a memset call.
///
/// # Safety
/// `dst` must be valid for `width` bytes.
#[inline(always)]
pub unsafe fn zero_fixed_raw(dst: *mut u8, width: usize) {
    match width {
        1 => *dst = 0,
        2 => (dst as *mut u16).write_unaligned(0),
        4 => (dst as *mut u32).write_unaligned(0),
        8 => (dst as *mut u64).write_unaligned(0),
        16 => (dst as *mut u128).write_unaligned(0),
        w => std::ptr::write_bytes(dst, 0, w),
    }
}

/// Copies one fixed-width value as `copy_fixed_raw`, or writes zeros when `null` (the source
/// bytes are then read but unused), without a branch on `null`.
///
/// # Safety
/// `src` and `dst` must be valid for `width` bytes.
#[inline(always)]
pub unsafe fn copy_fixed_masked(src: *const u8, dst: *mut u8, width: usize, swap: bool, null: bool) {
    let keep = (null as u64).wrapping_sub(1); // all ones unless null
    match (width, swap) {
        (1, _) => *dst = *src & keep as u8,
        (2, true) => (dst as *mut u16).write_unaligned((src as *const u16).read_unaligned().swap_bytes() & keep as u16),
        (2, false) => (dst as *mut u16).write_unaligned((src as *const u16).read_unaligned() & keep as u16),
        (4, true) => (dst as *mut u32).write_unaligned((src as *const u32).read_unaligned().swap_bytes() & keep as u32),
        (4, false) => (dst as *mut u32).write_unaligned((src as *const u32).read_unaligned() & keep as u32),
        (8, true) => (dst as *mut u64).write_unaligned((src as *const u64).read_unaligned().swap_bytes() & keep),
        (8, false) => (dst as *mut u64).write_unaligned((src as *const u64).read_unaligned() & keep),
        (16, true) => (dst as *mut u128).write_unaligned((src as *const u128).read_unaligned().swap_bytes() & (keep as u128 | (keep as u128) << 64)),
        (16, false) => (dst as *mut u128).write_unaligned((src as *const u128).read_unaligned() & (keep as u128 | (keep as u128) << 64)),
        (w, s) => {
            if null {
                zero_fixed_raw(dst, w)
            } else {
                copy_fixed_raw(src, dst, w, s)
            }
        }
    }
}
