//! The recording page in a real headless Chromium (see `browser/mod.rs`): a recorder
//! records a session (five who came, two still missing, two learning notes) and the
//! dashboard then counts it; a relationship with someone who had not joined by its date is
//! refused beside its field with nothing written; a double submit writes once; a record
//! kept across a reload is written once; a retraction from the timeline takes the event
//! out of the snapshot; a correction swaps an event for another in one batch; a funder
//! sees no recording controls.

mod browser;

use browser::{screenshot, wait_for};
use fantoccini::{key::Key, Client, Locator};
use serde_json::{json, Value};
use shiftlog::{Every, KnownAt, PlaceId, Position, Timestamp};
use shiftlog_server::tokens::Role;
use std::collections::BTreeSet;
use std::path::Path;
use std::time::Instant;

const PLACE: &str = "ashford-vale";
const DAY: &str = "2025-06-10";

async fn set(client: &Client, id: &str, value: &str) {
    // Date inputs take keys in the locale's order; setting the value and saying so is
    // what a picked date does.
    client
        .execute(
            "const e = document.getElementById(arguments[0]); e.value = arguments[1]; \
             e.dispatchEvent(new Event('input', {bubbles: true})); e.dispatchEvent(new Event('change', {bubbles: true}));",
            vec![json!(id), json!(value)],
        )
        .await
        .unwrap();
}

async fn typed(client: &Client, css: &str, text: &str) {
    let e = client.find(Locator::Css(css)).await.unwrap();
    e.clear().await.unwrap();
    e.send_keys(text).await.unwrap();
}

async fn pick(client: &Client, css: &str, value: &str) {
    client
        .find(Locator::Css(css))
        .await
        .unwrap()
        .select_by_value(value)
        .await
        .unwrap();
}

async fn click(client: &Client, css: &str) {
    client.find(Locator::Css(css)).await.unwrap().click().await.unwrap();
}

async fn status(client: &Client) -> String {
    client
        .find(Locator::Css("#status"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// Waits until the status line says something new that starts with `prefix`.
async fn recorded(client: &Client, what: &str) {
    wait_for(
        client,
        what,
        "document.getElementById('status').textContent.startsWith('Recorded') || \
         document.getElementById('status').textContent.startsWith('Already')",
    )
    .await;
}

async fn clear_status(client: &Client) {
    client
        .execute("document.getElementById('status').textContent = '';", vec![])
        .await
        .unwrap();
}

async fn login(client: &Client, base: &str, page: &str, token: &str) {
    client.goto(&format!("{base}{page}")).await.unwrap();
    typed(client, "#token", token).await;
    click(client, "#connect").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_recorder_records_a_session_and_the_dashboard_shows_it() {
    if !browser::available() {
        return;
    }
    let server = browser::ExampleServer::start().await;
    let recorder = server.token(Role::Recorder, &[PLACE]).await;
    let funder = server.token(Role::Funder, &[]).await;
    let (engine, base) = (server.engine.clone(), server.base.clone());
    let place = PlaceId::new(PLACE).unwrap();
    let browser = browser::start(1280, 1400).await;
    let client = browser.client.clone();

    // The recorder opens the page: only its place is offered.
    login(&client, &base, "/record", &recorder).await;
    wait_for(
        &client,
        "the roster",
        "document.querySelectorAll('#roster option').length > 0",
    )
    .await;
    let places = client.find_all(Locator::Css("#place option")).await.unwrap().len();
    assert_eq!(places, 1, "a recorder is offered its places only");

    // ---- A session: five who came (typed, as people do), two still missing, two notes.
    set(&client, "s-date", DAY).await;
    wait_for(
        &client,
        "the roster on the session's date",
        &format!("state.rosterAt.session === '{DAY}'"),
    )
    .await;
    let came = ["av-council", "av-cvs", "av-icb", "av-foodbank", "av-coord"];
    for a in came {
        typed(&client, "#s-participant", a).await;
        click(&client, "#s-participant-add").await;
    }
    // Someone not in the place on that date is not added.
    typed(&client, "#s-participant", "nobody-here").await;
    click(&client, "#s-participant-add").await;
    let said = client
        .find(Locator::Css("#s-participants-error"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(said.contains("is not part of the place"), "{said}");
    for voice in ["young carers", "bus drivers"] {
        typed(&client, "#s-absent", voice).await;
        client
            .find(Locator::Css("#s-absent"))
            .await
            .unwrap()
            .send_keys(&Key::Enter.to_string())
            .await
            .unwrap();
    }
    typed(&client, "#s-title", "Summer sensemaking").await;
    typed(&client, "#s-note-0-text", "The food bank now shares its referral data.").await;
    click(&client, "#s-note-0-tags input[value=structures_actors_networks]").await;
    click(&client, "#s-note-add").await;
    typed(&client, "#s-note-1-text", "Young people were talked about, not with.").await;
    click(&client, "#s-note-1-tags input[value=power_participation_relationships]").await;
    click(&client, "#s-note-1-tags input[value=learning_journey]").await;
    screenshot(&client, "record-session.png").await;

    let before = engine.head();
    let pressed = Instant::now();
    click(&client, "#s-record").await;
    recorded(&client, "the session to be recorded").await;
    let to_recorded = pressed.elapsed();
    assert_eq!(engine.head().0, before.0 + 3, "one session and two notes, in one batch");
    let written = engine.read(Position(before.0 + 1), 10).await.unwrap();
    let session = written[0].to_json();
    assert_eq!(session["type"], "session_held");
    let participants: BTreeSet<&str> = session["participants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(participants, came.into_iter().collect());
    assert_eq!(session["absent_voices"], json!(["young carers", "bus drivers"]));
    assert_eq!(session["title"], "Summer sensemaking");
    for (note, tags) in written[1..].iter().zip([
        json!(["structures_actors_networks"]),
        json!(["power_participation_relationships", "learning_journey"]),
    ]) {
        let note = note.to_json();
        assert_eq!(note["type"], "learning_recorded");
        assert_eq!(note["session"], session["session"], "notes are linked to their session");
        assert_eq!(note["tags"], tags);
    }
    // The form is ready for the next session.
    let chips = client.find_all(Locator::Css("#s-participants li")).await.unwrap().len();
    assert_eq!(chips, 0);

    // ---- Refused: a relationship, dated before one side joined; shown beside that field.
    clear_status(&client).await;
    pick(&client, "#o-type", "relationship_formed").await;
    set(&client, "o-date", "2024-03-01").await;
    typed(&client, "#o-from", "av-council").await;
    typed(&client, "#o-to", "av-youth").await; // joins on 2024-06-17
    pick(&client, "#o-kind", "collaboration").await;
    let head = engine.head();
    click(&client, "#o-record").await;
    let beside = wait_for(
        &client,
        "the error beside `to`",
        "document.getElementById('o-to-error').textContent",
    )
    .await;
    assert!(beside.as_str().unwrap().contains("av-youth"), "{beside}");
    let invalid = client
        .find(Locator::Css("#o-to"))
        .await
        .unwrap()
        .attr("aria-invalid")
        .await
        .unwrap();
    assert_eq!(invalid.as_deref(), Some("true"));
    assert_eq!(engine.head(), head, "a refused record wrote");
    screenshot(&client, "record-refused.png").await;

    // ---- Put right, and pressed twice: written once.
    set(&client, "o-date", DAY).await;
    wait_for(
        &client,
        "the roster on the new date",
        &format!("state.rosterAt.one === '{DAY}'"),
    )
    .await;
    typed(&client, "#o-from", "av-tenants").await;
    typed(&client, "#o-to", "av-disability").await;
    client
        .execute(
            "const b = document.getElementById('o-record'); b.click(); b.click();",
            vec![],
        )
        .await
        .unwrap();
    recorded(&client, "the relationship to be recorded").await;
    assert_eq!(engine.head().0, head.0 + 1, "a double submit wrote once");
    let formed = engine.read(Position(head.0 + 1), 1).await.unwrap()[0].clone();
    let formed_id = formed.id().as_str().to_string();
    let at: Timestamp = DAY.parse().unwrap();
    let has = |snap: &shiftlog::projection::Snapshot| {
        snap.relationships
            .iter()
            .any(|r| r.from == "av-tenants" && r.to == "av-disability" && r.kind == "collaboration")
    };
    assert!(has(&engine.snapshot(&place, at, KnownAt::Everything).await.unwrap()));

    // ---- A record being sent when the page closed is sent on the next visit, once.
    let kept = json!({"place": PLACE, "batch": [{"type": "learning_recorded", "id": "rec-kept-0",
        "occurred_at": DAY, "place": PLACE, "text": "Kept across a reload."}]});
    for _ in 0..2 {
        client
            .execute(
                "localStorage.setItem('shiftlog-pending', JSON.stringify(arguments[0]));",
                vec![kept.clone()],
            )
            .await
            .unwrap();
        client.refresh().await.unwrap();
        wait_for(
            &client,
            "the kept record to be sent",
            "localStorage.getItem('shiftlog-pending') === null",
        )
        .await;
    }
    assert_eq!(engine.head().0, head.0 + 2, "the kept record was written once");

    // ---- The timeline: newest first; retract the relationship from there.
    wait_for(
        &client,
        "the timeline",
        &format!("document.querySelector('#timeline li[data-id=\"{formed_id}\"] button.retract')"),
    )
    .await;
    let first = client
        .find(Locator::Css("#timeline li time"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let latest = engine
        .read_place(&place, Position(1), 10_000)
        .await
        .unwrap()
        .iter()
        .map(|r| r.event.occurred_at.to_string()[..10].to_string())
        .max()
        .unwrap();
    assert_eq!(first, latest, "newest first");
    let head = engine.head();
    click(
        &client,
        &format!("#timeline li[data-id=\"{formed_id}\"] button.retract"),
    )
    .await;
    let reason = format!("#r-{formed_id}");
    // No reason, no retraction.
    click(
        &client,
        &format!("#timeline li[data-id=\"{formed_id}\"] .retract-form button"),
    )
    .await;
    assert_eq!(engine.head(), head);
    typed(&client, &reason, "Recorded against the wrong place").await;
    click(
        &client,
        &format!("#timeline li[data-id=\"{formed_id}\"] .retract-form button"),
    )
    .await;
    recorded(&client, "the retraction").await;
    assert_eq!(engine.head().0, head.0 + 1);
    assert!(
        !has(&engine.snapshot(&place, at, KnownAt::Everything).await.unwrap()),
        "the retracted relationship is still in the snapshot"
    );
    wait_for(
        &client,
        "the retracted entry struck through",
        &format!("document.querySelector('#timeline li.retracted[data-id=\"{formed_id}\"]')"),
    )
    .await;

    client
        .execute("document.getElementById('timeline-title').scrollIntoView();", vec![])
        .await
        .unwrap();
    screenshot(&client, "record-timeline.png").await;

    // ---- A correction: the session's first note, with other words, in one batch.
    let note_id = written[1].id().as_str().to_string();
    clear_status(&client).await;
    click(&client, &format!("#timeline li[data-id=\"{note_id}\"] button.correct")).await;
    wait_for(
        &client,
        "the note in the form",
        "document.getElementById('o-text') && document.getElementById('o-text').value",
    )
    .await;
    typed(
        &client,
        "#o-text",
        "The food bank and the council now share referral data.",
    )
    .await;
    typed(&client, "#o-reason", "Both share it, not only the food bank").await;
    let head = engine.head();
    click(&client, "#o-record").await;
    recorded(&client, "the correction").await;
    let swap = engine.read(Position(head.0 + 1), 10).await.unwrap();
    assert_eq!(swap.len(), 2, "a retraction and the corrected note, together");
    let (retraction, corrected) = (swap[0].to_json(), swap[1].to_json());
    assert_eq!(
        (&retraction["type"], &retraction["target"]),
        (&json!("event_retracted"), &json!(note_id))
    );
    assert_eq!(
        corrected["text"],
        "The food bank and the council now share referral data."
    );
    assert_eq!(
        corrected["tags"],
        json!(["structures_actors_networks"]),
        "the rest of the note kept"
    );
    assert_eq!(corrected["occurred_at"], written[1].to_json()["occurred_at"]);

    // ---- Every single-record form: each control has a name a screen reader reads out.
    let types: Value = client
        .execute(
            "return [...document.querySelectorAll('#o-type option')].map(o => o.value);",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(types.as_array().unwrap().len(), 9, "{types}");
    for t in types.as_array().unwrap() {
        client
            .find(Locator::Css("#o-type"))
            .await
            .unwrap()
            .select_by_value(t.as_str().unwrap())
            .await
            .unwrap();
        let unnamed = client
            .execute(
                "return [...document.querySelectorAll('main input, main select, main textarea')]\
                 .filter(e => e.offsetParent !== null && e.type !== 'hidden')\
                 .filter(e => !(e.labels && e.labels.length) && !e.getAttribute('aria-label'))\
                 .map(e => e.id);",
                vec![],
            )
            .await
            .unwrap();
        assert_eq!(unnamed, json!([]), "controls without a label in the {t} form");
    }
    // A power shift shows what the giver holds on the date.
    pick(&client, "#o-type", "power_shifted").await;
    typed(&client, "#o-from", "northern-futures-fund").await;
    typed(&client, "#o-domain", "budget").await;
    let holding = wait_for(
        &client,
        "the giver's holding",
        "document.getElementById('o-holding').textContent",
    )
    .await;
    let snap = engine.snapshot(&place, at, KnownAt::Everything).await.unwrap();
    let fund = snap.actors.iter().find(|a| a.id == "northern-futures-fund").unwrap();
    assert_eq!(
        holding,
        json!(format!(
            "Northern Futures Fund holds {} of budget on {DAY}.",
            (fund.power["budget"] * 1000.0).round() / 1000.0
        )),
    );

    // ---- A file: checked (nothing written), then recorded through the import route.
    let wave = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/data/survey/wave-1.xlsx");
    set(&client, "u-date", DAY).await;
    client
        .find(Locator::Css("#u-file"))
        .await
        .unwrap()
        .send_keys(wave.canonicalize().unwrap().to_str().unwrap())
        .await
        .unwrap();
    clear_status(&client).await;
    let head = engine.head();
    click(&client, "#u-check").await;
    let said = wait_for(
        &client,
        "the check of the file",
        "document.getElementById('status').textContent && \
         document.getElementById('status').textContent + ' ' + document.getElementById('u-problems').textContent",
    )
    .await;
    // The wave is a whole observation: its 6 actors join, its 5 relationships form, and
    // the place's relationships of its kinds that it does not hold end.
    let said = said.as_str().unwrap();
    assert!(
        said.starts_with("The file is fine: it would record 6 × someone joins the place"),
        "{said}"
    );
    assert!(said.contains("5 × a relationship forms"), "{said}");
    let planned: u64 = said
        .split(" × ")
        .filter_map(|part| part.rsplit(' ').next()?.parse::<u64>().ok())
        .sum();
    assert_eq!(engine.head(), head, "checking a file wrote");
    clear_status(&client).await;
    click(&client, "#u-record").await;
    wait_for(
        &client,
        "the file to be recorded",
        "document.getElementById('status').textContent.startsWith('Recorded from the file')",
    )
    .await;
    assert_eq!(
        engine.head().0,
        head.0 + planned,
        "what the check said is what was recorded"
    );

    // ---- The dashboard counts the session at its month's end.
    let recorded_head = engine.head();
    let pid = place.clone();
    let series = engine
        .evolve(Some(&pid), Every::Month, None, None, KnownAt::Everything)
        .await
        .unwrap();
    let earlier = engine
        .evolve(Some(&pid), Every::Month, None, None, KnownAt::Position(before.0))
        .await
        .unwrap();
    let step = series[PLACE]
        .iter()
        .position(|s| s.at.to_string().starts_with("2025-06-30"))
        .unwrap();
    let (now, then) = (&series[PLACE][step].metrics, &earlier[PLACE][step].metrics);
    assert_eq!(now.sessions, then.sessions + 1);
    assert!(
        now.absent_voices > then.absent_voices,
        "the two missing voices are counted"
    );
    let opened = Instant::now();
    client.goto(&format!("{base}/")).await.unwrap();
    wait_for(
        &client,
        "the dashboard's network",
        &format!("document.querySelector('#network svg[data-place=\"{PLACE}\"]')"),
    )
    .await;
    client
        .execute(
            "const s = document.getElementById('slider'); s.value = arguments[0]; s.dispatchEvent(new Event('input'));",
            vec![json!(step)],
        )
        .await
        .unwrap();
    let at = series[PLACE][step].at.to_string();
    wait_for(
        &client,
        "the session's month",
        &format!("document.getElementById('network').dataset.at === '{at}'"),
    )
    .await;
    let to_dashboard = opened.elapsed();
    let shown: Value = client
        .execute(
            "const out = {}; for (const r of document.querySelectorAll('#metrics tr')) out[r.cells[0].textContent] = r.cells[1].textContent; return out;",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(shown["sessions"], json!(now.sessions.to_string()), "{shown}");
    assert_eq!(shown["absent voices"], json!(now.absent_voices.to_string()), "{shown}");
    assert_eq!(shown["actors"], json!(now.actors.to_string()), "{shown}");
    eprintln!(
        "record → dashboard: {} ms from pressing Record to the page saying so; {} ms to open the dashboard at that month",
        to_recorded.as_millis(),
        to_dashboard.as_millis()
    );
    assert_eq!(engine.head(), recorded_head);

    // ---- A funder sees no recording controls.
    client.goto(&format!("{base}/record")).await.unwrap();
    typed(&client, "#token", &funder).await;
    click(&client, "#connect").await;
    wait_for(
        &client,
        "the read-only notice",
        "!document.getElementById('readonly').hidden",
    )
    .await;
    let controls = client
        .execute(
            "return [...document.querySelectorAll('form#session, form#one, form#upload, #timeline button')]\
             .filter(e => e.offsetParent !== null).length;",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(controls, json!(0), "a funder saw recording controls");
    assert_eq!(status(&client).await, "");

    // ---- Narrow screens: the page at 375 px has no sideways scrolling.
    client.set_window_size(375, 900).await.unwrap();
    login(&client, &base, "/record", &recorder).await;
    wait_for(
        &client,
        "the roster",
        "document.querySelectorAll('#roster option').length > 0",
    )
    .await;
    let wide = client
        .execute(
            "return document.documentElement.scrollWidth <= window.innerWidth;",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(wide, json!(true), "the page scrolls sideways at 375 px");
    screenshot(&client, "record-375.png").await;

    client.close().await.unwrap();
    drop(browser);
    server.stop().await;
}
