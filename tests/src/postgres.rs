//! A real PostgreSQL for the tests: Debian's `postgresql`, a cluster made by `initdb` in a folder
//! of the test's own and its server started on a free loopback port (its socket in that folder
//! too), trusting local connections. PostgreSQL refuses to run as root, so under root the
//! cluster belongs to Debian's `postgres` user and the server runs as it.

use crate::harness::{free_port, ChildGuard};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// A PostgreSQL server of the test's own; stopped when dropped.
pub struct Postgres {
    /// Its port on 127.0.0.1.
    pub port: u16,
    process: Option<ChildGuard>,
}

/// The newest installed PostgreSQL's programs (`/usr/lib/postgresql/N/bin`).
fn programs() -> PathBuf {
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| Some((entry.file_name().to_str()?.parse().ok()?, entry.path().join("bin"))))
        .filter(|(_, bin): &(u32, PathBuf)| bin.join("postgres").is_file())
        .collect();
    versions.sort();
    versions
        .pop()
        .map(|(_, bin)| bin)
        .unwrap_or_else(|| panic!("PostgreSQL is not installed: run `make setup` (or `apt-get install postgresql`)"))
}

/// The user and group PostgreSQL runs as: ours, or `postgres`'s when we are root.
fn owner() -> Option<(u32, u32)> {
    let id = |flag: &str, user: Option<&str>| -> u32 {
        let out = Command::new("id").arg(flag).args(user).output().expect("id");
        String::from_utf8_lossy(&out.stdout).trim().parse().expect("a numeric id")
    };
    (id("-u", None) == 0).then(|| (id("-u", Some("postgres")), id("-g", Some("postgres"))))
}

impl Postgres {
    /// Makes a cluster in `dir` and starts its server; waits until it takes connections.
    pub fn start(dir: &Path) -> Self {
        let bin = programs();
        let owner = owner();
        std::fs::create_dir_all(dir).expect("postgres dir");
        let command = |program: &str| {
            let mut command = Command::new(bin.join(program));
            if let Some((uid, gid)) = owner {
                command.uid(uid).gid(gid);
            }
            command
        };
        if let Some((uid, gid)) = owner {
            std::os::unix::fs::chown(dir, Some(uid), Some(gid)).expect("chown the postgres dir");
        }
        let data = dir.join("data");
        let made = command("initdb")
            .args(["-D", data.to_str().expect("utf8"), "-U", "nvt", "--auth=trust", "-E", "UTF8", "--no-sync"])
            .stdout(std::process::Stdio::null())
            .status()
            .expect("run initdb");
        assert!(made.success(), "initdb failed in {}", dir.display());
        let port = free_port();
        let log = std::fs::File::create(dir.join("postgres.log")).expect("log");
        if let Some((uid, gid)) = owner {
            std::os::unix::fs::chown(dir.join("postgres.log"), Some(uid), Some(gid)).expect("chown the log");
        }
        let child = command("postgres")
            .args(["-D", data.to_str().expect("utf8"), "-p", &port.to_string(), "-k", dir.to_str().expect("utf8")])
            .args(["-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "max_connections=40"])
            .stderr(log)
            .spawn()
            .expect("start postgres");
        let server = Self { port, process: Some(ChildGuard(child)) };
        let until = Instant::now() + Duration::from_secs(30);
        loop {
            let ready = Command::new(bin.join("pg_isready"))
                .args(["-h", "127.0.0.1", "-p", &port.to_string(), "-U", "nvt", "-d", "postgres", "-q"])
                .status()
                .expect("pg_isready");
            if ready.success() {
                break;
            }
            assert!(Instant::now() < until, "PostgreSQL did not start; see {}/postgres.log", dir.display());
            std::thread::sleep(Duration::from_millis(100));
        }
        server
    }

    /// The URL `--db` takes, for the database `postgres` as user `nvt`.
    pub fn url(&self) -> String {
        format!("postgres://nvt@127.0.0.1:{}/postgres", self.port)
    }
}

impl Drop for Postgres {
    /// A fast shutdown (SIGINT), then SIGKILL if it takes more than a few seconds.
    fn drop(&mut self) {
        let Some(mut process) = self.process.take() else { return };
        let _ = Command::new("kill").args(["-INT", &process.0.id().to_string()]).status();
        let until = Instant::now() + Duration::from_secs(5);
        while Instant::now() < until {
            if matches!(process.0.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}
