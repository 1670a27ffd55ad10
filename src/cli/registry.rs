//! The registry options every command that pushes or pulls artifacts shares.

use crate::oci::{CredentialSource, Credentials, Registries};

/// Credentials for the registry a command pushes to or pulls from.
#[derive(Debug, Clone, clap::Args)]
pub struct RegistryArgs {
    /// Registry user name (basic auth); default: `~/.docker/config.json`, else anonymous.
    #[arg(long, env = "SKILLDEX_REGISTRY_USERNAME")]
    pub registry_username: Option<String>,
    /// Registry password (basic auth).
    #[arg(long, env = "SKILLDEX_REGISTRY_PASSWORD", hide_env_values = true, requires = "registry_username")]
    pub registry_password: Option<crate::config::Secret>,
    /// A bearer token for the registry, instead of a user name and password.
    #[arg(long, env = "SKILLDEX_REGISTRY_TOKEN", hide_env_values = true, conflicts_with = "registry_username")]
    pub registry_token: Option<crate::config::Secret>,
    /// The registry host the credentials above are for. Default: the registry `publish --to`
    /// or `sign`/`verify` name; commands that pull what the server points at (`install`,
    /// `update`, `verify NS/NAME`) send them only to this host, never to one an answer names.
    #[arg(long, env = "SKILLDEX_REGISTRY_HOST", value_name = "HOST[:PORT]")]
    pub registry_host: Option<String>,
}

/// The server's own registry, as references name it (`host[:port]`).
pub fn server_registry(client: &super::Client) -> Option<String> {
    let u = reqwest::Url::parse(client.base()).ok()?;
    let h = u.host_str()?.to_owned();
    Some(match u.port() {
        Some(p) => format!("{h}:{p}"),
        None => h,
    })
}

impl RegistryArgs {
    /// The credentials these settings give for `host`.
    pub fn credentials_for(&self, host: &str) -> Credentials {
        self.source(host).for_host(host)
    }

    /// Registry clients that use these credentials for `host` only, the Docker config elsewhere.
    pub fn registries(&self, host: &str) -> Registries {
        Registries::new(self.source(host))
    }

    /// Registry clients for pulling from `host`, a registry the server's answer named: the
    /// explicit credentials go only to `--registry-host`, and the skilldex server's own
    /// registry (`client`'s host) gets the CLI's token, so private skills pull for their team.
    pub fn registries_with_server(&self, host: &str, client: &super::Client) -> Registries {
        let mut creds = match &self.registry_host {
            Some(named) => self.source(named),
            None => CredentialSource { docker_config: CredentialSource::default_docker_config(), ..Default::default() },
        };
        if let (Some(token), Some(server)) = (client.token(), server_registry(client))
            && server.eq_ignore_ascii_case(host)
        {
            creds
                .per_host
                .entry(host.to_owned())
                .or_insert_with(|| Credentials::Basic { username: "skilldex".to_owned(), password: token.to_owned() });
        }
        Registries::new(creds)
    }

    fn source(&self, host: &str) -> CredentialSource {
        let mut creds =
            CredentialSource { docker_config: CredentialSource::default_docker_config(), ..Default::default() };
        let explicit = match (&self.registry_username, &self.registry_password, &self.registry_token) {
            (Some(u), p, _) => Some(Credentials::Basic {
                username: u.clone(),
                password: p.as_ref().map(|p| p.expose().to_owned()).unwrap_or_default(),
            }),
            (None, _, Some(t)) => Some(Credentials::Bearer(t.expose().to_owned())),
            _ => None,
        };
        if let Some(c) = explicit {
            creds.per_host.insert(self.registry_host.clone().unwrap_or_else(|| host.to_owned()), c);
        }
        creds
    }
}
