//! The `Store` contract, on both backends from one body.

use skilldex::domain::{TeamRole, TokenKind, TokenScope, VersionStatus, now_millis};
use skilldex::store::{
    Audience, Bearer, NewSkill, NewToken, NewUser, NewVersion, SkillCursor, SkillQuery, SkillSort, SortKey, StoreError,
    UsageEvent,
};

use crate::common::{TestDb, on_both_backends};

on_both_backends!(
    users_and_tokens,
    teams_always_keep_an_owner,
    search_ranks_and_filters,
    pagination_visits_every_row_once,
    latest_follows_publish_and_yank,
    channels_and_stars,
    npm_dists_are_recorded_once,
    one_finalize_claims_an_upload_at_a_time,
    migrations_run_once,
    bad_json_in_a_column_fails_loudly,
    changes_to_skills_are_sequenced_for_search,
    lookups_by_many_ids_pass_any_bound_argument_limit,
    manifest_pages_list_every_manifest_once_with_its_tags,
);

fn user(name: &str) -> NewUser {
    NewUser { username: name.parse().unwrap(), email: format!("{name}@example.com"), is_admin: false }
}

pub(crate) fn skill(scope: &str, slug: &str) -> NewSkill {
    NewSkill {
        namespace: scope.parse().unwrap(),
        name: slug.parse().unwrap(),
        display_name: slug.into(),
        description: String::new(),
        readme: String::new(),
        visibility: skilldex::domain::Visibility::Public,
        tags: vec![],
        skill_type: skilldex::domain::SkillType::Command,
        kind: skilldex::domain::SkillKind::Skill,
        forked_from: None,
    }
}

fn query(audience: Audience) -> SkillQuery {
    SkillQuery {
        terms: vec![],
        namespace: None,
        tags: vec![],
        skill_type: None,
        kind: None,
        sort: SkillSort::Name,
        after: None,
        limit: 100,
        audience,
        published_only: false,
        deprecated: None,
        archived: None,
        namespace_globs: vec![],
        offset: 0,
    }
}

async fn users_and_tokens(db: TestDb) {
    let s = &db.store;
    let ann = s.create_user(&user("ann")).await.unwrap();
    assert!(matches!(s.create_user(&user("ann")).await, Err(StoreError::Conflict(_))));
    assert_eq!(s.user_by_name("ann").await.unwrap().unwrap(), ann);
    assert_eq!(s.count_users().await.unwrap(), 1);

    let t = s
        .create_token(&NewToken {
            user_id: ann.id.clone(),
            name: "laptop".into(),
            scope: TokenScope::Write,
            kind: TokenKind::Standard,
            hash: "ab".repeat(32),
            expires_at: None,
        })
        .await
        .unwrap();
    let bearer = Bearer { token: t.clone(), user: ann.clone(), namespaces: vec![] };
    assert_eq!(s.token_by_hash(&"ab".repeat(32)).await.unwrap().unwrap(), bearer);
    assert!(s.token_by_hash(&"cd".repeat(32)).await.unwrap().is_none());
    // The token is read with every namespace whose team its user belongs to, and no other.
    let bob = s.create_user(&user("bob")).await.unwrap();
    s.create_team(&"acme".parse().unwrap(), "Acme", &ann.id).await.unwrap();
    s.create_team(&"labs".parse().unwrap(), "Labs", &bob.id).await.unwrap();
    s.create_team(&"other".parse().unwrap(), "Other", &bob.id).await.unwrap();
    let labs = s.team_by_namespace("labs").await.unwrap().unwrap();
    s.set_member(&labs.id, &ann.id, TeamRole::Reader, now_millis()).await.unwrap();
    let mut namespaces = s.token_by_hash(&"ab".repeat(32)).await.unwrap().unwrap().namespaces;
    namespaces.sort();
    assert_eq!(namespaces, ["acme", "labs"]);

    let now = now_millis();
    s.touch_token(&t.id, now).await.unwrap();
    assert_eq!(s.token_by_id(&t.id).await.unwrap().unwrap().last_used_at, Some(now));
    // Within a minute, use is not written again.
    s.touch_token(&t.id, now + 1000).await.unwrap();
    assert_eq!(s.token_by_id(&t.id).await.unwrap().unwrap().last_used_at, Some(now));

    assert!(s.revoke_token(&t.id, now).await.unwrap());
    assert!(!s.revoke_token(&t.id, now).await.unwrap(), "revoking twice reports nothing revoked");
    assert_eq!(s.tokens_of(&ann.id).await.unwrap()[0].revoked_at, Some(now));
}

async fn teams_always_keep_an_owner(db: TestDb) {
    let s = &db.store;
    let ann = s.create_user(&user("ann")).await.unwrap();
    let bob = s.create_user(&user("bob")).await.unwrap();
    let team = s.create_team(&"io.github.acme".parse().unwrap(), "Acme", &ann.id).await.unwrap();
    assert!(matches!(
        s.create_team(&"io.github.acme".parse().unwrap(), "Again", &bob.id).await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(s.member_role("io.github.acme", &ann.id).await.unwrap(), Some(TeamRole::Owner));
    assert_eq!(s.member_role("io.github.acme", &bob.id).await.unwrap(), None);

    let at = now_millis();
    assert!(matches!(s.set_member(&team.id, &ann.id, TeamRole::Reader, at).await, Err(StoreError::Invariant(_))));
    assert!(matches!(s.remove_member(&team.id, &ann.id).await, Err(StoreError::Invariant(_))));
    assert_eq!(s.member_role("io.github.acme", &ann.id).await.unwrap(), Some(TeamRole::Owner), "nothing changed");

    s.set_member(&team.id, &bob.id, TeamRole::Owner, at).await.unwrap();
    assert!(s.remove_member(&team.id, &ann.id).await.unwrap());
    assert!(!s.remove_member(&team.id, &ann.id).await.unwrap());
    let members = s.team_members(&team.id).await.unwrap();
    assert_eq!(members.len(), 1);
    assert_eq!(members[0].username.as_str(), "bob");
    assert!(matches!(s.set_member(&team.id, "no-such-user", TeamRole::Reader, at).await, Err(StoreError::Missing(_))));
}

async fn search_ranks_and_filters(db: TestDb) {
    let s = &db.store;
    let ann = s.create_user(&user("ann")).await.unwrap();
    let eve = s.create_user(&user("eve")).await.unwrap();
    s.create_team(&"acme".parse().unwrap(), "Acme", &ann.id).await.unwrap();
    let at = now_millis();

    let mut in_name = skill("acme", "kubernetes-deploy");
    in_name.description = "Ship services".into();
    in_name.tags = vec!["ops".parse().unwrap(), "k8s".parse().unwrap()];
    s.create_skill(&in_name, at).await.unwrap();
    let mut in_readme = skill("acme", "release-notes");
    in_readme.description = "Write release notes".into();
    in_readme.tags = vec!["ops".parse().unwrap()];
    in_readme.readme = "Works with any kubernetes cluster.".into();
    s.create_skill(&in_readme, at).await.unwrap();
    let mut private = skill("acme", "secret-kubernetes");
    private.visibility = skilldex::domain::Visibility::Private;
    s.create_skill(&private, at).await.unwrap();
    s.create_skill(&skill("acme", "unrelated"), at).await.unwrap();

    let mut q = query(Audience::Anonymous);
    q.terms = vec!["kubernetes".into()];
    q.sort = SkillSort::Relevance;
    let hits = s.list_skills(&q).await.unwrap();
    let names: Vec<&str> = hits.iter().map(|h| h.skill.name.as_str()).collect();
    assert_eq!(names, ["kubernetes-deploy", "release-notes"], "name match outranks README match; private hidden");
    assert!(hits[0].rank > hits[1].rank);

    // Prefix matching and stemming: "kube" finds it, "notes" matches "note".
    q.terms = vec!["kube".into()];
    assert_eq!(s.list_skills(&q).await.unwrap().len(), 2);

    q.audience = Audience::Member { user_id: eve.id.clone() };
    assert_eq!(s.list_skills(&q).await.unwrap().len(), 2, "non-members do not see private skills");
    assert_eq!(s.count_skills(&q).await.unwrap(), 2, "nor count them");
    q.audience = Audience::Member { user_id: ann.id.clone() };
    assert_eq!(s.list_skills(&q).await.unwrap().len(), 3, "members do");
    assert_eq!(s.count_skills(&q).await.unwrap(), 3);
    q.audience = Audience::Everyone;
    assert_eq!(s.list_skills(&q).await.unwrap().len(), 3);

    let mut by_tag = query(Audience::Anonymous);
    by_tag.tags = vec!["ops".into()];
    assert_eq!(s.list_skills(&by_tag).await.unwrap().len(), 2);
    by_tag.tags = vec!["ops".into(), "k8s".into()];
    let hits = s.list_skills(&by_tag).await.unwrap();
    assert_eq!(hits.len(), 1, "every tag must match");
    assert_eq!(hits[0].skill.name.as_str(), "kubernetes-deploy");
    assert_eq!(s.count_skills(&by_tag).await.unwrap(), 1);

    // Registry views: namespace globs, `*` and `?`, OR'd.
    s.create_team(&"acme-labs".parse().unwrap(), "Labs", &ann.id).await.unwrap();
    s.create_team(&"other".parse().unwrap(), "Other", &ann.id).await.unwrap();
    s.create_skill(&skill("acme-labs", "probe"), at).await.unwrap();
    s.create_skill(&skill("other", "thing"), at).await.unwrap();
    let in_view = |globs: &[&str]| {
        let mut q = query(Audience::Everyone);
        q.namespace_globs = globs.iter().map(|g| g.to_string()).collect();
        q
    };
    let scopes = |hits: Vec<skilldex::store::SkillHit>| {
        let mut v: Vec<String> = hits.iter().map(|h| h.skill.namespace.to_string()).collect();
        v.dedup();
        v
    };
    assert_eq!(scopes(s.list_skills(&in_view(&["acme-*"])).await.unwrap()), ["acme-labs"]);
    let both = s.list_skills(&in_view(&["acme*"])).await.unwrap();
    assert_eq!(both.len(), 5, "acme's four and acme-labs' one");
    assert_eq!(scopes(s.list_skills(&in_view(&["oth?r", "nobody"])).await.unwrap()), ["other"]);
    assert!(s.list_skills(&in_view(&["ac?e"])).await.unwrap().iter().all(|h| h.skill.namespace.as_str() == "acme"));

    // Edits are searchable at once, and deleted skills are not listed.
    let target = s.skill("acme", "unrelated").await.unwrap().unwrap();
    let patch = skilldex::store::SkillPatch { description: Some("kubernetes helper".into()), ..Default::default() };
    s.update_skill(&target.id, &patch, now_millis()).await.unwrap();
    let mut q = query(Audience::Anonymous);
    q.terms = vec!["kubernetes".into()];
    assert_eq!(s.list_skills(&q).await.unwrap().len(), 3);
    s.set_skill_deleted(&target.id, Some(now_millis())).await.unwrap();
    assert_eq!(s.list_skills(&q).await.unwrap().len(), 2);
}

async fn pagination_visits_every_row_once(db: TestDb) {
    let s = &db.store;
    let ann = s.create_user(&user("ann")).await.unwrap();
    s.create_team(&"acme".parse().unwrap(), "Acme", &ann.id).await.unwrap();
    for i in 0..7 {
        let mut k = skill("acme", &format!("tool-{i}"));
        k.description = "shared words".into();
        let created = s.create_skill(&k, 1_000 + (i % 3)).await.unwrap();
        if i % 2 == 1 {
            s.record_usage(&created.id, UsageEvent::Download, true, 1_000).await.unwrap();
        }
    }
    for sort in [SkillSort::Downloads, SkillSort::Updated, SkillSort::Name, SkillSort::Stars, SkillSort::Relevance] {
        let mut seen = Vec::new();
        let mut after: Option<SkillCursor> = None;
        loop {
            let mut q = query(Audience::Anonymous);
            q.sort = sort;
            q.limit = 2;
            q.after = after.clone();
            if sort == SkillSort::Relevance {
                q.terms = vec!["shared".into()];
            }
            let page = s.list_skills(&q).await.unwrap();
            let Some(last) = page.last() else { break };
            let key = match sort {
                SkillSort::Downloads => SortKey::Int(last.skill.downloads),
                SkillSort::Updated => SortKey::Int(last.skill.updated_at),
                SkillSort::Stars => SortKey::Int(last.skill.stars),
                SkillSort::Name => SortKey::Text(last.skill.name.to_string()),
                SkillSort::Relevance => SortKey::Float(last.rank),
            };
            after = Some(SkillCursor { key, id: last.skill.id.clone() });
            seen.extend(page.iter().map(|h| h.skill.name.to_string()));
        }
        let mut unique = seen.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(seen.len(), 7, "{sort:?}: {seen:?}");
        assert_eq!(unique.len(), 7, "{sort:?}: no row twice");

        // Offset paging visits the same rows in the same order; the count ignores paging.
        let mut by_offset = Vec::new();
        for offset in (0..8).step_by(3) {
            let mut q = query(Audience::Anonymous);
            q.sort = sort;
            q.limit = 3;
            q.offset = offset;
            if sort == SkillSort::Relevance {
                q.terms = vec!["shared".into()];
            }
            assert_eq!(s.count_skills(&q).await.unwrap(), 7, "{sort:?}");
            by_offset.extend(s.list_skills(&q).await.unwrap().iter().map(|h| h.skill.name.to_string()));
        }
        assert_eq!(by_offset, seen, "{sort:?}");
    }
}

async fn latest_follows_publish_and_yank(db: TestDb) {
    let s = &db.store;
    let ann = s.create_user(&user("ann")).await.unwrap();
    s.create_team(&"acme".parse().unwrap(), "Acme", &ann.id).await.unwrap();
    let k = s.create_skill(&skill("acme", "tool"), now_millis()).await.unwrap();
    let publish = |v: &str, status| NewVersion {
        skill_id: k.id.clone(),
        version: v.into(),
        status: Some(status),
        ..Default::default()
    };
    let at = now_millis();
    for v in ["1.0.0", "1.9.0", "1.10.0", "2.0.0-rc.1"] {
        s.create_version(&publish(v, VersionStatus::Published), at).await.unwrap();
    }
    s.create_version(&publish("3.0.0", VersionStatus::Draft), at).await.unwrap();
    assert!(matches!(
        s.create_version(&publish("1.0.0", VersionStatus::Published), at).await,
        Err(StoreError::Conflict(_))
    ));
    let latest = || async { s.skill("acme", "tool").await.unwrap().unwrap().latest_version };
    assert_eq!(latest().await.as_deref(), Some("1.10.0"), "semver order, releases over pre-releases, drafts ignored");
    let order: Vec<String> = s.versions(&k.id).await.unwrap().into_iter().map(|v| v.version).collect();
    assert_eq!(order, ["3.0.0", "2.0.0-rc.1", "1.10.0", "1.9.0", "1.0.0"]);

    s.set_version_status(&k.id, "1.10.0", VersionStatus::Yanked, at).await.unwrap();
    assert_eq!(latest().await.as_deref(), Some("1.9.0"));
    let channels = s.channels(&k.id).await.unwrap();
    assert_eq!((channels[0].name.as_str(), channels[0].version.as_deref()), ("latest", Some("1.9.0")));
    s.set_version_status(&k.id, "1.10.0", VersionStatus::Published, at).await.unwrap();
    assert_eq!(latest().await.as_deref(), Some("1.10.0"));
    let v = s.set_version_status(&k.id, "3.0.0", VersionStatus::Published, at).await.unwrap();
    assert_eq!(v.published_at, Some(at));
    assert_eq!(latest().await.as_deref(), Some("3.0.0"));
}

async fn channels_and_stars(db: TestDb) {
    let s = &db.store;
    let ann = s.create_user(&user("ann")).await.unwrap();
    let bob = s.create_user(&user("bob")).await.unwrap();
    s.create_team(&"acme".parse().unwrap(), "Acme", &ann.id).await.unwrap();
    let k = s.create_skill(&skill("acme", "tool"), now_millis()).await.unwrap();
    let channels = s.channels(&k.id).await.unwrap();
    assert_eq!(channels.len(), 1);
    assert_eq!((channels[0].name.as_str(), channels[0].version.clone()), ("latest", None));

    let at = now_millis();
    s.set_channel(&k.id, &"stable".parse().unwrap(), "1.0.0", at).await.unwrap();
    s.set_channel(&k.id, &"stable".parse().unwrap(), "1.1.0", at).await.unwrap();
    s.set_channel(&k.id, &"canary".parse().unwrap(), "2.0.0", at).await.unwrap();
    let names: Vec<(String, Option<String>)> =
        s.channels(&k.id).await.unwrap().into_iter().map(|c| (c.name, c.version)).collect();
    assert_eq!(
        names,
        [("latest".into(), None), ("canary".into(), Some("2.0.0".into())), ("stable".into(), Some("1.1.0".into()))]
    );
    assert!(!s.delete_channel(&k.id, "latest").await.unwrap(), "latest is never deleted");
    assert!(s.delete_channel(&k.id, "canary").await.unwrap());
    assert!(!s.delete_channel(&k.id, "canary").await.unwrap());

    assert_eq!(s.set_star(&k.id, &ann.id, true, at).await.unwrap(), 1);
    assert_eq!(s.set_star(&k.id, &ann.id, true, at).await.unwrap(), 1, "starring twice counts once");
    assert_eq!(s.set_star(&k.id, &bob.id, true, at).await.unwrap(), 2);
    assert_eq!(s.set_star(&k.id, &ann.id, false, at).await.unwrap(), 1);
    assert_eq!(s.set_star(&k.id, &ann.id, false, at).await.unwrap(), 1);
    assert_eq!(s.skill("acme", "tool").await.unwrap().unwrap().stars, 1);
}

async fn migrations_run_once(db: TestDb) {
    db.store.create_user(&user("ann")).await.unwrap();
    // Opening the same database again finds every migration applied and keeps the data.
    let again = skilldex::store::connect(&db.url).await.unwrap();
    assert_eq!(again.count_users().await.unwrap(), 1);
    assert_eq!(again.backend(), db.store.backend());
}

async fn npm_dists_are_recorded_once(db: TestDb) {
    use skilldex::store::NpmDist;
    let s = &db.store;
    let ann = s.create_user(&user("ann")).await.unwrap();
    s.create_team(&"acme".parse().unwrap(), "Acme", &ann.id).await.unwrap();
    let k = s.create_skill(&skill("acme", "tool"), now_millis()).await.unwrap();
    let other = s.create_skill(&skill("acme", "other"), now_millis()).await.unwrap();
    let version = |skill_id: &str, v: &str| NewVersion {
        skill_id: skill_id.to_owned(),
        version: v.into(),
        status: Some(VersionStatus::Published),
        ..Default::default()
    };
    let v1 = s.create_version(&version(&k.id, "1.0.0"), now_millis()).await.unwrap();
    let v2 = s.create_version(&version(&k.id, "2.0.0"), now_millis()).await.unwrap();
    let elsewhere = s.create_version(&version(&other.id, "1.0.0"), now_millis()).await.unwrap();
    assert!(s.npm_dists(&k.id).await.unwrap().is_empty());

    let dist = |n: i64| NpmDist { integrity: format!("sha512-{n}"), shasum: format!("{n:040}"), size: n };
    s.put_npm_dist(&v1.id, &dist(1)).await.unwrap();
    s.put_npm_dist(&v1.id, &dist(99)).await.unwrap();
    s.put_npm_dist(&elsewhere.id, &dist(3)).await.unwrap();
    assert_eq!(s.npm_dists(&k.id).await.unwrap(), [(v1.id.clone(), dist(1))], "the first record stays");
    s.put_npm_dist(&v2.id, &dist(2)).await.unwrap();
    let mut all = s.npm_dists(&k.id).await.unwrap();
    all.sort_by_key(|(_, d)| d.size);
    assert_eq!(all, [(v1.id.clone(), dist(1)), (v2.id.clone(), dist(2))], "only this skill's versions");
}

async fn one_finalize_claims_an_upload_at_a_time(db: TestDb) {
    use skilldex::store::Upload;
    let s = &db.store;
    let ann = s.create_user(&user("ann")).await.unwrap();
    let bob = s.create_user(&user("bob")).await.unwrap();
    s.create_team(&"acme".parse().unwrap(), "Acme", &ann.id).await.unwrap();
    let k = s.create_skill(&skill("acme", "tool"), now_millis()).await.unwrap();
    let t = 1_000_000;
    let upload = |id: &str, by: &str, at: i64| Upload {
        id: id.into(),
        skill_id: Some(k.id.clone()),
        version: "1.0.0".into(),
        archive_sha256: "a".repeat(64),
        archive_size: 10,
        metadata: "{}".into(),
        created_by: by.to_owned(),
        created_at: at,
        expires_at: at + 100,
    };
    s.put_upload(&upload("u0", &ann.id, t - 1)).await.unwrap();
    s.put_upload(&upload("u1", &ann.id, t)).await.unwrap();
    s.put_upload(&upload("b1", &bob.id, t)).await.unwrap();
    assert!(s.upload_by_id("u0").await.unwrap().is_some(), "a new prepare leaves the earlier one alone");
    assert_eq!(s.upload_for(&k.id, "1.0.0", &ann.id).await.unwrap().unwrap().id, "u1", "the newest is the default");
    assert_eq!(s.upload_for(&k.id, "1.0.0", &bob.id).await.unwrap().unwrap().id, "b1", "each finds their own");

    assert!(s.claim_version(&k.id, "1.0.0", "u1", t, t + 50).await.unwrap(), "the first publish gets the version");
    assert!(!s.claim_version(&k.id, "1.0.0", "b1", t + 10, t + 60).await.unwrap(), "another is turned away");
    assert!(s.claim_version(&k.id, "2.0.0", "b1", t + 10, t + 60).await.unwrap(), "other versions are free");
    assert!(s.expire_uploads(t + 45).await.unwrap().is_empty(), "nothing has expired yet");

    s.release_version(&k.id, "1.0.0", "b1").await.unwrap();
    assert!(!s.claim_version(&k.id, "1.0.0", "b1", t + 11, t + 60).await.unwrap(), "only the holder releases");
    s.release_version(&k.id, "1.0.0", "u1").await.unwrap();
    assert!(s.claim_version(&k.id, "1.0.0", "u1", t + 20, t + 70).await.unwrap(), "a released version is free");
    assert!(s.claim_version(&k.id, "1.0.0", "b1", t + 71, t + 120).await.unwrap(), "a lapsed claim is no claim");
    let mut expired = s.expire_uploads(t + 110).await.unwrap();
    expired.sort();
    assert_eq!(expired, ["u0", "u1"], "expired uploads go…");
    assert!(s.upload_by_id("b1").await.unwrap().is_some(), "…but not while its publish holds the version");
    assert_eq!(s.expire_uploads(t + 121).await.unwrap(), ["b1"], "…until the claim lapses too");
}

/// A JSON column that does not parse is an error naming the column, never a silently empty
/// value; the API answers 500 without the database's words.
async fn bad_json_in_a_column_fails_loudly(db: TestDb) {
    let url = db.url.clone();
    let app = crate::common::TestApp::new(db).await;
    let owner = app.user("ann", TokenScope::Admin).await;
    app.team("acme", &owner).await;
    app.skill("acme", "tool", "public", &owner).await;
    app.version("acme", "tool", "1.0.0", VersionStatus::Published).await;
    let listed = app.get("/api/v1/skills/acme/tool/versions", Some(&owner)).await;
    assert_eq!(listed.status, 200, "{}", listed.text);

    let corrupt = "UPDATE versions SET file_tree = '[{\"path\": 1' WHERE version = '1.0.0'";
    if url.starts_with("sqlite") {
        use sqlx::Connection as _;
        let mut c = sqlx::SqliteConnection::connect(&url).await.unwrap();
        sqlx::query(corrupt).execute(&mut c).await.unwrap();
    } else {
        use sqlx::Connection as _;
        let mut c = sqlx::PgConnection::connect(&url).await.unwrap();
        sqlx::query(corrupt).execute(&mut c).await.unwrap();
    }
    let skill = app.store().skill("acme", "tool").await.unwrap().unwrap();
    match app.store().version(&skill.id, "1.0.0").await {
        Err(StoreError::Corrupt(m)) => assert!(m.contains("versions.file_tree"), "{m}"),
        other => panic!("a corrupt column must be an error: {other:?}"),
    }
    let listed = app.get("/api/v1/skills/acme/tool/versions", Some(&owner)).await;
    assert_eq!(listed.status, 500, "{}", listed.text);
    assert!(!listed.text.contains("file_tree") && !listed.text.contains("EOF"), "{}", listed.text);
}

/// Every change search shows is sequenced by the database itself, in the transaction that
/// makes it (so a write that bypasses the service is followed too); downloads are not; old
/// entries can be forgotten without the sequence going back.
async fn changes_to_skills_are_sequenced_for_search(db: TestDb) {
    let s = &db.store;
    let ann = s.create_user(&user("ann")).await.unwrap();
    s.create_team(&"acme".parse().unwrap(), "Acme", &ann.id).await.unwrap();
    let start = s.last_skill_change().await.unwrap();
    let created = s.create_skill(&skill("acme", "tool"), now_millis()).await.unwrap();
    let patch = skilldex::domain::SkillPatch { description: Some("now described".into()), ..Default::default() };
    s.update_skill(&created.id, &patch, now_millis()).await.unwrap();
    let v = NewVersion {
        skill_id: created.id.clone(),
        version: "1.0.0".into(),
        status: Some(VersionStatus::Published),
        ..Default::default()
    };
    s.create_version(&v, now_millis()).await.unwrap();
    let changes = s.skill_changes_after(start, 100).await.unwrap();
    assert!(changes.len() >= 3, "created, described, released: {changes:?}");
    assert!(changes.iter().all(|(_, id, _)| *id == created.id));
    assert!(changes.windows(2).all(|w| w[0].0 < w[1].0), "in sequence");

    let last = s.last_skill_change().await.unwrap();
    s.record_usage(&created.id, UsageEvent::Download, true, now_millis()).await.unwrap();
    assert_eq!(s.last_skill_change().await.unwrap(), last, "downloads are not a change search follows");

    // Forgetting keeps the newest change, which shows how far the sequence has come.
    assert_eq!(s.prune_skill_changes(now_millis() + 1).await.unwrap() as usize, changes.len() - 1);
    let kept = s.skill_changes_after(start, 100).await.unwrap();
    assert_eq!(kept.iter().map(|c| c.0).collect::<Vec<_>>(), [last]);
    assert_eq!(s.last_skill_change().await.unwrap(), last);
    s.update_skill(&created.id, &patch, now_millis()).await.unwrap();
    let after = s.skill_changes_after(last, 100).await.unwrap();
    assert_eq!(after.len(), 1);
    assert!(after[0].0 > last, "numbers never go back after old entries are forgotten");
}

/// A namespace's reports look skills and versions up by id, as many as it has: more than one
/// statement may bind (PostgreSQL refuses over 65 535 arguments, SQLite over 32 766).
async fn lookups_by_many_ids_pass_any_bound_argument_limit(db: TestDb) {
    let s = &db.store;
    let ann = s.create_user(&user("ann")).await.unwrap();
    s.create_team(&"acme".parse().unwrap(), "Acme", &ann.id).await.unwrap();
    let mut ids: Vec<String> = (0..70_000).map(|i| format!("missing-{i}")).collect();
    let mut real = Vec::new();
    for name in ["one", "two", "three"] {
        let k = s.create_skill(&skill("acme", name), now_millis()).await.unwrap();
        let v = NewVersion {
            skill_id: k.id.clone(),
            version: "1.0.0".into(),
            status: Some(VersionStatus::Published),
            ..Default::default()
        };
        s.create_version(&v, now_millis()).await.unwrap();
        ids.insert(ids.len() / 2, k.id.clone());
        real.push(k.id);
    }
    let mut found: Vec<String> = s.skills_by_ids(&ids).await.unwrap().into_iter().map(|k| k.id).collect();
    found.sort();
    real.sort();
    assert_eq!(found, real);
    let mut latest: Vec<String> = s.latest_versions(&ids).await.unwrap().into_iter().map(|v| v.skill_id).collect();
    latest.sort();
    assert_eq!(latest, real);
}

/// The layout's listing is read a page at a time: every manifest comes once, in
/// (repository, digest) order, with all its tags, whatever the page size.
async fn manifest_pages_list_every_manifest_once_with_its_tags(db: TestDb) {
    let store = &db.store;
    let mut expected = Vec::new();
    for (i, repo) in ["acme/b", "acme/a", "zeta/x"].iter().cycle().take(7).enumerate() {
        let digest = format!("sha256:{:064x}", 7 - i);
        let m = skilldex::store::OciManifest {
            repo: repo.to_string(),
            digest: digest.clone(),
            media_type: "application/vnd.oci.image.manifest.v1+json".into(),
            size: 10,
            artifact_type: None,
            subject: None,
            annotations: None,
            created_at: i as i64,
        };
        // Some manifests have no tag, one has two.
        let tags: Vec<String> = match i {
            0 => vec!["1.0.0".into(), "latest".into()],
            1 | 4 => vec![format!("t{i}")],
            _ => vec![],
        };
        store.oci_put_manifest(&m, &[], tags.first().map(String::as_str)).await.unwrap();
        for t in tags.iter().skip(1) {
            store.oci_put_manifest(&m, &[], Some(t)).await.unwrap();
        }
        expected.push((repo.to_string(), digest, tags));
    }
    expected.sort();
    for limit in [1, 2, 3, 7, 100] {
        let mut seen = Vec::new();
        let mut after: Option<(String, String)> = None;
        loop {
            let page =
                store.oci_manifest_page(after.as_ref().map(|(r, d)| (r.as_str(), d.as_str())), limit).await.unwrap();
            assert!(page.len() as i64 <= limit);
            seen.extend(page.iter().map(|(m, tags)| (m.repo.clone(), m.digest.clone(), tags.clone())));
            match page.last() {
                Some((m, _)) if page.len() as i64 == limit => after = Some((m.repo.clone(), m.digest.clone())),
                _ => break,
            }
        }
        assert_eq!(seen, expected, "pages of {limit}");
    }
}
