//! `herald` roles as OS processes, to kill or stop as an operator (or the
//! kernel) would.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::process::{Child, Command};
use uuid::Uuid;

/// One `herald <role>` process; its log goes to a file.
pub struct HeraldProcess {
    child: Child,
    pub log: PathBuf,
}

impl HeraldProcess {
    /// Starts `binary role` with `env` added to this process's environment.
    pub fn start(binary: &Path, role: &str, env: &[(String, String)]) -> HeraldProcess {
        let log = std::env::temp_dir().join(format!("herald-{role}-{}.log", Uuid::now_v7()));
        let file = std::fs::File::create(&log).expect("the temp dir is writable");
        let child = Command::new(binary)
            .arg(role)
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdout(Stdio::null())
            .stderr(file)
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", binary.display()));
        HeraldProcess { child, log }
    }

    pub fn pid(&self) -> u32 {
        self.child.id().expect("the process is running")
    }

    /// SIGKILL: no chance to clean up.
    pub async fn kill(&mut self) {
        self.child.kill().await.expect("the process can be killed");
    }

    /// SIGTERM, then waits for the exit; returns how long it took and whether
    /// the exit status was success. Panics past `deadline`.
    pub async fn terminate(&mut self, deadline: Duration) -> (Duration, bool) {
        let asked = Instant::now();
        let status = Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .status()
            .await
            .expect("kill(1) runs");
        assert!(status.success(), "kill -TERM failed");
        let exit = tokio::time::timeout(deadline, self.child.wait())
            .await
            .unwrap_or_else(|_| panic!("no exit within {deadline:?}; log: {}", self.log.display()))
            .expect("the process can be waited on");
        (asked.elapsed(), exit.success())
    }
}

/// CPU time (user + system) a process has used, in seconds (0 if it is gone).
pub fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name, which may hold spaces, closed by ')'.
    let fields: Vec<&str> = stat
        .rsplit(')')
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // utime and stime, in clock ticks of 1/100 s on Linux.
    (ticks(11) + ticks(12)) / 100.0
}

/// The pids of processes whose command line contains `needle` (a database
/// name in a PostgreSQL backend's title, `beam.smp` for RabbitMQ).
pub fn pids_matching(needle: &str) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            String::from_utf8_lossy(&cmdline).contains(needle)
        })
        .collect()
}

/// Resident memory of a process, in MiB, from /proc (0 if it is gone).
pub fn rss_mib(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}
