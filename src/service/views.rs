//! Registry views: the named registries ToolHive clients ask for
//! (`/registry/{name}/v0.1/…`). Each is a set of namespace globs over the one index; `default`
//! is every namespace. Visibility rules apply inside every view as everywhere else.

use crate::policy::glob_match;

/// One named view.
#[derive(Debug, Clone, PartialEq)]
pub struct RegistryView {
    pub name: String,
    /// Namespace globs (`*`, `?`); empty means every namespace.
    pub namespaces: Vec<String>,
}

impl RegistryView {
    /// Everything the caller may see.
    pub fn everything() -> Self {
        RegistryView { name: "default".into(), namespaces: Vec::new() }
    }

    pub fn includes(&self, namespace: &str) -> bool {
        self.namespaces.is_empty() || self.namespaces.iter().any(|g| glob_match(g, namespace))
    }
}

impl std::str::FromStr for RegistryView {
    type Err = String;

    /// `NAME=GLOB[,GLOB…]`, e.g. `acme=acme,io.github.acme*`.
    fn from_str(s: &str) -> Result<Self, String> {
        let (name, globs) = s.split_once('=').ok_or_else(|| format!("`{s}`: expected NAME=GLOB[,GLOB…]"))?;
        let name_ok = !name.is_empty()
            && name.len() <= 64
            && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '.' | '_'));
        if !name_ok {
            return Err(format!("`{name}`: a registry name is 1-64 lower-case letters, digits, `-`, `.` or `_`"));
        }
        let namespaces: Vec<String> = globs.split(',').map(|g| g.trim().to_owned()).collect();
        for g in &namespaces {
            let ok = !g.is_empty()
                && g.len() <= 128
                && g.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '.' | '*' | '?'));
            if !ok {
                return Err(format!("`{g}`: a namespace glob is lower-case letters, digits, `.`, `-`, `*` and `?`"));
            }
        }
        Ok(RegistryView { name: name.to_owned(), namespaces })
    }
}

/// The views a server offers: `default` (everything) unless configured otherwise, plus the
/// configured ones; a configured `default` replaces the built-in one.
pub fn with_default(configured: Vec<RegistryView>) -> Vec<RegistryView> {
    let mut views = configured;
    if !views.iter().any(|v| v.name == "default") {
        views.insert(0, RegistryView::everything());
    }
    views
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_matches() {
        let v: RegistryView = "acme=acme,io.github.acme*".parse().unwrap();
        assert!(v.includes("acme") && v.includes("io.github.acme-labs"));
        assert!(!v.includes("acme2") && !v.includes("io.github.other"));
        assert!(RegistryView::everything().includes("anything"));
        for bad in ["acme", "=acme", "Acme=acme", "a=", "a=Acme", "a=acme,,b", "a=ac%me"] {
            assert!(bad.parse::<RegistryView>().is_err(), "{bad}");
        }
        let views = with_default(vec!["a=x".parse().unwrap()]);
        assert_eq!(views.iter().map(|v| v.name.as_str()).collect::<Vec<_>>(), ["default", "a"]);
        let views = with_default(vec!["default=x".parse().unwrap()]);
        assert_eq!(views.len(), 1);
        assert!(!views[0].includes("y"));
    }
}
