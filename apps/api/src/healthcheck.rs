//! `blueprint-api healthcheck [URL]`: a probe for container `HEALTHCHECK`s in images without curl.

use std::time::Duration;

/// Probe `url`; `Ok` on a 2xx answer within `timeout`, else an error saying what happened.
pub fn run(url: &str, timeout: Duration) -> Result<(), String> {
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
