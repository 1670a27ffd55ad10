//! `SKILL.md`: YAML frontmatter between `---` lines, then a Markdown body. Parsed into the
//! Agent Skills fields plus those skilldex reads (`version`, `requires`, `allowed-tools` as a
//! string or a list). Every error names the line it is about.

use std::collections::BTreeMap;

use serde_yaml_ng::Value as Yaml;

use super::{BundleError, Limits};
use crate::domain::SkillName;

/// The frontmatter fields skilldex understands; other keys are kept in `extra`.
#[derive(Debug, Clone, PartialEq)]
pub struct Frontmatter {
    pub name: SkillName,
    pub description: String,
    pub license: Option<String>,
    pub compatibility: Option<String>,
    pub metadata: BTreeMap<String, String>,
    pub allowed_tools: Vec<String>,
    pub version: Option<semver::Version>,
    /// Other skills this one needs, as `namespace/name[@range]` or OCI references.
    pub requires: Vec<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SkillMd {
    pub frontmatter: Frontmatter,
    /// The whole frontmatter as JSON, unknown keys included, for storage and display.
    pub frontmatter_json: serde_json::Value,
    /// The Markdown after the frontmatter.
    pub body: String,
}

const DESCRIPTION_MAX: usize = 1024;
const COMPATIBILITY_MAX: usize = 500;

fn err(line: usize, message: impl Into<String>) -> BundleError {
    BundleError::SkillMd { line: Some(line), message: message.into() }
}

impl SkillMd {
    pub fn parse(text: &str, limits: &Limits) -> Result<Self, BundleError> {
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let mut lines = text.split_inclusive('\n');
        let first = lines.next().unwrap_or("");
        if first.trim_end() != "---" {
            return Err(err(1, "SKILL.md must start with a `---` line opening the YAML frontmatter"));
        }
        // Find the closing delimiter; frontmatter lines start at line 2.
        let mut yaml_len = 0;
        let mut closing_line = None;
        for (i, line) in lines.enumerate() {
            if line.trim_end() == "---" {
                closing_line = Some(i + 2);
                break;
            }
            yaml_len += line.len();
            if yaml_len > limits.max_frontmatter {
                return Err(err(i + 2, format!("the frontmatter is larger than {} bytes", limits.max_frontmatter)));
            }
        }
        let Some(closing_line) = closing_line else {
            return Err(err(1, "the frontmatter opened on line 1 is never closed with a `---` line"));
        };
        let yaml_start = first.len();
        let yaml = &text[yaml_start..yaml_start + yaml_len];
        let after = &text[yaml_start + yaml_len..];
        let body = after.split_once('\n').map_or("", |(_, rest)| rest).to_owned();

        let doc: Yaml = serde_yaml_ng::from_str(yaml).map_err(|e| {
            let line = e.location().map_or(2, |l| l.line() + 1);
            BundleError::SkillMd { line: Some(line), message: format!("invalid YAML: {}", strip_location(&e)) }
        })?;
        let map = match doc {
            Yaml::Mapping(m) => m,
            Yaml::Null => return Err(err(2, "the frontmatter is empty; `name` and `description` are required")),
            _ => return Err(err(2, "the frontmatter must be a YAML mapping of keys to values")),
        };
        let line_of = |key: &str| key_line(yaml, key).unwrap_or(closing_line);

        let get_str = |key: &str, required: bool| -> Result<Option<String>, BundleError> {
            match map.get(key) {
                None | Some(Yaml::Null) if required => Err(err(
                    if map.contains_key(key) { line_of(key) } else { closing_line },
                    format!("`{key}` is required"),
                )),
                None | Some(Yaml::Null) => Ok(None),
                Some(Yaml::String(s)) => Ok(Some(s.clone())),
                Some(Yaml::Number(n)) if key == "version" => Ok(Some(n.to_string())),
                Some(_) => Err(err(line_of(key), format!("`{key}` must be a string"))),
            }
        };

        let name_raw = get_str("name", true)?.unwrap_or_default();
        let name: SkillName = name_raw.parse().map_err(|e: crate::domain::InvalidValue| err(line_of("name"), e.0))?;
        let description = get_str("description", true)?.unwrap_or_default();
        if description.trim().is_empty() || description.chars().count() > DESCRIPTION_MAX {
            return Err(err(line_of("description"), format!("`description` must be 1-{DESCRIPTION_MAX} characters")));
        }
        let license = get_str("license", false)?;
        let compatibility = get_str("compatibility", false)?;
        if compatibility.as_ref().is_some_and(|c| c.is_empty() || c.chars().count() > COMPATIBILITY_MAX) {
            return Err(err(
                line_of("compatibility"),
                format!("`compatibility` must be 1-{COMPATIBILITY_MAX} characters"),
            ));
        }
        let version = match get_str("version", false)? {
            Some(v) => Some(
                crate::domain::parse_version(&v).map_err(|e| err(line_of("version"), format!("`version`: {}", e.0)))?,
            ),
            None => None,
        };
        let metadata = match map.get("metadata") {
            None | Some(Yaml::Null) => BTreeMap::new(),
            Some(Yaml::Mapping(m)) => {
                let mut out = BTreeMap::new();
                for (k, v) in m {
                    match (k, v) {
                        (Yaml::String(k), Yaml::String(v)) => {
                            out.insert(k.clone(), v.clone());
                        }
                        _ => return Err(err(line_of("metadata"), "`metadata` must map strings to strings")),
                    }
                }
                out
            }
            Some(_) => return Err(err(line_of("metadata"), "`metadata` must map strings to strings")),
        };
        let allowed_tools = match map.get("allowed-tools") {
            None | Some(Yaml::Null) => Vec::new(),
            Some(Yaml::String(s)) => split_allowed_tools(s),
            Some(Yaml::Sequence(items)) => string_list(items, "allowed-tools", line_of("allowed-tools"))?,
            Some(_) => {
                return Err(err(line_of("allowed-tools"), "`allowed-tools` must be a string or a list of strings"));
            }
        };
        let requires = match map.get("requires") {
            None | Some(Yaml::Null) => Vec::new(),
            Some(Yaml::String(s)) => vec![s.clone()],
            Some(Yaml::Sequence(items)) => string_list(items, "requires", line_of("requires"))?,
            Some(_) => return Err(err(line_of("requires"), "`requires` must be a list of strings")),
        };
        let frontmatter_json = serde_json::to_value(Yaml::Mapping(map.clone()))
            .map_err(|e| err(2, format!("the frontmatter cannot be represented as JSON: {e}")))?;
        if depth(&frontmatter_json) > MAX_FRONTMATTER_DEPTH {
            return Err(err(2, format!("the frontmatter nests more than {MAX_FRONTMATTER_DEPTH} levels deep")));
        }

        Ok(SkillMd {
            frontmatter: Frontmatter {
                name,
                description,
                license,
                compatibility,
                metadata,
                allowed_tools,
                version,
                requires,
            },
            frontmatter_json,
            body,
        })
    }
}

/// The `allowed-tools` of stored frontmatter: a YAML list, or a string as `split_allowed_tools`
/// reads it.
pub fn allowed_tools_of(frontmatter: &serde_json::Map<String, serde_json::Value>) -> Vec<String> {
    match frontmatter.get("allowed-tools") {
        Some(serde_json::Value::Array(items)) => items.iter().filter_map(|i| i.as_str().map(str::to_owned)).collect(),
        Some(serde_json::Value::String(s)) => split_allowed_tools(s),
        _ => Vec::new(),
    }
}

/// `allowed-tools` as a string: space-separated in the Agent Skills spec, with commas also
/// accepted (as ToolHive does). A separator inside parentheses belongs to the tool's argument,
/// so `Bash(git diff:*)` stays one tool.
pub fn split_allowed_tools(s: &str) -> Vec<String> {
    let mut tools = Vec::new();
    let (mut depth, mut start) = (0usize, 0usize);
    for (i, c) in s.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth = depth.saturating_sub(1),
            c if depth == 0 && (c == ',' || c.is_whitespace()) => {
                tools.push(&s[start..i]);
                start = i + c.len_utf8();
            }
            _ => {}
        }
    }
    tools.push(&s[start..]);
    tools.into_iter().map(str::trim).filter(|t| !t.is_empty()).map(str::to_owned).collect()
}

fn string_list(items: &[Yaml], key: &str, line: usize) -> Result<Vec<String>, BundleError> {
    items
        .iter()
        .map(|v| match v {
            Yaml::String(s) => Ok(s.clone()),
            _ => Err(err(line, format!("`{key}` must be a list of strings"))),
        })
        .collect()
}

/// The file line of a top-level key (line 1 is the opening `---`).
fn key_line(yaml: &str, key: &str) -> Option<usize> {
    yaml.lines().position(|l| l.strip_prefix(key).is_some_and(|rest| rest.trim_start().starts_with(':'))).map(|i| i + 2)
}

/// serde_yaml appends "at line X column Y" for the YAML text; we report file lines instead.
fn strip_location(e: &serde_yaml_ng::Error) -> String {
    let s = e.to_string();
    match s.find(" at line ") {
        Some(i) => s[..i].to_owned(),
        None => s,
    }
}

/// How deep the frontmatter may nest (YAML tags count as a level each, as JSON stores them):
/// far beyond what any agent reads, and well within what every JSON reader takes back.
pub const MAX_FRONTMATTER_DEPTH: usize = 32;

/// How many arrays and objects deep a value goes (a scalar is 0).
fn depth(value: &serde_json::Value) -> usize {
    // Iterative, so a hostile document cannot exhaust the stack here either.
    let mut deepest = 0;
    let mut stack = vec![(value, 0usize)];
    while let Some((v, d)) = stack.pop() {
        let children: Box<dyn Iterator<Item = &serde_json::Value>> = match v {
            serde_json::Value::Array(items) => Box::new(items.iter()),
            serde_json::Value::Object(map) => Box::new(map.values()),
            _ => continue,
        };
        deepest = deepest.max(d + 1);
        stack.extend(children.map(|c| (c, d + 1)));
    }
    deepest
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deeply_nested_frontmatter_is_refused_and_tags_count() {
        let nested = |levels: usize, tagged: bool| {
            let item = if tagged { "!t [" } else { "[" };
            format!("---\nname: a\ndescription: d\nx: {}1{}\n---\n", item.repeat(levels), "]".repeat(levels))
        };
        assert!(parse(&nested(20, false)).is_ok());
        let e = parse(&nested(40, false)).unwrap_err().to_string();
        assert!(e.contains("more than 32 levels"), "{e}");
        // Each tag is one more JSON object: 20 tagged lists are 40 levels.
        let e = parse(&nested(20, true)).unwrap_err().to_string();
        assert!(e.contains("more than 32 levels"), "{e}");
    }

    fn parse(text: &str) -> Result<SkillMd, BundleError> {
        SkillMd::parse(text, &Limits::default())
    }

    fn line_of(e: BundleError) -> usize {
        match e {
            BundleError::SkillMd { line: Some(l), .. } => l,
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn parses_the_fields_skilldex_reads() {
        let md = parse(
            "---\nname: code-reviewer\ndescription: Reviews code\nversion: 1.2.0\nallowed-tools: Read, Grep\n\
             metadata:\n  team: backend\nrequires:\n  - acme/lint@^1\nuser-invocable: true\n---\n# Body\ntext\n",
        )
        .unwrap();
        let fm = &md.frontmatter;
        assert_eq!(fm.name.as_str(), "code-reviewer");
        assert_eq!(fm.version.as_ref().unwrap().to_string(), "1.2.0");
        assert_eq!(fm.allowed_tools, ["Read", "Grep"]);
        assert_eq!(fm.metadata["team"], "backend");
        assert_eq!(fm.requires, ["acme/lint@^1"]);
        assert_eq!(md.body, "# Body\ntext\n");
        assert_eq!(md.frontmatter_json["user-invocable"], true, "unknown keys are kept");
    }

    #[test]
    fn allowed_tools_as_space_separated_string_or_list() {
        let a = parse("---\nname: a\ndescription: d\nallowed-tools: Read Write\n---\n").unwrap();
        assert_eq!(a.frontmatter.allowed_tools, ["Read", "Write"]);
        let b = parse("---\nname: a\ndescription: d\nallowed-tools:\n  - Read\n  - Bash(git:*)\n---\n").unwrap();
        assert_eq!(b.frontmatter.allowed_tools, ["Read", "Bash(git:*)"]);
        let c = parse("---\nname: a\ndescription: d\nallowed-tools: Read Grep Bash(git diff:*)\n---\n").unwrap();
        assert_eq!(c.frontmatter.allowed_tools, ["Read", "Grep", "Bash(git diff:*)"]);
        assert_eq!(
            super::split_allowed_tools(" Bash(npm run *, npm test),  Write\tWebFetch(domain:example.com) "),
            ["Bash(npm run *, npm test)", "Write", "WebFetch(domain:example.com)"]
        );
    }

    #[test]
    fn errors_point_at_the_line() {
        assert_eq!(line_of(parse("# no frontmatter\n").unwrap_err()), 1);
        assert_eq!(line_of(parse("---\nname: a\ndescription: d\n").unwrap_err()), 1);
        assert_eq!(line_of(parse("---\ndescription: d\nname: Bad_Name\n---\n").unwrap_err()), 3);
        assert_eq!(line_of(parse("---\nname: a\ndescription: d\nversion: one\n---\n").unwrap_err()), 4);
        assert_eq!(line_of(parse("---\nname: a\ndescription: [unclosed\n---\n").unwrap_err()), 4);
        assert_eq!(line_of(parse("---\nname: a\n---\nbody").unwrap_err()), 3, "missing key: the closing line");
        assert_eq!(line_of(parse("---\nname: a\ndescription: d\nmetadata:\n  n: [1]\n---\n").unwrap_err()), 4);
    }

    #[test]
    fn oversized_frontmatter_is_refused_before_parsing() {
        let big = format!("---\nname: a\ndescription: d\nx: \"{}\"\n---\n", "y".repeat(70 * 1024));
        assert!(matches!(parse(&big), Err(BundleError::SkillMd { .. })));
    }
}
