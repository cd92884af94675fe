//! A local S3-compatible server (moto) for the tests that talk to object storage.
//!
//! `cargo xtask test` installs moto with pip if `moto_server` is not on the PATH, starts it on
//! a free port of 127.0.0.1, hands the endpoint to the tests in `CAIRN_S3_ENDPOINT`, and stops
//! it by PID when the guard drops. Nothing leaves the machine.

use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

/// The running server; killed when dropped.
pub struct S3Server {
    child: Child,
    pub endpoint: String,
}

impl Drop for S3Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        eprintln!("s3: stopped moto_server (pid {})", self.child.id());
    }
}

fn have_moto() -> bool {
    Command::new("moto_server")
        .arg("--help")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Installs moto if needed and starts it on 127.0.0.1.
pub fn start() -> Result<S3Server> {
    if !have_moto() {
        eprintln!("s3: moto_server not found; installing moto[server] with pip");
        let status = Command::new("python3")
            .args(["-m", "pip", "install", "--quiet", "moto[server]"])
            .status()
            .context("running pip (python3 -m pip) to install moto")?;
        if !status.success() || !have_moto() {
            bail!("could not install moto[server] with pip; install it by hand and retry");
        }
    }
    // Ask the OS for a free port, then hand it to moto.
    let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let child = Command::new("moto_server")
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .context("starting moto_server")?;
    let server = S3Server {
        child,
        endpoint: format!("http://127.0.0.1:{port}"),
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        if Instant::now() > deadline {
            bail!("moto_server did not listen on 127.0.0.1:{port} within 30 s");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    eprintln!(
        "s3: moto_server (pid {}) listening at {}",
        server.child.id(),
        server.endpoint
    );
    Ok(server)
}
