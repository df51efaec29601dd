//! Reports over a programme: a folder with an overview page and one page per place,
//! every page well-formed and self-contained, every place reachable from the overview and
//! linking back, every drawing (full, thinned and small) showing exactly the snapshot at
//! its date, and the output never written over something that is not a report.

mod common;

use common::{parse, worked_example};
use shiftlog::{parse_input, Engine, KnownAt, PlaceId, Timestamp};
use shiftlog_report::{write_report, Progress, ReportForm, ReportOptions, Written, REPORT_THIN_ABOVE};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// A small deterministic random source (the tests must not depend on a seed's crate).
struct Lcg(u64);

impl Lcg {
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % n
    }
}

const SECTORS: [&str; 5] = ["public", "vcse", "health", "community", "funder"];
const KINDS: [&str; 3] = ["collaboration", "funding", "trust"];

/// A programme of `places` places (ids given by `id`), each with a few actors joining,
/// relationships forming, re-weighted and ending, power moving and sessions noting absent
/// voices, over 2024; the place at index 0 gets `big` actors so that its drawings thin.
fn programme(places: usize, big: usize, id: impl Fn(usize) -> String) -> String {
    let mut rng = Lcg(7);
    let mut out = String::new();
    let mut n = 0;
    let mut push = |v: serde_json::Value| {
        out.push_str(&v.to_string());
        out.push('\n');
    };
    for p in 0..places {
        let place = id(p);
        // Day d of 2024 (months of 30 days, to stay off a date crate).
        let day = |d: u64| format!("2024-{:02}-{:02}", (d / 30).min(11) + 1, d % 30 % 28 + 1);
        n += 1;
        push(
            serde_json::json!({"type":"place_registered","id":format!("e{n}"),"occurred_at":day(0),"place":place,"name":format!("Place {p} <&>")}),
        );
        let actors = if p == 0 { big } else { 6 + rng.below(10) as usize };
        for a in 0..actors {
            n += 1;
            let mut e = serde_json::json!({"type":"actor_joined","id":format!("e{n}"),"occurred_at":day(rng.below(60)),
                "place":place,"actor":format!("a{a}"),"name":format!("Actor {a} of {p}"),"kind":"organisation",
                "sector":SECTORS[rng.below(5) as usize]});
            if a == 0 {
                e["power"] = serde_json::json!({"budget": 1.0});
            }
            push(e);
        }
        let mut formed: Vec<(usize, usize, &str)> = Vec::new();
        let rels = if p == 0 {
            big * 3 / 2
        } else {
            actors + rng.below(actors as u64) as usize
        };
        for _ in 0..rels {
            let (f, t) = (rng.below(actors as u64) as usize, rng.below(actors as u64) as usize);
            let kind = KINDS[rng.below(3) as usize];
            if f == t || formed.contains(&(f, t, kind)) {
                continue;
            }
            formed.push((f, t, kind));
            n += 1;
            let mut e = serde_json::json!({"type":"relationship_formed","id":format!("e{n}"),"occurred_at":day(70 + rng.below(200)),
                "place":place,"from":format!("a{f}"),"to":format!("a{t}"),"kind":kind,
                "strength":(rng.below(100) as f64) / 100.0,"directed":rng.below(2) == 0});
            if rng.below(2) == 0 {
                e["trust"] = serde_json::json!((rng.below(5) + 1) as f64 / 5.0);
            }
            push(e);
        }
        for (f, t, kind) in formed.iter().take(3) {
            n += 1;
            push(
                serde_json::json!({"type":"relationship_ended","id":format!("e{n}"),"occurred_at":day(300 + rng.below(40)),
                "place":place,"from":format!("a{f}"),"to":format!("a{t}"),"kind":kind}),
            );
        }
        n += 1;
        push(
            serde_json::json!({"type":"power_shifted","id":format!("e{n}"),"occurred_at":day(280),"place":place,
            "domain":"budget","from":"a0","to":"a1","amount":(rng.below(9) + 1) as f64 / 10.0}),
        );
        for s in 0..3 {
            n += 1;
            push(
                serde_json::json!({"type":"session_held","id":format!("e{n}"),"occurred_at":day(100 + 80 * s),"place":place,
                "session":format!("s{s}"),"title":"Sensemaking","participants":["a0","a1"],
                "absent_voices":if rng.below(2) == 0 { vec!["young carers"] } else { vec!["young carers", "older people"] }}),
            );
        }
    }
    out
}

async fn engine_with(text: &str) -> Engine {
    let engine = Engine::in_memory();
    let outcome = engine.ingest(parse_input(text), &[]).await.unwrap();
    assert_eq!(
        outcome.appended(),
        text.lines().count(),
        "every generated event is accepted"
    );
    engine
}

async fn write(engine: &Engine, options: &ReportOptions, form: ReportForm, out: &Path) -> (Written, Vec<Progress>) {
    let mut seen = Vec::new();
    let written = write_report(engine, options, form, out, &mut |p| seen.push(p))
        .await
        .unwrap();
    (written, seen)
}

/// Checks that the page at `path` is well-formed and fetches nothing from outside the
/// report folder `root`; returns the pages it links to (resolved) and its fragment links.
fn links_of(path: &Path, root: &Path) -> (BTreeSet<PathBuf>, BTreeSet<String>) {
    let html = std::fs::read_to_string(path).unwrap();
    let doc = parse(&html);
    let ids: BTreeSet<&str> = doc.descendants().filter_map(|n| n.attribute("id")).collect();
    let (mut pages, mut fragments) = (BTreeSet::new(), BTreeSet::new());
    for node in doc.descendants().filter(|n| n.is_element()) {
        let tag = node.tag_name().name();
        assert!(
            !["script", "link", "img", "iframe", "object", "embed", "image", "use"].contains(&tag),
            "{} has a <{tag}>",
            path.display()
        );
        for attr in node.attributes() {
            let v = attr.value();
            if ["src", "srcset", "poster", "action"].contains(&attr.name()) {
                panic!("{} has {}={v}", path.display(), attr.name());
            }
            if attr.name() == "href" {
                if let Some(id) = v.strip_prefix('#') {
                    assert!(
                        ids.contains(id),
                        "{}: a link to #{id}, which is not on the page",
                        path.display()
                    );
                    fragments.insert(id.to_string());
                } else {
                    assert!(
                        !v.contains(':') && !v.starts_with('/'),
                        "{}: href={v} leaves the report",
                        path.display()
                    );
                    let target = path.parent().unwrap().join(v);
                    let target = target
                        .canonicalize()
                        .unwrap_or_else(|_| panic!("{}: {v} does not exist", path.display()));
                    assert!(
                        target.starts_with(root),
                        "{}: {v} is outside the report",
                        path.display()
                    );
                    pages.insert(target);
                }
            }
            if v.contains("url(") {
                assert!(v.starts_with("url(#"), "{}: {}={v}", path.display(), attr.name());
            }
        }
    }
    for needle in ["@import", "@font-face", "url(http", "url(//"] {
        assert!(!html.contains(needle), "{} references {needle}", path.display());
    }
    (pages, fragments)
}

/// Checks every drawing on the page against the engine's snapshot at its date; returns
/// (full drawings, thinned drawings, thumbnails) checked.
async fn check_drawings(engine: &Engine, html: &str, known: KnownAt) -> (usize, usize, usize) {
    let doc = parse(html);
    let (mut full, mut thinned, mut thumbs) = (0, 0, 0);
    for svg in doc.descendants().filter(|n| n.tag_name().name() == "svg") {
        let class = svg.attribute("class").unwrap_or("");
        if class != "network" && class != "thumbnail" {
            continue;
        }
        let place = PlaceId::new(svg.attribute("data-place").unwrap()).unwrap();
        let at: Timestamp = svg.attribute("data-at").unwrap().parse().unwrap();
        let snap = engine.snapshot(&place, at, known).await.unwrap();
        let expected_actors: BTreeSet<&str> = snap.actors.iter().map(|a| a.id.as_str()).collect();
        let expected_lines: BTreeSet<(&str, &str, &str)> = snap
            .relationships
            .iter()
            .map(|r| (r.from.as_str(), r.to.as_str(), r.kind.as_str()))
            .collect();
        assert_eq!(svg.attribute("data-actors").unwrap(), snap.actors.len().to_string());
        assert_eq!(
            svg.attribute("data-relationships").unwrap(),
            snap.relationships.len().to_string()
        );
        if class == "thumbnail" {
            // Every actor is one dot; the strongest relationships (up to the cap) are lines.
            let moves = |class: &str| -> usize {
                svg.descendants()
                    .filter(|n| n.attribute("class") == Some(class))
                    .map(|n| n.attribute("d").unwrap().matches('M').count())
                    .sum()
            };
            assert_eq!(moves("actors"), snap.actors.len(), "dots for {place} at {at}");
            let drawn = snap.relationships.len().min(shiftlog_report::THUMBNAIL_RELATIONSHIPS);
            assert_eq!(moves("relationships"), drawn, "lines for {place} at {at}");
            assert_eq!(svg.attribute("data-drawn-relationships").unwrap(), drawn.to_string());
            thumbs += 1;
            continue;
        }
        let actors: Vec<&str> = svg
            .descendants()
            .filter(|n| n.attribute("class") == Some("actor"))
            .map(|n| n.attribute("data-actor").unwrap())
            .collect();
        assert_eq!(
            actors.iter().copied().collect::<BTreeSet<_>>(),
            expected_actors,
            "actors drawn for {place} at {at}"
        );
        let lines: BTreeSet<(&str, &str, &str)> = if svg.attribute("data-thinned") == Some("true") {
            thinned += 1;
            assert!(snap.actors.len() > REPORT_THIN_ABOVE || snap.relationships.len() > REPORT_THIN_ABOVE);
            let labels = svg
                .descendants()
                .filter(|n| n.attribute("class") == Some("actor"))
                .filter(|g| g.children().any(|c| c.tag_name().name() == "text"))
                .count();
            assert_eq!(labels, shiftlog_report::THINNED_LABELS.min(snap.actors.len()));
            let mut out = BTreeSet::new();
            for set in svg
                .descendants()
                .filter(|n| n.attribute("class") == Some("relationship-set"))
            {
                let kind = set.attribute("data-kind").unwrap();
                let pairs: Vec<&str> = set.attribute("data-pairs").unwrap().split(' ').collect();
                assert_eq!(pairs.len(), set.attribute("d").unwrap().matches('M').count());
                for pair in pairs {
                    let (i, j) = pair.split_once('-').unwrap();
                    let pair = (
                        actors[i.parse::<usize>().unwrap()],
                        actors[j.parse::<usize>().unwrap()],
                        kind,
                    );
                    assert!(out.insert(pair), "{pair:?} drawn twice");
                }
            }
            out
        } else {
            full += 1;
            svg.descendants()
                .filter(|n| n.attribute("class") == Some("relationship"))
                .map(|n| {
                    (
                        n.attribute("data-from").unwrap(),
                        n.attribute("data-to").unwrap(),
                        n.attribute("data-kind").unwrap(),
                    )
                })
                .collect()
        };
        assert_eq!(lines, expected_lines, "relationships drawn for {place} at {at}");
    }
    (full, thinned, thumbs)
}

/// Checks a report folder: every page well-formed and self-contained, every place's page
/// linked from the overview and linking back, every drawing right. Returns the place
/// pages' texts.
async fn check_folder(engine: &Engine, w: &Written, places: usize, known: KnownAt) -> BTreeMap<PathBuf, String> {
    assert_eq!(w.form, ReportForm::Folder);
    let root = w.open.parent().unwrap().canonicalize().unwrap();
    let index = root.join("index.html");
    let files: BTreeSet<PathBuf> = std::fs::read_dir(root.join("places"))
        .unwrap()
        .map(|e| e.unwrap().path().canonicalize().unwrap())
        .collect();
    assert_eq!(files.len(), places, "one page per place");
    assert_eq!(w.pages, places + 1);
    let top: Vec<_> = std::fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(top.len(), 2, "index.html and places/ only: {top:?}");

    let (linked, _) = links_of(&index, &root);
    assert_eq!(
        linked, files,
        "every place is reachable from the overview, and nothing else is linked"
    );
    let overview = std::fs::read_to_string(&index).unwrap();
    let (_, _, thumbs) = check_drawings(engine, &overview, known).await;
    assert_eq!(thumbs, places, "a small multiple of every place");
    assert_eq!(overview.matches("<tr data-place=").count(), places);

    let mut pages = BTreeMap::new();
    let mut bytes = overview.len() as u64;
    for f in &files {
        let (back, _) = links_of(f, &root);
        assert_eq!(
            back,
            BTreeSet::from([index.clone()]),
            "{} links back to the overview",
            f.display()
        );
        let html = std::fs::read_to_string(f).unwrap();
        let (full, thinned, _) = check_drawings(engine, &html, known).await;
        assert!(full + thinned >= 2, "{}: start and end drawn", f.display());
        bytes += html.len() as u64;
        pages.insert(f.clone(), html);
    }
    assert_eq!(bytes, w.bytes, "the bytes reported are the bytes written");
    pages
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_programme_report_is_a_folder_of_linked_self_contained_pages_that_draw_the_snapshots() {
    let places = 100;
    let text = programme(places, REPORT_THIN_ABOVE + 20, |p| format!("place-{p:03}"));
    let engine = engine_with(&text).await;
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("programme.html");
    let (w, progress) = write(&engine, &ReportOptions::default(), ReportForm::Auto, &out).await;
    // More than a handful of places: a folder, named without the `.html`.
    assert_eq!(w.open, dir.path().join("programme").join("index.html"));
    assert_eq!(w.places, places);
    assert_eq!(progress.len(), places);
    assert!(progress
        .iter()
        .enumerate()
        .all(|(i, p)| p.done == i + 1 && p.total == places));

    let pages = check_folder(&engine, &w, places, KnownAt::Everything).await;
    // The big place is thinned, and says so; the small ones are not.
    let big = &pages[&dir
        .path()
        .join("programme/places/place-000.html")
        .canonicalize()
        .unwrap()];
    assert!(big.contains("data-thinned=\"true\"") && big.contains("Thinned to keep the page light"));
    // Its story names a dozen of the hundreds who joined, and counts the rest.
    assert!(
        big.contains(" others; nobody left."),
        "the story lists every actor who joined"
    );
    let small = &pages[&dir
        .path()
        .join("programme/places/place-001.html")
        .canonicalize()
        .unwrap()];
    assert!(!small.contains("data-thinned"));
    // Arrowheads are defined once per page, not per drawing.
    assert_eq!(small.matches("id=\"arrow-trust\"").count(), 1);

    let overview = std::fs::read_to_string(&w.open).unwrap();
    // The overview: ranked changes, charts over time of at most RANKED places, and the
    // names escaped.
    assert!(overview.contains("Where things moved most") && overview.contains("Mean trust"));
    assert!(overview.contains("Place 7 &lt;&amp;&gt;"));
    assert!(overview.contains("The 8 places (of 100) whose number of relationships changed most"));
    // Every page says where it came from and is small enough to mail.
    assert!(pages.values().all(|p| p.len() < 2 << 20));

    // Again: the earlier report is replaced whole, and the answer is the same.
    let before: BTreeMap<_, _> = pages.into_iter().collect();
    let (w2, _) = write(&engine, &ReportOptions::default(), ReportForm::Auto, &out).await;
    let again = check_folder(&engine, &w2, places, KnownAt::Everything).await;
    assert_eq!(before, again, "the same log gives the same report");
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(
        leftovers,
        ["programme"],
        "no staging or old folders left: {leftovers:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_worked_example_as_a_folder_and_as_one_file_draws_the_same() {
    let engine = worked_example().await;
    let dir = tempfile::tempdir().unwrap();
    let (w, _) = write(
        &engine,
        &ReportOptions::default(),
        ReportForm::Folder,
        &dir.path().join("r"),
    )
    .await;
    let pages = check_folder(&engine, &w, 6, KnownAt::Everything).await;
    let in_pages: String = pages.values().cloned().collect();
    assert!(in_pages.contains("Power over budget moved from Northern Futures Fund (1.00 → 0.30)"));
    assert!(
        !in_pages.contains("Kowalczyk"),
        "a redacted name leaked into the report"
    );

    // A handful of places: one file, the overview first, links inside the page.
    let (one, _) = write(
        &engine,
        &ReportOptions::default(),
        ReportForm::Auto,
        &dir.path().join("one.html"),
    )
    .await;
    assert_eq!(one.form, ReportForm::SingleFile);
    assert_eq!(one.pages, 1);
    let root = dir.path().canonicalize().unwrap();
    let (linked, fragments) = links_of(&one.open, &root);
    assert!(linked.is_empty(), "one file links to no other: {linked:?}");
    let html = std::fs::read_to_string(&one.open).unwrap();
    assert_eq!(html.len() as u64, one.bytes);
    assert!(html.find("id=\"overview\"").unwrap() < html.find("class=\"place\"").unwrap());
    for p in engine.places().await.unwrap() {
        assert!(
            fragments.contains(&format!("place-{p}")),
            "{p} is linked from the overview"
        );
    }
    let (full, _, thumbs) = check_drawings(&engine, &html, KnownAt::Everything).await;
    assert_eq!(thumbs, 6);
    let folder_full: usize = {
        let mut n = 0;
        for p in pages.values() {
            n += check_drawings(&engine, p, KnownAt::Everything).await.0;
        }
        n
    };
    assert_eq!(full, folder_full, "both forms draw the same moments");
    // The in-memory form is the file's text.
    assert_eq!(
        shiftlog_report::report(&engine, &ReportOptions::default())
            .await
            .unwrap(),
        html
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn awkward_place_ids_get_distinct_portable_file_names() {
    let ids = ["A-b", "a-b", "a b", "../up", "con", "index", "x/y", "ünïcode", "a_b"];
    let text = programme(ids.len(), 4, |p| ids[p].to_string());
    let engine = engine_with(&text).await;
    let dir = tempfile::tempdir().unwrap();
    let (w, _) = write(
        &engine,
        &ReportOptions::default(),
        ReportForm::Folder,
        &dir.path().join("r"),
    )
    .await;
    check_folder(&engine, &w, ids.len(), KnownAt::Everything).await;
    let names: BTreeSet<String> = std::fs::read_dir(dir.path().join("r/places"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    for n in &names {
        assert!(
            n.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-_~.".contains(&b)),
            "{n} is not portable"
        );
        let stem = n.trim_end_matches(".html");
        assert!(!["con", "index"].contains(&stem), "{n} is a reserved name");
    }
    // Distinct even where file systems ignore case.
    let lower: BTreeSet<String> = names.iter().map(|n| n.to_lowercase()).collect();
    assert_eq!(lower.len(), ids.len());
    assert!(names.contains("a-b.html") && names.contains("a_b.html"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_report_never_writes_over_what_is_not_a_report() {
    let engine = worked_example().await;
    let dir = tempfile::tempdir().unwrap();
    let options = ReportOptions::default();
    // A folder of someone's files.
    let theirs = dir.path().join("notes");
    std::fs::create_dir(&theirs).unwrap();
    std::fs::write(theirs.join("index.html"), "<p>my notes</p>").unwrap();
    let e = write_report(&engine, &options, ReportForm::Folder, &theirs, &mut |_| {})
        .await
        .unwrap_err();
    assert!(
        e.to_string().contains("is a folder that is not a shiftlog report"),
        "{e}"
    );
    assert_eq!(
        std::fs::read_to_string(theirs.join("index.html")).unwrap(),
        "<p>my notes</p>"
    );
    // A file that is not a report.
    let file = dir.path().join("letter.html");
    std::fs::write(&file, "Dear funder").unwrap();
    let e = write_report(&engine, &options, ReportForm::SingleFile, &file, &mut |_| {})
        .await
        .unwrap_err();
    assert!(
        e.to_string()
            .contains("letter.html is a file that is not a shiftlog report"),
        "{e}"
    );
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "Dear funder");
    // An earlier report is replaced.
    let (w, _) = write(&engine, &options, ReportForm::SingleFile, &dir.path().join("r.html")).await;
    let (w2, _) = write(&engine, &options, ReportForm::SingleFile, &dir.path().join("r.html")).await;
    assert_eq!(w.bytes, w2.bytes);
    let left: BTreeSet<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(left.len(), 3, "notes, letter.html and r.html only: {left:?}");
    // A place the log does not hold is an error before anything is written.
    let e = write_report(
        &engine,
        &ReportOptions {
            places: vec![PlaceId::new("atlantis").unwrap()],
            ..ReportOptions::default()
        },
        ReportForm::Folder,
        &dir.path().join("none"),
        &mut |_| {},
    )
    .await
    .unwrap_err();
    assert!(e.to_string().contains("atlantis"), "{e}");
    assert!(!dir.path().join("none").exists());
}

/// The groups a report reads keep to the budget, keep the order asked for, and cover
/// every place once.
#[tokio::test]
async fn places_are_read_in_groups_within_the_budget() {
    let engine = worked_example().await;
    let places = engine.places().await.unwrap();
    let known = KnownAt::Position(engine.head().0);
    let mut sizes = BTreeMap::new();
    for p in &places {
        sizes.insert(p.clone(), engine.history(p, known).await.unwrap().events().len() as u64);
    }
    let budget = 80;
    let groups = engine.place_groups_for(&[], known, budget).await.unwrap();
    assert!(groups.len() > 1);
    let flat: Vec<PlaceId> = groups.iter().flatten().cloned().collect();
    assert_eq!(flat, places);
    for g in &groups {
        let total: u64 = g.iter().map(|p| sizes[p]).sum();
        assert!(g.len() == 1 || total <= budget, "{g:?} holds {total} events");
    }
    let asked: Vec<PlaceId> = places.iter().rev().cloned().collect();
    let flat: Vec<PlaceId> = engine
        .place_groups_for(&asked, known, budget)
        .await
        .unwrap()
        .into_iter()
        .flatten()
        .collect();
    assert_eq!(flat, asked);
}
