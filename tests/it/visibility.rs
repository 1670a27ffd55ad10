//! Visibility is one rule with three forms: `access::can_see` in memory (single skills, the
//! registry gate) and the SQL filter every listing and count runs, and the search engine's
//! query. Over generated teams, roles and skills, all three agree for every caller.

use std::collections::BTreeSet;

use rand::rngs::StdRng;
use rand::{Rng as _, SeedableRng as _};
use skilldex::domain::{SkillSort, SkillType, TeamRole, TokenKind, TokenScope, VersionStatus, Visibility, now_millis};
use skilldex::service::access::{can_see, hash_token};
use skilldex::service::search::{self, SearchEngine};
use skilldex::service::{Caller, Index};
use skilldex::store::{NewSkill, NewToken, NewUser, NewVersion, SkillQuery};

use crate::common::{TestDb, on_both_backends};

on_both_backends!(listings_and_single_reads_agree_on_visibility);

const USERS: usize = 7;
const NAMESPACES: usize = 4;
const SKILLS: usize = 60;

async fn listings_and_single_reads_agree_on_visibility(db: TestDb) {
    let store = db.store.clone();
    let index = Index::new(store.clone());
    // A fixed seed, so a disagreement is reproducible; printed with any failure.
    let seed = 0x5eed_u64 ^ SKILLS as u64;
    let mut rng = StdRng::seed_from_u64(seed);
    let now = now_millis();

    let mut users = Vec::new();
    for i in 0..USERS {
        let new =
            NewUser { username: format!("user{i}").parse().unwrap(), email: format!("u{i}@x.test"), is_admin: i == 0 };
        users.push(store.create_user(&new).await.unwrap());
    }
    let roles = [None, Some(TeamRole::Reader), Some(TeamRole::Publisher), Some(TeamRole::Owner)];
    for n in 0..NAMESPACES {
        let owner = &users[1 + n % (USERS - 1)];
        let team = store.create_team(&format!("ns{n}").parse().unwrap(), "team", &owner.id).await.unwrap();
        for user in users.iter().skip(1).filter(|u| u.id != owner.id) {
            if let Some(role) = roles[rng.random_range(0..roles.len())] {
                store.set_member(&team.id, &user.id, role, now).await.unwrap();
            }
        }
    }
    for i in 0..SKILLS {
        let visibility = if rng.random_bool(0.5) { Visibility::Public } else { Visibility::Private };
        let new = NewSkill {
            namespace: format!("ns{}", rng.random_range(0..NAMESPACES)).parse().unwrap(),
            name: format!("skill{i}").parse().unwrap(),
            display_name: format!("skill {i}"),
            description: "a widget helper".into(),
            readme: String::new(),
            visibility,
            tags: vec![],
            skill_type: SkillType::Command,
            kind: skilldex::domain::SkillKind::Skill,
            forked_from: None,
        };
        let skill = store.create_skill(&new, now).await.unwrap();
        if rng.random_bool(0.6) {
            let v = NewVersion {
                skill_id: skill.id.clone(),
                version: "1.0.0".into(),
                status: Some(VersionStatus::Published),
                ..Default::default()
            };
            store.create_version(&v, now).await.unwrap();
        }
        if rng.random_bool(0.2) {
            store.set_skill_deleted(&skill.id, Some(now)).await.unwrap();
        }
    }

    // Each user signs in with a token: the store reads the user's namespaces with it.
    let mut callers = vec![Caller::Anonymous];
    for user in &users {
        let new = NewToken {
            user_id: user.id.clone(),
            name: "t".into(),
            scope: TokenScope::Read,
            kind: TokenKind::Standard,
            hash: hash_token(&format!("secret-{}", user.id)),
            expires_at: None,
        };
        store.create_token(&new).await.unwrap();
        callers.push(index.authenticate(Some(&format!("secret-{}", user.id))).await.unwrap());
    }
    assert!(callers.iter().any(|c| c.member_namespaces().len() > 1), "some user is a member of several teams");

    // Every skill, deleted or not, read whatever its visibility.
    let mut all = Vec::new();
    for i in 0..SKILLS {
        let found = (0..NAMESPACES).map(|n| format!("ns{n}"));
        for ns in found {
            if let Some(s) = store.skill(&ns, &format!("skill{i}")).await.unwrap() {
                all.push(s);
            }
        }
    }
    assert_eq!(all.len(), SKILLS);
    assert!(all.iter().any(|s| s.latest_version.is_some()) && all.iter().any(|s| s.latest_version.is_none()));
    assert!(all.iter().any(|s| s.deleted_at.is_some()));

    // The search engine holds every skill; it decides visibility in its own query.
    let engine = SearchEngine::in_memory().unwrap();
    let stamp = skilldex::service::search::Stamp { format: 1, site: "test".into(), watermark: 0 };
    engine.apply(&all, &[], Some(&stamp)).unwrap();

    let mut shown_to_someone = 0;
    for caller in &callers {
        let who = caller.username().unwrap_or("anonymous").to_owned();
        let mut expected = BTreeSet::new();
        let mut expected_published = BTreeSet::new();
        for skill in &all {
            let role = index.role_in(caller, skill.namespace.as_str()).await.unwrap();
            let visible = can_see(skill, role);
            // A single read (owners may open deleted skills to restore them) follows can_see.
            let read = index.catalog().get_skill(caller, &skill.namespace, &skill.name).await;
            assert_eq!(read.is_ok(), visible, "seed {seed}: {who} reading {}/{}", skill.namespace, skill.name);
            // Listings never show deleted skills, to anyone.
            if visible && skill.deleted_at.is_none() {
                expected.insert(skill.id.clone());
                if skill.latest_version.is_some() {
                    expected_published.insert(skill.id.clone());
                }
            }
        }
        shown_to_someone += expected.len();
        for (terms, published_only, want) in [
            (vec![], false, &expected),
            (vec!["widget".to_owned()], false, &expected),
            (vec![], true, &expected_published),
            (vec!["widget".to_owned()], true, &expected_published),
        ] {
            let query = SkillQuery {
                terms: terms.clone(),
                namespace: None,
                tags: vec![],
                skill_type: None,
                kind: None,
                sort: SkillSort::Name,
                after: None,
                limit: 1000,
                audience: caller.audience(),
                published_only,
                deprecated: None,
                archived: None,
                namespace_globs: vec![],
                offset: 0,
            };
            let listed: BTreeSet<String> =
                store.list_skills(&query).await.unwrap().into_iter().map(|h| h.skill.id).collect();
            let what = format!("seed {seed}: {who}, terms {terms:?}, published only {published_only}");
            assert_eq!(&listed, want, "{what}");
            assert_eq!(store.count_skills(&query).await.unwrap(), want.len() as i64, "{what}: the count agrees");
            if !terms.is_empty() {
                let visible = search::reach_of(&query.audience, caller.member_namespaces());
                let page = engine.search(&query, &visible, true).unwrap();
                assert_eq!(page.total, Some(want.len() as i64), "{what}: engine count");
                let found: BTreeSet<String> = page.ids.into_iter().collect();
                assert_eq!(&found, want, "{what}: the search engine agrees");
            }
        }
    }
    assert!(shown_to_someone > 0 && shown_to_someone < callers.len() * SKILLS, "the data covers both outcomes");
}
