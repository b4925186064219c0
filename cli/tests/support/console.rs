//! A real `salve console` relaying to a staged endpoint, and a real
//! browser (Debian's chromium through chromium-driver), for the console's
//! tests and its benchmark.

#![allow(clippy::unwrap_used, dead_code)]

use fantoccini::{Client, ClientBuilder};
use salve::fleet::InventoryFile;
use salve::identity::KeyPair;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A loopback port nobody listens on now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Waits until something accepts connections on `port`.
pub fn wait_for_port(port: u16, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "{what} did not start on port {port}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A child process killed when dropped.
pub struct Running(pub Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Writes `dir/inventory.json`: the endpoint `pc-test` with the key in
/// `data_dir/endpoint.key`, signed by a new fleet admin, whose key is
/// returned.
pub fn signed_inventory(dir: &Path, data_dir: &Path) -> KeyPair {
    let endpoint_key = KeyPair::read(&data_dir.join("endpoint.key")).unwrap();
    let admin = KeyPair::generate().unwrap();
    let mut inventory = InventoryFile::default();
    inventory.add("pc-test", endpoint_key.public()).unwrap();
    inventory.sign(&admin);
    inventory.write(&dir.join("inventory.json")).unwrap();
    admin
}

/// `salve console` relaying to the endpoint `pc-test` on `socket`, whose
/// key is in `data_dir/endpoint.key`; the people's key files beside the
/// signed inventory in `files`.
pub struct ConsoleProcess {
    pub files: tempfile::TempDir,
    pub admin: KeyPair,
    pub port: u16,
    _child: Running,
}

impl ConsoleProcess {
    pub fn start(
        salve: &Path,
        data_dir: &Path,
        socket: &Path,
        people: &std::collections::BTreeMap<String, KeyPair>,
    ) -> ConsoleProcess {
        let files = tempfile::tempdir().unwrap();
        let admin = signed_inventory(files.path(), data_dir);
        for (who, key) in people {
            key.write(
                &files.path().join(format!("{who}.key")),
                Some(&who.parse().unwrap()),
            )
            .unwrap();
        }
        let port = free_port();
        let child = Command::new(salve)
            .args(["console", "--listen", &format!("127.0.0.1:{port}")])
            .arg("--inventory")
            .arg(files.path().join("inventory.json"))
            .args(["--fleet-admin-key", &admin.public().to_string()])
            .arg("--direct")
            .arg(format!("pc-test=unix:{}", socket.display()))
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        let child = Running(child);
        wait_for_port(port, "salve console");
        ConsoleProcess {
            files,
            admin,
            port,
            _child: child,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }
}

/// chromium-driver, on a port of its own.
pub struct Driver {
    pub port: u16,
    _child: Running,
}

impl Driver {
    pub fn start() -> Driver {
        let port = free_port();
        let child = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver (Debian's chromium-driver) must be installed: scripts/setup-test-machine installs it");
        let child = Running(child);
        wait_for_port(port, "chromedriver");
        Driver {
            port,
            _child: child,
        }
    }

    /// A new headless browser with a profile of its own (one person, in
    /// `profiles`), `width` pixels wide.
    pub async fn browser(&self, profiles: &Path, width: u32) -> Client {
        let profile = tempfile::tempdir_in(profiles).unwrap().keep();
        let mut capabilities = serde_json::Map::new();
        capabilities.insert(
            "goog:chromeOptions".to_string(),
            serde_json::json!({
                "binary": "/usr/bin/chromium",
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    format!("--window-size={width},1000"),
                    format!("--user-data-dir={}", profile.display()),
                ],
            }),
        );
        // The WebDriver client's TLS, which it needs not: chromedriver is
        // plain HTTP on loopback (ring, as everywhere else in salve).
        let _ = rustls::crypto::ring::default_provider().install_default();
        ClientBuilder::rustls()
            .unwrap()
            .capabilities(capabilities)
            .connect(&format!("http://127.0.0.1:{}", self.port))
            .await
            .unwrap()
    }
}

/// `GET path` from whatever listens on the loopback `port`, on a new
/// connection: the status and the body.
pub fn get(port: u16, path: &str) -> std::io::Result<(u16, Vec<u8>)> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port))?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    )?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response)?;
    let status = std::str::from_utf8(&response[..response.len().min(12)])
        .ok()
        .and_then(|head| head.get(9..12))
        .and_then(|code| code.parse().ok())
        .unwrap_or(0);
    let body = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map_or(Vec::new(), |at| response[at + 4..].to_vec());
    Ok((status, body))
}
