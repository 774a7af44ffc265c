//! Multi-row INSERT placeholders `($1,$2),($3,$4)` and their chunking under the protocol's
//! parameter limit (Bind carries an int16 parameter count: at most 65,535 parameters).
use crate::error::{CodecError, CodecResult};

/// Longest string the builder produces: V8's string length limit is about 2^29 characters.
const MAX_TEXT_BYTES: u64 = (1 << 29) - 64;

/// Appends the decimal digits of `n` to `out` without allocating.
#[inline(always)]
fn push_decimal(out: &mut Vec<u8>, mut n: u64) {
    let mut tmp = [0u8; 20];
    let mut i = tmp.len();
    loop {
        i -= 1;
        tmp[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&tmp[i..]);
}

fn check_count(what: &str, v: u64, min: u64) -> CodecResult<()> {
    if v < min {
        return Err(CodecError::new(format!("placeholders: {what} {v}, expected an integer >= {min}"), 0));
    }
    Ok(())
}

/// `($first,...),(...)` for `rows` rows of `cols` columns, as ASCII bytes; empty for zero rows,
/// `(),()` for zero columns.
pub fn placeholders(rows: u64, cols: u64, first: u64) -> CodecResult<Vec<u8>> {
    check_count("first", first, 1)?;
    if rows == 0 {
        return Ok(Vec::new());
    }
    let too_large = || CodecError::new(format!("placeholders: {rows} rows x {cols} columns make too long a statement"), 0);
    let params = rows.checked_mul(cols).ok_or_else(too_large)?;
    let last = first.checked_add(params).ok_or_else(too_large)?;
    let digits = last.max(1).ilog10() as u64 + 1;
    // Upper bound: "$" + digits + "," per parameter, "()," per row.
    let bound = params.checked_mul(digits + 2).and_then(|b| b.checked_add(rows.checked_mul(3)?)).ok_or_else(too_large)?;
    if bound > MAX_TEXT_BYTES {
        return Err(too_large());
    }
    let mut out = Vec::with_capacity(bound as usize);
    let mut n = first;
    for r in 0..rows {
        if r > 0 {
            out.push(b',');
        }
        out.push(b'(');
        for c in 0..cols {
            if c > 0 {
                out.push(b',');
            }
            out.push(b'$');
            push_decimal(&mut out, n);
            n += 1;
        }
        out.push(b')');
    }
    Ok(out)
}

/// Rows per INSERT statement so that none exceeds `max_params` parameters: full chunks then the
/// remainder. Zero rows: none; zero columns: one statement of all rows.
pub fn insert_chunks(rows: u64, cols: u64, max_params: u64) -> CodecResult<Vec<u64>> {
    check_count("maxParams", max_params, 1)?;
    if rows == 0 {
        return Ok(Vec::new());
    }
    if cols == 0 {
        return Ok(vec![rows]);
    }
    if cols > max_params {
        return Err(CodecError::new(
            format!("placeholders: {cols} columns do not fit in one statement of at most {max_params} parameters"),
            0,
        ));
    }
    let per = max_params / cols;
    let count = rows.div_ceil(per);
    if count > 1 << 27 {
        return Err(CodecError::new(format!("placeholders: {rows} rows make {count} statements, too many to list"), 0));
    }
    let mut out = Vec::with_capacity(count as usize);
    let mut left = rows;
    while left > per {
        out.push(per);
        left -= per;
    }
    out.push(left);
    Ok(out)
}
