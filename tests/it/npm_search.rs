//! npm's search over more hits than one service page: `size` up to npm's 250 is honoured,
//! pages follow on with `from`, and `total` counts only what the caller may see.

use skilldex::domain::{TokenScope, VersionStatus};

use crate::common::{TestApp, TestDb, on_both_backends};

on_both_backends!(npm_search_takes_as_many_pages_as_size_asks_for);

fn names(body: &serde_json::Value) -> Vec<String> {
    let objects = body["objects"].as_array().unwrap();
    objects.iter().map(|o| o["package"]["name"].as_str().unwrap().to_owned()).collect()
}

async fn npm_search_takes_as_many_pages_as_size_asks_for(db: TestDb) {
    let app = TestApp::new(db).await;
    app.team("acme", &app.admin).await;
    for i in 0..130 {
        let slug = format!("tool-{i:03}");
        app.skill("acme", &slug, "public", &app.admin).await;
        app.version("acme", &slug, "1.0.0", VersionStatus::Published).await;
    }
    for i in 0..3 {
        let slug = format!("hidden-{i}");
        app.skill("acme", &slug, "private", &app.admin).await;
        app.version("acme", &slug, "1.0.0", VersionStatus::Published).await;
    }
    let outsider = app.user("olga", TokenScope::Read).await;

    let all = app.get("/-/v1/search?text=scope:acme&size=250", Some(&outsider)).await;
    assert_eq!(all.status, 200, "{}", all.text);
    let every = names(&all.body);
    assert_eq!(
        (every.len(), all.body["total"].as_i64()),
        (130, Some(130)),
        "private skills are neither listed nor counted"
    );
    let mut unique = every.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), 130, "no package twice across service pages");
    assert!(every.iter().all(|n| n.starts_with("@acme/tool-")));

    let admin = app.get("/-/v1/search?text=scope:acme&size=250", Some(&app.admin)).await;
    assert_eq!((names(&admin.body).len(), admin.body["total"].as_i64()), (133, Some(133)));

    let window = app.get("/-/v1/search?text=scope:acme&size=120&from=5", Some(&outsider)).await;
    assert_eq!(names(&window.body), every[5..125], "a window across the page boundary is the same order");
    let tail = app.get("/-/v1/search?text=scope:acme&size=250&from=100", Some(&outsider)).await;
    assert_eq!(names(&tail.body), every[100..]);
    let past = app.get("/-/v1/search?text=scope:acme&size=20&from=10000", Some(&outsider)).await;
    assert_eq!((names(&past.body).len(), past.body["total"].as_i64()), (0, Some(130)));
    let too_big = app.get("/-/v1/search?text=scope:acme&size=251", Some(&outsider)).await;
    assert_eq!(too_big.status, 400, "{}", too_big.text);
}
