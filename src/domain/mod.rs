//! The vocabulary of the index: validated names, scopes, roles and statuses.
//!
//! Every value that crosses a trust boundary is parsed into one of these types once (at the
//! HTTP edge, in the CLI, or when reading the database), so the services below never see an
//! unchecked string where a name is meant.

pub mod entity;

pub use entity::{
    AuditEntry, Channel, Member, NpmDist, ReleasedVersion, Skill, SkillHit, SkillPatch, SkillSort, Team, Token, Upload,
    User, Version,
};

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, TimeZone, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Why a value was refused; the message is meant for the person who sent it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidValue(pub String);

fn invalid(msg: impl Into<String>) -> InvalidValue {
    InvalidValue(msg.into())
}

/// Declares a string newtype whose only constructor runs `$check`.
/// Its OpenAPI schema states the rule: length, characters and pattern.
macro_rules! checked_name {
    ($doc:literal, $name:ident, $rule:path) => {
        #[doc = $doc]
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                $rule.schema($doc)
            }
        }

        impl ToSchema for $name {}

        impl $name {
            pub fn as_str(&self) -> &str {
                &self.0
            }

            /// The rule as the regular expression the OpenAPI document states.
            pub fn schema_pattern() -> &'static str {
                $rule.pattern
            }
        }

        impl FromStr for $name {
            type Err = InvalidValue;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                $rule.check(s)?;
                Ok(Self(s.to_owned()))
            }
        }

        impl TryFrom<String> for $name {
            type Error = InvalidValue;
            fn try_from(s: String) -> Result<Self, Self::Error> {
                $rule.check(&s)?;
                Ok(Self(s))
            }
        }

        impl From<$name> for String {
            fn from(v: $name) -> String {
                v.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
    };
}

checked_name!(
    "A namespace (csreg \"scope\", ToolHive \"namespace\"): `backend`, `io.github.acme`.
Each namespace is owned by the team with the same slug.",
    Namespace,
    NAMESPACE
);
checked_name!(
    "A skill's name as the Agent Skills format defines it: lowercase letters, digits and
single hyphens, at most 64 characters.",
    SkillName,
    SKILL_NAME
);
checked_name!("A user's login name.", Username, USERNAME);
checked_name!(
    "A channel: a named, movable pointer to one version (`stable`, `canary`, `latest`).
It starts with a letter, so it can never be mistaken for a semver version or range.",
    ChannelName,
    CHANNEL_NAME
);
checked_name!("A search tag on a skill.", Tag, TAG);

/// The shape of a name: length, the punctuation allowed between letters and digits, and
/// whether it must start with a letter. Every name starts and ends with a letter or digit.
struct NameRule {
    what: &'static str,
    max: usize,
    punct: &'static [u8],
    letter_first: bool,
    /// No two punctuation characters in a row (Agent Skills names: no `--`).
    single_punct: bool,
    hint: &'static str,
    /// The same rule as a regular expression, for the OpenAPI document (a unit test holds
    /// the two together).
    pattern: &'static str,
}

impl NameRule {
    fn check(&self, s: &str) -> Result<(), InvalidValue> {
        let b = s.as_bytes();
        let ok = !b.is_empty()
            && b.len() <= self.max
            && b.iter().all(|&c| is_alnum_lower(c) || self.punct.contains(&c))
            && (if self.letter_first { b[0].is_ascii_lowercase() } else { is_alnum_lower(b[0]) })
            && is_alnum_lower(b[b.len() - 1])
            && !(self.single_punct && b.windows(2).any(|w| self.punct.contains(&w[0]) && self.punct.contains(&w[1])));
        if ok { Ok(()) } else { Err(invalid(format!("invalid {} `{}`: use {}", self.what, truncate(s), self.hint))) }
    }

    fn schema(&self, description: &str) -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{ObjectBuilder, Type};
        ObjectBuilder::new()
            .schema_type(Type::String)
            .description(Some(description))
            .min_length(Some(1))
            .max_length(Some(self.max))
            .pattern(Some(self.pattern))
            .into()
    }
}

const NAMESPACE: NameRule = NameRule {
    what: "namespace",
    max: 128,
    punct: b".-",
    letter_first: false,
    single_punct: false,
    hint: "1-128 lowercase letters, digits, '.' or '-', starting and ending with a letter or digit",
    pattern: r"^[a-z0-9]([a-z0-9.-]{0,126}[a-z0-9])?$",
};
const SKILL_NAME: NameRule = NameRule {
    what: "skill name",
    max: 64,
    punct: b"-",
    letter_first: false,
    single_punct: true,
    hint: "1-64 lowercase letters, digits and single hyphens, not starting or ending with a hyphen",
    pattern: r"^[a-z0-9]+(-[a-z0-9]+)*$",
};
const USERNAME: NameRule = NameRule {
    what: "username",
    max: 39,
    punct: b"-_",
    letter_first: false,
    single_punct: false,
    hint: "1-39 lowercase letters, digits, '-' or '_', starting and ending with a letter or digit",
    pattern: r"^[a-z0-9]([a-z0-9_-]{0,37}[a-z0-9])?$",
};
const CHANNEL_NAME: NameRule = NameRule {
    what: "channel name",
    max: 32,
    punct: b"-",
    letter_first: true,
    single_punct: false,
    hint: "1-32 lowercase letters, digits or '-', starting with a letter and ending with a letter or digit",
    pattern: r"^[a-z]([a-z0-9-]{0,30}[a-z0-9])?$",
};
const TAG: NameRule = NameRule {
    what: "tag",
    max: 32,
    punct: b"-",
    letter_first: false,
    single_punct: false,
    hint: "1-32 lowercase letters, digits or '-', starting and ending with a letter or digit",
    pattern: r"^[a-z0-9]([a-z0-9-]{0,30}[a-z0-9])?$",
};

fn is_alnum_lower(b: u8) -> bool {
    b.is_ascii_lowercase() || b.is_ascii_digit()
}

/// Echoes at most a short prefix of rejected input back to the caller.
pub fn truncate(s: &str) -> String {
    let mut out: String = s.chars().take(64).collect();
    if out.len() < s.len() {
        out.push('…');
    }
    out.escape_debug().to_string()
}

/// The longest version, range or channel a request may name.
pub const MAX_VERSION_LEN: usize = 128;

/// A release version: strict semver 2.0 (`1.2.3`, `1.0.0-rc.1`), no leading `v`.
pub fn parse_version(s: &str) -> Result<semver::Version, InvalidValue> {
    check_version_len(s)?;
    semver::Version::parse(s)
        .map_err(|e| invalid(format!("invalid version `{}`: {e} (expected semver such as 1.2.3)", truncate(s))))
}

/// Refuses a version, range or channel longer than `MAX_VERSION_LEN`, before any parsing.
pub fn check_version_len(s: &str) -> Result<(), InvalidValue> {
    if s.len() > MAX_VERSION_LEN {
        return Err(invalid(format!("invalid version: longer than {MAX_VERSION_LEN} characters")));
    }
    Ok(())
}

/// Picks the version `latest` should point at: the highest release, or the highest
/// pre-release when there is nothing else (what Cargo and npm users expect).
pub fn pick_latest<'a>(versions: impl IntoIterator<Item = &'a str>) -> Option<String> {
    let parsed: Vec<semver::Version> = versions.into_iter().filter_map(|v| semver::Version::parse(v).ok()).collect();
    let best_release = parsed.iter().filter(|v| v.pre.is_empty()).max();
    best_release.or_else(|| parsed.iter().max()).map(|v| v.to_string())
}

/// Declares a closed set of lowercase wire words.
macro_rules! word_enum {
    ($(#[$doc:meta])* $name:ident { $($variant:ident => $word:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
        #[serde(rename_all = "kebab-case")]
        pub enum $name { $($variant),+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $word),+ }
            }
        }

        impl FromStr for $name {
            type Err = InvalidValue;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($word => Ok($name::$variant),)+
                    _ => Err(invalid(format!(
                        "invalid {} `{}`: expected one of {}",
                        stringify!($name).to_lowercase(),
                        truncate(s),
                        [$($word),+].join(", ")
                    ))),
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

word_enum!(
    /// What a token may do at most; ordered `read < write < admin`.
    TokenScope { Read => "read", Write => "write", Admin => "admin" }
);
word_enum!(
    /// What a token is for. A `standard` token may do what its scope allows. The two agent
    /// kinds (SkillsMgr's) are made to be pasted into an agent: an `agent-bridge` token
    /// searches, reads, installs, wishes and reviews and never publishes; an
    /// `agent-publisher` token may also publish new versions. Neither ever changes anything
    /// else: not tokens, channels (npm dist-tags), settings, lifecycle (yank, unpublish,
    /// deprecate) nor teams.
    TokenKind { Standard => "standard", AgentBridge => "agent-bridge", AgentPublisher => "agent-publisher" }
);

impl TokenKind {
    /// Whether tokens of this kind are agent tokens.
    pub fn is_agent(self) -> bool {
        self != TokenKind::Standard
    }

    /// The scope every token of an agent kind has (`read`, `write`); none for standard
    /// tokens, which carry their own.
    pub fn fixed_scope(self) -> Option<TokenScope> {
        match self {
            TokenKind::Standard => None,
            TokenKind::AgentBridge => Some(TokenScope::Read),
            TokenKind::AgentPublisher => Some(TokenScope::Write),
        }
    }
}

word_enum!(
    /// A member's role in a team; ordered `reader < publisher < owner`.
    TeamRole { Reader => "reader", Publisher => "publisher", Owner => "owner" }
);
word_enum!(
    /// Who may see a skill: everyone, or only members of its namespace.
    Visibility { Public => "public", Private => "private" }
);
word_enum!(
    /// The kind of skill, as csreg classifies them.
    SkillType { Command => "command", Context => "context", Template => "template", Composite => "composite" }
);
word_enum!(
    /// What a skill is, as skill-pool classifies them: a skill, an agent definition or a
    /// slash command.
    SkillKind { Skill => "skill", Agent => "agent", Command => "command" }
);
word_enum!(
    /// SkillsMgr's review ratings: `grande` recommends strongly, `regular` with caveats.
    ReviewRating { Grande => "grande", Regular => "regular" }
);
word_enum!(
    /// What a review is of: a skill (an npm package, for SkillsMgr) or a collection.
    ReviewTarget { Package => "package", Collection => "collection" }
);
word_enum!(
    /// Whether a wish still waits for a skill.
    WishStatus { Open => "open", Closed => "closed" }
);
word_enum!(
    /// Where a draft stands in the inbox.
    DraftStatus { Pending => "pending", Published => "published", Discarded => "discarded" }
);
word_enum!(
    /// The life of a version: a draft is unfinished, a published version is installable,
    /// a yanked one is no longer picked by ranges or channels but still resolves when pinned.
    VersionStatus { Draft => "draft", Published => "published", Yanked => "yanked" }
);

/// Orders by privilege, so that `scope >= TokenScope::Write` reads as intended.
fn rank_scope(s: TokenScope) -> u8 {
    match s {
        TokenScope::Read => 0,
        TokenScope::Write => 1,
        TokenScope::Admin => 2,
    }
}

fn rank_role(r: TeamRole) -> u8 {
    match r {
        TeamRole::Reader => 0,
        TeamRole::Publisher => 1,
        TeamRole::Owner => 2,
    }
}

impl PartialOrd for TokenScope {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for TokenScope {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        rank_scope(*self).cmp(&rank_scope(*other))
    }
}
impl PartialOrd for TeamRole {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for TeamRole {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        rank_role(*self).cmp(&rank_role(*other))
    }
}

/// Milliseconds since the Unix epoch: how the store keeps every instant on both backends.
pub type Millis = i64;

pub fn now_millis() -> Millis {
    Utc::now().timestamp_millis()
}

pub fn to_datetime(ms: Millis) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(ms).single().unwrap_or_default()
}

/// A skill named `namespace/name` (npm's `@namespace/name` too), as users write it.
pub fn parse_skill_ref(s: &str) -> Result<(Namespace, SkillName), InvalidValue> {
    let (namespace, name) = s
        .strip_prefix('@')
        .unwrap_or(s)
        .split_once('/')
        .ok_or_else(|| invalid(format!("`{}`: name a skill as namespace/name", truncate(s))))?;
    Ok((namespace.parse()?, name.parse()?))
}

/// A fresh, time-ordered identifier (UUIDv7), so ids sort by creation.
pub fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every string of up to four characters from an alphabet of each kind of character, and
    /// the lengths around each maximum: the pattern in the OpenAPI document and the check the
    /// server runs agree on all of them.
    #[test]
    fn documented_patterns_match_the_name_rules() {
        let alphabet = ['a', 'z', '0', '.', '-', '_', 'A', '/'];
        let mut samples = vec![String::new()];
        let mut frontier = vec![String::new()];
        for _ in 0..4 {
            frontier = frontier.iter().flat_map(|s| alphabet.iter().map(move |c| format!("{s}{c}"))).collect();
            samples.extend(frontier.iter().cloned());
        }
        for rule in [&NAMESPACE, &SKILL_NAME, &USERNAME, &CHANNEL_NAME, &TAG] {
            let pattern = regex::Regex::new(rule.pattern).unwrap();
            let mut cases = samples.clone();
            for n in [rule.max - 1, rule.max, rule.max + 1] {
                cases.push("a".repeat(n));
                cases.push(format!("a{}a", "-".repeat(n.saturating_sub(2))));
            }
            for s in cases {
                let documented = pattern.is_match(&s) && s.len() <= rule.max;
                assert_eq!(documented, rule.check(&s).is_ok(), "{}: {s:?}", rule.what);
            }
        }
    }

    #[test]
    fn namespaces_accept_reverse_dns_and_plain_slugs() {
        for ok in ["backend", "io.github.acme", "a", "a1", "x-y.z"] {
            assert!(ok.parse::<Namespace>().is_ok(), "{ok}");
        }
        let long = "a".repeat(129);
        for bad in ["", "-a", "a-", "A", "a_b", "a/b", ".a", "a.", long.as_str()] {
            assert!(bad.parse::<Namespace>().is_err(), "{bad}");
        }
    }

    #[test]
    fn skill_names_follow_agent_skills_rules() {
        assert!("code-reviewer".parse::<SkillName>().is_ok());
        for bad in ["Code", "a--b", "-a", "a-", "", "a.b", &"a".repeat(65)] {
            assert!(bad.parse::<SkillName>().is_err(), "{bad}");
        }
    }

    #[test]
    fn channel_names_cannot_look_like_versions() {
        assert!("stable".parse::<ChannelName>().is_ok());
        assert!("1.2.3".parse::<ChannelName>().is_err());
        assert!("^1".parse::<ChannelName>().is_err());
    }

    #[test]
    fn scopes_and_roles_are_ordered_by_privilege() {
        assert!(TokenScope::Read < TokenScope::Write && TokenScope::Write < TokenScope::Admin);
        assert!(TeamRole::Reader < TeamRole::Publisher && TeamRole::Publisher < TeamRole::Owner);
        assert_eq!("write".parse::<TokenScope>().unwrap(), TokenScope::Write);
        assert!("root".parse::<TokenScope>().unwrap_err().0.contains("read, write, admin"));
    }

    /// The wire form (serde, and so the OpenAPI document) of every word enum is its word.
    #[test]
    fn every_word_is_its_wire_form() {
        fn same<T: serde::Serialize + Copy>(all: &[T], word: impl Fn(T) -> &'static str) {
            for &v in all {
                assert_eq!(serde_json::to_value(v).unwrap(), serde_json::json!(word(v)));
            }
        }
        same(TokenScope::ALL, TokenScope::as_str);
        same(TokenKind::ALL, TokenKind::as_str);
        same(TeamRole::ALL, TeamRole::as_str);
        same(Visibility::ALL, Visibility::as_str);
        same(SkillType::ALL, SkillType::as_str);
        same(SkillKind::ALL, SkillKind::as_str);
        same(DraftStatus::ALL, DraftStatus::as_str);
        same(VersionStatus::ALL, VersionStatus::as_str);
        same(WishStatus::ALL, WishStatus::as_str);
        same(ReviewRating::ALL, ReviewRating::as_str);
        same(ReviewTarget::ALL, ReviewTarget::as_str);
    }

    #[test]
    fn latest_prefers_releases_over_prereleases() {
        assert_eq!(pick_latest(["1.0.0", "1.10.0", "1.9.0", "2.0.0-rc.1"]), Some("1.10.0".into()));
        assert_eq!(pick_latest(["0.1.0-alpha", "0.1.0-beta"]), Some("0.1.0-beta".into()));
        assert_eq!(pick_latest([]), None);
    }

    #[test]
    fn versions_reject_non_semver() {
        assert!(parse_version("1.2.3").is_ok());
        for bad in ["v1.2.3", "1.2", "latest", "01.2.3"] {
            assert!(parse_version(bad).is_err(), "{bad}");
        }
    }
}
