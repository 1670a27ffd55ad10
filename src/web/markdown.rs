//! README Markdown to HTML that is safe to put in a page: rendered by pulldown-cmark, then
//! cleaned by ammonia, which keeps a fixed list of harmless elements and attributes. Raw
//! HTML, scripts, event handlers, styles, SVG, forms and `javascript:`/`data:` links are
//! dropped; links open without handing over the page (`noopener noreferrer`).

use std::collections::HashSet;
use std::sync::LazyLock;

static CLEANER: LazyLock<ammonia::Builder<'static>> = LazyLock::new(|| {
    let mut b = ammonia::Builder::default();
    b.url_schemes(HashSet::from(["http", "https", "mailto"]))
        .link_rel(Some("noopener noreferrer nofollow ugc"))
        .url_relative(ammonia::UrlRelative::Deny)
        // Code blocks scroll sideways: keyboard users must be able to reach them.
        .set_tag_attribute_value("pre", "tabindex", "0");
    b
});

pub fn render_markdown(source: &str) -> String {
    use pulldown_cmark::{Options, Parser, html};
    let options = Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH | Options::ENABLE_TASKLISTS;
    let mut out = String::with_capacity(source.len() * 3 / 2);
    html::push_html(&mut out, Parser::new_ext(source, options));
    CLEANER.clean(&out).to_string()
}

#[cfg(test)]
mod tests {
    use super::render_markdown;

    #[test]
    fn markdown_keeps_its_meaning_and_loses_every_payload() {
        let html = render_markdown("# Title\n\n*ok* [docs](https://example.com) `code`\n\n| a |\n|---|\n| b |\n");
        assert!(html.contains("<h1>Title</h1>") && html.contains("<em>ok</em>") && html.contains("<table>"), "{html}");
        assert!(html.contains(r#"href="https://example.com""#) && html.contains("noopener"), "{html}");
        for payload in [
            "<script>alert(1)</script>",
            "<img src=x onerror=alert(1)>",
            "[x](javascript:alert(1))",
            "[x](JaVaScRiPt:alert(1))",
            "<a href=\"data:text/html,<script>alert(1)</script>\">x</a>",
            "<svg onload=alert(1)><circle/></svg>",
            "<iframe src=\"https://evil.example\"></iframe>",
            "<div style=\"background:url(javascript:alert(1))\">x</div>",
            "<form action=\"https://evil.example\"><input name=a></form>",
            "![x](javascript:alert(1))",
            "<details open ontoggle=alert(1)>x</details>",
            "<math><mtext><script>alert(1)</script></mtext></math>",
        ] {
            let html = render_markdown(payload).to_ascii_lowercase();
            for bad in [
                "<script",
                "onerror",
                "onload",
                "ontoggle",
                "javascript:",
                "<svg",
                "<iframe",
                "style=",
                "<form",
                "data:",
            ] {
                assert!(!html.contains(bad), "{payload} left {bad}: {html}");
            }
        }
    }
}
