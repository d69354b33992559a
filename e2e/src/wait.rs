//! Polling with a deadline: the only way these tests wait for something to happen.

use anyhow::{Result, bail};
use std::{future::Future, time::Duration};
use tokio::time::Instant;

/// How long a test waits for mail to cross Postfix, the milter and the sink.
pub const DELIVERY_TIMEOUT: Duration = Duration::from_secs(30);

/// Calls `check` until it yields `Some`, failing with `what` once `timeout` has passed.
pub async fn poll_until<T, F, Fut>(what: &str, timeout: Duration, mut check: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Option<T>>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = check().await? {
            return Ok(value);
        }
        if Instant::now() >= deadline {
            bail!("timed out after {timeout:?} waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}
