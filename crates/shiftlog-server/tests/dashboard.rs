//! The dashboard in a real headless Chromium, driven over WebDriver (chromedriver): a
//! funder logs in with a token, picks a place, moves the time slider to two dates, and the
//! drawn network has exactly the actors and relationships of the engine's snapshots.
//!
//! Needs Debian's `chromium` and `chromium-driver` (`.ci/run` installs them). Without
//! them the test says so and passes, unless `SHIFTLOG_BROWSER_TESTS=required` (set by
//! `.ci/run`), when it fails.

mod browser;

use browser::wait_for;
use fantoccini::Locator;
use serde_json::json;
use shiftlog::{Every, KnownAt, PlaceId, Timestamp};
use shiftlog_server::tokens::Role;
use std::collections::BTreeSet;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_funder_watches_the_network_change_in_a_real_browser() {
    if !browser::available() {
        return;
    }

    // The server, holding the worked example, with a funder's token.
    let server = browser::ExampleServer::start().await;
    let funder = server.token(Role::Funder, &[]).await;
    let (engine, base) = (server.engine.clone(), server.base.clone());

    let browser = browser::start(1280, 1100).await;
    let client = browser.client.clone();

    // Log in as the funder.
    client.goto(&format!("{base}/")).await.unwrap();
    client
        .find(Locator::Css("#token"))
        .await
        .unwrap()
        .send_keys(&funder)
        .await
        .unwrap();
    client
        .find(Locator::Css("#connect"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_for(
        &client,
        "the list of places",
        "document.querySelectorAll('#place option').length === 6",
    )
    .await;

    // Choose a place.
    let place = "ashford-vale";
    client
        .find(Locator::Css("#place"))
        .await
        .unwrap()
        .select_by_value(place)
        .await
        .unwrap();
    wait_for(
        &client,
        "the place's network",
        &format!("document.querySelector('#network svg[data-place=\"{place}\"]')"),
    )
    .await;

    // The slider's steps are the month ends of the place's evolution.
    let pid = PlaceId::new(place).unwrap();
    let series = engine
        .evolve(Some(&pid), Every::Month, None, None, KnownAt::Everything)
        .await
        .unwrap();
    let dates: Vec<Timestamp> = series[place].iter().map(|s| s.at).collect();
    let max = wait_for(&client, "the slider", "Number(document.getElementById('slider').max)").await;
    assert_eq!(max, json!(dates.len() - 1), "one slider step per month");

    let mut drawn = Vec::new();
    for i in [1, dates.len() - 1] {
        let at = dates[i];
        client
            .execute(
                "const s = document.getElementById('slider'); s.value = arguments[0]; \
                 s.dispatchEvent(new Event('input'));",
                vec![json!(i)],
            )
            .await
            .unwrap();
        wait_for(
            &client,
            "the network at the slider's date",
            &format!("document.getElementById('network').dataset.at === '{at}'"),
        )
        .await;
        let ids = |sel: &'static str, attr: &'static str| {
            let client = client.clone();
            async move {
                let mut out = BTreeSet::new();
                for e in client.find_all(Locator::Css(sel)).await.unwrap() {
                    out.insert(e.attr(attr).await.unwrap().unwrap());
                }
                out
            }
        };
        let actors = ids("#network g.actor", "data-actor").await;
        let lines = client
            .find_all(Locator::Css("#network line.relationship"))
            .await
            .unwrap()
            .len();
        let snap = engine.snapshot(&pid, at, KnownAt::Everything).await.unwrap();
        let expected: BTreeSet<String> = snap.actors.iter().map(|a| a.id.clone()).collect();
        assert_eq!(actors, expected, "the actors drawn at {at}");
        assert_eq!(lines, snap.relationships.len(), "the relationships drawn at {at}");
        let shown = client.find(Locator::Css("#date")).await.unwrap().text().await.unwrap();
        assert_eq!(shown, at.to_string()[..10], "the date shown");
        drawn.push((actors.len(), lines));
    }
    assert_ne!(drawn[0], drawn[1], "moving the slider changed the drawing");

    // The comparison follows the slider: one row per place plus the header.
    let rows = client.find_all(Locator::Css("#compare tr")).await.unwrap().len();
    assert_eq!(rows, 7);

    // What changed between the first and last month, as the engine says.
    client
        .execute(
            "document.getElementById('diff-from').value = '0'; \
             document.getElementById('diff-to').value = arguments[0];",
            vec![json!((dates.len() - 1).to_string())],
        )
        .await
        .unwrap();
    client
        .find(Locator::Css("#diff-show"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let heading = wait_for(
        &client,
        "the diff",
        "document.querySelector('#diff h3') && document.querySelector('#diff h3').textContent",
    )
    .await;
    let d = engine
        .diff(&pid, dates[0], dates[dates.len() - 1], KnownAt::Everything)
        .await
        .unwrap();
    assert_eq!(heading, json!(format!("Joined ({})", d.joined.len())));

    // Nothing went wrong on the page, and a picture for people to look at.
    let status = client
        .find(Locator::Css("#status"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(status, "", "the page reported an error");
    browser::screenshot(&client, "dashboard.png").await;

    // The power panel at the last month: every holding the engine has, as the page
    // formats it, with its change since the first month.
    let at = dates[dates.len() - 1];
    client
        .execute(
            "const s = document.getElementById('slider'); s.value = arguments[0]; s.dispatchEvent(new Event('input'));",
            vec![json!(dates.len() - 1)],
        )
        .await
        .unwrap();
    wait_for(
        &client,
        "the network at the last month",
        &format!("document.getElementById('network').dataset.at === '{at}'"),
    )
    .await;
    let end = engine.snapshot(&pid, at, KnownAt::Everything).await.unwrap();
    let start = engine.snapshot(&pid, dates[0], KnownAt::Everything).await.unwrap();
    let mut checked = 0;
    for a in &end.actors {
        for (domain, held) in &a.power {
            if *held == 0.0 {
                continue;
            }
            let before = start
                .actors
                .iter()
                .find(|b| b.id == a.id)
                .and_then(|b| b.power.get(domain))
                .copied()
                .unwrap_or(0.0);
            let cells = wait_for(
                &client,
                "a holding in the power panel",
                &format!(
                    "(() => {{ const r = document.querySelector('#power tr[data-domain=\"{domain}\"][data-actor=\"{}\"]'); \
                     return r && [...r.cells].map((c) => c.textContent); }})()",
                    a.id
                ),
            )
            .await;
            let shown = |x: f64| {
                if x.fract() == 0.0 {
                    format!("{x}")
                } else {
                    format!("{x:.3}")
                }
            };
            let change = held - before;
            assert_eq!(cells[2], json!(shown(*held)), "{} in {domain}", a.id);
            assert_eq!(
                cells[3],
                json!(format!("{}{change:.2}", if change > 0.0 { "+" } else { "" })),
                "{} in {domain}",
                a.id
            );
            checked += 1;
        }
    }
    assert!(
        checked >= 2,
        "the example's place holds power: {checked} holdings checked"
    );

    // The chart of chosen measures: trust and value by default, one point per month with
    // a value.
    let points = wait_for(
        &client,
        "the chart of trust",
        "(() => { const p = document.querySelector('#chart path[data-measure=\"trust_mean\"]'); \
         return p && (p.getAttribute('d').match(/[ML]/g) || []).length; })()",
    )
    .await;
    let rated = series[place].iter().filter(|s| s.metrics.trust_mean.is_some()).count();
    assert_eq!(points, json!(rated), "one point per month with a rated relationship");

    // The synthesis panel: counts for a funder, no texts.
    let rows = wait_for(
        &client,
        "the synthesis table",
        "document.querySelectorAll('#synthesis-table tr').length > 1 && document.querySelectorAll('#synthesis-table tr').length",
    )
    .await;
    let synthesis = engine
        .synthesis(
            std::slice::from_ref(&pid),
            Every::Quarter,
            None,
            None,
            KnownAt::Everything,
            false,
        )
        .await
        .unwrap();
    let busy = synthesis.places[0]
        .periods
        .iter()
        .filter(|p| {
            p.sessions > 0
                || p.power.shifts > 0
                || [&p.learning, &p.outcomes, &p.participation]
                    .iter()
                    .any(|t| t.values().any(|&n| n > 0))
        })
        .count();
    assert_eq!(
        rows,
        json!(busy + 1),
        "a header and one row per quarter with anything recorded"
    );
    let texts = client
        .execute("return document.querySelectorAll('#synthesis details').length;", vec![])
        .await
        .unwrap();
    assert_eq!(texts, json!(0), "a funder sees no learning texts");

    // As known at a day before anything was recorded: nothing, said in words; then
    // everything again, at the same month.
    client
        .execute(
            "const k = document.getElementById('known'); k.value = '2000-01-01'; k.dispatchEvent(new Event('change'));",
            vec![],
        )
        .await
        .unwrap();
    wait_for(
        &client,
        "the empty view",
        "document.getElementById('status').textContent.includes('Nothing about this place had been recorded by then') \
         && !document.querySelector('#network svg')",
    )
    .await;
    client
        .find(Locator::Css("#known-clear"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_for(
        &client,
        "the network again",
        &format!(
            "document.getElementById('network').dataset.at === '{at}' && !!document.querySelector('#network svg')"
        ),
    )
    .await;

    // Play steps through the months from the start on its own; pressing again pauses.
    client
        .execute(
            "const s = document.getElementById('slider'); s.value = 0; s.dispatchEvent(new Event('input'));",
            vec![],
        )
        .await
        .unwrap();
    client.find(Locator::Css("#play")).await.unwrap().click().await.unwrap();
    let third = dates[2].to_string();
    wait_for(
        &client,
        "play to reach the third month",
        &format!("document.getElementById('network').dataset.at === '{third}'"),
    )
    .await;
    client.find(Locator::Css("#play")).await.unwrap().click().await.unwrap();
    let label = client.find(Locator::Css("#play")).await.unwrap().text().await.unwrap();
    assert_eq!(label, "Play", "pressing again pauses");

    // The kind filter: the place's kinds, all ticked; untick all but collaboration and the
    // drawing at the last month is the engine's view of collaboration only.
    let kinds = engine.kinds(&pid, KnownAt::Everything).await.unwrap();
    let listed = wait_for(
        &client,
        "the kind filter",
        "[...document.querySelectorAll('#kind-boxes input:checked')].map((b) => b.value)",
    )
    .await;
    assert_eq!(listed, json!(kinds), "every kind listed and ticked");
    let last = dates.len() - 1;
    client
        .execute(
            "const s = document.getElementById('slider'); s.value = arguments[0]; s.dispatchEvent(new Event('input'));",
            vec![json!(last)],
        )
        .await
        .unwrap();
    let at = dates[last];
    client
        .execute(
            "for (const b of document.querySelectorAll('#kind-boxes input')) \
               if (b.value !== 'collaboration') b.click();",
            vec![],
        )
        .await
        .unwrap();
    let view = shiftlog::View::new(KnownAt::Everything, shiftlog::Kinds::only(["collaboration"]));
    let only = engine.snapshot(&pid, at, view).await.unwrap();
    let all = engine.snapshot(&pid, at, KnownAt::Everything).await.unwrap();
    assert!(
        only.relationships.len() < all.relationships.len(),
        "the view leaves some out"
    );
    wait_for(
        &client,
        "the network of collaboration only",
        &format!(
            "document.getElementById('network').dataset.at === '{at}' && \
             document.querySelectorAll('#network line.relationship').length === {}",
            only.relationships.len()
        ),
    )
    .await;
    // Unticking the last kind is refused with a word, not an empty network.
    client
        .execute("document.querySelector('#kind-boxes input:checked').click();", vec![])
        .await
        .unwrap();
    let said = wait_for(&client, "the refusal", "document.getElementById('status').textContent").await;
    assert!(said.as_str().unwrap().contains("At least one kind"), "{said}");
    let ticked = client
        .execute(
            "return document.querySelectorAll('#kind-boxes input:checked').length;",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(ticked, json!(1));

    // An admin sees the learning texts by area under the synthesis.
    let admin = server.token(Role::Admin, &[]).await;
    client
        .execute(
            "document.getElementById('token').value = arguments[0]; \
             document.getElementById('connect').click();",
            vec![json!(admin)],
        )
        .await
        .unwrap();
    let synthesis = engine
        .synthesis(
            std::slice::from_ref(&pid),
            Every::Quarter,
            None,
            None,
            KnownAt::Everything,
            true,
        )
        .await
        .unwrap();
    let areas = synthesis.places[0].texts.as_ref().unwrap();
    let first_text = areas
        .values()
        .flatten()
        .next()
        .expect("the place has learning")
        .text
        .clone();
    let shown = wait_for(
        &client,
        "the texts by area",
        &format!(
            "document.querySelectorAll('#synthesis details.area').length === {} && \
             [...document.querySelectorAll('#synthesis details.area li')].map((l) => l.textContent).join('\\n')",
            areas.len()
        ),
    )
    .await;
    assert!(shown.as_str().unwrap().contains(&first_text), "{shown}");

    client.close().await.unwrap();
    server.stop().await;
}
