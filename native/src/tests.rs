//! Rust-side unit tests of the pure codec modules (`cargo test -p rb-native`). The parity tests
//! against the TypeScript implementation live in `native/native-parity.test.ts`; these pin the
//! wire formats directly and run without node.
use crate::batch::{ColumnCodec, ColumnView};
use crate::copy_decode::{fill, plan, Layout};
use crate::copy_encode::{encode_into, validate_batch};
use crate::copy_scan::{copy_header_length, copy_scan};
use crate::deframe::deframe_copy_data;
use crate::pgoutput::parse;
use crate::placeholders::{insert_chunks, placeholders};

fn tuple(fields: &[Option<&[u8]>]) -> Vec<u8> {
    let mut out = (fields.len() as i16).to_be_bytes().to_vec();
    for f in fields {
        match f {
            None => out.extend_from_slice(&(-1i32).to_be_bytes()),
            Some(v) => {
                out.extend_from_slice(&(v.len() as i32).to_be_bytes());
                out.extend_from_slice(v);
            }
        }
    }
    out
}

#[test]
fn placeholders_and_chunks() {
    assert_eq!(String::from_utf8(placeholders(2, 3, 1).unwrap()).unwrap(), "($1,$2,$3),($4,$5,$6)");
    assert_eq!(String::from_utf8(placeholders(1, 2, 9).unwrap()).unwrap(), "($9,$10)");
    assert_eq!(String::from_utf8(placeholders(2, 0, 1).unwrap()).unwrap(), "(),()");
    assert!(placeholders(0, 5, 1).unwrap().is_empty());
    assert!(placeholders(1, 1, 0).is_err());
    assert_eq!(insert_chunks(100_000, 3, 65535).unwrap(), vec![21845, 21845, 21845, 21845, 12620]);
    assert_eq!(insert_chunks(5, 0, 65535).unwrap(), vec![5]);
    assert!(insert_chunks(1, 10, 5).is_err());
}

#[test]
fn copy_header_scan_and_round_trip() {
    let mut stream = b"PGCOPY\n\xff\r\n\0\0\0\0\0\0\0\0\x02ab".to_vec();
    assert_eq!(copy_header_length(&stream, 0).unwrap(), Some(21));
    assert_eq!(copy_header_length(&stream[..20], 0).unwrap(), None);
    assert!(copy_header_length(b"PGCOPX", 0).is_err());
    let int4 = 7i32.to_be_bytes();
    stream.extend(tuple(&[Some(&int4), Some(b"hello")]));
    stream.extend(tuple(&[None, Some(b"")]));
    stream.extend_from_slice(&(-1i16).to_be_bytes());
    let scan = copy_scan(&stream, 21, 2).unwrap();
    assert_eq!((scan.rows, scan.end, scan.done), (2, stream.len(), true));
    assert!(copy_scan(&stream, 21, 3).is_err());
    // A cut tuple is left for the next chunk.
    let cut = copy_scan(&stream[..stream.len() - 5], 21, 2).unwrap();
    assert_eq!((cut.rows, cut.done), (1, false));

    let codecs = [ColumnCodec::Fixed { width: 4, swap: true }, ColumnCodec::Var];
    let p = plan(&stream, 21, &codecs, usize::MAX).unwrap();
    assert_eq!((p.scan.rows, p.var_bytes.clone()), (2, vec![0, 5]));
    let layout = Layout::new(&codecs, 2, &p.var_bytes);
    let mut out = vec![0xaau8; layout.total];
    fill(&stream, 21, &codecs, 2, &layout, &mut out).unwrap();
    let seg = |c: usize, k: usize| layout.segments[c][k];
    assert_eq!(&out[seg(0, 0)..seg(0, 0) + 2], &[0, 1]); // nulls
    assert_eq!(&out[seg(0, 1)..seg(0, 1) + 8], &[7, 0, 0, 0, 0, 0, 0, 0]); // LE int4, zeroed NULL
    assert_eq!(&out[seg(1, 2)..seg(1, 2) + 5], b"hello");

    let offsets = [0i32, 5, 5];
    let cols = [
        ColumnView::Fixed { width: 4, swap: true, values: &out[seg(0, 1)..seg(0, 1) + 8], nulls: &[0, 1] },
        ColumnView::Var { offsets: &offsets, data: b"hello", nulls: &[0, 0] },
    ];
    let need = validate_batch(2, &cols).unwrap();
    let mut encoded = vec![0u8; need];
    assert_eq!(encode_into(2, &cols, need, &mut encoded, 0).unwrap(), need);
    assert_eq!(encoded, stream[21..stream.len() - 2]);
    assert!(encode_into(2, &cols, need, &mut encoded[..need - 1], 0).is_err());
}

#[test]
fn deframe_strips_copydata_headers() {
    let mut buf = vec![b'd', 0, 0, 0, 7, 1, 2, 3, b'd', 0, 0, 0, 4, b'c', 0, 0, 0, 4];
    let mut out = vec![0u8; buf.len()];
    let r = unsafe { deframe_copy_data(buf.as_ptr(), buf.len(), 0, out.as_mut_ptr(), out.len(), 0) }.unwrap();
    assert_eq!((r.consumed, r.written, r.messages, r.stop), (13, 3, 2, true));
    assert_eq!(&out[..3], &[1, 2, 3]);
    // In place: the output may alias the input.
    let p = buf.as_mut_ptr();
    let r = unsafe { deframe_copy_data(p, 18, 0, p, 18, 0) }.unwrap();
    assert_eq!((r.written, &buf[..3]), (3, &[1u8, 2, 3][..]));
    let bad = [b'd', 0, 0, 0, 3];
    assert!(unsafe { deframe_copy_data(bad.as_ptr(), 5, 0, out.as_mut_ptr(), out.len(), 0) }.is_err());
}

#[test]
fn pgoutput_plans_change_sets_and_reports_errors() {
    let mut msgs: Vec<Vec<u8>> = Vec::new();
    let mut begin = vec![b'B'];
    begin.extend_from_slice(&[0u8; 20]);
    msgs.push(begin);
    for v in [&b"1"[..], b"22"] {
        let mut m = vec![b'I'];
        m.extend_from_slice(&16384u32.to_be_bytes());
        m.push(b'N');
        m.extend_from_slice(&1i16.to_be_bytes());
        m.push(b't');
        m.extend_from_slice(&(v.len() as i32).to_be_bytes());
        m.extend_from_slice(v);
        msgs.push(m);
    }
    msgs.push(vec![b'E']);
    let mut buf = Vec::new();
    let mut offsets = vec![0i32];
    for m in &msgs {
        buf.extend_from_slice(m);
        offsets.push(buf.len() as i32);
    }
    let (parsed, err) = parse(&buf, &offsets, false);
    assert!(err.is_none());
    assert_eq!((parsed.events, parsed.plans.len(), parsed.plans[0].rows), (2, 1, 2));
    assert_eq!(parsed.new_bytes(&parsed.plans[0]), &[3]);

    // An unknown tag fails with the message tag and offset, after the events before it.
    let bad = [b'B', 0, 0, 0, b'Z'];
    let (parsed, err) = parse(&bad, &[0, 4, 5], false);
    let err = err.unwrap();
    assert_eq!(parsed.events, 0);
    assert!(err.message.starts_with("pgoutput: need 8 bytes"), "{}", err.message);
}
