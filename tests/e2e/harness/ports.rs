//! Ports for the servers tests start.

use std::sync::atomic::{AtomicU32, Ordering};

/// A port for a server a test starts (an API, a worker's metrics, Redis),
/// free when asked for. Taken from below the kernel's ephemeral range
/// (32768 and up here), which `bind(0)` and outgoing connections draw from,
/// and each handed out once per run: a port the kernel handed out for
/// `bind(0)` could be handed to another test before this one's server
/// bound it, and an API that lost that race left its test talking to the
/// other test's server (seen on CI: a production-mode API's public
/// `/metrics` answered 200 by another process). Runs started together
/// begin at different places (by process id) and skip ports in use.
pub fn free_port() -> u16 {
    const FIRST: u16 = 20_000;
    const SPAN: u16 = 10_000;
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let start = std::process::id() % 50 * 200;
    for _ in 0..SPAN {
        let n = start + NEXT.fetch_add(1, Ordering::Relaxed);
        let port = FIRST + u16::try_from(n % u32::from(SPAN)).expect("below SPAN");
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free port in {FIRST}..{}", FIRST + SPAN);
}
