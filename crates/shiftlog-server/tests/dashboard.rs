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
    let funder = server.token(Role::Funder, &[]);
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

    client.close().await.unwrap();
    server.stop().await;
}
