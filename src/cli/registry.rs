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

    /// The same, and for the skilldex server's own registry (`client`'s host), its token
    /// unless credentials for that host were given: private skills pull for their team.
    pub fn registries_with_server(&self, host: &str, client: &super::Client) -> Registries {
        let mut creds = self.source(host);
        let server = reqwest::Url::parse(client.base()).ok().and_then(|u| {
            let h = u.host_str()?.to_owned();
            Some(match u.port() {
                Some(p) => format!("{h}:{p}"),
                None => h,
            })
        });
        if let (Some(token), Some(server)) = (client.token(), server)
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
            creds.per_host.insert(host.to_owned(), c);
        }
        creds
    }
}
