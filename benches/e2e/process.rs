//! `gatehouse serve` as its own process (as tests/it/faults.rs runs it), and what /proc says
//! about its CPU time and memory.

use std::path::{Path, PathBuf};
use std::time::Duration;

pub struct Gatehouse {
    child: tokio::process::Child,
    pub pid: u32,
    pub log: PathBuf,
}

impl Gatehouse {
    /// Starts the real binary in `dir` with `env`; its log goes to `dir/serve.log`.
    pub fn spawn(dir: &Path, env: &[(String, String)]) -> Gatehouse {
        let log = dir.join("serve.log");
        let file = std::fs::File::create(&log).unwrap();
        let child = tokio::process::Command::new(env!("CARGO_BIN_EXE_gatehouse"))
            .arg("serve")
            .current_dir(dir)
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdout(std::process::Stdio::null())
            .stderr(file)
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let pid = child.id().unwrap();
        Gatehouse { child, pid, log }
    }

    /// Whether it has stopped (on its own: a bad setting, a crash).
    pub fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// User + system CPU time of the whole process (all threads).
    pub fn cpu(&self) -> Duration {
        super::common::cpu_time_from(&format!("/proc/{}/stat", self.pid))
    }

    /// VmRSS and VmHWM (peak) in MB.
    pub fn memory(&self) -> (f64, f64) {
        super::common::memory_from(&format!("/proc/{}/status", self.pid))
    }

    /// The lines it logged at warn or error (the bench runs it with GATEHOUSE_LOG=warn).
    pub fn complaints(&self) -> Vec<String> {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .filter(|l| l.contains("WARN") || l.contains("ERROR"))
            .map(String::from)
            .collect()
    }

    /// The end of its log, for a message saying why it stopped.
    pub fn tail(&self) -> String {
        let log = std::fs::read_to_string(&self.log).unwrap_or_default();
        let cut = log.len().saturating_sub(3000);
        log.get(cut..).unwrap_or(&log).to_owned()
    }

    pub async fn kill(mut self) {
        let _ = self.child.start_kill();
        let _ = self.child.wait().await;
    }
}
