//! `skilldex login` / `logout` and the profiles they keep: which server to talk to and with
//! which token, in `$XDG_CONFIG_HOME/skilldex/config.yaml` (mode 0600). Flags and environment
//! variables override a profile; a profile's token is only ever sent to that profile's server.

use std::collections::BTreeMap;
use std::io::{BufRead as _, Write as _};
use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
use std::path::PathBuf;

use anyhow::Context as _;
use serde::{Deserialize, Serialize};

use super::output::{Exit, Out, fail, note};
use super::{Client, RemoteArgs};
use crate::api::wire::WhoAmI;

pub const DEFAULT_SERVER: &str = "http://127.0.0.1:8080";
const DEFAULT_PROFILE: &str = "default";

/// The config file: named profiles and the one used when none is named.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Config {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current: Option<String>,
    #[serde(default)]
    pub profiles: BTreeMap<String, Profile>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Profile {
    pub server: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
}

/// `$SKILLDEX_CONFIG`, else `$XDG_CONFIG_HOME/skilldex/config.yaml`, else under `~/.config`.
pub fn config_path() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("SKILLDEX_CONFIG").filter(|p| !p.is_empty()) {
        return Some(PathBuf::from(p));
    }
    Some(config_home()?.join("skilldex").join("config.yaml"))
}

/// `$XDG_CONFIG_HOME`, else `~/.config`.
pub fn config_home() -> Option<PathBuf> {
    let xdg = std::env::var_os("XDG_CONFIG_HOME").filter(|p| !p.is_empty()).map(PathBuf::from);
    xdg.or_else(|| std::env::var_os("HOME").filter(|h| !h.is_empty()).map(|h| PathBuf::from(h).join(".config")))
}

impl Config {
    pub fn load() -> anyhow::Result<Self> {
        let Some(path) = config_path() else { return Ok(Self::default()) };
        match std::fs::read_to_string(&path) {
            Ok(text) if text.trim().is_empty() => Ok(Self::default()),
            Ok(text) => serde_yaml_ng::from_str(&text)
                .with_context(|| format!("{} is not a valid skilldex config file", path.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Self::default()),
            Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
        }
    }

    /// Writes the file readable by its owner only, replacing it whole.
    fn save(&self) -> anyhow::Result<PathBuf> {
        let path = config_path().context("no config directory: set HOME, XDG_CONFIG_HOME or SKILLDEX_CONFIG")?;
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        }
        let tmp = path.with_extension("yaml.tmp");
        let _ = std::fs::remove_file(&tmp);
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)
            .with_context(|| format!("cannot write {}", tmp.display()))?;
        file.write_all(b"# skilldex CLI profiles, written by `skilldex login`. Holds tokens: keep it private.\n")?;
        file.write_all(serde_yaml_ng::to_string(self)?.as_bytes())?;
        file.sync_all()?;
        std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o600))?;
        std::fs::rename(&tmp, &path).with_context(|| format!("cannot write {}", path.display()))?;
        Ok(path)
    }

    /// The profile a command uses: the one named, else the current one, else `default`.
    fn chosen<'a>(&'a self, named: Option<&'a str>) -> (&'a str, Option<&'a Profile>) {
        let name = named.or(self.current.as_deref()).unwrap_or(DEFAULT_PROFILE);
        (name, self.profiles.get(name))
    }
}

/// The server and token a client command uses, after flags, environment and profile.
#[derive(Debug, Clone)]
pub struct Target {
    pub server: String,
    pub token: Option<String>,
}

fn same_server(a: &str, b: &str) -> bool {
    a.trim_end_matches('/').eq_ignore_ascii_case(b.trim_end_matches('/'))
}

impl RemoteArgs {
    /// Flags and environment first, then the profile; a profile's token goes only to its
    /// own server, never to one named on the command line.
    pub fn target(&self) -> anyhow::Result<Target> {
        let config = Config::load()?;
        let (name, profile) = config.chosen(self.profile.as_deref());
        if self.profile.is_some() && profile.is_none() {
            return Err(fail(
                Exit::Usage,
                format!("no profile `{name}`: create it with `skilldex login --profile {name}`"),
            ));
        }
        let server = match (&self.server, profile) {
            (Some(s), _) => s.clone(),
            (None, Some(p)) => p.server.clone(),
            (None, None) => DEFAULT_SERVER.to_owned(),
        };
        let token = match (&self.token, profile) {
            (Some(t), _) => Some(t.expose().to_owned()),
            (None, Some(p)) if same_server(&p.server, &server) => p.token.clone(),
            _ => None,
        };
        Ok(Target { server: server.trim_end_matches('/').to_owned(), token })
    }
}

#[derive(Debug, clap::Args)]
pub struct LoginArgs {
    /// The server to sign in to; default: the profile's, else SKILLDEX_SERVER, else the local one.
    #[arg(long, env = "SKILLDEX_SERVER")]
    pub server: Option<String>,
    /// The profile to store the login in (and make current).
    #[arg(long, env = "SKILLDEX_PROFILE")]
    pub profile: Option<String>,
    /// Read the token from standard input (one line), for scripts; otherwise you are asked
    /// for it without echo.
    #[arg(long)]
    pub with_token: bool,
}

/// Asks for a token (or reads it from stdin), checks it with `whoami`, and stores it.
pub async fn login(args: LoginArgs, out: Out) -> anyhow::Result<()> {
    let mut config = Config::load()?;
    let name = args.profile.clone().or(config.current.clone()).unwrap_or_else(|| DEFAULT_PROFILE.to_owned());
    let server = args
        .server
        .clone()
        .or_else(|| config.profiles.get(&name).map(|p| p.server.clone()))
        .unwrap_or_else(|| DEFAULT_SERVER.to_owned());
    let server = server.trim_end_matches('/').to_owned();
    let token = read_token(&server, args.with_token)?;
    let client = Client::to(&Target { server: server.clone(), token: Some(token.clone()) })?;
    let me: WhoAmI = client.get("/api/v1/me").await.map_err(|e| match super::output::exit_of(&e) {
        Exit::Auth => fail(Exit::Auth, format!("{server} refused this token: check it and run `skilldex login` again")),
        _ => e,
    })?;
    config.profiles.insert(name.clone(), Profile { server: server.clone(), token: Some(token) });
    config.current = Some(name.clone());
    let path = config.save()?;
    out.show(&me, |me| {
        note(format!(
            "Logged in to {server} as {} (profile `{name}`, token scope {}); saved in {}.",
            me.user.username,
            me.token.scope,
            path.display()
        ))
    })
}

fn read_token(server: &str, from_stdin: bool) -> anyhow::Result<String> {
    use std::io::IsTerminal as _;
    let term = console::Term::stderr();
    // Asked for only where a person types it: a terminal on stdin (else the line is read as
    // is, with nothing echoed by us) and one on stderr for the prompt.
    let token = if from_stdin || !std::io::stdin().is_terminal() || !term.features().is_attended() {
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line).context("reading the token from standard input")?;
        line
    } else {
        note(format!("Paste a token for {server} (create one with `skilldex token create` or in the web catalog):"));
        term.read_secure_line().context("reading the token")?
    };
    let token = token.trim().to_owned();
    if token.is_empty() {
        return Err(fail(Exit::Usage, "no token given: paste one, or pipe it in with `--with-token`"));
    }
    Ok(token)
}

#[derive(Debug, clap::Args)]
pub struct LogoutArgs {
    /// The profile to forget; default: the current one.
    #[arg(long, env = "SKILLDEX_PROFILE")]
    pub profile: Option<String>,
}

/// Forgets a profile's token (the server is kept, so `login` asks only for a new token).
pub fn logout(args: LogoutArgs) -> anyhow::Result<()> {
    let mut config = Config::load()?;
    let name = args.profile.or(config.current.clone()).unwrap_or_else(|| DEFAULT_PROFILE.to_owned());
    let Some(server) = config.profiles.get_mut(&name).filter(|p| p.token.is_some()).map(|p| {
        p.token = None;
        p.server.clone()
    }) else {
        return Err(fail(Exit::NotFound, format!("profile `{name}` holds no token")));
    };
    config.save()?;
    note(format!(
        "Logged out of {server} (profile `{name}`). The token itself still works until revoked (`skilldex token revoke`)."
    ));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_profile_token_goes_only_to_its_own_server() {
        let profile = Profile { server: "https://skills.example.com/".into(), token: Some("t".into()) };
        let config = Config { current: None, profiles: BTreeMap::from([("default".into(), profile)]) };
        let (_, p) = config.chosen(None);
        assert!(same_server(&p.unwrap().server, "https://SKILLS.example.com"));
        assert!(!same_server(&p.unwrap().server, "https://evil.example.com"));
    }
}
