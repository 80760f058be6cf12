//! DNS message codec for the run's resolver stub (pure, no sockets).
//!
//! The stub reads a query with [`parse_query`], decides, and answers with
//! [`answer`] or [`error_response`]. Both copy the query's question section
//! byte for byte, so a resolver that randomises the case of the name (0x20
//! encoding) sees it unchanged. Everything read from the packet is bounds-
//! checked; compression pointers must point backwards and a name may follow
//! at most [`MAX_POINTERS`] of them, so no packet can make the parser loop.
//! [`tcp_frame`] / [`tcp_unframe`] add and strip the two-byte length of DNS
//! over TCP. [`build_query`] and [`parse_response`] are the client side
//! (tests, probes).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Record type A (IPv4 address).
pub const TYPE_A: u16 = 1;
/// Record type AAAA (IPv6 address).
pub const TYPE_AAAA: u16 = 28;
/// Class IN.
pub const CLASS_IN: u16 = 1;
/// Response code: format error.
pub const RCODE_FORMERR: u8 = 1;
/// Response code: server failure.
pub const RCODE_SERVFAIL: u8 = 2;
/// Response code: no such name.
pub const RCODE_NXDOMAIN: u8 = 3;
/// Response code: refused.
pub const RCODE_REFUSED: u8 = 5;
/// Most compression pointers one name may follow.
pub const MAX_POINTERS: usize = 16;
/// Longest name on the wire (RFC 1035), length bytes included.
pub const MAX_NAME_WIRE: usize = 255;

const HEADER: usize = 12;
const QR: u16 = 0x8000;
const OPCODE: u16 = 0x7800;
const TC: u16 = 0x0200;
const RD: u16 = 0x0100;
const RA: u16 = 0x0080;

/// The one question of a query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Question {
    /// The query id, echoed in the response.
    pub id: u16,
    /// The name asked for: lower-case, no trailing dot (`""` for the root).
    pub name: String,
    /// QTYPE ([`TYPE_A`], [`TYPE_AAAA`], ...).
    pub qtype: u16,
    /// QCLASS ([`CLASS_IN`] normally).
    pub qclass: u16,
    /// Recursion desired (echoed).
    pub rd: bool,
}

fn u16_at(p: &[u8], at: usize) -> Result<u16, String> {
    match p.get(at..at + 2) {
        Some(b) => Ok(u16::from_be_bytes([b[0], b[1]])),
        None => Err("truncated packet".into()),
    }
}

fn u32_at(p: &[u8], at: usize) -> Result<u32, String> {
    match p.get(at..at + 4) {
        Some(b) => Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]])),
        None => Err("truncated packet".into()),
    }
}

/// Reads the (possibly compressed) name at `at`; returns it lower-case
/// without a trailing dot and the offset just after it in place.
pub fn read_name(p: &[u8], at: usize) -> Result<(String, usize), String> {
    let mut name = String::new();
    let mut pos = at;
    let mut end = None;
    let mut pointers = 0;
    let mut wire = 0usize;
    loop {
        let len = *p.get(pos).ok_or("truncated name")? as usize;
        match len & 0xc0 {
            0x00 => {
                wire += len + 1;
                if wire > MAX_NAME_WIRE {
                    return Err("name longer than 255 bytes".into());
                }
                if len == 0 {
                    return Ok((name, end.unwrap_or(pos + 1)));
                }
                let label = p.get(pos + 1..pos + 1 + len).ok_or("truncated name")?;
                if !label.iter().all(|&b| b.is_ascii_graphic() && b != b'.') {
                    return Err("label with a dot, space or non-printable byte".into());
                }
                if !name.is_empty() {
                    name.push('.');
                }
                name.extend(label.iter().map(|b| b.to_ascii_lowercase() as char));
                pos += 1 + len;
            }
            0xc0 => {
                let target = (u16_at(p, pos).map_err(|_| "truncated name")? & 0x3fff) as usize;
                pointers += 1;
                if pointers > MAX_POINTERS {
                    return Err("too many compression pointers".into());
                }
                if target >= pos {
                    return Err("compression pointer does not point backwards".into());
                }
                end.get_or_insert(pos + 2);
                pos = target;
            }
            _ => return Err("unsupported label type".into()),
        }
    }
}

/// Parses a query: QR = 0, opcode QUERY, exactly one question. Answer,
/// authority and additional sections (an EDNS OPT record) are ignored.
pub fn parse_query(packet: &[u8]) -> Result<Question, String> {
    if packet.len() < HEADER {
        return Err("shorter than a DNS header".into());
    }
    let id = u16_at(packet, 0)?;
    let flags = u16_at(packet, 2)?;
    if flags & QR != 0 {
        return Err("a response, not a query".into());
    }
    if flags & OPCODE != 0 {
        return Err("not a standard query (opcode)".into());
    }
    let qd = u16_at(packet, 4)?;
    if qd != 1 {
        return Err(format!("{qd} questions (exactly one expected)"));
    }
    let (name, end) = read_name(packet, HEADER)?;
    let qtype = u16_at(packet, end)?;
    let qclass = u16_at(packet, end + 2)?;
    Ok(Question {
        id,
        name,
        qtype,
        qclass,
        rd: flags & RD != 0,
    })
}

/// The query's question section as on the wire (header excluded), or the
/// name re-encoded from `q` when the packet's cannot be read.
fn question_bytes<'a>(packet: &'a [u8], q: &Question) -> std::borrow::Cow<'a, [u8]> {
    if let Ok((_, end)) = read_name(packet, HEADER) {
        if let Some(b) = packet.get(HEADER..end + 4) {
            return b.into();
        }
    }
    let mut out = encode_name(&q.name);
    out.extend_from_slice(&q.qtype.to_be_bytes());
    out.extend_from_slice(&q.qclass.to_be_bytes());
    out.into()
}

fn header(q: &Question, extra_flags: u16, rcode: u8, ancount: u16) -> Vec<u8> {
    let mut flags = QR | RA | extra_flags | u16::from(rcode & 0x0f);
    if q.rd {
        flags |= RD;
    }
    let mut h = Vec::with_capacity(512);
    for v in [q.id, flags, 1, ancount, 0, 0] {
        h.extend_from_slice(&v.to_be_bytes());
    }
    h
}

/// A response to `q` (parsed from `packet`) with the addresses of `addrs`
/// that match its type (A: IPv4, AAAA: IPv6; none for other types), each
/// with TTL `ttl`; rcode 0. No size limit: see [`answer_limited`].
pub fn answer(packet: &[u8], q: &Question, addrs: &[IpAddr], ttl: u32) -> Vec<u8> {
    answer_limited(packet, q, addrs, ttl, usize::MAX)
}

/// As [`answer`], but at most `max_len` bytes (512 for plain UDP): records
/// that do not fit are dropped and the TC bit is set, so the client retries
/// over TCP.
pub fn answer_limited(
    packet: &[u8],
    q: &Question,
    addrs: &[IpAddr],
    ttl: u32,
    max_len: usize,
) -> Vec<u8> {
    let question = question_bytes(packet, q);
    let records: Vec<Vec<u8>> = addrs
        .iter()
        .filter_map(|a| {
            let (rtype, rdata): (u16, Vec<u8>) = match (q.qtype, a) {
                (TYPE_A, IpAddr::V4(v4)) => (TYPE_A, v4.octets().to_vec()),
                (TYPE_AAAA, IpAddr::V6(v6)) => (TYPE_AAAA, v6.octets().to_vec()),
                _ => return None,
            };
            // The owner name is a pointer to the question's name.
            let mut r = vec![0xc0, HEADER as u8];
            r.extend_from_slice(&rtype.to_be_bytes());
            r.extend_from_slice(&CLASS_IN.to_be_bytes());
            r.extend_from_slice(&ttl.to_be_bytes());
            r.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
            r.extend_from_slice(&rdata);
            Some(r)
        })
        .collect();
    let mut size = HEADER + question.len();
    let mut fit = 0;
    for r in &records {
        if size + r.len() > max_len || fit == usize::from(u16::MAX) {
            break;
        }
        size += r.len();
        fit += 1;
    }
    let tc = if fit < records.len() { TC } else { 0 };
    let mut out = header(q, tc, 0, fit as u16);
    out.extend_from_slice(&question);
    for r in &records[..fit] {
        out.extend_from_slice(r);
    }
    out
}

/// A response to `q` with rcode `rcode` ([`RCODE_NXDOMAIN`],
/// [`RCODE_REFUSED`], [`RCODE_SERVFAIL`], ...) and no answers.
pub fn error_response(packet: &[u8], q: &Question, rcode: u8) -> Vec<u8> {
    let mut out = header(q, 0, rcode, 0);
    out.extend_from_slice(&question_bytes(packet, q));
    out
}

/// `name` (dot-separated, no escapes) in wire form. Labels longer than 63
/// bytes are cut; callers pass validated names.
pub fn encode_name(name: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(name.len() + 2);
    for label in name.split('.').filter(|l| !l.is_empty()) {
        let b = &label.as_bytes()[..label.len().min(63)];
        out.push(b.len() as u8);
        out.extend_from_slice(b);
    }
    out.push(0);
    out
}

/// A standard query (RD set, class IN) for `name` and `qtype`.
pub fn build_query(id: u16, name: &str, qtype: u16) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER + name.len() + 6);
    for v in [id, RD, 1, 0, 0, 0] {
        out.extend_from_slice(&v.to_be_bytes());
    }
    out.extend_from_slice(&encode_name(name));
    out.extend_from_slice(&qtype.to_be_bytes());
    out.extend_from_slice(&CLASS_IN.to_be_bytes());
    out
}

/// A decoded response: what a client needs from it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// The id.
    pub id: u16,
    /// The response code.
    pub rcode: u8,
    /// Whether the TC (truncated) bit is set.
    pub truncated: bool,
    /// The question's name (lower-case).
    pub name: String,
    /// The A and AAAA records of the answer section, with their TTLs.
    pub addrs: Vec<(IpAddr, u32)>,
}

/// Decodes a response (QR = 1): its header, question and the A / AAAA
/// records of its answer section (other records are skipped).
pub fn parse_response(packet: &[u8]) -> Result<Response, String> {
    if packet.len() < HEADER {
        return Err("shorter than a DNS header".into());
    }
    let flags = u16_at(packet, 2)?;
    if flags & QR == 0 {
        return Err("a query, not a response".into());
    }
    let qd = u16_at(packet, 4)?;
    let an = u16_at(packet, 6)?;
    let mut pos = HEADER;
    let mut name = String::new();
    for i in 0..qd {
        let (n, end) = read_name(packet, pos)?;
        if i == 0 {
            name = n;
        }
        pos = end + 4;
    }
    let mut addrs = Vec::new();
    for _ in 0..an {
        let (_, end) = read_name(packet, pos)?;
        let rtype = u16_at(packet, end)?;
        let ttl = u32_at(packet, end + 4)?;
        let len = u16_at(packet, end + 8)? as usize;
        let data = packet
            .get(end + 10..end + 10 + len)
            .ok_or("truncated record")?;
        match (rtype, len) {
            (TYPE_A, 4) => addrs.push((
                IpAddr::V4(Ipv4Addr::new(data[0], data[1], data[2], data[3])),
                ttl,
            )),
            (TYPE_AAAA, 16) => {
                let mut b = [0u8; 16];
                b.copy_from_slice(data);
                addrs.push((IpAddr::V6(Ipv6Addr::from(b)), ttl));
            }
            (TYPE_A | TYPE_AAAA, _) => return Err("address record of the wrong length".into()),
            _ => {}
        }
        pos = end + 10 + len;
    }
    Ok(Response {
        id: u16_at(packet, 0)?,
        rcode: (flags & 0x0f) as u8,
        truncated: flags & TC != 0,
        name,
        addrs,
    })
}

/// `msg` with the two-byte big-endian length prefix of DNS over TCP.
/// Messages longer than 65535 bytes are cut (the stub never builds one).
pub fn tcp_frame(msg: &[u8]) -> Vec<u8> {
    let msg = &msg[..msg.len().min(usize::from(u16::MAX))];
    let mut out = Vec::with_capacity(msg.len() + 2);
    out.extend_from_slice(&(msg.len() as u16).to_be_bytes());
    out.extend_from_slice(msg);
    out
}

/// The first complete length-prefixed message in `buf` and the number of
/// bytes it took (prefix included); `None` while more bytes are needed.
pub fn tcp_unframe(buf: &[u8]) -> Option<(&[u8], usize)> {
    let len = u16::from_be_bytes([*buf.first()?, *buf.get(1)?]) as usize;
    buf.get(2..2 + len).map(|m| (m, 2 + len))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    /// A query for `www.example.com` type A, id 0x1234, RD, built by hand.
    fn hand_query() -> Vec<u8> {
        let mut q = vec![0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
        q.extend_from_slice(b"\x03WwW\x07example\x03COM\x00");
        q.extend_from_slice(&[0, 1, 0, 1]);
        q
    }

    #[test]
    fn parses_a_hand_built_query() {
        let q = parse_query(&hand_query()).unwrap();
        assert_eq!(
            q,
            Question {
                id: 0x1234,
                name: "www.example.com".into(),
                qtype: TYPE_A,
                qclass: CLASS_IN,
                rd: true,
            }
        );
        // Without RD, AAAA, with an EDNS OPT record in the additional section.
        let mut p = hand_query();
        p[2] = 0;
        p[11] = 1; // ARCOUNT
        let n = p.len();
        p[n - 3] = 28;
        p.extend_from_slice(&[0, 0, 41, 0x10, 0, 0, 0, 0, 0, 0, 0]);
        let q = parse_query(&p).unwrap();
        assert!(!q.rd);
        assert_eq!(q.qtype, TYPE_AAAA);
        // The root name.
        let mut root = vec![0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0, 1];
        assert_eq!(parse_query(&root).unwrap().name, "");
        root.truncate(15);
        assert!(parse_query(&root).is_err());
    }

    #[test]
    fn build_query_round_trips() {
        let p = build_query(7, "Public.Test.", TYPE_AAAA);
        let q = parse_query(&p).unwrap();
        assert_eq!(
            (q.id, q.name.as_str(), q.qtype, q.rd),
            (7, "public.test", TYPE_AAAA, true)
        );
    }

    #[test]
    fn rejects_what_is_not_one_standard_query() {
        let good = hand_query();
        let mut response = good.clone();
        response[2] |= 0x80;
        let mut notify = good.clone();
        notify[2] |= 4 << 3;
        let mut two = good.clone();
        two[5] = 2;
        let mut none = good.clone();
        none[5] = 0;
        for (p, why) in [
            (vec![], "shorter than a DNS header"),
            (good[..11].to_vec(), "shorter than a DNS header"),
            (response, "a response"),
            (notify, "opcode"),
            (two, "2 questions"),
            (none, "0 questions"),
            (good[..12].to_vec(), "truncated name"),
            (good[..20].to_vec(), "truncated name"),
            (good[..good.len() - 1].to_vec(), "truncated packet"),
            (good[..good.len() - 3].to_vec(), "truncated packet"),
        ] {
            let e = parse_query(&p).unwrap_err();
            assert!(e.contains(why), "{e:?} should mention {why:?}");
        }
    }

    #[test]
    fn bad_labels() {
        let base = vec![0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0];
        let with = |name: &[u8]| {
            let mut p = base.clone();
            p.extend_from_slice(name);
            p.extend_from_slice(&[0, 1, 0, 1]);
            p
        };
        assert!(parse_query(&with(b"\x03a.b\x00"))
            .unwrap_err()
            .contains("dot"));
        assert!(parse_query(&with(b"\x03a b\x00"))
            .unwrap_err()
            .contains("space"));
        assert!(parse_query(&with(b"\x02a\x00\x00"))
            .unwrap_err()
            .contains("non-printable"));
        assert!(parse_query(&with(b"\x41a\x00"))
            .unwrap_err()
            .contains("label type"));
        assert!(parse_query(&with(b"\x81a\x00"))
            .unwrap_err()
            .contains("label type"));
        // 5 labels of 63 bytes: 320 wire bytes.
        let mut long = Vec::new();
        for _ in 0..5 {
            long.push(63);
            long.extend_from_slice(&[b'a'; 63]);
        }
        long.push(0);
        assert!(parse_query(&with(&long)).unwrap_err().contains("255"));
        // 253 characters (255 wire bytes) is the longest allowed.
        let mut max = Vec::new();
        for n in [63, 63, 63, 61] {
            max.push(n);
            max.extend_from_slice(&vec![b'b'; n as usize]);
        }
        max.push(0);
        assert_eq!(parse_query(&with(&max)).unwrap().name.len(), 253);
    }

    #[test]
    fn compression_pointers_are_followed_defensively() {
        let header = [0u8, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0];
        // A pointer to itself (offset 12): a loop.
        let mut p = header.to_vec();
        p.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1]);
        assert!(parse_query(&p).unwrap_err().contains("backwards"));
        // A forward pointer.
        let mut p = header.to_vec();
        p.extend_from_slice(&[0xc0, 14, 0, 0, 1, 0, 1]);
        assert!(parse_query(&p).unwrap_err().contains("backwards"));
        // A pointer into the header (backwards, so followed): the bytes there
        // decode as a name or fail, never loop.
        let mut p = header.to_vec();
        p.extend_from_slice(&[0xc0, 0, 0, 1, 0, 1]);
        assert_eq!(read_name(&p, 12).unwrap(), (String::new(), 14));
        // A truncated pointer.
        let mut p = header.to_vec();
        p.push(0xc0);
        assert!(parse_query(&p).unwrap_err().contains("truncated"));
        // A legitimate backward pointer: "a" + pointer to "example.com" laid
        // down earlier through a long chain.
        let mut r = vec![0u8; 12];
        r.extend_from_slice(b"\x07example\x03com\x00"); // at 12
        r.extend_from_slice(b"\x01a\xc0\x0c"); // at 25
        let (name, end) = read_name(&r, 25).unwrap();
        assert_eq!((name.as_str(), end), ("a.example.com", 29));
        // A chain of MAX_POINTERS + 1 pointers, each one back by two bytes.
        let mut chain = vec![0u8; 12];
        chain.push(0); // the root name at 12
        let mut at = 12;
        for _ in 0..=MAX_POINTERS {
            let here = chain.len();
            chain.extend_from_slice(&[0xc0 | (at >> 8) as u8, at as u8]);
            at = here;
        }
        assert!(read_name(&chain, at).unwrap_err().contains("too many"));
        assert!(read_name(&chain, 13 + 2 * (MAX_POINTERS - 1)).is_ok());
        // Two labels pointing at each other cannot loop: one is forward.
        let mut mutual = vec![0u8; 12];
        mutual.extend_from_slice(&[0xc0, 14, 0xc0, 12]);
        assert!(read_name(&mutual, 12).is_err());
        assert!(read_name(&mutual, 14).is_err());
    }

    #[test]
    fn answers_decode_back() {
        let p = hand_query();
        let q = parse_query(&p).unwrap();
        let addrs = [ip("203.0.113.10"), ip("2001:db8::10"), ip("198.51.100.1")];
        let a = answer(&p, &q, &addrs, 0);
        let r = parse_response(&a).unwrap();
        assert_eq!(r.id, 0x1234);
        assert_eq!(r.rcode, 0);
        assert!(!r.truncated);
        assert_eq!(r.name, "www.example.com");
        assert_eq!(
            r.addrs,
            vec![(ip("203.0.113.10"), 0), (ip("198.51.100.1"), 0)]
        );
        // Flags: QR, RD echoed, RA; the question copied byte for byte (case kept).
        assert_eq!(a[2] & 0x81, 0x81);
        assert_eq!(a[3] & 0x80, 0x80);
        assert_eq!(&a[12..p.len()], &p[12..]);
        assert_eq!(u16::from_be_bytes([a[6], a[7]]), 2);

        let p6 = build_query(9, "v6.test", TYPE_AAAA);
        let q6 = parse_query(&p6).unwrap();
        let r = parse_response(&answer(&p6, &q6, &addrs, 300)).unwrap();
        assert_eq!(r.addrs, vec![(ip("2001:db8::10"), 300)]);
        assert_eq!(r.id, 9);
        // Another type: no records.
        let pt = build_query(1, "x.test", 16);
        let qt = parse_query(&pt).unwrap();
        assert!(parse_response(&answer(&pt, &qt, &addrs, 1))
            .unwrap()
            .addrs
            .is_empty());
    }

    #[test]
    fn limited_answers_set_tc() {
        let p = build_query(3, "many.test", TYPE_A);
        let q = parse_query(&p).unwrap();
        let addrs: Vec<IpAddr> = (0..100u8).map(|i| ip(&format!("203.0.113.{i}"))).collect();
        let a = answer_limited(&p, &q, &addrs, 5, 512);
        assert!(a.len() <= 512);
        let r = parse_response(&a).unwrap();
        assert!(r.truncated);
        assert_eq!(r.addrs.len(), (512 - p.len()) / 16);
        let all = parse_response(&answer(&p, &q, &addrs, 5)).unwrap();
        assert_eq!((all.addrs.len(), all.truncated), (100, false));
    }

    #[test]
    fn error_responses() {
        let p = hand_query();
        let q = parse_query(&p).unwrap();
        for rcode in [RCODE_NXDOMAIN, RCODE_REFUSED, RCODE_SERVFAIL, RCODE_FORMERR] {
            let e = error_response(&p, &q, rcode);
            let r = parse_response(&e).unwrap();
            assert_eq!((r.id, r.rcode, r.addrs.len()), (0x1234, rcode, 0));
            assert_eq!(&e[12..], &p[12..]);
        }
        // A packet whose question cannot be read again: re-encoded from q.
        let e = error_response(&[], &q, RCODE_REFUSED);
        assert_eq!(parse_response(&e).unwrap().name, "www.example.com");
    }

    #[test]
    fn response_parser_is_bounds_checked() {
        let p = hand_query();
        let q = parse_query(&p).unwrap();
        let a = answer(&p, &q, &[ip("203.0.113.10")], 0);
        for cut in 0..a.len() {
            assert!(parse_response(&a[..cut]).is_err(), "cut at {cut}");
        }
        assert!(parse_response(&p).unwrap_err().contains("a query"));
        // A record claiming more data than there is.
        let mut bad = a.clone();
        let n = bad.len();
        bad[n - 5] = 200;
        assert!(parse_response(&bad).is_err());
        // An A record of length 5.
        let mut odd = a[..a.len() - 6].to_vec();
        odd.extend_from_slice(&[0, 5, 1, 2, 3, 4, 5]);
        assert!(parse_response(&odd).unwrap_err().contains("wrong length"));
    }

    #[test]
    fn tcp_framing() {
        let msg = build_query(1, "public.test", TYPE_A);
        let f = tcp_frame(&msg);
        assert_eq!(u16::from_be_bytes([f[0], f[1]]) as usize, msg.len());
        assert_eq!(tcp_unframe(&f), Some((&msg[..], msg.len() + 2)));
        for cut in 0..f.len() {
            assert_eq!(tcp_unframe(&f[..cut]), None, "cut at {cut}");
        }
        let mut two = f.clone();
        two.extend_from_slice(&tcp_frame(b"xy"));
        let (first, used) = tcp_unframe(&two).unwrap();
        assert_eq!(first, &msg[..]);
        assert_eq!(tcp_unframe(&two[used..]), Some((&b"xy"[..], 4)));
        assert_eq!(tcp_unframe(&[0, 0]), Some((&[][..], 2)));
    }
}
