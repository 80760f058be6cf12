//! Network egress enforcement: the rules a connection is checked against
//! and the DNS message codec of the run's resolver stub.

pub mod dns;
pub mod rules;
