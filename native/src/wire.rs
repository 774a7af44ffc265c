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

/// Copies `width` bytes from `src` to `dst`, reversing them when `swap` (wire big-endian <->
/// batch little-endian). Widths are 1, 2, 4, 8 or 16, fixed per column.
#[inline(always)]
pub fn copy_fixed(dst: &mut [u8], src: &[u8], width: usize, swap: bool) {
    if !swap {
        dst[..width].copy_from_slice(&src[..width]);
        return;
    }
    match width {
        1 => dst[0] = src[0],
        2 => dst[..2].copy_from_slice(&u16::from_le_bytes([src[0], src[1]]).to_be_bytes()),
        4 => dst[..4].copy_from_slice(&u32::from_le_bytes([src[0], src[1], src[2], src[3]]).to_be_bytes()),
        8 => {
            let mut a = [0u8; 8];
            a.copy_from_slice(&src[..8]);
            dst[..8].copy_from_slice(&u64::from_le_bytes(a).to_be_bytes());
        }
        16 => {
            let mut a = [0u8; 16];
            a.copy_from_slice(&src[..16]);
            dst[..16].copy_from_slice(&u128::from_le_bytes(a).to_be_bytes());
        }
        _ => {
            for i in 0..width {
                dst[i] = src[width - 1 - i];
            }
        }
    }
}
