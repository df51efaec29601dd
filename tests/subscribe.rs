//! Catch-up subscriptions deliver every event exactly once, in order, across the hand-over
//! from reading the log to following it live, however slow the subscriber.

use shiftlog::{parse_input, Engine, Position};

fn events(writer: usize, n: usize) -> String {
    let place = format!("p{writer}");
    let mut out = format!(
        "{{\"type\":\"place_registered\",\"id\":\"{place}-0\",\"occurred_at\":\"2024-01-01\",\"place\":\"{place}\",\"name\":\"P\"}}\n"
    );
    for i in 1..n {
        out.push_str(&format!(
            "{{\"type\":\"actor_joined\",\"id\":\"{place}-{i}\",\"occurred_at\":\"2024-01-02\",\"place\":\"{place}\",\"actor\":\"{place}-a{i}\",\"kind\":\"person\"}}\n"
        ));
    }
    out
}

async fn follow(engine: Engine, from: u64, until: u64, slow: bool) -> Vec<(u64, String)> {
    let mut sub = engine.subscribe(Position(from));
    let mut seen = Vec::new();
    while seen.last().is_none_or(|(p, _)| *p < until) {
        let e = sub.next().await.unwrap();
        if slow && e.position.0 % 97 == 0 {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        seen.push((e.position.0, e.id().to_string()));
    }
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn subscribers_see_exactly_the_log_while_writers_append() {
    let dir = tempfile::tempdir().unwrap();
    let engine = Engine::open(dir.path()).unwrap();
    // Something to catch up on first.
    engine.ingest(parse_input(&events(99, 50)), &[]).await.unwrap();
    const WRITERS: usize = 4;
    const EACH: usize = 500;
    let total = 50 + (WRITERS * EACH) as u64;
    let followers = [
        tokio::spawn(follow(engine.clone(), 1, total, false)),
        tokio::spawn(follow(engine.clone(), 1, total, true)),
        tokio::spawn(follow(engine.clone(), 30, total, false)),
    ];
    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            let engine = engine.clone();
            tokio::spawn(async move {
                let input = events(w, EACH);
                let lines: Vec<&str> = input.lines().collect();
                for batch in lines.chunks(7) {
                    engine.ingest(parse_input(&batch.join("\n")), &[]).await.unwrap();
                }
            })
        })
        .collect();
    for w in writers {
        w.await.unwrap();
    }
    let log: Vec<(u64, String)> = engine
        .read(Position(1), usize::MAX)
        .await
        .unwrap()
        .iter()
        .map(|r| (r.position.0, r.id().to_string()))
        .collect();
    assert_eq!(log.len() as u64, total);
    let [a, b, c] = followers;
    assert_eq!(a.await.unwrap(), log);
    assert_eq!(b.await.unwrap(), log, "a slow subscriber loses nothing");
    assert_eq!(
        c.await.unwrap(),
        log[29..],
        "a subscription from position 30 starts there"
    );
}

#[tokio::test]
async fn a_caught_up_subscription_waits_and_try_next_does_not() {
    let engine = Engine::in_memory();
    let mut sub = engine.subscribe(Position(1));
    assert!(sub.try_next().await.unwrap().is_none());
    let waiting = tokio::time::timeout(std::time::Duration::from_millis(50), sub.next()).await;
    assert!(waiting.is_err(), "nothing to deliver yet");
    engine.ingest(parse_input(&events(1, 3)), &[]).await.unwrap();
    for want in 1..=3 {
        assert_eq!(sub.next().await.unwrap().position, Position(want));
    }
    assert_eq!(sub.next_position(), Position(4));
    assert!(sub.try_next().await.unwrap().is_none());
}
