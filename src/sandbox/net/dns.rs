//! DNS message codec for the run's resolver stub (pure, no sockets).
