//! The host's network broker: one thread, one epoll set over every
//! brokered run's seccomp listener, DNS stub sockets and pending connects
//! (docs/network.md).
//!
//! A run's `connect`, `bind` and `listen` stop in the kernel and arrive
//! here. The broker copies the socket address once from the script's
//! memory, takes a duplicate of the script's socket (`pidfd_getfd`) and
//! never lets the kernel re-read the script's arguments for an Internet
//! socket: it performs the call itself, on the duplicate (the run's own
//! namespace: its loopback, its DNS stub) or, for a destination the rules
//! allow, on a new socket in the host's namespace that it installs over the
//! script's descriptor (`SECCOMP_IOCTL_NOTIF_ADDFD`). Refused destinations
//! get `EACCES`. If the broker or a listener goes away, the kernel answers
//! every pending and future trapped call with `ENOSYS`: closed, not open.

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::{Arc, Mutex, OnceLock};

use scriptcage_helper::launch::{NET_TAG_DNS, NET_TAG_LISTENER};
use serde_json::{json, Value};

use super::dns;
use super::rules::{self, Rules, Verdict};

/// Connections kept per run in the report; later ones are counted.
pub const MAX_LOGGED: usize = 64;
/// Names remembered per run for host and suffix entries.
const MAX_NAMES: usize = 1024;
/// TTL of the stub's answers: short, so a script's resolver asks again and
/// the stub records what the connected address was answered for.
const DNS_TTL: u32 = 5;

/// One logged connection.
#[derive(Debug, Clone)]
struct Conn {
    destination: String,
    name: Option<String>,
    allowed: bool,
    reason: Option<String>,
}

#[derive(Default)]
struct Log {
    conns: Vec<Conn>,
    dropped: usize,
    /// Address → names the stub answered with it.
    names: HashMap<IpAddr, Vec<String>>,
    /// Whether a host-namespace socket was ever installed in the run.
    host_sockets: bool,
}

/// The broker's view of one run, shared with the run's supervisor.
pub struct RunNet {
    rules: Arc<Rules>,
    log: Mutex<Log>,
    /// Inode of the run's network namespace.
    netns: u64,
    /// The run's DNS stub addresses (its own namespace).
    dns: Vec<Ipv4Addr>,
    id: u64,
}

impl RunNet {
    /// The report's `network` summary: connections (bounded) and how many
    /// were left out.
    pub fn summary(&self) -> Value {
        let log = self.log.lock().unwrap_or_else(|e| e.into_inner());
        let conns: Vec<Value> = log
            .conns
            .iter()
            .map(|c| {
                let mut v = json!({
                    "destination": c.destination,
                    "verdict": if c.allowed { "allowed" } else { "refused" },
                });
                if let Some(n) = &c.name {
                    v["name"] = json!(n);
                }
                if let Some(r) = &c.reason {
                    v["reason"] = json!(r);
                }
                v
            })
            .collect();
        json!({ "connections": conns, "dropped": log.dropped })
    }

    fn record(&self, destination: String, name: Option<String>, verdict: &Verdict) {
        let mut log = self.log.lock().unwrap_or_else(|e| e.into_inner());
        if log.conns.len() >= MAX_LOGGED {
            log.dropped += 1;
            return;
        }
        let (allowed, reason) = match verdict {
            Verdict::Allow => (true, None),
            Verdict::Deny(r) => (false, Some(r.clone())),
        };
        log.conns.push(Conn {
            destination,
            name,
            allowed,
            reason,
        });
    }

    fn names_for(&self, ip: IpAddr) -> Vec<String> {
        let log = self.log.lock().unwrap_or_else(|e| e.into_inner());
        log.names.get(&ip).cloned().unwrap_or_default()
    }

    fn remember(&self, name: &str, addrs: &[IpAddr]) {
        let mut log = self.log.lock().unwrap_or_else(|e| e.into_inner());
        for a in addrs {
            if log.names.len() >= MAX_NAMES && !log.names.contains_key(a) {
                break;
            }
            let v = log.names.entry(*a).or_default();
            if !v.iter().any(|n| n == name) && v.len() < 16 {
                v.push(name.to_owned());
            }
        }
    }
}

/// Adds a run's connection `summary` (when brokered) to its report JSON
/// as `network`.
pub fn with_summary(sandbox_json: String, summary: Option<&Value>) -> String {
    let Some(summary) = summary else {
        return sandbox_json;
    };
    match serde_json::from_str::<Value>(&sandbox_json) {
        Ok(mut v) => {
            v["network"] = summary.clone();
            v.to_string()
        }
        Err(_) => sandbox_json,
    }
}

/// A run attached to the broker; dropping it detaches the run (its
/// listener, DNS sockets and pending connects are closed).
pub struct Attached(pub Arc<RunNet>);

impl std::fmt::Debug for Attached {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Attached(run {})", self.0.id)
    }
}

impl Drop for Attached {
    fn drop(&mut self) {
        broker().command(Cmd::Detach(self.0.id));
    }
}

enum Cmd {
    Attach { ctl: OwnedFd, run: Arc<RunNet> },
    Detach(u64),
}

struct Broker {
    epfd: OwnedFd,
    wake: OwnedFd,
    cmds: Mutex<Vec<Cmd>>,
}

impl Broker {
    fn command(&self, c: Cmd) {
        self.cmds.lock().unwrap_or_else(|e| e.into_inner()).push(c);
        let one = 1u64;
        // SAFETY: an 8-byte write to our eventfd.
        unsafe { libc::write(self.wake.as_raw_fd(), (&one as *const u64).cast(), 8) };
    }
}

fn broker() -> &'static Broker {
    static B: OnceLock<&'static Broker> = OnceLock::new();
    B.get_or_init(|| {
        // SAFETY: fresh descriptors, owned at once.
        let (epfd, wake) = unsafe {
            let e = libc::epoll_create1(libc::EPOLL_CLOEXEC);
            let w = libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK);
            assert!(e >= 0 && w >= 0, "epoll/eventfd for the network broker");
            (OwnedFd::from_raw_fd(e), OwnedFd::from_raw_fd(w))
        };
        let b: &'static Broker = Box::leak(Box::new(Broker {
            epfd,
            wake,
            cmds: Mutex::new(Vec::new()),
        }));
        epoll_add(
            b.epfd.as_raw_fd(),
            b.wake.as_raw_fd(),
            WAKE,
            libc::EPOLLIN as u32,
        );
        std::thread::Builder::new()
            .name("scriptcage-net".into())
            .spawn(move || Loop::new(b).run())
            .expect("start the network broker thread");
        b
    })
}

/// Hands the host end of a run's broker channel to the broker. `init_pid`
/// is the run's init (its network namespace is the run's).
pub fn attach(ctl: OwnedFd, init_pid: libc::pid_t, rules: Arc<Rules>) -> io::Result<Attached> {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    let netns = ns_inode(&format!("/proc/{init_pid}/ns/net"))?;
    let run = Arc::new(RunNet {
        rules,
        log: Mutex::new(Log::default()),
        netns,
        dns: host_nameservers(),
        id: NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
    });
    broker().command(Cmd::Attach {
        ctl,
        run: run.clone(),
    });
    Ok(Attached(run))
}

fn ns_inode(path: &str) -> io::Result<u64> {
    use std::os::unix::fs::MetadataExt;
    Ok(std::fs::metadata(path)?.ino())
}

/// The IPv4 name servers of the host's `/etc/resolv.conf` (at most
/// [`scriptcage_helper::contain::MAX_DNS`]); IPv6 servers are not served
/// by the stub (docs/network.md).
pub fn host_nameservers() -> Vec<Ipv4Addr> {
    let text = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
    let mut v: Vec<Ipv4Addr> = text
        .lines()
        .filter_map(|l| {
            let mut w = l.split_whitespace();
            (w.next() == Some("nameserver"))
                .then(|| w.next())
                .flatten()
                .and_then(|a| a.parse().ok())
        })
        .collect();
    v.dedup();
    v.truncate(scriptcage_helper::contain::MAX_DNS);
    if v.is_empty() {
        // glibc's default when resolv.conf names none.
        v.push(Ipv4Addr::LOCALHOST);
    }
    v
}

const WAKE: u64 = 0;

fn epoll_add(epfd: RawFd, fd: RawFd, token: u64, events: u32) {
    let mut ev = libc::epoll_event { events, u64: token };
    // SAFETY: registering a descriptor we own.
    unsafe { libc::epoll_ctl(epfd, libc::EPOLL_CTL_ADD, fd, &mut ev) };
}

fn epoll_del(epfd: RawFd, fd: RawFd) {
    // SAFETY: deregistering; errors (already closed) are harmless.
    unsafe { libc::epoll_ctl(epfd, libc::EPOLL_CTL_DEL, fd, std::ptr::null_mut()) };
}

enum Source {
    Ctl(u64),
    Listener(u64),
    Dns(u64, usize),
    Pending,
}

struct Run {
    net: Arc<RunNet>,
    ctl: Option<OwnedFd>,
    listener: Option<OwnedFd>,
    dns: Vec<Arc<OwnedFd>>,
    tokens: Vec<u64>,
}

/// A connect waiting for its host-side completion (blocking target
/// sockets: the script's call returns only when it completes).
struct Pending {
    run: u64,
    notif: u64,
    sock: OwnedFd,
    target_fd: i32,
    cloexec: bool,
    /// Put the target's blocking mode back on the file (local sockets, whose
    /// file is the script's own) or install `sock` (brokered).
    local: bool,
}

struct Loop {
    b: &'static Broker,
    runs: HashMap<u64, Run>,
    sources: HashMap<u64, Source>,
    pendings: HashMap<u64, Pending>,
    next_token: u64,
    resolver: Resolver,
}

impl Loop {
    fn new(b: &'static Broker) -> Self {
        Loop {
            b,
            runs: HashMap::new(),
            sources: HashMap::new(),
            pendings: HashMap::new(),
            next_token: 1,
            resolver: Resolver::new(),
        }
    }

    fn token(&mut self, s: Source) -> u64 {
        let t = self.next_token;
        self.next_token += 1;
        self.sources.insert(t, s);
        t
    }

    fn run(mut self) {
        let mut events = vec![libc::epoll_event { events: 0, u64: 0 }; 64];
        loop {
            // SAFETY: epoll_wait into our buffer.
            let n = unsafe {
                libc::epoll_wait(
                    self.b.epfd.as_raw_fd(),
                    events.as_mut_ptr(),
                    events.len() as i32,
                    -1,
                )
            };
            if n < 0 {
                continue;
            }
            for ev in events.iter().take(n as usize) {
                let (token, bits) = (ev.u64, ev.events);
                if token == WAKE {
                    self.commands();
                    continue;
                }
                self.event(token, bits);
            }
        }
    }

    fn commands(&mut self) {
        let mut b = 0u64;
        // SAFETY: draining the eventfd.
        unsafe { libc::read(self.b.wake.as_raw_fd(), (&mut b as *mut u64).cast(), 8) };
        let cmds = std::mem::take(&mut *self.b.cmds.lock().unwrap_or_else(|e| e.into_inner()));
        for c in cmds {
            match c {
                Cmd::Attach { ctl, run } => {
                    let id = run.id;
                    let t = self.token(Source::Ctl(id));
                    epoll_add(
                        self.b.epfd.as_raw_fd(),
                        ctl.as_raw_fd(),
                        t,
                        libc::EPOLLIN as u32,
                    );
                    self.runs.insert(
                        id,
                        Run {
                            net: run,
                            ctl: Some(ctl),
                            listener: None,
                            dns: Vec::new(),
                            tokens: vec![t],
                        },
                    );
                }
                Cmd::Detach(id) => self.drop_run(id),
            }
        }
    }

    fn drop_run(&mut self, id: u64) {
        if let Some(run) = self.runs.remove(&id) {
            for t in run.tokens {
                self.sources.remove(&t);
            }
            let ep = self.b.epfd.as_raw_fd();
            if let Some(c) = &run.ctl {
                epoll_del(ep, c.as_raw_fd());
            }
            if let Some(l) = &run.listener {
                epoll_del(ep, l.as_raw_fd());
            }
            for d in &run.dns {
                epoll_del(ep, d.as_raw_fd());
            }
        }
        let gone: Vec<u64> = self
            .pendings
            .iter()
            .filter(|(_, p)| p.run == id)
            .map(|(t, _)| *t)
            .collect();
        for t in gone {
            if let Some(p) = self.pendings.remove(&t) {
                epoll_del(self.b.epfd.as_raw_fd(), p.sock.as_raw_fd());
            }
            self.sources.remove(&t);
        }
    }

    fn event(&mut self, token: u64, bits: u32) {
        match self.sources.get(&token) {
            Some(Source::Ctl(id)) => {
                let id = *id;
                self.ctl_message(id, token);
            }
            Some(Source::Listener(id)) => {
                let id = *id;
                if bits & libc::EPOLLIN as u32 != 0 {
                    self.notification(id);
                } else if bits & (libc::EPOLLHUP | libc::EPOLLERR) as u32 != 0 {
                    // Every process of the run has exited.
                    self.drop_run(id);
                }
            }
            Some(Source::Dns(id, i)) => {
                let (id, i) = (*id, *i);
                self.dns_query(id, i);
            }
            Some(Source::Pending) => self.pending_done(token),
            None => {}
        }
    }

    fn ctl_message(&mut self, id: u64, token: u64) {
        let Some(run) = self.runs.get_mut(&id) else {
            return;
        };
        let Some(ctl) = run.ctl.as_ref() else {
            return;
        };
        let mut tag = [0u8; 1];
        let mut fds = [-1i32; 8];
        let (n, nfds) = recv_fds(ctl.as_raw_fd(), &mut tag, &mut fds);
        if n <= 0 {
            if n == 0 || io::Error::last_os_error().kind() != io::ErrorKind::WouldBlock {
                epoll_del(self.b.epfd.as_raw_fd(), ctl.as_raw_fd());
                run.ctl = None;
                self.sources.remove(&token);
                if run.listener.is_none() {
                    // The run ended (or failed) before its runtime started.
                    self.drop_run(id);
                }
            }
            return;
        }
        // SAFETY: the kernel just gave us these descriptors.
        let owned: Vec<OwnedFd> = fds[..nfds]
            .iter()
            .map(|&f| unsafe { OwnedFd::from_raw_fd(f) })
            .collect();
        let ep = self.b.epfd.as_raw_fd();
        match tag[0] {
            NET_TAG_LISTENER if run.listener.is_none() && owned.len() == 1 => {
                let l = owned.into_iter().next().unwrap();
                let t = self.next_token;
                self.next_token += 1;
                self.sources.insert(t, Source::Listener(id));
                let run = self.runs.get_mut(&id).unwrap();
                epoll_add(ep, l.as_raw_fd(), t, libc::EPOLLIN as u32);
                run.listener = Some(l);
                run.tokens.push(t);
            }
            NET_TAG_DNS if run.dns.is_empty() => {
                for (i, s) in owned.into_iter().enumerate() {
                    let t = self.next_token;
                    self.next_token += 1;
                    self.sources.insert(t, Source::Dns(id, i));
                    let run = self.runs.get_mut(&id).unwrap();
                    epoll_add(ep, s.as_raw_fd(), t, libc::EPOLLIN as u32);
                    run.dns.push(Arc::new(s));
                    run.tokens.push(t);
                }
            }
            _ => {} // dropped: closes them
        }
    }

    fn dns_query(&mut self, id: u64, i: usize) {
        let Some(run) = self.runs.get(&id) else {
            return;
        };
        let Some(sock) = run.dns.get(i).cloned() else {
            return;
        };
        let net = run.net.clone();
        for _ in 0..16 {
            let mut buf = [0u8; 1500];
            let mut peer: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
            let mut plen = std::mem::size_of::<libc::sockaddr_storage>() as u32;
            // SAFETY: recvfrom into local buffers.
            let n = unsafe {
                libc::recvfrom(
                    sock.as_raw_fd(),
                    buf.as_mut_ptr().cast(),
                    buf.len(),
                    libc::MSG_DONTWAIT,
                    (&mut peer as *mut libc::sockaddr_storage).cast(),
                    &mut plen,
                )
            };
            if n <= 0 {
                return;
            }
            let packet = buf[..n as usize].to_vec();
            let Ok(q) = dns::parse_query(&packet) else {
                continue;
            };
            if !net.rules.name_allowed(&q.name) {
                let resp = dns::error_response(&packet, &q, dns::RCODE_NXDOMAIN);
                send_to(&sock, &resp, &peer, plen);
                continue;
            }
            self.resolver.submit(Query {
                sock: sock.clone(),
                peer,
                plen,
                packet,
                q,
                net: net.clone(),
            });
        }
    }

    fn notification(&mut self, id: u64) {
        let Some(run) = self.runs.get(&id) else {
            return;
        };
        let Some(l) = run.listener.as_ref() else {
            return;
        };
        let lfd = l.as_raw_fd();
        let net = run.net.clone();
        // SAFETY: the kernel requires a zeroed buffer.
        let mut n: libc::seccomp_notif = unsafe { std::mem::zeroed() };
        // SAFETY: NOTIF_RECV into our struct.
        if unsafe { libc::ioctl(lfd, libc::SECCOMP_IOCTL_NOTIF_RECV, &mut n) } < 0 {
            return; // ENOENT: the target went away meanwhile
        }
        let reply = self.decide(lfd, &net, &n);
        if debug() {
            eprintln!(
                "scriptcage-net: pid {} nr {} fd {} -> {}",
                n.pid,
                n.data.nr,
                n.data.args[0] as i32,
                match &reply {
                    Reply::Value(v) => v.to_string(),
                    Reply::Continue => "continue".into(),
                    Reply::Later(_) => "later".into(),
                }
            );
        }
        match reply {
            Reply::Value(v) => respond(lfd, n.id, v, 0),
            Reply::Continue => respond(lfd, n.id, 0, libc::SECCOMP_USER_NOTIF_FLAG_CONTINUE as u32),
            Reply::Later(p) => {
                let t = self.token(Source::Pending);
                epoll_add(
                    self.b.epfd.as_raw_fd(),
                    p.sock.as_raw_fd(),
                    t,
                    (libc::EPOLLOUT | libc::EPOLLONESHOT) as u32,
                );
                self.pendings.insert(t, Pending { run: id, ..p });
            }
        }
    }

    fn pending_done(&mut self, token: u64) {
        self.sources.remove(&token);
        let Some(p) = self.pendings.remove(&token) else {
            return;
        };
        epoll_del(self.b.epfd.as_raw_fd(), p.sock.as_raw_fd());
        let Some(run) = self.runs.get(&p.run) else {
            return;
        };
        let Some(l) = run.listener.as_ref() else {
            return;
        };
        let lfd = l.as_raw_fd();
        let err = so_error(p.sock.as_raw_fd());
        set_nonblock(p.sock.as_raw_fd(), false);
        if debug() {
            eprintln!(
                "scriptcage-net: pending connect done: error {err}, local {}",
                p.local
            );
        }
        if err != 0 || p.local {
            respond(lfd, p.notif, if err != 0 { -(err as i64) } else { 0 }, 0);
            return;
        }
        let v = install(lfd, p.notif, &p.sock, p.target_fd, p.cloexec);
        respond(lfd, p.notif, v, 0);
    }

    /// The answer to one notification.
    fn decide(&self, lfd: RawFd, net: &RunNet, n: &libc::seccomp_notif) -> Reply {
        let nr = n.data.nr as i64;
        let fd = n.data.args[0] as i32;
        let pid = n.pid as libc::pid_t;
        // The socket's address, copied once.
        let mut addr = [0u8; 128];
        let mut alen = 0usize;
        if nr == libc::SYS_connect || nr == libc::SYS_bind {
            alen = (n.data.args[2] as usize).min(addr.len());
            if alen > 0 && read_target(pid, n.data.args[1], &mut addr[..alen]).is_err() {
                return Reply::Value(-(libc::EFAULT as i64));
            }
        }
        if !id_valid(lfd, n.id) {
            return Reply::Value(-(libc::EINTR as i64));
        }
        let Some(pidfd) = open_pidfd(pid) else {
            return Reply::Value(-(libc::EINTR as i64));
        };
        if !id_valid(lfd, n.id) {
            return Reply::Value(-(libc::EINTR as i64));
        }
        // SAFETY: as above.
        let dup = unsafe { libc::syscall(libc::SYS_pidfd_getfd, pidfd.as_raw_fd(), fd, 0) } as i32;
        if dup < 0 {
            let e = io::Error::last_os_error()
                .raw_os_error()
                .unwrap_or(libc::EBADF);
            return Reply::Value(-(e as i64));
        }
        // SAFETY: a fresh duplicate of the script's socket.
        let s = unsafe { OwnedFd::from_raw_fd(dup) };
        let Some(domain) = sockopt(s.as_raw_fd(), libc::SOL_SOCKET, libc::SO_DOMAIN) else {
            return Reply::Value(-(libc::ENOTSOCK as i64));
        };
        let stype = sockopt(s.as_raw_fd(), libc::SOL_SOCKET, libc::SO_TYPE).unwrap_or(0);
        let local = socket_netns(s.as_raw_fd()) == Some(net.netns);
        let inet = domain == libc::AF_INET || domain == libc::AF_INET6;
        let host_sockets = net.log.lock().map(|l| l.host_sockets).unwrap_or(true);
        if !inet {
            // Unix and other families live in the run's namespace. The
            // kernel re-reads the arguments after CONTINUE: safe while the
            // run holds no host socket another thread could swap in.
            if !host_sockets {
                return Reply::Continue;
            }
            return Reply::Value(-(libc::EACCES as i64));
        }
        if nr == libc::SYS_listen {
            if !local {
                return Reply::Value(-(libc::EACCES as i64));
            }
            // SAFETY: listen on our duplicate (the same socket).
            let r = unsafe { libc::listen(s.as_raw_fd(), n.data.args[1] as i32) };
            return Reply::Value(result(r));
        }
        if nr == libc::SYS_bind {
            if !local {
                return Reply::Value(-(libc::EACCES as i64));
            }
            // SAFETY: bind on our duplicate with the copied address.
            let r = unsafe { libc::bind(s.as_raw_fd(), addr.as_ptr().cast(), alen as u32) };
            return Reply::Value(result(r));
        }
        // connect
        if alen < 2 {
            return Reply::Value(-(libc::EINVAL as i64));
        }
        let family = u16::from_ne_bytes([addr[0], addr[1]]) as i32;
        if family == libc::AF_UNSPEC {
            if !local {
                return Reply::Value(-(libc::EACCES as i64));
            }
            // SAFETY: connect on our duplicate (a disconnect).
            let r = unsafe { libc::connect(s.as_raw_fd(), addr.as_ptr().cast(), alen as u32) };
            return Reply::Value(result(r));
        }
        let Some(dest) = parse_sockaddr(&addr[..alen]) else {
            return Reply::Value(-(libc::EAFNOSUPPORT as i64));
        };
        if (family == libc::AF_INET6) != (domain == libc::AF_INET6) && domain == libc::AF_INET {
            return Reply::Value(-(libc::EAFNOSUPPORT as i64));
        }
        let ip = rules::normalise(dest.ip());
        let inside = ip.is_loopback() || matches!(ip, IpAddr::V4(v4) if net.dns.contains(&v4));
        let stream = stype == libc::SOCK_STREAM;
        if local && inside {
            // The run's own namespace: its loopback or its DNS stub.
            return local_connect(n.id, s, &addr[..alen], stream);
        }
        let names = net.names_for(ip);
        let name = names.first().cloned();
        let shown = show(dest);
        if !stream {
            let v = Verdict::Deny(format!(
                "{shown}: only TCP leaves the run (UDP reaches the DNS stub only)"
            ));
            net.record(shown, name, &v);
            return Reply::Value(-(libc::EACCES as i64));
        }
        let verdict = net.rules.check(ip, dest.port(), &names);
        if !local {
            // A brokered socket connected again: never re-pointed.
            let v = match verdict {
                Verdict::Allow => {
                    Verdict::Deny("a brokered socket cannot be connected again".into())
                }
                d => d,
            };
            net.record(shown, name, &v);
            return Reply::Value(-(libc::EACCES as i64));
        }
        net.record(shown, name, &verdict);
        if verdict != Verdict::Allow {
            return Reply::Value(-(libc::EACCES as i64));
        }
        brokered_connect(lfd, n, &s, domain, &addr[..alen], pid, fd, net)
    }
}

/// `SCRIPTCAGE_NET_DEBUG=1`: every decision on stderr.
fn debug() -> bool {
    static D: OnceLock<bool> = OnceLock::new();
    *D.get_or_init(|| std::env::var_os("SCRIPTCAGE_NET_DEBUG").is_some_and(|v| v == "1"))
}

enum Reply {
    Value(i64),
    Continue,
    Later(Pending),
}

fn result(r: i32) -> i64 {
    if r < 0 {
        -(io::Error::last_os_error()
            .raw_os_error()
            .unwrap_or(libc::EIO) as i64)
    } else {
        0
    }
}

fn show(a: SocketAddr) -> String {
    a.to_string()
}

/// A connect inside the run's namespace, performed on the duplicate with
/// the copied address. A blocking socket is connected without blocking
/// the broker: the file is non-blocking until the connect completes.
fn local_connect(notif: u64, s: OwnedFd, addr: &[u8], stream: bool) -> Reply {
    let fd = s.as_raw_fd();
    let was_nonblock = get_nonblock(fd);
    if !was_nonblock && stream {
        set_nonblock(fd, true);
    }
    // SAFETY: connect on our duplicate with the copied address.
    let r = unsafe { libc::connect(fd, addr.as_ptr().cast(), addr.len() as u32) };
    let e = result(r);
    if was_nonblock || !stream || e != -(libc::EINPROGRESS as i64) {
        if !was_nonblock && stream {
            set_nonblock(fd, false);
        }
        return Reply::Value(e);
    }
    Reply::Later(Pending {
        run: 0,
        notif,
        sock: s,
        target_fd: -1,
        cloexec: false,
        local: true,
    })
}

#[allow(clippy::too_many_arguments)]
fn brokered_connect(
    lfd: RawFd,
    n: &libc::seccomp_notif,
    script: &OwnedFd,
    domain: i32,
    addr: &[u8],
    pid: libc::pid_t,
    fd: i32,
    net: &RunNet,
) -> Reply {
    let protocol = sockopt(script.as_raw_fd(), libc::SOL_SOCKET, libc::SO_PROTOCOL).unwrap_or(0);
    // SAFETY: a new socket in the host's namespace (this thread's).
    let h = unsafe {
        libc::socket(
            domain,
            libc::SOCK_STREAM | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
            protocol,
        )
    };
    if h < 0 {
        return Reply::Value(result(h));
    }
    // SAFETY: fresh descriptor.
    let h = unsafe { OwnedFd::from_raw_fd(h) };
    for (level, opt) in [
        (libc::IPPROTO_TCP, libc::TCP_NODELAY),
        (libc::SOL_SOCKET, libc::SO_KEEPALIVE),
    ] {
        if let Some(v) = sockopt(script.as_raw_fd(), level, opt) {
            if v != 0 {
                set_sockopt(h.as_raw_fd(), level, opt, v);
            }
        }
    }
    if domain == libc::AF_INET6 {
        if let Some(v) = sockopt(script.as_raw_fd(), libc::IPPROTO_IPV6, libc::IPV6_V6ONLY) {
            set_sockopt(h.as_raw_fd(), libc::IPPROTO_IPV6, libc::IPV6_V6ONLY, v);
        }
    }
    let target_nonblock = get_nonblock(script.as_raw_fd());
    let cloexec = fd_cloexec(pid, fd);
    // SAFETY: connect the host socket with the copied address.
    let r = unsafe { libc::connect(h.as_raw_fd(), addr.as_ptr().cast(), addr.len() as u32) };
    let e = result(r);
    if e != 0 && e != -(libc::EINPROGRESS as i64) {
        return Reply::Value(e);
    }
    if let Ok(mut l) = net.log.lock() {
        l.host_sockets = true;
    }
    if e == 0 || target_nonblock {
        if !target_nonblock {
            set_nonblock(h.as_raw_fd(), false);
        }
        let v = install(lfd, n.id, &h, fd, cloexec);
        return Reply::Value(if v < 0 { v } else { e });
    }
    Reply::Later(Pending {
        run: 0,
        notif: n.id,
        sock: h,
        target_fd: fd,
        cloexec,
        local: false,
    })
}

/// A pidfd for the notifying thread `tid`: a thread pidfd where the kernel
/// has them (6.9), else one for its thread group (its descriptor table is
/// the same).
fn open_pidfd(tid: libc::pid_t) -> Option<OwnedFd> {
    const PIDFD_THREAD: libc::c_int = libc::O_EXCL;
    // SAFETY: pidfd_open returns a fresh descriptor or -1.
    let mut fd = unsafe { libc::syscall(libc::SYS_pidfd_open, tid, PIDFD_THREAD) } as i32;
    if fd < 0 {
        let tgid = std::fs::read_to_string(format!("/proc/{tid}/status"))
            .ok()?
            .lines()
            .find_map(|l| l.strip_prefix("Tgid:"))
            .and_then(|v| v.trim().parse::<libc::pid_t>().ok())?;
        // SAFETY: as above.
        fd = unsafe { libc::syscall(libc::SYS_pidfd_open, tgid, 0) } as i32;
    }
    // SAFETY: a fresh descriptor we own.
    (fd >= 0).then(|| unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Installs `sock` over the script's descriptor `fd`; 0 or -errno.
fn install(lfd: RawFd, id: u64, sock: &OwnedFd, fd: i32, cloexec: bool) -> i64 {
    // SAFETY: zeroed, then filled.
    let mut add: libc::seccomp_notif_addfd = unsafe { std::mem::zeroed() };
    add.id = id;
    add.flags = libc::SECCOMP_ADDFD_FLAG_SETFD as u32;
    add.srcfd = sock.as_raw_fd() as u32;
    add.newfd = fd as u32;
    add.newfd_flags = if cloexec { libc::O_CLOEXEC as u32 } else { 0 };
    // SAFETY: ADDFD ioctl on our listener.
    let r = unsafe { libc::ioctl(lfd, libc::SECCOMP_IOCTL_NOTIF_ADDFD, &mut add) };
    if r < 0 {
        result(-1)
    } else {
        0
    }
}

fn respond(lfd: RawFd, id: u64, val: i64, flags: u32) {
    // SAFETY: zeroed, then filled.
    let mut resp: libc::seccomp_notif_resp = unsafe { std::mem::zeroed() };
    resp.id = id;
    resp.flags = flags;
    if val < 0 {
        resp.error = val as i32;
    } else {
        resp.val = val;
    }
    // SAFETY: NOTIF_SEND on our listener; ENOENT (target gone) is fine.
    unsafe { libc::ioctl(lfd, libc::SECCOMP_IOCTL_NOTIF_SEND, &mut resp) };
}

fn id_valid(lfd: RawFd, id: u64) -> bool {
    let mut id = id;
    // SAFETY: ID_VALID reads a u64.
    unsafe { libc::ioctl(lfd, libc::SECCOMP_IOCTL_NOTIF_ID_VALID, &mut id) == 0 }
}

fn read_target(pid: libc::pid_t, addr: u64, buf: &mut [u8]) -> io::Result<()> {
    let local = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    let remote = libc::iovec {
        iov_base: addr as *mut libc::c_void,
        iov_len: buf.len(),
    };
    // SAFETY: reads into our buffer only.
    let n = unsafe { libc::process_vm_readv(pid, &local, 1, &remote, 1, 0) };
    if n as usize == buf.len() {
        Ok(())
    } else {
        Err(io::Error::from_raw_os_error(libc::EFAULT))
    }
}

fn sockopt(fd: RawFd, level: i32, opt: i32) -> Option<i32> {
    let mut v: i32 = 0;
    let mut len = 4u32;
    // SAFETY: getsockopt into a local int.
    let r = unsafe { libc::getsockopt(fd, level, opt, (&mut v as *mut i32).cast(), &mut len) };
    (r == 0).then_some(v)
}

fn set_sockopt(fd: RawFd, level: i32, opt: i32, v: i32) {
    // SAFETY: setsockopt from a local int.
    unsafe { libc::setsockopt(fd, level, opt, (&v as *const i32).cast(), 4) };
}

fn so_error(fd: RawFd) -> i32 {
    sockopt(fd, libc::SOL_SOCKET, libc::SO_ERROR).unwrap_or(libc::EIO)
}

fn get_nonblock(fd: RawFd) -> bool {
    // SAFETY: F_GETFL.
    unsafe { libc::fcntl(fd, libc::F_GETFL) & libc::O_NONBLOCK != 0 }
}

fn set_nonblock(fd: RawFd, on: bool) {
    // SAFETY: F_GETFL / F_SETFL on a descriptor we hold.
    unsafe {
        let f = libc::fcntl(fd, libc::F_GETFL);
        if f >= 0 {
            let nf = if on {
                f | libc::O_NONBLOCK
            } else {
                f & !libc::O_NONBLOCK
            };
            libc::fcntl(fd, libc::F_SETFL, nf);
        }
    }
}

/// Inode of the network namespace a socket belongs to; `None` when it
/// cannot be told (an unprivileged host may not ask about the host's own
/// namespace: such a socket is not the run's).
fn socket_netns(fd: RawFd) -> Option<u64> {
    const SIOCGSKNS: libc::c_ulong = 0x894C;
    // SAFETY: the ioctl returns a new namespace descriptor or -1.
    let ns = unsafe { libc::ioctl(fd, SIOCGSKNS as _) };
    if ns < 0 {
        return None;
    }
    // SAFETY: fresh descriptor.
    let ns = unsafe { OwnedFd::from_raw_fd(ns) };
    // SAFETY: fstat into a local struct.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    (unsafe { libc::fstat(ns.as_raw_fd(), &mut st) } == 0).then_some(st.st_ino)
}

/// Whether the script's descriptor `fd` is close-on-exec (its fdinfo).
fn fd_cloexec(pid: libc::pid_t, fd: i32) -> bool {
    let Ok(text) = std::fs::read_to_string(format!("/proc/{pid}/fdinfo/{fd}")) else {
        return true;
    };
    text.lines()
        .find_map(|l| l.strip_prefix("flags:"))
        .and_then(|f| u32::from_str_radix(f.trim(), 8).ok())
        .map(|f| f & libc::O_CLOEXEC as u32 != 0)
        .unwrap_or(true)
}

/// An IPv4 or IPv6 socket address from its wire form.
pub fn parse_sockaddr(b: &[u8]) -> Option<SocketAddr> {
    if b.len() < 2 {
        return None;
    }
    let family = u16::from_ne_bytes([b[0], b[1]]) as i32;
    match family {
        libc::AF_INET if b.len() >= 8 => {
            let port = u16::from_be_bytes([b[2], b[3]]);
            let ip = Ipv4Addr::new(b[4], b[5], b[6], b[7]);
            Some(SocketAddr::new(IpAddr::V4(ip), port))
        }
        libc::AF_INET6 if b.len() >= 24 => {
            let port = u16::from_be_bytes([b[2], b[3]]);
            let mut o = [0u8; 16];
            o.copy_from_slice(&b[8..24]);
            Some(SocketAddr::new(IpAddr::V6(Ipv6Addr::from(o)), port))
        }
        _ => None,
    }
}

/// Receives a one-byte tag and up to `fds.len()` descriptors; returns
/// (bytes, descriptors).
fn recv_fds(sock: RawFd, tag: &mut [u8; 1], fds: &mut [i32; 8]) -> (isize, usize) {
    let mut iov = libc::iovec {
        iov_base: tag.as_mut_ptr().cast(),
        iov_len: 1,
    };
    let mut buf = [0u64; 8];
    // SAFETY: zeroed header over local buffers.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = buf.as_mut_ptr().cast();
    msg.msg_controllen = std::mem::size_of_val(&buf) as _;
    // SAFETY: recvmsg into the buffers above.
    let n = unsafe { libc::recvmsg(sock, &mut msg, libc::MSG_DONTWAIT | libc::MSG_CMSG_CLOEXEC) };
    let mut count = 0;
    if n > 0 {
        // SAFETY: walking the control messages the kernel wrote.
        unsafe {
            let mut c = libc::CMSG_FIRSTHDR(&msg);
            while !c.is_null() {
                if (*c).cmsg_level == libc::SOL_SOCKET && (*c).cmsg_type == libc::SCM_RIGHTS {
                    let data = libc::CMSG_DATA(c) as *const i32;
                    let k = ((*c).cmsg_len as usize - libc::CMSG_LEN(0) as usize) / 4;
                    for i in 0..k {
                        let f = *data.add(i);
                        if count < fds.len() {
                            fds[count] = f;
                            count += 1;
                        } else {
                            libc::close(f);
                        }
                    }
                }
                c = libc::CMSG_NXTHDR(&msg, c);
            }
        }
    }
    (n, count)
}

fn send_to(sock: &OwnedFd, data: &[u8], peer: &libc::sockaddr_storage, plen: u32) {
    // SAFETY: sendto from local buffers.
    unsafe {
        libc::sendto(
            sock.as_raw_fd(),
            data.as_ptr().cast(),
            data.len(),
            libc::MSG_DONTWAIT,
            (peer as *const libc::sockaddr_storage).cast(),
            plen,
        )
    };
}

/// A DNS question waiting for the host's resolver.
struct Query {
    sock: Arc<OwnedFd>,
    peer: libc::sockaddr_storage,
    plen: u32,
    packet: Vec<u8>,
    q: dns::Question,
    net: Arc<RunNet>,
}

// SAFETY: sockaddr_storage is plain bytes.
unsafe impl Send for Query {}

/// The host's resolver (`getaddrinfo`, which blocks) on a few threads of
/// its own, so that the broker thread never waits for a name.
struct Resolver {
    tx: std::sync::mpsc::Sender<Query>,
}

impl Resolver {
    const THREADS: usize = 2;

    fn new() -> Self {
        let (tx, rx) = std::sync::mpsc::channel::<Query>();
        let rx = Arc::new(Mutex::new(rx));
        for i in 0..Self::THREADS {
            let rx = rx.clone();
            let _ = std::thread::Builder::new()
                .name(format!("scriptcage-dns-{i}"))
                .spawn(move || loop {
                    let q = {
                        let r = rx.lock().unwrap_or_else(|e| e.into_inner());
                        r.recv()
                    };
                    match q {
                        Ok(q) => answer(q),
                        Err(_) => return,
                    }
                });
        }
        Resolver { tx }
    }

    fn submit(&self, q: Query) {
        let _ = self.tx.send(q);
    }
}

fn answer(q: Query) {
    let resp = if q.q.qtype == dns::TYPE_A || q.q.qtype == dns::TYPE_AAAA {
        use std::net::ToSocketAddrs;
        match (q.q.name.as_str(), 0u16).to_socket_addrs() {
            Ok(it) => {
                let mut addrs: Vec<IpAddr> = it.map(|a| a.ip()).collect();
                addrs.dedup();
                // Recorded before the answer leaves: the connect that
                // follows finds the name.
                q.net.remember(&q.q.name, &addrs);
                dns::answer_limited(&q.packet, &q.q, &addrs, DNS_TTL, 512)
            }
            Err(_) => dns::error_response(&q.packet, &q.q, dns::RCODE_NXDOMAIN),
        }
    } else {
        // Only addresses are served: other types get an empty answer.
        dns::answer(&q.packet, &q.q, &[], DNS_TTL)
    };
    send_to(&q.sock, &resp, &q.peer, q.plen);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sockaddr_forms() {
        let mut v4 = [0u8; 16];
        v4[..2].copy_from_slice(&(libc::AF_INET as u16).to_ne_bytes());
        v4[2..4].copy_from_slice(&80u16.to_be_bytes());
        v4[4..8].copy_from_slice(&[169, 254, 169, 254]);
        assert_eq!(
            parse_sockaddr(&v4),
            Some("169.254.169.254:80".parse().unwrap())
        );
        assert_eq!(parse_sockaddr(&v4[..6]), None);
        let mut v6 = [0u8; 28];
        v6[..2].copy_from_slice(&(libc::AF_INET6 as u16).to_ne_bytes());
        v6[2..4].copy_from_slice(&443u16.to_be_bytes());
        v6[8..24].copy_from_slice(&"::ffff:127.0.0.1".parse::<Ipv6Addr>().unwrap().octets());
        let a = parse_sockaddr(&v6).unwrap();
        assert_eq!(a.port(), 443);
        assert!(rules::normalise(a.ip()).is_loopback());
        assert_eq!(parse_sockaddr(&[1, 0]), None);
    }

    #[test]
    fn nameservers_are_ipv4_and_bounded() {
        let v = host_nameservers();
        assert!(!v.is_empty() && v.len() <= scriptcage_helper::contain::MAX_DNS);
    }
}
