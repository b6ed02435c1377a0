//! `gatehouse healthcheck`: asks this process's own `/healthz` on `GATEHOUSE_HTTP_ADDR`, for a
//! container's health check (the slim image has no curl). Exits 0 when it answers 200.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::process::ExitCode;
use std::time::Duration;

pub async fn healthcheck() -> anyhow::Result<ExitCode> {
    let configured =
        std::env::var("GATEHOUSE_HTTP_ADDR").unwrap_or_else(|_| "127.0.0.1:8080".to_owned());
    let Ok(mut addr) = configured.trim().parse::<SocketAddr>() else {
        eprintln!("GATEHOUSE_HTTP_ADDR is {configured:?}, not an address like 0.0.0.0:8080");
        return Ok(ExitCode::FAILURE);
    };
    // Listening on every interface: ask through the loopback one.
    if addr.ip().is_unspecified() {
        addr.set_ip(IpAddr::V4(Ipv4Addr::LOCALHOST));
    }
    let url = format!("http://{addr}/healthz");
    let client = gatehouse::platform::http::client(Duration::from_secs(3))
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    match client.get(&url).send().await {
        Ok(answer) if answer.status().is_success() => Ok(ExitCode::SUCCESS),
        Ok(answer) => {
            eprintln!("{url} answered {}", answer.status());
            Ok(ExitCode::FAILURE)
        }
        Err(e) => {
            eprintln!("cannot reach {url}: {e}");
            Ok(ExitCode::FAILURE)
        }
    }
}
