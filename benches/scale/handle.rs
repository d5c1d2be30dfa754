//! The bench's side of its children: the controller child and its line protocol, and the
//! children that measure one thing alone.

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout};

use crate::Knobs;
use crate::probe::{self, Scrape};
use crate::sim::SimStats;

/// The controller child and the line protocol on its stdin/stdout.
pub struct Controller {
    child: Child,
    stdin: ChildStdin,
    lines: Lines<BufReader<ChildStdout>>,
    pub pid: String,
    port: u16,
}

impl Controller {
    pub async fn spawn(knobs: &Knobs, log: &Path) -> Result<Controller, String> {
        let log = std::fs::File::create(log).map_err(|e| format!("{}: {e}", log.display()))?;
        let mut child = tokio::process::Command::new(std::env::current_exe().map_err(|e| e.to_string())?)
            .envs(knobs.child_env("controller"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log))
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| format!("start the controller: {e}"))?;
        let stdin = child.stdin.take().ok_or("no stdin")?;
        let stdout = child.stdout.take().ok_or("no stdout")?;
        let pid = child.id().map(|p| p.to_string()).ok_or("no pid")?;
        let mut controller =
            Controller { child, stdin, lines: BufReader::new(stdout).lines(), pid, port: knobs.port };
        let ready = controller.line(Duration::from_secs(120)).await?;
        if ready != "ready" {
            return Err(format!("the controller said {ready:?} instead of ready"));
        }
        Ok(controller)
    }

    async fn line(&mut self, limit: Duration) -> Result<String, String> {
        match tokio::time::timeout(limit, self.lines.next_line()).await {
            Ok(Ok(Some(line))) => Ok(line),
            Ok(Ok(None)) => Err("the controller exited (see target/bench/controller.log)".to_string()),
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err("the controller did not answer in time".to_string()),
        }
    }

    pub async fn ask(&mut self, command: &str) -> Result<String, String> {
        self.stdin.write_all(format!("{command}\n").as_bytes()).await.map_err(|e| e.to_string())?;
        self.line(Duration::from_secs(30)).await
    }

    pub async fn stats(&mut self) -> Result<SimStats, String> {
        let line = self.ask("stats").await?;
        serde_json::from_str(&line).map_err(|e| format!("stats: {e}: {line}"))
    }

    pub async fn mark(&mut self) -> Result<(), String> {
        self.ask("mark").await.map(|_| ())
    }

    pub async fn scrape(&self) -> Result<Scrape, String> {
        probe::scrape(self.port).await
    }

    /// Both views at once: the controller's metrics and the simulated AWS's counts.
    pub async fn snapshot(&mut self) -> Result<(Instant, Scrape, SimStats), String> {
        let at = Instant::now();
        Ok((at, self.scrape().await?, self.stats().await?))
    }

    /// Stops the controller (as SIGTERM would) and returns the simulated AWS's last counts.
    pub async fn stop(mut self) -> Result<SimStats, String> {
        self.stdin.write_all(b"stop\n").await.map_err(|e| e.to_string())?;
        loop {
            let line = self.line(Duration::from_secs(30)).await?;
            if let Some(stats) = line.strip_prefix("final ") {
                let _ = tokio::time::timeout(Duration::from_secs(10), self.child.wait()).await;
                return serde_json::from_str(stats).map_err(|e| e.to_string());
            }
        }
    }
}

/// A child that measures one thing alone (`memory`: the simulated AWS; `parts`: parts of the
/// controller's memory) and prints it as JSON.
pub async fn measure_alone(knobs: &Knobs, role: &str) -> Result<Value, String> {
    let out = tokio::process::Command::new(std::env::current_exe().map_err(|e| e.to_string())?)
        .envs(knobs.child_env(role))
        .stderr(Stdio::inherit())
        .output()
        .await
        .map_err(|e| format!("{role} child: {e}"))?;
    if !out.status.success() {
        return Err(format!("the {role} child failed: {}", out.status));
    }
    serde_json::from_slice(&out.stdout).map_err(|e| format!("{role} child: {e}"))
}
