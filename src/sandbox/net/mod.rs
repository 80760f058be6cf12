//! Network egress enforcement (docs/network.md): the rules a connection is
//! checked against, the DNS message codec of the run's resolver stub, the
//! seccomp notification program, and the host's broker thread.

pub mod broker;
pub mod dns;
pub mod notify;
pub mod rules;
