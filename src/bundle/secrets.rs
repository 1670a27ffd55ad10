//! Credentials in a bundle: each file is searched for the formats of common secrets (cloud
//! keys, VCS, package-registry and chat tokens, payment and AI provider keys, private keys)
//! and for secret-looking values assigned to secret-sounding names. A finding names the
//! file, the line and the kind of secret, never the secret itself. Documented placeholders
//! (`AKIAIOSFODNN7EXAMPLE`, `xxxx`, `<your-token>`, `${TOKEN}`) are not findings.

use std::sync::LazyLock;

use regex::{Regex, RegexSet};

/// A secret found in a bundle: where, and what kind; never its value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub path: String,
    pub line: usize,
    pub rule: &'static str,
}

impl std::fmt::Display for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} line {}: {}", self.path, self.line, self.rule)
    }
}

/// Known formats: a name, and a pattern whose first group (or whole match) is the secret.
const FORMATS: &[(&str, &str)] = &[
    ("AWS access key ID", r"\b((?:AKIA|ASIA|ABIA|ACCA)[A-Z2-7]{16})\b"),
    ("AWS secret access key", r#"(?i)aws_?secret_?(?:access_?)?key["']?\s*[:=]\s*["']?([A-Za-z0-9/+]{40})\b"#),
    ("Google API key", r"\b(AIza[0-9A-Za-z_-]{35})"),
    ("Google service account key", r#""private_key_id"\s*:\s*"([a-f0-9]{40})""#),
    ("Azure storage account key", r"AccountKey=([A-Za-z0-9+/]{86}==)"),
    ("GitHub token", r"\b((?:ghp|gho|ghu|ghs|ghr)_[A-Za-z0-9]{36})\b"),
    ("GitHub fine-grained token", r"\b(github_pat_[A-Za-z0-9_]{82})\b"),
    ("GitLab token", r"\b(gl(?:pat|dt|ptt|rt)-[A-Za-z0-9_-]{20,})"),
    ("Bitbucket app password", r"\b(ATBB[A-Za-z0-9_=.-]{28,})"),
    ("npm token", r"\b(npm_[A-Za-z0-9]{36})\b"),
    ("npm auth token", r"_authToken\s*=\s*([A-Za-z0-9_-]{20,})"),
    ("PyPI token", r"\b(pypi-AgEIcHlwaS5vcmc[A-Za-z0-9_-]{50,})"),
    ("RubyGems key", r"\b(rubygems_[a-f0-9]{48})\b"),
    ("Docker Hub token", r"\b(dckr_pat_[A-Za-z0-9_-]{27,})"),
    ("Slack token", r"\b(xox[abposr]-[0-9A-Za-z-]{10,})"),
    ("Slack webhook", r"(https://hooks\.slack\.com/services/T[A-Za-z0-9_]+/B[A-Za-z0-9_]+/[A-Za-z0-9_]+)"),
    ("Discord webhook", r"(https://(?:ptb\.|canary\.)?discord(?:app)?\.com/api/webhooks/\d+/[A-Za-z0-9_-]{60,})"),
    ("Stripe live key", r"\b((?:sk|rk)_live_[A-Za-z0-9]{24,})"),
    ("SendGrid key", r"\b(SG\.[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43})"),
    ("Twilio key", r"\b(SK[0-9a-f]{32})\b"),
    ("OpenAI key", r"\b(sk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_-]{20,}T3BlbkFJ[A-Za-z0-9_-]{20,})"),
    ("Anthropic key", r"\b(sk-ant-(?:api|admin)\d{2}-[A-Za-z0-9_-]{80,})"),
    ("Hugging Face token", r"\b(hf_[A-Za-z0-9]{34})\b"),
    ("Private key", r"(-----BEGIN (?:RSA |DSA |EC |OPENSSH |PGP |ENCRYPTED )?PRIVATE KEY(?: BLOCK)?-----)"),
    ("JSON web token", r"\b(eyJ[A-Za-z0-9_-]{10,}\.eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{20,})"),
    ("Password in a URL", r"\b[a-z][a-z0-9+.-]*://([^/\s:@]{0,64}):([^/\s:@]{6,128})@([A-Za-z0-9.-]+)"),
];

/// The signature of the example token on jwt.io, found in countless docs.
const JWT_IO_EXAMPLE: &str = "SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c";

/// A secret-looking value assigned to a secret-sounding name (`API_KEY = "…"`).
const ASSIGNMENT: &str = r#"(?i)(?:^|[^A-Za-z0-9])(?:[A-Za-z0-9]+[_-])*(?:password|passwd|pwd|pass|secret|token|api[_-]?key|apikey|access[_-]?key|private[_-]?key|client[_-]?secret|auth|[A-Za-z0-9]+[_-]key)(?:[_-][A-Za-z0-9]+)*["']?\s*(?::|=|:=|=>)\s*["']?([A-Za-z0-9/+=_.~!@#$%^&*-]{12,})"#;

/// Words that mark a value as a placeholder or an example.
const PLACEHOLDERS: &[&str] = &[
    "example",
    "sample",
    "dummy",
    "placeholder",
    "changeme",
    "change_me",
    "your_",
    "your-",
    "yourkey",
    "redacted",
    "xxxx",
    "****",
    "fake",
    "foobar",
    "lorem",
    "${",
    "{{",
    "<",
    "env.",
    "getenv",
    "process.env",
];

struct Rules {
    set: RegexSet,
    each: Vec<(&'static str, Regex)>,
    assignment: Regex,
}

/// Word boundaries as ASCII sees them: a Unicode `\b` would send every line with a
/// non-ASCII character to the regex crate's slower engine.
fn ascii(pattern: &str) -> String {
    pattern.replace(r"\b", r"(?-u:\b)")
}

static RULES: LazyLock<Rules> = LazyLock::new(|| {
    let patterns: Vec<String> = FORMATS.iter().map(|(_, p)| ascii(p)).chain([ascii(ASSIGNMENT)]).collect();
    Rules {
        set: RegexSet::new(&patterns).expect("static patterns"),
        each: FORMATS.iter().map(|(name, p)| (*name, Regex::new(&ascii(p)).expect("static pattern"))).collect(),
        assignment: Regex::new(&ascii(ASSIGNMENT)).expect("static pattern"),
    }
});

/// Bits of entropy per character: how random a value looks.
fn entropy(s: &str) -> f64 {
    let mut counts = std::collections::HashMap::new();
    for c in s.chars() {
        *counts.entry(c).or_insert(0usize) += 1;
    }
    let n = s.chars().count() as f64;
    counts.values().map(|&c| c as f64 / n).map(|p| -p * p.log2()).sum()
}

/// Whether a value is a placeholder rather than a secret.
fn placeholder(value: &str) -> bool {
    let lower = value.to_ascii_lowercase();
    PLACEHOLDERS.iter().any(|p| lower.contains(p))
        // The same character over and over (`AAAA…`, `0000…`).
        || value.chars().collect::<std::collections::HashSet<_>>().len() < 5
}

/// A value assigned to a secret-sounding name that looks like a real secret: long enough,
/// random enough, letters and digits, not a placeholder, not a plain word or a path.
fn secret_value(value: &str) -> bool {
    let value = value.trim_end_matches(['"', '\'', ',', ';', '.']);
    value.len() >= 12
        && value.chars().any(|c| c.is_ascii_digit())
        && value.chars().any(|c| c.is_ascii_alphabetic())
        && !value.starts_with(['/', '.', '~'])
        && !value.contains("://")
        && !value.starts_with("sha256")
        && entropy(value) >= 3.5
        && !placeholder(value)
}

/// A password in a URL that could be real: not a placeholder, not the user name again, and
/// not for a machine of one's own (`localhost`, a one-label compose service, an example
/// domain), which docs use for local setups.
fn url_password(c: &regex::Captures<'_>) -> bool {
    let (user, password, host) = (&c[1], &c[2], c[3].to_ascii_lowercase());
    let local = !host.contains('.')
        || host.starts_with("127.")
        || host.starts_with("0.0.0.0")
        || host.ends_with(".local")
        || host.ends_with(".localhost")
        || host.ends_with(".test")
        || host.contains("example");
    !local && password != user && !placeholder(password)
}

/// The secrets in one text file, by line.
pub fn scan_text(path: &str, text: &str) -> Vec<Finding> {
    let rules = &*RULES;
    let mut found = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let hits = rules.set.matches(line);
        if !hits.matched_any() {
            continue;
        }
        let mut rule = None;
        for (n, (name, re)) in rules.each.iter().enumerate() {
            if !hits.matched(n) {
                continue;
            }
            let real = re.captures_iter(line).any(|c| {
                let value = c.get(1).or_else(|| c.get(0)).map_or("", |m| m.as_str());
                match *name {
                    "Private key" => true,
                    "JSON web token" => !value.ends_with(JWT_IO_EXAMPLE),
                    "Password in a URL" => url_password(&c),
                    _ => !placeholder(value),
                }
            });
            if real {
                rule = Some(*name);
                break;
            }
        }
        if rule.is_none() && hits.matched(FORMATS.len()) {
            let assigned =
                rules.assignment.captures_iter(line).any(|c| c.get(1).is_some_and(|v| secret_value(v.as_str())));
            if assigned {
                rule = Some("secret-looking value assigned to a secret name");
            }
        }
        if let Some(rule) = rule {
            found.push(Finding { path: path.to_owned(), line: i + 1, rule });
        }
    }
    found
}

/// The secrets in a bundle's text files (binary files are not read).
pub fn scan(files: &[super::BundleFile]) -> Vec<Finding> {
    files
        .iter()
        // Text in any encoding is read as far as it is ASCII-compatible; a NUL early on marks
        // a binary file or UTF-16, whose ASCII letters come between NULs: read it without them.
        .flat_map(|f| {
            let head = &f.data[..f.data.len().min(8192)];
            let text = if head.contains(&0) {
                String::from_utf8_lossy(&f.data.iter().copied().filter(|&b| b != 0).collect::<Vec<u8>>()).into_owned()
            } else {
                String::from_utf8_lossy(&f.data).into_owned()
            };
            scan_text(&f.path, &text)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Built at run time, so no secret-shaped literal sits in the source.
    fn key(prefix: &str, body: &str, len: usize) -> String {
        let body: String = body.chars().cycle().take(len).collect();
        format!("{prefix}{body}")
    }

    const MIXED: &str = "q8Zr2VbN5xKp7TmW3sYc9LhD4fGj6AeU";

    #[test]
    fn the_common_credential_formats_are_found() {
        let cases = [
            (format!("aws_access_key_id = {}", key("AKIA", "Q2WJ7KXZ4B5N6R3T", 16)), "AWS access key ID"),
            (
                format!("AWS_SECRET_ACCESS_KEY={}", key("", "wJ8rXu3fE2mK9pQ7zB4nV6tY1cL5hG0dS", 40)),
                "AWS secret access key",
            ),
            (format!("key: {}", key("AIza", "Sy9Xk2Lm4Nq7Rt1Vw3Yz6Ab8Cd0Ef5Gh", 35)), "Google API key"),
            (format!("export GH={}", key("ghp_", MIXED, 36)), "GitHub token"),
            (format!("token {}", key("github_pat_", MIXED, 82)), "GitHub fine-grained token"),
            (key("glpat-", MIXED, 20), "GitLab token"),
            (format!("//registry.npmjs.org/:_authToken={}", key("npm_", MIXED, 36)), "npm token"),
            (key("pypi-AgEIcHlwaS5vcmc", MIXED, 60), "PyPI token"),
            (key("xoxb-", "1234567890-AbCdEfGh", 30), "Slack token"),
            (format!("stripe: {}", key("sk_live_", MIXED, 30)), "Stripe live key"),
            (key("hf_", MIXED, 34), "Hugging Face token"),
            ("-----BEGIN OPENSSH PRIVATE KEY-----".to_owned(), "Private key"),
            ("-----BEGIN RSA PRIVATE KEY-----".to_owned(), "Private key"),
            ("postgres://app:Zq8rT2mVx9Lk@db.internal/app".to_owned(), "Password in a URL"),
            (format!("DB_PASSWORD=\"{}\"", "Zq8r#T2mVx9Lk4Wp"), "secret-looking value assigned to a secret name"),
            (format!("client_secret: {}", "a9F3kL2qZ8xW7vB1nM4c"), "secret-looking value assigned to a secret name"),
            (
                format!("SECRET_KEY = '{}'", "k3Jd9sLq2Wz8xPv4Rm7tYb1N"),
                "secret-looking value assigned to a secret name",
            ),
            (
                format!("SECRET_KEY_BASE={}", "9c2F7kQ4zX8mW1vB6nJ3hL5d"),
                "secret-looking value assigned to a secret name",
            ),
            (
                format!("ENCRYPTION_KEY: {}", "Zr9/Kq2+Lm8xWv4Tb7Yc1Nd="),
                "secret-looking value assigned to a secret name",
            ),
            (format!("DB_PASS={}", "Testing2024xQ9z"), "secret-looking value assigned to a secret name"),
            (
                format!(
                    "Authorization: Bearer eyJ{}.eyJ{}.{}",
                    key("", "hbGciOiJI", 20),
                    key("", "zdWIiOiIx", 30),
                    key("", "Qm9kYXR3", 43)
                ),
                "JSON web token",
            ),
            ("mongodb://app:Zq8rT2mVx9Lk@cluster0.mongodb.net/app".to_owned(), "Password in a URL"),
            ("redis://:Zq8rT2mVx9Lk@cache.acme.io:6379".to_owned(), "Password in a URL"),
        ];
        for (line, rule) in cases {
            let found = scan_text("scripts/run.sh", &format!("echo start\n{line}\n"));
            assert_eq!(found, [Finding { path: "scripts/run.sh".into(), line: 2, rule }], "{line}");
            assert!(!found[0].to_string().contains(&line), "never the secret itself");
        }
    }

    #[test]
    fn look_alikes_are_not_findings() {
        let lines = [
            "aws_access_key_id = AKIAIOSFODNN7EXAMPLE".to_owned(),
            "AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY".to_owned(),
            format!("export GH={}", key("ghp_", "x", 36)),
            "GITHUB_TOKEN=${{ secrets.GITHUB_TOKEN }}".to_owned(),
            "api_key = <your-api-key>".to_owned(),
            "password: ${DB_PASSWORD}".to_owned(),
            "token = process.env.NPM_TOKEN".to_owned(),
            "password = changeme123".to_owned(),
            "digest: sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08".to_owned(),
            "commit 3f2a9c1e7b4d6f8a0c2e4b6d8f1a3c5e7b9d0f2a".to_owned(),
            "id: 123e4567-e89b-12d3-a456-426614174000".to_owned(),
            "auth: bearer".to_owned(),
            "secret_name = my-app-secrets".to_owned(),
            "token_endpoint: https://auth.example.com/oauth/token".to_owned(),
            "stripe test key: sk_test_4eC39HqLyjWDarjtT1zdp7dc".to_owned(),
            "See https://user@github.com/acme/repo".to_owned(),
            "Use `ghp_` tokens with the repo scope.".to_owned(),
            "-----BEGIN PUBLIC KEY-----".to_owned(),
            "PASSWORD_MIN_LENGTH = 12".to_owned(),
            "DATABASE_URL=postgres://postgres:postgres@localhost:5432/db".to_owned(),
            "mongodb://admin:admin123@localhost:27017".to_owned(),
            "postgres://app:Zq8rT2mVx9Lk@db:5432/app".to_owned(),
            "SECRET_KEY_PATH=/etc/app/secret.key".to_owned(),
            concat!(
                "Authorization: Bearer eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.",
                "eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0IjoxNTE2MjM5MDIyfQ.",
                "SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c"
            )
            .to_owned(),
            "café: a word before AKIAIOSFODNN7EXAMPLE".to_owned(),
        ];
        for line in lines {
            assert_eq!(scan_text("SKILL.md", &line), [], "{line}");
        }
    }
}

#[cfg(test)]
mod files {
    use super::*;

    #[test]
    fn text_in_other_encodings_and_next_to_non_ascii_is_read() {
        let token = format!("ghp_{}", "q8Zr2VbN5xKp7TmW3sYc9LhD4fGj6AeU1234");
        let latin1: Vec<u8> = [b"caf\xe9 ".to_vec(), token.clone().into_bytes()].concat();
        let utf16: Vec<u8> = format!("GH={token}").encode_utf16().flat_map(u16::to_le_bytes).collect();
        let accents = format!("Déploiement : {token}").into_bytes();
        let files: Vec<crate::bundle::BundleFile> = [("a.txt", latin1), ("b.env", utf16), ("c.md", accents)]
            .into_iter()
            .map(|(path, data)| crate::bundle::BundleFile { path: path.into(), data, executable: false })
            .collect();
        let found: Vec<String> = scan(&files).into_iter().map(|f| f.path).collect();
        assert_eq!(found, ["a.txt", "b.env", "c.md"]);
    }
}
