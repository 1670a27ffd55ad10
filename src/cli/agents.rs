//! The coding agents that read SKILL.md skills, and where each looks for them: a directory
//! in the project and one in the user's home. Several agents share the cross-client
//! `.agents/skills` directory the Agent Skills spec recommends.

use std::path::{Path, PathBuf};

use super::output::{Exit, fail};

/// Where a directory is rooted.
#[derive(Debug, Clone, Copy)]
enum Home {
    /// `~/…`
    User,
    /// `$XDG_CONFIG_HOME/…` (else `~/.config/…`)
    Config,
    /// `$CLAUDE_CONFIG_DIR` (else `~/.claude`)
    Claude,
    /// `$CODEX_HOME` (else `~/.codex`)
    Codex,
}

pub struct Agent {
    /// The name `--agent` takes.
    pub name: &'static str,
    pub display: &'static str,
    /// The skills directory relative to the project.
    project: &'static str,
    /// The skills directory for the user, under `home`.
    user: (Home, &'static str),
    /// What, in the user's home (or config home), shows the agent is installed.
    marker: (Home, &'static str),
}

const fn agent(
    name: &'static str,
    display: &'static str,
    project: &'static str,
    user: (Home, &'static str),
    marker: (Home, &'static str),
) -> Agent {
    Agent { name, display, project, user, marker }
}

/// Every agent `--agent` knows (the first is the default).
pub const AGENTS: &[Agent] = &[
    agent("claude-code", "Claude Code", ".claude/skills", (Home::Claude, "skills"), (Home::Claude, "")),
    agent(
        "agents",
        "Agent Skills (cross-client)",
        ".agents/skills",
        (Home::Config, "agents/skills"),
        (Home::Config, "agents"),
    ),
    agent("amp", "Amp", ".agents/skills", (Home::Config, "agents/skills"), (Home::Config, "amp")),
    agent("cline", "Cline", ".cline/skills", (Home::User, ".cline/skills"), (Home::User, ".cline")),
    agent("codex", "OpenAI Codex", ".codex/skills", (Home::Codex, "skills"), (Home::Codex, "")),
    agent("continue", "Continue", ".continue/skills", (Home::User, ".continue/skills"), (Home::User, ".continue")),
    agent("crush", "Crush", ".crush/skills", (Home::Config, "crush/skills"), (Home::Config, "crush")),
    agent("cursor", "Cursor", ".cursor/skills", (Home::User, ".cursor/skills"), (Home::User, ".cursor")),
    agent("droid", "Factory Droid", ".factory/skills", (Home::User, ".factory/skills"), (Home::User, ".factory")),
    agent("gemini-cli", "Gemini CLI", ".gemini/skills", (Home::User, ".gemini/skills"), (Home::User, ".gemini")),
    agent(
        "github-copilot",
        "GitHub Copilot",
        ".github/skills",
        (Home::User, ".copilot/skills"),
        (Home::User, ".copilot"),
    ),
    agent("goose", "Goose", ".goose/skills", (Home::Config, "goose/skills"), (Home::Config, "goose")),
    agent("junie", "Junie", ".junie/skills", (Home::User, ".junie/skills"), (Home::User, ".junie")),
    agent("kilo", "Kilo Code", ".kilocode/skills", (Home::User, ".kilocode/skills"), (Home::User, ".kilocode")),
    agent("kiro-cli", "Kiro CLI", ".kiro/skills", (Home::User, ".kiro/skills"), (Home::User, ".kiro")),
    agent("opencode", "OpenCode", ".opencode/skills", (Home::Config, "opencode/skills"), (Home::Config, "opencode")),
    agent("openhands", "OpenHands", ".openhands/skills", (Home::User, ".openhands/skills"), (Home::User, ".openhands")),
    agent("qwen-code", "Qwen Code", ".qwen/skills", (Home::User, ".qwen/skills"), (Home::User, ".qwen")),
    agent("roo", "Roo Code", ".roo/skills", (Home::User, ".roo/skills"), (Home::User, ".roo")),
    agent("trae", "Trae", ".trae/skills", (Home::User, ".trae/skills"), (Home::User, ".trae")),
    agent(
        "windsurf",
        "Windsurf",
        ".windsurf/skills",
        (Home::User, ".codeium/windsurf/skills"),
        (Home::User, ".codeium/windsurf"),
    ),
    agent("zencoder", "Zencoder", ".zencoder/skills", (Home::User, ".zencoder/skills"), (Home::User, ".zencoder")),
];

fn home_dir() -> anyhow::Result<PathBuf> {
    std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(PathBuf::from)
        .ok_or_else(|| fail(Exit::Usage, "HOME is not set, so user-scope directories are unknown"))
}

fn root(home: Home) -> anyhow::Result<PathBuf> {
    let from_env = |var: &str, default: &str| -> anyhow::Result<PathBuf> {
        match std::env::var_os(var).filter(|v| !v.is_empty()) {
            Some(dir) => Ok(PathBuf::from(dir)),
            None => Ok(home_dir()?.join(default)),
        }
    };
    match home {
        Home::User => home_dir(),
        Home::Config => super::profile::config_home().ok_or_else(|| fail(Exit::Usage, "HOME is not set")),
        Home::Claude => from_env("CLAUDE_CONFIG_DIR", ".claude"),
        Home::Codex => from_env("CODEX_HOME", ".codex"),
    }
}

impl Agent {
    /// The directory this agent reads skills from, in the project (`cwd`) or the user's home.
    pub fn skills_dir(&self, user_scope: bool) -> anyhow::Result<PathBuf> {
        if user_scope {
            let (home, rel) = self.user;
            Ok(root(home)?.join(rel))
        } else {
            Ok(PathBuf::from(self.project))
        }
    }

    /// Whether this agent seems installed for this user, or used in this project.
    fn detected(&self) -> bool {
        let (home, rel) = self.marker;
        root(home).is_ok_and(|r| r.join(rel).is_dir()) || Path::new(self.project).parent().is_some_and(Path::is_dir)
    }
}

/// The agents `--agent` names: names, `all`, or `auto` (those detected; Claude Code if none).
pub fn chosen(names: &[String]) -> anyhow::Result<Vec<&'static Agent>> {
    let mut picked: Vec<&'static Agent> = Vec::new();
    for name in names {
        match name.as_str() {
            "all" => picked.extend(AGENTS.iter()),
            "auto" => {
                let found: Vec<&Agent> = AGENTS.iter().filter(|a| a.detected()).collect();
                if found.is_empty() { picked.push(&AGENTS[0]) } else { picked.extend(found) }
            }
            other => picked.push(AGENTS.iter().find(|a| a.name == other).ok_or_else(|| {
                let known: Vec<&str> = AGENTS.iter().map(|a| a.name).collect();
                fail(Exit::Usage, format!("unknown agent `{other}`: use all, auto or one of {}", known.join(", ")))
            })?),
        }
    }
    let mut seen = std::collections::HashSet::new();
    picked.retain(|a| seen.insert(a.name));
    Ok(picked)
}
