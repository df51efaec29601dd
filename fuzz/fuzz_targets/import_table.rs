//! The survey import on any bytes, read as CSV, as a workbook and as a Kumu blueprint: never a panic; every row
//! number is a real row (after the header, increasing); and a plan made from what was read
//! (its first sheet as the wave and as the actors) is refused with problems, or is made of
//! events the interchange format accepts.
#![no_main]

use libfuzzer_sys::fuzz_target;
use shiftlog::{parse_input, Engine, KnownAt, PlaceId, Snapshot};
use shiftlog_import::{as_wave, plan_wave, read_blueprint, read_csv, read_workbook, KumuFields, SurveyWave, Table};
use std::sync::LazyLock;

/// The network a wave is compared with: a registered place with two actors and one
/// relationship, made once.
static AT_WAVE: LazyLock<Snapshot> = LazyLock::new(|| {
    let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    rt.block_on(async {
        let engine = Engine::in_memory();
        let input = "{\"type\":\"place_registered\",\"id\":\"1\",\"occurred_at\":\"2024-01-01\",\"place\":\"p\",\"name\":\"P\"}\n\
            {\"type\":\"actor_joined\",\"id\":\"2\",\"occurred_at\":\"2024-01-02\",\"place\":\"p\",\"actor\":\"a\",\"kind\":\"group\"}\n\
            {\"type\":\"actor_joined\",\"id\":\"3\",\"occurred_at\":\"2024-01-02\",\"place\":\"p\",\"actor\":\"b\",\"kind\":\"group\"}\n\
            {\"type\":\"relationship_formed\",\"id\":\"4\",\"occurred_at\":\"2024-01-03\",\"place\":\"p\",\"from\":\"a\",\"to\":\"b\",\"kind\":\"trust\"}\n";
        engine.ingest(parse_input(input), &[]).await.unwrap();
        let place = PlaceId::new("p").unwrap();
        engine.snapshot(&place, "2024-02-01".parse().unwrap(), KnownAt::Everything).await.unwrap()
    })
});

fn check(table: &Table) {
    check_wave(table, table);
}

fn check_wave(table: &Table, actors: &Table) {
    let mut last = 0;
    for row in &table.rows {
        assert!(row.number > last, "row numbers increase");
        last = row.number;
    }
    let place = PlaceId::new("p").unwrap();
    let wave = SurveyWave {
        place: &place,
        wave: "2024-03-01".parse().unwrap(),
        relationships: table,
        actors: Some(actors),
        recorded_by: Some("fuzz"),
        source: "fuzz",
    };
    if let Ok(plan) = plan_wave(&wave, &AT_WAVE) {
        let parsed = parse_input(&plan.ndjson());
        assert!(
            parsed.rejections.is_empty(),
            "a planned event the format rejects: {:?}",
            parsed.rejections
        );
        assert_eq!(parsed.events.len(), plan.events.len());
    }
}

fuzz_target!(|data: &[u8]| {
    // As a Kumu blueprint, read as a wave.
    if let Ok(map) = read_blueprint("fuzz.json", data) {
        if let Ok((relationships, actors)) = as_wave(&map, &KumuFields::default()) {
            check_wave(&relationships, &actors);
        }
    }
    if let Ok(t) = read_csv("fuzz.csv", data) {
        check(&t);
    }
    // read_workbook catches a panic of the workbook reader (calamine) and reports the
    // file as damaged; libFuzzer's hook would abort on that panic before it is caught, so
    // it is silenced for the call. A panic escaping read_workbook still crashes the run.
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let read = std::panic::catch_unwind(|| read_workbook("fuzz.xlsx", data.to_vec()));
    std::panic::set_hook(hook);
    let read = read.unwrap_or_else(|_| panic!("read_workbook panicked"));
    if let Ok(ts) = read {
        for t in &ts {
            check(t);
        }
    }
});
