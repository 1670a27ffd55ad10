//! The site's look, as skill-pool's theme API shapes it: colours (body text checked against
//! the background for WCAG AA contrast, as are button text and muted text), a corner radius,
//! a font from a short allowlist, a brand name, and a logo and favicon. Site administrators
//! change it; everyone reads it (the sign-in page shows it before anyone signs in).
//!
//! Images are checked by what they are, not what they claim: PNG, JPEG, WebP (and ICO for a
//! favicon) by their signature; SVG is parsed and written out again as plain drawing (usvg),
//! so scripts, event handlers, foreign content, links and external or local file references
//! cannot survive an upload.
//!
//! Pages read the theme from a snapshot every replica refreshes from the database every few
//! seconds (and at once after its own changes), so rendering never waits for it.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::access::require_site_admin;
use super::{Caller, Error, Result, Themes};
use crate::domain::{Millis, now_millis};

/// The fonts a theme may name (skill-pool's allowlist). Pages name the family first and fall
/// back to the system's fonts: nothing is downloaded from a font service.
pub const ALLOWED_FONTS: &[&str] = &[
    "system",
    "Inter",
    "IBM Plex Sans",
    "JetBrains Mono",
    "Source Sans 3",
    "Source Serif 4",
    "Merriweather",
    "Roboto",
    "Fira Sans",
    "Atkinson Hyperlegible",
    "Work Sans",
    "Lora",
];

/// The theme as `GET|PUT /v1/theme` carry it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Theme {
    pub brand_name: String,
    pub primary: String,
    pub primary_fg: String,
    pub accent: String,
    pub bg: String,
    pub fg: String,
    pub muted: String,
    pub muted_fg: String,
    pub border: String,
    pub radius: String,
    /// Where the logo is served, when there is one (ignored when written).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logo_uri: Option<String>,
    /// Whether pages show "skilldex" and its version in their footer.
    #[serde(default = "yes")]
    pub footer_branding: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub font_family: Option<String>,
}

fn yes() -> bool {
    true
}

impl Default for Theme {
    /// The look pages have before anyone sets one (the stylesheet's own light colours).
    fn default() -> Self {
        Theme {
            brand_name: "skilldex".into(),
            primary: "#0a58ca".into(),
            primary_fg: "#ffffff".into(),
            accent: "#0a58ca".into(),
            bg: "#ffffff".into(),
            fg: "#1b1f24".into(),
            muted: "#f6f8fa".into(),
            muted_fg: "#57606a".into(),
            border: "#d0d7de".into(),
            radius: "6px".into(),
            logo_uri: None,
            footer_branding: true,
            font_family: None,
        }
    }
}

impl Theme {
    /// Refuses colours that are not hex, text that fails WCAG AA contrast (4.5:1) on its
    /// background, a radius that is not a plain length, a name out of bounds, a font not on
    /// the list.
    fn check(&self) -> Result<()> {
        let colours = [
            ("primary", &self.primary),
            ("primary_fg", &self.primary_fg),
            ("accent", &self.accent),
            ("bg", &self.bg),
            ("fg", &self.fg),
            ("muted", &self.muted),
            ("muted_fg", &self.muted_fg),
            ("border", &self.border),
        ];
        for (field, value) in colours {
            rgb(value).ok_or_else(|| {
                Error::Invalid(format!(
                    "{field} must be a hex colour like #RRGGBB; got {:?}",
                    crate::domain::truncate(value)
                ))
            })?;
        }
        let name = self.brand_name.trim();
        if name.is_empty() || name.chars().count() > 80 || name.chars().any(char::is_control) {
            return Err(Error::Invalid("brand_name must be 1 to 80 characters".into()));
        }
        for (what, fg, bg) in [
            ("body text (fg on bg)", &self.fg, &self.bg),
            ("button text (primary_fg on primary)", &self.primary_fg, &self.primary),
            ("muted text (muted_fg on bg)", &self.muted_fg, &self.bg),
            ("muted text on cards (muted_fg on muted)", &self.muted_fg, &self.muted),
            ("links (accent on bg)", &self.accent, &self.bg),
        ] {
            let ratio = contrast(fg, bg);
            if ratio < 4.5 {
                return Err(Error::Invalid(format!("{what} contrast is {ratio:.2}:1; WCAG AA requires 4.5:1")));
            }
        }
        let radius_ok = self.radius.len() <= 8
            && ["rem", "px", "em"].iter().any(|unit| {
                self.radius
                    .strip_suffix(unit)
                    .is_some_and(|n| !n.is_empty() && n.parse::<f32>().is_ok_and(|v| (0.0..=64.0).contains(&v)))
            });
        if !radius_ok && self.radius != "0" {
            return Err(Error::Invalid("radius must be a length like 0.5rem, 6px or 0".into()));
        }
        if let Some(font) = self.font_family.as_deref()
            && !ALLOWED_FONTS.contains(&font)
        {
            return Err(Error::Invalid(format!(
                "font_family {:?} is not in the allowlist: {}",
                crate::domain::truncate(font),
                ALLOWED_FONTS.join(", ")
            )));
        }
        Ok(())
    }

    /// The stylesheet that applies the theme over the built-in one (its custom properties),
    /// in light and dark alike: the theme's colours were checked as a pair.
    pub fn css(&self) -> String {
        let font = match self.font_family.as_deref() {
            None | Some("system") => String::new(),
            Some(f) => format!("  --font: \"{f}\", system-ui, -apple-system, \"Segoe UI\", sans-serif;\n"),
        };
        format!(
            ":root {{\n  color-scheme: {scheme};\n  --bg: {bg};\n  --fg: {fg};\n  --accent: {accent};\n  \
             --button: {primary};\n  --accent-fg: {primary_fg};\n  --card: {muted};\n  --muted: {muted_fg};\n  \
             --line: {border};\n  --radius: {radius};\n{font}}}\n",
            scheme = if luminance(&self.bg) < 0.2 { "dark" } else { "light" },
            bg = self.bg,
            fg = self.fg,
            accent = self.accent,
            primary = self.primary,
            primary_fg = self.primary_fg,
            muted = self.muted,
            muted_fg = self.muted_fg,
            border = self.border,
            radius = self.radius,
        )
    }
}

/// `#rgb` or `#rrggbb` as red, green, blue. No alpha: a see-through colour would pass the
/// contrast check and still be unreadable.
fn rgb(hex: &str) -> Option<[u8; 3]> {
    let digits = hex.strip_prefix('#')?;
    if !digits.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let channel = |s: &str| u8::from_str_radix(s, 16).ok();
    match digits.len() {
        3 => {
            let c = |i: usize| channel(&digits[i..=i].repeat(2));
            Some([c(0)?, c(1)?, c(2)?])
        }
        6 => Some([channel(&digits[0..2])?, channel(&digits[2..4])?, channel(&digits[4..6])?]),
        _ => None,
    }
}

/// WCAG relative luminance.
fn luminance(hex: &str) -> f64 {
    let [r, g, b] = rgb(hex).unwrap_or([0, 0, 0]);
    let linear = |c: u8| {
        let c = f64::from(c) / 255.0;
        if c <= 0.03928 { c / 12.92 } else { ((c + 0.055) / 1.055).powf(2.4) }
    };
    0.2126 * linear(r) + 0.7152 * linear(g) + 0.0722 * linear(b)
}

/// WCAG contrast ratio, 1 to 21.
fn contrast(a: &str, b: &str) -> f64 {
    let (la, lb) = (luminance(a), luminance(b));
    (la.max(lb) + 0.05) / (la.min(lb) + 0.05)
}

/// Which image of the theme.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageKind {
    Logo,
    Favicon,
}

impl ImageKind {
    pub fn name(self) -> &'static str {
        match self {
            ImageKind::Logo => "logo",
            ImageKind::Favicon => "favicon",
        }
    }

    /// skill-pool's caps: 256 KiB for a logo, 64 KiB for a favicon.
    pub fn max_bytes(self) -> usize {
        match self {
            ImageKind::Logo => 256 << 10,
            ImageKind::Favicon => 64 << 10,
        }
    }
}

/// A stored image, ready to serve.
#[derive(Debug, Clone)]
pub struct Image {
    pub content_type: String,
    pub data: Vec<u8>,
    pub updated_at: Millis,
}

/// What pages need of the theme, read without waiting.
#[derive(Debug, Clone, Default)]
pub struct ThemeSnapshot {
    /// The settings, when someone set them, and when.
    pub theme: Option<(Theme, Millis)>,
    pub logo: Option<Millis>,
    pub favicon: Option<Millis>,
}

impl ThemeSnapshot {
    pub fn brand(&self) -> &str {
        self.theme.as_ref().map_or("skilldex", |(t, _)| t.brand_name.as_str())
    }
}

impl Themes<'_> {
    /// The theme as it stands (the default when none was set), with its logo's address.
    pub async fn current(&self) -> Result<Theme> {
        let store = &self.core.store;
        let mut theme = match store.theme().await? {
            Some((json, _)) => {
                serde_json::from_str(&json).map_err(|e| Error::Internal(format!("stored theme: {e}")))?
            }
            None => Theme::default(),
        };
        let has_logo = store.theme_asset_versions().await?.iter().any(|(name, _)| name == ImageKind::Logo.name());
        theme.logo_uri = has_logo.then(|| "/v1/theme/logo".to_owned());
        Ok(theme)
    }

    /// Replaces the theme (site administrators).
    pub async fn set(&self, caller: &Caller, mut theme: Theme) -> Result<Theme> {
        require_site_admin(caller)?;
        theme.check()?;
        theme.brand_name = theme.brand_name.trim().to_owned();
        theme.logo_uri = None;
        let json = serde_json::to_string(&theme).map_err(|e| Error::Internal(e.to_string()))?;
        self.core.store.set_theme(&json, now_millis()).await?;
        self.core.audit(caller, "theme.update", "site", serde_json::to_value(&theme).unwrap_or_default()).await;
        self.refresh().await?;
        self.current().await
    }

    /// An image of the theme; a missing favicon is the logo (as skill-pool serves it).
    pub async fn image(&self, kind: ImageKind) -> Result<Option<Image>> {
        let store = &self.core.store;
        let mut found = store.theme_asset(kind.name()).await?;
        if found.is_none() && kind == ImageKind::Favicon {
            found = store.theme_asset(ImageKind::Logo.name()).await?;
        }
        Ok(found.map(|(content_type, data, updated_at)| Image { content_type, data, updated_at }))
    }

    /// Stores an uploaded image once it proves to be what it claims (an SVG rewritten as
    /// plain drawing first).
    pub async fn set_image(&self, caller: &Caller, kind: ImageKind, content_type: &str, raw: Vec<u8>) -> Result<Image> {
        require_site_admin(caller)?;
        if raw.len() > kind.max_bytes() {
            return Err(Error::TooLarge(format!("a {} may be at most {} KiB", kind.name(), kind.max_bytes() >> 10)));
        }
        let (content_type, data) = tokio::task::spawn_blocking({
            let content_type = content_type.to_owned();
            move || checked_image(kind, &content_type, raw)
        })
        .await
        .map_err(|e| Error::Internal(format!("image check: {e}")))??;
        let at = now_millis();
        self.core.store.set_theme_asset(kind.name(), Some((content_type, &data)), at).await?;
        let detail = json!({ "content_type": content_type, "bytes": data.len() });
        self.core.audit(caller, &format!("theme.{}.upload", kind.name()), "site", detail).await;
        self.refresh().await?;
        Ok(Image { content_type: content_type.to_owned(), data, updated_at: at })
    }

    /// Removes an image; false when there was none.
    pub async fn remove_image(&self, caller: &Caller, kind: ImageKind) -> Result<bool> {
        require_site_admin(caller)?;
        let removed = self.core.store.set_theme_asset(kind.name(), None, now_millis()).await?;
        if removed {
            self.core.audit(caller, &format!("theme.{}.remove", kind.name()), "site", json!({})).await;
        }
        self.refresh().await?;
        Ok(removed)
    }

    /// What pages show now (the last refresh).
    pub fn snapshot(&self) -> Arc<ThemeSnapshot> {
        self.core.theme.read().expect("theme lock").clone()
    }

    /// Reads the theme again from the database (other replicas' changes).
    pub async fn refresh(&self) -> Result<()> {
        let store = &self.core.store;
        let theme = match store.theme().await? {
            Some((json, at)) => serde_json::from_str::<Theme>(&json).ok().map(|t| (t, at)),
            None => None,
        };
        let versions = store.theme_asset_versions().await?;
        let version = |kind: ImageKind| versions.iter().find(|(name, _)| name == kind.name()).map(|(_, at)| *at);
        let (logo, favicon) = (version(ImageKind::Logo), version(ImageKind::Favicon));
        *self.core.theme.write().expect("theme lock") = Arc::new(ThemeSnapshot { theme, logo, favicon });
        Ok(())
    }
}

/// The image as it will be stored: its content type and bytes.
fn checked_image(kind: ImageKind, claimed: &str, raw: Vec<u8>) -> Result<(&'static str, Vec<u8>)> {
    let claimed = claimed.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    let not = |what: &str| Error::Invalid(format!("the file is not a {what} image"));
    let allowed = if kind == ImageKind::Favicon {
        "image/svg+xml, image/png, image/jpeg, image/webp or image/x-icon"
    } else {
        "image/svg+xml, image/png, image/jpeg or image/webp"
    };
    match claimed.as_str() {
        "image/svg+xml" => Ok(("image/svg+xml", plain_svg(&raw)?)),
        "image/png" if raw.starts_with(b"\x89PNG\r\n\x1a\n") => Ok(("image/png", raw)),
        "image/png" => Err(not("PNG")),
        "image/jpeg" if raw.starts_with(b"\xff\xd8\xff") => Ok(("image/jpeg", raw)),
        "image/jpeg" => Err(not("JPEG")),
        "image/webp" if raw.len() > 12 && raw.starts_with(b"RIFF") && &raw[8..12] == b"WEBP" => Ok(("image/webp", raw)),
        "image/webp" => Err(not("WebP")),
        "image/x-icon" | "image/vnd.microsoft.icon" if kind == ImageKind::Favicon => {
            if raw.starts_with(b"\0\0\x01\0") {
                Ok(("image/x-icon", raw))
            } else {
                Err(not("ICO"))
            }
        }
        other => Err(Error::Invalid(format!(
            "a {} must be {allowed}, not {:?}",
            kind.name(),
            crate::domain::truncate(other)
        ))),
    }
}

/// The SVG parsed and written out again: shapes, paths, gradients, clips and embedded raster
/// images survive; scripts, event handlers, `foreignObject`, links, animation, text and
/// references to anything outside the file do not.
fn plain_svg(raw: &[u8]) -> Result<Vec<u8>> {
    let options = usvg::Options {
        image_href_resolver: usvg::ImageHrefResolver {
            // Embedded raster images only; never a nested SVG, never a file of this server.
            resolve_data: Box::new(|mime, data, _| match mime {
                "image/png" => Some(usvg::ImageKind::PNG(data)),
                "image/jpeg" | "image/jpg" => Some(usvg::ImageKind::JPEG(data)),
                "image/gif" => Some(usvg::ImageKind::GIF(data)),
                "image/webp" => Some(usvg::ImageKind::WEBP(data)),
                _ => None,
            }),
            resolve_string: Box::new(|_, _| None),
        },
        ..usvg::Options::default()
    };
    let tree = usvg::Tree::from_data(raw, &options)
        .map_err(|e| Error::Invalid(format!("the file is not an SVG image usable as a logo: {e}")))?;
    Ok(tree.to_string(&usvg::WriteOptions::default()).into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contrast_follows_wcag() {
        assert!((contrast("#000", "#fff") - 21.0).abs() < 0.01);
        assert!((contrast("#777777", "#ffffff") - 4.48).abs() < 0.01);
        assert!(Theme::default().check().is_ok(), "the default passes its own check");
        let grey = Theme { fg: "#999999".into(), ..Theme::default() };
        assert!(grey.check().unwrap_err().to_string().contains("body text"), "fails AA");
        for bad in ["red", "#12", "#ggg", "#1234567", "url(x)", "#0000", "#00000000"] {
            assert!(Theme { border: bad.into(), ..Theme::default() }.check().is_err(), "{bad}");
        }
        for bad in ["1rem;}body{", "calc(1px)", "-1px", "99999px"] {
            assert!(Theme { radius: bad.into(), ..Theme::default() }.check().is_err(), "{bad}");
        }
    }

    #[test]
    fn an_svg_keeps_its_drawing_and_loses_every_payload() {
        let hostile = br##"<?xml version="1.0"?>
<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" width="64" height="64" onload="alert(1)">
  <script>alert(2)</script>
  <a href="javascript:alert(3)"><rect width="10" height="10" fill="red"/></a>
  <circle cx="32" cy="32" r="20" fill="#0b57d0" onclick="alert(4)"/>
  <foreignObject width="10" height="10"><iframe xmlns="http://www.w3.org/1999/xhtml" src="javascript:alert(5)"/></foreignObject>
  <image href="/etc/hostname" width="5" height="5"/>
  <use href="https://evil.example/sprite.svg#x"/>
  <animate attributeName="href" to="javascript:alert(6)"/>
  <text>visible?</text>
</svg>"##;
        let out = String::from_utf8(plain_svg(hostile).unwrap()).unwrap();
        let lower = out.to_lowercase();
        for gone in [
            "script",
            "alert",
            "onload",
            "onclick",
            "javascript",
            "foreignobject",
            "iframe",
            "evil",
            "etc/",
            "animate",
            "root:",
        ] {
            assert!(!lower.contains(gone), "{gone} in {out}");
        }
        assert!(out.contains("<svg") && out.contains("path"), "the drawing stays: {out}");
        assert!(plain_svg(b"<html>not svg</html>").is_err());
        let entity = br#"<!DOCTYPE svg [<!ENTITY f SYSTEM "file:///etc/passwd">]><svg xmlns="http://www.w3.org/2000/svg"><text>&f;</text></svg>"#;
        assert!(plain_svg(entity).is_err(), "external entities are refused, not read");
        assert!(checked_image(ImageKind::Logo, "image/png", b"GIF89a".to_vec()).is_err(), "a PNG that is not");
        assert!(checked_image(ImageKind::Logo, "image/x-icon", b"\0\0\x01\0".to_vec()).is_err(), "no ICO logos");
        assert!(checked_image(ImageKind::Favicon, "image/x-icon", b"\0\0\x01\0...".to_vec()).is_ok());
        assert!(checked_image(ImageKind::Logo, "text/html", b"<svg/>".to_vec()).is_err());
    }
}
