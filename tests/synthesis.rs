//! The learning synthesis against a count written from the spec on the raw JSON lines
//! (vocabularies from event-format.md's "Conventional tag vocabularies"), on both example
//! logs: every period's counts, per place and across places, and the texts by area.

use serde_json::{json, Value};
use shiftlog::{parse_input, Engine, Every, KnownAt, PlaceId, Timestamp};
use std::collections::{BTreeMap, BTreeSet};

const AREAS: [&str; 5] = [
    "goals_paradigms_perspectives",
    "structures_actors_networks",
    "power_participation_relationships",
    "learning_journey",
    "roles_functions",
];
const CONDITIONS: [&str; 6] = [
    "policies",
    "practices",
    "resource_flows",
    "relationships_connections",
    "power_dynamics",
    "mental_models",
];
const LADDER: [&str; 8] = [
    "manipulation",
    "therapy",
    "informing",
    "consultation",
    "placation",
    "partnership",
    "delegated_power",
    "citizen_control",
];

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| a.iter().map(|s| s.as_str().unwrap().to_string()).collect())
        .unwrap_or_default()
}

fn quarter(e: &Value) -> (i32, u32) {
    let t: Timestamp = e["occurred_at"].as_str().unwrap().parse().unwrap();
    let d = t.to_string();
    let (y, m): (i32, u32) = (d[..4].parse().unwrap(), d[5..7].parse().unwrap());
    (y, (m - 1) / 3)
}

fn next((y, q): (i32, u32)) -> (i32, u32) {
    if q == 3 {
        (y + 1, 0)
    } else {
        (y, q + 1)
    }
}

/// Per place and across places, each period's counts (JSON shaped like the engine's), and
/// each place's texts by area.
type Expected = (
    Vec<Value>,
    Vec<Value>,
    BTreeMap<String, BTreeMap<String, BTreeSet<String>>>,
);

/// The expected synthesis of every place by quarter.
fn by_hand(text: &str) -> Expected {
    let events: Vec<Value> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let retracted: BTreeSet<&str> = events
        .iter()
        .filter(|e| e["type"] == "event_retracted")
        .map(|e| e["target"].as_str().unwrap())
        .collect();
    let live: Vec<&Value> = events
        .iter()
        .filter(|e| e["place"].is_string() && !retracted.contains(e["id"].as_str().unwrap_or("")))
        .collect();
    // A redaction erases the texts of learning records naming the actor (personal.rs).
    let redacted: BTreeSet<&str> = events
        .iter()
        .filter(|e| e["type"] == "actor_redacted")
        .map(|e| e["actor"].as_str().unwrap())
        .collect();
    let text_of = |e: &Value| -> String {
        if strings(&e["actors"]).iter().any(|a| redacted.contains(a.as_str())) {
            shiftlog::model::ERASED_TEXT.to_string()
        } else {
            e["text"].as_str().unwrap().to_string()
        }
    };
    let first = live.iter().map(|e| quarter(e)).min().unwrap();
    let last = live.iter().map(|e| quarter(e)).max().unwrap();
    let mut quarters = vec![first];
    while *quarters.last().unwrap() != last {
        quarters.push(next(*quarters.last().unwrap()));
    }
    let places: BTreeSet<&str> = live.iter().map(|e| e["place"].as_str().unwrap()).collect();
    let zero = |words: &[&str], untagged: bool| -> BTreeMap<String, u64> {
        let mut m: BTreeMap<String, u64> = words.iter().map(|w| (w.to_string(), 0)).collect();
        if untagged {
            m.insert("untagged".into(), 0);
        }
        m
    };
    let mut per_place = Vec::new();
    let mut texts = BTreeMap::new();
    for place in &places {
        let mut periods = Vec::new();
        let mut by_area: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for q in &quarters {
            let (mut learning, mut outcomes) = (zero(&AREAS, true), zero(&CONDITIONS, true));
            let mut participation = zero(&LADDER, false);
            let (mut space, mut form, mut expression) = (
                zero(&["closed", "invited", "claimed"], true),
                zero(&["visible", "hidden", "invisible"], true),
                zero(&["power_over", "power_with", "power_to", "power_within"], true),
            );
            let (mut shifts, mut amount, mut sessions, mut from_sessions) = (0u64, 0.0f64, 0u64, 0u64);
            let mut voices = BTreeSet::new();
            for e in live.iter().filter(|e| e["place"] == *place && quarter(e) == *q) {
                let tags: BTreeSet<String> = strings(&e["tags"]).into_iter().collect();
                for t in tags.iter().filter(|t| LADDER.contains(&t.as_str())) {
                    *participation.get_mut(t).unwrap() += 1;
                }
                match e["type"].as_str().unwrap() {
                    "learning_recorded" => {
                        let words: BTreeSet<String> = strings(&e["themes"]).into_iter().chain(tags.clone()).collect();
                        let mut areas: Vec<String> =
                            words.into_iter().filter(|w| AREAS.contains(&w.as_str())).collect();
                        if areas.is_empty() {
                            areas.push("untagged".into());
                        }
                        for a in areas {
                            *learning.get_mut(&a).unwrap() += 1;
                            by_area.entry(a).or_default().insert(text_of(e));
                        }
                        from_sessions += u64::from(e["session"].is_string());
                    }
                    "outcome_harvested" => {
                        let mut words: BTreeSet<String> = tags.clone();
                        if let Some(c) = e["condition"].as_str() {
                            words.insert(c.to_string());
                        }
                        let mut cs: Vec<String> =
                            words.into_iter().filter(|w| CONDITIONS.contains(&w.as_str())).collect();
                        if cs.is_empty() {
                            cs.push("untagged".into());
                        }
                        for c in cs {
                            *outcomes.get_mut(&c).unwrap() += 1;
                        }
                    }
                    "power_shifted" => {
                        shifts += 1;
                        amount += e["amount"].as_f64().unwrap();
                        for (field, tally) in [
                            ("space", &mut space),
                            ("form", &mut form),
                            ("expression", &mut expression),
                        ] {
                            *tally.get_mut(e[field].as_str().unwrap_or("untagged")).unwrap() += 1;
                        }
                    }
                    "session_held" => {
                        sessions += 1;
                        voices.extend(strings(&e["absent_voices"]));
                    }
                    _ => {}
                }
            }
            periods.push(json!({
                "learning": learning, "outcomes": outcomes, "participation": participation,
                "power": {"shifts": shifts, "amount": amount, "by_space": space, "by_form": form, "by_expression": expression},
                "sessions": sessions, "absent_voices": voices.len(), "learning_from_sessions": from_sessions,
            }));
        }
        per_place.push(json!({"place": place, "periods": periods}));
        texts.insert(place.to_string(), by_area);
    }
    // Across places: every count added.
    let mut across: Vec<Value> = per_place[0]["periods"].as_array().unwrap().clone();
    for p in &per_place[1..] {
        for (a, x) in across.iter_mut().zip(p["periods"].as_array().unwrap()) {
            add(a, x);
        }
    }
    (per_place, across, texts)
}

fn add(a: &mut Value, b: &Value) {
    match (a, b) {
        (Value::Object(a), Value::Object(b)) => {
            for (k, v) in b {
                add(a.get_mut(k).unwrap(), v);
            }
        }
        (a @ Value::Number(_), Value::Number(b)) => {
            *a = if a.is_u64() && b.is_u64() {
                json!(a.as_u64().unwrap() + b.as_u64().unwrap())
            } else {
                json!(a.as_f64().unwrap() + b.as_f64().unwrap())
            };
        }
        _ => panic!("shapes differ"),
    }
}

/// A period without its dates (checked apart), amounts rounded (sums in another order).
fn counts(p: &Value) -> Value {
    let mut p = p.clone();
    let o = p.as_object_mut().unwrap();
    o.remove("from");
    o.remove("to");
    let amount = o["power"]["amount"].as_f64().unwrap();
    o.get_mut("power").unwrap()["amount"] = json!((amount * 1e9).round() / 1e9);
    p
}

#[tokio::test]
async fn the_synthesis_counts_what_the_spec_says() {
    for text in [
        include_str!("../examples/data/worked-example.ndjson"),
        include_str!("../examples/data/generated-inquiry.ndjson"),
    ] {
        let engine = Engine::in_memory();
        engine.ingest(parse_input(text), &[]).await.unwrap();
        let s = engine
            .synthesis(&[], Every::Quarter, None, None, KnownAt::Everything, true)
            .await
            .unwrap();
        let got = serde_json::to_value(&s).unwrap();
        let (places, across, texts) = by_hand(text);
        assert_eq!(got["places"].as_array().unwrap().len(), places.len());
        let mut learned = 0;
        for (g, w) in got["places"].as_array().unwrap().iter().zip(&places) {
            assert_eq!(g["place"], w["place"]);
            let (gp, wp) = (g["periods"].as_array().unwrap(), w["periods"].as_array().unwrap());
            assert_eq!(gp.len(), wp.len(), "{}: quarters", w["place"]);
            for (i, (x, y)) in gp.iter().zip(wp).enumerate() {
                assert_eq!(counts(x), counts(y), "{} quarter {i}", w["place"]);
            }
            // Texts by area: the same texts, in time order.
            let want = &texts[w["place"].as_str().unwrap()];
            let got_texts: BTreeMap<String, BTreeSet<String>> = g["texts"]
                .as_object()
                .unwrap()
                .iter()
                .map(|(area, items)| {
                    let ats: Vec<&str> = items
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|t| t["at"].as_str().unwrap())
                        .collect();
                    assert!(ats.is_sorted(), "{area}: in time order");
                    let set = items
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|t| t["text"].as_str().unwrap().to_string());
                    (area.clone(), set.collect())
                })
                .collect();
            assert_eq!(&got_texts, want, "{}: texts by area", w["place"]);
            learned += want.values().map(BTreeSet::len).sum::<usize>();
        }
        assert!(learned > 0, "the logs hold learning");
        let ga = got["across"].as_array().unwrap();
        assert_eq!(ga.len(), across.len());
        for (x, y) in ga.iter().zip(&across) {
            assert_eq!(counts(x), counts(y), "across places");
        }
        // Consecutive periods: quarters, back to back.
        for w in ga.windows(2) {
            let (end, start): (Timestamp, Timestamp) = (
                w[0]["to"].as_str().unwrap().parse().unwrap(),
                w[1]["from"].as_str().unwrap().parse().unwrap(),
            );
            assert!(end < start);
            assert!(end.to_string().ends_with("T23:59:59.999999999Z"), "{end}");
            assert!(start.to_string().ends_with("T00:00:00Z"), "{start}");
        }
    }
}

#[tokio::test]
async fn without_texts_nothing_of_a_text_is_read_or_sent() {
    let engine = Engine::in_memory();
    let text = include_str!("../examples/data/worked-example.ndjson");
    engine.ingest(parse_input(text), &[]).await.unwrap();
    let place = PlaceId::new("fenwick-cross").unwrap();
    let s = engine
        .synthesis(
            std::slice::from_ref(&place),
            Every::Year,
            None,
            None,
            KnownAt::Everything,
            false,
        )
        .await
        .unwrap();
    let out = serde_json::to_string(&s).unwrap();
    assert!(!out.contains("\"texts\""), "{out}");
    for line in text
        .lines()
        .filter(|l| l.contains("learning_recorded") && l.contains("fenwick-cross"))
    {
        let e: Value = serde_json::from_str(line).unwrap();
        assert!(!out.contains(e["text"].as_str().unwrap()));
    }
    // A place the log does not hold is an error, not an empty synthesis.
    let missing = PlaceId::new("nowhere").unwrap();
    assert!(engine
        .synthesis(&[missing], Every::Year, None, None, KnownAt::Everything, false)
        .await
        .is_err());
}

#[tokio::test]
async fn a_hand_built_inquiry_reads_as_written() {
    let log = r#"
{"type":"place_registered","id":"h1","occurred_at":"2024-01-01","place":"h","name":"H"}
{"type":"actor_joined","id":"h2","occurred_at":"2024-01-02","place":"h","actor":"a","kind":"organisation","power":{"budget":1}}
{"type":"actor_joined","id":"h3","occurred_at":"2024-01-02","place":"h","actor":"b","kind":"group"}
{"type":"session_held","id":"h4","occurred_at":"2024-02-01","place":"h","session":"s1","title":"First circle","participants":["a","b"],"absent_voices":["young people","carers"]}
{"type":"learning_recorded","id":"h5","occurred_at":"2024-02-01","place":"h","text":"only in tags","tags":["roles_functions","partnership"],"session":"s1"}
{"type":"learning_recorded","id":"h6","occurred_at":"2024-02-02","place":"h","text":"two areas","themes":["learning_journey","not_an_area"],"tags":["structures_actors_networks"]}
{"type":"learning_recorded","id":"h7","occurred_at":"2024-02-03","place":"h","text":"no area"}
{"type":"learning_recorded","id":"h8","occurred_at":"2024-02-04","place":"h","text":"taken back","themes":["learning_journey"]}
{"type":"event_retracted","id":"h9","occurred_at":"2024-02-05","target":"h8","reason":"wrong place"}
{"type":"outcome_harvested","id":"h10","occurred_at":"2024-04-01","place":"h","description":"d","actors":["b"],"tags":["mental_models"],"condition":"practices"}
{"type":"outcome_harvested","id":"h11","occurred_at":"2024-04-02","place":"h","description":"d","actors":["b"]}
{"type":"power_shifted","id":"h12","occurred_at":"2024-04-03","place":"h","domain":"budget","amount":0.25,"from":"a","to":"b","space":"claimed","expression":"power_with","tags":["delegated_power"]}
{"type":"session_held","id":"h13","occurred_at":"2024-05-01","place":"h","session":"s2","participants":["a"],"absent_voices":["carers"]}
"#;
    let engine = Engine::in_memory();
    let input = parse_input(log);
    assert!(input.rejections.is_empty(), "{:?}", input.rejections);
    engine.ingest(input, &[]).await.unwrap();
    let s = engine
        .synthesis(&[], Every::Quarter, None, None, KnownAt::Everything, true)
        .await
        .unwrap();
    let p = &s.places[0];
    assert_eq!(p.periods.len(), 2, "two quarters");
    let (q1, q2) = (&p.periods[0], &p.periods[1]);
    let used = |t: &BTreeMap<&'static str, u64>| -> Vec<(&'static str, u64)> {
        t.iter().filter(|(_, &n)| n > 0).map(|(&k, &n)| (k, n)).collect()
    };
    assert_eq!(
        used(&q1.learning),
        [
            ("learning_journey", 1),
            ("roles_functions", 1),
            ("structures_actors_networks", 1),
            ("untagged", 1)
        ]
    );
    assert_eq!((q1.sessions, q1.absent_voices, q1.learning_from_sessions), (1, 2, 1));
    assert_eq!(used(&q1.participation), [("partnership", 1)]);
    assert_eq!(
        used(&q2.outcomes),
        [("mental_models", 1), ("practices", 1), ("untagged", 1)]
    );
    assert_eq!((q2.power.shifts, q2.power.amount), (1, 0.25));
    assert_eq!(used(&q2.power.by_space), [("claimed", 1)]);
    assert_eq!(used(&q2.power.by_form), [("untagged", 1)]);
    assert_eq!(used(&q2.power.by_expression), [("power_with", 1)]);
    assert_eq!(used(&q2.participation), [("delegated_power", 1)]);
    assert_eq!((q2.sessions, q2.absent_voices), (1, 1));
    let texts = p.texts.as_ref().unwrap();
    let first = &texts["roles_functions"][0];
    assert_eq!(first.text, "only in tags");
    assert_eq!(
        (first.session.as_deref(), first.session_title.as_deref()),
        (Some("s1"), Some("First circle"))
    );
    assert_eq!(texts["untagged"][0].text, "no area");
    assert!(
        texts.values().flatten().all(|t| t.text != "taken back"),
        "a retracted record is not read"
    );
    // From a later date: the first quarter is left out; to an earlier one, the second.
    let later = engine
        .synthesis(
            &[],
            Every::Quarter,
            Some("2024-04-01".parse().unwrap()),
            None,
            KnownAt::Everything,
            false,
        )
        .await
        .unwrap();
    assert_eq!(later.places[0].periods.len(), 1);
    assert_eq!(later.places[0].periods[0].power.shifts, 1);
}
