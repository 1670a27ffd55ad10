//! Schemas that state in the OpenAPI document what the server checks: lengths, characters,
//! patterns and ranges. Fields name them with `#[schema(schema_with = …)]` or
//! `#[param(schema_with = …)]`; the document is tested against the server with generated
//! requests (schemathesis, in the e2e suite), so a rule kept only in code shows up as drift.

use utoipa::openapi::schema::{ObjectBuilder, SchemaType, Type};
use utoipa::openapi::{RefOr, Schema};

use crate::domain::MAX_VERSION_LEN;
use crate::service::limits;

/// The characters `check_text` refuses: controls other than tab, newline and return.
const CONTROLS: &str = r"\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F";

/// Free text without control characters (tab, newline and return allowed).
fn free_text(max: usize) -> ObjectBuilder {
    ObjectBuilder::new().schema_type(Type::String).max_length(Some(max)).pattern(Some(format!("^[^{CONTROLS}]*$")))
}

/// Free text with at least one character that is not white space.
fn filled_text(max: usize) -> ObjectBuilder {
    let ok = format!("[^{CONTROLS}]*");
    ObjectBuilder::new()
        .schema_type(Type::String)
        .min_length(Some(1))
        .max_length(Some(max))
        .pattern(Some(format!(r"^{ok}[^\s{CONTROLS}]{ok}$")))
}

fn nullable(b: ObjectBuilder) -> ObjectBuilder {
    b.schema_type(SchemaType::from_iter([Type::String, Type::Null]))
}

fn done(b: ObjectBuilder) -> RefOr<Schema> {
    RefOr::T(Schema::Object(b.build()))
}

/// A display name: 1–100 characters, not blank.
pub fn display_name() -> RefOr<Schema> {
    done(filled_text(limits::DISPLAY_NAME))
}

/// An optional display name.
pub fn display_name_opt() -> RefOr<Schema> {
    done(nullable(filled_text(limits::DISPLAY_NAME)))
}

/// An optional description: at most 1024 characters.
pub fn description_opt() -> RefOr<Schema> {
    done(nullable(free_text(limits::DESCRIPTION)))
}

/// An optional README: at most 512 KiB of characters.
pub fn readme_opt() -> RefOr<Schema> {
    done(nullable(free_text(limits::README)))
}

/// A token's name: 1–64 characters, not blank.
pub fn token_name() -> RefOr<Schema> {
    done(filled_text(limits::TOKEN_NAME))
}

/// A deprecation message: at most 500 characters.
pub fn deprecation_message_opt() -> RefOr<Schema> {
    done(nullable(free_text(limits::DEPRECATION_MESSAGE)))
}

/// An email address: something before and after one `@`, no spaces or controls, at most
/// 254 characters.
pub fn email() -> RefOr<Schema> {
    let part = format!(r"[^@\s{CONTROLS}]+");
    done(
        ObjectBuilder::new()
            .schema_type(Type::String)
            .max_length(Some(limits::EMAIL))
            .pattern(Some(format!("^{part}@{part}$"))),
    )
}

/// A collection's name: 1–100 characters, not blank.
pub fn collection_name() -> RefOr<Schema> {
    done(filled_text(crate::service::collections::NAME_MAX))
}

/// `namespace/name`: the pattern of each half, joined.
/// (Two patterns, since a skill name's length and its hyphens are two rules a regular
/// expression without look-ahead states only apart.)
pub fn skill_ref() -> RefOr<Schema> {
    selection("")
}

/// `namespace/name` followed by `suffix` (a regular expression).
fn selection(suffix: &str) -> RefOr<Schema> {
    let ns = crate::domain::Namespace::schema_pattern().trim_end_matches('$');
    let name = crate::domain::SkillName::schema_pattern().trim_start_matches('^').trim_end_matches('$');
    let shape = ObjectBuilder::new().schema_type(Type::String).pattern(Some(format!("{ns}/{name}{suffix}$")));
    let name_length =
        ObjectBuilder::new().schema_type(Type::String).pattern(Some(format!("^[^/]{{1,128}}/[^/@]{{1,64}}{suffix}$")));
    RefOr::T(Schema::AllOf(utoipa::openapi::schema::AllOfBuilder::new().item(shape).item(name_length).build()))
}

/// A collection's skills: at most 200 `namespace/name`, each once.
pub fn collection_items() -> RefOr<Schema> {
    let items = utoipa::openapi::schema::ArrayBuilder::new()
        .items(skill_ref())
        .max_items(Some(crate::service::collections::ITEMS_MAX))
        .unique_items(true);
    RefOr::T(Schema::Array(items.build()))
}

/// A skill's tags: at most 20.
pub fn tags_opt() -> RefOr<Schema> {
    let items = utoipa::openapi::schema::ArrayBuilder::new()
        .schema_type(SchemaType::from_iter([Type::Array, Type::Null]))
        .items(<crate::domain::Tag as utoipa::PartialSchema>::schema())
        .max_items(Some(limits::TAGS));
    RefOr::T(Schema::Array(items.build()))
}

/// A search query: at most 256 characters (only its first 16 words are searched).
pub fn query() -> RefOr<Schema> {
    done(nullable(ObjectBuilder::new().max_length(Some(limits::QUERY))))
}

/// One of these words, or null.
fn words(words: &[&str]) -> RefOr<Schema> {
    let values = words.iter().map(|w| Some(*w)).chain([None]);
    done(nullable(ObjectBuilder::new().enum_values(Some(values))))
}

/// How a finalized upload is published.
pub fn finalize_status() -> RefOr<Schema> {
    words(&["published", "draft"])
}

/// How a skill list is ordered.
pub fn skill_sort() -> RefOr<Schema> {
    words(&["downloads", "updated", "name", "stars", "relevance"])
}

/// How a query matches.
pub fn search_mode() -> RefOr<Schema> {
    words(&["keyword", "semantic", "hybrid"])
}

/// A channel a caller may set or remove: any channel name but `latest`, which follows the
/// highest version by itself.
pub fn settable_channel() -> RefOr<Schema> {
    done(
        ObjectBuilder::new()
            .schema_type(Type::String)
            .min_length(Some(1))
            .max_length(Some(32))
            .pattern(Some(settable_channel_pattern())),
    )
}

/// The channel-name rule without the one word `latest`, spelled out position by position
/// (the pattern dialects schemathesis and Rust share have no look-ahead).
fn settable_channel_pattern() -> String {
    const WORD: &str = "latest";
    let any = "[a-z0-9-]";
    let last = "[a-z0-9]";
    // Names of another length than the word's.
    let mut alternatives = vec![
        format!("[a-z]({any}{{0,{}}}{last})?", WORD.len() - 3),
        format!("[a-z]{any}{{{},30}}{last}", WORD.len() - 1),
    ];
    // Names of its length that leave it at position `i`.
    for (i, c) in WORD.char_indices() {
        let class = if i == 0 {
            "a-z"
        } else if i == WORD.len() - 1 {
            "a-z0-9"
        } else {
            "a-z0-9-"
        };
        let others = class.replace("a-z", &format!("a-{}{}-z", prev(c), next(c)));
        let others = others.replace("a-`", "").replace("{-z", "");
        let rest = WORD.len() - i - 1;
        let tail = if rest == 0 { String::new() } else { format!("{any}{{{}}}{last}", rest - 1) };
        alternatives.push(format!("{}[{others}]{tail}", &WORD[..i]));
    }
    format!("^({})$", alternatives.join("|"))
}

fn prev(c: char) -> char {
    char::from(c as u8 - 1)
}

fn next(c: char) -> char {
    char::from(c as u8 + 1)
}

/// A base64 text (padded, as the standard alphabet writes it).
pub fn base64() -> RefOr<Schema> {
    let quad = "[A-Za-z0-9+/]";
    // The last character before padding carries no stray bits (the decoder refuses them).
    let (two, three) = ("[AQgw]", "[AEIMQUYcgkosw048]");
    let pattern = format!("^({quad}{{4}})*({quad}{two}==|{quad}{{2}}{three}=)?$");
    done(ObjectBuilder::new().schema_type(Type::String).pattern(Some(pattern)))
}

/// An optional namespace.
pub fn namespace_opt() -> RefOr<Schema> {
    let pattern = crate::domain::Namespace::schema_pattern();
    done(nullable(ObjectBuilder::new().min_length(Some(1)).max_length(Some(128)).pattern(Some(pattern))))
}

/// What an export names: 1 to 1000 `namespace/name`, each with an optional
/// `@version|range|channel` (at most 128 characters after the `@`).
pub fn export_selection() -> RefOr<Schema> {
    let items = utoipa::openapi::schema::ArrayBuilder::new()
        .items(selection(&format!("(@[^@]{{1,{MAX_VERSION_LEN}}})?")))
        .min_items(Some(1))
        .max_items(Some(crate::service::transfer::MAX_SELECTION));
    RefOr::T(Schema::Array(items.build()))
}

/// A source's name: 1–64 lowercase letters, digits and inner hyphens.
pub fn source_name() -> RefOr<Schema> {
    done(
        ObjectBuilder::new()
            .schema_type(Type::String)
            .max_length(Some(64))
            .pattern(Some("^[a-z0-9]([a-z0-9-]*[a-z0-9])?$")),
    )
}

/// Seconds between a source's runs: 0, or 60 to a year.
pub fn source_interval() -> RefOr<Schema> {
    use utoipa::openapi::schema::OneOfBuilder;
    let never = ObjectBuilder::new().schema_type(Type::Integer).minimum(Some(0)).maximum(Some(0));
    let year = crate::service::sources::MAX_INTERVAL_SECS;
    let min = crate::service::sources::MIN_INTERVAL_SECS;
    let every = ObjectBuilder::new().schema_type(Type::Integer).minimum(Some(min)).maximum(Some(year));
    let null = ObjectBuilder::new().schema_type(Type::Null);
    RefOr::T(Schema::OneOf(OneOfBuilder::new().item(never).item(every).item(null).build()))
}

/// `word` or null; with no word, a string (to be given its own `enum`).
fn one_word(word: Option<&str>) -> ObjectBuilder {
    match word {
        Some(w) => nullable(ObjectBuilder::new()).enum_values(Some([Some(w), None])),
        None => ObjectBuilder::new().schema_type(Type::String),
    }
}

/// Rules across fields, which the derived schemas cannot state: each named request body
/// becomes `allOf` of itself and `oneOf` its alternatives.
pub fn state_rules(api: &mut utoipa::openapi::OpenApi) {
    let Some(components) = api.components.as_mut() else { return };
    let schemas = &mut components.schemas;
    let typed = |fields: &[(&str, Type)]| {
        let mut b = ObjectBuilder::new();
        for (field, ty) in fields {
            b = b.property(*field, ObjectBuilder::new().schema_type(ty.clone()));
        }
        b
    };
    let rules: [(&str, Vec<ObjectBuilder>); 3] = [
        (
            // A version is registered from a reference, or prepared as an upload.
            "CreateVersionRequest",
            vec![
                typed(&[("reference", Type::String), ("archiveSha256", Type::Null), ("archiveSize", Type::Null)])
                    .required("reference"),
                typed(&[("reference", Type::Null), ("archiveSha256", Type::String), ("archiveSize", Type::Integer)])
                    .required("archiveSha256")
                    .required("archiveSize"),
            ],
        ),
        (
            // A standard token names its scope; an agent token has its kind's own.
            "CreateTokenRequest",
            vec![
                ObjectBuilder::new()
                    .property("kind", one_word(Some("standard")))
                    .property("scope", ObjectBuilder::new().schema_type(Type::String))
                    .required("scope"),
                ObjectBuilder::new()
                    .property("kind", one_word(None).enum_values(Some(["agent-bridge"])))
                    .property("scope", one_word(Some("read")))
                    .required("kind"),
                ObjectBuilder::new()
                    .property("kind", one_word(None).enum_values(Some(["agent-publisher"])))
                    .property("scope", one_word(Some("write")))
                    .required("kind"),
            ],
        ),
        (
            // A source reads an OCI registry or a catalog: exactly one.
            "CreateSourceRequest",
            vec![
                typed(&[("oci", Type::String), ("catalog", Type::Null)]).required("oci"),
                typed(&[("oci", Type::Null), ("catalog", Type::String)]).required("catalog"),
            ],
        ),
    ];
    for (name, alternatives) in rules {
        let Some(derived) = schemas.remove(name) else { continue };
        let one_of = alternatives.into_iter().fold(utoipa::openapi::schema::OneOfBuilder::new(), |b, a| b.item(a));
        let all_of = utoipa::openapi::schema::AllOfBuilder::new().item(derived).item(one_of);
        schemas.insert(name.to_owned(), RefOr::T(Schema::AllOf(all_of.build())));
    }
}

/// Types that stand for a schema of this module in a parameter, as
/// `#[param(inline, value_type = Semver)]` (a parameter's `schema_with` loses `required`).
macro_rules! parameter_schema {
    ($($(#[$doc:meta])* $name:ident => $schema:ident),* $(,)?) => {
        $(
            $(#[$doc])*
            pub struct $name;

            impl utoipa::PartialSchema for $name {
                fn schema() -> RefOr<Schema> {
                    $schema()
                }
            }

            impl utoipa::ToSchema for $name {}
        )*
    };
}

parameter_schema!(
    /// A version.
    Semver => version,
    /// A channel a caller may set or remove.
    SettableChannel => settable_channel,
);

/// A strict semver 2.0 version (`1.2.3`, `1.0.0-rc.1+build.5`), as semver.org gives its
/// grammar, at most 128 characters; major, minor and patch fit in 64 bits (up to 19 digits).
pub const SEMVER: &str = r"^(0|[1-9][0-9]{0,18})\.(0|[1-9][0-9]{0,18})\.(0|[1-9][0-9]{0,18})(-((0|[1-9][0-9]*|[0-9]*[a-zA-Z-][0-9a-zA-Z-]*)(\.(0|[1-9][0-9]*|[0-9]*[a-zA-Z-][0-9a-zA-Z-]*))*))?(\+([0-9a-zA-Z-]+(\.[0-9a-zA-Z-]+)*))?$";

fn semver_builder() -> ObjectBuilder {
    ObjectBuilder::new().schema_type(Type::String).max_length(Some(MAX_VERSION_LEN)).pattern(Some(SEMVER))
}

/// A version.
pub fn version() -> RefOr<Schema> {
    done(semver_builder())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The documented patterns agree with the checks the server runs.
    #[test]
    fn text_and_version_patterns_match_the_checks() {
        let filled = regex::Regex::new(&format!(r"^[^{CONTROLS}]*[^\s{CONTROLS}][^{CONTROLS}]*$")).unwrap();
        let free = regex::Regex::new(&format!("^[^{CONTROLS}]*$")).unwrap();
        for s in ["a", " a ", "", " ", "\t\n", "a\u{7}", "é", "a\u{85}b", "line\nline", "\u{a0}", "x\u{9f}"] {
            let server = crate::service::check_text("f", s, 100, false).is_ok();
            assert_eq!(filled.is_match(s), server, "{s:?}");
            let server = crate::service::check_text("f", s, 100, true).is_ok();
            assert_eq!(free.is_match(s), server, "{s:?}");
        }
        let settable = regex::Regex::new(&settable_channel_pattern()).unwrap();
        for s in [
            "latest",
            "lates",
            "latests",
            "later",
            "l",
            "a",
            "latest-1",
            "1atest",
            "lat-st",
            "stable",
            "x".repeat(32).as_str(),
            "x".repeat(33).as_str(),
            "latesT",
            "latest-",
        ] {
            let rule = s.parse::<crate::domain::ChannelName>().is_ok() && s != "latest";
            assert_eq!(settable.is_match(s), rule, "{s:?}");
        }
        let base64 = match base64() {
            RefOr::T(Schema::Object(o)) => regex::Regex::new(o.pattern.as_deref().unwrap()).unwrap(),
            _ => unreachable!("an object schema"),
        };
        for s in ["", "YQ==", "YR==", "YWI=", "YWJ=", "YWJj", "YWJ", "Y===", "2zL="] {
            use base64::Engine as _;
            let decodes = base64::engine::general_purpose::STANDARD.decode(s).is_ok();
            assert_eq!(base64.is_match(s), decodes, "{s:?}");
        }
        let semver = regex::Regex::new(SEMVER).unwrap();
        for s in [
            "1.2.3",
            "0.0.0",
            "1.0.0-rc.1",
            "1.0.0+b.5",
            "01.0.0",
            "1.0",
            "v1.0.0",
            "1.0.0-",
            "1.0.0-01",
            "1.2.3 ",
            "1.2.9999999999999999999",
            "1.2.99999999999999999999",
        ] {
            assert_eq!(semver.is_match(s), crate::domain::parse_version(s).is_ok(), "{s:?}");
        }
    }
}
