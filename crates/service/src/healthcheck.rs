//! `<binary> healthcheck [URL]`: the probe behind the container `HEALTHCHECK`s of both service
//! images, which have no shell and no curl.
//!
//! One GET over plain HTTP (the probes listen on loopback inside the container; the client is built
//! without TLS), on a current-thread runtime so a probe costs one thread and a few hundred KiB.
//! Exit code 0 on a 2xx answer within the timeout, 1 otherwise with one line on stderr saying what
//! happened — the contract Docker's `HEALTHCHECK` expects.

use std::process::ExitCode;
use std::time::Duration;

/// Probe `url`; `Ok` on a 2xx answer within `timeout`, else an error saying what happened.
pub fn probe(url: &str, timeout: Duration) -> Result<(), String> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("starting the runtime: {e}"))?;
    runtime.block_on(async {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .build()
            .map_err(|e| format!("building the client: {e}"))?;
        let response = client
            .get(url)
            .send()
            .await
            .map_err(|e| format!("{url}: {e}"))?;
        if response.status().is_success() {
            Ok(())
        } else {
            Err(format!("{url}: status {}", response.status()))
        }
    })
}

/// [`probe`] as a process result: success, or failure after `<binary> healthcheck: <why>` on stderr.
pub fn run(binary: &str, url: &str, timeout: Duration) -> ExitCode {
    match probe(url, timeout) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("{binary} healthcheck: {err}");
            ExitCode::FAILURE
        }
    }
}

/// The default probe target: `/healthz` on the loopback interface at `port`.
pub fn default_url(port: u16) -> String {
    format!("http://127.0.0.1:{port}/healthz")
}

#[cfg(test)]
mod tests {
    use super::*;

    use std::io::{Read as _, Write as _};
    use std::net::TcpListener;

    /// A one-shot HTTP server on a free loopback port answering `status_line`; returns its URL.
    fn answer_once(status_line: &'static str) -> String {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        std::thread::spawn(move || {
            if let Ok((mut stream, _)) = listener.accept() {
                let mut buf = [0_u8; 1024];
                let _ = stream.read(&mut buf);
                let _ = write!(
                    stream,
                    "HTTP/1.1 {status_line}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
                );
            }
        });
        format!("http://127.0.0.1:{port}/healthz")
    }

    #[test]
    fn a_2xx_answer_passes() {
        assert_eq!(
            probe(&answer_once("200 OK"), Duration::from_secs(5)),
            Ok(())
        );
    }

    #[test]
    fn a_503_answer_fails_naming_the_status() {
        let err = probe(
            &answer_once("503 Service Unavailable"),
            Duration::from_secs(5),
        )
        .expect_err("503 is unhealthy");
        assert!(err.contains("status 503"), "{err}");
    }

    #[test]
    fn nothing_listening_fails_naming_the_url() {
        // Bind then drop: the port is free and nothing accepts on it.
        let port = TcpListener::bind("127.0.0.1:0")
            .expect("bind")
            .local_addr()
            .expect("addr")
            .port();
        let url = default_url(port);
        let err = probe(&url, Duration::from_secs(2)).expect_err("nothing listens");
        assert!(err.starts_with(&url), "{err}");
    }

    #[test]
    fn a_malformed_url_fails_without_panicking() {
        assert!(probe("not a url", Duration::from_secs(1)).is_err());
    }
}
