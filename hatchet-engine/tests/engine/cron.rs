//! Cron triggers fire on the engine clock.

use std::time::{Duration, SystemTime};

use hatchet_rs::testing::TestEngine;

use crate::support::{Raw, single};

#[tokio::test]
async fn cron_fires_on_the_manual_clock() {
    // 30 s past a whole minute (1_800_000_000 is a multiple of 60): the next fire is 30 s away.
    let start = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_030);
    let engine = TestEngine::builder()
        .manual_clock_at(start)
        .start()
        .await
        .unwrap();
    let mut request = single("ticker");
    request.cron_triggers = vec!["* * * * *".to_owned()];
    request.cron_input = Some(r#"{"from":"cron"}"#.to_owned());
    Raw::new(&engine).await.register(request).await;
    engine.clock().advance(Duration::from_secs(29));
    assert!(engine.runs().is_empty());
    engine.clock().advance(Duration::from_secs(1));
    let runs = engine.runs();
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].origin, "cron");
    assert_eq!(runs[0].input, serde_json::json!({"from": "cron"}));
    assert_eq!(runs[0].metadata["hatchet__cron_expression"], "* * * * *");
    engine.clock().advance(Duration::from_secs(120));
    assert_eq!(
        engine.runs().len(),
        2,
        "missed fire times collapse into one run"
    );
    engine.clock().advance(Duration::from_secs(60));
    assert_eq!(engine.runs().len(), 3);
}
