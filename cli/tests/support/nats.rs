//! A real nats-server (the operating system's package) for the fleet's
//! tests: on a loopback port, in a temporary directory, with JetStream and
//! with authentication on. Stopped when dropped.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Where the packaged server is installed.
const NATS_SERVER: &str = "/usr/sbin/nats-server";

/// One broker user: a name, a password, and its permissions as the server's
/// configuration writes them (`{ subscribe: …, publish: … }`).
pub struct User {
    pub name: String,
    pub password: String,
    pub permissions: String,
}

impl User {
    /// An endpoint's user, with the permissions `salve fleet nats-config`
    /// gives it: its own subjects, inboxes and keys only.
    #[allow(dead_code)]
    pub fn endpoint(name: &str) -> User {
        User {
            name: name.to_string(),
            password: format!("{name}-secret"),
            permissions: salve::fleet::permissions::endpoint(&name.parse().unwrap()),
        }
    }

    /// People's user: requests to any endpoint, answers in inboxes of their
    /// own, the fleet's buckets read.
    pub fn people() -> User {
        User {
            name: "people".to_string(),
            password: "people-secret".to_string(),
            permissions: salve::fleet::permissions::people("people"),
        }
    }

    /// The fleet admin's user: it may create the fleet's buckets.
    pub fn admin() -> User {
        User {
            name: "admin".to_string(),
            password: "admin-secret".to_string(),
            permissions: salve::fleet::permissions::admin("admin"),
        }
    }
}

pub struct Nats {
    pub port: u16,
    pub dir: tempfile::TempDir,
    child: std::sync::Mutex<Option<Child>>,
}

impl Nats {
    /// Starts a server whose configuration ends with `authorization` (an
    /// `authorization { … }` block).
    #[allow(dead_code)]
    pub fn start_with(authorization: &str) -> Nats {
        let dir = tempfile::tempdir().unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let config = format!(
            "listen: 127.0.0.1:{port}\nmax_payload: 1MB\njetstream {{ store_dir: \"{}\" }}\n{authorization}",
            dir.path().join("jetstream").display()
        );
        std::fs::write(dir.path().join("nats.conf"), config).unwrap();
        let nats = Nats {
            port,
            dir,
            child: std::sync::Mutex::new(None),
        };
        nats.run();
        nats
    }

    /// Starts a server that knows `users`.
    pub fn start(users: &[User]) -> Nats {
        Nats::start_carrying(users, "1MB")
    }

    /// Starts a server that knows `users` and carries messages of at most
    /// `max_payload` (`8KB`, `1MB`).
    pub fn start_carrying(users: &[User], max_payload: &str) -> Nats {
        assert!(
            std::path::Path::new(NATS_SERVER).exists(),
            "{NATS_SERVER} is not installed: the fleet's tests run against the real server. Install it with `apt-get install nats-server` (scripts/setup-test-machine does)"
        );
        let dir = tempfile::tempdir().unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut config = format!(
            "listen: 127.0.0.1:{port}\nmax_payload: {max_payload}\njetstream {{ store_dir: \"{}\" }}\nauthorization {{\n  users = [\n",
            dir.path().join("jetstream").display()
        );
        for user in users {
            config.push_str(&format!(
                "    {{ user: \"{}\", password: \"{}\", permissions: {} }}\n",
                user.name, user.password, user.permissions
            ));
        }
        config.push_str("  ]\n}\n");
        std::fs::write(dir.path().join("nats.conf"), config).unwrap();
        let nats = Nats {
            port,
            dir,
            child: std::sync::Mutex::new(None),
        };
        nats.run();
        nats
    }

    /// The configuration file the server runs with.
    pub fn config(&self) -> PathBuf {
        self.dir.path().join("nats.conf")
    }

    /// Starts the server process and waits until it takes connections.
    pub fn run(&self) {
        let log = std::fs::File::create(self.dir.path().join("nats.log")).unwrap();
        let child = Command::new(NATS_SERVER)
            .args(["-c", &self.config().display().to_string()])
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        *self.child.lock().unwrap() = Some(child);
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "nats-server did not listen within 20 s: {}",
                std::fs::read_to_string(self.dir.path().join("nats.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Kills the server (as a crash would).
    pub fn kill(&self) {
        if let Some(mut child) = self.child.lock().unwrap().take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// The URL clients connect to.
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// Writes `user`'s password to a file in the server's directory; its
    /// path.
    pub fn password_file(&self, user: &User) -> PathBuf {
        let path = self.dir.path().join(format!("{}.password", user.name));
        let mut file = std::fs::File::create(&path).unwrap();
        writeln!(file, "{}", user.password).unwrap();
        path
    }
}

impl Drop for Nats {
    fn drop(&mut self) {
        self.kill();
    }
}
