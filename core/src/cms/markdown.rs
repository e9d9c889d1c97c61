//! Markdown to HTML that is safe to put on a storefront: CommonMark (with
//! tables and strikethrough) rendered by pulldown-cmark, then cleaned by
//! ammonia, which keeps formatting and links and drops scripts, event
//! handlers, `javascript:` URLs and anything else that could run.

use pulldown_cmark::{html, Options, Parser};

/// The longest body a page may have, in bytes of Markdown.
pub const MAX_BODY: usize = 100_000;

pub fn to_safe_html(markdown: &str) -> String {
    let mut options = Options::empty();
    options.insert(Options::ENABLE_TABLES);
    options.insert(Options::ENABLE_STRIKETHROUGH);
    let mut raw = String::with_capacity(markdown.len() * 3 / 2);
    html::push_html(&mut raw, Parser::new_ext(markdown, options));
    ammonia::Builder::default()
        .link_rel(Some("noopener noreferrer nofollow"))
        .clean(&raw)
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::to_safe_html;

    #[test]
    fn formatting_survives() {
        let html =
            to_safe_html("# Delivery\n\nWe ship **fast**. See [rates](https://example.com/rates).");
        assert!(html.contains("<h1>Delivery</h1>"), "{html}");
        assert!(html.contains("<strong>fast</strong>"), "{html}");
        assert!(
            html.contains("href=\"https://example.com/rates\""),
            "{html}"
        );
        assert!(
            html.contains("rel=\"noopener noreferrer nofollow\""),
            "{html}"
        );
    }

    #[test]
    fn scripts_handlers_and_script_urls_do_not() {
        let html = to_safe_html(
            "<script>alert(1)</script>\n\n<img src=x onerror=alert(2)>\n\n[click](javascript:alert(3))\n\n<iframe src=//evil></iframe>",
        );
        for bad in ["<script", "onerror", "javascript:", "<iframe"] {
            assert!(!html.contains(bad), "{bad} in {html}");
        }
    }
}
