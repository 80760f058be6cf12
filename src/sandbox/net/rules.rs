//! Network egress rules: parsing `network.allow` entries, the address
//! classes that are always blocked, and the verdict for one connection.
//!
//! Pure logic, no I/O. The broker asks [`Rules::check`] about the address a
//! script is about to connect to (after the kernel handed it over, so the
//! checked address is the connected one) and the DNS stub asks
//! [`Rules::name_allowed`] before it answers a query.
//!
//! Addresses are normalised first ([`normalise`]): an IPv4 address written
//! as IPv4-mapped IPv6, through the NAT64 well-known prefix or as 6to4 is
//! classified as that IPv4 address, so `::ffff:169.254.169.254` is
//! link-local like `169.254.169.254`.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// An IP network: an address and a prefix length. The address is stored with
/// its host bits cleared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct IpNet {
    /// The network address (host bits zero).
    pub addr: IpAddr,
    /// The prefix length: at most 32 for IPv4, 128 for IPv6.
    pub prefix: u8,
}

impl IpNet {
    /// The network `addr/prefix` with the host bits of `addr` cleared;
    /// `Err` when the prefix is longer than the family allows.
    pub fn new(addr: IpAddr, prefix: u8) -> Result<IpNet, String> {
        let max = max_prefix(addr);
        if prefix > max {
            return Err(format!("prefix longer than {max}"));
        }
        let addr = match addr {
            IpAddr::V4(a) => IpAddr::V4(Ipv4Addr::from(u32::from(a) & mask32(prefix))),
            IpAddr::V6(a) => IpAddr::V6(Ipv6Addr::from(u128::from(a) & mask128(prefix))),
        };
        Ok(IpNet { addr, prefix })
    }

    /// The network holding only `addr` (/32 or /128).
    pub fn single(addr: IpAddr) -> IpNet {
        IpNet {
            addr,
            prefix: max_prefix(addr),
        }
    }

    /// Whether `ip` lies in this network. Exact: no normalisation, and an
    /// address of the other family is never contained.
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, ip) {
            (IpAddr::V4(n), IpAddr::V4(a)) => u32::from(a) & mask32(self.prefix) == u32::from(n),
            (IpAddr::V6(n), IpAddr::V6(a)) => u128::from(a) & mask128(self.prefix) == u128::from(n),
            _ => false,
        }
    }
}

impl fmt::Display for IpNet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.prefix == max_prefix(self.addr) {
            write!(f, "{}", self.addr)
        } else {
            write!(f, "{}/{}", self.addr, self.prefix)
        }
    }
}

fn max_prefix(ip: IpAddr) -> u8 {
    if ip.is_ipv4() {
        32
    } else {
        128
    }
}

fn mask32(prefix: u8) -> u32 {
    if prefix == 0 {
        0
    } else {
        u32::MAX << (32 - u32::from(prefix))
    }
}

fn mask128(prefix: u8) -> u128 {
    if prefix == 0 {
        0
    } else {
        u128::MAX << (128 - u32::from(prefix))
    }
}

/// One parsed `network.allow` entry.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum AllowEntry {
    /// A host name (`api.example.com`, `api.example.com:443`): matches the
    /// addresses the run's DNS stub answered for exactly that name.
    Host {
        /// Lower-case, without a trailing dot.
        name: String,
        /// The only port allowed, when given.
        port: Option<u16>,
    },
    /// A wildcard (`*.example.com`): matches every name below the suffix,
    /// at any depth, but not the suffix itself.
    Suffix {
        /// `example.com` for `*.example.com` (lower-case, no trailing dot).
        suffix: String,
        /// The only port allowed, when given.
        port: Option<u16>,
    },
    /// An address or CIDR range (`203.0.113.10`, `10.0.0.0/8:5432`,
    /// `[2001:db8::1]:443`); a single address is a /32 or /128.
    Net {
        /// The network.
        net: IpNet,
        /// The only port allowed, when given.
        port: Option<u16>,
    },
}

impl AllowEntry {
    /// The entry's port restriction.
    pub fn port(&self) -> Option<u16> {
        match self {
            AllowEntry::Host { port, .. }
            | AllowEntry::Suffix { port, .. }
            | AllowEntry::Net { port, .. } => *port,
        }
    }

    /// Whether the entry names `name` (a host or suffix entry; address
    /// entries name nothing). `name` must be lower-case without a trailing
    /// dot.
    pub fn matches_name(&self, name: &str) -> bool {
        match self {
            AllowEntry::Host { name: n, .. } => n == name,
            AllowEntry::Suffix { suffix, .. } => name
                .strip_suffix(suffix.as_str())
                .is_some_and(|head| head.len() > 1 && head.ends_with('.')),
            AllowEntry::Net { .. } => false,
        }
    }

    /// Whether a connection to `ip` (as given, not normalised) on `port`,
    /// whose address the DNS stub handed out for `names`, matches.
    pub fn matches(&self, ip: IpAddr, port: u16, names: &[String]) -> bool {
        if self.port().is_some_and(|p| p != port) {
            return false;
        }
        match self {
            AllowEntry::Net { net, .. } => net.contains(ip) || net.contains(normalise(ip)),
            _ => names.iter().any(|n| self.matches_name(n)),
        }
    }
}

impl fmt::Display for AllowEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let port = self.port();
        match self {
            AllowEntry::Host { name, .. } => write!(f, "{name}")?,
            AllowEntry::Suffix { suffix, .. } => write!(f, "*.{suffix}")?,
            AllowEntry::Net { net, .. } if net.addr.is_ipv6() && port.is_some() => {
                write!(f, "[{net}]")?
            }
            AllowEntry::Net { net, .. } => write!(f, "{net}")?,
        }
        if let Some(p) = port {
            write!(f, ":{p}")?;
        }
        Ok(())
    }
}

/// Parses one `network.allow` entry. `Err(why)` carries a short English
/// reason; the caller names the entry (`network.allow[3] ("foo::bar"): why`).
///
/// Accepted forms: `host`, `host:port`, `*.suffix`, `*.suffix:port`, an IPv4
/// address, `a.b.c.d:port`, an IPv6 address, `[v6]`, `[v6]:port`, a CIDR
/// `net/prefix` of either family, optionally followed by `:port`
/// (`10.0.0.0/8:5432`, `[2001:db8::/32]:443`).
pub fn parse_entry(s: &str) -> Result<AllowEntry, String> {
    if s.is_empty() {
        return Err("empty entry".into());
    }
    if s.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("contains whitespace or a control character".into());
    }
    if s.contains('%') {
        return Err("IPv6 zone ids (%) are not supported".into());
    }
    // Bracketed IPv6: `[v6]`, `[v6]:port`, `[v6/prefix]:port`.
    if let Some(rest) = s.strip_prefix('[') {
        let (inner, after) = rest
            .split_once(']')
            .ok_or("missing ] after a bracketed IPv6 address")?;
        let port = match after {
            "" => None,
            _ => Some(parse_port(
                after
                    .strip_prefix(':')
                    .ok_or("only :port may follow a bracketed IPv6 address")?,
            )?),
        };
        let addr = inner.split_once('/').map_or(inner, |(a, _)| a);
        if addr.parse::<Ipv4Addr>().is_ok() {
            return Err("brackets are for IPv6 addresses only".into());
        }
        let net = parse_net(inner)?;
        return Ok(AllowEntry::Net { net, port });
    }
    if s.contains(']') {
        return Err("] without [".into());
    }
    // CIDR: `net/prefix` or `net/prefix:port` (the address is before the
    // slash, so the port is unambiguous for IPv6 too).
    if let Some((addr, rest)) = s.split_once('/') {
        let (prefix, port) = match rest.split_once(':') {
            Some((p, port)) => (p, Some(parse_port(port)?)),
            None => (rest, None),
        };
        let net = parse_net(&format!("{addr}/{prefix}"))?;
        return Ok(AllowEntry::Net { net, port });
    }
    let colons = s.matches(':').count();
    if colons > 1 {
        // A bare IPv6 address; a port needs brackets.
        return match s.parse::<Ipv6Addr>() {
            Ok(a) => Ok(AllowEntry::Net {
                net: entry_net(IpAddr::V6(a), 128)?,
                port: None,
            }),
            Err(_) => {
                Err("not an IPv6 address (an IPv6 address with a port is written [v6]:port)".into())
            }
        };
    }
    let (host, port) = match s.split_once(':') {
        Some((h, p)) => {
            if h.is_empty() {
                return Err("a port needs a host name or address before it".into());
            }
            (h, Some(parse_port(p)?))
        }
        None => (s, None),
    };
    if let Ok(a) = host.parse::<Ipv4Addr>() {
        return Ok(AllowEntry::Net {
            net: IpNet::single(IpAddr::V4(a)),
            port,
        });
    }
    if host == "*" {
        return Err("a bare * is not an entry (use network mode \"unrestricted\")".into());
    }
    if let Some(suffix) = host.strip_prefix("*.") {
        if suffix.is_empty() || suffix == "." {
            return Err("*. needs a domain after it (*.example.com)".into());
        }
        if suffix.contains('*') {
            return Err("* is only allowed as the whole first label (*.example.com)".into());
        }
        let suffix = parse_name(suffix)?;
        return Ok(AllowEntry::Suffix { suffix, port });
    }
    if host.contains('*') {
        return Err("* is only allowed as the whole first label (*.example.com)".into());
    }
    let name = parse_name(host)?;
    Ok(AllowEntry::Host { name, port })
}

/// `addr` or `addr/prefix` of either family, as an entry network.
fn parse_net(s: &str) -> Result<IpNet, String> {
    let (addr, prefix) = match s.split_once('/') {
        Some((a, p)) => (a, Some(p)),
        None => (s, None),
    };
    let ip: IpAddr = addr
        .parse()
        .map_err(|_| format!("{addr:?} is not an IP address"))?;
    let prefix = match prefix {
        None => max_prefix(ip),
        Some(p) if !p.is_empty() && p.len() <= 3 && p.bytes().all(|b| b.is_ascii_digit()) => {
            let n: u16 = p.parse().map_err(|_| "bad prefix length".to_string())?;
            if n > u16::from(max_prefix(ip)) {
                return Err(format!("prefix longer than {}", max_prefix(ip)));
            }
            n as u8
        }
        Some(_) => return Err("the prefix length must be a number".into()),
    };
    entry_net(ip, prefix)
}

/// An entry network; an IPv4-mapped IPv6 range (`::ffff:a.b.c.d/p`, p ≥ 96)
/// is stored as the IPv4 range it is.
fn entry_net(ip: IpAddr, prefix: u8) -> Result<IpNet, String> {
    if let IpAddr::V6(a) = ip {
        if prefix >= 96 {
            if let Some(v4) = a.to_ipv4_mapped() {
                return IpNet::new(IpAddr::V4(v4), prefix - 96);
            }
        }
    }
    IpNet::new(ip, prefix)
}

fn parse_port(s: &str) -> Result<u16, String> {
    if s.is_empty() {
        return Err("empty port after :".into());
    }
    if !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("port {s:?} is not a number"));
    }
    match s.parse::<u32>() {
        Ok(0) => Err("port 0 is not a port".into()),
        Ok(n) if n <= 65535 => Ok(n as u16),
        _ => Err(format!("port {s} is out of range (1-65535)")),
    }
}

/// Validates a host name and returns it lower-case without a trailing dot.
fn parse_name(s: &str) -> Result<String, String> {
    if !s.is_ascii() {
        return Err("non-ASCII host name: write its punycode (xn--) form".into());
    }
    let s = s.strip_suffix('.').unwrap_or(s).to_ascii_lowercase();
    if s.is_empty() {
        return Err("empty host name".into());
    }
    if s.len() > 253 {
        return Err("host name longer than 253 characters".into());
    }
    let labels: Vec<&str> = s.split('.').collect();
    for l in &labels {
        if l.is_empty() {
            return Err("empty label in host name".into());
        }
        if l.len() > 63 {
            return Err(format!("label {l:?} is longer than 63 characters"));
        }
        if !l
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(format!(
                "label {l:?} has a character other than a-z, 0-9, - and _"
            ));
        }
        if l.starts_with('-') || l.ends_with('-') {
            return Err(format!("label {l:?} starts or ends with -"));
        }
    }
    if labels
        .last()
        .is_some_and(|l| l.as_bytes()[0].is_ascii_digit())
    {
        return Err(
            "not a valid IPv4 address, and a host name's last label cannot start with a digit"
                .into(),
        );
    }
    Ok(s)
}

/// The IPv4 address embedded in an IPv4-mapped (`::ffff:a.b.c.d`), NAT64
/// well-known-prefix (`64:ff9b::a.b.c.d`) or 6to4 (`2002:AABB:CCDD::/48`)
/// address; any other address unchanged.
pub fn normalise(ip: IpAddr) -> IpAddr {
    let IpAddr::V6(a) = ip else {
        return ip;
    };
    if let Some(v4) = a.to_ipv4_mapped() {
        return IpAddr::V4(v4);
    }
    let bits = u128::from(a);
    if bits >> 32 == 0x0064_ff9b_u128 << 64 {
        return IpAddr::V4(Ipv4Addr::from(bits as u32));
    }
    if bits >> 112 == 0x2002 {
        return IpAddr::V4(Ipv4Addr::from((bits >> 80) as u32));
    }
    ip
}

/// Reason class of the always-blocked address classes, checked on the
/// normalised address: link-local (169.254.0.0/16 with the cloud metadata
/// services, fe80::/10), unique-local IPv6 (fc00::/7, holding AWS's
/// fd00:ec2::254), the host's loopback (127.0.0.0/8, ::1), unspecified
/// (0.0.0.0/8, ::), multicast (224.0.0.0/4, ff00::/8), broadcast
/// (255.255.255.255) and reserved (240.0.0.0/4). `None` for any other.
pub fn always_blocked(ip: IpAddr) -> Option<&'static str> {
    match normalise(ip) {
        IpAddr::V4(a) => {
            let o = a.octets();
            match o[0] {
                169 if o[1] == 254 => Some("link-local/metadata"),
                127 => Some("loopback of the host"),
                0 => Some("unspecified"),
                224..=239 => Some("multicast"),
                255 if a == Ipv4Addr::BROADCAST => Some("broadcast"),
                240..=255 => Some("reserved"),
                _ => None,
            }
        }
        IpAddr::V6(a) => {
            let s = a.segments();
            if a.is_unspecified() {
                Some("unspecified")
            } else if a.is_loopback() {
                Some("loopback of the host")
            } else if s[0] & 0xffc0 == 0xfe80 {
                Some("link-local/metadata")
            } else if s[0] & 0xfe00 == 0xfc00 {
                Some("unique-local/metadata")
            } else if s[0] & 0xff00 == 0xff00 {
                Some("multicast")
            } else {
                None
            }
        }
    }
}

/// Whether the normalised `ip` is in a private range: RFC 1918 (10/8,
/// 172.16/12, 192.168/16) or shared address space (100.64.0.0/10, CGNAT).
/// Blocked only under `network.denyPrivate`.
pub fn is_private(ip: IpAddr) -> bool {
    match normalise(ip) {
        IpAddr::V4(a) => {
            let o = a.octets();
            o[0] == 10
                || (o[0] == 172 && o[1] & 0xf0 == 16)
                || (o[0] == 192 && o[1] == 168)
                || (o[0] == 100 && o[1] & 0xc0 == 64)
        }
        IpAddr::V6(_) => false,
    }
}

/// The network mode the rules enforce.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Every destination outside the blocked classes.
    Unrestricted,
    /// Only the allow entries.
    Allowlist,
    /// Nothing (the run's own loopback only, which never reaches the broker).
    Deny,
}

/// The verdict for one connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Connect.
    Allow,
    /// Refuse, with the reason the report shows
    /// (`169.254.169.254 is link-local/metadata (always blocked)`).
    Deny(String),
}

/// The egress rules of one run.
///
/// - `Unrestricted` with `deny_link_local_and_metadata`: everything except
///   [`always_blocked`] (and [`is_private`] when `deny_private`).
/// - `Unrestricted` without it and without `deny_private`: the host network
///   as is; [`Rules::check`] allows everything ([`Rules::host_network`]).
/// - `Allowlist`: only the entries (with their port when given); the blocked
///   classes win over any entry, even one naming a blocked address
///   literally. `deny_link_local_and_metadata: false` turns the
///   always-blocked classes off (the entries still decide).
/// - `Deny`: nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rules {
    mode: Mode,
    entries: Vec<AllowEntry>,
    deny_link_local_and_metadata: bool,
    deny_private: bool,
}

impl Rules {
    /// Parses `allow` (in every mode, so a bad entry is an error even when
    /// the mode ignores it). `Err((index, why))` names the first bad entry.
    pub fn new(
        mode: Mode,
        allow: &[String],
        deny_link_local_and_metadata: bool,
        deny_private: bool,
    ) -> Result<Rules, (usize, String)> {
        Ok(Rules {
            mode,
            entries: parse_entries(allow)?,
            deny_link_local_and_metadata,
            deny_private,
        })
    }

    /// The mode.
    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// The parsed allow entries.
    pub fn entries(&self) -> &[AllowEntry] {
        &self.entries
    }

    /// Whether the always-blocked classes are blocked.
    pub fn deny_link_local_and_metadata(&self) -> bool {
        self.deny_link_local_and_metadata
    }

    /// Whether private ranges are blocked too.
    pub fn deny_private(&self) -> bool {
        self.deny_private
    }

    /// True when the run gets the host's network untouched: `Unrestricted`
    /// with neither blocking switch (nothing to enforce, no broker).
    pub fn host_network(&self) -> bool {
        self.mode == Mode::Unrestricted && !self.deny_link_local_and_metadata && !self.deny_private
    }

    /// The verdict for connecting to `ip`:`port`. `names`: the host names
    /// (lower-case) the run's DNS stub answered with this address, so host
    /// and suffix entries match the connected address, never a name the
    /// script claims.
    pub fn check(&self, ip: IpAddr, port: u16, names: &[String]) -> Verdict {
        if self.mode == Mode::Deny {
            return Verdict::Deny("network mode is deny".into());
        }
        if self.host_network() {
            return Verdict::Allow;
        }
        let n = normalise(ip);
        let shown = if n == ip {
            ip.to_string()
        } else {
            format!("{ip} ({n})")
        };
        if self.deny_link_local_and_metadata {
            if let Some(class) = always_blocked(n) {
                return Verdict::Deny(format!("{shown} is {class} (always blocked)"));
            }
        }
        if self.deny_private && is_private(n) {
            return Verdict::Deny(format!(
                "{shown} is a private address (network.denyPrivate)"
            ));
        }
        match self.mode {
            Mode::Unrestricted => Verdict::Allow,
            _ if self.entries.iter().any(|e| e.matches(ip, port, names)) => Verdict::Allow,
            _ => {
                let via = if names.is_empty() {
                    String::new()
                } else {
                    format!(" (resolved from {})", names.join(", "))
                };
                Verdict::Deny(format!("{shown} port {port}{via} is not in network.allow"))
            }
        }
    }

    /// Whether the DNS stub may answer for `name`: every name when
    /// unrestricted, none under deny, and under allowlist only names
    /// matching a host or suffix entry. Case and a trailing dot are ignored.
    pub fn name_allowed(&self, name: &str) -> bool {
        match self.mode {
            Mode::Unrestricted => true,
            Mode::Deny => false,
            Mode::Allowlist => {
                let name = name.strip_suffix('.').unwrap_or(name).to_ascii_lowercase();
                self.entries.iter().any(|e| e.matches_name(&name))
            }
        }
    }
}

/// Parses every entry; `Err((index, why))` for the first bad one.
pub fn parse_entries(allow: &[String]) -> Result<Vec<AllowEntry>, (usize, String)> {
    allow
        .iter()
        .enumerate()
        .map(|(i, s)| parse_entry(s).map_err(|why| (i, why)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn net(s: &str, prefix: u8) -> IpNet {
        IpNet::new(ip(s), prefix).unwrap()
    }

    fn names(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    fn rules(mode: Mode, allow: &[&str], llm: bool, private: bool) -> Rules {
        Rules::new(mode, &names(allow), llm, private).unwrap()
    }

    fn denied(v: Verdict) -> String {
        match v {
            Verdict::Deny(r) => r,
            Verdict::Allow => panic!("allowed"),
        }
    }

    #[test]
    fn normalise_unwraps_embedded_ipv4() {
        for (from, to) in [
            ("::ffff:169.254.169.254", "169.254.169.254"),
            ("::ffff:a9fe:a9fe", "169.254.169.254"),
            ("64:ff9b::a9fe:a9fe", "169.254.169.254"),
            ("64:ff9b::127.0.0.1", "127.0.0.1"),
            ("2002:a9fe:a9fe::", "169.254.169.254"),
            ("2002:a9fe:a9fe:1:2:3:4:5", "169.254.169.254"),
            ("2002:0a01:000a::1", "10.1.0.10"),
            ("::ffff:10.1.0.10", "10.1.0.10"),
        ] {
            assert_eq!(normalise(ip(from)), ip(to), "{from}");
        }
        for same in [
            "203.0.113.10",
            "2001:db8::10",
            "::1",
            "::",
            "::7f00:1", // IPv4-compatible (deprecated): not unwrapped
            "64:ff9b:1::a9fe:a9fe",
            "2003:a9fe:a9fe::",
            "fd00:ec2::254",
        ] {
            assert_eq!(normalise(ip(same)), ip(same), "{same}");
        }
    }

    #[test]
    fn always_blocked_classes_incl_normalised_forms() {
        for (a, class) in [
            ("169.254.169.254", "link-local/metadata"),
            ("169.254.0.1", "link-local/metadata"),
            ("::ffff:169.254.169.254", "link-local/metadata"),
            ("64:ff9b::a9fe:a9fe", "link-local/metadata"),
            ("2002:a9fe:a9fe::", "link-local/metadata"),
            ("fe80::1", "link-local/metadata"),
            ("febf::1", "link-local/metadata"),
            ("fd00:ec2::254", "unique-local/metadata"),
            ("fc00::1", "unique-local/metadata"),
            ("127.0.0.1", "loopback of the host"),
            ("127.1.2.3", "loopback of the host"),
            ("::ffff:127.0.0.1", "loopback of the host"),
            ("64:ff9b::7f00:1", "loopback of the host"),
            ("2002:7f00:1::", "loopback of the host"),
            ("::1", "loopback of the host"),
            ("0.0.0.0", "unspecified"),
            ("0.1.2.3", "unspecified"),
            ("::", "unspecified"),
            ("::ffff:0.0.0.0", "unspecified"),
            ("224.0.0.1", "multicast"),
            ("239.255.255.250", "multicast"),
            ("ff02::1", "multicast"),
            ("ff0e::1", "multicast"),
            ("255.255.255.255", "broadcast"),
            ("::ffff:255.255.255.255", "broadcast"),
            ("240.0.0.1", "reserved"),
            ("255.255.255.254", "reserved"),
        ] {
            assert_eq!(always_blocked(ip(a)), Some(class), "{a}");
        }
        for a in [
            "203.0.113.10",
            "10.1.0.10",
            "172.16.0.1",
            "192.168.1.1",
            "100.64.0.1",
            "169.253.255.255",
            "169.255.0.0",
            "126.255.255.255",
            "128.0.0.1",
            "1.0.0.0",
            "223.255.255.255",
            "2001:db8::10",
            "2606:4700::1111",
            "fec0::1",
            "fe7f::1",
            "fe00::1",
            "::2",
            "64:ff9b::cb00:710a",
            "2002:cb00:710a::",
        ] {
            assert_eq!(always_blocked(ip(a)), None, "{a}");
        }
    }

    #[test]
    fn private_ranges() {
        for a in [
            "10.0.0.0",
            "10.255.255.255",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.0.1",
            "100.64.0.1",
            "100.127.255.255",
            "::ffff:10.1.0.10",
            "64:ff9b::a01:a",
            "2002:c0a8:101::",
        ] {
            assert!(is_private(ip(a)), "{a}");
        }
        for a in [
            "9.255.255.255",
            "11.0.0.0",
            "172.15.255.255",
            "172.32.0.0",
            "192.167.0.1",
            "192.169.0.1",
            "100.63.255.255",
            "100.128.0.0",
            "203.0.113.10",
            "fd00::1",
            "2001:db8::1",
        ] {
            assert!(!is_private(ip(a)), "{a}");
        }
    }

    #[test]
    fn ipnet_contains_and_masks() {
        let n = net("10.1.2.3", 8);
        assert_eq!(n.addr, ip("10.0.0.0"));
        assert!(n.contains(ip("10.255.0.1")));
        assert!(!n.contains(ip("11.0.0.1")));
        assert!(!n.contains(ip("::ffff:10.0.0.1")), "exact: no normalising");
        let all = net("0.0.0.0", 0);
        assert!(all.contains(ip("1.2.3.4")));
        assert!(!all.contains(ip("::1")));
        let v6 = net("2001:db8::", 32);
        assert!(v6.contains(ip("2001:db8:ffff::1")));
        assert!(!v6.contains(ip("2001:db9::1")));
        assert!(net("::", 0).contains(ip("::1")));
        assert!(net("2001:db8::10", 128).contains(ip("2001:db8::10")));
        assert!(!net("2001:db8::10", 128).contains(ip("2001:db8::11")));
        assert_eq!(
            IpNet::new(ip("10.0.0.0"), 33).unwrap_err(),
            "prefix longer than 32"
        );
        assert_eq!(
            IpNet::new(ip("::"), 129).unwrap_err(),
            "prefix longer than 128"
        );
        assert_eq!(net("10.0.0.0", 8).to_string(), "10.0.0.0/8");
        assert_eq!(IpNet::single(ip("::1")).to_string(), "::1");
    }

    #[test]
    fn entry_forms() {
        use AllowEntry::*;
        let host = |n: &str, port| Host {
            name: n.into(),
            port,
        };
        let suffix = |n: &str, port| Suffix {
            suffix: n.into(),
            port,
        };
        let netp = |a: &str, p: u8, port| Net {
            net: net(a, p),
            port,
        };
        for (s, want) in [
            ("example.com", host("example.com", None)),
            ("API.Example.COM.", host("api.example.com", None)),
            ("example.com:443", host("example.com", Some(443))),
            ("localhost", host("localhost", None)),
            (
                "my_host.internal:65535",
                host("my_host.internal", Some(65535)),
            ),
            ("xn--bcher-kva.example", host("xn--bcher-kva.example", None)),
            ("*.example.com", suffix("example.com", None)),
            ("*.Example.com.:8080", suffix("example.com", Some(8080))),
            ("*.com", suffix("com", None)),
            ("203.0.113.10", netp("203.0.113.10", 32, None)),
            ("203.0.113.10:80", netp("203.0.113.10", 32, Some(80))),
            ("10.0.0.0/8", netp("10.0.0.0", 8, None)),
            ("10.1.2.3/8", netp("10.0.0.0", 8, None)),
            ("10.0.0.0/8:5432", netp("10.0.0.0", 8, Some(5432))),
            ("0.0.0.0/0", netp("0.0.0.0", 0, None)),
            ("2001:db8::10", netp("2001:db8::10", 128, None)),
            ("[2001:db8::10]", netp("2001:db8::10", 128, None)),
            ("[2001:db8::10]:443", netp("2001:db8::10", 128, Some(443))),
            ("2001:db8::/32", netp("2001:db8::", 32, None)),
            ("[2001:db8::/32]:443", netp("2001:db8::", 32, Some(443))),
            ("2001:db8::/32:443", netp("2001:db8::", 32, Some(443))),
            ("::/0", netp("::", 0, None)),
            ("::ffff:10.1.0.10", netp("10.1.0.10", 32, None)),
            ("[::ffff:10.0.0.0/104]:22", netp("10.0.0.0", 8, Some(22))),
            ("169.254.169.254", netp("169.254.169.254", 32, None)),
        ] {
            assert_eq!(parse_entry(s), Ok(want), "{s}");
        }
    }

    #[test]
    fn entries_display_canonically() {
        for (s, shown) in [
            ("API.example.com.:443", "api.example.com:443"),
            ("*.Example.com", "*.example.com"),
            ("10.1.2.3/8:22", "10.0.0.0/8:22"),
            ("[2001:db8::1]:443", "[2001:db8::1]:443"),
            ("2001:db8::/32", "2001:db8::/32"),
            ("203.0.113.10", "203.0.113.10"),
        ] {
            assert_eq!(parse_entry(s).unwrap().to_string(), shown, "{s}");
        }
    }

    #[test]
    fn bad_entries_say_why() {
        for (s, why) in [
            ("", "empty entry"),
            (" example.com", "whitespace"),
            ("exa mple.com", "whitespace"),
            ("10.0.0.0/33", "prefix longer than 32"),
            ("2001:db8::/129", "prefix longer than 128"),
            ("10.0.0.0/", "prefix length must be a number"),
            ("10.0.0.0/x", "prefix length must be a number"),
            ("10.0.0.0/-1", "prefix length must be a number"),
            ("10.0.0.0/0008", "prefix length must be a number"),
            ("example.com/8", "not an IP address"),
            ("example.com:0", "port 0"),
            ("example.com:65536", "out of range"),
            ("example.com:99999999999", "out of range"),
            ("example.com:", "empty port"),
            ("example.com:http", "not a number"),
            ("example.com:+80", "not a number"),
            ("10.0.0.1:0", "port 0"),
            (":80", "needs a host name"),
            ("[::1]:0", "port 0"),
            ("[::1]:", "empty port"),
            ("[::1]80", "only :port may follow"),
            ("[::1", "missing ]"),
            ("::1]:80", "] without ["),
            ("[1.2.3.4]:80", "IPv6 addresses only"),
            ("[example.com]:80", "not an IP address"),
            ("2001:db8::1:443:", "not an IPv6 address"),
            ("foo::bar", "not an IPv6 address"),
            ("fe80::1%eth0", "zone ids"),
            ("*", "bare *"),
            ("*:443", "bare *"),
            ("*.", "needs a domain"),
            ("*..", "needs a domain"),
            ("*.*.example.com", "first label"),
            ("a.*.example.com", "first label"),
            ("*example.com", "first label"),
            ("a..b", "empty label"),
            (".example.com", "empty label"),
            ("example.com..", "empty label"),
            (".", "empty host name"),
            ("-a.example.com", "starts or ends with -"),
            ("a-.example.com", "starts or ends with -"),
            ("ex!ample.com", "character other than"),
            ("bücher.example", "punycode"),
            ("1.2.3.256", "not a valid IPv4 address"),
            ("10.0.0", "not a valid IPv4 address"),
            ("10.0.0:80", "not a valid IPv4 address"),
            // Numeric forms inet_aton would read as an address.
            ("123", "not a valid IPv4 address"),
            ("0x7f000001", "not a valid IPv4 address"),
            ("0x7f.1", "not a valid IPv4 address"),
            ("017700000001", "not a valid IPv4 address"),
            ("a.1b", "last label cannot start with a digit"),
        ] {
            match parse_entry(s) {
                Err(e) => assert!(e.contains(why), "{s:?}: {e:?} should mention {why:?}"),
                Ok(v) => panic!("{s:?} was accepted as {v:?}"),
            }
        }
        let long_label = format!("{}.com", "a".repeat(64));
        assert!(parse_entry(&long_label)
            .unwrap_err()
            .contains("longer than 63"));
        let long_name = ["a".repeat(63).as_str(); 5].join(".");
        assert!(parse_entry(&long_name).unwrap_err().contains("253"));
        let ok_name = format!(
            "{}.{}.{}.{}",
            "a".repeat(63),
            "b".repeat(63),
            "c".repeat(63),
            "d".repeat(61)
        );
        assert_eq!(ok_name.len(), 253);
        assert!(parse_entry(&ok_name).is_ok());
    }

    #[test]
    fn new_names_the_first_bad_entry() {
        let allow = names(&["example.com", "10.0.0.0/8", "10.0.0.0/33", "*"]);
        assert_eq!(
            Rules::new(Mode::Allowlist, &allow, true, false).unwrap_err(),
            (2, "prefix longer than 32".to_string())
        );
        // Validated in every mode.
        assert!(Rules::new(Mode::Unrestricted, &allow, true, false).is_err());
        assert!(Rules::new(Mode::Deny, &names(&["ok.example", ""]), true, false).is_err());
    }

    #[test]
    fn unrestricted_blocks_the_always_blocked_set_only() {
        let r = rules(Mode::Unrestricted, &[], true, false);
        assert!(!r.host_network());
        for a in [
            "203.0.113.10",
            "10.1.0.10",
            "2001:db8::10",
            "100.64.0.1",
            "::ffff:203.0.113.10",
        ] {
            assert_eq!(r.check(ip(a), 80, &[]), Verdict::Allow, "{a}");
        }
        assert_eq!(
            denied(r.check(ip("169.254.169.254"), 80, &[])),
            "169.254.169.254 is link-local/metadata (always blocked)"
        );
        assert_eq!(
            denied(r.check(ip("::ffff:169.254.169.254"), 80, &[])),
            "::ffff:169.254.169.254 (169.254.169.254) is link-local/metadata (always blocked)"
        );
        for a in [
            "fd00:ec2::254",
            "127.0.0.1",
            "::1",
            "0.0.0.0",
            "224.0.0.1",
            "255.255.255.255",
            "64:ff9b::a9fe:a9fe",
            "2002:a9fe:a9fe::",
        ] {
            assert!(
                denied(r.check(ip(a), 443, &[])).contains("always blocked"),
                "{a}"
            );
        }
        // A name never unblocks an address.
        assert!(matches!(
            r.check(ip("169.254.169.254"), 80, &names(&["public.test"])),
            Verdict::Deny(_)
        ));
    }

    #[test]
    fn deny_private_blocks_private_ranges_too() {
        let r = rules(Mode::Unrestricted, &[], true, true);
        for a in [
            "10.1.0.10",
            "172.16.5.4",
            "192.168.1.1",
            "100.64.0.1",
            "::ffff:10.1.0.10",
        ] {
            assert!(
                denied(r.check(ip(a), 80, &[])).contains("private address (network.denyPrivate)"),
                "{a}"
            );
        }
        assert_eq!(r.check(ip("203.0.113.10"), 80, &[]), Verdict::Allow);
        assert!(denied(r.check(ip("127.0.0.1"), 80, &[])).contains("always blocked"));
        // denyPrivate alone still needs enforcing, but not the always-blocked set.
        let r = rules(Mode::Unrestricted, &[], false, true);
        assert!(!r.host_network());
        assert!(matches!(
            r.check(ip("10.1.0.10"), 80, &[]),
            Verdict::Deny(_)
        ));
        assert_eq!(r.check(ip("127.0.0.1"), 80, &[]), Verdict::Allow);
        // In an allowlist it wins over an entry.
        let r = rules(Mode::Allowlist, &["10.0.0.0/8"], true, true);
        assert!(matches!(
            r.check(ip("10.1.0.10"), 80, &[]),
            Verdict::Deny(_)
        ));
    }

    #[test]
    fn unrestricted_without_protection_is_the_host_network() {
        let r = rules(Mode::Unrestricted, &[], false, false);
        assert!(r.host_network());
        for a in [
            "169.254.169.254",
            "127.0.0.1",
            "::1",
            "10.1.0.10",
            "203.0.113.10",
        ] {
            assert_eq!(r.check(ip(a), 80, &[]), Verdict::Allow, "{a}");
        }
        assert!(r.name_allowed("anything.example"));
    }

    #[test]
    fn allowlist_entries_and_ports() {
        let r = rules(
            Mode::Allowlist,
            &[
                "public.test",
                "*.allowed.test:443",
                "10.1.0.0/24:8080",
                "[2001:db8::10]:80",
                "198.51.100.7",
                "169.254.169.254",
                "meta.test",
                "::1",
            ],
            true,
            false,
        );
        assert!(!r.host_network());
        let public = names(&["public.test"]);
        assert_eq!(r.check(ip("203.0.113.10"), 80, &public), Verdict::Allow);
        assert_eq!(r.check(ip("203.0.113.10"), 1234, &public), Verdict::Allow);
        assert_eq!(
            denied(r.check(ip("203.0.113.10"), 80, &[])),
            "203.0.113.10 port 80 is not in network.allow"
        );
        assert_eq!(
            denied(r.check(ip("203.0.113.10"), 80, &names(&["other.test"]))),
            "203.0.113.10 port 80 (resolved from other.test) is not in network.allow"
        );
        // Suffix: any depth below, port enforced, not the apex.
        let a = names(&["a.allowed.test"]);
        assert_eq!(r.check(ip("203.0.113.10"), 443, &a), Verdict::Allow);
        assert_eq!(
            r.check(ip("203.0.113.10"), 443, &names(&["x.y.allowed.test"])),
            Verdict::Allow
        );
        assert!(matches!(
            r.check(ip("203.0.113.10"), 80, &a),
            Verdict::Deny(_)
        ));
        assert!(matches!(
            r.check(ip("203.0.113.10"), 443, &names(&["allowed.test"])),
            Verdict::Deny(_)
        ));
        assert!(matches!(
            r.check(ip("203.0.113.10"), 443, &names(&["notallowed.test"])),
            Verdict::Deny(_)
        ));
        // CIDR with port.
        assert_eq!(r.check(ip("10.1.0.10"), 8080, &[]), Verdict::Allow);
        assert_eq!(r.check(ip("::ffff:10.1.0.10"), 8080, &[]), Verdict::Allow);
        assert!(matches!(
            r.check(ip("10.1.0.10"), 80, &[]),
            Verdict::Deny(_)
        ));
        assert!(matches!(
            r.check(ip("10.1.1.10"), 8080, &[]),
            Verdict::Deny(_)
        ));
        // IPv6 with port.
        assert_eq!(r.check(ip("2001:db8::10"), 80, &[]), Verdict::Allow);
        assert!(matches!(
            r.check(ip("2001:db8::10"), 81, &[]),
            Verdict::Deny(_)
        ));
        assert!(matches!(
            r.check(ip("2001:db8::11"), 80, &[]),
            Verdict::Deny(_)
        ));
        // Single address, any port.
        assert_eq!(r.check(ip("198.51.100.7"), 1, &[]), Verdict::Allow);
        // The always-blocked set wins over every entry, literal or by name.
        for (a, n) in [
            ("169.254.169.254", vec![]),
            ("169.254.169.254", names(&["meta.test"])),
            ("169.254.169.254", names(&["public.test"])),
            ("::1", vec![]),
        ] {
            assert!(
                denied(r.check(ip(a), 80, &n)).contains("always blocked"),
                "{a}"
            );
        }
        // Names the script claims do not matter: only the stub's names.
        assert!(matches!(
            r.check(ip("192.0.2.1"), 80, &[]),
            Verdict::Deny(_)
        ));
    }

    #[test]
    fn allowlist_without_link_local_protection_lets_entries_decide() {
        let r = rules(Mode::Allowlist, &["169.254.169.254:80"], false, false);
        assert!(!r.host_network());
        assert_eq!(r.check(ip("169.254.169.254"), 80, &[]), Verdict::Allow);
        assert!(matches!(
            r.check(ip("169.254.169.254"), 81, &[]),
            Verdict::Deny(_)
        ));
        assert!(matches!(
            r.check(ip("127.0.0.1"), 80, &[]),
            Verdict::Deny(_)
        ));
    }

    #[test]
    fn nat64_and_6to4_entries_match_only_their_own_form() {
        let r = rules(Mode::Allowlist, &["64:ff9b::/96"], true, false);
        assert_eq!(r.check(ip("64:ff9b::cb00:710a"), 443, &[]), Verdict::Allow);
        assert!(matches!(
            r.check(ip("203.0.113.10"), 443, &[]),
            Verdict::Deny(_)
        ));
        assert!(denied(r.check(ip("64:ff9b::a9fe:a9fe"), 443, &[])).contains("always blocked"));
        // An IPv4 entry matches the destination's embedded forms.
        let r = rules(Mode::Allowlist, &["203.0.113.10"], true, false);
        for a in [
            "203.0.113.10",
            "::ffff:203.0.113.10",
            "64:ff9b::cb00:710a",
            "2002:cb00:710a::1",
        ] {
            assert_eq!(r.check(ip(a), 443, &[]), Verdict::Allow, "{a}");
        }
    }

    #[test]
    fn deny_refuses_everything() {
        let r = rules(Mode::Deny, &["203.0.113.10"], true, false);
        assert_eq!(
            denied(r.check(ip("203.0.113.10"), 80, &[])),
            "network mode is deny"
        );
        assert!(!r.name_allowed("public.test"));
        assert!(!r.host_network());
    }

    #[test]
    fn names_the_stub_may_answer() {
        let r = rules(
            Mode::Allowlist,
            &["public.test:80", "*.allowed.test", "10.0.0.0/8"],
            true,
            false,
        );
        assert!(r.name_allowed("public.test"));
        assert!(r.name_allowed("PUBLIC.test."));
        assert!(r.name_allowed("a.allowed.test"));
        assert!(r.name_allowed("b.c.allowed.test"));
        assert!(!r.name_allowed("allowed.test"));
        assert!(!r.name_allowed("private.test"));
        assert!(!r.name_allowed("xpublic.test"));
        assert!(!r.name_allowed("10.1.0.10"));
        assert!(!r.name_allowed(""));
        assert!(rules(Mode::Unrestricted, &[], true, false).name_allowed("meta.test"));
    }
}
