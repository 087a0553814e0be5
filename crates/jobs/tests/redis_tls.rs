//! `rediss://`: the Redis Streams backend over TLS, against a real `redis-server` that only speaks
//! TLS, with a throwaway CA and server certificate made at test time (see `support`).

mod support;

use std::future::Future;
use std::time::Duration;

use jobs::redis::RedisQueue;
use jobs::{JobStatus, NewJob, QueueConfig, QueueError, QueueStats};
use serde_json::json;
use support::RedisServer;

/// Upper bound on any one test.
const TEST_DEADLINE: Duration = Duration::from_secs(20);

async fn within<F: Future<Output = ()>>(test: F) {
    tokio::time::timeout(TEST_DEADLINE, test)
        .await
        .expect("the test finished within its deadline");
}

fn random_prefix() -> String {
    format!("test:{:016x}:", rand::random::<u64>())
}

/// The URL of `server` with a password in it, to check that no error message prints it (the
/// server requires none: the handshake fails, or succeeds, before any AUTH).
fn url_with_password(server: &RedisServer) -> String {
    format!("rediss://:hunter2@127.0.0.1:{}", server.port())
}

/// The error of a connection that was expected to fail.
async fn refused(connecting: impl Future<Output = Result<RedisQueue, QueueError>>) -> String {
    match connecting.await {
        Err(QueueError::Unavailable(msg)) => msg,
        Err(other) => panic!("expected Unavailable, got {other:?}"),
        Ok(_) => panic!("expected the connection to be refused"),
    }
}

#[tokio::test]
async fn a_job_round_trips_over_tls_when_the_servers_ca_is_trusted() {
    within(async {
        let server = RedisServer::tls().await;
        assert!(server.url().starts_with("rediss://"), "{}", server.url());
        let queue = RedisQueue::connect_with_root_ca(
            &server.url(),
            &server.ca_cert(),
            &random_prefix(),
            QueueConfig::default(),
        )
        .await
        .unwrap_or_else(|e| panic!("connect over TLS: {e}; server log:\n{}", server.log()));
        queue.ping().await.expect("PING over TLS");

        let enqueued = queue
            .enqueue(NewJob {
                kind: "echo".to_owned(),
                payload: json!({ "over": "tls" }),
                idempotency_key: None,
                traceparent: None,
            })
            .await
            .expect("enqueue");
        // `reserve` uses its own (blocking) connection: TLS too.
        let mut got = queue
            .reserve("worker-a", 1, Duration::from_secs(1))
            .await
            .expect("reserve");
        assert_eq!(got.len(), 1);
        let delivery = got.remove(0);
        assert_eq!(delivery.record.id, enqueued.id);
        queue
            .ack(&delivery, json!({ "echoed": "tls" }))
            .await
            .expect("ack");

        let done = queue.get(&enqueued.id).await.expect("get");
        assert_eq!(done.status, JobStatus::Succeeded);
        assert_eq!(done.result, Some(json!({ "echoed": "tls" })));
        assert_eq!(
            queue.stats().await.expect("stats"),
            QueueStats {
                depth: 0,
                pending: 0,
                dead: 0
            }
        );
    })
    .await;
}

#[tokio::test]
async fn a_certificate_from_an_untrusted_ca_is_refused_with_a_clear_error() {
    within(async {
        let server = RedisServer::tls().await;

        // The system root store does not hold the test CA.
        let msg = refused(RedisQueue::connect(
            &url_with_password(&server),
            &random_prefix(),
            QueueConfig::default(),
        ))
        .await;
        assert!(
            msg.contains("invalid peer certificate") && msg.contains("UnknownIssuer"),
            "{msg}"
        );
        assert!(!msg.contains("hunter2"), "the password leaked: {msg}");

        // Another CA, trusted explicitly, did not sign the server certificate either.
        let other = tempfile::tempdir().expect("tempdir");
        let other_ca = std::fs::read(support::make_ca(other.path(), "other-ca")).expect("read");
        let msg = refused(RedisQueue::connect_with_root_ca(
            &url_with_password(&server),
            &other_ca,
            &random_prefix(),
            QueueConfig::default(),
        ))
        .await;
        assert!(
            msg.contains("invalid peer certificate") && msg.contains("UnknownIssuer"),
            "{msg}"
        );
        assert!(!msg.contains("hunter2"), "the password leaked: {msg}");
    })
    .await;
}

#[tokio::test]
async fn plain_text_to_a_tls_port_and_a_ca_with_a_plain_url_are_refused() {
    within(async {
        let server = RedisServer::tls().await;
        let plain = format!("redis://127.0.0.1:{}", server.port());
        refused(RedisQueue::connect(
            &plain,
            &random_prefix(),
            QueueConfig::default(),
        ))
        .await;

        let msg = refused(RedisQueue::connect_with_root_ca(
            &plain,
            &server.ca_cert(),
            &random_prefix(),
            QueueConfig::default(),
        ))
        .await;
        assert!(msg.contains("rediss://"), "{msg}");
    })
    .await;
}
