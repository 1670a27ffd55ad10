//! `skilldex source`: OCI repositories whose version tags become versions (site
//! administrators).

use anyhow::Context as _;
use clap::Subcommand;
use reqwest::Method;
use serde_json::{Value, json};

use super::Client;
use super::output::{Out, note, table, warn};
use crate::domain::{Namespace, Visibility};
use crate::oci::{CredentialSource, Credentials};

#[derive(Debug, Subcommand)]
pub enum SourceCommand {
    /// Add a source: every semver tag (`1.2.3` or `v1.2.3`) of the repository, or of every
    /// repository under the prefix, becomes a version of the skill its artifact names.
    Add {
        /// 1–64 lowercase letters, digits and inner hyphens.
        name: String,
        /// `registry/repository`, or `registry/prefix/*` for every repository the registry's
        /// catalog lists under the prefix.
        #[arg(long, required_unless_present = "catalog", conflicts_with = "catalog")]
        oci: Option<String>,
        /// A ToolHive upstream registry file (`data.skills[]`) at an https:// URL, a `file:`
        /// path on the server or in a git repository (`git+https://…/repo.git?ref=main#path.json`),
        /// or a ToolHive skills API URL (such as another skilldex's
        /// `/registry/<name>/v0.1/x/dev.toolhive/skills`).
        #[arg(long)]
        catalog: Option<String>,
        /// The namespace the skills go to.
        #[arg(long, short)]
        namespace: Namespace,
        /// How often to look: `30m`, `1h`, `1d`, seconds, or `0` for only when asked or
        /// notified. Default 1h.
        #[arg(long)]
        every: Option<String>,
        /// Of the skills the source creates (default private).
        #[arg(long)]
        visibility: Option<Visibility>,
        /// The registry user; the password comes from `--password-file`.
        #[arg(long, requires = "password_file")]
        username: Option<String>,
        #[arg(long, requires = "username")]
        password_file: Option<std::path::PathBuf>,
        /// Read the registry's credentials from a Docker config file (`~/.docker/config.json`).
        #[arg(long, conflicts_with = "username")]
        docker_config: Option<std::path::PathBuf>,
        /// Accept the registry's push notifications; prints the URL and the secret to configure
        /// them with (shown once).
        #[arg(long)]
        notifications: bool,
        /// Copy each artifact, with its signatures, into the server's own storage (digests
        /// unchanged) and install from there, so versions outlive the upstream.
        #[arg(long)]
        mirror: bool,
    },
    /// List the sources and how their last run went.
    List,
    /// Show a source: its settings, last run, and the tags that need attention.
    Show { name: String },
    /// Run a source now and wait for it.
    Sync { name: String },
    /// Remove a source (the versions it registered stay).
    Rm { name: String },
}

/// Seconds in `30m`, `2h`, `1d`, `90s` or `90`.
fn parse_every(s: &str) -> anyhow::Result<u64> {
    let s = s.trim();
    let (digits, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: u64 = digits.parse().with_context(|| format!("`{s}` is not a duration like 30m, 1h or 1d"))?;
    let scale = match unit {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => anyhow::bail!("`{s}` is not a duration like 30m, 1h or 1d"),
    };
    Ok(n * scale)
}

pub async fn run(cmd: SourceCommand, client: &Client, out: Out) -> anyhow::Result<()> {
    match cmd {
        SourceCommand::Add {
            name,
            oci,
            catalog,
            namespace,
            every,
            visibility,
            username,
            password_file,
            docker_config,
            notifications,
            mirror,
        } => {
            let credentials = match (username, password_file, docker_config) {
                (Some(username), Some(file), _) => {
                    let password = std::fs::read_to_string(&file)
                        .with_context(|| format!("cannot read the password file {}", file.display()))?;
                    Some(json!({"username": username, "password": password.trim_end_matches(['\r', '\n'])}))
                }
                (_, _, Some(config)) => {
                    let host = oci.as_deref().unwrap_or_default().split('/').next().unwrap_or_default();
                    let source = CredentialSource { docker_config: Some(config.clone()), ..Default::default() };
                    match source.for_host(host) {
                        Credentials::Basic { username, password } => {
                            Some(json!({"username": username, "password": password}))
                        }
                        _ => anyhow::bail!("{} holds no username and password for {host}", config.display()),
                    }
                }
                _ => None,
            };
            let mut body =
                json!({"name": name, "namespace": namespace, "notifications": notifications, "mirror": mirror});
            match (oci, catalog) {
                (Some(oci), _) => body["oci"] = json!(oci),
                (None, Some(catalog)) => body["catalog"] = json!(catalog),
                (None, None) => anyhow::bail!("name what the source reads: --oci or --catalog"),
            }
            if let Some(every) = every {
                body["intervalSecs"] = json!(parse_every(&every)?);
            }
            if let Some(v) = visibility {
                body["visibility"] = json!(v);
            }
            if let Some(c) = credentials {
                body["credentials"] = c;
            }
            let created: Value = client.send(Method::POST, "/api/v1/sources", Some(&body)).await?;
            out.show(&created, |c| {
                note(format!(
                    "added source {name}: {} into `{namespace}`; its first run is due now",
                    c["location"].as_str().unwrap_or_default()
                ));
                if let (Some(url), Some(secret)) = (c["notifyUrl"].as_str(), c["notifySecret"].as_str()) {
                    note(format!("registry notifications: POST {url}"));
                    note(format!("with the header `Authorization: Bearer {secret}` (shown only now)"));
                }
            })
        }
        SourceCommand::List => {
            let list: Value = client.get("/api/v1/sources").await?;
            out.show(&list, |l| {
                let rows: Vec<Vec<String>> = l["data"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|s| {
                        let status = &s["status"];
                        let state = match (status["lastRunAt"].is_null(), status["lastError"].as_str()) {
                            (true, _) => "not run yet".to_owned(),
                            (false, Some(e)) => format!("error: {e}"),
                            (false, None) => "ok".to_owned(),
                        };
                        let tags = &s["tags"];
                        vec![
                            s["name"].as_str().unwrap_or_default().to_owned(),
                            s["namespace"].as_str().unwrap_or_default().to_owned(),
                            s["location"].as_str().unwrap_or_default().to_owned(),
                            tags["registered"].as_i64().unwrap_or(0).to_string(),
                            (tags["failed"].as_i64().unwrap_or(0) + tags["moved"].as_i64().unwrap_or(0)).to_string(),
                            state,
                        ]
                    })
                    .collect();
                table(&["SOURCE", "NAMESPACE", "LOCATION", "REGISTERED", "PROBLEMS", "LAST RUN"], &rows);
            })
        }
        SourceCommand::Show { name } => {
            let source: Value = client.get(&format!("/api/v1/sources/{name}")).await?;
            out.show(&source, show)
        }
        SourceCommand::Sync { name } => {
            let source: Value =
                client.send::<(), Value>(Method::POST, &format!("/api/v1/sources/{name}/sync"), None).await?;
            out.show(&source, show)
        }
        SourceCommand::Rm { name } => {
            client.send::<(), Value>(Method::DELETE, &format!("/api/v1/sources/{name}"), None).await?;
            out.show(&json!({"removed": name}), |_| {
                note(format!("removed source {name}; the versions it registered stay"))
            })
        }
    }
}

fn show(s: &Value) {
    let text = |v: &Value| v.as_str().unwrap_or_default().to_owned();
    println!("source:     {}", text(&s["name"]));
    println!("location:   {} -> {}", text(&s["location"]), text(&s["namespace"]));
    let every = s["intervalSecs"].as_i64().unwrap_or(0);
    println!(
        "runs:       {}",
        if every == 0 { "when asked or notified".to_owned() } else { format!("every {every} s") }
    );
    let status = &s["status"];
    let run = &status["lastRun"];
    if status["lastRunAt"].is_null() {
        println!("last run:   not yet");
    } else {
        println!(
            "last run:   {} repositories, {} version tags: {} registered, {} unchanged, {} already recorded, {} failed, {} moved; {} other tags ignored; {} bytes mirrored ({} ms)",
            run["repositories"],
            run["tags"],
            run["registered"],
            run["unchanged"],
            run["exists"],
            run["failed"],
            run["moved"],
            run["ignored"],
            run["mirroredBytes"],
            run["durationMs"]
        );
    }
    if let Some(e) = status["lastError"].as_str() {
        warn(format!("the last run could not finish listing: {e}"));
    }
    for p in s["problems"].as_array().into_iter().flatten() {
        warn(format!("{}:{} {}: {}", text(&p["repository"]), text(&p["tag"]), text(&p["outcome"]), text(&p["detail"])));
    }
}

#[cfg(test)]
mod tests {
    use super::parse_every;

    #[test]
    fn intervals_read_with_their_units() {
        assert_eq!(parse_every("90").unwrap(), 90);
        assert_eq!(parse_every("30m").unwrap(), 1800);
        assert_eq!(parse_every("1h").unwrap(), 3600);
        assert_eq!(parse_every("2d").unwrap(), 172_800);
        assert_eq!(parse_every("0").unwrap(), 0);
        assert!(parse_every("1w").is_err() && parse_every("h").is_err() && parse_every("").is_err());
    }
}
