//! A private swtpm for tests and demos: one emulator per [`Swtpm`], on a free loopback port,
//! stopped (and its state directory removed) on drop.
//!
//! swtpm serves one client at a time (a second connection blocks), so every test that talks to
//! a TPM starts its own.

use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use crate::error::Error;

/// How long [`Swtpm::start`] waits for swtpm to accept connections.
pub const START_TIMEOUT: Duration = Duration::from_secs(15);

static INSTANCE: AtomicU32 = AtomicU32::new(0);

/// A running `swtpm socket --tpm2` on 127.0.0.1 (server port P, control port P+1).
#[derive(Debug)]
pub struct Swtpm {
    child: Child,
    port: u16,
    state_dir: PathBuf,
}

/// Two consecutive free loopback ports (the kernel's choice for the first, checked for the second).
fn free_port_pair() -> Result<u16, Error> {
    for _ in 0..50 {
        let first = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .map_err(|e| Error::Harness(format!("cannot bind a loopback port: {e}")))?;
        let port = first
            .local_addr()
            .map_err(|e| Error::Harness(e.to_string()))?
            .port();
        let Some(next) = port.checked_add(1) else {
            continue;
        };
        if TcpListener::bind((Ipv4Addr::LOCALHOST, next)).is_ok() {
            return Ok(port);
        }
    }
    Err(Error::Harness(
        "no two consecutive free loopback ports".into(),
    ))
}

impl Swtpm {
    /// Start swtpm (`swtpm` must be on PATH) with a fresh state directory, TPM2_Startup(CLEAR)
    /// done, and wait until it accepts connections.
    pub fn start() -> Result<Swtpm, Error> {
        let mut last = String::new();
        for _ in 0..5 {
            match Swtpm::try_start() {
                Ok(s) => return Ok(s),
                Err(e) => last = e.to_string(),
            }
        }
        Err(Error::Harness(format!("swtpm did not start: {last}")))
    }

    fn try_start() -> Result<Swtpm, Error> {
        let port = free_port_pair()?;
        let ctrl = port + 1;
        let n = INSTANCE.fetch_add(1, Ordering::Relaxed);
        let state_dir =
            std::env::temp_dir().join(format!("mr-swtpm-{}-{n}-{port}", std::process::id()));
        std::fs::create_dir_all(&state_dir)
            .map_err(|e| Error::Harness(format!("cannot create {}: {e}", state_dir.display())))?;
        let child = Command::new("swtpm")
            .arg("socket")
            .arg("--tpm2")
            .arg("--server")
            .arg(format!("type=tcp,port={port},bindaddr=127.0.0.1"))
            .arg("--ctrl")
            .arg(format!("type=tcp,port={ctrl},bindaddr=127.0.0.1"))
            .arg("--flags")
            .arg("not-need-init,startup-clear")
            .arg("--tpmstate")
            .arg(format!("dir={}", state_dir.display()))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
        let child = match child {
            Ok(c) => c,
            Err(e) => {
                let _ = std::fs::remove_dir_all(&state_dir);
                return Err(Error::Harness(format!("cannot run swtpm: {e}")));
            }
        };
        let mut swtpm = Swtpm {
            child,
            port,
            state_dir,
        };
        swtpm.wait_ready()?;
        Ok(swtpm)
    }

    fn wait_ready(&mut self) -> Result<(), Error> {
        let deadline = Instant::now() + START_TIMEOUT;
        let ctrl = SocketAddr::from((Ipv4Addr::LOCALHOST, self.port + 1));
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(Error::Harness(format!(
                    "swtpm exited early ({status}); port {} taken?",
                    self.port
                )));
            }
            // Probe the control port: the server port is left alone for the one real client.
            if TcpStream::connect_timeout(&ctrl, Duration::from_millis(200)).is_ok() {
                // Someone else's swtpm could hold the port if ours failed to bind: make sure ours
                // is still running.
                std::thread::sleep(Duration::from_millis(10));
                if let Ok(Some(status)) = self.child.try_wait() {
                    return Err(Error::Harness(format!(
                        "swtpm exited early ({status}); port {} taken?",
                        self.port
                    )));
                }
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(Error::Harness(format!(
                    "swtpm not ready on port {} after {START_TIMEOUT:?}",
                    self.port
                )));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The TPM command port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The TCTI string for [`crate::device::Tpm::open`]: `swtpm:host=127.0.0.1,port=P`.
    pub fn tcti(&self) -> String {
        format!("swtpm:host=127.0.0.1,port={}", self.port)
    }
}

impl Drop for Swtpm {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.state_dir);
    }
}
